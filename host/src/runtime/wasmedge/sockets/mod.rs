//! WasmEdge's socket extension (`sock_*` imports) under the sandbox.
//!
//! Modules built against WasmEdge's socket API (the `wasmedge_wasi_socket`
//! crate, or C code using the same imports) import `sock_open`,
//! `sock_connect`, `sock_recv`, ... from `wasi_snapshot_preview1`, with
//! WasmEdge's own signatures, and reach their sockets through ordinary WASI
//! calls too: `close()` is `fd_close`, `fcntl(F_GETFL/F_SETFL)` is
//! `fd_fdstat_get` / `fd_fdstat_set_flags`, and readiness is `poll_oneoff`
//! with `fd_read` / `fd_write` subscriptions. [`add_to_linker`] defines all
//! of that on top of wasmtime-wasi's preview 1 linker.
//!
//! # Descriptors
//!
//! Sockets live in a [`SocketTable`] of their own, numbered from
//! [`SOCKET_FD_BASE`] up so they never collide with wasmtime-wasi's
//! descriptors (which count up from 0). The wrapped `fd_*` and
//! `poll_oneoff` functions send socket descriptors to the table and every
//! other descriptor to wasmtime-wasi's own function. `fd_read` and
//! `fd_write` on a socket are `sock_recv` / `sock_send` without flags, as
//! on WasmEdge (std's and tokio's streams built from a socket descriptor
//! use them); other `fd_*` calls on a socket answer `BADF` (8), as
//! wasmtime-wasi does not know it. A `poll_oneoff` call naming a
//! socket is handled here entirely; any non-socket descriptor in that same
//! call gets an event with error `NOTSUP`.
//!
//! # Sandbox
//!
//! Only outgoing TCP connections to granted endpoints are allowed, as for
//! components:
//!
//! * `sock_connect` to an address outside the grant answers `ACCES` (2),
//!   which Rust guests see as `ErrorKind::PermissionDenied`;
//! * `sock_getaddrinfo` answers only names whose resolution contains a
//!   granted endpoint's IP, and returns only those IPs; any other name
//!   (including one that does not resolve) answers `ACCES`. With nothing
//!   granted no lookup is made at all;
//! * `sock_bind` (other than to the wildcard address and port 0, which is
//!   what `connect` does implicitly and is accepted as a no-op) and
//!   `sock_listen` answer `ACCES`: the sandbox never grants listening;
//! * `sock_accept` answers `INVAL` (28): no socket can be listening;
//! * UDP is not offered: `sock_open` of a datagram socket and
//!   `sock_send_to` answer `NOTSUP` (58).
//!
//! Every `ACCES` above is a refusal of the sandbox: it increments the
//! grant's `denied` counter and logs a warning. A store may hold at most
//! [`MAX_SOCKETS`] open sockets (`MFILE`, 33, past that).
//!
//! # Blocking
//!
//! Host sockets are [`std::net::TcpStream`]s, blocking unless the guest
//! sets `FDFLAGS_NONBLOCK` (then `AGAIN`, 6, is returned instead of
//! blocking). A blocking `sock_recv`, a `poll_oneoff` without a clock
//! subscription, or a `connect` (at most [`CONNECT_TIMEOUT`], connects are
//! always completed before `sock_connect` returns, even in nonblocking
//! mode) block the calling thread inside the host. The store's epoch
//! deadline only interrupts wasm code, so the table carries the same
//! deadline ([`SocketTable::set_deadline`]): a blocking `sock_recv` /
//! `fd_read` or a `poll_oneoff` on sockets waits at most until then, and
//! past it the call traps as an interrupt, which the host reports as the
//! connector exceeding its time limit. A connect waits at most
//! [`CONNECT_TIMEOUT`].

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime::{Caller, Engine, Extern, Func, Instance, Linker, Module, Store, TypedFunc};

/// The import module of every function defined here.
const P1: &str = "wasi_snapshot_preview1";

/// The first socket descriptor; sockets are numbered up from here.
pub const SOCKET_FD_BASE: u32 = 0x4000_0000;

/// How long `sock_connect` waits for the remote to accept.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most sockets one store may have open at once.
pub const MAX_SOCKETS: usize = 1024;

mod errno;
mod forward;
mod guest;
mod linking;
mod poll;

pub use errno::Errno;
pub use linking::add_to_linker;

