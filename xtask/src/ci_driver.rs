//! `cargo xtask ci`'s compiler for the workspace's own crates: the tests and the examples compile
//! through clippy (`clippy-driver`, warnings denied), and `rustdoc` checks the docs of each library
//! and binary beside its test compile. One build then serves clippy, the docs and the tests; the
//! libraries and binaries compile through rustc alone, so those `cargo xtask deploy` built are
//! reused: `cargo clippy` and `cargo doc` checked every dependency again in check mode (three
//! minutes of a fresh `ci` on two cores), and the test build compiled each crate a second time.
//!
//! A unit's test compile covers its library or binary code too (the workspace has no
//! `cfg(not(test))`). cargo runs `xtask/rustc-wrapper.sh` for every workspace crate
//! (`.cargo/config.toml`), which hands over to this driver when `ci` set `DAL_CI_DRIVER`:
//! `<driver> <rustc> <rustc's arguments>`. The driver is a copy of xtask under [`DRIVER_NAME`];
//! the name selects this mode in `main`.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

/// The file name of the driver (a copy of xtask): run under this name, xtask is the driver.
pub(crate) const DRIVER_NAME: &str = "dal-ci-driver";

/// The driver's path, for `xtask/rustc-wrapper.sh`.
const DRIVER: &str = "DAL_CI_DRIVER";
/// Where the driver finds `clippy-driver`, `rustdoc`, and the folder for the docs it checks.
const CLIPPY_DRIVER: &str = "DAL_CI_CLIPPY_DRIVER";
const RUSTDOC: &str = "DAL_CI_RUSTDOC";
const DOC_DIR: &str = "DAL_CI_DOC_DIR";

/// The driver, installed for the workspace at `root`: its path, and where the docs go.
#[derive(Debug, Clone)]
pub(crate) struct Driver {
    path: PathBuf,
    doc_dir: PathBuf,
    tools: PathBuf,
}

impl Driver {
    /// Copy this program to `<root>/.local/ci-driver/` (when it changed): the build may replace
    /// xtask's own binary while the driver runs.
    pub(crate) fn install(root: &Path, target_dir: &Path) -> anyhow::Result<Self> {
        let dir = root.join(".local").join("ci-driver");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(DRIVER_NAME);
        let this = std::env::current_exe().context("finding xtask's own path")?;
        let new = std::fs::read(&this).with_context(|| format!("reading {}", this.display()))?;
        if std::fs::read(&path).ok().as_deref() != Some(&new[..]) {
            // Written aside, then renamed: a build that runs the old driver never sees half a file.
            let part = dir.join(format!("{DRIVER_NAME}.part"));
            std::fs::copy(&this, &part).with_context(|| format!("writing {}", part.display()))?;
            std::fs::rename(&part, &path).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(Self {
            path,
            doc_dir: target_dir.join("ci-doc"),
            tools: toolchain_bin(),
        })
    }

    /// Have `cargo` compile the workspace's crates through the driver. Every cargo command of
    /// `ci` gets the same environment, the tests' run included: cargo compares `CLIPPY_ARGS` with
    /// what each test compile recorded.
    pub(crate) fn wrap<'c>(&self, cargo: &'c mut Command) -> &'c mut Command {
        cargo
            .env(DRIVER, &self.path)
            // What `cargo clippy -- -D warnings` gives clippy-driver (clippy records the variable,
            // so a compile made without it is made again).
            .env(
                "CLIPPY_ARGS",
                "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
            )
            .env(CLIPPY_DRIVER, tool(&self.tools, "clippy-driver"))
            .env(RUSTDOC, tool(&self.tools, "rustdoc"))
            .env(DOC_DIR, &self.doc_dir)
    }

    /// Say which of `libraries` (crate names) have no checked docs: the docs are checked beside a
    /// library's test compile, so a library without one (`test = false`) would escape the check.
    pub(crate) fn undocumented<'a>(&self, libraries: &'a [String]) -> Vec<&'a str> {
        libraries
            .iter()
            .filter(|lib| !self.doc_dir.join(format!("{lib}-lib")).join(lib).is_dir())
            .map(String::as_str)
            .collect()
    }
}

