//! The pipeline YAML: types, loading, `${ENV}` substitution and validation.
//!
//! Every error names the file, the key path and what was expected.

mod env;
pub mod size;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A loaded, validated pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// The YAML file it came from.
    pub file: PathBuf,
    /// The project directory: the nearest ancestor of the file holding
    /// `rapidbyte.toml`, else the file's own directory. Relative paths in
    /// the pipeline resolve against it.
    pub project_dir: PathBuf,
    /// Whether a `rapidbyte.toml` marks `project_dir` as a workspace.
    pub in_project: bool,
    /// The parsed document.
    pub spec: PipelineSpec,
}

/// Errors loading a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{file}: invalid YAML: {message}")]
    Yaml {
        /// The file.
        file: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key is missing, unknown or has the wrong type or value.
    #[error("{file}: `{path}`: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key path, e.g. `source.streams[0].sync_mode`.
        path: String,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// The document: the spec's "Pipeline YAML Specification" (the keys this
/// version implements).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Format version; must be `"1.0"`.
    pub version: String,
    /// Pipeline name; keys the state.
    pub pipeline: String,
    /// Where data comes from.
    pub source: SourceSpec,
    /// Where data goes.
    pub destination: DestinationSpec,
    /// Where sync state lives.
    #[serde(default)]
    pub state: StateSpec,
    /// Resource limits.
    #[serde(default)]
    pub resources: ResourcesSpec,
}

/// `source:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Connector reference: `rapidbyte/<name>[@version]`, a name, or a path
    /// to a `.wasm` file or connector directory.
    #[serde(rename = "use")]
    pub use_: String,
    /// Connector configuration, passed to it as JSON.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// Streams to sync; empty means every discovered stream, full refresh.
    #[serde(default)]
    pub streams: Vec<StreamSpec>,
}

/// One entry of `source.streams`.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamSpec {
    /// Stream name as discovered.
    pub name: String,
    /// `full_refresh` (default), `incremental` or `cdc`.
    #[serde(default)]
    pub sync_mode: SyncModeSpec,
    /// Cursor column for incremental syncs (default: the source's suggestion).
    #[serde(default)]
    pub cursor_field: Option<String>,
    /// Primary key columns.
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Row filter pushed to the source (SQL boolean expression).
    #[serde(default)]
    pub filter: Option<String>,
    /// Split a full-refresh read into this many shares read concurrently
    /// (sources that declare `supports-partitions` only).
    #[serde(default)]
    pub partitions: Option<u32>,
    /// Any other keys: per-stream settings for connectors whose manifest
    /// lists them in `stream_options` (e.g. source-rest's `path`). The host
    /// checks them against the manifest and hands them to the connector
    /// in its config, under `streams`.
    #[serde(flatten)]
    pub options: serde_json::Map<String, serde_json::Value>,
}

impl StreamSpec {
    /// The keys every stream entry takes, whatever the connector.
    pub const KEYS: [&'static str; 6] = [
        "name",
        "sync_mode",
        "cursor_field",
        "primary_key",
        "filter",
        "partitions",
    ];
}

/// Edit distance between two short keys (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The known key `key` was most likely meant to be, if any is close.
pub fn near_key<'k>(key: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    known
        .into_iter()
        .map(|k| (distance(key, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Sync modes as written in YAML.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncModeSpec {
    /// Read everything.
    #[default]
    FullRefresh,
    /// Read past the saved cursor.
    Incremental,
    /// Read a change feed.
    Cdc,
}

/// Write modes as written in YAML.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteModeSpec {
    /// Add rows.
    #[default]
    Append,
    /// Replace the stream.
    Replace,
    /// Insert or update by `primary_key`.
    Upsert,
    /// Merge on `merge_keys`.
    Merge,
}

impl WriteModeSpec {
    /// The mode as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            WriteModeSpec::Append => "append",
            WriteModeSpec::Replace => "replace",
            WriteModeSpec::Upsert => "upsert",
            WriteModeSpec::Merge => "merge",
        }
    }
}

/// `destination:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSpec {
    /// Connector reference (as for the source).
    #[serde(rename = "use")]
    pub use_: String,
    /// Connector configuration.
    #[serde(default = "empty_object")]
    pub config: serde_json::Value,
    /// How rows are applied (default `append`).
    #[serde(default)]
    pub write_mode: WriteModeSpec,
    /// Key columns for `upsert` (default: each stream's primary key, as
    /// listed in `source.streams` or defined by the source).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Key columns for `merge`.
    #[serde(default)]
    pub merge_keys: Vec<String>,
    /// Columns `merge` updates (empty: all).
    #[serde(default)]
    pub update_columns: Vec<String>,
}

/// State backends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackendKind {
    /// Embedded SQLite file (default).
    #[default]
    Sqlite,
    /// A shared PostgreSQL database.
    Postgres,
}

