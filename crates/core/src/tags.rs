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

/// The tags we put on every resource of an environment: ours first, the environment's own after
/// (which may not override ours).
pub fn ownership_tags(environment: &str, extra: &Tags) -> Tags {
    let mut tags = extra.clone();
    tags.insert(MANAGED_BY.into(), crate::TOOL_NAME.into());
    tags.insert(LAYER.into(), crate::LAYER.into());
    tags.insert(ENVIRONMENT.into(), environment.into());
    tags
}

/// Whether observed tags mark a resource as ours in this environment.
pub fn is_owned(observed: &Tags, environment: &str) -> bool {
    observed.get(MANAGED_BY).map(String::as_str) == Some(crate::TOOL_NAME)
        && observed.get(LAYER).map(String::as_str) == Some(crate::LAYER)
        && observed.get(ENVIRONMENT).map(String::as_str) == Some(environment)
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
        let t = ownership_tags("dev", &user);
        assert_eq!(t["ManagedBy"], crate::TOOL_NAME);
        assert_eq!(t["CostCenter"], "42");
        assert!(is_owned(&t, "dev"));
        assert!(!is_owned(&t, "prod"));
        let mut desired = t.clone();
        desired.remove("CostCenter");
        assert_eq!(stale_keys(&t, &desired), ["CostCenter"]);
    }
}
