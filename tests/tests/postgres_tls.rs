//! PostgreSQL over TLS the way managed databases are reached: by host name,
//! with the certificate checked against a CA. The server is a throwaway
//! cluster with `ssl = on` and a certificate from a CA this test makes;
//! every `sslmode` is tried, with the wrong CA, the wrong name, a server
//! without TLS, a TLS-only server and a wrong password, and a pg -> pg run
//! copies every row over verified TLS by the name `localhost`.

use rapidbyte_host::pipeline::Prepared;
use rapidbyte_tests::certs::TestCa;
use rapidbyte_tests::pg::{PgCluster, TlsSetup, PASSWORD};
use rapidbyte_tests::{runtime, settings, Project};

struct Endpoint<'a> {
    host: &'a str,
    port: u16,
    password: &'a str,
}

fn config(at: &Endpoint, database: &str, tls: &str) -> String {
    format!(
        "    host: {}\n    port: {}\n    user: postgres\n    password: \"{}\"\n    database: {database}\n{tls}",
        at.host, at.port, at.password
    )
}

fn pipeline(at: &Endpoint, tls: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: tls\nsource:\n  use: rapidbyte/source-postgres\n  config:\n{}  streams:\n    - name: items\ndestination:\n  use: rapidbyte/dest-postgres\n  config:\n{}  write_mode: append\n",
        config(at, "src", tls),
        config(at, "dst", tls)
    )
}

/// The source's and destination's `check` messages, or the error that
/// stopped them.
fn check(p: &Project, yaml: &str) -> Result<(String, String), String> {
    let config = p.pipeline(yaml);
    let prepared = Prepared::new(&config, runtime(), settings()).map_err(|e| e.to_string())?;
    let (src, dst) = prepared.validate().map_err(|e| e.to_string())?;
    Ok((src.message, dst.message))
}

fn tls(mode: &str, root: Option<&str>) -> String {
    let mut s = format!("    sslmode: {mode}\n");
    if let Some(r) = root {
        s.push_str(&format!("    sslrootcert: \"{r}\"\n"));
    }
    s
}

fn prepare(pg: &PgCluster) {
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql(
        "src",
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 5000) g;",
    );
}

#[test]
fn every_sslmode_means_what_libpq_says() {
    let ca = TestCa::new("Rapidbyte Test CA");
    let server = ca.issue(&["localhost", "db.rapidbyte.test"]);
    let pg = PgCluster::start_tls(TlsSetup {
        cert_pem: server.cert_pem,
        key_pem: server.key_pem,
        tls_only: false,
    });
    prepare(&pg);
    let p = Project::new();
    let ca_file = ca.cert_path().display().to_string();
    p.write("certs/ca.pem", &ca.cert_pem);
    let by_name = Endpoint {
        host: "localhost",
        port: pg.port,
        password: PASSWORD,
    };
    let by_ip = Endpoint {
        host: "127.0.0.1",
        ..by_name
    };

    // verify-full by name, the CA as an absolute path and as a path
    // relative to the project.
    for root in [ca_file.as_str(), "certs/ca.pem"] {
        let (src, dst) = check(&p, &pipeline(&by_name, &tls("verify-full", Some(root))))
            .unwrap_or_else(|e| panic!("verify-full with {root}: {e}"));
        for m in [&src, &dst] {
            assert!(
                m.contains("over TLS 1.3 (certificate and host name verified)"),
                "{m}"
            );
        }
    }
    // The CA inline, as PEM text in the YAML.
    let inline = format!(
        "    sslmode: verify-full\n    sslrootcert: |\n{}",
        ca.cert_pem
            .lines()
            .map(|l| format!("      {l}\n"))
            .collect::<String>()
    );
    check(&p, &pipeline(&by_name, &inline)).expect("inline PEM");

    // The certificate names `localhost`, not 127.0.0.1: verify-full by IP
    // fails saying so; verify-ca checks the chain only and connects.
    let err = check(&p, &pipeline(&by_ip, &tls("verify-full", Some(&ca_file)))).unwrap_err();
    assert!(
        err.contains("tls_failed") && err.contains("does not name this host"),
        "{err}"
    );
    assert!(err.contains("127.0.0.1:"), "names the endpoint: {err}");
    let (src, _) = check(&p, &pipeline(&by_ip, &tls("verify-ca", Some(&ca_file)))).unwrap();
    assert!(src.contains("certificate chain verified"), "{src}");

    // Another CA, or the public roots: not trusted.
    let other = TestCa::new("Some Other CA");
    p.write("certs/other.pem", &other.cert_pem);
    let err = check(
        &p,
        &pipeline(&by_name, &tls("verify-full", Some("certs/other.pem"))),
    )
    .unwrap_err();
    assert!(
        err.contains("tls_failed") && err.contains("not signed by a CA in `sslrootcert`"),
        "{err}"
    );
    let err = check(&p, &pipeline(&by_name, &tls("verify-full", None))).unwrap_err();
    assert!(err.contains("not signed by a CA"), "{err}");
    // `require` with that CA checks the chain too (as libpq does).
    let err = check(
        &p,
        &pipeline(&by_name, &tls("require", Some("certs/other.pem"))),
    )
    .unwrap_err();
    assert!(err.contains("not signed by a CA"), "{err}");

    // require and prefer encrypt without checking; the default is prefer.
    for mode in ["require", "prefer"] {
        let (src, _) = check(&p, &pipeline(&by_name, &tls(mode, None))).unwrap();
        assert!(
            src.contains("TLS 1.3 (certificate not verified)"),
            "{mode}: {src}"
        );
    }
    let (src, _) = check(&p, &pipeline(&by_name, "")).unwrap();
    assert!(src.contains("TLS 1.3"), "the default (prefer): {src}");
    let (src, _) = check(&p, &pipeline(&by_name, &tls("disable", None))).unwrap();
    assert!(src.contains("over plaintext"), "{src}");

    // A missing CA file names the key and the path.
    let err = check(
        &p,
        &pipeline(&by_name, &tls("verify-full", Some("certs/nope.pem"))),
    )
    .unwrap_err();
    assert!(
        err.contains("sslrootcert") && err.contains("nope.pem"),
        "{err}"
    );

    // A wrong password over TLS is an authentication error.
    let wrong = Endpoint {
        password: "wrong",
        ..by_name
    };
    let err = check(&p, &pipeline(&wrong, &tls("verify-full", Some(&ca_file)))).unwrap_err();
    assert!(err.contains("auth_failed"), "{err}");

    // The WasmEdge builds speak the same TLS.
    let wasmedge = pipeline(&by_name, &tls("verify-full", Some(&ca_file)))
        .replace(
            "rapidbyte/source-postgres",
            "rapidbyte/source-postgres-wasmedge",
        )
        .replace(
            "rapidbyte/dest-postgres",
            "rapidbyte/dest-postgres-wasmedge",
        );
    let (src, dst) = check(&p, &wasmedge).expect("WasmEdge builds over TLS");
    for m in [&src, &dst] {
        assert!(m.contains("certificate and host name verified"), "{m}");
    }

    // pg -> pg over verified TLS, by name: every row.
    let report = p.run_ok(&pipeline(&by_name, &tls("verify-full", Some(&ca_file))));
    assert_eq!(
        rapidbyte_tests::stream(&report, "items").records_written,
        5000
    );
    assert_eq!(
        rapidbyte_tests::pg_checksum(&pg, "dst", "items"),
        rapidbyte_tests::pg_checksum(&pg, "src", "items")
    );
}

