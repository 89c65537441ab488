//! The sandbox rules, proven with the deliberately hostile component in
//! `tests/components/hostile`: every misbehaviour fails its stream with a
//! clear error naming connector and stream, and the host carries on. The
//! limits are checked on the component and on the same source built as a
//! WasmEdge-style core module (`hostile-wasmedge`, run through the shim).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use rapidbyte_tests::Project;

const NO_CAPS: &str =
    "name: hostile\nversion: 0.1.0\nkind: source\nwasm:\n  entrypoint: hostile.wasm\n";

fn hostile_pipeline(component_dir: &str, mode: &str, target: &str, resources: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: hostile\nsource:\n  use: {component_dir}\n  config:\n    mode: {mode}\n    target: \"{target}\"\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n{resources}"
    )
}

/// The hostile source as a component and as a WasmEdge-style module.
const BUILDS: [&str; 2] = ["hostile", "hostile-wasmedge"];

/// Runs the hostile source in `mode` and returns the stream's error.
fn failure(p: &Project, mode: &str, target: &str, resources: &str) -> String {
    failure_of(p, "hostile", mode, target, resources)
}

/// Runs `build` (one of [`BUILDS`]) in `mode`, staged as `hostile`, and
/// returns the stream's error.
fn failure_of(p: &Project, build: &str, mode: &str, target: &str, resources: &str) -> String {
    let manifest = NO_CAPS.replace("hostile.wasm", &format!("{}.wasm", build.replace('-', "_")));
    p.component_with_manifest(build, "hostile", &manifest);
    let report = p
        .run(&hostile_pipeline(
            "components/hostile",
            mode,
            target,
            resources,
        ))
        .unwrap_or_else(|e| panic!("setup failed: {e}"));
    let s = &report.streams[0];
    assert_eq!(s.records_written, 0);
    assert!(
        !p.path().join("out/hostile.parquet").exists(),
        "nothing must be written"
    );
    s.error
        .clone()
        .unwrap_or_else(|| panic!("mode {mode} should fail"))
}

/// After a hostile run, the same engine still runs a healthy pipeline.
fn host_still_works(p: &Project) {
    let report = p.run_ok(&hostile_pipeline("components/hostile", "ok", "", ""));
    assert_eq!(report.streams[0].records_written, 3);
}

#[test]
fn undeclared_network_access_is_denied() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let p = Project::new();
    let err = failure(&p, "connect", &addr, "");
    assert!(
        err.contains("connector `hostile`") && err.contains("stream `hostile`"),
        "{err}"
    );
    assert!(
        err.contains("connect to") && err.contains("failed"),
        "{err}"
    );
    assert!(
        listener.accept().is_err(),
        "the listener must not have seen a connection"
    );
    host_still_works(&p);
}

#[test]
fn declared_network_access_is_granted_exactly() {
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = allowed.local_addr().unwrap().port();
    let manifest = format!(
        "{NO_CAPS}capabilities:\n  network:\n    allowed_hosts:\n      - host: 127.0.0.1\n        port: {port}\n"
    );
    let p = Project::new();
    p.component_with_manifest("hostile", "granted", &manifest);
    let ok = p.run_ok(&hostile_pipeline(
        "components/granted",
        "connect",
        &format!("127.0.0.1:{port}"),
        "",
    ));
    assert_eq!(
        ok.streams[0].records_written, 1,
        "the declared endpoint is reachable"
    );
    let other_addr = other.local_addr().unwrap().to_string();
    let denied = p
        .run(&hostile_pipeline(
            "components/granted",
            "connect",
            &other_addr,
            "",
        ))
        .unwrap();
    let err = denied.streams[0]
        .error
        .clone()
        .expect("another port must be denied");
    assert!(err.contains("connect to"), "{err}");
}

