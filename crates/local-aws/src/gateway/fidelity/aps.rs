//! Managed Prometheus's hooks: `CreateWorkspace` idempotent by client token (moto makes a second
//! workspace), and a workspace without a logging configuration answered as AWS does.

use http::StatusCode;

use super::super::exchange::{answer_bytes, Exchange, Reply, Step};
use super::super::Shared;

pub(super) fn before(shared: &Shared, x: &mut Exchange) -> Step {
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
    text: &str,
) -> Option<Reply> {
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
