//! One function per subcommand. Each returns the exit code, or an error
//! whose kind decides the code (see [`exit_code_for`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use rapidbyte_conformance::fixtures;
use rapidbyte_host::config::WriteModeSpec;
use rapidbyte_host::pipeline::{self, Interrupt, PipelineError, Prepared};
use rapidbyte_host::registry::{self, ConnectorKind};
use rapidbyte_host::runtime::Runtime;
use rapidbyte_host::settings::Settings;
use rapidbyte_host::state::{self, StateBackend, StateLocation};
use rapidbyte_host::{ConfigError, PipelineConfig};

use crate::output;
use crate::{EXIT_FAILURE, EXIT_USAGE};

/// A mistake in how the command was called.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

/// 2 for configuration and usage errors, 1 for everything else.
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some() {
        return EXIT_USAGE;
    }
    match e.downcast_ref::<PipelineError>() {
        Some(PipelineError::Config(_)) => EXIT_USAGE,
        Some(PipelineError::Connector(f)) if f.is_config_error() => EXIT_USAGE,
        _ => EXIT_FAILURE,
    }
}

/// The settings this process runs with, from its environment: the one
/// place the environment is read (besides `${VAR}` in pipeline files).
pub fn settings() -> Settings {
    let home = std::env::var_os("RAPIDBYTE_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir)
                .join(".rapidbyte")
        });
    let path = std::env::var_os("RAPIDBYTE_CONNECTOR_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    Settings::new(home).with_connector_path(path)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn load(path: &Path) -> Result<PipelineConfig> {
    Ok(PipelineConfig::load(path, &env)?)
}

fn runtime(settings: &Settings) -> Result<Runtime> {
    Ok(Runtime::new(&settings.home)?)
}

fn pipeline_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(UsageError(format!("{} holds no *.yaml pipelines", path.display())).into());
        }
        Ok(files)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(UsageError(format!("{}: no such file or directory", path.display())).into())
    }
}

/// `rapidbyte run`: exit 0 if every stream succeeded, 1 if one failed,
/// 128 + the signal's number if a signal stopped the run.
pub fn run(path: &Path, json: bool, interrupt: &Interrupt) -> Result<u8> {
    let files = pipeline_files(path)?;
    let configs = files
        .iter()
        .map(|f| load(f))
        .collect::<Result<Vec<_>, _>>()?;
    let settings = settings();
    let runtime = runtime(&settings)?;
    let mut ok = true;
    for config in &configs {
        if interrupt.signal().is_some() {
            break;
        }
        let report = pipeline::run_until(config, &runtime, &settings, interrupt)?;
        if json {
            println!("{}", serde_json::to_string(&output::report_json(&report))?);
        } else {
            output::print_report(&report);
        }
        ok &= report.success();
    }
    if let Some(signal) = interrupt.signal() {
        return Ok(crate::signals::exit_code(signal));
    }
    Ok(if ok { 0 } else { EXIT_FAILURE })
}

