//! The conformance suite, tested: every bundled connector passes it, and a
//! purpose-made source with one flaw at a time (`tests/components/flawed`)
//! is flagged by exactly the check that names the flaw.

use std::path::Path;

use rapidbyte_conformance::{Options, Report, Status};
use rapidbyte_host::registry;
use rapidbyte_tests::pg::{PgCluster, PASSWORD};
use rapidbyte_tests::{connectors_dir, runtime, settings, test_components_dir};

fn suite(component: &Path, config: serde_json::Value, options: Options) -> Report {
    let connector =
        registry::resolve(&component.display().to_string(), None, settings()).expect("resolves");
    rapidbyte_conformance::run(
        runtime(),
        &connector,
        &Options {
            config,
            config_given: true,
            ..options
        },
    )
}

fn assert_conforms(report: &Report) {
    assert!(report.passed(), "{}", report.render());
}

fn flawed(flaw: &str, rows: i64) -> Report {
    suite(
        &test_components_dir().join("flawed"),
        serde_json::json!({"flaw": flaw, "rows": rows}),
        Options::default(),
    )
}

#[test]
fn a_well_behaved_source_passes_every_check() {
    let report = flawed("none", 5000);
    assert_conforms(&report);
    for id in [
        "config.missing_keys",
        "discover.catalog",
        "read.frames",
        "read.summary",
        "read.incremental",
        "read.cancellation",
        "sandbox.declared_only",
    ] {
        assert_eq!(
            report.check(id).map(|c| c.status),
            Some(Status::Pass),
            "{id}\n{}",
            report.render()
        );
    }
}

#[test]
fn each_flaw_is_flagged_by_its_check() {
    for (flaw, rows, id) in [
        ("wrong-schema", 500, "read.frames"),
        ("lying-summary", 500, "read.summary"),
        ("ignores-state", 500, "read.incremental"),
        ("trap-on-bad-config", 500, "config.missing_keys"),
        ("oversize-batch", 100_000, "read.batch_size"),
        ("silent", 500, "read.progress"),
        ("ignores-cancel", 5000, "read.cancellation"),
        ("undeclared-host", 500, "sandbox.declared_only"),
    ] {
        let report = flawed(flaw, rows);
        let check = report
            .check(id)
            .unwrap_or_else(|| panic!("{flaw}: no {id}"));
        assert_eq!(check.status, Status::Fail, "{flaw}\n{}", report.render());
        assert!(!report.passed());
        // Only that check fails, or the ones the flaw also breaks.
        let others: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail && c.id != id)
            .map(|c| c.id.as_str())
            .collect();
        let allowed: &[&str] = match flaw {
            "wrong-schema" => &["read.incremental", "read.cancellation"],
            // It traps on a mistyped `rows` as well as a missing one.
            "trap-on-bad-config" => &["config.wrong_types"],
            _ => &[],
        };
        assert!(
            others.iter().all(|o| allowed.contains(o)),
            "{flaw}: also failed {others:?}\n{}",
            report.render()
        );
    }
}

#[test]
fn the_file_connectors_conform() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut csv = String::from("id,name,updated\n");
    for i in 1..=20_000 {
        csv.push_str(&format!("{i},name {i} ü,{i}\n"));
    }
    std::fs::write(data.join("items.csv"), &csv).unwrap();
    // The fixture's hook: two rows past the highest id.
    let hook = dir.path().join("append");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nprintf '20001,new,20001\\n20002,new,20002\\n' >> {}/$1.csv\necho 2\n",
            data.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = || Options {
        project_dir: dir.path().to_path_buf(),
        fixture: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    // The components, and the same sources built the WasmEdge way
    // (wasm32-wasip1 core modules through the shim): the same checks.
    for suffix in ["", "-wasmedge"] {
        let source = connectors_dir().join(format!("source-file{suffix}"));
        let report = suite(&source, serde_json::json!({"path": "data"}), options());
        assert_conforms(&report);
        assert!(
            report
                .check("read.incremental")
                .unwrap()
                .message
                .contains("exactly the 2 appended"),
            "{}",
            report.render()
        );
        // The hook appended two rows; start the next variant afresh.
        std::fs::write(data.join("items.csv"), &csv).unwrap();

        let paired = registry::resolve(&source.display().to_string(), None, settings()).unwrap();
        let out = dir.path().join(format!("out{suffix}"));
        let report = suite(
            &connectors_dir().join(format!("dest-file{suffix}")),
            serde_json::json!({"path": out.display().to_string()}),
            Options {
                paired: Some((
                    paired,
                    serde_json::json!({"path": out.display().to_string()}),
                )),
                ..options()
            },
        );
        assert_conforms(&report);
        for id in [
            "write.append.readback",
            "write.replace.readback",
            "write.replace.rerun",
        ] {
            assert_eq!(
                report.check(id).map(|c| c.status),
                Some(Status::Pass),
                "{id} ({suffix})"
            );
        }
    }
}

