//! Discovery of the infrastructure layer's outputs by tags: the VPC, its subnets by `Tier`
//! (`isolated`, `private`), the endpoint security group (`Purpose = vpc-endpoints`), the S3
//! gateway endpoint of the VPC, the KMS keys by `Purpose` (`general`, `logs`, `secrets`) and the
//! Prometheus log group (`Purpose = prometheus`); and, for Grafana, the VPC's `aps-workspaces`
//! interface endpoint. Read-only calls only.

use aws_types::SdkConfig;
use ec2_query::Filter;
use layer_core::config::InfrastructureInputs;
use layer_core::{Error, Result, Tags};

fn filters(tags: &Tags, extra: &[(&str, &str)]) -> Vec<Filter> {
    tags.iter()
        .map(|(k, v)| (format!("tag:{k}"), v.clone()))
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .map(|(k, v)| Filter::new(k, v))
        .collect()
}

fn matches(found: &Tags, wanted: &Tags, purpose: &str) -> bool {
    wanted.iter().all(|(k, v)| found.get(k) == Some(v))
        && found.get("Purpose").map(String::as_str) == Some(purpose)
}

/// The permissions of [`discover`]: EC2's Describe actions (which support no resource-level
/// permissions), the KMS keys of the account and region (each read to find its tags), the log
/// groups (to find the Prometheus one).
pub fn access() -> Vec<layer_core::access::Access> {
    use layer_core::access::{arn, Access, Need};
    vec![
        Access::unscoped(
            Need::Observe,
            "Ec2Read",
            &[
                "ec2:DescribeVpcs",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcEndpoints",
            ],
            "EC2's Describe actions support no resource-level permissions",
        ),
        Access::unscoped(
            Need::Observe,
            "KmsList",
            &["kms:ListKeys"],
            "kms:ListKeys supports no resource-level permissions",
        ),
        Access::new(
            Need::Observe,
            "KmsDiscovery",
            &["kms:DescribeKey", "kms:ListResourceTags"],
            [arn("kms", "key/*")],
        ),
        Access::new(
            Need::Observe,
            "LogGroups",
            &["logs:DescribeLogGroups"],
            [arn("logs", "log-group:*")],
        ),
        Access::new(
            Need::Observe,
            "LogGroupDiscovery",
            &["logs:ListTagsForResource"],
            [arn("logs", "log-group:/aws/vendedlogs/prometheus*")],
        ),
    ]
}

