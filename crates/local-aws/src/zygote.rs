//! The moto zygote, for test suites: one Python process that has imported moto and built the
//! backends the layer calls forks a fresh, empty emulator per request, in milliseconds, where a
//! new `moto_server` spends two seconds of CPU importing before it answers. The first caller on
//! the machine starts it; every test process shares it through a Unix socket; it goes after a
//! minute without a request. An emulator lives as long as the connection that asked for it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The zygote's program (Python, run by the venv's interpreter).
const SCRIPT: &str = include_str!("data/moto_zygote.py");

/// How long the zygote waits for a request before it exits.
const IDLE_SECONDS: u32 = 60;

/// The account moto answers for and the region the sandboxes use: their backends are built
/// before the fork, so each emulator starts with them ready.
const WARM_ACCOUNT: &str = "123456789012";
const WARM_REGION: &str = "eu-central-2";

/// The moto services the layer calls (the gateway emulates the rest).
const WARM_SERVICES: &[&str] = &[
    "rds",
    "elasticache",
    "s3",
    "iam",
    "sts",
    "secretsmanager",
    "ec2",
    "logs",
    "kms",
    "bedrock",
    "amp",
    "resourcegroupstaggingapi",
];

/// An emulator forked from the zygote: it serves on `port` until this is dropped.
#[derive(Debug)]
pub struct Forked {
    _held: UnixStream,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// A fresh emulator from the zygote of `python` (the venv's interpreter), starting the zygote if
/// none answers.
pub async fn fork(python: &Path) -> anyhow::Result<Forked> {
    let socket = socket_path(python);
    let mut last = None;
    for _ in 0..3 {
        match ask(&socket).await {
            Ok(forked) => return Ok(forked),
            Err(e) => last = Some(e),
        }
        start(python, &socket).await?;
    }
    Err(last.expect("three attempts")).context("the moto zygote did not fork an emulator")
}

/// The socket's path: one zygote per interpreter and program (FNV-1a, stable across builds).
fn socket_path(python: &Path) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = format!(
        "{}\0{}\0{}",
        python.display(),
        crate::MOTO_REQUIREMENT,
        SCRIPT
    );
    for b in key.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    std::env::temp_dir().join(format!("dal-moto-zygote-{hash:016x}.sock"))
}

/// Ask the zygote at `socket` for an emulator.
async fn ask(socket: &Path) -> anyhow::Result<Forked> {
    let mut stream = UnixStream::connect(socket).await?;
    stream.write_all(b"spawn\n").await?;
    let mut line = String::new();
    let mut reader = BufReader::new(&mut stream);
    tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
        .await
        .context("the zygote did not answer in 10 s")??;
    let port = line
        .strip_prefix("port ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("the zygote answered {line:?}"))?;
    Ok(Forked {
        _held: stream,
        port,
    })
}

/// Start the zygote unless another caller is starting it; either way, wait for its socket.
async fn start(python: &Path, socket: &Path) -> anyhow::Result<()> {
    let lock = socket.with_extension("lock");
    let stale = std::fs::metadata(&lock)
        .and_then(|m| m.modified())
        .is_ok_and(|t| {
            SystemTime::now().duration_since(t).unwrap_or_default() > Duration::from_secs(120)
        });
    if stale {
        let _ = std::fs::remove_dir(&lock);
    }
    // mkdir is atomic: whoever makes the lock starts the zygote, the others wait for its socket.
    let starter = std::fs::create_dir(&lock).is_ok();
    if starter {
        let _ = std::fs::remove_file(socket);
        let result = spawn(python, socket);
        if result.is_err() {
            let _ = std::fs::remove_dir(&lock);
        }
        result?;
    }
    // The others wait for the starter to finish: a socket left by a zygote that was killed is
    // still on the path until the starter removes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !socket.exists() || (!starter && lock.exists()) {
        if Instant::now() > deadline {
            let _ = std::fs::remove_dir(&lock);
            bail!(
                "the moto zygote made no socket at {} in 60 s",
                socket.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if starter {
        let _ = std::fs::remove_dir(&lock);
    }
    Ok(())
}

/// The zygote's process, in a process group of its own (a test's end does not end it) and with
/// no output (a test runner waits on nothing of it).
fn spawn(python: &Path, socket: &Path) -> anyhow::Result<()> {
    let script = socket.with_extension("py");
    std::fs::write(&script, SCRIPT).context("writing the moto zygote")?;
    let mut cmd = std::process::Command::new(python);
    crate::child_env::restrict(&mut cmd, crate::child_env::Child::Plain)
        .arg(&script)
        .arg(socket)
        .arg(IDLE_SECONDS.to_string())
        .args([WARM_ACCOUNT, WARM_REGION])
        .args(WARM_SERVICES);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting the moto zygote with {}", python.display()))?;
    Ok(())
}
