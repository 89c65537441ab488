//! What the commands print on stdout.

use anyhow::Result;
use rapidbyte_host::pipeline::{decode_schema, PipelineReport};
use rapidbyte_host::runtime::bindings::sync_mode_name;
use rapidbyte_host::runtime::bindings::types::{Catalog, ValidationResult, ValidationStatus};
use rapidbyte_host::runtime::escape;
use rapidbyte_host::state::{CursorRow, RunRow};

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// The per-stream summary of a run.
pub fn print_report(r: &PipelineReport) {
    let failed = r.streams.iter().filter(|s| s.error.is_some()).count();
    println!(
        "Pipeline '{}': {} stream(s), {} ok, {} failed, in {:.2}s",
        r.pipeline,
        r.streams.len(),
        r.streams.len() - failed,
        failed,
        r.duration.as_secs_f64()
    );
    println!(
        "  {:<6} {:<24} {:<13} {:>12} {:>12} {:>9} {:>12} {:>10}",
        "", "stream", "mode", "records", "bytes", "seconds", "rows/s", "peak mem"
    );
    for s in &r.streams {
        println!(
            "  {:<6} {:<24} {:<13} {:>12} {:>12} {:>9.2} {:>12} {:>10}",
            match (&s.error, s.interrupted) {
                (None, _) => "OK",
                (Some(_), true) => "STOPPED",
                (Some(_), false) => "FAILED",
            },
            escape(&s.name, 200),
            s.sync_mode,
            thousands(s.records_written),
            mib(s.bytes),
            s.duration.as_secs_f64(),
            thousands(s.rows_per_sec() as u64),
            mib(s.peak_memory),
        );
        if let Some(e) = &s.error {
            println!("         error: {e}");
        }
    }
    if let Some(rss) = r.peak_rss {
        println!(
            "State saved to {}. Memory peak: {}.",
            r.state_path.display(),
            mib(rss)
        );
    }
}

/// The run summary as JSON: per stream its counts and, when it failed, the
/// structured failure (kind, category, code, message, retryable, details).
pub fn report_json(r: &PipelineReport) -> serde_json::Value {
    let streams: Vec<serde_json::Value> = r
        .streams
        .iter()
        .map(|s| {
            serde_json::json!({
                "name": s.name,
                "status": match (&s.error, s.interrupted) {
                    (None, _) => "ok",
                    (Some(_), true) => "interrupted",
                    (Some(_), false) => "failed",
                },
                "sync_mode": s.sync_mode,
                "records_read": s.records_read,
                "records_written": s.records_written,
                "bytes": s.bytes,
                "seconds": s.duration.as_secs_f64(),
                "peak_memory": s.peak_memory,
                "checkpoints": s.checkpoints,
                "error": s.failure,
            })
        })
        .collect();
    serde_json::json!({
        "pipeline": r.pipeline,
        "success": r.success(),
        "seconds": r.duration.as_secs_f64(),
        "peak_rss": r.peak_rss,
        "state": r.state_path.display().to_string(),
        "streams": streams,
    })
}

/// One `check` line per connector; returns whether it passed.
pub fn print_validation(side: &str, reference: &str, v: &ValidationResult) -> bool {
    let tag = match v.status {
        ValidationStatus::Success => "OK",
        ValidationStatus::Warning => "WARN",
        ValidationStatus::Failed => "FAILED",
    };
    println!("[{tag}] {side} {reference}: {}", v.message);
    for d in &v.details {
        match &d.field {
            Some(f) => println!("       {f}: {}", d.message),
            None => println!("       {}", d.message),
        }
    }
    v.status != ValidationStatus::Failed
}

/// A catalog, human or JSON.
pub fn print_catalog(catalog: &Catalog, json: bool) -> Result<()> {
    let mut out = Vec::new();
    for s in &catalog.streams {
        let schema = decode_schema(&s.schema).map_err(anyhow::Error::msg)?;
        let modes: Vec<String> = s
            .supported_sync_modes
            .iter()
            .map(|m| sync_mode_name(*m).to_string())
            .collect();
        if json {
            out.push(serde_json::json!({
                "name": s.name,
                "sync_modes": modes,
                "cursor": s.source_defined_cursor,
                "primary_key": s.source_defined_primary_key,
                "columns": schema.fields().iter().map(|f| serde_json::json!({
                    "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        let mut extra = Vec::new();
        if let Some(c) = &s.source_defined_cursor {
            extra.push(format!("cursor: {c}"));
        }
        if let Some(pk) = &s.source_defined_primary_key {
            extra.push(format!("primary key: {}", pk.join(", ")));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {}", extra.join(", "))
        };
        println!("{} ({}{extra})", s.name, modes.join(", "));
        for f in schema.fields() {
            println!(
                "  {:<28} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " not null" }
            );
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "streams": out }))?
        );
    } else if catalog.streams.is_empty() {
        println!("(no streams)");
    }
    Ok(())
}

/// Cursors and recent runs.
pub fn print_state(cursors: &[CursorRow], runs: &[RunRow]) {
    if cursors.is_empty() {
        println!("\nNo saved cursors.");
    }
    for c in cursors {
        println!("\nStream '{}':", c.stream);
        println!(
            "  cursor: {} = {}",
            c.cursor_field.as_deref().unwrap_or("-"),
            c.cursor_value.as_deref().unwrap_or("-")
        );
        println!("  updated: {}", c.updated_at);
    }
    if !runs.is_empty() {
        println!("\nRecent runs:");
        for r in runs {
            println!(
                "  #{:<5} {:<20} {:<10} {}  read {} written {}{}",
                r.id,
                r.stream,
                r.status,
                r.started_at,
                r.records_read,
                r.records_written,
                r.error_message
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            );
        }
    }
}
