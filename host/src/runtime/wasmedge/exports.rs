//! A WasmEdge-style module's exports, called through the flat ABI, behind
//! the same traits as a component's.

use wasmtime::{Instance, Store};

use super::flat_abi;
use crate::runtime::bindings::types::{
    Catalog, ReadRequest, ReadSummary, ValidationResult, WriteRequest, WriteSummary,
};
use crate::runtime::exports::{Call, ControlExports, DestinationExports, SourceExports};
use crate::runtime::host_impl::HostState;

/// An instantiated core module exporting the source world.
pub(crate) struct SourceModule(pub(crate) Instance);

/// An instantiated core module exporting the destination world.
pub(crate) struct DestinationModule(pub(crate) Instance);

impl ControlExports for SourceModule {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        flat_abi::call_source_init(store, &self.0, config)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        flat_abi::call_source_validate(store, &self.0, config)
    }
}

impl SourceExports for SourceModule {
    fn discover(&self, store: &mut Store<HostState>) -> Call<Catalog> {
        flat_abi::call_source_discover(store, &self.0)
    }
    fn read(&self, store: &mut Store<HostState>, request: &ReadRequest) -> Call<ReadSummary> {
        flat_abi::call_source_read(store, &self.0, request)
    }
}

impl ControlExports for DestinationModule {
    fn init(&self, store: &mut Store<HostState>, config: &str) -> Call<()> {
        flat_abi::call_destination_init(store, &self.0, config)
    }
    fn validate(&self, store: &mut Store<HostState>, config: &str) -> Call<ValidationResult> {
        flat_abi::call_destination_validate(store, &self.0, config)
    }
}

impl DestinationExports for DestinationModule {
    fn write(&self, store: &mut Store<HostState>, request: &WriteRequest) -> Call<WriteSummary> {
        flat_abi::call_destination_write(store, &self.0, request)
    }
}
