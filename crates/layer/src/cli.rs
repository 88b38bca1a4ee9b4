//! The operator's commands, shared by `cargo xtask` and the `data-and-ai` binary: `plan`,
//! `deploy`, `destroy`, `outputs`, … Both binaries only call [`run`]; `cargo xtask` also runs the
//! local AWS (its own `local up|down|status`, and [`LocalAws`] for `deploy local`).
//!
//! Exit codes follow the safety vocabulary: 0 success, 1 error, 2 changes pending
//! (`plan --detailed-exitcode`), 3 refused for safety.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use layer_core::engine::Mode;
use layer_core::outputs::terraform_json;
use layer_core::saved_plan::SavedPlan;
use layer_core::{Error, ExitCode, Outputs, SafetyFlags};

use crate::{workflow, Session};

/// `println!` that ends the process when stdout is closed (`plan dev | head`), as a Unix tool
/// killed by `SIGPIPE` does (exit 141), instead of panicking.
macro_rules! println {
    ($($arg:tt)*) => {{
        let mut out = std::io::stdout().lock();
        if let Err(e) = writeln!(out, $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(141);
            }
        }
    }};
}

/// The exit codes, shown under every command's `--help`.
pub const EXIT_CODES: &str = "Exit codes: 0 success, 1 error (bad input, AWS error), 2 changes pending (plan --detailed-exitcode), 3 refused for safety (nothing was changed; the message names the flag that allows it), 130 interrupted (Ctrl-C: what was in flight finished, nothing new started; run again to finish).";

/// Provision and verify the data-and-ai layer.
#[derive(Debug, Parser)]
#[command(name = "data-and-ai", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The directory of environment files (default: `environments/` of the project).
    #[arg(long, global = true, value_name = "DIR")]
    pub environments: Option<PathBuf>,
    /// More detail in the log (-v: debug, and the AWS SDK's own warnings; -vv, -vvv: more).
    /// `RUST_LOG`, when set, decides instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// The log's format: `text` (colour on a terminal unless NO_COLOR is set) or `json` (one
    /// object per line, for log pipelines).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Assume this role for this run instead of the environment's `assume_role_arn` (a CI
    /// job's own role: the plan role for pull requests, the deploy role on main).
    #[arg(long, global = true, value_name = "ARN")]
    pub assume_role_arn: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The safety flags (see CONVENTIONS: the safety vocabulary).
#[derive(Debug, Clone, Default, Args)]
pub struct SafetyArgs {
    /// Allow replacing a stateful resource (database, cache, bucket).
    #[arg(long)]
    pub allow_replace: bool,
    /// Allow deleting a bucket's objects and versions.
    #[arg(long)]
    pub purge_buckets: bool,
    /// Take over resources that exist under our names without our tags.
    #[arg(long)]
    pub adopt: bool,
    /// Confirm a destructive change in a protected environment (give its name).
    #[arg(long, value_name = "ENV")]
    pub confirm_env: Option<String>,
    /// Allow an in-place major engine version upgrade.
    #[arg(long)]
    pub allow_major_upgrade: bool,
}

impl From<SafetyArgs> for SafetyFlags {
    fn from(a: SafetyArgs) -> Self {
        SafetyFlags {
            allow_replace: a.allow_replace,
            purge_buckets: a.purge_buckets,
            adopt: a.adopt,
            rotate: Vec::new(),
            confirm_env: a.confirm_env,
            major_upgrade: a.allow_major_upgrade,
        }
    }
}

/// How long to wait for the run lock.
#[derive(Debug, Clone, Default, Args)]
pub struct LockArgs {
    /// Wait up to this long (e.g. `30s`, `10m`) while another run holds the environment's lock,
    /// instead of the environment's `run_lock.wait_seconds` (0 unless set: fail at once, naming
    /// the holder).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub lock_timeout: Option<std::time::Duration>,
}

