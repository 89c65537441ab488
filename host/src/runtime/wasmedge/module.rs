//! WasmEdge-style core modules as connectors: recognising them, checking
//! their imports, and instantiating them with WASI preview 1, the socket
//! extension and the flat ABI's `host` functions.

use std::collections::BTreeSet;
use std::time::Instant;

use wasmtime::{Engine, Linker, Module, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::WasiCtx;

use super::flat_abi;
use super::sockets::{self, SocketTable};
use crate::registry::ConnectorKind;
use crate::runtime::host_impl::{HostContext, HostState};
use crate::runtime::sandbox::{self, Grant};

/// Whether `bytes` are a core module (WebAssembly version 1), as opposed
/// to a component.
pub fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// The WASI preview 1 context and socket table of one module instance.
pub struct ModuleState {
    p1: WasiP1Ctx,
    sockets: SocketTable,
}

impl ModuleState {
    /// The sandbox of `grant`, for a core module: the same directory and
    /// endpoints a component would get. Waits on sockets inside the host
    /// end at `deadline`, the instance's time limit. The module may hold
    /// `max_handles` WASI handles (files, streams) at once, besides at most
    /// [`sockets::MAX_SOCKETS`] sockets.
    pub fn new(
        grant: &Grant,
        deadline: Option<Instant>,
        max_handles: usize,
    ) -> Result<Self, String> {
        let mut p1 = sandbox::wasi_builder(grant)?.build_p1();
        wasmtime_wasi::WasiView::ctx(&mut p1)
            .table
            .set_max_capacity(max_handles);
        let mut sockets = SocketTable::new(grant.endpoints.clone(), grant.denied.clone())
            .with_names(&grant.names);
        if let Some(deadline) = deadline {
            sockets.set_deadline(deadline);
        }
        Ok(ModuleState { p1, sockets })
    }

    /// A state that grants nothing.
    fn empty() -> Self {
        ModuleState {
            p1: WasiCtx::builder().build_p1(),
            sockets: SocketTable::new(Vec::new(), Default::default()),
        }
    }
}

impl HostState {
    fn module_state(&mut self) -> &mut ModuleState {
        // Components never reach the preview 1 functions; a module instance
        // always has its state. Should one not, it gets no grants at all.
        self.wasmedge
            .get_or_insert_with(|| Box::new(ModuleState::empty()))
    }

    fn p1(&mut self) -> &mut WasiP1Ctx {
        &mut self.module_state().p1
    }

    fn sockets(&mut self) -> &mut SocketTable {
        &mut self.module_state().sockets
    }
}

/// The linker of core modules: WASI preview 1 and the flat ABI's `host`
/// functions, shared; the socket extension is added per store.
pub struct ModuleLinker {
    base: Linker<HostState>,
    known: BTreeSet<(String, String)>,
}

impl ModuleLinker {
    /// Builds the shared linker for `engine`.
    pub fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut base = Linker::new(engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut base, |s: &mut HostState| s.p1())?;
        flat_abi::add_host_to_linker(&mut base, |s: &mut HostState| s)?;
        // Every name a module may import, read from a complete linker.
        let mut store = Store::new(
            engine,
            HostState::new(
                WasiCtx::builder().build(),
                Default::default(),
                HostContext::control("", ""),
            ),
        );
        let mut full = base.clone();
        sockets::add_to_linker(&mut full, &mut store, |s: &mut HostState| s.sockets())?;
        let known = full
            .iter(&mut store)
            .map(|(module, name, _)| (module.to_string(), name.to_string()))
            .collect();
        Ok(ModuleLinker { base, known })
    }

    /// The imports of `module` no linker definition satisfies, as
    /// `module::name`.
    pub fn unknown_imports(&self, module: &Module) -> Vec<String> {
        module
            .imports()
            .filter(|i| {
                !self
                    .known
                    .contains(&(i.module().to_string(), i.name().to_string()))
                    && !is_environment_import(i.module(), i.name())
            })
            .map(|i| format!("{}::{}", i.module(), i.name()))
            .collect()
    }

    /// Instantiates `module` in `store` (whose data carries the module's
    /// [`ModuleState`]) and runs its `_initialize`, if any.
    pub fn instantiate(
        &self,
        store: &mut Store<HostState>,
        module: &Module,
    ) -> wasmtime::Result<wasmtime::Instance> {
        let mut linker = self.base.clone();
        sockets::add_to_linker(&mut linker, store, |s: &mut HostState| s.sockets())?;
        define_environment(&mut linker, module)?;
        let instance = linker.instantiate(&mut *store, module)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut *store, "_initialize") {
            init.call(&mut *store, ())?;
        }
        Ok(instance)
    }
}

/// Whether an import is WASI 0.2's `get-environment`, which some crates
/// built for `wasm32-wasip1` import through the `wasi` crate (tokio-postgres
/// through `whoami`, for a default user name).
fn is_environment_import(module: &str, name: &str) -> bool {
    module.starts_with("wasi:cli/environment@0.2.") && name == "get-environment"
}

/// Answers `get-environment` with an empty list, whatever 0.2 version the
/// module names: the sandbox passes connectors no environment.
fn define_environment(linker: &mut Linker<HostState>, module: &Module) -> wasmtime::Result<()> {
    let wanted: BTreeSet<String> = module
        .imports()
        .filter(|i| is_environment_import(i.module(), i.name()))
        .map(|i| i.module().to_string())
        .collect();
    for name in wanted {
        linker.func_wrap(
            &name,
            "get-environment",
            |mut caller: wasmtime::Caller<'_, HostState>, ret: i32| -> wasmtime::Result<()> {
                let memory = caller
                    .get_export("memory")
                    .and_then(|e| e.into_memory())
                    .ok_or_else(|| wasmtime::Error::msg("the module exports no `memory`"))?;
                // An empty list<tuple<string, string>>: an aligned, unused
                // pointer and length 0.
                let mut bytes = [0u8; 8];
                bytes[..4].copy_from_slice(&4u32.to_le_bytes());
                memory.write(&mut caller, ret as u32 as usize, &bytes)?;
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The world a core module exports, from its export names
/// (`rapidbyte:connector/source@0.1.0#read`...).
pub fn world_of(module: &Module) -> Option<ConnectorKind> {
    module
        .exports()
        .find_map(|e| crate::runtime::exported_world(e.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_and_components_are_told_apart() {
        assert!(is_core_module(b"\0asm\x01\0\0\0"));
        assert!(!is_core_module(b"\0asm\x0d\0\x01\0"));
        assert!(!is_core_module(b"\0asm"));
    }
}
