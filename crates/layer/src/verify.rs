//! The spec's post-deployment steps as commands, run where the cluster is reachable (inside the
//! VPC; on the local environment, on this machine):
//!
//! - [`bootstrap_db`] creates the databases of `postgresql_databases` over TLS as the master
//!   user, with the password of the AWS-managed master secret. Idempotent.
//! - [`verify`] is read-only: every check passed, failed or warned with its reason.
//!
//! IAM permissions verify uses (read-only): `rds:DescribeDBClusters`,
//! `rds:DescribeDBClusterParameters`, the read-only calls of `plan` (it observes the layer),
//! `secretsmanager:DescribeSecret` and `GetSecretValue` on the secrets (`{nid}/*`, or as
//! `[secrets]` names them) and on the master secret (`rds!cluster-*`), `kms:Decrypt` on the secrets' key, and `iam:ListAccessKeys` on
//! the S3 access user. bootstrap-db needs `GetSecretValue` on the master secret and
//! `kms:Decrypt` besides what observing the cluster takes.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use data_aurora::postgres::{self, Target};
use layer_core::config::Environment;
use layer_core::{Outputs, Result, SecretValue};
use serde::{Deserialize, Serialize};

use crate::Session;

/// The section of the environment file that says what verify trusts.
pub const SECTION: &str = "verify";

/// `[verify]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySettings {
    /// A PEM file of further CAs that a Redis server's certificate may chain to, besides the
    /// operating system's roots (relative paths from the project root). On AWS none is needed:
    /// ElastiCache presents a certificate from Amazon's public CA. The local environment's Redis
    /// CA is such a file, written by `local up`.
    #[serde(default)]
    pub extra_ca_file: Option<String>,
}

impl VerifySettings {
    /// Read and check `[verify]`.
    pub fn load(env: &Environment) -> Result<Self> {
        env.section(SECTION)
    }

    /// The extra CAs' PEM, read from their file; the error names the key and the file.
    fn extra_pem(&self, env: &Environment) -> std::result::Result<Option<String>, String> {
        let Some(file) = &self.extra_ca_file else {
            return Ok(None);
        };
        let path = Path::new(file);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            env.file
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."))
                .join(path)
        };
        match std::fs::read_to_string(&path) {
            Ok(pem) if pem.contains("BEGIN CERTIFICATE") => Ok(Some(pem)),
            Ok(_) => Err(format!(
                "verify.extra_ca_file: {} holds no PEM certificate",
                path.display()
            )),
            Err(e) => Err(format!(
                "verify.extra_ca_file: cannot read {}: {e}; on the local environment `cargo xtask local up` writes it",
                path.display()
            )),
        }
    }
}

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// A check's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As it should be.
    Pass,
    /// Not as it should be: verify exits non-zero.
    Fail,
    /// Needs a person's attention, but is not an error.
    Warn,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub check: String,
    /// Its result.
    pub status: Status,
    /// Why.
    pub detail: String,
}

/// Every check of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The environment.
    pub environment: String,
    /// Whether no check failed.
    pub passed: bool,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, check: impl Into<String>, status: Status, detail: impl Into<String>) {
        if status == Status::Fail {
            self.passed = false;
        }
        self.checks.push(Check {
            check: check.into(),
            status,
            detail: detail.into(),
        });
    }

    fn result(&mut self, check: impl Into<String>, result: std::result::Result<String, String>) {
        match result {
            Ok(detail) => self.push(check, Status::Pass, detail),
            Err(detail) => self.push(check, Status::Fail, detail),
        }
    }

    /// The failed checks.
    pub fn failed(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .collect()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Verify `{}`:", self.environment)?;
        for c in &self.checks {
            let mark = match c.status {
                Status::Pass => "PASS",
                Status::Fail => "FAIL",
                Status::Warn => "WARN",
            };
            writeln!(f, "  {mark}  {}: {}", c.check, c.detail)?;
        }
        let (fail, warn) = (
            self.failed().len(),
            self.checks
                .iter()
                .filter(|c| c.status == Status::Warn)
                .count(),
        );
        write!(
            f,
            "{} checks: {} passed, {fail} failed, {warn} warnings.",
            self.checks.len(),
            self.checks.len() - fail - warn
        )
    }
}

fn text(outputs: &Outputs, key: &str) -> Option<String> {
    outputs
        .get(key)
        .map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .filter(|s| !s.is_empty() && s != "null")
}

/// What both commands need to reach the cluster as its master user.
struct Master {
    target: Target,
    password: SecretValue,
    ca_pem: String,
}

