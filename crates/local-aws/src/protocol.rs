//! The wire shapes of AWS errors and responses, per protocol, for what the gateway answers itself.

use bytes::Bytes;
use http::{Response, StatusCode};

/// How a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Query protocol with `<ErrorResponse>` errors (IAM, STS, RDS, ElastiCache).
    Query,
    /// EC2's query protocol, with `<Response><Errors>` errors.
    Ec2,
    /// JSON 1.0/1.1 with `X-Amz-Target` (KMS, Logs, Secrets Manager).
    Json,
    /// REST with XML (S3).
    RestXml,
    /// REST with JSON (Bedrock, Grafana, AMP).
    RestJson,
}

impl Protocol {
    /// The protocol of a SigV4 service name.
    pub fn of(service: &str) -> Protocol {
        match service {
            "iam" | "sts" | "rds" | "elasticache" | "sns" | "sqs" | "cloudformation" => {
                Protocol::Query
            }
            "ec2" => Protocol::Ec2,
            "s3" => Protocol::RestXml,
            "bedrock" | "grafana" | "aps" => Protocol::RestJson,
            _ => Protocol::Json,
        }
    }

    /// The error a throttled call of this protocol gets, as the real service answers it.
    pub fn throttling(self) -> (StatusCode, &'static str) {
        match self {
            Protocol::Query => (StatusCode::BAD_REQUEST, "Throttling"),
            Protocol::Ec2 => (StatusCode::SERVICE_UNAVAILABLE, "RequestLimitExceeded"),
            Protocol::Json => (StatusCode::BAD_REQUEST, "ThrottlingException"),
            Protocol::RestXml => (StatusCode::SERVICE_UNAVAILABLE, "SlowDown"),
            Protocol::RestJson => (StatusCode::TOO_MANY_REQUESTS, "ThrottlingException"),
        }
    }

    /// An error response in this protocol's shape.
    pub fn error(self, status: StatusCode, code: &str, message: &str) -> Response<Bytes> {
        let id = request_id();
        let (ct, body) = match self {
            Protocol::Query => (
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>",
                    escape(code),
                    escape(message)
                ),
            ),
            Protocol::Ec2 => (
                "text/xml",
                format!(
                    "<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{id}</RequestID></Response>",
                    escape(code),
                    escape(message)
                ),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!("<Error><Code>{}</Code><Message>{}</Message><RequestId>{id}</RequestId></Error>", escape(code), escape(message)),
            ),
            Protocol::Json => ("application/x-amz-json-1.1", serde_json::json!({ "__type": code, "message": message }).to_string()),
            Protocol::RestJson => ("application/json", serde_json::json!({ "message": message }).to_string()),
        };
        Response::builder()
            .status(status)
            .header("content-type", ct)
            .header("x-amzn-requestid", &id)
            .header("x-amzn-errortype", code)
            .body(Bytes::from(body))
            .expect("valid response")
    }
}

/// A request id in the shape AWS uses.
pub fn request_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Escape text for XML.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// A query-protocol success response: `<{Op}Response><{Op}Result>{inner}</{Op}Result>…`.
pub fn query_ok(op: &str, namespace: &str, inner: &str) -> Response<Bytes> {
    let result = if inner.is_empty() {
        String::new()
    } else {
        format!("<{op}Result>{inner}</{op}Result>")
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><{op}Response xmlns=\"{namespace}\">{result}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
        request_id()
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/xml")
        .body(Bytes::from(body))
        .expect("valid")
}

/// A REST-JSON success response.
pub fn json_ok(status: StatusCode, v: &serde_json::Value) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", request_id())
        .body(Bytes::from(v.to_string()))
        .expect("valid")
}
