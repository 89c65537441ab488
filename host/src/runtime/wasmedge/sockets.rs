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
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
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

/// A WASI errno, in `wasi_snapshot_preview1` numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

#[allow(missing_docs)]
impl Errno {
    pub const SUCCESS: Errno = Errno(0);
    pub const ACCES: Errno = Errno(2);
    pub const ADDRINUSE: Errno = Errno(3);
    pub const ADDRNOTAVAIL: Errno = Errno(4);
    pub const AFNOSUPPORT: Errno = Errno(5);
    pub const AGAIN: Errno = Errno(6);
    pub const ALREADY: Errno = Errno(7);
    pub const BADF: Errno = Errno(8);
    pub const CONNABORTED: Errno = Errno(13);
    pub const CONNREFUSED: Errno = Errno(14);
    pub const CONNRESET: Errno = Errno(15);
    pub const FAULT: Errno = Errno(21);
    pub const HOSTUNREACH: Errno = Errno(23);
    pub const INPROGRESS: Errno = Errno(26);
    pub const INTR: Errno = Errno(27);
    pub const INVAL: Errno = Errno(28);
    pub const IO: Errno = Errno(29);
    pub const ISCONN: Errno = Errno(30);
    pub const MFILE: Errno = Errno(33);
    pub const MSGSIZE: Errno = Errno(35);
    pub const NETDOWN: Errno = Errno(38);
    pub const NETRESET: Errno = Errno(39);
    pub const NETUNREACH: Errno = Errno(40);
    pub const NFILE: Errno = Errno(41);
    pub const NOBUFS: Errno = Errno(42);
    pub const NOMEM: Errno = Errno(48);
    pub const NOPROTOOPT: Errno = Errno(50);
    pub const NOTCONN: Errno = Errno(53);
    pub const NOTSOCK: Errno = Errno(57);
    pub const NOTSUP: Errno = Errno(58);
    pub const PERM: Errno = Errno(63);
    pub const PIPE: Errno = Errno(64);
    pub const TIMEDOUT: Errno = Errno(73);
}

impl Errno {
    /// The value a WASI function returns.
    fn code(r: Result<(), Errno>) -> i32 {
        i32::from(r.err().unwrap_or(Errno::SUCCESS).0)
    }

    /// The WASI errno for a host I/O error.
    fn of(e: &io::Error) -> Errno {
        if let Some(code) = e.raw_os_error() {
            return match code {
                c if c == libc::EAGAIN || c == libc::EWOULDBLOCK => Errno::AGAIN,
                libc::EACCES => Errno::ACCES,
                libc::EPERM => Errno::PERM,
                libc::EADDRINUSE => Errno::ADDRINUSE,
                libc::EADDRNOTAVAIL => Errno::ADDRNOTAVAIL,
                libc::EAFNOSUPPORT => Errno::AFNOSUPPORT,
                libc::EALREADY => Errno::ALREADY,
                libc::EBADF => Errno::BADF,
                libc::ECONNABORTED => Errno::CONNABORTED,
                libc::ECONNREFUSED => Errno::CONNREFUSED,
                libc::ECONNRESET => Errno::CONNRESET,
                libc::EHOSTUNREACH => Errno::HOSTUNREACH,
                libc::EINPROGRESS => Errno::INPROGRESS,
                libc::EINTR => Errno::INTR,
                libc::EINVAL => Errno::INVAL,
                libc::EISCONN => Errno::ISCONN,
                libc::EMFILE => Errno::MFILE,
                libc::EMSGSIZE => Errno::MSGSIZE,
                libc::ENETDOWN => Errno::NETDOWN,
                libc::ENETRESET => Errno::NETRESET,
                libc::ENETUNREACH => Errno::NETUNREACH,
                libc::ENFILE => Errno::NFILE,
                libc::ENOBUFS => Errno::NOBUFS,
                libc::ENOMEM => Errno::NOMEM,
                libc::ENOPROTOOPT => Errno::NOPROTOOPT,
                libc::ENOTCONN => Errno::NOTCONN,
                libc::ENOTSOCK => Errno::NOTSOCK,
                libc::EOPNOTSUPP => Errno::NOTSUP,
                libc::EPIPE => Errno::PIPE,
                libc::ETIMEDOUT => Errno::TIMEDOUT,
                _ => Errno::IO,
            };
        }
        match e.kind() {
            io::ErrorKind::WouldBlock => Errno::AGAIN,
            io::ErrorKind::TimedOut => Errno::TIMEDOUT,
            io::ErrorKind::ConnectionRefused => Errno::CONNREFUSED,
            io::ErrorKind::ConnectionReset => Errno::CONNRESET,
            io::ErrorKind::NotConnected => Errno::NOTCONN,
            io::ErrorKind::InvalidInput => Errno::INVAL,
            io::ErrorKind::PermissionDenied => Errno::ACCES,
            _ => Errno::IO,
        }
    }
}

