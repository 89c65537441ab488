//! Everything resolved before data moves: connectors, grants, the catalog
//! and the stream selections.

use std::path::Path;
use std::sync::Arc;

use arrow_schema::SchemaRef;

use super::PipelineError;
use crate::config::{PipelineConfig, SyncModeSpec, WriteModeSpec};
use crate::registry::{self, ConnectorKind, ConnectorRef};
use crate::runtime::bindings::sync_mode_name;
use crate::runtime::bindings::types::{
    Catalog, MergeSpec, StreamSelection, SyncMode, ValidationResult, WriteMode,
};
use crate::runtime::sandbox::{self, Grant};
use crate::runtime::{
    ConnectorFailure, DestinationInstance, FailureKind, HostContext, InstanceLimits,
    LoadedComponent, Runtime, SourceInstance,
};
use crate::settings::Settings;
use crate::state::{self, StateBackend, StateLocation};

/// One stream, ready to run.
#[derive(Debug, Clone)]
pub struct SelectedStream {
    /// What the source is asked to read.
    pub selection: StreamSelection,
    /// The stream's schema as discovered (IPC bytes and decoded).
    pub schema_ipc: Vec<u8>,
    /// Decoded schema.
    pub schema: SchemaRef,
    /// How the destination applies the rows (upsert keys resolved for
    /// this stream).
    pub write_mode: WriteMode,
    /// How many source instances read the stream concurrently, each its
    /// own share (1: one instance reads everything).
    pub partitions: u32,
}

/// A connector resolved, loaded and granted.
pub struct Side {
    /// The reference and manifest.
    pub connector: ConnectorRef,
    /// The compiled component.
    pub component: LoadedComponent,
    /// Its sandbox grant (and rewritten config).
    pub grant: Grant,
    /// The config as JSON text.
    pub config_json: String,
}

/// A pipeline ready to run.
pub struct Prepared<'a> {
    pub(super) config: &'a PipelineConfig,
    pub(super) runtime: &'a Runtime,
    pub(super) state: Arc<dyn StateBackend>,
    /// The source side.
    pub source: Side,
    /// The destination side.
    pub destination: Side,
    /// The streams to run.
    pub streams: Vec<SelectedStream>,
    pub(super) write_mode: WriteMode,
    pub(super) limits: InstanceLimits,
}

/// Which side is loaded: its keys in the YAML (for messages), its kind,
/// and (for a source) the streams whose options it receives.
struct SideKeys<'a> {
    use_at: &'a str,
    config_at: &'a str,
    want: ConnectorKind,
    streams: &'a [crate::config::StreamSpec],
}

fn load_side(
    runtime: &Runtime,
    settings: &Settings,
    reference: &str,
    config: &serde_json::Value,
    keys: SideKeys,
    project_dir: &Path,
) -> Result<Side, PipelineError> {
    let SideKeys {
        use_at,
        config_at,
        want,
        streams,
    } = keys;
    let connector = registry::resolve(reference, Some(project_dir), settings)
        .map_err(|e| PipelineError::Config(format!("`{use_at}`: {e}")))?;
    let m = &connector.manifest;
    let config = &with_stream_options(m, config, config_at, streams)?;
    m.check_config(config, config_at)
        .map_err(PipelineError::Config)?;
    if let Some(kind) = m.kind {
        if kind != want {
            return Err(PipelineError::Config(format!(
                "`{use_at}`: `{reference}` is a {kind} connector, not a {want}"
            )));
        }
    }
    let grant = sandbox::grant(m, config, config_at, project_dir).map_err(PipelineError::Config)?;
    let component = runtime.load(&connector.wasm)?;
    if component.kind != want {
        return Err(PipelineError::Config(format!(
            "`{use_at}`: {} exports the {} world, not {want}",
            connector.wasm.display(),
            component.kind
        )));
    }
    tracing::info!(
        connector = %m.name,
        version = %m.version,
        cached = component.from_cache,
        load_ms = component.load_time.as_secs_f64() * 1000.0,
        "loaded connector"
    );
    let config_json = grant.config.to_string();
    Ok(Side {
        connector,
        component,
        grant,
        config_json,
    })
}

