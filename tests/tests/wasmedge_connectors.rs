//! Connectors built the WasmEdge way (`wasm32-wasip1` core modules speaking
//! the flat ABI, networking through WasmEdge's socket extension) run on the
//! shim: the same connector sources as the components, built with
//! guest-sdk's `wasmedge` feature and staged as `<name>-wasmedge` by
//! `scripts/build-connectors.sh`. Their results equal the components'.

use rapidbyte_host::registry;
use rapidbyte_host::runtime::{Code, RuntimeError};
use rapidbyte_tests::pg::PgCluster;
use rapidbyte_tests::pg_checksum as checksum;
use rapidbyte_tests::{connectors_dir, i64_column, runtime, settings, Project};

#[test]
fn the_wasmedge_builds_are_core_modules() {
    for name in [
        "source-file",
        "dest-file",
        "source-postgres",
        "dest-postgres",
    ] {
        let connector = registry::resolve(
            &connectors_dir()
                .join(format!("{name}-wasmedge"))
                .display()
                .to_string(),
            None,
            settings(),
        )
        .expect("staged");
        let loaded = runtime().load(&connector.wasm).expect("loads");
        assert!(
            matches!(loaded.code, Code::Module(_)),
            "{name}-wasmedge should be a core module"
        );
        assert_eq!(Some(loaded.kind), connector.manifest.kind, "{name}");
    }
}

#[test]
fn a_wasmedge_file_source_syncs_incrementally() {
    let p = Project::new();
    p.write("data/orders.csv", "id,name\n1,a\n2,b\n3,\"c, d\"\n");
    let yaml = "version: \"1.0\"\npipeline: we\nsource:\n  use: rapidbyte/source-file-wasmedge\n  config:\n    path: data\n  streams:\n    - name: orders\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: rapidbyte/dest-file-wasmedge\n  config:\n    path: out\n    format: parquet\n  write_mode: append\n";
    let report = p.run_ok(yaml);
    assert_eq!(report.streams[0].records_written, 3);
    p.append("data/orders.csv", "4,e\n");
    let report = p.run_ok(yaml);
    assert_eq!(report.streams[0].records_written, 1, "only the new row");
    let ids = i64_column(&p.read_parquet("out/orders.parquet"), "id");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 2, 3, 4], "no row lost or duplicated");
}

const TABLE: &str = "
CREATE TABLE events (
  id bigint PRIMARY KEY, n int, price numeric(12,2), ratio float8, ok boolean,
  at timestamptz, day date, payload jsonb, tags text[], uid uuid, note text, raw bytea,
  updated_at timestamptz NOT NULL
);
INSERT INTO events
SELECT g, g * 3, (g * 1.25)::numeric(12,2), g / 7.0, g % 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', date '2024-01-01' + (g % 365),
       jsonb_build_object('g', g), CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['a', 'b' || g] END,
       md5(g::text)::uuid, CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g || ' ünïcödé' END,
       decode(lpad(to_hex(g), 8, '0'), 'hex'),
       timestamptz '2024-01-01' + (g / 50) * interval '1 hour'
FROM generate_series(1, 20000) g;
";

fn pg_pipeline(pg: &PgCluster, suffix: &str, schema: &str, mode: &str) -> String {
    let conn = rapidbyte_tests::pg_connection(pg, "postgres");
    format!(
        "version: \"1.0\"\npipeline: pg2pg{suffix}\nsource:\n  use: rapidbyte/source-postgres{suffix}\n  config:\n{conn}    database: src\n  streams:\n    - name: events\n      sync_mode: incremental\n      cursor_field: updated_at\ndestination:\n  use: rapidbyte/dest-postgres{suffix}\n  config:\n{conn}    database: dst\n    schema: {schema}\n  write_mode: {mode}\nresources:\n  max_batch_bytes: 256kb\n"
    )
}

#[test]
fn postgres_to_postgres_through_the_shim_equals_the_component_build() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql("src", TABLE);
    let p = Project::new();
    let want = checksum(&pg, "src", "public.events");

    let component = p.run_ok(&pg_pipeline(&pg, "", "by_component", "upsert"));
    let shim = p.run_ok(&pg_pipeline(&pg, "-wasmedge", "by_shim", "upsert"));
    assert_eq!(component.streams[0].records_written, 20000);
    assert_eq!(shim.streams[0].records_written, 20000);
    assert_eq!(checksum(&pg, "dst", "by_component.events"), want);
    assert_eq!(checksum(&pg, "dst", "by_shim.events"), want);
    let types = |schema: &str| {
        pg.psql(
            "dst",
            &format!(
                "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute \
                 WHERE attrelid = '{schema}.events'::regclass AND attnum > 0"
            ),
        )
    };
    assert_eq!(types("by_shim"), types("by_component"));

    // Incremental state through the flat ABI: new and updated rows only.
    pg.psql(
        "src",
        "INSERT INTO events (id, n, updated_at) SELECT g, g, timestamptz '2030-01-01' FROM generate_series(20001, 20100) g;
         UPDATE events SET note = 'changed', updated_at = timestamptz '2030-01-02' WHERE id <= 10;",
    );
    let shim = p.run_ok(&pg_pipeline(&pg, "-wasmedge", "by_shim", "upsert"));
    assert_eq!(shim.streams[0].records_written, 110);
    assert_eq!(
        checksum(&pg, "dst", "by_shim.events"),
        checksum(&pg, "src", "public.events")
    );
    let again = p.run_ok(&pg_pipeline(&pg, "-wasmedge", "by_shim", "upsert"));
    assert_eq!(again.streams[0].records_written, 0, "nothing new");
}