/// Bounds-checked access to a guest's linear memory; out-of-range
/// pointers are `FAULT`, never a host panic.
mod guest {
    use super::Errno;
    use std::ops::Range;

    /// The guest's memory for the length of one call.
    pub(super) struct Mem<'a>(pub(super) &'a mut [u8]);

    impl Mem<'_> {
        /// The byte range `ptr..ptr + len`, if it is inside memory.
        pub(super) fn range(&self, ptr: u32, len: u32) -> Result<Range<usize>, Errno> {
            let start = ptr as usize;
            let end = start.checked_add(len as usize).ok_or(Errno::FAULT)?;
            if end > self.0.len() {
                return Err(Errno::FAULT);
            }
            Ok(start..end)
        }

        pub(super) fn slice(&self, ptr: u32, len: u32) -> Result<&[u8], Errno> {
            let r = self.range(ptr, len)?;
            Ok(&self.0[r])
        }

        pub(super) fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
            let r = self.range(ptr, len)?;
            Ok(&mut self.0[r])
        }

        fn array<const N: usize>(&self, ptr: u32) -> Result<[u8; N], Errno> {
            let mut out = [0u8; N];
            out.copy_from_slice(self.slice(ptr, N as u32)?);
            Ok(out)
        }

        pub(super) fn u8(&self, ptr: u32) -> Result<u8, Errno> {
            Ok(self.array::<1>(ptr)?[0])
        }

        pub(super) fn u16(&self, ptr: u32) -> Result<u16, Errno> {
            Ok(u16::from_le_bytes(self.array(ptr)?))
        }

        pub(super) fn u32(&self, ptr: u32) -> Result<u32, Errno> {
            Ok(u32::from_le_bytes(self.array(ptr)?))
        }

        pub(super) fn u64(&self, ptr: u32) -> Result<u64, Errno> {
            Ok(u64::from_le_bytes(self.array(ptr)?))
        }

        pub(super) fn write(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
            let len = u32::try_from(bytes.len()).map_err(|_| Errno::FAULT)?;
            self.slice_mut(ptr, len)?.copy_from_slice(bytes);
            Ok(())
        }

        pub(super) fn put_u8(&mut self, ptr: u32, v: u8) -> Result<(), Errno> {
            self.write(ptr, &[v])
        }

        pub(super) fn put_u16(&mut self, ptr: u32, v: u16) -> Result<(), Errno> {
            self.write(ptr, &v.to_le_bytes())
        }

        pub(super) fn put_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
            self.write(ptr, &v.to_le_bytes())
        }

        pub(super) fn put_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
            self.write(ptr, &v.to_le_bytes())
        }

        /// The first non-empty buffer of an iovec array (`{ptr, len}`
        /// pairs of u32), checked to lie in memory; `None` if all are
        /// empty. Reads and writes use only this one, as a short read or
        /// write is always allowed.
        pub(super) fn first_iovec(
            &self,
            iovs: u32,
            count: u32,
        ) -> Result<Option<(u32, u32)>, Errno> {
            if count > 1024 {
                return Err(Errno::INVAL);
            }
            for i in 0..count {
                let at = at(iovs, i.checked_mul(8).ok_or(Errno::FAULT)?)?;
                let (ptr, len) = (
                    self.u32(at)?,
                    self.u32(at.checked_add(4).ok_or(Errno::FAULT)?)?,
                );
                if len > 0 {
                    self.range(ptr, len)?;
                    return Ok(Some((ptr, len)));
                }
            }
            Ok(None)
        }
    }

    /// `ptr + offset`, or `FAULT` past 4 GiB.
    pub(super) fn at(ptr: u32, offset: u32) -> Result<u32, Errno> {
        ptr.checked_add(offset).ok_or(Errno::FAULT)
    }
}

