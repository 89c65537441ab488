//! A connector's exports, whatever its code is: the component model's
//! bindings, or a WasmEdge-style core module's flat ABI. Instances call
//! these traits; which kind of code is behind them is decided once, here
//! and in [`super::wasmedge::exports`], and nowhere else.

use std::time::Instant;

use wasmtime::Store;
use wasmtime_wasi::WasiCtx;

use super::bindings::destination::DestinationConnector;
use super::bindings::source::SourceConnector;
use super::bindings::types::{
    Catalog, ConnectorError, ReadRequest, ReadSummary, ValidationResult, WriteRequest, WriteSummary,
};
use super::host_impl::HostState;
use super::sandbox::{self, Grant};
use super::wasmedge::{self, ModuleState};
use super::{Code, Runtime};

/// The outcome of one export call: a trap, or what the connector returned.
pub type Call<T> = wasmtime::Result<Result<T, ConnectorError>>;

/// The exports every world has: `init` and `validate`.
pub trait ControlExports: Send + Sync {
    /// `init(config)`.
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()>;
    /// `validate(config)`.
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult>;
}

/// The source world's own exports.
pub trait SourceExports: ControlExports {
    /// `discover()`.
    fn discover(&self, store: &mut Store<HostState>) -> Call<Catalog>;
    /// `read(request)`.
    fn read(&self, store: &mut Store<HostState>, request: &ReadRequest) -> Call<ReadSummary>;
}

/// The destination world's own exports.
pub trait DestinationExports: ControlExports {
    /// `write(request)`.
    fn write(&self, store: &mut Store<HostState>, request: &WriteRequest) -> Call<WriteSummary>;
}

/// A world of the contract, as the host instantiates it. A new world (the
/// transform world, say) is one more marker type, its exports trait and
/// their two implementations (component bindings, flat ABI); the instance
/// type, its limits and its failure handling are shared.
pub trait World {
    /// The world's exports.
    type Exports: ?Sized + ControlExports;
    /// Instantiates `code` as this world in `store`.
    fn instantiate(
        code: &Code,
        runtime: &Runtime,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<Self::Exports>>;
}

/// The source world (`source-connector`).
#[derive(Debug, Clone, Copy)]
pub struct SourceWorld;

/// The destination world (`destination-connector`).
#[derive(Debug, Clone, Copy)]
pub struct DestinationWorld;

impl World for SourceWorld {
    type Exports = dyn SourceExports;
    fn instantiate(
        code: &Code,
        runtime: &Runtime,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<Self::Exports>> {
        Ok(match code {
            Code::Component(c) => Box::new(SourceConnector::instantiate(
                &mut *store,
                c,
                runtime.linker(),
            )?),
            Code::Module(m) => Box::new(wasmedge::exports::SourceModule(
                runtime.module_linker().instantiate(store, m)?,
            )),
        })
    }
}

impl World for DestinationWorld {
    type Exports = dyn DestinationExports;
    fn instantiate(
        code: &Code,
        runtime: &Runtime,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<Self::Exports>> {
        Ok(match code {
            Code::Component(c) => Box::new(DestinationConnector::instantiate(
                &mut *store,
                c,
                runtime.linker(),
            )?),
            Code::Module(m) => Box::new(wasmedge::exports::DestinationModule(
                runtime.module_linker().instantiate(store, m)?,
            )),
        })
    }
}

impl ControlExports for SourceConnector {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        self.rapidbyte_connector_source().call_init(store, config)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        self.rapidbyte_connector_source()
            .call_validate(store, config)
    }
}

impl SourceExports for SourceConnector {
    fn discover(&self, store: &mut Store<HostState>) -> Call<Catalog> {
        self.rapidbyte_connector_source().call_discover(store)
    }
    fn read(&self, store: &mut Store<HostState>, request: &ReadRequest) -> Call<ReadSummary> {
        self.rapidbyte_connector_source().call_read(store, request)
    }
}

impl ControlExports for DestinationConnector {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        self.rapidbyte_connector_destination()
            .call_init(store, config)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        self.rapidbyte_connector_destination()
            .call_validate(store, config)
    }
}

impl DestinationExports for DestinationConnector {
    fn write(&self, store: &mut Store<HostState>, request: &WriteRequest) -> Call<WriteSummary> {
        self.rapidbyte_connector_destination()
            .call_write(store, request)
    }
}

impl Code {
    /// The WASI side of a store running this code under `grant`: a
    /// preview 2 context for a component; for a core module, an empty one
    /// beside the module's own preview 1 and socket state. Host waits end at
    /// `deadline`.
    pub(crate) fn wasi_for(
        &self,
        grant: &Grant,
        deadline: Option<Instant>,
        max_handles: usize,
    ) -> Result<(WasiCtx, Option<Box<ModuleState>>), String> {
        match self {
            Code::Component(_) => Ok((sandbox::wasi_ctx(grant)?, None)),
            Code::Module(_) => Ok((
                WasiCtx::builder().build(),
                Some(Box::new(ModuleState::new(grant, deadline, max_handles)?)),
            )),
        }
    }
}
