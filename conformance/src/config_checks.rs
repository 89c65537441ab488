//! `validate` with the good config and with broken ones: missing keys,
//! wrong types, wrong credentials. A connector must answer each with a
//! structured error of the right category (or accept it), never trap.

use rapidbyte_host::runtime::bindings::types::ValidationStatus;
use rapidbyte_host::runtime::FailureKind;
use serde_json::Value;

use crate::harness::{Harness, Probe};
use crate::report::Report;

/// What a probe's answer was, for messages.
/// A validation status as the CLI prints it.
pub fn status_name(s: ValidationStatus) -> &'static str {
    match s {
        ValidationStatus::Success => "success",
        ValidationStatus::Warning => "warning",
        ValidationStatus::Failed => "failed",
    }
}

fn describe(p: &Probe) -> String {
    match p {
        Probe::HostRejected(e) => format!("refused by the host ({e})"),
        Probe::Answered(v) => format!("validate answered {}: {}", status_name(v.status), v.message),
        Probe::Failed(f) => f.to_string(),
    }
}

/// `Some(problem)` if the answer breaks the contract: a trap, or an error
/// of another category than `want`.
fn judge(p: &Probe, want: &[&str]) -> Option<String> {
    match p {
        Probe::HostRejected(_) | Probe::Answered(_) => None,
        Probe::Failed(f) => match &f.kind {
            FailureKind::Error(e) if want.contains(&e.category.as_str()) => None,
            FailureKind::Error(e) => Some(format!(
                "returned a `{}/{}` error where a {} error was expected",
                e.category,
                e.code,
                want.join(" or ")
            )),
            _ => Some(format!("trapped instead of returning an error: {f}")),
        },
    }
}

/// A value of another JSON type than `v`.
fn wrong_type(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::from(12345),
        Value::Number(_) | Value::Bool(_) => Value::from("not-the-right-type"),
        Value::Array(_) => Value::from(true),
        Value::Object(_) => Value::from(7),
        Value::Null => Value::from(vec![1, 2]),
    }
}

/// Runs `config.good`, `config.missing_keys`, `config.wrong_types` and
/// `config.wrong_credentials`.
pub fn run(h: &Harness, report: &mut Report, config_given: bool) {
    // The good config.
    if !config_given {
        report.skip("config.good", "no --config given");
    } else {
        match h.validate(&h.config) {
            Probe::Answered(v) if v.status != ValidationStatus::Failed => report.pass(
                "config.good",
                format!("validate: {}: {}", status_name(v.status), v.message),
            ),
            other => report.fail(
                "config.good",
                format!("the given config does not validate: {}", describe(&other)),
            ),
        }
    }

    // Every key missing in turn (and all of them).
    let obj = h.config.as_object().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    let mut probes = 0;
    // A missing required key is a config error; a missing optional key
    // falls back to a default, which may fail any structured way (the
    // default port has no server: a network error).
    let required = &h.connector.manifest.config_schema.required;
    let mut variants: Vec<(String, Value, bool)> = obj
        .keys()
        .map(|k| {
            let mut c = obj.clone();
            c.remove(k);
            (
                format!("without `{k}`"),
                Value::Object(c),
                required.contains(k),
            )
        })
        .collect();
    variants.push((
        "with an empty config".into(),
        Value::Object(Default::default()),
        !required.is_empty(),
    ));
    for (what, config, is_required) in &variants {
        let p = h.validate(config);
        probes += 1;
        let want: &[&str] = if *is_required {
            &["config"]
        } else {
            &[
                "config",
                "auth",
                "network",
                "rate-limit",
                "data",
                "schema",
                "internal",
            ]
        };
        if let Some(problem) = judge(&p, want) {
            problems.push(format!("{what}: {problem}"));
        }
    }
    if problems.is_empty() {
        report.pass(
            "config.missing_keys",
            format!(
                "{probes} configs with keys missing: each accepted or refused with a config error"
            ),
        );
    } else {
        report.fail("config.missing_keys", problems.join("; "));
    }

    // Every value of the wrong type in turn.
    if obj.is_empty() {
        report.skip("config.wrong_types", "the config has no keys to vary");
    } else {
        let mut problems = Vec::new();
        for (k, v) in &obj {
            let mut c = obj.clone();
            c.insert(k.clone(), wrong_type(v));
            let p = h.validate(&Value::Object(c));
            if let Some(problem) = judge(&p, &["config"]) {
                problems.push(format!("`{k}` as {}: {problem}", wrong_type(v)));
            }
        }
        if problems.is_empty() {
            report.pass(
                "config.wrong_types",
                format!(
                    "{} configs with a value of the wrong type: none trapped",
                    obj.len()
                ),
            );
        } else {
            report.fail("config.wrong_types", problems.join("; "));
        }
    }

    // Wrong credentials, where the config has a password.
    match obj.get("password") {
        Some(Value::String(_)) => {
            let mut c = obj.clone();
            c.insert(
                "password".into(),
                Value::from("rapidbyte-conformance-wrong-password"),
            );
            let p = h.validate(&Value::Object(c));
            match &p {
                Probe::Failed(f)
                    if matches!(&f.kind, FailureKind::Error(e) if e.category == "auth") =>
                {
                    report.pass("config.wrong_credentials", format!("refused: {f}"))
                }
                Probe::Answered(v) if v.status == ValidationStatus::Failed => report.pass(
                    "config.wrong_credentials",
                    format!("validate failed: {}", v.message),
                ),
                other => report.fail(
                    "config.wrong_credentials",
                    format!(
                        "a wrong password should be an `auth` error; got: {} (if the server trusts every connection, test against one that checks passwords)",
                        describe(other)
                    ),
                ),
            }
        }
        _ => report.skip(
            "config.wrong_credentials",
            "the config has no `password` to vary",
        ),
    }
}
