//! Credentials problems said plainly: the installable binary, run as an operator would with no
//! credentials, an unknown profile or an SSO session that was never started, answers with one
//! line that says which problem it is and what to run, and none of the SDK's internal warnings.

use std::path::PathBuf;

fn environments() -> PathBuf {
    dal_tests::project_root().join("environments")
}

/// `plan test` with only `vars` of the AWS environment, and a home without AWS files but `config`.
fn plan(vars: &[(&str, &str)], config: &str) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(home.path().join(".aws").join("config"), config).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_data-and-ai"));
    cmd.arg("--environments")
        .arg(environments())
        .args(["plan", "test"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn assert_one_clear_line(out: &str, expected: &str) {
    assert!(out.contains(expected), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line, no chain or dump:\n{out}");
    assert!(!out.contains("WARN"), "{out}");
}

#[test]
fn no_credentials_is_one_line_with_what_to_do() {
    let (code, out) = plan(&[], "");
    assert_eq!(code, 1);
    assert_one_clear_line(&out, "no AWS credentials found: set AWS_PROFILE=");
}

#[test]
fn an_unknown_profile_is_named() {
    let (code, out) = plan(
        &[("AWS_PROFILE", "nope")],
        "[profile other]\nregion = eu-central-2\n",
    );
    assert_eq!(code, 1);
    assert_one_clear_line(&out, "the AWS profile `nope` does not exist");
}

#[test]
fn an_sso_session_not_started_says_to_log_in() {
    let config = "[profile sso-dev]\nsso_session = corp\nsso_account_id = 000000000000\nsso_role_name = Deployer\nregion = eu-central-2\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-central-2\n";
    let (code, out) = plan(&[("AWS_PROFILE", "sso-dev")], config);
    assert_eq!(code, 1);
    assert_one_clear_line(&out, "run `aws sso login --profile sso-dev`");
}

#[test]
fn an_instance_metadata_service_that_refuses_is_still_no_credentials() {
    // A machine with IMDS switched off: its endpoint answers every request with 403.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let (code, out) = plan(
        &[
            ("AWS_EC2_METADATA_DISABLED", "false"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &endpoint),
        ],
        "",
    );
    assert_eq!(code, 1);
    assert_one_clear_line(&out, "no AWS credentials found: set AWS_PROFILE=");
}