/// A command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what deploy (or destroy) would change. Read-only.
    #[command(after_help = EXIT_CODES)]
    Plan {
        /// The environment (dev, test, prod, sbx, local).
        env: String,
        /// Exit 0 with no changes, 2 with changes, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON (the same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// How to print the plan: `text` for a terminal, `json` for programs, `markdown` for a
        /// pull-request comment (summary, a table per family, each change's fields folded).
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Plan a destroy instead.
        #[arg(long)]
        destroy: bool,
        /// Save the plan to FILE, for `apply FILE` to carry out exactly (no secret is in it).
        #[arg(long, short = 'o', value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Carry out a plan saved with `plan --out FILE`, exactly: refused, naming what moved, when
    /// what is observed now differs from what was planned. Seed runs separately.
    #[command(after_help = EXIT_CODES)]
    Apply {
        /// The saved plan.
        file: PathBuf,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        safety: SafetyArgs,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Plan, confirm, apply, then seed: creates, updates and (with their flags) replaces the
    /// environment's resources.
    #[command(after_help = EXIT_CODES)]
    Deploy {
        /// The environment.
        env: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// Do not print the plan before applying.
        #[arg(long)]
        skip_plan: bool,
        /// Do not run seed after applying (the spec's recommended path runs it).
        #[arg(long)]
        skip_seed: bool,
        /// After seeding, create the databases of `postgresql_databases` (as bootstrap-db does;
        /// needs the cluster reachable from here).
        #[arg(long, conflicts_with = "skip_seed")]
        bootstrap_db: bool,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        safety: SafetyArgs,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Fill the secrets deploy leaves empty; skips what is set. Writes only to Secrets Manager
    /// (and creates the S3 user's access key).
    #[command(after_help = EXIT_CODES)]
    Seed {
        /// The environment.
        env: String,
        /// Rewrite generated values, except the keys that encrypt data at rest.
        #[arg(long)]
        force: bool,
        /// Rewrite this secret, also a key that encrypts data at rest (repeatable). What it
        /// encrypted becomes unreadable unless re-encrypted first.
        #[arg(long, value_name = "SECRET")]
        rotate: Vec<String>,
        /// Confirm a rotation in a protected environment (give its name).
        #[arg(long, value_name = "ENV")]
        confirm_env: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Delete every resource of the environment that carries our tags.
    #[command(after_help = EXIT_CODES)]
    Destroy {
        /// The environment.
        env: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        safety: SafetyArgs,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Create the databases of `postgresql_databases` that are missing, over TLS as the master
    /// user with the password of the AWS-managed master secret. Run where the cluster is
    /// reachable (inside the VPC). Changes only the databases; idempotent.
    #[command(name = "bootstrap-db", after_help = EXIT_CODES)]
    BootstrapDb {
        /// The environment.
        env: String,
        #[allow(missing_docs)] // the flags document themselves
        #[command(flatten)]
        lock: LockArgs,
    },
    /// Check the deployed layer (read-only): endpoints resolve, TLS connections to Aurora and
    /// Redis (verified against rds-ca-bundle) work and plain ones are refused, the databases
    /// exist, each connection string connects, every secret is seeded and current, the S3 key
    /// pair is active, and no secret value is in the outputs. Exits 1 when a check fails.
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// The environment.
        env: String,
        /// Print the checks as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the layer's outputs, observed now.
    #[command(after_help = EXIT_CODES)]
    Outputs {
        /// The environment.
        env: String,
        /// In the shape of `terraform output -json` (the same as `--format json`).
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// `text`, `json` (as `terraform output -json`), or `terraform-state`: a Terraform state
        /// document (format version 4, no resources, a new lineage, serial 1) holding the
        /// outputs with their types, for the next layers' `terraform_remote_state` readers.
        #[arg(long, value_enum, default_value_t = OutputsFormat::Text)]
        format: OutputsFormat,
        /// The `terraform_version` the state document names (older readers refuse a newer one).
        #[arg(long, value_name = "VERSION", default_value = "1.0.0")]
        terraform_version: String,
        /// Write the outputs as a Terraform state document where `[outputs] terraform_state`
        /// says, as deploy does after it applies: the lineage kept, the serial raised only when
        /// an output changed, written on the condition that no one wrote meanwhile.
        #[arg(long, conflicts_with_all = ["json", "format", "terraform_version"])]
        publish: bool,
    },
    /// Draw the layer's resources and their dependencies (Graphviz DOT, or SVG through
    /// Graphviz's `dot`); with `--plan`, each resource coloured by its planned action.
    #[command(after_help = EXIT_CODES)]
    Graph {
        /// The environment.
        env: String,
        /// `dot` (text, for Graphviz or a viewer) or `svg` (drawn by Graphviz's `dot`).
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Observe and colour each resource by what a deploy would do to it.
        #[arg(long)]
        plan: bool,
    },
    /// Print a shell completion script, environment names included (from the environments
    /// directory, as it is when the script is made): `data-and-ai completions bash >
    /// ~/.local/share/bash-completion/completions/data-and-ai`.
    #[command(after_help = EXIT_CODES)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Take over a Terraform-made layer: read its state (the output of `terraform show -json`,
    /// or a state file), map its resources to ours (by the spec's outputs, then by type and the
    /// links between resources), and print the environment's overrides (every name, the settings
    /// that differ), what maps to what, what the tool does not manage, and the `removed` blocks
    /// that let Terraform forget the resources without destroying them. Calls no AWS API; reads
    /// no secret value. Exit 3 names what could only be taken over by replacement.
    #[command(name = "import-terraform", after_help = EXIT_CODES)]
    ImportTerraform {
        /// The environment whose file gets the overrides.
        env: String,
        /// The Terraform document: `terraform show -json > FILE`, or `terraform state pull > FILE`.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Write the overrides into `environments/<env>.toml`, keeping its comments and order.
        #[arg(long)]
        write: bool,
    },
    /// Print the JSON Schema of the environment files (the one shipped as
    /// `environments/environment.schema.json`, which each file names on its `#:schema` line), for
    /// editors and CI checks. Calls no AWS API.
    #[command(after_help = EXIT_CODES)]
    Schema,
    /// Print the IAM policy a command needs on an environment, generated from the tool's own
    /// declarations: each action scoped to the environment's resources, `*` only where AWS
    /// supports nothing narrower. Calls no AWS API.
    #[command(name = "iam-policy", after_help = EXIT_CODES)]
    IamPolicy {
        /// The environment.
        env: String,
        /// The command whose role this is: plan (also outputs and lock show), deploy (also
        /// apply), seed, verify, bootstrap-db, destroy, publish (`outputs --publish`), or all of them in one policy.
        #[arg(long = "for", default_value = "deploy", value_parser = ["plan", "deploy", "seed", "verify", "bootstrap-db", "destroy", "publish", "all"])]
        command: String,
        /// The account (default: the environment's one allowed account).
        #[arg(long)]
        account: Option<String>,
        /// Print the policy document alone, as JSON (for `aws iam put-role-policy`).
        #[arg(long)]
        json: bool,
        /// With --json: a JSON array of documents, each within IAM's 6,144 characters of a
        /// managed policy (for `aws iam create-policy`, one per part).
        #[arg(long, requires = "json")]
        split: bool,
    },
    /// The run lock that keeps two deploys, applies, seeds or destroys of one environment from
    /// running at once (a lease on the secret `{nid}/run-lock`, or where `[secrets]` names it;
    /// plan takes none).
    #[command(after_help = EXIT_CODES)]
    Lock {
        /// What to do.
        #[command(subcommand)]
        action: LockCommand,
    },
    /// The local AWS is run by the project's own tasks (`cargo xtask local up|down|status`).
    #[command(hide = true)]
    Local {
        /// Ignored.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

/// `lock` subcommands.
#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Say who holds the environment's lock, since when, and when its lease was renewed.
    /// Read-only.
    #[command(after_help = EXIT_CODES)]
    Show {
        /// The environment.
        env: String,
    },
    /// Break the environment's lock, whoever holds it: for a run that is gone (a killed run's
    /// lease also expires by itself). A run whose lock is broken stops starting work.
    #[command(after_help = EXIT_CODES)]
    Break {
        /// The environment.
        env: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
    },
}

/// The local AWS of the `local` environment, for a front door that runs one (`cargo xtask`). The
/// installable binary has none: it links no emulator.
#[async_trait::async_trait]
pub trait LocalAws: std::fmt::Debug + Send + Sync {
    /// The endpoint of the running local AWS for the project at `root` (`configured` is the
    /// environment's `endpoint_url`); started first when `start` (as `deploy local` does).
    async fn endpoint(
        &self,
        root: &Path,
        configured: &str,
        region: &str,
        start: bool,
    ) -> anyhow::Result<String>;
}

/// Where the project is, and what runs the `local` environment's AWS.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The project root (holds `environments/` and `.local/`).
    pub root: PathBuf,
    /// The local AWS, when this front door runs one (`None`: the `local` environment must point at
    /// one already running).
    pub local: Option<std::sync::Arc<dyn LocalAws>>,
    /// A role to assume for this run instead of the environment's `assume_role_arn` (set by
    /// `--assume-role-arn`: a CI job's own role, one per job).
    pub assume_role_arn: Option<String>,
}

/// Parse `args` (the first is the program name) and run the command. Returns the exit code.
pub async fn run<I, T>(args: I, inv: &Invocation) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Error as i32
            } else {
                ExitCode::Success as i32
            };
        }
    };
    // Logs go to stderr, filtered by `RUST_LOG` or the verbosity. Whatever either asks for, the
    // AWS SDK's own events (its wire-level logging included) are dropped while a call that
    // carries secret values runs: see [`crate::logging`].
    crate::logging::init(crate::logging::LogOptions {
        verbosity: if cli.quiet {
            -1
        } else {
            i8::try_from(cli.verbose).unwrap_or(i8::MAX)
        },
        json: cli.log_format == "json",
    });
    PROGRESS.store(
        if cli.log_format == "json" {
            PROGRESS_LOG
        } else if cli.quiet {
            PROGRESS_TABLE_ONLY
        } else {
            PROGRESS_SHOWN
        },
        std::sync::atomic::Ordering::SeqCst,
    );
    // Ctrl-C: the first stops starting new work (what is in flight finishes), the second
    // exits at once. Exit code 130 either way.
    layer_core::interrupt::reset();
    let listener = tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            layer_core::interrupt::request();
            eprintln!("\nInterrupted: letting what is in flight finish and starting nothing new; Ctrl-C again stops at once.");
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("Stopped at once; run the command again to finish the job.");
                std::process::exit(ExitCode::Interrupted as i32);
            }
        }
    });
    let hint = policy_hint(&cli.command);
    // Boxed: the commands' futures are large, and a caller's stack (a test thread's 2 MiB)
    // must not hold them.
    let result = Box::pin(execute(cli, inv)).await;
    listener.abort();
    if layer_core::interrupt::was_lease_lost() {
        if let Err(e) = &result {
            eprintln!("error: {e:#}");
        }
        eprintln!("error: the run lock's lease was lost (broken with `lock break`, or not renewed in time), so nothing new was started: the changes listed as done were made; run the command again once no other run holds the lock.");
        return ExitCode::Error as i32;
    }
    if layer_core::interrupt::requested() {
        if let Err(e) = &result {
            eprintln!("{e:#}");
        }
        eprintln!("Interrupted: the changes listed as done were made, the others were not started; run the command again to finish the job.");
        return ExitCode::Interrupted as i32;
    }
    match result {
        Ok(code) => code as i32,
        Err(e) => {
            eprintln!("error: {e:#}");
            let text = format!("{e:#}");
            if text.contains("is not authorized to perform") || text.contains("AccessDenied") {
                if let Some(hint) = hint {
                    eprintln!("{hint}");
                }
            }
            match e.downcast_ref::<Error>() {
                Some(core) => core.exit_code() as i32,
                None => ExitCode::Error as i32,
            }
        }
    }
}

