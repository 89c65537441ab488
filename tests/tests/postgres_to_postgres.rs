//! Postgres -> Postgres through `source-postgres` and `dest-postgres`:
//! the destination equals the source row for row and column by column
//! (compared by md5 of each table's rows in text form, ordered by key),
//! replace is idempotent, and incremental append adds exactly the new rows.

use rapidbyte_tests::pg::{PgCluster, PASSWORD};
use rapidbyte_tests::Project;

const TABLE: &str = "
CREATE TABLE events (
  id bigint PRIMARY KEY, small smallint, n int, price numeric(12,2), ratio float8, tiny real,
  ok boolean, at timestamptz, local_at timestamp, day date, payload jsonb, tags text[], uid uuid,
  note text, raw bytea, span interval, updated_at timestamptz NOT NULL
);
INSERT INTO events
SELECT g, (g % 100)::smallint, g * 3, (g * 1.25)::numeric(12,2), g / 7.0, (g / 3.0)::real, g % 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
       timestamp '2024-01-01 00:00:00.123456' + g * interval '1 second',
       date '2024-01-01' + (g % 365),
       jsonb_build_object('g', g, 'nested', jsonb_build_array(1, 'two', null)),
       CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['a', 'b' || g, 'with \"quote\"'] END,
       md5(g::text)::uuid,
       CASE WHEN g % 10 = 0 THEN NULL ELSE E'line\\nbreak\\ttab \\\\ back ' || g || ' ünïcödé' END,
       decode(lpad(to_hex(g), 8, '0'), 'hex'),
       g * interval '1 hour 2 minutes',
       timestamptz '2024-01-01' + (g / 50) * interval '1 hour'
FROM generate_series(1, 4000) g;
INSERT INTO events (id, ratio, updated_at) VALUES (0, 'NaN', '2023-01-01'), (-1, '-Infinity', '2023-01-01');
CREATE TABLE others (id int PRIMARY KEY, v text);
INSERT INTO others SELECT g, 'v' || g FROM generate_series(1, 10) g;
";

fn checksum(pg: &PgCluster, db: &str, table: &str) -> String {
    pg.psql(
        db,
        &format!(
            "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
        ),
    )
}

fn pipeline(pg: &PgCluster, streams: &str, mode: &str) -> String {
    let conn = format!(
        "    host: 127.0.0.1\n    port: {}\n    user: postgres\n    password: \"{PASSWORD}\"\n",
        pg.port
    );
    format!(
        "version: \"1.0\"\npipeline: pg2pg\nsource:\n  use: rapidbyte/source-postgres\n  config:\n{conn}    database: src\n{streams}destination:\n  use: rapidbyte/dest-postgres\n  config:\n{conn}    database: dst\n    schema: copy\n  write_mode: {mode}\nresources:\n  max_batch_bytes: 64kb\n"
    )
}

#[test]
fn postgres_to_postgres_is_exact() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql("src", TABLE);
    let p = Project::new();

    // Two streams at once: both create the destination schema.
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: events\n    - name: others\n",
        "replace",
    );
    let report = p.run_ok(&yaml);
    assert_eq!(report.streams[0].records_written, 4002);
    assert_eq!(report.streams[1].records_written, 10);
    assert_eq!(
        checksum(&pg, "dst", "copy.others"),
        checksum(&pg, "src", "public.others")
    );
    let want = checksum(&pg, "src", "public.events");
    assert_eq!(
        checksum(&pg, "dst", "copy.events"),
        want,
        "destination differs from source"
    );
    // Column types are kept.
    let types = pg.psql(
        "dst",
        "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute \
         WHERE attrelid = 'copy.events'::regclass AND attnum > 0",
    );
    let src_types = pg.psql(
        "src",
        "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attnum) FROM pg_attribute \
         WHERE attrelid = 'public.events'::regclass AND attnum > 0",
    );
    assert_eq!(types, src_types);

    // Replace is idempotent, and the swap leaves no staging table.
    p.run_ok(&yaml);
    assert_eq!(checksum(&pg, "dst", "copy.events"), want);
    assert_eq!(
        pg.psql(
            "dst",
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%__rb_new'"
        ),
        "0"
    );

    // Incremental append: exactly the new rows, then nothing.
    pg.psql("dst", "DROP TABLE copy.events");
    let inc = pipeline(
        &pg,
        "  streams:\n    - name: events\n      sync_mode: incremental\n      cursor_field: updated_at\n",
        "append",
    );
    assert_eq!(p.run_ok(&inc).streams[0].records_written, 4002);
    pg.psql(
        "src",
        "INSERT INTO events (id, note, updated_at) SELECT g, 'new ' || g, timestamptz '2024-01-01' + 80 * interval '1 hour' \
         FROM generate_series(4001, 4100) g",
    );
    assert_eq!(p.run_ok(&inc).streams[0].records_written, 100);
    assert_eq!(p.run_ok(&inc).streams[0].records_written, 0);
    assert_eq!(
        checksum(&pg, "dst", "copy.events"),
        checksum(&pg, "src", "public.events")
    );
}
