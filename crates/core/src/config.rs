//! Environments as data: `environments/common.toml` plus one file per environment, merged key by
//! key (the environment's file wins). The core owns the top-level keys (naming, region, account
//! guard, tags, infrastructure-layer inputs); each family crate owns its own section and reads it
//! with [`Environment::section`]. Every error names the file, the key and the fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::naming::NamingId;
use crate::tags::Tags;
use crate::{Error, Result};

/// The keys the core owns at the top level of an environment file.
const CORE_KEYS: &[&str] = &[
    "naming_id",
    "region",
    "allowed_account_ids",
    "assume_role_arn",
    "endpoint_url",
    "local",
    "protected",
    "concurrency",
    "max_attempts",
    "wait_timeout_minutes",
    "tags",
    "tags_by_resource",
    "infrastructure",
    "run_lock",
];

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CoreFile {
    /// The deployment's id: every name derives from it (1 to 32 lowercase letters, digits and
    /// single hyphens, a letter first).
    #[schemars(
        regex(pattern = r"^[a-z]([a-z0-9]|-[a-z0-9])*$"),
        length(min = 1, max = 32)
    )]
    naming_id: String,
    /// The AWS region (such as `eu-central-2`).
    #[schemars(regex(pattern = r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|eusc)(-[a-z]+)+-[0-9]+$"))]
    region: String,
    /// The accounts this environment may run in (twelve digits each); any other is refused.
    #[schemars(length(min = 1), inner(regex(pattern = r"^[0-9]{12}$")))]
    allowed_account_ids: Vec<String>,
    /// A role to assume before any call (`arn:aws:iam::<account>:role/<name>`).
    #[serde(default)]
    assume_role_arn: Option<String>,
    /// An endpoint instead of AWS's (the local environment's gateway).
    #[serde(default)]
    endpoint_url: Option<String>,
    /// Whether this is the local environment, on the local AWS.
    #[serde(default)]
    local: bool,
    /// Whether destroy, replacement, purge and rotation need `--confirm-env` besides their flag.
    #[serde(default)]
    protected: bool,
    /// Calls to AWS at once (1 to 64).
    #[schemars(range(min = 1, max = 64))]
    concurrency: usize,
    /// Attempts of each AWS call (1 or more).
    #[schemars(range(min = 1))]
    max_attempts: u32,
    /// How long a wait for a resource to become available may take, in minutes (1 or more).
    #[schemars(range(min = 1))]
    wait_timeout_minutes: u64,
    /// Tags on every resource, besides the layer's own.
    #[serde(default)]
    tags: Tags,
    /// Tags on one resource besides `tags`, by its address as the plan names it
    /// (`aws_rds_cluster.aurora`): what a layer taken over from Terraform carried on some
    /// resources only.
    #[serde(default)]
    tags_by_resource: BTreeMap<String, Tags>,
    /// The infrastructure layer's outputs this layer builds on, given or discovered by tags.
    infrastructure: InfrastructureInputs,
    /// The run lock's lease and wait.
    #[serde(default)]
    run_lock: RunLockSettings,
}

/// `run_lock`: the lease that keeps two deploys, applies, seeds or destroys of one environment
/// from running at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RunLockSettings {
    /// How long a lease lasts without renewal: a killed run blocks the next one at most this
    /// long. The holder renews it every third of it.
    #[schemars(range(min = 5, max = 3600))]
    pub lease_seconds: u64,
    /// How long a second run waits for the lock before failing with who holds it (0: fail at
    /// once). `--lock-timeout` overrides it.
    pub wait_seconds: u64,
}

impl Default for RunLockSettings {
    fn default() -> Self {
        RunLockSettings {
            lease_seconds: 60,
            wait_seconds: 0,
        }
    }
}

