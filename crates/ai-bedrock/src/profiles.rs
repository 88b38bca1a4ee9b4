//! The application inference profiles: one resource for the environment's whole set, since a
//! profile removed from the configuration must still be found (by its tags) and deleted.
//! Profiles are immutable: a changed source is a delete and a create, which changes the ARN
//! workloads call, so it needs `--allow-replace`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_bedrock::error::ProvideErrorMetadata;
use aws_sdk_bedrock::types::{
    FoundationModelLifecycleStatus, InferenceProfileModelSource, InferenceProfileSummary,
    InferenceProfileType, Tag,
};
use aws_sdk_bedrock::Client;
use layer_core::access::{arn, Access, Need};
use layer_core::resource::{Context, Observation, Observed};
use layer_core::FieldChange;
use layer_core::Flag;
use layer_core::{Address, Error, Inputs, Outputs, Resource, Result, Tags};
use serde::Serialize;
use serde_json::{json, Value};
use typed_builder::TypedBuilder;

use crate::{ProfileSettings, SourceType};

/// The output with each profile's ARN by key.
pub const PROFILE_ARNS: &str = "bedrock_inference_profile_arns";
/// The output with the Amazon provider's models.
pub const AVAILABLE_MODELS: &str = "bedrock_available_models";
/// Every profile we found, by name → ARN, for apply to act on.
const FOUND: &str = "_profiles_by_name";

/// One profile's managed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileSpec {
    /// The source: a system-defined profile id or a foundation model id.
    pub source: String,
    /// Tags (`Model = {source}` and ours).
    pub tags: Tags,
}

/// The set's managed fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfilesSpec {
    /// Profiles by key.
    pub profiles: BTreeMap<String, ProfileSpec>,
}

/// The environment's application inference profiles.
#[derive(Clone, TypedBuilder)]
pub struct InferenceProfiles {
    client: Client,
    /// The naming id: profiles are `{nid}-{key}`.
    #[builder(setter(into))]
    naming_id: String,
    #[builder(setter(into))]
    region: String,
    #[builder(setter(into))]
    account_id: String,
    profiles: BTreeMap<String, ProfileSettings>,
    /// Names other than `{nid}-{key}`, by key (`[bedrock.names] profiles`).
    #[builder(default)]
    names: BTreeMap<String, String>,
    /// What the region offers, as the last observation found it.
    #[builder(default)]
    offered: Arc<Mutex<Option<Offered>>>,
}

/// The sources a region offers.
#[derive(Debug, Clone, Default)]
struct Offered {
    /// Foundation model ids, with whether each is marked legacy and can be called on demand.
    models: BTreeMap<String, (bool, bool)>,
    /// System-defined inference profile ids.
    system: Vec<String>,
}

fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::Other(format!("building Bedrock tags: {e}")))
        })
        .collect()
}

impl InferenceProfiles {
    fn name_of(&self, key: &str) -> String {
        match self.names.get(key) {
            Some(name) => name.clone(),
            None => format!("{}-{key}", self.naming_id),
        }
    }

