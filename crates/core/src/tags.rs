//! Tags and ownership.
//!
//! Ownership is what makes "no state file" safe: we only modify or delete what carries our tags.

use std::collections::BTreeMap;

/// A set of AWS tags, ordered so that plans and comparisons are stable.
pub type Tags = BTreeMap<String, String>;

/// The tag keys every managed resource carries.
pub const MANAGED_BY: &str = "ManagedBy";
/// The layer tag key.
pub const LAYER: &str = "Layer";
/// The environment tag key.
pub const ENVIRONMENT: &str = "Environment";
/// The naming id tag key: which deployment of the environment (several can share an account
/// and an environment name, as developer sandboxes do).
pub const NAMING_ID: &str = "NamingId";

/// The tag keys that decide ownership, which no configuration sets.
pub const OWNERSHIP: &[&str] = &[MANAGED_BY, LAYER, ENVIRONMENT, NAMING_ID];

/// The tags we put on every resource of a deployment: ours first, the environment's own after
/// (which may not override ours).
pub fn ownership_tags(environment: &str, naming_id: &str, extra: &Tags) -> Tags {
    let mut tags = extra.clone();
    tags.insert(MANAGED_BY.into(), crate::TOOL_NAME.into());
    tags.insert(LAYER.into(), crate::LAYER.into());
    tags.insert(ENVIRONMENT.into(), environment.into());
    tags.insert(NAMING_ID.into(), naming_id.into());
    tags
}

/// Whose a resource is, by its tags, to the deployment whose own tags are `ours`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This deployment's. A resource with our environment's tags but no naming id tag (made
    /// before the tag existed) is ours too: it is found under a name derived from our naming id,
    /// and the next deploy adds the tag.
    Us,
    /// Another deployment of this layer and environment name, with the naming id it carries.
    AnotherDeployment(String),
    /// Anyone else's, or no one's.
    Other,
}

/// Whose `observed` is, to the deployment whose tags are `ours` (see [`ownership_tags`]).
pub fn owner(observed: &Tags, ours: &Tags) -> Owner {
    let same = |k: &str| observed.get(k).is_some_and(|v| Some(v) == ours.get(k));
    if !(same(MANAGED_BY) && same(LAYER) && same(ENVIRONMENT)) {
        return Owner::Other;
    }
    match (observed.get(NAMING_ID), ours.get(NAMING_ID)) {
        (Some(theirs), Some(mine)) if theirs != mine => Owner::AnotherDeployment(theirs.clone()),
        _ => Owner::Us,
    }
}

/// Whether observed tags mark a resource as this deployment's (`ours`: its ownership tags).
pub fn is_owned(observed: &Tags, ours: &Tags) -> bool {
    owner(observed, ours) == Owner::Us
}

/// The keys `observed` has that `desired` does not: what converging tags must remove.
pub fn stale_keys(observed: &Tags, desired: &Tags) -> Vec<String> {
    observed
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_win_over_user_tags() {
        let mut user = Tags::new();
        user.insert("ManagedBy".into(), "someone".into());
        user.insert("CostCenter".into(), "42".into());
        let t = ownership_tags("dev", "dal-dev", &user);
        assert_eq!(t["ManagedBy"], crate::TOOL_NAME);
        assert_eq!(t["CostCenter"], "42");
        assert!(is_owned(&t, &t));
        assert!(!is_owned(
            &t,
            &ownership_tags("prod", "dal-dev", &Tags::new())
        ));
        // Another deployment under the same environment name is not ours, and says whose.
        let other = ownership_tags("dev", "dal-dev-alice", &Tags::new());
        assert_eq!(
            owner(&other, &t),
            Owner::AnotherDeployment("dal-dev-alice".into())
        );
        // One made before the naming id tag existed is ours (found under our name).
        let mut legacy = t.clone();
        legacy.remove(NAMING_ID);
        assert_eq!(owner(&legacy, &t), Owner::Us);
        let mut desired = t.clone();
        desired.remove("CostCenter");
        assert_eq!(stale_keys(&t, &desired), ["CostCenter"]);
    }
}