/// `state:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// Which backend.
    #[serde(default)]
    pub backend: StateBackendKind,
    /// SQLite file path (default `.rapidbyte/state.db` in the project) or a
    /// Postgres URL.
    #[serde(default)]
    pub connection: Option<String>,
}

/// `resources:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSpec {
    /// Memory cap of each connector instance (default 256mb).
    #[serde(default = "default_max_memory")]
    pub max_memory: ByteSize,
    /// Upper bound of one Arrow batch (default 64mb).
    #[serde(default = "default_max_batch_bytes")]
    pub max_batch_bytes: ByteSize,
    /// Streams synced at once (default 4).
    #[serde(default = "default_parallelism", deserialize_with = "count")]
    pub parallelism: usize,
    /// Bytes buffered between source and destination of one stream
    /// (default: twice `max_batch_bytes`, at most 4mb; a single larger
    /// batch still passes when the channel is empty).
    #[serde(default)]
    pub channel_bytes: Option<ByteSize>,
    /// Wall-time limit of one stream's connectors (default 24h).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Handles (open files, sockets, streams, pollables) each connector
    /// instance may hold at once (default 1024).
    #[serde(default = "default_max_handles", deserialize_with = "count")]
    pub max_handles: usize,
}

impl Default for ResourcesSpec {
    fn default() -> Self {
        ResourcesSpec {
            max_memory: default_max_memory(),
            max_batch_bytes: default_max_batch_bytes(),
            parallelism: default_parallelism(),
            channel_bytes: None,
            timeout: default_timeout(),
            max_handles: default_max_handles(),
        }
    }
}

impl ResourcesSpec {
    /// The channel capacity in bytes.
    pub fn channel_capacity(&self) -> u64 {
        self.channel_bytes
            .map(|b| b.0)
            .unwrap_or_else(|| self.max_batch_bytes.0.saturating_mul(2).min(4 << 20))
            .max(1 << 20)
    }
}

fn default_max_handles() -> usize {
    crate::runtime::InstanceLimits::default().max_handles
}

/// The range of `resources.max_handles`.
pub const MAX_HANDLES_RANGE: (usize, usize) = (16, 65_536);

fn default_max_memory() -> ByteSize {
    ByteSize(256 << 20)
}
/// The largest `resources.max_batch_bytes` accepted.
pub const MAX_BATCH_BYTES: u64 = 64 << 20;

fn default_max_batch_bytes() -> ByteSize {
    ByteSize(64 << 20)
}
fn default_parallelism() -> usize {
    4
}
fn default_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(24 * 3600))
}
/// A count written as a number or a numeric string (e.g. from `${VAR}`).
fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(usize),
        Text(String),
    }
    match Raw::deserialize(d).map_err(|_| serde::de::Error::custom("expected a whole number"))? {
        Raw::Num(n) => Ok(n),
        Raw::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("`{t}` is not a whole number"))),
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// A byte size written as a number or `64mb`-style text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a size such as 64mb, 512kb or a number of bytes")
        })? {
            Raw::Num(n) => Ok(ByteSize(n)),
            Raw::Text(t) => size::parse_bytes(&t).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a size; expected e.g. 64mb, 512kb, 1gb"
                ))
            }),
        }
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if self.0 >= 1 << 30 {
            write!(f, "{:.1} GiB", b / (1u64 << 30) as f64)
        } else if self.0 >= 1 << 20 {
            write!(f, "{:.1} MiB", b / (1u64 << 20) as f64)
        } else if self.0 >= 1 << 10 {
            write!(f, "{:.1} KiB", b / 1024.0)
        } else {
            write!(f, "{} B", self.0)
        }
    }
}

/// A duration written as `30s`, `5m`, `2h` or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a duration such as 30s, 5m or 2h"))?
        {
            Raw::Num(n) if n.is_finite() && n >= 0.0 => {
                Ok(HumanDuration(Duration::from_secs_f64(n)))
            }
            Raw::Num(n) => Err(serde::de::Error::custom(format!("{n} is not a duration"))),
            Raw::Text(t) => size::parse_duration(&t).map(HumanDuration).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a duration; expected e.g. 30s, 5m, 2h"
                ))
            }),
        }
    }
}

