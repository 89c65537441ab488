//! Checks for the source world: the catalog, full-refresh reads (frames,
//! batch size, summary counts, progress), incremental state, cancellation
//! and resource limits.

use std::path::Path;

use rapidbyte_host::pipeline::decode_schema;
use rapidbyte_host::runtime::bindings::types::{Catalog, StreamSelection, SyncMode};
use rapidbyte_host::runtime::FailureKind;

use crate::harness::{Harness, ReadOutcome, CANCELLED};
use crate::report::Report;

/// Streams read at most (the catalog may be large).
const MAX_STREAMS: usize = 8;

/// Knobs of the source checks.
pub struct SourceOptions<'a> {
    /// `max_batch_bytes` asked of every read.
    pub max_batch_bytes: u64,
    /// A fixture directory whose `append` hook adds rows between reads.
    pub fixture: Option<&'a Path>,
}

fn selection(
    name: &str,
    mode: SyncMode,
    cursor: Option<String>,
    max_batch_bytes: u64,
) -> StreamSelection {
    StreamSelection {
        name: name.to_string(),
        sync_mode: mode,
        cursor_field: cursor,
        primary_key: Vec::new(),
        max_batch_bytes,
        filter: None,
        partition: None,
    }
}

/// Accumulates one check's findings over several streams.
#[derive(Default)]
struct Finding {
    problems: Vec<String>,
    notes: Vec<String>,
}

impl Finding {
    fn finish(self, report: &mut Report, id: &str, pass_message: String) {
        if self.problems.is_empty() {
            let mut m = pass_message;
            if !self.notes.is_empty() {
                m.push_str(&format!(" ({})", self.notes.join("; ")));
            }
            report.pass(id, m);
        } else {
            report.fail(id, self.problems.join("; "));
        }
    }
}

/// The read checks, skipped together when there is nothing to read.
const READ_CHECKS: &[&str] = &[
    "read.frames",
    "read.batch_size",
    "read.summary",
    "read.progress",
    "read.incremental",
    "read.cancellation",
];

fn skip_reads(report: &mut Report, why: &str) {
    for id in READ_CHECKS {
        report.skip(*id, why);
    }
}

/// Runs the source checks.
pub fn run(h: &Harness, report: &mut Report, opts: &SourceOptions) {
    let catalog = match h.discover() {
        Ok(c) => c,
        Err(e) => {
            report.fail("discover.catalog", format!("init + discover failed: {e}"));
            skip_reads(report, "no catalog");
            return;
        }
    };
    let streams = check_catalog(&catalog, report);
    if streams.is_empty() {
        skip_reads(report, "no readable stream in the catalog");
        return;
    }

    // Full refresh of each stream.
    let limit = opts.max_batch_bytes;
    let mut frames = Finding::default();
    let mut size = Finding::default();
    let mut summary = Finding::default();
    let mut progress = Finding::default();
    let mut resources = Finding::default();
    let mut total_rows = 0;
    let mut most_frames: Option<(usize, &str)> = None;
    for (name, schema, _) in &streams {
        let out = h.read(
            &format!("conformance-full-{name}"),
            selection(name, SyncMode::FullRefresh, None, limit),
            schema.clone(),
            None,
            false,
        );
        judge_resources(&out, name, &mut resources);
        let summary_rows = match &out.result {
            Ok(s) => s.streams.iter().map(|s| s.records).sum::<u64>(),
            Err(e) => {
                frames.problems.push(format!("stream `{name}`: {e}"));
                continue;
            }
        };
        total_rows += out.emitted;
        frames.notes.push(format!(
            "`{name}`: {} rows in {} frames",
            out.emitted,
            out.frames.len()
        ));
        for (rows, bytes) in &out.frames {
            // One row may exceed the limit on its own; more may not (IPC
            // framing and padding get twice the limit).
            if *rows > 1 && *bytes as u64 > 2 * limit {
                size.problems.push(format!(
                    "stream `{name}`: a frame of {rows} rows is {bytes} bytes, over max_batch_bytes = {limit}; cut batches at the requested size"
                ));
                break;
            }
        }
        if summary_rows != out.emitted {
            summary.problems.push(format!(
                "stream `{name}`: the read summary claims {summary_rows} rows but {} were emitted",
                out.emitted
            ));
        }
        if out.emitted > 0 && out.progress == 0 {
            progress.problems.push(format!(
                "stream `{name}`: {} rows emitted but report-progress was never called",
                out.emitted
            ));
        }
        if most_frames.is_none_or(|(n, _)| out.frames.len() > n) {
            most_frames = Some((out.frames.len(), name.as_str()));
        }
    }
    frames.finish(
        report,
        "read.frames",
        "every frame was one well-formed batch of the discovered schema".to_string(),
    );
    size.finish(
        report,
        "read.batch_size",
        format!("every multi-row frame within max_batch_bytes = {limit}"),
    );
    summary.finish(
        report,
        "read.summary",
        format!("summary counts equal the {total_rows} rows emitted"),
    );
    progress.finish(
        report,
        "read.progress",
        "progress reported while reading".into(),
    );

    incremental(h, report, &streams, opts);
    cancellation(h, report, &streams, most_frames.map(|(_, n)| n), limit);
    resources.finish(
        report,
        "resources.limits",
        format!(
            "stayed under {} MiB of memory and the time limit",
            h.limits.max_memory >> 20
        ),
    );
}

