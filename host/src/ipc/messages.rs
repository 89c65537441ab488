//! The message framing of an Arrow IPC stream, walked over a byte slice:
//! each length a message declares (metadata, body, buffers) is checked
//! against the bytes that are really there before it is used.

use arrow_ipc::{MessageHeader, MetadataVersion};
use arrow_schema::SchemaRef;

use super::{bad, guarded, FrameError};

const CONTINUATION: u32 = 0xFFFF_FFFF;

/// One message of the stream, as far as the host needs it.
pub(super) enum Message {
    /// A schema message.
    Schema(SchemaRef),
    /// A record batch: its row count, where its metadata and body lie in
    /// the stream, and its field nodes (length, null count); every buffer
    /// extent was checked to lie inside the body.
    Batch {
        rows: u64,
        metadata: (usize, usize),
        body: (usize, usize),
        nodes: Vec<(i64, i64)>,
    },
    /// A dictionary batch (not supported in frames).
    Dictionary,
    /// Any other message type (tensors...).
    Other,
}

impl Message {
    /// The message type, for errors.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Message::Schema(_) => "schema",
            Message::Batch { .. } => "record batch",
            Message::Dictionary => "dictionary batch",
            Message::Other => "non-data",
        }
    }
}

/// A cursor over the messages of one IPC stream.
pub(super) struct Messages<'a> {
    bytes: &'a [u8],
    pos: usize,
    ended: bool,
}

impl<'a> Messages<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Messages {
            bytes,
            pos: 0,
            ended: false,
        }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn read_u32(&mut self) -> Result<u32, FrameError> {
        let Some(word) = self.bytes.get(self.pos..self.pos + 4) else {
            return Err(bad(format!(
                "truncated message prefix at byte {} of {}",
                self.pos,
                self.bytes.len()
            )));
        };
        self.pos += 4;
        let mut b = [0u8; 4];
        b.copy_from_slice(word);
        Ok(u32::from_le_bytes(b))
    }

    /// The next message, `None` at the end-of-stream marker or the end of
    /// the bytes. Bytes after an end-of-stream marker are an error.
    pub(super) fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        if self.ended || self.remaining() == 0 {
            return Ok(None);
        }
        let mut len = self.read_u32()?;
        if len == CONTINUATION {
            len = self.read_u32()?;
        }
        if len == 0 {
            self.ended = true;
            if self.remaining() != 0 {
                return Err(bad(format!(
                    "{} bytes follow the end-of-stream marker",
                    self.remaining()
                )));
            }
            return Ok(None);
        }
        let len = i32::from_le_bytes(len.to_le_bytes());
        if len < 0 {
            return Err(bad(format!("a message declares {len} bytes of metadata")));
        }
        let len = len as usize;
        if len > self.remaining() {
            return Err(bad(format!(
                "a message declares {len} bytes of metadata but only {} bytes follow",
                self.remaining()
            )));
        }
        let meta_start = self.pos;
        let meta_end = meta_start + len;
        self.pos = meta_end;
        let message = arrow_ipc::root_as_message(&self.bytes[meta_start..meta_end])
            .map_err(|e| bad(format!("message metadata is not a valid flatbuffer: {e}")))?;
        let body_len = message.bodyLength();
        if body_len < 0 {
            return Err(bad(format!(
                "a message declares a body of {body_len} bytes"
            )));
        }
        let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
        if body_len > self.remaining() {
            return Err(bad(format!(
                "a message declares a body of {body_len} bytes but only {} bytes follow",
                self.remaining()
            )));
        }
        let body = (self.pos, self.pos + body_len);
        self.pos = body.1;
        if message.version() < MetadataVersion::V4 || message.version() > MetadataVersion::V5 {
            return Err(bad(format!(
                "unsupported IPC metadata version {:?}",
                message.version()
            )));
        }
        match message.header_type() {
            MessageHeader::Schema => {
                let fb = message
                    .header_as_schema()
                    .ok_or_else(|| bad("schema message without a schema"))?;
                let schema = guarded(|| arrow_ipc::convert::fb_to_schema(fb))
                    .map_err(|p| bad(format!("invalid schema: {p}")))?;
                Ok(Some(Message::Schema(std::sync::Arc::new(schema))))
            }
            MessageHeader::RecordBatch => {
                let batch = message
                    .header_as_record_batch()
                    .ok_or_else(|| bad("record batch message without a header"))?;
                if batch.compression().is_some() {
                    return Err(bad(
                        "compressed record batches are not supported; send uncompressed IPC",
                    ));
                }
                let rows = batch.length();
                if rows < 0 {
                    return Err(bad(format!("a record batch declares {rows} rows")));
                }
                let nodes = batch
                    .nodes()
                    .map(|v| v.iter().map(|n| (n.length(), n.null_count())).collect())
                    .unwrap_or_default();
                for (i, b) in batch.buffers().into_iter().flatten().enumerate() {
                    let (off, blen) = (b.offset(), b.length());
                    let end = off.checked_add(blen);
                    match end {
                        Some(end) if off >= 0 && blen >= 0 && end as u64 <= body_len as u64 => {}
                        _ => {
                            return Err(bad(format!(
                                "buffer {i} declares offset {off} and length {blen} in a body of {body_len} bytes"
                            )))
                        }
                    }
                }
                Ok(Some(Message::Batch {
                    rows: rows as u64,
                    metadata: (meta_start, meta_end),
                    body,
                    nodes,
                }))
            }
            MessageHeader::DictionaryBatch => Ok(Some(Message::Dictionary)),
            _ => Ok(Some(Message::Other)),
        }
    }
}
