//! Lying Arrow IPC frames, proven with the hostile component's `ipc-*`
//! modes (see `tests/components/hostile/src/lies.rs` for how each frame is
//! crafted): every lie fails its stream with a contract violation naming
//! connector and stream, promptly, writing nothing, and the host carries
//! on. `ipc-honest`, the same hand-made frame told straight, is accepted,
//! so each lie is the only thing wrong with its frame.

use std::time::{Duration, Instant};

use rapidbyte_host::PipelineReport;
use rapidbyte_tests::Project;

const NO_CAPS: &str =
    "name: hostile\nversion: 0.1.0\nkind: source\nwasm:\n  entrypoint: hostile.wasm\n";

/// How long a lying frame may take to be refused.
const PROMPTLY: Duration = Duration::from_secs(30);

fn hostile_pipeline(mode: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: hostile\nsource:\n  use: components/hostile\n  config:\n    mode: {mode}\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
    )
}

/// A project with the hostile component staged as `hostile`, run once
/// healthily so that compiling the components (slow on a cold cache, with
/// every test compiling at once) is not counted against [`PROMPTLY`].
fn project() -> Project {
    let p = Project::new();
    p.component_with_manifest("hostile", "hostile", NO_CAPS);
    host_still_works(&p);
    std::fs::remove_dir_all(p.path().join("out")).expect("clear the warm-up's output");
    p
}

/// Runs `mode` and returns its report, checking it returned promptly and
/// wrote no rows.
fn run_mode(p: &Project, mode: &str) -> PipelineReport {
    let start = Instant::now();
    let report = p
        .run(&hostile_pipeline(mode))
        .unwrap_or_else(|e| panic!("{mode}: setup failed: {e}"));
    let took = start.elapsed();
    assert!(took < PROMPTLY, "{mode}: took {took:?}");
    let s = &report.streams[0];
    assert_eq!(s.name, "hostile");
    assert_eq!(s.records_written, 0, "{mode}: rows were written");
    report
}

/// Whether the destination wrote an output file.
fn output_exists(p: &Project) -> bool {
    p.path().join("out/hostile.parquet").exists()
}

/// Checks `err` is the contract violation of the hostile connector's stream.
fn assert_contract_violation(mode: &str, err: &str) {
    assert!(
        err.contains("connector `hostile`") && err.contains("stream `hostile`"),
        "{mode}: {err}"
    );
    assert!(err.contains("broke the contract"), "{mode}: {err}");
}

/// Checks `err` says what was wrong: it mentions (case-insensitively) at
/// least one of `keywords`. Loose on purpose: the wording is the host's.
fn assert_mentions(mode: &str, err: &str, keywords: &[&str]) {
    let lower = err.to_lowercase();
    assert!(
        keywords.iter().any(|k| lower.contains(k)),
        "{mode}: the error should mention one of {keywords:?}: {err}"
    );
}

/// After a hostile run, the same engine still runs a healthy pipeline.
fn host_still_works(p: &Project) {
    let report = p.run_ok(&hostile_pipeline("ok"));
    assert_eq!(report.streams[0].records_written, 3);
}

/// Emits the lying frame of `mode`: the stream fails with a contract
/// violation mentioning one of `keywords`, and the host carries on.
fn refused(mode: &str, keywords: &[&str]) {
    let p = project();
    let report = run_mode(&p, mode);
    let err = report.streams[0]
        .error
        .clone()
        .unwrap_or_else(|| panic!("{mode}: the stream should fail"));
    eprintln!("{mode}: {err}");
    assert_contract_violation(mode, &err);
    assert_mentions(mode, &err, keywords);
    assert!(!output_exists(&p), "{mode}: nothing must be written");
    host_still_works(&p);
}

#[test]
fn the_honest_handmade_frame_is_accepted() {
    let p = project();
    let report = p.run_ok(&hostile_pipeline("ipc-honest"));
    assert_eq!(report.streams[0].records_written, 3);
    let batches = p.read_parquet("out/hostile.parquet");
    assert_eq!(rapidbyte_tests::i64_column(&batches, "x"), vec![0, 1, 2]);
}

#[test]
fn a_huge_body_length_is_refused() {
    refused("ipc-huge-body", &["body"]);
}

#[test]
fn a_negative_body_length_is_refused() {
    refused("ipc-negative-body", &["body", "negative"]);
}

#[test]
fn a_huge_metadata_length_is_refused() {
    refused("ipc-huge-metadata", &["metadata"]);
}

#[test]
fn a_negative_metadata_length_is_refused() {
    refused("ipc-negative-metadata", &["metadata"]);
}

#[test]
fn a_buffer_past_the_body_is_refused() {
    refused("ipc-buffer-overflow", &["buffer", "body"]);
}

#[test]
fn a_buffer_whose_end_overflows_is_refused() {
    refused("ipc-buffer-wrap", &["buffer", "body", "overflow"]);
}

#[test]
fn a_buffer_at_a_negative_offset_is_refused() {
    refused("ipc-buffer-negative", &["buffer", "negative", "offset"]);
}

#[test]
fn a_huge_buffer_count_is_refused() {
    refused(
        "ipc-huge-buffer-count",
        &["buffer", "metadata", "flatbuffer", "message"],
    );
}

#[test]
fn a_huge_node_count_is_refused() {
    refused(
        "ipc-huge-node-count",
        &["node", "metadata", "flatbuffer", "message"],
    );
}

#[test]
fn more_rows_than_the_buffers_hold_are_refused() {
    refused("ipc-huge-rows", &["buffer", "row", "length"]);
}

#[test]
fn a_dictionary_before_the_schema_is_refused() {
    refused("ipc-dictionary-first", &["dictionary", "schema"]);
}

#[test]
fn a_truncated_frame_is_refused() {
    refused(
        "ipc-truncated",
        &["truncat", "end", "eof", "short", "incomplete", "body"],
    );
}

#[test]
fn two_batches_in_one_frame_are_refused() {
    refused("ipc-two-batches", &["batch"]);
}

#[test]
fn a_frame_of_another_schema_is_refused() {
    refused("ipc-wrong-schema", &["schema"]);
}

#[test]
fn an_empty_frame_is_refused() {
    refused("ipc-empty", &["empty", "schema", "frame", "end"]);
}

/// A schema with no batch may be taken as an empty batch or refused; either
/// way nothing is written, the run returns and the host carries on.
#[test]
fn a_schema_only_frame_writes_nothing() {
    let p = project();
    let report = run_mode(&p, "ipc-schema-only");
    let s = &report.streams[0];
    eprintln!("ipc-schema-only: {:?}", s.error);
    if let Some(err) = &s.error {
        assert_contract_violation("ipc-schema-only", err);
    }
    assert_eq!(s.records_read, 0);
    if output_exists(&p) {
        let batches = p.read_parquet("out/hostile.parquet");
        assert_eq!(rapidbyte_tests::rows(&batches), 0, "rows were written");
    }
    host_still_works(&p);
}
