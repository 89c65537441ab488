//! `poll_oneoff` for calls that name a socket.

use super::*;

const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const SUBCLOCK_ABSTIME: u16 = 1;
const EVENT_HANGUP: u16 = 1;
const SUBSCRIPTION_SIZE: u32 = 48;
const EVENT_SIZE: u32 = 32;
/// The most subscriptions one call naming a socket may hold.
pub(super) const MAX_SUBSCRIPTIONS: u32 = 4096;

/// One `subscription`.
enum Sub {
    Clock { id: u32, timeout: u64, flags: u16 },
    Fd { write: bool, fd: u32 },
}

/// One `event` to report.
struct Event {
    userdata: u64,
    error: Errno,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

impl Event {
    fn error(userdata: u64, kind: u8, error: Errno) -> Event {
        Event {
            userdata,
            error,
            kind,
            nbytes: 0,
            flags: 0,
        }
    }
}

fn read_subs(m: &Mem<'_>, ptr: u32, n: u32) -> Result<Vec<(u64, Sub)>, Errno> {
    let mut subs = Vec::new();
    for i in 0..n {
        let base = at(ptr, i.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::FAULT)?)?;
        let userdata = m.u64(base)?;
        let sub = match m.u8(at(base, 8)?)? {
            EVENTTYPE_CLOCK => Sub::Clock {
                id: m.u32(at(base, 16)?)?,
                timeout: m.u64(at(base, 24)?)?,
                flags: m.u16(at(base, 40)?)?,
            },
            t @ (EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE) => Sub::Fd {
                write: t == EVENTTYPE_FD_WRITE,
                fd: m.u32(at(base, 16)?)?,
            },
            _ => return Err(Errno::INVAL),
        };
        subs.push((userdata, sub));
    }
    Ok(subs)
}

