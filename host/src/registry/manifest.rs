//! `rapidbyte-plugin.yaml`: what a connector is and what it may touch.

use std::path::Path;

use serde::Deserialize;

/// A connector manifest (the spec's "Plugin Manifest").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Connector name, e.g. `source-file`.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// `source`, `destination` or `transform`; read from the component when
    /// absent.
    #[serde(default)]
    pub kind: Option<ConnectorKind>,
    /// One-line description.
    #[serde(default)]
    pub description: Option<String>,
    /// Author.
    #[serde(default)]
    pub author: Option<String>,
    /// License.
    #[serde(default)]
    pub license: Option<String>,
    /// `official`, `community` or `partner`.
    #[serde(default)]
    pub tier: Option<String>,
    /// The component file.
    pub wasm: WasmSection,
    /// What the connector may reach. Absent means nothing.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Streams the connector is known to offer (informational).
    #[serde(default)]
    pub streams: Vec<String>,
    /// Sync modes (informational).
    #[serde(default)]
    pub sync_modes: Vec<String>,
    /// Write modes (informational).
    #[serde(default)]
    pub write_modes: Vec<String>,
    /// Keys a `source.streams` entry may carry besides the common ones
    /// (`name`, `sync_mode`, ...), e.g. source-rest's `path` and
    /// `pagination`. The host checks them and hands them to the connector
    /// in its config as `streams: [{name, <key>: ...}]`.
    #[serde(default)]
    pub stream_options: Vec<String>,
    /// Configuration keys.
    #[serde(default)]
    pub config_schema: ConfigSchema,
}

/// The three connector kinds (worlds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// Exports `rapidbyte:connector/source`.
    Source,
    /// Exports `rapidbyte:connector/destination`.
    Destination,
    /// Exports `rapidbyte:connector/transform`.
    Transform,
}

impl std::fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Destination => "destination",
            ConnectorKind::Transform => "transform",
        })
    }
}

/// `wasm:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasmSection {
    /// The `.wasm` file, relative to the manifest.
    pub entrypoint: String,
    /// Informational (`wasmtime`; `wasmedge` manifests are accepted).
    #[serde(default)]
    pub runtime: Option<String>,
    /// Informational build target.
    #[serde(default)]
    pub target: Option<String>,
    /// Oldest engine version the connector needs.
    #[serde(default)]
    pub min_engine_version: Option<String>,
}

/// `capabilities:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Network access.
    #[serde(default)]
    pub network: Option<NetworkCapability>,
    /// One directory.
    #[serde(default)]
    pub filesystem: Option<FilesystemCapability>,
    /// Config keys whose value may name a file on the host (e.g. a CA
    /// bundle, `sslrootcert`): the host reads it (relative to the project
    /// directory, at most 1 MiB of UTF-8) and hands the connector its text
    /// under the same key, so it needs no file-system grant. A value that
    /// already holds the text (several lines, or PEM) is passed as is.
    #[serde(default)]
    pub config_files: Vec<String>,
    /// Host function groups used (informational: every connector gets the
    /// seven host functions).
    #[serde(default)]
    pub host_functions: Vec<String>,
}

/// `capabilities.network`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCapability {
    /// Fixed endpoints.
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedHost>,
    /// Grant the endpoint named by the pipeline config (`host_key`, `port_key`).
    #[serde(default)]
    pub runtime_hosts: bool,
    /// Config key holding the host name (default `host`).
    #[serde(default = "default_host_key")]
    pub host_key: String,
    /// Config key holding the port (default `port`).
    #[serde(default = "default_port_key")]
    pub port_key: String,
    /// Default port when the config has none.
    #[serde(default)]
    pub default_port: Option<u16>,
    /// Informational (`tcp`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// `required`: the host refuses a config whose `tls_key` asks for less
    /// than an encrypted connection (anything but `require`, `verify-ca`,
    /// `verify-full`, libpq's words) before the connector runs.
    /// `optional` (or absent): the config decides.
    #[serde(default)]
    pub tls: Option<String>,
    /// The config key that says how the connection is secured (default
    /// `sslmode`).
    #[serde(default = "default_tls_key")]
    pub tls_key: String,
    /// For HTTP connectors: the config key holding the base URL
    /// (`base_url`). With `runtime_hosts`, the host and port granted are
    /// the URL's (443 for `https`, 80 for `http` unless it names one), and
    /// `tls: required` means the URL must be `https`; `host_key`,
    /// `port_key` and `tls_key` are then not used.
    #[serde(default)]
    pub url_key: Option<String>,
    /// More URLs the connector may call, by dotted config path (e.g.
    /// `auth.token_url` for an OAuth2 token endpoint on another host). Each
    /// is optional; one that is set is granted like `url_key`'s.
    #[serde(default)]
    pub extra_url_keys: Vec<String>,
    /// For HTTP connectors: the config key holding extra CA certificates
    /// (PEM) that HTTPS requests trust besides the public web roots. List
    /// it in `config_files` too so users may name a file.
    #[serde(default)]
    pub ca_key: Option<String>,
}

