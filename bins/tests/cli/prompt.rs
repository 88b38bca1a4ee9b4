//! The confirmation prompt on a terminal (a pseudo-terminal from util-linux's `script`): anything
//! but `yes` cancels, and a cancelled deploy has made no write at all, the run lock's included.

use dal_tests::Sandbox;
use tokio::io::AsyncWriteExt as _;

#[tokio::test]
async fn answering_no_at_the_prompt_makes_no_write_at_all() {
    let sb = Sandbox::new("e2e-prompt").await;
    sb.settle().await;
    sb.aws.calls().reset();
    let command = format!(
        "{} --environments {} deploy local",
        env!("CARGO_BIN_EXE_data-and-ai"),
        sb.environments().display()
    );
    let mut child = tokio::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env("DAL_ROOT", sb.environments())
        .env("NO_COLOR", "1")
        .env_remove("AWS_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script runs");
    // Typed ahead: the terminal holds the line until the prompt reads it.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"no\n").await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    drop(stdin);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Enter a value"),
        "the prompt was shown: {text}"
    );
    assert!(text.contains("cancelled: nothing was changed"), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let writes: Vec<String> = sb
        .aws
        .calls()
        .mutating()
        .into_iter()
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "not even the run lock");
}
