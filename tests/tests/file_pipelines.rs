//! End-to-end: real pipelines through the built `source-file` and
//! `dest-file` components.

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::Array;
use arrow_schema::DataType;
use rapidbyte_tests::{i64_column, read_parquet, rows, stream, Project};

const USERS: &str = "id,name,score,active,joined,updated_at\n\
1,Ada,1.5,true,2024-01-01,2024-01-01T10:00:00\n\
2,\"O'Brien, Pat\",2.25,false,2024-02-01,2024-02-01T10:00:00\n\
3,Zoë 李雷,,true,2024-03-01,2024-03-01T10:00:00\n";

fn pipeline(streams: &str, dest: &str, write_mode: &str, extra: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\n{streams}destination:\n  use: rapidbyte/dest-file\n  config:\n{dest}  write_mode: {write_mode}\n{extra}"
    )
}

fn incremental(name: &str, cursor: &str) -> String {
    format!("  streams:\n    - name: {name}\n      sync_mode: incremental\n      cursor_field: {cursor}\n")
}

const PARQUET_OUT: &str = "    path: out\n    schema: raw\n";

#[test]
fn csv_to_parquet_keeps_types_and_values() {
    let p = Project::new();
    p.write("data/users.csv", USERS);
    let report = p.run_ok(&pipeline("", PARQUET_OUT, "replace", ""));
    assert_eq!(report.streams.len(), 1);
    let s = &report.streams[0];
    assert_eq!((s.records_read, s.records_written), (3, 3));
    assert!(s.bytes > 0 && s.peak_memory > 0);

    let batches = p.read_parquet("out/raw/users.parquet");
    assert_eq!(rows(&batches), 3);
    let schema = batches[0].schema();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("score").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        schema.field_with_name("active").unwrap().data_type(),
        &DataType::Boolean
    );
    assert_eq!(
        schema.field_with_name("joined").unwrap().data_type(),
        &DataType::Date32
    );
    assert!(matches!(
        schema.field_with_name("updated_at").unwrap().data_type(),
        DataType::Timestamp(_, None)
    ));
    assert_eq!(i64_column(&batches, "id"), vec![1, 2, 3]);
    let names: Vec<String> = batches[0]
        .column_by_name("name")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(names, ["Ada", "O'Brien, Pat", "Zoë 李雷"]);
    let score = batches[0]
        .column_by_name("score")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(score.value(1), 2.25);
    assert!(score.is_null(2));
    let ts = batches[0].column_by_name("updated_at").unwrap();
    assert_eq!(ts.null_count(), 0);

    // Replace: a rerun leaves exactly the source rows.
    p.run_ok(&pipeline("", PARQUET_OUT, "replace", ""));
    assert_eq!(rows(&p.read_parquet("out/raw/users.parquet")), 3);
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(p.path().join("out/raw"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn incremental_reads_nothing_then_exactly_the_appended_rows() {
    let p = Project::new();
    p.write("data/users.csv", USERS);
    let yaml = pipeline(&incremental("users", "id"), PARQUET_OUT, "append", "");
    let first = p.run_ok(&yaml);
    assert_eq!(first.streams[0].records_written, 3);
    assert_eq!(first.streams[0].checkpoints, 1);

    let second = p.run_ok(&yaml);
    assert_eq!(second.streams[0].records_read, 0);
    assert_eq!(rows(&p.read_parquet("out/raw/users.parquet")), 3);

    p.append("data/users.csv", "4,Dee,4.0,true,2024-04-01,2024-04-01T10:00:00\n5,Eve,5.5,false,2024-05-01,2024-05-01T10:00:00\n");
    let third = p.run_ok(&yaml);
    assert_eq!(third.streams[0].records_read, 2);
    assert_eq!(third.streams[0].records_written, 2);
    let ids = i64_column(&p.read_parquet("out/raw/users.parquet"), "id");
    assert_eq!(ids, vec![1, 2, 3, 4, 5], "no row lost or duplicated");

    // The cursor is in the state database, committed after the write.
    let state =
        rapidbyte_host::state::SqliteState::open(&p.path().join(".rapidbyte/state.db")).unwrap();
    use rapidbyte_host::state::StateBackend;
    let cur = state.get_cursor("t", "users").unwrap().unwrap();
    assert_eq!(cur.cursor_field.as_deref(), Some("id"));
    assert!(cur.cursor_value.unwrap().contains("\"value\":5"));
    let runs = state.recent_runs("t", 10).unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.status == "completed"));
}

#[test]
fn incremental_on_a_timestamp_cursor_with_a_directory_stream() {
    let p = Project::new();
    p.write("data/events/2024-01.jsonl", "{\"id\": 1, \"at\": \"2024-01-01T00:00:00\", \"kind\": \"a\"}\n{\"id\": 2, \"at\": \"2024-01-02T00:00:00\", \"kind\": \"b\"}\n");
    let yaml = pipeline(
        &incremental("events", "at"),
        "    path: out\n    format: jsonl\n",
        "append",
        "",
    );
    let first = p.run_ok(&yaml);
    assert_eq!(first.streams[0].records_written, 2);
    // A new file in the stream's directory: only its newer rows are read.
    p.write(
        "data/events/2024-02.jsonl",
        "{\"id\": 3, \"at\": \"2024-02-01T00:00:00\", \"kind\": \"c\"}\n",
    );
    let second = p.run_ok(&yaml);
    assert_eq!(second.streams[0].records_read, 1);
    let out = std::fs::read_to_string(p.path().join("out/events.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("\"kind\":\"c\""));
}

