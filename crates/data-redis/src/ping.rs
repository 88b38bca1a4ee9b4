//! A Redis connection for `verify`: TLS verified against a CA (rustls), `PING`, and a timeout,
//! so an unreachable cache is a failed check within seconds.

use std::time::Duration;

use layer_core::{Error, Result};
use redis::{ConnectionAddr, ConnectionInfo, RedisConnectionInfo, TlsCertificates};

/// How long connecting and answering may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The roots a Redis server's certificate is verified against, as PEM: the operating system's
/// trust store (ElastiCache's in-transit encryption presents a certificate from Amazon's public
/// CA, which it holds), or where the system has none, Mozilla's roots (which hold Amazon's);
/// then `extra`, a PEM bundle of further CAs (`[verify] extra_ca_file`: the local environment's
/// Redis CA). Not the RDS bundle: ElastiCache's certificates do not chain to it.
pub fn trust_roots(extra: Option<&str>) -> String {
    use base64::Engine as _;
    let native = rustls_native_certs::load_native_certs();
    let ders: Vec<&[u8]> = if native.certs.is_empty() {
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .collect()
    } else {
        native.certs.iter().map(|c| c.as_ref()).collect()
    };
    let mut pem = String::new();
    for der in ders {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    if let Some(extra) = extra {
        pem.push_str(extra);
        pem.push('\n');
    }
    pem
}

/// Connect over TLS to `host:port`, trusting only `roots_pem` (see [`trust_roots`]), and send
/// `PING`; returns the answer.
pub async fn ping_tls(host: &str, port: u16, roots_pem: &str) -> Result<String> {
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
            root_cert: Some(roots_pem.as_bytes().to_vec()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_are_the_systems_and_the_extra_ones_never_only_the_extra() {
        let extra = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let roots = trust_roots(Some(extra));
        let count = roots.matches("-----BEGIN CERTIFICATE-----").count();
        assert!(
            count > 10,
            "the system's (or Mozilla's) roots are in: {count}"
        );
        assert!(
            roots.ends_with(&format!("{extra}\n")),
            "the extra ones last"
        );
        assert_eq!(trust_roots(None).matches("BEGIN").count(), count - 1);
    }
}
