//! Managed Grafana (moto has none of it): workspaces with their life cycle (CREATING → ACTIVE,
//! UPDATING → ACTIVE, DELETING → gone; as long as the slow settings say, else one describe) and
//! tagging.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{json, Value};

use super::{now_epoch, random_hex, Req};
use crate::protocol::{json_ok, request_id};
use crate::slow::SlowSettings;

#[derive(Debug, Clone)]
struct Workspace {
    desc: Value,
    tags: BTreeMap<String, String>,
    /// The status it shows until `until`, then the next one (`None`: removed).
    busy: Option<(&'static str, Instant, Option<&'static str>)>,
    seen_busy: bool,
}

/// The Grafana state.
#[derive(Debug, Default)]
pub struct Grafana {
    workspaces: Mutex<BTreeMap<String, Workspace>>,
}

fn error(status: StatusCode, code: &str, body: Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-errortype", code)
        .header("x-amzn-requestid", request_id())
        .body(Bytes::from(body.to_string()))
        .expect("valid")
}

fn validation(msg: &str) -> Response<Bytes> {
    error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        json!({ "message": msg, "reason": "FIELD_VALIDATION_FAILED" }),
    )
}

fn not_found(id: &str) -> Response<Bytes> {
    error(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        json!({ "message": format!("Workspace {id} not found."), "resourceId": id, "resourceType": "WORKSPACE" }),
    )
}

const ENUMS: &[(&str, &[&str])] = &[
    ("accountAccessType", &["CURRENT_ACCOUNT", "ORGANIZATION"]),
    ("permissionType", &["CUSTOMER_MANAGED", "SERVICE_MANAGED"]),
];

impl Workspace {
    /// Advance the life cycle; `false` when the workspace is gone.
    fn tick(&mut self) -> bool {
        if let Some((_, until, next)) = self.busy {
            // A busy status is shown at least once, then for as long as asked.
            if self.seen_busy && Instant::now() >= until {
                self.busy = None;
                match next {
                    Some(s) => self.desc["status"] = json!(s),
                    None => return false,
                }
            }
        }
        if let Some((s, ..)) = self.busy {
            self.desc["status"] = json!(s);
            self.seen_busy = true;
        }
        true
    }

    fn summary(&self) -> Value {
        let mut s = json!({});
        for k in [
            "authentication",
            "created",
            "endpoint",
            "grafanaVersion",
            "id",
            "modified",
            "status",
            "name",
            "description",
            "notificationDestinations",
        ] {
            if let Some(v) = self.desc.get(k) {
                s[k] = v.clone();
            }
        }
        s["tags"] = json!(self.tags);
        s
    }

    fn full(&self) -> Value {
        let mut d = self.desc.clone();
        d["tags"] = json!(self.tags);
        d
    }
}

impl Grafana {
    /// Serve a Grafana request.
    pub fn handle(&self, req: &Req<'_>, slow: SlowSettings) -> Response<Bytes> {
        let path = req.path.trim_end_matches('/').to_string();
        let segs: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
        let mut ws = self.workspaces.lock().expect("not poisoned");
        ws.retain(|_, w| w.tick());
        match (req.method, segs.as_slice()) {
            ("POST", ["workspaces"]) => create(&mut ws, req, slow),
            ("GET", ["workspaces"]) => {
                let list: Vec<Value> = ws.values().map(Workspace::summary).collect();
                json_ok(StatusCode::OK, &json!({ "workspaces": list }))
            }
            ("GET", ["workspaces", id]) => match ws.get(*id) {
                Some(w) => json_ok(StatusCode::OK, &json!({ "workspace": w.full() })),
                None => not_found(id),
            },
            ("PUT", ["workspaces", id]) => {
                let Some(w) = ws.get_mut(*id) else {
                    return not_found(id);
                };
                let body = req.json();
                if let Err(e) = check_enums(&body) {
                    return e;
                }
                for (from, to) in [
                    ("accountAccessType", "accountAccessType"),
                    ("permissionType", "permissionType"),
                    ("workspaceName", "name"),
                    ("workspaceDescription", "description"),
                    ("workspaceRoleArn", "workspaceRoleArn"),
                    ("workspaceDataSources", "dataSources"),
                    (
                        "workspaceNotificationDestinations",
                        "notificationDestinations",
                    ),
                    ("vpcConfiguration", "vpcConfiguration"),
                ] {
                    if let Some(v) = body.get(from) {
                        w.desc[to] = v.clone();
                    }
                }
                if body.get("removeVpcConfiguration") == Some(&json!(true)) {
                    w.desc.as_object_mut().map(|o| o.remove("vpcConfiguration"));
                }
                w.desc["modified"] = json!(now_epoch());
                w.busy = Some((
                    "UPDATING",
                    Instant::now() + Duration::from_millis(slow.modification_ms),
                    Some("ACTIVE"),
                ));
                w.seen_busy = false;
                w.tick();
                json_ok(StatusCode::ACCEPTED, &json!({ "workspace": w.full() }))
            }
            ("DELETE", ["workspaces", id]) => {
                let Some(w) = ws.get_mut(*id) else {
                    return not_found(id);
                };
                w.busy = Some((
                    "DELETING",
                    Instant::now() + Duration::from_millis(slow.modification_ms),
                    None,
                ));
                w.seen_busy = false;
                w.tick();
                json_ok(StatusCode::ACCEPTED, &json!({ "workspace": w.full() }))
            }
            (m, ["tags", arn]) => {
                let arn = super::percent_decode(arn);
                let Some(id) = arn.rsplit('/').next().map(str::to_string) else {
                    return not_found(&arn);
                };
                let Some(w) = ws.get_mut(&id) else {
                    return not_found(&id);
                };
                match m {
                    "GET" => json_ok(StatusCode::OK, &json!({ "tags": w.tags })),
                    "POST" => {
                        let body = req.json();
                        for (k, v) in body["tags"].as_object().into_iter().flatten() {
                            w.tags
                                .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                        }
                        json_ok(StatusCode::OK, &json!({}))
                    }
                    "DELETE" => {
                        for (k, v) in &req.query {
                            if k == "tagKeys" {
                                w.tags.remove(v);
                            }
                        }
                        json_ok(StatusCode::OK, &json!({}))
                    }
                    _ => validation("unsupported method"),
                }
            }
            _ => error(
                StatusCode::NOT_FOUND,
                "ValidationException",
                json!({ "message": format!("Unknown operation {} {}", req.method, req.path), "reason": "UNKNOWN_OPERATION" }),
            ),
        }
    }
}

