//! CloudWatch Logs' hooks: a log group's KMS key kept by the gateway (moto ignores it), its tags
//! gone with it, and `logGroupIdentifiers` honoured (moto ignores them).

use super::super::exchange::{answer_bytes, Exchange, Step};
use super::super::{full, Body, Shared};
use crate::fixes;

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    match x.op.as_str() {
        "DeleteLogGroup" => super::super::untag_log_group(shared, &x.region, &x.bytes).await?,
        "AssociateKmsKey" | "DisassociateKmsKey" => {
            let group = x.json_str("logGroupName").unwrap_or_default();
            let resp =
                super::super::log_group_key(shared, &x.region, &x.op, &group, &x.bytes).await?;
            return answer_bytes(resp);
        }
        "DescribeLogGroups" => x.notes.log_group_names = fixes::log_group_identifiers(&x.bytes),
        _ => {}
    }
    Ok(None)
}

/// Moto gets a prefix for `logGroupIdentifiers`; the answer is filtered.
pub(super) fn request_body(x: &mut Exchange) -> Option<Body> {
    let (request, _) = x.notes.log_group_names.as_ref()?;
    let request = request.clone();
    x.parts.headers.remove("content-length");
    Some(full(request))
}

pub(super) fn answer_first(shared: &Shared, x: &Exchange, text: &mut String) {
    if let Some((_, names)) = &x.notes.log_group_names {
        if let Some(t) = fixes::keep_log_groups(text, names) {
            *text = t;
        }
    }
    if x.op == "DescribeLogGroups" {
        if let Some(t) = shared.log_group_keys.on_response(&x.region, text) {
            *text = t;
        }
    }
}

pub(super) fn answer_last(shared: &Shared, x: &Exchange) {
    if matches!(x.op.as_str(), "CreateLogGroup" | "DeleteLogGroup") {
        let group = x.json_str("logGroupName").unwrap_or_default();
        shared.log_group_keys.forget(&x.region, &group);
    }
}
