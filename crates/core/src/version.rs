//! Engine versions: the configured one is a floor compared on major.minor. AWS upgrades minor
//! versions by itself, which is never a reason to downgrade or to show a diff; a major change is
//! an in-place upgrade that needs `--allow-major-upgrade`.

use std::fmt;

use serde::{Serialize, Serializer};

/// An engine version. The configured one is a floor compared on major.minor: AWS upgrades minor
/// versions by itself, which is never a reason to downgrade or to show a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion(pub String);

impl EngineVersion {
    fn parts(&self) -> (u32, u32) {
        let mut it = self.0.split('.').map(|p| p.parse().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }

    /// Whether `self` (observed) satisfies `floor` (desired) without any change.
    pub fn satisfies(&self, floor: &EngineVersion) -> bool {
        let (m, n) = self.parts();
        let (fm, fnn) = floor.parts();
        m == fm && n >= fnn
    }

    /// The major version.
    pub fn major(&self) -> u32 {
        self.parts().0
    }
}

impl Serialize for EngineVersion {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Diff two specs whose engine version is a floor: an observed version that satisfies the
/// desired one counts as equal.
pub fn diff_with_floor<S: serde::Serialize + Clone>(
    desired: &S,
    observed: &S,
    replace_fields: &[&str],
    version: fn(&mut S) -> &mut EngineVersion,
) -> Vec<crate::FieldChange> {
    let mut observed = observed.clone();
    let floor = version(&mut desired.clone()).clone();
    if version(&mut observed).satisfies(&floor) {
        *version(&mut observed) = floor;
    }
    crate::diff::diff(desired, &observed, replace_fields)
}

/// The guard of an in-place engine upgrade: a major version change needs `--allow-major-upgrade`.
pub fn major_upgrade_guard(
    changes: &[crate::FieldChange],
    name: &str,
) -> Option<(crate::Flag, String)> {
    let change = changes
        .iter()
        .find(|c| c.is(crate::diff::Field("engine_version")))?;
    let major = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .and_then(|v| v.as_str())
            .map(|s| EngineVersion(s.to_string()).major())
    };
    (major(&change.before) != major(&change.after)).then(|| {
        (
            crate::Flag::MajorUpgrade,
            format!("a major version upgrade of `{name}` is in place but cannot be undone"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_version_is_a_floor_on_major_minor() {
        let floor = EngineVersion("14.19".into());
        assert!(EngineVersion("14.19".into()).satisfies(&floor));
        assert!(
            EngineVersion("14.20".into()).satisfies(&floor),
            "AWS's own minor upgrade is no diff"
        );
        assert!(
            !EngineVersion("14.17".into()).satisfies(&floor),
            "below the floor: upgrade"
        );
        assert!(
            !EngineVersion("15.4".into()).satisfies(&floor),
            "another major: a diff, never a downgrade"
        );
    }
}
