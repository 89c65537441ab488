//! Lying Arrow IPC stream frames, crafted byte by byte.
//!
//! A frame is an IPC stream: messages, each `0xFFFFFFFF`, an `int32`
//! metadata length, a flatbuffer `Message` of that length and a body of the
//! message's `bodyLength`, then the end-of-stream marker `0xFFFFFFFF 0`.
//! The schema message is taken from the SDK's writer; record batch and
//! dictionary batch messages are written here with a minimal flatbuffer
//! writer, so each lie changes exactly one field of an otherwise honest
//! frame (`ipc-honest`, the same frame told straight, must be accepted).

use std::sync::Arc;

use rapidbyte_guest_sdk::arrow_array::{Int64Array, RecordBatch, StringArray};
use rapidbyte_guest_sdk::arrow_schema::{DataType, Field, Schema};
use rapidbyte_guest_sdk::ipc;
use rapidbyte_guest_sdk::prelude::*;

const CONTINUATION: [u8; 4] = [0xFF; 4];
const EOS: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// `MetadataVersion::V5`.
const V5: i16 = 4;
/// `MessageHeader` union tags.
const DICTIONARY_BATCH: u8 = 2;
const RECORD_BATCH: u8 = 3;

/// The rows of the honest frame: `x` = 0, 1, 2 (a 24-byte body).
const ROWS: i64 = 3;

/// The frame `mode` asks for, or `None` for an unknown mode.
pub fn frame(mode: &str, schema: &Arc<Schema>) -> Result<Option<Vec<u8>>> {
    let schema_msg = schema_message(schema)?;
    let body: Vec<u8> = (0..ROWS).flat_map(i64::to_le_bytes).collect();
    let honest = Batch::honest(&body);
    let frame = match mode {
        "ipc-honest" => stream(&[&schema_msg, &honest.message(&body)]),
        // bodyLength 2^45 (32 TiB) in a frame of a few hundred bytes.
        "ipc-huge-body" => stream(&[
            &schema_msg,
            &Batch {
                body_length: 1 << 45,
                ..honest.clone()
            }
            .message(&body),
        ]),
        "ipc-negative-body" => stream(&[
            &schema_msg,
            &Batch {
                body_length: -8,
                ..honest.clone()
            }
            .message(&body),
        ]),
        // The prefix of the batch message declares 2 GiB - 8 of metadata.
        "ipc-huge-metadata" => {
            let mut msg = honest.message(&body);
            msg[4..8].copy_from_slice(&0x7FFF_FFF8i32.to_le_bytes());
            stream(&[&schema_msg, &msg])
        }
        "ipc-negative-metadata" => {
            let mut msg = honest.message(&body);
            msg[4..8].copy_from_slice(&(-8i32).to_le_bytes());
            stream(&[&schema_msg, &msg])
        }
        // The values buffer runs 16 bytes past the 24-byte body.
        "ipc-buffer-overflow" => stream(&[
            &schema_msg,
            &Batch {
                buffers: vec![[0, 0], [16, 24]],
                ..honest.clone()
            }
            .message(&body),
        ]),
        // offset + length overflows i64.
        "ipc-buffer-wrap" => stream(&[
            &schema_msg,
            &Batch {
                buffers: vec![[0, 0], [i64::MAX - 7, 24]],
                ..honest.clone()
            }
            .message(&body),
        ]),
        "ipc-buffer-negative" => stream(&[
            &schema_msg,
            &Batch {
                buffers: vec![[0, 0], [-16, 24]],
                ..honest.clone()
            }
            .message(&body),
        ]),
        // The buffers (nodes) vector's length field says 2^31 - 1 entries;
        // two (one) follow.
        "ipc-huge-buffer-count" => stream(&[
            &schema_msg,
            &Batch {
                buffer_count: Some(0x7FFF_FFFF),
                ..honest.clone()
            }
            .message(&body),
        ]),
        "ipc-huge-node-count" => stream(&[
            &schema_msg,
            &Batch {
                node_count: Some(0x7FFF_FFFF),
                ..honest.clone()
            }
            .message(&body),
        ]),
        // 2^40 rows in a 24-byte values buffer.
        "ipc-huge-rows" => stream(&[
            &schema_msg,
            &Batch {
                length: 1 << 40,
                nodes: vec![[1 << 40, 0]],
                ..honest.clone()
            }
            .message(&body),
        ]),
        // A dictionary batch (id 0, the honest batch as its data) before
        // the schema.
        "ipc-dictionary-first" => stream(&[
            &honest.dictionary_message(0, &body),
            &schema_msg,
            &honest.message(&body),
        ]),
        "ipc-schema-only" => ipc::encode_schema(schema)?,
        // A valid 1000-row frame (8000-byte body) cut 4000 bytes before
        // the end of the body, so the end-of-stream marker is gone too.
        "ipc-truncated" => {
            let mut f = sdk_frame(schema, 1000)?;
            f.truncate(f.len() - EOS.len() - 4000);
            f
        }
        // The SDK's frame with its record batch message repeated.
        "ipc-two-batches" => {
            let f = sdk_frame(schema, ROWS)?;
            let batch_msg = &f[schema_msg.len()..f.len() - EOS.len()];
            stream(&[&schema_msg, batch_msg, batch_msg])
        }
        // A valid frame whose only column `x` is Utf8, not Int64.
        "ipc-wrong-schema" => {
            let utf8 = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, false)]));
            let batch = RecordBatch::try_new(utf8, vec![Arc::new(StringArray::from(vec!["a"]))])
                .map_err(arrow_err)?;
            ipc::encode_batch(&batch)?
        }
        "ipc-empty" => Vec::new(),
        _ => return Ok(None),
    };
    Ok(Some(frame))
}