fn judge_resources(out: &ReadOutcome, name: &str, f: &mut Finding) {
    match &out.result {
        Err(e) if matches!(e.kind, FailureKind::Memory(_) | FailureKind::Timeout(_)) => {
            f.problems.push(format!("stream `{name}`: {e}"))
        }
        _ => f.notes.push(format!(
            "`{name}` peaked at {:.1} MiB",
            out.peak_memory as f64 / 1048576.0
        )),
    }
}

type Stream = (String, arrow_schema::SchemaRef, Option<String>);

/// `discover.catalog`; returns the streams to read (name, schema, cursor).
fn check_catalog(catalog: &Catalog, report: &mut Report) -> Vec<Stream> {
    let mut problems = Vec::new();
    let mut out = Vec::new();
    let mut names = std::collections::HashSet::new();
    if catalog.streams.is_empty() {
        problems.push("the catalog has no streams".to_string());
    }
    for s in &catalog.streams {
        if !names.insert(&s.name) {
            problems.push(format!("stream `{}` is listed twice", s.name));
        }
        let schema = match decode_schema(&s.schema) {
            Ok(schema) => schema,
            Err(e) => {
                problems.push(format!("stream `{}`: {e}", s.name));
                continue;
            }
        };
        if s.supported_sync_modes.is_empty() {
            problems.push(format!("stream `{}` supports no sync mode", s.name));
        }
        if !s.supported_sync_modes.contains(&SyncMode::FullRefresh) {
            problems.push(format!("stream `{}` does not support full_refresh", s.name));
        }
        let has = |c: &str| schema.column_with_name(c).is_some();
        if let Some(c) = &s.source_defined_cursor {
            if !has(c) {
                problems.push(format!("stream `{}`: cursor `{c}` is not a column", s.name));
            }
        }
        for k in s.source_defined_primary_key.iter().flatten() {
            if !has(k) {
                problems.push(format!(
                    "stream `{}`: primary key `{k}` is not a column",
                    s.name
                ));
            }
        }
        // The cursor for the incremental check: the one the source
        // suggests, else the first key column, else the first integer or
        // timestamp column.
        let cursor = s
            .supported_sync_modes
            .contains(&SyncMode::Incremental)
            .then(|| {
                s.source_defined_cursor
                    .clone()
                    .or_else(|| {
                        s.source_defined_primary_key
                            .iter()
                            .flatten()
                            .next()
                            .cloned()
                    })
                    .or_else(|| {
                        schema
                            .fields()
                            .iter()
                            .find(|f| {
                                f.data_type().is_integer()
                                    || matches!(
                                        f.data_type(),
                                        arrow_schema::DataType::Timestamp(..)
                                    )
                            })
                            .map(|f| f.name().clone())
                    })
            })
            .flatten();
        if out.len() < MAX_STREAMS {
            out.push((s.name.clone(), schema, cursor));
        }
    }
    if problems.is_empty() {
        report.pass(
            "discover.catalog",
            format!(
                "{} stream(s), each with a valid Arrow schema, sync modes, and key and cursor columns that exist",
                catalog.streams.len()
            ),
        );
    } else {
        report.fail("discover.catalog", problems.join("; "));
    }
    out
}

