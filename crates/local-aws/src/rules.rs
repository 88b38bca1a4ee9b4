//! Validation AWS does and moto does not: tags (keys under the reserved `aws:` prefix, lengths,
//! characters) on every call of the layer's services that carries them. Pure functions over the
//! request; the gateway answers with the service's own error.

use crate::xml;

/// The characters AWS accepts in tag keys and values of RDS, ElastiCache, Secrets Manager, S3,
/// CloudWatch Logs and IAM: letters, digits, white space and `_ . : / = + - @`.
fn allowed(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// Why AWS would refuse one tag, if it would.
pub fn tag_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Some(format!("Tag key '{key}' must have 1 to 128 characters."));
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Some(format!(
            "Tag keys starting with 'aws:' are reserved for AWS use: '{key}'."
        ));
    }
    if value.chars().count() > 256 {
        return Some(format!(
            "The value of tag '{key}' has more than 256 characters."
        ));
    }
    if let Some(c) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Some(format!(
            "Tag '{key}' contains '{c}'; tags may contain only letters, digits, white space and _ . : / = + - @"
        ));
    }
    None
}

/// The tags of a query-protocol request: every `…Tag….Key` parameter with the `….Value` beside
/// it (`Tags.Tag.1.Key`, `Tags.member.1.Key`, `TagSpecification.1.Tag.1.Key`, `Tag.1.Key`).
fn form_tags(form: &[(String, String)]) -> Vec<(String, String)> {
    form.iter()
        .filter(|(k, _)| k.contains("Tag") && k.ends_with(".Key"))
        .map(|(k, key)| {
            let value_name = format!("{}.Value", &k[..k.len() - 4]);
            let value = form
                .iter()
                .find(|(n, _)| *n == value_name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (key.clone(), value)
        })
        .collect()
}

/// The tags of a JSON request: Secrets Manager's `Tags: [{Key, Value}]`, CloudWatch Logs'
/// `tags: {k: v}`.
fn json_tags(body: &[u8]) -> Vec<(String, String)> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(list) = v.get("Tags").and_then(|t| t.as_array()) {
        for t in list {
            out.push((
                t["Key"].as_str().unwrap_or_default().to_string(),
                t["Value"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    if let Some(map) = v.get("tags").and_then(|t| t.as_object()) {
        for (k, val) in map {
            out.push((k.clone(), val.as_str().unwrap_or_default().to_string()));
        }
    }
    out
}

/// The tags of an S3 `Tagging` or `CreateBucketConfiguration` document.
pub fn xml_tags(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let _ = xml::map_members(body, "Tag", |t| {
        out.push((
            xml::text(t, "Key").unwrap_or_default(),
            xml::text(t, "Value").unwrap_or_default(),
        ));
        None
    });
    out
}

/// AWS's error code for a refused tag in each service.
fn tag_error_code(service: &str) -> &'static str {
    match service {
        "iam" => "InvalidInput",
        "secretsmanager" | "logs" => "ValidationException",
        "s3" => "InvalidTag",
        _ => "InvalidParameterValue",
    }
}

/// The refusal (error code, message) of a request carrying a tag that AWS rejects.
pub fn tags(
    service: &str,
    form: &[(String, String)],
    json: &[u8],
) -> Option<(&'static str, String)> {
    let found = match service {
        "secretsmanager" | "logs" => json_tags(json),
        "rds" | "elasticache" | "ec2" | "iam" => form_tags(form),
        _ => return None,
    };
    found
        .iter()
        .find_map(|(k, v)| tag_problem(k, v))
        .map(|why| (tag_error_code(service), why))
}

/// The same for an S3 document holding tags.
pub fn s3_tags(body: &str) -> Option<(&'static str, String)> {
    xml_tags(body)
        .iter()
        .find_map(|(k, v)| tag_problem(k, v))
        .map(|why| (tag_error_code("s3"), why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn reserved_prefix_and_characters_are_refused_in_every_shape() {
        let rds = form(&[
            ("Action", "CreateDBCluster"),
            ("Tags.Tag.1.Key", "Environment"),
            ("Tags.Tag.1.Value", "dev"),
            ("Tags.Tag.2.Key", "AWS:owner"),
            ("Tags.Tag.2.Value", "x"),
        ]);
        let (code, why) = tags("rds", &rds, b"").unwrap();
        assert_eq!(code, "InvalidParameterValue");
        assert!(why.contains("AWS:owner"), "{why}");
        let ec2 = form(&[
            ("TagSpecification.1.Tag.1.Key", "Name"),
            ("TagSpecification.1.Tag.1.Value", "a{b}"),
        ]);
        assert!(tags("ec2", &ec2, b"").unwrap().1.contains('{'));
        let ok = form(&[
            ("Tags.member.1.Key", "Team"),
            ("Tags.member.1.Value", "a b:c/d=e+f-g@h_i."),
        ]);
        assert_eq!(tags("iam", &ok, b""), None);
        let secret = br#"{"Name":"n","Tags":[{"Key":"aws:x","Value":"1"}]}"#;
        assert_eq!(
            tags("secretsmanager", &[], secret).unwrap().0,
            "ValidationException"
        );
        let logs = br#"{"logGroupName":"g","tags":{"k":"v\u0007"}}"#;
        assert_eq!(tags("logs", &[], logs).unwrap().0, "ValidationException");
        let s3 = "<Tagging><TagSet><Tag><Key>aws:cloudformation:x</Key><Value>1</Value></Tag></TagSet></Tagging>";
        assert_eq!(s3_tags(s3).unwrap().0, "InvalidTag");
        let long = "v".repeat(257);
        assert!(tag_problem("k", &long).is_some());
        assert!(tag_problem(&"k".repeat(129), "v").is_some());
        assert_eq!(tag_problem("Environment", "dev"), None);
    }
}
