//! The data-and-ai layer, composed: loads an environment, validates every family's section,
//! connects to AWS (shell check, account guard, infrastructure discovery), builds every family's
//! resources into one [`Engine`], and offers the operator's commands ([`cli`]).
//!
//! This is the one place that knows every family; family crates never depend on each other.

pub mod cli;
#[cfg(test)]
mod config_error_tests;
pub mod discover;
pub mod front_door;
pub mod import;
pub mod lock;
pub mod logging;
pub mod progress;
pub mod publish;
pub mod schema;
pub mod verify;
pub mod workflow;

use std::path::Path;

use aws_types::SdkConfig;
use layer_core::config::{Environment, Infrastructure};
use layer_core::engine::{ApplyError, Engine, Mode, PlanRun};
use layer_core::family::{Family as _, Layer};
use layer_core::resource::{Context, WaitSettings};
use layer_core::{Address, Outputs, Result, SafetyFlags};
use secrets_seed::{Fact, FactValue, SecretsSettings, SeedInputs};

/// Every output of the spec. One whose part is disabled or does not exist (yet) is `null`, as
/// Terraform gives it, never absent, so consumers of `outputs --json` see a stable shape.
pub const OUTPUTS: &[&str] = &[
    "prometheus_workspace_id",
    "prometheus_workspace_arn",
    "prometheus_workspace_endpoint",
    "grafana_workspace_id",
    "grafana_workspace_endpoint",
    "grafana_iam_role_arn",
    "s3_bucket_application_data_id",
    "s3_bucket_application_data_arn",
    "s3_bucket_ai_data_id",
    "s3_bucket_ai_data_arn",
    "aurora_cluster_id",
    "aurora_cluster_arn",
    "aurora_cluster_endpoint",
    "aurora_cluster_reader_endpoint",
    "aurora_cluster_database_name",
    "aurora_master_user_secret_arn",
    "elasticache_replication_group_id",
    "elasticache_configuration_endpoint_address",
    "elasticache_primary_endpoint_address",
    "elasticache_port",
    "s3_access_iam_user_name",
    "aws_region",
    "postgresql_databases",
    "secret_arns",
    "psql_connection_string_secret_arns",
    "aurora_endpoint_id",
    "elasticache_endpoint_id",
    "bedrock_inference_profile_arns",
    "bedrock_available_models",
];

/// Every family's section name, in the order they are documented.
pub const FAMILIES: &[&str] = &[
    data_s3::SECTION,
    data_aurora::SECTION,
    data_redis::SECTION,
    ai_bedrock::SECTION,
    secrets_seed::SECTION,
    monitoring::SECTION,
];

/// Load an environment and validate every family's section, before any call to AWS.
pub fn load(environments: &Path, name: &str) -> Result<Environment> {
    // The families' sections, and verify's and publishing's own.
    let sections: Vec<&str> = FAMILIES
        .iter()
        .copied()
        .chain([verify::SECTION, publish::SECTION])
        .collect();
    let env = Environment::load(environments, name, &sections)?;
    verify::VerifySettings::load(&env)?;
    publish::state_object(&env)?;
    data_s3::S3::settings(&env)?;
    data_aurora::Aurora::settings(&env)?;
    data_redis::Redis::settings(&env)?;
    ai_bedrock::Bedrock::settings(&env)?;
    monitoring::Monitoring::settings(&env)?;
    secrets_seed::SecretsSettings::load(&env)?;
    check_tagged_addresses(&env, &addresses(&env)?)?;
    Ok(env)
}

/// The addresses of the environment's resources, from its configuration alone (no AWS call):
/// the layer built offline, as `iam-policy` builds it. Checks what only the whole layer can
/// judge, such as `[secrets.names]`.
pub fn addresses(env: &Environment) -> Result<std::collections::BTreeSet<String>> {
    let infra = env.infrastructure.for_policy();
    let sdk = layer_core::aws::offline_config(&env.region);
    let account = env.allowed_account_ids.first().cloned().unwrap_or_default();
    let Parts { resources, .. } = parts(env, &infra, &account, &sdk, &Err("not read".into()))?;
    Ok(resources.iter().map(|r| r.address().to_string()).collect())
}

