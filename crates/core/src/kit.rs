//! The resource author's kit: what every family's resources would otherwise each write again.
//! The one AWS error constructor is [`crate::Error::aws_on`]; this module holds the rest:
//! [`arn_tags!`](crate::arn_tags), the tag calls of the services that tag by ARN.

/// The tag functions of a service that reads and changes tags by ARN with
/// `ListTagsForResource`, `AddTagsToResource` and `RemoveTagsFromResource` (RDS, ElastiCache), for
/// a family's `tags` module: `sdk` (ours as the SDK's), `from_sdk`, `read` (by ARN) and
/// `converge` (stale keys removed, then the desired ones set).
///
/// ```ignore
/// layer_core::arn_tags!(aws_sdk_rds, "rds");
/// ```
#[macro_export]
macro_rules! arn_tags {
    ($sdk:ident, $service:literal) => {
        /// Our tags as the SDK's.
        pub(crate) fn sdk(tags: &$crate::Tags) -> Vec<$sdk::types::Tag> {
            tags.iter()
                .map(|(k, v)| $sdk::types::Tag::builder().key(k).value(v).build())
                .collect()
        }

        /// The SDK's tags as ours (a tag without a key or value is dropped).
        pub(crate) fn from_sdk(tags: &[$sdk::types::Tag]) -> $crate::Tags {
            tags.iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect()
        }

        /// The tags of the resource `arn`.
        pub(crate) async fn read(client: &$sdk::Client, arn: &str) -> $crate::Result<$crate::Tags> {
            let out = client
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
                .await
                .map_err(|e| $crate::Error::aws_on($service, "ListTagsForResource", arn, &e))?;
            Ok(from_sdk(out.tag_list()))
        }

        /// Make the tags of `arn` the desired ones: keys no longer desired removed first.
        pub(crate) async fn converge(
            client: &$sdk::Client,
            arn: &str,
            observed: &$crate::Tags,
            desired: &$crate::Tags,
        ) -> $crate::Result<()> {
            let stale = $crate::tags::stale_keys(observed, desired);
            if !stale.is_empty() {
                client
                    .remove_tags_from_resource()
                    .resource_name(arn)
                    .set_tag_keys(Some(stale))
                    .send()
                    .await
                    .map_err(|e| {
                        $crate::Error::aws_on($service, "RemoveTagsFromResource", arn, &e)
                    })?;
            }
            client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(sdk(desired)))
                .send()
                .await
                .map_err(|e| $crate::Error::aws_on($service, "AddTagsToResource", arn, &e))?;
            Ok(())
        }
    };
}
