//! Unit tests of the output files, run natively.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::properties::{BloomFilterPosition, EnabledStatistics, WriterProperties};

use crate::output::{Format, IoStats, Output};
use crate::Config;

const FORMATS: [Format; 3] = [Format::Parquet, Format::Csv, Format::Jsonl];

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "dest-file-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("label", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]))
}

/// Rows `from..from + n`; every label has the same width.
fn batch(from: i64, n: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..from + n).collect();
    let labels: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 7 != 0).then(|| format!("row {:09}", i % 1_000_000_000)))
        .collect();
    let amounts: Vec<f64> = ids.iter().map(|i| (i % 1000) as f64 + 0.25).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(labels)),
            Arc::new(Float64Array::from(amounts)),
        ],
    )
    .unwrap()
}

fn config(dir: &Path, format: Format) -> Config {
    Config {
        path: dir.display().to_string(),
        format,
        schema: None,
        compression: "snappy".into(),
    }
}

fn target(dir: &Path, format: Format) -> PathBuf {
    let ext = match format {
        Format::Parquet => "parquet",
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    dir.join(format!("s.{ext}"))
}

fn open(dir: &Path, format: Format, append: bool) -> Output {
    Output::open(&config(dir, format), "s", schema(), append).unwrap()
}

/// The ids in a complete, valid output file (panics on anything else).
fn ids(path: &Path, format: Format) -> Vec<i64> {
    match format {
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
                .unwrap()
                .build()
                .unwrap();
            reader
                .flat_map(|b| {
                    let b = b.unwrap();
                    b.column(0).as_primitive::<Int64Type>().values().to_vec()
                })
                .collect()
        }
        Format::Csv => {
            let text = fs::read_to_string(path).unwrap();
            let mut lines = text.lines();
            if !text.is_empty() {
                assert_eq!(lines.next(), Some("id,label,amount"), "one header line");
            }
            assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
            lines
                .map(|l| l.split(',').next().unwrap().parse().unwrap())
                .collect()
        }
        Format::Jsonl => {
            let text = fs::read_to_string(path).unwrap();
            assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
            text.lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["id"].as_i64().unwrap()
                })
                .collect()
        }
    }
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..to).collect()
}

/// Names of the hidden files in `dir`.
fn hidden(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn metadata(path: &Path) -> ParquetMetaData {
    ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&File::open(path).unwrap())
        .unwrap()
}

fn delta(after: IoStats, before: IoStats) -> IoStats {
    IoStats {
        commits: after.commits - before.commits,
        data_written: after.data_written - before.data_written,
        copied: after.copied - before.copied,
        footer_written: after.footer_written - before.footer_written,
        rows_reencoded: after.rows_reencoded - before.rows_reencoded,
    }
}

/// 200 checkpoints of 1,000 rows each: what the 200th commit writes and
/// reads is what the 2nd did (the new rows, plus a copy of the previous
/// commit's rows), not 200 times as much; only the Parquet footer grows,
/// by one row group's metadata per commit.
#[test]
fn checkpoint_cost_does_not_grow_with_earlier_checkpoints() {
    const COMMITS: i64 = 200;
    const ROWS: i64 = 1000;
    // Ids of one width: CSV and JSONL rows all have the same length.
    const BASE: i64 = 1_000_000;
    for format in FORMATS {
        let dir = TempDir::new("cost");
        let mut out = open(&dir.0, format, false);
        let mut per: Vec<IoStats> = Vec::new();
        let mut times = Vec::new();
        let mut before = out.stats();
        for k in 0..COMMITS {
            let t = Instant::now();
            out.write(&batch(BASE + k * ROWS, ROWS)).unwrap();
            out.commit().unwrap();
            times.push(t.elapsed());
            let now = out.stats();
            per.push(delta(now, before));
            before = now;
        }
        let last = per[COMMITS as usize - 1];
        let second = per[1];
        eprintln!(
            "{format:?}: commit 1 {:?}, commit 2 {:?}, commit 200 {:?}; time of commits 1-10 {:?}, 191-200 {:?}",
            per[0],
            second,
            last,
            times[..10].iter().sum::<std::time::Duration>(),
            times[190..].iter().sum::<std::time::Duration>(),
        );
        for (k, s) in per.iter().enumerate() {
            assert_eq!(s.commits, 1);
            assert_eq!(s.rows_reencoded, 0);
            if k == 0 {
                assert_eq!(s.copied, 0, "commit 1 copies nothing");
            } else {
                // The working file is the previous version of the target:
                // it lacks exactly the previous commit's data.
                assert_eq!(s.copied, per[k - 1].data_written, "commit {}", k + 1);
            }
            if k >= 1 {
                assert!(
                    s.data_written * 100 <= second.data_written * 105
                        && s.data_written * 105 >= second.data_written * 100,
                    "commit {}: {} new bytes vs {} at commit 2",
                    k + 1,
                    s.data_written,
                    second.data_written
                );
                if format != Format::Parquet {
                    assert_eq!(s.footer_written, 0);
                } else {
                    // One more row group listed per commit: its column
                    // chunks' metadata and page indexes, a few hundred bytes.
                    let growth = s.footer_written - per[k - 1].footer_written;
                    assert!(growth < 1024, "commit {}: footer grew {growth}", k + 1);
                }
            }
        }
        // Moved at commit 200 (new + copied data): as at commit 2.
        let moved = |s: IoStats| s.data_written + s.copied;
        assert!(moved(last) * 100 <= moved(second) * 110);

        let path = target(&dir.0, format);
        out.close().unwrap();
        assert_eq!(ids(&path, format), range(BASE, BASE + COMMITS * ROWS));
        assert!(hidden(&dir.0).is_empty(), "{:?}", hidden(&dir.0));
        if format == Format::Parquet {
            let md = metadata(&path);
            assert_eq!(md.num_row_groups(), COMMITS as usize);
            assert_eq!(md.file_metadata().num_rows(), COMMITS * ROWS);
            // The data is the sum of the segments, written once.
            let len = fs::metadata(&path).unwrap().len();
            let total: u64 = per.iter().map(|s| s.data_written).sum();
            assert_eq!(len, total + last.footer_written);
        }
    }
}

