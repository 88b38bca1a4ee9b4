//! Tidy: the invariants ARCHITECTURE.md states, checked on the source tree, each failure naming
//! the file and line (as rust-analyzer's `tidy` does). Run by `cargo xtask ci` with the tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The family crates: none may depend on another.
const FAMILIES: &[&str] = &[
    "data-s3",
    "data-aurora",
    "data-redis",
    "ai-bedrock",
    "secrets-seed",
    "monitoring",
];

fn root() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .parent()
    .expect("xtask sits in the workspace")
    .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The lines of product code in a file, without comments: everything but what a `#[cfg(test)]`
/// item holds (its test module, from its opening brace to the one that closes it), so product
/// code after a test module is read too.
fn product_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    // Inside a test item: the depth of its braces, once its first brace is seen.
    let mut skipping: Option<Option<i64>> = None;
    for (i, l) in text.lines().enumerate() {
        if skipping.is_none() && l.trim() == "#[cfg(test)]" {
            skipping = Some(None);
            continue;
        }
        if let Some(depth) = skipping {
            let opens = l.matches('{').count() as i64;
            let closes = l.matches('}').count() as i64;
            let now = depth.unwrap_or(0) + opens - closes;
            skipping = match depth {
                // Until its first brace: an attribute or the item's head (a one-line item ends
                // with `;`).
                None if opens == 0 => (!l.trim_end().ends_with(';')).then_some(None),
                _ if now <= 0 => None,
                _ => Some(Some(now)),
            };
            continue;
        }
        if !l.trim_start().starts_with("//") {
            out.push((i + 1, l));
        }
    }
    out.into_iter()
}

/// Every workspace member's manifest.
fn manifests() -> Vec<PathBuf> {
    let root = root();
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.path().join("Cargo.toml"))
        .filter(|p| p.exists())
        .collect();
    for m in ["bins", "tests", "xtask"] {
        out.push(root.join(m).join("Cargo.toml"));
    }
    out.sort();
    out
}

fn report(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "tidy found {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn family_crates_never_depend_on_each_other() {
    let mut problems = Vec::new();
    for family in FAMILIES {
        let manifest = manifests()
            .into_iter()
            .find(|m| read(m).contains(&format!("name = \"{family}\"")))
            .unwrap_or_else(|| panic!("no manifest for {family}"));
        for (i, line) in read(&manifest).lines().enumerate() {
            let dep = line.split(['.', ' ', '=']).next().unwrap_or_default();
            if dep != *family && FAMILIES.contains(&dep) {
                problems.push(format!(
                    "{}:{}: the family crate {family} depends on the family crate {dep}; hand values over as outputs instead",
                    rel(&manifest),
                    i + 1
                ));
            }
        }
    }
    report(problems);
}

#[test]
fn libraries_return_or_log_and_never_print() {
    let mut problems = Vec::new();
    for file in rust_files(&root().join("crates")) {
        let r = rel(&file);
        // The operator's commands print; the local AWS daemon tells where it listens; examples
        // are programs.
        if r.starts_with("crates/layer/src/cli.rs")
            || r.starts_with("crates/local-aws/src/daemon.rs")
            || r.contains("/examples/")
        {
            continue;
        }
        let text = read(&file);
        for (n, line) in product_lines(&text) {
            if ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("]
                .iter()
                .any(|m| line.contains(m))
            {
                problems.push(format!(
                    "{r}:{n}: a library prints; return the value or an error, or log with tracing"
                ));
            }
        }
    }
    report(problems);
}

#[test]
fn sdk_errors_are_never_debug_formatted() {
    let mut problems = Vec::new();
    for file in rust_files(&root().join("crates")) {
        let r = rel(&file);
        let text = read(&file);
        for (n, line) in product_lines(&text) {
            let debug_of_error = ["{e:?}", "{err:?}", "{error:?}", "{e:#?}", "{err:#?}"]
                .iter()
                .any(|p| line.contains(p))
                || (line.contains("{:?}")
                    && [", e)", ", err)", ", &e)", ", &err)", ", e.", ", err."]
                        .iter()
                        .any(|p| line.contains(p)));
            if debug_of_error {
                problems.push(format!(
                    "{r}:{n}: an error is formatted with {{:?}}, which can print a raw response; use its code and message (Error::aws) or Display"
                ));
            }
        }
    }
    report(problems);
}

#[test]
fn product_code_never_names_the_emulator() {
    let mut problems = Vec::new();
    let root = root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("bins").join("src")));
    files.extend(rust_files(&root.join("xtask").join("src")));
    for file in files {
        let r = rel(&file);
        if r.starts_with("crates/local-aws/") || r == "xtask/src/tidy.rs" {
            continue;
        }
        let text = read(&file);
        for (n, line) in product_lines(&text) {
            let lower = line.to_ascii_lowercase();
            if lower.contains("moto") || lower.contains("localstack") {
                problems.push(format!(
                    "{r}:{n}: product code names the emulator; emulator specifics belong in crates/local-aws (the gateway corrects its deviations)"
                ));
            }
        }
    }
    report(problems);
}