/// A tiny HTTP server on 127.0.0.1 that answers every request `204`; the
/// number of connections it accepted.
fn http_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn http_requests_reach_only_granted_endpoints() {
    use std::sync::atomic::Ordering;
    let (port, seen) = http_listener();
    let (other, other_seen) = http_listener();
    let p = Project::new();
    let manifest = |tls: &str| {
        format!("{NO_CAPS}capabilities:\n  network:\n    allowed_hosts:\n      - host: 127.0.0.1\n        port: {port}\n{tls}")
    };
    p.component_with_manifest("hostile", "web", &manifest(""));
    let ok = p.run_ok(&hostile_pipeline(
        "components/web",
        "http-get",
        &format!("http://127.0.0.1:{port}/ping"),
        "",
    ));
    assert_eq!(
        ok.streams[0].records_written, 204,
        "the granted endpoint answered"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    for target in [
        format!("http://127.0.0.1:{other}/"),
        // The same address by a name the grant does not hold.
        format!("http://localhost:{port}/"),
    ] {
        let report = p
            .run(&hostile_pipeline("components/web", "http-get", &target, ""))
            .unwrap();
        let err = report.streams[0].error.clone().expect("must be denied");
        assert!(err.contains("HttpRequestDenied"), "{target}: {err}");
    }
    assert_eq!(
        other_seen.load(Ordering::SeqCst),
        0,
        "no connection to the other port"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "none by the ungranted name either"
    );

    // An endpoint that requires TLS refuses plain http.
    p.component_with_manifest("hostile", "web", &manifest("        tls: required\n"));
    let report = p
        .run(&hostile_pipeline(
            "components/web",
            "http-get",
            &format!("http://127.0.0.1:{port}/"),
            "",
        ))
        .unwrap();
    let err = report.streams[0]
        .error
        .clone()
        .expect("plain http must be denied");
    assert!(err.contains("HttpRequestDenied"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // A connector without any network grant reaches nothing over HTTP.
    let p = Project::new();
    let err = failure(&p, "http-get", &format!("http://127.0.0.1:{port}/"), "");
    assert!(err.contains("HttpRequestDenied"), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    host_still_works(&p);
}

#[test]
fn runtime_hosts_grant_only_the_configured_endpoint() {
    let db = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = db.local_addr().unwrap().port();
    let manifest = format!("{NO_CAPS}capabilities:\n  network:\n    runtime_hosts: true\n");
    let p = Project::new();
    p.component_with_manifest("hostile", "dbish", &manifest);
    let yaml = |target: &str| {
        format!(
            "version: \"1.0\"\npipeline: h\nsource:\n  use: components/dbish\n  config:\n    mode: connect\n    target: \"{target}\"\n    host: 127.0.0.1\n    port: {port}\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
        )
    };
    let ok = p.run_ok(&yaml(&format!("127.0.0.1:{port}")));
    assert_eq!(ok.streams[0].records_written, 1);
    let elsewhere = p
        .run(&yaml(&format!("127.0.0.1:{}", port.wrapping_add(1).max(1))))
        .unwrap();
    assert!(elsewhere.streams[0].error.is_some());
    // Without the host key the grant cannot be computed: a config error.
    let missing = "version: \"1.0\"\npipeline: h\nsource:\n  use: components/dbish\n  config:\n    mode: connect\ndestination:\n  use: rapidbyte/dest-file\n";
    let err = p.run(missing).expect_err("must fail").to_string();
    assert!(err.contains("source.config.host"), "{err}");
}

#[test]
fn only_granted_names_can_be_looked_up() {
    let db = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = db.local_addr().unwrap().port();
    let manifest = format!("{NO_CAPS}capabilities:\n  network:\n    runtime_hosts: true\n");
    let p = Project::new();
    p.component_with_manifest("hostile", "dbish", &manifest);
    let yaml = |host: &str, target: &str| {
        format!(
            "version: \"1.0\"\npipeline: h\nsource:\n  use: components/dbish\n  config:\n    mode: connect\n    target: \"{target}\"\n    host: {host}\n    port: {port}\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
        )
    };
    // The granted name resolves inside the sandbox and connects.
    let ok = p.run_ok(&yaml("localhost", &format!("localhost:{port}")));
    assert_eq!(ok.streams[0].records_written, 1);
    // A name the grant does not hold is refused before any resolver sees
    // it, even one that would resolve to the granted address.
    for name in [
        "leak-1234.example.invalid",
        "LOCALHOST.localdomain",
        "ip6-localhost",
    ] {
        let r = p
            .run(&yaml("127.0.0.1", &format!("{name}:{port}")))
            .unwrap();
        let err = r.streams[0].error.clone().expect("lookup must fail");
        assert!(
            err.contains(&format!("connect to {name}:{port} failed")),
            "{err}"
        );
    }
    let r = p
        .run(&yaml("127.0.0.1", &format!("localhost:{port}")))
        .unwrap();
    assert!(
        r.streams[0].error.is_some(),
        "localhost is not granted when the grant names 127.0.0.1"
    );
}

#[test]
fn files_outside_the_granted_directory_are_unreachable() {
    for build in BUILDS {
        let p = Project::new();
        let secret = p.write("secret.txt", "top secret");
        let err = failure_of(&p, build, "read-file", secret.to_str().unwrap(), "");
        assert!(err.contains("open") && err.contains("failed"), "{err}");
        let err = failure_of(&p, build, "read-file", "/etc/passwd", "");
        assert!(err.contains("failed"), "{err}");
        host_still_works(&p);
    }
}

#[test]
fn an_infinite_loop_is_stopped_by_the_time_limit() {
    for build in BUILDS {
        let p = Project::new();
        let start = Instant::now();
        let err = failure_of(&p, build, "loop", "", "resources:\n  timeout: 2s\n");
        let took = start.elapsed();
        assert!(
            err.contains("time limit") && err.contains("hostile"),
            "{err}"
        );
        assert!(took < Duration::from_secs(30), "took {took:?}");
        host_still_works(&p);
    }
}

#[test]
fn a_connector_sleeping_in_the_host_is_stopped_at_its_time_limit() {
    let p = Project::new();
    // Compile (and cache) the component first: the time below is the run's.
    p.component_with_manifest("hostile", "hostile", NO_CAPS);
    host_still_works(&p);
    std::fs::remove_dir_all(p.path().join("out")).expect("clear the warm-up's output");
    let start = Instant::now();
    let err = failure(&p, "sleep", "", "resources:\n  timeout: 2s\n");
    let took = start.elapsed();
    assert!(
        err.contains("exceeded its time limit of 2.0s") && err.contains("hostile"),
        "{err}"
    );
    assert!(
        took < Duration::from_secs(15),
        "a 30 s sleep outlived the 2 s limit: {took:?}"
    );
    host_still_works(&p);
}

#[test]
fn allocating_past_the_memory_cap_is_stopped() {
    for build in BUILDS {
        let p = Project::new();
        let err = failure_of(&p, build, "oom", "", "resources:\n  max_memory: 64mb\n");
        assert!(
            err.contains("memory limit of 64 MiB") && err.contains("hostile"),
            "{err}"
        );
        host_still_works(&p);
    }
}

#[test]
fn a_panic_is_a_clean_error() {
    for build in BUILDS {
        let p = Project::new();
        let err = failure_of(&p, build, "panic", "", "");
        assert!(
            err.contains("panics on purpose") && err.contains("stream `hostile`"),
            "{err}"
        );
        host_still_works(&p);
    }
}

#[test]
fn a_malformed_arrow_frame_is_a_clean_error() {
    for build in BUILDS {
        let p = Project::new();
        let err = failure_of(&p, build, "bad-ipc", "", "");
        assert!(
            err.contains("malformed Arrow IPC") && err.contains("hostile"),
            "{err}"
        );
        host_still_works(&p);
    }
}

#[test]
fn no_environment_variables_reach_the_connector() {
    assert!(std::env::vars().count() > 0);
    for build in BUILDS {
        let p = Project::new();
        let manifest =
            NO_CAPS.replace("hostile.wasm", &format!("{}.wasm", build.replace('-', "_")));
        p.component_with_manifest(build, "hostile", &manifest);
        let report = p.run_ok(&hostile_pipeline("components/hostile", "env", "", ""));
        assert_eq!(
            report.streams[0].records_read, 0,
            "{build}: the connector saw environment variables"
        );
    }
}

/// A connector opening files without end is stopped at its handle cap
/// (`resources.max_handles`, default 1024) with an error that names the
/// setting, long before the process runs out of descriptors; a raised cap
/// lets the same connector hold more.
#[test]
fn opening_files_without_end_is_stopped_at_the_handle_cap() {
    const READ_DIR: &str = "capabilities:\n  filesystem:\n    config_key: dir\n    access: read\n";
    for build in BUILDS {
        let p = Project::new();
        let file = p.write("data/f.txt", "x");
        let file = file.canonicalize().expect("canonical path");
        let manifest = format!(
            "{}{READ_DIR}",
            NO_CAPS.replace("hostile.wasm", &format!("{}.wasm", build.replace('-', "_")))
        );
        p.component_with_manifest(build, "hostile", &manifest);
        let yaml = |count: &str, resources: &str| {
            format!(
                "version: \"1.0\"\npipeline: hostile\nsource:\n  use: components/hostile\n  config:\n    mode: open-files\n    dir: data\n    target: \"{}\"\n{count}destination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n{resources}",
                file.display()
            )
        };
        let report = p.run(&yaml("", "")).expect("the pipeline starts");
        let err = report.streams[0]
            .error
            .clone()
            .unwrap_or_else(|| panic!("{build}: 100,000 open files should fail"));
        assert!(
            err.contains("more than 1024 open handles") && err.contains("resources.max_handles"),
            "{build}: {err}"
        );
        assert!(err.contains("stream `hostile`"), "{build}: {err}");
        assert_eq!(report.streams[0].records_written, 0);

        let report = p.run_ok(&yaml(
            "    count: 3000\n",
            "resources:\n  max_handles: 4096\n",
        ));
        assert_eq!(report.streams[0].records_written, 3000, "{build}");
        p.component_with_manifest(
            build,
            "hostile",
            &NO_CAPS.replace("hostile.wasm", &format!("{}.wasm", build.replace('-', "_"))),
        );
        host_still_works(&p);
    }
}

/// A call whose string lies outside the connector's memory (broken
/// bindings) is refused by the host and named a contract violation, not an
/// opaque crash; the host carries on.
#[test]
fn a_pointer_outside_the_connectors_memory_is_a_contract_error() {
    for build in BUILDS {
        let p = Project::new();
        let err = failure_of(&p, build, "bad-pointer", "", "");
        assert!(
            err.contains("broke the contract")
                && err.contains("outside its memory")
                && err.contains("stream `hostile`"),
            "{build}: {err}"
        );
        assert!(!err.contains("wasm backtrace"), "{build}: {err}");
        host_still_works(&p);
    }
}
