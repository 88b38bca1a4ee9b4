//! ElastiCache's hooks: a replication group's name taken again once AWS removed the group (see
//! `incarnations`), busy groups (made busy by a creation or modification, refused while busy), cache subnet groups modified and deleted as AWS does (moto can do
//! neither), the replication-group calls moto answers otherwise, and answers led to the local data
//! plane.

use http::StatusCode;

use super::super::exchange::{answer, answer_bytes, Exchange, Step};
use super::super::{deleted_after, moto_query, Body, Shared, ELASTICACHE, ELASTICACHE_NS};
use crate::fixes;
use crate::protocol::query_ok;

/// A request naming a recreated group is rewritten to moto's id of it; the answer is named back
/// when the call ends (`ELASTICACHE`).
pub(in crate::gateway) fn rename_incarnations(shared: &Shared, x: &mut Exchange) {
    if x.service != "elasticache" {
        return;
    }
    let after = deleted_after(shared);
    let gone = |id: &str| shared.replication_groups.gone(id, after);
    if shared.incarnations.on_request(&x.op, &mut x.form, gone) {
        let form = std::mem::take(&mut x.form);
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        x.form = form;
        x.bytes = bytes::Bytes::from(encoded);
        x.parts.headers.remove("content-length");
    }
    ELASTICACHE.with(|e| e.set(true));
}

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    // A modification of a busy group is refused, as AWS does.
    if let Some((code, why)) = shared.slow.refusal(&x.service, &x.op, &x.form) {
        return x.bad_request(code, &why);
    }
    // A creation or modification makes the group busy for a while.
    shared.slow.on_request(&x.service, &x.op, &x.form);
    if x.op == "ModifyCacheSubnetGroup" {
        return modify_cache_subnet_group(shared, x).await;
    }
    let call = super::super::replication_group_call(shared, &x.op, &x.form, &x.region, x.auth());
    match call.await? {
        Some(resp) => answer(resp),
        None => Ok(None),
    }
}

/// Moto cannot modify a cache subnet group: the gateway keeps the change and answers with it.
async fn modify_cache_subnet_group(shared: &Shared, x: &mut Exchange) -> Step {
    let name = x
        .param("CacheSubnetGroupName")
        .unwrap_or_default()
        .to_string();
    let (_, found) = moto_query(
        shared,
        "elasticache",
        "DescribeCacheSubnetGroups",
        &[("CacheSubnetGroupName", &name)],
        x.auth(),
    )
    .await?;
    let Some(group) = crate::xml::inner(&found, "CacheSubnetGroup").map(str::to_string) else {
        return answer(x.error(
            StatusCode::NOT_FOUND,
            "CacheSubnetGroupNotFoundFault",
            &format!("CacheSubnetGroup {name} not found."),
        ));
    };
    shared
        .overlays
        .modify_cache_subnet_group(&x.region, &x.form);
    let block = format!("<CacheSubnetGroup>{group}</CacheSubnetGroup>");
    let block = shared
        .overlays
        .on_response(
            "elasticache",
            &x.region,
            "DescribeCacheSubnetGroups",
            &block,
        )
        .unwrap_or(block);
    answer_bytes(query_ok(&x.op, ELASTICACHE_NS, &block))
}

/// `NumCacheClusters = N` asked of moto as `ReplicasPerNodeGroup`, so that the group has N members
/// as on AWS (see `fixes::num_cache_clusters`).
pub(super) fn request_body(x: &mut Exchange) -> Option<Body> {
    if x.op != "CreateReplicationGroup" || !fixes::num_cache_clusters(&mut x.form) {
        return None;
    }
    let form = std::mem::take(&mut x.form);
    let body = x.encoded_form(&form);
    x.form = form;
    Some(body)
}

pub(super) fn answer_first(shared: &Shared, x: &Exchange, text: &mut String) {
    *text = shared
        .replication_groups
        .on_response(text, deleted_after(shared));
    if let Some(t) = fixes::elasticache_region(text, &x.region) {
        *text = t;
    }
    if let Some(host) = super::super::data_plane_host(shared) {
        *text = fixes::rebind_hosts(text, ".cache.amazonaws.com", &host);
    }
    // A listing of every subnet group leaves out the deleted ones, as a lookup by name does.
    if x.op == "DescribeCacheSubnetGroups" {
        *text = shared.replication_groups.hide_deleted_subnet_groups(text);
    }
}
