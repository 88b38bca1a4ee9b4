//! Verify's checks of the replication group: a TLS connection answers PING, verified against the
//! trusted roots (the system's, and the extra CAs the environment names; never the RDS bundle,
//! which ElastiCache's certificates do not chain to), and a plain-text connection is refused.

use layer_core::check::{Check, Status};

/// The checks of the primary endpoint `host:port` (`None` before deploy); `extra_ca` is the PEM
/// of further roots, or why it cannot be read.
pub async fn checks(
    host: Option<&str>,
    port: u16,
    extra_ca: std::result::Result<Option<String>, String>,
) -> Vec<Check> {
    let Some(host) = host else {
        return vec![Check::new(
            "redis: TLS PING",
            Status::Fail,
            "no primary endpoint: deploy first",
        )];
    };
    let tls = match extra_ca {
        Err(why) => Err(why),
        Ok(extra) => {
            let roots = crate::ping::trust_roots(extra.as_deref());
            match crate::ping::ping_tls(host, port, &roots).await {
                Ok(answer) if answer == "PONG" => Ok("PONG".into()),
                Ok(answer) => Err(format!("answered {answer}")),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    let tls = Check::of(
        format!("redis: TLS connection to {host}:{port} answers PING, verified against the system's roots"),
        tls,
    );
    let plain = match crate::ping::ping_plain(host, port).await {
        Ok(_) => Err(format!("{host}:{port} answered without TLS")),
        Err(e) => Ok(format!("refused: {e}")),
    };
    vec![
        tls,
        Check::of("redis: a plain-text connection is refused", plain),
    ]
}