/// An environment connected to AWS: credentials checked, infrastructure found, resources built.
pub struct Session {
    /// The environment.
    pub env: Environment,
    /// The SDK configuration every client is built from.
    pub sdk: SdkConfig,
    /// The account the credentials belong to (checked against the allowed ones).
    pub account_id: String,
    /// Who the credentials are (a user's or an assumed role's ARN).
    pub caller_arn: String,
    /// The infrastructure layer's outputs.
    pub infra: Infrastructure,
    /// `postgresql_databases`: one connection-string secret each.
    pub databases: Vec<String>,
    /// `[secrets]`.
    pub secrets: SecretsSettings,
    /// The S3 access user's name.
    pub s3_user: String,
    /// What the operator should know about the environment that does not stop the command (a
    /// piece of the infrastructure layer that a feature needs and discovery did not find).
    pub notices: Vec<String>,
    engine: Engine,
}

/// Where each infrastructure fact's value comes from: the outputs of the Aurora, Redis and S3
/// resources, or configuration. The secrets crate knows none of those families.
fn fact_value(
    fact: Fact,
    env: &Environment,
    ca_bundle: &std::result::Result<String, String>,
) -> FactValue {
    let out = |from: &str, key: &str| FactValue::Output {
        from: Address::new(from),
        key: key.to_string(),
    };
    const CLUSTER: &str = "aws_rds_cluster.aurora";
    const REDIS: &str = "aws_elasticache_replication_group.redis";
    match fact {
        Fact::PsqlHost => out(CLUSTER, "aurora_cluster_endpoint"),
        Fact::PsqlPort => out(CLUSTER, "aurora_cluster_port"),
        Fact::PsqlUsername => out(CLUSTER, "_aurora_master_username"),
        Fact::RedisHost => out(REDIS, "elasticache_primary_endpoint_address"),
        Fact::RedisPort => out(REDIS, "elasticache_port"),
        Fact::BucketName(k) => out(&format!("aws_s3_bucket.{k}"), &format!("s3_bucket_{k}_id")),
        Fact::BucketArn(k) => out(&format!("aws_s3_bucket.{k}"), &format!("s3_bucket_{k}_arn")),
        Fact::S3Endpoint => FactValue::Known(match (&env.endpoint_url, env.local) {
            (Some(url), true) => url.clone(),
            _ => format!("https://s3.{}.amazonaws.com", env.region),
        }),
        Fact::S3Region => FactValue::Known(env.region.clone()),
        Fact::RdsCaBundle => match ca_bundle {
            Ok(pem) => FactValue::Known(pem.clone()),
            Err(why) => FactValue::Unavailable(why.clone()),
        },
    }
}

/// Check the shell's AWS variables against the environment, build the SDK configuration and
/// check the account through STS: what every command does first. Read-only.
pub async fn credentials(env: &Environment) -> Result<(SdkConfig, layer_core::aws::Caller)> {
    layer_core::aws::check_shell(env, |k| std::env::var(k).ok())?;
    let sdk = layer_core::aws::sdk_config(env).await?;
    let caller = layer_core::aws::check_account(&sdk, env).await?;
    Ok((sdk, caller))
}

/// Every family's resources, and what seed needs besides.
struct Parts {
    resources: Vec<std::sync::Arc<dyn layer_core::engine::AnyResource>>,
    databases: Vec<String>,
    s3_user: String,
}

fn parts(
    env: &Environment,
    infra: &Infrastructure,
    account_id: &str,
    sdk: &SdkConfig,
    ca_bundle: &std::result::Result<String, String>,
) -> Result<Parts> {
    let layer = Layer {
        env,
        infra,
        account_id,
        sdk,
    };
    let mut resources = data_s3::S3::build(layer)?;
    resources.extend(data_aurora::Aurora::build(layer)?);
    resources.extend(data_redis::Redis::build(layer)?);
    resources.extend(ai_bedrock::Bedrock::build(layer)?);
    resources.extend(monitoring::Monitoring::build(layer)?);
    let databases = data_aurora::AuroraSettings::load(env)?.postgresql_databases;
    resources.extend(secrets_seed::resources(env, infra, sdk, &databases, |f| {
        Ok(fact_value(f, env, ca_bundle))
    })?);
    let s3_user = env
        .section::<data_s3::S3Settings>(data_s3::SECTION)?
        .names(env)?
        .s3_access_user;
    Ok(Parts {
        resources,
        databases,
        s3_user,
    })
}