fn check_enums(body: &Value) -> Result<(), Response<Bytes>> {
    for (field, allowed) in ENUMS {
        if let Some(v) = body.get(*field) {
            if !v.as_str().is_some_and(|s| allowed.contains(&s)) {
                return Err(validation(&format!("Value {v} at '{field}' failed to satisfy constraint: Member must satisfy enum value set: {allowed:?}")));
            }
        }
    }
    Ok(())
}

fn create(
    ws: &mut BTreeMap<String, Workspace>,
    req: &Req<'_>,
    slow: SlowSettings,
) -> Response<Bytes> {
    let body = req.json();
    for field in [
        "accountAccessType",
        "authenticationProviders",
        "permissionType",
    ] {
        if body.get(field).is_none() {
            return validation(&format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"));
        }
    }
    if let Err(e) = check_enums(&body) {
        return e;
    }
    let providers = body["authenticationProviders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if providers.is_empty()
        || !providers
            .iter()
            .all(|p| matches!(p.as_str(), Some("AWS_SSO" | "SAML")))
    {
        return validation("authenticationProviders must hold AWS_SSO and/or SAML.");
    }
    if let Some(name) = body["workspaceName"].as_str() {
        if name.is_empty()
            || name.len() > 255
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        {
            return validation(&format!("Value '{name}' at 'workspaceName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-._~]{{1,255}}$"));
        }
        if ws.values().any(|w| w.desc["name"] == json!(name)) {
            return error(
                StatusCode::CONFLICT,
                "ConflictException",
                json!({ "message": format!("A workspace named {name} already exists."), "resourceId": name, "resourceType": "WORKSPACE" }),
            );
        }
    }
    let id = format!("g-{}", random_hex(10));
    let now = now_epoch();
    let saml = providers.iter().any(|p| p == "SAML");
    let mut desc = json!({
        "id": id,
        "accountAccessType": body["accountAccessType"],
        "permissionType": body["permissionType"],
        "authentication": if saml { json!({ "providers": providers, "samlConfigurationStatus": "NOT_CONFIGURED" }) } else { json!({ "providers": providers }) },
        "created": now,
        "modified": now,
        "dataSources": body.get("workspaceDataSources").cloned().unwrap_or_else(|| json!([])),
        "endpoint": format!("{id}.grafana-workspace.{}.amazonaws.com", req.region),
        "grafanaVersion": body.get("grafanaVersion").cloned().unwrap_or_else(|| json!("10.4")),
        "status": "CREATING",
        "licenseType": "ENTERPRISE_FREE_TRIAL",
    });
    for (from, to) in [
        ("workspaceName", "name"),
        ("workspaceDescription", "description"),
        ("workspaceRoleArn", "workspaceRoleArn"),
        (
            "workspaceNotificationDestinations",
            "notificationDestinations",
        ),
        ("vpcConfiguration", "vpcConfiguration"),
        ("stackSetName", "stackSetName"),
    ] {
        if let Some(v) = body.get(from) {
            desc[to] = v.clone();
        }
    }
    let tags: BTreeMap<String, String> = body["tags"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let mut w = Workspace {
        desc,
        tags,
        busy: Some((
            "CREATING",
            Instant::now() + Duration::from_millis(slow.grafana()),
            Some("ACTIVE"),
        )),
        seen_busy: false,
    };
    w.tick();
    let out = json!({ "workspace": w.full() });
    ws.insert(id, w);
    json_ok(StatusCode::ACCEPTED, &out)
}
