//! Where the local data plane finds PostgreSQL and Redis on the machines platform engineers use,
//! and the command that installs them when they are missing: `pg_config --bindir`, Debian's
//! `/usr/lib/postgresql/*/bin`, Homebrew's `postgresql@*` (Apple silicon and Intel), and `PATH`
//! (Fedora's and Arch's `/usr/bin`, Homebrew's `redis`). Every place is under a root, so a test
//! lays out a made-up machine.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The server programs found on this machine.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `initdb`.
    pub initdb: PathBuf,
    /// `postgres`.
    pub postgres: PathBuf,
    /// `redis-server`.
    pub redis: PathBuf,
}

/// The newest `<dir>/<prefix><version>/<sub>` holding every program of `needs`.
fn newest(dir: &Path, prefix: &str, sub: &str, needs: &[&str]) -> Option<PathBuf> {
    let version =
        |name: &str| -> Option<u32> { name.strip_prefix(prefix)?.split('.').next()?.parse().ok() };
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((version(e.file_name().to_str()?)?, e.path().join(sub))))
        .filter(|(_, bin)| needs.iter().all(|p| bin.join(p).is_file()))
        .max_by_key(|(v, _)| *v)
        .map(|(_, bin)| bin)
}

/// Under `root`, the directory that holds `postgres` and `initdb`: `pg_config`'s answer first,
/// then each platform's usual place, then `PATH`.
fn postgres_bin(
    root: &Path,
    path: &[PathBuf],
    pg_config_bindir: Option<PathBuf>,
) -> Option<PathBuf> {
    let needs = ["postgres", "initdb"];
    let holds = |d: &PathBuf| needs.iter().all(|p| d.join(p).is_file());
    let under = |p: &str| root.join(p.trim_start_matches('/'));
    pg_config_bindir
        .filter(holds)
        .or_else(|| newest(&under("/usr/lib/postgresql"), "", "bin", &needs))
        .or_else(|| newest(&under("/opt/homebrew/opt"), "postgresql@", "bin", &needs))
        .or_else(|| newest(&under("/usr/local/opt"), "postgresql@", "bin", &needs))
        .or_else(|| path.iter().find(|d| holds(d)).cloned())
}

/// Under `root`, `redis-server`: on `PATH`, or in the usual places.
fn redis(root: &Path, path: &[PathBuf]) -> Option<PathBuf> {
    let usual = ["/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"];
    path.iter()
        .cloned()
        .chain(usual.iter().map(|d| root.join(d.trim_start_matches('/'))))
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// The servers under `root`, given `PATH` and what `pg_config --bindir` said; else what is
/// missing, by name.
pub fn find(
    root: &Path,
    path_var: Option<&OsStr>,
    pg_config_bindir: Option<PathBuf>,
) -> Result<Programs, Vec<&'static str>> {
    let path: Vec<PathBuf> = path_var
        .map(|p| {
            std::env::split_paths(p)
                .map(|d| root.join(d.strip_prefix("/").unwrap_or(&d)))
                .collect()
        })
        .unwrap_or_default();
    match (
        postgres_bin(root, &path, pg_config_bindir),
        redis(root, &path),
    ) {
        (Some(bin), Some(redis)) => Ok(Programs {
            initdb: bin.join("initdb"),
            postgres: bin.join("postgres"),
            redis,
        }),
        (pg, redis) => Err([("postgresql", pg.is_none()), ("redis", redis.is_none())]
            .into_iter()
            .filter_map(|(n, missing)| missing.then_some(n))
            .collect()),
    }
}

/// `pg_config --bindir`, when `pg_config` runs.
pub fn pg_config_bindir() -> Option<PathBuf> {
    let mut cmd = std::process::Command::new("pg_config");
    let out = crate::child_env::restrict(&mut cmd, crate::child_env::Child::Plain)
        .arg("--bindir")
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    out.status.success().then(|| PathBuf::from(dir.trim()))
}

/// The platforms whose install command is known: (`/etc/os-release` ID or ID_LIKE word, command
/// with `{pg}` and `{redis}` for the packages).
const INSTALLERS: &[(&str, &str, &str, &str)] = &[
    (
        "debian",
        "sudo apt-get install -y",
        "postgresql",
        "redis-server",
    ),
    (
        "ubuntu",
        "sudo apt-get install -y",
        "postgresql",
        "redis-server",
    ),
    (
        "fedora",
        "sudo dnf install -y",
        "postgresql-server",
        "redis",
    ),
    ("rhel", "sudo dnf install -y", "postgresql-server", "redis"),
    ("arch", "sudo pacman -S --needed", "postgresql", "redis"),
    ("alpine", "sudo apk add", "postgresql", "redis"),
];

