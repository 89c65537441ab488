//! What a connector hands the host besides batches, proven with the hostile
//! component's metric and state modes (see
//! `tests/components/hostile/src/lib.rs`): bad metrics are dropped, not
//! fatal; state keys are scoped to the calling stream, so a stream cannot
//! touch another's cursor; an oversized state value fails its stream with a
//! contract violation, commits nothing, and the host carries on. (Log and
//! error-message injection need the binary's stderr and stdout:
//! `cli/tests/hostile_output.rs`.)

use rapidbyte_tests::Project;
use rusqlite::{params, Connection, OptionalExtension};

const NO_CAPS: &str =
    "name: hostile\nversion: 0.1.0\nkind: source\nwasm:\n  entrypoint: hostile.wasm\n";

/// The pipeline name, which keys the state.
const PIPELINE: &str = "hostile";

fn hostile_pipeline(mode: &str, extra_config: &str) -> String {
    format!(
        "version: \"1.0\"\npipeline: {PIPELINE}\nsource:\n  use: components/hostile\n  config:\n    mode: {mode}\n{extra_config}destination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
    )
}

/// A project with the hostile component staged as `hostile`, run once
/// healthily (which also creates its state database).
fn project() -> Project {
    let p = Project::new();
    p.component_with_manifest("hostile", "hostile", NO_CAPS);
    host_still_works(&p);
    std::fs::remove_dir_all(p.path().join("out")).expect("clear the warm-up's output");
    p
}

/// After a hostile run, the same engine still runs a healthy pipeline.
fn host_still_works(p: &Project) {
    let report = p.run_ok(&hostile_pipeline("ok", ""));
    assert_eq!(report.streams[0].records_written, 3);
}

/// The project's state database, opened directly.
fn state_db(p: &Project) -> Connection {
    let path = p.path().join(".rapidbyte/state.db");
    assert!(path.is_file(), "{} is missing", path.display());
    Connection::open(&path).expect("open the state database")
}

/// Every saved cursor of the pipeline: (stream, cursor_field, cursor_value,
/// updated_at), ordered by stream.
type CursorRow = (String, Option<String>, Option<String>, String);

