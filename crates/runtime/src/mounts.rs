//! The files a component sees: Spin's `files` entries turned into read-only
//! directory mounts.
//!
//! A `{ source = "dir", destination = "/path" }` entry mounts the directory
//! itself. Glob patterns (`"brands/*/catalog.json"`) are copied, keeping
//! their relative paths, into a staging directory mounted at `/`, as Spin
//! does; `exclude_files` removes matches.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use agent_store_manifest::{ComponentEntry, FileMount};

/// `(host directory, guest path)` pairs for one component.
pub(crate) fn resolve(
    root: &Path,
    id: &str,
    entry: &ComponentEntry,
    staging_root: &Path,
) -> Result<Vec<(PathBuf, String)>> {
    let mut mounts = Vec::new();
    let mut patterns = Vec::new();
    for mount in &entry.files {
        match mount {
            FileMount::Placement { source, destination } => {
                let host = root.join(source);
                if !destination.starts_with('/') {
                    bail!("files: destination {destination:?} must be an absolute guest path");
                }
                if host.is_dir() {
                    mounts.push((host, destination.clone()));
                } else if host.is_file() {
                    // A single file: stage it in a directory of its own.
                    let dir = staging_root.join(id).join(format!("placement-{}", mounts.len()));
                    let name = Path::new(destination).file_name().context("files: destination names no file")?;
                    recreate(&dir)?;
                    std::fs::copy(&host, dir.join(name))
                        .with_context(|| format!("files: copying {}", host.display()))?;
                    let guest_dir = Path::new(destination).parent().and_then(Path::to_str).unwrap_or("/");
                    mounts.push((dir, guest_dir.to_string()));
                } else {
                    bail!("files: source {} does not exist", host.display());
                }
            }
            FileMount::Pattern(pattern) => patterns.push(pattern.clone()),
        }
    }
    if !patterns.is_empty() {
        let staged = staging_root.join(id).join("patterns");
        recreate(&staged)?;
        let excludes = entry
            .exclude_files
            .iter()
            .map(|p| glob::Pattern::new(p).with_context(|| format!("exclude_files: bad pattern {p:?}")))
            .collect::<Result<Vec<_>>>()?;
        let mut copied = 0;
        for pattern in &patterns {
            if pattern.starts_with('/') || pattern.split('/').any(|part| part == "..") {
                bail!("files: pattern {pattern:?} must stay inside the application directory");
            }
            let full = root.join(pattern);
            let matches =
                glob::glob(&full.to_string_lossy()).with_context(|| format!("files: bad pattern {pattern:?}"))?;
            for path in matches {
                let path = path?;
                if !path.is_file() {
                    continue;
                }
                let relative = path.strip_prefix(root).unwrap_or(&path);
                if excludes.iter().any(|e| e.matches_path(relative)) {
                    continue;
                }
                let target = staged.join(relative);
                std::fs::create_dir_all(target.parent().expect("a staged file has a parent"))?;
                std::fs::copy(&path, &target).with_context(|| format!("files: copying {}", path.display()))?;
                copied += 1;
            }
        }
        if copied == 0 {
            tracing::warn!(component = id, ?patterns, "files: no file matches the component's patterns");
        }
        mounts.push((staged, "/".to_string()));
    }
    Ok(mounts)
}

fn recreate(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use agent_store_manifest::Manifest;

    #[test]
    fn patterns_are_staged_with_their_relative_paths() -> Result<()> {
        let app = tempfile::tempdir()?;
        for brand in ["fashion", "tech"] {
            std::fs::create_dir_all(app.path().join("brands").join(brand).join("src"))?;
            std::fs::write(app.path().join("brands").join(brand).join("catalog.json"), brand)?;
            std::fs::write(app.path().join("brands").join(brand).join("src/lib.rs"), "code")?;
        }
        let manifest = Manifest::parse(
            r#"
spin_manifest_version = 2
[application]
name = "t"
[component.c]
source = "c.wasm"
files = ["brands/*/catalog.json"]
exclude_files = ["brands/tech/*"]
"#,
        )?;
        let staging = tempfile::tempdir()?;
        let mounts = resolve(app.path(), "c", &manifest.component["c"], staging.path())?;
        assert_eq!(mounts.len(), 1);
        let (dir, guest) = &mounts[0];
        assert_eq!(guest, "/");
        assert_eq!(std::fs::read_to_string(dir.join("brands/fashion/catalog.json"))?, "fashion");
        assert!(!dir.join("brands/tech/catalog.json").exists(), "excluded");
        assert!(!dir.join("brands/fashion/src/lib.rs").exists(), "not matched");
        Ok(())
    }

    #[test]
    fn patterns_cannot_escape_the_application() {
        let manifest = Manifest::parse(
            "spin_manifest_version = 2\n[application]\nname = \"t\"\n[component.c]\nsource = \"c.wasm\"\nfiles = [\"../secrets/*\"]\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(dir.path(), "c", &manifest.component["c"], dir.path()).unwrap_err();
        assert!(err.to_string().contains("inside the application"), "{err}");
    }
}
