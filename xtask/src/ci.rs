//! `cargo xtask ci`: what CI runs, so that a green run here means a green CI: format check,
//! clippy with warnings denied, the docs, the emulator's venv, every test, and the example of
//! another tool importing a family crate.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

/// Do one part of `ci`, and say how long it took: where `ci`'s time goes, in every log.
fn timed<T>(name: &str, part: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    eprintln!("==> {name}");
    let started = std::time::Instant::now();
    let out = part()?;
    eprintln!("<== {name}: {:.1} s", started.elapsed().as_secs_f64());
    Ok(out)
}

/// Run one command as a step of `ci`.
fn step(name: &str, cmd: &mut Command) -> anyhow::Result<()> {
    timed(name, || {
        let status = cmd.status().with_context(|| format!("running {name}"))?;
        if !status.success() {
            bail!("{name} failed ({status})");
        }
        Ok(())
    })
}

/// A cargo command in `root`, without what `cargo run` told this process about xtask. A build
/// script may watch one of those variables (ring's watches `CARGO_MANIFEST_DIR`): inherited, it
/// made every `ci` rebuild ring and all that links it, and the next `cargo xtask` rebuild it back.
fn cargo(root: &Path) -> Command {
    let mut c = Command::new("cargo");
    c.current_dir(root);
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

fn has_nextest(root: &Path) -> bool {
    cargo(root)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run the checks and tests. With `build_only`, build what they build (with the same flags, so
/// the next run finds it built) and run nothing: how `bench/build.sh` warms a target directory.
pub(crate) fn run(root: &Path, build_only: bool) -> anyhow::Result<()> {
    let cargo = || cargo(root);
    step(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    step(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--quiet",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The crates are a library others import: their docs build without a warning.
    step(
        "cargo doc",
        cargo().env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--no-deps",
            "--quiet",
        ]),
    )?;
    let venv = root.join(".local").join("venv");
    timed("emulator venv", || local_aws_venv(&venv))?;
    let mut test = cargo();
    test.env("DAL_EMULATOR_VENV", &venv);
    // End-to-end tests drive whole commands on a test thread; the commands box their large
    // futures, and the threads get room to spare besides.
    test.env("RUST_MIN_STACK", "8388608");
    // A failure ends with its panic message, where a log's tail shows it, not with a stack of
    // tokio frames: an async test's backtrace names the test and the runtime, and the message
    // already says the file and line. (`cargo nextest run` by hand keeps the caller's setting.)
    test.env("RUST_BACKTRACE", "0");
    // The tests run against the local AWS only; an operator's AWS settings must not leak in.
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        test.env_remove(var);
    }
    // nextest does not run doctests: the compile-fail proofs of the secret type live there.
    // Every build here selects the whole workspace, so cargo unifies the dependencies' features
    // the same way each time and builds each dependency once: `-p layer-core` (or `-p data-s3`
    // below) resolved fewer features and rebuilt the AWS SDK for itself.
    if build_only {
        // Doctests are compiled on every run; cargo keeps nothing of them to warm.
        step(
            "cargo nextest run --no-run",
            test.args(["nextest", "run", "--workspace", "--no-run"]),
        )?;
        return timed(EXAMPLE_BUILD, || example_binary(root)).map(|_| ());
    }
    let mut doc = cargo();
    step(
        "cargo test --doc",
        doc.args(["test", "--doc", "--workspace", "--quiet"]),
    )?;
    if has_nextest(root) {
        step(
            "cargo nextest run",
            // A failure's output again at the end, beside the summary, where a log's tail shows it.
            test.args([
                "nextest",
                "run",
                "--workspace",
                "--no-fail-fast",
                "--failure-output",
                "immediate-final",
            ]),
        )?;
    } else {
        step(
            "cargo test",
            test.args(["test", "--workspace", "--no-fail-fast"]),
        )?;
    }
    // The library as another tool uses it: the example plans a bucket against its own local AWS
    // and fails unless the plan is the one expected, made with no write. Built as the tests built
    // it (the whole workspace selected), then run.
    let example = timed(EXAMPLE_BUILD, || example_binary(root))?;
    step(
        "example: another tool imports data-s3 (examples/plan_bucket)",
        Command::new(&example)
            .current_dir(root)
            .env("DAL_EMULATOR_VENV", &venv)
            .env_remove("AWS_ENDPOINT_URL"),
    )?;
    Ok(())
}

const EXAMPLE_BUILD: &str = "cargo build --workspace --example plan_bucket";

/// The `plan_bucket` example, built with the workspace's features; its path, as cargo gives it.
fn example_binary(root: &Path) -> anyhow::Result<std::path::PathBuf> {
    let out = cargo(root)
        .args([
            "build",
            "--workspace",
            "--example",
            "plan_bucket",
            "--quiet",
            "--message-format",
            "json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("building the example")?;
    if !out.status.success() {
        bail!("building the example failed ({})", out.status);
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "plan_bucket")
        .filter(|m| m["target"]["kind"][0] == "example")
        .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .context("cargo built no plan_bucket executable")
}

fn local_aws_venv(venv: &Path) -> anyhow::Result<()> {
    local_aws::ensure_emulator_venv(venv).map(|_| ())
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