/// The infrastructure layer's outputs this layer builds on: given in config, or discovered by
/// tags when `discover` is on. What is neither given nor found is named in one error.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InfrastructureInputs {
    /// Discover what is not given, by `discover_tags`.
    #[serde(default)]
    pub discover: bool,
    /// The tags that mark the infrastructure layer's resources.
    #[serde(default)]
    pub discover_tags: Tags,
    /// The VPC.
    pub vpc_id: Option<String>,
    /// The VPC's CIDR block (security group rules allow it).
    pub vpc_cidr: Option<String>,
    /// Isolated subnets (Aurora, ElastiCache, interface endpoints).
    pub isolated_subnet_ids: Option<Vec<String>>,
    /// Private subnets (Grafana).
    pub private_subnet_ids: Option<Vec<String>>,
    /// The general-purpose KMS key (Aurora, ElastiCache, S3, Performance Insights).
    pub general_kms_key_arn: Option<String>,
    /// The CloudWatch Logs KMS key.
    pub logs_kms_key_arn: Option<String>,
    /// The Secrets Manager KMS key.
    pub secrets_kms_key_arn: Option<String>,
    /// The security group of the VPC interface endpoints.
    pub vpc_endpoint_security_group_id: Option<String>,
    /// The S3 gateway endpoint the bucket policies allow.
    pub s3_gateway_endpoint_id: Option<String>,
    /// The log group Managed Prometheus logs to.
    pub prometheus_log_group_arn: Option<String>,
}

/// The infrastructure inputs, all present.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Infrastructure {
    /// The VPC.
    pub vpc_id: String,
    /// Its CIDR block.
    pub vpc_cidr: String,
    /// Isolated subnets.
    pub isolated_subnet_ids: Vec<String>,
    /// Private subnets.
    pub private_subnet_ids: Vec<String>,
    /// General-purpose KMS key.
    pub general_kms_key_arn: String,
    /// CloudWatch Logs KMS key.
    pub logs_kms_key_arn: String,
    /// Secrets Manager KMS key.
    pub secrets_kms_key_arn: String,
    /// Interface endpoint security group.
    pub vpc_endpoint_security_group_id: String,
    /// S3 gateway endpoint.
    pub s3_gateway_endpoint_id: String,
    /// Prometheus log group.
    pub prometheus_log_group_arn: String,
}

impl InfrastructureInputs {
    /// The infrastructure as far as configuration gives it, for writing IAM policies without
    /// calling AWS: an input it does not give (one discovery would find) stands as the widest
    /// pattern of its kind in the account and region (`key/*` for a KMS key, `*` for an id).
    pub fn for_policy(&self) -> Infrastructure {
        let any_key = || crate::access::arn("kms", "key/*");
        let or = |v: &Option<String>, d: String| v.clone().filter(|s| !s.is_empty()).unwrap_or(d);
        Infrastructure {
            vpc_id: or(&self.vpc_id, "*".into()),
            vpc_cidr: or(&self.vpc_cidr, "10.0.0.0/16".into()),
            isolated_subnet_ids: self.isolated_subnet_ids.clone().unwrap_or_default(),
            private_subnet_ids: self.private_subnet_ids.clone().unwrap_or_default(),
            general_kms_key_arn: or(&self.general_kms_key_arn, any_key()),
            logs_kms_key_arn: or(&self.logs_kms_key_arn, any_key()),
            secrets_kms_key_arn: or(&self.secrets_kms_key_arn, any_key()),
            vpc_endpoint_security_group_id: or(&self.vpc_endpoint_security_group_id, "*".into()),
            s3_gateway_endpoint_id: or(&self.s3_gateway_endpoint_id, "*".into()),
            prometheus_log_group_arn: or(
                &self.prometheus_log_group_arn,
                crate::access::arn("logs", "log-group:/aws/vendedlogs/prometheus*"),
            ),
        }
    }

