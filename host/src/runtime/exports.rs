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

/// The outcome of one export call.
pub(crate) type Call<T> = wasmtime::Result<Result<T, ConnectorError>>;

/// The source world's exports.
pub(crate) trait SourceExports: Send + Sync {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()>;
    fn discover(&self, store: &mut Store<HostState>) -> Call<Catalog>;
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult>;
    fn read(&self, store: &mut Store<HostState>, request: &ReadRequest) -> Call<ReadSummary>;
}

/// The destination world's exports.
pub(crate) trait DestinationExports: Send + Sync {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()>;
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult>;
    fn write(&self, store: &mut Store<HostState>, request: &WriteRequest) -> Call<WriteSummary>;
}

impl SourceExports for SourceConnector {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        self.rapidbyte_connector_source().call_init(store, config)
    }
    fn discover(&self, store: &mut Store<HostState>) -> Call<Catalog> {
        self.rapidbyte_connector_source().call_discover(store)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        self.rapidbyte_connector_source()
            .call_validate(store, config)
    }
    fn read(&self, store: &mut Store<HostState>, request: &ReadRequest) -> Call<ReadSummary> {
        self.rapidbyte_connector_source().call_read(store, request)
    }
}

impl DestinationExports for DestinationConnector {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        self.rapidbyte_connector_destination()
            .call_init(store, config)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        self.rapidbyte_connector_destination()
            .call_validate(store, config)
    }
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
    ) -> Result<(WasiCtx, Option<Box<ModuleState>>), String> {
        match self {
            Code::Component(_) => Ok((sandbox::wasi_ctx(grant)?, None)),
            Code::Module(_) => Ok((
                WasiCtx::builder().build(),
                Some(Box::new(ModuleState::new(grant, deadline)?)),
            )),
        }
    }

    /// Instantiates this code as a source in `store`.
    pub(crate) fn instantiate_source(
        &self,
        runtime: &Runtime,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn SourceExports>> {
        Ok(match self {
            Code::Component(c) => Box::new(SourceConnector::instantiate(
                &mut *store,
                c,
                runtime.linker(),
            )?),
            Code::Module(m) => Box::new(wasmedge::exports::ModuleExports(
                runtime.module_linker().instantiate(store, m)?,
            )),
        })
    }

    /// Instantiates this code as a destination in `store`.
    pub(crate) fn instantiate_destination(
        &self,
        runtime: &Runtime,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Box<dyn DestinationExports>> {
        Ok(match self {
            Code::Component(c) => Box::new(DestinationConnector::instantiate(
                &mut *store,
                c,
                runtime.linker(),
            )?),
            Code::Module(m) => Box::new(wasmedge::exports::ModuleExports(
                runtime.module_linker().instantiate(store, m)?,
            )),
        })
    }
}
