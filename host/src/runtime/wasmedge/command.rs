//! WasmEdge-style command modules (`_start`), run under the sandbox.