/// The folder of the toolchain that runs xtask (`CARGO` is set by cargo), where `clippy-driver`
/// and `rustdoc` are siblings of `cargo`; empty when unknown (then the `PATH` decides).
fn toolchain_bin() -> PathBuf {
    std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|cargo| cargo.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

fn tool(bin: &Path, name: &str) -> PathBuf {
    let sibling = bin.join(name);
    if sibling.is_file() {
        sibling
    } else {
        PathBuf::from(name)
    }
}

/// The driver's `main`: `args` are `<rustc> <rustc's arguments>`. Returns the exit code.
pub(crate) fn run(args: Vec<OsString>) -> i32 {
    match drive(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {DRIVER_NAME}: {e:#}");
            1
        }
    }
}

fn drive(args: Vec<OsString>) -> anyhow::Result<i32> {
    let var = |name: &str| {
        std::env::var_os(name)
            .with_context(|| format!("{name} is not set; the driver runs under `cargo xtask ci`"))
    };
    let args = expand_argfiles(args)?;
    let (rustc, rest) = args.split_first().context("no compiler named")?;
    let unit = Unit::of(rest, |name| std::env::var_os(name).is_some());
    if unit == Unit::Plain {
        // rustc in this process's place, as outside `ci`.
        use std::os::unix::process::CommandExt as _;
        return Err(
            anyhow::Error::new(Command::new(rustc).args(rest).exec()).context("running rustc")
        );
    }
    let doc = match unit {
        Unit::Documented(kind) => match rustdoc_args(rest, kind) {
            Ok(doc) => Some(spawn_rustdoc(&doc, &var(RUSTDOC)?, &var(DOC_DIR)?)?),
            Err(unknown) => anyhow::bail!(
                "rustc argument `{unknown}` is unknown to the doc check; add it to ci_driver::FLAGS"
            ),
        },
        _ => None,
    };
    let compiled = Command::new(var(CLIPPY_DRIVER)?)
        .args(&args)
        .status()
        .context("running clippy-driver")?;
    let documented = match doc {
        Some(child) => {
            let out = child.wait_with_output().context("waiting for rustdoc")?;
            use std::io::Write as _;
            std::io::stderr().write_all(&out.stderr)?;
            out.status.success()
        }
        None => true,
    };
    Ok(match (compiled.success(), documented) {
        (false, _) => compiled.code().unwrap_or(1),
        (true, false) => 1,
        (true, true) => 0,
    })
}

/// rustdoc on `doc`, into its own folder under `dir`, warnings denied. It needs only the
/// dependencies' metadata, which the compile was given: both run at once, and the docs' messages
/// follow the compiler's.
fn spawn_rustdoc(doc: &Doc, rustdoc: &OsStr, dir: &OsStr) -> anyhow::Result<std::process::Child> {
    Command::new(rustdoc)
        .args(&doc.args)
        .arg("-o")
        .arg(Path::new(dir).join(doc.unit_dir()))
        .args(["-D", "warnings"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running rustdoc")
}

/// What the driver does with one compilation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A library or binary (or cargo's query): rustc alone, as outside `ci`.
    Plain,
    /// An integration test or an example: clippy.
    Linted,
    /// A library's or binary's tests: clippy, and rustdoc on the library or binary.
    Documented(Kind),
}

/// What a documented unit documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lib,
    Bin,
}

impl Unit {
    /// The unit `args` compile (rustc's arguments, without the program); `set` says whether
    /// cargo set a variable: `CARGO_TARGET_TMPDIR` for an integration test (or bench),
    /// `CARGO_BIN_NAME` for a binary's.
    fn of(args: &[OsString], set: impl Fn(&str) -> bool) -> Self {
        // The source file, which cargo names relative to the workspace: under `examples/`.
        let example = args.iter().any(|a| {
            let path = Path::new(a);
            path.extension() == Some(OsStr::new("rs"))
                && path
                    .components()
                    .any(|c| c.as_os_str() == OsStr::new("examples"))
        });
        match (args.iter().any(|a| a == "--test"), example) {
            (true, _) if set("CARGO_TARGET_TMPDIR") => Self::Linted,
            (true, _) if set("CARGO_BIN_NAME") => Self::Documented(Kind::Bin),
            (true, _) => Self::Documented(Kind::Lib),
            (false, true) => Self::Linted,
            (false, false) => Self::Plain,
        }
    }
}

/// cargo may pass long argument lists in a file (`@path`, one argument per line).
fn expand_argfiles(args: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        match arg.to_str().and_then(|a| a.strip_prefix('@')) {
            Some(file) => {
                let text =
                    std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
                out.extend(text.lines().map(OsString::from));
            }
            None => out.push(arg),
        }
    }
    Ok(out)
}