/// What a package links: its normal and build dependencies, one per line, as `cargo tree` names
/// them.
fn linked(package: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["tree", "--offline", "-p", package, "-e", "normal,build"])
        .args(["--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `aws-sdk-ec2` is built by nothing in the workspace, the tests included (README: a quarter of
/// a fresh build's compile; `ec2-query` makes the EC2 calls).
#[test]
fn no_package_builds_the_ec2_sdk() {
    let lock = read(&root().join("Cargo.lock"));
    assert!(
        !lock.contains("name = \"aws-sdk-ec2\""),
        "Cargo.lock holds aws-sdk-ec2: make the EC2 call through crates/ec2-query"
    );
}

#[test]
fn the_installable_binary_links_no_emulator() {
    // What `cargo install` builds into `data-and-ai`: its normal and build dependencies.
    let tree = linked("bins");
    assert!(
        tree.contains("layer v"),
        "the tree names the layer:\n{tree}"
    );
    let problems = tree
        .lines()
        .filter(|l| l.starts_with("local-aws ") || l.starts_with("dal-tests "))
        .map(|l| format!("bins: the installable binary depends on `{l}`; the local AWS belongs to xtask and the tests"))
        .collect();
    report(problems);
}

#[test]
fn dependency_versions_are_set_in_the_workspace_only() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        let mut section = String::new();
        for (i, line) in read(&manifest).lines().enumerate() {
            let t = line.trim();
            if t.starts_with('[') {
                section = t.to_string();
                continue;
            }
            if !section.contains("dependencies") || t.is_empty() || t.starts_with('#') {
                continue;
            }
            let inherited = t.contains(".workspace = true") || t.contains("workspace = true");
            if !inherited {
                problems.push(format!(
                    "{}:{}: `{t}` sets a dependency here; declare it under [workspace.dependencies] and use `.workspace = true`",
                    rel(&manifest),
                    i + 1
                ));
            }
        }
    }
    report(problems);
}

/// The dependencies are built at opt-level 1 (the suite's Rust side runs at half the CPU), but
/// at 0: every AWS SDK crate in the lock file (the slowest crates to compile), and every proc
/// macro with syn, quote and proc-macro2 (they run only inside the compiler). A new one would
/// otherwise slow every cold build.
#[test]
fn dependencies_are_optimised_but_the_sdk_crates_and_the_proc_macros() {
    let lock = read(&root().join("Cargo.lock"));
    let manifest: toml::Value = read(&root().join("Cargo.toml"))
        .parse()
        .expect("Cargo.toml is TOML");
    let packages = &manifest["profile"]["dev"]["package"];
    let level = |name: &str| {
        packages
            .get(name)
            .and_then(|p| p.get("opt-level"))
            .and_then(toml::Value::as_integer)
    };
    let sdk = lock
        .lines()
        .filter_map(|l| l.strip_prefix("name = \"aws-sdk-"))
        .filter_map(|l| l.strip_suffix('"'))
        .map(|service| format!("aws-sdk-{service}"));
    // The proc macros the workspace builds (cargo tree marks them), for this platform.
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--workspace",
            "-e",
            "normal,build,dev",
            "--prefix",
            "none",
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {out:?}");
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let macros = tree
        .lines()
        .filter(|l| l.contains("(proc-macro)") && !l.contains(&*root().to_string_lossy()))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string);
    let compiler_side = ["syn", "quote", "proc-macro2"].map(str::to_string);
    let mut problems: Vec<String> = sdk
        .chain(macros)
        .chain(compiler_side)
        .filter(|name| level(name) != Some(0))
        .map(|name| format!("Cargo.toml: {name} is not at `opt-level = 0` under `[profile.dev.package]`; add `{name}.opt-level = 0` beside the others"))
        .collect();
    problems.sort();
    problems.dedup();
    if level("*") != Some(1)
        || packages["*"].get("debug").and_then(toml::Value::as_bool) != Some(false)
    {
        problems.push(
            "Cargo.toml: `[profile.dev.package.\"*\"]` no longer sets `opt-level = 1` and `debug = false`; the suite's Rust side runs at twice the CPU without it".into(),
        );
    }
    report(problems);
}

