//! `data-and-ai`: the layer's commands as an installable binary. The project root (holding
//! `environments/` and `.local/`) is `DAL_ROOT` or the current directory. Run by `cargo xtask`, it
//! asks that program for the local AWS (`layer::front_door`).

fn main() {
    let root = std::env::var_os("DAL_ROOT")
        .map(Into::into)
        .unwrap_or_else(|| std::env::current_dir().expect("current directory"));
    let inv = layer::cli::Invocation {
        root,
        local: layer::front_door::LocalProgram::from_env()
            .map(|p| std::sync::Arc::new(p) as std::sync::Arc<dyn layer::cli::LocalAws>),
        assume_role_arn: None,
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    std::process::exit(runtime.block_on(layer::cli::run(std::env::args(), &inv)));
}
