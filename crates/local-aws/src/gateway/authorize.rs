//! The authorize stage: who signed the call (its principal, cached per access key), its identity
//! policies (cached until IAM changes), what the call needs (`authz::requirements`, plus what AWS
//! checks beyond: the secret's key, a service-linked role made on first use), and the denial AWS
//! gives when a need is not allowed.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::exchange::Exchange;
use super::{access_key, caller_arn, moto_json, moto_query, policies_of, scoped_auth, Shared};
use crate::iam::authz::{allowed, requirements, Denial, Needed, Principal, Req};
use crate::protocol::Protocol;

/// A principal, its ARN and its account.
type Who = (Principal, String, String);

/// The call's denial, if a need is not allowed; `None` for a call IAM lets through (or one
/// signed by the emulator's root, which IAM never judges).
pub(super) async fn authorize(
    shared: &Shared,
    x: &Exchange,
) -> anyhow::Result<Option<Response<Bytes>>> {
    let Some(key) = access_key(&x.parts) else {
        return Ok(None);
    };
    let Some((principal, arn, account)) = principal(shared, key, &x.region).await? else {
        return Ok(None);
    };
    let policies = policies(shared, &principal).await?;
    let json: Option<serde_json::Value> = x.json();
    let form = form_with_user(shared, x).await?;
    let path = x.parts.uri.path().to_string();
    let req = Req {
        service: &x.service,
        op: &x.op,
        region: &x.region,
        account: &account,
        form: &form,
        json: json.as_ref(),
        path: &path,
        query: x.parts.uri.query().unwrap_or(""),
    };
    let mut needs = requirements(&req);
    needs.extend(secret_key_need(shared, x, json.as_ref(), &account).await?);
    let make_role = linked_role_need(shared, x, &account, &mut needs).await?;
    let Some(missing) = needs
        .into_iter()
        .find(|n| !allowed(&policies, &n.action, &n.resource))
    else {
        if let Some((role, service_name)) = make_role {
            make_linked_role(shared, role, service_name).await?;
        }
        return Ok(None);
    };
    Ok(Some(denial(shared, x, arn, missing)))
}

/// The principal of an access key, asked of the emulator's STS once.
async fn principal(shared: &Shared, key: String, region: &str) -> anyhow::Result<Option<Who>> {
    let known = shared
        .authz
        .principals
        .lock()
        .expect("not poisoned")
        .get(&key)
        .cloned();
    if let Some(w) = known {
        return Ok(w);
    }
    let arn = caller_arn(shared, &key, region).await?;
    let account = arn.split(':').nth(4).unwrap_or_default().to_string();
    let principal = if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        Some(Principal::Role(
            rest.split('/').next().unwrap_or_default().to_string(),
        ))
    } else if arn.ends_with(":user/moto") {
        None
    } else {
        arn.split(":user/")
            .nth(1)
            .map(|u| Principal::User(u.rsplit('/').next().unwrap_or(u).to_string()))
    };
    let who = principal.map(|p| (p, arn, account));
    shared
        .authz
        .principals
        .lock()
        .expect("not poisoned")
        .insert(key, who.clone());
    Ok(who)
}

/// A principal's identity policies, read once until IAM changes.
async fn policies(
    shared: &Shared,
    principal: &Principal,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let cached = shared
        .authz
        .policies
        .lock()
        .expect("not poisoned")
        .get(principal)
        .cloned();
    if let Some(p) = cached {
        return Ok(p);
    }
    let p = policies_of(shared, principal).await?;
    shared
        .authz
        .policies
        .lock()
        .expect("not poisoned")
        .insert(principal.clone(), p.clone());
    Ok(p)
}

/// The form, with the key's user for `GetAccessKeyLastUsed`: it names only the key, and AWS
/// authorizes it on the key's user.
async fn form_with_user(shared: &Shared, x: &Exchange) -> anyhow::Result<Vec<(String, String)>> {
    let mut form = x.form.clone();
    if !x.is("iam", "GetAccessKeyLastUsed") {
        return Ok(form);
    }
    let id = x.param("AccessKeyId").unwrap_or_default();
    let auth = scoped_auth(&x.region, "iam");
    let (_, xml) = moto_query(
        shared,
        "iam",
        "GetAccessKeyLastUsed",
        &[("AccessKeyId", id)],
        auth,
    )
    .await?;
    if let Some(user) = crate::xml::text(&xml, "UserName") {
        form.push(("UserName".to_string(), user));
    }
    Ok(form)
}

