//! Bucket policies, enforced on every S3 call as AWS enforces them.
//!
//! Moto evaluates bucket policies for object calls only, with no request context (a deny on
//! `aws:SourceVpce` denies everything, `HeadBucket` and listing pass). The gateway keeps bucket
//! policies itself (moto never sees them, so its partial evaluation never runs) and evaluates
//! their explicit `Deny` statements against every S3 call: the operation's IAM action, the bucket
//! or object ARN, and the request context. The answer is AWS's `403 AccessDenied`.
//!
//! The request context: TLS is on (the SDK always uses it against AWS), no VPC endpoint, and the
//! account's root as principal, unless set otherwise (`POST /_gateway/s3-context`), for example a
//! source VPC endpoint to act as a workload inside the VPC.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The request context policies are evaluated against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Context {
    /// `aws:SourceVpce`: the VPC endpoint the request came through, if any.
    #[serde(default)]
    pub source_vpce: Option<String>,
    /// `aws:SecureTransport`.
    #[serde(default = "yes")]
    pub secure_transport: bool,
    /// `aws:PrincipalArn`.
    #[serde(default = "root")]
    pub principal_arn: String,
}

fn yes() -> bool {
    true
}

fn root() -> String {
    format!("arn:aws:iam::{}:root", crate::emulated::ACCOUNT)
}

impl Default for S3Context {
    fn default() -> Self {
        S3Context {
            source_vpce: None,
            secure_transport: true,
            principal_arn: root(),
        }
    }
}

/// The bucket policies and the request context.
#[derive(Debug, Default)]
pub struct BucketPolicies {
    policies: Mutex<HashMap<String, String>>,
    context: Mutex<S3Context>,
}

impl BucketPolicies {
    /// The policy of a bucket.
    pub fn get(&self, bucket: &str) -> Option<String> {
        self.policies
            .lock()
            .expect("not poisoned")
            .get(bucket)
            .cloned()
    }

    /// Set a bucket's policy.
    pub fn put(&self, bucket: &str, policy: String) {
        self.policies
            .lock()
            .expect("not poisoned")
            .insert(bucket.to_string(), policy);
    }

    /// Remove a bucket's policy.
    pub fn delete(&self, bucket: &str) {
        self.policies.lock().expect("not poisoned").remove(bucket);
    }

    /// The request context.
    pub fn context(&self) -> S3Context {
        self.context.lock().expect("not poisoned").clone()
    }

    /// Set the request context.
    pub fn set_context(&self, ctx: S3Context) {
        *self.context.lock().expect("not poisoned") = ctx;
    }

    /// Whether the bucket's policy denies this call.
    pub fn denies(&self, bucket: &str, action: &str, resource: &str) -> bool {
        let Some(policy) = self.get(bucket) else {
            return false;
        };
        denied(&policy, action, resource, &self.context())
    }
}

/// The IAM action an S3 operation needs (`versioned`: the request names a version).
pub fn action_of(operation: &str, versioned: bool) -> String {
    let a = match operation {
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "s3:ListBucket",
        "ListBuckets" => "s3:ListAllMyBuckets",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "GetObject" | "HeadObject" if versioned => "s3:GetObjectVersion",
        "GetObject" | "HeadObject" => "s3:GetObject",
        "PutObject"
        | "CopyObject"
        | "UploadPart"
        | "CreateMultipartUpload"
        | "CompleteMultipartUpload" => "s3:PutObject",
        "DeleteObject" if versioned => "s3:DeleteObjectVersion",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            "s3:PutLifecycleConfiguration"
        }
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "PutObjectTagging" => "s3:PutObjectTagging",
        other => return format!("s3:{other}"),
    };
    a.to_string()
}

/// `*` and `?` wildcards, case-insensitively (as IAM matches actions) or not (resources).
pub(crate) fn wildcard(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

pub(crate) fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        _ => Vec::new(),
    }
}

fn principal_matches(p: Option<&Value>, ctx: &S3Context) -> bool {
    match p {
        None => false,
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(o)) => o
            .get("AWS")
            .map(strings)
            .unwrap_or_default()
            .iter()
            .any(|a| a == "*" || wildcard(a, &ctx.principal_arn, false)),
        _ => false,
    }
}

fn context_value(key: &str, ctx: &S3Context) -> Option<String> {
    match key.to_lowercase().as_str() {
        "aws:sourcevpce" => ctx.source_vpce.clone(),
        "aws:securetransport" => Some(ctx.secure_transport.to_string()),
        "aws:principalarn" => Some(ctx.principal_arn.clone()),
        _ => None,
    }
}

