//! `ModifyDBSubnetGroup` as AWS carries it out: the group keeps its name, description and tags
//! with its new subnets. moto takes the group out of its records and never puts it back, so the
//! gateway reads what the group carries first and makes it again, under the same name, once moto
//! has answered. Found by reading drift repair back (`tests/e2e/read_back.rs`): without it a
//! subnet change by hand looked like a deleted group.

use super::{moto_query, Shared};
use crate::emulated::ACCOUNT;

/// What a DB subnet group carries besides its subnets.
pub(super) struct Kept {
    name: String,
    description: String,
    tags: Vec<(String, String)>,
}

fn get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Before a `ModifyDBSubnetGroup` reaches moto: the group's description and tags.
pub(super) async fn before(
    shared: &Shared,
    op: &str,
    region: &str,
    form: &[(String, String)],
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<Option<Kept>> {
    let Some(name) = get(form, "DBSubnetGroupName").filter(|_| op == "ModifyDBSubnetGroup") else {
        return Ok(None);
    };
    let params = [("DBSubnetGroupName", name)];
    let (status, described) = moto_query(
        shared,
        "rds",
        "DescribeDBSubnetGroups",
        &params,
        auth.clone(),
    )
    .await?;
    if !status.is_success() {
        return Ok(None);
    }
    let arn = format!("arn:aws:rds:{region}:{ACCOUNT}:subgrp:{name}");
    let params = [("ResourceName", arn.as_str())];
    let (_, tagged) = moto_query(shared, "rds", "ListTagsForResource", &params, auth).await?;
    let mut tags = Vec::new();
    let _ = crate::xml::map_members(&tagged, "Tag", |t| {
        tags.push((crate::xml::text(t, "Key")?, crate::xml::text(t, "Value")?));
        None
    });
    Ok(Some(Kept {
        name: name.to_string(),
        description: crate::xml::text(&described, "DBSubnetGroupDescription").unwrap_or_default(),
        tags,
    }))
}

/// Once moto accepted the change: the group made again with its new subnets and what it kept.
pub(super) async fn after(
    shared: &Shared,
    kept: Kept,
    form: &[(String, String)],
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<()> {
    let description = get(form, "DBSubnetGroupDescription").unwrap_or(&kept.description);
    let mut params: Vec<(String, String)> = vec![
        ("DBSubnetGroupName".into(), kept.name.clone()),
        ("DBSubnetGroupDescription".into(), description.to_string()),
    ];
    let subnets = form.iter().filter(|(k, _)| k.starts_with("SubnetIds."));
    params.extend(subnets.cloned());
    for (i, (k, v)) in kept.tags.iter().enumerate() {
        params.push((format!("Tags.Tag.{}.Key", i + 1), k.clone()));
        params.push((format!("Tags.Tag.{}.Value", i + 1), v.clone()));
    }
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, text) = moto_query(shared, "rds", "CreateDBSubnetGroup", &params, auth).await?;
    anyhow::ensure!(
        status.is_success(),
        "making DB subnet group {} again after its modification: {text}",
        kept.name
    );
    Ok(())
}