/// What the driver does with a rustc flag when it makes the rustdoc command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    /// rustdoc takes it as rustc does.
    Keep,
    /// Compilation only (codegen, outputs, incremental): not for rustdoc.
    Drop,
}

/// The rustc flags cargo passes, and whether each is the flag alone (false) or takes the next
/// argument as its value (true); the `--flag=value` forms match by their name.
const FLAGS: &[(&str, bool, Flag)] = &[
    ("--crate-name", true, Flag::Keep),
    ("--crate-type", true, Flag::Keep),
    ("--edition", true, Flag::Keep),
    ("--cfg", true, Flag::Keep),
    ("--check-cfg", true, Flag::Keep),
    ("-L", true, Flag::Keep),
    ("--extern", true, Flag::Keep),
    ("--target", true, Flag::Keep),
    ("--cap-lints", true, Flag::Keep),
    ("-W", true, Flag::Keep),
    ("-A", true, Flag::Keep),
    ("-D", true, Flag::Keep),
    ("-F", true, Flag::Keep),
    ("--warn", true, Flag::Keep),
    ("--allow", true, Flag::Keep),
    ("--deny", true, Flag::Keep),
    ("--forbid", true, Flag::Keep),
    ("--error-format", true, Flag::Keep),
    ("--diagnostic-width", true, Flag::Keep),
    ("--color", true, Flag::Keep),
    ("-Z", true, Flag::Keep),
    // The compiler's JSON asks for artifact notices, which cargo must see from rustc alone.
    ("--json", true, Flag::Drop),
    ("-C", true, Flag::Drop),
    ("--codegen", true, Flag::Drop),
    ("--emit", true, Flag::Drop),
    ("--out-dir", true, Flag::Drop),
    ("-o", true, Flag::Drop),
    ("-g", false, Flag::Drop),
    ("-O", false, Flag::Drop),
];

/// One flag of `arg` (with its value, joined or the next argument): its name in the table, the
/// value, and what rustdoc does with it; None when the table does not know it.
fn flag(
    arg: &str,
    rest: &mut impl Iterator<Item = String>,
) -> Option<(&'static str, Option<String>, Flag)> {
    let known = |name: &str| FLAGS.iter().find(|(f, ..)| *f == name);
    let (entry, inline) = match arg.split_once('=') {
        Some((name, value)) if name.starts_with("--") => (known(name)?, Some(value.to_owned())),
        // `-Cfoo`, `-Lpath`, `-Wlint`: a short flag with its value joined.
        _ => match known(arg) {
            Some(entry) => (entry, None),
            None if !arg.starts_with("--") && arg.len() > 2 => {
                (known(arg.get(..2)?)?, Some(arg[2..].to_owned()))
            }
            None => return None,
        },
    };
    let &(name, takes_value, what) = entry;
    let value = match (takes_value, inline) {
        (true, Some(v)) => Some(v),
        (true, None) => Some(rest.next()?),
        (false, _) => None,
    };
    Some((name, value, what))
}

/// The rustdoc command for one library or binary.
#[derive(Debug, PartialEq, Eq)]
struct Doc {
    args: Vec<OsString>,
    crate_name: String,
    kind: Kind,
}

impl Doc {
    /// One folder per crate and kind: rustdocs running at once never share a file.
    fn unit_dir(&self) -> String {
        let kind = match self.kind {
            Kind::Lib => "lib",
            Kind::Bin => "bin",
        };
        format!("{}-{kind}", self.crate_name)
    }
}

