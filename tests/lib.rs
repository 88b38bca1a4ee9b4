//! End-to-end tests of the data-and-ai layer against the local AWS. This library is the test
//! harness: each test gets a [`Sandbox`] of its own (its own emulator and gateway on free ports,
//! its own stand-in infrastructure, its own environments directory with its own naming id), so
//! tests run in parallel without touching each other.

use std::path::{Path, PathBuf};

use layer_core::config::Environment;
use local_aws::LocalAws;

/// The project root.
pub fn project_root() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .parent()
    .expect("tests/ is in the project")
    .to_path_buf()
}

/// The emulator's venv: `DAL_EMULATOR_VENV`, or the project's `.local/venv`.
pub fn venv() -> PathBuf {
    std::env::var_os("DAL_EMULATOR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| local_aws::daemon::venv_dir(&project_root()))
}

/// python-jsonschema's verdict on each TOML document against the shipped schema of the
/// environment files: `None` accepted, `Some(why)` rejected (a validator we did not write).
pub fn schema_verdicts(
    documents: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, Option<String>> {
    use std::io::Write as _;
    let root = project_root();
    let mut child = std::process::Command::new(venv().join("bin").join("python"))
        .arg(root.join("tests/conformance/schema_check.py"))
        .arg(root.join("environments/environment.schema.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&serde_json::to_vec(documents).expect("JSON"))
        .expect("the documents are written");
    let out = child.wait_with_output().expect("the check ends");
    assert!(out.status.success(), "schema_check.py failed");
    serde_json::from_slice(&out.stdout).expect("verdicts as JSON")
}

/// The emulator's account.
pub const ACCOUNT: &str = "123456789012";

/// One test's own local AWS and environments.
pub struct Sandbox {
    /// The emulator behind our gateway.
    pub aws: LocalAws,
    /// The naming id of this sandbox's `local` environment.
    pub nid: String,
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Start a sandbox whose `local` environment uses naming id `nid`.
    pub async fn new(nid: &str) -> Self {
        Self::with(nid, |t| t).await
    }

    /// Start a sandbox, letting `edit` change the text of its `local.toml`.
    pub async fn with(nid: &str, edit: impl FnOnce(String) -> String) -> Self {
        Self::build(nid, edit, false).await
    }

    /// Start a sandbox whose local AWS has a data plane: a real PostgreSQL and Redis, TLS only,
    /// that the emulated cluster and replication group lead to.
    pub async fn with_data_plane(nid: &str) -> Self {
        Self::build(nid, |t| t, true).await
    }

    async fn build(nid: &str, edit: impl FnOnce(String) -> String, data_plane: bool) -> Self {
        let venv = std::env::var_os("DAL_EMULATOR_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| local_aws::daemon::venv_dir(&project_root()));
        let mut aws = LocalAws::start_forked(&venv)
            .await
            .expect("local AWS starts");
        let sdk = local_aws::standin::sdk_config(&aws.endpoint(), "eu-central-2").await;
        local_aws::standin::ensure(&sdk)
            .await
            .expect("stand-in infrastructure");
        // The suite runs as AWS is: lists lag behind writes, new buckets and users are not seen
        // at once. A test that needs a consistent world says so (`consistency().clear()`).
        aws.consistency()
            .set(local_aws::ConsistencySettings::aws_like());
        aws.calls().reset();
        let dir = tempfile::tempdir().expect("temp dir");
        let src = project_root().join("environments");
        for entry in std::fs::read_dir(&src).expect("environments/") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, dir.path().join(path.file_name().expect("file name")))
                .expect("copy");
        }
        // The sandbox's own local CA, as `local up` makes it for the project.
        let ca_dir = dir.path().join(".local").join("ca");
        let ca = local_aws::ca::ensure(&ca_dir).expect("local CA");
        if data_plane {
            aws.start_data_plane(&ca_dir)
                .await
                .expect("the data plane starts (PostgreSQL and Redis from Debian's packages)");
        }
        let local = std::fs::read_to_string(dir.path().join("local.toml")).expect("local.toml");
        let local = local
            .replace(
                "rds_ca_bundle = \".local/ca/ca.pem\"",
                &format!("rds_ca_bundle = \"{}\"", ca.display()),
            )
            .replace(
                "extra_ca_file = \".local/ca/redis/ca.pem\"",
                &format!(
                    "extra_ca_file = \"{}\"",
                    local_aws::ca::redis_ca(&ca_dir).display()
                ),
            )
            .replace(
                "naming_id = \"dal-local\"",
                &format!("naming_id = \"{nid}\""),
            )
            .replace(
                "endpoint_url = \"http://127.0.0.1:4566\"",
                &format!("endpoint_url = \"{}\"", aws.endpoint()),
            );
        std::fs::write(dir.path().join("local.toml"), edit(local)).expect("write local.toml");
        Sandbox {
            aws,
            nid: nid.to_string(),
            dir,
        }
    }

    /// Wait until AWS's lists show every change made so far (the gateway's list lag), for a
    /// check that needs the whole truth from list calls (an inventory, a key listing).
    pub async fn settle(&self) {
        tokio::time::sleep(self.aws.consistency().settled_in()).await;
    }

    /// The data plane (started by [`Sandbox::with_data_plane`]).
    pub fn data_plane(&self) -> &local_aws::dataplane::DataPlane {
        self.aws.data_plane().expect("a sandbox with a data plane")
    }

    /// The sandbox's environments directory.
    pub fn environments(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrite one environment file of the sandbox.
    pub fn edit_env(&self, name: &str, edit: impl FnOnce(String) -> String) {
        let path = self.dir.path().join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&path).expect("env file");
        std::fs::write(&path, edit(text)).expect("write env file");
    }

    /// The installed binary `program` with `args` on this sandbox's environments, as an operator
    /// runs it: its own process, no AWS region or endpoint from the shell.
    pub fn binary(&self, program: &str, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg("--environments")
            .arg(self.environments())
            .args(args)
            .env("DAL_ROOT", self.environments())
            .env_remove("AWS_REGION")
            .env_remove("AWS_ENDPOINT_URL");
        cmd
    }

    /// Run the operator's command line, in process, against this sandbox; returns the exit code.
    pub async fn cli(&self, args: &[&str]) -> i32 {
        let mut argv = vec![
            "data-and-ai".to_string(),
            "--environments".into(),
            self.dir.path().display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        let inv = layer::cli::Invocation {
            root: self.dir.path().to_path_buf(),
            local: None,
            assume_role_arn: None,
        };
        layer::cli::run(argv, &inv).await
    }

    /// A bucket someone else made long before (a platform's Terraform state bucket), in the
    /// sandbox's region; AWS has caught up with it when this returns.
    pub async fn older_bucket(&self, name: &str) {
        self.s3()
            .await
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(self.env().region.as_str().into())
                    .build(),
            )
            .send()
            .await
            .expect("the bucket is made");
        self.settle().await;
    }

    /// The sandbox's `local` environment.
    pub fn env(&self) -> Environment {
        layer::load(self.dir.path(), "local").expect("local environment loads")
    }

    /// An IAM role (made with the emulator's root keys, which IAM enforcement never checks)
    /// that holds `documents` as managed policies; its ARN.
    pub async fn role_with(&self, name: &str, documents: &[serde_json::Value]) -> String {
        let iam = self.iam().await;
        let trust = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{ACCOUNT}:root") },
                "Action": "sts:AssumeRole",
            }],
        });
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("role");
        for (i, d) in documents.iter().enumerate() {
            let p = iam
                .create_policy()
                .policy_name(format!("{name}-{i}"))
                .policy_document(d.to_string())
                .send()
                .await
                .expect("policy");
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(p.policy().and_then(|p| p.arn()).expect("arn"))
                .send()
                .await
                .expect("attached");
        }
        format!("arn:aws:iam::{ACCOUNT}:role/{name}")
    }

    /// From now on, the `local` environment assumes `role` (`assume_role_arn`), as an operator
    /// configures a least-privilege role.
    pub fn assume(&self, role: &str) {
        self.edit_env("local", |t| {
            let kept: Vec<&str> = t
                .lines()
                .filter(|l| !l.starts_with("assume_role_arn"))
                .collect();
            format!("assume_role_arn = \"{role}\"\n{}\n", kept.join("\n"))
        });
    }

    /// A role holding exactly the policy `iam-policy` generates for `command` (split into
    /// managed policies); its ARN.
    pub async fn least_privileged(&self, command: layer_core::access::Command) -> String {
        let policy = layer::iam_policy(&self.env(), &[command], ACCOUNT).expect("the policy");
        self.role_with(
            &format!("least-{}", command.name()),
            &policy.split(layer_core::access::MANAGED_POLICY_LIMIT),
        )
        .await
    }

    /// Switch IAM enforcement on, and make the `local` environment run as a role that holds
    /// exactly the policy `iam-policy` generates for `command`.
    pub async fn enforce_least_privilege(&self, command: layer_core::access::Command) {
        let role = self.least_privileged(command).await;
        self.aws.authz().set(true);
        self.assume(&role);
    }

    /// A connected session on the `local` environment.
    pub async fn session(&self) -> layer::Session {
        layer::Session::connect(self.env())
            .await
            .expect("session connects")
    }

    /// An SDK configuration for out-of-band changes.
    pub async fn sdk(&self) -> aws_types::SdkConfig {
        local_aws::standin::sdk_config(&self.aws.endpoint(), "eu-central-2").await
    }

    /// An S3 client for out-of-band changes (path style, as the local endpoint needs).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = self.sdk().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        )
    }

    /// A Secrets Manager client.
    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.sdk().await)
    }

    /// A secret's value (test code only: the product never reads a value it does not need).
    pub async fn secret_value(&self, secret: &str) -> Option<String> {
        self.secrets()
            .await
            .get_secret_value()
            .secret_id(secrets_seed::names(&self.env()).full(secret))
            .send()
            .await
            .ok()
            .and_then(|o| o.secret_string().map(str::to_string))
    }

    /// A secret's current version id.
    pub async fn secret_version(&self, secret: &str) -> Option<String> {
        let d = self
            .secrets()
            .await
            .describe_secret()
            .secret_id(secrets_seed::names(&self.env()).full(secret))
            .send()
            .await
            .ok()?;
        d.version_ids_to_stages()?
            .iter()
            .find(|(_, s)| s.iter().any(|s| s == "AWSCURRENT"))
            .map(|(v, _)| v.clone())
    }

    /// Mutating calls counted at the gateway since the last reset, apart from the run lock's
    /// (taken and released by every deploy, apply, seed and destroy; see `lock_calls`).
    pub fn mutating_calls(&self) -> Vec<String> {
        self.layer_mutations()
            .into_iter()
            .map(|c| format!("{}:{}", c.service, c.operation))
            .collect()
    }

    /// Every mutating call since the last reset, the run lock's included, as `service:operation`:
    /// what a refusal must leave empty (a refusal comes before the lock).
    pub fn all_mutations(&self) -> Vec<String> {
        self.aws
            .calls()
            .mutating()
            .into_iter()
            .map(|c| format!("{}:{}", c.service, c.operation))
            .collect()
    }

    /// Mutating calls on the layer's resources since the last reset: every mutating call but
    /// those on the run lock's secret.
    pub fn layer_mutations(&self) -> Vec<local_aws::calls::Call> {
        self.aws
            .calls()
            .mutating()
            .into_iter()
            .filter(|c| !is_lock_call(c))
            .collect()
    }

    /// How many of [`Sandbox::layer_mutations`] there are, counted without copying the log (for a
    /// loop that polls it).
    pub fn layer_mutation_count(&self) -> usize {
        self.aws.calls().count(|c| c.mutating && !is_lock_call(c))
    }

    /// Whether the gateway counted a call of `operation` since the last reset.
    pub fn called(&self, operation: &str) -> bool {
        self.aws.calls().count(|c| c.operation == operation) > 0
    }

    /// The calls on the run lock's secret since the last reset, as `operation`.
    pub fn lock_calls(&self) -> Vec<String> {
        self.aws
            .calls()
            .snapshot()
            .into_iter()
            .filter(is_lock_call)
            .map(|c| c.operation)
            .collect()
    }

    /// The run lock's holds as the local AWS saw them, counted from the gateway's log of lock
    /// calls: each hold runs from a `CreateSecret` that succeeded (at its answer) to the
    /// `DeleteSecret` that ended it (at its arrival), on the log's one clock. Takes and releases
    /// must alternate, so two holds never overlap; the error names the calls out of turn.
    pub fn lock_holds(&self) -> Result<usize, String> {
        let mut events: Vec<(u64, bool, String)> = self
            .aws
            .calls()
            .snapshot()
            .into_iter()
            .filter(|c| is_lock_call(c) && c.succeeded())
            .filter_map(|c| match c.operation.as_str() {
                "CreateSecret" => c.answered.map(|at| (at, true, format!("{c:?}"))),
                "DeleteSecret" => Some((c.arrived, false, format!("{c:?}"))),
                _ => None,
            })
            .collect();
        events.sort_by_key(|e| e.0);
        let mut holds = 0;
        let mut held = false;
        for (_, take, call) in &events {
            if *take == held {
                let what = if held {
                    "a second take"
                } else {
                    "a release of nothing"
                };
                return Err(format!("{what} after {holds} holds: {call}"));
            }
            held = *take;
            holds += usize::from(*take);
        }
        Ok(holds)
    }

    /// An IAM client.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk().await)
    }

    /// The access key ids of the environment's S3 user, as `ListAccessKeys` shows them now.
    pub async fn access_key_ids(&self) -> Vec<String> {
        self.iam()
            .await
            .list_access_keys()
            .user_name(format!("{}-s3-access", self.nid))
            .send()
            .await
            .expect("the S3 user's keys")
            .access_key_metadata()
            .iter()
            .filter_map(|k| k.access_key_id().map(str::to_string))
            .collect()
    }

    /// Observe and plan, as the operator's `plan` does.
    pub async fn plan(&self, mode: layer_core::engine::Mode) -> layer_core::Plan {
        let s = self.session().await;
        s.plan(&s.context(layer_core::SafetyFlags::default()), mode)
            .await
            .expect("plan")
            .plan
    }

    /// A bucket's name by key.
    pub fn bucket(&self, key: &str) -> String {
        format!("{}-{}", self.nid, key.replace('_', "-"))
    }
}

