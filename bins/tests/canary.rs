//! The canary: a known master password (with characters that need percent-encoding) goes into
//! the AWS-managed master secret; deploy, seed, `plan --json`, `outputs --json` and seed again run
//! as the installable binary, at the most verbose log level for every crate; then every seeded
//! value, raw, percent-encoded, JSON-escaped and base64-encoded, is searched for in everything
//! they wrote (stdout, stderr, files under the sandbox, the project and the temp dir): zero hits.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use dal_tests::Sandbox;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Run the binary without blocking this test's runtime, which serves the sandbox's local AWS.
async fn run(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_data-and-ai"));
    cmd.arg("--environments")
        .arg(sb.environments())
        .args(args)
        .env("DAL_ROOT", sb.environments())
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1");
    for var in [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().await.expect("the binary runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Every form a value could take in a log or a file.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    let mut v = vec![
        value.to_string(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        json.trim_matches('"').to_string(),
        base64(value.as_bytes()),
    ];
    // A base64 of the value at another offset inside a larger text: its stable middle part.
    let b = base64(value.as_bytes());
    if b.len() > 16 {
        v.push(b[4..b.len() - 4].to_string());
    }
    v.sort();
    v.dedup();
    v
}

fn files(dir: &Path, since: SystemTime, skip: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            files(&p, since, skip, out);
        } else if meta.len() < 20_000_000 && meta.modified().is_ok_and(|m| m >= since) {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn no_seeded_value_reaches_any_output_log_or_file() {
    let start = SystemTime::now();
    let sb = Sandbox::new("e2e-canary").await;
    let mut transcript = String::new();
    let (code, text) = run(&sb, &["deploy", "local", "--auto-approve"]).await;
    assert_eq!(code, 0, "{text}");
    transcript.push_str(&text);

    let canary = format!("Canary-{}@:/?#%&+ é€", std::process::id());
    let sm = sb.secrets().await;
    let out = sb.session().await.observe().await.unwrap();
    let master = out["aurora_master_user_secret_arn"]
        .as_str()
        .unwrap()
        .to_string();
    sm.put_secret_value()
        .secret_id(&master)
        .secret_string(serde_json::json!({"username": "dbadmin", "password": canary}).to_string())
        .send()
        .await
        .unwrap();

    for args in [
        &["seed", "local"][..],
        &["plan", "local", "--json"],
        &["outputs", "local", "--json"],
        &["seed", "local"],
    ] {
        let (code, text) = run(&sb, args).await;
        assert_eq!(code, 0, "{args:?}: {text}");
        transcript.push_str(&text);
    }
    // The most verbose level was on: the SDK's own trace output is in the transcript.
    assert!(transcript.contains("rpc.method"), "SDK tracing was not on");
    assert!(transcript.contains("TRACE"), "trace level was not on");

    let mut values = vec![canary.clone()];
    for s in dal_tests::seeded_secrets() {
        let v = sb.secret_value(&s).await;
        values.push(v.unwrap_or_else(|| panic!("{s} seeded")));
    }
    assert_eq!(
        sb.secret_value("psql-password").await.as_deref(),
        Some(canary.as_str())
    );

    let project = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut paths = Vec::new();
    files(sb.environments(), start, &[], &mut paths);
    files(&project, start, &["target", ".git", "venv"], &mut paths);
    files(&std::env::temp_dir(), start, &[], &mut paths);
    let mut hits = Vec::new();
    for v in &values {
        for f in forms(v) {
            if transcript.contains(&f) {
                hits.push(format!(
                    "a form of a seeded value in the commands' output: {}",
                    &f[..4.min(f.len())]
                ));
            }
            for p in &paths {
                if let Ok(bytes) = std::fs::read(p) {
                    if String::from_utf8_lossy(&bytes).contains(&f) {
                        hits.push(format!("a form of a seeded value in {}", p.display()));
                    }
                }
            }
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}
