//! Text a connector supplies cannot forge what the binary prints: the
//! hostile component's `log-inject` and `error-inject` modes put a newline
//! and a forged log line or summary row into a log message and an error
//! message, and a 1 MiB log message; stderr and stdout must show them
//! escaped on the connector's own line, capped, and `run --json` must carry
//! the connector's error as data. `metric-nan`'s dropped metrics are warned
//! about once.

mod common;

use std::process::Output;

use rapidbyte_tests::Project;

const NO_CAPS: &str =
    "name: hostile\nversion: 0.1.0\nkind: source\nwasm:\n  entrypoint: hostile.wasm\n";

/// The host log line `log-inject` tries to forge.
const FORGED_LOG: &str = "2026-01-01T00:00:00Z ERROR forged host line";
/// The summary row `error-inject` tries to forge.
const FORGED_ROW: &str = "  OK     forged_stream";

/// A project with the hostile component staged, its pipeline in `p.yaml`
/// running `mode`.
fn project(mode: &str) -> Project {
    let p = Project::new();
    p.component_with_manifest("hostile", "hostile", NO_CAPS);
    p.write(
        "p.yaml",
        &format!(
            "version: \"1.0\"\npipeline: hostile\nsource:\n  use: components/hostile\n  config:\n    mode: {mode}\ndestination:\n  use: rapidbyte/dest-file\n  config:\n    path: out\n  write_mode: replace\n"
        ),
    );
    p
}