/// The changed top-level fields of one resource in a plan.
pub fn fields(plan: &layer_core::Plan, address: &str) -> std::collections::BTreeSet<String> {
    plan.changes
        .iter()
        .filter(|c| c.address.to_string() == address)
        .flat_map(|c| c.fields.iter().map(|f| f.field().to_string()))
        .collect()
}

/// A set of field names.
pub fn set(items: &[&str]) -> std::collections::BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The secrets seed generates.
pub const GENERATED_SECRETS: &[&str] = &[
    "encryption-key-app-repository",
    "encryption-key-node-chat-lxm",
    "encryption-key-ingestion",
    "zitadel-db-user-password",
    "zitadel-master-key",
    "rabbitmq-password-chat",
    "litellm-proxy-master-key",
    "litellm-salt-key",
];

/// The generated secrets that encrypt data at rest (`--force` keeps them).
pub const AT_REST_SECRETS: &[&str] = &[
    "encryption-key-app-repository",
    "encryption-key-node-chat-lxm",
    "encryption-key-ingestion",
    "zitadel-master-key",
    "litellm-salt-key",
];

/// The spec's databases (`postgresql_databases`).
pub const DATABASES: &[&str] = &[
    "app_repository",
    "chat",
    "ingestion",
    "litellm",
    "scope_management",
    "theme",
];

