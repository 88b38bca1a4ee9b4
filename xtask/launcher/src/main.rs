//! `cargo xtask` (the alias in `.cargo/config.toml` runs this): builds the project's tasks
//! (`xtask`) and, but for `ci`, the installable binary (`data-and-ai`) in one cargo run, with the
//! whole workspace selected, then becomes `xtask`. One run, not `cargo run -p xtask` and then a build of the
//! binary: on a new machine cargo then spreads every crate over the cores at once (the tasks'
//! own dependencies alone would leave a core idle), and every build selects the
//! workspace, so each dependency is built with one feature set. Nothing but the standard library:
//! it builds in a second.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// What `cargo run` tells the program it runs about its package. A build script may watch one of
/// them (ring's watches `CARGO_MANIFEST_DIR`): passed on, it rebuilt ring and all that links it.
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        )
}

fn main() {
    // Where the launcher's package is, as `cargo run` says at run time. The path compiled in can
    // be another clone's: where clones share a target directory, cargo leaves the binary it
    // finds up to date for this clone beside the other clone's, which was copied there last.
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let workspace = package
        .ancestors()
        .nth(2)
        .expect("the launcher lives in xtask/launcher")
        .to_path_buf();
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build
        .current_dir(&workspace)
        .args(["build", "--quiet", "--workspace", "--bin", "xtask"]);
    // `ci` builds the binary itself, through its driver (clippy and the docs), with the tests:
    // built here as well, an edit to a family would be compiled twice before the tests start.
    let ci = std::env::args().nth(1).is_some_and(|task| task == "ci");
    if !ci {
        build.args(["--bin", "data-and-ai"]);
    }
    // The profile this launcher was built with (`cargo xtask` is `cargo run`, the dev profile; a
    // `--release` in the alias would build the tasks so too), so that the binaries beside it are
    // the ones just built.
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    for (name, _) in std::env::vars() {
        if set_by_cargo_run(&name) {
            build.env_remove(name);
        }
    }
    match build.status() {
        Ok(status) if status.success() => {}
        Ok(status) => exit(status.code().unwrap_or(101)),
        Err(e) => {
            eprintln!("error: running cargo to build the project's tasks: {e}");
            exit(1);
        }
    }
    // cargo puts every binary of the profile beside this one.
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("the launcher's own directory");
    let mut tasks = Command::new(dir.join("xtask"));
    tasks
        .args(std::env::args_os().skip(1))
        .env("DAL_WORKSPACE", &workspace);
    if !ci {
        tasks.env("DAL_PRODUCT_BIN", dir.join("data-and-ai"));
    }
    for (name, _) in std::env::vars() {
        if set_by_cargo_run(&name) {
            tasks.env_remove(name);
        }
    }
    let e = tasks.exec();
    eprintln!("error: running {}: {e}", dir.join("xtask").display());
    exit(1);
}
