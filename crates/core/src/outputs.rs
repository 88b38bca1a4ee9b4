//! Outputs: the facts a resource exposes (ids, ARNs, endpoints), never a secret value.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::address::Address;

/// The outputs of one resource, by output name.
pub type Outputs = BTreeMap<String, Value>;

/// The outputs of the resources a resource depends on, handed to it by the executor.
#[derive(Debug, Clone, Default)]
pub struct Inputs(BTreeMap<Address, Outputs>);

impl Inputs {
    /// Inputs from a map of upstream outputs.
    pub fn new(map: BTreeMap<Address, Outputs>) -> Self {
        Inputs(map)
    }

    /// One output of an upstream resource; [`crate::Error::Unknown`] while it does not exist yet.
    pub fn get(&self, from: &Address, key: &str) -> crate::Result<&Value> {
        self.0
            .get(from)
            .and_then(|o| o.get(key))
            .ok_or_else(|| crate::Error::Unknown(format!("{from}.{key}")))
    }

    /// One string output of an upstream resource.
    pub fn str(&self, from: &Address, key: &str) -> crate::Result<String> {
        match self.get(from, key)? {
            Value::String(s) => Ok(s.clone()),
            other => Ok(other.to_string()),
        }
    }
}

/// Render outputs in the shape of `terraform output -json`:
/// `{"name": {"value": …, "type": …, "sensitive": false}}`.
pub fn terraform_json(outputs: &Outputs) -> Value {
    let map = outputs
        .iter()
        .map(|(k, v)| {
            let ty = terraform_type(v);
            (
                k.clone(),
                serde_json::json!({ "sensitive": false, "type": ty, "value": v }),
            )
        })
        .collect::<serde_json::Map<_, _>>();
    Value::Object(map)
}

/// Terraform's JSON encoding of a value's type.
pub fn terraform_type(v: &Value) -> Value {
    match v {
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => "dynamic".into(),
        Value::Array(items) => {
            serde_json::json!([
                "tuple",
                items.iter().map(terraform_type).collect::<Vec<_>>()
            ])
        }
        Value::Object(map) => {
            let fields = map
                .iter()
                .map(|(k, v)| (k.clone(), terraform_type(v)))
                .collect::<serde_json::Map<_, _>>();
            serde_json::json!(["object", fields])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_output_shape() {
        let mut o = Outputs::new();
        o.insert("s3_bucket_ai_data_id".into(), "dal-dev-ai-data".into());
        o.insert("elasticache_port".into(), 6380.into());
        o.insert("postgresql_databases".into(), serde_json::json!(["chat"]));
        let j = terraform_json(&o);
        assert_eq!(j["s3_bucket_ai_data_id"]["value"], "dal-dev-ai-data");
        assert_eq!(j["s3_bucket_ai_data_id"]["type"], "string");
        assert_eq!(j["s3_bucket_ai_data_id"]["sensitive"], false);
        assert_eq!(j["elasticache_port"]["type"], "number");
        assert_eq!(
            j["postgresql_databases"]["type"],
            serde_json::json!(["tuple", ["string"]])
        );
    }
}