/// Every secret seed writes a value into: generated, derived and the S3 key pair.
pub fn seeded_secrets() -> Vec<String> {
    let mut v: Vec<String> = GENERATED_SECRETS.iter().map(|s| s.to_string()).collect();
    v.extend(
        [
            "psql-password",
            "azure-openai-endpoint-definitions",
            "s3-access-key-id",
            "s3-secret-access-key",
        ]
        .map(String::from),
    );
    v.extend(
        DATABASES
            .iter()
            .map(|d| format!("psql-connection-string-{d}")),
    );
    v
}

/// Whether a call names the run lock's secret (`{nid}/run-lock`, or under `[secrets] prefix`; by
/// name or full ARN).
fn is_lock_call(c: &local_aws::calls::Call) -> bool {
    c.service == "secretsmanager"
        && c.resource
            .as_deref()
            .is_some_and(|r| r.ends_with("/run-lock") || r.contains("/run-lock-"))
}

/// What of an environment exists in the local AWS, by service, found by its naming id or its
/// tags: for "nothing left behind" after destroy, and "nothing duplicated" after faults.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// `kind: name` of every resource found.
    pub items: Vec<String>,
}

impl Inventory {
    /// The items of one kind.
    pub fn of(&self, kind: &str) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|i| i.strip_prefix(&format!("{kind}: ")))
            .collect()
    }

    /// Names found more than once within their kind.
    pub fn duplicates(&self) -> Vec<String> {
        let mut seen = std::collections::BTreeMap::<&str, usize>::new();
        for i in &self.items {
            *seen.entry(i.as_str()).or_default() += 1;
        }
        seen.into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(i, n)| format!("{i} ×{n}"))
            .collect()
    }
}

