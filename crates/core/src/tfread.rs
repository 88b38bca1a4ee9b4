//! Reading a Terraform layer's resources from `terraform show -json` (format 1.x) or a state
//! file (format version 4), recognised by content: each resource instance with its full address
//! (modules, `count` and `for_each` keys), type and attributes, and the root outputs. Sensitive
//! attributes (an access key's `secret`, a secret's `secret_string`) are skipped while parsing:
//! they are never held in a `String` of ours.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::{Error, Result};

/// Attributes no import reads: the AWS provider's names for secret values.
pub const SENSITIVE: &[&str] = &[
    "secret",
    "secret_string",
    "secret_binary",
    "ses_smtp_password_v4",
    "encrypted_secret",
    "password",
    "master_password",
    "auth_token",
    "encrypted_ses_smtp_password_v4",
    "result",
    "bcrypt_hash",
    "private_key_pem",
    "private_key_openssh",
    "private_key_pem_pkcs8",
    "passwords",
    "value",
    "token",
    "secret_key",
];

/// The root outputs an import reads: the spec's ids (and the secrets' ARNs by the catalog's
/// names), which say which resource is which. Any
/// other output (a sensitive one among them) is skipped while parsing.
pub const ID_OUTPUTS: &[&str] = &[
    "aurora_cluster_id",
    "elasticache_replication_group_id",
    "s3_bucket_application_data_id",
    "s3_bucket_ai_data_id",
    "prometheus_workspace_id",
    "grafana_workspace_id",
    "secret_arns",
];

/// The root outputs, by name: the [`ID_OUTPUTS`] with their values, others skipped.
#[derive(Debug, Clone, Default, PartialEq)]
struct IdOutputs(BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for IdOutputs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Only;
        impl<'de> Visitor<'de> for Only {
            type Value = IdOutputs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the outputs")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<IdOutputs, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if ID_OUTPUTS.contains(&key.as_str()) {
                        let o: OutputV4 = map.next_value()?;
                        out.insert(key, o.value);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(IdOutputs(out))
            }
        }
        d.deserialize_map(Only)
    }
}

/// A resource's attributes without the sensitive ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub BTreeMap<String, Value>);

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Skipping;
        impl<'de> Visitor<'de> for Skipping {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a resource's attributes")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Attributes, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if SENSITIVE.contains(&key.as_str()) {
                        map.next_value::<IgnoredAny>()?;
                    } else {
                        out.insert(key, map.next_value::<Value>()?);
                    }
                }
                Ok(Attributes(out))
            }
            fn visit_unit<E>(self) -> std::result::Result<Attributes, E> {
                Ok(Attributes::default())
            }
        }
        d.deserialize_any(Skipping)
    }
}

