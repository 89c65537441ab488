//! Finding the files of each stream and decoding them into batches.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::errors::ParquetError;
use rapidbyte_guest_sdk::sizing::batch_bytes;
use rapidbyte_guest_sdk::{BatchSizer, ConnectorError, Result};

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

/// An I/O error on `path`, in words (see [`rapidbyte_guest_sdk::io_error`]).
pub fn io_err(path: &Path, e: std::io::Error) -> ConnectorError {
    rapidbyte_guest_sdk::io_error(path, e)
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

/// An Arrow error while decoding `path`: an I/O failure says what happened,
/// anything else is a decode error with its line numbers moved on by
/// `lines_before` (the records earlier decoders consumed).
fn arrow_err(path: &Path, e: ArrowError, lines_before: usize) -> ConnectorError {
    match e {
        ArrowError::IoError(_, io) => io_err(path, io),
        e => data_err(path, shift_lines(&e.to_string(), lines_before)),
    }
}

fn parquet_err(path: &Path, e: ParquetError) -> ConnectorError {
    match e {
        ParquetError::External(b) => match b.downcast::<std::io::Error>() {
            Ok(io) => io_err(path, *io),
            Err(b) => data_err(path, b),
        },
        e => data_err(path, e),
    }
}

/// `msg` with every `line N` turned into `line N+offset`.
fn shift_lines(msg: &str, offset: usize) -> String {
    if offset == 0 {
        return msg.to_string();
    }
    let mut out = String::with_capacity(msg.len() + 8);
    let mut rest = msg;
    while let Some(i) = rest.find("line ") {
        let (head, tail) = rest.split_at(i + 5);
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        match tail[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&tail[..digits]),
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

/// Bytes of input read at a time.
const INPUT_BUFFER: usize = 1 << 20;

/// Decodes `path` with `schema`, handing each batch to `sink`. Batches are
/// sized by `sizer` (rows from the row width seen so far, at most
/// `batch_rows`), so a batch stays near `max_batch_bytes` however wide the
/// rows are; the sizer carries the width from one file to the next.
pub fn read_file(
    config: &Config,
    path: &Path,
    schema: &Arc<Schema>,
    sizer: &mut BatchSizer,
    mut sink: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let format = format_of(config, path).unwrap_or(Format::Csv);
    match format {
        Format::Csv => read_csv(config, path, schema, open(path)?, sizer, &mut sink),
        Format::Jsonl => read_jsonl(
            path,
            schema,
            open(path)?,
            config.batch_rows,
            sizer,
            &mut sink,
        ),
        Format::Parquet => read_parquet(path, schema, sizer, &mut sink),
    }
}

/// CSV: a decoder per batch, for the number of rows the sizer picks, and
/// at most about `max_batch_bytes` of input. The first estimate is the
/// line ends in the first buffer of input; then each batch's Arrow size
/// (or input, if larger) refines it.
fn read_csv(
    config: &Config,
    path: &Path,
    schema: &Arc<Schema>,
    file: File,
    sizer: &mut BatchSizer,
    sink: &mut impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut input = BufReader::with_capacity(INPUT_BUFFER, file);
    let sample = input.fill_buf().map_err(|e| io_err(path, e))?;
    if !sample.is_empty() {
        let lines = sample.iter().filter(|b| **b == b'\n').count();
        sizer.hint(sample.len() as u64, lines);
    }
    let max = sizer.max_bytes();
    let mut lines_before = 0usize;
    let mut first = true;
    loop {
        let rows = sizer.next_rows();
        let header = first && config.csv.has_header;
        let mut decoder = arrow_csv::ReaderBuilder::new(schema.clone())
            .with_header(header)
            .with_header_validation(header)
            .with_delimiter(config.delimiter())
            .with_batch_size(rows)
            .build_decoder();
        // Input bytes of this batch. Past `max`, the batch ends with the
        // record under way: the decoder is fed one line at a time until a
        // record completes, so rows that widen inside a batch cannot make
        // it much larger than the limit.
        let mut consumed = 0u64;
        loop {
            let closing = consumed >= max;
            let buf = input.fill_buf().map_err(|e| io_err(path, e))?;
            let take = if closing {
                buf.iter()
                    .position(|b| *b == b'\n')
                    .map_or(buf.len(), |i| i + 1)
            } else {
                buf.len().min((max - consumed) as usize)
            };
            let before = decoder.capacity();
            let n = decoder
                .decode(&buf[..take])
                .map_err(|e| arrow_err(path, e, lines_before))?;
            input.consume(n);
            consumed += n as u64;
            if n == 0 || decoder.capacity() == 0 || (closing && decoder.capacity() < before) {
                break;
            }
        }
        let batch = decoder
            .flush()
            .map_err(|e| arrow_err(path, e, lines_before))?;
        let Some(batch) = batch else { break };
        lines_before += batch.num_rows() + usize::from(header);
        first = false;
        sizer.observe(batch.num_rows(), consumed.max(batch_bytes(&batch)));
        sink(batch)?;
    }
    Ok(())
}

/// JSONL: one decoder, flushed once a batch's input reaches the byte limit
/// (at the end of the record under way) or `batch_rows` rows.
fn read_jsonl(
    path: &Path,
    schema: &Arc<Schema>,
    file: File,
    batch_rows: usize,
    sizer: &mut BatchSizer,
    sink: &mut impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut decoder = arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_rows)
        .build_decoder()
        .map_err(|e| data_err(path, e))?;
    let mut input = BufReader::with_capacity(INPUT_BUFFER, file);
    let max = sizer.max_bytes();
    let mut consumed = 0u64;
    loop {
        let buf = input.fill_buf().map_err(|e| io_err(path, e))?;
        if buf.is_empty() {
            break;
        }
        // Up to the limit; past it, up to the end of the current line.
        let take = if consumed < max {
            buf.len().min((max - consumed) as usize)
        } else {
            buf.iter()
                .position(|b| *b == b'\n')
                .map_or(buf.len(), |i| i + 1)
        };
        let n = decoder
            .decode(&buf[..take])
            .map_err(|e| arrow_err(path, e, 0))?;
        input.consume(n);
        consumed += n as u64;
        let full = n < take;
        if full || (consumed >= max && !decoder.has_partial_record()) {
            if let Some(batch) = decoder.flush().map_err(|e| arrow_err(path, e, 0))? {
                sizer.observe(batch.num_rows(), consumed.max(batch_bytes(&batch)));
                sink(batch)?;
            }
            consumed = 0;
        }
    }
    if let Some(batch) = decoder.flush().map_err(|e| arrow_err(path, e, 0))? {
        sink(batch)?;
    }
    Ok(())
}

/// Parquet: row group by row group, with the batch size the sizer picks
/// from the row group's byte size and the batches seen; when rows turn out
/// much wider than the batch size assumed, the reader restarts at the next
/// row with a smaller one.
fn read_parquet(
    path: &Path,
    schema: &Arc<Schema>,
    sizer: &mut BatchSizer,
    sink: &mut impl FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let chunks = || file_common::PathChunkReader::open(path).map_err(|e| io_err(path, e));
    let meta = ArrowReaderMetadata::load(&chunks()?, ArrowReaderOptions::default())
        .map_err(|e| parquet_err(path, e))?;
    if meta.schema().fields() != schema.fields() {
        return Err(ConnectorError::schema(
            "schema_mismatch",
            format!(
                "{}: columns differ from the stream's first file ({} vs {})",
                path.display(),
                meta.schema(),
                schema
            ),
        ));
    }
    for rg in 0..meta.metadata().num_row_groups() {
        let group = meta.metadata().row_group(rg);
        let total = group.num_rows().max(0) as usize;
        if total == 0 {
            continue;
        }
        // The row group's average width: the first estimate, and a cap on
        // the rows of a batch (narrow rows at the start of a group must not
        // let a batch grow over the wide rows that follow).
        let group_bytes = group.total_byte_size().max(0) as u64;
        if sizer.bytes_per_row().is_none() {
            sizer.hint(group_bytes, total);
        }
        let cap = (sizer.max_bytes() / group_bytes.div_ceil(total as u64).max(1)).max(1) as usize;
        let mut done = 0usize;
        while done < total {
            let rows = sizer.next_rows().min(cap);
            let reader =
                ParquetRecordBatchReaderBuilder::new_with_metadata(chunks()?, meta.clone())
                    .with_row_groups(vec![rg])
                    .with_offset(done)
                    .with_batch_size(rows)
                    .build()
                    .map_err(|e| parquet_err(path, e))?;
            let before = done;
            for batch in reader {
                let batch = batch.map_err(|e| arrow_err(path, e, 0))?;
                let bytes = batch_bytes(&batch);
                done += batch.num_rows();
                sizer.observe(batch.num_rows(), bytes);
                sink(batch)?;
                // Restart with the new size when batches run over the limit,
                // or could be four times larger (a restart skips the rows
                // read again, so not for less).
                let want = sizer.next_rows().min(cap);
                if (want < rows && bytes > sizer.max_bytes()) || want / 4 >= rows {
                    break;
                }
            }
            if done == before {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::{DataType, Field};
    use rapidbyte_guest_sdk::sizing::row_bytes;

    struct TempDir(PathBuf);
    impl TempDir {
        fn new(name: &str) -> Self {
            let d = std::env::temp_dir().join(format!("source-file-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            TempDir(d)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn config(dir: &Path) -> Config {
        serde_json::from_value(serde_json::json!({ "path": dir.display().to_string() })).unwrap()
    }

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("text", DataType::Utf8, true),
        ]))
    }

    /// `n` rows whose text is `width(i)` bytes.
    fn csv(n: usize, width: impl Fn(usize) -> usize) -> String {
        let mut s = String::from("id,text\n");
        for i in 0..n {
            s.push_str(&format!("{i},{}\n", "x".repeat(width(i))));
        }
        s
    }

    fn read_all(config: &Config, path: &Path, max_bytes: u64) -> Vec<RecordBatch> {
        let mut sizer = BatchSizer::new(max_bytes, config.batch_rows);
        let mut out = Vec::new();
        read_file(config, path, &schema(), &mut sizer, |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
        out
    }

    fn ids(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect()
    }

    /// Whether `b` is within `limit` but for its last row (a batch ends
    /// with the row that crosses the limit).
    fn within(b: &RecordBatch, limit: u64) -> bool {
        let rows = row_bytes(b);
        rows[..rows.len() - 1].iter().sum::<u64>() <= limit
    }

    /// Every batch within `limit` but for one row, and every row once.
    fn check(batches: &[RecordBatch], rows: usize, limit: u64) {
        assert_eq!(ids(batches), (0..rows as i64).collect::<Vec<_>>());
        for b in batches {
            assert!(
                within(b, limit),
                "a batch of {} rows and {} bytes, limit {limit}",
                b.num_rows(),
                batch_bytes(b)
            );
        }
    }

    #[test]
    fn wide_csv_rows_are_cut_by_bytes_not_batch_rows() {
        let d = TempDir::new("wide-csv");
        let path = d.0.join("t.csv");
        fs::write(&path, csv(300, |_| 120_000)).unwrap();
        let batches = read_all(&config(&d.0), &path, 1_000_000);
        check(&batches, 300, 1_000_000);
        assert!(batches.len() >= 36, "{} batches", batches.len());
        // Narrow rows: batch_rows (16 384) still bounds a batch.
        let path = d.0.join("n.csv");
        fs::write(&path, csv(40_000, |_| 3)).unwrap();
        let batches = read_all(&config(&d.0), &path, 64 << 20);
        check(&batches, 40_000, 64 << 20);
        assert!(batches.iter().all(|b| b.num_rows() <= 16_384));
        assert!(batches.len() <= 4, "{} batches", batches.len());
    }

    #[test]
    fn csv_rows_that_widen_part_way_shrink_the_batches() {
        let d = TempDir::new("widening-csv");
        let path = d.0.join("t.csv");
        // 20 000 narrow rows, then 200 of 50 KB, then one of 3 MB.
        fs::write(
            &path,
            csv(20_201, |i| match i {
                i if i < 20_000 => 10,
                20_200 => 3_000_000,
                _ => 50_000,
            }),
        )
        .unwrap();
        let batches = read_all(&config(&d.0), &path, 1_000_000);
        assert_eq!(ids(&batches), (0..20_201).collect::<Vec<_>>());
        // Each batch ends with the row that crosses the limit, the 3 MB
        // one included; the emitter then sends that row alone.
        check(&batches, 20_201, 1_000_000);
        let last = batches.last().unwrap();
        let parts = rapidbyte_guest_sdk::split_to_limit(last, 1_000_000);
        assert_eq!(
            parts.last().unwrap().num_rows(),
            1,
            "the 3 MB row goes alone"
        );
        assert!(parts
            .iter()
            .all(|p| p.num_rows() == 1 || batch_bytes(p) <= 1_000_000));
    }

    #[test]
    fn csv_errors_keep_their_line_numbers_across_batches() {
        let d = TempDir::new("bad-csv");
        let path = d.0.join("t.csv");
        let mut text = csv(100, |_| 20_000);
        text.push_str("oops,y\n");
        fs::write(&path, text).unwrap();
        let mut sizer = BatchSizer::new(100_000, 16_384);
        let err = read_file(&config(&d.0), &path, &schema(), &mut sizer, |_| Ok(())).unwrap_err();
        assert!(err.message.contains("at line 101"), "{}", err.message);
    }

    #[test]
    fn wide_jsonl_rows_are_cut_by_bytes() {
        let d = TempDir::new("wide-jsonl");
        let path = d.0.join("t.jsonl");
        let mut text = String::new();
        for i in 0..200 {
            let w = if i < 100 { 10 } else { 100_000 };
            text.push_str(&format!(
                "{{\"id\": {i}, \"text\": \"{}\"}}\n",
                "y".repeat(w)
            ));
        }
        fs::write(&path, text).unwrap();
        let batches = read_all(&config(&d.0), &path, 500_000);
        // Cut at the end of the line that crosses the limit.
        check(&batches, 200, 500_000);
    }

    #[test]
    fn wide_parquet_rows_are_cut_by_bytes() {
        use parquet::arrow::ArrowWriter;
        let d = TempDir::new("wide-parquet");
        let path = d.0.join("t.parquet");
        let ids = arrow_array::Int64Array::from_iter_values(0..300);
        let text = arrow_array::StringArray::from_iter_values(
            (0..300).map(|i| format!("{i}{}", "z".repeat(if i < 100 { 5 } else { 100_000 }))),
        );
        let batch = RecordBatch::try_new(schema(), vec![Arc::new(ids), Arc::new(text)]).unwrap();
        let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let batches = read_all(&config(&d.0), &path, 1_000_000);
        assert_eq!(super::tests::ids(&batches), (0..300).collect::<Vec<_>>());
        for b in &batches {
            eprintln!("pq {} rows {} bytes", b.num_rows(), batch_bytes(b));
        }
        // Parquet batches cannot end part way: the batch where rows widen
        // may run over, the reader then restarts with fewer rows (twice at
        // most: the first restart sizes from a batch of mixed widths).
        let over = batches.iter().filter(|b| !within(b, 1_000_000)).count();
        assert!(over <= 2, "{over} batches over the limit");
        assert!(batches.iter().all(|b| batch_bytes(b) <= 1_500_000));
        assert!(batches.len() >= 20, "{} batches", batches.len());
    }

    #[test]
    fn a_missing_file_says_so_with_its_path() {
        let d = TempDir::new("missing");
        let path = d.0.join("gone.csv");
        let mut sizer = BatchSizer::new(0, 10);
        let err = read_file(&config(&d.0), &path, &schema(), &mut sizer, |_| Ok(())).unwrap_err();
        assert_eq!(
            err.message,
            format!("no such file or directory: {}", path.display())
        );
        assert_eq!(err.code, "not_found");
        let err = list_streams(&config(&d.0.join("nope"))).unwrap_err();
        assert!(
            err.message.starts_with("no such file or directory: "),
            "{}",
            err.message
        );
    }

    #[test]
    fn shifts_line_numbers_by_the_rows_before() {
        assert_eq!(
            shift_lines("parsing 'x' for column 1 at line 3. Row data: '[x]'", 100),
            "parsing 'x' for column 1 at line 103. Row data: '[x]'"
        );
        assert_eq!(
            shift_lines("incorrect number of fields for line 1, expected 2 got 1", 7),
            "incorrect number of fields for line 8, expected 2 got 1"
        );
        assert_eq!(shift_lines("line x and line 2", 1), "line x and line 3");
        assert_eq!(shift_lines("at line 5", 0), "at line 5");
    }
}
