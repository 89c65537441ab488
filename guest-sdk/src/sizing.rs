//! Sizing batches by bytes, whatever the row width.
//!
//! A source that decodes a fixed number of rows at a time (`batch_rows`)
//! holds `rows × row width` bytes at once: 16 384 rows of 120 KB are 2 GB,
//! far past any memory cap, however small `max_batch_bytes` is. A
//! [`BatchSizer`] instead picks the rows of each batch from the row width
//! seen so far, so a decoded batch stays near the byte limit; and
//! [`split_to_limit`](crate::split_to_limit) cuts any batch that is still too
//! large at row boundaries by the bytes of each row.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

use crate::frames::DEFAULT_MAX_BATCH_BYTES;

/// Chooses how many rows to decode at a time so that a batch stays within
/// `max_bytes`, adapting as rows widen or narrow.
///
/// Feed it a first estimate with [`hint`](Self::hint) (e.g. the lines in a
/// peeked input buffer, or a Parquet row group's byte size), ask
/// [`next_rows`](Self::next_rows) before each batch and report each decoded
/// batch with [`observe`](Self::observe) (its Arrow size, or the input bytes
/// it took if larger). Without any estimate the first batch is one row.
/// A row wider than `max_bytes` still gets a batch of its own: the count is
/// never below 1, nor above `max_rows`.
///
/// ```
/// use rapidbyte_guest_sdk::BatchSizer;
/// let mut s = BatchSizer::new(1_000_000, 16_384);
/// s.hint(1 << 20, 8);                 // 8 lines in the first MiB read
/// assert_eq!(s.next_rows(), 7);       // 131 072 bytes a row
/// s.observe(7, 7 * 400_000);          // the rows were wider
/// assert_eq!(s.next_rows(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct BatchSizer {
    max_bytes: u64,
    max_rows: usize,
    per_row: Option<f64>,
}

impl BatchSizer {
    /// A sizer for batches of at most `max_bytes` (0 means the default of
    /// 64 MiB) and at most `max_rows` rows (0 means no row limit).
    pub fn new(max_bytes: u64, max_rows: usize) -> Self {
        BatchSizer {
            max_bytes: if max_bytes == 0 {
                DEFAULT_MAX_BATCH_BYTES
            } else {
                max_bytes
            },
            max_rows: if max_rows == 0 { usize::MAX } else { max_rows },
            per_row: None,
        }
    }

    /// The byte limit in force.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The current estimate of bytes per row, if any.
    pub fn bytes_per_row(&self) -> Option<f64> {
        self.per_row
    }

    /// A sample of the input before decoding: `rows` rows took `bytes`.
    /// Only widens the estimate (a sample is a guess; decoded batches are
    /// the truth). `rows` of 0 counts as 1.
    pub fn hint(&mut self, bytes: u64, rows: usize) {
        let w = bytes as f64 / rows.max(1) as f64;
        self.per_row = Some(self.per_row.map_or(w, |p| p.max(w)));
    }

    /// Reports a decoded batch of `rows` rows that took `bytes` (Arrow size,
    /// or the input it consumed if that was larger). A wider row width is
    /// taken at once; a narrower one halves the gap, so one narrow batch
    /// does not let the next grow past the limit if wide rows return.
    pub fn observe(&mut self, rows: usize, bytes: u64) {
        if rows == 0 {
            return;
        }
        let w = bytes as f64 / rows as f64;
        self.per_row = Some(match self.per_row {
            Some(p) if w < p => (p + w) / 2.0,
            _ => w,
        });
    }

    /// Rows to decode next: as many as fit in `max_bytes` at the current
    /// width, at least 1 and at most `max_rows`; 1 before any estimate.
    pub fn next_rows(&self) -> usize {
        let Some(w) = self.per_row else {
            return 1;
        };
        let rows = (self.max_bytes as f64 / w.max(1.0)).floor();
        if rows >= self.max_rows as f64 {
            self.max_rows
        } else {
            (rows as usize).clamp(1, self.max_rows)
        }
    }
}

/// The Arrow bytes `batch` references, counting only the part of each
/// buffer a sliced batch uses (unlike `get_array_memory_size`, which counts
/// whole shared buffers).
pub fn batch_bytes(batch: &RecordBatch) -> u64 {
    batch.columns().iter().map(array_bytes).sum()
}

fn off32(o: &[i32]) -> Vec<i64> {
    o.iter().map(|v| *v as i64).collect()
}

fn array_bytes(a: &ArrayRef) -> u64 {
    a.to_data()
        .get_slice_memory_size()
        .map(|n| n as u64)
        .unwrap_or_else(|_| a.get_array_memory_size() as u64)
}