use guest::{at, Mem};

/// Calls to wasmtime-wasi's own preview 1 functions, for descriptors that
/// are not sockets.
///
/// wasmtime-wasi's functions find the guest's memory through their
/// caller's `memory` export, and a host function called from the host has
/// no such caller. So the originals are called through a tiny adapter
/// module, instantiated once per store, that imports the guest's memory
/// and the original functions and exports the memory and one wasm
/// function per original that just calls it.
mod forward {
    use super::*;

    /// The functions forwarded, with their number of i32 parameters (each
    /// returns an i32 errno).
    pub(super) const FORWARDED: [(&str, u8); 6] = [
        ("fd_close", 1),
        ("fd_fdstat_get", 2),
        ("fd_fdstat_set_flags", 2),
        ("poll_oneoff", 4),
        ("fd_read", 4),
        ("fd_write", 4),
    ];

    /// wasmtime-wasi's definitions, bound to the store.
    #[derive(Clone)]
    pub(super) struct Originals(pub(super) [Func; 6]);

    /// Typed entry points reaching the originals with the guest's memory
    /// visible to them.
    #[derive(Clone)]
    pub(super) struct Forward {
        pub(super) fd_close: TypedFunc<i32, i32>,
        pub(super) fd_fdstat_get: TypedFunc<(i32, i32), i32>,
        pub(super) fd_fdstat_set_flags: TypedFunc<(i32, i32), i32>,
        pub(super) poll_oneoff: TypedFunc<(i32, i32, i32, i32), i32>,
        pub(super) fd_read: TypedFunc<(i32, i32, i32, i32), i32>,
        pub(super) fd_write: TypedFunc<(i32, i32, i32, i32), i32>,
    }

