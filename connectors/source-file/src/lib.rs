//! `source-file`: reads CSV, JSONL and Parquet files from the one directory
//! the host grants it, full refresh or incremental on a cursor column.
//!
//! Streams: every `<name>.csv|.jsonl|.ndjson|.parquet` file in the directory
//! is a stream `<name>`; every sub-directory `<name>/` holding such files is
//! a stream `<name>` made of all its files (sorted by name).

mod config;
mod cursor;
mod files;
mod schema;

use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{log, state, BatchSizer};

use config::Config;
use cursor::Cursor;
use files::StreamFiles;

/// The connector instance.
pub struct FileSource {
    config: Config,
}

impl Source for FileSource {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        config.check()?;
        Ok(FileSource { config })
    }

    fn discover(&mut self) -> Result<Catalog> {
        let mut streams = Vec::new();
        for sf in files::list_streams(&self.config)? {
            let schema = schema::stream_schema(&self.config, &sf)?;
            streams.push(
                StreamBuilder::new(&sf.name, &schema)?
                    .sync_modes(&[SyncMode::FullRefresh, SyncMode::Incremental])
                    .build(),
            );
        }
        Ok(Catalog { streams })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        config.check()?;
        let streams = files::list_streams(&config)?;
        if streams.is_empty() {
            return Ok(ValidationResult {
                status: ValidationStatus::Warning,
                message: format!(
                    "no .csv, .jsonl, .ndjson or .parquet files in {}",
                    config.path
                ),
                details: vec![ValidationDetail {
                    field: Some("path".into()),
                    message: "the directory holds no readable files".into(),
                }],
            });
        }
        Ok(ValidationResult {
            status: ValidationStatus::Success,
            message: format!("{} stream(s) in {}", streams.len(), config.path),
            details: Vec::new(),
        })
    }

    fn read(&mut self, request: ReadRequest) -> Result<ReadSummary> {
        let available = files::list_streams(&self.config)?;
        let mut summary = ReadSummary {
            streams: Vec::new(),
        };
        for selection in request.streams {
            let sf = available
                .iter()
                .find(|s| s.name == selection.name)
                .ok_or_else(|| {
                    ConnectorError::config(
                        "unknown_stream",
                        format!(
                            "stream `{}` not found in {}",
                            selection.name, self.config.path
                        ),
                    )
                })?;
            summary.streams.push(self.read_stream(&selection, sf)?);
        }
        Ok(summary)
    }
}

impl FileSource {
    fn read_stream(&self, selection: &StreamSelection, sf: &StreamFiles) -> Result<StreamSummary> {
        if let Some(filter) = &selection.filter {
            return Err(ConnectorError::config(
                "filter_unsupported",
                format!(
                    "stream `{}`: source-file cannot push down `filter: {filter}`; remove it",
                    selection.name
                ),
            ));
        }
        let schema = schema::stream_schema(&self.config, sf)?;
        let mut cursor = match selection.sync_mode {
            SyncMode::FullRefresh => None,
            SyncMode::Incremental => {
                let field = selection.cursor_field.as_deref().ok_or_else(|| {
                    ConnectorError::config(
                        "cursor_required",
                        format!(
                            "stream `{}`: incremental sync needs `cursor_field`",
                            selection.name
                        ),
                    )
                })?;
                let saved = state::get::<cursor::SavedCursor>(&selection.name)?;
                Some(Cursor::new(&selection.name, field, &schema, saved)?)
            }
            SyncMode::Cdc => {
                return Err(ConnectorError::config(
                    "sync_mode_unsupported",
                    format!(
                        "stream `{}`: source-file does not support cdc",
                        selection.name
                    ),
                ))
            }
        };
        let mut out = Emitter::new(selection);
        // Rows per batch follow the row width, so a batch stays near
        // max_batch_bytes whatever `batch_rows` says (it is the upper bound).
        let mut sizer = BatchSizer::new(out.max_batch_bytes(), self.config.batch_rows);
        let mut warned = false;
        for file in &sf.files {
            files::read_file(&self.config, file, &schema, &mut sizer, |batch| {
                let bytes = rapidbyte_guest_sdk::sizing::batch_bytes(&batch);
                if !warned && batch.num_rows() == 1 && bytes > 2 * out.max_batch_bytes() {
                    warned = true;
                    log::warn(&format!(
                        "stream `{}`: a row of {} bytes in {} is over resources.max_batch_bytes ({}); \
                         such rows go one a batch, and if the connector runs out of memory, \
                         raise resources.max_memory",
                        selection.name,
                        bytes,
                        file.display(),
                        out.max_batch_bytes()
                    ));
                }
                let batch = match cursor.as_mut() {
                    Some(c) => c.keep_newer(&batch)?,
                    None => batch,
                };
                out.emit(&batch)
            })?;
        }
        if let Some(c) = cursor {
            if let Some(saved) = c.into_saved() {
                state::set(&selection.name, &saved)?;
            } else {
                log::info(&format!("stream `{}`: no new rows", selection.name));
            }
        }
        Ok(out.finish())
    }
}

rapidbyte_guest_sdk::source_connector!(FileSource);