    /// Fill what is missing here from `found` (discovery), keeping what config gave.
    pub fn fill_from(&mut self, found: InfrastructureInputs) {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = found.$f; } )* };
        }
        fill!(
            vpc_id,
            vpc_cidr,
            isolated_subnet_ids,
            private_subnet_ids,
            general_kms_key_arn,
            logs_kms_key_arn,
            secrets_kms_key_arn,
            vpc_endpoint_security_group_id,
            s3_gateway_endpoint_id,
            prometheus_log_group_arn
        );
    }

    /// Every input, or one error that lists all that are missing.
    pub fn require(&self, env: &Environment) -> Result<Infrastructure> {
        let mut missing = Vec::new();
        macro_rules! take {
            ($f:ident) => {
                match &self.$f {
                    Some(v) if !is_empty(v) => v.clone(),
                    _ => {
                        missing.push(stringify!($f));
                        Default::default()
                    }
                }
            };
        }
        let infra = Infrastructure {
            vpc_id: take!(vpc_id),
            vpc_cidr: take!(vpc_cidr),
            isolated_subnet_ids: take!(isolated_subnet_ids),
            private_subnet_ids: take!(private_subnet_ids),
            general_kms_key_arn: take!(general_kms_key_arn),
            logs_kms_key_arn: take!(logs_kms_key_arn),
            secrets_kms_key_arn: take!(secrets_kms_key_arn),
            vpc_endpoint_security_group_id: take!(vpc_endpoint_security_group_id),
            s3_gateway_endpoint_id: take!(s3_gateway_endpoint_id),
            prometheus_log_group_arn: take!(prometheus_log_group_arn),
        };
        if missing.is_empty() {
            return Ok(infra);
        }
        let how = if self.discover {
            format!("they were not found by the tags {:?}", self.discover_tags)
        } else {
            "discovery is off".to_string()
        };
        Err(Error::Config(format!(
            "missing infrastructure-layer inputs for environment `{}`: {} ({how}); set them under [infrastructure] in {} or deploy the infrastructure layer first",
            env.name,
            missing.join(", "),
            env.file.display()
        )))
    }
}

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// A log retention CloudWatch Logs accepts, or the fix.
pub fn check_log_retention(days: u32) -> std::result::Result<(), String> {
    if LOG_RETENTION_DAYS.contains(&days) {
        return Ok(());
    }
    let list: Vec<String> = LOG_RETENTION_DAYS.iter().map(u32::to_string).collect();
    Err(format!(
        "CloudWatch Logs does not accept {days} days; use one of {}",
        list.join(", ")
    ))
}

/// A tag AWS accepts: no `aws:` prefix, letters, digits, spaces and `_ . : / = + - @`, a key of
/// 1 to 128 characters and a value of at most 256.
pub fn check_tag(key: &str, value: &str) -> std::result::Result<(), String> {
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    if key.is_empty() || key.chars().count() > 128 {
        return Err("a tag key has 1 to 128 characters".into());
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err(format!(
            "`{key}`: tag keys starting with `aws:` are reserved for AWS"
        ));
    }
    if value.chars().count() > 256 {
        return Err("a tag value has at most 256 characters".into());
    }
    if let Some(c) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!(
            "`{c}` is not accepted in tags; use letters, digits, spaces and _ . : / = + - @"
        ));
    }
    Ok(())
}

/// An IPv4 CIDR block of a size a VPC can have (/16 to /28).
fn check_cidr(cidr: &str) -> std::result::Result<(), String> {
    let bad = || format!("`{cidr}` is not an IPv4 CIDR block such as 10.0.0.0/16");
    let (ip, len) = cidr.split_once('/').ok_or_else(bad)?;
    ip.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !(16..=28).contains(&len) {
        return Err(format!("`{cidr}`: a VPC's block is between /16 and /28"));
    }
    Ok(())
}

/// The prefixes of region names in AWS's partitions (aws, aws-cn, aws-us-gov, the ISO ones,
/// the European sovereign cloud), from the partitions' region-name patterns.
const REGION_PREFIXES: &[&str] = &[
    "us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx", "cn", "eusc",
];

/// Whether `name` matches a partition's region-name pattern: `<prefix>(-<word>)+-<number>`
/// (`eu-central-2`, `us-gov-west-1`, `us-isob-east-1`). A name that does not would reach no
/// endpoint, or one that answers with something else.
fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let [prefix, middle @ .., number] = parts.as_slice() else {
        return false;
    };
    REGION_PREFIXES.contains(prefix)
        && !middle.is_empty()
        && middle
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// A KMS key must be given as its ARN in the environment's region: AWS reports keys as ARNs, so
/// an alias or a key id would be a difference on every plan (and a replacement of a database).
fn check_kms_key_arn(value: &str, region: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "kms"
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix("key/")
            .is_some_and(|id| !id.is_empty());
    if !ok {
        return Err(format!(
            "`{value}` is not a KMS key ARN (arn:aws:kms:{region}:<account>:key/<id>); an alias or key id is not accepted, find the ARN with `aws kms describe-key --key-id {value} --query KeyMetadata.Arn`"
        ));
    }
    if parts[3] != region {
        return Err(format!(
            "`{value}` is a key in region {}, but the environment is in {region}; KMS keys are regional",
            parts[3]
        ));
    }
    Ok(())
}

