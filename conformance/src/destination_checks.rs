//! Checks for the destination world: the sample stream written in every
//! write mode the manifest declares, checkpoints acknowledged, summary
//! counts, an empty stream, reruns, and (with a paired source) the data
//! read back identical.

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use rapidbyte_host::runtime::bindings::types::{
    MergeSpec, StreamSelection, SyncMode, WriteMode, WriteRequest,
};
use rapidbyte_host::runtime::{Checkpoint, Frame};

use crate::harness::Harness;
use crate::report::Report;
use crate::sample;

/// The sample as frames: batch, checkpoint, batch.
fn frames(stream: &str) -> Result<Vec<Frame>, String> {
    let mut out = Vec::new();
    for (i, b) in sample::batches().iter().enumerate() {
        if i > 0 {
            out.push(Frame::Checkpoint(Checkpoint {
                key: stream.to_string(),
                cursor_field: None,
                value: format!("{{\"conformance\":{i}}}"),
                share: 0,
                seq: i as u64 - 1,
            }));
        }
        out.push(Frame::Data {
            stream: stream.to_string(),
            ipc: sample::ipc(b)?,
            rows: b.num_rows() as u64,
        });
    }
    Ok(out)
}

fn mode(name: &str) -> Option<WriteMode> {
    Some(match name {
        "append" => WriteMode::Append,
        "replace" => WriteMode::Replace,
        "upsert" => WriteMode::Upsert(vec!["id".into()]),
        "merge" => WriteMode::Merge(MergeSpec {
            merge_keys: vec!["id".into()],
            update_columns: Vec::new(),
        }),
        _ => return None,
    })
}

/// Rows by id, each as its cells' text, over the sample's columns that
/// `batches` has with a comparable type; and the columns compared.
fn rows_by_id(batches: &[RecordBatch]) -> (BTreeMap<String, Vec<Option<String>>>, usize) {
    let names: Vec<String> = sample::schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let mut out = BTreeMap::new();
    let mut dup = 0usize;
    for b in batches {
        let Some(ids) = b.column_by_name("id") else {
            continue;
        };
        for row in 0..b.num_rows() {
            let id = sample::cell(ids.as_ref(), row).unwrap_or_default();
            let cells = names
                .iter()
                .map(|n| {
                    b.column_by_name(n)
                        .and_then(|c| sample::cell(c.as_ref(), row))
                })
                .collect();
            if out.insert(id.clone(), cells).is_some() {
                dup += 1;
                out.insert(format!("{id}#dup{dup}"), Vec::new());
            }
        }
    }
    (out, names.len())
}

/// Compares what was read back with the sample (`copies` times over for
/// append reruns); `Err` names the first difference.
fn compare(read: &[RecordBatch], copies: usize) -> Result<String, String> {
    let rows: usize = read.iter().map(|b| b.num_rows()).sum();
    if rows != sample::ROWS * copies {
        return Err(format!(
            "read back {rows} rows, expected {}",
            sample::ROWS * copies
        ));
    }
    if copies != 1 {
        return Ok(format!("{rows} rows read back"));
    }
    let (want, _) = rows_by_id(&sample::batches());
    let (got, _) = rows_by_id(read);
    let mut compared = std::collections::BTreeSet::new();
    for (id, cells) in &want {
        let Some(back) = got.get(id) else {
            return Err(format!("row id {id} is missing"));
        };
        for (i, (w, g)) in cells.iter().zip(back).enumerate() {
            // Columns read back as another type are not compared.
            if let (Some(w), Some(g)) = (w, g) {
                compared.insert(i);
                if w != g {
                    let name = sample::schema().field(i).name().clone();
                    let short = |s: &str| s.chars().take(60).collect::<String>();
                    return Err(format!(
                        "row id {id}, column `{name}`: wrote {:?}, read back {:?}",
                        short(w),
                        short(g)
                    ));
                }
            }
        }
    }
    let names: Vec<String> = compared
        .iter()
        .map(|i| sample::schema().field(*i).name().clone())
        .collect();
    Ok(format!(
        "{rows} rows read back identical in {}",
        names.join(", ")
    ))
}

