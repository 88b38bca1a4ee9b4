//! Secrets Manager's hooks: a rotation schedule set without rotating (AWS leaves the value alone,
//! moto would not), the schedule shown in `DescribeSecret`, a name taken by a secret scheduled
//! for deletion refused with AWS's error, and a name still taken for a moment by a secret deleted
//! without recovery (`deletion_ms` of the consistency model).

use http::StatusCode;

use super::super::exchange::{answer_bytes, Exchange, Reply, Step};
use super::super::{moto_json, Shared};
use crate::fixes;

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op == "CreateSecret" {
        return name_still_taken(shared, x);
    }
    if x.op != "RotateSecret" {
        return Ok(None);
    }
    let Some(s) = crate::rotation_schedules::schedule_only(&x.bytes) else {
        return Ok(None);
    };
    let (ok, d) = moto_json(
        shared,
        &x.region,
        "secretsmanager",
        "secretsmanager.DescribeSecret",
        serde_json::json!({ "SecretId": s.secret_id }),
    )
    .await?;
    let Some(name) = d["Name"].as_str().filter(|_| ok) else {
        return x.bad_request(
            "ResourceNotFoundException",
            "Secrets Manager can't find the specified secret.",
        );
    };
    shared.rotation_schedules.set(&x.region, name, s.days);
    let current = d["VersionIdsToStages"]
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(_, stages)| {
                    stages
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == "AWSCURRENT"))
                })
                .map(|(v, _)| v.clone())
        })
        .unwrap_or_default();
    answer_bytes(crate::protocol::json_ok(
        StatusCode::OK,
        &serde_json::json!({ "ARN": d["ARN"], "Name": name, "VersionId": current }),
    ))
}

/// A secret deleted without recovery a moment ago still holds its name (AWS deletes it in the
/// background): a create of that name is refused, as AWS refuses it.
fn name_still_taken(shared: &Shared, x: &Exchange) -> Step {
    match x.json_str("Name") {
        Some(name) if shared.consistency.name_still_taken(&x.region, &name) => x.bad_request(
            "InvalidRequestException",
            fixes::SECRET_SCHEDULED_FOR_DELETION,
        ),
        _ => Ok(None),
    }
}

/// After a deletion without recovery: the name stays taken for a moment.
fn note_deletion(shared: &Shared, x: &Exchange, text: &str) {
    let forced = x
        .json()
        .is_some_and(|j| j["ForceDeleteWithoutRecovery"] == serde_json::json!(true));
    let answer: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    if let Some(name) = answer["Name"].as_str().filter(|_| forced) {
        shared.consistency.deleted_secret(&x.region, name);
    }
}

pub(super) async fn answer_last(
    shared: &Shared,
    x: &Exchange,
    success: bool,
    text: &mut String,
) -> anyhow::Result<Option<Reply>> {
    if success && x.op == "DeleteSecret" {
        note_deletion(shared, x, text);
    }
    if success && x.op == "DescribeSecret" {
        if let Some(t) = shared.rotation_schedules.on_describe(&x.region, text) {
            *text = t;
        }
    }
    if !text.contains("ResourceExistsException") {
        return Ok(None);
    }
    let Some(name) = x.json_str("Name") else {
        return Ok(None);
    };
    if !super::super::scheduled_for_deletion(shared, &name, x.auth()).await {
        return Ok(None);
    }
    Ok(Some(Reply::Answer(x.error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestException",
        fixes::SECRET_SCHEDULED_FOR_DELETION,
    ))))
}
