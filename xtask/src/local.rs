//! `cargo xtask local up|down|status|serve`, and `local endpoint`, which the installable binary
//! asks when run through `cargo xtask` (`layer::front_door`): the local AWS that `deploy local`
//! starts when none runs. The emulator lives with the project's tasks, never in the installable
//! binary.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use local_aws::daemon;

/// The local AWS (emulator behind our gateway) for the `local` environment.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask local")]
struct Local {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Install (first time) and start the local AWS with a stand-in infrastructure layer.
    Up {
        /// The local AWS port.
        #[arg(long, default_value_t = daemon::DEFAULT_PORT)]
        port: u16,
    },
    /// Stop the local AWS that `up` started.
    Down,
    /// Say whether it runs, where, and the calls it has served.
    Status,
    /// Print the endpoint of the running local AWS (`configured` when it answers there), starting
    /// it first with `--start`: what the installable binary asks for the `local` environment.
    #[command(hide = true)]
    Endpoint {
        /// The `local` environment's `endpoint_url`.
        #[arg(long)]
        configured: String,
        /// The `local` environment's region (of the stand-in infrastructure).
        #[arg(long)]
        region: String,
        /// Start the local AWS when none runs.
        #[arg(long)]
        start: bool,
    },
    /// Run the local AWS in the foreground (what `up` starts in the background).
    #[command(hide = true)]
    Serve {
        /// The local AWS port.
        #[arg(long, default_value_t = daemon::DEFAULT_PORT)]
        port: u16,
        /// The region of the stand-in infrastructure.
        #[arg(long, default_value = "eu-central-2")]
        region: String,
    },
}

/// The local AWS as `cargo xtask` runs it: this program started again as `local serve`.
#[derive(Debug)]
pub(crate) struct Daemon {
    /// This program.
    pub(crate) program: PathBuf,
}

impl Daemon {
    /// The endpoint of the running local AWS: `configured` when it answers there, else the one
    /// this project's daemon runs; started first when `start`.
    async fn endpoint(
        &self,
        root: &Path,
        configured: &str,
        region: &str,
        start: bool,
    ) -> anyhow::Result<String> {
        if daemon::healthy(configured).await {
            return Ok(configured.to_string());
        }
        if let Some(state) = daemon::running(root).await {
            return Ok(state.endpoint);
        }
        anyhow::ensure!(
            start,
            "the local AWS is not running at {configured}; start it with `cargo xtask local up`"
        );
        let port = port_of(configured).unwrap_or(daemon::DEFAULT_PORT);
        eprintln!("starting the local AWS on port {port}");
        Ok(self.start(root, port, region).await?.endpoint)
    }

    async fn start(&self, root: &Path, port: u16, region: &str) -> anyhow::Result<daemon::State> {
        let args = [
            "local",
            "serve",
            "--port",
            &port.to_string(),
            "--region",
            region,
        ]
        .map(String::from);
        let (state, _) = daemon::up(root, port, &self.program, &args).await?;
        Ok(state)
    }
}

/// The `local` environment's region, for `local up` (which has no environment in hand): its own
/// file's `region`, else `common.toml`'s, else the layer's default. `deploy local` passes the
/// region the layer resolved (`local endpoint --region`).
fn local_region(environments: &Path) -> String {
    ["local.toml", "common.toml"]
        .iter()
        .filter_map(|file| std::fs::read_to_string(environments.join(file)).ok())
        .filter_map(|text| text.parse::<toml::Table>().ok())
        .find_map(|t| t.get("region")?.as_str().map(String::from))
        .unwrap_or_else(|| "eu-central-2".into())
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

/// Run `cargo xtask local …` (`args` from the program name on); returns the exit code.
pub(crate) async fn run(root: &Path, args: &[String], program: PathBuf) -> i32 {
    let local = match Local::try_parse_from(args) {
        Ok(local) => local,
        Err(e) => {
            let _ = e.print();
            return i32::from(e.use_stderr());
        }
    };
    match act(root, local.action, Daemon { program }).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// What `local up` and `local endpoint` log (the emulator's first install, the data plane's
/// servers) on standard error, as plain lines: the binary relays `local endpoint`'s. `serve` logs
/// nothing of its own, as before.
fn log_to_stderr() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn act(root: &Path, action: Action, daemon: Daemon) -> anyhow::Result<()> {
    if matches!(action, Action::Up { .. } | Action::Endpoint { .. }) {
        log_to_stderr();
    }
    match action {
        Action::Up { port } => {
            let region = local_region(&root.join("environments"));
            let was_running = daemon::running(root).await.is_some();
            let state = daemon.start(root, port, &region).await?;
            let verb = if was_running {
                "already running"
            } else {
                "started"
            };
            println!("local AWS {verb} at {} (pid {})", state.endpoint, state.pid);
        }
        Action::Down => match daemon::down(root).await? {
            true => println!("local AWS stopped"),
            false => println!("local AWS was not running"),
        },
        Action::Status => status(root).await,
        Action::Endpoint {
            configured,
            region,
            start,
        } => println!(
            "{}",
            daemon.endpoint(root, &configured, &region, start).await?
        ),
        Action::Serve { port, region } => daemon::serve(root, port, &region).await?,
    }
    Ok(())
}

async fn status(root: &Path) {
    let Some(state) = daemon::running(root).await else {
        println!("local AWS is not running; start it with `cargo xtask local up`");
        return;
    };
    let port = port_of(&state.endpoint).unwrap_or_default();
    let calls = daemon::http_get("127.0.0.1", port, "/_gateway/calls")
        .await
        .map(|(_, b)| b)
        .unwrap_or_default();
    println!(
        "local AWS running at {} (pid {}, emulator on port {})",
        state.endpoint, state.pid, state.emulator_port
    );
    match &state.data_plane {
        Some(host) => println!(
            "data plane: PostgreSQL at {host}:{}, Redis at {host}:{} (TLS only)",
            local_aws::dataplane::POSTGRES_PORT,
            local_aws::dataplane::REDIS_PORT
        ),
        None => println!("data plane: not running (see .local/gateway.log)"),
    }
    println!("calls served: {calls}");
}
