//! Sending and receiving record batches through the host.

use arrow_array::RecordBatch;

use crate::bindings::rapidbyte::connector::host;
use crate::error::Result;
use crate::ipc;
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

/// Splits `batch` into row slices whose Arrow buffer size stays within
/// `max_bytes` (a single row larger than the limit travels alone).
pub fn split_to_limit(batch: &RecordBatch, max_bytes: u64) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    if rows == 0 {
        return Vec::new();
    }
    let size = batch.get_array_memory_size() as u64;
    if size <= max_bytes {
        return vec![batch.clone()];
    }
    let per_row = size.div_ceil(rows as u64).max(1);
    let chunk = ((max_bytes / per_row) as usize).max(1);
    (0..rows)
        .step_by(chunk)
        .map(|start| batch.slice(start, chunk.min(rows - start)))
        .collect()
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
    use arrow_array::Int64Array;
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
    }
}
