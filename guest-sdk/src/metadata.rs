//! Arrow field metadata conventions connectors share.

/// Marks a Utf8 column whose values are JSON text (`"true"`), so
/// destinations with a JSON type store it as one (dest-postgres: `jsonb`).
pub const JSON: &str = "rapidbyte.json";
