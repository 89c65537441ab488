//! `wasi:io/poll` for components, ending at the instance's deadline.
//!
//! The epoch interrupt that enforces `resources.timeout` fires only while
//! wasm code runs; a connector blocked inside the host (sleeping, or
//! waiting on a socket that never answers) would outlive its time limit.
//! Here every `poll` and `pollable.block` also waits on a timer set to the
//! instance's deadline; when that timer is what wakes it, the call traps and
//! the stream fails as a timeout.

use std::time::Instant;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::clocks::{WasiClocksCtx, WasiClocksCtxView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host as _;
use wasmtime_wasi::p2::bindings::sync::io::poll;
use wasmtime_wasi::p2::DynPollable;

use super::host_impl::HostState;

/// The poll interface's view of an instance.
pub(crate) struct DeadlinePoll<'a> {
    table: &'a mut ResourceTable,
    clocks: &'a mut WasiClocksCtx,
    deadline: Option<Instant>,
    timed_out: &'a mut bool,
}

struct WithDeadline;

impl HasData for WithDeadline {
    type Data<'a> = DeadlinePoll<'a>;
}

fn view(s: &mut HostState) -> DeadlinePoll<'_> {
    DeadlinePoll {
        table: &mut s.table,
        clocks: s.wasi.clocks(),
        deadline: s.deadline,
        timed_out: &mut s.timed_out,
    }
}

/// Replaces wasmtime-wasi's synchronous `wasi:io/poll` in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = poll::add_to_linker::<HostState, WithDeadline>(linker, view);
    linker.allow_shadowing(false);
    added
}

impl DeadlinePoll<'_> {
    /// Polls `pollables` and a timer at the deadline; `Ok` with the ready
    /// indices of `pollables`, or a trap if only the deadline came.
    fn poll_until_deadline(
        &mut self,
        mut pollables: Vec<Resource<DynPollable>>,
    ) -> wasmtime::Result<Vec<u32>> {
        let Some(deadline) = self.deadline else {
            return poll::Host::poll(self.table, pollables);
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let nanos = u64::try_from(left.as_nanos()).unwrap_or(u64::MAX);
        let timer = WasiClocksCtxView {
            ctx: self.clocks,
            table: self.table,
        }
        .subscribe_duration(nanos)?;
        let timer_rep = timer.rep();
        let timer_index = u32::try_from(pollables.len()).unwrap_or(u32::MAX);
        pollables.push(timer);
        let ready = poll::Host::poll(self.table, pollables);
        // Dropped as the guest would drop it, so the clock deadline the
        // pollable points at goes too (a plain delete would leak it, one
        // table entry per poll).
        poll::HostPollable::drop(self.table, Resource::<DynPollable>::new_own(timer_rep))?;
        let ready = ready?;
        let others: Vec<u32> = ready
            .iter()
            .copied()
            .filter(|&i| i != timer_index)
            .collect();
        if others.is_empty() && Instant::now() >= deadline {
            *self.timed_out = true;
            return Err(wasmtime::Error::msg(
                "the time limit ended while the connector was waiting",
            ));
        }
        Ok(others)
    }
}

impl poll::Host for DeadlinePoll<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.poll_until_deadline(pollables)
    }
}

impl poll::HostPollable for DeadlinePoll<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        poll::HostPollable::ready(self.table, pollable)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let borrowed = Resource::<DynPollable>::new_borrow(pollable.rep());
        self.poll_until_deadline(vec![borrowed]).map(|_| ())
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        poll::HostPollable::drop(self.table, pollable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::host_impl::HostContext;
    use crate::runtime::InstanceLimits;
    use wasmtime_wasi::WasiCtx;

    /// Every poll's deadline timer leaves the resource table again: a
    /// connector polling all day never fills its handle cap.
    #[test]
    fn polls_leave_no_timer_behind() {
        let limits = InstanceLimits {
            max_handles: 16,
            ..InstanceLimits::default()
        };
        let mut state = HostState::new(
            WasiCtx::builder().build(),
            limits,
            HostContext::control("p", "c"),
        );
        state.deadline = Instant::now().checked_add(std::time::Duration::from_secs(3600));
        let ready = WasiClocksCtxView {
            ctx: state.wasi.clocks(),
            table: &mut state.table,
        }
        .subscribe_duration(0)
        .expect("a ready pollable");
        let rep = ready.rep();
        for i in 0..1000 {
            let polled = view(&mut state)
                .poll_until_deadline(vec![Resource::new_borrow(rep)])
                .unwrap_or_else(|e| panic!("poll {i}: {e}"));
            assert_eq!(polled, vec![0]);
            poll::HostPollable::block(&mut view(&mut state), Resource::new_borrow(rep))
                .unwrap_or_else(|e| panic!("block {i}: {e}"));
        }
    }
}
