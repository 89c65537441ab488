//! `dest-file`: writes each stream to `<path>/<schema>/<stream>.<ext>` as
//! Parquet (default), CSV or JSONL, in `append` or `replace` mode.
//!
//! Crash safety: rows go to a hidden working file next to the target,
//! which is synced and renamed over the target at every checkpoint and at
//! the end of the stream. A crash leaves either the old file or the new
//! one, never half of one; stale working files are removed on the next
//! run. The previous version of the target is reused as the next working
//! file, so a checkpoint costs time proportional to the new rows only
//! (see `output.rs`).

mod output;
mod parquet_out;
#[cfg(test)]
mod tests;

use rapidbyte_guest_sdk::prelude::*;
use rapidbyte_guest_sdk::{ipc, log};
use serde::Deserialize;

use output::{Format, Output};

/// `destination.config` of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The directory to write into (granted by the host).
    pub path: String,
    /// `parquet` (default), `csv` or `jsonl`.
    #[serde(default)]
    pub format: Format,
    /// Optional sub-directory, e.g. the source schema name.
    #[serde(default)]
    pub schema: Option<String>,
    /// Parquet compression: `snappy` (default) or `none`.
    #[serde(default = "default_compression")]
    pub compression: String,
}

fn default_compression() -> String {
    "snappy".into()
}

/// The connector instance.
pub struct FileDestination {
    config: Config,
}

fn check(config: &Config) -> Result<()> {
    if !matches!(config.compression.as_str(), "snappy" | "none") {
        return Err(ConnectorError::config(
            "bad_compression",
            format!(
                "compression must be `snappy` or `none`, got `{}`",
                config.compression
            ),
        ));
    }
    if let Some(s) = &config.schema {
        if s.is_empty() || s.contains(['/', '\\']) || s.starts_with('.') {
            return Err(ConnectorError::config(
                "bad_schema_name",
                format!("schema `{s}` must be a plain directory name"),
            ));
        }
    }
    Ok(())
}

impl Destination for FileDestination {
    type Config = Config;

    fn init(config: Config) -> Result<Self> {
        check(&config)?;
        Ok(FileDestination { config })
    }

    fn validate(config: Config) -> Result<ValidationResult> {
        check(&config)?;
        let probe = std::path::Path::new(&config.path).join(".rapidbyte-write-probe");
        std::fs::write(&probe, b"ok").map_err(|e| {
            ConnectorError::config(
                "not_writable",
                format!("{} is not writable: {e}", config.path),
            )
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(rapidbyte_guest_sdk::ok_validation())
    }

    fn write(&mut self, request: WriteRequest, input: &mut FrameReader) -> Result<WriteSummary> {
        let append = match &request.write_mode {
            WriteMode::Append => true,
            WriteMode::Replace => false,
            other => {
                return Err(ConnectorError::config(
                    "write_mode_unsupported",
                    format!(
                    "stream `{}`: dest-file supports write_mode append or replace, not {other:?}",
                    request.stream_name
                ),
                ))
            }
        };
        let schema = ipc::decode_schema(&request.schema)?;
        let mut out = Output::open(&self.config, &request.stream_name, schema, append)?;
        while let Some(frame) = input.next_frame()? {
            match frame {
                InputFrame::Batch(batch) => out.write(&batch)?,
                InputFrame::Checkpoint => out.commit()?,
            }
        }
        out.commit()?;
        let stats = out.stats();
        log::info(&format!(
            "stream `{}`: wrote {} rows to {} ({} commits, {} bytes of new data, {} bytes copied, {} bytes of footers)",
            request.stream_name,
            input.records(),
            out.target().display(),
            stats.commits,
            stats.data_written,
            stats.copied,
            stats.footer_written
        ));
        let target = out.target().to_path_buf();
        if let Err(e) = out.close() {
            // Every row is in the target already; the next run removes it.
            log::warn(&format!(
                "stream `{}`: a working file next to {} was not removed: {}",
                request.stream_name,
                target.display(),
                e.message
            ));
        }
        Ok(input.summary())
    }
}

rapidbyte_guest_sdk::destination_connector!(FileDestination);