/// The IAM policy `command` needs on `env` in `account`: every declaration of the resources and
/// of the code around them (discovery, seed, the run lock, verify), grouped into statements (see
/// [`layer_core::access`]). Calls no AWS API: what configuration does not give (inputs that
/// discovery would find) stands as the widest pattern of its kind in the account and region.
pub fn iam_policy(
    env: &Environment,
    commands: &[layer_core::access::Command],
    account: &str,
) -> Result<layer_core::access::Policy> {
    let mut accesses = Vec::new();
    for c in commands {
        accesses.extend(declared_access(env, *c, account)?);
    }
    Ok(layer_core::access::Policy::render(
        &accesses,
        &env.region,
        account,
    ))
}

fn declared_access(
    env: &Environment,
    command: layer_core::access::Command,
    account: &str,
) -> Result<Vec<layer_core::access::Access>> {
    use layer_core::access::{Command, Need};
    let infra = env.infrastructure.for_policy();
    let sdk = layer_core::aws::offline_config(&env.region);
    let Parts {
        resources, s3_user, ..
    } = parts(env, &infra, account, &sdk, &Err("not read".into()))?;
    let engine = Engine::new(resources, env.concurrency);
    let seed_observes = [Address::new(SEED_OBSERVES)];
    let mut accesses = engine.access(
        command.needs(),
        (command == Command::Seed).then_some(&seed_observes[..]),
    );
    if env.infrastructure.discover {
        accesses.extend(discover::access());
    }
    let names = secrets_seed::names(env);
    let needs = command.needs();
    if needs.contains(&Need::Observe) {
        accesses.extend(secrets_seed::seed::states_access(&names, &s3_user));
    }
    if needs.contains(&Need::Seed) {
        accesses.extend(secrets_seed::seed_access(
            &names,
            &s3_user,
            &infra.secrets_kms_key_arn,
        ));
    }
    if needs.contains(&Need::Lock) {
        accesses.extend(secrets_seed::lock::access(&lock::lock_name(env)));
    }
    if needs.contains(&Need::Publish) {
        accesses.extend(publish::access(env, Need::Publish)?);
    }
    if needs.contains(&Need::Verify) {
        accesses.extend(secrets_seed::Reader::access(
            &names,
            &s3_user,
            &infra.secrets_kms_key_arn,
        ));
    }
    Ok(accesses)
}

/// What seed observes (with what it depends on): the Aurora cluster.
const SEED_OBSERVES: &str = "aws_rds_cluster.aurora";

impl Session {
    /// Connect: check the shell's AWS variables against the environment, build the SDK
    /// configuration, check the account through STS, discover the infrastructure layer, and
    /// build every family's resources. Read-only calls only.
    pub async fn connect(env: Environment) -> Result<Self> {
        let (sdk, caller) = credentials(&env).await?;
        let account_id = caller.account.clone();
        let mut inputs = env.infrastructure.clone();
        if inputs.discover {
            let found = discover::discover(&sdk, &env.region, &inputs.discover_tags).await?;
            inputs.fill_from(found);
        }
        let infra = inputs.require(&env)?;
        let mut notices = Vec::new();
        if inputs.discover && monitoring::MonitoringSettings::load(&env)?.enable_managed_grafana {
            notices.extend(
                discover::grafana_prometheus_advice(&sdk, &env.region, &infra.vpc_id).await?,
            );
        }
        let secrets = SecretsSettings::load(&env)?;
        let ca_bundle = secrets_seed::load_ca_bundle(&env, &secrets)
            .await
            .map_err(|e| e.to_string());
        let Parts {
            resources,
            databases,
            s3_user,
        } = parts(&env, &infra, &account_id, &sdk, &ca_bundle)?;
        let engine = Engine::new(resources, env.concurrency);
        Ok(Session {
            env,
            sdk,
            account_id,
            caller_arn: caller.arn,
            infra,
            databases,
            secrets,
            s3_user,
            notices,
            engine,
        })
    }

