//! A source of `rows` numbers (`n`, `label`), incremental on `n`, with one
//! deliberate contract flaw chosen by `flaw`:
//!
//! * `none`: behaves;
//! * `wrong-schema`: emits batches with a column the catalog lacks;
//! * `lying-summary`: claims one row more than it emitted;
//! * `ignores-state`: reads everything on every incremental run;
//! * `trap-on-bad-config`: panics when `rows` is missing or not a number;
//! * `oversize-batch`: sends all rows in one frame, whatever the limit;
//! * `silent`: never reports progress;
//! * `ignores-cancel`: swallows the host's refusal to take a frame;
//! * `undeclared-host`: tries to reach 127.0.0.1:9 while reading.

use std::sync::Arc;

use rapidbyte_guest_sdk::arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use rapidbyte_guest_sdk::arrow_schema::{DataType, Field, Schema};
use rapidbyte_guest_sdk::bindings::rapidbyte::connector::host;
use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{ipc, state};

/// The connector.
pub struct Flawed {
    flaw: String,
    rows: i64,
}

fn schema(extra: bool) -> Arc<Schema> {
    let mut fields = vec![
        Field::new("n", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
    ];
    if extra {
        fields.push(Field::new("surprise", DataType::Int64, false));
    }
    Arc::new(Schema::new(fields))
}

fn batch(from: i64, to: i64, extra: bool) -> Result<RecordBatch> {
    let n: Vec<i64> = (from..to).collect();
    let labels: Vec<Option<String>> = n
        .iter()
        .map(|i| (i % 10 != 0).then(|| format!("number {i} ✓")))
        .collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(n.clone())),
        Arc::new(StringArray::from(labels)),
    ];
    if extra {
        columns.push(Arc::new(Int64Array::from(n)));
    }
    RecordBatch::try_new(schema(extra), columns)
        .map_err(|e| ConnectorError::internal("arrow", e.to_string()))
}

/// Parses the config by hand, so that `trap-on-bad-config` can panic
/// where a careful connector returns a config error.
fn parse(config: &serde_json::Value) -> Result<Flawed> {
    let flaw = config
        .get("flaw")
        .and_then(|v| v.as_str())
        .unwrap_or("none")
        .to_string();
    let rows = match config.get("rows") {
        None => 1000,
        Some(v) => match v.as_i64() {
            Some(n) => n,
            None if flaw == "trap-on-bad-config" => panic!("rows is not a number"),
            None => {
                return Err(ConnectorError::config(
                    "bad_rows",
                    "`rows` must be a whole number",
                ))
            }
        },
    };
    if flaw == "trap-on-bad-config" && config.get("rows").is_none() {
        panic!("rows is missing");
    }
    Ok(Flawed { flaw, rows })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Position {
    last: i64,
}

impl Source for Flawed {
    type Config = serde_json::Value;

    fn init(config: serde_json::Value) -> Result<Self> {
        parse(&config)
    }

    fn validate(config: serde_json::Value) -> Result<ValidationResult> {
        parse(&config)?;
        Ok(rapidbyte_guest_sdk::ok_validation())
    }

    fn discover(&mut self) -> Result<Catalog> {
        let numbers = StreamBuilder::new("numbers", &schema(false))?
            .sync_modes(&[SyncMode::FullRefresh, SyncMode::Incremental])
            .cursor("n")
            .primary_key(&["n"])
            .build();
        Ok(Catalog {
            streams: vec![numbers],
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let mut summary = ReadSummary {
            streams: Vec::new(),
        };
        for selection in request.streams {
            let stream = selection.name.clone();
            let incremental = selection.sync_mode == SyncMode::Incremental;
            let mut from = 0;
            if incremental && self.flaw != "ignores-state" {
                if let Some(p) = state::get::<Position>(&stream)? {
                    from = p.last + 1;
                }
            }
            if self.flaw == "undeclared-host" {
                let _ = std::net::TcpStream::connect("127.0.0.1:9");
            }
            let mut out = Emitter::new(&selection);
            let mut sent = 0u64;
            let raw = matches!(
                self.flaw.as_str(),
                "oversize-batch" | "silent" | "wrong-schema" | "ignores-cancel"
            );
            let step = if self.flaw == "oversize-batch" {
                self.rows.max(1)
            } else {
                64
            };
            let mut at = from;
            while at < self.rows {
                let to = (at + step).min(self.rows);
                let b = batch(at, to, self.flaw == "wrong-schema")?;
                if raw {
                    // Straight to the host: no batch cutting; progress
                    // unless `silent`.
                    let r = host::emit_batch(&stream, &ipc::encode_batch(&b)?);
                    if r.is_err() && self.flaw != "ignores-cancel" {
                        return Err(ConnectorError::internal(
                            "cancelled",
                            "the host refused a batch",
                        ));
                    }
                    if self.flaw != "silent" {
                        host::report_progress(sent + (to - at) as u64, 0);
                    }
                } else {
                    out.emit(&b)?;
                }
                sent += (to - at) as u64;
                at = to;
            }
            if incremental && self.rows > from {
                state::set(
                    &stream,
                    &Position {
                        last: self.rows - 1,
                    },
                )?;
            }
            let mut s = out.finish();
            if raw {
                s.records = sent;
            }
            if self.flaw == "lying-summary" {
                s.records += 1;
            }
            summary.streams.push(s);
        }
        Ok(summary)
    }
}

rapidbyte_guest_sdk::source_connector!(Flawed);
