//! The installable binary as `cargo xtask` runs it: it asks the program named by `DAL_LOCAL_AWS`
//! for the local AWS (`local endpoint`, with `--start` only when it deploys), works against the
//! endpoint given, and makes the program's error its one error, with no write.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use dal_tests::Sandbox;

/// A shell script standing in for the front door.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("script written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("executable");
    path
}

#[tokio::test]
async fn the_binary_asks_the_front_door_for_the_local_aws_and_makes_its_error_its_own() {
    let sb = Sandbox::new("e2e-front-door").await;
    let endpoint = sb.aws.endpoint();
    // Nothing answers where the file points: only the front door's answer can reach the sandbox.
    sb.edit_env("local", |t| {
        t.replace(
            &format!("endpoint_url = \"{endpoint}\""),
            "endpoint_url = \"http://127.0.0.1:9\"",
        )
    });
    let dir = tempfile::tempdir().expect("a directory");
    let asked = dir.path().join("asked");
    let answers = script(
        dir.path(),
        "answers",
        &format!(
            "echo \"$@\" >> {}\necho 'starting the local AWS on port 9' >&2\necho {endpoint}",
            asked.display()
        ),
    );
    sb.aws.calls().reset();
    let out = sb
        .binary(env!("CARGO_BIN_EXE_data-and-ai"), &["plan", "local"])
        .env("DAL_LOCAL_AWS", &answers)
        .output()
        .await
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !sb.aws.calls().snapshot().is_empty(),
        "the plan read the sandbox's AWS"
    );
    assert!(
        stderr.contains("starting the local AWS on port 9"),
        "the notice passes through:\n{stderr}"
    );
    let region = sb.env().region;
    assert_eq!(
        std::fs::read_to_string(&asked).expect("the front door was asked"),
        format!("local endpoint --configured http://127.0.0.1:9 --region {region}\n"),
        "a plan never starts the local AWS"
    );

    // deploy asks for a start; the front door's error is the binary's only error, and nothing is
    // written.
    let refuses = script(
        dir.path(),
        "refuses",
        &format!(
            "echo \"$@\" >> {}\necho 'error: the local AWS could not start: port 9 is taken' >&2\nexit 1",
            asked.display()
        ),
    );
    sb.aws.calls().reset();
    let out = sb
        .binary(
            env!("CARGO_BIN_EXE_data-and-ai"),
            &["deploy", "local", "--auto-approve"],
        )
        .env("DAL_LOCAL_AWS", &refuses)
        .output()
        .await
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        errors,
        ["error: the local AWS could not start: port 9 is taken"],
        "{stderr}"
    );
    let asked = std::fs::read_to_string(&asked).expect("asked again");
    assert!(
        asked.ends_with(&format!(
            "local endpoint --configured http://127.0.0.1:9 --region {region} --start\n"
        )),
        "deploy starts the local AWS: {asked}"
    );
    assert!(sb.aws.calls().mutating().is_empty(), "no write");
}
