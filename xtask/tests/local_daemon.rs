//! `cargo xtask local up` and `local down` as an operator runs them: the data plane's servers stop with the
//! daemon on every path (`local down`, a daemon killed outright), what a dead daemon left is
//! cleaned at the next start, the files near values are private, and no child of the local AWS
//! sees the operator's AWS keys.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CANARY: &str = "canary-env-5d1e";

/// The workspace, as cargo names it to the test at run time (a test binary shared between clones
/// must not read the clone it was built in).
fn workspace() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// The suite's emulator venv: `DAL_EMULATOR_VENV` (as `cargo xtask ci` sets it), else this
/// project's own.
fn venv() -> PathBuf {
    std::env::var_os("DAL_EMULATOR_VENV")
        .map_or_else(|| local_aws::daemon::venv_dir(&workspace()), PathBuf::from)
}

/// A project root of its own (its own `.local/`), sharing the suite's emulator venv.
fn project() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join(".local")).unwrap();
    std::os::unix::fs::symlink(venv(), root.path().join(".local/venv")).unwrap();
    root
}

/// `cargo xtask`, with the operator's AWS keys in its environment.
fn tool(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("DAL_ROOT", root)
        .env("AWS_SECRET_ACCESS_KEY", CANARY)
        .env("AWS_SESSION_TOKEN", CANARY)
        .output()
        .expect("the binary runs")
}

fn up(root: &Path, port: u16) -> local_aws::daemon::State {
    let out = tool(root, &["local", "up", "--port", &port.to_string()]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(root.join(".local/gateway.json")).unwrap();
    let state: local_aws::daemon::State = serde_json::from_str(&text).unwrap();
    assert!(state.data_plane.is_some(), "a data plane: {state:?}");
    state
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process's parent and state, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z')
}

/// Every live process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, stat(p)?.0)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, _) in all.iter().filter(|(_, pp)| *pp == parent) {
            if alive(*p) {
                out.push(*p);
                frontier.push(*p);
            }
        }
    }
    out
}

fn name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The data plane directory of the daemon `pid`.
fn data_plane_dir(pid: u32) -> PathBuf {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            std::fs::read_to_string(p.join("owner.pid")).is_ok_and(|t| t.trim() == pid.to_string())
        })
        .unwrap_or_else(|| panic!("no data plane directory of {pid}"))
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_data_plane_stops_with_the_daemon_on_every_path_and_children_never_see_aws_keys() {
    let root = project();
    let state = up(root.path(), free_port());
    let children = descendants(state.pid);
    let names: Vec<String> = children.iter().map(|p| name(*p)).collect();
    for server in ["postgres", "redis-server"] {
        assert!(names.iter().any(|n| n == server), "{server} in {names:?}");
    }
    // No child, nor the daemon, holds the operator's keys.
    for pid in std::iter::once(state.pid).chain(children.iter().copied()) {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        assert!(
            !environ.contains(CANARY) && !environ.contains("AWS_SECRET_ACCESS_KEY"),
            "{} ({pid}) inherited the operator's AWS keys",
            name(pid)
        );
    }
    // The files near values are private.
    let dir = data_plane_dir(state.pid);
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&dir.join("socket")), 0o700);
    let local = root.path().join(".local");
    assert_eq!(mode(&local), 0o700);
    assert_eq!(mode(&local.join("gateway.log")), 0o600);
    assert_eq!(mode(&local.join("ca/ca.key")), 0o600);
    assert_eq!(mode(&local.join("ca/redis/ca.key")), 0o600);

    // `local down`: every server stops and its files go.
    let out = tool(root.path(), &["local", "down"]);
    assert!(out.status.success(), "{out:?}");
    for pid in &children {
        assert!(!alive(*pid), "{} ({pid}) outlived local down", name(*pid));
    }
    assert!(!dir.exists(), "{} left behind", dir.display());

    // A daemon killed outright takes its servers with it; the next start removes its files.
    let state = up(root.path(), free_port());
    let children = descendants(state.pid);
    let dir = data_plane_dir(state.pid);
    let killed = Command::new("kill")
        .args(["-KILL", &state.pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    for pid in &children {
        wait_until(
            &format!("{} ({pid}) stops with its daemon", name(*pid)),
            Duration::from_secs(20),
            || !alive(*pid),
        );
    }
    let again = up(root.path(), free_port());
    assert!(
        !dir.exists(),
        "{} of the dead daemon left behind",
        dir.display()
    );
    let out = tool(root.path(), &["local", "down"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!alive(again.pid));
}

/// `local endpoint`, which the installable binary asks when `cargo xtask` runs it: not running, it
/// names the fix (or starts the local AWS with `--start`); running, it gives the running one's
/// endpoint even where the environment points elsewhere.
#[test]
fn local_endpoint_answers_the_binary_and_starts_the_local_aws_only_when_asked() {
    let root = project();
    let port = free_port();
    let configured = format!("http://127.0.0.1:{port}");
    let ask = |configured: &str, start: bool| {
        let mut args = vec!["local", "endpoint", "--configured", configured];
        args.extend(["--region", "eu-central-2"]);
        if start {
            args.push("--start");
        }
        tool(root.path(), &args)
    };
    let out = ask(&configured, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        stderr.starts_with(&format!(
            "error: the local AWS is not running at {configured}"
        )) && stderr.contains("`cargo xtask local up`"),
        "{stderr}"
    );
    assert!(
        !root.path().join(".local/gateway.json").exists(),
        "nothing started"
    );

    let out = ask(&configured, true);
    assert!(out.status.success(), "{out:?}");
    let endpoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(endpoint.ends_with(&format!(":{port}")), "{endpoint}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("starting the local AWS on port {port}")),
        "{out:?}"
    );
    let out = ask("http://127.0.0.1:9", false);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), endpoint);
    let out = tool(root.path(), &["local", "down"]);
    assert!(out.status.success(), "{out:?}");
}

