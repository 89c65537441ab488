//! `wasi:sockets/ip-name-lookup` for components, limited to the grant: a
//! connector may look up only the host names its grant names (IP literals
//! need no lookup). Any other name is refused, counted and logged before a
//! resolver sees it, so name lookups cannot carry data out of the sandbox.
//! Granted names go on to wasmtime-wasi's resolver.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddress, Network};
use wasmtime_wasi::p2::{DynPollable, SocketError};
use wasmtime_wasi::sockets::WasiSocketsCtxView;

use super::host_impl::HostState;

/// What an instance may look up.
#[derive(Debug, Clone, Default)]
pub(crate) struct LookupGrant {
    /// Granted host names, lower case.
    pub(crate) names: HashSet<String>,
    /// Refusals, shared with the rest of the sandbox.
    pub(crate) denied: Arc<AtomicU64>,
}

/// The lookup interface's view of an instance: its sockets and its grant.
pub(crate) struct FilteredLookup<'a> {
    inner: WasiSocketsCtxView<'a>,
    grant: &'a LookupGrant,
}

struct Filtered;

impl HasData for Filtered {
    type Data<'a> = FilteredLookup<'a>;
}

fn view(s: &mut HostState) -> FilteredLookup<'_> {
    FilteredLookup {
        inner: WasiSocketsCtxView {
            ctx: s.wasi.sockets(),
            table: &mut s.table,
        },
        grant: &s.lookup,
    }
}

/// Replaces wasmtime-wasi's `ip-name-lookup` in `linker` with the
/// filtered one.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = ip_name_lookup::add_to_linker::<HostState, Filtered>(linker, view);
    linker.allow_shadowing(false);
    added
}

impl Host for FilteredLookup<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        let literal = name
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok();
        if !literal && !self.grant.names.contains(&name.to_ascii_lowercase()) {
            self.grant.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                name = %super::escape(&name, 256),
                "sandbox denied a name lookup outside the grant"
            );
            return Err(ErrorCode::AccessDenied.into());
        }
        Host::resolve_addresses(&mut self.inner, network, name)
    }
}

impl network::Host for FilteredLookup<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.inner, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime_wasi::p2::bindings::io::error::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.inner, err)
    }
}

impl network::HostNetwork for FilteredLookup<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.inner, this)
    }
}

impl HostResolveAddressStream for FilteredLookup<'_> {
    fn resolve_next_address(
        &mut self,
        resource: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        HostResolveAddressStream::resolve_next_address(&mut self.inner, resource)
    }

    fn subscribe(
        &mut self,
        resource: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.inner, resource)
    }

    fn drop(&mut self, resource: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.inner, resource)
    }
}