/// The bytes of each row of `batch`: exact for fixed-width, string and
/// binary columns, the column's average for others (lists, structs,
/// dictionaries).
pub fn row_bytes(batch: &RecordBatch) -> Vec<u64> {
    let rows = batch.num_rows();
    let mut out = vec![0u64; rows];
    if rows == 0 {
        return out;
    }
    let mut spread = 0u64;
    for col in batch.columns() {
        let offsets: Option<(Vec<i64>, u64)> = match col.data_type() {
            DataType::Utf8 => Some((off32(col.as_string::<i32>().value_offsets()), 4)),
            DataType::Binary => Some((off32(col.as_binary::<i32>().value_offsets()), 4)),
            DataType::LargeUtf8 => Some((col.as_string::<i64>().value_offsets().to_vec(), 8)),
            DataType::LargeBinary => Some((col.as_binary::<i64>().value_offsets().to_vec(), 8)),
            _ => None,
        };
        if let Some((o, width)) = offsets {
            for (r, w) in out.iter_mut().zip(o.windows(2)) {
                *r += width + (w[1] - w[0]).max(0) as u64;
            }
            continue;
        }
        match col.data_type().primitive_width() {
            Some(w) => out.iter_mut().for_each(|r| *r += w as u64),
            // Booleans and nulls: bits, counted below.
            None if matches!(col.data_type(), DataType::Boolean | DataType::Null) => {}
            None => spread += array_bytes(col),
        }
    }
    let per_row_spread = spread.div_ceil(rows as u64);
    // Validity bitmaps and booleans: two bits a column, rounded up.
    let bits = (batch.num_columns() as u64 * 2).div_ceil(8);
    out.iter_mut().for_each(|r| *r += per_row_spread + bits);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn first_batch_without_a_hint_is_one_row() {
        let s = BatchSizer::new(1_000_000, 16_384);
        assert_eq!(s.next_rows(), 1);
    }

    #[test]
    fn hint_from_a_sample_sizes_the_first_batch() {
        let mut s = BatchSizer::new(1_000_000, 16_384);
        // 8 rows of ~120 KB in a 1 MiB sample.
        s.hint(1 << 20, 8);
        assert_eq!(s.next_rows(), 7);
        // A narrow sample: capped at max_rows.
        let mut s = BatchSizer::new(64 << 20, 16_384);
        s.hint(1 << 20, 30_000);
        assert_eq!(s.next_rows(), 16_384);
        // A sample with no line end: one row of at least the sample.
        let mut s = BatchSizer::new(1_000, 100);
        s.hint(1 << 20, 0);
        assert_eq!(s.next_rows(), 1);
    }

    #[test]
    fn widening_rows_shrink_the_next_batch_at_once() {
        let mut s = BatchSizer::new(1_000_000, 16_384);
        s.hint(1_000, 100); // 10 bytes a row
        assert_eq!(s.next_rows(), 16_384);
        s.observe(16_384, 16_384 * 100); // 100 bytes a row
        assert_eq!(s.next_rows(), 10_000);
        s.observe(10_000, 10_000 * 120_000); // 120 KB a row
        assert_eq!(s.next_rows(), 8);
        // A row past the limit goes alone.
        s.observe(8, 8 * 5_000_000);
        assert_eq!(s.next_rows(), 1);
    }

    #[test]
    fn narrowing_rows_grow_the_batch_gradually() {
        let mut s = BatchSizer::new(1_000_000, 1 << 30);
        s.observe(1, 1_000_000);
        assert_eq!(s.next_rows(), 1);
        s.observe(1, 1_000);
        assert_eq!(s.next_rows(), 1); // (1e6 + 1e3) / 2 a row
        s.observe(1, 1_000);
        assert_eq!(s.next_rows(), 3);
        for _ in 0..30 {
            s.observe(100, 100_000);
        }
        assert!((990..=1_000).contains(&s.next_rows()), "{}", s.next_rows());
        // Whatever the history, a batch sized by the sizer stays in budget.
        let w = s.bytes_per_row().unwrap();
        assert!(s.next_rows() as f64 * w <= 1_000_000.0);
    }

    #[test]
    fn zero_limits_mean_defaults() {
        let mut s = BatchSizer::new(0, 0);
        assert_eq!(s.max_bytes(), DEFAULT_MAX_BATCH_BYTES);
        s.observe(1, 1);
        assert_eq!(s.next_rows(), DEFAULT_MAX_BATCH_BYTES as usize);
        s.observe(0, 5); // ignored
        assert_eq!(s.next_rows(), DEFAULT_MAX_BATCH_BYTES as usize);
    }

    fn wide_batch(widths: &[usize]) -> RecordBatch {
        let ids = Int64Array::from_iter_values(0..widths.len() as i64);
        let text = StringArray::from_iter_values(widths.iter().map(|w| "x".repeat(*w)));
        RecordBatch::try_from_iter([
            ("id", Arc::new(ids) as ArrayRef),
            ("text", Arc::new(text) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn row_bytes_follow_each_row_and_slices() {
        let b = wide_batch(&[10, 1_000, 100_000]);
        let r = row_bytes(&b);
        assert_eq!(r.len(), 3);
        assert!(r[0] < 100 && r[1] > 1_000 && r[1] < 1_100, "{r:?}");
        assert!(r[2] > 100_000 && r[2] < 100_100, "{r:?}");
        let s = b.slice(1, 2);
        assert_eq!(row_bytes(&s), r[1..].to_vec());
        // batch_bytes counts the slice, not the shared buffers.
        assert!(batch_bytes(&b.slice(0, 1)) < 1_000);
        assert!(batch_bytes(&b) > 101_000);
    }
}