/// What to run when AWS refuses a command an action: the policy that command needs.
fn policy_hint(command: &Command) -> Option<String> {
    let (env, role) = match command {
        Command::Outputs {
            env, publish: true, ..
        } => (env.as_str(), "publish"),
        Command::Plan { env, .. } | Command::Outputs { env, .. } | Command::Graph { env, .. } => {
            (env.as_str(), "plan")
        }
        Command::Deploy { env, .. } => (env.as_str(), "deploy"),
        Command::Apply { .. } => ("<env>", "deploy"),
        Command::Seed { env, .. } => (env.as_str(), "seed"),
        Command::Verify { env, .. } => (env.as_str(), "verify"),
        Command::BootstrapDb { env, .. } => (env.as_str(), "bootstrap-db"),
        Command::Destroy { env, .. } => (env.as_str(), "destroy"),
        _ => return None,
    };
    Some(format!(
        "hint: the credentials lack a permission this command needs; `data-and-ai iam-policy {env} --for {role}` prints the policy it needs (see README, Least privilege)"
    ))
}

async fn execute(cli: Cli, inv: &Invocation) -> anyhow::Result<ExitCode> {
    crate::logging::refuse_sensitive_body_logging(|k| std::env::var(k).ok())?;
    if let Some(arn) = &cli.assume_role_arn {
        check_role_arn(arn)?;
    }
    let inv = &Invocation {
        assume_role_arn: cli.assume_role_arn.clone().or(inv.assume_role_arn.clone()),
        ..inv.clone()
    };
    let dir = cli
        .environments
        .clone()
        .unwrap_or_else(|| inv.root.join("environments"));
    let at = Place { dir: &dir, inv };
    match cli.command {
        Command::Apply { file, safety, lock } => apply_file(&at, &file, safety, lock).await,
        Command::Plan {
            env,
            detailed_exitcode,
            json,
            format,
            destroy,
            out,
        } => {
            let format = if json { PlanFormat::Json } else { format };
            let mode = if destroy { Mode::Destroy } else { Mode::Deploy };
            plan(&at, &env, mode, format, out.as_deref(), detailed_exitcode).await
        }
        Command::Deploy {
            env,
            auto_approve,
            skip_plan,
            skip_seed,
            bootstrap_db,
            safety,
            lock,
        } => {
            let steps = DeploySteps {
                auto_approve,
                skip_plan,
                skip_seed,
                bootstrap_db,
            };
            deploy(&at, &env, steps, safety.into(), lock).await
        }
        Command::BootstrapDb { env, lock } => {
            let session = at.connect(&env, false).await?;
            let op = Terminal::new(true);
            let command = format!("bootstrap-db {env}");
            let work = Box::pin(bootstrap(&session));
            workflow::locked(&session, &op, &command, lock.lock_timeout, work).await
        }
        Command::Verify { env, json } => verify(&at, &env, json).await,
        Command::Seed {
            env,
            force,
            rotate,
            confirm_env,
            json,
            lock,
        } => {
            let opts = secrets_seed::SeedOptions { force, rotate };
            seed_command(&at, &env, opts, confirm_env.as_deref(), json, lock).await
        }
        Command::Destroy {
            env,
            auto_approve,
            safety,
            lock,
        } => destroy(&at, &env, auto_approve, safety.into(), lock).await,
        Command::Outputs { env, publish, .. } if publish => publish_command(&at, &env).await,
        Command::Outputs {
            env,
            json,
            format,
            terraform_version,
            ..
        } => {
            let format = if json { OutputsFormat::Json } else { format };
            outputs(&at, &env, format, &terraform_version).await
        }
        Command::IamPolicy {
            env,
            command,
            account,
            json,
            split,
        } => iam_policy(&dir, &env, &command, account, json, split),
        Command::Graph { env, format, plan } => graph(&at, &env, format, plan).await,
        Command::Completions { shell } => {
            completions(shell, &dir, &mut std::io::stdout());
            Ok(ExitCode::Success)
        }
        Command::ImportTerraform { env, from, write } => import_terraform(&dir, &env, &from, write),
        Command::Schema => {
            print!("{}", crate::schema::render());
            Ok(ExitCode::Success)
        }
        Command::Lock { action } => lock_command(&dir, action, inv).await,
        Command::Local { .. } => Err(Error::Config(
            "`local` is not a command of this binary: the local AWS is run from the project with `cargo xtask local up|down|status`".into(),
        )
        .into()),
    }
}

