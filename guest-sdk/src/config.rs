//! Typed connector configuration.

use serde::de::DeserializeOwned;

use crate::error::{ConnectorError, Result};

/// Parses the JSON configuration the host passes to `init`/`validate` into
/// `T`. Errors name the key path, e.g. `csv.delimiter: invalid type`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path.is_empty() || path == "." {
            format!("invalid config: {inner}")
        } else {
            format!("invalid config at `{path}`: {inner}")
        };
        ConnectorError::config("invalid_config", message)
            .with_details(serde_json::json!({ "field": path }))
    })
}