fn arrow_err(e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::internal("arrow", e.to_string())
}

/// The SDK's frame of `rows` rows of `schema` (which must be `x: Int64`).
fn sdk_frame(schema: &Arc<Schema>, rows: i64) -> Result<Vec<u8>> {
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Int64Array::from_iter_values(0..rows))],
    )
    .map_err(arrow_err)?;
    let f = ipc::encode_batch(&batch)?;
    if !f.starts_with(&schema_message(schema)?) || !f.ends_with(&EOS) {
        return Err(ConnectorError::internal(
            "ipc_layout",
            "the SDK's frame is not schema message, batch message, end of stream",
        ));
    }
    Ok(f)
}

/// The SDK's schema message (its schema-only stream without the end marker).
fn schema_message(schema: &Schema) -> Result<Vec<u8>> {
    let mut s = ipc::encode_schema(schema)?;
    if !s.ends_with(&EOS) {
        return Err(ConnectorError::internal(
            "ipc_layout",
            "the SDK's schema stream does not end with the end-of-stream marker",
        ));
    }
    s.truncate(s.len() - EOS.len());
    Ok(s)
}

/// `messages` then the end-of-stream marker.
fn stream(messages: &[&[u8]]) -> Vec<u8> {
    let mut out: Vec<u8> = messages.concat();
    out.extend_from_slice(&EOS);
    out
}

/// What a record batch message says (structs as `[i64; 2]`: `FieldNode`
/// is length, null count; `Buffer` is offset, length).
#[derive(Clone)]
struct Batch {
    length: i64,
    nodes: Vec<[i64; 2]>,
    buffers: Vec<[i64; 2]>,
    body_length: i64,
    /// A count to write over the nodes vector's length field.
    node_count: Option<u32>,
    /// A count to write over the buffers vector's length field.
    buffer_count: Option<u32>,
}

impl Batch {
    /// The truth about `body`, the values of one non-null Int64 column:
    /// one node, an empty validity buffer and the values buffer.
    fn honest(body: &[u8]) -> Batch {
        let len = body.len() as i64;
        Batch {
            length: len / 8,
            nodes: vec![[len / 8, 0]],
            buffers: vec![[0, 0], [0, len]],
            body_length: len,
            node_count: None,
            buffer_count: None,
        }
    }

    /// Writes the `RecordBatch` table's children and links them from the
    /// table at `table`'s offset slots.
    fn write_record_batch(&self, fb: &mut Fb) -> usize {
        let (table, slots) = fb.table(&[Slot::I64(self.length), Slot::Offset, Slot::Offset]);
        let nodes = fb.structs(&self.nodes, self.node_count);
        fb.link(slots[0], nodes);
        let buffers = fb.structs(&self.buffers, self.buffer_count);
        fb.link(slots[1], buffers);
        table
    }

    /// A framed record batch message followed by `body`.
    fn message(&self, body: &[u8]) -> Vec<u8> {
        let mut fb = Fb::new();
        let (msg, slots) = fb.table(&[
            Slot::I16(V5),
            Slot::U8(RECORD_BATCH),
            Slot::Offset,
            Slot::I64(self.body_length),
        ]);
        let rb = self.write_record_batch(&mut fb);
        fb.link(slots[0], rb);
        framed(fb.finish(msg), body)
    }