impl PipelineConfig {
    /// Reads a pipeline file, substitutes `${VAR}` with what `env` says
    /// (the CLI passes the process environment) and validates it.
    pub fn load(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
            file: file.to_path_buf(),
            source,
        })?;
        Self::from_yaml(file, &text, env)
    }

    /// Parses `text` as if read from `file`, looking environment variables
    /// up with `env`.
    pub fn from_yaml(
        file: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let invalid = |path: &str, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            path: path.to_string(),
            message,
        };
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| ConfigError::Yaml {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
        if !value.is_mapping() {
            return Err(invalid(".", "the document must be a mapping with `version`, `pipeline`, `source` and `destination`".into()));
        }
        env::substitute(&mut value, "", env).map_err(|(p, m)| invalid(&p, m))?;
        let spec: PipelineSpec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let msg = e.inner().to_string();
            invalid(if path.is_empty() { "." } else { &path }, msg)
        })?;
        validate(&spec).map_err(|(p, m)| invalid(&p, m))?;
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let project = dir
            .ancestors()
            .find(|d| d.join("rapidbyte.toml").is_file())
            .map(Path::to_path_buf);
        Ok(PipelineConfig {
            file: file.to_path_buf(),
            in_project: project.is_some(),
            project_dir: project.unwrap_or(dir),
            spec,
        })
    }

    /// Resolves a path written in the pipeline against the project dir.
    pub fn resolve_path(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.project_dir.join(path)
        }
    }

    /// The SQLite state file this pipeline uses: `state.connection`, else
    /// `.rapidbyte/state.db` in the project, else `<home>/state.db`.
    pub fn state_path(&self, settings: &crate::settings::Settings) -> PathBuf {
        match &self.spec.state.connection {
            Some(c) => self.resolve_path(c.strip_prefix("sqlite://").unwrap_or(c)),
            None if self.in_project => self.project_dir.join(".rapidbyte").join("state.db"),
            None => settings.home.join("state.db"),
        }
    }
}

