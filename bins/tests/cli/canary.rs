//! The canary: a known master password (an ASCII marker, and characters that need
//! percent-encoding) goes into the AWS-managed master secret; every command that touches values
//! runs as the installable binary, at the most verbose log level for every crate (and once with
//! `--log-format json`): deploy, seed, `seed --force`, `seed --rotate`, `plan --json`, `plan --out`
//! with `apply`, `outputs --json`, verify, bootstrap-db, destroy. Then every value it met (the first
//! master password the local AWS set, the canary, every seeded value) is searched for in every
//! encoding the tool uses (raw, percent-encoded with the userinfo set, form-encoded, JSON-escaped,
//! Rust's escaped debug form, base64 at all three offsets) in everything they wrote: stdout,
//! stderr, and every file written under the sandbox, the project and the temp dir (a file that
//! cannot be read fails the test, as does a scan that misses the saved plan): zero hits.

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

/// The userinfo set the tool encodes passwords with: everything but RFC 3986's unreserved.
const USERINFO: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every form a value could take in a log or a file.
fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap();
    let mut v = vec![
        value.to_string(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        utf8_percent_encode(value, USERINFO).to_string(),
        // Form encoding: a space is `+`.
        utf8_percent_encode(value, USERINFO)
            .to_string()
            .replace("%20", "+"),
        json.trim_matches('"').to_string(),
        // Rust's `Debug` of a `str`, and of bytes (`\xc3\xa9` for non-ASCII).
        value.escape_debug().to_string(),
        value
            .bytes()
            .map(|b| std::ascii::escape_default(b).to_string())
            .collect(),
    ];
    // Base64 at the three offsets a value can start at inside a larger text: the part that does
    // not depend on what surrounds it.
    for offset in 0..3 {
        let mut padded = vec![0u8; offset];
        padded.extend_from_slice(value.as_bytes());
        let b = base64(&padded);
        let skip = if offset == 0 { 0 } else { 4 };
        if b.len() > skip + 8 {
            v.push(b[skip..b.len() - 4].to_string());
        }
    }
    v.retain(|f| f.len() >= 6);
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
        } else if meta.is_file()
            && meta.len() < 20_000_000
            && meta.modified().is_ok_and(|m| m >= since)
        {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn no_seeded_value_reaches_any_output_log_or_file() {
    let start = SystemTime::now();
    let sb = Sandbox::with_data_plane("e2e-canary").await;
    let mut transcript = String::new();
    let (code, text) = run(&sb, &["deploy", "local", "--auto-approve"]).await;
    assert_eq!(code, 0, "{text}");
    transcript.push_str(&text);

    // The first master password, as the local AWS set it, before anything overwrites it.
    let sm = sb.secrets().await;
    let out = sb.session().await.observe().await.unwrap();
    let master = out["aurora_master_user_secret_arn"]
        .as_str()
        .unwrap()
        .to_string();
    let first: serde_json::Value = serde_json::from_str(
        sm.get_secret_value()
            .secret_id(&master)
            .send()
            .await
            .unwrap()
            .secret_string()
            .unwrap(),
    )
    .unwrap();
    let first = first["password"].as_str().unwrap().to_string();
    let mut values = vec![first];
    for s in dal_tests::seeded_secrets() {
        values.extend(sb.secret_value(&s).await);
    }

    // The canary: rotated in, as RDS would (the local AWS sets PostgreSQL's password with it).
    let canary = format!("CANARY{}x@:/?#%&+ é€", std::process::id());
    sm.put_secret_value()
        .secret_id(&master)
        .secret_string(serde_json::json!({"username": "dbadmin", "password": canary}).to_string())
        .send()
        .await
        .unwrap();
    sb.data_plane()
        .set_password("dbadmin", &canary)
        .await
        .unwrap();
    values.push(canary.clone());

    let saved = sb.environments().join("canary.plan");
    let saved_arg = saved.display().to_string();
    // A Terraform state that holds every value, as sensitive attributes (the old layer's): its
    // import reads none of them. The input itself is the one file allowed to hold them.
    let tf_state = sb.environments().join("terraform-input.tfstate");
    let versions: Vec<serde_json::Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| serde_json::json!({"index_key": i, "attributes": {"secret_string": v, "secret": v, "password": v}}))
        .collect();
    let state = serde_json::json!({"version": 4, "serial": 1, "lineage": "x", "outputs": {}, "resources": [
        {"mode": "managed", "type": "aws_secretsmanager_secret_version", "name": "all", "instances": versions}]});
    std::fs::write(&tf_state, state.to_string()).unwrap();
    let tf_arg = tf_state.display().to_string();
    for args in [
        &["seed", "local"][..],
        &["seed", "local", "--force"],
        &["seed", "local", "--rotate", "litellm-proxy-master-key"],
        &["plan", "local", "--json"],
        &["outputs", "local", "--json"],
        &["--log-format", "json", "seed", "local", "--force"],
        &["bootstrap-db", "local"],
        &["verify", "local"],
        &["plan", "local", "--out", &saved_arg],
        &["plan", "local", "--format", "markdown"],
        &["outputs", "local", "--format", "terraform-state"],
        &["apply", &saved_arg],
        &["import-terraform", "local", "--from", &tf_arg],
        &["seed", "local"],
    ] {
        let (code, text) = run(&sb, args).await;
        assert!(code == 0 || code == 2, "{args:?}: {code} {text}");
        transcript.push_str(&text);
    }
    // Every value any of them wrote.
    for s in dal_tests::seeded_secrets() {
        values.extend(sb.secret_value(&s).await);
    }
    assert_eq!(
        sb.secret_value("psql-password").await.as_deref(),
        Some(canary.as_str())
    );
    let (code, text) = run(&sb, &["destroy", "local", "--auto-approve"]).await;
    assert_eq!(code, 0, "{text}");
    transcript.push_str(&text);
    // The most verbose level was on: the SDK's own trace output is in the transcript.
    assert!(transcript.contains("rpc.method"), "SDK tracing was not on");
    assert!(transcript.contains("TRACE"), "trace level was not on");

    let project = dal_tests::project_root();
    let mut paths = Vec::new();
    files(sb.environments(), start, &[], &mut paths);
    files(&project, start, &["target", ".git", "venv"], &mut paths);
    files(&std::env::temp_dir(), start, &[], &mut paths);
    assert!(
        paths.contains(&saved),
        "the scan misses the saved plan: {paths:#?}"
    );
    paths.retain(|p| p != &tf_state);
    values.sort();
    values.dedup();
    let mut hits = Vec::new();
    let texts: Vec<(PathBuf, String)> = paths
        .iter()
        .filter_map(|p| match std::fs::read(p) {
            Ok(bytes) => Some((p.clone(), String::from_utf8_lossy(&bytes).into_owned())),
            // Gone since the scan (a server's socket, a temporary file of another test).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("cannot read {}: {e}", p.display()),
        })
        .collect();
    // Read, not only listed: the saved plan's text is among what is scanned.
    let plan_text = texts.iter().find(|(p, _)| p == &saved).map(|(_, t)| t);
    assert!(
        plan_text.is_some_and(|t| t.contains("aws_rds_cluster.aurora")),
        "the saved plan was not read"
    );
    // Every form of every value in one automaton: each text is read once, not once per form.
    let patterns: Vec<String> = values.iter().flat_map(|v| forms(v)).collect();
    let finder = aho_corasick::AhoCorasick::new(&patterns).expect("the forms make an automaton");
    // A hit names the form by its index, never by any part of it.
    if let Some(m) = finder.find(&transcript) {
        hits.push(format!(
            "form #{} of a seeded value in the commands' output",
            m.pattern().as_usize()
        ));
    }
    for (p, text) in &texts {
        if finder.is_match(text) {
            hits.push(format!("a form of a seeded value in {}", p.display()));
        }
    }
    assert!(hits.is_empty(), "{hits:#?}");
}
