//! One stream's output file, committed by atomic rename, at a cost linear
//! in the new rows.
//!
//! The target `<stream>.<ext>` is only ever replaced whole, by renaming a
//! finished, synced working file `.<stream>.<ext>.tmp` over it, so at any
//! moment (and after a crash at any point) it is a complete file holding
//! exactly the committed rows. The target's inode is never written to while
//! it is the target.
//!
//! What makes a commit cheap is that the working file is not built from
//! scratch: just before the rename the target is hard-linked to
//! `.<stream>.<ext>.old`, and after the rename that inode (the previous
//! version) becomes the next working file. It already holds the committed
//! data up to the previous commit, so the next commit only copies the
//! data of the last commit into it (raw bytes, no decoding), writes the new
//! rows after it, then the footer (Parquet) and renames again. Each commit
//! thus writes the new rows once, copies the previous commit's rows once,
//! and rewrites the Parquet metadata; it never re-reads older data.
//! Disk use peaks at about twice the file, as with any rename-based commit.
//!
//! Only versions written by this run are recycled that way: the file that
//! was the target when the run started is never written to (someone may
//! hold a hard link to it, e.g. a backup), so an `append` run copies the
//! existing data at its first commit, and once more at its second (into
//! the first working file of its own); from then on each commit copies
//! only the previous commit's data. The price of recycling: a reader that
//! keeps a version open across the next commit can see it change (for
//! Parquet, only past the row groups its footer lists); opening the target
//! afresh always gives a complete version.
//!
//! Both files hold the same bytes up to where the committed data ends
//! (`base.len`): for CSV/JSONL everything, for Parquet the row groups;
//! after that the Parquet footer (page indexes and `FileMetaData`) is
//! written anew by each commit (see [`crate::parquet_out`]).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rapidbyte_guest_sdk::{io_error, ConnectorError, Result};
use serde::Deserialize;

use crate::parquet_out::{self, Existing, Parts};
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

/// Bytes an [`Output`] moved so far (cumulative), for logs, tests and
/// measurements.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoStats {
    /// Commits that wrote a file.
    pub commits: u64,
    /// Encoded bytes of new rows written.
    pub data_written: u64,
    /// Bytes of committed data copied from the target into the working
    /// file (each one read once and written once).
    pub copied: u64,
    /// Parquet footer bytes (page indexes and metadata) written.
    pub footer_written: u64,
    /// Rows of an existing Parquet file laid out differently that were
    /// read and encoded again (at most once per run).
    pub rows_reencoded: u64,
}

/// The committed data: the first `len` bytes of the target.
#[derive(Clone)]
struct Base {
    len: u64,
    /// Parquet only: the row groups in those bytes.
    parts: Parts,
}

/// A segment being written: the rows since the last commit.
enum Segment {
    Parquet(parquet_out::Segment),
    Csv(Box<arrow_csv::Writer<BufWriter<File>>>),
    Jsonl(arrow_json::LineDelimitedWriter<BufWriter<File>>),
}

/// The output of one stream.
pub struct Output {
    format: Format,
    compression: Compression,
    schema: SchemaRef,
    stream: String,
    dir: PathBuf,
    target: PathBuf,
    /// The working file, renamed over the target at each commit.
    work: PathBuf,
    /// The target's second name during a commit, to keep its inode.
    old: PathBuf,
    /// What the target holds of the stream (once `target_holds_base`).
    base: Base,
    /// Whether the target's first `base.len` bytes are `base` (false in
    /// `replace` mode before the first commit, or when the target is a
    /// Parquet file to encode again).
    target_holds_base: bool,
    /// Whether the target is a version written by this run (its inode
    /// may be recycled as the next working file).
    target_ours: bool,
    /// Whether the first segment starts by re-encoding the target's rows.
    reencode: bool,
    /// The working file when not in a segment, with how many leading
    /// bytes of `base` it already holds.
    spare: Option<(File, u64)>,
    segment: Option<Segment>,
    /// Whether the target existed when `append` opened it.
    existed: bool,
    /// Whether a commit already happened (later empty commits are no-ops).
    committed: bool,
    /// Set after a failed write or commit: the output refuses more work.
    broken: bool,
    stats: IoStats,
}