use guest::{at, Mem};

/// A socket option a guest set, applied to the host socket once it exists.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Opt {
    ReuseAddr(bool),
    KeepAlive(bool),
    NoDelay(bool),
    ReadTimeout(Option<Duration>),
    WriteTimeout(Option<Duration>),
    SendBuffer(i32),
    RecvBuffer(i32),
}

/// WasmEdge's `SO_*` option names (level `SOL_SOCKET`, 0).
mod so {
    pub const REUSEADDR: i32 = 0;
    pub const TYPE: i32 = 1;
    pub const ERROR: i32 = 2;
    pub const DONTROUTE: i32 = 3;
    pub const BROADCAST: i32 = 4;
    pub const SNDBUF: i32 = 5;
    pub const RCVBUF: i32 = 6;
    pub const KEEPALIVE: i32 = 7;
    pub const OOBINLINE: i32 = 8;
    pub const RCVTIMEO: i32 = 11;
    pub const SNDTIMEO: i32 = 12;
    pub const ACCEPTCONN: i32 = 13;
    pub const BINDTODEVICE: i32 = 14;
}
const SOL_SOCKET: i32 = 0;
/// Not in WasmEdge's ABI, which only has `SOL_SOCKET`: accepted as an
/// extension with POSIX's numbers (`IPPROTO_TCP` 6, `TCP_NODELAY` 1).
const IPPROTO_TCP: i32 = 6;
const TCP_NODELAY: i32 = 1;

/// One guest socket: TCP, IPv4 or IPv6, connected or not yet.
#[derive(Debug)]
struct Socket {
    v6: bool,
    nonblocking: bool,
    /// Options set before connecting, in order.
    opts: Vec<Opt>,
    stream: Option<TcpStream>,
}

impl Socket {
    fn connected(&self) -> Result<&TcpStream, Errno> {
        self.stream.as_ref().ok_or(Errno::NOTCONN)
    }

    fn set(&mut self, opt: Opt) -> Result<(), Errno> {
        if let Some(s) = &self.stream {
            apply(s, opt).map_err(|e| Errno::of(&e))?;
        }
        self.opts.push(opt);
        Ok(())
    }

    /// The last value set for an option (before connecting).
    fn pending<R>(&self, pick: impl Fn(&Opt) -> Option<R>) -> Option<R> {
        self.opts.iter().rev().find_map(pick)
    }
}

fn apply(s: &TcpStream, opt: Opt) -> io::Result<()> {
    match opt {
        Opt::ReuseAddr(_) => Ok(()),
        Opt::KeepAlive(on) => set_int(s, libc::SOL_SOCKET, libc::SO_KEEPALIVE, i32::from(on)),
        Opt::NoDelay(on) => s.set_nodelay(on),
        Opt::ReadTimeout(t) => s.set_read_timeout(t),
        Opt::WriteTimeout(t) => s.set_write_timeout(t),
        Opt::SendBuffer(n) => set_int(s, libc::SOL_SOCKET, libc::SO_SNDBUF, n),
        Opt::RecvBuffer(n) => set_int(s, libc::SOL_SOCKET, libc::SO_RCVBUF, n),
    }
}

