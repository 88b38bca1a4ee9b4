//! The gateway's consistency stage (see [`crate::consistency`]): which item a call changes,
//! how lists showed it just before, the refusals of a bucket or user too new to be seen, and the
//! list answers rewritten to lag.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::BodyExt;

use super::{forward, full, moto_json, moto_query, Shared};
use crate::consistency::{self, Before, JsonList, Target};
use crate::protocol::Protocol;

fn param<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn json_str(bytes: &[u8], key: &str) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()?
        .get(key)?
        .as_str()
        .map(str::to_string)
}

fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(crate::emulated::percent_decode)
        .collect()
}

const SECRETS: JsonList = JsonList {
    array: "SecretList",
    key: "Name",
};
const LOG_GROUPS: JsonList = JsonList {
    array: "logGroups",
    key: "logGroupName",
};
const WORKSPACES: JsonList = JsonList {
    array: "workspaces",
    key: "workspaceId",
};
const PROFILES: JsonList = JsonList {
    array: "inferenceProfileSummaries",
    key: "inferenceProfileId",
};

fn secrets(key: String) -> Target {
    Target {
        service: "secretsmanager",
        list: "secretsmanager".into(),
        key,
    }
}

fn keys_of(user: &str, key: String) -> Target {
    Target {
        service: "iam",
        list: format!("keys:{user}"),
        key,
    }
}

fn single(service: &'static str, key: String) -> Target {
    Target {
        service,
        list: service.into(),
        key,
    }
}

/// The listed item a mutating call changes, when its key is known before the answer.
pub(super) fn target(
    service: &str,
    op: &str,
    form: &[(String, String)],
    bytes: &[u8],
    path: &str,
) -> Option<Target> {
    match service {
        "secretsmanager" => json_str(bytes, "SecretId")
            .or_else(|| json_str(bytes, "Name"))
            .map(|id| secrets(consistency::secret_name(&id))),
        "iam" if matches!(op, "DeleteAccessKey" | "UpdateAccessKey") => Some(keys_of(
            param(form, "UserName")?,
            param(form, "AccessKeyId")?.to_string(),
        )),
        "logs" => json_str(bytes, "logGroupName")
            .or_else(|| {
                json_str(bytes, "resourceArn").and_then(|a| consistency::log_group_name(&a))
            })
            .map(|g| single("logs", g)),
        "aps" => {
            let s = segments(path);
            let id = match (op, s.as_slice()) {
                ("DeleteWorkspace" | "UpdateWorkspaceAlias", [_, id, ..]) => id.clone(),
                ("TagResource" | "UntagResource", [_, arn @ ..]) => {
                    arn.join("/").rsplit('/').next()?.to_string()
                }
                _ => return None,
            };
            Some(single("aps", id))
        }
        "bedrock" if op == "DeleteInferenceProfile" => {
            let id = segments(path).pop()?;
            Some(single("bedrock", id.rsplit('/').next()?.to_string()))
        }
        _ => None,
    }
}

/// The item a create made, known from its answer.
fn created_target(
    service: &str,
    op: &str,
    form: &[(String, String)],
    text: &str,
) -> Option<Target> {
    match (service, op) {
        ("iam", "CreateAccessKey") => Some(keys_of(
            param(form, "UserName")?,
            crate::xml::text(text, "AccessKeyId")?,
        )),
        ("aps", "CreateWorkspace") => {
            Some(single("aps", json_str(text.as_bytes(), "workspaceId")?))
        }
        ("bedrock", "CreateInferenceProfile") => {
            let arn = json_str(text.as_bytes(), "inferenceProfileArn")?;
            Some(single("bedrock", arn.rsplit('/').next()?.to_string()))
        }
        _ => None,
    }
}

fn find(v: &serde_json::Value, shape: JsonList, key: &str) -> Option<String> {
    v.get(shape.array)?
        .as_array()?
        .iter()
        .find(|i| i.get(shape.key).and_then(|k| k.as_str()) == Some(key))
        .map(|i| i.to_string())
}

