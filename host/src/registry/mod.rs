//! Finding connectors: `use:` references to a component file and manifest.
//!
//! A reference is a path (`./connectors/my.wasm`, a directory holding
//! `rapidbyte-plugin.yaml`) or a name (`rapidbyte/source-file@0.1.0`,
//! `source-file`) looked up, in order, in [`Settings::connector_path`]
//! (the CLI takes it from `RAPIDBYTE_CONNECTOR_PATH`), `<project>/connectors`
//! and `<home>/plugins` (default `~/.rapidbyte/plugins`). In each,
//! `<name>/<version>/`, `<name>/v<version>/` or `<name>/` holding
//! `rapidbyte-plugin.yaml`; the first one with the requested version wins.

pub mod manifest;

use std::path::{Path, PathBuf};

pub use manifest::{ConnectorKind, Manifest};

use crate::settings::Settings;

/// File name of a manifest.
pub const MANIFEST_FILE: &str = "rapidbyte-plugin.yaml";

/// A resolved connector.
#[derive(Debug, Clone)]
pub struct ConnectorRef {
    /// The reference as written.
    pub reference: String,
    /// The manifest.
    pub manifest: Manifest,
    /// The component file.
    pub wasm: PathBuf,
}

/// Errors resolving a connector.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Nothing matched.
    #[error("connector `{reference}` not found; looked in: {searched}. Build and install the bundled connectors with `scripts/setup.sh`, or set RAPIDBYTE_CONNECTOR_PATH")]
    NotFound {
        /// The reference.
        reference: String,
        /// Where we looked.
        searched: String,
    },
    /// The manifest is broken.
    #[error("connector `{reference}`: bad manifest: {message}")]
    BadManifest {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// The component file is missing.
    #[error("connector `{reference}`: component {path} does not exist (manifest wasm.entrypoint)")]
    MissingWasm {
        /// The reference.
        reference: String,
        /// The expected file.
        path: PathBuf,
    },
    /// A version was asked for and another was found.
    #[error("connector `{reference}`: found version {found} at {dir}, not the requested {wanted}")]
    VersionMismatch {
        /// The reference.
        reference: String,
        /// Requested version.
        wanted: String,
        /// Found version.
        found: String,
        /// Where.
        dir: PathBuf,
    },
}

fn manifest_in(reference: &str, dir: &Path) -> Result<Manifest, RegistryError> {
    Manifest::load(&dir.join(MANIFEST_FILE)).map_err(|message| RegistryError::BadManifest {
        reference: reference.into(),
        message,
    })
}

fn from_dir(reference: &str, dir: &Path) -> Result<ConnectorRef, RegistryError> {
    let manifest = manifest_in(reference, dir)?;
    let wasm = dir.join(&manifest.wasm.entrypoint);
    if !wasm.is_file() {
        return Err(RegistryError::MissingWasm {
            reference: reference.into(),
            path: wasm,
        });
    }
    Ok(ConnectorRef {
        reference: reference.into(),
        manifest,
        wasm,
    })
}

/// Resolves `reference` (see the module docs) in the directories
/// `settings` names.
pub fn resolve(
    reference: &str,
    project_dir: Option<&Path>,
    settings: &Settings,
) -> Result<ConnectorRef, RegistryError> {
    let as_path = match project_dir {
        Some(p) if Path::new(reference).is_relative() => p.join(reference),
        _ => PathBuf::from(reference),
    };
    if as_path.is_dir() && as_path.join(MANIFEST_FILE).is_file() {
        return from_dir(reference, &as_path);
    }
    if as_path.is_file() && as_path.extension().is_some_and(|e| e == "wasm") {
        let dir = as_path.parent().unwrap_or(Path::new("."));
        return Ok(ConnectorRef {
            reference: reference.into(),
            manifest: manifest_in(reference, dir)?,
            wasm: as_path,
        });
    }
    let bare = reference.strip_prefix("rapidbyte/").unwrap_or(reference);
    let (name, version) = match bare.split_once('@') {
        Some((n, v)) => (n, Some(v.trim_start_matches('v'))),
        None => (bare, None),
    };
    let dirs = settings.search_dirs(project_dir);
    let mut mismatch = None;
    for base in &dirs {
        let mut candidates = vec![base.join(name)];
        if let Some(v) = version {
            candidates.insert(0, base.join(name).join(format!("v{v}")));
            candidates.insert(0, base.join(name).join(v));
        }
        for dir in candidates {
            if !dir.join(MANIFEST_FILE).is_file() {
                continue;
            }
            let found = from_dir(reference, &dir)?;
            match version {
                Some(v) if found.manifest.version != v => {
                    mismatch.get_or_insert(RegistryError::VersionMismatch {
                        reference: reference.into(),
                        wanted: v.into(),
                        found: found.manifest.version.clone(),
                        dir,
                    });
                }
                _ => return Ok(found),
            }
        }
    }
    if let Some(e) = mismatch {
        return Err(e);
    }
    Err(RegistryError::NotFound {
        reference: reference.into(),
        searched: dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
