//! The local environment's data plane: a real PostgreSQL and a real Redis server, from the
//! machine's packages, that the emulated Aurora cluster and Redis group lead to.
//!
//! Both listen on a loopback address of their own (`127.0.0.N`, N from 2 up, so a PostgreSQL or
//! Redis of the machine on 127.0.0.1 is never in the way) on the ports the AWS API reports: 5432
//! and 6380. Both speak TLS only, with a server certificate issued by the local CA for that
//! address: PostgreSQL refuses a connection without TLS (`hostnossl … reject`, the effect of
//! `rds.force_ssl = 1`), and Redis has no plain-text port. The gateway reports this address as
//! every cluster's and replication group's endpoint, and keeps the master user's password in
//! PostgreSQL equal to the AWS-managed master secret (see [`crate::gateway`]).
//!
//! The servers' files live in a private temporary directory (mode 0700, an unpredictable name),
//! removed when the data plane stops: like the emulator's state, the data plane lasts as long as
//! the local AWS does. It stops with the local AWS on every path: [`DataPlane::stop`] when the
//! daemon is told to stop, the kernel's parent-death signal (`setpriv --pdeathsig`) when the
//! daemon dies, and [`clean_leftovers`] at the next start for the files a dead daemon left.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::process::{Child, Command};

/// The port PostgreSQL listens on, as the RDS API reports it.
pub const POSTGRES_PORT: u16 = 5432;
/// The port Redis listens on (TLS), as the spec configures it.
pub const REDIS_PORT: u16 = 6380;
/// The Debian packages that provide the servers.
pub const PACKAGES: [&str; 2] = ["postgresql", "redis-server"];

use crate::server_programs::Programs;

/// Find PostgreSQL and `redis-server` on this machine (see `server_programs`); else what is
/// missing, as the command that installs it here.
pub fn programs() -> Result<Programs, String> {
    let path = std::env::var_os("PATH");
    crate::server_programs::find(
        Path::new("/"),
        path.as_deref(),
        crate::server_programs::pg_config_bindir(),
    )
    .map_err(|missing| missing.join(" "))
}

