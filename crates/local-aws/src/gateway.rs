//! The gateway: an HTTP server on the local AWS endpoint that passes every request to moto,
//! counts it, and corrects moto's answer where moto deviates from AWS.
//!
//! Requests are classified by the service in the SigV4 credential scope and the operation in the
//! `X-Amz-Target` header (JSON protocols), the `Action` parameter (query protocols) or the method,
//! path and subresource (S3). Bodies stream through untouched, except query-protocol form bodies,
//! which are small and read to find the action.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::calls::{is_read_only, Call, CallLog};

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Where the gateway listens and where moto is.
#[derive(Debug, Clone, Copy)]
pub struct GatewayOptions {
    /// Port on 127.0.0.1; 0 for a free one.
    pub listen_port: u16,
    /// Moto's port on 127.0.0.1.
    pub upstream_port: u16,
}

struct Shared {
    calls: Arc<CallLog>,
    upstream_port: u16,
    client: Client<HttpConnector, Body>,
}

/// A running gateway; stops when dropped.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    calls: Arc<CallLog>,
    task: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// Bind and start serving.
    pub async fn start(opts: GatewayOptions) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", opts.listen_port))
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot listen on 127.0.0.1:{}: {e}; choose another port with --port",
                    opts.listen_port
                )
            })?;
        let addr = listener.local_addr()?;
        let calls = Arc::new(CallLog::default());
        let shared = Arc::new(Shared {
            calls: calls.clone(),
            upstream_port: opts.upstream_port,
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Gateway { addr, calls, task })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The call log.
    pub fn calls(&self) -> &CallLog {
        &self.calls
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(v.to_string()))
        .expect("valid response")
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    Ok(match route(&shared, req).await {
        Ok(r) => r,
        Err(e) => json_response(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({ "gateway_error": e.to_string() }),
        ),
    })
}

async fn route(shared: &Shared, req: Request<Incoming>) -> anyhow::Result<Response<Body>> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/_gateway/") {
        return Ok(internal(shared, req.method(), rest));
    }
    let service = credential_service(&req);
    let (parts, body) = req.into_parts();
    // Query-protocol bodies are small forms; read them to find the action.
    let form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let (body, form_body): (Body, Option<Bytes>) = if form {
        let bytes = body.collect().await?.to_bytes();
        (full(bytes.clone()), Some(bytes))
    } else {
        (
            body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                .boxed(),
            None,
        )
    };
    let call = service
        .as_deref()
        .map(|s| classify(s, &parts, form_body.as_deref()));
    if let Some(call) = &call {
        shared.calls.record(call.clone());
    }

    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri: http::Uri = format!("http://127.0.0.1:{}{pq}", shared.upstream_port).parse()?;
    let mut upstream = Request::from_parts(parts, body);
    *upstream.uri_mut() = uri;
    let resp = shared.client.request(upstream).await?;
    let (parts, body) = resp.into_parts();
    let needs_fix = call
        .as_ref()
        .is_some_and(|c| c.service == "s3" && c.operation == "GetBucketVersioning")
        && parts.status.is_success();
    if needs_fix {
        let bytes = body.collect().await?.to_bytes();
        let fixed = fix_get_bucket_versioning(&bytes);
        let mut parts = parts;
        parts.headers.remove("content-length");
        return Ok(Response::from_parts(parts, full(fixed)));
    }
    Ok(Response::from_parts(
        parts,
        body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            .boxed(),
    ))
}

fn internal(shared: &Shared, method: &http::Method, rest: &str) -> Response<Body> {
    match (method.as_str(), rest) {
        ("GET", "health") => json_response(
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "moto_port": shared.upstream_port }),
        ),
        ("GET", "calls") => json_response(
            StatusCode::OK,
            serde_json::to_value(shared.calls.summary()).expect("serializes"),
        ),
        ("GET", "calls/log") => json_response(
            StatusCode::OK,
            serde_json::to_value(shared.calls.snapshot()).expect("serializes"),
        ),
        ("POST", "calls/reset") => {
            shared.calls.reset();
            json_response(StatusCode::OK, serde_json::json!({ "reset": true }))
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": format!("no gateway endpoint {method} /_gateway/{rest}") }),
        ),
    }
}

