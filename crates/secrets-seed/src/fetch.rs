//! Fetching the RDS CA bundle from an https URL (AWS's regional truststore by default), with the
//! SDK's own HTTPS stack: hyper and rustls, the operating system's roots, a bounded time and size.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Give up on a fetch after this long.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// A bundle larger than this is not a CA bundle.
const MAX_BYTES: usize = 1 << 20;

/// GET `url` over https and return the body as text. `roots` replaces the operating system's
/// trusted roots (for tests with a CA of their own).
pub async fn https_text(url: &str, roots: Option<rustls::RootCertStore>) -> Result<String, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if uri.scheme_str() != Some("https") {
        return Err(format!("`{url}` is not an https URL"));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match roots {
        Some(roots) => builder.with_tls_config(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ),
        None => builder
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("reading the system's trusted roots: {e}"))?,
    };
    let connector = builder.https_only().enable_http1().build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let fetch = async {
        let resp = client
            .get(uri)
            .await
            .map_err(|e| format!("fetching `{url}`: {}", chain(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("fetching `{url}`: HTTP {}", resp.status()));
        }
        let body = Limited::new(resp.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading `{url}`: {e}"))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|_| format!("`{url}` is not text"))
    };
    tokio::time::timeout(TIMEOUT, fetch)
        .await
        .map_err(|_| format!("fetching `{url}`: no answer within {}s", TIMEOUT.as_secs()))?
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BUNDLE: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    /// An https server on loopback with a certificate from a CA of the test's own; answers every
    /// request with `status` and `body`.
    async fn server(status: &'static str, body: &'static str) -> (u16, rustls::RootCertStore) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca_cert, &ca_key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = [0u8; 4096];
                    let _ = tls.read(&mut buf).await;
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        (port, roots)
    }

    #[tokio::test]
    async fn fetches_over_https_with_verified_certificates_only() {
        let (port, roots) = server("200 OK", BUNDLE).await;
        let url = format!("https://localhost:{port}/eu-central-2/eu-central-2-bundle.pem");
        assert_eq!(https_text(&url, Some(roots)).await.unwrap(), BUNDLE);
        // A server whose certificate no trusted root signed is refused.
        let e = https_text(&url, Some(rustls::RootCertStore::empty()))
            .await
            .unwrap_err();
        assert!(
            e.contains("fetching") && e.to_lowercase().contains("certificate"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn errors_name_the_url_and_the_status() {
        let (port, roots) = server("404 Not Found", "").await;
        let url = format!("https://localhost:{port}/nope.pem");
        let e = https_text(&url, Some(roots)).await.unwrap_err();
        assert!(e.contains(&url) && e.contains("404"), "{e}");
        let e = https_text("http://example.com/x.pem", None)
            .await
            .unwrap_err();
        assert!(e.contains("not an https URL"), "{e}");
    }
}
