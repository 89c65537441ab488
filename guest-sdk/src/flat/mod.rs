//! The flat ABI for `wasm32-wasip1` core modules (the `wasmedge` feature):
//! the canonical-ABI runtime the generated bindings build on.

pub mod canon;
