//! Progress reports (totals since the current call started).

use crate::bindings::rapidbyte::connector::host;

/// Tells the host how many records and bytes were processed so far.
pub fn report(records: u64, bytes: u64) {
    host::report_progress(records, bytes);
}