impl Sandbox {
    /// Everything of this sandbox's environment in every service the layer touches: RDS
    /// (clusters, instances, parameter and subnet groups, snapshots), ElastiCache (replication
    /// groups, parameter and subnet groups), EC2 (security groups, VPC endpoints), S3 buckets,
    /// IAM (users, their access keys, roles), CloudWatch log groups, Secrets Manager (scheduled
    /// deletions included), Bedrock (application inference profiles, the invocation logging
    /// configuration pointing at our role), Prometheus and Grafana workspaces; log deliveries
    /// (a cluster's log exports, a replication group's slow log, a workspace's logging, and
    /// CloudWatch Logs' own delivery sources, destinations and deliveries) and the KMS grants
    /// services made for our resources.
    pub async fn inventory(&self) -> Inventory {
        // Built from list calls: asked once they show everything.
        self.settle().await;
        let sdk = self.sdk().await;
        let nid = self.nid.as_str();
        let ours = |name: &str| name.starts_with(nid);
        let names = secrets_seed::names(&self.env());
        let mut items = Vec::new();
        let mut add = |kind: &str, name: &str| items.push(format!("{kind}: {name}"));

        let rds = aws_sdk_rds::Client::new(&sdk);
        for c in rds
            .describe_db_clusters()
            .send()
            .await
            .expect("clusters")
            .db_clusters()
        {
            let id = c.db_cluster_identifier().unwrap_or_default();
            if ours(id) {
                add("rds cluster", id);
                for log in c.enabled_cloudwatch_logs_exports() {
                    add("log delivery", &format!("rds {id} {log}"));
                }
            }
        }
        for i in rds
            .describe_db_instances()
            .send()
            .await
            .expect("instances")
            .db_instances()
        {
            let id = i.db_instance_identifier().unwrap_or_default();
            if ours(id) {
                add("rds instance", id);
            }
        }
        for g in rds
            .describe_db_cluster_parameter_groups()
            .send()
            .await
            .expect("parameter groups")
            .db_cluster_parameter_groups()
        {
            let n = g.db_cluster_parameter_group_name().unwrap_or_default();
            if ours(n) {
                add("rds cluster parameter group", n);
            }
        }
        for g in rds
            .describe_db_subnet_groups()
            .send()
            .await
            .expect("subnet groups")
            .db_subnet_groups()
        {
            let n = g.db_subnet_group_name().unwrap_or_default();
            if ours(n) {
                add("rds subnet group", n);
            }
        }
        for s in rds
            .describe_db_cluster_snapshots()
            .send()
            .await
            .expect("snapshots")
            .db_cluster_snapshots()
        {
            let n = s.db_cluster_snapshot_identifier().unwrap_or_default();
            if s.db_cluster_identifier().is_some_and(ours) {
                add("rds cluster snapshot", n);
            }
        }

        let ec = aws_sdk_elasticache::Client::new(&sdk);
        for g in ec
            .describe_replication_groups()
            .send()
            .await
            .expect("replication groups")
            .replication_groups()
        {
            let id = g.replication_group_id().unwrap_or_default();
            if ours(id) && g.status() != Some("deleted") {
                add("elasticache replication group", id);
                for d in g.log_delivery_configurations() {
                    let to = d
                        .destination_details()
                        .and_then(|d| d.cloud_watch_logs_details());
                    let group = to.and_then(|c| c.log_group()).unwrap_or_default();
                    add("log delivery", &format!("elasticache {id} -> {group}"));
                }
            }
        }
        for g in ec
            .describe_cache_parameter_groups()
            .send()
            .await
            .expect("cache parameter groups")
            .cache_parameter_groups()
        {
            let n = g.cache_parameter_group_name().unwrap_or_default();
            if ours(n) {
                add("elasticache parameter group", n);
            }
        }
        for g in ec
            .describe_cache_subnet_groups()
            .send()
            .await
            .expect("cache subnet groups")
            .cache_subnet_groups()
        {
            let n = g.cache_subnet_group_name().unwrap_or_default();
            if ours(n) {
                add("elasticache subnet group", n);
            }
        }

        for snap in ec
            .describe_snapshots()
            .send()
            .await
            .expect("cache snapshots")
            .snapshots()
        {
            let of_ours = snap.replication_group_id().is_some_and(ours)
                || snap.cache_cluster_id().is_some_and(ours);
            if of_ours {
                add(
                    "elasticache snapshot",
                    snap.snapshot_name().unwrap_or_default(),
                );
            }
        }

        let ec2 = ec2_query::Client::new(&sdk);
        for g in ec2
            .describe_security_groups(&[], &[])
            .await
            .expect("security groups")
        {
            if ours(&g.name) {
                add("security group", &g.name);
            }
        }
        for e in ec2
            .describe_vpc_endpoints(&[], &[])
            .await
            .expect("endpoints")
        {
            let name = e.tags.get("Name").map(String::as_str).unwrap_or_default();
            let gone = matches!(
                e.state.to_ascii_lowercase().as_str(),
                "deleted" | "deleting"
            );
            if ours(name) && !gone {
                add("vpc endpoint", name);
            }
        }

        let s3 = self.s3().await;
        for b in s3.list_buckets().send().await.expect("buckets").buckets() {
            let n = b.name().unwrap_or_default();
            if ours(n) {
                add("s3 bucket", n);
            }
        }

        let iam = self.iam().await;
        for u in iam.list_users().send().await.expect("users").users() {
            if ours(u.user_name()) {
                add("iam user", u.user_name());
                for k in iam
                    .list_access_keys()
                    .user_name(u.user_name())
                    .send()
                    .await
                    .expect("keys")
                    .access_key_metadata()
                {
                    add(
                        "iam access key",
                        &format!(
                            "{} of {}",
                            k.access_key_id().unwrap_or_default(),
                            u.user_name()
                        ),
                    );
                }
            }
        }
        for r in iam.list_roles().send().await.expect("roles").roles() {
            if ours(r.role_name()) {
                add("iam role", r.role_name());
            }
        }

        let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
        let mut token = None;
        loop {
            let page = logs
                .describe_log_groups()
                .set_next_token(token.take())
                .send()
                .await
                .expect("log groups");
            for g in page.log_groups() {
                let n = g.log_group_name().unwrap_or_default();
                if n.contains(nid) || n == "/bedrock/model-invocations" {
                    add("log group", n);
                }
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }

        // CloudWatch Logs' own deliveries (sources, destinations and the deliveries between
        // them), named after the environment.
        let sources = logs.describe_delivery_sources().send().await;
        for d in sources.expect("delivery sources").delivery_sources() {
            if d.name().is_some_and(ours) {
                add("log delivery source", d.name().unwrap_or_default());
            }
        }
        let destinations = logs.describe_delivery_destinations().send().await;
        for d in destinations
            .expect("delivery destinations")
            .delivery_destinations()
        {
            if d.name().is_some_and(ours) {
                add("log delivery destination", d.name().unwrap_or_default());
            }
        }
        let deliveries = logs.describe_deliveries().send().await;
        for d in deliveries.expect("deliveries").deliveries() {
            if d.delivery_source_name().is_some_and(ours) {
                add("log delivery", d.id().unwrap_or_default());
            }
        }

        // The grants services made on the KMS keys for our resources (named after them).
        let kms = aws_sdk_kms::Client::new(&sdk);
        let keys = kms.list_keys().limit(1000).send().await.expect("keys");
        for k in keys.keys() {
            let key = k.key_id().unwrap_or_default();
            let grants = kms.list_grants().key_id(key).send().await.expect("grants");
            for g in grants.grants() {
                if g.name().is_some_and(ours) {
                    add("kms grant", g.name().unwrap_or_default());
                }
            }
        }

        let sm = self.secrets().await;
        let mut token = None;
        loop {
            let page = sm
                .list_secrets()
                .include_planned_deletion(true)
                .set_next_token(token.take())
                .send()
                .await
                .expect("secrets");
            for s in page.secret_list() {
                let n = s.name().unwrap_or_default();
                let exact = names.exact().values().any(|e| e == n);
                if n.starts_with(&format!("{nid}/")) || n.starts_with(names.prefix()) || exact {
                    add("secret", n);
                }
                // The AWS-managed master password of our cluster, which RDS names.
                let of_our_cluster = s.tags().iter().any(|t| {
                    t.key() == Some("aws:rds:primaryDBClusterArn")
                        && t.value()
                            .and_then(|arn| arn.rsplit(':').next())
                            .is_some_and(ours)
                });
                if n.starts_with("rds!cluster-") && of_our_cluster {
                    add("rds master secret", n);
                }
            }
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }

        let bedrock = aws_sdk_bedrock::Client::new(&sdk);
        for p in bedrock
            .list_inference_profiles()
            .type_equals(aws_sdk_bedrock::types::InferenceProfileType::Application)
            .send()
            .await
            .expect("profiles")
            .inference_profile_summaries()
        {
            if ours(p.inference_profile_name()) {
                add("bedrock inference profile", p.inference_profile_name());
            }
        }
        // Read or fail: an inventory that skips what it cannot read proves nothing.
        {
            let cfg = bedrock
                .get_model_invocation_logging_configuration()
                .send()
                .await
                .expect("the Bedrock logging configuration");
            let role = cfg
                .logging_config()
                .and_then(|c| c.cloud_watch_config())
                .map(|c| c.role_arn().to_string())
                .unwrap_or_default();
            if role.ends_with(&format!("role/{nid}-bedrock-logging")) {
                add("bedrock invocation logging", &role);
            }
        }

        // AWS chooses a workspace's id and its alias is not unique: ours by alias or by our
        // naming-id tag, so a duplicate under another alias is counted too.
        let tagged_ours = |tags: Option<&std::collections::HashMap<String, String>>| {
            tags.and_then(|t| t.get(layer_core::tags::NAMING_ID))
                .is_some_and(|v| v == nid)
        };
        use aws_sdk_amp::error::ProvideErrorMetadata as _;
        let amp = aws_sdk_amp::Client::new(&sdk);
        for w in amp
            .list_workspaces()
            .send()
            .await
            .expect("workspaces")
            .workspaces()
        {
            let alias = w.alias().unwrap_or_default();
            let gone = w.status().map(|s| s.status_code().as_str()) == Some("DELETING");
            if (ours(alias) || tagged_ours(w.tags())) && !gone {
                add("prometheus workspace", alias);
                let id = w.workspace_id();
                let logging = amp
                    .describe_logging_configuration()
                    .workspace_id(id)
                    .send()
                    .await;
                let logging = match logging {
                    Ok(l) => l.logging_configuration,
                    Err(e) if e.code() == Some("ResourceNotFoundException") => None,
                    Err(e) => panic!("the workspace's logging configuration: {e:?}"),
                };
                if let Some(l) = logging {
                    let group = l.log_group_arn();
                    add("log delivery", &format!("prometheus {alias} -> {group}"));
                }
            }
        }
        // Managed Grafana where AWS offers it; an error elsewhere fails the inventory.
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        if region != "eu-central-2" {
            let grafana = aws_sdk_grafana::Client::new(&sdk);
            let list = grafana
                .list_workspaces()
                .send()
                .await
                .expect("Grafana workspaces");
            for w in list.workspaces() {
                let n = w.name().unwrap_or_default();
                if ours(n) || tagged_ours(w.tags()) {
                    add("grafana workspace", n);
                }
            }
        }
        Inventory { items }
    }
}
