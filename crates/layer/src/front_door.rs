//! The local AWS of a front door that runs one (`cargo xtask`), reached from the installable
//! binary: a program named by `DAL_LOCAL_AWS` answers `local endpoint` with the endpoint, starting
//! the local AWS first when asked. The binary links no emulator; the front door sets the variable
//! when it runs the binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context as _;

/// The variable naming the program that runs the local AWS.
pub const LOCAL_AWS_PROGRAM: &str = "DAL_LOCAL_AWS";

/// What the program is never given: the operator's AWS keys (it talks only to the local AWS).
const WITHHELD: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// A program answering `local endpoint --configured URL --region R [--start]`: the endpoint as the
/// last line of its standard output; notices on its standard error, and its error from the first
/// line that starts `error: ` to the end.
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

/// The program's answer when it gave neither an endpoint nor an error.
const NO_ENDPOINT: &str = "gave no local AWS endpoint; start it with `cargo xtask local up`";

/// What the program said: its error (the first `error: ` line and all after it), or the endpoint
/// (its last line of output that parses as a URL); notices pass through as log lines.
fn answer(stdout: &[u8], stderr: &[u8], succeeded: bool) -> Result<String, String> {
    let stderr = String::from_utf8_lossy(stderr);
    let mut error: Option<String> = None;
    for line in stderr.lines() {
        match (&mut error, line.strip_prefix("error: ")) {
            (Some(e), _) => {
                e.push('\n');
                e.push_str(line);
            }
            (None, Some(first)) => error = Some(first.to_string()),
            (None, None) => match line.strip_prefix("warning: ") {
                Some(w) => tracing::warn!("{w}"),
                None => tracing::info!("{line}"),
            },
        }
    }
    let stdout = String::from_utf8_lossy(stdout);
    let endpoint = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| url::Url::parse(l).is_ok());
    match (succeeded, error, endpoint) {
        (_, Some(error), _) => Err(error),
        (true, None, Some(endpoint)) => Ok(endpoint.to_string()),
        _ => Err(NO_ENDPOINT.into()),
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
        .stderr(Stdio::piped())
        // A Ctrl-C at the terminal is this process's to handle: the start (an install of the
        // emulator, the first time) finishes or fails cleanly, never killed halfway.
        .process_group(0);
        for name in WITHHELD {
            cmd.env_remove(name);
        }
        // `output` reads both streams at once: a program filling one pipe while this one waited on
        // the other would never end.
        let out = cmd
            .output()
            .await
            .with_context(|| format!("running {}", self.program.display()))?;
        let status = out.status;
        answer(&out.stdout, &out.stderr, status.success()).map_err(|e| {
            if e == NO_ENDPOINT {
                anyhow::anyhow!("{} {e} ({status})", self.program.display())
            } else {
                anyhow::anyhow!(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn the_endpoint_is_the_last_url_and_the_error_runs_from_its_first_line() {
        let noisy = b"Collecting moto\nInstalling collected packages\nhttp://127.0.0.1:4566\n";
        assert_eq!(answer(noisy, b"", true), Ok("http://127.0.0.1:4566".into()));
        assert!(answer(b"", b"", true).unwrap_err().starts_with("gave no"));
        assert!(answer(b"\n", b"", false)
            .unwrap_err()
            .starts_with("gave no"));
        let stderr = b"starting\nerror: port 4566 may be taken (choose another with --port). Its log:\nerror: bind failed\n";
        assert_eq!(
            answer(b"", stderr, false),
            Err(
                "port 4566 may be taken (choose another with --port). Its log:\nerror: bind failed"
                    .into()
            )
        );
        assert_eq!(
            answer(
                b"http://127.0.0.1:4566\n",
                b"\xff\xfeerror: bad bytes\n",
                false
            ),
            Err("gave no local AWS endpoint; start it with `cargo xtask local up`".into())
        );
    }
}
