//! `kill -9` at several points of a Postgres -> Postgres incremental upsert
//! sync, then rerun: the destination equals the source (no row lost, none
//! duplicated) and the saved cursor agrees with it (a further run reads
//! nothing).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rapidbyte_tests::pg::PgCluster;
use rapidbyte_tests::pg_checksum as checksum;

fn command(dir: &Path) -> Command {
    let mut c = common::rapidbyte(dir, &["run", "p.yaml"]);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

#[test]
fn kill_9_during_incremental_upsert_loses_and_duplicates_nothing() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE src");
    pg.psql("postgres", "CREATE DATABASE dst");
    pg.psql(
        "src",
        "CREATE TABLE rows (id int PRIMARY KEY, label text, amount numeric(10,2), updated_at timestamptz NOT NULL);
         INSERT INTO rows SELECT g, 'row ' || g || ' padded with some text to make it wider', g % 1000 + 0.25,
                timestamptz '2024-01-01' + (g / 7) * interval '1 second'
         FROM generate_series(1, 20000) g;",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("rapidbyte.toml"), "").unwrap();
    let conn = rapidbyte_tests::pg_connection(&pg, "postgres");
    std::fs::write(
        dir.join("p.yaml"),
        format!(
            "version: \"1.0\"\npipeline: crash_pg\nsource:\n  use: rapidbyte/source-postgres\n  config:\n{conn}    database: src\n  streams:\n    - name: rows\n      sync_mode: incremental\n      cursor_field: updated_at\ndestination:\n  use: rapidbyte/dest-postgres\n  config:\n{conn}    database: dst\n  write_mode: upsert\nresources:\n  max_batch_bytes: 64kb\n"
        ),
    )
    .unwrap();
    assert!(command(dir).status().unwrap().success());
    assert_eq!(checksum(&pg, "dst", "rows"), checksum(&pg, "src", "rows"));

    let mut next = 20_001;
    for (round, delay_ms) in [200u64, 500, 900, 1400].into_iter().enumerate() {
        // New rows, and updates of old ones, all past the saved cursor
        // (each round's changes are later than the last round's).
        pg.psql(
            "src",
            &format!(
                "INSERT INTO rows SELECT g, 'row ' || g || ' padded with some text to make it wider', g % 1000 + 0.25,
                        timestamptz '2030-01-01' + {round} * interval '30 days' + (g / 7) * interval '1 second'
                 FROM generate_series({next}, {}) g;
                 UPDATE rows SET label = 'updated in round {round}',
                        updated_at = timestamptz '2030-01-01' + {round} * interval '30 days' + interval '20 days' + id * interval '1 ms'
                 WHERE id % 97 = {round};",
                next + 149_999
            ),
        );
        next += 150_000;
        let started = Instant::now();
        let mut child = command(dir).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished_before_kill = child.try_wait().unwrap().is_some();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        eprintln!(
            "round {round}: killed after {:?}{}",
            started.elapsed(),
            if finished_before_kill {
                " (already done)"
            } else {
                ""
            }
        );

        let rerun = Instant::now();
        assert!(
            command(dir).status().unwrap().success(),
            "round {round}: the rerun after kill -9 must succeed"
        );
        eprintln!("round {round}: rerun took {:?}", rerun.elapsed());
        assert_eq!(
            checksum(&pg, "dst", "rows"),
            checksum(&pg, "src", "rows"),
            "round {round} (kill after {delay_ms} ms): destination differs from source"
        );
    }
    // The saved cursor agrees with the destination: nothing more to read.
    let out = common::rapidbyte(dir, &["run", "p.yaml"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("rows") && l.contains(" 0 ")),
        "a final run reads nothing new:\n{stdout}"
    );
}
