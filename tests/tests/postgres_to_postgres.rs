//! Postgres -> Postgres through `source-postgres` and `dest-postgres`:
//! the destination equals the source row for row and column by column
//! (compared by md5 of each table's rows in text form, ordered by key),
//! replace is idempotent, and incremental append adds exactly the new rows.

use rapidbyte_tests::pg::PgCluster;
use rapidbyte_tests::pg_checksum as checksum;
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

fn pipeline(pg: &PgCluster, streams: &str, mode: &str) -> String {
    let conn = rapidbyte_tests::pg_connection(pg, "postgres");
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

const KINDS: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN small_pos AS posint NOT NULL CHECK (VALUE < 1000);
CREATE TABLE layered (id int PRIMARY KEY, v small_pos, ms mood[], m mood, tags varchar(8)[]);
INSERT INTO layered VALUES (1, 5, '{sad,happy}', 'ok', '{a}'), (2, 999, '{}', NULL, NULL);
CREATE TABLE kinds (
  id int PRIMARY KEY, n_free numeric, n_big numeric(30,10), t time, ttz timetz(3), span interval,
  ip inet, net cidr, mac macaddr, mac8 macaddr8, cash money, m mood, p posint, ints int[], texts text[],
  nested int[][], f4 real, f8 float8, ts timestamp(3), tstz timestamptz, d date, ch char(5),
  vc varchar(10), nm name, js json, b bit(4), vb varbit, x xml, moods mood[]
);
INSERT INTO kinds VALUES
 (1, 12345678901234567890.123456789012345, 12345678901234567890.0123456789, '23:59:59.999999', '01:02:03.456+05:30',
  '1 year 2 mons -3 days 04:05:06.789', '192.168.1.10/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
  '-1234.56', 'happy', 7, '{1,NULL,3}', '{\"a,b\",NULL,\"q\\\"uote\",\"\"}', '{{1,2},{3,4}}', 'NaN', '-Infinity',
  '2024-02-29 12:34:56.789', '1999-12-31 23:59:59.999999+00', '2024-02-29', 'ab', 'unicodé ✓', 'pg_name',
  '{\"k\": [1, 2.50, null]}', B'1010', B'110', '<a>x</a>', '{sad,happy}'),
 (2, 'NaN', -0.0000000001, '00:00', '00:00+00', '0', '::1', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00:00:00',
  '0', 'sad', 1, '{}', '{}', '{}', 'Infinity', 'NaN', 'infinity', '-infinity', '-infinity', '', '', '', 'null', B'0000', B'',
  '', '{}'),
 (3, 'Infinity', 0, '12:00', '12:00-08', '-1 day', '0.0.0.0', '0.0.0.0/0', '01:02:03:04:05:06', '01:02:03:04:05:06:07:08',
  '999999.99', 'ok', 2147483647, '{NULL}', '{NULL,NULL}', '{{NULL,1}}', 3.4028235e38, 1.7976931348623157e308,
  '-infinity', 'infinity', 'infinity', 'x    ', 'x', 'x', '[]', B'1111', B'1', '<empty/>', '{NULL}'),
 (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (5, -1e-20, 1, '00:00:00.000001', '23:59:59.999+14', '-178000000 years', '::ffff:1.2.3.4', '::/0', '00:00:00:00:00:01',
  '00:00:00:00:00:00:00:01', '-0.01', 'happy', 42, '{-2147483648,2147483647}', '{\"\\\\back\",\"tab\there\",\"line\nbreak\"}',
  '{{-1}}', -0.0, 5e-324, '4713-01-01 00:00:00 BC', '0001-01-01 00:00:00+00', '4713-01-01 BC', 'ñ', 'ü', 'ß', '\"s\"', B'0001',
  B'0101010101010101', '<r a=\"1\"/>', '{ok,ok}');
";

/// Only types with a binary COPY form in dest-postgres, so this table loads
/// through binary COPY (numeric and uuid from PostgreSQL's text form).
const SCALARS: &str = r#"
CREATE TABLE scalars (
  id int PRIMARY KEY, b bool, i2 int2, i8 int8, f4 real, f8 float8, t text, vc varchar(5), ch char(4),
  nm name, js json, jb jsonb, u uuid, n numeric, n2 numeric(12,2), n0 numeric(30,0), raw bytea,
  d date, ts timestamp, tz timestamptz, ta text[], ia int[], la int8[], ba bool[], fa float8[], va varchar(3)[]
);
INSERT INTO scalars (id, b, i2, i8, f4, f8, t, vc, ch, nm, js, jb, u, n, n2, n0, raw, d, ts, tz) VALUES
 (1, true, -32768, -9223372036854775808, 'NaN', '-Infinity', E'tab\there\\back\nline', 'abc', 'ab', 'x', '{"a": 1}',
  '{"b": [1, 2.5, null], "a": "ü"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'NaN', -0.01,
  123456789012345678901234567890, '\x00ff10', 'infinity', '-infinity', 'infinity'),
 (2, false, 32767, 9223372036854775807, 'Infinity', 5e-324, '', '', '', '', 'null', 'null',
  '00000000-0000-0000-0000-000000000000', 'Infinity', 0, 0, '\x', '4713-01-01 BC', '2000-01-01', '1999-12-31 23:59:59.999999+00'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (4, true, 0, 0, -0.0, 1.7976931348623157e308, 'ünïcödé ✓', 'ab  ', 'abcd', 'n', '[]', '{}',
  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '-Infinity', 9999999999.99, -1, '\xdeadbeef', '-infinity',
  '1970-01-01 00:00:00.000001', '-infinity'),
 (5, false, 1, 1, 1.5, 0.1, 'x', 'x', 'x', 'x', '1', '1', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  0.000000000000000000000000001, 0.1, 10000, '\x00', '0001-01-01', '2024-02-29 12:00:00', '2024-02-29 12:00:00+05:30'),
 (6, true, 2, 2, 2, 2, 'y', 'y', 'y', 'y', '2', '2', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
  -12345.6789, -100.5, -10000, '\x01', '2024-01-01', '1900-01-01 00:00:00', '1900-01-01 00:00:00+00');
UPDATE scalars SET ta = '{a,NULL,"b c","q\"uote","",NULL,"back\\slash","ü,{}"}', ia = '{{1,2},{3,NULL}}',
  la = '{-9223372036854775808,9223372036854775807}', ba = '{t,f,NULL}', fa = '{NaN,Infinity,-Infinity,0.1,-0}',
  va = '{abc,"",x}' WHERE id = 1;
UPDATE scalars SET ta = '{}', ia = '{}', la = '{NULL}', ba = '{}', fa = '{1e-300}', va = '{}' WHERE id = 2;
UPDATE scalars SET ta = '[0:1]={x,y}', ia = '[-2:-1]={5,6}', fa = '{{1.5},{2.5}}' WHERE id = 4;
"#;

#[test]
fn every_type_round_trips_exactly() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql("src", KINDS);
    pg.psql("src", SCALARS);
    let p = Project::new();
    // Binary COPY, in each write mode that loads through it.
    for mode in ["replace", "append", "upsert"] {
        pg.psql("dst", "DROP TABLE IF EXISTS copy.scalars");
        let yaml = pipeline(&pg, "  streams:\n    - name: scalars\n", mode);
        assert_eq!(p.run_ok(&yaml).streams[0].records_written, 6, "{mode}");
        let rows = |db: &str, table: &str| {
            pg.psql(
                db,
                &format!("SELECT string_agg(t::text, E'\\n' ORDER BY id) FROM {table} t"),
            )
        };
        assert_eq!(
            rows("dst", "copy.scalars"),
            rows("src", "public.scalars"),
            "{mode}"
        );
    }
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: kinds\n    - name: layered\n",
        "replace",
    );
    let report = p.run_ok(&yaml);
    assert_eq!(report.streams[0].records_written, 5);
    assert_eq!(report.streams[1].records_written, 2);
    let rows = |db: &str, table: &str| {
        pg.psql(
            db,
            &format!("SELECT string_agg(md5(t::text), ',' ORDER BY id) FROM {table} t"),
        )
    };
    let (src, dst) = (rows("src", "public.kinds"), rows("dst", "copy.kinds"));
    for (i, (a, b)) in src.split(',').zip(dst.split(',')).enumerate() {
        assert_eq!(
            a,
            b,
            "row {} differs:\n src: {}\n dst: {}",
            i + 1,
            pg.psql(
                "src",
                &format!("SELECT t::text FROM public.kinds t WHERE id = {}", i + 1)
            ),
            pg.psql(
                "dst",
                &format!("SELECT t::text FROM copy.kinds t WHERE id = {}", i + 1)
            ),
        );
    }
    assert_eq!(src, dst);
    // Every column keeps its type: the enum and the domains (over a
    // domain, too) the destination lacked were created as the source has
    // them.
    let types = |db: &str, table: &str| {
        pg.psql(
            db,
            &format!(
                "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
                 FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0"
            ),
        )
    };
    assert_eq!(types("dst", "copy.kinds"), types("src", "public.kinds"));
    assert_eq!(types("dst", "copy.layered"), types("src", "public.layered"));
    assert_eq!(
        checksum(&pg, "dst", "copy.layered"),
        checksum(&pg, "src", "public.layered")
    );
    let definition = |db: &str| {
        pg.psql(
            db,
            "SELECT (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = 'mood'::regtype) \
             || ' | ' || (SELECT string_agg(format_type(oid, NULL) || ' ' || format_type(typbasetype, typtypmod) || ' ' || typnotnull, '; ' ORDER BY typname) \
                          FROM pg_type WHERE typtype = 'd' AND typnamespace = 'public'::regnamespace) \
             || ' | ' || (SELECT string_agg(pg_get_constraintdef(oid), '; ' ORDER BY conname) FROM pg_constraint WHERE contypid IN ('posint'::regtype, 'small_pos'::regtype))",
        )
    };
    assert_eq!(definition("dst"), definition("src"));
    assert!(
        definition("dst").contains("sad,ok,happy"),
        "{}",
        definition("dst")
    );
}

#[test]
fn partitioned_reads_are_disjoint_and_complete() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql("src", TABLE);
    pg.psql(
        "src",
        "CREATE TABLE coded (code text, n int, v text, PRIMARY KEY (code, n));
         INSERT INTO coded SELECT 'c' || (g % 17), g, repeat('x', g % 50) FROM generate_series(1, 3000) g;
         CREATE VIEW plain AS SELECT id FROM events;",
    );
    let p = Project::new();
    // An integer key (ids 0 and -1 included) and a composite text key.
    let yaml = pipeline(
        &pg,
        "  streams:\n    - name: events\n      partitions: 3\n    - name: coded\n      partitions: 4\n",
        "replace",
    );
    let report = p.run_ok(&yaml);
    assert_eq!(report.streams[0].records_read, 4002);
    assert_eq!(report.streams[0].records_written, 4002);
    assert_eq!(report.streams[1].records_written, 3000);
    assert_eq!(
        checksum(&pg, "dst", "copy.events"),
        checksum(&pg, "src", "public.events")
    );
    let coded = |db: &str, t: &str| {
        pg.psql(
            db,
            &format!("SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY code, n)) FROM {t} t"),
        )
    };
    assert_eq!(coded("dst", "copy.coded"), coded("src", "public.coded"));

    // A view has no key to split on; incremental reads are not split.
    let err = p.start_error(&pipeline(
        &pg,
        "  streams:\n    - name: plain\n      partitions: 2\n",
        "replace",
    ));
    assert!(
        err.contains("source.streams[0].partitions") && err.contains("plain"),
        "{err}"
    );
    let err = p.start_error(&pipeline(
        &pg,
        "  streams:\n    - name: events\n      sync_mode: incremental\n      partitions: 2\n",
        "append",
    ));
    assert!(err.contains("full_refresh"), "{err}");
}
