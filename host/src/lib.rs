//! The Rapidbyte engine.
//!
//! * [`config`]: the pipeline YAML, `${ENV}` substitution and strict validation.
//! * [`registry`]: finding a connector's component and its manifest.
//! * [`runtime`]: wasmtime, the AOT cache, the sandbox and the host functions.
//! * [`pipeline`]: running streams source -> byte-bounded channel -> destination.
//! * [`state`]: cursors and run history (SQLite).
//! * [`telemetry`]: process memory figures.
//!
//! The CLI (`rapidbyte`) only calls into this crate.

#![warn(missing_docs)]

pub mod config;
pub mod ipc;
pub mod pipeline;
pub mod registry;
pub mod runtime;
pub mod settings;
pub mod state;
pub mod telemetry;

pub use config::{ConfigError, PipelineConfig};
pub use pipeline::{PipelineError, PipelineReport, StreamReport};
