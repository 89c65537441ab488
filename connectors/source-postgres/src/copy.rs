//! A streaming parser of PostgreSQL binary COPY output into Arrow batches.
//!
//! Format: an 11-byte signature, a 4-byte flags field, a 4-byte header
//! extension length (and that many bytes); then per row a 2-byte field count
//! (-1 ends the data) and per field a 4-byte length (-1 is NULL) and the bytes.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::{Buf, BytesMut};
use rapidbyte_guest_sdk::{ConnectorError, Result};

use crate::types::{ColumnBuilder, Kind};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Turns COPY chunks into batches.
pub struct CopyDecoder {
    buf: BytesMut,
    header_done: bool,
    finished: bool,
    names: Vec<String>,
    builders: Vec<ColumnBuilder>,
    schema: SchemaRef,
    rows: usize,
    bytes: usize,
}

fn corrupt(what: &str) -> ConnectorError {
    ConnectorError::data(
        "bad_copy_stream",
        format!("malformed binary COPY stream: {what}"),
    )
}

impl CopyDecoder {
    /// A decoder for columns of `kinds` (in `schema` order).
    pub fn new(schema: SchemaRef, kinds: &[Kind]) -> Self {
        CopyDecoder {
            buf: BytesMut::new(),
            header_done: false,
            finished: false,
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            builders: kinds.iter().map(|k| ColumnBuilder::new(*k)).collect(),
            schema,
            rows: 0,
            bytes: 0,
        }
    }

    /// Value bytes buffered in the current batch.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Rows in the current batch.
    pub fn buffered_rows(&self) -> usize {
        self.rows
    }

    /// Adds a chunk and decodes every complete row in the buffer.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        if !self.header_done {
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(());
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(corrupt("bad signature"));
            }
            let ext = u32::from_be_bytes(
                self.buf[SIGNATURE.len() + 4..SIGNATURE.len() + 8]
                    .try_into()
                    .map_err(|_| corrupt("header"))?,
            ) as usize;
            if self.buf.len() < SIGNATURE.len() + 8 + ext {
                return Ok(());
            }
            self.buf.advance(SIGNATURE.len() + 8 + ext);
            self.header_done = true;
        }
        while !self.finished {
            let Some(len) = self.complete_row_len()? else {
                break;
            };
            self.decode_row(len)?;
        }
        Ok(())
    }

    /// The byte length of the next row if it is fully buffered.
    fn complete_row_len(&self) -> Result<Option<usize>> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([b[0], b[1]]);
        if count == -1 {
            return Ok(Some(2));
        }
        if count as usize != self.builders.len() {
            return Err(corrupt(&format!(
                "row has {count} fields, expected {}",
                self.builders.len()
            )));
        }
        let mut pos = 2;
        for _ in 0..count {
            if b.len() < pos + 4 {
                return Ok(None);
            }
            let len = i32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
            pos += 4;
            if len > 0 {
                pos += len as usize;
            }
            if b.len() < pos {
                return Ok(None);
            }
        }
        Ok(Some(pos))
    }

    fn decode_row(&mut self, len: usize) -> Result<()> {
        let row = self.buf.split_to(len);
        if i16::from_be_bytes([row[0], row[1]]) == -1 {
            self.finished = true;
            return Ok(());
        }
        let mut pos = 2;
        for (i, builder) in self.builders.iter_mut().enumerate() {
            let n = i32::from_be_bytes([row[pos], row[pos + 1], row[pos + 2], row[pos + 3]]);
            pos += 4;
            if n < 0 {
                builder.append_null();
            } else {
                let n = n as usize;
                builder.append(&row[pos..pos + n], &self.names[i])?;
                pos += n;
                self.bytes += n;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Whether the end-of-data marker was seen.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The rows decoded so far as one batch (the decoder starts a new one).
    pub fn take_batch(&mut self) -> Result<RecordBatch> {
        let columns = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| ConnectorError::internal("arrow", e.to_string()))
    }
}