#[test]
fn a_wasmedge_module_reaching_an_undeclared_host_is_denied() {
    let pg = PgCluster::start();
    let p = Project::new();
    // The connector declares one fixed endpoint; the config points elsewhere.
    let staged = connectors_dir().join("source-postgres-wasmedge");
    let dir = p.path().join("components/pg-fixed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        staged.join("source_postgres_wasmedge.wasm"),
        dir.join("source_postgres.wasm"),
    )
    .unwrap();
    std::fs::write(
        dir.join("rapidbyte-plugin.yaml"),
        "name: pg-fixed\nversion: 0.1.0\nkind: source\nwasm:\n  entrypoint: source_postgres.wasm\n  runtime: wasmedge\n  target: wasm32-wasip1\ncapabilities:\n  network:\n    allowed_hosts:\n      - host: 127.0.0.1\n        port: 1\n",
    )
    .unwrap();
    let conn = rapidbyte_tests::pg_connection(&pg, "postgres");
    let yaml = format!(
        "version: \"1.0\"\npipeline: denied\nsource:\n  use: components/pg-fixed\n  config:\n{conn}    database: postgres\n  streams:\n    - name: t\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: append\n"
    );
    let err = p.start_error(&yaml);
    assert!(
        err.contains("127.0.0.1") && err.contains(&pg.port.to_string()),
        "the error names the refused endpoint: {err}"
    );
    let connections = pg.psql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    assert_eq!(connections, "0", "no connection reached the server");
}

#[test]
fn a_core_module_with_unknown_imports_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // (module (import "env" "nope" (func)) (import "env" "other" (func)))
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend([0x01, 0x04, 0x01, 0x60, 0x00, 0x00]);
    let mut imports = vec![0x02];
    for name in ["nope", "other"] {
        imports.extend([0x03, b'e', b'n', b'v', name.len() as u8]);
        imports.extend(name.as_bytes());
        imports.extend([0x00, 0x00]);
    }
    wasm.extend([0x02, imports.len() as u8]);
    wasm.extend(imports);
    let path = dir.path().join("m.wasm");
    std::fs::write(&path, wasm).unwrap();
    match runtime().load(&path) {
        Err(e @ RuntimeError::UnknownImports { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("env::nope") && msg.contains("env::other"),
                "{msg}"
            );
        }
        Err(other) => panic!("expected unknown imports, got {other}"),
        Ok(_) => panic!("a module with unknown imports loaded"),
    }
}

#[test]
fn a_wasmedge_connector_waiting_on_a_silent_server_hits_its_time_limit() {
    // Accepts connections and never answers, like a hung server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let p = Project::new();
    let yaml = format!(
        "version: \"1.0\"\npipeline: silent\nsource:\n  use: rapidbyte/source-postgres-wasmedge\n  config:\n    host: 127.0.0.1\n    port: {port}\n    user: u\n    password: p\n    database: d\n  streams:\n    - name: t\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: append\nresources:\n  timeout: 2s\n"
    );
    let started = std::time::Instant::now();
    let err = p.start_error(&yaml);
    assert!(
        err.contains("time limit") && err.contains("source-postgres-wasmedge"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn compiled_modules_are_cached_like_components() {
    let home = tempfile::tempdir().unwrap();
    let wasm = connectors_dir().join("source-file-wasmedge/source_file_wasmedge.wasm");
    let first = rapidbyte_host::runtime::Runtime::new(home.path())
        .unwrap()
        .load(&wasm)
        .unwrap();
    assert!(!first.from_cache);
    // A fresh engine (a new process, in real use) finds the artifact.
    let second = rapidbyte_host::runtime::Runtime::new(home.path())
        .unwrap()
        .load(&wasm)
        .unwrap();
    assert!(
        second.from_cache,
        "the second load comes from the AOT cache"
    );
    assert!(matches!(second.code, Code::Module(_)));
    assert_eq!(first.sha256, second.sha256);
    assert!(
        second.load_time < first.load_time,
        "{:?} vs {:?}",
        second.load_time,
        first.load_time
    );
}

/// Core modules whose flat ABI comes from wit-bindgen (the file connectors
/// built for wasm32-wasip1 without the `wasmedge` feature) run on the shim
/// too: an independent implementation of the canonical ABI agrees with the
/// host's generated one, for every host function and export they use.
#[test]
fn modules_built_with_wit_bindgen_run_on_the_shim() {
    let p = Project::new();
    let mut csv = String::from("id,name,score\n");
    for i in 1..=5000 {
        csv.push_str(&format!("{i},\"name {i}, ü\",{}.5\n", i % 97));
    }
    p.write("data/orders.csv", &csv);
    let comps = rapidbyte_tests::test_components_dir();
    let pipeline = |src: &str, dst: &str, out: &str| {
        format!(
            "version: \"1.0\"\npipeline: wb{out}\nsource:\n  use: {src}\n  config:\n    path: data\n  streams:\n    - name: orders\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: {dst}\n  config:\n    path: {out}\n    format: parquet\n  write_mode: append\nresources:\n  max_batch_bytes: 64kb\n"
        )
    };
    let via_bindgen = pipeline(
        &comps.join("source-file-witbindgen").display().to_string(),
        &comps.join("dest-file-witbindgen").display().to_string(),
        "out_wb",
    );
    let report = p.run_ok(&via_bindgen);
    assert_eq!(report.streams[0].records_written, 5000);
    let report = p.run_ok(&pipeline(
        "rapidbyte/source-file",
        "rapidbyte/dest-file",
        "out_component",
    ));
    assert_eq!(report.streams[0].records_written, 5000);
    assert_eq!(
        p.read_parquet("out_wb/orders.parquet"),
        p.read_parquet("out_component/orders.parquet")
    );
    // State went through get-state / set-state: a rerun reads nothing new.
    let again = p.run_ok(&via_bindgen);
    assert_eq!(again.streams[0].records_written, 0);
}
