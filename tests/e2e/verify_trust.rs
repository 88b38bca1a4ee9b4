//! What verify trusts and what it sends: Redis verified against the operating system's roots
//! plus `[verify] extra_ca_file` (the local Redis CA, as Amazon's public CA on AWS), never the RDS
//! bundle; and a server that accepts no TLS and asks for a password in clear never receives the
//! master password; nor does the local data plane, which sets it.

use std::sync::{Arc, Mutex};

use dal_tests::Sandbox;
use md5::Digest as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A PostgreSQL server that speaks no TLS (it answers `N` to an SSL request) and asks for a
/// cleartext password (`mode` 3) or an MD5 one (`mode` 5); it records what it receives and turns
/// every login away with `28P01`.
async fn clear_text_server(host: &str, mode: i32) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let n = u32::from_be_bytes(len) as usize;
                    let mut body = vec![0u8; n.saturating_sub(4)];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if body.starts_with(&[0x04, 0xd2, 0x16, 0x2f]) {
                        // SSLRequest: no TLS here.
                        let _ = s.write_all(b"N").await;
                        continue;
                    }
                    // A startup message: ask for a password.
                    let mut auth = vec![b'R', 0, 0, 0, if mode == 5 { 12 } else { 8 }];
                    auth.extend_from_slice(&mode.to_be_bytes());
                    if mode == 5 {
                        auth.extend_from_slice(b"salt");
                    }
                    let _ = s.write_all(&auth).await;
                    let mut tag = [0u8; 1];
                    if s.read_exact(&mut tag).await.is_err() || tag[0] != b'p' {
                        return;
                    }
                    let mut len = [0u8; 4];
                    let _ = s.read_exact(&mut len).await;
                    let mut pw = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                    let _ = s.read_exact(&mut pw).await;
                    seen.lock().unwrap().push(pw);
                    let msg = b"SFATAL\0C28P01\0Mpassword authentication failed\0\0";
                    let mut err = vec![b'E'];
                    err.extend_from_slice(&((msg.len() + 4) as u32).to_be_bytes());
                    err.extend_from_slice(msg);
                    let _ = s.write_all(&err).await;
                    return;
                }
            });
        }
    });
    (port, got)
}

fn check<'a>(report: &'a layer::verify::Report, starts: &str) -> &'a layer::verify::Check {
    report
        .checks
        .iter()
        .find(|c| c.check.starts_with(starts))
        .unwrap_or_else(|| panic!("no check `{starts}…` in {:#?}", report.checks))
}

#[tokio::test]
async fn redis_is_trusted_through_its_own_ca_and_a_clear_text_server_never_gets_the_password() {
    let sb = Sandbox::with_data_plane("e2e-trust").await;
    assert_eq!(sb.cli(&["deploy", "local", "--auto-approve"]).await, 0);
    let report = layer::verify::verify(&sb.session().await).await.unwrap();
    let redis = check(&report, "redis: TLS connection");
    assert_eq!(redis.status, layer::verify::Status::Pass, "{redis:?}");

    // Without the extra CA, the Redis CA is unknown: the RDS bundle does not stand in for it.
    sb.edit_env("local", |t| {
        t.lines()
            .filter(|l| !l.starts_with("extra_ca_file"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let report = layer::verify::verify(&sb.session().await).await.unwrap();
    let redis = check(&report, "redis: TLS connection");
    assert_eq!(redis.status, layer::verify::Status::Fail, "{redis:?}");

    // The cluster's port leads to a server that asks for passwords in clear.
    let host = sb.data_plane().host();
    let master = sb.session().await.observe().await.unwrap()["aurora_master_user_secret_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = sb
        .secrets()
        .await
        .get_secret_value()
        .secret_id(&master)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    let password = v["password"].as_str().unwrap().to_string();
    for mode in [3, 5] {
        let (port, got) = clear_text_server(&host, mode).await;
        aws_sdk_rds::Client::new(&sb.sdk().await)
            .modify_db_cluster()
            .db_cluster_identifier("e2e-trust-aurora")
            .port(i32::from(port))
            .apply_immediately(true)
            .send()
            .await
            .unwrap();
        let report = layer::verify::verify(&sb.session().await).await.unwrap();
        let plain = check(&report, "aurora: a connection without TLS");
        assert_eq!(
            plain.status,
            layer::verify::Status::Fail,
            "mode {mode}: {plain:?}"
        );
        assert!(plain.detail.contains("asked for a password"), "{plain:?}");
        let got = got.lock().unwrap().clone();
        assert!(!got.is_empty(), "mode {mode}: the probe reached the server");
        for pw in &got {
            let text = String::from_utf8_lossy(pw);
            assert!(
                !text.contains(&password),
                "mode {mode}: the master password reached a server without TLS"
            );
        }
        if mode == 5 {
            // What an MD5 login of the master password would have sent.
            let inner = hex(&md5::Md5::digest(format!("{password}dbadmin")));
            let outer = format!("md5{}", hex(&md5::Md5::digest(format!("{inner}salt"))));
            assert!(
                got.iter()
                    .all(|pw| !String::from_utf8_lossy(pw).contains(&outer)),
                "the master password's MD5 login never reached it"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_data_plane_sets_a_password_as_a_verifier_and_no_crate_logs_it() {
    let sb = Sandbox::with_data_plane("e2e-pwlog").await;
    let plane = sb.data_plane();
    const PASSWORD: &str = "canary-pw-3e1f";
    // tokio-postgres logs through `log`: its records reach the subscriber as a tool's would.
    let _ = tracing_log::LogTracer::init();
    // Every crate at trace, as `RUST_LOG=trace` would have it, first without the guard: what
    // the server receives and the client library logs holds no password, only its verifier.
    let open = Captured::default();
    let writer = open.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    plane.set_password("pwlog_user", PASSWORD).await.unwrap();
    drop(guard);
    let text = String::from_utf8_lossy(&open.0.lock().unwrap()).to_string();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(
        text.contains("SCRAM-SHA-256$"),
        "the statement sent: {text}"
    );
    // With the guard, not even the verifier reaches the log.
    use tracing_subscriber::layer::SubscriberExt as _;
    let guarded = Captured::default();
    let writer = guarded.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(move || writer.clone()))
        .with(layer_core::log_guard::SecretGuard);
    let guard = tracing::subscriber::set_default(subscriber);
    plane.set_password("pwlog_user", PASSWORD).await.unwrap();
    drop(guard);
    let text = String::from_utf8_lossy(&guarded.0.lock().unwrap()).to_string();
    assert!(
        !text.contains("SCRAM-SHA-256$") && !text.contains(PASSWORD),
        "{text}"
    );
    // And the verifier is the password's: a TLS login with it succeeds.
    let ca = std::fs::read_to_string(plane.ca_pem()).unwrap();
    let target = data_aurora::postgres::Target {
        host: plane.host(),
        port: local_aws::dataplane::POSTGRES_PORT,
        user: "pwlog_user".into(),
        database: "postgres".into(),
    };
    let password = layer_core::SecretValue::new(PASSWORD.to_string());
    let c = data_aurora::postgres::connect_tls(&target, &password, &ca)
        .await
        .unwrap();
    assert_eq!(c.current_user().await.unwrap(), "pwlog_user");
}
