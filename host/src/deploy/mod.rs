//! Hot swap's durable side (`docs/hot-swap.md`): what a deploy uploads and
//! which version of each component serves, kept in the data directory so
//! that a restarted host comes up on the deployed versions.
//!
//! ```text
//! <data-dir>/deploys/
//!   blobs/<sha256>                 every uploaded file, by content: .wasm, catalogs, personas
//!   packages/<sha256>/spin.toml    a deployed manifest, with its files at their relative paths
//!   packages/<sha256>/package.json which blob is each component's source and each file
//!   state.json                     per component: running or removed, the current version, history
//! ```
//!
//! Blobs and packages are immutable and named by their content, so writing
//! one twice is harmless and a rollback finds every kept version intact.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component as PathPart, Path, PathBuf};
use std::sync::{Arc, Mutex};

use agent_store_manifest::{Manifest, Source};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Versions kept in a component's history; older ones are forgotten (their
/// blobs stay on disk).
pub const MAX_HISTORY: usize = 20;

/// The largest manifest a deploy may carry.
pub const MAX_MANIFEST: usize = 1 << 20;

/// The most files (sources included) one deploy may carry.
pub const MAX_FILES: usize = 1000;

/// How a version came to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The manifest the host started with.
    Manifest,
    /// `agent-store deploy`.
    Deploy,
    /// `agent-store rollback`.
    Rollback,
}

/// Whether a component serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Running,
    Removed,
}

/// One version of a component, as it was switched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The sha256 of its `.wasm`.
    pub version: String,
    /// The deployed package it came from; `None`: the host's own manifest.
    pub package: Option<String>,
    pub at: DateTime<Utc>,
    pub origin: Origin,
}

/// What the data directory says of one component.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub state: ComponentState,
    /// `None`: the manifest's version (never deployed, or reset).
    pub current: Option<Entry>,
    /// Oldest first, at most [`MAX_HISTORY`].
    pub history: Vec<Entry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    components: BTreeMap<String, Record>,
}

/// What a package's files are: each component's source and every other
/// file, by the relative path the manifest names it with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// Component id to the sha256 of its `.wasm`.
    pub sources: BTreeMap<String, String>,
    /// Path relative to the manifest to the sha256 of the file.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// The deploys of one data directory.
pub struct Versions {
    dir: PathBuf,
    state: Mutex<State>,
    /// Blobs being written by [`Versions::keep_later`]: a reader of one
    /// waits for it ([`Versions::blob_path`]).
    writing: Mutex<std::collections::HashSet<String>>,
    written: std::sync::Condvar,
    /// Noted by [`Versions::keep_later`], not yet written.
    to_keep: Mutex<Vec<(String, bytes::Bytes)>>,
}