trait MaybeEmpty {
    fn empty(&self) -> bool;
}
impl MaybeEmpty for String {
    fn empty(&self) -> bool {
        self.is_empty()
    }
}
impl MaybeEmpty for Vec<String> {
    fn empty(&self) -> bool {
        self.is_empty()
    }
}
fn is_empty<T: MaybeEmpty>(v: &T) -> bool {
    v.empty()
}

/// A loaded environment.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name (`dev`, `test`, `prod`, `sbx`, `local`).
    pub name: String,
    /// The environment's own file.
    pub file: PathBuf,
    /// The naming id every default name is built from.
    pub naming_id: NamingId,
    /// The AWS region.
    pub region: String,
    /// The accounts this environment may be deployed to.
    pub allowed_account_ids: Vec<String>,
    /// A role to assume before any call.
    pub assume_role_arn: Option<String>,
    /// An endpoint instead of AWS (the local gateway).
    pub endpoint_url: Option<String>,
    /// Whether this is the local emulator environment.
    pub local: bool,
    /// Whether destroy, replacement, purge and rotation need `--confirm-env`.
    pub protected: bool,
    /// How many resources to work on at once.
    pub concurrency: usize,
    /// Attempts per AWS call, retries with backoff included.
    pub max_attempts: u32,
    /// How long to wait for a slow resource.
    pub wait_timeout: Duration,
    /// The environment's own tags, added to the ownership tags.
    pub tags: Tags,
    /// Tags on one resource besides [`Environment::tags`], by address (checked against the
    /// layer's addresses when the layer is built).
    pub tags_by_resource: BTreeMap<String, Tags>,
    /// The infrastructure-layer inputs as configured (before discovery).
    pub infrastructure: InfrastructureInputs,
    /// The run lock's lease and wait.
    pub run_lock: RunLockSettings,
    sections: toml::Table,
    origins: BTreeMap<String, PathBuf>,
}

/// The environments that ship with the tool, in the order they are listed to the operator.
pub fn environment_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".toml"))
                        .map(str::to_string)
                })
                .filter(|n| n != "common")
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_table(path: &Path) -> Result<toml::Table> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("{}: cannot read: {e}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| Error::Config(format!("{}: not valid TOML: {e}", path.display())))
}

/// Merge `over` into `base`, recording which file set each leaf.
fn merge(
    base: &mut toml::Table,
    over: toml::Table,
    file: &Path,
    prefix: &str,
    origins: &mut BTreeMap<String, PathBuf>,
) {
    for (k, v) in over {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                merge(b, o, file, &path, origins)
            }
            (_, v) => {
                record(&v, file, &path, origins);
                base.insert(k, v);
            }
        }
    }
}

fn record(v: &toml::Value, file: &Path, path: &str, origins: &mut BTreeMap<String, PathBuf>) {
    origins.insert(path.to_string(), file.to_path_buf());
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            record(v, file, &format!("{path}.{k}"), origins);
        }
    }
}

/// The schema of the keys this crate owns at the top level of an environment file, from the
/// types that read them (a reference into the generator's definitions, under `CoreFile`); the
/// families' sections are added by the caller.
pub fn core_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    generator.subschema_for::<CoreFile>()
}

