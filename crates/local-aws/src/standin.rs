//! A stand-in for the infrastructure layer inside the emulator: a VPC, isolated and private
//! subnets in three availability zones, the three KMS keys, the S3 gateway endpoint, the VPC
//! endpoint security group and the Prometheus log group, all tagged so that discovery finds them
//! the way it finds the real layer.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification, VpcEndpointType};
use aws_types::SdkConfig;

/// The tags that mark the stand-in, matching `[infrastructure] discover_tags` of `local.toml`.
pub const TAGS: [(&str, &str); 2] = [("Layer", "infrastructure"), ("Environment", "local")];

/// The VPC's CIDR block.
pub const VPC_CIDR: &str = "10.42.0.0/16";

fn tag_spec(kind: ResourceType, name: &str, extra: &[(&str, &str)]) -> TagSpecification {
    let mut b = TagSpecification::builder()
        .resource_type(kind)
        .tags(Tag::builder().key("Name").value(name).build());
    for (k, v) in TAGS.iter().chain(extra) {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
    }
    b.build()
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
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "eu-central-2".into());
    let mut filters = Vec::new();
    for (k, v) in TAGS {
        filters.push(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{k}"))
                .values(v)
                .build(),
        );
    }
    let existing = ec2
        .describe_vpcs()
        .set_filters(Some(filters))
        .send()
        .await
        .map_err(err("DescribeVpcs"))?;
    if !existing.vpcs().is_empty() {
        return Ok(false);
    }
    let vpc = ec2
        .create_vpc()
        .cidr_block(VPC_CIDR)
        .tag_specifications(tag_spec(ResourceType::Vpc, "local-infrastructure", &[]))
        .send()
        .await
        .map_err(err("CreateVpc"))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .unwrap_or_default()
        .to_string();
    for (i, az) in ["a", "b", "c"].iter().enumerate() {
        for (tier, base) in [("isolated", 0), ("private", 10)] {
            ec2.create_subnet()
                .vpc_id(&vpc_id)
                .cidr_block(format!("10.42.{}.0/24", base + i))
                .availability_zone(format!("{region}{az}"))
                .tag_specifications(tag_spec(
                    ResourceType::Subnet,
                    &format!("local-{tier}-{az}"),
                    &[("Tier", tier)],
                ))
                .send()
                .await
                .map_err(err("CreateSubnet"))?;
        }
    }
    ec2.create_security_group()
        .vpc_id(&vpc_id)
        .group_name("local-vpc-endpoints")
        .description("VPC interface endpoints (local stand-in)")
        .tag_specifications(tag_spec(
            ResourceType::SecurityGroup,
            "local-vpc-endpoints",
            &[("Purpose", "vpc-endpoints")],
        ))
        .send()
        .await
        .map_err(err("CreateSecurityGroup"))?;
    let rt = ec2
        .create_route_table()
        .vpc_id(&vpc_id)
        .tag_specifications(tag_spec(ResourceType::RouteTable, "local-isolated", &[]))
        .send()
        .await
        .map_err(err("CreateRouteTable"))?;
    ec2.create_vpc_endpoint()
        .vpc_id(&vpc_id)
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .service_name(format!("com.amazonaws.{region}.s3"))
        .route_table_ids(
            rt.route_table()
                .and_then(|r| r.route_table_id())
                .unwrap_or_default(),
        )
        .tag_specifications(tag_spec(ResourceType::VpcEndpoint, "local-s3-gateway", &[]))
        .send()
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
