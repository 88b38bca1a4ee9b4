//! `cargo xtask bench`: the project's claims as measurements, on the local environment through
//! the gateway, each beside its target. Prints a table and writes `bench/latest.json` (schema:
//! `{"date", "machine", "commit", "results": [{"scenario", "runs", "median_s", "min_s", "max_s",
//! "calls_mutating", "calls_read_only", "peak_rss_mb", "target", "met"}]}`, `met` null where a
//! scenario has no target), `bench/latest.md` (the table the README shows) and `bench/latest.svg`
//! (wall time per scenario).
//!
//! Each run is the tool's own command line as a process of its own (`cargo xtask <command>`'s
//! binary), measured from the outside: wall time, the calls the gateway counted, and the peak
//! resident memory read from `/proc`. The baseline is `bench/seed-secrets.sh` (bash, the AWS CLI
//! from PyPI in a venv of its own, openssl) against the same emulator in the same run.

mod chain;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use local_aws::{Fault, FaultPlan, LocalAws, Rule, SlowSettings};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
struct Result {
    scenario: String,
    runs: usize,
    median_s: f64,
    min_s: f64,
    max_s: f64,
    calls_mutating: usize,
    calls_read_only: usize,
    peak_rss_mb: Option<f64>,
    target: String,
    met: Option<bool>,
    /// The last run's calls by `service:Operation`.
    calls_by_operation: BTreeMap<String, usize>,
}

struct Measured {
    wall: Duration,
    mutating: usize,
    read_only: usize,
    peak_rss_kb: Option<u64>,
    by_operation: BTreeMap<String, usize>,
}

struct Bench {
    runtime: tokio::runtime::Runtime,
    aws: LocalAws,
    program: PathBuf,
    dir: tempfile::TempDir,
    ca: PathBuf,
    root: PathBuf,
    aws_cli: PathBuf,
}

/// A local AWS with the stand-in infrastructure layer.
fn local_aws(runtime: &tokio::runtime::Runtime, venv: &Path) -> anyhow::Result<LocalAws> {
    runtime.block_on(async {
        let aws = LocalAws::start(venv, 0).await?;
        let sdk = local_aws::standin::sdk_config(&aws.endpoint(), "eu-central-2").await;
        local_aws::standin::ensure(&sdk).await?;
        anyhow::Ok(aws)
    })
}

impl Bench {
    /// A fresh local AWS (one account holds one Bedrock invocation logging configuration, so
    /// each environment gets an emulator of its own).
    fn reset(&mut self) -> anyhow::Result<()> {
        self.aws = local_aws(&self.runtime, &self.root.join(".local").join("venv"))?;
        Ok(())
    }

    /// An environments directory of its own for naming id `nid`, pointing at the bench's local
    /// AWS, with `edit` applied to its `local.toml`.
    fn environments(
        &self,
        nid: &str,
        edit: impl FnOnce(String) -> String,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.dir.path().join(nid);
        std::fs::create_dir_all(&dir)?;
        for entry in std::fs::read_dir(self.root.join("environments"))? {
            let path = entry?.path();
            std::fs::copy(&path, dir.join(path.file_name().context("file name")?))?;
        }
        let local = std::fs::read_to_string(dir.join("local.toml"))?
            .replace(
                "naming_id = \"dal-local\"",
                &format!("naming_id = \"{nid}\""),
            )
            .replace(
                "endpoint_url = \"http://127.0.0.1:4566\"",
                &format!("endpoint_url = \"{}\"", self.aws.endpoint()),
            )
            .replace(
                "rds_ca_bundle = \".local/ca/ca.pem\"",
                &format!("rds_ca_bundle = \"{}\"", self.ca.display()),
            );
        std::fs::write(dir.join("local.toml"), edit(local))?;
        Ok(dir)
    }

    /// Run the tool with `args` on the environments in `dir`, measured.
    fn tool(&self, dir: &Path, args: &[&str]) -> anyhow::Result<Measured> {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-q")
            .arg("--environments")
            .arg(dir)
            .args(args)
            .env_remove("AWS_REGION")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        self.measure(cmd, &args.join(" "))
    }