/// The connector's config with the per-stream options of `source.streams`
/// added under `streams` (`[{name, cursor_field, primary_key, <option>: ...}]`,
/// the first three when set), for connectors whose
/// manifest lists `stream_options`. Keys a manifest does not list are
/// refused by name.
fn with_stream_options(
    m: &crate::registry::manifest::Manifest,
    config: &serde_json::Value,
    config_at: &str,
    streams: &[crate::config::StreamSpec],
) -> Result<serde_json::Value, PipelineError> {
    let mut entries = Vec::new();
    for (i, s) in streams.iter().enumerate() {
        for key in s.options.keys() {
            if !m.stream_options.iter().any(|o| o == key) {
                let accepted: Vec<&str> = crate::config::StreamSpec::KEYS
                    .into_iter()
                    .chain(m.stream_options.iter().map(String::as_str))
                    .collect();
                let hint = crate::config::near_key(key, accepted.iter().copied())
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(PipelineError::Config(format!(
                    "`source.streams[{i}].{key}`: unknown key{hint}; a stream of connector `{}` takes {}",
                    m.name,
                    accepted.join(", ")
                )));
            }
        }
        if !m.stream_options.is_empty() {
            let mut entry = serde_json::Map::new();
            entry.insert("name".into(), s.name.clone().into());
            // The connector may suggest these in its catalog.
            if let Some(c) = &s.cursor_field {
                entry.insert("cursor_field".into(), c.clone().into());
            }
            if !s.primary_key.is_empty() {
                entry.insert("primary_key".into(), s.primary_key.clone().into());
            }
            entry.extend(s.options.clone());
            entries.push(serde_json::Value::Object(entry));
        }
    }
    if entries.is_empty() {
        return Ok(config.clone());
    }
    let mut config = config.clone();
    let Some(obj) = config.as_object_mut() else {
        return Ok(config);
    };
    if obj.contains_key("streams") {
        return Err(PipelineError::Config(format!(
            "`{config_at}.streams`: streams are defined both here and in `source.streams`; define them in one place"
        )));
    }
    obj.insert("streams".into(), serde_json::Value::Array(entries));
    Ok(config)
}

/// Decodes the schema bytes of a catalog entry.
pub fn decode_schema(bytes: &[u8]) -> Result<SchemaRef, String> {
    crate::ipc::read_schema(bytes).map_err(|e| format!("invalid Arrow schema in the catalog: {e}"))
}

impl<'a> Prepared<'a> {
    /// Resolves connectors, opens the state, discovers and selects streams.
    pub fn new(
        config: &'a PipelineConfig,
        runtime: &'a Runtime,
        settings: &Settings,
    ) -> Result<Self, PipelineError> {
        let spec = &config.spec;
        let dir = &config.project_dir;
        let source = load_side(
            runtime,
            settings,
            &spec.source.use_,
            &spec.source.config,
            SideKeys {
                use_at: "source.use",
                config_at: "source.config",
                want: ConnectorKind::Source,
                streams: &spec.source.streams,
            },
            dir,
        )?;
        let destination = load_side(
            runtime,
            settings,
            &spec.destination.use_,
            &spec.destination.config,
            SideKeys {
                use_at: "destination.use",
                config_at: "destination.config",
                want: ConnectorKind::Destination,
                streams: &[],
            },
            dir,
        )?;
        let state = state::open(&StateLocation::of(config, settings))?;
        let limits = InstanceLimits {
            max_memory: usize::try_from(spec.resources.max_memory.0).unwrap_or(usize::MAX),
            timeout: spec.resources.timeout.0,
            max_handles: spec.resources.max_handles,
        };
        let d = &spec.destination;
        let write_mode = match d.write_mode {
            WriteModeSpec::Append => WriteMode::Append,
            WriteModeSpec::Replace => WriteMode::Replace,
            WriteModeSpec::Upsert => WriteMode::Upsert(d.primary_key.clone()),
            WriteModeSpec::Merge => WriteMode::Merge(MergeSpec {
                merge_keys: d.merge_keys.clone(),
                update_columns: d.update_columns.clone(),
            }),
        };
        let mode_name = match d.write_mode {
            WriteModeSpec::Append => "append",
            WriteModeSpec::Replace => "replace",
            WriteModeSpec::Upsert => "upsert",
            WriteModeSpec::Merge => "merge",
        };
        let supported = &destination.connector.manifest.write_modes;
        if !supported.is_empty() && !supported.iter().any(|m| m == mode_name) {
            return Err(PipelineError::Config(format!(
                "`destination.write_mode`: `{}` supports {}, not {mode_name}",
                destination.connector.manifest.name,
                supported.join(", ")
            )));
        }
        let mut prepared = Prepared {
            config,
            runtime,
            state,
            source,
            destination,
            streams: Vec::new(),
            write_mode,
            limits,
        };
        let catalog = prepared.discover()?;
        prepared.streams = prepared.select(&catalog)?;
        Ok(prepared)
    }