/// `rapidbyte <args>` in `p` at log level `info`, in human format.
fn run(p: &Project, args: &[&str]) -> (Output, String, String) {
    let out = common::rapidbyte(p.path(), args)
        .env("RAPIDBYTE_LOG", "info")
        .output()
        .expect("run rapidbyte");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Fails if a line of `text` starts with `forged`, once leading spaces are
/// allowed for (`trim`) or not.
fn assert_no_line_starts_with(what: &str, text: &str, forged: &str, trim: bool) {
    for line in text.lines() {
        let l = if trim { line.trim_start() } else { line };
        assert!(
            !l.starts_with(forged),
            "{what} has a forged line: {line:?}\n--- {what} ---\n{}",
            truncated(text)
        );
    }
}

fn truncated(text: &str) -> &str {
    let mut end = text.len().min(4000);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[test]
fn a_log_message_cannot_forge_a_log_line_and_is_capped() {
    let p = project("log-inject");
    let (out, stdout, stderr) = run(&p, &["run", "p.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        truncated(&stderr)
    );
    assert!(stdout.contains("  OK     hostile"), "{stdout}");

    // The newline arrives escaped, on the connector's own line.
    assert_no_line_starts_with("stderr", &stderr, FORGED_LOG, true);
    assert_no_line_starts_with("stderr", &stderr, "forged host line", true);
    let line = stderr
        .lines()
        .find(|l| l.contains("hostile says hello"))
        .unwrap_or_else(|| panic!("the connector's log line is missing:\n{stderr}"));
    assert!(
        line.contains(&format!("hostile says hello\\n{FORGED_LOG}")),
        "the newline should be escaped: {line}"
    );
    assert!(line.contains("INFO"), "{line}");
    // The fields text too.
    assert!(
        stderr.contains(&format!("{FORGED_LOG} in fields")),
        "the fields are missing:\n{}",
        truncated(&stderr)
    );

    // The 1 MiB message: 16 KiB kept, the rest noted.
    let big = stderr
        .lines()
        .find(|l| l.contains("big aaaa"))
        .unwrap_or_else(|| panic!("the 1 MiB log line is missing:\n{}", truncated(&stderr)));
    let dropped = (1 << 20) - (16 << 10);
    assert!(
        big.contains(&format!("… ({dropped} more bytes)")),
        "the cut should be noted: …{}",
        &big[big.len().saturating_sub(200)..]
    );
    let kept = big.matches('a').count();
    assert!(
        (16_000..(16 << 10) + 100).contains(&kept),
        "about 16 KiB of the message should be kept, not {kept} bytes"
    );
    assert!(
        stderr.len() < 64 << 10,
        "stderr is {} bytes; the 1 MiB message was not capped",
        stderr.len()
    );
}

#[test]
fn an_error_message_cannot_forge_a_summary_row() {
    let p = project("error-inject");
    let (out, stdout, stderr) = run(&p, &["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_no_line_starts_with("stdout", &stdout, FORGED_ROW, false);
    assert_no_line_starts_with("stderr", &stderr, FORGED_ROW, false);
    assert_no_line_starts_with("stdout", &stdout, "OK     forged_stream", true);
    assert_no_line_starts_with("stderr", &stderr, "OK     forged_stream", true);
    assert!(stdout.contains("FAILED hostile"), "{stdout}");
    assert!(stdout.contains("0 ok, 1 failed"), "{stdout}");
    let error_line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line:\n{stdout}"));
    assert!(
        error_line.contains(&format!(
            "connector `hostile` (stream `hostile`) failed: upstream refused\\n{FORGED_ROW}"
        )) && error_line.ends_with("\\n [rate-limit/slow_down]"),
        "the message should be escaped on the error line: {error_line}"
    );
    assert!(
        stderr.contains(&format!("upstream refused\\n{FORGED_ROW}")),
        "{stderr}"
    );

    // --json: the connector's error as data.
    let (out, stdout, stderr) = run(&p, &["run", "p.yaml", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_no_line_starts_with("stdout", &stdout, FORGED_ROW, false);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("run --json prints one JSON document ({e}):\n{stdout}"));
    assert_eq!(report["success"], false, "{report:#}");
    let stream = &report["streams"][0];
    assert_eq!(stream["name"], "hostile", "{report:#}");
    assert_eq!(stream["status"], "failed", "{report:#}");
    let error = &stream["error"];
    assert_eq!(error["kind"], "connector_error", "{error:#}");
    assert_eq!(error["category"], "rate-limit", "{error:#}");
    assert_eq!(error["code"], "slow_down", "{error:#}");
    assert_eq!(error["retryable"], true, "{error:#}");
    // The details as the connector gave them: its JSON text, or that JSON.
    let details = match &error["details"] {
        serde_json::Value::String(s) => serde_json::from_str(s)
            .unwrap_or_else(|e| panic!("details should be the connector's JSON ({e}): {s}")),
        other => other.clone(),
    };
    assert_eq!(details, serde_json::json!({"hint": "x"}), "{error:#}");
    let message = error["message"].as_str().expect("a message");
    assert!(!message.contains('\n'), "{message:?}");
    assert!(
        message.contains(&format!("upstream refused\\n{FORGED_ROW}")),
        "{message:?}"
    );
}

#[test]
fn dropped_metrics_are_warned_about_once() {
    let p = project("metric-nan");
    let (out, stdout, stderr) = run(&p, &["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("  OK     hostile"), "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("dropped a metric"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "five bad metrics, one warning expected:\n{stderr}"
    );
    assert!(
        warnings[0].contains("WARN") && warnings[0].contains("hostile.nan"),
        "{}",
        warnings[0]
    );
}

/// A stream name is connector-supplied text too: `name-inject` discovers its
/// stream as `hostile\n<forged log line>`. The host may refuse the name or
/// escape it, but no line it prints may start with the forged text.
#[test]
fn a_stream_name_cannot_forge_a_log_line() {
    let p = project("name-inject");
    let (out, stdout, stderr) = run(&p, &["run", "p.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad catalog is a connector failure: {stderr}"
    );
    assert!(
        stderr.contains("broke the contract: the catalog offers a stream named `hostile\\n"),
        "{stderr}"
    );
    assert_no_line_starts_with("run stdout", &stdout, FORGED_LOG, true);
    assert_no_line_starts_with("run stderr", &stderr, FORGED_LOG, true);
    let (_, stdout, stderr) = run(&p, &["state", "show", "p.yaml"]);
    assert_no_line_starts_with("state show stdout", &stdout, FORGED_LOG, true);
    assert_no_line_starts_with("state show stderr", &stderr, FORGED_LOG, true);
}