/// The command that installs `missing` on this platform: `macos` for a Mac, else read from the
/// text of `/etc/os-release`.
pub fn install_hint(missing: &[&str], macos: bool, os_release: &str) -> String {
    if macos {
        let brew: Vec<&str> = missing
            .iter()
            .map(|m| {
                if *m == "postgresql" {
                    "postgresql@16"
                } else {
                    "redis"
                }
            })
            .collect();
        return format!("brew install {}", brew.join(" "));
    }
    let words: Vec<&str> = os_release
        .lines()
        .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
        .flat_map(|v| v.trim_matches('"').split_whitespace())
        .collect();
    let found = INSTALLERS.iter().find(|(id, ..)| words.contains(id));
    let (_, command, pg, redis) = found.copied().unwrap_or(INSTALLERS[0]);
    let packages: Vec<&str> = missing
        .iter()
        .map(|m| if *m == "postgresql" { pg } else { redis })
        .collect();
    let how = format!("{command} {}", packages.join(" "));
    if found.is_some() {
        how
    } else {
        format!("your platform's PostgreSQL and Redis server packages (on Debian: {how})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, file: &str) {
        let p = root.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }

    #[test]
    fn each_platform_s_usual_places_and_path() {
        // Debian: the newest of /usr/lib/postgresql/*/bin; Redis in /usr/bin.
        let debian = tempfile::tempdir().unwrap();
        for f in [
            "usr/lib/postgresql/15/bin/postgres",
            "usr/lib/postgresql/15/bin/initdb",
            "usr/lib/postgresql/16/bin/postgres",
            "usr/lib/postgresql/16/bin/initdb",
            "usr/lib/postgresql/17/bin/postgres",
            "usr/bin/redis-server",
        ] {
            touch(debian.path(), f);
        }
        let p = find(debian.path(), None, None).unwrap();
        assert!(
            p.postgres.ends_with("usr/lib/postgresql/16/bin/postgres"),
            "17 lacks initdb: {p:?}"
        );
        // Homebrew on Apple silicon, Redis found through PATH.
        let mac = tempfile::tempdir().unwrap();
        for f in [
            "opt/homebrew/opt/postgresql@16/bin/postgres",
            "opt/homebrew/opt/postgresql@16/bin/initdb",
            "opt/homebrew/opt/postgresql@14/bin/postgres",
            "opt/homebrew/opt/postgresql@14/bin/initdb",
            "Users/me/bin/redis-server",
        ] {
            touch(mac.path(), f);
        }
        let p = find(mac.path(), Some(OsStr::new("/Users/me/bin:/bin")), None).unwrap();
        assert!(p.initdb.ends_with("postgresql@16/bin/initdb"), "{p:?}");
        assert!(p.redis.ends_with("Users/me/bin/redis-server"), "{p:?}");
        // Fedora: both in /usr/bin, on PATH; pg_config's answer wins where it holds them.
        let fedora = tempfile::tempdir().unwrap();
        for f in [
            "usr/bin/postgres",
            "usr/bin/initdb",
            "usr/bin/redis-server",
            "opt/pg/bin/postgres",
            "opt/pg/bin/initdb",
        ] {
            touch(fedora.path(), f);
        }
        let p = find(fedora.path(), Some(OsStr::new("/usr/bin")), None).unwrap();
        assert!(p.postgres.ends_with("usr/bin/postgres"), "{p:?}");
        let p = find(
            fedora.path(),
            Some(OsStr::new("/usr/bin")),
            Some(fedora.path().join("opt/pg/bin")),
        )
        .unwrap();
        assert!(p.postgres.ends_with("opt/pg/bin/postgres"), "{p:?}");
        // Nothing: both named.
        let bare = tempfile::tempdir().unwrap();
        assert_eq!(
            find(bare.path(), Some(OsStr::new("/usr/bin")), None).unwrap_err(),
            ["postgresql", "redis"]
        );
    }

    #[test]
    fn the_install_command_of_the_platform_it_runs_on() {
        let both = ["postgresql", "redis"];
        assert_eq!(
            install_hint(&both, true, ""),
            "brew install postgresql@16 redis"
        );
        assert_eq!(
            install_hint(&both, false, "ID=debian\n"),
            "sudo apt-get install -y postgresql redis-server"
        );
        assert_eq!(
            install_hint(
                &["redis"],
                false,
                "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"
            ),
            "sudo dnf install -y redis"
        );
        assert_eq!(
            install_hint(&both, false, "ID=arch\n"),
            "sudo pacman -S --needed postgresql redis"
        );
        assert!(install_hint(&both, false, "ID=plan9\n").starts_with("your platform's"));
    }
}
