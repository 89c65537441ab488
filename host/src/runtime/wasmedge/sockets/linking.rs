//! Defining the socket imports and the wrapped preview 1 functions on a
//! linker.

use super::*;

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