/// Where a command finds its environments, and how it was started.
struct Place<'a> {
    dir: &'a Path,
    inv: &'a Invocation,
}

impl Place<'_> {
    /// Load and connect to an environment (the local AWS started first for `deploy local`).
    async fn connect(&self, env: &str, autostart: bool) -> anyhow::Result<Session> {
        connect(self.dir, env, self.inv, autostart).await
    }
}

/// The operator at a terminal: plans printed, questions asked on stdin, live progress drawn on
/// stderr and its table printed when the changes finish.
struct Terminal {
    show_plan: bool,
    screen: std::sync::Mutex<Option<std::sync::Arc<crate::progress::Screen>>>,
}

impl Terminal {
    fn new(show_plan: bool) -> Self {
        Terminal {
            show_plan,
            screen: std::sync::Mutex::new(None),
        }
    }
}

impl workflow::Operator for Terminal {
    fn show_plan(&self, plan: &layer_core::Plan) {
        if self.show_plan {
            println!("{}", plan.render(stdout_colour()));
        }
    }

    fn plan_moved(&self, moved: &[String], plan: &layer_core::Plan) {
        println!(
            "\nObserved again under the run lock, the plan has changed (another run, or a change made meanwhile): {}\n",
            moved.join(", ")
        );
        println!("{}", plan.render(stdout_colour()));
    }

    fn confirm(&self, question: &str) -> anyhow::Result<()> {
        confirm(question)
    }

    fn waiting_for_lock(&self, environment: &str, held: &str) {
        eprintln!("waiting for the run lock of `{environment}`: {held}");
    }

    fn progress(&self) -> layer_core::progress::Progress {
        let screen = screen();
        let progress = progress_of(&screen);
        *self.screen.lock().expect("not poisoned") = screen;
        progress
    }

    fn progress_done(&self, took: std::time::Duration) {
        print_table(&self.screen.lock().expect("not poisoned").take(), took);
    }
}

/// What `deploy` runs after the apply, and how it asks.
struct DeploySteps {
    auto_approve: bool,
    skip_plan: bool,
    skip_seed: bool,
    bootstrap_db: bool,
}

/// Print what an apply did: the summary, then the outputs (deploy) or what was left behind
/// (destroy).
fn print_applied(applied: &workflow::Applied, skip_plan: bool) {
    match applied {
        workflow::Applied::NoChanges if skip_plan => println!("No changes."),
        workflow::Applied::NoChanges | workflow::Applied::NothingLeft => {}
        workflow::Applied::Deployed { summary, outputs } => {
            println!(
                "\nApply complete! Resources: {} added, {} changed, {} destroyed.\n",
                summary.add, summary.change, summary.destroy
            );
            print_outputs(outputs);
        }
        workflow::Applied::Destroyed {
            summary,
            left_behind,
        } => {
            println!(
                "\nDestroy complete! Resources: {} destroyed.",
                summary.destroy
            );
            if !left_behind.is_empty() {
                println!("\nLeft behind:");
                for line in left_behind {
                    println!("  - {line}");
                }
            }
        }
    }
}

/// `apply FILE`: a saved plan, applied if nothing moved since it was made.
async fn apply_file(
    at: &Place<'_>,
    file: &Path,
    safety: SafetyArgs,
    lock: LockArgs,
) -> anyhow::Result<ExitCode> {
    let saved = SavedPlan::read(file)?;
    let session = at.connect(&saved.environment, false).await?;
    let opts = workflow::ApplyOptions {
        mode: saved.mode()?,
        flags: safety.into(),
        auto_approve: true,
        command: format!("apply {}", file.display()),
        lock_timeout: lock.lock_timeout,
    };
    let op = Terminal::new(true);
    let deploys = opts.mode == Mode::Deploy;
    let publication = async {
        if deploys {
            check_publication(&session).await?;
        }
        Ok(())
    };
    let applied = workflow::apply_saved(&session, &op, &saved, &opts, publication).await?;
    print_applied(&applied, false);
    if opts.mode == Mode::Deploy {
        publish_outputs(&session).await?;
    }
    Ok(ExitCode::Success)
}

