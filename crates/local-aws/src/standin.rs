//! A stand-in for the infrastructure layer inside the emulator: a VPC, isolated and private
//! subnets in three availability zones, the three KMS keys, the S3 gateway endpoint, the VPC
//! endpoint security group and the Prometheus log group, all tagged so that discovery finds them
//! the way it finds the real layer.

use aws_types::SdkConfig;

/// The tags that mark the stand-in, matching `[infrastructure] discover_tags` of `local.toml`.
pub const TAGS: [(&str, &str); 2] = [("Layer", "infrastructure"), ("Environment", "local")];

/// The VPC's CIDR block.
pub const VPC_CIDR: &str = "10.42.0.0/16";

/// A stand-in resource's tags: its `Name`, the stand-in's marks and any others.
fn tags<'a>(name: &'a str, extra: &'a [(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    [("Name", name)]
        .into_iter()
        .chain(TAGS)
        .chain(extra.iter().copied())
        .collect()
}

fn err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> anyhow::Error {
    move |e| {
        anyhow::anyhow!(
            "{what}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        )
    }
}

/// A client configuration for the local endpoint with static keys.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(layer_core::aws::https_client())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::from_keys(
            "local", "local", None,
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// Create the stand-in unless it exists. Returns whether it was created now.
pub async fn ensure(sdk: &SdkConfig) -> anyhow::Result<bool> {
    let ec2 = ec2_query::Client::new(sdk);
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "eu-central-2".into());
    let marks: Vec<ec2_query::Filter> = TAGS
        .iter()
        .map(|(k, v)| ec2_query::Filter::new(format!("tag:{k}"), *v))
        .collect();
    let existing = ec2
        .describe_vpcs(&marks)
        .await
        .map_err(err("DescribeVpcs"))?;
    if !existing.is_empty() {
        return Ok(false);
    }
    let vpc_id = ec2
        .create_vpc(VPC_CIDR, tags("local-infrastructure", &[]))
        .await
        .map_err(err("CreateVpc"))?;
    for (i, az) in ["a", "b", "c"].iter().enumerate() {
        for (tier, base) in [("isolated", 0), ("private", 10)] {
            let name = format!("local-{tier}-{az}");
            ec2.create_subnet(
                &vpc_id,
                &format!("10.42.{}.0/24", base + i),
                &format!("{region}{az}"),
                tags(&name, &[("Tier", tier)]),
            )
            .await
            .map_err(err("CreateSubnet"))?;
        }
    }
    ec2.create_security_group(
        "local-vpc-endpoints",
        "VPC interface endpoints (local stand-in)",
        &vpc_id,
        tags("local-vpc-endpoints", &[("Purpose", "vpc-endpoints")]),
    )
    .await
    .map_err(err("CreateSecurityGroup"))?;
    let route_table = ec2
        .create_route_table(&vpc_id, tags("local-isolated", &[]))
        .await
        .map_err(err("CreateRouteTable"))?;
    let gateway = ec2_query::NewVpcEndpoint {
        kind: "Gateway",
        vpc_id: &vpc_id,
        service_name: &format!("com.amazonaws.{region}.s3"),
        route_table_ids: vec![route_table],
        tags: tags("local-s3-gateway", &[])
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    ec2.create_vpc_endpoint(&gateway)
        .await
        .map_err(err("CreateVpcEndpoint"))?;

    let kms = aws_sdk_kms::Client::new(sdk);
    for purpose in ["general", "logs", "secrets"] {
        let mut req = kms
            .create_key()
            .description(format!("local stand-in: {purpose} key"));
        for (k, v) in TAGS.iter().chain(&[("Purpose", purpose)]) {
            req = req.tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key(*k)
                    .tag_value(*v)
                    .build()
                    .map_err(err("KMS tag"))?,
            );
        }
        let key = req.send().await.map_err(err("CreateKey"))?;
        let key_id = key.key_metadata().map(|m| m.key_id()).unwrap_or_default();
        kms.create_alias()
            .alias_name(format!("alias/local-{purpose}"))
            .target_key_id(key_id)
            .send()
            .await
            .map_err(err("CreateAlias"))?;
    }

    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let mut tags = std::collections::HashMap::new();
    for (k, v) in TAGS.iter().chain(&[("Purpose", "prometheus")]) {
        tags.insert(k.to_string(), v.to_string());
    }
    logs.create_log_group()
        .log_group_name("/aws/vendedlogs/prometheus/local")
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(err("CreateLogGroup"))?;
    Ok(true)
}