/// Whether every condition of a statement holds. An operator or key the gateway does not know
/// makes the statement not apply, and is logged.
fn conditions_hold(conds: Option<&Value>, ctx: &S3Context) -> bool {
    let Some(Value::Object(ops)) = conds else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, want)| {
            let want = strings(want);
            let have = context_value(key, ctx);
            match op.as_str() {
                "StringEquals" => have.is_some_and(|h| want.contains(&h)),
                "StringNotEquals" => have.is_none_or(|h| !want.contains(&h)),
                "StringLike" => have.is_some_and(|h| want.iter().any(|w| wildcard(w, &h, false))),
                "StringNotLike" => {
                    have.is_none_or(|h| !want.iter().any(|w| wildcard(w, &h, false)))
                }
                "ArnEquals" | "ArnLike" => {
                    have.is_some_and(|h| want.iter().any(|w| wildcard(w, &h, false)))
                }
                "ArnNotEquals" | "ArnNotLike" => {
                    have.is_none_or(|h| !want.iter().any(|w| wildcard(w, &h, false)))
                }
                "Bool" => have.is_some_and(|h| want.iter().any(|w| w.eq_ignore_ascii_case(&h))),
                other => {
                    tracing::warn!(
                        operator = other,
                        key,
                        "bucket policy condition the local AWS does not evaluate"
                    );
                    false
                }
            }
        })
    })
}

/// Whether `policy` explicitly denies `action` on `resource` in `ctx`.
pub fn denied(policy: &str, action: &str, resource: &str, ctx: &S3Context) -> bool {
    let Ok(doc) = serde_json::from_str::<Value>(policy) else {
        return false;
    };
    let statements = match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        v @ Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|s| {
        s["Effect"] == "Deny"
            && principal_matches(s.get("Principal"), ctx)
            && match (s.get("Action"), s.get("NotAction")) {
                (Some(a), _) => strings(a).iter().any(|p| wildcard(p, action, true)),
                (None, Some(n)) => !strings(n).iter().any(|p| wildcard(p, action, true)),
                _ => false,
            }
            && match (s.get("Resource"), s.get("NotResource")) {
                (Some(r), _) => strings(r).iter().any(|p| wildcard(p, resource, false)),
                (None, Some(n)) => !strings(n).iter().any(|p| wildcard(p, resource, false)),
                _ => false,
            }
            && conditions_hold(s.get("Condition"), ctx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[
      {"Sid":"DenyData","Effect":"Deny","Principal":"*","Action":["s3:GetObject*","s3:PutObject","s3:ListBucket"],
       "Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1"}}},
      {"Sid":"Tls","Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
       "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

    #[test]
    fn deny_statements_with_wildcards_and_conditions() {
        let outside = S3Context::default();
        let inside = S3Context {
            source_vpce: Some("vpce-1".into()),
            ..Default::default()
        };
        assert!(denied(
            POLICY,
            "s3:GetObjectVersion",
            "arn:aws:s3:::b/k",
            &outside
        ));
        assert!(denied(POLICY, "s3:ListBucket", "arn:aws:s3:::b", &outside));
        assert!(!denied(POLICY, "s3:GetObject", "arn:aws:s3:::b/k", &inside));
        assert!(!denied(
            POLICY,
            "s3:GetBucketPolicy",
            "arn:aws:s3:::b",
            &outside
        ));
        assert!(!denied(
            POLICY,
            "s3:GetObject",
            "arn:aws:s3:::other/k",
            &outside
        ));
        let plain = S3Context {
            secure_transport: false,
            ..inside
        };
        assert!(denied(
            POLICY,
            "s3:GetBucketPolicy",
            "arn:aws:s3:::b",
            &plain
        ));
    }

    #[test]
    fn operations_need_their_actions() {
        assert_eq!(action_of("HeadBucket", false), "s3:ListBucket");
        assert_eq!(action_of("ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(
            action_of("ListObjectVersions", false),
            "s3:ListBucketVersions"
        );
        assert_eq!(action_of("GetBucketPolicy", false), "s3:GetBucketPolicy");
        assert_eq!(action_of("DeleteObject", true), "s3:DeleteObjectVersion");
        assert!(wildcard("s3:Get*", "S3:GETOBJECT", true));
        assert!(!wildcard("arn:aws:s3:::b/*", "arn:aws:s3:::b", false));
    }
}