/// `plan`: the plan (and the secrets' states) as text, JSON or markdown; saved with `--out`.
async fn plan(
    at: &Place<'_>,
    env: &str,
    mode: Mode,
    format: PlanFormat,
    out: Option<&Path>,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    let cx = session.context(SafetyFlags::default());
    let run = session.plan(&cx, mode).await?;
    let states = if mode == Mode::Deploy {
        session.secret_states(&run.observed_outputs()).await?
    } else {
        Vec::new()
    };
    if let Some(path) = out {
        SavedPlan::new(&session.env.name, mode, &run.plan).write(path)?;
    }
    match format {
        PlanFormat::Markdown => {
            print!("{}", run.plan.render_markdown());
            print_states_markdown(&states);
        }
        PlanFormat::Json => {
            let mut j = run.plan.to_json();
            j["secrets"] = states
                .iter()
                .map(|(name, state)| {
                    let mut v = serde_json::to_value(state).unwrap_or_default();
                    v["secret"] = name.clone().into();
                    v
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&j)?);
        }
        PlanFormat::Text => {
            println!("{}", run.plan.render(stdout_colour()));
            print_states(&states);
        }
    }
    Ok(if detailed_exitcode && run.plan.has_changes() {
        ExitCode::Changes
    } else {
        ExitCode::Success
    })
}

/// `deploy`: apply, publish the outputs, then seed (and bootstrap) under the same lock.
async fn deploy(
    at: &Place<'_>,
    env: &str,
    steps: DeploySteps,
    flags: SafetyFlags,
    lock: LockArgs,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, true).await?;
    check_publication(&session).await?;
    let op = Terminal::new(!steps.skip_plan);
    let opts = workflow::ApplyOptions {
        mode: Mode::Deploy,
        flags,
        auto_approve: steps.auto_approve,
        command: format!("deploy {env}"),
        lock_timeout: lock.lock_timeout,
    };
    let (applied, held) = Box::pin(workflow::apply(&session, &op, &opts)).await?;
    print_applied(&applied, steps.skip_plan);
    // A failed publication is reported once the lock is released and seed has run.
    let published = publish_outputs(&session).await.map(|_| ());
    if steps.skip_seed {
        if let Some(held) = held {
            workflow::release(held).await;
        }
        published?;
        return Ok(ExitCode::Success);
    }
    // Seed (and bootstrap) under the same lock, or under one taken now when apply had nothing to
    // do.
    let held = match held {
        Some(held) => held,
        None => workflow::take_lock(&session, &op, &opts.command, lock.lock_timeout).await?,
    };
    let result = async {
        println!("\nSeeding secrets:");
        let opts = secrets_seed::SeedOptions::default();
        let code = Box::pin(seed(&session, &op, &opts, false)).await?;
        if !steps.bootstrap_db || code != ExitCode::Success {
            return Ok(code);
        }
        println!("\nBootstrapping databases:");
        Box::pin(bootstrap(&session)).await
    }
    .await;
    workflow::release(held).await;
    published?;
    result
}

/// `verify`: the report, as text or JSON; exit 1 when a check failed.
async fn verify(at: &Place<'_>, env: &str, json: bool) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    let report = Box::pin(crate::verify::verify(&session)).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.passed {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

/// `seed`: checked (unknown names, a protected environment's rotation) before its first call to
/// the secrets, then run under the lock.
async fn seed_command(
    at: &Place<'_>,
    env: &str,
    opts: secrets_seed::SeedOptions,
    confirm_env: Option<&str>,
    json: bool,
    lock: LockArgs,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    for w in workflow::check_seed(&session, &opts, confirm_env)? {
        eprintln!("warning: {w}");
    }
    let command = if opts.force {
        format!("seed {env} --force")
    } else {
        format!("seed {env}")
    };
    let op = Terminal::new(true);
    let work = Box::pin(seed(&session, &op, &opts, json));
    workflow::locked(&session, &op, &command, lock.lock_timeout, work).await
}

/// Seed and print its report (as JSON with `json`, without live progress then).
async fn seed(
    session: &Session,
    op: &Terminal,
    opts: &secrets_seed::SeedOptions,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use workflow::Operator as _;
    let progress = if json {
        layer_core::progress::Progress::default()
    } else {
        op.progress()
    };
    let began = std::time::Instant::now();
    let report = workflow::seed(session, progress, opts).await;
    op.progress_done(began.elapsed());
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    if report.failed() {
        anyhow::bail!("seed did not finish: see the failed secrets above; run it again once the cause is fixed");
    }
    Ok(ExitCode::Success)
}

/// `destroy`: everything of the environment that carries our tags, dependents first.
async fn destroy(
    at: &Place<'_>,
    env: &str,
    auto_approve: bool,
    flags: SafetyFlags,
    lock: LockArgs,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    let op = Terminal::new(true);
    let opts = workflow::ApplyOptions {
        mode: Mode::Destroy,
        flags,
        auto_approve,
        command: format!("destroy {env}"),
        lock_timeout: lock.lock_timeout,
    };
    let (applied, held) = Box::pin(workflow::apply(&session, &op, &opts)).await?;
    if let Some(held) = held {
        workflow::release(held).await;
    }
    print_applied(&applied, false);
    Ok(ExitCode::Success)
}

/// `outputs --publish`.
async fn publish_command(at: &Place<'_>, env: &str) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    if !publish_outputs(&session).await? {
        return Err(Error::Config(format!(
            "{env}: nothing to publish to; set `[outputs] terraform_state = {{ bucket = \"…\", key = \"…\" }}` in environments/{env}.toml (the next layers' S3 backend configuration)"
        ))
        .into());
    }
    Ok(ExitCode::Success)
}

/// `outputs`: as text, as `terraform output -json`, or as a Terraform state document.
async fn outputs(
    at: &Place<'_>,
    env: &str,
    format: OutputsFormat,
    terraform_version: &str,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    let outputs = session.outputs().await?;
    match format {
        OutputsFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&terraform_json(&outputs))?
        ),
        OutputsFormat::TerraformState => {
            let lineage = layer_core::tfstate::new_lineage();
            let doc = layer_core::tfstate::document(&outputs, &lineage, 1, terraform_version);
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        OutputsFormat::Text => print_outputs(&outputs),
    }
    Ok(ExitCode::Success)
}

/// `graph`: the resources and their dependencies, coloured by the plan with `--plan`.
async fn graph(
    at: &Place<'_>,
    env: &str,
    format: GraphFormat,
    with_plan: bool,
) -> anyhow::Result<ExitCode> {
    let session = at.connect(env, false).await?;
    let planned = if with_plan {
        let cx = session.context(SafetyFlags::default());
        Some(session.plan(&cx, Mode::Deploy).await?.plan)
    } else {
        None
    };
    let title = format!("data-and-ai {env}");
    let dot = layer_core::graph::to_dot(&title, &session.dependencies(), planned.as_ref());
    match format {
        GraphFormat::Dot => print!("{dot}"),
        GraphFormat::Svg => std::io::stdout().write_all(&svg_of(&dot)?)?,
    }
    Ok(ExitCode::Success)
}

