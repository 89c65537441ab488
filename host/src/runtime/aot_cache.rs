//! Compiled components cached on disk, keyed by the SHA-256 of the `.wasm`
//! and the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::{Code, RuntimeError};

pub(super) struct AotCache {
    dir: PathBuf,
    engine_key: String,
}

impl AotCache {
    pub(super) fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = format!("wasmtime{}-{:016x}", wasmtime_version(), h.finish());
        AotCache { dir, engine_key }
    }

    /// Returns the compiled code (a component, or a core module when
    /// `core` is set), its SHA-256, and whether it came from the cache.
    pub(super) fn load(
        &self,
        engine: &Engine,
        path: &Path,
        bytes: &[u8],
        core: bool,
    ) -> Result<(Code, String, bool), RuntimeError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let file = self.dir.join(format!("{sha}-{}.cwasm", self.engine_key));
        if file.is_file() {
            // SAFETY: the file was written by `serialize` of an engine with
            // the same compatibility hash, into a directory only rapidbyte
            // writes; wasmtime checks the header and version.
            let cached = if core {
                unsafe { Module::deserialize_file(engine, &file) }.map(Code::Module)
            } else {
                unsafe { Component::deserialize_file(engine, &file) }.map(Code::Component)
            };
            match cached {
                Ok(c) => return Ok((c, sha, true)),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "discarding unusable AOT cache entry")
                }
            }
        }
        let compiled = if core {
            Module::new(engine, bytes).map(Code::Module)
        } else {
            Component::new(engine, bytes).map(Code::Component)
        };
        let code = compiled.map_err(|e| RuntimeError::Compile {
            path: path.to_path_buf(),
            message: format!("{e:#}"),
        })?;
        if let Err(e) = self.store(&file, &code) {
            tracing::warn!(file = %file.display(), error = %e, "could not write AOT cache entry");
        }
        Ok((code, sha, false))
    }

    fn store(&self, file: &Path, code: &Code) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let bytes = match code {
            Code::Component(c) => c.serialize(),
            Code::Module(m) => m.serialize(),
        }
        .map_err(|e| e.to_string())?;
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, file).map_err(|e| e.to_string())
    }
}

fn wasmtime_version() -> &'static str {
    // The engine version is part of the key so upgrades never reuse artifacts.
    "48"
}