#[test]
fn a_tls_only_server_and_a_server_without_tls() {
    let ca = TestCa::new("Rapidbyte Test CA");
    let server = ca.issue(&["localhost"]);
    let tls_only = PgCluster::start_tls(TlsSetup {
        cert_pem: server.cert_pem,
        key_pem: server.key_pem,
        tls_only: true,
    });
    prepare(&tls_only);
    let p = Project::new();
    let at = Endpoint {
        host: "localhost",
        port: tls_only.port,
        password: PASSWORD,
    };
    // Plaintext refused by the server: the error says to turn TLS on.
    let err = check(&p, &pipeline(&at, &tls("disable", None))).unwrap_err();
    assert!(
        err.contains("tls_required") && err.contains("sslmode: require"),
        "{err}"
    );
    // `allow` tries plaintext, then TLS.
    let (src, _) = check(&p, &pipeline(&at, &tls("allow", None))).unwrap();
    assert!(src.contains("TLS 1.3"), "{src}");

    // A server without TLS: require refuses, prefer falls back.
    let plain = PgCluster::start();
    prepare(&plain);
    let at = Endpoint {
        host: "localhost",
        port: plain.port,
        password: PASSWORD,
    };
    let err = check(&p, &pipeline(&at, &tls("require", None))).unwrap_err();
    assert!(
        err.contains("tls_unavailable") && err.contains("does not accept TLS"),
        "{err}"
    );
    let (src, _) = check(&p, &pipeline(&at, &tls("prefer", None))).unwrap();
    assert!(src.contains("plaintext"), "{src}");
}

/// The connectors offer ChaCha20-Poly1305 only at first (no AES
/// instructions inside WebAssembly); a server that takes none of it (here
/// TLS 1.2 with AES-GCM only, as FIPS setups are) gets every suite on a
/// second handshake, and the pipeline runs.
#[test]
fn a_server_without_chacha20_still_connects() {
    let ca = TestCa::new("Rapidbyte Test CA");
    let server = ca.issue(&["localhost"]);
    let pg = PgCluster::start_tls(TlsSetup {
        cert_pem: server.cert_pem,
        key_pem: server.key_pem,
        tls_only: true,
    });
    prepare(&pg);
    pg.psql(
        "postgres",
        "ALTER SYSTEM SET ssl_max_protocol_version = 'TLSv1.2'",
    );
    pg.psql(
        "postgres",
        "ALTER SYSTEM SET ssl_ciphers = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256'",
    );
    pg.psql("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let p = Project::new();
    p.write("certs/ca.pem", &ca.cert_pem);
    let at = Endpoint {
        host: "localhost",
        port: pg.port,
        password: PASSWORD,
    };
    let yaml = pipeline(&at, &tls("verify-full", Some("certs/ca.pem")));
    let (src, dst) = check(&p, &yaml).unwrap();
    assert!(
        src.contains("TLS 1.2") && dst.contains("TLS 1.2"),
        "{src} / {dst}"
    );
    let report = p.run_ok(&yaml);
    assert_eq!(report.streams[0].records_written, 5000);
}
