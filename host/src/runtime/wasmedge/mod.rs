//! The WasmEdge compatibility shim: runs `wasm32-wasip1` core modules built
//! the WasmEdge way (WASI preview 1, WasmEdge's socket extension imports,
//! and the flat ABI generated from `wit/`) on wasmtime's core-module linker,
//! under the same sandbox as components.

pub mod canon;
pub mod command;
#[rustfmt::skip]
pub mod flat_abi;
pub mod sockets;
