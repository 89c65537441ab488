//! `source-postgres` against a real PostgreSQL server (throwaway cluster):
//! discover, validate errors, and a full refresh of a type-rich table to
//! Parquet, checked value by value.

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int16Type, Int32Type, TimestampMicrosecondType};
use arrow_array::Array;
use arrow_schema::{DataType, TimeUnit};
use rapidbyte_tests::pg::{PgCluster, PASSWORD};
use rapidbyte_tests::{i64_column, rows, stream, Project};

fn pipeline(pg: &PgCluster, password: &str, database: &str, extra_source: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: pg\nsource:\n  use: rapidbyte/source-postgres\n  config:\n    host: 127.0.0.1\n    port: {}\n    user: postgres\n    password: \"{password}\"\n    database: {database}\n{extra_source}destination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n    schema: pg\n  write_mode: replace\n",
        pg.port
    )
}

const SETUP: &str = "
CREATE TABLE events (
  id bigint PRIMARY KEY,
  small smallint,
  n int,
  price numeric(12,2),
  ratio float8,
  ok boolean,
  at timestamptz,
  local_at timestamp,
  day date,
  payload jsonb,
  tags text[],
  uid uuid,
  note text,
  raw bytea
);
INSERT INTO events
SELECT g, (g % 100)::smallint, g * 3, (g * 1.25)::numeric(12,2), g / 7.0, g % 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
       timestamp '2024-01-01 00:00:00' + g * interval '1 second',
       date '2024-01-01' + (g % 365),
       jsonb_build_object('g', g, 'even', g % 2 = 0),
       ARRAY['a', 'b' || g],
       md5(g::text)::uuid,
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'note ' || g || ' ünïcödé, \"quoted\"' END,
       decode(lpad(to_hex(g), 8, '0'), 'hex')
FROM generate_series(1, 5000) g;
CREATE TABLE empty_one (k int PRIMARY KEY, v text);
CREATE VIEW even_events AS SELECT id, note FROM events WHERE id % 2 = 0;
";

