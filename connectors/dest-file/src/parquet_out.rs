//! Parquet output that grows by whole row groups.
//!
//! A Parquet file is `PAR1`, row groups, then a footer (page indexes, the
//! Thrift `FileMetaData` listing every row group by absolute offset, its
//! length, `PAR1`). To append, the row groups already written stay where
//! they are, byte for byte; new row groups go where the old footer began,
//! and a new footer lists the old and the new row groups. Only the footer
//! (metadata) is written again; data bytes never are.
//!
//! Each segment (the rows between two commits) is encoded by a fresh
//! [`ArrowWriter`] whose byte counter is first advanced to the segment's
//! start offset, so every offset it records (pages, page indexes) is the
//! absolute offset in the file. The bytes it is given for the part of the
//! file that already exists (its `PAR1` and the padding) are dropped by
//! [`Skip`]; so is its own footer, which only knows the segment's row
//! groups. [`footer`] then writes the footer of the whole file.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::{parquet_to_arrow_schema, ArrowWriter};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{
    FileMetaData, FooterTail, PageIndexPolicy, ParquetMetaData, ParquetMetaDataBuilder,
    ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::page_index::offset_index::OffsetIndexMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::TrackedWrite;

/// The Parquet magic at the start of every file.
const MAGIC_LEN: u64 = 4;

/// The row groups of a file and their page indexes, as the next footer
/// will list them. Page-index offsets are cleared from the column chunks:
/// writing a footer writes the indexes again and records where.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parts {
    row_groups: Vec<RowGroupMetaData>,
    /// One entry per row group; [`ColumnIndexMetaData::NONE`] where a
    /// column chunk has no column index.
    column_index: Vec<Vec<ColumnIndexMetaData>>,
    /// One entry per row group, or `None` once one row group had none
    /// (then the file has no offset index at all).
    offset_index: Option<Vec<Vec<OffsetIndexMetaData>>>,
}

impl Parts {
    /// No row groups yet.
    pub(crate) fn new() -> Self {
        Parts {
            row_groups: Vec::new(),
            column_index: Vec::new(),
            offset_index: Some(Vec::new()),
        }
    }

    /// Appends the row groups (and page indexes) of `md`.
    fn extend(&mut self, md: &ParquetMetaData) -> Result<()> {
        let column_index = md.column_index();
        let offset_index = md.offset_index();
        for (i, rg) in md.row_groups().iter().enumerate() {
            let ordinal = self.row_groups.len();
            self.row_groups.push(normalized(rg, ordinal)?);
            self.column_index.push(
                column_index
                    .and_then(|c| c.get(i))
                    .filter(|c| c.len() == rg.num_columns())
                    .cloned()
                    .unwrap_or_else(|| vec![ColumnIndexMetaData::NONE; rg.num_columns()]),
            );
            let oi = offset_index
                .and_then(|o| o.get(i))
                .filter(|o| o.len() == rg.num_columns());
            match (&mut self.offset_index, oi) {
                (Some(all), Some(oi)) => all.push(oi.clone()),
                _ => self.offset_index = None,
            }
        }
        Ok(())
    }
}

/// `rg` with its position in the file as ordinal and no page-index offsets.
fn normalized(rg: &RowGroupMetaData, ordinal: usize) -> Result<RowGroupMetaData> {
    let columns = rg
        .columns()
        .iter()
        .map(|c| {
            c.clone()
                .into_builder()
                .set_column_index_offset(None)
                .set_column_index_length(None)
                .set_offset_index_offset(None)
                .set_offset_index_length(None)
                .build()
        })
        .collect::<Result<Vec<_>>>()?;
    let mut b = RowGroupMetaData::builder(rg.schema_descr_ptr())
        .set_num_rows(rg.num_rows())
        .set_total_byte_size(rg.total_byte_size())
        .set_sorting_columns(rg.sorting_columns().cloned())
        .set_column_metadata(columns);
    if let Some(offset) = rg.file_offset() {
        b = b.set_file_offset(offset);
    }
    // Ordinals are an i16 in the format; beyond that they are left out.
    if let Ok(ordinal) = i16::try_from(ordinal) {
        b = b.set_ordinal(ordinal);
    }
    b.build()
}

/// A [`Write`] that drops the first `skip` bytes it is given (the file
/// already holds them), passes the rest to `inner`, and drops everything
/// once `discard` is set.
pub(crate) struct Skip<W> {
    inner: Option<W>,
    pos: u64,
    skip: u64,
    discard: bool,
}

