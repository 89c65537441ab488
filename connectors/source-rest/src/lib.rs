//! `source-rest`: any JSON REST API as a source, configured entirely in the
//! pipeline YAML: `base_url`, headers, auth (bearer, basic, API key,
//! OAuth2 client credentials), per-stream `path`, `params`, pagination
//! (`link_header`, `cursor`, `offset`, `page`), `response_path`, a declared
//! or inferred `schema`, incremental reads on `cursor_field` with
//! `cursor_param`, pacing and retries on 429/5xx honouring `Retry-After`.
//!
//! Requests go through `wasi:http`; the host sends them only to the base
//! URL's host (resolved when the grant was built), only over HTTPS.

pub mod config;
pub mod http;
pub mod jsonpath;
pub mod pages;
pub mod records;
pub mod url;

use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{log, metrics, state};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use config::{Checked, Config, StreamConfig};
use http::{Client, Transport, WasiHttp};
use records::{CursorValue, Layout};

/// The connector instance.
pub struct RestSource {
    config: Config,
    checked: Checked,
}

/// What an incremental stream saves: the largest cursor value read.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    cursor: CursorValue,
}

/// Records are turned into a batch once this many are waiting, or their
/// JSON reaches a quarter of `max_batch_bytes` or [`FLUSH_JSON_BYTES`].
const BATCH_RECORDS: usize = 20_000;
const FLUSH_JSON_BYTES: usize = 4 << 20;

