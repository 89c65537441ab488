//! Arrow IPC from connectors, read as untrusted input.
//!
//! Every frame a connector hands the host is checked here before anything
//! else looks at it: [`check_frame`] reads only the IPC message headers
//! (schema, row count, field nodes, buffer extents) and proves each length
//! against the bytes actually sent, without materialising a single array;
//! [`decode_frame`] does the same and then decodes the batch zero-copy over
//! the frame's own bytes, with Arrow's full validation, for host stages that
//! need the arrays. Neither allocates by a size the frame declares, and a
//! panic inside Arrow while reading guest bytes becomes a [`FrameError`].

mod guard;
mod messages;

use arrow_array::RecordBatch;
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Schema, SchemaRef};
use std::collections::HashMap;

pub use guard::{guarded, install_panic_hook};
use messages::{Message, Messages};

/// Why a frame was refused. Every variant is a lie or a contract violation
/// by the connector that sent it; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FrameError(pub String);

fn bad(msg: impl Into<String>) -> FrameError {
    FrameError(msg.into())
}

/// What the headers of a valid frame say.
#[derive(Debug, Clone)]
pub struct FrameInfo {
    /// The frame's schema.
    pub schema: SchemaRef,
    /// Rows in its record batch (0 for a schema-only frame).
    pub rows: u64,
    /// Where the record batch's metadata and body lie in the frame.
    batch: Option<BatchExtent>,
}

#[derive(Debug, Clone, Copy)]
struct BatchExtent {
    metadata: (usize, usize),
    body: (usize, usize),
}

/// Reads the schema message that starts an IPC stream (a catalog entry's
/// schema bytes, or a frame's first message).
pub fn read_schema(bytes: &[u8]) -> Result<SchemaRef, FrameError> {
    let mut messages = Messages::new(bytes);
    match messages.next_message()? {
        Some(Message::Schema(schema)) => Ok(schema),
        Some(other) => Err(bad(format!(
            "the stream starts with a {} message, not a schema",
            other.kind()
        ))),
        None => Err(bad("the stream holds no schema message")),
    }
}

/// Checks a frame's headers against the bytes sent and, when given, the
/// schema the stream declared (same column names and types, in order).
/// A frame is one schema message, at most one record batch, and an optional
/// end-of-stream marker; nothing may follow.
pub fn check_frame(bytes: &[u8], expected: Option<&Schema>) -> Result<FrameInfo, FrameError> {
    let mut messages = Messages::new(bytes);
    let schema = match messages.next_message()? {
        Some(Message::Schema(schema)) => schema,
        Some(other) => {
            return Err(bad(format!(
                "the frame starts with a {} message; a frame must start with its schema",
                other.kind()
            )))
        }
        None => return Err(bad("the frame is empty: it holds no schema message")),
    };
    if let Some(expected) = expected {
        if !same_columns(&schema, expected) {
            return Err(bad(format!(
                "batch schema {schema} does not match the discovered schema {expected}"
            )));
        }
    }
    let mut batch = None;
    let mut rows = 0u64;
    let mut batches = 0usize;
    while let Some(message) = messages.next_message()? {
        match message {
            Message::Batch {
                rows: n,
                metadata,
                body,
                nodes,
            } => {
                batches += 1;
                check_nodes(&schema, n, &nodes)?;
                check_rows_fit(&schema, n, body.1 - body.0)?;
                rows = n;
                batch = Some(BatchExtent { metadata, body });
            }
            other => {
                return Err(bad(format!(
                    "a frame holds one schema and one record batch; found a {} message after the schema",
                    other.kind()
                )))
            }
        }
    }
    if batches > 1 {
        return Err(bad(format!(
            "a frame must hold one record batch, this one holds {batches}"
        )));
    }
    Ok(FrameInfo {
        schema,
        rows,
        batch,
    })
}