    fn control_source(&self) -> Result<SourceInstance, PipelineError> {
        let ctx = HostContext::control(
            &self.config.spec.pipeline,
            &self.source.connector.manifest.name,
        );
        let mut src = SourceInstance::new(
            self.runtime,
            &self.source.component,
            &self.source.grant,
            self.limits.for_control(),
            ctx,
        )?;
        src.init(&self.source.config_json)?;
        Ok(src)
    }

    /// The source's catalog.
    pub fn discover(&self) -> Result<Catalog, PipelineError> {
        Ok(self.control_source()?.discover()?)
    }

    /// Validates both connectors' configurations.
    pub fn validate(&self) -> Result<(ValidationResult, ValidationResult), PipelineError> {
        let src = self.control_source()?.validate(&self.source.config_json)?;
        let ctx = HostContext::control(
            &self.config.spec.pipeline,
            &self.destination.connector.manifest.name,
        );
        let mut dst = DestinationInstance::new(
            self.runtime,
            &self.destination.component,
            &self.destination.grant,
            self.limits.for_control(),
            ctx,
        )?;
        let dst = dst.validate(&self.destination.config_json)?;
        Ok((src, dst))
    }

    /// The state backend.
    pub fn state(&self) -> &Arc<dyn StateBackend> {
        &self.state
    }

