//! The stages every signed call goes through, in order: classify (and count) → authorize →
//! faults → validate → the service's own hooks (`fidelity`) → emulate → rewrite the request →
//! forward → rewrite the answer. A stage either lets the call go on or answers it.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::exchange::{Exchange, Notes, Reply, Step};
use super::{
    access_key, caller_arn, classify_call, db_subnet_groups, failed_emulated, fidelity, forward,
    full, kms_grants, kms_keys_as_arns, lag, secret_named, stream, Body, Shared, RECORDED,
};
use crate::consistency::Before;
use crate::faults::Fault;
use crate::protocol::Protocol;
use crate::{emulated, rules};

/// Read what a stage needs of the request (small bodies whole: query forms, JSON), find its
/// operation, and count it.
pub(super) async fn classify(
    shared: &Shared,
    req: Request<Incoming>,
    service: String,
    region: String,
) -> anyhow::Result<Exchange> {
    let protocol = Protocol::of(&service);
    let (parts, body) = req.into_parts();
    let (body, bytes): (Option<Body>, Bytes) = if protocol == Protocol::RestXml {
        (Some(stream(body)), Bytes::new())
    } else {
        (None, body.collect().await?.to_bytes())
    };
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(&bytes).into_owned().collect()
    } else {
        Vec::new()
    };
    let mut call = classify_call(&service, &parts, is_form.then_some(&bytes[..]));
    if service == "secretsmanager" {
        call.resource = secret_named(&bytes);
    }
    // While IAM is enforced, who signed each call, so that a test can tell every call of a
    // command was made as the command's role.
    if shared.authz.enforcing() {
        call.principal = Some(match access_key(&parts) {
            Some(key) => caller_arn(shared, &key, &region).await?,
            None => "unsigned".to_string(),
        });
    }
    let recorded = shared.calls.record(call.clone());
    RECORDED.with(|r| r.set(Some(recorded)));
    Ok(Exchange {
        op: call.operation.clone(),
        uri: parts.uri.clone(),
        authorization: parts.headers.get("authorization").cloned(),
        service,
        region,
        protocol,
        call,
        parts,
        body,
        bytes,
        form,
        form_changed: false,
        lose_response: false,
        lag_change: None,
        notes: Notes::default(),
    })
}

/// IAM, enforced as AWS does when switched on (see `authz`): the denial, if any.
pub(super) async fn authorize(
    shared: &Shared,
    x: &Exchange,
) -> anyhow::Result<Option<Response<Body>>> {
    if shared.authz.enforcing() {
        let denied = super::authorize::authorize(shared, x).await?;
        if let Some(denied) = denied {
            return Ok(Some(super::boxed(denied)));
        }
    }
    if x.service == "iam" && x.call.mutating {
        shared.authz.forget_policies();
    }
    Ok(None)
}

/// The fault injector's verdict: an answer instead of the call (`Some(None)` drops the
/// connection), or the call goes on (perhaps with its answer to be lost).
pub(super) async fn faults(shared: &Shared, x: &mut Exchange) -> Option<Option<Response<Body>>> {
    let decision = shared.faults.decide(
        &x.service,
        &x.op,
        x.call.resource.as_deref(),
        x.call.mutating,
    );
    if decision.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(decision.latency_ms)).await;
    }
    let (status, code, message) = match decision.fault {
        Some(Fault::Throttle) => {
            let (status, code) = x.protocol.throttling();
            (status, code, "Rate exceeded")
        }
        Some(Fault::Http500) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
        Some(Fault::Http503) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unavailable. Please try again.",
        ),
        Some(Fault::DropConnection) => return Some(None),
        other => {
            x.lose_response = other == Some(Fault::LoseResponse);
            return None;
        }
    };
    Some(Some(x.error(status, code, message)))
}

/// Eventual consistency (what a change was before it; a bucket or user too new to be seen), and
/// AWS's validation that moto does not apply: tags, replication group rules, KMS keys.
pub(super) async fn validate(shared: &Shared, x: &mut Exchange) -> Step {
    let path = x.parts.uri.path().to_string();
    if let Some(r) = lag::refusal(shared, &x.service, &x.region, &x.op, &path, &x.form) {
        return Ok(Some(Reply::Answer(super::boxed(r))));
    }
    let lag_target = x
        .call
        .mutating
        .then(|| lag::target(&x.service, &x.op, &x.form, &x.bytes, &path))
        .flatten();
    x.lag_change = match lag_target {
        Some(t) if shared.consistency.needs_before(&x.region, &t) => {
            let before = lag::before(shared, &x.region, &t, x.auth()).await?;
            Some((t, Before::Fetched(before)))
        }
        Some(t) => Some((t, Before::Pending)),
        None => None,
    };
    let refusal = rules::tags(&x.service, &x.form, &x.bytes).or_else(|| {
        (x.service == "elasticache")
            .then(|| shared.replication_groups.refusal(&x.op, &x.form))
            .flatten()
    });
    if let Some((code, why)) = refusal {
        return x.bad_request(code, &why);
    }
    // RDS and ElastiCache keep a KMS key as its ARN, whatever form of it was sent.
    if x.service == "rds" || x.service == "elasticache" {
        match kms_keys_as_arns(shared, &x.region, &mut x.form).await? {
            Ok(changed) => x.form_changed = changed,
            Err(key) => {
                let code = if x.service == "rds" {
                    "KMSKeyNotAccessibleFault"
                } else {
                    "InvalidParameterValue"
                };
                let why =
                    format!("The specified KMS key {key} does not exist or is not accessible.");
                return x.bad_request(code, &why);
            }
        }
    }
    Ok(None)
}

