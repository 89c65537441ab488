//! The WasmEdge compatibility shim: runs `wasm32-wasip1` core modules built
//! the WasmEdge way (WASI preview 1, WasmEdge's socket extension imports,
//! and the flat ABI generated from `wit/`) on wasmtime's core-module linker,
//! under the same sandbox as components.

pub mod canon;
pub mod command;
pub(crate) mod exports;
#[rustfmt::skip]
pub mod flat_abi;
mod module;
pub mod sockets;

pub use module::{is_core_module, world_of, ModuleLinker, ModuleState};
