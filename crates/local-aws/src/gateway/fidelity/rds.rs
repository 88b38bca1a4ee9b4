//! RDS's hooks: what AWS refuses that moto accepts (a cluster deleted moments ago still
//! `deleting`, a second `CreateDBCluster`, the managed master secret's key, Performance
//! Insights, a cluster with members), busy resources, parameters paged as AWS pages them, the
//! failover's old writer, and answers led to the local data plane.

use super::super::exchange::{answer_bytes, Exchange, Reply, Step};
use super::super::{describe_cluster, Body, Shared, RDS_NS};
use crate::{cluster_parameters, fixes};

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    // A cluster deleted moments ago is still `deleting` on AWS, and its name still taken.
    match shared.leaving_clusters.answer(&x.op, &x.form) {
        Some(crate::leaving_clusters::Answer::Described(inner)) => {
            return answer_bytes(crate::protocol::query_ok(&x.op, RDS_NS, &inner));
        }
        Some(crate::leaving_clusters::Answer::Refused(code, why)) => {
            return x.bad_request(code, &why)
        }
        None => {}
    }
    if let Some(reply) = refusal(shared, x).await? {
        return Ok(Some(reply));
    }
    if x.op == "DescribeDBClusterParameters" {
        match cluster_parameters::page_of(&x.form) {
            Ok(p) => x.notes.parameter_page = Some(p),
            Err(msg) => return x.refuse("InvalidParameterValue", &msg),
        }
    }
    // A modification of a busy resource is refused, as AWS does.
    if let Some((code, why)) = shared.slow.refusal(&x.service, &x.op, &x.form) {
        return x.bad_request(code, &why);
    }
    // A failover leaves the old writer rebooting: which one it is, before moto moves it.
    if x.op == "FailoverDBCluster" {
        let id = x
            .param("DBClusterIdentifier")
            .unwrap_or_default()
            .to_string();
        x.notes.old_writer = describe_cluster(shared, &id, x.auth())
            .await
            .and_then(|d| fixes::cluster_writer(&d))
            .map(|w| (id, w));
    }
    shared.slow.on_request(&x.service, &x.op, &x.form);
    shared.performance_insights.on_request(&x.op, &x.form);
    Ok(None)
}

/// What AWS refuses and moto accepts.
async fn refusal(shared: &Shared, x: &Exchange) -> Step {
    let id = x
        .param("DBClusterIdentifier")
        .unwrap_or_default()
        .to_string();
    match x.op.as_str() {
        // A retry whose first answer was lost gets AWS's answer; moto trips over the automated
        // snapshot of the first.
        "CreateDBCluster" if describe_cluster(shared, &id, x.auth()).await.is_some() => {
            return x.bad_request("DBClusterAlreadyExistsFault", "DB Cluster already exists");
        }
        // AWS cannot change the key of a master secret it already manages; moto can.
        "ModifyDBCluster" => {
            let named = x.param("DBClusterIdentifier").is_some();
            if let Some(key) = x.param("MasterUserSecretKmsKeyId").filter(|_| named) {
                let current = describe_cluster(shared, &id, x.auth()).await.and_then(|d| {
                    crate::xml::inner(&d, "MasterUserSecret")
                        .and_then(|m| crate::xml::text(m, "KmsKeyId"))
                });
                if current.is_some_and(|c| c != key) {
                    return x.refuse("InvalidParameterCombination", "You can't change the KMS key of the secret that manages the master user password. To use another key, turn off ManageMasterUserPassword first.");
                }
            }
        }
        _ => {}
    }
    if let Some(why) = shared.performance_insights.refusal(&x.op, &x.form) {
        return x.refuse("InvalidParameterCombination", why);
    }
    if x.op == "DeleteDBCluster" {
        if let Some(msg) = fixes::delete_db_cluster(&x.form) {
            return x.refuse("InvalidParameterCombination", msg);
        }
        if super::super::cluster_has_members(shared, &id, x.auth()).await {
            return x.refuse(
                "InvalidDBClusterStateFault",
                "Cluster cannot be deleted, it still contains DB instances in non-deleting state.",
            );
        }
    }
    Ok(None)
}

/// The gateway pages the family's parameters itself; moto gets the group's name only.
pub(super) fn request_body(x: &mut Exchange) -> Option<Body> {
    if x.op != "DescribeDBClusterParameters" {
        return None;
    }
    let kept: Vec<(String, String)> = x
        .form
        .iter()
        .filter(|(k, _)| !cluster_parameters::PAGING_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    Some(x.encoded_form(&kept))
}

pub(super) async fn after_forward(shared: &Shared, x: &Exchange) -> anyhow::Result<()> {
    if let Some((cluster, writer)) = &x.notes.old_writer {
        shared.slow.failed_over(cluster, writer);
    }
    if x.op == "DeleteDBCluster" {
        let id = x.param("DBClusterIdentifier").unwrap_or_default();
        super::super::drop_automated_snapshots(shared, id, x.auth()).await?;
    }
    Ok(())
}

pub(super) async fn answer_first(
    shared: &Shared,
    x: &Exchange,
    text: &mut String,
) -> anyhow::Result<()> {
    if x.op == "DeleteDBCluster" {
        let after = super::super::deleted_after(shared);
        shared.leaving_clusters.on_deleted(text, after);
    }
    if let Some(host) = super::super::data_plane_host(shared) {
        let rotate = x.param("RotateMasterUserPassword") == Some("true");
        if x.op == "CreateDBCluster" || (x.op == "ModifyDBCluster" && rotate) {
            super::super::set_master_password(shared, &x.region, text).await?;
        }
        *text = fixes::rebind_hosts(text, ".rds.amazonaws.com", &host);
    }
    Ok(())
}

pub(super) fn answer_last(shared: &Shared, x: &Exchange, text: &mut String) -> Option<Reply> {
    if let Some(t) = shared.performance_insights.on_response(text) {
        *text = t;
    }
    let page = x.notes.parameter_page.as_ref()?;
    let inner = cluster_parameters::result(text, page);
    let resp = crate::protocol::query_ok(&x.op, RDS_NS, &inner);
    Some(Reply::Answer(super::super::boxed(resp)))
}