impl Environment {
    /// Load environment `name` from `dir` (normally `environments/`), with the family sections
    /// the caller knows about. Anything else at the top level is an error.
    pub fn load(dir: &Path, name: &str, families: &[&str]) -> Result<Self> {
        let names = environment_names(dir);
        let file = dir.join(format!("{name}.toml"));
        if name == "common" || !names.iter().any(|n| n == name) {
            return Err(Error::Config(format!(
                "unknown environment `{name}`: choose one of {} (the files in {})",
                names.join(", "),
                dir.display()
            )));
        }
        let common = dir.join("common.toml");
        let mut origins = BTreeMap::new();
        let mut merged = toml::Table::new();
        if common.exists() {
            merge(&mut merged, read_table(&common)?, &common, "", &mut origins);
        }
        merge(&mut merged, read_table(&file)?, &file, "", &mut origins);

        let mut core = toml::Table::new();
        let mut sections = toml::Table::new();
        for (k, v) in merged {
            if CORE_KEYS.contains(&k.as_str()) {
                core.insert(k, v);
            } else if families.contains(&k.as_str()) {
                sections.insert(k, v);
            } else {
                let mut valid: Vec<&str> = CORE_KEYS.iter().chain(families).copied().collect();
                valid.sort();
                return Err(Error::Config(format!(
                    "{}: unknown key `{k}`; remove it or use one of: {}",
                    origins.get(&k).unwrap_or(&file).display(),
                    valid.join(", ")
                )));
            }
        }
        let mut env = Environment {
            name: name.to_string(),
            file: file.clone(),
            naming_id: NamingId::parse("placeholder").expect("valid"),
            region: String::new(),
            allowed_account_ids: Vec::new(),
            assume_role_arn: None,
            endpoint_url: None,
            local: false,
            protected: false,
            concurrency: 10,
            max_attempts: 3,
            wait_timeout: Duration::from_secs(0),
            tags: Tags::new(),
            tags_by_resource: BTreeMap::new(),
            infrastructure: InfrastructureInputs::default(),
            run_lock: RunLockSettings::default(),
            sections,
            origins,
        };
        let c: CoreFile = env.deserialize("", toml::Value::Table(core))?;
        env.naming_id = NamingId::parse(&c.naming_id).map_err(|e| env.invalid("naming_id", &e))?;
        env.check_core(&c)?;
        env.region = c.region;
        env.allowed_account_ids = c.allowed_account_ids;
        env.assume_role_arn = c.assume_role_arn;
        env.endpoint_url = c.endpoint_url;
        env.local = c.local;
        env.protected = c.protected;
        env.concurrency = c.concurrency;
        env.max_attempts = c.max_attempts;
        env.wait_timeout = Duration::from_secs(c.wait_timeout_minutes * 60);
        env.tags = c.tags;
        env.tags_by_resource = c.tags_by_resource;
        env.infrastructure = c.infrastructure;
        env.run_lock = c.run_lock;
        Ok(env)
    }

