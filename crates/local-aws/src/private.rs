//! Files only the operator reads: the local AWS's directory, its log and the CA keys sit near
//! values.

use std::path::Path;

use anyhow::Context as _;

/// Create `dir` (and its parents) and make it private (0700): the local AWS's files sit near
/// values (its log at debug, the CA keys).
pub fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Create (or truncate) a file only its owner may read (0600), re-asserting the mode on a file
/// that was there.
pub fn private_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(f)
}
