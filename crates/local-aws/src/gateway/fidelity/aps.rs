//! Managed Prometheus's hooks: `CreateWorkspace` idempotent by client token (moto makes a second
//! workspace), a workspace without a logging configuration answered as AWS does, and a logging
//! configuration `CREATING` (`UPDATING`) for the slow settings' time after it is made (changed),
//! its change refused meanwhile.

use http::StatusCode;

use super::super::exchange::{answer_bytes, Exchange, Reply, Step};
use super::super::Shared;

/// The workspace id of a `/workspaces/{id}/logging` call.
fn logging_of(x: &Exchange) -> Option<String> {
    let path = x.uri.path();
    let id = path
        .strip_prefix("/workspaces/")?
        .strip_suffix("/logging")?;
    Some(id.to_string())
}

pub(super) fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if matches!(
        x.op.as_str(),
        "UpdateLoggingConfiguration" | "DeleteLoggingConfiguration"
    ) {
        // AWS refuses to change a logging configuration it is still setting up.
        if let Some(status) = logging_of(x).and_then(|id| shared.slow.amp_logging_busy(&id)) {
            return Ok(Some(Reply::Answer(x.error(
                StatusCode::CONFLICT,
                "ConflictException",
                &format!("The logging configuration is {status}; wait until it is ACTIVE."),
            ))));
        }
        return Ok(None);
    }
    if x.op != "CreateWorkspace" {
        return Ok(None);
    }
    x.notes.amp_token = x.json_str("clientToken");
    let Some(token) = &x.notes.amp_token else {
        return Ok(None);
    };
    match shared.amp_tokens.answered(token) {
        Some(body) => answer_bytes(crate::protocol::json_ok(
            StatusCode::ACCEPTED,
            &serde_json::from_str(&body).unwrap_or_default(),
        )),
        None => Ok(None),
    }
}

pub(super) fn answer_last(
    shared: &Shared,
    x: &Exchange,
    success: bool,
    text: &mut String,
) -> Option<Reply> {
    logging_status(shared, x, success, text);
    if let Some(token) = x.notes.amp_token.clone().filter(|_| success) {
        shared.amp_tokens.remember(token, text.to_string());
    }
    // AWS answers ResourceNotFoundException; moto an empty configuration.
    let empty = x.op == "DescribeLoggingConfiguration"
        && serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v["loggingConfiguration"] == serde_json::json!({}));
    empty.then(|| {
        Reply::Answer(x.error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Logging configuration not found for this workspace.",
        ))
    })
}

/// A logging configuration made or changed a moment ago is still being set up: say so in its
/// description, as AWS does.
fn logging_status(shared: &Shared, x: &Exchange, success: bool, text: &mut String) {
    let Some(id) = logging_of(x).filter(|_| success) else {
        return;
    };
    match x.op.as_str() {
        "CreateLoggingConfiguration" => shared.slow.amp_logging_changed(&id, true),
        "UpdateLoggingConfiguration" => shared.slow.amp_logging_changed(&id, false),
        "DescribeLoggingConfiguration" => {
            let Some(status) = shared.slow.amp_logging_busy(&id) else {
                return;
            };
            let mut v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
            if v["loggingConfiguration"].is_object() {
                v["loggingConfiguration"]["status"] = serde_json::json!({ "statusCode": status });
                *text = v.to_string();
            }
        }
        _ => {}
    }
}
