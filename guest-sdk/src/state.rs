//! Typed access to the connector's saved state.
//!
//! For a source, [`set`] is a checkpoint: the host commits it to the state
//! database only after the destination has durably written every batch the
//! source emitted before the call.

use serde::{de::DeserializeOwned, Serialize};

use crate::bindings::rapidbyte::connector::host;
use crate::error::{ConnectorError, Result};

/// Reads the state saved under `key` (by convention the stream name).
/// `Ok(None)` when nothing was saved yet.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    match host::get_state(key) {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            ConnectorError::internal(
                "state_decode",
                format!("saved state for `{key}` is not what this connector expects: {e}"),
            )
        }),
    }
}

/// Saves `value` under `key`.
pub fn set<T: Serialize>(key: &str, value: &T) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| ConnectorError::internal("state_encode", e.to_string()))?;
    host::set_state(key, &text)
}