fn set_int(s: &TcpStream, level: i32, name: i32, v: i32) -> io::Result<()> {
    // SAFETY: `v` outlives the call and the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&raw const v).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn get_int(s: &TcpStream, level: i32, name: i32) -> io::Result<i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid for writes of their sizes.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            level,
            name,
            (&raw mut v).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits up to `left` for `stream` to be readable; `false` on timeout.
fn readable_within(stream: &TcpStream, left: Duration) -> Result<bool, Errno> {
    let mut fds = [libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
    loop {
        // SAFETY: `fds` holds one initialised entry.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        if rc >= 0 {
            return Ok(rc > 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(Errno::of(&e));
        }
    }
}

/// `recv(2)` into `buf`, retrying on `EINTR`.
fn recv(s: &TcpStream, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// `send(2)` from `buf`, without `SIGPIPE`, retrying on `EINTR`.
fn send(s: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
        let n = unsafe {
            libc::send(
                s.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        match usize::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Bytes waiting to be read (0 if unknown).
fn readable_bytes(s: &TcpStream) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to the pointer.
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &raw mut n) };
    if rc == 0 {
        u64::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// WasmEdge's address families (`sock_open`, `sock_getaddrinfo`).
const AF_INET4: u8 = 1;
const AF_INET6: u8 = 2;
/// WasmEdge's socket types.
const SOCK_ANY: i32 = 0;
const SOCK_DGRAM: i32 = 1;
const SOCK_STREAM: u8 = 2;
/// WASI `riflags`.
const RECV_PEEK: i32 = 1;
const RECV_WAITALL: i32 = 2;
/// WASI fd flags, file type and rights reported for a socket.
const FDFLAGS_NONBLOCK: u16 = 0x4;
const FDFLAGS_KNOWN: u16 = 0x1f;
const FILETYPE_SOCKET_STREAM: u8 = 6;
const SOCKET_RIGHTS: u64 = (1 << 1) | (1 << 3) | (1 << 6) | (1 << 27) | (1 << 28);

/// The sockets of one store, and the sandbox's grant for them.
pub struct SocketTable {
    endpoints: Vec<SocketAddr>,
    /// Host names the guest may look up (lower case), with the addresses
    /// the grant resolved them to.
    names: HashMap<String, Vec<IpAddr>>,
    denied: Arc<AtomicU64>,
    sockets: HashMap<u32, Socket>,
    next_fd: u32,
    /// When the store's clocks started (approximately): the origin of
    /// WASI's monotonic clock, for absolute monotonic poll timeouts.
    started: Instant,
    originals: Option<forward::Originals>,
    forward: Option<forward::Forward>,
    /// When the instance's time limit runs out, if it has one.
    deadline: Option<Instant>,
    /// A wait was cut short by `deadline`: the call must trap.
    expired: bool,
}

impl std::fmt::Debug for SocketTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketTable")
            .field("endpoints", &self.endpoints)
            .field("sockets", &self.sockets)
            .finish_non_exhaustive()
    }
}

impl SocketTable {
    /// A table allowing connections to `endpoints` only; refusals are
    /// counted in `denied`. Create it with the store's WASI context: its
    /// creation time stands for the origin of the guest's monotonic clock.
    pub fn new(endpoints: Vec<SocketAddr>, denied: Arc<AtomicU64>) -> Self {
        SocketTable {
            endpoints,
            names: HashMap::new(),
            denied,
            sockets: HashMap::new(),
            next_fd: SOCKET_FD_BASE,
            started: Instant::now(),
            originals: None,
            forward: None,
            deadline: None,
            expired: false,
        }
    }

    /// Bounds every wait inside the host (blocking reads, polls on
    /// sockets) by `deadline`, the instance's time limit.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = Some(deadline);
    }

    /// Whether a wait hit the deadline; the caller then traps. Clears it.
    fn take_expired(&mut self) -> bool {
        std::mem::take(&mut self.expired)
    }

    /// Time left before the deadline (`None`: no deadline).
    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether `fd` is in the sockets' range (whether or not it is open).
    pub fn is_socket_fd(fd: i32) -> bool {
        fd as u32 >= SOCKET_FD_BASE
    }

    /// Counts and logs a refusal; returns `ACCES`.
    fn deny(&self, operation: &str, what: &dyn std::fmt::Display) -> Errno {
        self.denied.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%what, operation, "sandbox denied a socket operation");
        Errno::ACCES
    }

    fn socket(&self, fd: i32) -> Result<&Socket, Errno> {
        self.sockets.get(&(fd as u32)).ok_or(Errno::BADF)
    }

    fn socket_mut(&mut self, fd: i32) -> Result<&mut Socket, Errno> {
        self.sockets.get_mut(&(fd as u32)).ok_or(Errno::BADF)
    }

    fn open(&mut self, family: i32, kind: i32) -> Result<u32, Errno> {
        let v6 = match u8::try_from(family) {
            Ok(AF_INET4) => false,
            Ok(AF_INET6) => true,
            _ => return Err(Errno::AFNOSUPPORT),
        };
        match kind {
            k if k == SOCK_ANY || k == i32::from(SOCK_STREAM) => {}
            SOCK_DGRAM => return Err(Errno::NOTSUP),
            _ => return Err(Errno::INVAL),
        }
        if self.sockets.len() >= MAX_SOCKETS {
            return Err(Errno::MFILE);
        }
        let mut fd = self.next_fd;
        while self.sockets.contains_key(&fd) {
            fd = fd.checked_add(1).unwrap_or(SOCKET_FD_BASE);
        }
        self.next_fd = fd.checked_add(1).unwrap_or(SOCKET_FD_BASE);
        self.sockets.insert(
            fd,
            Socket {
                v6,
                nonblocking: false,
                opts: Vec::new(),
                stream: None,
            },
        );
        Ok(fd)
    }

    fn bind(&mut self, fd: i32, addr: SocketAddr) -> Result<(), Errno> {
        let sock = self.socket(fd)?;
        if sock.stream.is_some() {
            return Err(Errno::INVAL);
        }
        if addr.ip().is_unspecified() && addr.port() == 0 {
            return Ok(());
        }
        Err(self.deny("bind", &addr))
    }

    fn listen(&mut self, fd: i32) -> Result<(), Errno> {
        let sock = self.socket(fd)?;
        let what = match &sock.stream {
            Some(s) => s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            None => "unbound socket".to_string(),
        };
        Err(self.deny("listen", &what))
    }

    fn accept(&mut self, fd: i32) -> Result<u32, Errno> {
        self.socket(fd)?;
        Err(Errno::INVAL)
    }

    fn connect(&mut self, fd: i32, addr: SocketAddr) -> Result<(), Errno> {
        let sock = self.socket(fd)?;
        if sock.stream.is_some() {
            return Err(Errno::ISCONN);
        }
        if sock.v6 != addr.is_ipv6() {
            return Err(Errno::AFNOSUPPORT);
        }
        if !self.endpoints.contains(&addr) {
            return Err(self.deny("connect", &addr));
        }
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
            tracing::debug!(%addr, error = %e, "guest socket connect failed");
            Errno::of(&e)
        })?;
        let sock = self.socket_mut(fd)?;
        for opt in &sock.opts {
            apply(&stream, *opt).map_err(|e| Errno::of(&e))?;
        }
        stream
            .set_nonblocking(sock.nonblocking)
            .map_err(|e| Errno::of(&e))?;
        sock.stream = Some(stream);
        Ok(())
    }

    fn recv(
        &mut self,
        m: &mut Mem<'_>,
        fd: i32,
        iovs: u32,
        count: u32,
        flags: i32,
    ) -> Result<u32, Errno> {
        if flags & !(RECV_PEEK | RECV_WAITALL) != 0 {
            return Err(Errno::INVAL);
        }
        let sock = self.socket(fd)?;
        let blocking = !sock.nonblocking;
        let stream = sock.connected()?;
        let Some((ptr, len)) = m.first_iovec(iovs, count)? else {
            return Ok(0);
        };
        if let (true, Some(left)) = (blocking, self.left()) {
            if !readable_within(stream, left)? {
                self.expired = true;
                return Err(Errno::TIMEDOUT);
            }
        }
        let mut host_flags = 0;
        if flags & RECV_PEEK != 0 {
            host_flags |= libc::MSG_PEEK;
        }
        if flags & RECV_WAITALL != 0 {
            host_flags |= libc::MSG_WAITALL;
        }
        let n = recv(stream, m.slice_mut(ptr, len)?, host_flags).map_err(|e| Errno::of(&e))?;
        u32::try_from(n).map_err(|_| Errno::IO)
    }

    fn send(
        &mut self,
        m: &Mem<'_>,
        fd: i32,
        iovs: u32,
        count: u32,
        flags: i32,
    ) -> Result<u32, Errno> {
        if flags != 0 {
            return Err(Errno::INVAL);
        }
        let stream = self.socket(fd)?.connected()?;
        let Some((ptr, len)) = m.first_iovec(iovs, count)? else {
            return Ok(0);
        };
        let n = send(stream, m.slice(ptr, len)?).map_err(|e| Errno::of(&e))?;
        u32::try_from(n).map_err(|_| Errno::IO)
    }

    fn shutdown(&mut self, fd: i32, how: i32) -> Result<(), Errno> {
        let how = match how {
            1 => Shutdown::Read,
            2 => Shutdown::Write,
            3 => Shutdown::Both,
            _ => return Err(Errno::INVAL),
        };
        self.socket(fd)?
            .connected()?
            .shutdown(how)
            .map_err(|e| Errno::of(&e))
    }

    fn peer_addr(&self, fd: i32) -> Result<SocketAddr, Errno> {
        self.socket(fd)?
            .connected()?
            .peer_addr()
            .map_err(|e| Errno::of(&e))
    }

    fn local_addr(&self, fd: i32) -> Result<SocketAddr, Errno> {
        let sock = self.socket(fd)?;
        match &sock.stream {
            Some(s) => s.local_addr().map_err(|e| Errno::of(&e)),
            None if sock.v6 => Ok(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
            None => Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        }
    }

    /// `getsockopt`: the option's value bytes.
    fn getsockopt(&self, fd: i32, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        let sock = self.socket(fd)?;
        let s = sock.stream.as_ref();
        let os = |e: io::Error| Errno::of(&e);
        let int = |v: i32| Ok(v.to_le_bytes().to_vec());
        match (level, name) {
            (SOL_SOCKET, so::TYPE) => int(i32::from(SOCK_STREAM)),
            (SOL_SOCKET, so::ERROR) => match s.map(|s| s.take_error()) {
                Some(Ok(Some(e))) => int(i32::from(Errno::of(&e).0)),
                Some(Err(e)) => Err(os(e)),
                _ => int(0),
            },
            (SOL_SOCKET, so::BROADCAST | so::ACCEPTCONN | so::DONTROUTE | so::OOBINLINE) => int(0),
            (SOL_SOCKET, so::REUSEADDR) => int(i32::from(
                sock.pending(|o| match o {
                    Opt::ReuseAddr(v) => Some(*v),
                    _ => None,
                })
                .unwrap_or(false),
            )),
            (SOL_SOCKET, so::KEEPALIVE) => match s {
                Some(s) => int(get_int(s, libc::SOL_SOCKET, libc::SO_KEEPALIVE).map_err(os)?),
                None => int(i32::from(
                    sock.pending(|o| match o {
                        Opt::KeepAlive(v) => Some(*v),
                        _ => None,
                    })
                    .unwrap_or(false),
                )),
            },
            (SOL_SOCKET, so::SNDBUF | so::RCVBUF) => {
                let send = name == so::SNDBUF;
                match s {
                    Some(s) => {
                        let host = if send {
                            libc::SO_SNDBUF
                        } else {
                            libc::SO_RCVBUF
                        };
                        int(get_int(s, libc::SOL_SOCKET, host).map_err(os)?)
                    }
                    None => int(sock
                        .pending(|o| match (o, send) {
                            (Opt::SendBuffer(n), true) | (Opt::RecvBuffer(n), false) => Some(*n),
                            _ => None,
                        })
                        .unwrap_or(0)),
                }
            }
            (SOL_SOCKET, so::RCVTIMEO | so::SNDTIMEO) => {
                let read = name == so::RCVTIMEO;
                let t = match s {
                    Some(s) if read => s.read_timeout().map_err(os)?,
                    Some(s) => s.write_timeout().map_err(os)?,
                    None => sock
                        .pending(|o| match (o, read) {
                            (Opt::ReadTimeout(t), true) | (Opt::WriteTimeout(t), false) => Some(*t),
                            _ => None,
                        })
                        .flatten(),
                };
                Ok(timeval_bytes(t))
            }
            // Bound to no device.
            (SOL_SOCKET, so::BINDTODEVICE) => Ok(Vec::new()),
            (IPPROTO_TCP, TCP_NODELAY) => match s {
                Some(s) => int(i32::from(s.nodelay().map_err(os)?)),
                None => int(i32::from(
                    sock.pending(|o| match o {
                        Opt::NoDelay(v) => Some(*v),
                        _ => None,
                    })
                    .unwrap_or(false),
                )),
            },
            (SOL_SOCKET, _) | (IPPROTO_TCP, _) => Err(Errno::NOTSUP),
            _ => Err(Errno::INVAL),
        }
    }

    /// `setsockopt` with the option's value bytes.
    fn setsockopt(&mut self, fd: i32, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        let sock = self.socket_mut(fd)?;
        let int = || -> Result<i32, Errno> {
            let b: [u8; 4] = value
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Errno::INVAL)?;
            Ok(i32::from_le_bytes(b))
        };
        let opt = match (level, name) {
            (SOL_SOCKET, so::REUSEADDR) => Opt::ReuseAddr(int()? != 0),
            (SOL_SOCKET, so::KEEPALIVE) => Opt::KeepAlive(int()? != 0),
            (SOL_SOCKET, so::SNDBUF) => Opt::SendBuffer(int()?),
            (SOL_SOCKET, so::RCVBUF) => Opt::RecvBuffer(int()?),
            (SOL_SOCKET, so::RCVTIMEO) => Opt::ReadTimeout(timeval(value)?),
            (SOL_SOCKET, so::SNDTIMEO) => Opt::WriteTimeout(timeval(value)?),
            (IPPROTO_TCP, TCP_NODELAY) => Opt::NoDelay(int()? != 0),
            (SOL_SOCKET, _) | (IPPROTO_TCP, _) => return Err(Errno::NOTSUP),
            _ => return Err(Errno::INVAL),
        };
        sock.set(opt)
    }

    fn close(&mut self, fd: i32) -> Result<(), Errno> {
        self.sockets
            .remove(&(fd as u32))
            .map(drop)
            .ok_or(Errno::BADF)
    }

    /// `fd_fdstat_get` for a socket: the 24-byte `fdstat`.
    fn fdstat(&self, fd: i32) -> Result<[u8; 24], Errno> {
        let sock = self.socket(fd)?;
        let mut out = [0u8; 24];
        out[0] = FILETYPE_SOCKET_STREAM;
        let flags = if sock.nonblocking {
            FDFLAGS_NONBLOCK
        } else {
            0
        };
        out[2..4].copy_from_slice(&flags.to_le_bytes());
        out[8..16].copy_from_slice(&SOCKET_RIGHTS.to_le_bytes());
        Ok(out)
    }

    /// `fd_fdstat_set_flags` for a socket: only `NONBLOCK` has an effect;
    /// the other WASI fd flags are accepted and ignored.
    fn set_fdflags(&mut self, fd: i32, flags: i32) -> Result<(), Errno> {
        let flags = u16::try_from(flags).map_err(|_| Errno::INVAL)?;
        if flags & !FDFLAGS_KNOWN != 0 {
            return Err(Errno::INVAL);
        }
        let sock = self.socket_mut(fd)?;
        let nonblocking = flags & FDFLAGS_NONBLOCK != 0;
        if let Some(s) = &sock.stream {
            s.set_nonblocking(nonblocking).map_err(|e| Errno::of(&e))?;
        }
        sock.nonblocking = nonblocking;
        Ok(())
    }

    /// The same table, letting the guest look up `names` (the grant's host
    /// names and their addresses); any other name is refused.
    pub fn with_names(mut self, names: &HashMap<String, Vec<IpAddr>>) -> Self {
        self.names = names
            .iter()
            .map(|(n, a)| (n.to_ascii_lowercase(), a.clone()))
            .collect();
        self
    }

    /// The granted IPs among `node`'s addresses (in `family`: 0 any,
    /// 1 IPv4, 2 IPv6); `ACCES` (counted) if there are none. A name's
    /// addresses are the ones the grant resolved (no resolver is asked
    /// again, so a lookup cannot carry data out or see a different answer);
    /// an IP literal is its own.
    fn resolve(&self, node: &str, family: u8) -> Result<Vec<IpAddr>, Errno> {
        let granted: HashSet<IpAddr> = self.endpoints.iter().map(|e| e.ip()).collect();
        if granted.is_empty() {
            return Err(self.deny("getaddrinfo", &node));
        }
        let resolved = match node.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match self.names.get(&node.to_ascii_lowercase()) {
                Some(addrs) => addrs.clone(),
                None => return Err(self.deny("getaddrinfo", &node)),
            },
        };
        let mut out: Vec<IpAddr> = Vec::new();
        for ip in resolved {
            let wanted = match family {
                AF_INET4 => ip.is_ipv4(),
                AF_INET6 => ip.is_ipv6(),
                _ => true,
            };
            if wanted && granted.contains(&ip) && !out.contains(&ip) {
                out.push(ip);
            }
        }
        if out.is_empty() {
            return Err(self.deny("getaddrinfo", &node));
        }
        Ok(out)
    }
}

