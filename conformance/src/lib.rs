//! The connector contract test suite behind `rapidbyte conformance`.
//!
//! It works from the contract, not from a list of known connectors: it
//! loads the component, finds the world it exports (source, destination or
//! transform) and runs the checks that apply, each with a stable id, a
//! pass/fail/skip and a message telling the author what to fix. See
//! `docs/conformance.md` for every check.

mod config_checks;
mod destination_checks;
pub mod fixtures;
mod harness;
mod report;
pub mod sample;
mod source_checks;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rapidbyte_host::registry::{ConnectorKind, ConnectorRef};
use rapidbyte_host::runtime::{FailureKind, InstanceLimits, Runtime};

pub use report::{Check, Report, Status};

use harness::{Harness, Probe};

/// How to run the suite.
#[derive(Debug, Clone)]
pub struct Options {
    /// The connector's config (the `config:` of a pipeline), or `{}`.
    pub config: serde_json::Value,
    /// Whether `config` was given (checks that need a working config are
    /// skipped otherwise).
    pub config_given: bool,
    /// Relative paths in configs resolve against this directory.
    pub project_dir: PathBuf,
    /// A fixture directory: an executable `append` there is run between
    /// incremental reads with the stream name, adds rows and prints how
    /// many.
    pub fixture: Option<PathBuf>,
    /// A source and its config that read a destination's output back.
    pub paired: Option<(ConnectorRef, serde_json::Value)>,
    /// Memory cap of each instance.
    pub max_memory: usize,
    /// Time cap of each call.
    pub timeout: Duration,
    /// `max_batch_bytes` asked of sources.
    pub max_batch_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: serde_json::json!({}),
            config_given: false,
            project_dir: PathBuf::from("."),
            fixture: None,
            paired: None,
            max_memory: 256 << 20,
            timeout: Duration::from_secs(120),
            max_batch_bytes: 256 << 10,
        }
    }
}

fn world_name(kind: ConnectorKind) -> &'static str {
    match kind {
        ConnectorKind::Source => "source",
        ConnectorKind::Destination => "destination",
        ConnectorKind::Transform => "transform",
    }
}

/// Runs every check that applies to `connector`.
pub fn run(runtime: &Runtime, connector: &ConnectorRef, options: &Options) -> Report {
    let manifest = &connector.manifest;
    let mut report = Report {
        connector: manifest.name.clone(),
        version: manifest.version.clone(),
        world: manifest.kind.map(world_name).unwrap_or("unknown").into(),
        checks: Vec::new(),
    };
    match manifest.kind {
        Some(kind) => report.pass(
            "manifest.valid",
            format!(
                "{} {} declares the {} world",
                manifest.name,
                manifest.version,
                world_name(kind)
            ),
        ),
        None => report.fail(
            "manifest.valid",
            "the manifest has no `kind:` (source, destination or transform)",
        ),
    }
    let limits = InstanceLimits {
        max_memory: options.max_memory,
        timeout: options.timeout,
        ..InstanceLimits::default()
    };
    let h = match Harness::new(
        runtime,
        connector,
        options.config.clone(),
        options.project_dir.clone(),
        limits,
    ) {
        Ok(h) => h,
        Err(e) => {
            report.fail(
                "component.world",
                format!("the component does not load: {e}"),
            );
            return report;
        }
    };
    report.world = world_name(h.component.kind).into();
    if let Some(kind) = manifest.kind.filter(|k| *k != h.component.kind) {
        report.fail(
            "component.world",
            format!(
                "the component exports the {} world but its manifest says `kind: {}`",
                world_name(h.component.kind),
                world_name(kind)
            ),
        );
        return report;
    }
    if h.component.kind == ConnectorKind::Transform {
        report.skip(
            "component.world",
            "transform connectors are not checked by this version of the suite",
        );
        return report;
    }
    match h.validate(&h.config) {
        Probe::Failed(f) if matches!(f.kind, FailureKind::Setup(_)) => {
            report.fail("component.world", f.to_string());
            return report;
        }
        _ => report.pass(
            "component.world",
            format!(
                "instantiates against the rapidbyte:connector {} world (as a {})",
                world_name(h.component.kind),
                h.component.code.describe()
            ),
        ),
    }

    config_checks::run(&h, &mut report, options.config_given);
    if !options.config_given && !manifest_needs_nothing(connector) {
        report.skip(
            "world.checks",
            "the connector needs a config (see its manifest): pass --config to run the read/write checks",
        );
    } else {
        match h.component.kind {
            ConnectorKind::Source => source_checks::run(
                &h,
                &mut report,
                &source_checks::SourceOptions {
                    max_batch_bytes: options.max_batch_bytes,
                    fixture: options.fixture.as_deref(),
                },
            ),
            _ => {
                let paired = options.paired.as_ref().and_then(|(c, cfg)| {
                    match Harness::new(runtime, c, cfg.clone(), options.project_dir.clone(), limits)
                    {
                        Ok(p) => Some(p),
                        Err(e) => {
                            report.fail(
                                "write.paired",
                                format!("the paired source does not load: {e}"),
                            );
                            None
                        }
                    }
                });
                destination_checks::run(&h, paired.as_ref(), &mut report);
            }
        }
    }
    let denied = h.denied.load(Ordering::Relaxed);
    if denied == 0 {
        report.pass(
            "sandbox.declared_only",
            "every network access stayed within the declared capabilities",
        );
    } else {
        report.fail(
            "sandbox.declared_only",
            format!("the sandbox refused {denied} network operation(s) outside the declared capabilities: declare the host in the manifest (allowed_hosts / runtime_hosts) or stop reaching it"),
        );
    }
    report
}

/// Whether the manifest requires no config keys.
fn manifest_needs_nothing(connector: &ConnectorRef) -> bool {
    connector.manifest.config_schema.required.is_empty()
        && connector.manifest.capabilities.filesystem.is_none()
}
