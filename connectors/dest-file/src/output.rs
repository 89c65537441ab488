//! One stream's output file, written through a temporary file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rapidbyte_guest_sdk::{ConnectorError, Result};
use serde::Deserialize;

use crate::Config;

/// Output file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Apache Parquet (default).
    #[default]
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

enum Writer {
    Parquet(ArrowWriter<File>),
    Csv(Box<arrow_csv::Writer<BufWriter<File>>>),
    Jsonl(arrow_json::LineDelimitedWriter<BufWriter<File>>),
}

/// The output of one stream.
pub struct Output {
    format: Format,
    compression: Compression,
    schema: SchemaRef,
    target: PathBuf,
    temp: PathBuf,
    stream: String,
    writer: Option<Writer>,
    /// Whether the next segment keeps what the target holds.
    append: bool,
    /// Whether a commit already happened (later empty commits are no-ops).
    committed: bool,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ConnectorError {
    ConnectorError::internal("io_error", format!("{}: {e}", path.display()))
}

impl Output {
    /// Prepares `<path>/<schema>/<stream>.<ext>`; `append` keeps existing rows.
    pub fn open(config: &Config, stream: &str, schema: SchemaRef, append: bool) -> Result<Self> {
        if stream.is_empty() || stream.contains(['/', '\\']) || stream.starts_with('.') {
            return Err(ConnectorError::config(
                "bad_stream_name",
                format!("stream name `{stream}` cannot be used as a file name"),
            ));
        }
        let mut dir = PathBuf::from(&config.path);
        if let Some(s) = &config.schema {
            dir.push(s);
        }
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let ext = config.format.extension();
        let target = dir.join(format!("{stream}.{ext}"));
        let temp = dir.join(format!(".{stream}.{ext}.tmp"));
        if temp.exists() {
            fs::remove_file(&temp).map_err(|e| io_err(&temp, e))?;
        }
        let compression = if config.compression == "none" {
            Compression::UNCOMPRESSED
        } else {
            Compression::SNAPPY
        };
        Ok(Output {
            format: config.format,
            compression,
            schema,
            target,
            temp,
            stream: stream.to_string(),
            writer: None,
            append,
            committed: false,
        })
    }

    /// The final file.
    pub fn target(&self) -> &Path {
        &self.target
    }

    fn start(&mut self) -> Result<&mut Writer> {
        if self.writer.is_none() {
            let keep = self.append && self.target.exists();
            let writer = match self.format {
                Format::Parquet => {
                    let file = File::create(&self.temp).map_err(|e| io_err(&self.temp, e))?;
                    let props = WriterProperties::builder()
                        .set_compression(self.compression)
                        .set_max_row_group_row_count(Some(128 * 1024))
                        .build();
                    let mut w = ArrowWriter::try_new(file, self.schema.clone(), Some(props))
                        .map_err(|e| io_err(&self.temp, e))?;
                    if keep {
                        self.copy_parquet(&mut w)?;
                    }
                    Writer::Parquet(w)
                }
                Format::Csv | Format::Jsonl => {
                    if keep {
                        fs::copy(&self.target, &self.temp).map_err(|e| io_err(&self.temp, e))?;
                    }
                    let file = fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.temp)
                        .map_err(|e| io_err(&self.temp, e))?;
                    let buf = BufWriter::with_capacity(1 << 20, file);
                    if self.format == Format::Csv {
                        Writer::Csv(Box::new(
                            arrow_csv::WriterBuilder::new()
                                .with_header(!keep)
                                .build(buf),
                        ))
                    } else {
                        Writer::Jsonl(arrow_json::LineDelimitedWriter::new(buf))
                    }
                }
            };
            self.writer = Some(writer);
        }
        self.writer
            .as_mut()
            .ok_or_else(|| ConnectorError::internal("no_writer", "writer missing"))
    }

    fn copy_parquet(&self, w: &mut ArrowWriter<File>) -> Result<()> {
        let file = file_common::PathChunkReader::open(&self.target)
            .map_err(|e| io_err(&self.target, e))?;
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| io_err(&self.target, e))?;
        if reader.schema().fields() != self.schema.fields() {
            return Err(ConnectorError::schema(
                "schema_changed",
                format!(
                    "stream `{}`: {} has columns {} but the incoming stream has {}; use write_mode: replace or move the file away",
                    self.stream,
                    self.target.display(),
                    describe(reader.schema()),
                    describe(&self.schema)
                ),
            ));
        }
        let reader = reader.build().map_err(|e| io_err(&self.target, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| io_err(&self.target, e))?;
            w.write(&batch).map_err(|e| io_err(&self.temp, e))?;
        }
        Ok(())
    }

    /// Appends `batch`.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(ConnectorError::schema(
                "batch_schema_mismatch",
                format!(
                    "stream `{}`: a batch has columns {} but the stream declared {}",
                    self.stream,
                    describe(&batch.schema()),
                    describe(&self.schema)
                ),
            ));
        }
        let temp = self.temp.clone();
        let err = |e: arrow_schema::ArrowError| io_err(&temp, e);
        match self.start()? {
            Writer::Parquet(w) => w.write(batch).map_err(|e| io_err(&temp, e)),
            Writer::Csv(w) => w.write(batch).map_err(err),
            Writer::Jsonl(w) => w.write(batch).map_err(err),
        }
    }

    /// Makes everything written so far durable: finishes the temporary file,
    /// syncs it and renames it over the target. Later rows append to it.
    pub fn commit(&mut self) -> Result<()> {
        // Nothing new since the last commit, or an append run that received
        // no rows: the target already holds everything.
        if self.writer.is_none() && (self.committed || (self.append && self.target.exists())) {
            return Ok(());
        }
        self.start()?;
        let temp = self.temp.clone();
        let file = match self.writer.take() {
            Some(Writer::Parquet(w)) => w.into_inner().map_err(|e| io_err(&temp, e))?,
            Some(Writer::Csv(w)) => w
                .into_inner()
                .into_inner()
                .map_err(|e| io_err(&temp, e.error()))?,
            Some(Writer::Jsonl(mut w)) => {
                w.finish().map_err(|e| io_err(&temp, e))?;
                w.into_inner()
                    .into_inner()
                    .map_err(|e| io_err(&temp, e.error()))?
            }
            None => return Ok(()),
        };
        let mut file = file;
        file.flush().map_err(|e| io_err(&temp, e))?;
        file.sync_all().map_err(|e| io_err(&temp, e))?;
        drop(file);
        fs::rename(&self.temp, &self.target).map_err(|e| io_err(&self.target, e))?;
        self.append = true;
        self.committed = true;
        Ok(())
    }
}

fn describe(schema: &arrow_schema::Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", cols.join(", "))
}
