//! A cargo command run by xtask (for `ci`, and to build the installable binary), clean of what
//! `cargo run` told xtask.

use std::path::Path;
use std::process::Command;

/// The variable by which `cargo xtask`'s launcher names the installable binary it built beside
/// xtask (`product::binary`); for xtask only, never passed on.
pub(crate) const PRODUCT_BIN: &str = "DAL_PRODUCT_BIN";

/// A cargo command in `root`, without what `cargo run` told this process about xtask. A build
/// script may watch one of those variables (ring's watches `CARGO_MANIFEST_DIR`): inherited, it
/// made every `ci` rebuild ring and all that links it, and the next `cargo xtask` rebuild it back.
pub(crate) fn cargo(root: &Path) -> Command {
    // The cargo that runs xtask (`cargo +toolchain xtask` included), else the one on the path.
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root);
    // The binary the launcher built is this workspace's, for this program only.
    c.env_remove(PRODUCT_BIN);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_run = name.starts_with("CARGO_PKG_")
            || matches!(
                &*name,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
            );
        if set_by_cargo_run {
            c.env_remove(&*name);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    /// The test runs under cargo (or nextest), which sets `CARGO_MANIFEST_DIR` for it as
    /// `cargo run` does for xtask: `ci`'s cargo commands must not pass it on.
    #[test]
    fn ci_s_cargo_commands_drop_what_cargo_set_for_xtask() {
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let cmd = super::cargo(std::path::Path::new("."));
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(
            removed.iter().any(|k| k == "CARGO_MANIFEST_DIR"),
            "{removed:?}"
        );
        assert!(!removed
            .iter()
            .any(|k| k == "CARGO_TARGET_DIR" || k == "CARGO_HOME"));
    }
}