/// `cargo xtask ci` selects the whole workspace for every build: cargo resolves features over
/// the packages selected, so a `-p` step would build a second variant of the SDK for itself.
#[test]
fn ci_never_builds_a_package_alone() {
    let mut problems: Vec<String> = Vec::new();
    for file in ["xtask/src/ci.rs", "xtask/src/product.rs"] {
        problems.extend(read(&root().join(file))
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("\"-p\"") || l.contains("\"--package\""))
            .map(|(i, _)| format!("{file}:{}: selects one package; select the whole workspace (`--workspace`) so the dependencies keep one feature set", i + 1)));
    }
    report(problems);
}

/// Two stacks a default feature would bring back: the SDK's legacy HTTP client (hyper 0.14,
/// rustls 0.21), and AWS-LC, whose C build was 44 s of a fresh build.
#[test]
fn the_sdk_s_legacy_http_stack_and_aws_lc_stay_out_of_the_lock_file() {
    let lock = root().join("Cargo.lock");
    let text = read(&lock);
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = line
            .strip_prefix("name = \"")
            .and_then(|l| l.strip_suffix('"'))
        else {
            continue;
        };
        let version = lines
            .get(i + 1)
            .and_then(|l| l.strip_prefix("version = \""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap_or_default();
        let legacy = match name {
            "hyper" => version.starts_with("0."),
            "http" | "http-body" => version.starts_with("0."),
            "rustls" => version.starts_with("0.21") || version.starts_with("0.20"),
            "hyper-rustls" => version.starts_with("0.24") || version.starts_with("0.23"),
            _ => false,
        };
        let why = match name {
            _ if legacy => "is the SDK's legacy HTTP stack; keep the SDK crates and aws-config on default-features = false",
            "aws-lc-rs" | "aws-lc-sys" => "is AWS-LC, a C build beside ring: keep default-https-client off the SDK crates, aws-config and aws-smithy-runtime (every configuration gets layer_core::aws::https_client), and ring on rustls and rcgen",
            _ => continue,
        };
        problems.push(format!("Cargo.lock:{}: {name} {version} {why}", i + 1));
    }
    report(problems);
}

/// xtask links neither `layer` nor a family crate, so an edit to a family never rebuilds it
/// (README, "What keeps the build short").
#[test]
fn the_tasks_link_no_layer_or_family_crate() {
    let tree = linked("xtask");
    assert!(
        tree.contains("local-aws v"),
        "the tree names local-aws:\n{tree}"
    );
    let layer_crates = [
        "layer ",
        "data-s3 ",
        "data-aurora ",
        "data-redis ",
        "ai-bedrock ",
        "secrets-seed ",
        "monitoring ",
        "shared-resources ",
    ];
    let problems = tree
        .lines()
        .filter(|l| layer_crates.iter().any(|c| l.starts_with(c)))
        .map(|l| {
            format!(
                "xtask depends on `{l}`; run the installable binary instead (xtask/src/product.rs)"
            )
        })
        .collect();
    report(problems);
}

/// The features each package is built with, for a `cargo tree` selection.
fn features(args: &[&str]) -> std::collections::BTreeMap<String, String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["tree", "--quiet", "--prefix", "none", "-f", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (p, f) = l.split_once('|')?;
            let p = p.trim_end_matches(" (*)").trim_end_matches(" (proc-macro)");
            Some((p.to_string(), f.trim_end_matches(" (*)").to_string()))
        })
        .collect()
}

/// The crates `cargo xtask deploy` builds (the tasks and the installable binary, in one run with
/// the workspace selected: xtask/launcher) are built with the same features for the tests, so the
/// test build reuses them instead of compiling the SDK again.
#[test]
fn one_feature_set_for_the_operator_s_build_and_the_tests() {
    let deploy = features(&["--workspace", "-e", "normal,build"]);
    let tests = features(&["--workspace", "-e", "normal,build,dev"]);
    let problems: Vec<String> = deploy
        .iter()
        .filter_map(|(p, f)| {
            let t = tests.get(p)?;
            (t != f).then(|| {
                format!("{p}: built with [{f}] for deploy and [{t}] for the tests; align the features in [workspace.dependencies]")
            })
        })
        .collect();
    report(problems);
}