    /// The key of the profile named `name`: by its name override, or as `{nid}-{key}` for a key
    /// that has none.
    fn key_of<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        if let Some((key, _)) = self.names.iter().find(|(_, n)| n.as_str() == name) {
            return Some(key);
        }
        name.strip_prefix(&format!("{}-", self.naming_id))
            .filter(|k| !self.names.contains_key(*k))
    }

    /// The ARN a profile is copied from.
    fn source_arn(&self, p: &ProfileSettings) -> String {
        match p.source_type {
            SourceType::InferenceProfile => format!(
                "arn:aws:bedrock:{}:{}:inference-profile/{}",
                self.region, self.account_id, p.source
            ),
            SourceType::FoundationModel => format!(
                "arn:aws:bedrock:{}::foundation-model/{}",
                self.region, p.source
            ),
        }
    }

    /// What the region offers (`ListFoundationModels`, the system-defined profiles); returns
    /// the Amazon provider's model ids too, for the outputs.
    async fn offered(&self) -> Result<(Offered, Vec<String>)> {
        let models = self
            .client
            .list_foundation_models()
            .send()
            .await
            .map_err(|e| Error::aws_on("bedrock", "ListFoundationModels", &self.region, &e))?;
        let mut system = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_inference_profiles()
                .type_equals(InferenceProfileType::SystemDefined)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| Error::aws_on("bedrock", "ListInferenceProfiles", &self.region, &e))?;
            system.extend(
                page.inference_profile_summaries()
                    .iter()
                    .map(|p| p.inference_profile_id().to_string()),
            );
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        let amazon = models
            .model_summaries()
            .iter()
            .filter(|m| m.provider_name() == Some("Amazon"))
            .map(|m| m.model_id().to_string())
            .collect();
        let models = models
            .model_summaries()
            .iter()
            .map(|m| {
                let legacy = m.model_lifecycle().map(|l| l.status())
                    == Some(&FoundationModelLifecycleStatus::Legacy);
                let on_demand = m
                    .inference_types_supported()
                    .contains(&aws_sdk_bedrock::types::InferenceType::OnDemand);
                (m.model_id().to_string(), (legacy, on_demand))
            })
            .collect();
        Ok((Offered { models, system }, amazon))
    }

    /// Every source must be offered in the region: checked before any write, naming the one
    /// missing and the region; a model marked legacy gets a warning.
    fn check_sources(&self, offered: &Offered) -> Result<()> {
        let region = &self.region;
        for (key, p) in &self.profiles {
            let (found, list) = match p.source_type {
                SourceType::FoundationModel => {
                    let model = offered.models.get(&p.source);
                    if model.is_some_and(|(legacy, _)| *legacy) {
                        tracing::warn!(profile = %key, model = %p.source, "the source model is marked legacy in {region}; plan a move to its successor");
                    }
                    if model.is_some_and(|(_, on_demand)| !on_demand) {
                        return Err(Error::Config(format!(
                            "bedrock.inference_profiles.{key}: `{}` cannot be called on demand in {region}; copy one of its system-defined inference profiles (source_type = \"inference-profile\") instead",
                            p.source
                        )));
                    }
                    (model.is_some(), "list-foundation-models")
                }
                SourceType::InferenceProfile => (
                    offered.system.contains(&p.source),
                    "list-inference-profiles",
                ),
            };
            if !found {
                return Err(Error::Config(format!(
                    "bedrock.inference_profiles.{key}: `{}` is not offered in {region}; choose one that `aws bedrock {list} --region {region}` shows",
                    p.source
                )));
            }
        }
        Ok(())
    }

    async fn create_one(&self, key: &str, spec: &ProfileSpec) -> Result<()> {
        let settings = self
            .profiles
            .get(key)
            .ok_or_else(|| Error::Other(format!("inference profile {key}: not configured")))?;
        let name = self.name_of(key);
        let tags = sdk_tags(&spec.tags)?;
        match self
            .client
            .create_inference_profile()
            .inference_profile_name(&name)
            .description(format!("data-and-ai layer: {key}"))
            .model_source(InferenceProfileModelSource::CopyFrom(
                self.source_arn(settings),
            ))
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::on_create(
                "bedrock:CreateInferenceProfile",
                &name,
                &e,
                &["ConflictException"],
            )),
        }
    }

    /// Every application inference profile of the region, all pages.
    async fn applications(&self) -> Result<Vec<InferenceProfileSummary>> {
        let mut summaries = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_inference_profiles()
                .type_equals(InferenceProfileType::Application)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    Error::aws_on("bedrock", "ListInferenceProfiles", &self.naming_id, &e)
                })?;
            summaries.extend(page.inference_profile_summaries().iter().cloned());
            match page.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Ok(summaries)
    }

    /// Wait until the list shows the profiles of `keys` (found by listing only: AWS chooses
    /// their ids), so the next plan finds what this run made.
    async fn until_listed<'a>(
        &self,
        cx: &Context,
        keys: impl IntoIterator<Item = &'a String>,
    ) -> Result<()> {
        let names: Vec<String> = keys.into_iter().map(|k| self.name_of(k)).collect();
        if names.is_empty() {
            return Ok(());
        }
        let what = format!("inference profiles {}", names.join(", "));
        layer_core::wait::until_listed(cx, &what, || async {
            let listed = self.applications().await?;
            Ok(names
                .iter()
                .all(|n| listed.iter().any(|s| s.inference_profile_name() == n)))
        })
        .await
    }

    async fn delete_arn(&self, name: &str, arn: &str) -> Result<()> {
        match self
            .client
            .delete_inference_profile()
            .inference_profile_identifier(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(Error::aws_on("bedrock", "DeleteInferenceProfile", name, &e)),
        }
    }

    /// The source of a profile without our `Model` tag (one made elsewhere, such as by
    /// Terraform), from the models AWS lists for it: a foundation model of this region is its
    /// own source; models of several regions are the configured system-defined profile's when
    /// each is its model. Empty when neither holds (shown as a change of source).
    fn source_from_models(&self, key: &str, s: &InferenceProfileSummary) -> String {
        let arns: Vec<&str> = s.models().iter().filter_map(|m| m.model_arn()).collect();
        let local = format!("arn:aws:bedrock:{}::foundation-model/", self.region);
        if let [one] = arns[..] {
            if let Some(id) = one.strip_prefix(&local) {
                return id.to_string();
            }
        }
        let Some(p) = self.profiles.get(key) else {
            return String::new();
        };
        let model = p.source.split_once('.').map_or("", |(_, m)| m);
        let each = !arns.is_empty()
            && arns
                .iter()
                .all(|a| a.ends_with(&format!(":foundation-model/{model}")));
        match (p.source_type, each) {
            (SourceType::InferenceProfile, true) => p.source.clone(),
            _ => String::new(),
        }
    }

    fn found(observed: &Observed<ProfilesSpec>) -> BTreeMap<String, String> {
        observed
            .outputs
            .get(FOUND)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Resource for InferenceProfiles {
    type Spec = ProfilesSpec;

    fn address(&self) -> Address {
        Address::new("aws_bedrock_inference_profile.profiles")
    }

    fn name(&self) -> String {
        format!("{}-*", self.naming_id)
    }

    fn access(&self) -> Vec<Access> {
        // AWS chooses a profile's id, so its ARN is known only after it is made.
        let profiles = || arn("bedrock", "application-inference-profile/*");
        let sources = self
            .profiles
            .values()
            .filter(|p| p.enabled)
            .map(|p| self.source_arn(p).replace(&self.account_id, "{account}"));
        vec![
            Access::unscoped(
                Need::Observe,
                "BedrockList",
                &[
                    "bedrock:ListInferenceProfiles",
                    "bedrock:ListFoundationModels",
                ],
                "Bedrock's List actions support no resource-level permissions",
            ),
            Access::new(
                Need::Observe,
                "BedrockProfiles",
                &["bedrock:GetInferenceProfile", "bedrock:ListTagsForResource"],
                [profiles()],
            ),
            Access::new(
                Need::Change,
                "BedrockProfiles",
                &["bedrock:TagResource", "bedrock:UntagResource"],
                [profiles()],
            ),
            // CreateInferenceProfile is authorized on the new profile and on what it copies.
            Access::new(
                Need::Change,
                "BedrockProfileCreate",
                &["bedrock:CreateInferenceProfile"],
                std::iter::once(profiles()).chain(sources),
            ),
            Access::new(
                Need::Delete,
                "BedrockProfiles",
                &["bedrock:DeleteInferenceProfile"],
                [profiles()],
            ),
        ]
    }

    fn desired(&self, cx: &Context, _inputs: &Inputs) -> Result<ProfilesSpec> {
        if let Some(offered) = self.offered.lock().expect("not poisoned").as_ref() {
            self.check_sources(offered)?;
        }
        Ok(ProfilesSpec {
            profiles: self
                .profiles
                .iter()
                .map(|(key, p)| {
                    let mut tags = cx.tags.clone();
                    tags.insert("Model".into(), p.source.clone());
                    (
                        key.clone(),
                        ProfileSpec {
                            source: p.source.clone(),
                            tags,
                        },
                    )
                })
                .collect(),
        })
    }

    fn update_guard(&self, changes: &[FieldChange]) -> Option<(Flag, String)> {
        // A profile under one of our names without our tags is taken over only with --adopt,
        // and is tagged, never replaced, in that run.
        let adopted: Vec<&str> = changes
            .iter()
            .filter(|c| {
                c.path
                    .ends_with(&format!(".tags.{}", layer_core::tags::MANAGED_BY))
                    && c.before.is_none()
            })
            .filter_map(|c| c.path.split('.').nth(1))
            .collect();
        if !adopted.is_empty() {
            return Some((
                Flag::Adopt,
                format!(
                    "{} exist under our names without our tags; apply tags them and takes them over only with --adopt",
                    adopted.join(", ")
                ),
            ));
        }
        let replaced: Vec<&str> = changes
            .iter()
            .filter(|c| c.path.ends_with(".source") && c.before.is_some())
            .filter_map(|c| c.path.split('.').nth(1))
            .collect();
        (!replaced.is_empty()).then(|| {
            (
                Flag::AllowReplace,
                format!(
                    "a profile's source cannot change in place: replacing {} gives it a new ARN, which the workloads calling it must take up",
                    replaced.join(", ")
                ),
            )
        })
    }

    async fn observe(&self, cx: &Context, _inputs: &Inputs) -> Result<Observation<ProfilesSpec>> {
        let (offered, amazon_models) = self.offered().await?;
        *self.offered.lock().expect("not poisoned") = Some(offered);
        let summaries = self.applications().await?;
        let mut profiles = BTreeMap::new();
        let mut found = BTreeMap::new();
        let mut arns = serde_json::Map::new();
        let mut foreign: Option<Tags> = None;
        let mut owned = 0usize;
        for s in summaries {
            let name = s.inference_profile_name();
            let Some(key) = self.key_of(name) else {
                continue;
            };
            let wanted = self.profiles.contains_key(key);
            let arn = s.inference_profile_arn();
            // The list may still show a profile deleted minutes ago: skip what is gone.
            let listed = match self
                .client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
            {
                Ok(t) => t,
                Err(e) if e.code() == Some("ResourceNotFoundException") => continue,
                Err(e) => return Err(Error::aws_on("bedrock", "ListTagsForResource", name, &e)),
            };
            let tags: Tags = listed
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            let ours = layer_core::tags::is_owned(&tags, &cx.tags);
            if !ours {
                // Under one of our names but not ours: adopt, with the flag (see update_guard).
                // Anything else with our prefix belongs to someone else and is left alone.
                if wanted {
                    foreign.get_or_insert(tags.clone());
                } else {
                    continue;
                }
            } else {
                owned += 1;
                if wanted {
                    arns.insert(key.to_string(), Value::from(arn));
                }
            }
            found.insert(name.to_string(), arn.to_string());
            profiles.insert(
                key.to_string(),
                ProfileSpec {
                    source: match tags.get("Model") {
                        Some(m) => m.clone(),
                        None => self.source_from_models(key, &s),
                    },
                    tags,
                },
            );
        }
        // Nothing found and nothing wanted is a converged (empty) set, not an absent one.
        if profiles.is_empty() && !self.profiles.is_empty() {
            return Ok(Observation::Absent);
        }
        let mut outputs = Outputs::new();
        outputs.insert(PROFILE_ARNS.into(), Value::Object(arns));
        outputs.insert(AVAILABLE_MODELS.into(), json!(amazon_models));
        outputs.insert(FOUND.into(), json!(found));
        Ok(Observed::builder()
            .spec(ProfilesSpec { profiles })
            // The set is ours when we own any of it; only a set of nothing but foreign profiles
            // is an adoption as a whole.
            .tags(if owned > 0 {
                cx.tags.clone()
            } else {
                foreign.unwrap_or_else(|| cx.tags.clone())
            })
            .outputs(outputs)
            .build()
            .present())
    }

    async fn create(&self, cx: &Context, desired: &ProfilesSpec, _inputs: &Inputs) -> Result<()> {
        // A profile that already exists (a lost answer, another run) ends the create with
        // AlreadyExists: the engine observes again, converges what is ours and refuses the rest.
        for (key, spec) in &desired.profiles {
            self.create_one(key, spec).await?;
        }
        self.until_listed(cx, desired.profiles.keys()).await
    }

    async fn update(
        &self,
        cx: &Context,
        desired: &ProfilesSpec,
        observed: &Observed<ProfilesSpec>,
        _changes: &[FieldChange],
        _inputs: &Inputs,
    ) -> Result<()> {
        let found = Self::found(observed);
        let mut made = Vec::new();
        for (key, spec) in &desired.profiles {
            let name = self.name_of(key);
            let owned = |o: &ProfileSpec| layer_core::tags::is_owned(&o.tags, &cx.tags);
            match observed.spec.profiles.get(key) {
                None => {
                    self.create_one(key, spec).await?;
                    made.push(key.clone());
                }
                Some(o) if owned(o) && o.source != spec.source => {
                    if let Some(arn) = found.get(&name) {
                        self.delete_arn(&name, arn).await?;
                    }
                    self.create_one(key, spec).await?;
                    made.push(key.clone());
                }
                Some(o) if o.tags != spec.tags => {
                    let Some(arn) = found.get(&name) else {
                        continue;
                    };
                    // An adopted profile keeps the source it has: its `Model` tag is never
                    // set to a source it was not made from (the next plan shows the change).
                    let mut tags = spec.tags.clone();
                    if !owned(o) && o.source != spec.source {
                        match o.tags.get("Model") {
                            Some(m) => tags.insert("Model".into(), m.clone()),
                            None => tags.remove("Model"),
                        };
                    }
                    let spec = &ProfileSpec {
                        source: o.source.clone(),
                        tags,
                    };
                    let stale = layer_core::tags::stale_keys(&o.tags, &spec.tags);
                    if !stale.is_empty() {
                        self.client
                            .untag_resource()
                            .resource_arn(arn)
                            .set_tag_keys(Some(stale))
                            .send()
                            .await
                            .map_err(|e| Error::aws_on("bedrock", "UntagResource", &name, &e))?;
                    }
                    let tags = sdk_tags(&spec.tags)?;
                    self.client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(tags))
                        .send()
                        .await
                        .map_err(|e| Error::aws_on("bedrock", "TagResource", &name, &e))?;
                }
                Some(_) => {}
            }
        }
        for (key, o) in &observed.spec.profiles {
            if !desired.profiles.contains_key(key) && layer_core::tags::is_owned(&o.tags, &cx.tags)
            {
                let name = self.name_of(key);
                if let Some(arn) = found.get(&name) {
                    self.delete_arn(&name, arn).await?;
                }
            }
        }
        self.until_listed(cx, &made).await
    }

    async fn delete(&self, cx: &Context, observed: &Observed<ProfilesSpec>) -> Result<()> {
        let found = Self::found(observed);
        for (key, spec) in &observed.spec.profiles {
            if !layer_core::tags::is_owned(&spec.tags, &cx.tags) {
                continue;
            }
            let name = self.name_of(key);
            if let Some(arn) = found.get(&name) {
                self.delete_arn(&name, arn).await?;
            }
        }
        Ok(())
    }
}
