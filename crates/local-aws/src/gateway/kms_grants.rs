//! KMS grants that AWS services make on a customer key when they encrypt a resource with it (RDS
//! for a cluster, ElastiCache for a replication group), retired when the resource is deleted.
//! moto makes none; the gateway makes them in moto, so that the "nothing left behind" inventory
//! (`ListGrants`) sees what a destroy leaves on the keys.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use super::{moto_json, Shared};

/// The grants made, by `region/resource id`: (key, grant id).
#[derive(Debug, Default)]
pub(super) struct KmsGrants {
    made: Mutex<HashMap<String, (String, String)>>,
}

/// What a call does to grants: `(service principal, resource id, key)` for a creation that
/// names a key, or the resource id for a deletion.
enum Effect {
    Make(&'static str, String, String),
    Retire(String),
}

/// The creations and deletions that make and retire a grant: (service, operation, the form's
/// id field, whether it creates, the service principal that holds the grant).
const CALLS: &[(&str, &str, &str, bool, &str)] = &[
    ("rds", "CreateDBCluster", "DBClusterIdentifier", true, "rds"),
    (
        "rds",
        "DeleteDBCluster",
        "DBClusterIdentifier",
        false,
        "rds",
    ),
    (
        "elasticache",
        "CreateReplicationGroup",
        "ReplicationGroupId",
        true,
        "elasticache",
    ),
    (
        "elasticache",
        "DeleteReplicationGroup",
        "ReplicationGroupId",
        false,
        "elasticache",
    ),
];

fn effect(service: &str, op: &str, form: &[(String, String)]) -> Option<Effect> {
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let &(_, _, id_field, creates, principal) =
        CALLS.iter().find(|(s, o, ..)| *s == service && *o == op)?;
    let id = get(id_field)?.to_lowercase();
    if creates {
        Some(Effect::Make(principal, id, get("KmsKeyId")?))
    } else {
        Some(Effect::Retire(id))
    }
}

/// After a call AWS accepted: make the grant of a resource encrypted with a customer key, or
/// retire the grant of a deleted one.
pub(super) async fn after(
    shared: &Shared,
    service: &str,
    region: &str,
    op: &str,
    form: &[(String, String)],
) -> anyhow::Result<()> {
    let Some(effect) = effect(service, op, form) else {
        return Ok(());
    };
    let grants = &shared.kms_grants.made;
    match effect {
        Effect::Make(principal, id, key) => {
            let body = json!({
                "KeyId": key,
                "Name": id,
                "GranteePrincipal": format!("{principal}.{region}.amazonaws.com"),
                "Operations": ["Decrypt", "Encrypt", "GenerateDataKey", "ReEncryptFrom", "ReEncryptTo", "DescribeKey", "CreateGrant"],
            });
            let (ok, answer) =
                moto_json(shared, region, "kms", "TrentService.CreateGrant", body).await?;
            let grant = answer["GrantId"].as_str().filter(|_| ok);
            let grant =
                grant.ok_or_else(|| anyhow::anyhow!("moto made no grant for {id}: {answer}"))?;
            let mut made = grants.lock().expect("not poisoned");
            made.insert(format!("{region}/{id}"), (key, grant.to_string()));
        }
        Effect::Retire(id) => {
            let taken = grants
                .lock()
                .expect("not poisoned")
                .remove(&format!("{region}/{id}"));
            if let Some((key, grant)) = taken {
                let body = json!({ "KeyId": key, "GrantId": grant });
                moto_json(shared, region, "kms", "TrentService.RevokeGrant", body).await?;
            }
        }
    }
    Ok(())
}
