//! Errors returned to the host, with constructors per category.

pub use crate::types::{ConnectorError, ErrorCategory};

/// Result type of every connector function.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

impl ConnectorError {
    /// An error of `category` with a stable `code` and a message telling the
    /// user what to fix.
    pub fn new(
        category: ErrorCategory,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConnectorError {
            category,
            code: code.into(),
            message: message.into(),
            retryable: false,
            details: None,
        }
    }

    /// A configuration error (missing or malformed key, bad path).
    pub fn config(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Config, code, message)
    }

    /// Credentials rejected or privileges missing.
    pub fn auth(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Auth, code, message)
    }

    /// A network failure; retryable by default.
    pub fn network(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Network, code, message).retryable()
    }

    /// A value could not be read, converted or written.
    pub fn data(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Data, code, message)
    }

    /// The data does not have the expected shape.
    pub fn schema(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Schema, code, message)
    }

    /// An unexpected condition inside the connector.
    pub fn internal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Internal, code, message)
    }

    /// Marks the error as retryable.
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }

    /// Attaches a JSON object of extra context.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details.to_string());
        self
    }
}

/// What an I/O error means: a stable `code`, a lower-case description and
/// the error category, worked out from the raw WASI errno when the
/// connector runs as WebAssembly and from the [`std::io::ErrorKind`]
/// otherwise.
///
/// Inside a WASI guest, `std::io::Error` carries WASI errno values, whose
/// numbering is not Linux's: its own message reads e.g. "(os error 44)" for
/// a missing file, which a reader takes for Linux's `ECHRNG`. This gives the
/// meaning instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoReason {
    /// Stable error code, e.g. `not_found`, `read_only`, `no_space`.
    pub code: &'static str,
    /// What happened, e.g. "no such file or directory".
    pub text: &'static str,
    /// `Config` for path and permission problems the user fixes in the
    /// pipeline or on disk, `Data` for failures to read or write.
    pub category: ErrorCategory,
}

const fn reason(code: &'static str, text: &'static str, category: ErrorCategory) -> IoReason {
    IoReason {
        code,
        text,
        category,
    }
}

/// The meaning of a WASI preview 1 errno value (the numbering wasi-libc and
/// Rust's `std` use on `wasm32-wasip1` and `wasm32-wasip2`), or `None` for
/// values without a file-system meaning. E.g. 44 is `noent`, 29 `io`,
/// 51 `nospc`, 69 `rofs`, 2 `acces`, 20 `exist`, 31 `isdir`, 54 `notdir`.
pub fn wasi_errno_reason(errno: i32) -> Option<IoReason> {
    use ErrorCategory::{Config, Data};
    Some(match errno {
        2 => reason("permission_denied", "permission denied", Config),
        6 => reason("would_block", "resource temporarily unavailable", Data),
        8 => reason("bad_descriptor", "bad file descriptor", Data),
        10 => reason("busy", "device or resource busy", Data),
        19 => reason("quota_exceeded", "disk quota exceeded", Data),
        20 => reason("already_exists", "file exists", Config),
        22 => reason("file_too_large", "file too large", Data),
        27 => reason("interrupted", "interrupted", Data),
        28 => reason("invalid_argument", "invalid argument", Config),
        29 => reason(
            "io_error",
            "input/output error (through WASI a full disk can show this way too)",
            Data,
        ),
        31 => reason("is_a_directory", "is a directory", Config),
        32 => reason("symlink_loop", "too many levels of symbolic links", Config),
        33 => reason("too_many_open_files", "too many open files", Data),
        37 => reason("name_too_long", "file name too long", Config),
        44 => reason("not_found", "no such file or directory", Config),
        48 => reason("out_of_memory", "out of memory", Data),
        51 => reason("no_space", "no space left on device", Data),
        52 => reason("unsupported", "function not supported", Data),
        54 => reason("not_a_directory", "not a directory", Config),
        55 => reason("directory_not_empty", "directory not empty", Config),
        58 => reason("unsupported", "operation not supported", Data),
        61 => reason("overflow", "value too large", Data),
        63 => reason("permission_denied", "operation not permitted", Config),
        64 => reason("broken_pipe", "broken pipe", Data),
        69 => reason("read_only", "read-only file system", Config),
        70 => reason("not_seekable", "illegal seek", Data),
        74 => reason("busy", "text file busy", Data),
        75 => reason("cross_device", "cross-device link", Config),
        76 => reason(
            "not_permitted",
            "outside the directory the sandbox grants",
            Config,
        ),
        _ => return None,
    })
}

