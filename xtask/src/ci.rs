//! `cargo xtask ci`: what CI runs, so that a green run here means a green CI: format check,
//! clippy with warnings denied, the docs, the emulator's venv, every test, and the example of
//! another tool importing a family crate.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cargo::cargo;
use crate::ci_driver::Driver;

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

fn has_nextest(root: &Path) -> bool {
    cargo(root)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run the checks and tests. With `build_only`, build what they build (with the same flags, so
/// the next run finds it built) and run nothing: how `bench/build.sh` warms a target directory.
pub(crate) fn run(root: &Path, build_only: bool) -> anyhow::Result<()> {
    step(
        "cargo fmt --check",
        cargo(root).args(["fmt", "--all", "--check"]),
    )?;
    let workspace = Workspace::read(root)?;
    let driver = Driver::install(root, &workspace.target_dir)?;
    // Every build below compiles the workspace's crates through the driver (clippy, and the docs
    // of each library and binary), so they share one set of artifacts; the dependencies are
    // the ones `cargo xtask deploy` built.
    let cargo = || {
        let mut c = cargo(root);
        driver.wrap(&mut c);
        c
    };
    let venv = root.join(".local").join("venv");
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
    // Every build here selects the whole workspace, so cargo unifies the dependencies' features
    // the same way each time and builds each dependency once: `-p layer-core` (or `-p data-s3`
    // below) resolved fewer features and rebuilt the AWS SDK for itself.
    let nextest = has_nextest(root);
    let mut build = cargo();
    step(
        "clippy, docs and the test build",
        match nextest {
            true => build.args(["nextest", "run", "--workspace", "--no-run"]),
            false => build.args(["test", "--workspace", "--no-run"]),
        },
    )?;
    let undocumented = driver.undocumented(&workspace.libraries);
    if !undocumented.is_empty() {
        bail!(
            "the docs of {} were not checked: the docs are checked beside a library's test compile, and none ran (`test = false`?)",
            undocumented.join(", ")
        );
    }
    timed("emulator venv", || local_aws_venv(&venv))?;
    if build_only {
        // Doctests are compiled on every run; cargo keeps nothing of them to warm.
        return timed(EXAMPLE_BUILD, || example_binary(root, &driver)).map(|_| ());
    }
    // nextest does not run doctests: the compile-fail proofs of the secret type live there.
    step(
        "cargo test --doc",
        cargo().args(["test", "--doc", "--workspace", "--quiet"]),
    )?;
    if nextest {
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
    let example = timed(EXAMPLE_BUILD, || example_binary(root, &driver))?;
    step(
        "example: another tool imports data-s3 (examples/plan_bucket)",
        Command::new(&example)
            .current_dir(root)
            .env("DAL_EMULATOR_VENV", &venv)
            .env_remove("AWS_ENDPOINT_URL"),
    )?;
    Ok(())
}

/// What `ci` needs to know of the workspace: where cargo builds, and the libraries whose docs it
/// checks (crate names).
struct Workspace {
    target_dir: PathBuf,
    libraries: Vec<String>,
}

impl Workspace {
    fn read(root: &Path) -> anyhow::Result<Self> {
        let out = cargo(root)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed ({})", out.status);
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("reading cargo metadata's answer")?;
        let target_dir = meta["target_directory"]
            .as_str()
            .context("cargo metadata gave no target directory")?;
        let libraries = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|p| p["targets"].as_array().into_iter().flatten())
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })
            .filter_map(|t| t["name"].as_str().map(|n| n.replace('-', "_")))
            .collect();
        Ok(Self {
            target_dir: PathBuf::from(target_dir),
            libraries,
        })
    }
}

const EXAMPLE_BUILD: &str = "cargo build --workspace --example plan_bucket";

/// The `plan_bucket` example, built with the workspace's features; its path, as cargo gives it.
fn example_binary(root: &Path, driver: &Driver) -> anyhow::Result<PathBuf> {
    crate::product::built(
        root,
        crate::product::Target::Example,
        "plan_bucket",
        Some(driver),
    )
}

fn local_aws_venv(venv: &Path) -> anyhow::Result<()> {
    local_aws::ensure_emulator_venv(venv).map(|_| ())
}
