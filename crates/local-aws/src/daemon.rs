//! The local AWS in the background, for `cargo xtask local up|down|status`.
//!
//! `up` starts a detached process (`<tool> local serve`) that runs moto and the gateway, creates
//! the stand-in infrastructure and then writes `.local/gateway.json`; `down` stops exactly the
//! process that file names. Both are idempotent.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use crate::LocalAws;

/// The default local AWS port.
pub const DEFAULT_PORT: u16 = 4566;

/// What a running local AWS wrote about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct State {
    /// The serving process.
    pub pid: u32,
    /// The local AWS endpoint.
    pub endpoint: String,
    /// The emulator's own port, behind the gateway.
    #[serde(alias = "moto_port")]
    pub emulator_port: u16,
    /// The data plane's address (PostgreSQL on 5432, Redis with TLS on 6380), or why there is
    /// none.
    #[serde(default)]
    pub data_plane: Option<String>,
}

/// Where the project keeps local AWS files (ignored by git).
pub fn local_dir(project_root: &Path) -> PathBuf {
    project_root.join(".local")
}

/// The emulator's venv.
pub fn venv_dir(project_root: &Path) -> PathBuf {
    local_dir(project_root).join("venv")
}

fn state_file(project_root: &Path) -> PathBuf {
    local_dir(project_root).join("gateway.json")
}

/// The state of a local AWS that is running and answering, if any.
pub async fn running(project_root: &Path) -> Option<State> {
    let text = std::fs::read_to_string(state_file(project_root)).ok()?;
    let state: State = serde_json::from_str(&text).ok()?;
    healthy(&state.endpoint).await.then_some(state)
}

/// Whether a gateway answers at `endpoint`.
pub async fn healthy(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    http_get(host, port, "/_gateway/health")
        .await
        .is_some_and(|(status, _)| status == 200)
}

/// A plain HTTP GET on loopback; `(status, body)`.
pub async fn http_get(host: &str, port: u16, path: &str) -> Option<(u16, String)> {
    http_request(host, port, "GET", path, "").await
}

/// A plain HTTP request with a JSON body on loopback (the gateway's control endpoints).
pub async fn http_request(
    host: &str,
    port: u16,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    .ok()?
    .ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Start the local AWS in the background unless it runs. `program` and `args` start the serving
/// process (the caller's own binary with its `local serve` subcommand).
pub async fn up(
    project_root: &Path,
    port: u16,
    program: &Path,
    args: &[String],
) -> anyhow::Result<(State, bool)> {
    // The local CA, which `rds-ca-bundle` holds on the local environment.
    crate::ca::ensure(&local_dir(project_root).join("ca"))?;
    if let Some(state) = running(project_root).await {
        return Ok((state, false));
    }
    // Install the emulator here, in the foreground, so that an install error reaches the operator.
    crate::moto::ensure_venv(&venv_dir(project_root))?;
    // And the data plane's servers (Debian's packages, installed when missing and allowed), here
    // too: an install is said to the operator and does not hold up the background start.
    if let Err(missing) = crate::dataplane::programs() {
        eprintln!("installing {missing} for the local data plane (PostgreSQL and Redis)");
        if let Err(e) = crate::dataplane::ensure_programs() {
            eprintln!("warning: {e:#}; the local AWS runs without a data plane, so verify and bootstrap-db cannot connect");
        }
    }
    let dir = local_dir(project_root);
    crate::private::private_dir(&dir)?;
    let _ = std::fs::remove_file(state_file(project_root));
    // What a daemon that died left behind (its servers died with it).
    crate::dataplane::clean_leftovers();
    let log = crate::private::private_file(&dir.join("gateway.log"))?;
    let mut cmd = std::process::Command::new(program);
    crate::child_env::restrict(&mut cmd, crate::child_env::Child::Daemon)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: it outlives this command and a Ctrl-C here.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(state) = running(project_root).await {
            return Ok((state, true));
        }
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
            bail!("the local AWS stopped at start ({status}); port {port} may be taken (choose another with --port). Its log:\n{log}");
        }
        if Instant::now() > deadline {
            bail!(
                "the local AWS did not come up within 120 s; see {}",
                dir.join("gateway.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Run the local AWS in the foreground until SIGTERM or SIGINT: moto, the gateway, the stand-in
/// infrastructure, then the state file that `up` waits for.
pub async fn serve(project_root: &Path, port: u16, region: &str) -> anyhow::Result<()> {
    let mut local = LocalAws::start(&venv_dir(project_root), port).await?;
    // The data plane: without it the control plane still works, and verify says what is missing.
    let data_plane = match local
        .start_data_plane(&local_dir(project_root).join("ca"))
        .await
    {
        Ok(plane) => {
            eprintln!(
                "local data plane: PostgreSQL on {0}:{1} and Redis on {0}:{2}, TLS only",
                plane.host(),
                crate::dataplane::POSTGRES_PORT,
                crate::dataplane::REDIS_PORT
            );
            Some(plane.host())
        }
        Err(e) => {
            eprintln!("warning: no local data plane ({e:#}); deploy works, verify and bootstrap-db cannot connect");
            None
        }
    };
    let sdk = crate::standin::sdk_config(&local.endpoint(), region).await;
    crate::standin::ensure(&sdk)
        .await
        .context("creating the stand-in infrastructure layer")?;
    // As AWS is: lists lag behind writes, and a new bucket or user is not seen at once.
    local
        .consistency()
        .set(crate::consistency::ConsistencySettings::aws_like());
    let state = State {
        pid: std::process::id(),
        endpoint: local.endpoint(),
        emulator_port: local.moto_port(),
        data_plane,
    };
    std::fs::write(
        state_file(project_root),
        serde_json::to_string_pretty(&state)?,
    )?;
    eprintln!("local AWS serving on {}", state.endpoint);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = std::fs::remove_file(state_file(project_root));
    local.stop().await;
    drop(local);
    Ok(())
}

/// Stop the local AWS that `up` started. Returns whether one was running.
pub async fn down(project_root: &Path) -> anyhow::Result<bool> {
    let file = state_file(project_root);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(false);
    };
    let state: State = serde_json::from_str(&text).context("reading .local/gateway.json")?;
    // Only the process we started, and only if it is still ours: its state file names it.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &state.pid.to_string()])
        .env_clear()
        .status()?;
    if status.success() {
        // The daemon stops its data plane first (up to ten seconds for each server).
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{}", state.pid)).exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let _ = std::fs::remove_file(&file);
    Ok(status.success())
}
