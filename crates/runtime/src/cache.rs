//! Compiled components on disk, so that a restart does not compile again.
//!
//! An entry is keyed by the SHA-256 of the component's bytes and by the
//! engine's compatibility hash (wasmtime version, target, compiler
//! settings): change either and the entry is simply not found.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component came to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now.
    Compiled,
    /// Read from the disk cache.
    Cached,
}

/// Compiled components on disk, by content and engine.
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// The SHA-256 of a component's bytes, in hex: its version.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl CompileCache {
    /// `dir = None` compiles every time (a throwaway run).
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self { dir, engine_key: format!("{:016x}", hasher.finish()) }
    }

    fn path_for(&self, digest: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// The compiled component kept under `digest`, if there is one.
    pub fn lookup(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path_for(digest).filter(|p| p.exists())?;
        // SAFETY: the file was written by `store` below from a component
        // this engine compiled, into a directory only the host writes; the
        // engine key in its name rules out another engine's code.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable compiled-component cache entry");
                None
            }
        }
    }

    /// The compiled form of `bytes`, from the cache when it is there.
    pub fn load(&self, engine: &Engine, name: &str, bytes: &[u8], digest: &str) -> crate::Result<(Component, Origin)> {
        if let Some(component) = self.lookup(engine, digest) {
            return Ok((component, Origin::Cached));
        }
        tracing::info!(
            component = name,
            size_kib = bytes.len() / 1024,
            "compiling component (cached for the next start)"
        );
        let started = Instant::now();
        let component = Component::new(engine, bytes).map_err(crate::Error::wasmtime(name, "compiling"))?;
        tracing::info!(component = name, elapsed_ms = started.elapsed().as_millis() as u64, "compiled");
        if let Some(path) = self.path_for(digest)
            && let Err(e) = store(&component, &path)
        {
            tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "could not cache the compiled component");
        }
        Ok((component, Origin::Compiled))
    }
}

/// Writes through a temporary file so that a crash never leaves half an
/// entry behind.
fn store(component: &Component, path: &Path) -> Result<()> {
    let dir = path.parent().context("cache path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let serialized = component.serialize().map_err(|e| anyhow::anyhow!("serializing: {e}"))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serialized).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}
