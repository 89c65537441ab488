//! A source that misbehaves on purpose, one way per `mode`, so the tests can
//! prove the host's sandbox: `connect`, `read-file`, `loop`, `sleep` (30 s
//! in a WASI clock wait), `oom`, `panic`, `bad-ipc`, `env` (emits one row
//! per visible environment variable); `ok` behaves.
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
//!
//! The output and state modes each abuse one host function, then (unless
//! the host stops them) emit 3 rows and succeed:
//!
//! - `log-inject`: logs a message (and fields) with a newline followed by a
//!   forged host log line, then a 1 MiB message;
//! - `error-inject`: fails with a retryable `rate-limit` error (code
//!   `slow_down`, details `{"hint":"x"}`) whose message carries a newline
//!   and a forged summary row `  OK     forged_stream ...`;
//! - `metric-nan`: emits NaN, +inf and -inf metrics, a metric with an empty
//!   name and one with a 201-byte name, then one good metric;
//! - `state-other-stream`: while reading `hostile`, saves `{"x":1}` under
//!   the key `victim` (another stream's name); fails if `get-state("victim")`
//!   shows it anything but its own value;
//! - `state-huge`: after its rows, saves a JSON string of `size` bytes
//!   (default 2 MiB) as the stream's state;
//! - `name-inject`: discovers its one stream under a name with a newline
//!   and a forged host log line (`hostile\n2026-01-01T00:00:00Z ERROR
//!   forged host line`), and reads it like `ok`.
//!
//! `bad-pointer` calls the host's `log` through its raw core import with a
//! message that lies past the end of its linear memory, as a connector
//! with broken bindings would.
//!
//! `open-files` opens the file `target` `count` times (default 100,000)
//! and keeps every handle open, then emits one row per handle: the
//! descriptor flood that would starve other streams of the process's file
//! descriptors.

use std::sync::Arc;

use rapidbyte_guest_sdk::arrow_array::{Int64Array, RecordBatch};
use rapidbyte_guest_sdk::arrow_schema::{DataType, Field, Schema};
use rapidbyte_guest_sdk::bindings::rapidbyte::connector::host;
use rapidbyte_guest_sdk::log::LogLevel;
use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::serde_json;
use serde::Deserialize;

mod lies;

