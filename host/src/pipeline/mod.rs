//! Running a pipeline: each stream is a graph of stages (source shares,
//! destination; transforms and taps join as middle layers) joined by
//! byte-bounded channels, with a committer at its end; streams run in
//! parallel up to `resources.parallelism`.

pub mod channel;
pub mod commit;
pub mod graph;
mod interrupt;
mod prepare;
mod stream;

use std::path::PathBuf;
use std::time::Duration;

pub use interrupt::Interrupt;
pub use prepare::{decode_schema, discover_connector, Prepared, SelectedStream};

use crate::config::PipelineConfig;
use crate::runtime::Runtime;
use crate::settings::Settings;

/// Errors that stop a pipeline before any stream runs (exit code 2 in the
/// CLI): configuration, connectors, sandbox grants, state database.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A configuration problem, already phrased for the user.
    #[error("{0}")]
    Config(String),
    /// A connector failed before streams started (init, discover).
    #[error("{0}")]
    Connector(#[from] crate::runtime::ConnectorFailure),
    /// The runtime failed.
    #[error("{0}")]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// The state database failed.
    #[error("{0}")]
    State(#[from] crate::state::StateError),
}

/// The outcome of one stream.
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// Stream name.
    pub name: String,
    /// `full_refresh` or `incremental`.
    pub sync_mode: String,
    /// Rows the source emitted.
    pub records_read: u64,
    /// Rows the destination wrote.
    pub records_written: u64,
    /// Arrow IPC bytes moved.
    pub bytes: u64,
    /// Wall time.
    pub duration: Duration,
    /// Largest linear memory of the stream's connector instances, in bytes.
    pub peak_memory: u64,
    /// Checkpoints committed to the state database.
    pub checkpoints: u64,
    /// Why it failed, if it did (the whole message).
    pub error: Option<String>,
    /// The failure as data: kind, category, code, retryable, details.
    pub failure: Option<crate::runtime::ErrorInfo>,
    /// Whether it was stopped by an [`Interrupt`] (its committed
    /// checkpoints stay; a rerun resumes from the last one).
    pub interrupted: bool,
}

impl StreamReport {
    /// Rows per second written.
    pub fn rows_per_sec(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.records_written as f64 / s
        } else {
            0.0
        }
    }
}

/// The outcome of a pipeline run.
#[derive(Debug, Clone)]
pub struct PipelineReport {
    /// Pipeline name.
    pub pipeline: String,
    /// One entry per stream, in the pipeline's order.
    pub streams: Vec<StreamReport>,
    /// Wall time.
    pub duration: Duration,
    /// Peak RSS of the process, in bytes.
    pub peak_rss: Option<u64>,
    /// Where the state lives.
    pub state_path: PathBuf,
}

impl PipelineReport {
    /// Whether every stream succeeded.
    pub fn success(&self) -> bool {
        self.streams.iter().all(|s| s.error.is_none())
    }

    /// Whether an [`Interrupt`] stopped any stream.
    pub fn interrupted(&self) -> bool {
        self.streams.iter().any(|s| s.interrupted)
    }
}

/// Runs every selected stream of `config`.
pub fn run(
    config: &PipelineConfig,
    runtime: &Runtime,
    settings: &Settings,
) -> Result<PipelineReport, PipelineError> {
    run_until(config, runtime, settings, &Interrupt::new())
}

/// Runs every selected stream of `config` until done or until `interrupt`
/// is triggered: then running streams stop at their next frame (their
/// acknowledged checkpoints stay committed), streams not yet started are
/// skipped, and both are reported as interrupted.
pub fn run_until(
    config: &PipelineConfig,
    runtime: &Runtime,
    settings: &Settings,
    interrupt: &Interrupt,
) -> Result<PipelineReport, PipelineError> {
    let start = std::time::Instant::now();
    let prepared = Prepared::new(config, runtime, settings)?;
    let streams = prepared.run_all(interrupt);
    Ok(PipelineReport {
        pipeline: config.spec.pipeline.clone(),
        streams,
        duration: start.elapsed(),
        peak_rss: crate::telemetry::peak_rss_bytes(),
        state_path: config.state_path(settings),
    })
}