/// `cargo xtask` runs the launcher, which builds the tasks and the binary with the workspace
/// selected: the alias must name it, and it must build both in one run.
#[test]
fn cargo_xtask_builds_the_tasks_and_the_binary_in_one_run() {
    let config = read(&root().join(".cargo/config.toml"));
    let launcher = read(&root().join("xtask/launcher/src/main.rs"));
    let mut problems = Vec::new();
    if !config.contains("xtask = \"run --quiet --package xtask-launcher --\"") {
        problems.push(
            ".cargo/config.toml: the `xtask` alias must run the launcher (xtask/launcher)"
                .to_string(),
        );
    }
    for needed in ["\"--workspace\"", "\"xtask\"", "\"data-and-ai\""] {
        if !launcher.contains(needed) {
            problems.push(format!(
                "xtask/launcher/src/main.rs: the build must name {needed}"
            ));
        }
    }
    report(problems);
}

/// Snake case to AWS's operation name: `create_db_cluster` -> `CreateDbCluster`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// An action or operation name compared loosely: `rds:DescribeDBClusters` and
/// `describe_db_clusters` are both `describedbclusters`.
fn loose(name: &str) -> String {
    name.rsplit(':')
        .next()
        .unwrap_or(name)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The text of every function of `text` whose name ends in `access` (where declarations live).
fn access_functions(text: &str) -> String {
    let mut out = String::new();
    let mut depth: Option<i32> = None;
    for line in text.lines() {
        let t = line.trim_start();
        if depth.is_none()
            && t.contains("fn ")
            && t.split("fn ")
                .nth(1)
                .and_then(|r| r.split(['(', '<']).next())
                .is_some_and(|name| name.ends_with("access"))
        {
            depth = Some(0);
        }
        if let Some(d) = depth.as_mut() {
            out.push_str(line);
            out.push('\n');
            *d += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if *d <= 0 && line.contains('}') {
                depth = None;
            }
        }
    }
    out
}

/// The SDK operations called on a line: each `.verb_noun()`, by name and where it ends.
fn sdk_calls(line: &str) -> Vec<(&str, usize)> {
    const VERBS: &[&str] = &[
        "create_",
        "delete_",
        "describe_",
        "modify_",
        "list_",
        "get_",
        "put_",
        "add_",
        "remove_",
        "tag_",
        "untag_",
        "authorize_",
        "revoke_",
        "update_",
        "associate_",
        "disassociate_",
        "failover_",
        "increase_",
        "decrease_",
        "reset_",
        "restore_",
        "head_",
        "rotate_",
        "attach_",
        "detach_",
        "assume_",
        "reboot_",
        "start_",
        "stop_",
        "enable_",
        "disable_",
        "cancel_",
        "copy_",
        "batch_",
        "abort_",
        "complete_",
        "upload_",
        "generate_",
        "encrypt_",
        "decrypt_",
        "promote_",
        "test_",
    ];
    let mut out = Vec::new();
    let mut rest = line;
    let mut offset = 0;
    while let Some(i) = rest.find("()") {
        let before = &rest[..i];
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .map_or(0, |k| k + 1);
        let name = &before[name_start..];
        if before[..name_start].ends_with('.') && VERBS.iter().any(|v| name.starts_with(v)) {
            out.push((name, offset + i + 2));
        }
        offset += i + 2;
        rest = &rest[i + 2..];
    }
    out
}

/// The calls `layer_core::arn_tags!` makes in the crate that invokes it.
const ARN_TAG_CALLS: &[&str] = &[
    "list_tags_for_resource",
    "add_tags_to_resource",
    "remove_tags_from_resource",
];

#[test]
fn every_aws_call_is_declared_in_its_crate() {
    // Needs no permission.
    const FREE: &[&str] = &["get_caller_identity"];
    let mut problems = Vec::new();
    let mut seen = 0;
    for dir in std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
    {
        let name = dir.file_name().to_string_lossy().to_string();
        if name == "local-aws" {
            continue;
        }
        let files = rust_files(&dir.path().join("src"));
        let texts: Vec<(PathBuf, String)> = files.iter().map(|f| (f.clone(), read(f))).collect();
        // Every `"service:Action"` literal of the crate's access functions.
        let declared: std::collections::BTreeSet<String> = texts
            .iter()
            .flat_map(|(_, t)| {
                access_functions(t)
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|lit| {
                lit.split_once(':').is_some_and(|(svc, act)| {
                    !svc.is_empty()
                        && svc
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && act.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && act.chars().all(|c| c.is_ascii_alphanumeric())
                })
            })
            .map(|lit| loose(&lit))
            .collect();
        for (file, text) in &texts {
            // The kit's macro makes its calls where a family invokes it (checked there).
            if rel(file) == "crates/core/src/kit.rs" {
                continue;
            }
            if text.contains("arn_tags!(") {
                for op in ARN_TAG_CALLS {
                    seen += 1;
                    let action = pascal(op);
                    if !declared.contains(&loose(&action)) {
                        problems.push(format!(
                            "{}: `arn_tags!` calls {action}, but no access() in crates/{name} declares it",
                            rel(file)
                        ));
                    }
                }
            }
            let lines: Vec<(usize, &str)> = product_lines(text).collect();
            for (i, (n, line)) in lines.iter().enumerate() {
                for (op, end) in sdk_calls(line) {
                    if FREE.contains(&op) {
                        continue;
                    }
                    // An SDK call's statement goes on to `.send()`, on its line or the next ones.
                    let sends = line[end..].contains(".send()")
                        || (!line.trim_end().ends_with(';')
                            && lines[i + 1..]
                                .iter()
                                .take(40)
                                .take_while(|(_, l)| {
                                    !l.trim_end().ends_with(';') || l.contains(".send()")
                                })
                                .any(|(_, l)| l.contains(".send()")));
                    if !sends {
                        continue;
                    }
                    seen += 1;
                    let action = local_aws::iam::bucket_policies::action_of(&pascal(op), false);
                    if !declared.contains(&loose(&action)) {
                        problems.push(format!(
                            "{}:{n}: `{op}` calls AWS, but no access() in crates/{name} declares its action ({action}): add it to the `access()` of the code that makes the call",
                            rel(file)
                        ));
                    }
                }
            }
        }
    }
    assert!(
        seen > 120,
        "the check found only {seen} calls: its pattern is out of date"
    );
    report(problems);
}

/// Every place product code takes a secret value out of its type, per file, with why. A new
/// `expose_secret` fails tidy until it is added here with its reason, and one removed must be
/// taken out (the counts are exact).
const EXPOSE_SECRET: &[(&str, usize, &str)] = &[
    (
        "crates/data-aurora/src/postgres.rs",
        1,
        "the password handed to the PostgreSQL connection's configuration",
    ),
    (
        "crates/secrets-seed/src/values.rs",
        4,
        "the master secret's JSON parsed; the password measured, then percent-encoded into an exact zeroizing buffer; the LiteLLM key JSON-escaped into one",
    ),
    (
        "crates/secrets-seed/src/store.rs",
        1,
        "the value handed to PutSecretValue",
    ),
    (
        "crates/layer/src/verify.rs",
        5,
        "the S3 key id looked up in IAM, the CA bundle handed to the TLS client, and the leak check comparing values with what verify prints",
    ),
    (
        "crates/data-aurora/src/verify.rs",
        1,
        "the connection string parsed in place for its target and password",
    ),
];

#[test]
fn every_expose_secret_is_allowed_with_its_reason() {
    let mut problems = Vec::new();
    let mut found: Vec<(String, usize)> = Vec::new();
    for file in rust_files(&root().join("crates")) {
        let r = rel(&file);
        // The type itself, whose one door this is.
        if r == "crates/core/src/secret.rs" {
            continue;
        }
        let text = read(&file);
        let n: usize = product_lines(&text)
            .map(|(_, l)| l.matches("expose_secret(").count())
            .sum();
        if n > 0 {
            found.push((r, n));
        }
    }
    for (file, n) in &found {
        match EXPOSE_SECRET.iter().find(|(f, _, _)| f == file) {
            Some((_, allowed, _)) if allowed == n => {}
            Some((_, allowed, _)) => problems.push(format!(
                "{file}: {n} expose_secret call(s) where {allowed} are allowed; update EXPOSE_SECRET in xtask/src/tidy.rs with the reason"
            )),
            None => problems.push(format!(
                "{file}: {n} expose_secret call(s) not allowed; add the file to EXPOSE_SECRET in xtask/src/tidy.rs with the reason, or keep the value in its type"
            )),
        }
    }
    for (file, _, _) in EXPOSE_SECRET {
        if !found.iter().any(|(f, _)| f == file) {
            problems.push(format!(
                "{file}: allowed in EXPOSE_SECRET but has no expose_secret call any more; remove it"
            ));
        }
    }
    report(problems);
}

#[test]
fn the_readme_s_bench_table_is_the_bench_s_own_output() {
    let readme = read(&root().join("README.md"));
    let block = crate::bench::block_of(&readme, crate::bench::BENCH_BLOCK)
        .expect("README.md holds the block <!-- bench/latest.md -->");
    let latest = read(&root().join("bench/latest.md"));
    assert_eq!(
        block.trim(),
        latest.trim(),
        "README.md's bench table is not bench/latest.md; run `cargo xtask bench`, which writes both"
    );
}

#[test]
fn the_readme_s_build_table_is_build_sh_s_own_output() {
    let readme = read(&root().join("README.md"));
    let block = crate::bench::block_of(&readme, "bench/build-latest.md")
        .expect("README.md holds the block <!-- bench/build-latest.md -->");
    let latest = read(&root().join("bench/build-latest.md"));
    assert_eq!(
        block.trim(),
        latest.trim(),
        "README.md's build table is not bench/build-latest.md; run bench/build.sh (or bench/build-table.sh on its summary), which writes both"
    );
    assert!(
        latest.contains(", commit "),
        "the table names the commit it measured"
    );
}

/// A crate's top-level modules (`src/<m>.rs` or `src/<m>/…`), each with the modules its product
/// code names through `crate::` (or `super::` from a top-level file), an item re-exported at the
/// crate root counted as its module's.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(src);
    let top = |f: &Path| -> Option<String> {
        let first = f.strip_prefix(src).ok()?.components().next()?;
        let name = first
            .as_os_str()
            .to_str()?
            .trim_end_matches(".rs")
            .to_string();
        (name != "lib" && name != "main").then_some(name)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top(f)).collect();
    // `pub use m::{A, B};` at the root: `crate::A` is `m`'s.
    let mut owner: BTreeMap<String, String> =
        modules.iter().map(|m| (m.clone(), m.clone())).collect();
    for root in ["lib.rs", "main.rs"] {
        let Ok(text) = std::fs::read_to_string(src.join(root)) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, items)) = rest.split_once("::") else {
                continue;
            };
            for item in items.trim_matches(|c| "{};".contains(c)).split(',') {
                let item = item.trim().rsplit("::").next().unwrap_or_default();
                owner.insert(item.to_string(), module.to_string());
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let Some(from) = top(file) else { continue };
        let text = read(file);
        let code: String = product_lines(&text)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let nested = file.parent() != Some(src);
        let prefixes: &[&str] = if nested {
            &["crate::"]
        } else {
            &["crate::", "super::"]
        };
        let edges = graph.entry(from.clone()).or_default();
        for prefix in prefixes {
            for (at, _) in code.match_indices(prefix) {
                let before = code[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '$' {
                    continue;
                }
                for name in named_after(&code[at + prefix.len()..]) {
                    if let Some(m) = owner.get(&name).filter(|m| **m != from) {
                        edges.insert(m.clone());
                    }
                }
            }
        }
    }
    graph
}

/// The first path segment of each item `crate::` names at the start of `rest`: `a::b` or
/// `{a::x, b, c::{…}}`.
fn named_after(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                out.push(ident(&group[start..i]));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(ident(&group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out
}

/// The modules `from` reaches in `graph`.
fn reach(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for next in graph.get(&m).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn no_crate_s_modules_import_one_another_in_a_circle() {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/")
        .flatten()
        .map(|e| e.path().join("src"))
        .collect();
    dirs.push(root().join("xtask/src"));
    dirs.sort();
    let mut problems = Vec::new();
    for src in dirs {
        let graph = module_graph(&src);
        let mut reported = BTreeSet::new();
        for m in graph.keys() {
            let reached = reach(&graph, m);
            if !reached.contains(m) || reported.contains(m) {
                continue;
            }
            let circle: BTreeSet<String> = reached
                .into_iter()
                .filter(|other| reach(&graph, other).contains(m))
                .collect();
            let edges: Vec<String> = circle
                .iter()
                .flat_map(|a| {
                    let to = graph[a].intersection(&circle).cloned().collect::<Vec<_>>();
                    to.into_iter().map(move |b| format!("{a} → {b}"))
                })
                .collect();
            problems.push(format!(
                "{}: modules import one another in a circle: {}; move what they share into a module of its own",
                rel(&src),
                edges.join(", ")
            ));
            reported.extend(circle);
        }
    }
    report(problems);
}

/// The longest a product function may be, in lines (a screen).
const FUNCTION_LINES: usize = 150;

/// The functions allowed to be longer, each with why; at most five, none in the gateway or the
/// command line.
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "crates/secrets-seed/src/seed.rs",
        "seed",
        "the seed step's phases share its buffers of values, which never leave it",
    ),
    (
        "crates/layer/src/discover.rs",
        "discover",
        "one table of the infrastructure inputs read by tags, row by row",
    ),
    (
        "xtask/src/bench.rs",
        "run",
        "the benchmark scenarios in the order the README's table shows them",
    ),
];

/// The name of the function a line declares, if it declares one.
fn declared_fn(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

/// A line with its string and character literals blanked, for counting braces.
fn code_only(line: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            '/' if !in_string && chars.peek() == Some(&'/') => break,
            '\'' if !in_string => {
                // A char literal (`'{'`), not a lifetime: skip to its closing quote.
                let ahead: String = chars.clone().take(3).collect();
                if ahead.chars().nth(1) == Some('\'') || ahead.starts_with('\\') {
                    for n in chars.by_ref() {
                        if n == '\'' {
                            break;
                        }
                    }
                }
            }
            _ if in_string => {}
            _ => out.push(c),
        }
    }
    out
}

/// Each product function of `text`: its name, first line and length in lines.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let product: BTreeSet<usize> = product_lines(text).map(|(n, _)| n).collect();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = declared_fn(line).filter(|_| product.contains(&(i + 1))) else {
            continue;
        };
        let (mut depth, mut opened) = (0i64, false);
        for (j, l) in lines.iter().enumerate().skip(i) {
            let code = code_only(l);
            if !opened && code.trim_end().ends_with(';') && !code.contains('{') {
                break;
            }
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            opened |= code.contains('{');
            if opened && depth <= 0 {
                out.push((name.to_string(), i + 1, j - i + 1));
                break;
            }
        }
    }
    out
}

