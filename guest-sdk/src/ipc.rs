//! Arrow IPC encoding for the host boundary.
//!
//! A frame is one Arrow IPC *stream*: the schema message followed by record
//! batch messages. Schemas in the catalog are streams with no batch.

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};

use crate::error::{ConnectorError, Result};

fn arrow_err(context: &str, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::internal("arrow_ipc", format!("{context}: {e}"))
}

/// Encodes one batch as an IPC stream (what `emit-batch` takes).
pub fn encode_batch(batch: &RecordBatch) -> Result<Vec<u8>> {
    // Sized by the rows the batch holds: a slice of a large batch must not
    // reserve the whole shared buffers.
    let mut buf = Vec::with_capacity(crate::sizing::batch_bytes(batch) as usize + 1024);
    {
        let mut w = StreamWriter::try_new(&mut buf, batch.schema_ref())
            .map_err(|e| arrow_err("encode schema", e))?;
        w.write(batch).map_err(|e| arrow_err("encode batch", e))?;
        w.finish().map_err(|e| arrow_err("finish stream", e))?;
    }
    Ok(buf)
}

/// Encodes a schema alone (what catalogs and write requests carry).
pub fn encode_schema(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w =
            StreamWriter::try_new(&mut buf, schema).map_err(|e| arrow_err("encode schema", e))?;
        w.finish().map_err(|e| arrow_err("finish stream", e))?;
    }
    Ok(buf)
}

/// Decodes the schema of an IPC stream.
pub fn decode_schema(bytes: &[u8]) -> Result<SchemaRef> {
    let reader = StreamReader::try_new(bytes, None).map_err(|e| {
        ConnectorError::schema("bad_schema", format!("invalid Arrow IPC schema: {e}"))
    })?;
    Ok(reader.schema())
}

/// Decodes a frame: an IPC stream holding one record batch (a stream with
/// no batch yields an empty batch of its schema).
pub fn decode_batch(bytes: &[u8]) -> Result<RecordBatch> {
    let mut reader = StreamReader::try_new(bytes, None)
        .map_err(|e| ConnectorError::data("bad_frame", format!("invalid Arrow IPC frame: {e}")))?;
    let schema = reader.schema();
    let first = match reader.next() {
        None => return Ok(RecordBatch::new_empty(schema)),
        Some(b) => b.map_err(|e| {
            ConnectorError::data("bad_frame", format!("invalid Arrow IPC batch: {e}"))
        })?,
    };
    if reader.next().is_some() {
        return Err(ConnectorError::data(
            "bad_frame",
            "an Arrow IPC frame must hold exactly one record batch",
        ));
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, StringArray};
    use arrow_schema::{DataType, Field};
    use std::sync::Arc;

    #[test]
    fn batch_round_trips() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("é"), None])),
            ],
        )
        .unwrap();
        let bytes = encode_batch(&batch).unwrap();
        assert_eq!(decode_batch(&bytes).unwrap(), batch);
        let s = encode_schema(&schema).unwrap();
        assert_eq!(decode_schema(&s).unwrap(), schema);
        assert_eq!(decode_batch(&s).unwrap().num_rows(), 0);
    }

    #[test]
    fn garbage_is_a_data_error() {
        let err = decode_batch(b"not arrow").unwrap_err();
        assert_eq!(err.code, "bad_frame");
    }
}
