//! Field-by-field diff of a desired spec against an observed one.
//!
//! Specs are serialized to JSON and compared recursively through objects; arrays and scalars are
//! compared whole. Types whose AWS form differs from ours (policy documents, engine versions)
//! normalize themselves before they reach this function, so the diff stays a plain comparison.

use serde::Serialize;
use serde_json::Value;

/// One field that differs between desired and observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path of the field, e.g. `versioning` or `tags.Environment`.
    pub path: String,
    /// Observed value; `None` when absent.
    pub before: Option<Value>,
    /// Desired value; `None` when it will be removed.
    pub after: Option<Value>,
    /// Whether this change can only be made by replacing the resource.
    pub forces_replacement: bool,
}

impl FieldChange {
    /// The top-level field this change belongs to (`tags` for `tags.Environment`).
    pub fn field(&self) -> &str {
        self.path.split('.').next().unwrap_or(&self.path)
    }

    /// Whether this change is to `field`.
    pub fn is(&self, field: Field) -> bool {
        self.field() == field.0
    }
}

/// A top-level field of a spec, by name: made by [`spec_fields!`](crate::spec_fields), so that a
/// field that does not exist fails to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field(pub &'static str);

/// The changes of a diff, asked about a field.
pub trait Changes {
    /// Whether a change is to `field` (or below it: `tags` for `tags.Team`).
    fn touches(&self, field: Field) -> bool;
}

impl Changes for [FieldChange] {
    fn touches(&self, field: Field) -> bool {
        self.iter().any(|c| c.is(field))
    }
}

/// Typed names of a spec's top-level fields: `spec_fields!(ClusterSpec { TAGS: tags })` gives
/// `ClusterSpec::TAGS`, and fails to compile unless `ClusterSpec` has a field `tags`.
///
/// ```
/// pub struct Spec { pub tags: u8 }
/// layer_core::spec_fields!(Spec { TAGS: tags });
/// assert_eq!(Spec::TAGS, layer_core::diff::Field("tags"));
/// ```
///
/// A field the spec does not have is a compile error:
///
/// ```compile_fail
/// pub struct Spec { pub tags: u8 }
/// layer_core::spec_fields!(Spec { TAGS: tagz });
/// ```
#[macro_export]
macro_rules! spec_fields {
    ($spec:ident { $($name:ident : $field:ident),* $(,)? }) => {
        impl $spec {
            $(
                #[doc = concat!("The field `", stringify!($field), "`.")]
                pub const $name: $crate::diff::Field = $crate::diff::Field(stringify!($field));
            )*
        }
        const _: fn(&$spec) = |s| {
            let $spec { $($field: _,)* .. } = s;
        };
    };
}

/// Diff two specs. `replace_fields` lists the top-level fields that cannot change in place.
pub fn diff<S: Serialize>(desired: &S, observed: &S, replace_fields: &[&str]) -> Vec<FieldChange> {
    let desired = serde_json::to_value(desired).expect("specs serialize to JSON");
    let observed = serde_json::to_value(observed).expect("specs serialize to JSON");
    let mut out = Vec::new();
    walk(
        "",
        Some(&observed),
        Some(&desired),
        replace_fields,
        &mut out,
    );
    out
}

/// The fields of a resource about to be created, top-level, as `(none) -> value` changes.
pub fn creation<S: Serialize>(desired: &S) -> Vec<FieldChange> {
    let desired = serde_json::to_value(desired).expect("specs serialize to JSON");
    let Value::Object(map) = desired else {
        return Vec::new();
    };
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(path, v)| FieldChange {
            path,
            before: None,
            after: Some(v),
            forces_replacement: false,
        })
        .collect()
}

fn walk(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    replace: &[&str],
    out: &mut Vec<FieldChange>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, b.get(k), a.get(k), replace, out);
            }
        }
        (b, a) if b == a => {}
        (b, a) => {
            let top = path.split('.').next().unwrap_or(path);
            // A null is how an optional field serializes: treat it as absent.
            let b = b.filter(|v| !v.is_null()).cloned();
            let a = a.filter(|v| !v.is_null()).cloned();
            if b != a {
                out.push(FieldChange {
                    path: path.to_string(),
                    before: b,
                    after: a,
                    forces_replacement: replace.contains(&top),
                });
            }
        }
    }
}

/// Changes as lines, `path: before -> after`, each marked when it forces a replacement: how the
/// families' diff snapshots show them.
pub fn lines(changes: &[FieldChange]) -> String {
    let show = |v: &Option<Value>| v.as_ref().map_or("(none)".to_string(), Value::to_string);
    changes
        .iter()
        .map(|c| {
            let mark = if c.forces_replacement {
                "  # forces replacement"
            } else {
                ""
            };
            format!(
                "{}: {} -> {}{mark}\n",
                c.path,
                show(&c.before),
                show(&c.after)
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_fields_are_named_and_replacement_marked() {
        let desired = json!({"versioning": "Enabled", "port": 6380, "tags": {"Env": "dev", "New": "x"}, "opt": null});
        let observed = json!({"versioning": "Suspended", "port": 6379, "tags": {"Env": "dev", "Old": "y"}, "opt": null});
        let changes = diff(&desired, &observed, &["port"]);
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["port", "tags.New", "tags.Old", "versioning"]);
        assert!(changes[0].forces_replacement);
        assert!(!changes[3].forces_replacement);
        assert_eq!(changes[1].before, None);
        assert_eq!(changes[2].after, None);
        assert_eq!(changes[3].before, Some(json!("Suspended")));
    }

    #[test]
    fn equal_specs_have_no_diff() {
        let v = json!({"a": [1, 2], "b": {"c": true}});
        assert!(diff(&v, &v, &[]).is_empty());
        // Arrays are compared whole, in order.
        assert_eq!(
            diff(&json!({"a": [2, 1]}), &v, &[])
                .iter()
                .filter(|c| c.path == "a")
                .count(),
            1
        );
    }

    #[test]
    fn creation_lists_the_fields_that_are_set() {
        let c = creation(&json!({"versioning": "Enabled", "lifecycle": null, "tags": {"A": "b"}}));
        let paths: Vec<_> = c.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["tags", "versioning"]);
        assert!(c.iter().all(|f| f.before.is_none()));
    }

    #[test]
    fn null_and_absent_are_the_same() {
        assert!(diff(&json!({"a": null}), &json!({}), &[]).is_empty());
    }
}