fn default_host_key() -> String {
    "host".into()
}
fn default_tls_key() -> String {
    "sslmode".into()
}
fn default_port_key() -> String {
    "port".into()
}

/// One fixed endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedHost {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Informational (`tcp`).
    #[serde(default)]
    pub protocol: Option<String>,
    /// `required`: HTTP requests to this endpoint must use `https`.
    #[serde(default)]
    pub tls: Option<String>,
}

/// `capabilities.filesystem`: one directory named by the pipeline config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemCapability {
    /// The config key that names the directory.
    pub config_key: String,
    /// Directory used when the config does not name one (relative to the
    /// project).
    #[serde(default)]
    pub default: Option<String>,
    /// `read` or `read-write`.
    #[serde(default)]
    pub access: FsAccess,
}

/// Directory access level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsAccess {
    /// Read only.
    #[default]
    Read,
    /// Read and write (the directory is created if missing).
    ReadWrite,
}

/// `config_schema:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSchema {
    /// Keys the config must have.
    #[serde(default)]
    pub required: Vec<String>,
    /// Keys the config may have.
    #[serde(default)]
    pub optional: Vec<String>,
}

impl Manifest {
    /// Reads and parses a manifest file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let de = serde_norway::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let p = e.path().to_string();
            format!("{}: `{}`: {}", path.display(), p, e.into_inner())
        })
    }

    /// Checks `config` against `config_schema`: every required key present,
    /// no key that is neither required nor optional (when the schema lists any).
    pub fn check_config(&self, config: &serde_json::Value, at: &str) -> Result<(), String> {
        let obj = config.as_object();
        for key in &self.config_schema.required {
            if obj.is_none_or(|o| !o.contains_key(key)) {
                return Err(format!(
                    "`{at}.{key}`: missing; connector `{}` requires {}",
                    self.name,
                    self.config_schema.required.join(", ")
                ));
            }
        }
        let known: Vec<&String> = self
            .config_schema
            .required
            .iter()
            .chain(&self.config_schema.optional)
            .collect();
        if !known.is_empty() {
            if let Some(o) = obj {
                for key in o.keys() {
                    if !known.contains(&key) {
                        return Err(format!(
                            "`{at}.{key}`: unknown key for connector `{}`; expected one of {}",
                            self.name,
                            known
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spec_style_manifest() {
        let m: Manifest = serde_norway::from_str(
            "name: source-stripe\nversion: 1.2.0\ntier: official\nwasm:\n  entrypoint: s.wasm\n  runtime: wasmedge\n  target: wasm32-wasip1\ncapabilities:\n  network:\n    allowed_hosts:\n      - host: api.stripe.com\n        port: 443\n        protocol: tcp\n        tls: required\n  host_functions: [arrow_ipc]\nstreams: [customers]\nsync_modes: [full_refresh]\nconfig_schema:\n  required: [api_key]\n  optional: [start_date]\n",
        )
        .unwrap();
        assert_eq!(
            m.capabilities.network.as_ref().unwrap().allowed_hosts[0].port,
            443
        );
        assert!(m
            .check_config(&serde_json::json!({"api_key": "x"}), "source.config")
            .is_ok());
        let e = m
            .check_config(&serde_json::json!({}), "source.config")
            .unwrap_err();
        assert!(e.contains("source.config.api_key"), "{e}");
        let e = m
            .check_config(
                &serde_json::json!({"api_key": "x", "nope": 1}),
                "source.config",
            )
            .unwrap_err();
        assert!(e.contains("nope"), "{e}");
    }
}
