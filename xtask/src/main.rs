//! `cargo xtask`: the project's own tasks, and the layer's commands through the installable
//! binary (`product`). Thin by design: it parses arguments and calls libraries.

mod bench;
mod cargo;
mod ci;
mod ci_driver;
mod local;
mod product;
#[cfg(test)]
mod tidy;

use std::path::PathBuf;

/// The workspace the launcher was run in (`DAL_WORKSPACE`), else cargo's at run time, else the one
/// xtask was compiled in:
/// where clones share a target directory, the binary may be another clone's build.
fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("DAL_WORKSPACE") {
        return PathBuf::from(root);
    }
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    manifest
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the project root")
        .to_path_buf()
}

fn main() {
    // Run under the driver's name, this program is `ci`'s compiler wrapper (`ci_driver`).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let name = argv
        .first()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name());
    if name == Some(std::ffi::OsStr::new(ci_driver::DRIVER_NAME)) {
        std::process::exit(ci_driver::run(argv[1..].to_vec()));
    }
    let args: Vec<String> = std::env::args().collect();
    let root = project_root();
    if args.get(1).map(String::as_str) == Some("bench") {
        std::process::exit(match bench::run(&root) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        });
    }
    if args.get(1).map(String::as_str) == Some("ci") {
        let build_only = match args.get(2).map(String::as_str) {
            None => false,
            Some("--build-only") => true,
            Some(other) => {
                eprintln!("error: unknown argument to `cargo xtask ci`: {other} (use --build-only, or nothing)");
                std::process::exit(2);
            }
        };
        std::process::exit(match ci::run(&root, build_only) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        });
    }
    // The project the layer's commands act on: `DAL_ROOT` (a test's own project), or this one.
    let workspace = root;
    let root = std::env::var_os("DAL_ROOT").map_or_else(|| workspace.clone(), PathBuf::from);
    if args.get(1).map(String::as_str) == Some("local") {
        let program = std::env::current_exe().expect("own path");
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        std::process::exit(runtime.block_on(local::run(&root, &args[1..], program)));
    }
    let e = product::exec(&workspace, &root, &args[1..]);
    eprintln!("error: {e:#}");
    std::process::exit(1);
}
