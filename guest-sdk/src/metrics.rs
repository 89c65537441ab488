//! Metrics through the host.

use crate::bindings::rapidbyte::connector::host;

/// Records `value` for metric `name` with string `labels`.
pub fn emit(name: &str, value: f64, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        host::emit_metric(name, value, None);
    } else {
        let map: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
            .collect();
        host::emit_metric(
            name,
            value,
            Some(&serde_json::Value::Object(map).to_string()),
        );
    }
}
