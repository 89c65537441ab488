//! Sending and receiving record batches through the host.

use arrow_array::RecordBatch;

use crate::bindings::rapidbyte::connector::host;
use crate::error::Result;
use crate::ipc;
use crate::sizing::{batch_bytes, row_bytes};
use crate::types::{Frame, StreamSelection, StreamSummary, WriteSummary};

/// Default batch byte limit when a selection asks for none (64 MiB).
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Sends batches of one stream downstream, slicing any batch larger than
/// `max_batch_bytes`, reporting progress and counting what it sent.
pub struct Emitter {
    stream: String,
    max_batch_bytes: u64,
    records: u64,
    bytes: u64,
    batches: u64,
}

impl Emitter {
    /// An emitter for the stream and batch limit of `selection`.
    pub fn new(selection: &StreamSelection) -> Self {
        Self::with_limit(&selection.name, selection.max_batch_bytes)
    }

    /// An emitter for `stream` with an explicit batch byte limit (0 means the
    /// default of 64 MiB).
    pub fn with_limit(stream: &str, max_batch_bytes: u64) -> Self {
        let max_batch_bytes = if max_batch_bytes == 0 {
            DEFAULT_MAX_BATCH_BYTES
        } else {
            max_batch_bytes
        };
        Emitter {
            stream: stream.to_string(),
            max_batch_bytes,
            records: 0,
            bytes: 0,
            batches: 0,
        }
    }

    /// The batch byte limit in force.
    pub fn max_batch_bytes(&self) -> u64 {
        self.max_batch_bytes
    }

    /// Rows sent so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Sends `batch`, in several slices if it exceeds the byte limit. Empty
    /// batches are skipped.
    pub fn emit(&mut self, batch: &RecordBatch) -> Result<()> {
        for part in split_to_limit(batch, self.max_batch_bytes) {
            let bytes = ipc::encode_batch(&part)?;
            host::emit_batch(&self.stream, &bytes)?;
            self.records += part.num_rows() as u64;
            self.bytes += bytes.len() as u64;
            self.batches += 1;
            host::report_progress(self.records, self.bytes);
        }
        Ok(())
    }

    /// The counts for the read summary.
    pub fn finish(self) -> StreamSummary {
        StreamSummary {
            name: self.stream,
            records: self.records,
            bytes: self.bytes,
            batches: self.batches,
        }
    }
}

/// Splits `batch` into row slices whose Arrow size stays within `max_bytes`,
/// cutting by the bytes of each row (see [`row_bytes`]), so a batch whose
/// rows widen part way is cut where they widen, not at the average. A single
/// row larger than the limit travels alone. Sizes count only the part of
/// the buffers a sliced batch uses.
pub fn split_to_limit(batch: &RecordBatch, max_bytes: u64) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Vec::new();
    }
    if batch_bytes(batch) <= max_bytes {
        return vec![batch.clone()];
    }
    let mut parts = Vec::new();
    let (mut start, mut acc) = (0usize, 0u64);
    for (i, size) in row_bytes(batch).into_iter().enumerate() {
        if i > start && acc.saturating_add(size) > max_bytes {
            parts.push(batch.slice(start, i - start));
            start = i;
            acc = 0;
        }
        acc = acc.saturating_add(size);
    }
    parts.push(batch.slice(start, rows - start));
    parts
}

/// What a destination or transform receives.
pub enum InputFrame {
    /// Rows to apply.
    Batch(RecordBatch),
    /// Make everything received so far durable; the next call to
    /// [`FrameReader::next_frame`] acknowledges it.
    Checkpoint,
}

/// Pulls frames from the host and counts them.
#[derive(Default)]
pub struct FrameReader {
    records: u64,
    bytes: u64,
    batches: u64,
}

impl FrameReader {
    /// A reader with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next frame, or `None` when the upstream has finished.
    pub fn next_frame(&mut self) -> Result<Option<InputFrame>> {
        match host::next_batch() {
            None => Ok(None),
            Some(Frame::Checkpoint) => Ok(Some(InputFrame::Checkpoint)),
            Some(Frame::Data(b)) => {
                let batch = ipc::decode_batch(&b.ipc)?;
                self.records += batch.num_rows() as u64;
                self.bytes += b.ipc.len() as u64;
                self.batches += 1;
                host::report_progress(self.records, self.bytes);
                Ok(Some(InputFrame::Batch(batch)))
            }
        }
    }

    /// The counts for the write summary.
    pub fn summary(&self) -> WriteSummary {
        WriteSummary {
            records: self.records,
            bytes: self.bytes,
            batches: self.batches,
        }
    }

    /// Rows received so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn splits_by_bytes() {
        let a = Int64Array::from_iter_values(0..10_000);
        let b = RecordBatch::try_from_iter([("n", Arc::new(a) as _)]).unwrap();
        let parts = split_to_limit(&b, 8 * 1000);
        assert!(parts.len() >= 10);
        assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 10_000);
        assert!(parts.iter().all(|p| p.num_rows() <= 1000));
        assert_eq!(split_to_limit(&b, u64::MAX).len(), 1);
        assert_eq!(split_to_limit(&b.slice(0, 0), 10).len(), 0);
        // A slice is measured by its own rows, not the shared buffers.
        assert_eq!(split_to_limit(&b.slice(0, 100), 8 * 1000).len(), 1);
    }

    #[test]
    fn cuts_where_rows_widen() {
        // 1 000 narrow rows, then 10 rows of 100 KB: an average-based split
        // would put several wide rows in one slice.
        let text: Vec<String> = (0..1_010)
            .map(|i| {
                if i < 1_000 {
                    "a".into()
                } else {
                    "w".repeat(100_000)
                }
            })
            .collect();
        let col = StringArray::from_iter_values(text.iter());
        let b = RecordBatch::try_from_iter([("t", Arc::new(col) as _)]).unwrap();
        let parts = split_to_limit(&b, 150_000);
        assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 1_010);
        for p in &parts {
            assert!(
                p.num_rows() == 1 || batch_bytes(p) <= 150_000,
                "{} rows, {} bytes",
                p.num_rows(),
                batch_bytes(p)
            );
        }
        // Rows larger than the limit go one by one.
        let parts = split_to_limit(&b.slice(1_000, 10), 50_000);
        assert_eq!(parts.len(), 10);
        assert!(parts.iter().all(|p| p.num_rows() == 1));
    }
}
