//! WasmEdge's socket extension (`sock_*` imports) under the sandbox.