#[test]
fn the_postgres_connectors_conform() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql(
        "src",
        "CREATE TABLE items (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
         INSERT INTO items SELECT g, 'v' || g, timestamptz '2024-01-01' + g * interval '1 s' FROM generate_series(1, 20000) g;",
    );
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("append");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nPGPASSWORD='{PASSWORD}' psql -qAt -h 127.0.0.1 -p {} -U postgres -d src \
             -c \"INSERT INTO $1 (id, v, updated_at) SELECT m + g, 'new', timestamptz '2030-01-01' + (m + g) * interval '1 s' FROM (SELECT max(id) AS m FROM $1) t, generate_series(1, 5) g\" >/dev/null\necho 5\n",
            pg.port
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conn = |db: &str| {
        serde_json::json!({"host": "127.0.0.1", "port": pg.port, "user": "postgres",
                           "password": PASSWORD, "database": db})
    };
    // The components, and the WasmEdge-style builds through the shim.
    for suffix in ["", "-wasmedge"] {
        let report = suite(
            &connectors_dir().join(format!("source-postgres{suffix}")),
            conn("src"),
            Options {
                fixture: Some(dir.path().to_path_buf()),
                ..Options::default()
            },
        );
        assert_conforms(&report);
        assert_eq!(
            report.check("config.wrong_credentials").unwrap().status,
            Status::Pass
        );
        assert!(
            report
                .check("read.incremental")
                .unwrap()
                .message
                .contains("exactly the 5 appended"),
            "{}",
            report.render()
        );

        let paired = registry::resolve(
            &connectors_dir()
                .join(format!("source-postgres{suffix}"))
                .display()
                .to_string(),
            None,
            settings(),
        )
        .unwrap();
        let mut dst = conn("src");
        dst["schema"] = serde_json::json!(format!("conformance{}", suffix.replace('-', "_")));
        let report = suite(
            &connectors_dir().join(format!("dest-postgres{suffix}")),
            dst.clone(),
            Options {
                paired: Some((paired, dst)),
                ..Options::default()
            },
        );
        assert_conforms(&report);
        for mode in ["append", "replace", "upsert", "merge"] {
            let id = format!("write.{mode}.readback");
            assert_eq!(
                report.check(&id).map(|c| c.status),
                Some(Status::Pass),
                "{id} ({suffix})"
            );
        }
    }
}

/// The same contract in other languages: Python (componentize-py) and
/// JavaScript (componentize-js) sources pass the suite, and run in a
/// pipeline with incremental state like any other source.
#[test]
fn the_python_and_javascript_sources_conform_and_sync_incrementally() {
    for name in ["source-sequence-py", "source-sequence-js"] {
        let report = suite(
            &connectors_dir().join(name),
            serde_json::json!({"rows": 20_000}),
            Options::default(),
        );
        assert_conforms(&report);
        assert_eq!(
            report.check("read.cancellation").map(|c| c.status),
            Some(Status::Pass),
            "{name}\n{}",
            report.render()
        );

        let p = rapidbyte_tests::Project::new();
        let yaml = |rows: u32| {
            format!(
                "version: \"1.0\"\npipeline: poly\nsource:\n  use: {name}\n  config:\n    rows: {rows}\n  streams:\n    - name: sequence\n      sync_mode: incremental\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: append\nresources:\n  max_batch_bytes: 64kb\n"
            )
        };
        assert_eq!(
            p.run_ok(&yaml(5000)).streams[0].records_written,
            5000,
            "{name}"
        );
        assert_eq!(
            p.run_ok(&yaml(5000)).streams[0].records_written,
            0,
            "{name}"
        );
        assert_eq!(
            p.run_ok(&yaml(5100)).streams[0].records_written,
            100,
            "{name}"
        );
        let batches = p.read_parquet("out/sequence.parquet");
        let mut n = rapidbyte_tests::i64_column(&batches, "n");
        n.sort();
        assert_eq!(n, (0..5100).collect::<Vec<i64>>(), "{name}: every row once");
        let labels: usize = batches
            .iter()
            .map(|b| b.column_by_name("label").unwrap().null_count())
            .sum();
        assert_eq!(labels, 510, "{name}: NULL on every tenth row");
    }
}

/// `source-rest` against the local HTTPS fixture (a CA the test makes,
/// handed over inline as `ca_bundle`) passes the suite, sandbox checks
/// included.
#[test]
fn the_rest_source_conforms_against_a_real_https_api() {
    let ca = rapidbyte_tests::certs::TestCa::new("Rapidbyte REST CA");
    let server =
        rapidbyte_tests::rest::RestServer::start(&ca, &["--records", "120", "--bearer", "tok"]);
    let config = serde_json::json!({
        "base_url": format!("https://localhost:{}", server.port),
        "ca_bundle": ca.cert_pem,
        "auth": {"type": "bearer", "token": "tok"},
        "streams": [{
            "name": "issues",
            "path": "/repos/acme/widgets/issues",
            "params": {"per_page": 50},
            "pagination": {"type": "link_header"},
            "cursor_field": "updated_at",
            "primary_key": ["id"],
            "cursor_param": "since"
        }]
    });
    let report = suite(
        &connectors_dir().join("source-rest"),
        config,
        Options::default(),
    );
    assert_conforms(&report);
    assert_eq!(
        report.check("sandbox.declared_only").map(|c| c.status),
        Some(Status::Pass),
        "{}",
        report.render()
    );
}