/// Page indexes are rewritten with every footer: every offset index must
/// point at its column chunk's first page, and readers that use them
/// (to skip pages) get the right rows.
#[test]
fn parquet_page_indexes_stay_valid_across_commits() {
    let dir = TempDir::new("pageindex");
    let mut out = open(&dir.0, Format::Parquet, false);
    for k in 0..5 {
        out.write(&batch(k * 300, 300)).unwrap();
        out.commit().unwrap();
    }
    out.close().unwrap();
    // A second run appends: the file's indexes are read back and rewritten.
    let mut out = open(&dir.0, Format::Parquet, true);
    for k in 5..8 {
        out.write(&batch(k * 300, 300)).unwrap();
        out.commit().unwrap();
    }
    assert_eq!(out.stats().rows_reencoded, 0);
    out.close().unwrap();

    let path = target(&dir.0, Format::Parquet);
    let md = metadata(&path);
    assert_eq!(md.num_row_groups(), 8);
    let oi = md.offset_index().expect("offset index");
    let ci = md.column_index().expect("column index");
    for (r, rg) in md.row_groups().iter().enumerate() {
        assert_eq!(rg.ordinal(), Some(r as i16));
        for (c, col) in rg.columns().iter().enumerate() {
            let first = col
                .dictionary_page_offset()
                .unwrap_or(col.data_page_offset());
            let pages = &oi[r][c].page_locations;
            assert!(pages[0].offset == first || pages[0].offset == col.data_page_offset());
            assert!(col.offset_index_offset().is_some());
        }
        assert!(!matches!(ci[r][0], ColumnIndexMetaData::NONE));
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(
        File::open(&path).unwrap(),
        ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required),
    )
    .unwrap()
    .with_row_selection(RowSelection::from(vec![
        RowSelector::skip(1000),
        RowSelector::select(5),
        RowSelector::skip(1000),
        RowSelector::select(3),
    ]))
    .build()
    .unwrap();
    let got: Vec<i64> = reader
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(got, vec![1000, 1001, 1002, 1003, 1004, 2005, 2006, 2007]);
}

/// Whatever happens in the working file, the target holds exactly the
/// rows of the last commit: before the first commit of `replace` the old
/// file, then each committed version, never rows still being written.
#[test]
fn the_target_only_ever_holds_committed_rows() {
    for format in FORMATS {
        let dir = TempDir::new("committed");
        let path = target(&dir.0, format);
        let mut first = open(&dir.0, format, false);
        first.write(&batch(-5, 5)).unwrap();
        first.commit().unwrap();
        first.close().unwrap();

        let mut out = open(&dir.0, format, false);
        // More than one row group's worth: Parquet writes row groups out.
        out.write(&batch(0, 140_000)).unwrap();
        assert_eq!(ids(&path, format), range(-5, 0), "{format:?}");
        out.commit().unwrap();
        assert_eq!(ids(&path, format), range(0, 140_000));
        for k in 1..4 {
            out.write(&batch(k * 140_000, 140_000)).unwrap();
            assert_eq!(ids(&path, format), range(0, k * 140_000), "{format:?}");
            out.commit().unwrap();
            assert_eq!(ids(&path, format), range(0, (k + 1) * 140_000));
        }
        out.close().unwrap();
        assert!(hidden(&dir.0).is_empty());
    }
}