/// `cargo xtask deploy local` as the README's first command runs it, nothing running: xtask becomes
/// the installable binary (the one the launcher built beside it), which asks xtask for the local
/// AWS, which starts it; the deploy then lands there.
#[test]
fn deploy_local_through_xtask_starts_the_local_aws_and_deploys_there() {
    let root = project();
    let workspace = workspace();
    let environments = root.path().join("environments");
    std::fs::create_dir_all(&environments).unwrap();
    for entry in std::fs::read_dir(workspace.join("environments")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, environments.join(path.file_name().unwrap())).unwrap();
    }
    let port = free_port();
    let local = environments.join("local.toml");
    let text = std::fs::read_to_string(&local).unwrap();
    let moved = text.replace("127.0.0.1:4566", &format!("127.0.0.1:{port}"));
    assert_ne!(moved, text, "local.toml names the default endpoint");
    std::fs::write(&local, moved).unwrap();
    let xtask = Path::new(env!("CARGO_BIN_EXE_xtask"));
    let out = Command::new(xtask)
        .args(["deploy", "local", "--auto-approve", "--skip-seed"])
        .env("DAL_ROOT", root.path())
        .env("DAL_PRODUCT_BIN", xtask.with_file_name("data-and-ai"))
        .output()
        .expect("xtask runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("starting the local AWS on port {port}")),
        "{stderr}"
    );
    let state: local_aws::daemon::State = serde_json::from_str(
        &std::fs::read_to_string(root.path().join(".local/gateway.json")).unwrap(),
    )
    .unwrap();
    assert!(state.endpoint.ends_with(&format!(":{port}")), "{state:?}");
    let calls = local_aws::daemon::http_get("127.0.0.1", port, "/_gateway/calls");
    let calls = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(calls)
        .unwrap()
        .1;
    assert!(
        calls.contains("\"rds:CreateDBCluster\""),
        "the deploy landed there: {calls}"
    );
    let out = tool(root.path(), &["local", "down"]);
    assert!(out.status.success(), "{out:?}");
}
