//! Finding the files of each stream and decoding them into batches.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rapidbyte_guest_sdk::{ConnectorError, Result};

use crate::config::{Config, Format};

/// One stream and the files it is read from, in order.
#[derive(Debug, Clone)]
pub struct StreamFiles {
    /// Stream name.
    pub name: String,
    /// Format of every file.
    pub format: Format,
    /// The files, sorted by name.
    pub files: Vec<PathBuf>,
}

fn format_of(config: &Config, path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    let by_ext = match ext.as_str() {
        "csv" => Format::Csv,
        "jsonl" | "ndjson" => Format::Jsonl,
        "parquet" => Format::Parquet,
        _ => return None,
    };
    Some(config.format.unwrap_or(by_ext))
}

fn io_err(path: &Path, e: std::io::Error) -> ConnectorError {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => "not_found",
        std::io::ErrorKind::PermissionDenied => "permission_denied",
        _ => "io_error",
    };
    ConnectorError::config(code, format!("{}: {e}", path.display()))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Lists the streams of the configured directory.
pub fn list_streams(config: &Config) -> Result<Vec<StreamFiles>> {
    let root = Path::new(&config.path);
    let mut streams = Vec::new();
    for path in sorted_entries(root)? {
        let named = if path.is_dir() {
            path.file_name()
        } else {
            path.file_stem()
        };
        let Some(stem) = named.and_then(|s| s.to_str()).map(str::to_string) else {
            continue;
        };
        if path.is_dir() {
            let files: Vec<PathBuf> = sorted_entries(&path)?
                .into_iter()
                .filter(|p| p.is_file() && format_of(config, p).is_some())
                .collect();
            let Some(first) = files.first() else { continue };
            let format = format_of(config, first).unwrap_or(Format::Csv);
            if let Some(odd) = files.iter().find(|p| format_of(config, p) != Some(format)) {
                return Err(ConnectorError::config(
                    "mixed_formats",
                    format!(
                        "stream `{stem}`: {} and {} have different formats; keep one format per directory",
                        first.display(),
                        odd.display()
                    ),
                ));
            }
            streams.push(StreamFiles {
                name: stem,
                format,
                files,
            });
        } else if let Some(format) = format_of(config, &path) {
            if let Some(dup) = streams.iter().find(|s: &&StreamFiles| s.name == stem) {
                return Err(ConnectorError::config(
                    "duplicate_stream",
                    format!(
                        "two sources for stream `{stem}`: {} and {}",
                        dup.files
                            .first()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        path.display()
                    ),
                ));
            }
            streams.push(StreamFiles {
                name: stem,
                format,
                files: vec![path],
            });
        }
    }
    Ok(streams)
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| io_err(path, e))
}

fn data_err(path: &Path, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::data("decode_failed", format!("{}: {e}", path.display()))
        .with_details(serde_json::json!({ "file": path.display().to_string() }))
}

/// Decodes `path` with `schema`, handing each batch to `sink`.
pub fn read_file(
    config: &Config,
    path: &Path,
    schema: &Arc<Schema>,
    batch_rows: usize,
    mut sink: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let format = format_of(config, path).unwrap_or(Format::Csv);
    let file = open(path)?;
    match format {
        Format::Csv => {
            let reader = arrow_csv::ReaderBuilder::new(schema.clone())
                .with_header(config.csv.has_header)
                .with_header_validation(config.csv.has_header)
                .with_delimiter(config.delimiter())
                .with_batch_size(batch_rows)
                .build(BufReader::with_capacity(1 << 20, file))
                .map_err(|e| data_err(path, e))?;
            for batch in reader {
                sink(batch.map_err(|e| data_err(path, e))?)?;
            }
        }
        Format::Jsonl => {
            let reader = arrow_json::ReaderBuilder::new(schema.clone())
                .with_batch_size(batch_rows)
                .build(BufReader::with_capacity(1 << 20, file))
                .map_err(|e| data_err(path, e))?;
            for batch in reader {
                sink(batch.map_err(|e| data_err(path, e))?)?;
            }
        }
        Format::Parquet => {
            drop(file);
            let file = file_common::PathChunkReader::open(path).map_err(|e| io_err(path, e))?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| data_err(path, e))?
                .with_batch_size(batch_rows)
                .build()
                .map_err(|e| data_err(path, e))?;
            for batch in reader {
                let batch = batch.map_err(|e| data_err(path, e))?;
                if batch.schema().fields() != schema.fields() {
                    return Err(ConnectorError::schema(
                        "schema_mismatch",
                        format!(
                            "{}: columns differ from the stream's first file ({} vs {})",
                            path.display(),
                            batch.schema(),
                            schema
                        ),
                    ));
                }
                sink(batch)?;
            }
        }
    }
    Ok(())
}
