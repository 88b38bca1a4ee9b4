//! Verify's checks of the cluster: its endpoints resolve; a TLS connection as the master user,
//! verified against the RDS CA bundle; `rds.force_ssl` on (as the API reports it) and in effect
//! (a plain-text connection refused); the databases there; each connection string opening its own
//! database over TLS. The caller reads the secrets and hands the values in.

use std::collections::BTreeSet;
use std::time::Duration;

use layer_core::check::{Check, Status};
use layer_core::SecretValue;

use crate::postgres::{self, Target};

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// What reaches the cluster as its master user.
pub struct Master {
    /// Where and as whom.
    pub target: Target,
    /// The AWS-managed master password.
    pub password: SecretValue,
    /// The RDS CA bundle the server's certificate is verified against.
    pub ca_pem: String,
}

/// The writer's and the reader's endpoint resolve (`None`: not deployed).
pub async fn endpoints(writer: Option<String>, reader: Option<String>, port: u16) -> Vec<Check> {
    let mut out = Vec::new();
    for (what, host) in [("writer", writer), ("reader", reader)] {
        let check = format!("aurora: {what} endpoint resolves");
        out.push(match host {
            Some(host) => Check::of(check, resolves(&host, port).await),
            None => Check::new(check, Status::Fail, "no endpoint: deploy first"),
        });
    }
    out
}

/// The server as its master user sees it: TLS, `rds.force_ssl` and its effect, the databases.
pub async fn server(
    master: &std::result::Result<Master, String>,
    sdk: &aws_types::SdkConfig,
    parameter_group: &str,
    databases: &[String],
    environment: &str,
) -> Vec<Check> {
    let mut out = Vec::new();
    let existing = match master {
        Err(why) => {
            out.push(Check::new(
                "aurora: TLS connection as the master user",
                Status::Fail,
                why,
            ));
            None
        }
        Ok(m) => Some(connect_as_master(m, &mut out).await),
    };
    out.push(force_ssl(sdk, parameter_group).await);
    if let Ok(m) = master {
        let refused = match postgres::probe_plain(&m.target).await {
            Ok(postgres::PlainText::Refused(why)) => Ok(format!("refused: {why}")),
            Ok(postgres::PlainText::Accepted(why)) => {
                Err(format!("{why}: the server does not enforce rds.force_ssl"))
            }
            Err(e) => Ok(format!("refused: {e}")),
        };
        out.push(Check::of(
            "aurora: a connection without TLS is refused (rds.force_ssl's effect)",
            refused,
        ));
    }
    out.extend(databases_there(existing, databases, environment));
    out
}

/// The TLS connection's check; the databases it lists.
async fn connect_as_master(
    m: &Master,
    out: &mut Vec<Check>,
) -> std::result::Result<std::collections::BTreeSet<String>, String> {
    let check = format!(
        "aurora: TLS connection as {} verified against rds-ca-bundle",
        m.target.user
    );
    match postgres::connect_tls(&m.target, &m.password, &m.ca_pem).await {
        Ok(conn) => {
            let tls = conn.is_tls().await.unwrap_or(false);
            let user = conn.current_user().await.unwrap_or_default();
            out.push(Check::of(
                check,
                if tls && user == m.target.user {
                    Ok(format!("{} (TLS, authenticated as {user})", m.target))
                } else {
                    Err(format!("{}: TLS {tls}, user `{user}`", m.target))
                },
            ));
            conn.databases().await.map_err(|e| e.to_string())
        }
        Err(e) => {
            out.push(Check::new(check, Status::Fail, e.to_string()));
            Err("not checked: no connection as the master user".into())
        }
    }
}

/// `rds.force_ssl` as the API reports it.
async fn force_ssl(sdk: &aws_types::SdkConfig, parameter_group: &str) -> Check {
    Check::of(
        "aurora: rds.force_ssl is on (cluster parameter group)",
        match postgres::force_ssl(sdk, parameter_group).await {
            Ok(Some(v)) if v == "1" => Ok(format!("{parameter_group}: rds.force_ssl = 1")),
            Ok(Some(v)) => Err(format!("{parameter_group}: rds.force_ssl = {v}")),
            Ok(None) => Err(format!("{parameter_group}: rds.force_ssl is not set")),
            Err(e) => Err(e.to_string()),
        },
    )
}

/// Each database of `postgresql_databases` exists (`None`: no connection was tried).
fn databases_there(
    existing: Option<std::result::Result<BTreeSet<String>, String>>,
    databases: &[String],
    environment: &str,
) -> Vec<Check> {
    match existing {
        Some(Ok(existing)) => databases
            .iter()
            .map(|db| {
                Check::of(
                    format!("aurora: database {db} exists"),
                    if existing.contains(db) {
                        Ok("present".into())
                    } else {
                        Err(format!(
                            "database {db} is missing: run `bootstrap-db {environment}`"
                        ))
                    },
                )
            })
            .collect(),
        Some(Err(e)) => vec![Check::new("aurora: databases", Status::Fail, e)],
        None => vec![Check::new(
            "aurora: databases",
            Status::Fail,
            "not checked: no connection as the master user",
        )],
    }
}

/// The connection string of `db` (held by the secret `name`) opens `db` over TLS, verified
/// against `ca_pem`. Returns the check and the password it holds (for the caller's proof that no
/// value leaked).
pub async fn connection_string(
    name: &str,
    db: &str,
    value: &SecretValue,
    ca_pem: &str,
) -> (std::result::Result<String, String>, Option<SecretValue>) {
    match parse_connection_string(value) {
        Err(why) => (Err(format!("{name}: {why}")), None),
        Ok((target, password)) => {
            let result = match postgres::connect_tls(&target, &password, ca_pem).await {
                Ok(conn) => match conn.current_database().await {
                    Ok(current) if current == *db => Ok(format!("{target} (TLS)")),
                    Ok(current) => Err(format!("{name} opens database {current}, not {db}")),
                    Err(e) => Err(format!("{name}: {e}")),
                },
                Err(e) => Err(format!("{name}: {e}")),
            };
            (result, Some(password))
        }
    }
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
