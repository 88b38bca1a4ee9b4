//! A Redis connection for `verify`: TLS verified against a CA (rustls), `PING`, and a timeout,
//! so an unreachable cache is a failed check within seconds.

use std::time::Duration;

use layer_core::{Error, Result};
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, TlsCertificates};

/// How long connecting and answering may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Connect over TLS to `host:port`, trusting only `ca_pem`, and send `PING`; returns the answer.
pub async fn ping_tls(host: &str, port: u16, ca_pem: &str) -> Result<String> {
    let info = ConnectionInfo {
        addr: ConnectionAddr::TcpTls {
            host: host.to_string(),
            port,
            insecure: false,
            tls_params: None,
        },
        redis: RedisConnectionInfo::default(),
    };
    let client = redis::Client::build_with_tls(
        info,
        TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem.as_bytes().to_vec()),
        },
    )
    .map_err(|e| Error::Other(format!("Redis at {host}:{port}: {e}")))?;
    ping(client, host, port).await
}

/// Connect without TLS and send `PING`; `Ok` means the server answered in plain text (it
/// should not).
pub async fn ping_plain(host: &str, port: u16) -> Result<String> {
    let info = ConnectionInfo {
        addr: ConnectionAddr::Tcp(host.to_string(), port),
        redis: RedisConnectionInfo::default(),
    };
    let client = redis::Client::open(info)
        .map_err(|e| Error::Other(format!("Redis at {host}:{port}: {e}")))?;
    ping(client, host, port).await
}

async fn ping(client: redis::Client, host: &str, port: u16) -> Result<String> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT);
    let answer = tokio::time::timeout(TIMEOUT * 2, async {
        let mut con = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING").query_async::<String>(&mut con).await
    })
    .await
    .map_err(|_| {
        Error::Other(format!(
            "no answer from Redis at {host}:{port} within {}s",
            (TIMEOUT * 2).as_secs()
        ))
    })?;
    answer.map_err(|e| Error::Other(format!("Redis at {host}:{port}: {e}")))
}
