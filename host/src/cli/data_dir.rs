//! The data directory holds the embedded database (carts, orders, the
//! escalation queue) and the admin token: it is created readable by its
//! owner only, and the host refuses to start on one that others can read,
//! saying how to fix it.

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::server::auth_token_path;

/// The embedded key-value file in the data directory.
pub const DATABASE: &str = "kv.redb";

/// Creates `dir` (owner only) if it is missing; refuses one that others can
/// read, and a database or token file in it that others can read.
pub fn prepare(dir: &Path) -> Result<()> {
    if !dir.exists() {
        create_private(dir)?;
    }
    check(dir, 0o700, "chmod 700")?;
    for file in [dir.join(DATABASE), auth_token_path(dir)] {
        if file.exists() {
            check(&file, 0o600, "chmod 600")?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn create_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(not(unix))]
fn create_private(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

#[cfg(unix)]
fn check(path: &Path, wanted: u32, fix: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by other users (mode {:o}): it holds the store's data and secrets. \
             Fix it with `{fix} {}` (mode {wanted:o}), then start again",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn check(_path: &Path, _wanted: u32, _fix: &str) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_directory_is_private_and_an_open_one_is_refused() -> Result<()> {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("data");
        prepare(&dir)?;
        assert_eq!(std::fs::metadata(&dir)?.permissions().mode() & 0o777, 0o700);

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let err = prepare(&dir).unwrap_err().to_string();
        assert!(err.contains("chmod 700") && err.contains("readable by other users"), "{err}");

        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        std::fs::write(dir.join(DATABASE), b"")?;
        std::fs::set_permissions(dir.join(DATABASE), std::fs::Permissions::from_mode(0o644))?;
        let err = prepare(&dir).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains(DATABASE), "{err}");
        Ok(())
    }
}