    /// The context every resource call gets.
    pub fn context(&self, flags: SafetyFlags) -> Context {
        Context {
            environment: self.env.name.clone(),
            tags: self.env.resource_tags(),
            tags_by_resource: std::sync::Arc::new(self.env.tags_by_resource.clone()),
            flags,
            cache: Default::default(),
            progress: Default::default(),
            wait: WaitSettings {
                timeout: self.env.wait_timeout,
                poll: std::time::Duration::from_millis(if self.env.local { 250 } else { 15_000 }),
            },
        }
    }

    /// The layer's resources and what each depends on (no AWS call).
    pub fn dependencies(&self) -> Vec<(layer_core::Address, Vec<layer_core::Address>)> {
        self.engine.dependencies()
    }

    /// Observe everything and plan.
    pub async fn plan(&self, cx: &Context, mode: Mode) -> Result<PlanRun> {
        self.engine.plan(cx, mode).await
    }

    /// Check the plan against the safety flags (before any mutating call), then apply it.
    pub async fn apply(
        &self,
        cx: &Context,
        run: PlanRun,
    ) -> std::result::Result<Outputs, ApplyError> {
        layer_core::safety::check(&run.plan, &self.env.name, self.env.protected, &cx.flags)
            .map_err(|r| ApplyError::Other(r.into()))?;
        let outputs = self.engine.apply(cx, run).await?;
        Ok(self.with_layer_outputs(outputs))
    }

    /// The layer's outputs as they are now (read-only).
    pub async fn outputs(&self) -> Result<Outputs> {
        let run = self
            .plan(&self.context(SafetyFlags::default()), Mode::Deploy)
            .await?;
        Ok(self.with_layer_outputs(run.observed_outputs()))
    }

