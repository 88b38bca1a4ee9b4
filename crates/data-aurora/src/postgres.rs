//! Connections to the cluster's PostgreSQL, for `bootstrap-db` and `verify`: TLS verified
//! against the RDS CA bundle (rustls, no OpenSSL), a password that lives only in a
//! [`SecretValue`], and a timeout on the connection and on every query, so that an unreachable
//! endpoint is an error within seconds rather than a hang.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use layer_core::{Error, Result, SecretValue};
use tokio_postgres::Client;

/// How long a connection or a query may take.
pub const TIMEOUT: Duration = Duration::from_secs(8);

/// Where to connect: host, port, user and database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The cluster endpoint.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The user (`dbadmin`).
    pub user: String,
    /// The database.
    pub database: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.database
        )
    }
}

/// A connection; its background task ends when it is dropped.
pub struct Connection {
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connection")
    }
}

fn config(target: &Target, password: &SecretValue) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host(&target.host)
        .port(target.port)
        .user(&target.user)
        .dbname(&target.database)
        .password(password.expose_secret())
        .application_name("data-and-ai")
        .connect_timeout(TIMEOUT);
    c
}

/// The TLS configuration that trusts only the certificates of `ca_pem` (the RDS CA bundle).
pub fn tls_trusting(ca_pem: &str) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let mut found = 0;
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        let cert: rustls::pki_types::CertificateDer<'static> =
            cert.map_err(|e| Error::Other(format!("the CA bundle is not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Other(format!("the CA bundle holds a bad certificate: {e}")))?;
        found += 1;
    }
    if found == 0 {
        return Err(Error::Other("the CA bundle holds no certificate".into()));
    }
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth())
}

/// Connect over TLS, verifying the server against `ca_pem` (`sslmode=verify-full`).
pub async fn connect_tls(
    target: &Target,
    password: &SecretValue,
    ca_pem: &str,
) -> Result<Connection> {
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_trusting(ca_pem)?);
    connect(
        target,
        password,
        tokio_postgres::config::SslMode::Require,
        tls,
    )
    .await
}

/// What a connection without TLS met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlainText {
    /// The server turned it away before any authentication (`rds.force_ssl` at work).
    Refused(String),
    /// The server let it in, or asked for a password over it: plain text is accepted.
    Accepted(String),
}

/// Try a connection without TLS, logging in with a random throwaway password: never the real
/// one, which a server that asks for a password in clear (cleartext or MD5) would receive. A
/// server that asks for a password at all over plain text accepts plain text, whatever the
/// password's fate; only a refusal before authentication counts as refused.
pub async fn probe_plain(target: &Target) -> Result<PlainText> {
    let throwaway = SecretValue::new(format!("probe-{:032x}", rand::random::<u128>()));
    let mut c = config(target, &throwaway);
    c.ssl_mode(tokio_postgres::config::SslMode::Disable);
    let attempt = tokio::time::timeout(TIMEOUT, c.connect(tokio_postgres::NoTls))
        .await
        .map_err(|_| timed_out(target))?;
    Ok(match attempt {
        Ok(_) => PlainText::Accepted(format!(
            "{target} let a connection without TLS in with a wrong password"
        )),
        Err(e) => classify_plain(target, &e),
    })
}

/// A failed plain-text connection: refused before authentication, or turned away by it (which
/// means the server asked for a password in the clear channel).
fn classify_plain(target: &Target, e: &tokio_postgres::Error) -> PlainText {
    use tokio_postgres::error::SqlState;
    let asked = e.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::INVALID_PASSWORD
            || db.message().contains("password authentication failed")
    });
    let why = connect_error(target, e).to_string();
    if asked {
        PlainText::Accepted(format!(
            "{target} asked for a password over a connection without TLS ({why})"
        ))
    } else {
        PlainText::Refused(why)
    }
}

async fn connect<T>(
    target: &Target,
    password: &SecretValue,
    mode: tokio_postgres::config::SslMode,
    tls: T,
) -> Result<Connection>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let mut c = config(target, password);
    c.ssl_mode(mode);
    let (client, connection) =
        tokio::time::timeout(TIMEOUT, layer_core::log_guard::carrying(c.connect(tls)))
            .await
            .map_err(|_| timed_out(target))?
            .map_err(|e| connect_error(target, &e))?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Connection { client, task })
}

