//! A TCP client written the WasmEdge way: against `wasmedge_wasi_socket`,
//! built for `wasm32-wasip1`, with no Rapidbyte code in it. The WasmEdge
//! shim's tests run it unmodified.
//!
//! Usage: `tcp_client <addr> <message> [--poll]`, where `<addr>` is
//! `ip:port` or `name:port` (names resolve through `sock_getaddrinfo`).
//!
//! It connects, sends `<message>`, shuts its write half, reads the reply
//! until the server closes and prints, in the style of the crate's
//! `tcp_stream` / `nonblock_tcp_stream` examples:
//!
//! ```text
//! connect to <addr>
//! local address <local ip:port>
//! peer address <peer ip:port>
//! sending <message> message...
//! get response: <reply>
//! ```
//!
//! With `--poll` the socket is switched to nonblocking mode after
//! connecting and every read waits for readiness with
//! `wasmedge_wasi_socket::poll` first; it prints `poll: readable` (once,
//! before `get response`) when poll first reports the reply. Failures print `Error: ...` on stderr and
//! exit with status 1.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, SystemTime};

use wasmedge_wasi_socket::poll::{self, EventType, Subscription};
use wasmedge_wasi_socket::{Shutdown, TcpStream};

/// How long one poll waits before it gives up on the server.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (addr, message) = match (args.get(1), args.get(2)) {
        (Some(a), Some(m)) => (a.clone(), m.clone()),
        _ => {
            return Err(std::io::Error::new(
                ErrorKind::InvalidInput,
                "usage: tcp_client <addr> <message> [--poll]",
            ))
        }
    };
    let use_poll = args.iter().skip(3).any(|a| a == "--poll");

    println!("connect to {addr}");
    let mut stream = TcpStream::connect(addr.as_str())?;
    println!("local address {}", stream.local_addr()?);
    println!("peer address {}", stream.peer_addr()?);
    if use_poll {
        stream.set_nonblocking(true)?;
    }
    println!("sending {message} message...");
    write_all(&mut stream, message.as_bytes(), use_poll)?;
    stream.shutdown(Shutdown::Write)?;

    let reply = if use_poll {
        read_polled(&mut stream)?
    } else {
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        reply
    };
    println!("get response: {}", String::from_utf8_lossy(&reply));
    Ok(())
}

/// Writes all of `buf`, waiting for writability when the socket is
/// nonblocking.
fn write_all(stream: &mut TcpStream, mut buf: &[u8], polled: bool) -> std::io::Result<()> {
    while !buf.is_empty() {
        match stream.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if polled && e.kind() == ErrorKind::WouldBlock => {
                wait(stream, false)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until end of stream, polling for readability before each read.
fn read_polled(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    let mut first = true;
    loop {
        wait(stream, true)?;
        if first {
            println!("poll: readable");
            first = false;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(reply),
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits until `stream` is readable (or writable), or fails after
/// [`POLL_TIMEOUT`].
fn wait(stream: &TcpStream, read: bool) -> std::io::Result<()> {
    let deadline = SystemTime::now() + POLL_TIMEOUT;
    let subs = [Subscription::io(1, stream, read, !read, Some(deadline))];
    for event in poll::poll(&subs)? {
        match event.event_type {
            EventType::Read | EventType::Write => return Ok(()),
            EventType::Error(e) => return Err(e),
            EventType::Timeout => {}
        }
    }
    Err(std::io::Error::new(
        ErrorKind::TimedOut,
        "poll: the server did not answer in time",
    ))
}