    fn select(&self, catalog: &Catalog) -> Result<Vec<SelectedStream>, PipelineError> {
        check_catalog(&self.source.connector.manifest.name, catalog)?;
        let spec = &self.config.spec;
        let max_batch_bytes = spec.resources.max_batch_bytes.0;
        let names: Vec<&str> = catalog.streams.iter().map(|s| s.name.as_str()).collect();
        let wanted: Vec<crate::config::StreamSpec> = if spec.source.streams.is_empty() {
            catalog
                .streams
                .iter()
                .map(|s| crate::config::StreamSpec {
                    name: s.name.clone(),
                    sync_mode: SyncModeSpec::FullRefresh,
                    cursor_field: None,
                    primary_key: Vec::new(),
                    filter: None,
                    partitions: None,
                    options: Default::default(),
                })
                .collect()
        } else {
            spec.source.streams.clone()
        };
        let mut out = Vec::new();
        for (i, s) in wanted.iter().enumerate() {
            let at = format!("source.streams[{i}]");
            let desc = catalog
                .streams
                .iter()
                .find(|d| d.name == s.name)
                .ok_or_else(|| {
                    PipelineError::Config(format!(
                        "`{at}.name`: stream `{}` is not offered by `{}`; available: {}",
                        s.name,
                        spec.source.use_,
                        if names.is_empty() {
                            "(none)".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?;
            let mode = match s.sync_mode {
                SyncModeSpec::FullRefresh => SyncMode::FullRefresh,
                SyncModeSpec::Incremental => SyncMode::Incremental,
                SyncModeSpec::Cdc => SyncMode::Cdc,
            };
            if !desc.supported_sync_modes.contains(&mode) {
                return Err(PipelineError::Config(format!(
                    "`{at}.sync_mode`: stream `{}` does not support {}; it supports {}",
                    s.name,
                    sync_mode_name(mode),
                    desc.supported_sync_modes
                        .iter()
                        .map(|m| sync_mode_name(*m))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if mode == SyncMode::Incremental && matches!(self.write_mode, WriteMode::Replace) {
                return Err(PipelineError::Config(format!(
                    "`destination.write_mode`: replace would keep only the new rows of incremental stream `{}`; use append (or upsert where the destination supports it)",
                    s.name
                )));
            }
            let schema = decode_schema(&desc.schema)
                .map_err(|e| PipelineError::Config(format!("stream `{}`: {e}", s.name)))?;
            let cursor_field = s
                .cursor_field
                .clone()
                .or_else(|| desc.source_defined_cursor.clone());
            if mode == SyncMode::Incremental {
                let Some(c) = &cursor_field else {
                    return Err(PipelineError::Config(format!(
                        "`{at}.cursor_field`: incremental sync of `{}` needs a cursor column",
                        s.name
                    )));
                };
                if schema.column_with_name(c).is_none() {
                    return Err(PipelineError::Config(format!(
                        "`{at}.cursor_field`: `{c}` is not a column of `{}` (columns: {})",
                        s.name,
                        column_names(&schema)
                    )));
                }
            }
            let primary_key = if s.primary_key.is_empty() {
                desc.source_defined_primary_key.clone().unwrap_or_default()
            } else {
                s.primary_key.clone()
            };
            let write_mode = self.stream_write_mode(&s.name, &at, &primary_key, &schema)?;
            let partitions = s.partitions.unwrap_or(1);
            if partitions > 1 && !desc.supports_partitions {
                return Err(PipelineError::Config(format!(
                    "`{at}.partitions`: `{}` cannot split stream `{}` into partitions",
                    self.source.connector.manifest.name, s.name
                )));
            }
            out.push(SelectedStream {
                selection: StreamSelection {
                    name: s.name.clone(),
                    sync_mode: mode,
                    cursor_field,
                    primary_key,
                    max_batch_bytes,
                    filter: s.filter.clone(),
                    partition: None,
                },
                schema_ipc: desc.schema.clone(),
                schema,
                write_mode,
                partitions,
            });
        }
        Ok(out)
    }

    /// The write mode for one stream: `upsert` keys come from
    /// `destination.primary_key`, else from the stream's primary key; every
    /// key and update column must be a column of the stream.
    fn stream_write_mode(
        &self,
        stream: &str,
        at: &str,
        primary_key: &[String],
        schema: &SchemaRef,
    ) -> Result<WriteMode, PipelineError> {
        let check = |field: &str, columns: &[String]| -> Result<(), PipelineError> {
            for c in columns {
                if schema.column_with_name(c).is_none() {
                    return Err(PipelineError::Config(format!(
                        "`{field}`: `{c}` is not a column of stream `{stream}` (columns: {})",
                        column_names(schema)
                    )));
                }
            }
            Ok(())
        };
        match &self.write_mode {
            WriteMode::Upsert(keys) => {
                let (keys, field) = if keys.is_empty() {
                    (primary_key.to_vec(), format!("{at}.primary_key"))
                } else {
                    (keys.clone(), "destination.primary_key".to_string())
                };
                if keys.is_empty() {
                    return Err(PipelineError::Config(format!(
                        "`destination.primary_key`: upsert of stream `{stream}` needs key columns; the source defines none, so set `destination.primary_key` or `{at}.primary_key`"
                    )));
                }
                check(&field, &keys)?;
                Ok(WriteMode::Upsert(keys))
            }
            WriteMode::Merge(m) => {
                check("destination.merge_keys", &m.merge_keys)?;
                check("destination.update_columns", &m.update_columns)?;
                Ok(self.write_mode.clone())
            }
            other => Ok(other.clone()),
        }
    }
}

/// Longest stream name a catalog may hold, in bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 256;

/// A discovered stream name must be printable in one log line, usable in
/// state keys (`<stream>/<key>`) and as a file name: 1 to 256 bytes, no
/// control characters, no `/` or `\`, not `.` or `..`.
fn check_stream_name(name: &str) -> Result<(), String> {
    let bad = name.is_empty()
        || name.len() > MAX_STREAM_NAME_BYTES
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == "..";
    if bad {
        return Err(format!(
            "the catalog offers a stream named `{}`; stream names hold 1 to {MAX_STREAM_NAME_BYTES} bytes without control characters, `/` or `\\`",
            crate::runtime::escape(name, 300)
        ));
    }
    Ok(())
}

/// Every stream name of `connector`'s catalog passes [`check_stream_name`];
/// else the connector broke the contract.
fn check_catalog(connector: &str, catalog: &Catalog) -> Result<(), PipelineError> {
    for s in &catalog.streams {
        check_stream_name(&s.name).map_err(|message| {
            PipelineError::Connector(ConnectorFailure {
                connector: connector.to_string(),
                stream: None,
                kind: FailureKind::Fault {
                    code: "bad_stream_name".into(),
                    message,
                },
            })
        })?;
    }
    Ok(())
}

/// The columns of `schema`, comma-separated, for messages.
fn column_names(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Instantiates the connector `reference` with `config` and returns its
/// catalog (sources only).
pub fn discover_connector(
    runtime: &Runtime,
    settings: &Settings,
    reference: &str,
    config: &serde_json::Value,
    project_dir: &Path,
) -> Result<Catalog, PipelineError> {
    let side = load_side(
        runtime,
        settings,
        reference,
        config,
        SideKeys {
            use_at: "connector",
            config_at: "--config",
            want: ConnectorKind::Source,
            streams: &[],
        },
        project_dir,
    )?;
    let ctx = HostContext::control("discover", &side.connector.manifest.name);
    let mut src = SourceInstance::new(
        runtime,
        &side.component,
        &side.grant,
        InstanceLimits::default().for_control(),
        ctx,
    )?;
    src.init(&side.config_json)?;
    let catalog = src.discover()?;
    check_catalog(&side.connector.manifest.name, &catalog)?;
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::check_stream_name;

    #[test]
    fn stream_names_must_be_one_printable_line_and_a_file_name() {
        for ok in ["users", "public.users", "Orders 2024", "ünïcode"] {
            assert!(check_stream_name(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(257);
        for bad in [
            "",
            "a/b",
            "a\\b",
            "a\nb",
            "tab\there",
            ".",
            "..",
            long.as_str(),
        ] {
            let e = check_stream_name(bad).unwrap_err();
            assert!(!e.contains('\n'), "the message itself is one line: {e}");
        }
    }

    fn stream(name: &str, options: serde_json::Value) -> crate::config::StreamSpec {
        let mut v = serde_json::json!({ "name": name });
        v.as_object_mut()
            .unwrap()
            .extend(options.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn stream_options_reach_the_config_of_connectors_that_list_them() {
        let m: crate::registry::manifest::Manifest = serde_norway::from_str(
            "name: source-rest\nversion: 0.1.0\nwasm:\n  entrypoint: r.wasm\nstream_options: [path, pagination]\n",
        )
        .unwrap();
        let streams = [
            stream(
                "issues",
                serde_json::json!({"path": "/issues", "pagination": {"type": "page"}, "cursor_field": "updated_at"}),
            ),
            stream("users", serde_json::json!({})),
        ];
        let config = serde_json::json!({"base_url": "https://x"});
        let out = super::with_stream_options(&m, &config, "source.config", &streams).unwrap();
        assert_eq!(
            out["streams"],
            serde_json::json!([
                {"name": "issues", "cursor_field": "updated_at", "path": "/issues", "pagination": {"type": "page"}},
                {"name": "users"}
            ])
        );
        let typo = [stream("issues", serde_json::json!({"paht": "/issues"}))];
        let err = super::with_stream_options(&m, &config, "source.config", &typo)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`source.streams[0].paht`") && err.contains("did you mean `path`"),
            "{err}"
        );
        let both = serde_json::json!({"base_url": "https://x", "streams": []});
        let err = super::with_stream_options(&m, &both, "source.config", &streams)
            .unwrap_err()
            .to_string();
        assert!(err.contains("one place"), "{err}");

        let plain: crate::registry::manifest::Manifest = serde_norway::from_str(
            "name: source-file\nversion: 0.1.0\nwasm:\n  entrypoint: f.wasm\n",
        )
        .unwrap();
        let err = super::with_stream_options(&plain, &config, "source.config", &streams)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("connector `source-file` takes name, sync_mode"),
            "{err}"
        );
        let none = [stream("users", serde_json::json!({}))];
        assert_eq!(
            super::with_stream_options(&plain, &config, "source.config", &none).unwrap(),
            config
        );
    }
}