impl Source for RestSource {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        let checked = config.check()?;
        Ok(RestSource { config, checked })
    }

    fn discover(&mut self) -> Result<Catalog> {
        let mut client = self.client();
        let mut streams = Vec::new();
        for s in &self.config.streams {
            let layout = layout_for(&mut client, &self.config, &self.checked, s)?;
            let mut builder = StreamBuilder::new(&s.name, &layout.schema)?
                .sync_modes(&[SyncMode::FullRefresh, SyncMode::Incremental]);
            if let Some(c) = s
                .cursor_field
                .as_deref()
                .filter(|c| layout.column(c).is_some())
            {
                builder = builder.cursor(c);
            }
            let key: Vec<&str> = s
                .primary_key
                .iter()
                .map(String::as_str)
                .filter(|k| layout.column(k).is_some())
                .collect();
            if !key.is_empty() && key.len() == s.primary_key.len() {
                builder = builder.primary_key(&key);
            }
            streams.push(builder.build());
        }
        Ok(Catalog { streams })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        let checked = config.check()?;
        let Some(first) = config.streams.first() else {
            return Ok(ValidationResult {
                status: ValidationStatus::Warning,
                message: "no streams: list them under source.streams, each with a `path`".into(),
                details: Vec::new(),
            });
        };
        let source = RestSource {
            config: config.clone(),
            checked,
        };
        let mut client = source.client();
        let mut got = 0;
        let outcome = pages::walk(
            &mut client,
            &source.checked.base,
            first,
            &[],
            Some(1),
            |p| {
                got = p.records.len();
                Ok(())
            },
        );
        Ok(match outcome {
            Ok(()) => ValidationResult {
                status: ValidationStatus::Success,
                message: format!(
                    "{} answered over HTTPS: {got} record(s) on the first page of stream `{}`",
                    source.checked.base, first.name
                ),
                details: Vec::new(),
            },
            Err(e) => ValidationResult {
                status: ValidationStatus::Failed,
                message: e.message,
                details: Vec::new(),
            },
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let mut summary = ReadSummary {
            streams: Vec::new(),
        };
        for selection in request.streams {
            let stream = self.config.stream(&selection.name)?.clone();
            summary.streams.push(self.read_stream(&selection, &stream)?);
        }
        Ok(summary)
    }
}

/// The stream's columns: declared, or inferred from its first pages.
fn layout_for<T: Transport>(
    client: &mut Client<T>,
    config: &Config,
    checked: &Checked,
    s: &StreamConfig,
) -> Result<Layout> {
    if let Some(cols) = &s.schema {
        return Layout::declared(cols).map_err(|e| {
            ConnectorError::config(
                "invalid_config",
                format!("stream `{}`: `schema`: {e}", s.name),
            )
        });
    }
    let mut samples = Vec::new();
    pages::walk(
        client,
        &checked.base,
        s,
        &[],
        Some(u64::from(config.infer_pages.max(1))),
        |p| {
            samples.extend(p.records);
            Ok(())
        },
    )?;
    let layout = Layout::inferred(&samples);
    if layout.schema.fields().is_empty() {
        return Err(ConnectorError::schema(
            "nothing_to_infer",
            format!(
                "stream `{}`: the first page holds no records to infer columns from; declare the stream's `schema`",
                s.name
            ),
        ));
    }
    Ok(layout)
}

impl RestSource {
    fn client(&self) -> Client<WasiHttp> {
        Client::new(WasiHttp, &self.config, &self.checked)
    }

    fn read_stream(
        &self,
        selection: &StreamSelection,
        stream: &StreamConfig,
    ) -> Result<StreamSummary> {
        let name = &selection.name;
        if let Some(filter) = &selection.filter {
            return Err(ConnectorError::config(
                "filter_unsupported",
                format!("stream `{name}`: source-rest cannot push down `filter: {filter}`; use the stream's `params` instead"),
            ));
        }
        if selection.partition.is_some() {
            return Err(ConnectorError::config(
                "partitions_unsupported",
                format!(
                    "stream `{name}`: source-rest reads a stream in one share; remove `partitions`"
                ),
            ));
        }
        let mut client = self.client();
        let layout = layout_for(&mut client, &self.config, &self.checked, stream)?;
        let mut out = Emitter::new(selection);
        let (cursor_col, saved) = match selection.sync_mode {
            SyncMode::FullRefresh => (None, None),
            SyncMode::Incremental => {
                let field = selection.cursor_field.as_deref().ok_or_else(|| {
                    ConnectorError::config(
                        "cursor_required",
                        format!("stream `{name}`: incremental sync needs `cursor_field`"),
                    )
                })?;
                let col = layout.column(field).ok_or_else(|| {
                    ConnectorError::config(
                        "unknown_cursor",
                        format!(
                            "stream `{name}`: `cursor_field` {field} is not a column (columns: {})",
                            layout
                                .schema
                                .fields()
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                (Some(col), state::get::<Saved>(name)?.map(|s| s.cursor))
            }
            SyncMode::Cdc => {
                return Err(ConnectorError::config(
                    "sync_mode_unsupported",
                    format!("stream `{name}`: source-rest does not support cdc"),
                ))
            }
        };
        let mut extra = Vec::new();
        if let Some(saved) = &saved {
            match &stream.cursor_param {
                Some(param) => {
                    let format = stream.cursor_format.as_deref().unwrap_or("raw");
                    extra.push((param.clone(), saved.param(format)));
                }
                None => log::info(&format!(
                    "stream `{name}`: no `cursor_param`, so every page is read and only records past the saved cursor are kept"
                )),
            }
        }
        let mut newest: Option<CursorValue> = saved.clone();
        let mut pending: Vec<Value> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut first_page = 0u64;
        // Parsed JSON takes several times its text's size: keep what waits
        // for a batch small whatever max_batch_bytes allows.
        let flush_at = usize::try_from(out.max_batch_bytes() / 4)
            .unwrap_or(usize::MAX)
            .min(FLUSH_JSON_BYTES);
        let flush = |pending: &mut Vec<Value>, first_page: u64, out: &mut Emitter| -> Result<()> {
            if pending.is_empty() {
                return Ok(());
            }
            let batch = layout
                .batch(pending, &|row| {
                    format!("stream `{name}`, page {first_page} or later, record {row}")
                })
                .map_err(|e| ConnectorError::data("bad_record", e))?;
            out.emit(&batch)?;
            pending.clear();
            Ok(())
        };
        let base = self.checked.base.clone();
        pages::walk(&mut client, &base, stream, &extra, None, |page| {
            if pending.is_empty() {
                first_page = page.number;
            }
            for (i, rec) in page.records.into_iter().enumerate() {
                if let Some(col) = cursor_col {
                    let Some(value) = layout.cursor_of(col, &rec) else {
                        return Err(ConnectorError::data(
                            "missing_cursor",
                            format!(
                                "stream `{name}`, page {} (GET {}), record {i}: no usable `{}` value; an incremental stream needs one on every record",
                                page.number,
                                page.url,
                                layout.schema.field(col).name()
                            ),
                        ));
                    };
                    if saved
                        .as_ref()
                        .is_some_and(|s| value.order(s) != std::cmp::Ordering::Greater)
                    {
                        continue;
                    }
                    if newest
                        .as_ref()
                        .is_none_or(|n| value.order(n) == std::cmp::Ordering::Greater)
                    {
                        newest = Some(value);
                    }
                }
                pending.push(rec);
            }
            pending_bytes += page.bytes;
            if pending.len() >= BATCH_RECORDS || pending_bytes >= flush_at {
                flush(&mut pending, first_page, &mut out)?;
                pending_bytes = 0;
            }
            Ok(())
        })?;
        flush(&mut pending, first_page, &mut out)?;
        metrics::emit("http_requests", client.requests as f64, &[("stream", name)]);
        metrics::emit("http_retries", client.retries as f64, &[("stream", name)]);
        if cursor_col.is_some() {
            match newest {
                Some(cursor) if Some(&cursor) != saved.as_ref() => {
                    state::set(name, &Saved { cursor })?
                }
                _ => log::info(&format!("stream `{name}`: no new records")),
            }
        }
        Ok(out.finish())
    }
}

rapidbyte_guest_sdk::source_connector!(RestSource);
