//! A destination directory on a file system that is full or mounted
//! read-only, for real: the tests mount a small tmpfs in a mount namespace
//! of their own (`unshare`) and run the binary there. A full disk fails the
//! run with an error that says the device is full and names the file, leaves no temporary file behind, and a rerun
//! once there is space again delivers every row exactly once. A read-only
//! directory is refused before anything runs, naming the key and the path.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

const ROWS: u64 = 60_000;

fn setup(dir: &Path) {
    std::fs::write(dir.join("rapidbyte.toml"), "").unwrap();
    std::fs::create_dir(dir.join("data")).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("data/rows.csv")).unwrap());
    writeln!(f, "id,label").unwrap();
    for i in 1..=ROWS {
        writeln!(f, "{i},row {i} with some text to make the line wider").unwrap();
    }
    f.flush().unwrap();
    std::fs::write(
        dir.join("p.yaml"),
        "version: \"1.0\"\npipeline: full\nsource:\n  use: rapidbyte/source-file\n  config: { path: data }\n  streams:\n    - name: rows\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: rapidbyte/dest-file\n  config: { path: out, format: csv }\n  write_mode: append\nresources:\n  max_batch_bytes: 256kb\n",
    )
    .unwrap();
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

#[test]
fn a_full_disk_fails_cleanly_and_a_rerun_delivers_every_row_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    // The output (about 3.5 MB) does not fit in 1 MiB; after the first run
    // the same mount grows to 64 MiB and the run is repeated.
    let out = common::in_mount_namespace(
        dir,
        "mkdir -p out result
         mount -t tmpfs -o size=1m tmpfs out
         set +e
         \"$RB\" run p.yaml >run1.out 2>run1.err; echo $? >rc1
         ls -A out >left1
         mount -o remount,size=64m out
         \"$RB\" run p.yaml >run2.out 2>run2.err; echo $? >rc2
         cp -a out/. result/",
    );
    assert!(
        out.status.success(),
        "the namespace script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (err1, out1) = (read(dir, "run1.err"), read(dir, "run1.out"));
    assert_eq!(read(dir, "rc1").trim(), "1", "{out1}\n{err1}");
    let said = format!("{out1}{err1}").to_lowercase();
    // The guest's libc reports a failed stream write as EIO; the host saw
    // ENOSPC and says so.
    assert!(said.contains("no space left on device"), "{out1}\n{err1}");
    assert!(!said.contains("input/output error"), "{out1}\n{err1}");
    assert!(said.contains("/out/"), "names the file: {said}");
    assert!(
        !said.contains("os error"),
        "a WASI errno shown as Linux's: {said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    let left = read(dir, "left1");
    assert!(
        !left.lines().any(|f| f.contains("tmp")),
        "a temporary file was left behind: {left:?}"
    );

    assert_eq!(
        read(dir, "rc2").trim(),
        "0",
        "{}\n{}",
        read(dir, "run2.out"),
        read(dir, "run2.err")
    );
    let text = read(dir, "result/rows.csv");
    let mut ids = BTreeSet::new();
    let mut n = 0;
    for line in text.lines().skip(1) {
        let id: u64 = line
            .split(',')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a torn line: {line:?}"));
        ids.insert(id);
        n += 1;
    }
    assert_eq!(
        n as u64, ROWS,
        "rows duplicated or lost across the two runs"
    );
    assert_eq!(ids, (1..=ROWS).collect::<BTreeSet<_>>());
}

#[test]
fn a_read_only_destination_directory_is_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let out = common::in_mount_namespace(
        dir,
        "mkdir -p out
         mount -t tmpfs -o ro,size=1m tmpfs out
         set +e
         \"$RB\" run p.yaml >run.out 2>run.err; echo $? >rc",
    );
    assert!(
        out.status.success(),
        "the namespace script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (err, stdout) = (read(dir, "run.err"), read(dir, "run.out"));
    assert_eq!(read(dir, "rc").trim(), "2", "{stdout}\n{err}");
    assert!(
        err.contains("destination.config.path") && err.contains("read-only file system"),
        "{err}"
    );
    assert!(err.contains("/out"), "names the directory: {err}");
}