    /// The forwarder for the calling store, set up on first use.
    pub(super) fn get<T: 'static>(
        caller: &mut Caller<'_, T>,
        table: fn(&mut T) -> &mut SocketTable,
    ) -> wasmtime::Result<Forward> {
        if let Some(f) = &table(caller.data_mut()).forward {
            return Ok(f.clone());
        }
        let Some(originals) = table(caller.data_mut()).originals.clone() else {
            wasmtime::bail!("the WasmEdge socket shim was not linked into this store");
        };
        let forward = match caller.get_export("memory") {
            Some(Extern::Memory(memory)) => {
                let module = adapter_module(caller.engine())?;
                let mut imports: Vec<Extern> = vec![memory.into()];
                imports.extend(originals.0.iter().map(|f| Extern::Func(*f)));
                let instance = Instance::new(&mut *caller, &module, &imports)?;
                Forward {
                    fd_close: instance.get_typed_func(&mut *caller, "fd_close")?,
                    fd_fdstat_get: instance.get_typed_func(&mut *caller, "fd_fdstat_get")?,
                    fd_fdstat_set_flags: instance
                        .get_typed_func(&mut *caller, "fd_fdstat_set_flags")?,
                    poll_oneoff: instance.get_typed_func(&mut *caller, "poll_oneoff")?,
                    fd_read: instance.get_typed_func(&mut *caller, "fd_read")?,
                    fd_write: instance.get_typed_func(&mut *caller, "fd_write")?,
                }
            }
            // Without an exported linear memory the originals fail on
            // their own ("missing required memory export"): call them
            // directly and let them say so.
            _ => {
                let [close, stat, flags, poll, read, write] = &originals.0;
                Forward {
                    fd_close: close.typed(&*caller)?,
                    fd_fdstat_get: stat.typed(&*caller)?,
                    fd_fdstat_set_flags: flags.typed(&*caller)?,
                    poll_oneoff: poll.typed(&*caller)?,
                    fd_read: read.typed(&*caller)?,
                    fd_write: write.typed(&*caller)?,
                }
            }
        };
        table(caller.data_mut()).forward = Some(forward.clone());
        Ok(forward)
    }

    /// The adapter compiled for `engine` (cached for a few engines).
    fn adapter_module(engine: &Engine) -> wasmtime::Result<Module> {
        static CACHE: Mutex<Vec<Module>> = Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = cache.iter().find(|m| Engine::same(m.engine(), engine)) {
            return Ok(m.clone());
        }
        let module = Module::new(engine, adapter_wasm())?;
        if cache.len() >= 4 {
            cache.remove(0);
        }
        cache.push(module.clone());
        Ok(module)
    }

    /// The adapter's binary: imports `p1.memory` and `p1.<name>` for each
    /// of [`FORWARDED`], exports `memory` and `<name>` functions that pass
    /// their arguments to the import.
    pub(super) fn adapter_wasm() -> Vec<u8> {
        const I32: u8 = 0x7f;
        let n = FORWARDED.len() as u32;
        let mut types = Vec::new();
        let mut imports = Vec::new();
        let mut funcs = Vec::new();
        let mut exports = Vec::new();
        let mut code = Vec::new();
        imports.extend(name("p1"));
        imports.extend(name("memory"));
        imports.extend([0x02, 0x00, 0x00]); // memory, limits: min 0, no max
        exports.extend(name("memory"));
        exports.extend([0x02, 0x00]);
        for (i, (f, params)) in FORWARDED.iter().enumerate() {
            let i = i as u32;
            types.push(0x60);
            types.extend(uleb(u32::from(*params)));
            types.extend(std::iter::repeat_n(I32, usize::from(*params)));
            types.extend([0x01, I32]);
            imports.extend(name("p1"));
            imports.extend(name(f));
            imports.push(0x00);
            imports.extend(uleb(i));
            funcs.extend(uleb(i));
            exports.extend(name(f));
            exports.push(0x00);
            exports.extend(uleb(n + i));
            let mut body = vec![0x00]; // no locals
            for p in 0..u32::from(*params) {
                body.push(0x20); // local.get
                body.extend(uleb(p));
            }
            body.push(0x10); // call
            body.extend(uleb(i));
            body.push(0x0b); // end
            code.extend(uleb(body.len() as u32));
            code.extend(body);
        }
        let mut out = b"\0asm\x01\0\0\0".to_vec();
        out.extend(section(1, n, &types));
        out.extend(section(2, n + 1, &imports));
        out.extend(section(3, n, &funcs));
        out.extend(section(7, n + 1, &exports));
        out.extend(section(10, n, &code));
        out
    }

    fn section(id: u8, count: u32, items: &[u8]) -> Vec<u8> {
        let mut payload = uleb(count);
        payload.extend_from_slice(items);
        let mut out = vec![id];
        out.extend(uleb(payload.len() as u32));
        out.extend(payload);
        out
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = uleb(s.len() as u32);
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn uleb(mut v: u32) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }
}

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

    /// The granted IPs among `node`'s addresses (in `family`: 0 any,
    /// 1 IPv4, 2 IPv6); `ACCES` (counted) if there are none.
    fn resolve(&self, node: &str, family: u8) -> Result<Vec<IpAddr>, Errno> {
        let granted: HashSet<IpAddr> = self.endpoints.iter().map(|e| e.ip()).collect();
        if granted.is_empty() {
            return Err(self.deny("getaddrinfo", &node));
        }
        let resolved = match (node, 0u16).to_socket_addrs() {
            Ok(addrs) => addrs.map(|a| a.ip()).collect::<Vec<_>>(),
            Err(e) => {
                tracing::debug!(node, error = %e, "guest name lookup failed");
                Vec::new()
            }
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

/// `poll_oneoff` for calls that name a socket.
mod poll {
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
}

/// `sock_getaddrinfo`: resolves `node` under the sandbox and fills the
/// guest's preallocated result chain.
///
/// The guest passes, at `res_ptr`, the address of its first `addrinfo`
/// (28 bytes, `packed(4)`: `u16 flags, u8 family, u8 socktype,
/// u8 protocol, u32 addrlen @8, u32 addr @12, u32 canonname @16,
/// u32 canonnamelen @20, u32 next @24`), each pointing at a `sockaddr`
/// (`u8 family, u32 sa_data_len @4, u32 sa_data @8`) whose data receives
/// the port (big-endian) then the IP. Up to `max` entries are filled,
/// following `next`; the count goes to `res_len_ptr`. The service may be
/// a port number; any other service gives port 0.
#[allow(clippy::too_many_arguments)]
fn getaddrinfo(
    t: &SocketTable,
    m: &mut Mem<'_>,
    node: (u32, u32),
    service: (u32, u32),
    hints_ptr: u32,
    res_ptr: u32,
    max: u32,
    res_len_ptr: u32,
) -> Result<(), Errno> {
    let text = |m: &Mem<'_>, (ptr, len): (u32, u32)| -> Result<String, Errno> {
        let raw = m.slice(ptr, len)?;
        let raw = raw.split(|b| *b == 0).next().unwrap_or_default();
        String::from_utf8(raw.to_vec()).map_err(|_| Errno::INVAL)
    };
    let host = text(m, node)?;
    let port: u16 = text(m, service)?.parse().unwrap_or(0);
    if host.is_empty() {
        return Err(Errno::INVAL);
    }
    let family = m.u8(at(hints_ptr, 2)?)?;
    m.range(res_len_ptr, 4)?;
    let ips = t.resolve(&host, family)?;
    let mut cur = m.u32(res_ptr)?;
    let mut written = 0u32;
    for ip in ips {
        if written >= max || cur == 0 {
            break;
        }
        let sockaddr = m.u32(at(cur, 12)?)?;
        let (data_len, data) = (m.u32(at(sockaddr, 4)?)?, m.u32(at(sockaddr, 8)?)?);
        let mut bytes = port.to_be_bytes().to_vec();
        bytes.extend(ip_bytes(ip));
        let next = m.u32(at(cur, 24)?)?;
        // An IPv6 address does not fit the 14 data bytes most guests give.
        if (data_len as usize) < bytes.len() {
            continue;
        }
        let family = if ip.is_ipv4() { AF_INET4 } else { AF_INET6 };
        m.put_u8(at(cur, 2)?, family)?;
        m.put_u8(at(cur, 3)?, SOCK_STREAM)?;
        m.put_u8(at(cur, 4)?, 1)?; // IPPROTO_TCP in WasmEdge's numbering
        m.put_u32(at(cur, 8)?, bytes.len() as u32)?;
        m.put_u32(at(cur, 20)?, 0)?;
        m.put_u8(sockaddr, family)?;
        m.write(data, &bytes)?;
        written += 1;
        cur = next;
    }
    m.put_u32(res_len_ptr, written)
}

/// The calling instance's exported memory.
fn memory_of<T>(caller: &mut Caller<'_, T>) -> Option<wasmtime::Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Some(m),
        _ => None,
    }
}

