//! A source that misbehaves on purpose, one way per `mode`, so the tests can
//! prove the host's sandbox: `connect`, `read-file`, `loop`, `oom`, `panic`,
//! `bad-ipc`, `env` (emits one row per visible environment variable); `ok`
//! behaves.
//!
//! The `ipc-*` modes each hand the host one lying Arrow IPC stream frame
//! through `emit-batch` (crafted in [`lies`]; the stream's declared schema is
//! one non-null Int64 column `x`):
//!
//! - `ipc-honest`: the crafted frame told straight (3 rows): the control,
//!   which must be accepted;
//! - `ipc-huge-body`: the record batch declares a body of 2^45 bytes in a
//!   frame of a few hundred;
//! - `ipc-negative-body`: the record batch declares a body of -8 bytes;
//! - `ipc-huge-metadata`: the batch message's prefix declares 2 GiB of
//!   metadata; `ipc-negative-metadata`: -8 bytes of it;
//! - `ipc-buffer-overflow`: the values buffer ends 16 bytes past the body;
//!   `ipc-buffer-wrap`: its offset + length overflows i64;
//!   `ipc-buffer-negative`: its offset is negative;
//! - `ipc-huge-buffer-count`, `ipc-huge-node-count`: the flatbuffer vector
//!   of buffers (field nodes) says it holds 2^31 - 1 entries;
//! - `ipc-huge-rows`: 2^40 rows in a 24-byte values buffer;
//! - `ipc-dictionary-first`: a dictionary batch before the schema;
//! - `ipc-schema-only`: a schema, then end of stream (no batch);
//! - `ipc-truncated`: a valid frame cut in the middle of its body;
//! - `ipc-two-batches`: two record batches in one frame;
//! - `ipc-wrong-schema`: a valid frame whose `x` is Utf8;
//! - `ipc-empty`: zero bytes.

use std::sync::Arc;

use rapidbyte_guest_sdk::arrow_array::{Int64Array, RecordBatch};
use rapidbyte_guest_sdk::arrow_schema::{DataType, Field, Schema};
use rapidbyte_guest_sdk::bindings::rapidbyte::connector::host;
use rapidbyte_guest_sdk::prelude::*;
use serde::Deserialize;

mod lies;

#[derive(Deserialize)]
pub struct Config {
    mode: String,
    #[serde(default)]
    target: String,
}

pub struct Hostile {
    config: Config,
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]))
}

impl Source for Hostile {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        Ok(Hostile { config })
    }

    fn discover(&mut self) -> Result<Catalog> {
        Ok(Catalog {
            streams: vec![StreamBuilder::new("hostile", &schema())?.build()],
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let selection = request
            .streams
            .into_iter()
            .next()
            .ok_or_else(|| ConnectorError::config("no_stream", "no stream selected"))?;
        let mut out = Emitter::new(&selection);
        match self.config.mode.as_str() {
            "connect" => match std::net::TcpStream::connect(self.config.target.as_str()) {
                Ok(_) => emit_marker(&mut out, 1)?,
                Err(e) => {
                    return Err(ConnectorError::network(
                        "connect_failed",
                        format!("connect to {} failed: {e}", self.config.target),
                    ))
                }
            },
            "read-file" => match std::fs::read(&self.config.target) {
                Ok(_) => emit_marker(&mut out, 1)?,
                Err(e) => {
                    return Err(ConnectorError::config(
                        "open_failed",
                        format!("open {} failed: {e}", self.config.target),
                    ))
                }
            },
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile connector panics on purpose"),
            // Emits one row per environment variable it can see.
            "env" => emit_marker(&mut out, std::env::vars().count() as i64)?,
            "bad-ipc" => {
                host::emit_batch(&selection.name, b"this is not an arrow ipc frame")?;
            }
            mode if mode.starts_with("ipc-") => {
                let frame = lies::frame(mode, &schema())?.ok_or_else(|| {
                    ConnectorError::config("unknown_mode", format!("no such mode: {mode}"))
                })?;
                host::emit_batch(&selection.name, &frame)?;
            }
            _ => emit_marker(&mut out, 3)?,
        }
        Ok(ReadSummary {
            streams: vec![out.finish()],
        })
    }
}

fn emit_marker(out: &mut Emitter, n: i64) -> Result<()> {
    let batch = RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from_iter_values(0..n))])
        .map_err(|e| ConnectorError::internal("arrow", e.to_string()))?;
    out.emit(&batch)
}

rapidbyte_guest_sdk::source_connector!(Hostile);
