//! IAM and resource policy documents as typed values, compared semantically.
//!
//! AWS rewrites the documents we send: one-element arrays come back as strings, IAM returns them
//! URL-encoded, and statement and key order is not kept. A [`PolicyDocument`] parses every one of
//! those forms into the same normalized value, so a rewrite is never a diff.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// A statement's principal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Principal {
    /// `"*"`.
    Any,
    /// `{"AWS": [...], "Service": [...]}`.
    Map(BTreeMap<String, BTreeSet<String>>),
}

/// One statement. Sets are sets: order and the one-element-array-or-string form do not matter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Statement {
    /// Optional statement id.
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// `Principal`, for resource policies.
    pub principal: Option<Principal>,
    /// `Action`.
    pub action: BTreeSet<String>,
    /// `NotAction`.
    pub not_action: BTreeSet<String>,
    /// `Resource`.
    pub resource: BTreeSet<String>,
    /// `NotResource`.
    pub not_resource: BTreeSet<String>,
    /// `Condition`: operator → key → values (as strings, the way AWS returns them).
    pub condition: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

impl Statement {
    /// A statement with an effect and nothing else yet.
    pub fn new(effect: Effect) -> Self {
        Statement {
            sid: None,
            effect,
            principal: None,
            action: BTreeSet::new(),
            not_action: BTreeSet::new(),
            resource: BTreeSet::new(),
            not_resource: BTreeSet::new(),
            condition: BTreeMap::new(),
        }
    }

    /// Set the statement id.
    pub fn sid(mut self, sid: &str) -> Self {
        self.sid = Some(sid.to_string());
        self
    }

    /// Any principal (`"*"`).
    pub fn any_principal(mut self) -> Self {
        self.principal = Some(Principal::Any);
        self
    }

    /// A service principal (`{"Service": "bedrock.amazonaws.com"}`), for trust policies.
    pub fn service_principal(mut self, service: &str) -> Self {
        let mut map = match self.principal.take() {
            Some(Principal::Map(m)) => m,
            _ => BTreeMap::new(),
        };
        map.entry("Service".to_string())
            .or_default()
            .insert(service.to_string());
        self.principal = Some(Principal::Map(map));
        self
    }

    /// Add actions.
    pub fn actions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, a: I) -> Self {
        self.action.extend(a.into_iter().map(Into::into));
        self
    }

    /// Add resources.
    pub fn resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, r: I) -> Self {
        self.resource.extend(r.into_iter().map(Into::into));
        self
    }

    /// Add a condition `operator: {key: [values]}`.
    pub fn condition<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        operator: &str,
        key: &str,
        values: I,
    ) -> Self {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .entry(key.to_string())
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(sid) = &self.sid {
            m.insert("Sid".into(), sid.clone().into());
        }
        m.insert(
            "Effect".into(),
            if self.effect == Effect::Allow {
                "Allow"
            } else {
                "Deny"
            }
            .into(),
        );
        match &self.principal {
            Some(Principal::Any) => {
                m.insert("Principal".into(), "*".into());
            }
            Some(Principal::Map(p)) => {
                m.insert("Principal".into(), json!(p));
            }
            None => {}
        }
        for (key, set) in [
            ("Action", &self.action),
            ("NotAction", &self.not_action),
            ("Resource", &self.resource),
            ("NotResource", &self.not_resource),
        ] {
            if !set.is_empty() {
                m.insert(key.into(), json!(set));
            }
        }
        if !self.condition.is_empty() {
            m.insert("Condition".into(), json!(self.condition));
        }
        Value::Object(m)
    }
}

/// A policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`, normally `2012-10-17`.
    pub version: String,
    /// The statements, kept sorted so that order never makes a diff.
    statements: Vec<Statement>,
}

/// A document AWS returned that we could not read.
#[derive(Debug, thiserror::Error)]
#[error("policy document does not parse: {0}")]
pub struct PolicyParseError(String);

impl PolicyDocument {
    /// A document of the current version with these statements.
    pub fn new(statements: impl IntoIterator<Item = Statement>) -> Self {
        let mut statements: Vec<_> = statements.into_iter().collect();
        statements.sort();
        PolicyDocument {
            version: "2012-10-17".into(),
            statements,
        }
    }

    /// The statements, in normalized order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The JSON text to send to AWS.
    pub fn to_json_string(&self) -> String {
        self.to_value().to_string()
    }

    fn to_value(&self) -> Value {
        json!({
            "Version": self.version,
            "Statement": self.statements.iter().map(Statement::to_value).collect::<Vec<_>>(),
        })
    }