fn timed_out(target: &Target) -> Error {
    Error::Other(format!(
        "no answer from {target} within {}s",
        TIMEOUT.as_secs()
    ))
}

/// The error of a connection, with the server's message (never the password, which the
/// connection's error never holds).
fn connect_error(target: &Target, e: &tokio_postgres::Error) -> Error {
    let why = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    };
    Error::Other(format!("connecting to {target}: {why}"))
}

impl Connection {
    async fn query(&self, sql: &str) -> Result<Vec<tokio_postgres::Row>> {
        tokio::time::timeout(TIMEOUT, self.client.query(sql, &[]))
            .await
            .map_err(|_| Error::Other(format!("`{sql}` took longer than {}s", TIMEOUT.as_secs())))?
            .map_err(|e| Error::Other(format!("`{sql}`: {}", db_message(&e))))
    }

    /// The database this connection is in.
    pub async fn current_database(&self) -> Result<String> {
        self.text("SELECT current_database()").await
    }

    /// The user this connection is authenticated as.
    pub async fn current_user(&self) -> Result<String> {
        self.text("SELECT current_user::text").await
    }

    /// The first column of the first row of `sql`, as text.
    async fn text(&self, sql: &str) -> Result<String> {
        let rows = self.query(sql).await?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<_, String>(0).ok())
            .unwrap_or_default())
    }

    /// Whether this connection runs over TLS (`pg_stat_ssl`).
    pub async fn is_tls(&self) -> Result<bool> {
        let rows = self
            .query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<_, bool>(0).ok())
            .unwrap_or(false))
    }

    /// The databases of the server (templates left out).
    pub async fn databases(&self) -> Result<BTreeSet<String>> {
        let rows = self
            .query("SELECT datname FROM pg_database WHERE NOT datistemplate")
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .collect())
    }

    /// Create a database. Its name is quoted as an identifier (PostgreSQL takes no parameter
    /// here), so any name is one name and never SQL.
    pub async fn create_database(&self, name: &str) -> Result<()> {
        let sql = format!("CREATE DATABASE {}", quote_ident(name));
        tokio::time::timeout(TIMEOUT * 4, self.client.batch_execute(&sql))
            .await
            .map_err(|_| Error::Other(format!("creating database {name} took too long")))?
            .map_err(|e| Error::Other(format!("creating database {name}: {}", db_message(&e))))
    }
}

fn db_message(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string())
}

/// A PostgreSQL identifier, quoted: `"` doubled inside double quotes.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What bootstrap did with one database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Bootstrapped {
    /// The database.
    pub database: String,
    /// Whether it was created now (else it was there).
    pub created: bool,
}

/// Create the databases of `names` that are missing, over `conn`. Idempotent.
pub async fn bootstrap(conn: &Connection, names: &[String]) -> Result<Vec<Bootstrapped>> {
    let existing = conn.databases().await?;
    let mut out = Vec::new();
    for name in names {
        let created = !existing.contains(name);
        if created {
            conn.create_database(name).await?;
        }
        out.push(Bootstrapped {
            database: name.clone(),
            created,
        });
    }
    Ok(out)
}

/// The value of `rds.force_ssl` in a cluster parameter group, as the RDS API reports it.
pub async fn force_ssl(
    sdk: &aws_types::SdkConfig,
    parameter_group: &str,
) -> Result<Option<String>> {
    let client = aws_sdk_rds::Client::new(sdk);
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(parameter_group)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| {
                Error::aws(
                    format!("rds:DescribeDBClusterParameters on {parameter_group}"),
                    &e,
                )
            })?;
        if let Some(p) = page
            .parameters()
            .iter()
            .find(|p| p.parameter_name() == Some("rds.force_ssl"))
        {
            return Ok(p.parameter_value().map(str::to_string));
        }
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_whatever_they_hold() {
        assert_eq!(quote_ident("app_repository"), "\"app_repository\"");
        assert_eq!(
            quote_ident("x\"; DROP DATABASE postgres; --"),
            "\"x\"\"; DROP DATABASE postgres; --\""
        );
    }

    #[test]
    fn a_bundle_without_a_certificate_is_an_error() {
        assert!(tls_trusting("not pem").is_err());
    }
}