impl<W> Skip<W> {
    fn new(inner: W, skip: u64) -> Self {
        Skip {
            inner: Some(inner),
            pos: 0,
            skip,
            discard: false,
        }
    }
}

impl<W: Write> Write for Skip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.discard || buf.is_empty() {
            return Ok(buf.len());
        }
        if self.pos < self.skip {
            let n = usize::try_from(self.skip - self.pos).map_or(buf.len(), |r| r.min(buf.len()));
            self.pos += n as u64;
            return Ok(n);
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| io::Error::other("the output file was already handed back"))?;
        let n = inner.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match (&mut self.inner, self.discard) {
            (Some(w), false) => w.flush(),
            _ => Ok(()),
        }
    }
}

/// Calls `write` with zeros until `from` has grown to `to`.
fn pad(from: u64, to: u64, mut write: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    let mut at = from;
    while at < to {
        let n = usize::try_from(to - at).map_or(ZEROS.len(), |r| r.min(ZEROS.len()));
        write(&ZEROS[..n])?;
        at += n as u64;
    }
    Ok(())
}

/// The parquet crate counts file offsets in `usize`, 32 bits on wasm32.
fn addressable(offset: u64) -> Result<usize> {
    usize::try_from(offset).map_err(|_| {
        ParquetError::General(format!(
            "the Parquet file would pass {} bytes, more than this build can address",
            usize::MAX
        ))
    })
}

/// The rows of one segment, encoded into the working file from `start` on.
pub(crate) struct Segment {
    writer: ArrowWriter<Skip<File>>,
    start: u64,
    /// The writer's byte count after the last batch: it must only grow.
    seen: usize,
}

impl Segment {
    /// Encodes into `file` (positioned at `start`, which holds everything
    /// before it) with `schema` and `props`. `start` is 0 for a new file.
    pub(crate) fn new(
        file: File,
        start: u64,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<Self> {
        let target = addressable(start)?;
        let mut writer = ArrowWriter::try_new(Skip::new(file, start), schema, Some(props))?;
        // The writer starts a file with `PAR1`; bring its count to `start`.
        let from = writer.bytes_written() as u64;
        pad(from, start, |b| writer.write_all(b))?;
        let seen = writer.bytes_written();
        if seen != target.max(MAGIC_LEN as usize) {
            return Err(ParquetError::General(format!(
                "segment writer at offset {seen}, expected {start}"
            )));
        }
        Ok(Segment {
            writer,
            start,
            seen,
        })
    }

    /// Encodes `batch` (row groups are written out as they fill).
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.check_count()
    }

    fn check_count(&mut self) -> Result<()> {
        let now = self.writer.bytes_written();
        if now < self.seen {
            // The count wrapped around: offsets would be wrong.
            return Err(ParquetError::General(format!(
                "the Parquet file passed {} bytes, more than this build can address",
                usize::MAX
            )));
        }
        self.seen = now;
        Ok(())
    }

    /// Writes the last row group, adds the segment's row groups to `parts`
    /// and returns the file, where the data ends, and the footer for the
    /// whole file, to be written at that offset.
    pub(crate) fn finish(mut self, parts: &mut Parts) -> Result<(File, u64, Vec<u8>)> {
        self.writer.flush()?;
        self.writer.sync()?;
        self.check_count()?;
        let end = self.writer.bytes_written() as u64;
        // The segment's own footer knows only its own row groups: drop it.
        self.writer.inner_mut().discard = true;
        let md = self.writer.finish()?;
        let file = self
            .writer
            .inner_mut()
            .inner
            .take()
            .ok_or_else(|| ParquetError::General("the output file is gone".into()))?;
        debug_assert!(end >= self.start);
        parts.extend(&md)?;
        let footer = footer(parts, md.file_metadata(), end)?;
        Ok((file, end, footer))
    }
}