/// The service of the SigV4 credential scope: `Credential=AKID/date/region/SERVICE/aws4_request`.
fn credential_service<B>(req: &Request<B>) -> Option<String> {
    let from_header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_query = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| format!("Credential={v}"))
    });
    let text = from_header.or(from_query)?;
    let cred = text.split("Credential=").nth(1)?;
    let scope: Vec<&str> = cred.split([',', ' ']).next()?.split('/').collect();
    (scope.len() >= 5).then(|| scope[3].to_string())
}

/// Name the operation of a request.
fn classify(service: &str, parts: &http::request::Parts, form: Option<&[u8]>) -> Call {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if let Some(target) = target {
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        return Call {
            service: service.into(),
            mutating: !is_read_only(&op),
            operation: op,
            resource: None,
        };
    }
    let query = parts.uri.query().unwrap_or("");
    let action = form
        .and_then(|b| {
            url::form_urlencoded::parse(b)
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.into_owned())
        })
        .or_else(|| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.into_owned())
        });
    if let Some(op) = action {
        return Call {
            service: service.into(),
            mutating: !is_read_only(&op),
            operation: op,
            resource: None,
        };
    }
    if service == "s3" {
        return classify_s3(parts);
    }
    let method = parts.method.as_str();
    Call {
        service: service.into(),
        operation: format!("{method} {}", parts.uri.path()),
        mutating: !matches!(method, "GET" | "HEAD"),
        resource: None,
    }
}

fn classify_s3(parts: &http::request::Parts) -> Call {
    let path = parts.uri.path().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (b, k),
        None => (path, ""),
    };
    let keys: Vec<String> = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .map(|(k, _)| k.into_owned())
        .collect();
    let has = |k: &str| keys.iter().any(|x| x == k);
    const SUBRESOURCES: &[(&str, &str)] = &[
        ("versioning", "BucketVersioning"),
        ("encryption", "BucketEncryption"),
        ("publicAccessBlock", "PublicAccessBlock"),
        ("lifecycle", "BucketLifecycleConfiguration"),
        ("policy", "BucketPolicy"),
        ("tagging", "BucketTagging"),
        ("location", "BucketLocation"),
        ("acl", "BucketAcl"),
        ("ownershipControls", "BucketOwnershipControls"),
        ("cors", "BucketCors"),
        ("logging", "BucketLogging"),
    ];
    let method = parts.method.as_str();
    let sub = SUBRESOURCES
        .iter()
        .find(|(k, _)| has(k))
        .map(|(_, name)| *name);
    let op: String = match (method, bucket.is_empty(), key.is_empty(), sub) {
        ("GET", true, _, _) => "ListBuckets".into(),
        (_, false, false, Some("BucketTagging")) => format!("{}ObjectTagging", verb(method)),
        ("GET", false, true, Some(s)) => format!("Get{s}"),
        ("PUT", false, true, Some(s)) => format!("Put{s}"),
        ("DELETE", false, true, Some("BucketLifecycleConfiguration")) => {
            "DeleteBucketLifecycle".into()
        }
        ("DELETE", false, true, Some(s)) => format!("Delete{s}"),
        ("GET", false, true, None) if has("versions") => "ListObjectVersions".into(),
        ("GET", false, true, None) if has("uploads") => "ListMultipartUploads".into(),
        ("GET", false, true, None) if has("list-type") => "ListObjectsV2".into(),
        ("GET", false, true, None) => "ListObjects".into(),
        ("PUT", false, true, None) => "CreateBucket".into(),
        ("DELETE", false, true, None) => "DeleteBucket".into(),
        ("HEAD", false, true, _) => "HeadBucket".into(),
        ("POST", false, true, _) if has("delete") => "DeleteObjects".into(),
        ("GET", false, false, _) => "GetObject".into(),
        ("HEAD", false, false, _) => "HeadObject".into(),
        ("PUT", false, false, _) if has("partNumber") => "UploadPart".into(),
        ("PUT", false, false, _) if parts.headers.contains_key("x-amz-copy-source") => {
            "CopyObject".into()
        }
        ("PUT", false, false, _) => "PutObject".into(),
        ("DELETE", false, false, _) if has("uploadId") => "AbortMultipartUpload".into(),
        ("DELETE", false, false, _) => "DeleteObject".into(),
        ("POST", false, false, _) if has("uploads") => "CreateMultipartUpload".into(),
        ("POST", false, false, _) if has("uploadId") => "CompleteMultipartUpload".into(),
        _ => format!("{method} {}", keys.join("&")),
    };
    let mutating = !is_read_only(&op) && !matches!(method, "GET" | "HEAD");
    Call {
        service: "s3".into(),
        operation: op,
        mutating,
        resource: (!bucket.is_empty()).then(|| bucket.to_string()),
    }
}