/// `rapidbyte check`.
pub fn check(path: &Path) -> Result<u8> {
    let config = load(path)?;
    println!("[OK] {}: configuration is valid", path.display());
    let settings = settings();
    let runtime = runtime(&settings)?;
    let prepared = Prepared::new(&config, &runtime, &settings)?;
    let (src, dst) = prepared.validate()?;
    let mut ok = true;
    for (side, reference, v) in [
        ("source", &config.spec.source.use_, src),
        ("destination", &config.spec.destination.use_, dst),
    ] {
        ok &= output::print_validation(side, reference, &v);
    }
    println!(
        "[OK] streams: {}",
        prepared
            .streams
            .iter()
            .map(|s| s.selection.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let runs = prepared.state().recent_runs(&config.spec.pipeline, 1)?;
    let last = runs
        .first()
        .map(|r| format!("last sync {} ({})", r.started_at, r.status))
        .unwrap_or_else(|| "never synced".into());
    println!(
        "[OK] state backend: {}, {last}",
        StateLocation::of(&config, &settings).describe()
    );
    Ok(if ok { 0 } else { EXIT_FAILURE })
}

/// A connector config file (YAML or JSON holding a mapping), or `{}`; and
/// the directory relative paths in it resolve against (the file's, else
/// the current one).
fn read_config(path: Option<&Path>) -> Result<(serde_json::Value, PathBuf)> {
    let Some(p) = path else {
        return Ok((serde_json::json!({}), std::env::current_dir()?));
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    let v: serde_json::Value = serde_norway::from_str(&text)
        .map_err(|e| UsageError(format!("{}: invalid YAML/JSON: {e}", p.display())))?;
    if !v.is_object() {
        return Err(UsageError(format!(
            "{}: must hold a mapping of connector settings",
            p.display()
        ))
        .into());
    }
    let base = std::path::absolute(p)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or(std::env::current_dir()?);
    Ok((v, base))
}

/// `rapidbyte discover`.
pub fn discover(connector: &str, config: Option<&Path>, json: bool) -> Result<u8> {
    let (cfg, base) = read_config(config)?;
    let settings = settings();
    let runtime = runtime(&settings)?;
    let catalog = pipeline::discover_connector(&runtime, &settings, connector, &cfg, &base)?;
    output::print_catalog(&catalog, json)?;
    Ok(0)
}

/// `rapidbyte init`.
pub fn init(dir: &Path) -> Result<u8> {
    if dir.join("rapidbyte.toml").exists() {
        return Err(UsageError(format!(
            "{} is already a rapidbyte workspace",
            dir.display()
        ))
        .into());
    }
    for sub in ["pipelines", "connectors", "contracts", "data"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
    }
    let write = |rel: &str, text: &str| -> Result<()> {
        let p = dir.join(rel);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write(
        "rapidbyte.toml",
        include_str!("../templates/rapidbyte.toml"),
    )?;
    write(
        "pipelines/example.yaml",
        include_str!("../templates/example.yaml"),
    )?;
    write(
        "data/customers.csv",
        include_str!("../templates/customers.csv"),
    )?;
    write(".gitignore", ".rapidbyte/\n")?;
    println!("Created {}/", dir.display());
    println!("  ├── pipelines/           # Pipeline YAML definitions (example.yaml)");
    println!("  ├── connectors/          # Local connector overrides");
    println!("  ├── contracts/           # Data contract definitions");
    println!("  ├── data/                # Sample input for example.yaml");
    println!("  └── rapidbyte.toml       # Project-level config");
    println!(
        "\nNext: cd {} && rapidbyte run pipelines/example.yaml",
        dir.display()
    );
    Ok(0)
}

fn open_state(path: &Path) -> Result<(PipelineConfig, StateLocation, Arc<dyn StateBackend>)> {
    let config = load(path)?;
    let location = StateLocation::of(&config, &settings());
    let state = state::open(&location)?;
    Ok((config, location, state))
}

/// `rapidbyte state show`.
pub fn state_show(path: &Path) -> Result<u8> {
    let (config, location, state) = open_state(path)?;
    let pipeline = &config.spec.pipeline;
    println!("State backend: {}", location.describe());
    let cursors = state.list_cursors(pipeline)?;
    let runs = state.recent_runs(pipeline, 20)?;
    output::print_state(&cursors, &runs);
    Ok(0)
}

/// `rapidbyte state reset`.
pub fn state_reset(path: &Path, stream: Option<&str>) -> Result<u8> {
    let (config, _, state) = open_state(path)?;
    let pipeline = &config.spec.pipeline;
    if let Some(s) = stream {
        // Streams the pipeline lists, and streams with saved state.
        let mut known: Vec<String> = config
            .spec
            .source
            .streams
            .iter()
            .map(|st| st.name.clone())
            .collect();
        for c in state.list_cursors(pipeline)? {
            let name = rapidbyte_host::runtime::stream_of_key(&c.stream);
            if !known.iter().any(|k| k == name) {
                known.push(name.to_string());
            }
        }
        if !known.iter().any(|k| k == s) {
            let listed = if known.is_empty() {
                "it has no listed streams and no saved state".to_string()
            } else {
                format!("known streams: {}", known.join(", "))
            };
            return Err(UsageError(format!(
                "pipeline `{pipeline}` ({}) has no stream `{s}`; {listed}",
                path.display()
            ))
            .into());
        }
    }
    if config.spec.destination.write_mode == WriteModeSpec::Append {
        eprintln!(
            "warning: destination.write_mode is append: the next run reads {} from the start and appends every row again, next to the rows already there; for that run use write_mode: replace",
            stream.map_or("every stream".to_string(), |s| format!("`{s}`"))
        );
    }
    let n = state.reset(pipeline, stream)?;
    match stream {
        Some(s) => {
            println!("State reset for '{s}' ({n} cursor removed). Next sync will be a full read.")
        }
        None => println!("State reset for every stream ({n} cursors removed)."),
    }
    Ok(0)
}

/// What `rapidbyte conformance` is asked to do.
pub struct ConformanceArgs<'a> {
    /// Connector reference (name, directory or `.wasm`).
    pub connector: &'a str,
    /// Its config file.
    pub config: Option<&'a Path>,
    /// A fixture directory (with an optional `append` hook).
    pub fixture: Option<&'a Path>,
    /// A source that reads a destination's output back, and its config.
    pub paired: Option<(&'a str, Option<&'a Path>)>,
    /// Start a fixture (`files`, `postgres`) instead of `config`.
    pub start: Option<&'a str>,
    /// Print JSON.
    pub json: bool,
}

/// `rapidbyte conformance`: exit 0 only if every applicable check passed.
pub fn conformance(args: &ConformanceArgs) -> Result<u8> {
    let (config, base) = read_config(args.config)?;
    let settings = settings();
    let resolve = |reference: &str| {
        registry::resolve(reference, Some(&base), &settings).map_err(|e| UsageError(e.to_string()))
    };
    let connector = resolve(args.connector)?;
    let mut paired = match args.paired {
        None => None,
        Some((reference, config)) => {
            let (cfg, _) = read_config(config)?;
            Some((resolve(reference)?, cfg))
        }
    };
    let mut options = rapidbyte_conformance::Options {
        config,
        config_given: args.config.is_some(),
        project_dir: base.clone(),
        fixture: args.fixture.map(Path::to_path_buf),
        ..Default::default()
    };
    // A fixture the suite starts itself; stopped when `_started` drops.
    let _started = match args.start {
        None => None,
        Some(kind) => {
            if args.config.is_some() {
                return Err(UsageError("use either --config or --start, not both".into()).into());
            }
            let world = connector.manifest.kind.unwrap_or(ConnectorKind::Source);
            eprintln!("starting the `{kind}` fixture ...");
            let started = fixtures::start(kind, world).map_err(UsageError)?;
            options.config = started.config.clone();
            options.config_given = true;
            options.project_dir = started.project_dir.clone();
            options.fixture.get_or_insert(started.fixture_dir.clone());
            if paired.is_none() {
                if let Some((name, cfg)) = &started.paired {
                    paired = Some((resolve(name)?, cfg.clone()));
                }
            }
            Some(started)
        }
    };
    options.paired = paired;
    let runtime = runtime(&settings)?;
    let report = rapidbyte_conformance::run(&runtime, &connector, &options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.passed() { 0 } else { EXIT_FAILURE })
}