fn validate(spec: &PipelineSpec) -> Result<(), (String, String)> {
    let err = |p: &str, m: &str| Err((p.to_string(), m.to_string()));
    if spec.version != "1.0" {
        return err(
            "version",
            &format!("unsupported version `{}`; expected \"1.0\"", spec.version),
        );
    }
    if spec.pipeline.is_empty()
        || !spec
            .pipeline
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        return err(
            "pipeline",
            "must be a non-empty name of letters, digits, `_`, `-` or `.`",
        );
    }
    for (side, cfg) in [
        ("source", &spec.source.config),
        ("destination", &spec.destination.config),
    ] {
        if !cfg.is_object() {
            return err(
                &format!("{side}.config"),
                "must be a mapping of connector settings",
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in spec.source.streams.iter().enumerate() {
        if s.name.is_empty() {
            return err(&format!("source.streams[{i}].name"), "must not be empty");
        }
        if s.partitions == Some(0) {
            return err(
                &format!("source.streams[{i}].partitions"),
                "must be at least 1",
            );
        }
        if s.partitions.unwrap_or(1) > 1 && s.sync_mode != SyncModeSpec::FullRefresh {
            return err(
                &format!("source.streams[{i}].partitions"),
                &format!(
                    "stream `{}`: partitions apply to full_refresh reads only",
                    s.name
                ),
            );
        }
        for key in s.options.keys() {
            if let Some(meant) = near_key(key, StreamSpec::KEYS) {
                return err(
                    &format!("source.streams[{i}].{key}"),
                    &format!("unknown key; did you mean `{meant}`?"),
                );
            }
        }
        if !seen.insert(&s.name) {
            return err(
                &format!("source.streams[{i}].name"),
                &format!("stream `{}` is listed twice", s.name),
            );
        }
    }
    let d = &spec.destination;
    if !d.primary_key.is_empty() && d.write_mode != WriteModeSpec::Upsert {
        return err(
            "destination.primary_key",
            &format!(
                "only write_mode upsert uses a primary key; with `{}` it would have no effect: remove it, or set write_mode: upsert",
                d.write_mode.name()
            ),
        );
    }
    if d.write_mode == WriteModeSpec::Merge && d.merge_keys.is_empty() {
        return err(
            "destination.merge_keys",
            "write_mode merge needs merge_keys: [columns]",
        );
    }
    if spec.state.backend == StateBackendKind::Postgres {
        return err(
            "state.backend",
            "the postgres state backend is not available in this version; use sqlite",
        );
    }
    let r = &spec.resources;
    if r.parallelism == 0 {
        return err("resources.parallelism", "must be at least 1");
    }
    if r.max_batch_bytes.0 < 1024 {
        return err("resources.max_batch_bytes", "must be at least 1kb");
    }
    if r.max_batch_bytes.0 > MAX_BATCH_BYTES {
        return err(
            "resources.max_batch_bytes",
            "must be at most 64mb: a batch crosses between a connector and the host in one copy, and larger copies exceed the runtime's limit; smaller batches lose nothing in throughput",
        );
    }
    if r.max_memory.0 < (16 << 20) {
        return err("resources.max_memory", "must be at least 16mb");
    }
    if !(MAX_HANDLES_RANGE.0..=MAX_HANDLES_RANGE.1).contains(&r.max_handles) {
        return err(
            "resources.max_handles",
            "must be between 16 and 65536: each connector instance holds at most that many open files, sockets and streams at once",
        );
    }
    if r.timeout.0.is_zero() {
        return err("resources.timeout", "must be more than 0s");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<PipelineConfig, ConfigError> {
        PipelineConfig::from_yaml(Path::new("p.yaml"), text, &|n| {
            (n == "DIR").then(|| "data".into())
        })
    }

    const OK: &str = "version: \"1.0\"\npipeline: demo\nsource:\n  use: source-file\n  config:\n    path: ${DIR}\n  streams:\n    - name: users\n      sync_mode: incremental\n      cursor_field: id\ndestination:\n  use: dest-file\n  write_mode: replace\nresources:\n  max_batch_bytes: 1mb\n  timeout: 30s\n";

    #[test]
    fn loads_a_good_pipeline() {
        let c = load(OK).unwrap();
        assert_eq!(c.spec.pipeline, "demo");
        assert_eq!(c.spec.source.config["path"], "data");
        assert_eq!(
            c.spec.source.streams[0].sync_mode,
            SyncModeSpec::Incremental
        );
        assert_eq!(c.spec.resources.max_batch_bytes, ByteSize(1 << 20));
        assert_eq!(c.spec.resources.max_memory, ByteSize(256 << 20));
        assert_eq!(c.spec.resources.timeout.0, Duration::from_secs(30));
        assert_eq!(c.spec.destination.write_mode, WriteModeSpec::Replace);
    }

    fn message(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_key_is_named() {
        let m = message(&OK.replace("cursor_field: id", "cursor_feild: id"));
        assert!(
            m.contains("p.yaml") && m.contains("source.streams[0]") && m.contains("cursor_feild"),
            "{m}"
        );
    }

    #[test]
    fn wrong_type_is_named() {
        let m = message(&OK.replace("max_batch_bytes: 1mb", "max_batch_bytes: lots"));
        assert!(
            m.contains("resources.max_batch_bytes") && m.contains("lots"),
            "{m}"
        );
        let m = message(&OK.replace("write_mode: replace", "write_mode: overwrite"));
        assert!(
            m.contains("destination.write_mode") && m.contains("overwrite"),
            "{m}"
        );
    }

    #[test]
    fn batches_above_the_copy_limit_are_refused() {
        let m = message(&OK.replace("max_batch_bytes: 1mb", "max_batch_bytes: 1gb"));
        assert!(
            m.contains("resources.max_batch_bytes") && m.contains("at most 64mb"),
            "{m}"
        );
        assert!(load(&OK.replace("max_batch_bytes: 1mb", "max_batch_bytes: 64mb")).is_ok());
    }

    #[test]
    fn the_handle_cap_is_checked_and_defaults_to_1024() {
        let c = load(OK).expect("loads");
        assert_eq!(c.spec.resources.max_handles, 1024);
        for bad in ["0", "15", "65537", "lots"] {
            let m = message(&OK.replace(
                "max_batch_bytes: 1mb",
                &format!("max_batch_bytes: 1mb\n  max_handles: {bad}"),
            ));
            assert!(m.contains("resources.max_handles"), "{bad}: {m}");
        }
        let c = load(&OK.replace(
            "max_batch_bytes: 1mb",
            "max_batch_bytes: 1mb\n  max_handles: 4096",
        ))
        .expect("loads");
        assert_eq!(c.spec.resources.max_handles, 4096);
    }

    #[test]
    fn a_primary_key_without_upsert_is_refused() {
        for mode in ["append", "replace"] {
            let m = message(&OK.replace(
                "write_mode: replace",
                &format!("write_mode: {mode}\n  primary_key: [id]"),
            ));
            assert!(
                m.contains("destination.primary_key") && m.contains("upsert") && m.contains(mode),
                "{mode}: {m}"
            );
        }
        assert!(load(&OK.replace(
            "write_mode: replace",
            "write_mode: upsert\n  primary_key: [id]"
        ))
        .is_ok());
    }

    #[test]
    fn missing_env_is_named() {
        let m = message(&OK.replace("${DIR}", "${NOT_SET_ANYWHERE}"));
        assert!(
            m.contains("source.config.path") && m.contains("NOT_SET_ANYWHERE"),
            "{m}"
        );
    }

    #[test]
    fn missing_key_and_semantics() {
        let m = message("version: \"1.0\"\npipeline: x\nsource:\n  use: a\n");
        assert!(m.contains("destination"), "{m}");
        let m = message(&OK.replace("\"1.0\"", "\"2.0\""));
        assert!(m.contains("`version`"), "{m}");
        let m = message(&OK.replace("write_mode: replace", "write_mode: merge"));
        assert!(m.contains("destination.merge_keys"), "{m}");
        let m = message("- just a list");
        assert!(m.contains("mapping"), "{m}");
        let m = message("version: [unclosed");
        assert!(m.contains("invalid YAML"), "{m}");
    }
}