/// The meaning of an [`std::io::ErrorKind`], for errors without a raw errno
/// (or outside WASI).
pub fn io_kind_reason(kind: std::io::ErrorKind) -> IoReason {
    use std::io::ErrorKind as K;
    use ErrorCategory::{Config, Data};
    match kind {
        K::NotFound => reason("not_found", "no such file or directory", Config),
        K::PermissionDenied => reason("permission_denied", "permission denied", Config),
        K::AlreadyExists => reason("already_exists", "file exists", Config),
        K::ReadOnlyFilesystem => reason("read_only", "read-only file system", Config),
        K::StorageFull => reason("no_space", "no space left on device", Data),
        K::QuotaExceeded => reason("quota_exceeded", "disk quota exceeded", Data),
        K::FileTooLarge => reason("file_too_large", "file too large", Data),
        K::NotADirectory => reason("not_a_directory", "not a directory", Config),
        K::IsADirectory => reason("is_a_directory", "is a directory", Config),
        K::DirectoryNotEmpty => reason("directory_not_empty", "directory not empty", Config),
        K::InvalidFilename => reason("name_too_long", "invalid file name", Config),
        K::CrossesDevices => reason("cross_device", "cross-device link", Config),
        K::ResourceBusy => reason("busy", "device or resource busy", Data),
        K::UnexpectedEof => reason("unexpected_eof", "unexpected end of file", Data),
        K::OutOfMemory => reason("out_of_memory", "out of memory", Data),
        K::Unsupported => reason("unsupported", "operation not supported", Data),
        K::InvalidInput => reason("invalid_argument", "invalid argument", Config),
        K::InvalidData => reason("invalid_data", "invalid data", Data),
        _ => reason("io_error", "input/output error", Data),
    }
}

/// The meaning of `err`: its raw WASI errno inside a WASI guest, else its
/// kind.
pub fn io_reason(err: &std::io::Error) -> IoReason {
    #[cfg(target_os = "wasi")]
    if let Some(r) = err.raw_os_error().and_then(wasi_errno_reason) {
        return r;
    }
    io_kind_reason(err.kind())
}

/// Turns an I/O error on `path` into a [`ConnectorError`] that says what
/// happened in words, with the path: e.g. `no such file or directory:
/// /data/x.csv`, `read-only file system: /out/t.parquet`, `no space left on
/// device: /out/t.parquet`, instead of `I/O error (os error 29)` with a WASI
/// errno a reader takes for a Linux one.
///
/// The code and category come from [`io_reason`]; the details hold the
/// path, the raw errno (`wasi_errno` inside a WASI guest) and the original
/// message. Use it for every `std::io::Error` a file connector meets:
///
/// ```no_run
/// # use rapidbyte_guest_sdk::{io_error, Result};
/// # fn f(path: &std::path::Path) -> Result<std::fs::File> {
/// std::fs::File::open(path).map_err(|e| io_error(path, e))
/// # }
/// ```
pub fn io_error(path: impl AsRef<std::path::Path>, err: std::io::Error) -> ConnectorError {
    let path = path.as_ref().display().to_string();
    let r = io_reason(&err);
    let mut message = format!("{}: {path}", r.text);
    // Errors without a known meaning keep their own text, minus a WASI
    // errno that would read as a Linux one.
    if r.code == "io_error" && err.raw_os_error().is_none() {
        message = format!("{}: {path}: {}", r.text, err);
    }
    let mut details =
        serde_json::json!({ "path": path, "error": strip_os_error(&err.to_string()) });
    if let Some(n) = err.raw_os_error() {
        let key = if cfg!(target_os = "wasi") {
            "wasi_errno"
        } else {
            "os_errno"
        };
        details[key] = serde_json::json!(n);
    }
    ConnectorError::new(r.category, r.code, message).with_details(details)
}