/// How the item's list shows it now, asked of moto (or the emulated service) directly.
pub(super) async fn before(
    shared: &Shared,
    region: &str,
    target: &Target,
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<Option<String>> {
    let key = target.key.as_str();
    Ok(match target.service {
        "secretsmanager" => {
            let body = serde_json::json!({
                "Filters": [{"Key": "name", "Values": [key]}],
                "IncludePlannedDeletion": true,
            });
            let (_, v) = moto_json(
                shared,
                region,
                "secretsmanager",
                "secretsmanager.ListSecrets",
                body,
            )
            .await?;
            find(&v, SECRETS, key)
        }
        "logs" => {
            let body = serde_json::json!({ "logGroupNamePrefix": key });
            let (_, v) = moto_json(
                shared,
                region,
                "logs",
                "Logs_20140328.DescribeLogGroups",
                body,
            )
            .await?;
            let text = v.to_string();
            let text = shared
                .log_group_keys
                .on_response(region, &text)
                .unwrap_or(text);
            find(
                &serde_json::from_str(&text).unwrap_or_default(),
                LOG_GROUPS,
                key,
            )
        }
        "iam" => {
            let user = target.list.trim_start_matches("keys:");
            let (_, xml) =
                moto_query(shared, "iam", "ListAccessKeys", &[("UserName", user)], auth).await?;
            let mut found = None;
            crate::xml::map_members(&xml, "member", |m| {
                if crate::xml::text(m, "AccessKeyId").as_deref() == Some(key) {
                    found = Some(m.to_string());
                }
                None
            });
            found
        }
        "aps" => {
            let mut req = http::Request::builder().method("GET").uri("/workspaces");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = forward(shared, req.body(full(Bytes::new()))?).await?;
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading moto's answer: {e}"))?
                .to_bytes();
            find(
                &serde_json::from_slice(&bytes).unwrap_or_default(),
                WORKSPACES,
                key,
            )
        }
        "bedrock" => {
            let req = crate::emulated::Req {
                method: "GET",
                path: "/inference-profiles".into(),
                query: vec![("typeEquals".into(), "APPLICATION".into())],
                form: &[],
                body: &[],
                region,
            };
            let slow = shared.slow.settings();
            shared
                .emulated
                .handle("bedrock", "ListInferenceProfiles", &req, slow)
                .and_then(|r| serde_json::from_slice(r.body()).ok())
                .and_then(|v| find(&v, PROFILES, key))
        }
        _ => None,
    })
}

/// EC2's calls that name a security group by id, and the parameters that name it.
fn security_group_ids<'a>(op: &str, form: &'a [(String, String)]) -> Vec<&'a str> {
    let by = |key: &str| -> Vec<&'a str> {
        form.iter()
            .filter(|(k, _)| k == key || k.strip_prefix(key).is_some_and(|n| n.starts_with('.')))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    match op {
        "AuthorizeSecurityGroupIngress"
        | "AuthorizeSecurityGroupEgress"
        | "RevokeSecurityGroupIngress"
        | "RevokeSecurityGroupEgress"
        | "DeleteSecurityGroup"
        | "DescribeSecurityGroups" => by("GroupId"),
        "CreateTags" | "DeleteTags" => by("ResourceId"),
        _ => Vec::new(),
    }
}

/// A call on a bucket, an IAM user or a security group made too recently to be seen: AWS's
/// not-found answer.
pub(super) fn refusal(
    shared: &Shared,
    service: &str,
    region: &str,
    op: &str,
    path: &str,
    form: &[(String, String)],
) -> Option<Response<Bytes>> {
    let c = &shared.consistency;
    match service {
        "s3" if !matches!(op, "CreateBucket" | "ListBuckets") => {
            let bucket = segments(path).into_iter().next()?;
            c.too_new("s3", region, &bucket).then(|| {
                Protocol::RestXml.error(
                    StatusCode::NOT_FOUND,
                    "NoSuchBucket",
                    "The specified bucket does not exist",
                )
            })
        }
        "ec2" => {
            let id = security_group_ids(op, form)
                .into_iter()
                .find(|id| c.too_new("ec2", region, id))?;
            Some(Protocol::Ec2.error(
                StatusCode::BAD_REQUEST,
                "InvalidGroup.NotFound",
                &format!("The security group '{id}' does not exist"),
            ))
        }
        "iam" if matches!(op, "CreateAccessKey" | "PutUserPolicy") => {
            let user = param(form, "UserName")?;
            c.too_new("iam", region, user).then(|| {
                Protocol::Query.error(
                    StatusCode::NOT_FOUND,
                    "NoSuchEntity",
                    &format!("The user with name {user} cannot be found."),
                )
            })
        }
        _ => None,
    }
}

/// After a successful mutating call: note what it changed or made.
#[allow(clippy::too_many_arguments)]
pub(super) fn after(
    shared: &Shared,
    service: &str,
    region: &str,
    op: &str,
    form: &[(String, String)],
    path: &str,
    changed: Option<(Target, Before)>,
    text: &str,
) {
    let c = &shared.consistency;
    if let Some((t, before)) = changed {
        c.changed(region, t, before);
    }
    if let Some(t) = created_target(service, op, form, text) {
        c.changed(region, t, Before::Fetched(None));
    }
    match (service, op) {
        ("s3", "CreateBucket") => {
            if let Some(b) = segments(path).into_iter().next() {
                c.created("s3", region, &b);
            }
        }
        ("ec2", "CreateSecurityGroup") => {
            if let Some(id) = crate::xml::text(text, "groupId") {
                c.created("ec2", region, &id);
            }
        }
        ("iam", "CreateUser") => {
            if let Some(u) = param(form, "UserName") {
                c.created("iam", region, u);
            }
        }
        _ => {}
    }
}

