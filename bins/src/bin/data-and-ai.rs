//! `data-and-ai`: the layer's commands as an installable binary. The project root (holding
//! `environments/` and `.local/`) is `DAL_ROOT` or the current directory.

fn main() {
    let root = std::env::var_os("DAL_ROOT")
        .map(Into::into)
        .unwrap_or_else(|| std::env::current_dir().expect("current directory"));
    let inv = layer::cli::Invocation {
        root,
        local: None,
        assume_role_arn: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    std::process::exit(runtime.block_on(layer::cli::run(std::env::args(), &inv)));
}