    /// What seed needs, from the layer's outputs as observed (see [`Session::observe`]).
    pub fn seed_inputs(&self, observed: &Outputs) -> SeedInputs {
        let text = |k: &str| {
            observed
                .get(k)
                .map(|v| match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .filter(|s| !s.is_empty() && s != "null")
        };
        let endpoint = match (
            text("_aurora_master_username"),
            text("aurora_cluster_endpoint"),
            text("aurora_cluster_port").and_then(|p| p.parse().ok()),
        ) {
            (Some(username), Some(host), Some(port)) => Some(secrets_seed::values::Endpoint {
                username,
                host,
                port,
                query: self.secrets.connection_string_query.clone(),
            }),
            _ => None,
        };
        SeedInputs {
            names: secrets_seed::names(&self.env),
            catalog: secrets_seed::catalog(&self.databases),
            master_secret_arn: text("aurora_master_user_secret_arn"),
            endpoint,
            s3_user: self.s3_user.clone(),
            template: self.secrets.endpoint_definitions_template.clone(),
            concurrency: self.env.concurrency,
            progress: Default::default(),
        }
    }

    /// Every output as observed now, those for dependents (`_…`) included (read-only).
    pub async fn observe(&self) -> Result<Outputs> {
        let run = self
            .plan(&self.context(SafetyFlags::default()), Mode::Deploy)
            .await?;
        Ok(run.observed_outputs())
    }

    /// What seed needs observed: the Aurora cluster (its endpoint, port, master user and managed
    /// secret) and what it depends on; nothing else of the layer (read-only).
    pub async fn observe_for_seed(&self) -> Result<Outputs> {
        self.engine
            .observe_only(
                &self.context(SafetyFlags::default()),
                &[Address::new(SEED_OBSERVES)],
            )
            .await
    }

    /// Seed the secrets (see `secrets_seed::seed`).
    pub async fn seed(
        &self,
        observed: &Outputs,
        opts: &secrets_seed::SeedOptions,
        progress: layer_core::progress::Progress,
    ) -> Result<secrets_seed::SeedReport> {
        let mut inputs = self.seed_inputs(observed);
        inputs.progress = progress;
        secrets_seed::run_seed(&self.sdk, &inputs, opts).await
    }

    /// Every secret's state, from metadata only.
    pub async fn secret_states(
        &self,
        observed: &Outputs,
    ) -> Result<Vec<(String, secrets_seed::State)>> {
        secrets_seed::secret_states(&self.sdk, &self.seed_inputs(observed)).await
    }

    /// The layer's outputs (what `outputs` prints) from every observed output.
    pub fn layer_outputs(&self, observed: Outputs) -> Outputs {
        self.with_layer_outputs(observed)
    }

    fn with_layer_outputs(&self, mut outputs: Outputs) -> Outputs {
        secrets_seed::layer_outputs(&mut outputs, &self.databases);
        // Outputs starting with `_` are for dependents only.
        let mut outputs: Outputs = outputs
            .into_iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .collect();
        outputs.insert("aws_region".into(), self.env.region.clone().into());
        for key in OUTPUTS {
            outputs
                .entry((*key).to_string())
                .or_insert(serde_json::Value::Null);
        }
        outputs
    }
}

/// `tags_by_resource` names only the layer's own addresses: a typo would otherwise tag nothing
/// and say nothing.
fn check_tagged_addresses(
    env: &Environment,
    known: &std::collections::BTreeSet<String>,
) -> Result<()> {
    match env.tags_by_resource.keys().find(|a| !known.contains(*a)) {
        None => Ok(()),
        Some(a) => Err(layer_core::Error::Config(format!(
            "{}: key `tags_by_resource.\"{a}\"`: the layer has no resource at this address; use an address as `plan {}` names it (such as `aws_rds_cluster.aurora`), or remove the table",
            env.file_of("tags_by_resource"),
            env.name
        ))),
    }
}

/// What a destroy of `plan` leaves behind, each with how to remove it: resources without our tags
/// (never touched), secrets in their recovery window, the Aurora cluster's final snapshot.
pub fn left_behind(session: &Session, plan: &layer_core::Plan) -> Vec<String> {
    let final_snapshot = data_aurora::AuroraSettings::load(&session.env)
        .map(|a| !a.skip_final_snapshot)
        .unwrap_or(false);
    left_behind_of(
        plan,
        session.secrets.recovery_window_days,
        final_snapshot,
        &session.env.region,
    )
}

fn left_behind_of(
    plan: &layer_core::Plan,
    recovery_window_days: u32,
    final_snapshot: bool,
    region: &str,
) -> Vec<String> {
    use layer_core::Action;
    let mut out = Vec::new();
    let mut recovering = Vec::new();
    for c in &plan.changes {
        let address = c.address.to_string();
        let secret = address.starts_with("aws_secretsmanager_secret.");
        match (&c.action, c.note.as_deref()) {
            (Action::NoOp, Some(n)) if n.contains("without our tags") => out.push(format!(
                "{address} (`{}`) exists without our tags and was left alone; delete it yourself if nothing uses it",
                c.name
            )),
            (Action::NoOp, Some(n)) if secret && n.contains("scheduled for deletion") => {
                recovering.push(c.name.clone())
            }
            (Action::Delete, _) if secret && recovery_window_days > 0 => {
                recovering.push(c.name.clone())
            }
            (Action::Delete, _) if address == data_aurora::CLUSTER_ADDRESS && final_snapshot => {
                out.push(data_aurora::final_snapshot_kept(&c.name, region))
            }
            _ => {}
        }
    }
    if let Some(first) = recovering.first() {
        out.push(format!(
            "{} secret(s) are in their recovery window ({}) and can be restored until it ends: `aws secretsmanager restore-secret --region {region} --secret-id {first}` restores one, `aws secretsmanager delete-secret --region {region} --secret-id {first} --force-delete-without-recovery` removes one now",
            recovering.len(),
            if recovery_window_days > 0 {
                format!("{recovery_window_days} days")
            } else {
                "scheduled earlier".to_string()
            }
        ));
    }
    out
}

#[cfg(test)]
mod left_behind_tests {
    use super::*;
    use layer_core::plan::PlannedChange;
    use layer_core::{Action, Address, Plan};

    fn change(address: &str, name: &str, action: Action, note: Option<&str>) -> PlannedChange {
        let mut c = PlannedChange::new(Address::new(address), name, action);
        c.note = note.map(str::to_string);
        c
    }

