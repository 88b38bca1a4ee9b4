//! Bedrock control plane (moto answers HTTP 500): application inference profiles, the
//! system-defined cross-region profiles and the foundation models of the spec's eu-central-2
//! tables, and tagging of profiles.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::{now_iso8601, random_id, Req, ACCOUNT};
use crate::protocol::{json_ok, Protocol};

/// `(model id, provider, name, output modality)`, natively in eu-central-2.
pub const FOUNDATION_MODELS: &[(&str, &str, &str, &str)] = &[
    (
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "Anthropic",
        "Claude Sonnet 4.5",
        "TEXT",
    ),
    (
        "anthropic.claude-opus-4-5-20251101-v1:0",
        "Anthropic",
        "Claude Opus 4.5",
        "TEXT",
    ),
    (
        "anthropic.claude-opus-4-6-v1",
        "Anthropic",
        "Claude Opus 4.6",
        "TEXT",
    ),
    (
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        "Anthropic",
        "Claude Haiku 4.5",
        "TEXT",
    ),
    (
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "Anthropic",
        "Claude 3.5 Sonnet",
        "TEXT",
    ),
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        "Anthropic",
        "Claude 3 Haiku",
        "TEXT",
    ),
    ("cohere.embed-v4:0", "Cohere", "Embed v4", "EMBEDDING"),
    (
        "amazon.titan-embed-text-v2:0",
        "Amazon",
        "Titan Embed Text v2",
        "EMBEDDING",
    ),
];

/// `(profile id, name)`: the system-defined profiles available from eu-central-2.
pub const SYSTEM_PROFILES: &[(&str, &str)] = &[
    (
        "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "EU Claude Sonnet 4.5",
    ),
    (
        "eu.anthropic.claude-opus-4-5-20251101-v1:0",
        "EU Claude Opus 4.5",
    ),
    ("eu.anthropic.claude-opus-4-6-v1", "EU Claude Opus 4.6"),
    (
        "eu.anthropic.claude-haiku-4-5-20251001-v1:0",
        "EU Claude Haiku 4.5",
    ),
    ("global.cohere.embed-v4:0", "Cohere Embed v4"),
];

const EU_REGIONS: &[&str] = &[
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
];
const GLOBAL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-central-1",
    "eu-central-2",
    "ap-northeast-1",
];

#[derive(Debug, Clone)]
struct Profile {
    id: String,
    name: String,
    description: Option<String>,
    arn: String,
    models: Vec<String>,
    created: String,
    tags: BTreeMap<String, String>,
}

/// The Bedrock state.
#[derive(Debug, Default)]
pub struct Bedrock {
    profiles: Mutex<BTreeMap<String, Profile>>,
}

fn err(status: StatusCode, code: &str, msg: &str) -> Response<Bytes> {
    Protocol::RestJson.error(status, code, msg)
}