    /// Parse a document as AWS returns it: plain or URL-encoded JSON, with strings where we sent
    /// one-element arrays and in any order.
    pub fn parse(text: &str) -> Result<Self, PolicyParseError> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => {
                let decoded = percent_encoding::percent_decode_str(text)
                    .decode_utf8()
                    .map_err(|e| PolicyParseError(e.to_string()))?;
                serde_json::from_str(&decoded).map_err(|e| PolicyParseError(e.to_string()))?
            }
        };
        Self::from_value(&value)
    }

    fn from_value(v: &Value) -> Result<Self, PolicyParseError> {
        let obj = v
            .as_object()
            .ok_or_else(|| PolicyParseError("not an object".into()))?;
        let version = obj
            .get("Version")
            .and_then(Value::as_str)
            .unwrap_or("2008-10-17")
            .to_string();
        let statements = match obj.get("Statement") {
            Some(Value::Array(items)) => items
                .iter()
                .map(parse_statement)
                .collect::<Result<Vec<_>, _>>()?,
            Some(one @ Value::Object(_)) => vec![parse_statement(one)?],
            _ => Vec::new(),
        };
        let mut doc = PolicyDocument::new(statements);
        doc.version = version;
        Ok(doc)
    }
}

impl Serialize for PolicyDocument {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

fn string_set(v: Option<&Value>) -> BTreeSet<String> {
    match v {
        Some(Value::String(s)) => [s.clone()].into(),
        Some(Value::Array(items)) => items.iter().map(scalar_string).collect(),
        Some(other) => [scalar_string(other)].into(),
        None => BTreeSet::new(),
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_statement(v: &Value) -> Result<Statement, PolicyParseError> {
    let obj = v
        .as_object()
        .ok_or_else(|| PolicyParseError("statement is not an object".into()))?;
    let effect = match obj.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        other => return Err(PolicyParseError(format!("unknown effect {other:?}"))),
    };
    let principal = match obj.get("Principal") {
        None => None,
        Some(Value::String(s)) if s == "*" => Some(Principal::Any),
        // `{"AWS": "*"}` is `"*"` in IAM's grammar ("everyone"), whichever form AWS hands back.
        Some(Value::Object(m))
            if m.len() == 1 && string_set(m.get("AWS")) == BTreeSet::from(["*".to_string()]) =>
        {
            Some(Principal::Any)
        }
        Some(Value::Object(m)) => Some(Principal::Map(
            m.iter()
                .map(|(k, v)| (k.clone(), string_set(Some(v))))
                .collect(),
        )),
        Some(other) => return Err(PolicyParseError(format!("unknown principal {other}"))),
    };
    let mut condition = BTreeMap::new();
    if let Some(Value::Object(ops)) = obj.get("Condition") {
        for (op, keys) in ops {
            let keys = keys
                .as_object()
                .ok_or_else(|| PolicyParseError("condition is not an object".into()))?;
            let entry: &mut BTreeMap<String, BTreeSet<String>> =
                condition.entry(op.clone()).or_default();
            for (k, vals) in keys {
                entry.insert(k.clone(), string_set(Some(vals)));
            }
        }
    }
    Ok(Statement {
        sid: obj
            .get("Sid")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        effect,
        principal,
        action: string_set(obj.get("Action")),
        not_action: string_set(obj.get("NotAction")),
        resource: string_set(obj.get("Resource")),
        not_resource: string_set(obj.get("NotResource")),
        condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> PolicyDocument {
        PolicyDocument::new([
            Statement::new(Effect::Allow)
                .sid("Objects")
                .actions(["s3:GetObject", "s3:PutObject"])
                .resources(["arn:aws:s3:::b/*"]),
            Statement::new(Effect::Deny)
                .sid("Tls")
                .any_principal()
                .actions(["s3:*"])
                .resources(["arn:aws:s3:::b"])
                .condition("Bool", "aws:SecureTransport", ["false"]),
        ])
    }

    #[test]
    fn round_trip() {
        assert_eq!(
            PolicyDocument::parse(&ours().to_json_string()).unwrap(),
            ours()
        );
    }

    #[test]
    fn aws_rewrites_are_no_diff() {
        // One-element arrays as strings, keys and statements reordered, a boolean condition value.
        let aws = r#"{"Statement":[
            {"Resource":"arn:aws:s3:::b","Condition":{"Bool":{"aws:SecureTransport":false}},"Action":"s3:*","Principal":"*","Effect":"Deny","Sid":"Tls"},
            {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/*","Sid":"Objects"}
        ],"Version":"2012-10-17"}"#;
        assert_eq!(PolicyDocument::parse(aws).unwrap(), ours());
        // IAM returns documents URL-encoded.
        let encoded: String =
            percent_encoding::utf8_percent_encode(aws, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(PolicyDocument::parse(&encoded).unwrap(), ours());
        // A single statement as an object rather than an array.
        let single = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
        assert_eq!(PolicyDocument::parse(single).unwrap().statements().len(), 1);
    }

    #[test]
    fn real_changes_are_a_diff() {
        let changed = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"Objects","Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]},
            {"Sid":"Tls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
        assert_ne!(PolicyDocument::parse(changed).unwrap(), ours());
        assert!(PolicyDocument::parse("{not json").is_err());
    }

    #[test]
    fn everyone_is_one_principal_in_either_form() {
        let star = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
        let aws_star = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":["*"]},"Action":"s3:*","Resource":"*"}]}"#;
        let account = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"s3:*","Resource":"*"}]}"#;
        let parse = |t: &str| PolicyDocument::parse(t).expect("a policy");
        assert_eq!(parse(star), parse(aws_star));
        assert_ne!(parse(star), parse(account));
    }
}
