//! The connector's configuration.

use std::collections::BTreeMap;

use rapidbyte_guest_sdk::ConnectorError;
use serde::Deserialize;

/// File format of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or `csv.delimiter`) separated values.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// CSV options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvOptions {
    /// One-character field delimiter.
    pub delimiter: String,
    /// Whether the first line names the columns.
    pub has_header: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ",".into(),
            has_header: true,
        }
    }
}

/// `source.config` of a pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The directory to read (granted by the host).
    pub path: String,
    /// Force one format instead of choosing by file extension.
    #[serde(default)]
    pub format: Option<Format>,
    /// CSV options.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Declared schemas: stream -> column -> type (`int64`, `float64`,
    /// `utf8`, `bool`, `date`, `timestamp`, `timestamptz`, `decimal(p,s)`...).
    /// Streams without one are inferred. Column order is kept.
    #[serde(default)]
    pub schemas: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// Rows sampled to infer a CSV/JSONL schema.
    #[serde(default = "default_infer_rows")]
    pub infer_rows: usize,
    /// Rows decoded at a time (batches are further cut at `max_batch_bytes`).
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
}

fn default_infer_rows() -> usize {
    1000
}

fn default_batch_rows() -> usize {
    16 * 1024
}

impl Config {
    /// Checks values serde cannot.
    pub fn check(&self) -> Result<(), ConnectorError> {
        if self.csv.delimiter.len() != 1 {
            return Err(ConnectorError::config(
                "bad_delimiter",
                format!(
                    "csv.delimiter must be one ASCII character, got `{}`",
                    self.csv.delimiter
                ),
            ));
        }
        if self.batch_rows == 0 || self.infer_rows == 0 {
            return Err(ConnectorError::config(
                "bad_rows",
                "batch_rows and infer_rows must be at least 1",
            ));
        }
        Ok(())
    }

    /// The CSV delimiter byte.
    pub fn delimiter(&self) -> u8 {
        self.csv
            .delimiter
            .as_bytes()
            .first()
            .copied()
            .unwrap_or(b',')
    }
}