/// Whether any of the `n` subscriptions at `ptr` names a socket (an
/// unreadable array is left to wasmtime-wasi to report).
pub(super) fn names_socket(m: &Mem<'_>, ptr: u32, n: u32) -> bool {
    let fd_of = |i: u32| -> Result<Option<u32>, Errno> {
        let base = at(ptr, i.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::FAULT)?)?;
        match m.u8(at(base, 8)?)? {
            EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => Ok(Some(m.u32(at(base, 16)?)?)),
            _ => Ok(None),
        }
    };
    for i in 0..n {
        match fd_of(i) {
            Ok(Some(fd)) if fd >= SOCKET_FD_BASE => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

impl SocketTable {
    /// Time from now until a clock subscription fires.
    fn delay(&self, id: u32, timeout: u64, flags: u16) -> Result<Duration, Errno> {
        let absolute = flags & SUBCLOCK_ABSTIME != 0;
        let now = match (id, absolute) {
            (CLOCK_REALTIME | CLOCK_MONOTONIC, false) => 0,
            (CLOCK_REALTIME, true) => {
                let since = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
            }
            // WASI's monotonic clock counts from the context's
            // creation, which `started` approximates.
            (CLOCK_MONOTONIC, true) => {
                u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
            }
            _ => return Err(Errno::INVAL),
        };
        Ok(Duration::from_nanos(timeout.saturating_sub(now)))
    }

    /// Handles a `poll_oneoff` call that names at least one socket:
    /// socket readiness comes from `poll(2)` on the host sockets,
    /// clocks are timeouts, and any other descriptor in the same call
    /// gets an event with error `NOTSUP` (mixing sockets with files or
    /// stdio in one poll is not supported).
    pub(super) fn poll_oneoff(
        &mut self,
        m: &mut Mem<'_>,
        subs_ptr: u32,
        events_ptr: u32,
        n: u32,
        nevents_ptr: u32,
    ) -> Result<(), Errno> {
        if n == 0 || n > MAX_SUBSCRIPTIONS {
            return Err(Errno::INVAL);
        }
        let subs = read_subs(m, subs_ptr, n)?;
        m.range(events_ptr, n.checked_mul(EVENT_SIZE).ok_or(Errno::FAULT)?)?;
        m.range(nevents_ptr, 4)?;
        let start = Instant::now();
        let mut ready = Vec::new();
        let mut clocks = Vec::new();
        let mut pollfds = Vec::new();
        let mut watched = Vec::new();
        for (userdata, sub) in subs {
            match sub {
                Sub::Clock { id, timeout, flags } => match self.delay(id, timeout, flags) {
                    Ok(d) => clocks.push((userdata, start + d)),
                    Err(e) => ready.push(Event::error(userdata, EVENTTYPE_CLOCK, e)),
                },
                Sub::Fd { write, fd } => {
                    let kind = if write {
                        EVENTTYPE_FD_WRITE
                    } else {
                        EVENTTYPE_FD_READ
                    };
                    if fd < SOCKET_FD_BASE {
                        ready.push(Event::error(userdata, kind, Errno::NOTSUP));
                        continue;
                    }
                    match self.sockets.get(&fd).map(|s| s.stream.as_ref()) {
                        None => ready.push(Event::error(userdata, kind, Errno::BADF)),
                        // Like poll(2) on an unconnected TCP socket.
                        Some(None) => ready.push(Event {
                            flags: EVENT_HANGUP,
                            ..Event::error(userdata, kind, Errno::SUCCESS)
                        }),
                        Some(Some(s)) => {
                            pollfds.push(libc::pollfd {
                                fd: s.as_raw_fd(),
                                events: if write { libc::POLLOUT } else { libc::POLLIN },
                                revents: 0,
                            });
                            watched.push((userdata, kind, fd));
                        }
                    }
                }
            }
        }
        loop {
            let until = clocks.iter().map(|(_, d)| *d).chain(self.deadline).min();
            let timeout_ms = if !ready.is_empty() {
                0
            } else {
                match until {
                    None => -1,
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        i32::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
                    }
                }
            };
            // SAFETY: `pollfds` holds `pollfds.len()` initialised entries.
            let rc = unsafe {
                libc::poll(
                    pollfds.as_mut_ptr(),
                    pollfds.len() as libc::nfds_t,
                    timeout_ms,
                )
            };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Errno::of(&e));
            }
            for (p, (userdata, kind, fd)) in pollfds.iter().zip(&watched) {
                if p.revents != 0 {
                    ready.push(self.fd_event(*userdata, *kind, *fd, p.revents));
                }
            }
            let now = Instant::now();
            for (userdata, deadline) in &clocks {
                if *deadline <= now {
                    ready.push(Event::error(*userdata, EVENTTYPE_CLOCK, Errno::SUCCESS));
                }
            }
            if !ready.is_empty() {
                break;
            }
            if self.deadline.is_some_and(|d| d <= now) {
                self.expired = true;
                return Err(Errno::TIMEDOUT);
            }
        }
        for (i, e) in ready.iter().enumerate() {
            let base = at(
                events_ptr,
                (i as u32).checked_mul(EVENT_SIZE).ok_or(Errno::FAULT)?,
            )?;
            m.write(base, &[0u8; EVENT_SIZE as usize])?;
            m.put_u64(base, e.userdata)?;
            m.put_u16(at(base, 8)?, e.error.0)?;
            m.put_u8(at(base, 10)?, e.kind)?;
            m.put_u64(at(base, 16)?, e.nbytes)?;
            m.put_u16(at(base, 24)?, e.flags)?;
        }
        m.put_u32(
            nevents_ptr,
            u32::try_from(ready.len()).map_err(|_| Errno::FAULT)?,
        )
    }

    fn fd_event(&self, userdata: u64, kind: u8, fd: u32, revents: i16) -> Event {
        let Some(s) = self.sockets.get(&fd).and_then(|s| s.stream.as_ref()) else {
            return Event::error(userdata, kind, Errno::BADF);
        };
        if revents & libc::POLLNVAL != 0 {
            return Event::error(userdata, kind, Errno::BADF);
        }
        if revents & libc::POLLERR != 0 {
            let error = match s.take_error() {
                Ok(Some(e)) => Errno::of(&e),
                _ => Errno::IO,
            };
            return Event::error(userdata, kind, error);
        }
        Event {
            userdata,
            error: Errno::SUCCESS,
            kind,
            nbytes: if kind == EVENTTYPE_FD_READ {
                readable_bytes(s)
            } else {
                0
            },
            flags: if revents & libc::POLLHUP != 0 {
                EVENT_HANGUP
            } else {
                0
            },
        }
    }
}