/// `import-terraform`: read the file into a buffer wiped on drop (a state may hold secret
/// values), map it, print the report.
fn import_terraform(dir: &Path, env: &str, from: &Path, write: bool) -> anyhow::Result<ExitCode> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(from)
            .map_err(|e| Error::Config(format!("--from {}: {e}", from.display())))?,
    );
    let report = crate::import::take_over(dir, env, &bytes, write).map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("--from {}: {m}", from.display())),
        e => e,
    })?;
    print!("{report}");
    Ok(ExitCode::Success)
}

/// Refuse a deploy whose publication of the outputs would be refused, before it changes anything.
async fn check_publication(session: &Session) -> anyhow::Result<()> {
    if let Some((object, version)) = crate::publish::state_object(&session.env)? {
        crate::publish::check(&session.sdk, &object, &version).await?;
    }
    Ok(())
}

/// Publish the outputs where `[outputs] terraform_state` says; `false` when it says nowhere.
async fn publish_outputs(session: &Session) -> anyhow::Result<bool> {
    let Some((object, version)) = crate::publish::state_object(&session.env)? else {
        return Ok(false);
    };
    let outputs = session.outputs().await?;
    let done = crate::publish::publish(&session.sdk, &object, &version, &outputs).await?;
    println!("{done}");
    Ok(true)
}

/// The completion script for `shell`: every argument named `env`, in every command, completes
/// to the environments found in `dir`.
fn completions(shell: clap_complete::Shell, dir: &Path, out: &mut dyn std::io::Write) {
    use clap::CommandFactory as _;
    let names = layer_core::config::environment_names(dir);
    let mut cli = Cli::command();
    fn with_envs(cmd: clap::Command, names: &[String]) -> clap::Command {
        let cmd = if cmd.get_arguments().any(|a| a.get_id() == "env") {
            let names = names.to_vec();
            cmd.mut_arg("env", |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(names))
            })
        } else {
            cmd
        };
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        subs.iter().fold(cmd, |cmd, sub| {
            cmd.mut_subcommand(sub, |s| with_envs(s, names))
        })
    }
    cli = with_envs(cli, &names);
    clap_complete::generate(shell, &mut cli, "data-and-ai", out);
    // Fish's script leaves positional values out: the environments are added per command.
    if shell == clap_complete::Shell::Fish {
        let with_env = cli
            .get_subcommands()
            .filter(|c| c.get_arguments().any(|a| a.get_id() == "env"));
        for c in with_env {
            let _ = writeln!(
                out,
                "complete -c data-and-ai -n \"__fish_seen_subcommand_from {}\" -f -a \"{}\"",
                c.get_name(),
                names.join(" ")
            );
        }
    }
}

/// `iam-policy`: the policy document, or (without `--json`) each statement with what it is for.
fn iam_policy(
    dir: &Path,
    name: &str,
    command: &str,
    account: Option<String>,
    json: bool,
    split: bool,
) -> anyhow::Result<ExitCode> {
    use layer_core::access::{Command as For, MANAGED_POLICY_LIMIT};
    let env = crate::load(dir, name)?;
    let account = match (account, env.allowed_account_ids.as_slice()) {
        (Some(a), allowed) if allowed.is_empty() || allowed.contains(&a) => a,
        (Some(a), allowed) => anyhow::bail!(
            "--account {a} is not one of environment `{name}`'s allowed_account_ids ({}); give one of them",
            allowed.join(", ")
        ),
        (None, [one]) => one.clone(),
        (None, many) => anyhow::bail!(
            "environment `{name}` allows {} accounts; say which with --account",
            many.len()
        ),
    };
    let commands: Vec<For> = match For::parse(command) {
        Some(c) => vec![c],
        None => For::ALL.to_vec(),
    };
    let policy = crate::iam_policy(&env, &commands, &account)?;
    if json {
        let out = if split {
            let parts = policy.split(MANAGED_POLICY_LIMIT);
            let size = |d: &serde_json::Value| {
                d.to_string().chars().filter(|c| !c.is_whitespace()).count()
            };
            if let Some(big) = parts.iter().find(|d| size(d) > MANAGED_POLICY_LIMIT) {
                anyhow::bail!(
                    "statement {} alone is {} characters, over the {MANAGED_POLICY_LIMIT} of a managed policy; attach the policy inline instead",
                    big["Statement"][0]["Sid"],
                    size(big)
                );
            }
            serde_json::Value::Array(parts)
        } else {
            policy.document()
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::Success);
    }
    println!(
        "IAM policy for `{command}` on environment `{name}` (account {account}, region {}):",
        env.region
    );
    for s in &policy.statements {
        println!();
        println!("  {}", s.sid);
        for r in &s.resources {
            println!("    on {r}");
        }
        if let Some(why) = s.unscoped_because {
            println!("    (\"*\": {why})");
        }
        for a in &s.actions {
            println!("      {a}");
        }
    }
    let size = policy.size();
    println!();
    println!(
        "{} statements, {} actions, {size} characters without whitespace{}.",
        policy.statements.len(),
        policy.actions().len(),
        if size > MANAGED_POLICY_LIMIT {
            format!(
                " (over the {MANAGED_POLICY_LIMIT} of one managed policy: `--json --split` gives it in {} parts)",
                policy.split(MANAGED_POLICY_LIMIT).len()
            )
        } else {
            String::new()
        }
    );
    println!("`iam-policy {name} --for {command} --json` prints the document.");
    Ok(ExitCode::Success)
}

