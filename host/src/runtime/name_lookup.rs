//! `wasi:sockets/ip-name-lookup` for components, answered from the grant:
//! a connector may look up only the host names its grant names, and gets
//! the addresses the host resolved when it built the grant (an IP literal
//! is its own answer). No lookup reaches a resolver, so lookups cannot
//! carry data out of the sandbox, and a second DNS answer cannot differ
//! from the one the grant was built on (DNS rebinding). Any other name is
//! refused, counted and logged.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
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
    /// Granted host names (lower case) and their addresses, resolved when
    /// the grant was built.
    pub(crate) names: HashMap<String, Vec<IpAddr>>,
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

/// The answer to one lookup: the granted addresses, handed out one by one.
struct Answer(std::vec::IntoIter<IpAddr>);

impl wasmtime_wasi::p2::Pollable for Answer {
    // The trait is `async_trait`'s: this is its `async fn ready(&mut self)`
    // written out. An answer is always ready.
    fn ready<'s, 'f>(&'s mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'f>>
    where
        's: 'f,
        Self: 'f,
    {
        Box::pin(std::future::ready(()))
    }
}

/// `stream` (a guest handle) as the [`Answer`] the table holds under it.
fn answer(stream: &Resource<ResolveAddressStream>) -> Resource<Answer> {
    Resource::new_borrow(stream.rep())
}

impl Host for FilteredLookup<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        // The network handle is the capability to look names up.
        self.inner.table.get(&network)?;
        let literal = name.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        let addrs = match literal {
            Some(ip) => vec![ip],
            None => match self.grant.names.get(&name.to_ascii_lowercase()) {
                Some(addrs) => addrs.clone(),
                None => {
                    self.grant.denied.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        name = %super::escape(&name, 256),
                        "sandbox denied a name lookup outside the grant"
                    );
                    return Err(ErrorCode::AccessDenied.into());
                }
            },
        };
        let pushed = self.inner.table.push(Answer(addrs.into_iter()))?;
        Ok(Resource::new_own(pushed.rep()))
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
        let answer = self.inner.table.get_mut(&answer(&resource))?;
        Ok(answer.0.next().map(IpAddress::from))
    }

    fn subscribe(
        &mut self,
        resource: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.inner.table, answer(&resource))
    }

    fn drop(&mut self, resource: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.inner
            .table
            .delete(Resource::<Answer>::new_own(resource.rep()))?;
        Ok(())
    }
}