/// A kill -9 in the middle of a segment (simulated by forgetting the
/// output: no clean-up runs) leaves the last committed file as it was;
/// the partial rows live only in the working file, which the next open
/// discards.
#[test]
fn a_crash_mid_segment_leaves_the_last_commit_and_reopen_discards_the_tail() {
    for format in FORMATS {
        let dir = TempDir::new("crash");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, true);
        for k in 0..3 {
            out.write(&batch(k * 1000, 1000)).unwrap();
            out.commit().unwrap();
        }
        // Uncommitted: enough that Parquet writes a row group to disk.
        out.write(&batch(3000, 200_000)).unwrap();
        std::mem::forget(out);
        assert_eq!(
            hidden(&dir.0),
            vec![format!(
                ".{}.tmp",
                path.file_name().unwrap().to_string_lossy()
            )]
        );
        let tmp = dir.0.join(&hidden(&dir.0)[0]);
        assert!(fs::metadata(&tmp).unwrap().len() > 0, "the tail is on disk");
        assert_eq!(ids(&path, format), range(0, 3000), "{format:?}");

        let mut again = open(&dir.0, format, true);
        assert!(hidden(&dir.0).is_empty(), "the stale tail is gone");
        assert_eq!(ids(&path, format), range(0, 3000));
        again.write(&batch(3000, 10)).unwrap();
        again.commit().unwrap();
        again.close().unwrap();
        assert_eq!(ids(&path, format), range(0, 3010));
        assert!(hidden(&dir.0).is_empty());
    }
}

/// A crash during the swap can leave the second name of the previous
/// version, or a working file with garbage after a valid prefix: the next
/// open removes both, and the target is untouched.
#[test]
fn a_crash_during_the_swap_leaves_only_removable_files() {
    for format in FORMATS {
        let dir = TempDir::new("swap");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, false);
        out.write(&batch(0, 100)).unwrap();
        out.commit().unwrap();
        out.write(&batch(100, 100)).unwrap();
        out.commit().unwrap();
        std::mem::forget(out);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        fs::hard_link(&path, dir.0.join(format!(".{name}.old"))).unwrap();
        let tmp = dir.0.join(format!(".{name}.tmp"));
        let mut garbage = fs::read(&tmp).unwrap_or_default();
        garbage.extend_from_slice(b"half a row, half a");
        fs::write(&tmp, garbage).unwrap();

        let mut again = open(&dir.0, format, true);
        assert!(hidden(&dir.0).is_empty());
        assert_eq!(ids(&path, format), range(0, 200));
        again.write(&batch(200, 1)).unwrap();
        again.commit().unwrap();
        again.close().unwrap();
        assert_eq!(ids(&path, format), range(0, 201));
    }
}

/// An append run copies the existing file at its first commit, and at its
/// second (into a working file of its own: the file that was there when
/// the run started is never written to); then only the previous commit's
/// rows at each later one.
#[test]
fn an_append_run_copies_the_existing_file_only_at_its_first_two_commits() {
    for format in FORMATS {
        let dir = TempDir::new("append");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, false);
        out.write(&batch(0, 50_000)).unwrap();
        out.commit().unwrap();
        out.close().unwrap();
        let existing = fs::metadata(&path).unwrap().len();

        let mut out = open(&dir.0, format, true);
        let mut before = out.stats();
        let mut per = Vec::new();
        for k in 0..5 {
            out.write(&batch(50_000 + k * 100, 100)).unwrap();
            out.commit().unwrap();
            per.push(delta(out.stats(), before));
            before = out.stats();
        }
        out.close().unwrap();
        let kept = per[0].copied;
        assert!(kept > 0 && kept <= existing, "{format:?}");
        if format != Format::Parquet {
            assert_eq!(kept, existing);
        }
        assert_eq!(per[1].copied, kept + per[0].data_written, "{format:?}");
        for k in 2..5 {
            assert_eq!(per[k].copied, per[k - 1].data_written, "{format:?} {k}");
        }
        assert_eq!(before.rows_reencoded, 0);
        assert_eq!(ids(&path, format), range(0, 50_500));
        assert!(hidden(&dir.0).is_empty());
    }
}

