//! A database reached by a host name only the machine's resolver knows,
//! the way managed endpoints are: the test maps `db.rapidbyte.test` to
//! 127.0.0.1 in an `/etc/hosts` of its own (a bind mount in a user and
//! mount namespace), the server's certificate names it, and `rapidbyte
//! check` and `run` connect by it with `sslmode: verify-full`. A name the
//! resolver does not know fails before anything runs, naming the key.

mod common;

use rapidbyte_tests::certs::TestCa;
use rapidbyte_tests::pg::{PgCluster, TlsSetup, PASSWORD};

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn a_name_from_the_resolver_with_verified_tls() {
    let ca = TestCa::new("Rapidbyte Test CA");
    let server = ca.issue(&["db.rapidbyte.test"]);
    let pg = PgCluster::start_tls(TlsSetup {
        cert_pem: server.cert_pem,
        key_pem: server.key_pem,
        tls_only: true,
    });
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql(
        "src",
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("rapidbyte.toml"), "").unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    std::fs::write(
        dir.join("hosts"),
        format!("{hosts}\n127.0.0.1 db.rapidbyte.test\n"),
    )
    .unwrap();
    let yaml = |host: &str| {
        format!(
            "version: \"1.0\"\npipeline: byname\nsource:\n  use: rapidbyte/source-postgres\n  config:\n    host: {host}\n    port: {}\n    user: postgres\n    password: \"{PASSWORD}\"\n    database: src\n    sslmode: verify-full\n    sslrootcert: ca.pem\n  streams:\n    - name: items\ndestination:\n  use: rapidbyte/dest-file\n  config: {{ path: out, format: csv }}\n  write_mode: append\n",
            pg.port
        )
    };
    std::fs::write(dir.join("p.yaml"), yaml("db.rapidbyte.test")).unwrap();
    std::fs::write(dir.join("unknown.yaml"), yaml("nowhere.rapidbyte.test")).unwrap();
    let out = common::in_mount_namespace(
        dir,
        "mount --bind hosts /etc/hosts
         set +e
         \"$RB\" check p.yaml >check.out 2>check.err; echo $? >check.rc
         \"$RB\" run p.yaml >run.out 2>run.err; echo $? >run.rc
         \"$RB\" run unknown.yaml >unknown.out 2>unknown.err; echo $? >unknown.rc",
    );
    assert!(
        out.status.success(),
        "the namespace script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let check = format!("{}{}", read(dir, "check.out"), read(dir, "check.err"));
    assert_eq!(read(dir, "check.rc").trim(), "0", "{check}");
    assert!(
        check.contains("db.rapidbyte.test")
            && check.contains("TLS 1.3 (certificate and host name verified)"),
        "{check}"
    );
    let run = format!("{}{}", read(dir, "run.out"), read(dir, "run.err"));
    assert_eq!(read(dir, "run.rc").trim(), "0", "{run}");
    let csv = read(dir, "out/items.csv");
    assert_eq!(csv.lines().count(), 1001, "a header and every row: {run}");

    let unknown = format!("{}{}", read(dir, "unknown.out"), read(dir, "unknown.err"));
    assert_eq!(read(dir, "unknown.rc").trim(), "2", "{unknown}");
    assert!(
        unknown.contains("source.config.host")
            && unknown.contains("cannot resolve nowhere.rapidbyte.test"),
        "{unknown}"
    );
    assert!(!unknown.contains("panicked"), "{unknown}");
}