fn cursors(p: &Project) -> Vec<CursorRow> {
    let db = state_db(p);
    let mut q = db
        .prepare(
            "SELECT stream, cursor_field, cursor_value, updated_at FROM sync_cursors
             WHERE pipeline = ?1 ORDER BY stream",
        )
        .expect("query sync_cursors");
    q.query_map(params![PIPELINE], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .expect("sync_cursors")
    .map(|r| r.expect("row"))
    .collect()
}

/// The newest run of the `hostile` stream: (status, error_category,
/// error_code, error_message).
fn last_run(p: &Project) -> (String, Option<String>, Option<String>, Option<String>) {
    state_db(p)
        .query_row(
            "SELECT status, error_category, error_code, error_message FROM sync_runs
             WHERE pipeline = ?1 AND stream = 'hostile' ORDER BY id DESC LIMIT 1",
            params![PIPELINE],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .expect("sync_runs")
        .expect("a run of stream hostile")
}

#[test]
fn non_finite_and_misnamed_metrics_are_dropped_not_fatal() {
    let p = project();
    // NaN, +inf, -inf, an empty name and a 201-byte name, then a good one.
    let report = p.run_ok(&hostile_pipeline("metric-nan", ""));
    let s = &report.streams[0];
    assert_eq!((s.records_read, s.records_written), (3, 3));
    let batches = p.read_parquet("out/hostile.parquet");
    assert_eq!(rapidbyte_tests::i64_column(&batches, "x"), vec![0, 1, 2]);
    assert_eq!(last_run(&p).0, "completed");
    host_still_works(&p);
}

#[test]
fn a_state_key_naming_another_stream_stays_in_the_callers_stream() {
    let p = project();
    // Another stream's cursor, saved before the hostile run.
    let victim = (
        "victim".to_string(),
        Some("id".to_string()),
        Some(r#"{"pre":"existing"}"#.to_string()),
        "2000-01-01 00:00:00".to_string(),
    );
    state_db(&p)
        .execute(
            "INSERT INTO sync_cursors (pipeline, stream, cursor_field, cursor_value, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![PIPELINE, victim.0, victim.1, victim.2, victim.3],
        )
        .expect("insert the victim's cursor");

    // Reads `victim` (failing if it sees the victim's value), then saves
    // `{"x":1}` under `victim` while reading `hostile`.
    let report = p.run_ok(&hostile_pipeline("state-other-stream", ""));
    let s = &report.streams[0];
    assert_eq!(s.records_written, 3);
    assert_eq!(s.checkpoints, 1, "the one checkpoint should be committed");

    let rows = cursors(&p);
    let scoped = rows
        .iter()
        .find(|r| r.0 == "hostile/victim")
        .unwrap_or_else(|| panic!("no cursor under `hostile/victim`: {rows:?}"));
    assert_eq!(scoped.2.as_deref(), Some(r#"{"x":1}"#), "{rows:?}");
    assert!(
        rows.contains(&victim),
        "the victim's cursor must be untouched (value and updated_at): {rows:?}"
    );
    assert_eq!(
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        vec!["hostile/victim", "victim"],
        "no other cursor should appear"
    );

    // Again: the connector reads back its own `victim` (the scoped value),
    // still not the victim's, and the victim stays untouched.
    p.run_ok(&hostile_pipeline("state-other-stream", ""));
    assert!(cursors(&p).contains(&victim));
}

#[test]
fn a_state_value_over_1_mib_fails_the_stream_and_commits_nothing() {
    let p = project();
    let size = 2 << 20;
    // 3 rows, then a 2 MiB JSON string as the stream's state.
    let report = p
        .run(&hostile_pipeline("state-huge", ""))
        .unwrap_or_else(|e| panic!("setup failed: {e}"));
    let s = &report.streams[0];
    let err = s.error.as_deref().expect("the stream should fail");
    eprintln!("state-huge: {err}");
    assert_eq!(
        err,
        format!(
            "connector `hostile` (stream `hostile`) broke the contract: state for `hostile` is {size} bytes; a state value may hold at most 1024 KiB"
        )
    );
    let failure = s.failure.as_ref().expect("structured failure");
    assert_eq!(
        (failure.kind.as_str(), failure.category.as_str()),
        ("contract", "contract"),
        "{failure:?}"
    );
    assert!(!failure.retryable, "{failure:?}");
    assert!(!report.success());

    // Nothing committed: no cursor, no checkpoint, no rows written.
    assert_eq!(s.checkpoints, 0);
    assert_eq!(s.records_written, 0);
    assert!(
        !p.path().join("out/hostile.parquet").exists(),
        "the rows before the refused state must not be written"
    );
    assert_eq!(cursors(&p), vec![], "no cursor may be saved");
    let (status, category, code, message) = last_run(&p);
    assert_eq!(status, "failed");
    assert_eq!(category.as_deref(), Some("contract"));
    assert_eq!(code.as_deref(), Some(failure.code.as_str()));
    assert_eq!(message.as_deref(), Some(err));

    host_still_works(&p);
}

#[test]
fn a_state_value_of_exactly_1_mib_is_saved() {
    let p = project();
    let size = 1 << 20;
    let report = p.run_ok(&hostile_pipeline(
        "state-huge",
        &format!("    size: {size}\n"),
    ));
    assert_eq!(report.streams[0].checkpoints, 1);
    let rows = cursors(&p);
    assert_eq!(rows.len(), 1, "one cursor expected");
    assert_eq!(rows[0].0, "hostile");
    let value = rows[0].2.as_deref().expect("a value");
    assert_eq!(value.len(), size);
    assert!(value.starts_with("\"aaa") && value.ends_with("aaa\""));
}
