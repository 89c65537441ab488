//! `dest-postgres` upsert and merge, through `source-postgres`: rows update
//! in place, reruns are idempotent, the last row for a key wins, schema
//! growth adds columns, and bad keys fail with an error naming the stream.

use rapidbyte_tests::pg::PgCluster;
use rapidbyte_tests::Project;

fn checksum(pg: &PgCluster, db: &str, query: &str) -> String {
    rapidbyte_tests::pg_checksum(pg, db, &format!("({query})"))
}

fn pipeline(pg: &PgCluster, streams: &str, destination: &str) -> String {
    let conn = rapidbyte_tests::pg_connection(pg, "postgres");
    format!(
        "version: \"1.0\"\npipeline: modes\nsource:\n  use: rapidbyte/source-postgres\n  config:\n{conn}    database: src\n{streams}destination:\n  use: rapidbyte/dest-postgres\n  config:\n{conn}    database: dst\n    schema: out\n{destination}resources:\n  max_batch_bytes: 16kb\n"
    )
}

fn setup() -> (PgCluster, Project) {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql(
        "src",
        "CREATE TABLE items (id int PRIMARY KEY, v text, n int, updated_at timestamptz NOT NULL);
         INSERT INTO items SELECT g, 'v' || g, g, timestamptz '2024-01-01' + (g / 10) * interval '1 minute'
         FROM generate_series(1, 3000) g;",
    );
    (pg, Project::new())
}

#[test]
fn upsert_updates_in_place_and_is_idempotent() {
    let (pg, p) = setup();
    // Keys default to the source's primary key.
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n",
        "  write_mode: upsert\n",
    );
    assert_eq!(p.run_ok(&yaml).streams[0].records_written, 3000);
    let src = || checksum(&pg, "src", "SELECT * FROM items");
    assert_eq!(checksum(&pg, "dst", "SELECT * FROM out.items"), src());

    pg.psql(
        "src",
        "UPDATE items SET v = 'changed', n = NULL WHERE id % 100 = 0;
         INSERT INTO items SELECT g, 'new', g, now() FROM generate_series(3001, 3050) g;",
    );
    p.run_ok(&yaml);
    assert_eq!(checksum(&pg, "dst", "SELECT * FROM out.items"), src());
    p.run_ok(&yaml);
    assert_eq!(checksum(&pg, "dst", "SELECT * FROM out.items"), src());
    assert_eq!(
        pg.psql(
            "dst",
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'out.items'::regclass AND contype = 'p'"
        ),
        "1",
        "the upsert target gets its keys as primary key"
    );

    // Schema growth: a new source column is added to the target.
    pg.psql(
        "src",
        "ALTER TABLE items ADD COLUMN extra text; UPDATE items SET extra = 'x' || id WHERE id <= 10",
    );
    p.run_ok(&yaml);
    assert_eq!(checksum(&pg, "dst", "SELECT * FROM out.items"), src());
}

#[test]
fn incremental_upsert_applies_changed_rows_exactly() {
    let (pg, p) = setup();
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n      sync_mode: incremental\n      cursor_field: updated_at\n",
        "  write_mode: upsert\n  primary_key: [id]\n",
    );
    assert_eq!(p.run_ok(&yaml).streams[0].records_written, 3000);
    pg.psql(
        "src",
        "UPDATE items SET v = 'edited', updated_at = timestamptz '2025-01-01' WHERE id <= 25",
    );
    assert_eq!(p.run_ok(&yaml).streams[0].records_written, 25);
    assert_eq!(p.run_ok(&yaml).streams[0].records_written, 0);
    assert_eq!(
        checksum(&pg, "dst", "SELECT * FROM out.items"),
        checksum(&pg, "src", "SELECT * FROM items")
    );
}

#[test]
fn upsert_keeps_the_last_row_for_a_key_and_rejects_null_keys() {
    let (pg, p) = setup();
    pg.psql(
        "src",
        "CREATE VIEW dupes AS SELECT * FROM (VALUES (1, 'first'), (2, 'only'), (1, 'last')) v(id, v);
         CREATE VIEW nullkeys AS SELECT * FROM (VALUES (1, 'a'), (NULL, 'b')) v(id, v);",
    );
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: dupes\n",
        "  write_mode: upsert\n  primary_key: [id]\n",
    );
    p.run_ok(&yaml);
    assert_eq!(
        pg.psql(
            "dst",
            "SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM out.dupes"
        ),
        "1=last,2=only"
    );

    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: nullkeys\n",
        "  write_mode: upsert\n  primary_key: [id]\n",
    );
    let report = p.run(&yaml).unwrap();
    let err = report.streams[0].error.clone().expect("a NULL key fails");
    assert!(
        err.contains("nullkeys") && err.contains("NULL") && err.contains("id"),
        "{err}"
    );

    // A view has no primary key: upsert without keys is a config error.
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: dupes\n",
        "  write_mode: upsert\n",
    );
    let err = p.start_error(&yaml);
    assert!(
        err.contains("destination.primary_key") && err.contains("dupes"),
        "{err}"
    );
    // A key that is not a column.
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n",
        "  write_mode: upsert\n  primary_key: [nope]\n",
    );
    let err = p.start_error(&yaml);
    assert!(err.contains("nope") && err.contains("items"), "{err}");
}

#[test]
fn upsert_into_a_table_without_a_unique_key_says_what_to_do() {
    let (pg, p) = setup();
    pg.psql(
        "dst",
        "CREATE SCHEMA out; CREATE TABLE out.items (id int, v text, n int, updated_at timestamptz)",
    );
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n",
        "  write_mode: upsert\n",
    );
    let report = p.run(&yaml).unwrap();
    let err = report.streams[0].error.clone().expect("no unique index");
    assert!(
        err.contains("unique index") && err.contains("merge"),
        "{err}"
    );
    assert_eq!(pg.psql("dst", "SELECT count(*) FROM out.items"), "0");
}

#[test]
fn merge_updates_only_the_chosen_columns() {
    let (pg, p) = setup();
    // The target exists, without a unique index, with a column of its own.
    pg.psql(
        "dst",
        "CREATE SCHEMA out;
         CREATE TABLE out.items (id int, v text, n int, updated_at timestamptz, local_note text);
         INSERT INTO out.items SELECT g, 'old', -g, '2020-01-01', 'keep' FROM generate_series(1, 100) g;",
    );
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n",
        "  write_mode: merge\n  merge_keys: [id]\n  update_columns: [v]\n",
    );
    p.run_ok(&yaml);
    let matched = pg.psql(
        "dst",
        "SELECT count(*) FROM out.items WHERE id <= 100 AND v = 'v' || id AND n = -id AND local_note = 'keep'",
    );
    assert_eq!(matched, "100", "matched rows: only v changes");
    let inserted = checksum(
        &pg,
        "dst",
        "SELECT id, v, n, updated_at FROM out.items WHERE id > 100",
    );
    let want = checksum(
        &pg,
        "src",
        "SELECT id, v, n, updated_at FROM items WHERE id > 100",
    );
    assert_eq!(inserted, want, "unmatched rows are inserted whole");
    let before = checksum(&pg, "dst", "SELECT * FROM out.items");
    p.run_ok(&yaml);
    assert_eq!(
        checksum(&pg, "dst", "SELECT * FROM out.items"),
        before,
        "merge is idempotent"
    );

    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: items\n",
        "  write_mode: merge\n  merge_keys: [id]\n  update_columns: [missing]\n",
    );
    let err = p.start_error(&yaml);
    assert!(
        err.contains("destination.update_columns") && err.contains("missing"),
        "{err}"
    );
}
