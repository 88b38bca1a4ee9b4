//! The APIs moto lacks, served by the gateway with in-memory state, faithful to the AWS API
//! reference in request and response shape, validation and error codes.

// An AWS error answer is a value these services return early, like any other answer.
#![allow(clippy::result_large_err)]

pub mod bedrock;
pub mod elasticache;
pub mod grafana;

use bytes::Bytes;
use http::Response;

/// A request as the emulated services see it.
#[derive(Debug)]
pub struct Req<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path, percent-decoded.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(String, String)>,
    /// Form parameters (query protocol).
    pub form: &'a [(String, String)],
    /// Body.
    pub body: &'a [u8],
    /// The region of the credential scope.
    pub region: &'a str,
}

impl Req<'_> {
    /// A form parameter.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (an empty body is an empty object).
    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_slice(self.body).unwrap_or(serde_json::Value::Null)
        }
    }
}

/// The account every emulated resource belongs to (moto's).
pub const ACCOUNT: &str = "123456789012";

/// The emulated services' state.
#[derive(Debug, Default)]
pub struct Emulated {
    /// ElastiCache parameter groups.
    pub elasticache: elasticache::ParameterGroups,
    /// Bedrock inference profiles and foundation models.
    pub bedrock: bedrock::Bedrock,
    /// Managed Grafana.
    pub grafana: grafana::Grafana,
}

impl Emulated {
    /// Serve the request if it is one of ours.
    pub fn handle(
        &self,
        service: &str,
        op: &str,
        req: &Req<'_>,
        slow: crate::slow::SlowSettings,
    ) -> Option<Response<Bytes>> {
        match service {
            "elasticache" => self.elasticache.handle(op, req),
            "bedrock" => self.bedrock.handle(req),
            "grafana" => Some(self.grafana.handle(req, slow)),
            _ => None,
        }
    }
}

/// Now, as an ISO 8601 timestamp (Bedrock's timestamp format).
pub fn now_iso8601() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// Now, as epoch seconds with fractions (what REST-JSON timestamps carry by default).
pub fn now_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A random lowercase alphanumeric id.
pub fn random_id(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// A random lowercase hexadecimal id.
pub fn random_hex(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).expect("digit"))
        .collect()
}

/// Percent-decode one path segment (an ARN in a path arrives encoded).
pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
