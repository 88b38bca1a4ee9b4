//! The local AWS of a front door that runs one (`cargo xtask`), reached from the installable
//! binary: a program named by `DAL_LOCAL_AWS` answers `local endpoint` with the endpoint, starting
//! the local AWS first when asked. The binary links no emulator; the front door sets the variable
//! when it runs the binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::AsyncBufReadExt as _;

/// The variable naming the program that runs the local AWS.
pub const LOCAL_AWS_PROGRAM: &str = "DAL_LOCAL_AWS";

/// A program answering `local endpoint --configured URL --region R [--start]`: the endpoint on
/// its standard output; notices, and its error as `error: …`, on its standard error.
#[derive(Debug, Clone)]
pub struct LocalProgram {
    /// The program (`cargo xtask`'s own executable).
    pub program: PathBuf,
}

impl LocalProgram {
    /// The program named by `DAL_LOCAL_AWS`, when set.
    pub fn from_env() -> Option<Self> {
        let program = std::env::var_os(LOCAL_AWS_PROGRAM)?;
        Some(Self {
            program: program.into(),
        })
    }
}

#[async_trait::async_trait]
impl crate::cli::LocalAws for LocalProgram {
    async fn endpoint(
        &self,
        root: &Path,
        configured: &str,
        region: &str,
        start: bool,
    ) -> anyhow::Result<String> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args([
            "local",
            "endpoint",
            "--configured",
            configured,
            "--region",
            region,
        ])
        .args(start.then_some("--start"))
        .env("DAL_ROOT", root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {}", self.program.display()))?;
        // Notices pass through as they come; the program's error becomes this one's.
        let stderr = child
            .stderr
            .take()
            .context("the program's standard error")?;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut error = None;
        while let Some(line) = lines.next_line().await? {
            match line.strip_prefix("error: ") {
                Some(message) => error = Some(message.to_string()),
                None => tracing::info!("{line}"),
            }
        }
        let out = child.wait_with_output().await?;
        let endpoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match (out.status.success(), error) {
            (true, _) if !endpoint.is_empty() => Ok(endpoint),
            (_, Some(message)) => anyhow::bail!(message),
            _ => anyhow::bail!(
                "{} gave no local AWS endpoint ({}); start it with `cargo xtask local up`",
                self.program.display(),
                out.status
            ),
        }
    }
}