impl Attributes {
    /// A string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A list of strings (a set or list attribute).
    pub fn strs(&self, key: &str) -> Vec<&str> {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

/// One resource instance of the Terraform layer.
#[derive(Debug, Clone, PartialEq)]
pub struct TfResource {
    /// The module address (`module.data`, `module.data.module.db`), empty at the root.
    pub module: String,
    /// The resource type (`aws_rds_cluster`).
    pub kind: String,
    /// The resource name in the configuration (`this`).
    pub name: String,
    /// The instance key: `[0]` for `count`, `["a"]` for `for_each`, empty for neither.
    pub index: String,
    /// Its attributes, sensitive ones left out.
    pub attributes: Attributes,
}

impl TfResource {
    /// The resource's address without the instance key (what a `removed` block names).
    pub fn resource_address(&self) -> String {
        let local = format!("{}.{}", self.kind, self.name);
        if self.module.is_empty() {
            local
        } else {
            format!("{}.{local}", self.module)
        }
    }

    /// The instance's full address (what `terraform state rm` names).
    pub fn address(&self) -> String {
        format!("{}{}", self.resource_address(), self.index)
    }
}

/// A Terraform layer as its state says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TfLayer {
    /// Managed resource instances (data sources are left out).
    pub resources: Vec<TfResource>,
    /// The root module's outputs, by name (their values).
    pub outputs: BTreeMap<String, Value>,
}

fn index_of(key: Option<&Value>) -> String {
    match key {
        Some(Value::Number(n)) => format!("[{n}]"),
        Some(Value::String(s)) => format!("[{}]", Value::String(s.clone())),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
struct Probe {
    format_version: Option<String>,
    version: Option<u64>,
}

/// Read `text`: the output of `terraform show -json`, or a state file. Bytes, so the caller can
/// hold the file in a buffer it zeroizes (a state file holds secret values).
pub fn read(text: &[u8]) -> Result<TfLayer> {
    let probe: Probe = serde_json::from_slice(text).map_err(|e| {
        Error::Config(format!("not JSON ({e}); give the output of `terraform show -json` or a state file (`terraform state pull`)"))
    })?;
    match (probe.format_version.as_deref(), probe.version) {
        (Some(v), _) if v.starts_with("1.") => show_json(text),
        (Some(v), _) => Err(Error::Config(format!(
            "`terraform show -json` format {v} is newer than this tool reads (1.x); use an older Terraform's output, or the state file"
        ))),
        (None, Some(4)) => state_v4(text),
        (None, Some(v)) if v > 4 => Err(Error::Config(format!(
            "a state of format version {v} is newer than this tool reads (4)"
        ))),
        (None, Some(v)) => Err(Error::Config(format!(
            "a state of format version {v} is older than this tool reads (4); any `terraform apply` with Terraform 0.12 or later upgrades it"
        ))),
        (None, None) => Err(Error::Config(
            "neither the output of `terraform show -json` (no `format_version`) nor a Terraform state (no `version`)".into(),
        )),
    }
}

fn parse<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T> {
    serde_json::from_slice(text).map_err(|e| Error::Config(format!("the Terraform document: {e}")))
}

#[derive(Deserialize)]
struct StateV4 {
    #[serde(default)]
    outputs: IdOutputs,
    #[serde(default)]
    resources: Vec<ResourceV4>,
}

#[derive(Deserialize)]
struct OutputV4 {
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
struct ResourceV4 {
    #[serde(default)]
    module: String,
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default)]
    instances: Vec<InstanceV4>,
}

#[derive(Deserialize)]
struct InstanceV4 {
    index_key: Option<Value>,
    #[serde(default)]
    attributes: Attributes,
}

fn state_v4(text: &[u8]) -> Result<TfLayer> {
    let s: StateV4 = parse(text)?;
    let mut resources = Vec::new();
    for r in s.resources.into_iter().filter(|r| r.mode == "managed") {
        for i in r.instances {
            resources.push(TfResource {
                module: r.module.clone(),
                kind: r.kind.clone(),
                name: r.name.clone(),
                index: index_of(i.index_key.as_ref()),
                attributes: i.attributes,
            });
        }
    }
    Ok(TfLayer {
        resources,
        outputs: s.outputs.0,
    })
}

#[derive(Deserialize)]
struct ShowJson {
    #[serde(default)]
    values: Option<ShowValues>,
}

#[derive(Deserialize)]
struct ShowValues {
    #[serde(default)]
    outputs: IdOutputs,
    root_module: Option<ShowModule>,
}

#[derive(Deserialize)]
struct ShowModule {
    #[serde(default)]
    address: String,
    #[serde(default)]
    resources: Vec<ShowResource>,
    #[serde(default)]
    child_modules: Vec<ShowModule>,
}

#[derive(Deserialize)]
struct ShowResource {
    mode: String,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    index: Option<Value>,
    #[serde(default)]
    values: Attributes,
}

fn show_json(text: &[u8]) -> Result<TfLayer> {
    let s: ShowJson = parse(text)?;
    let Some(values) = s.values else {
        return Err(Error::Config(
            "the document holds no state values: give `terraform show -json` of the state (not of a plan file), or the state file".into(),
        ));
    };
    let mut resources = Vec::new();
    let mut stack: Vec<ShowModule> = values.root_module.into_iter().collect();
    while let Some(m) = stack.pop() {
        for r in m.resources.into_iter().filter(|r| r.mode == "managed") {
            resources.push(TfResource {
                module: m.address.clone(),
                kind: r.kind,
                name: r.name,
                index: index_of(r.index.as_ref()),
                attributes: r.values,
            });
        }
        stack.extend(m.child_modules);
    }
    resources.sort_by_key(TfResource::address);
    Ok(TfLayer {
        resources,
        outputs: values.outputs.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{
      "version": 4, "terraform_version": "1.5.7", "serial": 9, "lineage": "x",
      "outputs": {"aurora_cluster_id": {"value": "tf-db", "type": "string"},
                  "db_password": {"value": "CANARY-output", "type": "string", "sensitive": true}},
      "resources": [
        {"mode": "managed", "type": "aws_rds_cluster", "name": "this", "module": "module.data",
         "instances": [{"index_key": 0, "attributes": {"cluster_identifier": "tf-db", "master_password": "CANARY-pw"}}]},
        {"mode": "managed", "type": "aws_iam_access_key", "name": "s3", "instances": [
          {"attributes": {"id": "AKIAEXAMPLE", "secret": "CANARY-secret", "ses_smtp_password_v4": "CANARY-smtp"}}]},
        {"mode": "managed", "type": "aws_s3_bucket", "name": "b", "instances": [
          {"index_key": "ai", "attributes": {"bucket": "tf-ai"}}]},
        {"mode": "data", "type": "aws_caller_identity", "name": "me", "instances": [{"attributes": {}}]}
      ]
    }"#;

    #[test]
    fn a_state_gives_addresses_with_modules_and_keys_and_no_secret() {
        let l = read(STATE.as_bytes()).unwrap();
        let addresses: Vec<String> = l.resources.iter().map(TfResource::address).collect();
        assert_eq!(
            addresses,
            [
                "module.data.aws_rds_cluster.this[0]",
                "aws_iam_access_key.s3",
                "aws_s3_bucket.b[\"ai\"]"
            ]
        );
        assert_eq!(
            l.resources[0].resource_address(),
            "module.data.aws_rds_cluster.this"
        );
        assert_eq!(l.outputs["aurora_cluster_id"], "tf-db");
        assert_eq!(l.resources[1].attributes.str("id"), Some("AKIAEXAMPLE"));
        assert!(!format!("{l:?}").contains("CANARY"), "{l:?}");
    }

    #[test]
    fn show_json_walks_child_modules() {
        let show = r#"{"format_version": "1.0", "terraform_version": "1.9.0", "values": {
          "outputs": {"prometheus_workspace_id": {"value": "ws-1", "sensitive": false}},
          "root_module": {"resources": [
            {"address": "aws_prometheus_workspace.this", "mode": "managed", "type": "aws_prometheus_workspace", "name": "this", "values": {"id": "ws-1", "alias": "tf-prom"}}],
            "child_modules": [{"address": "module.cache", "resources": [
              {"address": "module.cache.aws_elasticache_replication_group.this[0]", "mode": "managed", "type": "aws_elasticache_replication_group", "name": "this", "index": 0, "values": {"replication_group_id": "tf-cache", "auth_token": "CANARY"}}]}]}}}"#;
        let l = read(show.as_bytes()).unwrap();
        let addresses: Vec<String> = l.resources.iter().map(TfResource::address).collect();
        assert_eq!(
            addresses,
            [
                "aws_prometheus_workspace.this",
                "module.cache.aws_elasticache_replication_group.this[0]"
            ]
        );
        assert_eq!(l.outputs["prometheus_workspace_id"], "ws-1");
        assert!(!format!("{l:?}").contains("CANARY"));
    }

    #[test]
    fn other_formats_are_named() {
        for (text, says) in [
            ("{}", "neither"),
            (r#"{"version": 3}"#, "older"),
            (r#"{"version": 5}"#, "newer"),
            (r#"{"format_version": "2.0"}"#, "newer"),
            ("plan", "not JSON"),
            (
                r#"{"format_version": "1.2", "planned_values": {}}"#,
                "no state values",
            ),
        ] {
            let e = read(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