    /// Run the baseline script on the environment `nid` (its outputs written first, not measured).
    fn baseline(&self, dir: &Path, force: bool) -> anyhow::Result<Measured> {
        let outputs = dir.join("outputs.json");
        let out = Command::new(&self.program)
            .arg("--environments")
            .arg(dir)
            .args(["outputs", "local", "--json"])
            .output()?;
        if !out.status.success() {
            bail!("outputs failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::fs::write(&outputs, &out.stdout)?;
        let bin = self.aws_cli.join("bin");
        let mut cmd = Command::new("bash");
        cmd.arg(self.root.join("bench").join("seed-secrets.sh"))
            .arg("local")
            .args(force.then_some("--force"))
            .env("OUTPUTS_JSON", &outputs)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("AWS_ENDPOINT_URL", self.aws.endpoint())
            .env("AWS_DEFAULT_REGION", "eu-central-2")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_PAGER", "")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // Its peak memory is not comparable (bash's own; each `aws` is a process of its own).
        self.measure(cmd, "bench/seed-secrets.sh")
            .map(|m| Measured {
                peak_rss_kb: None,
                ..m
            })
    }

    fn measure(&self, mut cmd: Command, what: &str) -> anyhow::Result<Measured> {
        self.aws.calls().reset();
        let started = Instant::now();
        let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
        let pid = child.id();
        let mut peak: Option<u64> = None;
        let status = loop {
            if let Some(kb) = high_water_kb(pid) {
                peak = Some(peak.map_or(kb, |p| p.max(kb)));
            }
            if let Some(status) = child.try_wait()? {
                break status;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let wall = started.elapsed();
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            bail!("{what} failed ({status}) {err}");
        }
        let summary = self.aws.calls().summary();
        Ok(Measured {
            wall,
            mutating: summary.mutating,
            read_only: summary.read_only,
            peak_rss_kb: peak,
            by_operation: summary
                .by_operation
                .into_iter()
                .map(|(op, c)| (op, c.count))
                .collect(),
        })
    }
}

/// The peak resident set of a running process, from `/proc/<pid>/status` (VmHWM).
fn high_water_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn result(scenario: &str, runs: &[Measured], target: &str, met: Option<bool>) -> Result {
    let mut walls: Vec<f64> = runs.iter().map(|m| m.wall.as_secs_f64()).collect();
    walls.sort_by(|a, b| a.total_cmp(b));
    let median = walls[walls.len() / 2];
    let last = runs.last().expect("a run");
    Result {
        scenario: scenario.into(),
        runs: runs.len(),
        median_s: median,
        min_s: walls[0],
        max_s: walls[walls.len() - 1],
        calls_mutating: last.mutating,
        calls_read_only: last.read_only,
        peak_rss_mb: runs
            .iter()
            .filter_map(|m| m.peak_rss_kb)
            .max()
            .map(|kb| kb as f64 / 1024.0),
        target: target.into(),
        met,
        calls_by_operation: last.by_operation.clone(),
    }
}

fn median(r: &Result) -> f64 {
    r.median_s
}

/// The AWS CLI in a venv of its own under `.local/`, installed from PyPI the first time.
fn aws_cli(root: &Path) -> anyhow::Result<PathBuf> {
    let venv = root.join(".local").join("bench-venv");
    if venv.join("bin").join("aws").exists() {
        return Ok(venv);
    }
    eprintln!("installing the AWS CLI (from PyPI) into {}", venv.display());
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()?
        .success()
        && Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "awscli>=1.33,<2"])
            .status()?
            .success();
    if !ok {
        bail!("could not install the AWS CLI into {}", venv.display());
    }
    Ok(venv)
}

/// Run every scenario and write the results.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let aws = local_aws(&runtime, &root.join(".local").join("venv"))?;
    let dir = tempfile::tempdir()?;
    let ca = local_aws::ca::ensure(&dir.path().join("ca"))?;
    let mut bench = Bench {
        runtime,
        aws,
        // The installable binary, measured as an operator runs it.
        program: crate::product::binary(root)?,
        dir,
        ca,
        root: root.to_path_buf(),
        aws_cli: aws_cli(root)?,
    };
    let mut results = Vec::new();
    let deploy = ["deploy", "local", "--auto-approve", "--skip-seed"];
    let prod_like = |t: String| {
        t.replace("instance_count = 1", "instance_count = 2")
            .replace("num_cache_nodes = 1", "num_cache_nodes = 2")
            .replace(
                "automatic_failover_enabled = false",
                "automatic_failover_enabled = true",
            )
            .replace("multi_az_enabled = false", "multi_az_enabled = true")
    };

