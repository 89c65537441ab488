//! End-to-end: `dest-file` under many checkpoints and many append runs.
//! Every commit leaves one complete file with exactly the committed rows,
//! nothing hidden is left behind, and no row is written twice.

use std::path::Path;

use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use rapidbyte_tests::pg::{PgCluster, PASSWORD};
use rapidbyte_tests::{i64_column, Project};

const FORMATS: [&str; 3] = ["parquet", "csv", "jsonl"];

/// The `id`s of an output file, in file order; panics unless every line
/// (CSV, JSONL) is whole.
fn ids(path: &Path, format: &str) -> Vec<i64> {
    match format {
        "parquet" => i64_column(&rapidbyte_tests::read_parquet(path), "id"),
        _ => {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.ends_with('\n'), "whole lines only");
            let mut lines = text.lines();
            if format == "csv" {
                assert!(lines.next().unwrap().starts_with("id,"), "one header");
                lines
                    .map(|l| l.split(',').next().unwrap().parse().unwrap())
                    .collect()
            } else {
                lines
                    .map(|l| {
                        let v: serde_json::Value = serde_json::from_str(l).unwrap();
                        v["id"].as_i64().unwrap()
                    })
                    .collect()
            }
        }
    }
}

fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

fn pg_pipeline(pg: &PgCluster, format: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: cp_{format}\nsource:\n  use: rapidbyte/source-postgres\n  config:\n    host: 127.0.0.1\n    port: {}\n    user: postgres\n    password: \"{PASSWORD}\"\n    database: src\n  streams:\n    - name: ev\n      sync_mode: incremental\n      cursor_field: updated_at\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out_{format}\n    format: {format}\n  write_mode: append\nresources:\n  max_batch_bytes: 8kb\n",
        pg.port
    )
}

/// Tens of checkpoints per run (source-postgres checkpoints about every
/// MiB): each becomes a commit, and the result holds every row once.
#[test]
fn many_checkpoints_from_postgres_write_every_row_once() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql(
        "src",
        "CREATE TABLE ev (id bigint PRIMARY KEY, updated_at timestamp NOT NULL, v text);
         INSERT INTO ev SELECT g, timestamp '2024-01-01' + g * interval '1 second',
                'value ' || g || ' ' || repeat('x', 80)
         FROM generate_series(1, 250000) g;",
    );
    let p = Project::new();
    for format in FORMATS {
        let yaml = pg_pipeline(&pg, format);
        let out = p.path().join(format!("out_{format}"));
        let path = out.join(format!("ev.{format}"));
        let first = p.run_ok(&yaml);
        let s = &first.streams[0];
        assert_eq!(s.records_written, 250_000, "{format}");
        assert!(
            s.checkpoints >= 20,
            "{format}: {} checkpoints",
            s.checkpoints
        );
        assert_eq!(
            sorted(ids(&path, format)),
            (1..=250_000).collect::<Vec<_>>()
        );
        if format == "parquet" {
            let md = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Required)
                .parse_and_finish(&std::fs::File::open(&path).unwrap())
                .unwrap();
            // One row group (at least) per commit, all in one file.
            assert!(md.num_row_groups() as u64 >= s.checkpoints, "{format}");
            assert_eq!(md.file_metadata().num_rows(), 250_000);
        }
        assert!(hidden(&out).is_empty(), "{format}: {:?}", hidden(&out));
    }

    // More rows: the second run appends exactly them.
    pg.psql(
        "src",
        "INSERT INTO ev SELECT g, timestamp '2024-06-01' + g * interval '1 second', 'later ' || g
         FROM generate_series(250001, 270000) g;",
    );
    for format in FORMATS {
        let again = p.run_ok(&pg_pipeline(&pg, format));
        assert_eq!(again.streams[0].records_read, 20_000, "{format}");
        let out = p.path().join(format!("out_{format}"));
        let got = ids(&out.join(format!("ev.{format}")), format);
        assert_eq!(sorted(got), (1..=270_000).collect::<Vec<_>>(), "{format}");
        assert!(hidden(&out).is_empty());
    }
}

fn file_pipeline(format: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: runs_{format}\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\n  streams:\n    - name: rows\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out_{format}\n    format: {format}\n  write_mode: append\n"
    )
}

/// Run after run, appending a few rows each time: one valid file with
/// exactly the rows so far; a hard link made to it meanwhile (a backup)
/// keeps the content it had.
#[test]
fn repeated_append_runs_keep_one_file_and_leave_old_versions_alone() {
    let p = Project::new();
    p.write("data/rows.csv", "id,label\n");
    let mut backups = Vec::new();
    for run in 0..8i64 {
        let rows: String = (run * 3 + 1..=run * 3 + 3)
            .map(|i| format!("{i},label {i}\n"))
            .collect();
        p.append("data/rows.csv", &rows);
        for format in FORMATS {
            let out = p.path().join(format!("out_{format}"));
            let path = out.join(format!("rows.{format}"));
            let report = p.run_ok(&file_pipeline(format));
            assert_eq!(report.streams[0].records_written, 3, "{format} run {run}");
            assert_eq!(ids(&path, format), (1..=run * 3 + 3).collect::<Vec<_>>());
            assert!(hidden(&out).is_empty(), "{format}: {:?}", hidden(&out));
            if run == 3 {
                let b = p.path().join(format!("backup.{format}"));
                std::fs::hard_link(&path, &b).unwrap();
                backups.push((b.clone(), std::fs::read(&b).unwrap()));
            }
        }
    }
    for (b, saved) in backups {
        assert_eq!(
            std::fs::read(&b).unwrap(),
            saved,
            "{}: changed",
            b.display()
        );
    }
}

/// What a crash can leave next to the target (a working file with a
/// partial tail, the second name of a previous version) is removed by the
/// next run, which neither reads it nor loses a committed row.
#[test]
fn files_left_by_a_crash_are_removed_by_the_next_run() {
    let p = Project::new();
    p.write("data/rows.csv", "id,label\n1,a\n2,b\n");
    for format in FORMATS {
        let out = p.path().join(format!("out_{format}"));
        let path = out.join(format!("rows.{format}"));
        p.run_ok(&file_pipeline(format));
        let mut tail = std::fs::read(&path).unwrap();
        tail.extend_from_slice(b"3,half a r");
        std::fs::write(out.join(format!(".rows.{format}.tmp")), tail).unwrap();
        std::fs::hard_link(&path, out.join(format!(".rows.{format}.old"))).unwrap();
        assert_eq!(ids(&path, format), vec![1, 2]);
    }
    p.append("data/rows.csv", "3,c\n");
    for format in FORMATS {
        let out = p.path().join(format!("out_{format}"));
        let report = p.run_ok(&file_pipeline(format));
        assert_eq!(report.streams[0].records_written, 1);
        assert_eq!(
            ids(&out.join(format!("rows.{format}")), format),
            vec![1, 2, 3]
        );
        assert!(hidden(&out).is_empty(), "{format}: {:?}", hidden(&out));
    }
}