/// `text` without a trailing ` (os error N)`.
fn strip_os_error(text: &str) -> String {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    fn details(e: &ConnectorError) -> serde_json::Value {
        serde_json::from_str(e.details.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn wasi_errno_values_have_their_wasi_meaning() {
        let cases = [
            (44, "not_found", "no such file or directory"),
            (29, "io_error", "input/output error"),
            (51, "no_space", "no space left on device"),
            (69, "read_only", "read-only file system"),
            (2, "permission_denied", "permission denied"),
            (20, "already_exists", "file exists"),
            (31, "is_a_directory", "is a directory"),
            (54, "not_a_directory", "not a directory"),
            (55, "directory_not_empty", "directory not empty"),
            (19, "quota_exceeded", "disk quota exceeded"),
            (76, "not_permitted", "outside the directory"),
        ];
        for (n, code, text) in cases {
            let r = wasi_errno_reason(n).unwrap_or_else(|| panic!("errno {n}"));
            assert_eq!(r.code, code, "errno {n}");
            assert!(r.text.starts_with(text), "errno {n}: {}", r.text);
        }
        // Not Linux's numbering: Linux ENOENT (2) is WASI acces.
        assert_eq!(wasi_errno_reason(2).unwrap().code, "permission_denied");
        assert_eq!(wasi_errno_reason(0), None);
        assert_eq!(wasi_errno_reason(1000), None);
        assert_eq!(
            wasi_errno_reason(44).unwrap().category,
            ErrorCategory::Config
        );
        assert_eq!(wasi_errno_reason(51).unwrap().category, ErrorCategory::Data);
    }

    #[test]
    fn kinds_have_their_meaning() {
        let k = |kind| io_kind_reason(kind).code;
        assert_eq!(k(ErrorKind::NotFound), "not_found");
        assert_eq!(k(ErrorKind::ReadOnlyFilesystem), "read_only");
        assert_eq!(k(ErrorKind::StorageFull), "no_space");
        assert_eq!(k(ErrorKind::PermissionDenied), "permission_denied");
        assert_eq!(k(ErrorKind::NotADirectory), "not_a_directory");
        assert_eq!(k(ErrorKind::Other), "io_error");
    }

    #[test]
    fn io_error_says_what_happened_with_the_path() {
        let e = io_error("/data/x.csv", Error::from(ErrorKind::NotFound));
        assert_eq!(e.message, "no such file or directory: /data/x.csv");
        assert_eq!(e.code, "not_found");
        assert_eq!(e.category, ErrorCategory::Config);
        assert_eq!(details(&e)["path"], "/data/x.csv");

        let e = io_error("/out/t.parquet", Error::from(ErrorKind::StorageFull));
        assert_eq!(e.message, "no space left on device: /out/t.parquet");
        let e = io_error("/out", Error::from(ErrorKind::ReadOnlyFilesystem));
        assert_eq!(e.message, "read-only file system: /out");

        // An error of its own kind keeps its text.
        let e = io_error("/x", Error::other("disk on fire"));
        assert_eq!(e.message, "input/output error: /x: disk on fire");
        assert_eq!(e.code, "io_error");
    }

    #[test]
    fn raw_errors_keep_their_number_in_the_details_only() {
        // Natively a raw errno is the host's; its kind gives the meaning.
        let e = io_error("/data/x.csv", Error::from_raw_os_error(2));
        assert_eq!(e.message, "no such file or directory: /data/x.csv");
        let d = details(&e);
        assert_eq!(d["os_errno"], 2);
        assert!(!d["error"].as_str().unwrap().contains("os error"), "{d}");
        assert!(!e.message.contains("os error"));
    }

    #[test]
    fn strips_the_os_error_suffix() {
        assert_eq!(strip_os_error("I/O error (os error 29)"), "I/O error");
        assert_eq!(strip_os_error("plain"), "plain");
    }
}