    /// The core keys' values, checked as AWS would (before any call).
    fn check_core(&self, c: &CoreFile) -> Result<()> {
        if !is_region_name(&c.region) {
            return Err(self.invalid(
            "region",
            &format!(
                "`{}` is not an AWS region name (such as eu-central-2: a partition's prefix, a geography, a number)",
                c.region
            ),
        ));
        }
        if c.allowed_account_ids.is_empty()
            || c.allowed_account_ids
                .iter()
                .any(|a| a.len() != 12 || !a.chars().all(|ch| ch.is_ascii_digit()))
        {
            return Err(self.invalid(
                "allowed_account_ids",
                "list at least one 12-digit AWS account id",
            ));
        }
        if c.concurrency == 0 || c.concurrency > 64 {
            return Err(self.invalid("concurrency", "use a number from 1 to 64"));
        }
        if c.max_attempts == 0 {
            return Err(self.invalid("max_attempts", "use 1 or more"));
        }
        if c.local && c.endpoint_url.is_none() {
            return Err(self.invalid(
                "endpoint_url",
                "the local environment needs the local endpoint, e.g. http://127.0.0.1:4566",
            ));
        }
        if let Some(url) = &c.endpoint_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| self.invalid("endpoint_url", &format!("`{url}` is not a URL: {e}")))?;
            if !c.local && parsed.scheme() != "https" {
                return Err(self.invalid(
                "endpoint_url",
                &format!("`{url}` is not https; only the local environment talks plain HTTP (to the emulator on this machine)"),
            ));
            }
        }
        if c.wait_timeout_minutes == 0 {
            return Err(self.invalid(
                "wait_timeout_minutes",
                "use 1 or more: a cluster takes minutes to create",
            ));
        }
        if !(5..=3600).contains(&c.run_lock.lease_seconds) {
            return Err(self.invalid(
            "run_lock.lease_seconds",
            "use 5 to 3600: the holder renews the lease every third of it, and a killed run blocks the next one that long",
        ));
        }
        if c.run_lock.wait_seconds > 24 * 3600 {
            return Err(self.invalid("run_lock.wait_seconds", "use at most 86400 (a day)"));
        }
        for (k, v) in &c.tags {
            check_tag(k, v).map_err(|why| self.invalid(&format!("tags.{k}"), &why))?;
        }
        for (address, tags) in &c.tags_by_resource {
            for (k, v) in tags {
                let key = format!("tags_by_resource.\"{address}\".{k}");
                check_tag(k, v).map_err(|why| self.invalid(&key, &why))?;
                if crate::tags::OWNERSHIP.contains(&k.as_str()) {
                    return Err(self.invalid(
                        &key,
                        &format!(
                            "`{k}` is the layer's own tag, which marks what it owns; remove it"
                        ),
                    ));
                }
            }
        }
        if let Some(cidr) = &c.infrastructure.vpc_cidr {
            check_cidr(cidr).map_err(|why| self.invalid("infrastructure.vpc_cidr", &why))?;
        }
        if let Some(subnets) = &c.infrastructure.isolated_subnet_ids {
            if subnets.len() < 2 {
                return Err(self.invalid(
                "infrastructure.isolated_subnet_ids",
                "Aurora and ElastiCache need isolated subnets in at least two availability zones; list two or more",
            ));
            }
        }
        for (key, value) in [
            ("general_kms_key_arn", &c.infrastructure.general_kms_key_arn),
            ("logs_kms_key_arn", &c.infrastructure.logs_kms_key_arn),
            ("secrets_kms_key_arn", &c.infrastructure.secrets_kms_key_arn),
        ] {
            if let Some(v) = value {
                check_kms_key_arn(v, &c.region)
                    .map_err(|why| self.invalid(&format!("infrastructure.{key}"), &why))?;
            }
        }
        Ok(())
    }

    /// The file that set `key` (a dotted path), for error messages.
    pub fn file_of(&self, key: &str) -> String {
        let mut k = key;
        loop {
            if let Some(f) = self.origins.get(k) {
                return f.display().to_string();
            }
            match k.rsplit_once('.') {
                Some((parent, _)) => k = parent,
                None => return self.file.display().to_string(),
            }
        }
    }

    /// A config error for an impossible value: names the file, the key and the fix.
    pub fn invalid(&self, key: &str, fix: &str) -> Error {
        Error::Config(format!("{}: key `{key}`: {fix}", self.file_of(key)))
    }

    fn deserialize<T: DeserializeOwned>(&self, prefix: &str, value: toml::Value) -> Result<T> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let inner = e.path().to_string();
            let key = match (prefix.is_empty(), inner.as_str()) {
                (true, _) => inner.clone(),
                (false, ".") => prefix.to_string(),
                (false, _) => format!("{prefix}.{inner}"),
            };
            // One line: toml's messages may end in a newline.
            let msg = e.into_inner().to_string().trim().replace('\n', " ");
            let fix = if msg.contains("missing field") {
                "add it (environments/common.toml documents every key)"
            } else if msg.contains("unknown field") {
                "remove or rename it"
            } else {
                "fix its value"
            };
            Error::Config(format!("{}: key `{key}`: {msg}; {fix}", self.file_of(&key)))
        })
    }

    /// A family's section, deserialized into the family's own settings type. A missing section
    /// deserializes from an empty table, so a family with all-optional settings needs none.
    pub fn section<T: DeserializeOwned>(&self, family: &str) -> Result<T> {
        let value = self
            .sections
            .get(family)
            .cloned()
            .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        self.deserialize(family, value)
    }

    /// The ownership tags plus the environment's own.
    pub fn resource_tags(&self) -> Tags {
        crate::tags::ownership_tags(&self.name, self.naming_id.as_str(), &self.tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMON: &str = r#"
region = "eu-central-2"
concurrency = 10
max_attempts = 5
wait_timeout_minutes = 60
tags = { Project = "platform" }
[infrastructure]
discover = false
[fam]
size = 2
"#;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fam {
        size: u32,
    }

    fn dir_with(env: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("common.toml"), COMMON).unwrap();
        std::fs::write(d.path().join("dev.toml"), env).unwrap();
        d
    }

    const DEV: &str = "naming_id = \"dal-dev\"\nallowed_account_ids = [\"123456789012\"]\n";

    #[test]
    fn merges_common_and_environment() {
        let d = dir_with(&format!(
            "{DEV}tags = {{ Owner = \"me\" }}\n[fam]\nsize = 3\n"
        ));
        let env = Environment::load(d.path(), "dev", &["fam"]).unwrap();
        assert_eq!(env.naming_id.as_str(), "dal-dev");
        assert_eq!(env.tags.len(), 2, "tables merge key by key: {:?}", env.tags);
        assert_eq!(env.section::<Fam>("fam").unwrap().size, 3);
        assert_eq!(env.resource_tags()["Environment"], "dev");
    }

    #[test]
    fn unknown_environment_lists_the_choices() {
        let d = dir_with(DEV);
        let e = Environment::load(d.path(), "prdo", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown environment `prdo`") && e.contains("choose one of dev"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let d = dir_with(&format!("{DEV}regoin = \"x\"\n"));
        let e = Environment::load(d.path(), "dev", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dev.toml") && e.contains("unknown key `regoin`"),
            "{e}"
        );
        let d = dir_with(&format!("{DEV}[fam]\nsise = 3\n"));
        let env = Environment::load(d.path(), "dev", &["fam"]).unwrap();
        let e = env.section::<Fam>("fam").unwrap_err().to_string();
        assert!(e.contains("dev.toml") && e.contains("sise"), "{e}");
    }

    #[test]
    fn wrong_type_names_file_and_key() {
        let d = dir_with(&format!("{DEV}[fam]\nsize = \"two\"\n"));
        let env = Environment::load(d.path(), "dev", &["fam"]).unwrap();
        let e = env.section::<Fam>("fam").unwrap_err().to_string();
        assert!(e.contains("dev.toml") && e.contains("`fam.size`"), "{e}");
        let d = dir_with(&format!("{DEV}concurrency = \"ten\"\n"));
        let e = Environment::load(d.path(), "dev", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("dev.toml") && e.contains("`concurrency`"), "{e}");
    }

    #[test]
    fn impossible_values_are_errors() {
        let d = dir_with("naming_id = \"Dal_Dev\"\nallowed_account_ids = [\"123456789012\"]\n");
        let e = Environment::load(d.path(), "dev", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("naming_id"), "{e}");
        let d = dir_with("naming_id = \"dal\"\nallowed_account_ids = [\"12\"]\n");
        let e = Environment::load(d.path(), "dev", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("allowed_account_ids") && e.contains("12-digit"),
            "{e}"
        );
    }

    #[test]
    fn region_names_follow_the_partitions_patterns() {
        for ok in [
            "eu-central-2",
            "us-east-1",
            "us-gov-west-1",
            "cn-northwest-1",
            "us-isob-east-1",
            "ap-southeast-5",
            "eusc-de-east-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "mars-1",
            "eu-central",
            "EU-central-1",
            "eu--1",
            "central-eu-1",
            "",
            "eu-central-x",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn kms_keys_are_arns_in_the_region() {
        assert!(check_kms_key_arn(
            "arn:aws:kms:eu-central-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "eu-central-2"
        )
        .is_ok());
        for bad in [
            "alias/general",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-central-2:123456789012:alias/general",
        ] {
            let e = check_kms_key_arn(bad, "eu-central-2").unwrap_err();
            assert!(e.contains("describe-key"), "{e}");
        }
        let e = check_kms_key_arn("arn:aws:kms:eu-west-1:123456789012:key/x", "eu-central-2")
            .unwrap_err();
        assert!(e.contains("regional"), "{e}");
        let d = dir_with(&format!(
            "{DEV}[infrastructure]\ngeneral_kms_key_arn = \"alias/general\"\n"
        ));
        let e = Environment::load(d.path(), "dev", &["fam"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dev.toml") && e.contains("infrastructure.general_kms_key_arn"),
            "{e}"
        );
    }

    #[test]
    fn missing_infrastructure_inputs_are_listed_in_one_error() {
        let d = dir_with(&format!("{DEV}[infrastructure]\nvpc_id = \"vpc-1\"\n"));
        let env = Environment::load(d.path(), "dev", &["fam"]).unwrap();
        let e = env.infrastructure.require(&env).unwrap_err().to_string();
        for k in [
            "vpc_cidr",
            "isolated_subnet_ids",
            "general_kms_key_arn",
            "s3_gateway_endpoint_id",
        ] {
            assert!(e.contains(k), "{k} not named: {e}");
        }
        assert!(!e.contains("vpc_id,"), "{e}");
    }

    #[test]
    fn shell_region_must_agree() {
        let d = dir_with(DEV);
        let env = Environment::load(d.path(), "dev", &["fam"]).unwrap();
        let e = crate::aws::check_shell(&env, |k| {
            (k == "AWS_REGION").then(|| "us-east-1".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("AWS_REGION=us-east-1"), "{e}");
        let e = crate::aws::check_shell(&env, |k| {
            (k == "AWS_ENDPOINT_URL").then(|| "http://x".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().contains("talks to AWS itself"), "{e}");
        assert!(crate::aws::check_shell(&env, |k| (k == "AWS_REGION")
            .then(|| "eu-central-2".to_string()))
        .is_ok());
    }
}
