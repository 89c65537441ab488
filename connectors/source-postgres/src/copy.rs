//! A streaming parser of PostgreSQL binary COPY output into Arrow batches.
//!
//! Format: an 11-byte signature, a 4-byte flags field, a 4-byte header
//! extension length (and that many bytes); then per row a 2-byte field count
//! (-1 ends the data) and per field a 4-byte length (-1 is NULL) and the bytes.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use rapidbyte_guest_sdk::{ConnectorError, Result};

use crate::types::{ColumnBuilder, Kind};

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// Turns COPY chunks into batches.
pub struct CopyDecoder {
    /// A partial row (or header) waiting for the rest of its bytes.
    buf: Vec<u8>,
    header_done: bool,
    finished: bool,
    names: Vec<String>,
    builders: Vec<ColumnBuilder>,
    /// The fields of the row being decoded: value start and length.
    fields: Vec<(usize, i32)>,
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
            buf: Vec::new(),
            header_done: false,
            finished: false,
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            builders: kinds.iter().map(|k| ColumnBuilder::new(*k)).collect(),
            fields: Vec::with_capacity(kinds.len()),
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

    /// Adds a chunk and decodes every complete row. PostgreSQL sends one
    /// row per message, so a chunk usually holds whole rows: they are
    /// decoded where they are, and only a partial row's bytes are kept.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        if self.header_done && self.buf.is_empty() {
            let used = self.decode_rows(chunk)?;
            self.buf.extend_from_slice(&chunk[used..]);
            return Ok(());
        }
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
            let Some(start) = (SIGNATURE.len() + 8).checked_add(ext) else {
                return Err(corrupt("header extension length"));
            };
            if self.buf.len() < start {
                return Ok(());
            }
            self.buf.drain(..start);
            self.header_done = true;
        }
        let buf = std::mem::take(&mut self.buf);
        let used = self.decode_rows(&buf);
        self.buf = buf;
        self.buf.drain(..used?);
        Ok(())
    }

    /// Decodes the complete rows at the start of `data`; returns the bytes
    /// they took.
    fn decode_rows(&mut self, data: &[u8]) -> Result<usize> {
        let mut at = 0;
        while !self.finished {
            let rest = &data[at..];
            let Some(len) = self.complete_row_len(rest)? else {
                break;
            };
            if rest[..2] == (-1i16).to_be_bytes() {
                self.finished = true;
                break;
            }
            self.decode_row(rest)?;
            at += len;
        }
        Ok(at)
    }

    /// The byte length of the row at the start of `b` if it is complete
    /// (or of the end-of-data marker), with each field's value start and
    /// length (-1 for NULL) in `self.fields`.
    fn complete_row_len(&mut self, b: &[u8]) -> Result<Option<usize>> {
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
        self.fields.clear();
        for _ in 0..count {
            let Some(word) = b.get(pos..pos + 4) else {
                return Ok(None);
            };
            let len = i32::from_be_bytes([word[0], word[1], word[2], word[3]]);
            pos += 4;
            self.fields.push((pos, len));
            if len > 0 {
                pos += len as usize;
            }
            if b.len() < pos {
                return Ok(None);
            }
        }
        Ok(Some(pos))
    }

    /// Decodes the row whose fields `complete_row_len` just found.
    fn decode_row(&mut self, row: &[u8]) -> Result<()> {
        for ((builder, (start, len)), name) in
            self.builders.iter_mut().zip(&self.fields).zip(&self.names)
        {
            if *len < 0 {
                builder.append_null();
            } else {
                let n = *len as usize;
                builder.append(&row[*start..*start + n], name)?;
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
        let columns = self
            .builders
            .iter_mut()
            .zip(&self.names)
            .map(|(b, name)| b.finish(name))
            .collect::<Result<Vec<_>>>()?;
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| ConnectorError::internal("arrow", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int32Type;
    use arrow_schema::{DataType, Field, Schema};

    fn stream() -> Vec<u8> {
        let mut s = SIGNATURE.to_vec();
        s.extend_from_slice(&0i32.to_be_bytes());
        s.extend_from_slice(&3i32.to_be_bytes());
        s.extend_from_slice(b"ext");
        for (n, t) in [
            (Some(7), Some("a")),
            (None, Some("héllo")),
            (Some(-1), None),
        ] {
            s.extend_from_slice(&2i16.to_be_bytes());
            match n {
                Some(n) => {
                    s.extend_from_slice(&4i32.to_be_bytes());
                    s.extend_from_slice(&i32::to_be_bytes(n));
                }
                None => s.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            match t {
                Some(t) => {
                    s.extend_from_slice(&(t.len() as i32).to_be_bytes());
                    s.extend_from_slice(t.as_bytes());
                }
                None => s.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        s.extend_from_slice(&(-1i16).to_be_bytes());
        s
    }

    fn decoder() -> CopyDecoder {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int32, true),
            Field::new("t", DataType::Utf8, true),
        ]));
        CopyDecoder::new(schema, &[Kind::Int4, Kind::Text])
    }

    #[test]
    fn rows_decode_whatever_the_chunking() {
        let s = stream();
        for size in [1, 2, 5, 13, 19, 20, 21, s.len()] {
            let mut d = decoder();
            for chunk in s.chunks(size) {
                d.feed(chunk).unwrap();
            }
            assert!(d.finished(), "chunks of {size}");
            let batch = d.take_batch().unwrap();
            let n = batch.column(0).as_primitive::<Int32Type>();
            let t = batch.column(1).as_string::<i32>();
            assert_eq!(n.iter().collect::<Vec<_>>(), [Some(7), None, Some(-1)]);
            assert_eq!(
                t.iter().collect::<Vec<_>>(),
                [Some("a"), Some("héllo"), None]
            );
        }
    }

    #[test]
    fn invalid_utf8_and_wrong_field_counts_are_errors() {
        let mut s = stream();
        let at = s.windows(5).position(|w| w == b"h\xc3\xa9ll").unwrap();
        s[at + 1] = 0xff;
        let mut d = decoder();
        d.feed(&s).unwrap();
        assert!(d.take_batch().is_err());

        let mut s = stream();
        let first_row = SIGNATURE.len() + 8 + 3;
        s[first_row + 1] = 3;
        assert!(decoder().feed(&s).is_err());
    }
}