/// Runs `f` on the socket table and the guest's memory; returns its
/// errno (`FAULT` when the guest exports no memory).
fn with_table<T: 'static>(
    caller: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut SocketTable,
    f: impl FnOnce(&mut SocketTable, &mut Mem<'_>) -> Result<(), Errno>,
) -> i32 {
    let Some(memory) = memory_of(caller) else {
        return Errno::code(Err(Errno::FAULT));
    };
    let (bytes, data) = memory.data_and_store_mut(caller);
    Errno::code(f(get(data), &mut Mem(bytes)))
}

/// `code`, or an interrupt trap when a wait of the call ran into the
/// instance's deadline (reported as the connector's time limit).
fn settle<T: 'static>(
    c: &mut Caller<'_, T>,
    get: fn(&mut T) -> &mut SocketTable,
    code: i32,
) -> wasmtime::Result<i32> {
    if get(c.data_mut()).take_expired() {
        return Err(wasmtime::Trap::Interrupt.into());
    }
    Ok(code)
}

/// Defines WasmEdge's socket imports on `linker` (module
/// `wasi_snapshot_preview1`), for instances of `store` only.
///
/// `linker` must already hold wasmtime-wasi's preview 1 functions
/// (`wasmtime_wasi::p1::add_to_linker_sync`). This shadows its
/// `sock_recv`, `sock_send`, `sock_shutdown` and `sock_accept` with
/// WasmEdge's versions, and wraps its `fd_close`, `fd_fdstat_get`,
/// `fd_fdstat_set_flags`, `poll_oneoff`, `fd_read` and `fd_write` so that
/// socket descriptors reach
/// the table while every other descriptor goes to the original function.
/// The originals are taken from `linker` bound to `store`, so the linker
/// returned is for that store alone: clone a base linker per store.
/// Shadowing is switched on to redefine them and off again afterwards.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    store: &mut Store<T>,
    get: fn(&mut T) -> &mut SocketTable,
) -> wasmtime::Result<()> {
    let mut originals = Vec::new();
    for (name, _) in forward::FORWARDED {
        match linker.get(&mut *store, P1, name) {
            Ok(Extern::Func(f)) => originals.push(f),
            _ => wasmtime::bail!(
                "`{P1}::{name}` is not defined: add wasmtime-wasi's preview 1 to the linker first"
            ),
        }
    }
    let originals: [Func; 6] = originals
        .try_into()
        .map_err(|_| wasmtime::format_err!("expected six preview 1 functions"))?;
    let table = get(store.data_mut());
    table.originals = Some(forward::Originals(originals));
    table.forward = None;

    linker.allow_shadowing(true);
    define_sockets(linker, get)?;
    define_wrappers(linker, get)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The `sock_*` functions.
fn define_sockets<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut SocketTable,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        P1,
        "sock_open",
        move |mut c: Caller<'_, T>, family: i32, kind: i32, fd_ptr: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                m.range(fd_ptr as u32, 4)?;
                let fd = t.open(family, kind)?;
                m.put_u32(fd_ptr as u32, fd)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_bind",
        move |mut c: Caller<'_, T>, fd: i32, addr: i32, port: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                t.bind(fd, read_addr(m, addr as u32, port)?)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_listen",
        move |mut c: Caller<'_, T>, fd: i32, _backlog: i32| -> i32 {
            with_table(&mut c, get, |t, _| t.listen(fd))
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_accept",
        move |mut c: Caller<'_, T>, fd: i32, fd_ptr: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                let new = t.accept(fd)?;
                m.put_u32(fd_ptr as u32, new)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_connect",
        move |mut c: Caller<'_, T>, fd: i32, addr: i32, port: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                t.connect(fd, read_addr(m, addr as u32, port)?)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_recv",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              count: i32,
              flags: i32,
              len_ptr: i32,
              oflags_ptr: i32|
              -> wasmtime::Result<i32> {
            let code = with_table(&mut c, get, |t, m| {
                m.range(len_ptr as u32, 4)?;
                m.range(oflags_ptr as u32, 2)?;
                let n = t.recv(m, fd, iovs as u32, count as u32, flags)?;
                m.put_u32(len_ptr as u32, n)?;
                m.put_u16(oflags_ptr as u32, 0)
            });
            settle(&mut c, get, code)
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_recv_from",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              count: i32,
              addr: i32,
              flags: i32,
              port_ptr: i32,
              len_ptr: i32,
              oflags_ptr: i32|
              -> wasmtime::Result<i32> {
            let code = with_table(&mut c, get, |t, m| {
                let (buf, size) = (m.u32(addr as u32)?, m.u32(at(addr as u32, 4)?)?);
                let peer = t.peer_addr(fd)?;
                let ip = ip_bytes(peer.ip());
                if (size as usize) < ip.len() + 2 {
                    return Err(Errno::INVAL);
                }
                m.range(buf, size)?;
                m.range(port_ptr as u32, 4)?;
                m.range(len_ptr as u32, 4)?;
                m.range(oflags_ptr as u32, 2)?;
                let n = t.recv(m, fd, iovs as u32, count as u32, flags)?;
                let family = if peer.is_ipv4() { AF_INET4 } else { AF_INET6 };
                m.put_u16(buf, u16::from(family))?;
                m.write(at(buf, 2)?, &ip)?;
                m.put_u32(port_ptr as u32, u32::from(peer.port()))?;
                m.put_u32(len_ptr as u32, n)?;
                m.put_u16(oflags_ptr as u32, 0)
            });
            settle(&mut c, get, code)
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_send",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              count: i32,
              flags: i32,
              len_ptr: i32|
              -> i32 {
            with_table(&mut c, get, |t, m| {
                m.range(len_ptr as u32, 4)?;
                let n = t.send(m, fd, iovs as u32, count as u32, flags)?;
                m.put_u32(len_ptr as u32, n)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_send_to",
        move |mut c: Caller<'_, T>,
              fd: i32,
              _iovs: i32,
              _count: i32,
              _addr: i32,
              _port: i32,
              _flags: i32,
              _len_ptr: i32|
              -> i32 {
            with_table(&mut c, get, |t, _| {
                t.socket(fd)?;
                Err(Errno::NOTSUP)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_shutdown",
        move |mut c: Caller<'_, T>, fd: i32, how: i32| -> i32 {
            with_table(&mut c, get, |t, _| t.shutdown(fd, how))
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_getpeeraddr",
        move |mut c: Caller<'_, T>, fd: i32, addr: i32, ty: i32, port: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                let a = t.peer_addr(fd)?;
                write_addr(m, a, addr as u32, ty as u32, port as u32)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_getlocaladdr",
        move |mut c: Caller<'_, T>, fd: i32, addr: i32, ty: i32, port: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                let a = t.local_addr(fd)?;
                write_addr(m, a, addr as u32, ty as u32, port as u32)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_getsockopt",
        move |mut c: Caller<'_, T>,
              fd: i32,
              level: i32,
              name: i32,
              val: i32,
              len_ptr: i32|
              -> i32 {
            with_table(&mut c, get, |t, m| {
                let cap = m.u32(len_ptr as u32)?;
                let value = t.getsockopt(fd, level, name)?;
                if value.len() > cap as usize {
                    return Err(Errno::INVAL);
                }
                m.write(val as u32, &value)?;
                m.put_u32(len_ptr as u32, value.len() as u32)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_setsockopt",
        move |mut c: Caller<'_, T>, fd: i32, level: i32, name: i32, val: i32, len: i32| -> i32 {
            with_table(&mut c, get, |t, m| {
                // No option value is longer than a timeval.
                let value = m.slice(val as u32, len as u32)?;
                let value = value[..value.len().min(16)].to_vec();
                t.setsockopt(fd, level, name, &value)
            })
        },
    )?;
    linker.func_wrap(
        P1,
        "sock_getaddrinfo",
        move |mut c: Caller<'_, T>,
              node: i32,
              node_len: i32,
              service: i32,
              service_len: i32,
              hints: i32,
              res: i32,
              max: i32,
              res_len: i32|
              -> i32 {
            with_table(&mut c, get, |t, m| {
                getaddrinfo(
                    t,
                    m,
                    (node as u32, node_len as u32),
                    (service as u32, service_len as u32),
                    hints as u32,
                    res as u32,
                    max as u32,
                    res_len as u32,
                )
            })
        },
    )?;
    Ok(())
}

/// The wrapped preview 1 functions: sockets here, the rest forwarded.
fn define_wrappers<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut SocketTable,
) -> wasmtime::Result<()> {
    linker.func_wrap(
        P1,
        "fd_close",
        move |mut c: Caller<'_, T>, fd: i32| -> wasmtime::Result<i32> {
            if SocketTable::is_socket_fd(fd) {
                return Ok(Errno::code(get(c.data_mut()).close(fd)));
            }
            forward::get(&mut c, get)?.fd_close.call(&mut c, fd)
        },
    )?;
    linker.func_wrap(
        P1,
        "fd_fdstat_get",
        move |mut c: Caller<'_, T>, fd: i32, out: i32| -> wasmtime::Result<i32> {
            if SocketTable::is_socket_fd(fd) {
                return Ok(with_table(&mut c, get, |t, m| {
                    let stat = t.fdstat(fd)?;
                    m.write(out as u32, &stat)
                }));
            }
            forward::get(&mut c, get)?
                .fd_fdstat_get
                .call(&mut c, (fd, out))
        },
    )?;
    linker.func_wrap(
        P1,
        "fd_fdstat_set_flags",
        move |mut c: Caller<'_, T>, fd: i32, flags: i32| -> wasmtime::Result<i32> {
            if SocketTable::is_socket_fd(fd) {
                return Ok(Errno::code(get(c.data_mut()).set_fdflags(fd, flags)));
            }
            forward::get(&mut c, get)?
                .fd_fdstat_set_flags
                .call(&mut c, (fd, flags))
        },
    )?;
    linker.func_wrap(
        P1,
        "poll_oneoff",
        move |mut c: Caller<'_, T>,
              subs: i32,
              events: i32,
              n: i32,
              nevents: i32|
              -> wasmtime::Result<i32> {
            let mine = match memory_of(&mut c) {
                Some(memory) => {
                    poll::names_socket(&Mem(memory.data_mut(&mut c)), subs as u32, n as u32)
                }
                None => false,
            };
            if mine {
                let code = with_table(&mut c, get, |t, m| {
                    t.poll_oneoff(m, subs as u32, events as u32, n as u32, nevents as u32)
                });
                return settle(&mut c, get, code);
            }
            forward::get(&mut c, get)?
                .poll_oneoff
                .call(&mut c, (subs, events, n, nevents))
        },
    )?;
    // Reads and writes on a socket descriptor are `sock_recv` and
    // `sock_send` without flags, as on WasmEdge: std's and tokio's streams
    // built from a socket's descriptor use them.
    linker.func_wrap(
        P1,
        "fd_read",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              count: i32,
              nread: i32|
              -> wasmtime::Result<i32> {
            if SocketTable::is_socket_fd(fd) {
                let code = with_table(&mut c, get, |t, m| {
                    m.range(nread as u32, 4)?;
                    let n = t.recv(m, fd, iovs as u32, count as u32, 0)?;
                    m.put_u32(nread as u32, n)
                });
                return settle(&mut c, get, code);
            }
            forward::get(&mut c, get)?
                .fd_read
                .call(&mut c, (fd, iovs, count, nread))
        },
    )?;
    linker.func_wrap(
        P1,
        "fd_write",
        move |mut c: Caller<'_, T>,
              fd: i32,
              iovs: i32,
              count: i32,
              nwritten: i32|
              -> wasmtime::Result<i32> {
            if SocketTable::is_socket_fd(fd) {
                return Ok(with_table(&mut c, get, |t, m| {
                    m.range(nwritten as u32, 4)?;
                    let n = t.send(m, fd, iovs as u32, count as u32, 0)?;
                    m.put_u32(nwritten as u32, n)
                }));
            }
            forward::get(&mut c, get)?
                .fd_write
                .call(&mut c, (fd, iovs, count, nwritten))
        },
    )?;
    Ok(())
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
        let mut t = SocketTable::new(vec![granted], denied.clone());
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
        let nothing = SocketTable::new(Vec::new(), denied.clone());
        assert_eq!(nothing.resolve("localhost", 0), Err(Errno::ACCES));
        assert_eq!(denied.load(Ordering::Relaxed), 5);
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