    eprintln!("==> fresh deploys, no-op plans, seeds");
    let mut sbx = Vec::new();
    let mut plans = Vec::new();
    let mut ours_fresh = Vec::new();
    let mut ours_noop = Vec::new();
    for i in 0..3 {
        bench.reset()?;
        let d = bench.environments(&format!("bench-sbx-{i}"), |t| t)?;
        sbx.push(bench.tool(&d, &deploy)?);
        if i == 0 {
            for _ in 0..5 {
                plans.push(bench.tool(&d, &["plan", "local"])?);
            }
        }
        ours_fresh.push(bench.tool(&d, &["seed", "local"])?);
        ours_noop.push(bench.tool(&d, &["seed", "local"])?);
    }
    let mut prod = Vec::new();
    for i in 0..3 {
        bench.reset()?;
        let d = bench.environments(&format!("bench-prod-{i}"), prod_like)?;
        prod.push(bench.tool(&d, &deploy)?);
    }
    let peak = sbx
        .iter()
        .chain(&prod)
        .filter_map(|m| m.peak_rss_kb)
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    results.push(result(
        "fresh deploy, sbx-like",
        &sbx,
        "peak memory < 100 MB",
        Some(peak < 100.0),
    ));
    results.push(result(
        "fresh deploy, prod-like",
        &prod,
        "peak memory < 100 MB",
        Some(peak < 100.0),
    ));
    let r = result(
        "plan, nothing to change",
        &plans,
        "<= 45 calls, < 1 s",
        None,
    );
    let met = r.calls_mutating + r.calls_read_only <= 45 && r.median_s < 1.0;
    results.push(Result {
        met: Some(met),
        ..r
    });

    eprintln!("==> the baseline");
    let mut base_fresh = Vec::new();
    let mut base_noop = Vec::new();
    for i in 0..3 {
        bench.reset()?;
        let d = bench.environments(&format!("bench-base-{i}"), |t| t)?;
        bench.tool(&d, &deploy)?;
        base_fresh.push(bench.baseline(&d, false)?);
        base_noop.push(bench.baseline(&d, false)?);
    }
    let seed_fresh = result("seed, from empty", &ours_fresh, "", None);
    let seed_noop = result("seed, nothing to do", &ours_noop, "", None);
    let b_fresh = result(
        "baseline seed-secrets.sh, from empty",
        &base_fresh,
        "",
        None,
    );
    let b_noop = result(
        "baseline seed-secrets.sh, nothing to do",
        &base_noop,
        "",
        None,
    );
    let ratio = |ours: &Result, base: &Result| median(base) / median(ours);
    let (rf, rn) = (ratio(&seed_fresh, &b_fresh), ratio(&seed_noop, &b_noop));
    results.push(Result {
        target: format!(">= 50x faster than the baseline: {rf:.0}x"),
        met: Some(rf >= 50.0),
        ..seed_fresh
    });
    results.push(Result {
        target: format!(">= 50x faster than the baseline: {rn:.0}x"),
        met: Some(rn >= 50.0),
        ..seed_noop
    });
    results.push(b_fresh);
    results.push(b_noop);

    eprintln!("==> seed and the baseline at 50 ms per call");
    let latency = FaultPlan {
        seed: 1,
        rules: vec![Rule {
            latency_ms: 50,
            ..Rule::every(Fault::Latency, 1.0)
        }],
    };
    bench.reset()?;
    let d = bench.environments("bench-latency-ours", |t| t)?;
    bench.tool(&d, &deploy)?;
    bench.aws.faults().set(latency.clone());
    let ours = result(
        "seed, from empty, 50 ms per call",
        &[bench.tool(&d, &["seed", "local"])?],
        "",
        None,
    );
    bench.reset()?;
    let d = bench.environments("bench-latency-base", |t| t)?;
    bench.tool(&d, &deploy)?;
    bench.aws.faults().set(latency.clone());
    let base = result(
        "baseline, from empty, 50 ms per call",
        &[bench.baseline(&d, false)?],
        "",
        None,
    );
    let r = ratio(&ours, &base);
    results.push(Result {
        target: format!("faster than the baseline: {r:.1}x"),
        met: Some(r > 1.0),
        ..ours
    });
    results.push(base);
    eprintln!("==> fresh deploy and the no-op plan at 50 ms per call");
    bench.reset()?;
    let d = bench.environments("bench-latency-deploy", |t| t)?;
    bench.aws.faults().set(latency);
    let fresh = bench.tool(&d, &deploy)?;
    results.push(result("fresh deploy, 50 ms per call", &[fresh], "", None));
    let noop: Vec<Measured> = (0..3)
        .map(|_| bench.tool(&d, &["plan", "local"]))
        .collect::<anyhow::Result<_>>()?;
    results.push(result(
        "plan, nothing to change, 50 ms per call",
        &noop,
        "",
        None,
    ));

