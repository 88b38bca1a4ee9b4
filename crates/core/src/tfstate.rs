//! The layer's outputs as a Terraform state document (format version 4) with no resources, for
//! the next layers' `data "terraform_remote_state"` readers (`outputs <env> --format
//! terraform-state`): each output with its value and its type in Terraform's JSON encoding of
//! types, null outputs left out as Terraform leaves them out of state.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::outputs::{terraform_type, Outputs};

/// The state format version written.
pub const STATE_VERSION: u64 = 4;

/// A new lineage: Terraform's form, a random UUID (version 4).
pub fn new_lineage() -> String {
    let n: u128 = rand::random();
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The document: `lineage` and `serial` as the state's history gives them, `terraform_version`
/// as readers expect it (older readers refuse a newer one).
pub fn document(outputs: &Outputs, lineage: &str, serial: u64, terraform_version: &str) -> Value {
    document_marked(
        outputs,
        lineage,
        serial,
        terraform_version,
        &BTreeSet::new(),
    )
}

/// [`document`], with the outputs named in `sensitive` marked so (as the state it continues had
/// them: a reader that hid them keeps hiding them).
fn document_marked(
    outputs: &Outputs,
    lineage: &str,
    serial: u64,
    terraform_version: &str,
    sensitive: &BTreeSet<String>,
) -> Value {
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let mut o = json!({ "value": v, "type": terraform_type(v) });
            if sensitive.contains(k) {
                o["sensitive"] = json!(true);
            }
            (k.clone(), o)
        })
        .collect();
    json!({
        "version": STATE_VERSION,
        "terraform_version": terraform_version,
        "serial": serial,
        "lineage": lineage,
        "outputs": outputs,
        "resources": [],
        "check_results": null,
    })
}

/// What publishing the outputs at a state object does, given what the object holds now.
#[derive(Debug, Clone, PartialEq)]
pub enum Publication {
    /// The object already holds these outputs: it is left byte for byte as it is.
    Unchanged,
    /// The document to write: a new lineage at serial 1, or the object's lineage continued at
    /// its next serial.
    Write(Value),
    /// The object is not one to overwrite; why, and what to do.
    Refused(String),
}