/// Checks a frame like [`check_frame`], then decodes its record batch over
/// the frame's own bytes (no copy, except of misaligned buffers) with
/// Arrow's full validation of offsets, UTF-8 and lengths. A schema-only
/// frame decodes to an empty batch.
pub fn decode_frame(bytes: Vec<u8>, expected: Option<&Schema>) -> Result<RecordBatch, FrameError> {
    let info = check_frame(&bytes, expected)?;
    let Some(extent) = info.batch else {
        return Ok(RecordBatch::new_empty(info.schema));
    };
    let buffer = Buffer::from_vec(bytes);
    let schema = info.schema.clone();
    guarded(|| -> Result<RecordBatch, FrameError> {
        let meta = &buffer.as_slice()[extent.metadata.0..extent.metadata.1];
        let message =
            arrow_ipc::root_as_message(meta).map_err(|e| bad(format!("bad metadata: {e}")))?;
        let batch = message
            .header_as_record_batch()
            .ok_or_else(|| bad("record batch header missing"))?;
        let body = buffer.slice_with_length(extent.body.0, extent.body.1 - extent.body.0);
        let dictionaries = HashMap::new();
        arrow_ipc::reader::read_record_batch(
            &body,
            batch,
            schema,
            &dictionaries,
            None,
            &message.version(),
        )
        .map_err(|e| bad(format!("malformed Arrow IPC batch: {e}")))
    })
    .map_err(|panic| bad(format!("malformed Arrow IPC batch: {panic}")))?
}

fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.fields().len() == b.fields().len()
        && a.fields()
            .iter()
            .zip(b.fields())
            .all(|(x, y)| x.name() == y.name() && x.data_type() == y.data_type())
}

/// Field nodes a column of type `dt` occupies in a record batch (the IPC
/// format lists them depth first).
fn node_count(dt: &DataType) -> usize {
    match dt {
        DataType::Struct(fields) => {
            1 + fields
                .iter()
                .map(|f| node_count(f.data_type()))
                .sum::<usize>()
        }
        DataType::Union(fields, _) => {
            1 + fields
                .iter()
                .map(|(_, f)| node_count(f.data_type()))
                .sum::<usize>()
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => 1 + node_count(f.data_type()),
        DataType::RunEndEncoded(a, b) => 1 + node_count(a.data_type()) + node_count(b.data_type()),
        _ => 1,
    }
}

/// The field nodes must be exactly those of the schema, each with a sane
/// length and null count, and every top-level column as long as the batch.
fn check_nodes(schema: &Schema, rows: u64, nodes: &[(i64, i64)]) -> Result<(), FrameError> {
    let want: usize = schema
        .fields()
        .iter()
        .map(|f| node_count(f.data_type()))
        .sum();
    if nodes.len() != want {
        return Err(bad(format!(
            "the record batch lists {} field nodes; its schema has {want}",
            nodes.len()
        )));
    }
    for (i, &(length, nulls)) in nodes.iter().enumerate() {
        if length < 0 || nulls < 0 || nulls > length {
            return Err(bad(format!(
                "field node {i} declares length {length} with {nulls} nulls"
            )));
        }
    }
    let mut at = 0;
    for field in schema.fields() {
        let (length, _) = nodes[at];
        if length as u64 != rows {
            return Err(bad(format!(
                "column `{}` declares {length} rows in a batch of {rows}",
                field.name()
            )));
        }
        at += node_count(field.data_type());
    }
    Ok(())
}

/// A column of a fixed-width or boolean type needs at least one bit per row
/// in the body, so a row count the body cannot hold is a lie.
fn check_rows_fit(schema: &Schema, rows: u64, body_len: usize) -> Result<(), FrameError> {
    let dense = schema
        .fields()
        .iter()
        .any(|f| f.data_type().is_primitive() || f.data_type() == &DataType::Boolean);
    let bits = (body_len as u64).saturating_mul(8);
    if dense && rows > bits {
        return Err(bad(format!(
            "the record batch declares {rows} rows but its body of {body_len} bytes cannot hold them"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