    #[test]
    fn destroy_names_what_it_left_and_how_to_remove_it() {
        let plan = Plan {
            changes: vec![
                change(
                    "aws_iam_user.s3_access",
                    "dal-dev-s3-access",
                    Action::NoOp,
                    Some("exists without our tags: left alone"),
                ),
                change(
                    "aws_secretsmanager_secret.psql-host",
                    "dal-dev/psql-host",
                    Action::Delete,
                    None,
                ),
                change(
                    "aws_secretsmanager_secret.redis-host",
                    "dal-dev/redis-host",
                    Action::NoOp,
                    Some("already scheduled for deletion"),
                ),
                change(
                    "aws_rds_cluster.aurora",
                    "dal-dev-aurora",
                    Action::Delete,
                    None,
                ),
                change(
                    "aws_s3_bucket.ai_data",
                    "dal-dev-ai-data",
                    Action::Delete,
                    None,
                ),
            ],
        };
        let left = left_behind_of(&plan, 30, true, "eu-central-2");
        assert_eq!(left.len(), 3, "{left:#?}");
        assert!(left[0].contains("dal-dev-s3-access") && left[0].contains("left alone"));
        assert!(
            left[1].contains("final snapshot of `dal-dev-aurora`")
                && left[1].contains("delete-db-cluster-snapshot")
        );
        assert!(
            left[2].starts_with("2 secret(s)")
                && left[2].contains("30 days")
                && left[2].contains("restore-secret")
        );
        let nothing = left_behind_of(&plan, 0, false, "eu-central-2");
        assert_eq!(
            nothing.len(),
            2,
            "the one already scheduled is still named: {nothing:#?}"
        );
    }
}

#[cfg(test)]
mod iam_policy_tests {
    use layer_core::access::{is_read_only, Command};

    fn environments() -> std::path::PathBuf {
        crate::manifest_dir().join("../../environments")
    }

    #[test]
    fn every_environment_gets_a_scoped_policy_for_every_command() {
        for name in ["dev", "test", "prod", "sbx", "local"] {
            let env = crate::load(&environments(), name).expect("loads");
            let nid = env.naming_id.as_str().to_string();
            for c in Command::ALL {
                let p = crate::iam_policy(&env, &[c], "123456789012").expect("generated");
                assert!(!p.statements.is_empty());
                for s in &p.statements {
                    if s.resources.contains("*") {
                        assert!(
                            s.unscoped_because.is_some(),
                            "{name} {c:?}: {} is unscoped without a reason",
                            s.sid
                        );
                    }
                    for r in &s.resources {
                        assert!(
                            !r.contains('{'),
                            "{name} {c:?}: {} has an unfilled ARN {r}",
                            s.sid
                        );
                    }
                }
                if c == Command::Plan {
                    let writes: Vec<&str> = p
                        .actions()
                        .into_iter()
                        .filter(|a| !is_read_only(a))
                        .collect();
                    assert!(writes.is_empty(), "{name}: plan may write: {writes:?}");
                }
                // The environment's own names scope what it creates.
                let names_env = p
                    .statements
                    .iter()
                    .flat_map(|s| &s.resources)
                    .any(|r| r.contains(&nid));
                assert!(names_env, "{name} {c:?}: no resource names {nid}");
            }
            let deploy = crate::iam_policy(&env, &[Command::Deploy], "123456789012").unwrap();
            let destroy = crate::iam_policy(&env, &[Command::Destroy], "123456789012").unwrap();
            assert!(
                !deploy.actions().contains("s3:DeleteObjectVersion"),
                "{name}: only destroy --purge-buckets deletes objects"
            );
            assert!(destroy.actions().contains("s3:DeleteObjectVersion"));
            assert!(deploy.actions().contains("rds:CreateDBCluster"));
            assert!(!destroy.actions().contains("rds:CreateDBCluster"));
        }
    }

    /// Every environment × command's policy document, one snapshot file per environment
    /// (`UPDATE_EXPECT=1` rewrites them for review): a change to any declaration shows as a diff.
    #[test]
    fn the_policy_of_every_environment_and_command_is_its_snapshot() {
        for name in ["dev", "test", "prod", "sbx", "local"] {
            let env = crate::load(&environments(), name).expect("loads");
            let mut out = String::new();
            for c in Command::ALL {
                let p = crate::iam_policy(&env, &[c], "123456789012").expect("generated");
                let doc = serde_json::to_string_pretty(&p.document()).expect("serializes");
                out.push_str(&format!("# {}\n{doc}\n\n", c.name()));
            }
            let file = crate::manifest_dir().join(format!("snapshots/iam-policy-{name}.txt"));
            expect_test::expect_file![file].assert_eq(&out);
        }
    }
}

/// This crate's directory as cargo names it to the test at run time: a test binary that clones
/// share through one target directory must not read the clone it was built in.
#[cfg(test)]
fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
}