async fn master(
    session: &Session,
    reader: &secrets_seed::Reader,
    outputs: &Outputs,
) -> std::result::Result<Master, String> {
    let host = text(outputs, "aurora_cluster_endpoint")
        .ok_or("the Aurora cluster has no endpoint yet: deploy first")?;
    let port = text(outputs, "aurora_cluster_port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let user = text(outputs, "_aurora_master_username").unwrap_or_else(|| "dbadmin".into());
    let database =
        text(outputs, "aurora_cluster_database_name").unwrap_or_else(|| "postgres".into());
    let arn = text(outputs, "aurora_master_user_secret_arn")
        .ok_or("the cluster has no AWS-managed master secret")?;
    let password = reader
        .master_password(&arn)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("the master secret {arn} holds no value"))?;
    let ca_name = secrets_seed::names(&session.env).full("rds-ca-bundle");
    let ca_pem = reader
        .value(&ca_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{ca_name} holds no CA bundle: deploy writes it"))?
        .expose_secret()
        .to_string();
    Ok(Master {
        target: Target {
            host,
            port,
            user,
            database,
        },
        password,
        ca_pem,
    })
}

/// Create the databases of `postgresql_databases` that are missing. Idempotent.
pub async fn bootstrap_db(session: &Session) -> Result<Vec<postgres::Bootstrapped>> {
    let outputs = session.observe().await?;
    let reader = secrets_seed::Reader::new(&session.sdk);
    let m = master(session, &reader, &outputs)
        .await
        .map_err(layer_core::Error::Other)?;
    let conn = postgres::connect_tls(&m.target, &m.password, &m.ca_pem).await?;
    postgres::bootstrap(&conn, &session.databases).await
}

async fn resolves(host: &str, port: u16) -> std::result::Result<String, String> {
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let addrs: BTreeSet<String> = addrs.map(|a| a.ip().to_string()).collect();
            if addrs.is_empty() {
                Err(format!("{host} resolves to no address"))
            } else {
                Ok(format!(
                    "{host} resolves to {}",
                    addrs.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
        }
        Ok(Err(e)) => Err(format!("{host} does not resolve: {e}")),
        Err(_) => Err(format!(
            "{host} did not resolve within {}s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}

/// Run every check. Read-only.
pub async fn verify(session: &Session) -> Result<Report> {
    let env = &session.env;
    let mut report = Report {
        environment: env.name.clone(),
        passed: true,
        checks: Vec::new(),
    };
    let outputs = session.observe().await?;
    let reader = secrets_seed::Reader::new(&session.sdk);
    let names = secrets_seed::names(env);
    // Every secret value read here, to prove that none reached the outputs or this report.
    let mut seen: Vec<(String, SecretValue)> = Vec::new();

    // Aurora.
    let port = text(&outputs, "aurora_cluster_port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    for (what, key) in [
        ("writer", "aurora_cluster_endpoint"),
        ("reader", "aurora_cluster_reader_endpoint"),
    ] {
        let check = format!("aurora: {what} endpoint resolves");
        match text(&outputs, key) {
            Some(host) => report.result(check, resolves(&host, port).await),
            None => report.push(check, Status::Fail, "no endpoint: deploy first"),
        }
    }
    let master = master(session, &reader, &outputs).await;
    let mut databases = None;
    match &master {
        Err(why) => report.push(
            "aurora: TLS connection as the master user",
            Status::Fail,
            why,
        ),
        Ok(m) => {
            seen.push(("the master password".into(), m.password.clone()));
            let check = format!(
                "aurora: TLS connection as {} verified against rds-ca-bundle",
                m.target.user
            );
            match postgres::connect_tls(&m.target, &m.password, &m.ca_pem).await {
                Ok(conn) => {
                    let tls = conn.is_tls().await.unwrap_or(false);
                    let user = conn.current_user().await.unwrap_or_default();
                    report.result(
                        check,
                        if tls && user == m.target.user {
                            Ok(format!("{} (TLS, authenticated as {user})", m.target))
                        } else {
                            Err(format!("{}: TLS {tls}, user `{user}`", m.target))
                        },
                    );
                    databases = Some(conn.databases().await);
                }
                Err(e) => report.push(check, Status::Fail, e.to_string()),
            }
        }
    }
    // rds.force_ssl: as the API reports it, and its effect on the server.
    let parameter_group = data_aurora::AuroraSettings::load(env)?
        .names(env)?
        .parameter_group;
    report.result(
        "aurora: rds.force_ssl is on (cluster parameter group)",
        match data_aurora::postgres::force_ssl(&session.sdk, &parameter_group).await {
            Ok(Some(v)) if v == "1" => Ok(format!("{parameter_group}: rds.force_ssl = 1")),
            Ok(Some(v)) => Err(format!("{parameter_group}: rds.force_ssl = {v}")),
            Ok(None) => Err(format!("{parameter_group}: rds.force_ssl is not set")),
            Err(e) => Err(e.to_string()),
        },
    );
    if let Ok(m) = &master {
        report.result(
            "aurora: a connection without TLS is refused (rds.force_ssl's effect)",
            match postgres::probe_plain(&m.target).await {
                Ok(postgres::PlainText::Refused(why)) => Ok(format!("refused: {why}")),
                Ok(postgres::PlainText::Accepted(why)) => {
                    Err(format!("{why}: the server does not enforce rds.force_ssl"))
                }
                Err(e) => Ok(format!("refused: {e}")),
            },
        );
    }
    match databases {
        Some(Ok(existing)) => {
            for db in &session.databases {
                report.result(
                    format!("aurora: database {db} exists"),
                    if existing.contains(db) {
                        Ok("present".into())
                    } else {
                        Err(format!(
                            "database {db} is missing: run `bootstrap-db {}`",
                            env.name
                        ))
                    },
                );
            }
        }
        Some(Err(e)) => report.push("aurora: databases", Status::Fail, e.to_string()),
        None => report.push(
            "aurora: databases",
            Status::Fail,
            "not checked: no connection as the master user",
        ),
    }

    // Each connection string opens its own database over TLS.
    for db in &session.databases {
        let name = names.full(&format!("psql-connection-string-{db}"));
        let check = format!("secret psql-connection-string-{db} connects to {db}");
        let value = match reader.value(&name).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                report.push(
                    check,
                    Status::Fail,
                    format!("{name} holds no value: run seed"),
                );
                continue;
            }
            Err(e) => {
                report.push(check, Status::Fail, e.to_string());
                continue;
            }
        };
        let ca = master
            .as_ref()
            .map(|m| m.ca_pem.clone())
            .unwrap_or_default();
        let result = match parse_connection_string(&value) {
            Err(why) => Err(format!("{name}: {why}")),
            Ok((target, password)) => {
                seen.push((name.clone(), password.clone()));
                match postgres::connect_tls(&target, &password, &ca).await {
                    Ok(conn) => match conn.current_database().await {
                        Ok(current) if current == *db => Ok(format!("{target} (TLS)")),
                        Ok(current) => Err(format!("{name} opens database {current}, not {db}")),
                        Err(e) => Err(format!("{name}: {e}")),
                    },
                    Err(e) => Err(format!("{name}: {e}")),
                }
            }
        };
        seen.push((name, value));
        report.result(check, result);
    }

    // Redis.
    let redis_host = text(&outputs, "elasticache_primary_endpoint_address");
    let redis_port: u16 = text(&outputs, "elasticache_port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(6380);
    match &redis_host {
        None => report.push(
            "redis: TLS PING",
            Status::Fail,
            "no primary endpoint: deploy first",
        ),
        Some(host) => {
            // The operating system's roots and `[verify] extra_ca_file`: never the RDS bundle,
            // which ElastiCache's certificates do not chain to.
            let extra = VerifySettings::load(env)?.extra_pem(env);
            report.result(
                format!("redis: TLS connection to {host}:{redis_port} answers PING, verified against the system's roots"),
                match extra {
                    Err(why) => Err(why),
                    Ok(extra) => {
                        let roots = data_redis::ping::trust_roots(extra.as_deref());
                        match data_redis::ping::ping_tls(host, redis_port, &roots).await {
                            Ok(answer) if answer == "PONG" => Ok("PONG".into()),
                            Ok(answer) => Err(format!("answered {answer}")),
                            Err(e) => Err(e.to_string()),
                        }
                    }
                },
            );
            report.result(
                "redis: a plain-text connection is refused",
                match data_redis::ping::ping_plain(host, redis_port).await {
                    Ok(_) => Err(format!("{host}:{redis_port} answered without TLS")),
                    Err(e) => Ok(format!("refused: {e}")),
                },
            );
        }
    }

    // Secrets, from metadata.
    let states = session.secret_states(&outputs).await?;
    let by = |pick: fn(&secrets_seed::State) -> bool| -> Vec<String> {
        states
            .iter()
            .filter(|(_, s)| pick(s))
            .map(|(n, _)| n.clone())
            .collect()
    };
    use secrets_seed::State;
    let missing = by(|s| matches!(s, State::NoContainer));
    report.result(
        "secrets: every container exists",
        if missing.is_empty() {
            Ok(format!("{} containers", states.len()))
        } else {
            Err(format!(
                "missing: {} (deploy creates them)",
                missing.join(", ")
            ))
        },
    );
    let unseeded = by(|s| matches!(s, State::Unseeded));
    report.result(
        "secrets: every generated and derived secret is seeded",
        if unseeded.is_empty() {
            Ok("all seeded".into())
        } else {
            Err(format!("unseeded: {} (run seed)", unseeded.join(", ")))
        },
    );
    let stale: Vec<String> = states
        .iter()
        .filter_map(|(n, s)| match s {
            State::Stale(why) => Some(format!("{n} ({why})")),
            _ => None,
        })
        .collect();
    report.result(
        "secrets: no derived secret is stale against its source",
        if stale.is_empty() {
            Ok("all follow their sources".into())
        } else {
            Err(format!("stale: {} (run seed)", stale.join("; ")))
        },
    );
    for (name, _) in states
        .iter()
        .filter(|(_, s)| matches!(s, State::WaitingForAPerson))
    {
        report.push(
            format!("secrets: {name}"),
            Status::Warn,
            "waits for a person to set it",
        );
    }
    // The S3 key pair belongs to the S3 user and is active.
    let key_id = reader.value(&names.full("s3-access-key-id")).await;
    report.result(
        format!("secrets: the S3 key pair belongs to {} and is active", session.s3_user),
        match key_id {
            Ok(Some(id)) => match reader
                .access_key_status(&session.s3_user, id.expose_secret())
                .await
            {
                Ok(Some(status)) if status == "Active" => Ok("active".into()),
                Ok(Some(status)) if status == secrets_seed::NOT_LISTED_YET => Ok(
                    "made moments ago: IAM knows it as the user's, its list does not show it yet (keys are made active)"
                        .into(),
                ),
                Ok(Some(status)) => Err(format!("the key is {status}")),
                Ok(None) => Err(format!(
                    "the key in s3-access-key-id is not one of {}'s keys: run seed --rotate s3-access-key-id",
                    session.s3_user
                )),
                Err(e) => Err(e.to_string()),
            },
            Ok(None) => Err("s3-access-key-id holds no value: run seed".into()),
            Err(e) => Err(e.to_string()),
        },
    );
    for s in [
        "s3-secret-access-key",
        "zitadel-master-key",
        "litellm-proxy-master-key",
    ] {
        if let Ok(Some(v)) = reader.value(&names.full(s)).await {
            seen.push((s.to_string(), v));
        }
    }

    // Zero secrets: no value read above appears in the outputs or in this report.
    let outputs_text =
        serde_json::to_string(&session.layer_outputs(outputs.clone())).unwrap_or_default();
    let report_text = format!(
        "{report}\n{}",
        serde_json::to_string(&report).unwrap_or_default()
    );
    let leaked: Vec<&str> = seen
        .iter()
        .filter(|(_, v)| v.expose_secret().len() >= 6)
        .filter(|(_, v)| {
            outputs_text.contains(v.expose_secret()) || report_text.contains(v.expose_secret())
        })
        .map(|(n, _)| n.as_str())
        .collect();
    report.result(
        "zero secrets: the outputs and this report hold no secret value",
        if leaked.is_empty() {
            Ok(format!("{} values checked", seen.len()))
        } else {
            Err(format!("found the value of {}", leaked.join(", ")))
        },
    );
    Ok(report)
}

/// Read a connection string (`postgresql://user:password@host:port/database?…`): its target and
/// its password, percent-decoded. Parsed in place, so no plain copy of the string (a `Url`)
/// outlives the call; only the password leaves, in its type.
fn parse_connection_string(
    value: &SecretValue,
) -> std::result::Result<(Target, SecretValue), String> {
    let not_url = || "is not a postgresql:// URL".to_string();
    let text = value.expose_secret();
    let rest = text
        .strip_prefix("postgresql://")
        .or_else(|| text.strip_prefix("postgres://"))
        .ok_or_else(not_url)?;
    // The password is percent-encoded, so the last `@` ends the user information.
    let (userinfo, location) = rest.rsplit_once('@').ok_or_else(not_url)?;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| not_url())?),
        None => (authority, 5432),
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    let password = decode(password).map_err(|_| "its password is not UTF-8".to_string())?;
    Ok((
        Target {
            host: host.to_string(),
            port,
            user: decode(user).map_err(|_| not_url())?,
            database: path.split('?').next().unwrap_or_default().to_string(),
        },
        SecretValue::new(password),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_string_gives_its_target_and_decoded_password() {
        let v = SecretValue::new(
            "postgresql://dbadmin:p%40ss%2Fw@db.example:5433/chat?sslmode=verify-full".into(),
        );
        let (t, p) = parse_connection_string(&v).unwrap();
        assert_eq!(t.to_string(), "dbadmin@db.example:5433/chat");
        assert_eq!(p.expose_secret(), "p@ss/w");
        let bad = SecretValue::new("redis://x".into());
        let err = parse_connection_string(&bad).unwrap_err();
        assert!(!err.contains("redis://x"), "never quotes the value: {err}");
    }
}