/// Secrets Manager encrypts and decrypts a value with the secret's key as the caller.
async fn secret_key_need(
    shared: &Shared,
    x: &Exchange,
    json: Option<&serde_json::Value>,
    account: &str,
) -> anyhow::Result<Option<Needed>> {
    let op = x.op.as_str();
    if x.service != "secretsmanager" || !matches!(op, "PutSecretValue" | "GetSecretValue") {
        return Ok(None);
    }
    let Some(id) = json
        .and_then(|j| j.get("SecretId"))
        .and_then(|v| v.as_str())
    else {
        return Ok(None);
    };
    let (_, d) = moto_json(
        shared,
        &x.region,
        "secretsmanager",
        "secretsmanager.DescribeSecret",
        serde_json::json!({ "SecretId": id }),
    )
    .await?;
    let Some(k) = d.get("KmsKeyId").and_then(|k| k.as_str()) else {
        return Ok(None);
    };
    if k.contains("alias/aws/") {
        return Ok(None);
    }
    let action = if op == "PutSecretValue" {
        "kms:GenerateDataKey"
    } else {
        "kms:Decrypt"
    };
    let resource = if k.starts_with("arn:") {
        k.to_string()
    } else {
        format!("arn:aws:kms:{}:{account}:key/{k}", x.region)
    };
    Ok(Some(Needed {
        action: action.into(),
        resource,
    }))
}

/// The service's linked role, made on first use as the caller: its need added, and the role to
/// make once the call is allowed.
async fn linked_role_need(
    shared: &Shared,
    x: &Exchange,
    account: &str,
    needs: &mut Vec<Needed>,
) -> anyhow::Result<Option<(&'static str, &'static str)>> {
    let Some((role, service_name)) = crate::iam::authz::service_linked_role(&x.service, &x.op)
    else {
        return Ok(None);
    };
    let (status, _) = moto_query(
        shared,
        "iam",
        "GetRole",
        &[("RoleName", role)],
        scoped_auth("us-east-1", "iam"),
    )
    .await?;
    if status.is_success() {
        return Ok(None);
    }
    needs.push(Needed {
        action: "iam:CreateServiceLinkedRole".into(),
        resource: format!("arn:aws:iam::{account}:role/aws-service-role/{service_name}/{role}"),
    });
    Ok(Some((role, service_name)))
}

async fn make_linked_role(shared: &Shared, role: &str, service_name: &str) -> anyhow::Result<()> {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service_name },
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string();
    moto_query(
        shared,
        "iam",
        "CreateRole",
        &[
            ("RoleName", role),
            ("Path", &format!("/aws-service-role/{service_name}/")),
            ("AssumeRolePolicyDocument", &trust),
        ],
        scoped_auth("us-east-1", "iam"),
    )
    .await?;
    Ok(())
}

/// AWS's denial in the service's shape, recorded.
fn denial(shared: &Shared, x: &Exchange, arn: String, missing: Needed) -> Response<Bytes> {
    let message = format!(
        "User: {arn} is not authorized to perform: {} on resource: {} because no identity-based policy allows the {} action",
        missing.action, missing.resource, missing.action
    );
    shared.authz.deny(Denial {
        principal: arn,
        action: missing.action,
        resource: missing.resource,
    });
    let (status, code) = match x.protocol {
        Protocol::Query | Protocol::RestXml => (StatusCode::FORBIDDEN, "AccessDenied"),
        Protocol::Ec2 => (StatusCode::FORBIDDEN, "UnauthorizedOperation"),
        Protocol::Json => (StatusCode::BAD_REQUEST, "AccessDeniedException"),
        Protocol::RestJson => (StatusCode::FORBIDDEN, "AccessDeniedException"),
    };
    x.protocol.error(status, code, &message)
}