/// Discover whatever the infrastructure layer's tags lead to. Missing pieces stay `None`; the
/// caller reports them all at once.
pub async fn discover(sdk: &SdkConfig, region: &str, tags: &Tags) -> Result<InfrastructureInputs> {
    let ec2 = ec2_query::Client::new(sdk);
    let mut found = InfrastructureInputs::default();
    let vpcs = ec2.describe_vpcs(&filters(tags, &[])).await.map_err(|e| {
        Error::aws(
            "ec2:DescribeVpcs (discovering the infrastructure layer)",
            &e,
        )
    })?;
    match vpcs.as_slice() {
        [] => {}
        [vpc] => {
            found.vpc_id = Some(vpc.id.clone());
            found.vpc_cidr = Some(vpc.cidr_block.clone());
        }
        many => {
            return Err(Error::Config(format!(
                "{} VPCs carry the infrastructure tags {tags:?}; set `infrastructure.vpc_id` to choose one",
                many.len()
            )))
        }
    }
    let Some(vpc_id) = found.vpc_id.clone() else {
        return Ok(found);
    };
    let subnets = ec2
        .describe_subnets(&filters(tags, &[("vpc-id", &vpc_id)]))
        .await
        .map_err(|e| Error::aws("ec2:DescribeSubnets", &e))?;
    let tier = |t: &str| -> Option<Vec<String>> {
        let mut ids: Vec<String> = subnets
            .iter()
            .filter(|s| s.tags.get("Tier").map(String::as_str) == Some(t))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        (!ids.is_empty()).then_some(ids)
    };
    found.isolated_subnet_ids = tier("isolated");
    found.private_subnet_ids = tier("private");
    let sgs = ec2
        .describe_security_groups(
            &filters(
                tags,
                &[("vpc-id", &vpc_id), ("tag:Purpose", "vpc-endpoints")],
            ),
            &[],
        )
        .await
        .map_err(|e| Error::aws("ec2:DescribeSecurityGroups", &e))?;
    found.vpc_endpoint_security_group_id = sgs.first().map(|g| g.id.clone());
    let gateway = [
        Filter::new("vpc-id", &vpc_id),
        Filter::new("service-name", format!("com.amazonaws.{region}.s3")),
        Filter::new("vpc-endpoint-type", "Gateway"),
    ];
    let endpoints = ec2
        .describe_vpc_endpoints(&gateway, &[])
        .await
        .map_err(|e| Error::aws("ec2:DescribeVpcEndpoints", &e))?;
    found.s3_gateway_endpoint_id = endpoints.first().map(|e| e.id.clone());

    let kms = aws_sdk_kms::Client::new(sdk);
    let mut key_ids: Vec<(String, String)> = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = kms
            .list_keys()
            .limit(1000)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| Error::aws("kms:ListKeys", &e))?;
        key_ids.extend(
            page.keys()
                .iter()
                .filter_map(|k| Some((k.key_id()?.to_string(), k.key_arn()?.to_string()))),
        );
        match page.next_marker() {
            Some(m) if page.truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let mut candidates: Vec<(&str, Vec<String>)> = vec![
        ("general", Vec::new()),
        ("logs", Vec::new()),
        ("secrets", Vec::new()),
    ];
    // Keys we may not read the tags of (a key policy that shuts IAM out) are not the layer's,
    // but if no key is found, the refusal is the likelier reason, and is named.
    let mut refused: Option<String> = None;
    for (id, arn) in &key_ids {
        let t = match kms.list_resource_tags().key_id(id).send().await {
            Ok(t) => t,
            Err(e) => {
                use aws_sdk_kms::error::ProvideErrorMetadata as _;
                if e.code().is_some_and(|c| c.contains("AccessDenied")) {
                    refused = Some(format!(
                        "kms:ListResourceTags on {arn}: {}",
                        e.message().unwrap_or("AccessDenied")
                    ));
                }
                continue;
            }
        };
        let key_tags: Tags = t
            .tags()
            .iter()
            .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
            .collect();
        let purposes: Vec<usize> = (0..candidates.len())
            .filter(|&i| matches(&key_tags, tags, candidates[i].0))
            .collect();
        if purposes.is_empty() {
            continue;
        }
        // A key pending deletion (or disabled) is not the infrastructure layer's key any more.
        let state = kms
            .describe_key()
            .key_id(id)
            .send()
            .await
            .map_err(|e| Error::aws(format!("kms:DescribeKey on {arn}"), &e))?
            .key_metadata()
            .and_then(|m| m.key_state().cloned());
        if state != Some(aws_sdk_kms::types::KeyState::Enabled) {
            continue;
        }
        for i in purposes {
            candidates[i].1.push(arn.clone());
        }
    }
    if let Some(why) = refused.filter(|_| candidates.iter().any(|(_, a)| a.is_empty())) {
        return Err(Error::Other(format!(
            "discovering the infrastructure layer's KMS keys: {why}; allow kms:ListResourceTags on the account's keys (`iam-policy <env>` prints the policy) or set the `*_kms_key_arn` inputs under [infrastructure]"
        )));
    }
    for ((purpose, arns), slot) in candidates.into_iter().zip([
        &mut found.general_kms_key_arn,
        &mut found.logs_kms_key_arn,
        &mut found.secrets_kms_key_arn,
    ]) {
        match arns.as_slice() {
            [] => {}
            [one] => *slot = Some(one.clone()),
            many => {
                return Err(Error::Config(format!(
                    "discovery found {} enabled KMS keys tagged Purpose = {purpose} with {:?}: {}; set `{purpose}_kms_key_arn` under [infrastructure] to the one this layer uses",
                    many.len(),
                    tags,
                    many.join(", ")
                )))
            }
        }
    }

    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    // Every page: an account can hold more groups under the prefix than one page shows.
    let mut groups = Vec::new();
    let mut token = None;
    loop {
        let page = logs
            .describe_log_groups()
            .log_group_name_prefix("/aws/vendedlogs/prometheus")
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| Error::aws("logs:DescribeLogGroups", &e))?;
        groups.extend(page.log_groups().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    for g in &groups {
        let Some(arn) = g.arn() else { continue };
        let arn = arn.trim_end_matches(":*").to_string();
        let t = match logs
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
        {
            Ok(t) => t,
            Err(e) => {
                use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata as _;
                if e.code().is_some_and(|c| c.contains("AccessDenied")) {
                    return Err(Error::Other(format!(
                        "discovering the infrastructure layer's Prometheus log group: logs:ListTagsForResource on {arn}: {}; allow it (`iam-policy <env>` prints the policy) or set `prometheus_log_group_arn` under [infrastructure]",
                        e.message().unwrap_or("AccessDenied")
                    )));
                }
                continue;
            }
        };
        let group_tags: Tags = t
            .tags()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if matches(&group_tags, tags, "prometheus") {
            found.prometheus_log_group_arn = Some(arn);
            break;
        }
    }
    Ok(found)
}

/// With Grafana on, the advice to give when the VPC has no `aps-workspaces` interface endpoint:
/// Grafana runs in the private subnets and its security group reaches only the VPC, so it
/// queries Prometheus through that endpoint or not at all. `None` when the endpoint is there.
pub async fn grafana_prometheus_advice(
    sdk: &SdkConfig,
    region: &str,
    vpc_id: &str,
) -> Result<Option<String>> {
    let ec2 = ec2_query::Client::new(sdk);
    let service = format!("com.amazonaws.{region}.aps-workspaces");
    let interface = [
        Filter::new("vpc-id", vpc_id),
        Filter::new("service-name", &service),
        Filter::new("vpc-endpoint-type", "Interface"),
    ];
    let found = ec2
        .describe_vpc_endpoints(&interface, &[])
        .await
        .map_err(|e| Error::aws("ec2:DescribeVpcEndpoints", &e))?;
    let usable = found.iter().any(|e| {
        !matches!(
            e.state.as_str(),
            "deleting" | "deleted" | "rejected" | "failed" | "expired"
        )
    });
    Ok((!usable).then(|| {
        format!(
            "the infrastructure layer's VPC {vpc_id} has no `{service}` interface endpoint: Grafana runs in the private subnets and reaches only the VPC, so it cannot query Managed Prometheus; add the endpoint (private DNS on) to the infrastructure layer, or set `[monitoring] enable_managed_grafana = false`"
        )
    }))
}
