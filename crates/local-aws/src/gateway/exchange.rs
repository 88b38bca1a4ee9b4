//! One call as it moves through the gateway's stages: what classification found, the request as
//! stages rewrite it, and what a stage before the forward leaves for the stages after it.

use bytes::Bytes;
use http::{Response, StatusCode};

use super::{boxed, Body};
use crate::calls::Call;
use crate::cluster_parameters;
use crate::protocol::Protocol;

/// A call in flight through the stages.
pub(super) struct Exchange {
    /// The SigV4 service (`rds`, `s3`, …).
    pub(super) service: String,
    /// The region of the credential scope.
    pub(super) region: String,
    /// The operation.
    pub(super) op: String,
    /// The service's protocol, for its error shape.
    pub(super) protocol: Protocol,
    /// The call as counted.
    pub(super) call: Call,
    /// The request's head, until the forward takes it.
    pub(super) parts: http::request::Parts,
    /// The request's URI, kept past the forward.
    pub(super) uri: http::Uri,
    /// The caller's signature, kept past the forward.
    pub(super) authorization: Option<http::HeaderValue>,
    /// A streamed body (S3), until a stage reads it.
    pub(super) body: Option<Body>,
    /// A small body, read whole (query forms, JSON).
    pub(super) bytes: Bytes,
    /// The query-protocol form, decoded.
    pub(super) form: Vec<(String, String)>,
    /// Whether a stage changed `form`, so that moto gets it encoded again.
    pub(super) form_changed: bool,
    /// The fault injector's verdict: the answer is lost after the work is done.
    pub(super) lose_response: bool,
    /// The listed item this call changes and how its list showed it before (see `lag`).
    pub(super) lag_change: Option<(crate::consistency::Target, crate::consistency::Before)>,
    /// What stages before the forward note for the stages after it.
    pub(super) notes: Notes,
}

/// What the stages before the forward leave for those after it.
#[derive(Default)]
pub(super) struct Notes {
    /// The S3 bucket a call named (its policy is forgotten when it is deleted).
    pub s3_bucket: String,
    /// The page of cluster parameters asked for; the gateway pages moto's answer.
    pub(super) parameter_page: Option<cluster_parameters::Page>,
    /// A failover's cluster and its writer before it.
    pub(super) old_writer: Option<(String, String)>,
    /// AMP's client token of a workspace creation.
    pub(super) amp_token: Option<String>,
    /// The log groups `logGroupIdentifiers` named: moto's prefix request and the names kept.
    pub(super) log_group_names: Option<(String, Vec<String>)>,
}

/// What a stage decided: answer now, or let the call go on.
pub(super) enum Reply {
    /// An answer, lost when the call's fault is a lost response.
    Answer(Response<Body>),
    /// A refusal of AWS's validation, always delivered.
    Refuse(Response<Body>),
}

/// A stage's result: `None` lets the call go on.
pub(super) type Step = anyhow::Result<Option<Reply>>;

impl Exchange {
    /// A form parameter.
    pub(super) fn param(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The caller's signature, for the gateway's own calls to moto on its behalf.
    pub(super) fn auth(&self) -> Option<http::HeaderValue> {
        self.authorization.clone()
    }

    /// Whether this is `service`'s `op`.
    pub(super) fn is(&self, service: &str, op: &str) -> bool {
        self.service == service && self.op == op
    }

    /// The service's error answer.
    pub(super) fn error(&self, status: StatusCode, code: &str, why: &str) -> Response<Body> {
        boxed(self.protocol.error(status, code, why))
    }

    /// A `400` error answer, as AWS's validation gives.
    pub(super) fn bad_request(&self, code: &str, why: &str) -> Step {
        Ok(Some(Reply::Answer(self.error(
            StatusCode::BAD_REQUEST,
            code,
            why,
        ))))
    }

    /// A `400` refusal delivered whatever the faults say.
    pub(super) fn refuse(&self, code: &str, why: &str) -> Step {
        Ok(Some(Reply::Refuse(self.error(
            StatusCode::BAD_REQUEST,
            code,
            why,
        ))))
    }

    /// The query string's parameters.
    pub(super) fn query(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    /// The JSON body, parsed.
    pub(super) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.bytes).ok()
    }

    /// A string field of the JSON body.
    pub(super) fn json_str(&self, key: &str) -> Option<String> {
        self.json()?.get(key)?.as_str().map(str::to_string)
    }

    /// The form encoded again, for moto (its length header dropped).
    pub(super) fn encoded_form<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = &'a (String, String)>,
    ) -> Body {
        self.parts.headers.remove("content-length");
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        super::full(encoded)
    }

    /// A reply as delivered: `None` when the call's fault loses it.
    pub(super) fn deliver(&self, reply: Reply) -> Option<Response<Body>> {
        match reply {
            Reply::Answer(_) if self.lose_response => None,
            Reply::Answer(r) | Reply::Refuse(r) => Some(r),
        }
    }

    /// The request's body read whole (an S3 body that streamed until now).
    pub(super) async fn read_body(&mut self) -> anyhow::Result<Option<Bytes>> {
        use http_body_util::BodyExt as _;
        let Some(b) = self.body.take() else {
            return Ok(None);
        };
        let bytes = b
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_bytes();
        Ok(Some(bytes))
    }
}

/// An answer as a step's reply.
pub(super) fn answer(r: Response<Body>) -> Step {
    Ok(Some(Reply::Answer(r)))
}

/// A query-protocol or JSON answer built by the gateway, as a step's reply.
pub(super) fn answer_bytes(r: Response<Bytes>) -> Step {
    answer(boxed(r))
}