/// An error on `path`, in words: the I/O error inside `e` (an Arrow,
/// Parquet or CSV error may carry one) through the SDK's [`io_error`], else
/// `e`'s own text.
fn io_err(path: &Path, e: &(dyn std::error::Error + 'static)) -> ConnectorError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            let owned = match io.raw_os_error() {
                Some(n) => std::io::Error::from_raw_os_error(n),
                None => std::io::Error::new(io.kind(), io.to_string()),
            };
            return io_error(path, owned);
        }
        cause = c.source();
    }
    ConnectorError::internal("io_error", format!("{}: {e}", path.display()))
}

/// Removes `path`; a missing file is fine.
fn remove(path: &Path) -> std::io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes renames in `dir` durable. Some platforms hand out directory
/// handles that cannot be synced (WASI preview 1 hosts answer `EBADF`,
/// others "unsupported"); there the file's own sync is all there is.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if cannot_sync_directories(&e) => Ok(()),
        other => other,
    }
}

/// Whether `e`, from syncing a directory, means the platform cannot.
pub(crate) fn cannot_sync_directories(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    #[cfg(target_os = "wasi")]
    const EBADF: i32 = 8;
    #[cfg(not(target_os = "wasi"))]
    const EBADF: i32 = 9;
    matches!(e.kind(), Unsupported | InvalidInput | PermissionDenied)
        || e.raw_os_error() == Some(EBADF)
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
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, &e))?;
        let ext = config.format.extension();
        let target = dir.join(format!("{stream}.{ext}"));
        let work = dir.join(format!(".{stream}.{ext}.tmp"));
        let old = dir.join(format!(".{stream}.{ext}.old"));
        // Left over by a crash: never part of the committed output.
        for stale in [&work, &old] {
            remove(stale).map_err(|e| io_err(stale, &e))?;
        }
        let compression = if config.compression == "none" {
            Compression::UNCOMPRESSED
        } else {
            Compression::SNAPPY
        };
        let mut out = Output {
            format: config.format,
            compression,
            schema,
            stream: stream.to_string(),
            dir,
            target,
            work,
            old,
            base: Base {
                len: 0,
                parts: Parts::new(),
            },
            target_holds_base: false,
            target_ours: false,
            reencode: false,
            spare: None,
            segment: None,
            existed: false,
            committed: false,
            broken: false,
            stats: IoStats::default(),
        };
        out.existed = append && out.target.exists();
        if out.existed {
            out.adopt_target()?;
        }
        Ok(out)
    }

    /// Takes the existing target as the committed data (`append` mode).
    fn adopt_target(&mut self) -> Result<()> {
        match self.format {
            Format::Csv | Format::Jsonl => {
                let len = fs::metadata(&self.target)
                    .map_err(|e| io_err(&self.target, &e))?
                    .len();
                self.base.len = len;
                self.target_holds_base = true;
            }
            Format::Parquet => {
                let (schema, existing) =
                    parquet_out::inspect(&self.target).map_err(|e| io_err(&self.target, &e))?;
                if schema.fields() != self.schema.fields() {
                    return Err(ConnectorError::schema(
                        "schema_changed",
                        format!(
                            "stream `{}`: {} has columns {} but the incoming stream has {}; use write_mode: replace or move the file away",
                            self.stream,
                            self.target.display(),
                            describe(&schema),
                            describe(&self.schema)
                        ),
                    ));
                }
                match existing {
                    Existing::Reusable { data_end, parts } => {
                        self.base = Base {
                            len: data_end,
                            parts,
                        };
                        self.target_holds_base = true;
                    }
                    Existing::Foreign => self.reencode = true,
                }
            }
        }
        Ok(())
    }

    /// The final file.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Bytes moved so far.
    pub fn stats(&self) -> IoStats {
        self.stats
    }

    fn props(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(128 * 1024))
            .build()
    }

    /// Opens a segment: a working file holding `base`, positioned after it.
    fn start(&mut self) -> Result<()> {
        if self.broken {
            return Err(ConnectorError::internal(
                "output_failed",
                format!("stream `{}`: an earlier write failed", self.stream),
            ));
        }
        if self.segment.is_some() {
            return Ok(());
        }
        let work = self.work.clone();
        let (mut file, have) = match self.spare.take() {
            Some(spare) => spare,
            None => (
                OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&work)
                    .map_err(|e| io_err(&work, &e))?,
                0,
            ),
        };
        let start = self.base.len;
        if have < start {
            self.copy_from_target(&mut file, have, start)?;
        }
        file.seek(SeekFrom::Start(start))
            .map_err(|e| io_err(&work, &e))?;
        let segment = match self.format {
            Format::Parquet => {
                let mut seg =
                    parquet_out::Segment::new(file, start, self.schema.clone(), self.props())
                        .map_err(|e| io_err(&work, &e))?;
                if self.reencode {
                    self.reencode = false;
                    self.stats.rows_reencoded += self.reencode_target(&mut seg)?;
                }
                Segment::Parquet(seg)
            }
            Format::Csv => {
                let buf = BufWriter::with_capacity(1 << 20, file);
                Segment::Csv(Box::new(
                    arrow_csv::WriterBuilder::new()
                        .with_header(start == 0)
                        .build(buf),
                ))
            }
            Format::Jsonl => Segment::Jsonl(arrow_json::LineDelimitedWriter::new(
                BufWriter::with_capacity(1 << 20, file),
            )),
        };
        self.segment = Some(segment);
        Ok(())
    }

    /// Copies bytes `from..to` of the target into `file` at the same offsets.
    fn copy_from_target(&mut self, file: &mut File, from: u64, to: u64) -> Result<()> {
        let mut src = File::open(&self.target).map_err(|e| io_err(&self.target, &e))?;
        src.seek(SeekFrom::Start(from))
            .map_err(|e| io_err(&self.target, &e))?;
        file.seek(SeekFrom::Start(from))
            .map_err(|e| io_err(&self.work, &e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut at = from;
        while at < to {
            let n = usize::try_from(to - at).map_or(buf.len(), |r| r.min(buf.len()));
            src.read_exact(&mut buf[..n])
                .map_err(|e| io_err(&self.target, &e))?;
            file.write_all(&buf[..n])
                .map_err(|e| io_err(&self.work, &e))?;
            at += n as u64;
        }
        self.stats.copied += to - from;
        Ok(())
    }

    /// Feeds the rows of the (foreign-layout) target into `seg`.
    fn reencode_target(&self, seg: &mut parquet_out::Segment) -> Result<u64> {
        let file = file_common::PathChunkReader::open(&self.target)
            .map_err(|e| io_err(&self.target, &e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| io_err(&self.target, &e))?;
        let mut rows = 0;
        for batch in reader {
            let batch = batch.map_err(|e| io_err(&self.target, &e))?;
            seg.write(&batch).map_err(|e| io_err(&self.work, &e))?;
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
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
        let res = self.write_segment(batch);
        if res.is_err() {
            self.fail();
        }
        res
    }

    fn write_segment(&mut self, batch: &RecordBatch) -> Result<()> {
        self.start()?;
        let work = &self.work;
        let err = |e: arrow_schema::ArrowError| io_err(work, &e);
        match self.segment.as_mut() {
            Some(Segment::Parquet(w)) => w.write(batch).map_err(|e| io_err(work, &e)),
            Some(Segment::Csv(w)) => w.write(batch).map_err(err),
            Some(Segment::Jsonl(w)) => w.write(batch).map_err(err),
            None => Err(ConnectorError::internal("no_writer", "writer missing")),
        }
    }

    /// Makes everything written so far durable: finishes the working file,
    /// syncs it and renames it over the target. Returns once the target
    /// holds every row written so far.
    pub fn commit(&mut self) -> Result<()> {
        // Nothing new since the last commit, or an append run that received
        // no rows: the target already holds everything.
        if !self.broken && self.segment.is_none() && (self.committed || self.existed) {
            return Ok(());
        }
        let res = self.commit_segment();
        if res.is_err() {
            self.fail();
        }
        res
    }

    fn commit_segment(&mut self) -> Result<()> {
        self.start()?;
        let work = self.work.clone();
        let start = self.base.len;
        // Extended in place: if the commit fails, the output is unusable.
        let parts = &mut self.base.parts;
        let (mut file, end, footer) = match self.segment.take() {
            Some(Segment::Parquet(seg)) => seg.finish(parts).map_err(|e| io_err(&work, &e))?,
            Some(Segment::Csv(w)) => {
                let file = w
                    .into_inner()
                    .into_inner()
                    .map_err(|e| io_err(&work, e.error()))?;
                text_end(file, &work)?
            }
            Some(Segment::Jsonl(mut w)) => {
                w.finish().map_err(|e| io_err(&work, &e))?;
                let file = w
                    .into_inner()
                    .into_inner()
                    .map_err(|e| io_err(&work, e.error()))?;
                text_end(file, &work)?
            }
            None => return Err(ConnectorError::internal("no_writer", "writer missing")),
        };
        let total = end + footer.len() as u64;
        file.seek(SeekFrom::Start(end))
            .and_then(|_| file.write_all(&footer))
            // A reused working file can be longer: cut what follows.
            .and_then(|_| file.set_len(total))
            .and_then(|_| file.flush())
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err(&work, &e))?;
        drop(file);

        // Keep the target's inode under a second name: it becomes the next
        // working file, already holding everything up to `start`.
        let keep = self.target_ours && {
            remove(&self.old).map_err(|e| io_err(&self.old, &e))?;
            fs::hard_link(&self.target, &self.old).is_ok()
        };
        if let Err(e) = fs::rename(&work, &self.target) {
            let _ = remove(&self.old);
            return Err(io_err(&self.target, &e));
        }
        sync_dir(&self.dir).map_err(|e| io_err(&self.dir, &e))?;

        self.stats.commits += 1;
        self.stats.data_written += end - start;
        self.stats.footer_written += footer.len() as u64;
        self.base.len = end;
        self.target_holds_base = true;
        self.target_ours = true;
        self.committed = true;
        if keep {
            let reopened = fs::rename(&self.old, &work)
                .and_then(|_| OpenOptions::new().write(true).open(&work));
            match reopened {
                Ok(f) => self.spare = Some((f, start)),
                // Not fatal: the next segment starts a fresh working file.
                Err(_) => {
                    let _ = remove(&self.old);
                    let _ = remove(&work);
                }
            }
        }
        Ok(())
    }

    /// Drops the segment and the working files after a failure.
    fn fail(&mut self) {
        self.broken = true;
        self.segment = None;
        self.spare = None;
        let _ = remove(&self.work);
        let _ = remove(&self.old);
    }

    /// Removes the working file; call after the last commit. The target is
    /// complete whatever this returns.
    pub fn close(mut self) -> Result<()> {
        self.segment = None;
        self.spare = None;
        remove(&self.work).map_err(|e| io_err(&self.work, &e))?;
        remove(&self.old).map_err(|e| io_err(&self.old, &e))
    }
}

impl Drop for Output {
    /// Removes the working files (on every path: errors included).
    fn drop(&mut self) {
        self.segment = None;
        self.spare = None;
        let _ = remove(&self.work);
        let _ = remove(&self.old);
    }
}

/// A finished text segment: the file, where it ends, no footer.
fn text_end(mut file: File, work: &Path) -> Result<(File, u64, Vec<u8>)> {
    let end = file.stream_position().map_err(|e| io_err(work, &e))?;
    Ok((file, end, Vec::new()))
}

fn describe(schema: &arrow_schema::Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    format!("({})", cols.join(", "))
}