/// A hard link to the output made before a run (a backup, say) keeps its
/// content: only inodes the run itself wrote are recycled.
#[test]
fn a_hard_link_to_the_previous_file_is_never_modified() {
    for format in FORMATS {
        let dir = TempDir::new("link");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, false);
        out.write(&batch(0, 1000)).unwrap();
        out.commit().unwrap();
        out.close().unwrap();
        let backup = dir.0.join("backup");
        fs::hard_link(&path, &backup).unwrap();
        let saved = fs::read(&backup).unwrap();

        let mut out = open(&dir.0, format, true);
        for k in 1..6 {
            out.write(&batch(k * 1000, 1000)).unwrap();
            out.commit().unwrap();
        }
        out.close().unwrap();
        assert_eq!(fs::read(&backup).unwrap(), saved, "{format:?}");
        assert_eq!(ids(&path, format), range(0, 6000));
    }
}

/// Writes `rows` rows to `path` with a plain `ArrowWriter` and `props`.
fn write_foreign(path: &Path, props: WriterProperties, rows: i64, per_group: i64) {
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema(), Some(props)).unwrap();
    let mut at = 0;
    while at < rows {
        w.write(&batch(at, per_group.min(rows - at))).unwrap();
        w.flush().unwrap();
        at += per_group;
    }
    w.close().unwrap();
}

/// Existing Parquet files from other writers: the usual layout (page
/// indexes then footer, bloom filters anywhere before) is appended to in
/// place; a file without offset index is encoded again, once.
#[test]
fn existing_parquet_files_from_other_writers_are_appended_to() {
    let cases = [
        ("defaults", WriterProperties::builder().build(), false),
        (
            "bloom filters at the end",
            WriterProperties::builder()
                .set_bloom_filter_enabled(true)
                .set_bloom_filter_position(BloomFilterPosition::End)
                .build(),
            false,
        ),
        (
            "bloom filters after each row group",
            WriterProperties::builder()
                .set_bloom_filter_enabled(true)
                .set_bloom_filter_position(BloomFilterPosition::AfterRowGroup)
                .build(),
            false,
        ),
        (
            "no page index",
            WriterProperties::builder()
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .set_offset_index_disabled(true)
                .build(),
            true,
        ),
    ];
    for (name, props, reencoded) in cases {
        let dir = TempDir::new("foreign");
        let path = target(&dir.0, Format::Parquet);
        write_foreign(&path, props, 3000, 1000);
        let mut out = open(&dir.0, Format::Parquet, true);
        out.write(&batch(3000, 500)).unwrap();
        out.commit().unwrap();
        out.write(&batch(3500, 500)).unwrap();
        out.commit().unwrap();
        let stats = out.stats();
        out.close().unwrap();
        assert_eq!(
            stats.rows_reencoded,
            if reencoded { 3000 } else { 0 },
            "{name}"
        );
        assert_eq!(ids(&path, Format::Parquet), range(0, 4000), "{name}");
        // Whatever the input, the result has complete page indexes.
        let md = metadata(&path);
        assert_eq!(
            md.offset_index().map(|o| o.len()),
            Some(md.num_row_groups())
        );
        if !reencoded {
            assert_eq!(md.num_row_groups(), 5, "{name}");
        }
        // And it is appended to in place by the next run.
        let mut out = open(&dir.0, Format::Parquet, true);
        out.write(&batch(4000, 1)).unwrap();
        out.commit().unwrap();
        assert_eq!(out.stats().rows_reencoded, 0, "{name}");
        out.close().unwrap();
        assert_eq!(ids(&path, Format::Parquet), range(0, 4001), "{name}");
    }
}

#[test]
fn appending_other_columns_to_parquet_is_refused() {
    let dir = TempDir::new("schema");
    let path = target(&dir.0, Format::Parquet);
    let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
    let b = RecordBatch::try_new(
        other.clone(),
        vec![Arc::new(StringArray::from(vec!["a"])) as ArrayRef],
    )
    .unwrap();
    let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), other, None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let err = Output::open(&config(&dir.0, Format::Parquet), "s", schema(), true)
        .err()
        .expect("refused");
    assert_eq!(err.code, "schema_changed");
    assert!(hidden(&dir.0).is_empty());
}

