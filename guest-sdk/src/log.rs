//! Structured logging through the host (enriched there with pipeline,
//! connector and stream).

use crate::bindings::rapidbyte::connector::host;
pub use crate::types::LogLevel;

/// Logs `message` at `level` with optional JSON `fields`.
pub fn log(level: LogLevel, message: &str, fields: Option<&serde_json::Value>) {
    let fields = fields.map(|f| f.to_string());
    host::log(level, message, fields.as_deref());
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(LogLevel::Debug, message, None);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message, None);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(LogLevel::Warn, message, None);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(LogLevel::Error, message, None);
}
