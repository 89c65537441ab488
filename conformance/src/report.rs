//! Check results and how they are printed: one line per check for people,
//! JSON for CI.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The connector does what the contract asks.
    Pass,
    /// It does not; the message says what to fix.
    Fail,
    /// The check does not apply, or lacks what it needs (the message says
    /// what).
    Skip,
}

/// One check: a stable id, its outcome and a message for the author.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable id, e.g. `read.summary`.
    pub id: String,
    /// Outcome.
    pub status: Status,
    /// What was seen, and for a failure what to fix.
    pub message: String,
}

/// Everything the suite found about one connector.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Connector name from its manifest.
    pub connector: String,
    /// Its version.
    pub version: String,
    /// The world it exports: `source`, `destination` or `transform`.
    pub world: String,
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// Adds a result.
    pub fn push(&mut self, id: impl Into<String>, status: Status, message: impl Into<String>) {
        let check = Check {
            id: id.into(),
            status,
            message: message.into(),
        };
        tracing::debug!(id = %check.id, status = ?check.status, "{}", check.message);
        self.checks.push(check);
    }

    /// Adds a pass.
    pub fn pass(&mut self, id: impl Into<String>, message: impl Into<String>) {
        self.push(id, Status::Pass, message);
    }

    /// Adds a failure.
    pub fn fail(&mut self, id: impl Into<String>, message: impl Into<String>) {
        self.push(id, Status::Fail, message);
    }

    /// Adds a skip.
    pub fn skip(&mut self, id: impl Into<String>, message: impl Into<String>) {
        self.push(id, Status::Skip, message);
    }

    /// Whether every check that applied passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    /// The check with `id`, if it ran.
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Counts of (pass, fail, skip).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        (n(Status::Pass), n(Status::Fail), n(Status::Skip))
    }

    /// The human report: one line per check, then a summary.
    pub fn render(&self) -> String {
        let mut out = format!(
            "Conformance of {} {} ({} world)\n",
            self.connector, self.version, self.world
        );
        for c in &self.checks {
            let tag = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Skip => "SKIP",
            };
            out.push_str(&format!("  [{tag}] {:<30} {}\n", c.id, c.message));
        }
        let (pass, fail, skip) = self.counts();
        out.push_str(&format!(
            "{}: {pass} passed, {fail} failed, {skip} skipped\n",
            if fail == 0 {
                "CONFORMS"
            } else {
                "DOES NOT CONFORM"
            }
        ));
        out
    }

    /// The JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        let (pass, fail, skip) = self.counts();
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("passed".into(), serde_json::json!(self.passed()));
            o.insert(
                "summary".into(),
                serde_json::json!({"pass": pass, "fail": fail, "skip": skip}),
            );
        }
        v
    }
}