impl Versions {
    /// Opens (creating) `<data_dir>/deploys`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("deploys");
        for sub in ["blobs", "packages"] {
            create_private(&dir.join(sub))?;
        }
        let path = dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a deploy state: fix or delete it", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self {
            dir,
            state: Mutex::new(state),
            writing: Mutex::default(),
            written: std::sync::Condvar::new(),
            to_keep: Mutex::default(),
        })
    }

    /// Where the blob `digest` is kept, once any write of it
    /// [`Versions::keep_later`] started has ended (a few milliseconds, and
    /// only just after a start).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let writing = self.writing.lock().unwrap();
        drop(self.written.wait_while(writing, |writing| writing.contains(digest)).unwrap());
        self.blob_file(digest)
    }

    fn blob_file(&self, digest: &str) -> PathBuf {
        self.dir.join("blobs").join(digest)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        is_digest(digest) && self.blob_path(digest).is_file()
    }

    /// Keeps `bytes` under `digest`, which must be their sha256.
    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        if !is_digest(digest) {
            bail!("`{digest}` is not a sha256 (64 lowercase hex digits)");
        }
        let actual = agent_store_runtime::cache::digest(bytes);
        if actual != digest {
            bail!("the upload's sha256 is {actual}, not {digest}: it was changed or cut on the way");
        }
        write_private(&self.blob_path(digest), bytes)
    }

    /// Keeps a file of the host's own manifest as a blob, so that its
    /// version can be rolled back to after the file changed on disk.
    /// `digest` is `bytes`' sha256. Only noted here: [`Versions::write_kept`]
    /// writes what was noted, on a thread of its own, once the components
    /// are loaded. Copying every component into a fresh data directory
    /// (each new pod's) was a quarter of a start's CPU, and nothing reads a
    /// blob before a deploy or a rollback, which wait for its write.
    pub fn keep_later(&self, digest: String, bytes: bytes::Bytes) {
        if self.blob_file(&digest).is_file() || !self.writing.lock().unwrap().insert(digest.clone()) {
            return;
        }
        self.to_keep.lock().unwrap().push((digest, bytes));
    }

    /// Writes the blobs [`Versions::keep_later`] noted.
    pub fn write_kept(self: &Arc<Self>) {
        let noted = std::mem::take(&mut *self.to_keep.lock().unwrap());
        if noted.is_empty() {
            return;
        }
        let digests: Vec<String> = noted.iter().map(|(digest, _)| digest.clone()).collect();
        let versions = self.clone();
        let write = move || {
            for (digest, bytes) in noted {
                if let Err(error) = write_private(&versions.blob_file(&digest), &bytes) {
                    tracing::error!(
                        version = &digest[..12],
                        error = %format!("{error:#}"),
                        "could not keep a component of the manifest: rolling back to this version will fail once its file changes"
                    );
                }
                versions.writing.lock().unwrap().remove(&digest);
                versions.written.notify_all();
            }
        };
        if let Err(error) = std::thread::Builder::new().name("keep-blobs".into()).spawn(write) {
            // No thread: nothing is written, and no reader may wait for it.
            tracing::error!(error = %error, "could not start keeping the components of the manifest");
            let mut writing = self.writing.lock().unwrap();
            for digest in &digests {
                writing.remove(digest);
            }
            self.written.notify_all();
        }
    }

    /// Writes a package (its manifest and its files, from blobs) and
    /// returns its digest. Paths must stay inside the package.
    pub fn materialize(&self, manifest: &str, contents: &Contents) -> Result<String> {
        if manifest.len() > MAX_MANIFEST {
            bail!("the manifest is {} bytes; at most {MAX_MANIFEST}", manifest.len());
        }
        if contents.sources.len() + contents.files.len() > MAX_FILES {
            bail!("a deploy carries at most {MAX_FILES} files");
        }
        for (name, digest) in contents.sources.iter().chain(&contents.files) {
            if !self.has_blob(digest) {
                bail!("`{name}`: blob {digest} was not uploaded (PUT /admin/blobs/{digest} first)");
            }
        }
        for path in contents.files.keys() {
            check_relative(path)?;
        }
        let package = serde_json::to_vec(contents)?;
        let digest = agent_store_runtime::cache::digest(&[manifest.as_bytes(), b"\0", &package].concat());
        let dir = self.dir.join("packages").join(&digest);
        if dir.join("package.json").is_file() {
            return Ok(digest);
        }
        // Written aside and renamed: a package directory is whole or absent.
        let staging = self.dir.join("packages").join(format!(".{digest}.{}", uuid::Uuid::new_v4().simple()));
        create_private(&staging)?;
        write_private(&staging.join("spin.toml"), manifest.as_bytes())?;
        for (path, blob) in &contents.files {
            let target = staging.join(path);
            if let Some(parent) = target.parent() {
                create_private(parent)?;
            }
            std::fs::copy(self.blob_path(blob), &target).with_context(|| format!("writing {path}"))?;
        }
        write_private(&staging.join("package.json"), &package)?;
        match std::fs::rename(&staging, &dir) {
            Ok(()) => Ok(digest),
            // Another deploy of the same package won the race: same content.
            Err(_) if dir.join("package.json").is_file() => {
                let _ = std::fs::remove_dir_all(&staging);
                Ok(digest)
            }
            Err(e) => Err(e).with_context(|| format!("writing package {digest}")),
        }
    }

    /// A deployed package's manifest, its components' sources pointing at
    /// their blobs.
    pub fn package(&self, digest: &str) -> Result<(Manifest, Contents)> {
        if !is_digest(digest) {
            bail!("`{digest}` is not a package digest");
        }
        let dir = self.dir.join("packages").join(digest);
        let contents: Contents = serde_json::from_slice(
            &std::fs::read(dir.join("package.json")).with_context(|| format!("package {digest} is not kept"))?,
        )?;
        let mut manifest = Manifest::load(&dir.join("spin.toml"))?;
        for (id, blob) in &contents.sources {
            let entry = manifest.component.get_mut(id).with_context(|| format!("package {digest} has no `{id}`"))?;
            entry.source = Source::Path(self.blob_path(blob).to_string_lossy().into_owned());
        }
        Ok((manifest, contents))
    }

    /// A deployed package as it was uploaded: its manifest's text and its
    /// files' table (what another replica needs to write it again).
    pub fn package_text(&self, digest: &str) -> Result<(String, Contents)> {
        if !is_digest(digest) {
            bail!("`{digest}` is not a package digest");
        }
        let dir = self.dir.join("packages").join(digest);
        let contents = serde_json::from_slice(
            &std::fs::read(dir.join("package.json")).with_context(|| format!("package {digest} is not kept"))?,
        )?;
        let manifest = std::fs::read_to_string(dir.join("spin.toml"))?;
        Ok((manifest, contents))
    }

    /// What serves and every history, as replicas share it.
    pub fn state_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(&*self.state.lock().unwrap())?)
    }

    /// The records of a shared state.
    pub fn parse_state(bytes: &[u8]) -> Result<BTreeMap<String, Record>> {
        let state: State = serde_json::from_slice(bytes).context("the shared deploy state is not one")?;
        Ok(state.components)
    }

    /// Takes a shared state as this data directory's own.
    pub fn replace_state(&self, bytes: &[u8]) -> Result<()> {
        let shared: State = serde_json::from_slice(bytes).context("the shared deploy state is not one")?;
        self.update(|state| *state = shared)
    }

    pub fn record(&self, id: &str) -> Option<Record> {
        self.state.lock().unwrap().components.get(id).cloned()
    }

    pub fn records(&self) -> BTreeMap<String, Record> {
        self.state.lock().unwrap().components.clone()
    }

    /// `entry` serves `id` from now on; `manifest` is the version it
    /// replaces when that one came from the host's manifest and is not in
    /// the history yet (so that it can be rolled back to).
    pub fn switched(&self, id: &str, entry: Entry, manifest: Option<Entry>) -> Result<()> {
        self.update(|state| {
            let record = record_of(state, id, manifest);
            record.state = ComponentState::Running;
            record.current = Some(entry.clone());
            record.history.push(entry);
            let excess = record.history.len().saturating_sub(MAX_HISTORY);
            record.history.drain(..excess);
        })
    }

    pub fn removed(&self, id: &str, manifest: Option<Entry>) -> Result<()> {
        self.update(|state| record_of(state, id, manifest).state = ComponentState::Removed)
    }

    /// Forgets what serves (`up --reset-deploys`): the manifest's versions
    /// serve again. Histories and blobs stay, for a rollback.
    pub fn reset(&self) -> Result<()> {
        self.update(|state| {
            for record in state.components.values_mut() {
                record.state = ComponentState::Running;
                record.current = None;
            }
        })
    }

    fn update(&self, change: impl FnOnce(&mut State)) -> Result<()> {
        let mut state = self.state.lock().unwrap();
        let mut next = state.clone();
        change(&mut next);
        write_private(&self.dir.join("state.json"), &serde_json::to_vec_pretty(&next)?)?;
        *state = next;
        Ok(())
    }
}

