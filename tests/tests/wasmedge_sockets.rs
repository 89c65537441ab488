//! The WasmEdge shim's socket imports end to end: an unmodified
//! `wasmedge_wasi_socket` client (`tests/wasip1/tcp-client`, a
//! `wasm32-wasip1` command) run by `run_command` against a local echo
//! server, under the sandbox.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use rapidbyte_host::runtime::sandbox::Grant;
use rapidbyte_host::runtime::wasmedge::command::{run_command, CommandError, CommandOutput};

const TIMEOUT: Duration = Duration::from_secs(60);

fn client() -> PathBuf {
    rapidbyte_tests::test_components_dir().join("tcp-client/tcp_client.wasm")
}

fn run(grant: &Grant, args: &[&str]) -> CommandOutput {
    let engine = rapidbyte_tests::runtime().engine();
    run_command(engine, &client(), grant, args, TIMEOUT).expect("the client runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What the server saw of its one connection.
struct Seen {
    peer: SocketAddr,
    received: Vec<u8>,
}

/// An echo server for one connection: it returns what it reads until the
/// client shuts its write half, then closes.
fn echo_server() -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, peer)) = listener.accept() else {
            return;
        };
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    received.extend_from_slice(&buf[..n]);
                    if stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = tx.send(Seen { peer, received });
    });
    (addr, rx)
}

fn grant_of(endpoints: Vec<SocketAddr>) -> Grant {
    Grant {
        endpoints,
        ..Default::default()
    }
}

fn seen(rx: &mpsc::Receiver<Seen>) -> Seen {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the server saw a connection")
}

#[test]
fn an_unmodified_wasmedge_client_talks_to_a_granted_endpoint() {
    let (addr, rx) = echo_server();
    let grant = grant_of(vec![addr]);
    let out = run(&grant, &[&addr.to_string(), "hello"]);
    let server = seen(&rx);
    assert_eq!(out.exit_code, 0, "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "connect to {addr}\nlocal address {}\npeer address {addr}\nsending hello message...\nget response: hello\n",
            server.peer
        )
    );
    assert_eq!(server.received, b"hello");
    assert_eq!(grant.denied.load(Ordering::Relaxed), 0);
}

#[test]
fn nonblocking_mode_and_poll_work() {
    let (addr, rx) = echo_server();
    let grant = grant_of(vec![addr]);
    let out = run(&grant, &[&addr.to_string(), "hello over poll", "--poll"]);
    let server = seen(&rx);
    assert_eq!(out.exit_code, 0, "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!(
            "connect to {addr}\nlocal address {}\npeer address {addr}\nsending hello over poll message...\npoll: readable\nget response: hello over poll\n",
            server.peer
        )
    );
    assert_eq!(server.received, b"hello over poll");
}