/// Reads `stream` back through the paired source.
fn read_back(paired: &Harness, stream: &str) -> Result<Vec<RecordBatch>, String> {
    let catalog = paired
        .discover()
        .map_err(|e| format!("paired discover: {e}"))?;
    let desc = catalog
        .streams
        .iter()
        .find(|s| s.name == stream)
        .ok_or_else(|| format!("the paired source has no stream `{stream}`"))?;
    let schema = rapidbyte_host::pipeline::decode_schema(&desc.schema)?;
    let out = paired.read(
        &format!("conformance-readback-{stream}"),
        StreamSelection {
            name: stream.to_string(),
            sync_mode: SyncMode::FullRefresh,
            cursor_field: None,
            primary_key: Vec::new(),
            max_batch_bytes: 64 << 20,
            filter: None,
            partition: None,
        },
        schema,
        None,
        true,
    );
    out.result.map_err(|e| format!("paired read: {e}"))?;
    let mut batches = Vec::new();
    for ipc in &out.kept {
        batches
            .push(rapidbyte_host::ipc::decode_frame(ipc.clone(), None).map_err(|e| e.to_string())?);
    }
    Ok(batches)
}

/// Runs the destination checks. Streams are named
/// `conformance_<mode>_<run>`; they stay in the destination.
pub fn run(h: &Harness, paired: Option<&Harness>, report: &mut Report) {
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let schema_ipc = match sample::schema_ipc() {
        Ok(s) => s,
        Err(e) => {
            report.fail("write.sample", e);
            return;
        }
    };
    let declared = &h.connector.manifest.write_modes;
    let modes: Vec<String> = if declared.is_empty() {
        vec!["append".into()]
    } else {
        declared.clone()
    };
    for m in &modes {
        let id = format!("write.{m}");
        let Some(write_mode) = mode(m) else {
            report.fail(
                &id,
                format!("the manifest declares write mode `{m}`, which the contract does not have"),
            );
            continue;
        };
        let stream = format!("conformance_{m}_{run_id}");
        let request = WriteRequest {
            stream_name: stream.clone(),
            schema: schema_ipc.clone(),
            write_mode,
        };
        let write = || -> Result<String, String> {
            let out = h.write(
                &format!("conformance-{stream}"),
                request.clone(),
                frames(&stream)?,
            );
            let summary = out.result.map_err(|e| e.to_string())?;
            if summary.records != out.delivered || out.delivered != sample::ROWS as u64 {
                return Err(format!(
                    "the summary claims {} rows; {} were delivered",
                    summary.records, out.delivered
                ));
            }
            if out.checkpoints == 0 {
                return Err("the checkpoint between the batches was never acknowledged (call next-batch again after making the rows durable)".into());
            }
            Ok(format!(
                "{} rows (unicode, escapes, NULLs in every column, a {} KiB row) and {} checkpoint(s) acknowledged; peak {:.1} MiB",
                out.delivered,
                sample::WIDE >> 10,
                out.checkpoints,
                out.peak_memory as f64 / 1048576.0
            ))
        };
        match write() {
            Ok(msg) => report.pass(&id, msg),
            Err(e) => {
                report.fail(&id, e);
                continue;
            }
        }
        if let Some(p) = paired {
            match read_back(p, &stream).and_then(|b| compare(&b, 1)) {
                Ok(msg) => report.pass(format!("{id}.readback"), msg),
                Err(e) => report.fail(format!("{id}.readback"), format!("stream `{stream}`: {e}")),
            }
        } else {
            report.skip(
                format!("{id}.readback"),
                "no --paired source to read the data back",
            );
        }
        // Rerun: replace, upsert and merge end where they were; append adds.
        let copies = if m == "append" { 2 } else { 1 };
        let rerun = write().and_then(|_| match paired {
            Some(p) => read_back(p, &stream).and_then(|b| compare(&b, copies)),
            None => Ok("the rerun succeeded (no --paired source to compare)".into()),
        });
        let rid = format!("{id}.rerun");
        match rerun {
            Ok(msg) => report.pass(&rid, msg),
            Err(e) => report.fail(&rid, format!("stream `{stream}`: {e}")),
        }
    }
    // An empty stream.
    let stream = format!("conformance_empty_{run_id}");
    let out = h.write(
        &format!("conformance-{stream}"),
        WriteRequest {
            stream_name: stream.clone(),
            schema: schema_ipc,
            write_mode: mode(&modes[0]).unwrap_or(WriteMode::Append),
        },
        Vec::new(),
    );
    match out.result {
        Ok(s) if s.records == 0 => {
            report.pass("write.empty_stream", "a stream with no batches: ok, 0 rows")
        }
        Ok(s) => report.fail(
            "write.empty_stream",
            format!("no rows were sent but the summary claims {}", s.records),
        ),
        Err(e) => report.fail(
            "write.empty_stream",
            format!("a stream with no batches failed: {e}"),
        ),
    }
}