/// The footer (page indexes, `FileMetaData`, length, `PAR1`) of a file
/// whose row groups are `parts` and whose data ends at `at`, where the
/// footer goes. Schema, writer version and key-value metadata (the Arrow
/// schema) come from `template`.
pub(crate) fn footer(parts: &Parts, template: &FileMetaData, at: u64) -> Result<Vec<u8>> {
    addressable(at)?;
    let num_rows = parts.row_groups.iter().map(|rg| rg.num_rows()).sum();
    let file_metadata = FileMetaData::new(
        template.version(),
        num_rows,
        template.created_by().map(str::to_string),
        template.key_value_metadata().cloned(),
        template.schema_descr_ptr(),
        template.column_orders().cloned(),
    );
    let md = ParquetMetaDataBuilder::new(file_metadata)
        .set_row_groups(parts.row_groups.clone())
        .set_column_index(Some(parts.column_index.clone()))
        .set_offset_index(parts.offset_index.clone())
        .build();
    let mut out = Vec::new();
    {
        // Offsets of the page indexes are counted from the start of the
        // file: count (and drop) the `at` bytes before the footer first.
        let mut tracked = TrackedWrite::new(Skip::new(&mut out, at));
        pad(0, at, |b| tracked.write_all(b))?;
        ParquetMetaDataWriter::new_with_tracked(tracked, &md).finish()?;
    }
    Ok(out)
}

/// What an existing Parquet file offers for appending.
pub(crate) enum Existing {
    /// Laid out as this module writes: row groups (and bloom filters),
    /// then page indexes and the footer. Appending keeps the first
    /// `data_end` bytes and rewrites what follows.
    Reusable {
        /// Where the row-group data ends.
        data_end: u64,
        /// Its row groups and page indexes.
        parts: Parts,
    },
    /// Laid out otherwise (e.g. no offset index, or indexes between row
    /// groups): its rows are read and encoded again, once.
    Foreign,
}

/// Reads the footer of `path`: its Arrow schema and how to append to it.
pub(crate) fn inspect(path: &Path) -> Result<(Schema, Existing)> {
    let reader = file_common::PathChunkReader::open(path)
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    let md = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&reader)?;
    let fm = md.file_metadata();
    let schema = parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())?;
    let len = reader.len();
    let tail_at = len
        .checked_sub(8)
        .ok_or_else(|| ParquetError::General("file too short".into()))?;
    let tail: [u8; 8] = reader
        .get_bytes(tail_at, 8)?
        .as_ref()
        .try_into()
        .map_err(|_| ParquetError::General("short footer read".into()))?;
    let meta_len = FooterTail::try_new(&tail)?.metadata_length() as u64;
    let existing = match tail_at.checked_sub(meta_len).and_then(|f| data_end(&md, f)) {
        Some(data_end) => {
            let mut parts = Parts::new();
            parts.extend(&md)?;
            Existing::Reusable { data_end, parts }
        }
        None => Existing::Foreign,
    };
    Ok((schema, existing))
}

/// Where the row-group data of `md` ends, if only page indexes follow it
/// up to `footer_start` and every column chunk has an offset index.
fn data_end(md: &ParquetMetaData, footer_start: u64) -> Option<u64> {
    let n = md.num_row_groups();
    if n > 0 && md.offset_index().is_none_or(|o| o.len() != n) {
        return None;
    }
    if md.column_index().is_some_and(|c| c.len() != n) {
        return None;
    }
    let range = |off: Option<i64>, len: Option<i64>| -> Option<Option<(u64, u64)>> {
        match off {
            None => Some(None),
            Some(off) => {
                let off = u64::try_from(off).ok()?;
                let len = u64::try_from(len?).ok()?;
                Some(Some((off, off.checked_add(len)?)))
            }
        }
    };
    let mut data_end = MAGIC_LEN;
    let mut index_start = footer_start;
    for rg in md.row_groups() {
        for c in rg.columns() {
            if c.file_path().is_some() {
                return None;
            }
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            let (s, e) = range(Some(start), Some(c.compressed_size()))??;
            if s < MAGIC_LEN {
                return None;
            }
            data_end = data_end.max(e);
            let bloom = c.bloom_filter_length().map(i64::from);
            if let Some((_, e)) = range(c.bloom_filter_offset(), bloom)? {
                data_end = data_end.max(e);
            }
            c.offset_index_offset()?;
            let indexes = [
                (c.column_index_offset(), c.column_index_length()),
                (c.offset_index_offset(), c.offset_index_length()),
            ];
            for (off, len) in indexes {
                if let Some((s, e)) = range(off, len.map(i64::from))? {
                    if e > footer_start {
                        return None;
                    }
                    index_start = index_start.min(s);
                }
            }
        }
    }
    (data_end <= index_start).then_some(data_end)
}
