//! The layer's outputs as a Terraform state document (format version 4) with no resources, for
//! the next layers' `data "terraform_remote_state"` readers (`outputs <env> --format
//! terraform-state`): each output with its value and its type in Terraform's JSON encoding of
//! types, null outputs left out as Terraform leaves them out of state.

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
    let outputs: serde_json::Map<String, Value> = outputs
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), json!({ "value": v, "type": terraform_type(v) })))
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
