//! `cargo xtask ci`'s one build checks what `cargo clippy` and `cargo doc` checked: a crate with
//! only a broken doc link, or only a clippy warning in its library code, fails `ci` with that
//! finding named (the library compiles through rustc alone; its test compile is what clippy sees).

use std::path::Path;
use std::process::Command;

/// The workspace, as cargo names it to the test at run time.
fn workspace() -> std::path::PathBuf {
    let xtask = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    Path::new(&xtask)
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// A one-crate workspace whose library is `lib` (formatted as rustfmt would), with this
/// workspace's cargo configuration and compiler wrapper.
fn project(lib: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for file in [".cargo/config.toml", "xtask/rustc-wrapper.sh"] {
        let to = root.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(workspace().join(file), to).unwrap();
    }
    let manifest =
        "[package]\nname = \"probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
    std::fs::write(root.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir_all(root.path().join("src")).unwrap();
    std::fs::write(root.path().join("src/lib.rs"), lib).unwrap();
    root
}

/// `cargo xtask ci --build-only` on the project at `root`, building into its own target folder.
fn ci(root: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--build-only"])
        .env("DAL_WORKSPACE", root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .output()
        .expect("xtask runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_broken_doc_link_alone_fails_ci() {
    let root = project("//! A probe.\n\n/// Points at [`NoSuchItem`].\npub fn probe() {}\n");
    let (ok, out) = ci(root.path());
    assert!(!ok, "{out}");
    assert!(out.contains("unresolved link to `NoSuchItem`"), "{out}");
    assert!(
        out.contains("clippy, docs and the test build failed"),
        "{out}"
    );
}

#[test]
fn a_clippy_warning_alone_fails_ci() {
    let lib = "//! A probe.\n\n/// Whether `v` is empty.\npub fn probe(v: &[u8]) -> bool {\n    v.len() == 0\n}\n";
    let root = project(lib);
    let (ok, out) = ci(root.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains("clippy::len_zero") || out.contains("length comparison to zero"),
        "{out}"
    );
    assert!(!out.contains("unresolved link"), "{out}");
}

/// A test compiled outside `ci` (a plain `cargo test`, where clippy only warns) is compiled and
/// checked again by the next `ci`: clippy-driver records `CLIPPY_ARGS`, which only `ci` sets.
#[test]
fn a_test_compiled_outside_ci_is_checked_again_by_ci() {
    let lib = "//! A probe.\n\n/// Whether `v` is empty.\npub fn probe(v: &[u8]) -> bool {\n    v.len() == 0\n}\n";
    let root = project(lib);
    let plain = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["test", "--no-run", "--quiet"])
        .current_dir(root.path())
        .env("CARGO_TARGET_DIR", root.path().join("target"))
        .env_remove("DAL_CI_DRIVER")
        .env_remove("CLIPPY_ARGS")
        .output()
        .expect("cargo runs");
    assert!(
        plain.status.success(),
        "a plain test build passes with a warning: {plain:?}"
    );
    let (ok, out) = ci(root.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains("clippy::len_zero") || out.contains("length comparison to zero"),
        "{out}"
    );
}
