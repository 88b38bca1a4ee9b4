//! `cargo xtask ci`: what CI runs, so that a green run here means a green CI: format check,
//! clippy with warnings denied, the docs, the emulator's venv, every test, and the example of
//! another tool importing a family crate.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

fn step(name: &str, cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("==> {name}");
    let status = cmd.status().with_context(|| format!("running {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run the checks and tests.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let cargo = || {
        let mut c = Command::new("cargo");
        c.current_dir(root);
        c
    };
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
    eprintln!("==> emulator venv");
    local_aws_venv(&venv)?;
    let mut test = cargo();
    test.env("DAL_EMULATOR_VENV", &venv);
    // End-to-end tests drive whole commands on a test thread; the commands box their large
    // futures, and the threads get room to spare besides.
    test.env("RUST_MIN_STACK", "8388608");
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
    let mut doc = cargo();
    step(
        "cargo test --doc (layer-core)",
        doc.args(["test", "--doc", "--quiet", "-p", "layer-core"]),
    )?;
    if has_nextest() {
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
    // and fails unless the plan is the one expected, made with no write.
    let mut example = cargo();
    example
        .env("DAL_EMULATOR_VENV", &venv)
        .env_remove("AWS_ENDPOINT_URL");
    step(
        "example: another tool imports data-s3 (cargo run --example plan_bucket)",
        example.args([
            "run",
            "--quiet",
            "-p",
            "data-s3",
            "--example",
            "plan_bucket",
        ]),
    )?;
    Ok(())
}

fn local_aws_venv(venv: &Path) -> anyhow::Result<()> {
    local_aws::ensure_emulator_venv(venv).map(|_| ())
}
