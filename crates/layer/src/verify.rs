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

use std::path::Path;

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

pub use layer_core::check::{Check, Status};

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
    fn add(&mut self, checks: impl IntoIterator<Item = Check>) {
        for c in checks {
            self.passed &= c.status != Status::Fail;
            self.checks.push(c);
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

async fn master(
    session: &Session,
    reader: &secrets_seed::Reader,
    outputs: &Outputs,
) -> std::result::Result<data_aurora::verify::Master, String> {
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
    Ok(data_aurora::verify::Master {
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
    // Every secret value read here, to prove that none reached the outputs or this report.
    let mut seen: Vec<(String, SecretValue)> = Vec::new();
    report.add(aurora_checks(session, &reader, &outputs, &mut seen).await?);
    report.add(redis_checks(env, &outputs).await?);
    report.add(secrets_checks(session, &reader, &outputs, &mut seen).await?);
    let zero = zero_secrets(session, &outputs, &report, &seen);
    report.add([zero]);
    Ok(report)
}

/// Aurora's checks (the family's, see `data_aurora::verify`), with the values they need read
/// from the secrets.
async fn aurora_checks(
    session: &Session,
    reader: &secrets_seed::Reader,
    outputs: &Outputs,
    seen: &mut Vec<(String, SecretValue)>,
) -> Result<Vec<Check>> {
    let env = &session.env;
    let port = text(outputs, "aurora_cluster_port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let writer = text(outputs, "aurora_cluster_endpoint");
    let reader_endpoint = text(outputs, "aurora_cluster_reader_endpoint");
    let mut out = data_aurora::verify::endpoints(writer, reader_endpoint, port).await;
    let master = master(session, reader, outputs).await;
    if let Ok(m) = &master {
        seen.push(("the master password".into(), m.password.clone()));
    }
    let parameter_group = data_aurora::AuroraSettings::load(env)?
        .names(env)?
        .parameter_group;
    let databases = &session.databases;
    let server = data_aurora::verify::server(
        &master,
        &session.sdk,
        &parameter_group,
        databases,
        &env.name,
    );
    out.extend(server.await);
    // Each connection string opens its own database over TLS.
    let ca = master
        .as_ref()
        .map(|m| m.ca_pem.clone())
        .unwrap_or_default();
    let names = secrets_seed::names(env);
    for db in databases {
        let name = names.full(&format!("psql-connection-string-{db}"));
        out.push(connection_string_check(reader, name, db, &ca, seen).await);
    }
    Ok(out)
}

/// The connection string of `db`, read from its secret `name` and tried.
async fn connection_string_check(
    reader: &secrets_seed::Reader,
    name: String,
    db: &str,
    ca: &str,
    seen: &mut Vec<(String, SecretValue)>,
) -> Check {
    let check = format!("secret psql-connection-string-{db} connects to {db}");
    let value = match reader.value(&name).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Check::new(
                check,
                Status::Fail,
                format!("{name} holds no value: run seed"),
            )
        }
        Err(e) => return Check::new(check, Status::Fail, e.to_string()),
    };
    let (result, password) = data_aurora::verify::connection_string(&name, db, &value, ca).await;
    if let Some(p) = password {
        seen.push((name.clone(), p));
    }
    seen.push((name, value));
    Check::of(check, result)
}

/// Redis's checks (the family's, see `data_redis::verify`), trusting the system's roots and
/// `[verify] extra_ca_file`.
async fn redis_checks(env: &Environment, outputs: &Outputs) -> Result<Vec<Check>> {
    let host = text(outputs, "elasticache_primary_endpoint_address");
    let port: u16 = text(outputs, "elasticache_port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(6380);
    let extra = VerifySettings::load(env)?.extra_pem(env);
    Ok(data_redis::verify::checks(host.as_deref(), port, extra).await)
}

/// The secrets' checks, from metadata, and the S3 key pair's; the values read are noted in
/// `seen`.
async fn secrets_checks(
    session: &Session,
    reader: &secrets_seed::Reader,
    outputs: &Outputs,
    seen: &mut Vec<(String, SecretValue)>,
) -> Result<Vec<Check>> {
    use secrets_seed::State;
    let mut out = Vec::new();
    let states = session.secret_states(outputs).await?;
    let by = |pick: fn(&State) -> bool| -> Vec<String> {
        states
            .iter()
            .filter(|(_, s)| pick(s))
            .map(|(n, _)| n.clone())
            .collect()
    };
    let missing = by(|s| matches!(s, State::NoContainer));
    out.push(Check::of(
        "secrets: every container exists",
        if missing.is_empty() {
            Ok(format!("{} containers", states.len()))
        } else {
            Err(format!(
                "missing: {} (deploy creates them)",
                missing.join(", ")
            ))
        },
    ));
    let unseeded = by(|s| matches!(s, State::Unseeded));
    out.push(Check::of(
        "secrets: every generated and derived secret is seeded",
        if unseeded.is_empty() {
            Ok("all seeded".into())
        } else {
            Err(format!("unseeded: {} (run seed)", unseeded.join(", ")))
        },
    ));
    let stale: Vec<String> = states
        .iter()
        .filter_map(|(n, s)| match s {
            State::Stale(why) => Some(format!("{n} ({why})")),
            _ => None,
        })
        .collect();
    out.push(Check::of(
        "secrets: no derived secret is stale against its source",
        if stale.is_empty() {
            Ok("all follow their sources".into())
        } else {
            Err(format!("stale: {} (run seed)", stale.join("; ")))
        },
    ));
    for (name, _) in states
        .iter()
        .filter(|(_, s)| matches!(s, State::WaitingForAPerson))
    {
        out.push(Check::new(
            format!("secrets: {name}"),
            Status::Warn,
            "waits for a person to set it",
        ));
    }
    out.push(key_pair_check(session, reader).await);
    let names = secrets_seed::names(&session.env);
    for s in [
        "s3-secret-access-key",
        "zitadel-master-key",
        "litellm-proxy-master-key",
    ] {
        if let Ok(Some(v)) = reader.value(&names.full(s)).await {
            seen.push((s.to_string(), v));
        }
    }
    Ok(out)
}

/// The S3 key pair belongs to the S3 user and is active.
async fn key_pair_check(session: &Session, reader: &secrets_seed::Reader) -> Check {
    let names = secrets_seed::names(&session.env);
    let key_id = reader.value(&names.full("s3-access-key-id")).await;
    Check::of(
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
    )
}

/// Zero secrets: no value read above appears in the outputs or in the report so far.
fn zero_secrets(
    session: &Session,
    outputs: &Outputs,
    report: &Report,
    seen: &[(String, SecretValue)],
) -> Check {
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
    Check::of(
        "zero secrets: the outputs and this report hold no secret value",
        if leaked.is_empty() {
            Ok(format!("{} values checked", seen.len()))
        } else {
            Err(format!("found the value of {}", leaked.join(", ")))
        },
    )
}
