//! RDS tags: read by ARN, converged by adding and removing keys.

use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::Tag;
use aws_sdk_rds::Client;
use layer_core::{Error, Result, Tags};

pub(crate) fn aws_err<E: ProvideErrorMetadata + std::error::Error>(
    op: &str,
    name: &str,
    e: &E,
) -> Error {
    Error::aws(format!("rds:{op} on {name}"), e)
}

pub(crate) fn sdk(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

pub(crate) fn from_sdk(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

pub(crate) async fn read(client: &Client, arn: &str) -> Result<Tags> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| aws_err("ListTagsForResource", arn, &e))?;
    Ok(from_sdk(out.tag_list()))
}

pub(crate) async fn converge(
    client: &Client,
    arn: &str,
    observed: &Tags,
    desired: &Tags,
) -> Result<()> {
    let stale = layer_core::tags::stale_keys(observed, desired);
    if !stale.is_empty() {
        client
            .remove_tags_from_resource()
            .resource_name(arn)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|e| aws_err("RemoveTagsFromResource", arn, &e))?;
    }
    client
        .add_tags_to_resource()
        .resource_name(arn)
        .set_tags(Some(sdk(desired)))
        .send()
        .await
        .map_err(|e| aws_err("AddTagsToResource", arn, &e))?;
    Ok(())
}