/// `id`'s record, created if new, with the manifest's version it is
/// leaving added to its history.
fn record_of<'a>(state: &'a mut State, id: &str, manifest: Option<Entry>) -> &'a mut Record {
    let record = state.components.entry(id.to_string()).or_insert_with(|| Record {
        state: ComponentState::Running,
        current: None,
        history: Vec::new(),
    });
    if let Some(original) = manifest {
        if !record.history.iter().any(|e| e.version == original.version && e.package.is_none()) {
            record.history.push(original);
        }
    }
    record
}

/// A sha256 in lowercase hex.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A path inside the package: relative, without `..`, nothing odd.
pub fn check_relative(path: &str) -> Result<()> {
    let parsed = Path::new(path);
    let inside = !path.is_empty()
        && path.len() <= 1024
        && !path.contains('\\')
        && parsed.components().all(|c| matches!(c, PathPart::Normal(_) | PathPart::CurDir));
    if !inside {
        bail!("`{path}`: a package file must be a relative path inside the package (no `..`, not absolute)");
    }
    Ok(())
}

fn create_private(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Written aside and renamed, so a crash leaves the old file or the new
/// one, never half of one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let aside = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut file = options.open(&aside)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&aside, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_paths_stay_inside() {
        for bad in ["../x", "/etc/passwd", "a/../../b", "", "a\\b"] {
            assert!(check_relative(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["catalog.json", "brands/sports/catalog.json", "./persona.toml"] {
            check_relative(good).unwrap();
        }
    }

    #[test]
    fn a_blob_must_be_what_its_name_says() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let versions = Versions::open(dir.path())?;
        let digest = agent_store_runtime::cache::digest(b"hello");
        assert!(versions.put_blob(&digest, b"hellO").is_err());
        assert!(versions.put_blob("../../etc", b"hello").is_err());
        versions.put_blob(&digest, b"hello")?;
        assert!(versions.has_blob(&digest));
        Ok(())
    }

    #[test]
    fn a_blob_kept_later_is_there_for_whoever_asks_right_after() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let versions = Arc::new(Versions::open(dir.path())?);
        // Big enough that the write is still going when the readers ask.
        let bytes = bytes::Bytes::from(vec![7u8; 32 << 20]);
        let digest = agent_store_runtime::cache::digest(&bytes);
        versions.keep_later(digest.clone(), bytes.clone());
        versions.write_kept();
        assert!(versions.has_blob(&digest));
        assert_eq!(std::fs::read(versions.blob_path(&digest))?, bytes);
        // Kept already: nothing is written again, and nothing waits.
        versions.keep_later(digest.clone(), bytes);
        assert!(versions.writing.lock().unwrap().is_empty());
        Ok(())
    }

    #[test]
    fn the_state_outlives_the_process_and_history_is_bounded() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let entry =
            |n: usize| Entry { version: format!("{n:064x}"), package: None, at: Utc::now(), origin: Origin::Deploy };
        {
            let versions = Versions::open(dir.path())?;
            for n in 0..MAX_HISTORY + 5 {
                versions.switched("c", entry(n), None)?;
            }
        }
        let versions = Versions::open(dir.path())?;
        let record = versions.record("c").unwrap();
        assert_eq!(record.history.len(), MAX_HISTORY);
        assert_eq!(
            record.current,
            Some(entry(MAX_HISTORY + 4)).map(|e| Entry { at: record.current.as_ref().unwrap().at, ..e })
        );
        versions.reset()?;
        assert_eq!(Versions::open(dir.path())?.record("c").unwrap().current, None);
        Ok(())
    }
}
