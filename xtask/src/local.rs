//! `cargo xtask local up|down|status|serve`, and the local AWS that `cargo xtask deploy local`
//! starts when none runs: the emulator lives with the project's tasks, never in the installable
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

#[async_trait::async_trait]
impl layer::cli::LocalAws for Daemon {
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
}

impl Daemon {
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

async fn act(root: &Path, action: Action, daemon: Daemon) -> anyhow::Result<()> {
    match action {
        Action::Up { port } => {
            let region = layer::load(&root.join("environments"), "local")
                .map(|e| e.region)
                .unwrap_or_else(|_| "eu-central-2".into());
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