    /// A framed dictionary batch message (dictionary `id`, this batch as its
    /// data) followed by `body`.
    fn dictionary_message(&self, id: i64, body: &[u8]) -> Vec<u8> {
        let mut fb = Fb::new();
        let (msg, slots) = fb.table(&[
            Slot::I16(V5),
            Slot::U8(DICTIONARY_BATCH),
            Slot::Offset,
            Slot::I64(self.body_length),
        ]);
        let (dict, dict_slots) = fb.table(&[Slot::I64(id), Slot::Offset, Slot::U8(0)]);
        fb.link(slots[0], dict);
        let rb = self.write_record_batch(&mut fb);
        fb.link(dict_slots[0], rb);
        framed(fb.finish(msg), body)
    }
}

/// Continuation marker, metadata length, metadata, body.
fn framed(metadata: Vec<u8>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + metadata.len() + body.len());
    out.extend_from_slice(&CONTINUATION);
    out.extend_from_slice(&(metadata.len() as i32).to_le_bytes());
    out.extend_from_slice(&metadata);
    out.extend_from_slice(body);
    out
}

/// A table field.
enum Slot {
    U8(u8),
    I16(i16),
    I64(i64),
    /// A `uoffset` to a child, linked with [`Fb::link`].
    Offset,
}

impl Slot {
    fn size(&self) -> usize {
        match self {
            Slot::U8(_) => 1,
            Slot::I16(_) => 2,
            Slot::I64(_) => 8,
            Slot::Offset => 4,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Slot::U8(v) => vec![*v],
            Slot::I16(v) => v.to_le_bytes().to_vec(),
            Slot::I64(v) => v.to_le_bytes().to_vec(),
            Slot::Offset => vec![0; 4],
        }
    }
}

/// A flatbuffer laid out front to back: the root offset, then each table
/// after its vtable, children after their parents (every `uoffset` points
/// forward), every scalar at its natural alignment from the buffer start.
struct Fb {
    buf: Vec<u8>,
}

impl Fb {
    fn new() -> Fb {
        // The root `uoffset`, set by `finish`.
        Fb { buf: vec![0; 4] }
    }

    fn pad_to(&mut self, align: usize, rem: usize) {
        while self.buf.len() % align != rem {
            self.buf.push(0);
        }
    }

    /// Writes a vtable and its table of `slots` (field ids in order);
    /// returns the table's position and the positions of its
    /// [`Slot::Offset`] fields.
    fn table(&mut self, slots: &[Slot]) -> (usize, Vec<usize>) {
        self.pad_to(2, 0);
        let vtable = self.buf.len();
        let vtable_len = 4 + 2 * slots.len();
        let table = (vtable + vtable_len).next_multiple_of(8);
        // Field offsets within the table, after its 4-byte vtable soffset.
        let mut at: usize = 4;
        let mut offsets = Vec::with_capacity(slots.len());
        for s in slots {
            at = at.next_multiple_of(s.size());
            offsets.push(at);
            at += s.size();
        }
        let table_len = at;
        self.buf
            .extend_from_slice(&(vtable_len as u16).to_le_bytes());
        self.buf
            .extend_from_slice(&(table_len as u16).to_le_bytes());
        for o in &offsets {
            self.buf.extend_from_slice(&(*o as u16).to_le_bytes());
        }
        self.buf.resize(table, 0);
        self.buf
            .extend_from_slice(&((table - vtable) as i32).to_le_bytes());
        let mut links = Vec::new();
        for (s, o) in slots.iter().zip(&offsets) {
            self.buf.resize(table + o, 0);
            if matches!(s, Slot::Offset) {
                links.push(self.buf.len());
            }
            self.buf.extend_from_slice(&s.bytes());
        }
        (table, links)
    }

    /// Writes a vector of 16-byte, 8-aligned structs, its length field
    /// saying `count` (default: the truth); returns its position.
    fn structs(&mut self, items: &[[i64; 2]], count: Option<u32>) -> usize {
        self.pad_to(8, 4);
        let at = self.buf.len();
        let count = count.unwrap_or(items.len() as u32);
        self.buf.extend_from_slice(&count.to_le_bytes());
        for [a, b] in items {
            self.buf.extend_from_slice(&a.to_le_bytes());
            self.buf.extend_from_slice(&b.to_le_bytes());
        }
        at
    }

    /// Points the `uoffset` at `slot` to `target` (which lies after it).
    fn link(&mut self, slot: usize, target: usize) {
        let rel = (target - slot) as u32;
        self.buf[slot..slot + 4].copy_from_slice(&rel.to_le_bytes());
    }

    /// The buffer with `root` as its root table, padded to 8 bytes.
    fn finish(mut self, root: usize) -> Vec<u8> {
        self.link(0, root);
        self.pad_to(8, 0);
        self.buf
    }
}