/// What moto lacks, the gateway serves (Bedrock, Grafana, cache parameter groups).
pub(super) fn emulate(shared: &Shared, x: &mut Exchange) -> Option<Reply> {
    let req = emulated::Req {
        method: x.parts.method.as_str(),
        path: x.uri.path().to_string(),
        query: x.query(),
        form: &x.form,
        body: &x.bytes,
        region: &x.region,
    };
    let resp = shared
        .emulated
        .handle(&x.service, &x.op, &req, shared.slow.settings())?;
    let change = x.lag_change.take();
    let resp = lag::on_emulated(shared, &x.service, &x.region, &x.op, &req, change, resp);
    let resp = failed_emulated(shared, &x.service, &x.op, &x.form, resp);
    Some(Reply::Answer(super::boxed(resp)))
}

/// The request as moto gets it, forwarded; and what follows a call that succeeded.
pub(super) async fn forward_call(
    shared: &Shared,
    x: &mut Exchange,
) -> anyhow::Result<Response<Body>> {
    let body = match x.body.take() {
        Some(b) => b,
        None => match fidelity::request_body(x) {
            Some(b) => b,
            None if x.form_changed => {
                let form = std::mem::take(&mut x.form);
                let body = x.encoded_form(&form);
                x.form = form;
                body
            }
            None => full(x.bytes.clone()),
        },
    };
    let auth = x.auth();
    let kept = if x.service == "rds" {
        db_subnet_groups::before(shared, &x.op, &x.region, &x.form, auth.clone()).await?
    } else {
        None
    };
    let parts = std::mem::replace(&mut x.parts, Request::new(()).into_parts().0);
    let name_lock = creating_secret(shared, x);
    let one_at_a_time = match &name_lock {
        Some(lock) => Some(lock.lock().await),
        None => None,
    };
    let resp = forward(shared, Request::from_parts(parts, body)).await?;
    drop(one_at_a_time);
    if !resp.status().is_success() {
        return Ok(resp);
    }
    if let Some(kept) = kept {
        db_subnet_groups::after(shared, kept, &x.form, auth).await?;
    }
    kms_grants::after(shared, &x.service, &x.region, &x.op, &x.form).await?;
    fidelity::after_forward(shared, x).await?;
    Ok(resp)
}

/// The lock of the secret name a `CreateSecret` makes, if it is one.
fn creating_secret(
    shared: &Shared,
    x: &Exchange,
) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
    if x.service != "secretsmanager" || x.op != "CreateSecret" {
        return None;
    }
    let name = x.json_str("Name")?;
    let mut locks = shared.secret_creates.lock().expect("not poisoned");
    Some(locks.entry((x.region.clone(), name)).or_default().clone())
}

/// Whether the answer is read and rewritten (others stream through untouched).
fn needs_body(x: &Exchange) -> bool {
    let op = x.op.as_str();
    match x.service.as_str() {
        "elasticache" | "rds" | "aps" => true,
        "s3" if op == "GetBucketVersioning" => true,
        "secretsmanager" if matches!(op, "CreateSecret" | "DescribeSecret" | "DeleteSecret") => {
            true
        }
        "ec2" if matches!(op, "DescribeVpcEndpoints" | "ModifyVpcEndpoint") => true,
        "logs"
            if matches!(
                op,
                "DescribeLogGroups" | "CreateLogGroup" | "DeleteLogGroup"
            ) =>
        {
            true
        }
        "iam" if x.call.mutating => true,
        service => lag::reads_answer(service, op),
    }
}

/// Moto's answer as AWS would give it: the service's rewrites, then what every service shares
/// (the lag, failure states, overlays, slow resources), then the service's last word.
pub(super) async fn respond(
    shared: &Shared,
    x: &mut Exchange,
    resp: Response<Body>,
) -> anyhow::Result<Reply> {
    let success = resp.status().is_success();
    if !needs_body(x) {
        if success && x.call.mutating {
            let change = x.lag_change.take();
            let path = x.uri.path();
            lag::after(
                shared, &x.service, &x.region, &x.op, &x.form, path, change, "",
            );
        }
        return Ok(Reply::Answer(resp));
    }
    let (mut rparts, rbody) = resp.into_parts();
    let rbytes = rbody
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading moto's answer: {e}"))?
        .to_bytes();
    let mut text = String::from_utf8_lossy(&rbytes).into_owned();
    fidelity::answer_first(shared, x, success, &mut text).await?;
    if success {
        shared_answer(shared, x, &mut text);
    }
    if let Some(reply) = fidelity::answer_last(shared, x, success, &mut text).await? {
        return Ok(reply);
    }
    rparts.headers.remove("content-length");
    Ok(Reply::Answer(Response::from_parts(rparts, full(text))))
}

/// The rewrites every service's successful answer goes through.
fn shared_answer(shared: &Shared, x: &mut Exchange, text: &mut String) {
    let (service, region, op) = (x.service.as_str(), x.region.as_str(), x.op.as_str());
    if x.call.mutating {
        let change = x.lag_change.take();
        lag::after(
            shared,
            service,
            region,
            op,
            &x.form,
            x.uri.path(),
            change,
            text,
        );
    }
    let query = x.query();
    if let Some(t) = lag::list_view(shared, service, region, op, &x.form, &x.bytes, &query, text) {
        *text = t;
    }
    // Creations armed to fail, and what describes a failed resource.
    shared.failure_states.on_created(service, op, &x.form, text);
    if let Some(t) = shared.failure_states.on_response(service, text) {
        *text = t;
    }
    // What moto accepted: noted now, so a refused request changes nothing kept here.
    shared.overlays.accepted(service, region, op, &x.form);
    if let Some(t) = shared.overlays.on_response(service, region, op, text) {
        *text = t;
    }
    if let Some(t) = shared.slow.on_response(service, op, text) {
        *text = t;
    }
}
