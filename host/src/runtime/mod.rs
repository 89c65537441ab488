//! The WebAssembly runtime: one wasmtime [`Engine`], the AOT cache, the
//! sandbox and the host functions.

mod aot_cache;
pub mod bindings;
mod deadline_poll;
pub mod exports;
mod host_impl;
mod http_gate;
mod instance;
mod limits;
mod name_lookup;
pub mod sandbox;
pub mod wasmedge;
mod write_errors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

pub use exports::{DestinationWorld, SourceWorld, World};
pub use host_impl::{
    escape, scoped_key, stream_of_key, Acks, ChannelError, Checkpoint, Frame, HostContext, Inbox,
    Outbox, Progress, Role, StreamState, MAX_STATE_BYTES,
};
pub use instance::{
    ConnectorErrorData, ConnectorFailure, ConnectorInstance, DestinationInstance, ErrorInfo,
    FailureKind, SourceInstance,
};
pub use limits::InstanceLimits;

use crate::registry::ConnectorKind;

/// How often the epoch advances; the time limit's resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Errors setting up the runtime or loading a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime could not be configured.
    #[error("cannot set up the wasm engine: {0}")]
    Engine(String),
    /// The component file could not be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid component.
    #[error("{path} is not a valid WebAssembly component: {message}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// wasmtime's message.
        message: String,
    },
    /// A core module imports functions the shim does not provide.
    #[error("{path} is a core module importing functions this host does not provide: {imports} (a WasmEdge-style connector may import WASI preview 1, WasmEdge's socket extension and the `rapidbyte:connector/host` flat ABI; see docs/wasmedge.md)")]
    UnknownImports {
        /// The file.
        path: PathBuf,
        /// Every unknown import, as `module::name`, comma-separated.
        imports: String,
    },
    /// The component exports none of the three worlds.
    #[error("{path} exports none of rapidbyte:connector/source, destination or transform (exports: {exports})")]
    NotAConnector {
        /// The file.
        path: PathBuf,
        /// What it does export.
        exports: String,
    },
}

/// Compiled connector code.
#[derive(Clone)]
pub enum Code {
    /// A WIT component (the default build, `wasm32-wasip2`).
    Component(Component),
    /// A WasmEdge-style core module (`wasm32-wasip1`) speaking the flat ABI.
    Module(wasmtime::Module),
}

impl Code {
    /// How the connector was built, for reports.
    pub fn describe(&self) -> &'static str {
        match self {
            Code::Component(_) => "component",
            Code::Module(_) => "WasmEdge-style wasip1 core module",
        }
    }
}

/// A compiled connector, ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    /// The component or core module.
    pub code: Code,
    /// The world it exports.
    pub kind: ConnectorKind,
    /// SHA-256 of the `.wasm`.
    pub sha256: String,
    /// Whether it came from the AOT cache.
    pub from_cache: bool,
    /// Time to load it (read, hash, deserialize or compile).
    pub load_time: Duration,
}

/// The engine shared by every connector of a process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<host_impl::HostState>,
    module_linker: wasmedge::ModuleLinker,
    cache: aot_cache::AotCache,
    loaded: Mutex<HashMap<PathBuf, LoadedComponent>>,
    stop_ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// An engine with epoch interruption and the AOT cache in
    /// `<home>/cache/aot` (`home` is [`crate::settings::Settings::home`]).
    pub fn new(home: &Path) -> Result<Self, RuntimeError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        name_lookup::add_to_linker(&mut linker).map_err(|e| RuntimeError::Engine(e.to_string()))?;
        deadline_poll::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        write_errors::add_to_linker(&mut linker)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        bindings::source::rapidbyte::connector::host::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s: &mut host_impl::HostState| s,
        )
        .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let module_linker = wasmedge::ModuleLinker::new(&engine)
            .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop_ticker.clone();
            std::thread::Builder::new()
                .name("rapidbyte-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::Engine(e.to_string()))?;
        }
        let cache = aot_cache::AotCache::new(home.join("cache").join("aot"), &engine);
        Ok(Runtime {
            engine,
            linker,
            module_linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
            stop_ticker,
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a component through the AOT cache (once per path per process).
    pub fn load(&self, path: &Path) -> Result<LoadedComponent, RuntimeError> {
        // Held while compiling, so concurrent loads of one file compile once.
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = loaded.get(path) {
            return Ok(c.clone());
        }
        let start = Instant::now();
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let core = wasmedge::is_core_module(&bytes);
        let (code, sha256, from_cache) = self.cache.load(&self.engine, path, &bytes, core)?;
        let kind = match &code {
            Code::Component(component) => world_of(&self.engine, component).ok_or_else(|| {
                let ty = component.component_type();
                let exports: Vec<String> = ty
                    .exports(&self.engine)
                    .map(|(n, _)| n.to_string())
                    .collect();
                RuntimeError::NotAConnector {
                    path: path.to_path_buf(),
                    exports: exports.join(", "),
                }
            })?,
            Code::Module(module) => {
                let unknown = self.module_linker.unknown_imports(module);
                if !unknown.is_empty() {
                    return Err(RuntimeError::UnknownImports {
                        path: path.to_path_buf(),
                        imports: unknown.join(", "),
                    });
                }
                wasmedge::world_of(module).ok_or_else(|| RuntimeError::NotAConnector {
                    path: path.to_path_buf(),
                    exports: module
                        .exports()
                        .map(|e| e.name().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?
            }
        };
        let component = LoadedComponent {
            code,
            kind,
            sha256,
            from_cache,
            load_time: start.elapsed(),
        };
        loaded.insert(path.to_path_buf(), component.clone());
        Ok(component)
    }

    /// Compiles a component without the cache (benchmarks).
    pub fn compile_uncached(&self, bytes: &[u8]) -> Result<Component, RuntimeError> {
        Component::new(&self.engine, bytes).map_err(|e| RuntimeError::Compile {
            path: PathBuf::from("<memory>"),
            message: format!("{e:#}"),
        })
    }

    pub(crate) fn linker(&self) -> &Linker<host_impl::HostState> {
        &self.linker
    }

    pub(crate) fn module_linker(&self) -> &wasmedge::ModuleLinker {
        &self.module_linker
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// The world a component exports, from its export names.
fn world_of(engine: &Engine, component: &Component) -> Option<ConnectorKind> {
    let ty = component.component_type();
    let kind = ty
        .exports(engine)
        .find_map(|(name, _)| exported_world(name));
    kind
}

/// The world an export name belongs to: the component's interface export
/// (`rapidbyte:connector/source@0.1.0`) or a core module's function export
/// (`rapidbyte:connector/source@0.1.0#read`).
pub(crate) fn exported_world(export: &str) -> Option<ConnectorKind> {
    match export.split(['@', '#']).next().unwrap_or("") {
        "rapidbyte:connector/source" => Some(ConnectorKind::Source),
        "rapidbyte:connector/destination" => Some(ConnectorKind::Destination),
        "rapidbyte:connector/transform" => Some(ConnectorKind::Transform),
        _ => None,
    }
}