#[test]
fn reads_tables_exactly_and_reports_errors_clearly() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("src", SETUP);
    let p = Project::new();

    // Full refresh of every table and view.
    let report = p.run_ok(&pipeline(&pg, PASSWORD, "src", ""));
    let by = |n: &str| stream(&report, n).records_written;
    assert_eq!(
        (by("events"), by("empty_one"), by("even_events")),
        (5000, 0, 2500)
    );

    let batches = p.read_parquet("out/pg/events.parquet");
    assert_eq!(rows(&batches), 5000);
    let schema = batches[0].schema();
    let ty = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
    assert_eq!(ty("id"), DataType::Int64);
    assert_eq!(ty("small"), DataType::Int16);
    assert_eq!(ty("ok"), DataType::Boolean);
    assert_eq!(
        ty("at"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        ty("local_at"),
        DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(ty("day"), DataType::Date32);
    assert_eq!(ty("raw"), DataType::Binary);
    assert_eq!(ty("price"), DataType::Utf8, "numeric travels as exact text");
    assert_eq!(
        schema
            .field_with_name("price")
            .unwrap()
            .metadata()
            .get("rapidbyte.pg_type")
            .map(String::as_str),
        Some("numeric(12,2)")
    );

    let ids = i64_column(&batches, "id");
    assert_eq!(ids.len(), 5000);
    // Compare the first rows value by value with what the server says.
    let b = &batches[0];
    let idx = ids.iter().position(|&i| i == 7).unwrap();
    let expected = pg.psql(
        "src",
        "SELECT small, n, price, ratio, ok, extract(epoch from at)::bigint, \
                extract(epoch from local_at)::bigint, day - date '1970-01-01', payload::text, \
                tags::text, uid::text, note, encode(raw, 'hex') FROM events WHERE id = 7",
    );
    let e: Vec<&str> = expected.split('|').collect();
    assert_eq!(
        b.column_by_name("small")
            .unwrap()
            .as_primitive::<Int16Type>()
            .value(idx)
            .to_string(),
        e[0]
    );
    assert_eq!(
        b.column_by_name("n")
            .unwrap()
            .as_primitive::<Int32Type>()
            .value(idx)
            .to_string(),
        e[1]
    );
    assert_eq!(
        b.column_by_name("price")
            .unwrap()
            .as_string::<i32>()
            .value(idx),
        e[2]
    );
    let ratio = b
        .column_by_name("ratio")
        .unwrap()
        .as_primitive::<Float64Type>()
        .value(idx);
    assert_eq!(ratio, e[3].parse::<f64>().unwrap());
    assert_eq!(
        b.column_by_name("ok").unwrap().as_boolean().value(idx),
        e[4] == "t"
    );
    let at = b
        .column_by_name("at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .value(idx);
    assert_eq!((at / 1_000_000).to_string(), e[5]);
    let local = b
        .column_by_name("local_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .value(idx);
    assert_eq!((local / 1_000_000).to_string(), e[6]);
    assert_eq!(
        b.column_by_name("day")
            .unwrap()
            .as_primitive::<Date32Type>()
            .value(idx)
            .to_string(),
        e[7]
    );
    assert_eq!(
        b.column_by_name("payload")
            .unwrap()
            .as_string::<i32>()
            .value(idx),
        e[8]
    );
    assert_eq!(
        b.column_by_name("tags")
            .unwrap()
            .as_string::<i32>()
            .value(idx),
        e[9]
    );
    assert_eq!(
        b.column_by_name("uid")
            .unwrap()
            .as_string::<i32>()
            .value(idx),
        e[10]
    );
    assert_eq!(
        b.column_by_name("note")
            .unwrap()
            .as_string::<i32>()
            .value(idx),
        e[11]
    );
    let raw: String = b
        .column_by_name("raw")
        .unwrap()
        .as_binary::<i32>()
        .value(idx)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    assert_eq!(raw, e[12]);
    let tenth = ids.iter().position(|&i| i == 10).unwrap();
    assert!(
        b.column_by_name("note").unwrap().is_null(tenth),
        "NULL stays NULL"
    );

    // Wrong password: an auth error naming the server, before any stream runs.
    let err = p
        .run(&pipeline(&pg, "wrong", "src", ""))
        .expect_err("bad password")
        .to_string();
    assert!(
        err.contains("password") && err.contains("[auth/auth_failed]"),
        "{err}"
    );
    // Unknown database: a config error.
    let err = p
        .run(&pipeline(&pg, PASSWORD, "nope", ""))
        .expect_err("bad database")
        .to_string();
    assert!(
        err.contains("nope") && err.contains("[config/unknown_database]"),
        "{err}"
    );
    // A stream that is not a table of the schema.
    let streams = "  streams:\n    - name: missing_table\n";
    let err = p
        .run(&pipeline(&pg, PASSWORD, "src", streams))
        .expect_err("unknown table")
        .to_string();
    assert!(
        err.contains("missing_table") && err.contains("events"),
        "{err}"
    );
    // Nothing listens on this port: a network error.
    let closed = PgCluster::start();
    let port = closed.port;
    drop(closed);
    let yaml = pipeline(&pg, PASSWORD, "src", "")
        .replace(&format!("port: {}", pg.port), &format!("port: {port}"));
    let err = p.run(&yaml).expect_err("nothing listening").to_string();
    assert!(
        err.contains("cannot connect") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn incremental_resumes_after_the_last_cursor_and_key_with_ties() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    // Many rows share each cursor value: ties across batch and run boundaries.
    pg.psql(
        "src",
        "CREATE TABLE ticks (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, v text);
         INSERT INTO ticks SELECT g, timestamptz '2024-01-01' + (g / 100) * interval '1 hour', 'v' || g
         FROM generate_series(1, 3000) g;",
    );
    let p = Project::new();
    let yaml = format!(
        "version: \"1.0\"\npipeline: pgi\nsource:\n  use: rapidbyte/source-postgres\n  config:\n    host: 127.0.0.1\n    port: {}\n    user: postgres\n    password: \"{PASSWORD}\"\n    database: src\n  streams:\n    - name: ticks\n      sync_mode: incremental\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: append\nresources:\n  max_batch_bytes: 16kb\n",
        pg.port
    );
    let first = p.run_ok(&yaml);
    assert_eq!(first.streams[0].records_written, 3000);
    assert!(first.streams[0].checkpoints >= 1);
    assert_eq!(p.run_ok(&yaml).streams[0].records_read, 0, "nothing new");

    // New rows that tie with the saved cursor value (a higher key), and later ones.
    pg.psql(
        "src",
        "INSERT INTO ticks SELECT g, timestamptz '2024-01-01' + 30 * interval '1 hour', 'tie' || g
           FROM generate_series(3001, 3050) g;
         INSERT INTO ticks SELECT g, timestamptz '2024-02-01', 'late' || g FROM generate_series(3051, 3100) g;",
    );
    let third = p.run_ok(&yaml);
    assert_eq!(third.streams[0].records_read, 100);
    let mut ids = i64_column(&p.read_parquet("out/ticks.parquet"), "id");
    ids.sort();
    assert_eq!(
        ids,
        (1..=3100).collect::<Vec<i64>>(),
        "no row lost or read twice"
    );

    // The saved position names cursor and key.
    let state =
        rapidbyte_host::state::SqliteState::open(&p.path().join(".rapidbyte/state.db")).unwrap();
    use rapidbyte_host::state::StateBackend;
    let saved = state
        .get_cursor("pgi", "ticks")
        .unwrap()
        .unwrap()
        .cursor_value
        .unwrap();
    assert!(
        saved.contains("\"cursor_field\":\"updated_at\"") && saved.contains("\"key\":[\"3100\"]"),
        "{saved}"
    );
}

#[test]
fn rows_with_a_null_cursor_are_read_once_and_never_break_the_saved_position() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql(
        "src",
        "CREATE TABLE notes (id int PRIMARY KEY, updated_at timestamptz, v text);
         INSERT INTO notes SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE timestamptz '2024-01-01' + g * interval '1 s' END, 'v'
         FROM generate_series(1, 2000) g;",
    );
    let p = Project::new();
    let yaml = format!(
        "version: \"1.0\"\npipeline: pgn\nsource:\n  use: rapidbyte/source-postgres\n  config:\n    host: 127.0.0.1\n    port: {}\n    user: postgres\n    password: \"{PASSWORD}\"\n    database: src\n  streams:\n    - name: notes\n      sync_mode: incremental\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: append\nresources:\n  max_batch_bytes: 8kb\n",
        pg.port
    );
    assert_eq!(p.run_ok(&yaml).streams[0].records_read, 2000);
    assert_eq!(p.run_ok(&yaml).streams[0].records_read, 0);
    pg.psql(
        "src",
        "INSERT INTO notes VALUES (2001, '2030-01-01', 'new'), (2002, NULL, 'no cursor')",
    );
    assert_eq!(
        p.run_ok(&yaml).streams[0].records_read,
        1,
        "the new row with a cursor; a NULL cursor is only read by the first run"
    );
}