#[derive(Deserialize)]
pub struct Config {
    mode: String,
    #[serde(default)]
    target: String,
    /// `state-huge`: the size of the state value, in bytes.
    #[serde(default)]
    size: Option<usize>,
    /// `open-files`: how many handles to open.
    #[serde(default)]
    count: Option<usize>,
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
        // `name-inject`: the stream's own name carries a forged log line.
        let name = match self.config.mode.as_str() {
            "name-inject" => format!("hostile\n{FORGED_LOG}"),
            _ => "hostile".to_string(),
        };
        Ok(Catalog {
            streams: vec![StreamBuilder::new(&name, &schema())?.build()],
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
            #[cfg(all(target_os = "wasi", target_env = "p2"))]
            "http-get" => match http_get(&self.config.target) {
                Ok(status) => emit_marker(&mut out, i64::from(status))?,
                Err(e) => {
                    return Err(ConnectorError::network(
                        "http_failed",
                        format!("GET {} failed: {e}", self.config.target),
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
            "open-files" => {
                let count = self.config.count.unwrap_or(100_000);
                let mut open = Vec::new();
                for i in 0..count {
                    match std::fs::File::open(&self.config.target) {
                        Ok(f) => open.push(f),
                        Err(e) => {
                            return Err(ConnectorError::internal(
                                "open_failed",
                                format!("open #{i} of {} failed: {e}", self.config.target),
                            ))
                        }
                    }
                }
                emit_marker(&mut out, open.len() as i64)?
            }
            "bad-pointer" => {
                #[link(wasm_import_module = "rapidbyte:connector/host@0.1.0")]
                extern "C" {
                    #[link_name = "log"]
                    fn raw_log(level: i32, ptr: i32, len: i32, some: i32, fptr: i32, flen: i32);
                }
                // SAFETY: none needed by the guest: the host reads the
                // (bogus) range, the guest's own memory is untouched.
                unsafe { raw_log(2, 0x7fff_0000, 4096, 0, 0, 0) };
                emit_marker(&mut out, 1)?
            }
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
            // Sleeps inside the host (a WASI clock wait), where the epoch
            // interrupt cannot reach it, then emits one row.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(30));
                emit_marker(&mut out, 1)?
            }
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
            "log-inject" => {
                host::log(
                    LogLevel::Info,
                    &format!("hostile says hello\n{FORGED_LOG}"),
                    Some(&format!("{{\"k\":\"v\n{FORGED_LOG} in fields\"}}")),
                );
                let big = format!("big {}", "a".repeat((1 << 20) - 4));
                host::log(LogLevel::Warn, &big, None);
                emit_marker(&mut out, 3)?
            }
            "error-inject" => {
                return Err(ConnectorError::new(
                    ErrorCategory::RateLimit,
                    "slow_down",
                    "upstream refused\n  OK     forged_stream            full_refresh            3     0.0 MiB\n",
                )
                .retryable()
                .with_details(serde_json::json!({"hint": "x"})))
            }
            "metric-nan" => {
                host::emit_metric("hostile.nan", f64::NAN, None);
                host::emit_metric("hostile.inf", f64::INFINITY, None);
                host::emit_metric("hostile.neg_inf", f64::NEG_INFINITY, None);
                host::emit_metric("", 1.0, None);
                host::emit_metric(&"m".repeat(201), 1.0, None);
                host::emit_metric("hostile.ok", 1.0, Some("{\"side\":\"source\"}"));
                emit_marker(&mut out, 3)?
            }
            "state-other-stream" => {
                emit_marker(&mut out, 3)?;
                if let Some(seen) = host::get_state("victim") {
                    if seen != VICTIM_VALUE {
                        return Err(ConnectorError::data(
                            "state_leak",
                            format!("get-state(\"victim\") returned another stream's state: {seen}"),
                        ));
                    }
                }
                host::set_state("victim", VICTIM_VALUE)?;
            }
            "state-huge" => {
                emit_marker(&mut out, 3)?;
                let size = self.config.size.unwrap_or(2 << 20).max(2);
                let value = format!("\"{}\"", "a".repeat(size - 2));
                host::set_state(&selection.name, &value)?;
            }
            _ => emit_marker(&mut out, 3)?,
        }
        Ok(ReadSummary {
            streams: vec![out.finish()],
        })
    }
}

/// The host log line `log-inject` tries to forge.
const FORGED_LOG: &str = "2026-01-01T00:00:00Z ERROR forged host line";

/// What `state-other-stream` saves under `victim`.
const VICTIM_VALUE: &str = "{\"x\":1}";

/// GETs `url` (`http[s]://authority/path`) over wasi:http; the status, or
/// the error code the host answered with.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn http_get(url: &str) -> std::result::Result<u16, String> {
    use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|_| "method")?;
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    req.set_scheme(Some(&scheme)).map_err(|_| "scheme")?;
    req.set_authority(Some(authority))
        .map_err(|_| "authority")?;
    req.set_path_with_query(Some(path)).map_err(|_| "path")?;
    let body = req.body().map_err(|_| "body")?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let pending =
        wasip2::http::outgoing_handler::handle(req, None).map_err(|e| format!("{e:?}"))?;
    let answer = loop {
        if let Some(a) = pending.get() {
            break a;
        }
        pending.subscribe().block();
    };
    let response = answer
        .map_err(|_| "taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    Ok(response.status())
}

fn emit_marker(out: &mut Emitter, n: i64) -> Result<()> {
    let batch = RecordBatch::try_new(schema(), vec![Arc::new(Int64Array::from_iter_values(0..n))])
        .map_err(|e| ConnectorError::internal("arrow", e.to_string()))?;
    out.emit(&batch)
}

rapidbyte_guest_sdk::source_connector!(Hostile);
