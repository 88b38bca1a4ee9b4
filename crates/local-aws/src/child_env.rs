//! The environment and the lifetime of the local AWS's child processes. Environment: an
//! allowlist, never the operator's whole environment. The shell that runs `local up` may hold real AWS keys and a session token
//! (`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); the daemon, pip, moto, apt-get (as root),
//! initdb, PostgreSQL and Redis have no use for them, and a child's environment can be read by
//! whoever may read its `/proc/<pid>/environ`.

/// What every child keeps: where programs are, the home and temporary directories, the
/// language, and the proxy settings a machine behind a proxy needs to reach a registry.
pub const ALLOWED: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

/// Which child, for the variables only it may see besides [`ALLOWED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    /// A server or tool with no settings of ours (moto, apt-get, initdb, postgres, redis).
    Plain,
    /// pip, which reads its configuration from `PIP_*` (an index mirror, a certificate).
    Pip,
    /// The local AWS daemon, this project's own binary: its log level and our `DAL_*` settings.
    Daemon,
}

impl Child {
    fn also_allows(self, key: &str) -> bool {
        match self {
            Child::Plain => false,
            Child::Pip => key.starts_with("PIP_"),
            Child::Daemon => key.starts_with("DAL_") || matches!(key, "RUST_LOG" | "NO_COLOR"),
        }
    }
}

/// The variables of `vars` (the current environment, in use) that `child` may see.
pub fn allowed(
    child: Child,
    vars: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    vars.filter(|(k, _)| ALLOWED.contains(&k.as_str()) || child.also_allows(k))
        .collect()
}

/// `program` started so that the kernel signals it with `signal` when the thread that started it
/// goes (`setpriv --pdeathsig`, from util-linux; plainly where setpriv is missing): the local
/// AWS's servers never outlive a daemon that dies.
pub fn dying_with_parent(program: &std::path::Path, signal: &str) -> tokio::process::Command {
    match ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    {
        Some(setpriv) => {
            let mut cmd = tokio::process::Command::new(setpriv);
            cmd.args(["--pdeathsig", signal, "--"]).arg(program);
            cmd
        }
        None => tokio::process::Command::new(program),
    }
}

/// Clear a command's environment and give it what [`allowed`] lets through.
pub fn restrict(cmd: &mut std::process::Command, child: Child) -> &mut std::process::Command {
    cmd.env_clear().envs(allowed(child, std::env::vars()))
}

/// The same for a tokio command.
pub fn restrict_async(
    cmd: &mut tokio::process::Command,
    child: Child,
) -> &mut tokio::process::Command {
    cmd.env_clear().envs(allowed(child, std::env::vars()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn aws_credentials_never_pass_and_each_child_gets_only_its_own() {
        let env = [
            ("PATH", "/usr/bin"),
            ("AWS_SECRET_ACCESS_KEY", "canary"),
            ("AWS_SESSION_TOKEN", "canary"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("PIP_INDEX_URL", "https://mirror"),
            ("DAL_EMULATOR_VENV", "/v"),
            ("RUST_LOG", "debug"),
            ("https_proxy", "http://proxy:3128"),
        ];
        let keys = |child| -> Vec<String> {
            allowed(child, vars(&env))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(keys(Child::Plain), ["PATH", "https_proxy"]);
        assert_eq!(keys(Child::Pip), ["PATH", "PIP_INDEX_URL", "https_proxy"]);
        assert_eq!(
            keys(Child::Daemon),
            ["PATH", "DAL_EMULATOR_VENV", "RUST_LOG", "https_proxy"]
        );
    }
}