async fn lock_command(
    dir: &Path,
    action: LockCommand,
    inv: &Invocation,
) -> anyhow::Result<ExitCode> {
    match action {
        LockCommand::Show { env } => {
            let env = environment(dir, &env, inv, false).await?;
            let (sdk, _) = crate::credentials(&env).await?;
            match crate::lock::show(&sdk, &env).await? {
                Some(held) => println!("`{}` is locked: {held}", env.name),
                None => match crate::lock::pending(&sdk, &env).await? {
                    Some(p) => println!(
                        "`{}` cannot be locked: {p}; `lock break {}` deletes it now",
                        env.name, env.name
                    ),
                    None => println!("`{}` is not locked", env.name),
                },
            }
        }
        LockCommand::Break { env, auto_approve } => {
            let env = environment(dir, &env, inv, false).await?;
            let (sdk, _) = crate::credentials(&env).await?;
            let Some(held) = crate::lock::show(&sdk, &env).await? else {
                if let Some(p) = crate::lock::pending(&sdk, &env).await? {
                    println!("`{}` cannot be locked: {p}", env.name);
                    if !auto_approve {
                        confirm(&format!(
                            "Delete that secret now, without recovery (it holds no value), so `{}` can be locked again?",
                            env.name
                        ))?;
                    }
                    crate::lock::free_pending(&sdk, &env).await?;
                    println!("the lock's name of `{}` is free again", env.name);
                    return Ok(ExitCode::Success);
                }
                println!("`{}` is not locked", env.name);
                return Ok(ExitCode::Success);
            };
            println!("`{}` is locked: {held}", env.name);
            if !auto_approve {
                confirm(&format!(
                    "Break the lock of `{}`? If that run is still going, it stops starting work, and another run may start beside what it has in flight.",
                    env.name
                ))?;
            }
            match crate::lock::break_it(&sdk, &env).await? {
                Some(_) => println!("lock of `{}` broken", env.name),
                None => println!("`{}` was unlocked meanwhile", env.name),
            }
        }
    }
    Ok(ExitCode::Success)
}

/// Where apply's and seed's live progress goes: shown (on stderr: spinners on a terminal, plain
/// lines otherwise), only the final table (`-q`), or the log (`--log-format json`).
static PROGRESS: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(PROGRESS_SHOWN);
const PROGRESS_SHOWN: u8 = 0;
const PROGRESS_TABLE_ONLY: u8 = 1;
const PROGRESS_LOG: u8 = 2;

/// The progress screen of this command, if it has one.
fn screen() -> Option<std::sync::Arc<crate::progress::Screen>> {
    match PROGRESS.load(std::sync::atomic::Ordering::SeqCst) {
        PROGRESS_SHOWN => Some(crate::progress::Screen::stderr(
            std::io::stderr().is_terminal(),
        )),
        PROGRESS_TABLE_ONLY => Some(crate::progress::Screen::new(
            false,
            Box::new(std::io::sink()),
        )),
        _ => None,
    }
}

/// The sink of `screen`, or the log.
fn progress_of(
    screen: &Option<std::sync::Arc<crate::progress::Screen>>,
) -> layer_core::progress::Progress {
    match screen {
        Some(s) => layer_core::progress::Progress::to(s.clone()),
        None => layer_core::progress::Progress::default(),
    }
}

/// Close the screen and print the table of what was done.
fn print_table(
    screen: &Option<std::sync::Arc<crate::progress::Screen>>,
    took: std::time::Duration,
) {
    if let Some(s) = screen {
        s.close();
        let table = crate::progress::table(&s.rows(), took);
        if !table.is_empty() {
            println!("\n{}", table.trim_end());
        }
    }
}

/// Colour on stdout: only on a terminal, never with `NO_COLOR`.
fn stdout_colour() -> bool {
    crate::logging::use_colour(
        std::io::stdout().is_terminal(),
        std::env::var("NO_COLOR").ok(),
    )
}

async fn bootstrap(session: &Session) -> anyhow::Result<ExitCode> {
    let done = crate::verify::bootstrap_db(session).await?;
    for d in &done {
        println!(
            "  {:24} {}",
            d.database,
            if d.created { "created" } else { "exists" }
        );
    }
    println!(
        "Databases: {} created, {} already there.",
        done.iter().filter(|d| d.created).count(),
        done.iter().filter(|d| !d.created).count()
    );
    Ok(ExitCode::Success)
}

/// `--assume-role-arn` names an IAM role, or the run stops before any call.
fn check_role_arn(arn: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "iam"
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|r| !r.is_empty());
    if !ok {
        return Err(Error::Config(format!(
            "--assume-role-arn `{arn}` is not an IAM role ARN; give one like arn:aws:iam::123456789012:role/data-and-ai-plan"
        ))
        .into());
    }
    Ok(())
}

/// How `outputs` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputsFormat {
    /// `name = value`, one per line.
    Text,
    /// As `terraform output -json`.
    Json,
    /// A Terraform state document (version 4) with the outputs and no resources.
    TerraformState,
}

/// How `graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// SVG, drawn by Graphviz's `dot`.
    Svg,
}

/// SVG of a DOT graph, drawn by Graphviz's `dot` (found on `PATH`).
fn svg_of(dot: &str) -> anyhow::Result<Vec<u8>> {
    use std::process::{Command, Stdio};
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        anyhow::bail!("`--format svg` needs Graphviz's `dot`, which is not on PATH; install Graphviz (apt-get install graphviz, brew install graphviz, dnf install graphviz) or use `--format dot`");
    };
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(dot.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        anyhow::bail!(
            "Graphviz's dot failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// For a terminal.
    Text,
    /// For programs.
    Json,
    /// For a pull-request comment.
    Markdown,
}

/// The secrets' states for a pull-request comment, folded: names and states, never values.
fn print_states_markdown(states: &[(String, secrets_seed::State)]) {
    if states.is_empty() {
        return;
    }
    println!(
        "<details><summary>Secrets: {} (by state; plan never reads a value)</summary>\n",
        states.len()
    );
    println!("| secret | state |\n|---|---|");
    for (name, state) in states {
        println!("| `{name}` | {state} |");
    }
    println!("\n</details>");
}

fn print_states(states: &[(String, secrets_seed::State)]) {
    if states.is_empty() {
        return;
    }
    let width = states.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    println!("\nSecrets (by name and state; values are never read by plan):");
    for (name, state) in states {
        println!("  {name:width$}  {state}");
    }
}

fn confirm(question: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("confirmation needs a terminal; run in one or pass --auto-approve");
    }
    print!("{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    if line.trim() != "yes" {
        anyhow::bail!("cancelled: nothing was changed");
    }
    Ok(())
}