#[test]
fn no_product_function_is_longer_than_a_screen() {
    assert!(
        LONG_FUNCTIONS.len() <= 5,
        "the allowlist holds at most five"
    );
    let root = root();
    let mut files = rust_files(&root.join("crates"));
    files.extend(rust_files(&root.join("bins").join("src")));
    files.extend(rust_files(&root.join("xtask").join("src")));
    let mut problems = Vec::new();
    let mut allowed_seen = BTreeSet::new();
    for file in files {
        let r = rel(&file);
        if r.contains("/tests/") || r.contains("/examples/") {
            continue;
        }
        for (name, line, length) in functions(&read(&file)) {
            if length <= FUNCTION_LINES {
                continue;
            }
            if LONG_FUNCTIONS.iter().any(|(f, n, _)| *f == r && *n == name) {
                allowed_seen.insert((r.clone(), name));
                continue;
            }
            problems.push(format!(
                "{r}:{line}: `{name}` is {length} lines, over {FUNCTION_LINES}; split it into steps (or name it in LONG_FUNCTIONS with why)"
            ));
        }
    }
    for (f, n, _) in LONG_FUNCTIONS {
        assert!(
            !f.contains("gateway") && !f.contains("/cli"),
            "{f}: the gateway and the command line have no long function"
        );
        if !allowed_seen.contains(&(f.to_string(), n.to_string())) {
            problems.push(format!(
                "{f}: `{n}` is allowed to be long but is not (any more): remove it from LONG_FUNCTIONS"
            ));
        }
    }
    report(problems);
}

#[test]
fn function_lengths_are_counted_by_their_braces() {
    let text = "fn a() {\n    let s = \"}}\";\n    let c = '{';\n}\n\npub(crate) async fn b(x: u8)\n    -> u8\n{\n    x\n}\n#[cfg(test)]\nmod tests {\n    fn hidden() {}\n}\n";
    assert_eq!(
        functions(text),
        [("a".to_string(), 1, 4), ("b".to_string(), 6, 5)]
    );
}
