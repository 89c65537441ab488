//! Ctrl-C and SIGTERM stop a run cleanly: exit 130 / 143, the run recorded
//! as `interrupted`, a message saying what was saved, and a rerun that
//! resumes from the last committed checkpoint with no row lost or repeated.

mod common;

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn append_rows(path: &Path, from: u64, to: u64) {
    let mut f = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    if from == 1 {
        writeln!(f, "id,label").unwrap();
    }
    for i in from..=to {
        writeln!(f, "{i},row {i} with some text to make the line wider").unwrap();
    }
}

fn rows_out(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

fn setup(dir: &Path) {
    std::fs::write(dir.join("rapidbyte.toml"), "").unwrap();
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "version: \"1.0\"\npipeline: stop\nsource:\n  use: rapidbyte/source-file\n  config: { path: data }\n  streams:\n    - name: rows\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: rapidbyte/dest-file\n  config: { path: out, format: csv }\n  write_mode: append\nresources:\n  max_batch_bytes: 128kb\n",
    )
    .unwrap();
}

fn stop_with(signal: i32, expected_code: i32) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let (first, total) = (20_000, 3_000_000);
    append_rows(&dir.join("data/rows.csv"), 1, first);
    let done = common::rapidbyte(dir, &["run", "p.yaml"]).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    append_rows(&dir.join("data/rows.csv"), first + 1, total);

    let mut child = common::rapidbyte(dir, &["run", "p.yaml", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Signal once rows are moving: shortly after the stream starts.
    let stderr = child.stderr.take().unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("syncing stream") {
                let _ = started_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    started_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the stream starts");
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, signal) };
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "the run stopped within the grace period"
    );
    assert_eq!(out.status.code(), Some(expected_code), "{stderr}");
    assert!(
        stderr.contains("stopping after the last committed checkpoint"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    let stream = &report["streams"][0];
    assert_eq!(stream["status"], "interrupted", "{report}");
    assert_eq!(stream["error"]["kind"], "interrupted", "{report}");
    assert!(
        stream["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a rerun resumes from the last"),
        "{report}"
    );
    let saved = rows_out(&dir.join("out/rows.csv"));
    assert_eq!(
        saved.len() as u64,
        first,
        "only what was committed before the signal is in the output"
    );

    let state = common::rapidbyte(dir, &["state", "show", "p.yaml"])
        .output()
        .unwrap();
    let state = String::from_utf8_lossy(&state.stdout);
    assert!(state.contains("interrupted"), "{state}");

    let rerun = common::rapidbyte(dir, &["run", "p.yaml"]).output().unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let ids = rows_out(&dir.join("out/rows.csv"));
    assert_eq!(ids.len() as u64, total, "every row exactly once");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len() as u64, total, "no row repeated");
}

#[test]
fn sigint_stops_after_the_last_checkpoint_and_exits_130() {
    stop_with(libc::SIGINT, 130);
}

#[test]
fn sigterm_stops_after_the_last_checkpoint_and_exits_143() {
    stop_with(libc::SIGTERM, 143);
}