#[test]
fn parquet_source_and_csv_destination_with_declared_schema() {
    let p = Project::new();
    p.write("data/users.csv", USERS);
    // 1. CSV -> Parquet with a declared schema (score as utf8 on purpose).
    let extra_cfg = "    schemas:\n      users: { id: int32, name: utf8, score: utf8, active: bool, joined: date, updated_at: timestamp }\n";
    let yaml = format!(
        "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\n{extra_cfg}destination:\n  use: rapidbyte/dest-file\n  config:\n    path: pq\n  write_mode: replace\n"
    );
    p.run_ok(&yaml);
    let batches = p.read_parquet("pq/users.parquet");
    assert_eq!(
        batches[0]
            .schema()
            .field_with_name("id")
            .unwrap()
            .data_type(),
        &DataType::Int32
    );
    assert_eq!(
        batches[0]
            .schema()
            .field_with_name("score")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    // 2. That Parquet -> CSV.
    let yaml = "version: \"1.0\"\npipeline: t2\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: pq\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: csv\n    format: csv\n  write_mode: replace\n";
    let report = p.run_ok(yaml);
    assert_eq!(report.streams[0].records_written, 3);
    let csv = std::fs::read_to_string(p.path().join("csv/users.csv")).unwrap();
    assert!(
        csv.starts_with("id,name,score,active,joined,updated_at\n"),
        "{csv}"
    );
    assert!(csv.contains("\"O'Brien, Pat\""), "{csv}");
    assert_eq!(csv.lines().count(), 4);
}

#[test]
fn small_batches_and_parallel_streams() {
    let p = Project::new();
    let mut big = String::from("n,text\n");
    for i in 0..20_000 {
        big.push_str(&format!("{i},row number {i} with some padding text\n"));
    }
    p.write("data/a.csv", &big);
    p.write("data/b.csv", &big);
    p.write("data/c.csv", USERS);
    let yaml = pipeline(
        "",
        "    path: out\n",
        "replace",
        "resources:\n  max_batch_bytes: 64kb\n  parallelism: 2\n",
    );
    let report = p.run_ok(&yaml);
    let by_name = |n: &str| stream(&report, n).records_written;
    assert_eq!(
        (by_name("a"), by_name("b"), by_name("c")),
        (20_000, 20_000, 3)
    );
    let a = read_parquet(&p.path().join("out/a.parquet"));
    assert_eq!(rows(&a), 20_000);
    assert_eq!(i64_column(&a, "n"), (0..20_000).collect::<Vec<i64>>());
}

#[test]
fn a_bad_stream_fails_alone_and_names_its_file() {
    let p = Project::new();
    p.write("data/good.csv", USERS);
    p.write("data/bad.csv", "id,amount\n1,10\n2,not-a-number\n");
    let cfg = "    schemas:\n      bad: { id: int64, amount: int64 }\n";
    let yaml = format!(
        "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\n{cfg}destination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
    );
    let report = p.run(&yaml).unwrap();
    let bad = stream(&report, "bad");
    let good = stream(&report, "good");
    assert!(good.error.is_none(), "{:?}", good.error);
    let err = bad.error.as_deref().unwrap();
    assert!(
        err.contains("bad.csv") && err.contains("source-file") && err.contains("`bad`"),
        "{err}"
    );
    // The failed replace left no output and no half-written file.
    assert!(!p.path().join("out/bad.parquet").exists());
    assert!(!report.success());
    // The failed run is recorded.
    use rapidbyte_host::state::StateBackend;
    let state =
        rapidbyte_host::state::SqliteState::open(&p.path().join(".rapidbyte/state.db")).unwrap();
    let runs = state.recent_runs("t", 10).unwrap();
    assert!(runs
        .iter()
        .any(|r| r.stream == "bad" && r.status == "failed" && r.error_message.is_some()));
}

#[test]
fn configuration_mistakes_are_reported_before_running() {
    let p = Project::new();
    p.write("data/users.csv", USERS);
    let cases = [
        (pipeline(&incremental("nope", "id"), PARQUET_OUT, "append", ""), "stream `nope` is not offered"),
        (pipeline(&incremental("users", "missing"), PARQUET_OUT, "append", ""), "`missing` is not a column"),
        (
            pipeline("", "    path: out\n    colour: blue\n", "append", ""),
            "destination.config.colour",
        ),
        (
            pipeline("", "    path: out\n", "upsert\n  primary_key: [id]", ""),
            "`dest-file` supports append, replace, not upsert",
        ),
        (
            "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/source-nope\ndestination:\n  use: rapidbyte/dest-file\n".to_string(),
            "connector `rapidbyte/source-nope` not found",
        ),
        (
            "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: no-such-dir\ndestination:\n  use: rapidbyte/dest-file\n".to_string(),
            "source.config.path",
        ),
        (
            "version: \"1.0\"\npipeline: t\nsource:\n  use: rapidbyte/dest-file\ndestination:\n  use: rapidbyte/dest-file\n".to_string(),
            "is a destination connector, not a source",
        ),
    ];
    for (yaml, expected) in cases {
        let msg = match p.run(&yaml) {
            Err(e) => e.to_string(),
            Ok(r) => r
                .streams
                .iter()
                .filter_map(|s| s.error.clone())
                .collect::<Vec<_>>()
                .join("; "),
        };
        assert!(msg.contains(expected), "expected `{expected}` in: {msg}");
    }
}