#[test]
fn names_resolve_to_granted_addresses_only() {
    let (addr, rx) = echo_server();
    // The grant names the host, as `sandbox::grant` does when the pipeline
    // config says `localhost`: only granted names may be looked up.
    let mut grant = grant_of(vec![addr]);
    grant.names.insert("localhost".into(), vec![addr.ip()]);
    let named = format!("localhost:{}", addr.port());
    let out = run(&grant, &[&named, "by name"]);
    let server = seen(&rx);
    assert_eq!(out.exit_code, 0, "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("peer address {addr}\n")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(server.received, b"by name");

    // The answer is the grant's, not a resolver's: a name no resolver
    // knows connects to the address it was granted with.
    let (addr2, rx2) = echo_server();
    let mut pinned = grant_of(vec![addr2]);
    pinned
        .names
        .insert("db.rapidbyte.invalid".into(), vec![addr2.ip()]);
    let pinned_name = format!("db.rapidbyte.invalid:{}", addr2.port());
    let out = run(&pinned, &[&pinned_name, "pinned"]);
    assert_eq!(out.exit_code, 0, "stderr: {}", text(&out.stderr));
    assert_eq!(seen(&rx2).received, b"pinned");

    // The same address granted by IP only: the name is not granted, so it
    // is refused without being looked up.
    let by_ip = grant_of(vec![addr]);
    let out = run(&by_ip, &[&named, "by name"]);
    assert_eq!(out.exit_code, 1);
    assert!(
        text(&out.stderr).contains("PermissionDenied"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(by_ip.denied.load(Ordering::Relaxed), 1);

    // Nothing granted: the name does not resolve, and that is a denial.
    let nothing = Grant::default();
    let out = run(&nothing, &[&named, "by name"]);
    assert_eq!(out.exit_code, 1);
    assert!(
        text(&out.stderr).contains("PermissionDenied"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(nothing.denied.load(Ordering::Relaxed), 1);
}

#[test]
fn an_undeclared_endpoint_is_refused_and_counted() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    // Another port on the same host is granted; this one is not.
    let other = TcpListener::bind("127.0.0.1:0").expect("bind");
    for grant in [
        grant_of(vec![other.local_addr().expect("local addr")]),
        Grant::default(),
    ] {
        let out = run(&grant, &[&addr.to_string(), "hello"]);
        assert_eq!(out.exit_code, 1, "stdout: {}", text(&out.stdout));
        assert_eq!(text(&out.stdout), format!("connect to {addr}\n"));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("PermissionDenied") && stderr.contains("code: 2"),
            "{stderr}"
        );
        assert!(grant.denied.load(Ordering::Relaxed) >= 1);
    }
    listener.set_nonblocking(true).expect("nonblocking");
    let err = listener
        .accept()
        .expect_err("no connection reached the server");
    assert_eq!(err.kind(), ErrorKind::WouldBlock);
}

/// A minimal module encoder for the tests below.
fn wasm(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    for (id, body) in sections {
        out.push(*id);
        out.extend(leb(body.len() as i64));
        out.extend(body);
    }
    out
}

/// Signed LEB128 (also right for unsigned values below 2^62).
fn leb(mut v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn name(s: &str) -> Vec<u8> {
    let mut out = leb(s.len() as i64);
    out.extend(s.as_bytes());
    out
}

fn write_module(dir: &tempfile::TempDir, file: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(file);
    std::fs::write(&path, bytes).expect("write module");
    path
}

#[test]
fn unknown_imports_are_all_named_at_load() {
    // (type (func)) (type (func (param i32 i32 i32 i32) (result i32)))
    let types = [&[2u8, 0x60, 0, 0, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f][..]].concat();
    let mut imports = vec![3u8];
    for (module, field, ty) in [
        ("env", "nope", 0u8),
        ("wasi_snapshot_preview1", "not_a_call", 0),
        ("wasi_snapshot_preview1", "fd_write", 1),
    ] {
        imports.extend(name(module));
        imports.extend(name(field));
        imports.extend([0x00, ty]);
    }
    let mut exports = vec![1u8];
    exports.extend(name("_start"));
    exports.extend([0x00, 3]);
    let bytes = wasm(&[
        (1, types),
        (2, imports),
        (3, vec![1, 0]),
        (7, exports),
        (10, vec![1, 2, 0, 0x0b]),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_module(&dir, "unknown.wasm", &bytes);
    let engine = rapidbyte_tests::runtime().engine();
    let err = run_command(engine, &path, &Grant::default(), &[], TIMEOUT)
        .expect_err("unknown imports fail");
    let message = err.to_string();
    match err {
        CommandError::UnknownImports { imports, .. } => {
            assert_eq!(imports, ["env::nope", "wasi_snapshot_preview1::not_a_call"])
        }
        other => panic!("expected unknown imports, got {other:?}"),
    }
    assert!(
        message.contains("env::nope") && message.contains("wasi_snapshot_preview1::not_a_call"),
        "{message}"
    );
}

#[test]
fn a_command_past_its_time_limit_is_stopped() {
    // (func (export "_start") (loop (br 0)))
    let mut exports = vec![1u8];
    exports.extend(name("_start"));
    exports.extend([0x00, 0]);
    let bytes = wasm(&[
        (1, vec![1, 0x60, 0, 0]),
        (3, vec![1, 0]),
        (7, exports),
        (10, vec![1, 7, 0, 0x03, 0x40, 0x0c, 0, 0x0b, 0x0b]),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_module(&dir, "spin.wasm", &bytes);
    let engine = rapidbyte_tests::runtime().engine();
    let limit = Duration::from_millis(200);
    let err = run_command(engine, &path, &Grant::default(), &[], limit).expect_err("times out");
    assert!(
        matches!(err, CommandError::Timeout { timeout, .. } if timeout == limit),
        "{err:?}"
    );
}

/// A server that never answers: a blocking read and a poll on the socket
/// wait inside the host, and still end at the time limit.
#[test]
fn a_wait_on_a_silent_server_ends_at_the_time_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for _ in 0..2 {
            if let Ok((s, _)) = listener.accept() {
                kept.push(s); // never written to, closed only at the end
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let engine = rapidbyte_tests::runtime().engine();
    let limit = Duration::from_secs(1);
    let target = addr.to_string();
    for args in [
        vec![target.as_str(), "hi"],
        vec![target.as_str(), "hi", "--poll"],
    ] {
        let started = std::time::Instant::now();
        let err = run_command(engine, &client(), &grant_of(vec![addr]), &args, limit)
            .expect_err("the silent server never lets it finish");
        assert!(
            matches!(err, CommandError::Timeout { .. }),
            "{args:?}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    held.join().expect("server thread");
}

#[test]
fn other_descriptors_still_reach_wasi() {
    // Calls the wrapped fd_fdstat_get(stdout), poll_oneoff with only a
    // clock, and fd_close(99) (not open), then writes the four result
    // bytes [stat errno, poll errno, poll nevents, close errno] to stdout.
    let (stat, poll, close, write) = (0u8, 1u8, 2u8, 3u8);
    let types = [
        &[4u8][..],
        &[0x60, 2, 0x7f, 0x7f, 1, 0x7f],
        &[0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f],
        &[0x60, 1, 0x7f, 1, 0x7f],
        &[0x60, 0, 0],
    ]
    .concat();
    let mut imports = vec![4u8];
    for (field, ty) in [
        ("fd_fdstat_get", 0u8),
        ("poll_oneoff", 1),
        ("fd_close", 2),
        ("fd_write", 1),
    ] {
        imports.extend(name("wasi_snapshot_preview1"));
        imports.extend(name(field));
        imports.extend([0x00, ty]);
    }
    let i32c = |v: i64| [vec![0x41], leb(v)].concat();
    let mut code = vec![0u8]; // no locals
    let mut emit = |parts: &[Vec<u8>]| parts.iter().for_each(|p| code.extend(p));
    let (store32, store64, store8, load32) = (
        vec![0x36, 2, 0],
        vec![0x37, 3, 0],
        vec![0x3a, 0, 0],
        vec![0x28, 2, 0],
    );
    let call = |f: u8| vec![0x10, f];
    // Subscription at 0: clock (tag 0), monotonic (id 1), relative 1 ms.
    emit(&[i32c(16), i32c(1), store32.clone()]);
    emit(&[i32c(24), [vec![0x42], leb(1_000_000)].concat(), store64]);
    emit(&[i32c(400), i32c(1), i32c(200), call(stat), store8.clone()]);
    emit(&[
        i32c(401),
        i32c(0),
        i32c(128),
        i32c(1),
        i32c(300),
        call(poll),
        store8.clone(),
    ]);
    emit(&[i32c(402), i32c(300), load32, store8.clone()]);
    emit(&[i32c(403), i32c(99), call(close), store8]);
    emit(&[i32c(500), i32c(400), store32.clone()]);
    emit(&[i32c(504), i32c(4), store32]);
    emit(&[
        i32c(1),
        i32c(500),
        i32c(1),
        i32c(512),
        call(write),
        vec![0x1a],
    ]);
    code.push(0x0b);
    let mut bodies = vec![1u8];
    bodies.extend(leb(code.len() as i64));
    bodies.extend(code);
    let mut exports = vec![2u8];
    exports.extend(name("memory"));
    exports.extend([0x02, 0]);
    exports.extend(name("_start"));
    exports.extend([0x00, 4]);
    let bytes = wasm(&[
        (1, types),
        (2, imports),
        (3, vec![1, 3]),
        (5, vec![1, 0, 1]),
        (7, exports),
        (10, bodies),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_module(&dir, "fds.wasm", &bytes);
    let engine = rapidbyte_tests::runtime().engine();
    let out = run_command(engine, &path, &Grant::default(), &[], TIMEOUT).expect("runs");
    assert_eq!(out.exit_code, 0, "stderr: {}", text(&out.stderr));
    // Success, success, one (clock) event, BADF from wasmtime-wasi.
    assert_eq!(out.stdout, [0, 0, 1, 8]);
}