/// The rustdoc command for the library or binary (`kind`) whose test compile `args` is (rustc's
/// arguments, without the program): the compile's crate, cfgs, dependencies and lints, without
/// `--test` or anything of codegen and outputs, as `cargo doc` would give them. Err names a flag
/// the table does not know.
fn rustdoc_args(args: &[OsString], kind: Kind) -> Result<Doc, String> {
    let mut doc = Vec::new();
    let mut crate_name = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = it.next() {
        if arg == "--test" {
            continue;
        }
        if !arg.starts_with('-') {
            doc.push(arg.into());
            continue;
        }
        let (name, value, what) = flag(&arg, &mut it).ok_or(arg)?;
        if name == "--crate-name" {
            crate_name.clone_from(&value);
        }
        if what == Flag::Keep {
            doc.push(name.into());
            doc.extend(value.map(OsString::from));
        }
    }
    let crate_name = crate_name.ok_or("--crate-name (missing)")?;
    doc.extend([
        "--crate-type".into(),
        match kind {
            Kind::Lib => "lib".into(),
            // As `cargo doc`: a binary's docs include its private items.
            Kind::Bin => OsString::from("bin"),
        },
    ]);
    if kind == Kind::Bin {
        doc.push("--document-private-items".into());
    }
    Ok(Doc {
        args: doc,
        crate_name,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    /// A library's test compile, as cargo 1.95 writes it: rustdoc gets what names the crate, its
    /// cfgs, dependencies and lints, and nothing of the test harness, codegen or outputs.
    #[test]
    fn a_library_s_test_compile_becomes_its_doc_check() {
        let lib = "--crate-name layer_core --edition=2021 crates/core/src/lib.rs --error-format=json \
            --json=diagnostic-rendered-ansi,artifacts,future-incompat --diagnostic-width=100 --test \
            --emit=dep-info,link -C embed-bitcode=no -C debuginfo=line-tables-only \
            --warn=unreachable_pub --forbid=unsafe_code --warn=clippy::todo --check-cfg cfg(docsrs,test) \
            -C metadata=1 -C extra-filename=-2 --out-dir target/debug/deps -C incremental=target/i \
            -L dependency=target/debug/deps --extern anyhow=target/debug/deps/libanyhow-3.rlib -Cstrip=debuginfo";
        let doc = rustdoc_args(&args(lib), Kind::Lib).unwrap();
        let line: Vec<_> = doc.args.iter().map(|a| a.to_string_lossy()).collect();
        expect![[r#"layer_core-lib: --crate-name layer_core --edition 2021 crates/core/src/lib.rs --error-format json --diagnostic-width 100 --warn unreachable_pub --forbid unsafe_code --warn clippy::todo --check-cfg cfg(docsrs,test) -L dependency=target/debug/deps --extern anyhow=target/debug/deps/libanyhow-3.rlib --crate-type lib"#]]
            .assert_eq(&format!("{}: {}", doc.unit_dir(), line.join(" ")));
    }

    /// A binary's docs hold its private items, as `cargo doc` makes them; a flag the table does
    /// not know stops the run rather than being guessed at.
    #[test]
    fn a_binary_s_docs_hold_its_private_items_and_unknown_flags_stop() {
        let bin = rustdoc_args(
            &args("--crate-name xtask xtask/src/main.rs --test -Lnative=/x"),
            Kind::Bin,
        )
        .unwrap();
        let line: Vec<_> = bin.args.iter().map(|a| a.to_string_lossy()).collect();
        expect!["xtask-bin: --crate-name xtask xtask/src/main.rs -L native=/x --crate-type bin --document-private-items"]
            .assert_eq(&format!("{}: {}", bin.unit_dir(), line.join(" ")));
        let unknown = rustdoc_args(
            &args("--crate-name x src/lib.rs --test --remap-path-prefix a=b"),
            Kind::Lib,
        );
        assert_eq!(unknown, Err("--remap-path-prefix".to_string()));
    }

    /// Which compiles clippy and rustdoc see: the tests and examples; the libraries and binaries
    /// (shared with `cargo xtask deploy`) and cargo's queries compile through rustc alone.
    #[test]
    fn tests_and_examples_are_checked_libraries_and_binaries_are_plain() {
        let cases: [(&str, &[&str]); 7] = [
            (
                "--crate-name layer_core crates/core/src/lib.rs --crate-type lib",
                &[],
            ),
            ("--crate-name layer_core crates/core/src/lib.rs --test", &[]),
            (
                "--crate-name data_and_ai bins/src/main.rs --test",
                &["CARGO_BIN_NAME"],
            ),
            (
                "--crate-name data_and_ai bins/src/main.rs --crate-type bin",
                &["CARGO_BIN_NAME"],
            ),
            (
                "--crate-name e2e tests/e2e/main.rs --test",
                &["CARGO_TARGET_TMPDIR"],
            ),
            (
                "--crate-name plan_bucket crates/data-s3/examples/plan_bucket.rs --crate-type bin",
                &["CARGO_BIN_NAME"],
            ),
            (
                "- --crate-name ___ --print=file-names --crate-type bin",
                &[],
            ),
        ];
        let out: Vec<String> = cases
            .iter()
            .map(|(line, set)| format!("{:?}", Unit::of(&args(line), |v| set.contains(&v))))
            .collect();
        expect![[r#"
            Plain
            Documented(Lib)
            Documented(Bin)
            Plain
            Linted
            Linted
            Plain"#]]
        .assert_eq(&out.join("\n"));
    }
}
