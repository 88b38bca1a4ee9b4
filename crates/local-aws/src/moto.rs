//! The moto server: its venv (installed on first use, pinned) and its process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Child;

use crate::MOTO_REQUIREMENT;

/// Make sure `venv` holds the pinned moto server; install it the first time. Returns the path of
/// `moto_server`. Concurrent callers wait for one install.
pub fn ensure_venv(venv: &Path) -> anyhow::Result<PathBuf> {
    let server = venv.join("bin").join("moto_server");
    let marker = venv.join(".installed");
    let installed = || {
        std::fs::read_to_string(&marker)
            .map(|s| s.trim() == MOTO_REQUIREMENT)
            .unwrap_or(false)
    };
    if installed() && server.exists() {
        return Ok(server);
    }
    let parent = venv.parent().context("venv path has no parent")?;
    std::fs::create_dir_all(parent)?;
    let lock = venv.with_extension("lock");
    let started = Instant::now();
    // mkdir is atomic: whoever creates the lock directory installs, the others wait.
    while std::fs::create_dir(&lock).is_err() {
        if installed() && server.exists() {
            return Ok(server);
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("waited 10 minutes for another install of the emulator; remove {} if no install is running", lock.display());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let result = install(venv, &marker);
    let _ = std::fs::remove_dir(&lock);
    result?;
    Ok(server)
}

fn install(venv: &Path, marker: &Path) -> anyhow::Result<()> {
    tracing::info!(
        "installing the local AWS emulator ({MOTO_REQUIREMENT}) into {} (about a minute, once)",
        venv.display()
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut venv_cmd = std::process::Command::new(&python);
    let status = crate::child_env::restrict(&mut venv_cmd, crate::child_env::Child::Plain)
        .args(["-m", "venv"])
        .arg(venv)
        .status()
        .with_context(|| format!("running {python} -m venv; install Python 3 with venv and pip"))?;
    if !status.success() {
        bail!(
            "{python} -m venv {} failed; install the python3-venv package",
            venv.display()
        );
    }
    let pip = venv.join("bin").join("pip");
    let mut pip_cmd = std::process::Command::new(&pip);
    let status = crate::child_env::restrict(&mut pip_cmd, crate::child_env::Child::Pip)
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            MOTO_REQUIREMENT,
        ])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install {MOTO_REQUIREMENT} failed; check access to PyPI");
    }
    std::fs::write(marker, MOTO_REQUIREMENT)?;
    Ok(())
}

/// A free port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A running moto server; killed when dropped.
#[derive(Debug)]
pub struct Moto {
    _process: Process,
    port: u16,
}

/// Where the server runs: a process of its own, or a fork of the shared zygote.
#[derive(Debug)]
enum Process {
    Own { _child: Child },
    Forked { _held: crate::zygote::Forked },
}

impl Moto {
    /// Start `moto_server` on `port` (0 for a free one) and wait until it answers.
    pub async fn start(server: &Path, port: u16) -> anyhow::Result<Self> {
        let port = if port == 0 { free_port()? } else { port };
        let mut cmd = crate::child_env::dying_with_parent(server, "TERM");
        let mut child = crate::child_env::restrict_async(&mut cmd, crate::child_env::Child::Plain)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", server.display()))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if answers(port).await {
                return Ok(Moto {
                    _process: Process::Own { _child: child },
                    port,
                });
            }
            if let Some(status) = child.try_wait()? {
                bail!("moto_server exited at start ({status}); is port {port} taken?");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not answer on port {port} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A fresh server forked from the shared zygote of the venv holding `server` (see
    /// [`crate::zygote`]): for test suites, which start hundreds.
    pub async fn forked(server: &Path) -> anyhow::Result<Self> {
        let forked = crate::zygote::fork(&server.with_file_name("python3")).await?;
        Ok(Moto {
            port: forked.port,
            _process: Process::Forked { _held: forked },
        })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

async fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let req = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).await.is_ok() && buf.starts_with(b"HTTP/1.")
}