/// Decide the publication of `outputs` over `existing` (the object's current document, if any).
/// A state that still holds resources is the old layer's: overwriting it would make Terraform
/// forget them, so it is refused until they are removed from it. The serial rises only when an
/// output (or the `terraform_version` named) changes.
pub fn publication(
    existing: Option<&Value>,
    outputs: &Outputs,
    terraform_version: &str,
) -> Publication {
    let Some(old) = existing else {
        return Publication::Write(document(outputs, &new_lineage(), 1, terraform_version));
    };
    let version = old["version"].as_u64();
    if version != Some(STATE_VERSION) {
        return Publication::Refused(format!(
            "the object holds a Terraform state of format version {}, not {STATE_VERSION}; upgrade it with Terraform (any `terraform apply` of Terraform 0.12 or later writes version 4), or choose another key",
            version.map_or_else(|| "unknown".to_string(), |v| v.to_string())
        ));
    }
    let resources = old["resources"].as_array().map_or(0, Vec::len);
    if resources > 0 {
        return Publication::Refused(format!(
            "the object still holds the Terraform layer's state, with {resources} resources; remove them from it first (`import-terraform` prints the `removed` blocks, or `terraform state rm`), or choose another key"
        ));
    }
    let (Some(lineage), Some(serial)) = (old["lineage"].as_str(), old["serial"].as_u64()) else {
        return Publication::Refused(
            "the object's state has no lineage or serial; choose another key".into(),
        );
    };
    let sensitive: BTreeSet<String> = old["outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, o)| o["sensitive"] == json!(true))
        .map(|(k, _)| k.clone())
        .collect();
    let same = document_marked(outputs, lineage, serial, terraform_version, &sensitive);
    if same["outputs"] == old["outputs"] && same["terraform_version"] == old["terraform_version"] {
        return Publication::Unchanged;
    }
    Publication::Write(document_marked(
        outputs,
        lineage,
        serial + 1,
        terraform_version,
        &sensitive,
    ))
}

/// The outputs `existing` holds that `document` no longer does: what the next layers' readers
/// of them lose (an output the Terraform layer had and this tool does not publish).
pub fn dropped(existing: &Value, document: &Value) -> Vec<String> {
    let kept = document["outputs"].as_object();
    existing["outputs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| !kept.is_some_and(|o| o.contains_key(*k)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `value` is of the type Terraform's JSON encoding `ty` names: a reader's check,
    /// written from Terraform's documented type encoding, not from the producer above.
    fn conforms(value: &Value, ty: &Value) -> bool {
        match (ty, value) {
            (Value::String(t), v) => match t.as_str() {
                "string" => v.is_string(),
                "number" => v.is_number(),
                "bool" => v.is_boolean(),
                "dynamic" => true,
                _ => false,
            },
            (Value::Array(t), v) if t.len() == 2 => match (t[0].as_str(), &t[1], v) {
                (Some("list" | "set"), elem, Value::Array(items)) => {
                    items.iter().all(|i| conforms(i, elem))
                }
                (Some("tuple"), Value::Array(elems), Value::Array(items)) => {
                    elems.len() == items.len()
                        && items.iter().zip(elems).all(|(i, e)| conforms(i, e))
                }
                (Some("map"), elem, Value::Object(m)) => m.values().all(|i| conforms(i, elem)),
                (Some("object"), Value::Object(attrs), Value::Object(m)) => {
                    attrs.len() == m.len()
                        && attrs
                            .iter()
                            .all(|(k, t)| m.get(k).is_some_and(|v| conforms(v, t)))
                }
                _ => false,
            },
            _ => false,
        }
    }

    fn outputs(cluster: &str) -> Outputs {
        let mut o = Outputs::new();
        o.insert("aurora_cluster_id".into(), json!(cluster));
        o.insert("elasticache_port".into(), json!(6380));
        o
    }

    #[test]
    fn a_publication_continues_the_lineage_and_raises_the_serial_only_on_change() {
        let Publication::Write(first) = publication(None, &outputs("a"), "1.0.0") else {
            panic!("an empty key is written");
        };
        assert_eq!(first["serial"], 1);
        assert_eq!(
            publication(Some(&first), &outputs("a"), "1.0.0"),
            Publication::Unchanged
        );
        let Publication::Write(second) = publication(Some(&first), &outputs("b"), "1.0.0") else {
            panic!("a changed output is written");
        };
        assert_eq!(second["serial"], 2);
        assert_eq!(second["lineage"], first["lineage"]);
        assert_eq!(second["outputs"]["aurora_cluster_id"]["value"], "b");
        // The version readers are told of is part of what is published.
        let Publication::Write(third) = publication(Some(&second), &outputs("b"), "1.5.7") else {
            panic!("a changed terraform_version is written");
        };
        assert_eq!(
            (
                third["serial"].as_u64(),
                third["terraform_version"].as_str()
            ),
            (Some(3), Some("1.5.7"))
        );
    }

    #[test]
    fn the_old_layers_state_is_refused_until_empty_and_its_marks_are_kept() {
        let mut old = json!({
            "version": 4, "terraform_version": "1.5.7", "serial": 41,
            "lineage": "0b6c3a4e-1f2d-4c5b-8a9e-0123456789ab",
            "outputs": {"aurora_cluster_id": {"value": "tf-db", "type": "string", "sensitive": true}},
            "resources": [{"mode": "managed", "type": "aws_rds_cluster", "name": "this", "instances": []}],
        });
        let Publication::Refused(why) = publication(Some(&old), &outputs("tf-db"), "1.5.7") else {
            panic!("a state with resources is refused");
        };
        assert!(
            why.contains("1 resources") && why.contains("removed"),
            "{why}"
        );
        old["resources"] = json!([]);
        let Publication::Write(next) = publication(Some(&old), &outputs("tf-db"), "1.5.7") else {
            panic!("an emptied state is continued");
        };
        assert_eq!(next["lineage"], old["lineage"]);
        assert_eq!(next["serial"], 42);
        assert_eq!(next["outputs"]["aurora_cluster_id"]["sensitive"], true);
        assert!(next["outputs"]["elasticache_port"]
            .get("sensitive")
            .is_none());
        // An output the old layer had and this one does not publish is named.
        old["outputs"]["legacy_endpoint"] = json!({"value": "x", "type": "string"});
        let Publication::Write(next) = publication(Some(&old), &outputs("tf-db"), "1.5.7") else {
            panic!("an emptied state is continued");
        };
        assert_eq!(dropped(&old, &next), ["legacy_endpoint"]);
        let v3 = json!({"version": 3, "serial": 1, "lineage": "x", "modules": []});
        assert!(matches!(
            publication(Some(&v3), &outputs("a"), "1.0.0"),
            Publication::Refused(why) if why.contains("version 3")
        ));
    }

    #[test]
    fn a_state_a_remote_state_reader_accepts() {
        let mut o = Outputs::new();
        o.insert("aurora_cluster_id".into(), json!("dal-dev-aurora"));
        o.insert("elasticache_port".into(), json!(6380));
        o.insert("grafana_workspace_id".into(), Value::Null);
        o.insert("postgresql_databases".into(), json!(["chat", "theme"]));
        o.insert(
            "secret_arns".into(),
            json!({"psql-host": "arn:aws:secretsmanager:eu-central-2:1:secret:dal/psql-host-AbCdEf"}),
        );
        o.insert("enable_x".into(), json!(true));
        let lineage = new_lineage();
        let doc = document(&o, &lineage, 3, "1.0.0");
        assert_eq!(doc["version"], 4);
        assert_eq!(doc["terraform_version"], "1.0.0");
        assert_eq!(doc["serial"], 3);
        assert_eq!(doc["resources"], json!([]));
        let parts: Vec<usize> = doc["lineage"]
            .as_str()
            .unwrap()
            .split('-')
            .map(str::len)
            .collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&lineage[14..15], "4", "a version-4 UUID: {lineage}");
        let outputs = doc["outputs"].as_object().unwrap();
        assert!(
            !outputs.contains_key("grafana_workspace_id"),
            "null outputs are left out"
        );
        assert_eq!(outputs.len(), 5);
        for (name, out) in outputs {
            assert_eq!(&out["value"], &o[name], "{name}");
            assert!(conforms(&out["value"], &out["type"]), "{name}: {out}");
            assert!(out.get("sensitive").is_none(), "{name}: none is sensitive");
        }
        // The checker refuses what does not agree.
        assert!(!conforms(&json!("6380"), &json!("number")));
        assert!(!conforms(
            &json!({"a": 1}),
            &json!(["object", {"a": "string"}])
        ));
    }
}
