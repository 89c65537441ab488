//! `wasi:io/streams` for components, remembering why a file write failed.
//!
//! wasi-libc (and so Rust's `std` on `wasm32-wasip2`) turns every failed
//! stream write into `EIO`, whatever the host's file system said: a
//! connector that fills the disk can only report "input/output error".
//! The host does see the real cause. Every stream error passes through
//! `convert_stream_error` on its way to the guest; here it is looked at
//! first, and a full disk, an exhausted quota or a file grown past its
//! limit is kept on the instance, so the stream's failure can name it
//! (see `Instance::settle`). The streams themselves behave exactly as
//! wasmtime-wasi's.

use std::io::ErrorKind;

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::sync::io::streams;
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, StreamError};

use super::host_impl::HostState;

/// What the host's file system said when a connector's write failed, in
/// the words a user searches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StorageError {
    /// ENOSPC.
    NoSpace,
    /// EDQUOT.
    QuotaExceeded,
    /// EFBIG.
    FileTooLarge,
}

impl StorageError {
    fn of(kind: ErrorKind) -> Option<Self> {
        match kind {
            ErrorKind::StorageFull => Some(Self::NoSpace),
            ErrorKind::QuotaExceeded => Some(Self::QuotaExceeded),
            ErrorKind::FileTooLarge => Some(Self::FileTooLarge),
            _ => None,
        }
    }

    /// The error code a connector error about it gets.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NoSpace => "no_space",
            Self::QuotaExceeded => "quota_exceeded",
            Self::FileTooLarge => "file_too_large",
        }
    }

    /// What it means.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::NoSpace => "no space left on device",
            Self::QuotaExceeded => "disk quota exceeded",
            Self::FileTooLarge => "file too large",
        }
    }
}

/// The streams interface's view of an instance.
pub(crate) struct WatchedStreams<'a> {
    table: &'a mut ResourceTable,
    storage_error: &'a mut Option<StorageError>,
}

struct Watched;

impl HasData for Watched {
    type Data<'a> = WatchedStreams<'a>;
}

fn view(s: &mut HostState) -> WatchedStreams<'_> {
    WatchedStreams {
        table: &mut s.table,
        storage_error: &mut s.storage_error,
    }
}

/// Replaces wasmtime-wasi's synchronous `wasi:io/streams` in `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = streams::add_to_linker::<HostState, Watched>(linker, view);
    linker.allow_shadowing(false);
    added
}

/// The storage error behind a stream error, if it is one.
fn storage_error_of(err: &StreamError) -> Option<StorageError> {
    let StreamError::LastOperationFailed(e) = err else {
        return None;
    };
    e.chain()
        .find_map(|cause| cause.downcast_ref::<std::io::Error>())
        .and_then(|io| StorageError::of(io.kind()))
}

impl streams::Host for WatchedStreams<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        if let Some(seen) = storage_error_of(&err) {
            self.storage_error.get_or_insert(seen);
        }
        streams::Host::convert_stream_error(self.table, err)
    }
}

type Out = Resource<DynOutputStream>;
type In = Resource<DynInputStream>;
type Result<T> = std::result::Result<T, StreamError>;

impl streams::HostOutputStream for WatchedStreams<'_> {
    fn drop(&mut self, stream: Out) -> wasmtime::Result<()> {
        streams::HostOutputStream::drop(self.table, stream)
    }

    fn check_write(&mut self, stream: Out) -> Result<u64> {
        streams::HostOutputStream::check_write(self.table, stream)
    }

    fn write(&mut self, stream: Out, bytes: Vec<u8>) -> Result<()> {
        streams::HostOutputStream::write(self.table, stream, bytes)
    }

    fn blocking_write_and_flush(&mut self, stream: Out, bytes: Vec<u8>) -> Result<()> {
        streams::HostOutputStream::blocking_write_and_flush(self.table, stream, bytes)
    }

    fn blocking_write_zeroes_and_flush(&mut self, stream: Out, len: u64) -> Result<()> {
        streams::HostOutputStream::blocking_write_zeroes_and_flush(self.table, stream, len)
    }

    fn subscribe(&mut self, stream: Out) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.table, stream)
    }

    fn write_zeroes(&mut self, stream: Out, len: u64) -> Result<()> {
        streams::HostOutputStream::write_zeroes(self.table, stream, len)
    }

    fn flush(&mut self, stream: Out) -> Result<()> {
        streams::HostOutputStream::flush(self.table, stream)
    }

    fn blocking_flush(&mut self, stream: Out) -> Result<()> {
        streams::HostOutputStream::blocking_flush(self.table, stream)
    }

    fn splice(&mut self, dst: Out, src: In, len: u64) -> Result<u64> {
        streams::HostOutputStream::splice(self.table, dst, src, len)
    }

    fn blocking_splice(&mut self, dst: Out, src: In, len: u64) -> Result<u64> {
        streams::HostOutputStream::blocking_splice(self.table, dst, src, len)
    }
}

impl streams::HostInputStream for WatchedStreams<'_> {
    fn drop(&mut self, stream: In) -> wasmtime::Result<()> {
        streams::HostInputStream::drop(self.table, stream)
    }

    fn read(&mut self, stream: In, len: u64) -> Result<Vec<u8>> {
        streams::HostInputStream::read(self.table, stream, len)
    }

    fn blocking_read(&mut self, stream: In, len: u64) -> Result<Vec<u8>> {
        streams::HostInputStream::blocking_read(self.table, stream, len)
    }

    fn skip(&mut self, stream: In, len: u64) -> Result<u64> {
        streams::HostInputStream::skip(self.table, stream, len)
    }

    fn blocking_skip(&mut self, stream: In, len: u64) -> Result<u64> {
        streams::HostInputStream::blocking_skip(self.table, stream, len)
    }

    fn subscribe(&mut self, stream: In) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.table, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(kind: ErrorKind) -> StreamError {
        StreamError::LastOperationFailed(wasmtime::Error::from(std::io::Error::from(kind)))
    }

    #[test]
    fn a_full_disk_behind_a_stream_error_is_recognised() {
        assert_eq!(
            storage_error_of(&failed(ErrorKind::StorageFull)),
            Some(StorageError::NoSpace)
        );
        assert_eq!(
            storage_error_of(&failed(ErrorKind::QuotaExceeded)),
            Some(StorageError::QuotaExceeded)
        );
        assert_eq!(
            storage_error_of(&StreamError::LastOperationFailed(
                wasmtime::Error::from(std::io::Error::from_raw_os_error(28)).context("writing")
            )),
            Some(StorageError::NoSpace),
            "ENOSPC under a context"
        );
    }

    #[test]
    fn other_stream_errors_are_not_storage_errors() {
        assert_eq!(storage_error_of(&failed(ErrorKind::BrokenPipe)), None);
        assert_eq!(storage_error_of(&StreamError::Closed), None);
        assert_eq!(
            storage_error_of(&StreamError::LastOperationFailed(wasmtime::Error::msg(
                "no space"
            ))),
            None
        );
    }

    #[test]
    fn the_first_storage_error_is_kept() {
        let mut table = ResourceTable::new();
        let mut seen = None;
        let mut streams = WatchedStreams {
            table: &mut table,
            storage_error: &mut seen,
        };
        let _ = streams::Host::convert_stream_error(&mut streams, failed(ErrorKind::BrokenPipe));
        let _ = streams::Host::convert_stream_error(&mut streams, failed(ErrorKind::StorageFull));
        let _ = streams::Host::convert_stream_error(&mut streams, failed(ErrorKind::FileTooLarge));
        assert_eq!(seen, Some(StorageError::NoSpace));
    }
}
