//! End-to-end: `source-file` cuts batches by bytes whatever the row width,
//! and says in words what an I/O error was.

use rapidbyte_tests::{i64_column, Project};

const ROWS: usize = 2_500;
const WIDTH: usize = 120 * 1024;
/// The default `resources.max_memory`.
const CAP: u64 = 256 << 20;

fn pipeline(resources: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: wide\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n    schema: raw\n  write_mode: replace\n{resources}"
    )
}

/// `ROWS` rows of an id and a text of `WIDTH` bytes, written in pieces.
fn write_wide_csv(p: &Project) {
    use std::io::Write;
    let path = p.path().join("data/wide.csv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(f, "id,text").unwrap();
    let filler = "abcdefghij".repeat(WIDTH / 10);
    for i in 0..ROWS {
        writeln!(f, "{i},{i:08}{}", &filler[8..]).unwrap();
    }
    f.flush().unwrap();
}

#[test]
fn wide_csv_rows_stay_under_the_memory_cap_with_a_small_max_batch_bytes() {
    let p = Project::new();
    write_wide_csv(&p);
    // No `batch_rows`: the default of 16 384 rows would be 1.9 GB at once.
    let report = p.run_ok(&pipeline("resources:\n  max_batch_bytes: 1mb\n"));
    let s = &report.streams[0];
    assert_eq!(
        (s.records_read, s.records_written),
        (ROWS as u64, ROWS as u64)
    );
    eprintln!(
        "peak memory (source + destination): {} MiB over {} bytes",
        s.peak_memory >> 20,
        s.bytes
    );
    // Both instances together, each capped at 256 MiB: well under one cap.
    assert!(
        s.peak_memory < CAP / 2,
        "peak memory {} MiB",
        s.peak_memory >> 20
    );
    let batches = p.read_parquet("out/raw/wide.parquet");
    let ids = i64_column(&batches, "id");
    assert_eq!(ids, (0..ROWS as i64).collect::<Vec<_>>());
    let text = batches[0].column_by_name("text").unwrap();
    use arrow_array::cast::AsArray;
    assert_eq!(text.as_string::<i32>().value(0).len(), WIDTH);
}

#[test]
fn a_missing_source_directory_is_named_in_words() {
    // The directory the pipeline names: the host checks it before the
    // connector starts.
    let p = Project::new();
    let err = match p.run(&pipeline("")) {
        Err(e) => e.to_string(),
        Ok(r) => r.streams[0].error.clone().unwrap_or_default(),
    };
    let lower = err.to_lowercase();
    assert!(lower.contains("no such file or directory"), "{err}");
    assert!(
        err.contains(&p.path().join("data").display().to_string()),
        "{err}"
    );

    // A file or directory that is gone by the time the connector opens it
    // (here a link to nothing): the error comes from inside the sandbox,
    // with the WASI errno (44) in words, not as "os error 44".
    let p = Project::new();
    p.write("data/ok.csv", "id\n1\n");
    std::os::unix::fs::symlink("missing/gone.csv", p.path().join("data/gone.csv")).unwrap();
    let err = match p.run(&pipeline("")) {
        Err(e) => e.to_string(),
        Ok(r) => r
            .streams
            .iter()
            .find_map(|s| s.error.clone())
            .expect("a stream error"),
    };
    let data = p.path().join("data").canonicalize().unwrap();
    assert!(
        err.contains(&format!(
            "no such file or directory: {}",
            data.join("gone.csv").display()
        )),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    assert!(err.contains("config/not_found"), "{err}");
}
