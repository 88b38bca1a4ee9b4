//! Each service's hooks into the gateway's stages, in a module of its own: what AWS refuses or
//! answers that moto does not (`before`, ahead of the forward), the request body moto is given
//! (`request_body`), what follows a forwarded call (`after_forward`), and the answer's rewrites
//! before and after the stages every service shares (`answer_first`, `answer_last`).

mod aps;
mod ec2;
mod elasticache;
pub(super) mod iam;
mod logs;
mod rds;
mod s3;
mod secretsmanager;

pub(super) use elasticache::rename_incarnations;

use super::exchange::{Exchange, Reply, Step};
use super::{Body, Shared};

/// The service's checks and answers before the call reaches moto.
pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    match x.service.as_str() {
        "s3" => s3::before(shared, x).await,
        "rds" => rds::before(shared, x).await,
        "elasticache" => elasticache::before(shared, x).await,
        "bedrock" => bedrock_before(shared, x).await,
        "grafana" => grafana_before(shared, x),
        "iam" => iam::before(shared, x),
        "logs" => logs::before(shared, x).await,
        "aps" => aps::before(shared, x),
        "secretsmanager" => secretsmanager::before(shared, x).await,
        "ec2" => ec2::before(shared, x).await,
        _ => Ok(None),
    }
}

/// The body moto is given, where the service rewrites it.
pub(super) fn request_body(x: &mut Exchange) -> Option<Body> {
    match x.service.as_str() {
        "elasticache" => elasticache::request_body(x),
        "rds" => rds::request_body(x),
        "logs" => logs::request_body(x),
        _ => None,
    }
}

/// What follows a forwarded call that succeeded.
pub(super) async fn after_forward(shared: &Shared, x: &Exchange) -> anyhow::Result<()> {
    match x.service.as_str() {
        "s3" => s3::after_forward(shared, x),
        "rds" => rds::after_forward(shared, x).await?,
        _ => {}
    }
    Ok(())
}

/// The answer's rewrites that come before the stages every service shares.
pub(super) async fn answer_first(
    shared: &Shared,
    x: &Exchange,
    success: bool,
    text: &mut String,
) -> anyhow::Result<()> {
    match x.service.as_str() {
        "s3" if success => s3::answer_first(text),
        "elasticache" => elasticache::answer_first(shared, x, text),
        "rds" if success => rds::answer_first(shared, x, text).await?,
        "logs" if success => logs::answer_first(shared, x, text),
        _ => {}
    }
    Ok(())
}

/// The answer's rewrites after the shared stages; a reply ends the call there.
pub(super) async fn answer_last(
    shared: &Shared,
    x: &Exchange,
    success: bool,
    text: &mut String,
) -> anyhow::Result<Option<Reply>> {
    match x.service.as_str() {
        "rds" if success => Ok(rds::answer_last(shared, x, text)),
        "logs" if success => {
            logs::answer_last(shared, x);
            Ok(None)
        }
        "iam" if success => {
            // Again after the change: a check between the two may have read the old policies.
            shared.authz.forget_policies();
            Ok(None)
        }
        "aps" => Ok(aps::answer_last(shared, x, success, text)),
        "secretsmanager" => secretsmanager::answer_last(shared, x, success, text).await,
        _ => Ok(None),
    }
}

/// Bedrock: invocation logging to a group or role AWS would refuse.
async fn bedrock_before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op != "PutModelInvocationLoggingConfiguration" {
        return Ok(None);
    }
    match super::logging_refusal(shared, &x.region, &x.bytes).await? {
        Some(why) => x.bad_request("ValidationException", &why),
        None => Ok(None),
    }
}

/// Grafana cannot assume a role that has not propagated yet.
fn grafana_before(shared: &Shared, x: &mut Exchange) -> Step {
    if !matches!(x.op.as_str(), "CreateWorkspace" | "UpdateWorkspace") {
        return Ok(None);
    }
    match x.json_str("workspaceRoleArn") {
        Some(arn) if super::role_is_young(shared, &arn) => x.bad_request(
            "ValidationException",
            &format!("Unable to assume the workspace role {arn}; check its trust policy."),
        ),
        _ => Ok(None),
    }
}