fn validation(msg: &str) -> Response<Bytes> {
    err(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

fn model_arn(region: &str, id: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{id}")
}

fn system_models(region: &str, id: &str) -> Vec<String> {
    let model = id.split_once('.').map(|(_, m)| m).unwrap_or(id);
    let regions = if id.starts_with("global.") {
        GLOBAL_REGIONS
    } else {
        EU_REGIONS
    };
    let mut out = vec![model_arn(region, model)];
    // AWS lists at most five models per profile.
    out.extend(
        regions
            .iter()
            .filter(|r| **r != region)
            .take(4)
            .map(|r| model_arn(r, model)),
    );
    out
}

fn system_json(region: &str, id: &str, name: &str) -> Value {
    json!({
        "inferenceProfileName": name,
        "description": format!("Routes requests to {name} across regions."),
        "createdAt": "2024-10-27T03:33:20.000Z",
        "updatedAt": "2024-10-27T03:33:20.000Z",
        "inferenceProfileArn": format!("arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/{id}"),
        "models": system_models(region, id).into_iter().map(|m| json!({ "modelArn": m })).collect::<Vec<_>>(),
        "inferenceProfileId": id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}

fn profile_json(p: &Profile) -> Value {
    let mut v = json!({
        "inferenceProfileName": p.name,
        "createdAt": p.created,
        "updatedAt": p.created,
        "inferenceProfileArn": p.arn,
        "models": p.models.iter().map(|m| json!({ "modelArn": m })).collect::<Vec<_>>(),
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "APPLICATION",
    });
    if let Some(d) = &p.description {
        v["description"] = json!(d);
    }
    v
}

fn tags_from(v: &Value) -> Result<BTreeMap<String, String>, Response<Bytes>> {
    let mut out = BTreeMap::new();
    for t in v.as_array().map(Vec::as_slice).unwrap_or_default() {
        let (Some(k), Some(val)) = (t["key"].as_str(), t["value"].as_str()) else {
            return Err(validation("Each tag needs a key and a value."));
        };
        if k.is_empty() || k.len() > 128 || val.len() > 256 {
            return Err(validation(
                "Tag keys are 1 to 128 characters and values at most 256.",
            ));
        }
        out.insert(k.to_string(), val.to_string());
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    // ([0-9a-zA-Z][ _-]?)+, 1 to 64 characters.
    let mut prev_sep = true;
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| {
            let sep = c == ' ' || c == '_' || c == '-';
            let ok = c.is_ascii_alphanumeric() || (sep && !prev_sep);
            prev_sep = sep;
            ok
        })
}

impl Bedrock {
    /// Serve a Bedrock control-plane request, or `None` to let moto answer.
    pub fn handle(&self, req: &Req<'_>) -> Option<Response<Bytes>> {
        let region = req.region;
        let path = req.path.trim_end_matches('/');
        let decoded: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(super::percent_decode)
            .collect();
        let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
        Some(match (req.method, segs.as_slice()) {
            ("GET", ["foundation-models"]) => {
                let provider = req.query("byProvider").map(str::to_lowercase);
                let modality = req.query("byOutputModality");
                let list: Vec<Value> = FOUNDATION_MODELS
                    .iter()
                    .filter(|(_, p, _, _)| {
                        provider.as_deref().is_none_or(|x| p.to_lowercase() == x)
                    })
                    .filter(|(_, _, _, m)| modality.is_none_or(|x| x == *m))
                    .map(|(id, p, name, m)| {
                        json!({
                            "modelArn": model_arn(region, id),
                            "modelId": id,
                            "modelName": name,
                            "providerName": p,
                            "inputModalities": ["TEXT"],
                            "outputModalities": [m],
                            "responseStreamingSupported": *m == "TEXT",
                            "customizationsSupported": [],
                            "inferenceTypesSupported": ["ON_DEMAND"],
                            "modelLifecycle": { "status": "ACTIVE" },
                        })
                    })
                    .collect();
                json_ok(StatusCode::OK, &json!({ "modelSummaries": list }))
            }
            ("POST", ["inference-profiles"]) => self.create(req),
            ("GET", ["inference-profiles"]) => self.list(req),
            ("GET", ["inference-profiles", id]) => match self.find(region, id) {
                Some(v) => json_ok(StatusCode::OK, &v),
                None => not_found(id),
            },
            ("DELETE", ["inference-profiles", id]) => {
                let mut profiles = self.profiles.lock().expect("not poisoned");
                let key = profiles
                    .iter()
                    .find(|(k, p)| *k == id || p.arn == *id)
                    .map(|(k, _)| k.clone());
                match key {
                    Some(k) => {
                        profiles.remove(&k);
                        json_ok(StatusCode::OK, &json!({}))
                    }
                    None if SYSTEM_PROFILES.iter().any(|(s, _)| s == id) => {
                        validation("System-defined inference profiles cannot be deleted.")
                    }
                    None => not_found(id),
                }
            }
            ("POST", ["tagResource"])
            | ("POST", ["untagResource"])
            | ("POST", ["listTagsForResource"]) => self.tagging(segs[0], req),
            _ => return None,
        })
    }

    fn find(&self, region: &str, id: &str) -> Option<Value> {
        let profiles = self.profiles.lock().expect("not poisoned");
        if let Some(p) = profiles.values().find(|p| p.id == id || p.arn == id) {
            return Some(profile_json(p));
        }
        SYSTEM_PROFILES
            .iter()
            .find(|(s, _)| *s == id || id.ends_with(&format!(":inference-profile/{s}")))
            .map(|(s, n)| system_json(region, s, n))
    }

    fn create(&self, req: &Req<'_>) -> Response<Bytes> {
        let body = req.json();
        let region = req.region;
        let Some(name) = body["inferenceProfileName"].as_str() else {
            return validation("1 validation error detected: Value null at 'inferenceProfileName' failed to satisfy constraint: Member must not be null");
        };
        if !valid_name(name) {
            return validation(&format!(
                "1 validation error detected: Value '{name}' at 'inferenceProfileName' failed to satisfy constraint: Member must satisfy regular expression pattern: ([0-9a-zA-Z][ _-]?)+"
            ));
        }
        let Some(copy_from) = body["modelSource"]["copyFrom"].as_str() else {
            return validation("1 validation error detected: Value null at 'modelSource' failed to satisfy constraint: Member must not be null");
        };
        let models = if let Some(model) =
            copy_from.strip_prefix(&format!("arn:aws:bedrock:{region}::foundation-model/"))
        {
            if !FOUNDATION_MODELS.iter().any(|(m, ..)| *m == model) {
                return validation(&format!("The provided model identifier is invalid: foundation model {model} was not found in {region}."));
            }
            vec![copy_from.to_string()]
        } else if let Some(id) = copy_from.strip_prefix(&format!(
            "arn:aws:bedrock:{region}:{ACCOUNT}:inference-profile/"
        )) {
            if !SYSTEM_PROFILES.iter().any(|(s, _)| *s == id) {
                return validation(&format!(
                    "The provided inference profile {id} was not found."
                ));
            }
            system_models(region, id)
        } else {
            return validation(&format!("The copyFrom value {copy_from} is not a valid foundation-model or inference-profile ARN."));
        };
        let tags = match tags_from(&body["tags"]) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let mut profiles = self.profiles.lock().expect("not poisoned");
        if profiles.values().any(|p| p.name == name) {
            return err(
                StatusCode::CONFLICT,
                "ConflictException",
                &format!("An inference profile named {name} already exists."),
            );
        }
        let id = random_id(12);
        let arn = format!("arn:aws:bedrock:{region}:{ACCOUNT}:application-inference-profile/{id}");
        let p = Profile {
            id: id.clone(),
            name: name.to_string(),
            description: body["description"].as_str().map(str::to_string),
            arn: arn.clone(),
            models,
            created: now_iso8601(),
            tags,
        };
        profiles.insert(id, p);
        json_ok(
            StatusCode::CREATED,
            &json!({ "inferenceProfileArn": arn, "status": "ACTIVE" }),
        )
    }

    fn list(&self, req: &Req<'_>) -> Response<Bytes> {
        let ty = req.query("type").unwrap_or("SYSTEM_DEFINED");
        let all: Vec<Value> = match ty {
            "APPLICATION" => self.profiles.lock().expect("not poisoned").values().map(profile_json).collect(),
            "SYSTEM_DEFINED" => SYSTEM_PROFILES.iter().map(|(s, n)| system_json(req.region, s, n)).collect(),
            other => return validation(&format!("Value '{other}' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]")),
        };
        let max: usize = req
            .query("maxResults")
            .and_then(|m| m.parse().ok())
            .unwrap_or(1000)
            .clamp(1, 1000);
        let start: usize = req
            .query("nextToken")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let page: Vec<Value> = all.iter().skip(start).take(max).cloned().collect();
        let mut out = json!({ "inferenceProfileSummaries": page });
        if start + max < all.len() {
            out["nextToken"] = json!((start + max).to_string());
        }
        json_ok(StatusCode::OK, &out)
    }

    fn tagging(&self, op: &str, req: &Req<'_>) -> Response<Bytes> {
        let body = req.json();
        let Some(arn) = body["resourceARN"].as_str() else {
            return validation("resourceARN is required.");
        };
        let mut profiles = self.profiles.lock().expect("not poisoned");
        let Some(p) = profiles.values_mut().find(|p| p.arn == arn) else {
            return not_found(arn);
        };
        match op {
            "tagResource" => match tags_from(&body["tags"]) {
                Ok(t) => {
                    p.tags.extend(t);
                    json_ok(StatusCode::OK, &json!({}))
                }
                Err(e) => e,
            },
            "untagResource" => {
                for k in body["tagKeys"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                {
                    if let Some(k) = k.as_str() {
                        p.tags.remove(k);
                    }
                }
                json_ok(StatusCode::OK, &json!({}))
            }
            _ => json_ok(
                StatusCode::OK,
                &json!({ "tags": p.tags.iter().map(|(k, v)| json!({ "key": k, "value": v })).collect::<Vec<_>>() }),
            ),
        }
    }
}

fn not_found(id: &str) -> Response<Bytes> {
    err(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        &format!("The inference profile {id} was not found."),
    )
}