/// Whether the gateway needs the answer's body for this stage.
pub(super) fn reads_answer(service: &str, op: &str) -> bool {
    matches!(
        (service, op),
        ("secretsmanager", "ListSecrets")
            | ("iam", "ListAccessKeys" | "CreateAccessKey")
            | ("logs", "DescribeLogGroups")
            | ("aps", "ListWorkspaces" | "CreateWorkspace")
            | ("ec2", "CreateSecurityGroup")
            | (
                "bedrock",
                "ListInferenceProfiles" | "CreateInferenceProfile"
            )
    )
}

/// A list answer as it would be with the lag: recent changes not yet shown.
#[allow(clippy::too_many_arguments)]
pub(super) fn list_view(
    shared: &Shared,
    service: &str,
    region: &str,
    op: &str,
    form: &[(String, String)],
    bytes: &[u8],
    query: &[(String, String)],
    text: &str,
) -> Option<String> {
    let c = &shared.consistency;
    let request: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    let first_page = |token: &str| {
        request.get(token).is_none_or(|t| t.is_null()) && !query.iter().any(|(k, _)| k == token)
    };
    match (service, op) {
        ("secretsmanager", "ListSecrets") => {
            let prefixes: Vec<String> = request["Filters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["Key"] == "name")
                .flat_map(|f| f["Values"].as_array().cloned().unwrap_or_default())
                .filter_map(|v| v.as_str().map(str::to_lowercase))
                .collect();
            let keep = |e: &serde_json::Value| {
                let name = e["Name"].as_str().unwrap_or_default().to_lowercase();
                prefixes.is_empty() || prefixes.iter().any(|p| name.starts_with(p.as_str()))
            };
            let lagging = c.lagging(region, service, "secretsmanager");
            consistency::rewrite_json(text, SECRETS, &lagging, first_page("NextToken"), keep)
        }
        ("iam", "ListAccessKeys") => {
            let user = param(form, "UserName")?;
            let lagging = c.lagging(region, service, &format!("keys:{user}"));
            consistency::rewrite_access_keys(text, &lagging)
        }
        // A lookup by name (`logGroupIdentifiers`) is a direct read.
        ("logs", "DescribeLogGroups") if request.get("logGroupIdentifiers").is_none() => {
            let prefix = request["logGroupNamePrefix"].as_str().unwrap_or_default();
            let keep = |e: &serde_json::Value| {
                e["logGroupName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
            };
            let lagging = c.lagging(region, service, "logs");
            consistency::rewrite_json(text, LOG_GROUPS, &lagging, first_page("nextToken"), keep)
        }
        ("aps", "ListWorkspaces") => {
            let alias = query
                .iter()
                .find(|(k, _)| k == "alias")
                .map(|(_, v)| v.clone());
            let keep = |e: &serde_json::Value| {
                alias
                    .as_deref()
                    .is_none_or(|a| e["alias"].as_str().is_some_and(|x| x.starts_with(a)))
            };
            let lagging = c.lagging(region, service, "aps");
            consistency::rewrite_json(text, WORKSPACES, &lagging, first_page("nextToken"), keep)
        }
        ("bedrock", "ListInferenceProfiles") => {
            let lagging = c.lagging(region, service, "bedrock");
            consistency::rewrite_json(text, PROFILES, &lagging, first_page("nextToken"), |_| true)
        }
        _ => None,
    }
}

/// An answer of an emulated service through this stage: its change noted, its list lagging.
#[allow(clippy::too_many_arguments)]
pub(super) fn on_emulated(
    shared: &Shared,
    service: &str,
    region: &str,
    op: &str,
    req: &crate::emulated::Req<'_>,
    changed: Option<(Target, Before)>,
    resp: Response<Bytes>,
) -> Response<Bytes> {
    if !resp.status().is_success() {
        return resp;
    }
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    after(
        shared, service, region, op, req.form, &req.path, changed, &text,
    );
    match list_view(
        shared, service, region, op, req.form, req.body, &req.query, &text,
    ) {
        Some(t) => {
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove("content-length");
            Response::from_parts(parts, Bytes::from(t))
        }
        None => resp,
    }
}