/// A `timeval` option value (`{i64 sec, i64 usec}` on wasm32); zero is
/// "no timeout".
fn timeval(value: &[u8]) -> Result<Option<Duration>, Errno> {
    let field = |r: std::ops::Range<usize>| -> Result<i64, Errno> {
        let b: [u8; 8] = value
            .get(r)
            .and_then(|b| b.try_into().ok())
            .ok_or(Errno::INVAL)?;
        Ok(i64::from_le_bytes(b))
    };
    let (sec, usec) = (field(0..8)?, field(8..16)?);
    let (Ok(sec), Ok(usec)) = (u64::try_from(sec), u32::try_from(usec)) else {
        return Err(Errno::INVAL);
    };
    if usec >= 1_000_000 {
        return Err(Errno::INVAL);
    }
    let d = Duration::new(sec, usec * 1000);
    Ok((!d.is_zero()).then_some(d))
}

fn timeval_bytes(t: Option<Duration>) -> Vec<u8> {
    let t = t.unwrap_or_default();
    let mut out = i64::try_from(t.as_secs())
        .unwrap_or(i64::MAX)
        .to_le_bytes()
        .to_vec();
    out.extend(i64::from(t.subsec_micros()).to_le_bytes());
    out
}

/// A WasmEdge `WasiAddress` (`{u32 buf, u32 size}`) holding an IP (4 or
/// 16 bytes) and a port.
fn read_addr(m: &Mem<'_>, ptr: u32, port: i32) -> Result<SocketAddr, Errno> {
    let (buf, size) = (m.u32(ptr)?, m.u32(at(ptr, 4)?)?);
    let port = u16::try_from(port).map_err(|_| Errno::INVAL)?;
    let ip = match size {
        4 => {
            let b: [u8; 4] = m.slice(buf, 4)?.try_into().map_err(|_| Errno::FAULT)?;
            IpAddr::from(b)
        }
        16 => {
            let b: [u8; 16] = m.slice(buf, 16)?.try_into().map_err(|_| Errno::FAULT)?;
            IpAddr::from(b)
        }
        _ => return Err(Errno::INVAL),
    };
    Ok(SocketAddr::new(ip, port))
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// `sock_getpeeraddr` / `sock_getlocaladdr` output: the IP into the
/// `WasiAddress` buffer, its type (4 or 6, as WasmEdge writes) and port.
fn write_addr(
    m: &mut Mem<'_>,
    addr: SocketAddr,
    addr_ptr: u32,
    type_ptr: u32,
    port_ptr: u32,
) -> Result<(), Errno> {
    let (buf, size) = (m.u32(addr_ptr)?, m.u32(at(addr_ptr, 4)?)?);
    let ip = ip_bytes(addr.ip());
    if (size as usize) < ip.len() {
        return Err(Errno::INVAL);
    }
    m.range(type_ptr, 4)?;
    m.range(port_ptr, 4)?;
    m.write(buf, &ip)?;
    m.put_u32(type_ptr, if addr.is_ipv4() { 4 } else { 6 })?;
    m.put_u32(port_ptr, u32::from(addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adapter_is_valid_wasm() {
        let engine = Engine::default();
        let module = Module::new(&engine, forward::adapter_wasm()).expect("adapter compiles");
        let imports: Vec<String> = module
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect();
        assert_eq!(
            imports,
            [
                "p1.memory",
                "p1.fd_close",
                "p1.fd_fdstat_get",
                "p1.fd_fdstat_set_flags",
                "p1.poll_oneoff",
                "p1.fd_read",
                "p1.fd_write"
            ]
        );
        let exports: Vec<&str> = module.exports().map(|e| e.name()).collect();
        assert_eq!(
            exports,
            [
                "memory",
                "fd_close",
                "fd_fdstat_get",
                "fd_fdstat_set_flags",
                "poll_oneoff",
                "fd_read",
                "fd_write"
            ]
        );
    }

    #[test]
    fn guest_pointers_are_bounds_checked() {
        let mut bytes = vec![0u8; 16];
        let mut m = Mem(&mut bytes);
        assert_eq!(m.u32(12), Ok(0));
        assert_eq!(m.u32(13), Err(Errno::FAULT));
        assert_eq!(m.put_u64(u32::MAX, 1), Err(Errno::FAULT));
        assert_eq!(at(u32::MAX, 1), Err(Errno::FAULT));
        // iovec {ptr 8, len 100} points outside memory.
        m.put_u32(0, 8).unwrap();
        m.put_u32(4, 100).unwrap();
        assert_eq!(m.first_iovec(0, 1), Err(Errno::FAULT));
        assert_eq!(m.first_iovec(0, 5000), Err(Errno::INVAL));
    }

    #[test]
    fn only_granted_endpoints_connect_and_denials_are_counted() {
        let denied = Arc::new(AtomicU64::new(0));
        let granted: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let names = HashMap::from([(
            "localhost".to_string(),
            vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ],
        )]);
        let mut t = SocketTable::new(vec![granted], denied.clone()).with_names(&names);
        let fd = t.open(1, 2).unwrap() as i32;
        assert!(SocketTable::is_socket_fd(fd));
        assert_eq!(
            t.connect(fd, "127.0.0.1:10".parse().unwrap()),
            Err(Errno::ACCES)
        );
        assert_eq!(
            t.connect(fd, "[::1]:9".parse().unwrap()),
            Err(Errno::AFNOSUPPORT)
        );
        assert_eq!(t.bind(fd, "0.0.0.0:0".parse().unwrap()), Ok(()));
        assert_eq!(t.bind(fd, "0.0.0.0:80".parse().unwrap()), Err(Errno::ACCES));
        assert_eq!(t.listen(fd), Err(Errno::ACCES));
        assert_eq!(t.accept(fd), Err(Errno::INVAL));
        assert_eq!(t.open(1, 1), Err(Errno::NOTSUP));
        assert_eq!(denied.load(Ordering::Relaxed), 3);
        assert_eq!(
            t.resolve("localhost", 1),
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        );
        assert_eq!(t.resolve("127.0.0.2", 0), Err(Errno::ACCES));
        assert_eq!(denied.load(Ordering::Relaxed), 4);
        // A name outside the grant is refused before any resolver sees it.
        assert_eq!(t.resolve("leak.example.invalid", 0), Err(Errno::ACCES));
        assert_eq!(
            t.resolve("LOCALHOST", 1),
            Ok(vec![IpAddr::from([127, 0, 0, 1])])
        );
        assert_eq!(denied.load(Ordering::Relaxed), 5);
        let nothing = SocketTable::new(Vec::new(), denied.clone());
        assert_eq!(nothing.resolve("localhost", 0), Err(Errno::ACCES));
        assert_eq!(denied.load(Ordering::Relaxed), 6);
        assert_eq!(t.close(fd), Ok(()));
        assert_eq!(t.close(fd), Err(Errno::BADF));
    }

    #[test]
    fn options_set_before_connecting_are_remembered() {
        let mut t = SocketTable::new(Vec::new(), Arc::default());
        let fd = t.open(1, 0).unwrap() as i32;
        let mut tv = 2i64.to_le_bytes().to_vec();
        tv.extend(500_000i64.to_le_bytes());
        t.setsockopt(fd, SOL_SOCKET, so::RCVTIMEO, &tv).unwrap();
        assert_eq!(t.getsockopt(fd, SOL_SOCKET, so::RCVTIMEO), Ok(tv));
        t.setsockopt(fd, SOL_SOCKET, so::KEEPALIVE, &1i32.to_le_bytes())
            .unwrap();
        assert_eq!(
            t.getsockopt(fd, SOL_SOCKET, so::KEEPALIVE),
            Ok(1i32.to_le_bytes().to_vec())
        );
        assert_eq!(
            t.setsockopt(fd, SOL_SOCKET, so::KEEPALIVE, &[1]),
            Err(Errno::INVAL)
        );
        assert_eq!(
            t.setsockopt(fd, SOL_SOCKET, so::BROADCAST, &1i32.to_le_bytes()),
            Err(Errno::NOTSUP)
        );
        assert_eq!(
            t.getsockopt(fd, SOL_SOCKET, so::TYPE),
            Ok(2i32.to_le_bytes().to_vec())
        );
        t.set_fdflags(fd, i32::from(FDFLAGS_NONBLOCK)).unwrap();
        assert_eq!(t.fdstat(fd).unwrap()[2], FDFLAGS_NONBLOCK as u8);
    }

    #[test]
    fn host_errors_map_to_wasi_errnos() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(Errno::of(&e), Errno::CONNREFUSED);
        assert_eq!(Errno::of(&io::ErrorKind::WouldBlock.into()), Errno::AGAIN);
        assert_eq!(
            Errno::of(&io::Error::from_raw_os_error(libc::EWOULDBLOCK)),
            Errno::AGAIN
        );
    }
}