/// Find the servers, installing Debian's packages when they are missing and this process may
/// (root, with apt-get); says so on stderr.
pub fn ensure_programs() -> anyhow::Result<Programs> {
    let missing = match programs() {
        Ok(p) => return Ok(p),
        Err(missing) => missing,
    };
    let root = is_root();
    if !root || !Path::new("/usr/bin/apt-get").exists() {
        let names: Vec<&str> = missing.split(' ').collect();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let how =
            crate::server_programs::install_hint(&names, cfg!(target_os = "macos"), &os_release);
        bail!("the local data plane needs PostgreSQL and Redis servers; install them with `{how}`");
    }
    // Debian's package names.
    let missing = missing.replace("redis", "redis-server");
    tracing::warn!("installing {missing} (the local data plane's servers) with apt-get");
    let quiet = |args: &[&str]| {
        let mut cmd = std::process::Command::new("apt-get");
        crate::child_env::restrict(&mut cmd, crate::child_env::Child::Plain)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(missing.split(' '));
    let ok = quiet(&install).is_ok_and(|s| s.success())
        || (quiet(&["update"]).is_ok_and(|s| s.success())
            && quiet(&install).is_ok_and(|s| s.success()));
    if !ok {
        bail!("apt-get could not install {missing}; install it by hand and run again");
    }
    programs().map_err(|m| anyhow::anyhow!("{m} still missing after apt-get install"))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The `postgres` system user's uid and gid (PostgreSQL refuses to run as root).
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == "postgres")
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

/// A running data plane; its servers stop and its files go when it is dropped.
#[derive(Debug)]
pub struct DataPlane {
    host: Ipv4Addr,
    dir: PathBuf,
    /// Removes `dir` when the data plane goes.
    _temp: tempfile::TempDir,
    socket_dir: PathBuf,
    postgres: tokio::sync::Mutex<Option<Child>>,
    redis: tokio::sync::Mutex<Option<Child>>,
    programs: Programs,
    server_cert: (PathBuf, PathBuf),
    /// Redis's certificate, from the Redis CA (as ElastiCache's is from Amazon's public CA).
    redis_cert: (PathBuf, PathBuf),
    ca_pem: PathBuf,
    owner: Option<(u32, u32)>,
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        for child in [self.postgres.get_mut(), self.redis.get_mut()] {
            if let Some(child) = child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}

/// The prefix of the data plane's temporary directories.
const DIR_PREFIX: &str = "dal-dataplane-";
/// The file in that directory naming the process that runs the data plane.
const OWNER_FILE: &str = "owner.pid";

/// Remove what a data plane whose process died left in the temporary directory (its servers,
/// started with a parent-death signal, died with it). Returns how many were removed.
pub fn clean_leftovers() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join(OWNER_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        let alive = owner.is_some_and(process_runs);
        if !alive && std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether process `pid` runs: it exists and is not a zombie (a killed daemon whose parent is
/// gone may stay one where nothing reaps it).
fn process_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Send `signal` to `child`, then wait for it to exit; kill it after `grace`.
async fn stop_child(child: &mut Child, signal: &str, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .env_clear()
            .status()
            .await;
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

impl DataPlane {
    /// Start PostgreSQL and Redis with certificates from the CA in `ca_dir` (made if missing).
    pub async fn start(ca_dir: &Path) -> anyhow::Result<Self> {
        let programs = ensure_programs()?;
        clean_leftovers();
        crate::ca::ensure(ca_dir)?;
        let owner = if is_root() {
            Some(postgres_user().context(
                "running as root, PostgreSQL needs the `postgres` system user (Debian's postgresql package makes it)",
            )?)
        } else {
            None
        };
        let mut last_error = None;
        for host in candidates() {
            match Self::start_on(host, ca_dir, &programs, owner).await {
                Ok(plane) => return Ok(plane),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free loopback address")))
    }

    async fn start_on(
        host: Ipv4Addr,
        ca_dir: &Path,
        programs: &Programs,
        owner: Option<(u32, u32)>,
    ) -> anyhow::Result<Self> {
        // Private, with a name no other local user can guess or take first.
        let temp = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir()?;
        let dir = temp.path().to_path_buf();
        set_mode(&dir, 0o700)?;
        std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string())?;
        let server_cert = crate::ca::issue_server(
            ca_dir,
            &dir.join("tls"),
            &[host.to_string(), "localhost".to_string()],
        )?;
        let redis_cert = crate::ca::issue_server(
            &ca_dir.join(crate::ca::REDIS_DIR),
            &dir.join("tls-redis"),
            &[host.to_string(), "localhost".to_string()],
        )?;
        // The administration socket is trusted: only its owner (and root) may reach it.
        let socket_dir = dir.join("socket");
        std::fs::create_dir_all(&socket_dir)?;
        set_mode(&socket_dir, 0o700)?;
        let mut plane = DataPlane {
            host,
            dir: dir.clone(),
            _temp: temp,
            socket_dir,
            postgres: tokio::sync::Mutex::new(None),
            redis: tokio::sync::Mutex::new(None),
            programs: programs.clone(),
            server_cert,
            redis_cert,
            ca_pem: ca_dir.join(crate::ca::CERT_FILE),
            owner,
        };
        if let Some((uid, gid)) = owner {
            // PostgreSQL runs as its own user: the directory is its, the root daemon reaches it
            // as root.
            for p in [
                &dir,
                &plane.socket_dir,
                &dir.join("tls"),
                &plane.server_cert.0,
                &plane.server_cert.1,
            ] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
            }
        }
        plane.start_postgres().await?;
        plane.start_redis().await?;
        Ok(plane)
    }

    /// The loopback address both servers listen on: every endpoint the gateway reports.
    pub fn host(&self) -> String {
        self.host.to_string()
    }

    /// The CA certificate PostgreSQL's certificate chains to (Redis's chains to the Redis CA).
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// A command for `program`, run as PostgreSQL's user when this runs as root, with the
    /// allowlisted environment only; with `pdeathsig`, it dies with this process.
    fn command(&self, program: &Path, pdeathsig: Option<&str>) -> Command {
        let mut cmd = match pdeathsig {
            Some(signal) => crate::child_env::dying_with_parent(program, signal),
            None => Command::new(program),
        };
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        crate::child_env::restrict_async(&mut cmd, crate::child_env::Child::Plain);
        cmd.kill_on_drop(true);
        cmd
    }

    /// Stop both servers (PostgreSQL with a fast shutdown, Redis with SIGTERM), waiting for each
    /// to exit, and remove their files.
    pub async fn stop(&self) {
        let grace = Duration::from_secs(10);
        if let Some(mut child) = self.postgres.lock().await.take() {
            stop_child(&mut child, "INT", grace).await;
        }
        if let Some(mut child) = self.redis.lock().await.take() {
            stop_child(&mut child, "TERM", grace).await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// The process ids of the servers that run (PostgreSQL's postmaster, Redis).
    pub async fn pids(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for child in [&self.postgres, &self.redis] {
            out.extend(child.lock().await.as_ref().and_then(Child::id));
        }
        out
    }

    async fn start_postgres(&mut self) -> anyhow::Result<()> {
        let data = self.dir.join("pg");
        std::fs::create_dir_all(&data)?;
        set_mode(&data, 0o700)?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))?;
        }
        let out = self
            .command(&self.programs.initdb, None)
            .args(["-D"])
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=reject",
                "--no-instructions",
            ])
            .stdin(Stdio::null())
            .output()
            .await
            .context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        self.write_hba(false)?;
        let log = std::fs::File::create(self.dir.join("postgres.log"))?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(self.dir.join("postgres.log"), Some(uid), Some(gid))?;
        }
        let settings = [
            format!("listen_addresses={}", self.host),
            format!("port={POSTGRES_PORT}"),
            format!("unix_socket_directories={}", self.socket_dir.display()),
            "ssl=on".into(),
            format!("ssl_cert_file={}", self.server_cert.0.display()),
            format!("ssl_key_file={}", self.server_cert.1.display()),
            "password_encryption=scram-sha-256".into(),
            "fsync=off".into(),
            "max_connections=60".into(),
            "shared_buffers=16MB".into(),
        ];
        let mut cmd = self.command(&self.programs.postgres, Some("INT"));
        cmd.arg("-D").arg(&data);
        for s in &settings {
            cmd.arg("-c").arg(s);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting postgres")?;
        *self.postgres.get_mut() = Some(child);
        for _ in 0..300 {
            if self.admin("SELECT 1").await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .postgres
                .get_mut()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log =
                    std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                bail!(
                    "postgres exited ({status}): {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("postgres did not start within 30 s")
    }

    /// Write `pg_hba.conf`: the local socket trusted (the gateway's administration), TLS
    /// connections with a password, and connections without TLS refused unless `plaintext`.
    fn write_hba(&self, plaintext: bool) -> anyhow::Result<()> {
        let path = self.dir.join("pg").join("pg_hba.conf");
        let no_tls = if plaintext {
            "hostnossl all all 0.0.0.0/0 scram-sha-256"
        } else {
            "hostnossl all all 0.0.0.0/0 reject"
        };
        std::fs::write(
            &path,
            format!(
                "# written by the local data plane\nlocal all all trust\nhostssl all all 0.0.0.0/0 scram-sha-256\n{no_tls}\n"
            ),
        )?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// Accept connections without TLS too (`plaintext`), or refuse them again: what turning
    /// `rds.force_ssl` off and on does on Aurora.
    pub async fn allow_plaintext(&self, plaintext: bool) -> anyhow::Result<()> {
        self.write_hba(plaintext)?;
        self.admin("SELECT pg_reload_conf()").await
    }

    /// Run SQL as the `postgres` superuser over the local socket.
    pub async fn admin(&self, sql: &str) -> anyhow::Result<()> {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(POSTGRES_PORT)
            .user("postgres")
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
        // The statement may carry a value: the connection's own logs stay out too.
        let task = tokio::spawn(layer_core::log_guard::carrying(connection));
        let result = client.batch_execute(sql).await;
        drop(client);
        let _ = task.await;
        result.context("running SQL on the local PostgreSQL")
    }

    /// Make `user` a login role with `password` (creating it if missing), as the master user of
    /// an Aurora cluster: it may create databases and roles. The server receives the password's
    /// SCRAM-SHA-256 verifier (salted and hashed here), never the password: a statement can end
    /// up in a log, PostgreSQL's or a client library's.
    pub async fn set_password(&self, user: &str, password: &str) -> anyhow::Result<()> {
        let verifier = postgres_protocol::password::scram_sha_256(password.as_bytes());
        // Neither can be passed as a parameter in these statements: the name is quoted as an
        // identifier, the verifier (base64 and `$:`, never a quote) as a literal.
        let ident = format!("\"{}\"", user.replace('"', "\"\""));
        let name = format!("'{}'", user.replace('\'', "''"));
        let sql = zeroize::Zeroizing::new(format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN CREATE ROLE {ident} LOGIN CREATEDB CREATEROLE; END IF; END $$; ALTER ROLE {ident} WITH LOGIN CREATEDB CREATEROLE PASSWORD '{verifier}';",
        ));
        layer_core::log_guard::carrying(self.admin(&sql)).await
    }

    async fn start_redis(&mut self) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.join("redis.log"))?;
        let (cert, key) = &self.redis_cert;
        let mut cmd = crate::child_env::dying_with_parent(&self.programs.redis, "TERM");
        crate::child_env::restrict_async(&mut cmd, crate::child_env::Child::Plain);
        let child = cmd
            .kill_on_drop(true)
            .args(["--bind", &self.host.to_string(), "--port", "0"])
            .args(["--tls-port", &REDIS_PORT.to_string()])
            .arg("--tls-cert-file")
            .arg(cert)
            .arg("--tls-key-file")
            .arg(key)
            .arg("--tls-ca-cert-file")
            .arg(&self.ca_pem)
            .args(["--tls-auth-clients", "no"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting redis-server")?;
        *self.redis.get_mut() = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect((self.host, REDIS_PORT))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if let Some(status) = self
                .redis
                .get_mut()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                bail!(
                    "redis-server exited ({status}): {}",
                    log.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("redis-server did not start within 10 s")
    }

    /// Stop the Redis server (as an unreachable cache would be).
    pub async fn stop_redis(&self) {
        if let Some(mut child) = self.redis.lock().await.take() {
            let _ = child.kill().await;
        }
    }
}

/// Loopback addresses to try, starting at one that depends on the process, so that parallel
/// tests rarely meet.
fn candidates() -> impl Iterator<Item = Ipv4Addr> {
    let start = 2 + (std::process::id() % 200) as u8;
    (0u8..50)
        .map(move |i| {
            let n = 2 + (start - 2).wrapping_add(i.wrapping_mul(7)) % 250;
            Ipv4Addr::new(127, 0, 0, n)
        })
        .filter(|ip| {
            std::net::TcpListener::bind((*ip, POSTGRES_PORT)).is_ok()
                && std::net::TcpListener::bind((*ip, REDIS_PORT)).is_ok()
        })
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}