fn print_outputs(outputs: &Outputs) {
    println!("Outputs:\n");
    for (k, v) in outputs {
        println!("{k} = {v}");
    }
}

/// Load and connect, pointing the local environment at the running local AWS (and starting it
/// when `autostart`, as deploy does).
async fn connect(
    dir: &Path,
    name: &str,
    inv: &Invocation,
    autostart: bool,
) -> anyhow::Result<Session> {
    let env = environment(dir, name, inv, autostart).await?;
    let session = Session::connect(env).await?;
    for notice in &session.notices {
        tracing::warn!("{notice}");
    }
    Ok(session)
}

/// Load an environment; the local one is pointed at the running local AWS (started when
/// `autostart`).
async fn environment(
    dir: &Path,
    name: &str,
    inv: &Invocation,
    autostart: bool,
) -> anyhow::Result<layer_core::config::Environment> {
    let mut env = crate::load(dir, name)?;
    if let Some(arn) = &inv.assume_role_arn {
        env.assume_role_arn = Some(arn.clone());
    }
    if env.local {
        let configured = env.endpoint_url.clone().unwrap_or_default();
        env.endpoint_url = Some(match &inv.local {
            Some(local) => {
                local
                    .endpoint(&inv.root, &configured, &env.region, autostart)
                    .await?
            }
            None if answers(&configured) => configured,
            None => anyhow::bail!(
                "the local AWS is not running at {configured}; start it with `cargo xtask local up`"
            ),
        });
    }
    Ok(env)
}

/// Whether something listens at `url`'s host and port (the product's check of a local AWS).
fn answers(url: &str) -> bool {
    use std::net::ToSocketAddrs as _;
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return false;
    };
    let timeout = std::time::Duration::from_secs(2);
    (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, timeout).is_ok())
    })
}

#[cfg(test)]
mod help_tests {
    use super::*;
    use clap::CommandFactory;

    fn check(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
        if cmd.is_hide_set() {
            return;
        }
        if cmd.get_about().is_none() && path != "data-and-ai" {
            problems.push(format!("`{path}` has no help"));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() {
                problems.push(format!("`{path} --{id}` has no help"));
            }
        }
        let mut c = cmd.clone();
        let help = c.render_help().to_string();
        if cmd.get_subcommands().next().is_none() && !help.contains("Exit codes:") {
            problems.push(format!("`{path} --help` does not list the exit codes"));
        }
        for sub in cmd.get_subcommands() {
            check(sub, &format!("{path} {}", sub.get_name()), problems);
        }
    }

    #[test]
    fn every_command_and_flag_says_what_it_does_and_the_exit_codes() {
        let mut problems = Vec::new();
        check(&Cli::command(), "data-and-ai", &mut problems);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[cfg(test)]
mod completion_tests {
    use super::*;

    #[test]
    fn completions_name_every_command_and_the_environments_found() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["common.toml", "dev.toml", "team-x.toml", "local.toml"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut out = Vec::new();
            completions(shell, dir.path(), &mut out);
            let script = String::from_utf8(out).unwrap();
            for word in ["deploy", "seed", "iam-policy", "dev", "team-x", "local"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
            assert!(
                !script.contains("common"),
                "{shell}: common is no environment"
            );
        }
    }
}

#[cfg(test)]
mod ci_example_tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The `data-and-ai` command lines of a step's script, with `${{ … }}` and `"$VAR"` made
    /// concrete (an ARN for a role variable, `test` for the environment).
    fn commands(script: &str) -> Vec<Vec<String>> {
        script
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("data-and-ai "))
            .map(|l| {
                let mut l = l.split(" > ").next().unwrap_or(l).to_string();
                while let (Some(a), Some(b)) = (l.find("${{"), l.find("}}")) {
                    l.replace_range(a..b + 2, "arn:aws:iam::123456789012:role/ci");
                }
                l.split_whitespace()
                    .map(|w| {
                        let w = w.trim_matches('"');
                        if w == "$ENVIRONMENT" {
                            "test".to_string()
                        } else {
                            w.to_string()
                        }
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_ci_example_s_jobs_run_commands_the_cli_has() {
        let path = crate::manifest_dir().join("../../examples/ci/github-actions.yml");
        let text = std::fs::read_to_string(&path).expect("the example");
        let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("valid YAML");
        let jobs = docs[0]["jobs"].as_hash().expect("jobs");
        let mut by_job = BTreeMap::new();
        for (name, job) in jobs {
            let name = name.as_str().expect("a job name").to_string();
            let steps = job["steps"].as_vec().expect("steps");
            let mut lines = Vec::new();
            for step in steps {
                if let Some(script) = step["run"].as_str() {
                    lines.extend(commands(script));
                }
            }
            for args in &lines {
                let parsed = Cli::try_parse_from(args);
                assert!(
                    parsed.is_ok(),
                    "{name}: `{}`: {:?}",
                    args.join(" "),
                    parsed.err()
                );
            }
            let verbs: Vec<String> = lines.iter().map(|a| a[1].clone()).collect();
            by_job.insert(
                name,
                (
                    job["if"].as_str().unwrap_or_default().to_string(),
                    verbs,
                    lines,
                ),
            );
        }
        let (when, verbs, lines) = &by_job["plan"];
        assert!(when.contains("pull_request") && verbs == &["plan"]);
        for flag in [
            "--detailed-exitcode",
            "--format",
            "markdown",
            "--assume-role-arn",
        ] {
            assert!(lines[0].iter().any(|a| a == flag), "plan has {flag}");
        }
        let (when, verbs, lines) = &by_job["deploy"];
        assert!(when.contains("push") && verbs == &["deploy"]);
        assert!(lines[0].iter().any(|a| a == "--auto-approve"));
        let (when, verbs, _) = &by_job["seed-and-verify"];
        assert!(when.contains("schedule") && verbs == &["seed", "verify"]);
        // Each job its own role: no two jobs share one.
        let roles: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split("--assume-role-arn \"${{ vars.").nth(1))
            .map(|r| r.split(' ').next().unwrap_or_default())
            .collect();
        let mut unique = roles.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), roles.len(), "{roles:?}");
    }
}
