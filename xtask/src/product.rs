//! The layer's commands through `cargo xtask`: the installable binary (`data-and-ai`), built with
//! the workspace's features and run in this process's place, told where this program answers for
//! the local AWS. xtask links neither `layer` nor a family crate, so an edit to a family never
//! rebuilds it.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The variable that names, to the installable binary, the program that runs the local AWS
/// (`<program> local endpoint …`): `layer::front_door`.
const LOCAL_AWS_PROGRAM: &str = "DAL_LOCAL_AWS";

/// The installable binary: the one `cargo xtask`'s launcher built beside this program
/// (`DAL_PRODUCT_BIN`), else built now from the workspace at `workspace` (nothing to do when it is
/// fresh).
pub(crate) fn binary(workspace: &Path) -> anyhow::Result<PathBuf> {
    match std::env::var_os(crate::cargo::PRODUCT_BIN).map(PathBuf::from) {
        Some(built) if built.is_file() => Ok(built),
        _ => built(workspace, Target::Bin, "data-and-ai", None),
    }
}

/// A kind of cargo target that builds an executable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Bin,
    Example,
}

/// Build one executable target of the workspace at `workspace` and give its path, as cargo gives
/// it. Built with the whole workspace selected, as `ci` builds the tests, so cargo unifies the
/// dependencies' features the same way and builds each dependency once.
/// `driver`: compiled through `ci`'s driver, as `ci` builds.
pub(crate) fn built(
    workspace: &Path,
    target: Target,
    name: &str,
    driver: Option<&crate::ci_driver::Driver>,
) -> anyhow::Result<PathBuf> {
    let (flag, kind) = match target {
        Target::Bin => ("--bin", "bin"),
        Target::Example => ("--example", "example"),
    };
    let mut cargo = crate::cargo::cargo(workspace);
    if let Some(driver) = driver {
        driver.wrap(&mut cargo);
    }
    let out = cargo
        .args(["build", "--workspace", flag, name, "--quiet"])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo to build {name}"))?;
    if !out.status.success() {
        bail!("building {name} failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .filter(|m| m["target"]["kind"][0] == kind)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo built no {name} executable"))
}

/// Run the layer command `args` (after the program name) on the project at `root`, with the binary
/// built from the workspace at `workspace`: this process becomes the installable binary, named
/// `cargo xtask` in its messages. Returns only on failure.
pub(crate) fn exec(workspace: &Path, root: &Path, args: &[String]) -> anyhow::Error {
    let program = match binary(workspace) {
        Ok(program) => program,
        Err(e) => return e,
    };
    let this = match std::env::current_exe() {
        Ok(this) => this,
        Err(e) => return anyhow::Error::new(e).context("finding this program's path"),
    };
    let e = std::process::Command::new(&program)
        .arg0("cargo xtask")
        .args(args)
        .env("DAL_ROOT", root)
        .env(LOCAL_AWS_PROGRAM, this)
        .env_remove(crate::cargo::PRODUCT_BIN)
        .exec();
    anyhow::Error::new(e).context(format!("running {}", program.display()))
}
