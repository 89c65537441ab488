//! The `rapidbyte` binary: exit codes, messages and the summary, run as a
//! user would run it.

mod common;

use std::path::Path;
use std::process::Output;

fn rapidbyte(dir: &Path, args: &[&str]) -> Output {
    common::rapidbyte(dir, args)
        .output()
        .expect("run rapidbyte")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn init_then_run_the_example_then_rerun_incrementally() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rapidbyte(tmp.path(), &["init", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let proj = tmp.path().join("proj");
    for p in [
        "pipelines/example.yaml",
        "rapidbyte.toml",
        "connectors",
        "contracts",
    ] {
        assert!(proj.join(p).exists(), "{p} missing");
    }
    let out = rapidbyte(&proj, &["run", "pipelines/example.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("OK") && stdout.contains("customers") && stdout.contains("rows/s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("peak mem") && stdout.contains("Memory peak"),
        "{stdout}"
    );
    assert!(proj
        .join(".rapidbyte/cache/example/customers.parquet")
        .is_file());

    let out = rapidbyte(&proj, &["run", "pipelines"]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0));
    let line = stdout.lines().find(|l| l.contains("customers")).unwrap();
    assert!(line.contains(" 0 "), "a rerun reads nothing new: {line}");

    let out = rapidbyte(&proj, &["state", "show", "pipelines/example.yaml"]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("cursor: updated_at"), "{stdout}");

    // A typo in --stream is an error naming the known streams; a reset of
    // an append pipeline warns that the next run appends everything again.
    let out = rapidbyte(
        &proj,
        &[
            "state",
            "reset",
            "pipelines/example.yaml",
            "--stream",
            "custmers",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("no stream `custmers`") && stderr.contains("known streams: customers"),
        "{stderr}"
    );
    let out = rapidbyte(&proj, &["state", "show", "pipelines/example.yaml"]);
    assert!(
        text(&out).0.contains("cursor: updated_at"),
        "nothing was reset"
    );
    let out = rapidbyte(
        &proj,
        &[
            "state",
            "reset",
            "pipelines/example.yaml",
            "--stream",
            "customers",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("write_mode is append") && stderr.contains("`customers`"),
        "{stderr}"
    );
    let out = rapidbyte(&proj, &["run", "pipelines/example.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    let out = rapidbyte(&proj, &["check", "pipelines/example.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[OK] source") && stdout.contains("[OK] destination"),
        "{stdout}"
    );

    // JSON logs for machines.
    let out = common::rapidbyte(&proj, &["run", "pipelines/example.yaml"])
        .env("RAPIDBYTE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    let first = stderr.lines().next().expect("a log line");
    let v: serde_json::Value =
        serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(
        v.get("level").is_some() && v.get("timestamp").is_some(),
        "{first}"
    );
}

#[test]
fn config_errors_exit_2_and_name_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("bad.yaml"),
        "version: \"1.0\"\npipeline: x\nsource:\n  use: rapidbyte/source-file\n  config: { path: . }\ndestination:\n  use: rapidbyte/dest-file\n  write_mode: apend\n",
    )
    .unwrap();
    let out = rapidbyte(tmp.path(), &["run", "bad.yaml"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("bad.yaml")
            && stderr.contains("destination.write_mode")
            && stderr.contains("apend"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );

    std::fs::write(
        tmp.path().join("env.yaml"),
        "version: \"1.0\"\npipeline: x\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: ${RB_TEST_UNSET_VAR}\ndestination:\n  use: rapidbyte/dest-file\n",
    )
    .unwrap();
    let out = rapidbyte(tmp.path(), &["check", "env.yaml"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("source.config.path") && stderr.contains("RB_TEST_UNSET_VAR"),
        "{stderr}"
    );

    let out = rapidbyte(tmp.path(), &["run", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = rapidbyte(tmp.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_failing_stream_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    std::fs::write(tmp.path().join("data/n.csv"), "n\n1\nx\n").unwrap();
    std::fs::write(
        tmp.path().join("p.yaml"),
        "version: \"1.0\"\npipeline: x\nsource:\n  use: rapidbyte/source-file\n  config:\n    path: data\n    schemas: { n: { n: int64 } }\ndestination:\n  use: rapidbyte/dest-file\n  config: { path: out }\n",
    )
    .unwrap();
    let out = rapidbyte(tmp.path(), &["run", "p.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAILED") && stdout.contains("n.csv"),
        "{stdout}"
    );
}

#[test]
fn discover_lists_streams_and_columns() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    std::fs::write(
        tmp.path().join("data/people.csv"),
        "id,name,born\n1,Ada,1815-12-10\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("cfg.yaml"), "path: data\n").unwrap();
    let out = rapidbyte(
        tmp.path(),
        &["discover", "source-file", "--config", "cfg.yaml"],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("people (full_refresh, incremental)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("id") && stdout.contains("Int64") && stdout.contains("Date32"),
        "{stdout}"
    );
    let out = rapidbyte(
        tmp.path(),
        &["discover", "source-file", "--config", "cfg.yaml", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["streams"][0]["name"], "people");
    assert_eq!(v["streams"][0]["columns"][1]["name"], "name");
}

#[test]
fn conformance_reports_each_check_and_exits_by_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let flawed = common::target_dir().join("rapidbyte-test-components/flawed");
    let flawed = flawed.display().to_string();

    std::fs::write(dir.join("good.yaml"), "rows: 300\n").unwrap();
    let o = rapidbyte(dir, &["conformance", &flawed, "--config", "good.yaml"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("[PASS] read.summary") && out.contains("CONFORMS"),
        "{out}"
    );

    std::fs::write(dir.join("bad.yaml"), "flaw: lying-summary\nrows: 300\n").unwrap();
    let o = rapidbyte(
        dir,
        &["conformance", &flawed, "--config", "bad.yaml", "--json"],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
    assert_eq!(v["passed"], false);
    let failed: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["read.summary"]);

    // A connector that does not exist: a usage error naming it.
    let o = rapidbyte(dir, &["conformance", "no-such-connector"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-connector"), "{err}");
}

#[test]
fn conformance_starts_its_own_fixtures() {
    let tmp = tempfile::tempdir().unwrap();
    for (connector, fixture) in [
        ("dest-file", "files"),
        ("source-file", "files"),
        ("source-postgres", "postgres"),
    ] {
        let o = rapidbyte(
            tmp.path(),
            &["conformance", connector, "--start", fixture, "--json"],
        );
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{connector}: {out}\n{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("JSON report");
        assert_eq!(v["passed"], true, "{connector}");
        let incremental = v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "read.incremental" || c["id"] == "write.append.readback")
            .expect("a data check ran");
        assert_eq!(incremental["status"], "pass", "{connector}: {incremental}");
    }
    let o = rapidbyte(
        tmp.path(),
        &["conformance", "source-file", "--start", "mysql"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("files, postgres"), "{err}");
}

/// A stream another live process is syncing is skipped with a message on
/// stderr (the log), not only in the summary on stdout.
#[test]
fn a_stream_already_being_synced_is_reported_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let out = rapidbyte(tmp.path(), &["init", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let proj = tmp.path().join("proj");
    let out = rapidbyte(&proj, &["run", "pipelines/example.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // This test process (alive) holds the stream's run.
    let state = rapidbyte_host::state::open(&rapidbyte_host::state::StateLocation::Sqlite(
        proj.join(".rapidbyte/state.db"),
    ))
    .expect("open the state database");
    state
        .start_run("example", "customers")
        .expect("take the run");
    let out = rapidbyte(&proj, &["run", "pipelines/example.yaml"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("already being synced") && stderr.contains(&std::process::id().to_string()),
        "{stderr}"
    );
    assert!(stdout.contains("already being synced"), "{stdout}");
}