/// Errors remove the working files at once, and the output refuses more.
#[test]
fn errors_leave_no_working_file() {
    for format in FORMATS {
        // A batch with other columns: refused; dropping cleans up.
        let dir = TempDir::new("errors");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, false);
        out.write(&batch(0, 10)).unwrap();
        out.commit().unwrap();
        out.write(&batch(10, 10)).unwrap();
        let other = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let bad =
            RecordBatch::try_new(other, vec![Arc::new(Int64Array::from(vec![1])) as ArrayRef])
                .unwrap();
        assert_eq!(out.write(&bad).unwrap_err().code, "batch_schema_mismatch");
        drop(out);
        assert!(hidden(&dir.0).is_empty());
        assert_eq!(ids(&path, format), range(0, 10));

        // A commit whose rename fails (a directory is in the way).
        let dir = TempDir::new("errors");
        let path = target(&dir.0, format);
        fs::create_dir_all(path.join("in-the-way")).unwrap();
        let mut out = open(&dir.0, format, false);
        out.write(&batch(0, 10)).unwrap();
        // The I/O error is named (through the SDK's io_error), with the path.
        let err = out.commit().unwrap_err();
        assert_eq!(err.code, "is_a_directory", "{}", err.message);
        assert!(
            err.message.contains(&path.display().to_string()),
            "{}",
            err.message
        );
        assert!(hidden(&dir.0).is_empty(), "{:?}", hidden(&dir.0));
        assert!(out.write(&batch(10, 1)).is_err(), "refuses after a failure");
        assert!(out.commit().is_err());
        assert!(hidden(&dir.0).is_empty());
    }
}

/// Zero rows: `replace` leaves a valid empty file; `append` with a file
/// leaves it untouched; a commit with nothing new is a no-op.
#[test]
fn commits_without_rows() {
    for format in FORMATS {
        let dir = TempDir::new("empty");
        let path = target(&dir.0, format);
        let mut out = open(&dir.0, format, false);
        out.commit().unwrap();
        out.commit().unwrap();
        assert_eq!(out.stats().commits, 1);
        out.close().unwrap();
        assert_eq!(ids(&path, format), Vec::<i64>::new());
        if format == Format::Parquet {
            let file = File::open(&path).unwrap();
            let b = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            assert_eq!(b.schema().fields(), schema().fields());
        }

        // Appending to the empty file (Parquet: reused, not re-encoded;
        // CSV: the header comes with the first rows).
        let mut out = open(&dir.0, format, true);
        out.write(&batch(0, 3)).unwrap();
        out.commit().unwrap();
        assert_eq!(out.stats().rows_reencoded, 0);
        out.close().unwrap();
        assert_eq!(ids(&path, format), range(0, 3));

        let before = fs::read(&path).unwrap();
        let mut out = open(&dir.0, format, true);
        out.commit().unwrap();
        assert_eq!(out.stats().commits, 0);
        out.close().unwrap();
        assert_eq!(fs::read(&path).unwrap(), before);
        assert!(hidden(&dir.0).is_empty());
    }
}

/// Hosts that cannot sync a directory are tolerated; real I/O errors not.
#[test]
fn only_an_unsyncable_directory_is_tolerated() {
    use crate::output::cannot_sync_directories;
    use std::io::{Error, ErrorKind};
    assert!(cannot_sync_directories(&Error::from_raw_os_error(9))); // EBADF
    assert!(cannot_sync_directories(&Error::from(
        ErrorKind::Unsupported
    )));
    assert!(!cannot_sync_directories(&Error::from_raw_os_error(5))); // EIO
    assert!(!cannot_sync_directories(&Error::from_raw_os_error(28))); // ENOSPC
}

/// Every Arrow type the file sources produce reaches Parquet with its
/// logical type, so other readers see timestamps, dates and decimals.
#[test]
fn parquet_keeps_logical_types() {
    use arrow_array::{Date32Array, Decimal128Array, TimestampMicrosecondArray};
    let dir = TempDir::new("logical");
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "at",
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, None),
            true,
        ),
        Field::new(
            "at_tz",
            DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("day", DataType::Date32, true),
        Field::new("price", DataType::Decimal128(12, 2), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![1_000_000])) as ArrayRef,
            Arc::new(TimestampMicrosecondArray::from(vec![2_000_000]).with_timezone("UTC")),
            Arc::new(Date32Array::from(vec![19_000])),
            Arc::new(
                Decimal128Array::from(vec![12_345])
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    let mut out =
        Output::open(&config(&dir.0, Format::Parquet), "s", schema.clone(), false).unwrap();
    out.write(&batch).unwrap();
    out.commit().unwrap();
    out.close().unwrap();
    let path = target(&dir.0, Format::Parquet);
    let md = metadata(&path);
    let kinds: Vec<String> = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| format!("{:?}", c.logical_type()))
        .collect();
    assert!(kinds[0].contains("Timestamp"), "{kinds:?}");
    assert!(kinds[1].contains("Timestamp"), "{kinds:?}");
    assert!(kinds[2].contains("Date"), "{kinds:?}");
    assert!(kinds[3].contains("Decimal"), "{kinds:?}");
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.schema().fields(), schema.fields());
}