fn verb(method: &str) -> &'static str {
    match method {
        "GET" => "Get",
        "PUT" => "Put",
        "DELETE" => "Delete",
        _ => "Post",
    }
}

/// Moto answers `GetBucketVersioning` with the root element `GetBucketVersioningResponse`; AWS
/// (and the Rust SDK's parser) use `VersioningConfiguration`.
pub fn fix_get_bucket_versioning(body: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(body);
    if !text.contains("GetBucketVersioningResponse") {
        return Bytes::copy_from_slice(body);
    }
    Bytes::from(text.replace("GetBucketVersioningResponse", "VersioningConfiguration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: &str, uri: &str) -> http::request::Parts {
        Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn s3_operations_are_named() {
        let cases = [
            ("GET", "/b?versioning", "GetBucketVersioning", false),
            ("PUT", "/b?versioning", "PutBucketVersioning", true),
            ("PUT", "/b", "CreateBucket", true),
            ("HEAD", "/b", "HeadBucket", false),
            ("GET", "/b?versions&max-keys=1", "ListObjectVersions", false),
            ("DELETE", "/b?lifecycle", "DeleteBucketLifecycle", true),
            ("DELETE", "/b?policy", "DeleteBucketPolicy", true),
            ("POST", "/b?delete", "DeleteObjects", true),
            ("PUT", "/b/k/x.txt", "PutObject", true),
            ("GET", "/b/k", "GetObject", false),
        ];
        for (m, u, op, mutating) in cases {
            let c = classify_s3(&parts(m, u));
            assert_eq!(
                (c.operation.as_str(), c.mutating),
                (op, mutating),
                "{m} {u}"
            );
            assert_eq!(c.resource.as_deref(), Some("b"));
        }
    }

    #[test]
    fn query_and_json_protocols() {
        let p = parts("POST", "/");
        let c = classify(
            "iam",
            &p,
            Some(b"Action=CreateUser&UserName=x&Version=2010-05-08"),
        );
        assert_eq!((c.operation.as_str(), c.mutating), ("CreateUser", true));
        let c = classify("ec2", &p, Some(b"Action=DescribeVpcs&Version=2016-11-15"));
        assert_eq!((c.operation.as_str(), c.mutating), ("DescribeVpcs", false));
        let p = Request::builder()
            .method("POST")
            .uri("/")
            .header("x-amz-target", "TrentService.CreateKey")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let c = classify("kms", &p, None);
        assert_eq!((c.operation.as_str(), c.mutating), ("CreateKey", true));
    }

    #[test]
    fn service_from_the_credential_scope() {
        let req = Request::builder()
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-central-2/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc")
            .body(())
            .unwrap();
        assert_eq!(credential_service(&req).as_deref(), Some("secretsmanager"));
        assert_eq!(
            credential_service(&Request::builder().body(()).unwrap()),
            None
        );
    }

    #[test]
    fn versioning_root_is_corrected() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></GetBucketVersioningResponse>"#;
        let fixed = String::from_utf8(fix_get_bucket_versioning(moto).to_vec()).unwrap();
        assert!(
            fixed.contains("<VersioningConfiguration xmlns=")
                && fixed.contains("</VersioningConfiguration>"),
            "{fixed}"
        );
        assert!(fixed.contains("<Status>Enabled</Status>"));
        let empty =
            br#"<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert!(String::from_utf8(fix_get_bucket_versioning(empty).to_vec())
            .unwrap()
            .starts_with("<VersioningConfiguration "));
    }
}
