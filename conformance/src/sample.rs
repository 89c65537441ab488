//! The sample stream the destination checks write: unicode, text that needs
//! escaping, a NULL in every nullable column, and one very wide row.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Rows in the sample.
pub const ROWS: usize = 300;
/// Bytes of the wide row's text.
pub const WIDE: usize = 1 << 20;

/// The sample schema: `id` (the key), `name`, `amount`, `active`, `seen_at`.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("active", DataType::Boolean, true),
        Field::new(
            "seen_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
    ]))
}

fn name(i: usize) -> Option<String> {
    match i % 7 {
        0 => None,
        1 => Some(format!("ünïcödé ✓ 日本語 🚀 {i}")),
        2 => Some(format!(
            "tab\there, newline\nthere, quote \" and backslash \\ {i}"
        )),
        3 => Some(String::new()),
        _ => Some(format!("row {i}")),
    }
}

/// Rows `range` as one batch; row `ROWS - 1` carries the wide text.
fn batch(range: std::ops::Range<usize>) -> RecordBatch {
    let ids: Vec<i64> = range.clone().map(|i| i as i64).collect();
    let names: Vec<Option<String>> = range
        .clone()
        .map(|i| {
            if i == ROWS - 1 {
                Some("w".repeat(WIDE))
            } else {
                name(i)
            }
        })
        .collect();
    let amounts: Vec<Option<f64>> = range
        .clone()
        .map(|i| (i % 5 != 0).then_some(i as f64 * 1.25 - 100.0))
        .collect();
    let active: Vec<Option<bool>> = range
        .clone()
        .map(|i| (i % 3 != 0).then_some(i % 2 == 0))
        .collect();
    let seen: Vec<Option<i64>> = range
        .map(|i| (i % 4 != 0).then_some(1_700_000_000_000_000 + i as i64 * 1_000_001))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(StringArray::from(names)),
        Arc::new(Float64Array::from(amounts)),
        Arc::new(BooleanArray::from(active)),
        Arc::new(TimestampMicrosecondArray::from(seen).with_timezone("UTC")),
    ];
    // The schema is fixed and the columns built to match it.
    RecordBatch::try_new(schema(), columns).expect("sample batch matches its schema")
}

/// The sample as batches: two, with a checkpoint between them.
pub fn batches() -> Vec<RecordBatch> {
    vec![batch(0..ROWS / 2), batch(ROWS / 2..ROWS)]
}

/// `batch` as an Arrow IPC stream.
pub fn ipc(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &batch.schema()).map_err(|e| e.to_string())?;
    w.write(batch).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(out)
}

/// The schema alone as an Arrow IPC stream.
pub fn schema_ipc() -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &schema()).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    drop(w);
    Ok(out)
}

/// One cell as text for comparing a sample row with a row read back,
/// or `None` for types this comparison does not cover.
pub fn cell(col: &dyn Array, row: usize) -> Option<String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    if col.is_null(row) {
        return Some("NULL".into());
    }
    Some(match col.data_type() {
        DataType::Int16 => col.as_primitive::<Int16Type>().value(row).to_string(),
        DataType::Int32 => col.as_primitive::<Int32Type>().value(row).to_string(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Float64 => col.as_primitive::<Float64Type>().value(row).to_string(),
        DataType::Boolean => col.as_boolean().value(row).to_string(),
        DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => col.as_string::<i64>().value(row).to_string(),
        DataType::Timestamp(unit, _) => {
            let v = match unit {
                TimeUnit::Second => {
                    col.as_primitive::<TimestampSecondType>().value(row) * 1_000_000
                }
                TimeUnit::Millisecond => {
                    col.as_primitive::<TimestampMillisecondType>().value(row) * 1_000
                }
                TimeUnit::Microsecond => col.as_primitive::<TimestampMicrosecondType>().value(row),
                TimeUnit::Nanosecond => {
                    col.as_primitive::<TimestampNanosecondType>().value(row) / 1_000
                }
            };
            format!("ts:{v}")
        }
        _ => return None,
    })
}