    eprintln!(
        "==> deploy with slow creation (Aurora cluster and instance 60 s each, Redis 45 s, Grafana 30 s)"
    );
    bench.reset()?;
    let slow_settings = SlowSettings {
        aurora_creation_ms: Some(60_000),
        redis_creation_ms: Some(45_000),
        grafana_creation_ms: Some(30_000),
        ..Default::default()
    };
    bench.aws.slow().set(slow_settings);
    // Grafana is offered in eu-central-1, not eu-central-2: this environment lives there.
    bench.runtime.block_on(async {
        let sdk = local_aws::standin::sdk_config(&bench.aws.endpoint(), "eu-central-1").await;
        local_aws::standin::ensure(&sdk).await
    })?;
    let d = bench.environments("bench-slow", |t| {
        format!("region = \"eu-central-1\"\n{t}").replace(
            "enable_managed_grafana = false",
            "enable_managed_grafana = true",
        )
    })?;
    // The longest chain of waits, through the layer's own dependency graph (as the tool draws it).
    let dot = Command::new(&bench.program)
        .arg("--environments")
        .arg(&d)
        .args(["graph", "local"])
        .output()?;
    if !dot.status.success() {
        bail!("graph failed: {}", String::from_utf8_lossy(&dot.stderr));
    }
    let graph = chain::from_dot(&String::from_utf8_lossy(&dot.stdout))?;
    let (chain, along) = chain::longest(&graph, &slow_settings);
    let slow = bench.tool(&d, &deploy)?;
    bench.aws.slow().set(SlowSettings::default());
    let wall = slow.wall.as_secs_f64();
    results.push(result(
        "fresh deploy, slow creation",
        &[slow],
        &format!(
            "within 10% of the longest chain of waits ({chain:.0} s: {})",
            along.join(" then ")
        ),
        Some(wall <= chain * 1.1),
    ));

    write(root, &results)
}

/// Wall time per scenario, ours beside the baseline, as an SVG bar chart drawn by `poloto`.
fn plot(results: &[Result], date: &str) -> anyhow::Result<String> {
    let bars: Vec<(f64, String)> = results
        .iter()
        .map(|r| (r.median_s, r.scenario.clone()))
        .collect();
    let svg = poloto::build::bar::gen_simple("", bars, [0.0])
        .label((
            format!("cargo xtask bench, {date}: median wall time"),
            "seconds",
            "",
        ))
        .append_to(poloto::header().light_theme())
        .render_string()
        .map_err(|e| anyhow::anyhow!("drawing the plot: {e}"))?;
    Ok(svg)
}

fn table(results: &[Result]) -> String {
    let mut out = String::from(
        "| scenario | runs | median s | min s | max s | calls (mutating / read-only) | peak RSS MB | target | met |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} / {} | {} | {} | {} |\n",
            r.scenario,
            r.runs,
            r.median_s,
            r.min_s,
            r.max_s,
            r.calls_mutating,
            r.calls_read_only,
            r.peak_rss_mb
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "-".into()),
            if r.target.is_empty() { "-" } else { &r.target },
            match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "-",
            }
        ));
    }
    out
}

fn write(root: &Path, results: &[Result]) -> anyhow::Result<()> {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let machine = format!("{cores} cores");
    let json = serde_json::json!({
        "date": date,
        "machine": machine,
        "commit": commit,
        "results": results,
    });
    std::fs::write(
        root.join("bench").join("latest.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let md = format!(
        "`cargo xtask bench`, {date}, {machine}, commit {commit}:\n\n{}",
        table(results)
    );
    std::fs::write(root.join("bench").join("latest.md"), &md)?;
    std::fs::write(root.join("bench").join("latest.svg"), plot(results, &date)?)?;
    readme_block(&root.join("README.md"), BENCH_BLOCK, &md)?;
    println!("{md}");
    Ok(())
}

/// The README's block that holds `bench/latest.md`, between `<!-- {name} -->` and
/// `<!-- end {name} -->`: written by the bench, compared by tidy, never typed.
pub(crate) const BENCH_BLOCK: &str = "bench/latest.md";

/// The text between a README block's markers.
pub(crate) fn block_of<'a>(readme: &'a str, name: &str) -> Option<&'a str> {
    let start = readme.find(&format!("<!-- {name} -->\n"))? + name.len() + 10;
    let end = readme.find(&format!("<!-- end {name} -->"))?;
    readme.get(start..end)
}

/// Replace a README block's content with `text`.
fn readme_block(path: &std::path::Path, name: &str, text: &str) -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(path)?;
    let Some(old) = block_of(&readme, name) else {
        anyhow::bail!("README.md has no block `<!-- {name} -->`");
    };
    let updated = readme.replacen(old, &format!("{}\n", text.trim_end()), 1);
    std::fs::write(path, updated)?;
    Ok(())
}