/// `read.incremental`: a second read from the saved state emits nothing;
/// after the fixture's `append` hook, exactly the rows it added.
fn incremental(h: &Harness, report: &mut Report, streams: &[Stream], opts: &SourceOptions) {
    let Some((name, schema, cursor)) = streams.iter().find(|s| s.2.is_some()) else {
        report.skip("read.incremental", "no stream supports incremental reads");
        return;
    };
    let pipeline = format!("conformance-incremental-{name}");
    let read = || {
        h.read(
            &pipeline,
            selection(
                name,
                SyncMode::Incremental,
                cursor.clone(),
                opts.max_batch_bytes,
            ),
            schema.clone(),
            None,
            false,
        )
    };
    let first = read();
    if let Err(e) = &first.result {
        report.fail(
            "read.incremental",
            format!("stream `{name}`: first incremental read failed: {e}"),
        );
        return;
    }
    let second = read();
    match &second.result {
        Err(e) => {
            report.fail(
                "read.incremental",
                format!("stream `{name}`: read from saved state failed: {e}"),
            );
            return;
        }
        Ok(_) if second.emitted > 0 => {
            report.fail(
                "read.incremental",
                format!(
                    "stream `{name}`: a second read from the saved state emitted {} rows again (of {}); resume after the saved cursor",
                    second.emitted, first.emitted
                ),
            );
            return;
        }
        Ok(_) => {}
    }
    let hook = opts.fixture.map(|d| d.join("append"));
    let Some(hook) = hook.filter(|p| p.is_file()) else {
        report.pass(
            "read.incremental",
            format!("stream `{name}`: {} rows, then 0 from the saved state (no fixture `append` hook to add rows)", first.emitted),
        );
        return;
    };
    let added = std::process::Command::new(&hook)
        .arg(name)
        .output()
        .map_err(|e| format!("{}: {e}", hook.display()))
        .and_then(|o| {
            if !o.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    hook.display(),
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{} must print the number of rows it added", hook.display()))
        });
    let added = match added {
        Ok(n) => n,
        Err(e) => {
            report.fail("read.incremental", format!("fixture hook: {e}"));
            return;
        }
    };
    let third = read();
    match &third.result {
        Ok(_) if third.emitted == added => report.pass(
            "read.incremental",
            format!("stream `{name}`: {} rows, 0 from the saved state, then exactly the {added} appended", first.emitted),
        ),
        Ok(_) => report.fail(
            "read.incremental",
            format!("stream `{name}`: {added} rows were appended but the next read emitted {}", third.emitted),
        ),
        Err(e) => report.fail("read.incremental", format!("stream `{name}`: read after appending failed: {e}")),
    }
}

/// `read.cancellation`: refusing the second frame stops the read with an
/// error, promptly, and the next instance works.
fn cancellation(
    h: &Harness,
    report: &mut Report,
    streams: &[Stream],
    name: Option<&str>,
    limit: u64,
) {
    let Some((name, schema, _)) = name.and_then(|n| streams.iter().find(|s| s.0 == n)) else {
        report.skip("read.cancellation", "no stream to read");
        return;
    };
    // Small batches, so that there is a second frame to refuse.
    let out = h.read(
        &format!("conformance-cancel-{name}"),
        selection(name, SyncMode::FullRefresh, None, (limit / 64).max(1024)),
        schema.clone(),
        Some(1),
        false,
    );
    if out.refused == 0 {
        report.skip(
            "read.cancellation",
            format!("stream `{name}` fits in one frame: nothing to cancel after"),
        );
        return;
    }
    match &out.result {
        Ok(_) => report.fail(
            "read.cancellation",
            format!("stream `{name}`: the host refused a frame ({CANCELLED}) but read returned ok; return the emit error"),
        ),
        Err(e) if matches!(e.kind, FailureKind::Memory(_) | FailureKind::Timeout(_)) => {
            report.fail("read.cancellation", format!("stream `{name}`: {e}"))
        }
        Err(e) => report.pass("read.cancellation", format!("stream `{name}` stopped after the refused frame: {e}")),
    }
}
