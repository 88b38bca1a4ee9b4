//! The gateway: an HTTP server on the local AWS endpoint that passes every request to moto,
//! counts it, and corrects moto's answer where moto deviates from AWS.
//!
//! Requests are classified by the service in the SigV4 credential scope and the operation in the
//! `X-Amz-Target` header (JSON protocols), the `Action` parameter (query protocols) or the method,
//! path and subresource (S3). Bodies stream through untouched, except query-protocol form bodies,
//! which are small and read to find the action.

use std::cell::Cell;
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
use crate::iam::bucket_policies::{self, BucketPolicies, S3Context};

use crate::emulated::{self, Emulated};
use crate::faults::{FaultPlan, Faults};
use crate::fixes;
use crate::protocol::{query_ok, Protocol};
use crate::replication_groups::{ReplicaCount, ReplicationGroups};

use crate::slow::{Slow, SlowSettings};

mod authorize;
mod db_subnet_groups;
mod exchange;
mod fidelity;
mod kms_grants;
mod lag;
mod stages;
mod tokens;

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
    authz: Arc<crate::iam::authz::Authz>,
    /// `CreateVpcEndpoint` answers by client token, for idempotent retries as on AWS.
    endpoint_tokens: tokens::ClientTokens<Bytes>,
    bucket_policies: Arc<BucketPolicies>,
    faults: Arc<Faults>,
    slow: Arc<Slow>,
    consistency: Arc<crate::consistency::Consistency>,
    failure_states: Arc<crate::failure_states::FailureStates>,
    rotation_schedules: crate::rotation_schedules::RotationSchedules,
    /// One lock per secret name, held while moto makes that secret: its `CreateSecret` checks the
    /// name, then stores, so two at once could both succeed, which AWS's never do. Seen: two of
    /// eight concurrent deploys took the run lock at once on a loaded machine.
    secret_creates: SecretCreates,
    emulated: Emulated,
    performance_insights: fixes::PerformanceInsights,
    /// AMP `CreateWorkspace` answers by client token.
    amp_tokens: tokens::ClientTokens<String>,
    /// When each IAM role was created through the gateway, for the propagation delay.
    roles_created: fidelity::iam::RoleAges,
    replication_groups: ReplicationGroups,
    leaving_clusters: crate::leaving_clusters::LeavingClusters,
    log_group_keys: crate::log_group_keys::LogGroupKeys,
    overlays: crate::overlays::Overlays,
    kms_grants: kms_grants::KmsGrants,
    incarnations: crate::incarnations::Incarnations,
    upstream_port: u16,
    client: Client<HttpConnector, Body>,
    /// The local data plane the emulated clusters and replication groups lead to, once bound.
    data_plane: DataPlaneSlot,
}

/// A lock per `(region, secret name)`.
type SecretCreates =
    std::sync::Mutex<std::collections::HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

type DataPlaneSlot = Arc<std::sync::RwLock<Option<Arc<crate::dataplane::DataPlane>>>>;

/// A running gateway; stops when dropped.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    calls: Arc<CallLog>,
    authz: Arc<crate::iam::authz::Authz>,
    faults: Arc<Faults>,
    slow: Arc<Slow>,
    consistency: Arc<crate::consistency::Consistency>,
    failure_states: Arc<crate::failure_states::FailureStates>,
    bucket_policies: Arc<BucketPolicies>,
    data_plane: DataPlaneSlot,
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
        let authz = Arc::new(crate::iam::authz::Authz::default());
        let faults = Arc::new(Faults::default());
        let slow = Arc::new(Slow::default());
        let consistency = Arc::new(crate::consistency::Consistency::default());
        let failure_states = Arc::new(crate::failure_states::FailureStates::default());
        let bucket_policies = Arc::new(BucketPolicies::default());
        let data_plane = DataPlaneSlot::default();
        let shared = Arc::new(Shared {
            data_plane: data_plane.clone(),
            calls: calls.clone(),
            authz: authz.clone(),
            bucket_policies: bucket_policies.clone(),
            endpoint_tokens: Default::default(),
            faults: faults.clone(),
            slow: slow.clone(),
            consistency: consistency.clone(),
            failure_states: failure_states.clone(),
            rotation_schedules: Default::default(),
            secret_creates: Default::default(),
            emulated: Emulated::default(),
            performance_insights: fixes::PerformanceInsights::default(),
            roles_created: Default::default(),
            amp_tokens: Default::default(),
            replication_groups: ReplicationGroups::default(),
            leaving_clusters: Default::default(),
            log_group_keys: Default::default(),
            overlays: Default::default(),
            kms_grants: Default::default(),
            incarnations: Default::default(),
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
        Ok(Gateway {
            addr,
            calls,
            authz,
            faults,
            slow,
            consistency,
            failure_states,
            bucket_policies,
            data_plane,
            task,
        })
    }

    /// Lead every Aurora cluster and Redis replication group to `plane`: their endpoints are its
    /// address, and a cluster's AWS-managed master secret and the server's password for the
    /// master user are set together (at creation, and at each `RotateMasterUserPassword`).
    pub fn bind_data_plane(&self, plane: Arc<crate::dataplane::DataPlane>) {
        *self.data_plane.write().expect("not poisoned") = Some(plane);
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

    /// The fault injector.
    pub fn authz(&self) -> &crate::iam::authz::Authz {
        &self.authz
    }

    /// The fault injector.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Slow creation and modification.
    pub fn slow(&self) -> &Slow {
        &self.slow
    }

    /// Eventual consistency: lagging lists, new buckets and users not yet seen.
    pub fn consistency(&self) -> &crate::consistency::Consistency {
        &self.consistency
    }

    /// Creations armed to fail, and the resources that failed.
    pub fn failure_states(&self) -> &crate::failure_states::FailureStates {
        &self.failure_states
    }

    /// Bucket policies and the S3 request context.
    pub fn bucket_policies(&self) -> &BucketPolicies {
        &self.bucket_policies
    }
}

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn boxed(r: Response<Bytes>) -> Response<Body> {
    r.map(full)
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(v.to_string()))
        .expect("valid response")
}

/// Closing the connection without an answer (a dropped connection or a lost response).
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    // Carried out to the end even when the client goes away meanwhile (a killed process): AWS
    // finishes a request it received, and a request the gateway makes of several calls to moto
    // (a bucket created with its tags) must not stop halfway.
    let log = Arc::clone(&shared);
    let routing = async move {
        let routed = route(&shared, req).await;
        let routed = match routed {
            // Only when a name was taken again: otherwise answers stream through untouched.
            Ok(Some(r)) if ELASTICACHE.with(Cell::get) && shared.incarnations.any() => {
                named_back(&shared, r).await.map(Some)
            }
            other => other,
        };
        (routed, RECORDED.with(Cell::get))
    };
    let routing = ELASTICACHE.scope(Cell::new(false), routing);
    let (routed, recorded) = tokio::spawn(RECORDED.scope(Cell::new(None), routing))
        .await
        .unwrap_or_else(|e| {
            let failed = anyhow::anyhow!("the gateway's handler failed: {e}");
            (Err(failed), None)
        });
    let answer = match routed {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(Dropped),
        Err(e) => Ok(json_response(
            StatusCode::BAD_GATEWAY,
            serde_json::json!({ "gateway_error": e.to_string() }),
        )),
    };
    if let Some((index, arrived)) = recorded {
        let status = answer.as_ref().ok().map(|r| r.status().as_u16());
        log.calls.answered(index, arrived, status);
    }
    answer
}

tokio::task_local! {
    /// The call log's index and arrival tick of the call being routed, for its answer.
    static RECORDED: Cell<Option<(usize, u64)>>;
    /// Whether the call being routed is ElastiCache's, whose answer names recreated groups by
    /// their names again.
    static ELASTICACHE: Cell<bool>;
}

/// An ElastiCache answer with moto's ids of recreated groups named back (see `incarnations`).
async fn named_back(shared: &Shared, resp: Response<Body>) -> anyhow::Result<Response<Body>> {
    let (mut parts, body) = resp.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading an answer: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let Some(named) = shared.incarnations.on_response(&text) else {
        return Ok(Response::from_parts(parts, full(bytes)));
    };
    parts.headers.remove("content-length");
    Ok(Response::from_parts(parts, full(named)))
}

fn stream(body: Incoming) -> Body {
    body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .boxed()
}

/// Serve one request through the stages (see `stages`); `None` closes the connection without an
/// answer.
async fn route(shared: &Shared, req: Request<Incoming>) -> anyhow::Result<Option<Response<Body>>> {
    let path = req.uri().path().to_string();
    if let Some(rest) = path.strip_prefix("/_gateway/") {
        let method = req.method().clone();
        let body = req.into_body().collect().await?.to_bytes();
        return Ok(Some(internal(shared, &method, rest, &body)));
    }
    let Some((service, region)) = credential_scope(&req) else {
        // Unsigned requests (moto's own API) pass through untouched and uncounted.
        return forward(shared, req.map(stream)).await.map(Some);
    };
    let mut x = stages::classify(shared, req, service, region).await?;
    if let Some(denied) = stages::authorize(shared, &x).await? {
        return Ok(Some(denied));
    }
    fidelity::rename_incarnations(shared, &mut x);
    if let Some(answer) = stages::faults(shared, &mut x).await {
        return Ok(answer);
    }
    if let Some(reply) = stages::validate(shared, &mut x).await? {
        return Ok(x.deliver(reply));
    }
    if let Some(reply) = fidelity::before(shared, &mut x).await? {
        return Ok(x.deliver(reply));
    }
    if let Some(reply) = stages::emulate(shared, &mut x) {
        return Ok(x.deliver(reply));
    }
    let resp = stages::forward_call(shared, &mut x).await?;
    let reply = stages::respond(shared, &mut x, resp).await?;
    Ok(x.deliver(reply))
}

/// An emulated service's answer through the failure states (Grafana's workspaces).
fn failed_emulated(
    shared: &Shared,
    service: &str,
    op: &str,
    form: &[(String, String)],
    resp: Response<Bytes>,
) -> Response<Bytes> {
    if !resp.status().is_success() {
        return resp;
    }
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    shared.failure_states.on_created(service, op, form, &text);
    match shared.failure_states.on_response(service, &text) {
        Some(t) => {
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove("content-length");
            Response::from_parts(parts, Bytes::from(t))
        }
        None => resp,
    }
}

/// How long a deleted replication group or cluster still shows as `deleting`.
fn deleted_after(shared: &Shared) -> std::time::Duration {
    std::time::Duration::from_millis(shared.slow.settings().modification_ms)
}

const ELASTICACHE_NS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";
const RDS_NS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// The replication-group calls moto cannot answer the way AWS does.
async fn replication_group_call(
    shared: &Shared,
    op: &str,
    form: &[(String, String)],
    region: &str,
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<Option<Response<Body>>> {
    let protocol = Protocol::Query;
    if op == "DescribeReplicationGroups" {
        if let Some(id) = form
            .iter()
            .find(|(k, _)| k == "ReplicationGroupId")
            .map(|(_, v)| v.clone())
        {
            if shared.replication_groups.gone(&id, deleted_after(shared)) {
                let msg = format!("Replication group {id} not found.");
                return Ok(Some(boxed(protocol.error(
                    StatusCode::NOT_FOUND,
                    "ReplicationGroupNotFoundFault",
                    &msg,
                ))));
            }
        }
    }
    let subnet_group = form
        .iter()
        .find(|(k, _)| k == "CacheSubnetGroupName")
        .map(|(_, v)| v.clone());
    match (op, &subnet_group) {
        ("DescribeCacheSubnetGroups", Some(name)) | ("ModifyCacheSubnetGroup", Some(name))
            if shared.replication_groups.subnet_group_deleted(name, false) =>
        {
            let msg = format!("CacheSubnetGroup {name} not found.");
            return Ok(Some(boxed(protocol.error(
                StatusCode::NOT_FOUND,
                "CacheSubnetGroupNotFoundFault",
                &msg,
            ))));
        }
        ("DeleteCacheSubnetGroup" | "CreateCacheSubnetGroup", Some(name)) => {
            let reviving = op == "CreateCacheSubnetGroup";
            if reviving && !shared.replication_groups.subnet_group_deleted(name, true) {
                return Ok(None);
            }
            // Moto cannot delete a cache subnet group: the gateway hides it (and shows it again
            // when the same name is created anew).
            let (status, text) = moto_query(
                shared,
                "elasticache",
                "DescribeCacheSubnetGroups",
                &[("CacheSubnetGroupName", name)],
                auth.clone(),
            )
            .await?;
            if !status.is_success() {
                return Ok(Some(
                    Response::builder()
                        .status(status)
                        .header("content-type", "text/xml")
                        .body(full(text))?,
                ));
            }
            if reviving {
                let block = crate::xml::inner(&text, "CacheSubnetGroups")
                    .unwrap_or_default()
                    .to_string();
                return Ok(Some(boxed(query_ok(op, ELASTICACHE_NS, &block))));
            }
            shared.replication_groups.delete_subnet_group(name);
            return Ok(Some(boxed(query_ok(op, ELASTICACHE_NS, ""))));
        }
        _ => {}
    }
    if op == "DescribeCacheClusters" {
        return Ok(shared
            .replication_groups
            .describe_cache_clusters(form, region)
            .map(|inner| boxed(query_ok(op, ELASTICACHE_NS, &inner))));
    }
    let ReplicaCount::Answer { id } = shared.replication_groups.on_request(op, form) else {
        return Ok(None);
    };
    // Answer with the group as moto describes it, corrected.
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("Action", "DescribeReplicationGroups"),
            ("Version", "2015-02-02"),
            ("ReplicationGroupId", id.as_str()),
        ])
        .finish();
    let mut req = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = forward(shared, req.body(full(body))?).await?;
    let status = resp.status();
    let text = String::from_utf8_lossy(
        &resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_bytes(),
    )
    .into_owned();
    if !status.is_success() {
        return Ok(Some(
            Response::builder()
                .status(status)
                .header("content-type", "text/xml")
                .body(full(text))?,
        ));
    }
    let text = shared
        .replication_groups
        .on_response(&text, deleted_after(shared));
    let text = fixes::elasticache_region(&text, region).unwrap_or(text);
    let text = match data_plane_host(shared) {
        Some(host) => fixes::rebind_hosts(&text, ".cache.amazonaws.com", &host),
        None => text,
    };
    let text = shared
        .slow
        .on_response("elasticache", op, &text)
        .unwrap_or(text);
    let block = crate::xml::inner(&text, "ReplicationGroups")
        .map(|g| g.to_string())
        .unwrap_or_default();
    Ok(Some(boxed(query_ok(op, ELASTICACHE_NS, &block))))
}

/// A query-protocol call straight to moto (not counted), signed as the caller's was:
/// `(status, body)`. `service` picks the API version (`elasticache`, `rds`, `ec2`).
async fn moto_query(
    shared: &Shared,
    service: &str,
    action: &str,
    params: &[(&str, &str)],
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<(StatusCode, String)> {
    let version = match service {
        "rds" => "2014-10-31",
        "ec2" => "2016-11-15",
        "iam" => "2010-05-08",
        "sts" => "2011-06-15",
        _ => "2015-02-02",
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("Action", action), ("Version", version)])
        .extend_pairs(params.iter().copied())
        .finish();
    let mut req = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = forward(shared, req.body(full(body))?).await?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading moto's answer: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// The access key a request is signed with.
fn access_key(parts: &http::request::Parts) -> Option<String> {
    let auth = parts.headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    cred.split('/').next().map(str::to_string)
}

/// Check a request against its principal's policies; the error response when it is refused.
/// The ARN of the caller whose access key is `key` (the emulator's STS), cached per key.
async fn caller_arn(shared: &Shared, key: &str, region: &str) -> anyhow::Result<String> {
    if let Some(arn) = shared.authz.arns.lock().expect("not poisoned").get(key) {
        return Ok(arn.clone());
    }
    let auth = http::HeaderValue::from_str(&format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/sts/aws4_request, SignedHeaders=host, Signature=0"
    ))
    .ok();
    let (_, xml) = moto_query(shared, "sts", "GetCallerIdentity", &[], auth).await?;
    let arn = crate::xml::text(&xml, "Arn").unwrap_or_else(|| "unknown".to_string());
    shared
        .authz
        .arns
        .lock()
        .expect("not poisoned")
        .insert(key.to_string(), arn.clone());
    Ok(arn)
}

/// A principal's identity policies, inline and attached, read from the emulator's IAM.
async fn policies_of(
    shared: &Shared,
    principal: &crate::iam::authz::Principal,
) -> anyhow::Result<Vec<serde_json::Value>> {
    use crate::iam::authz::Principal;
    let (kind, name) = match principal {
        Principal::User(n) => ("User", n.as_str()),
        Principal::Role(n) => ("Role", n.as_str()),
    };
    let name_key = format!("{kind}Name");
    let auth = || scoped_auth("us-east-1", "iam");
    let parse = |doc: &str| -> Option<serde_json::Value> {
        serde_json::from_str(doc)
            .ok()
            .or_else(|| serde_json::from_str(&emulated::percent_decode(doc)).ok())
    };
    let mut out = Vec::new();
    let (_, list) = moto_query(
        shared,
        "iam",
        &format!("List{kind}Policies"),
        &[(&name_key, name)],
        auth(),
    )
    .await?;
    let names = crate::xml::inner(&list, "PolicyNames")
        .map(|block| crate::xml::texts(block, "member"))
        .unwrap_or_default();
    for policy in names {
        let (_, got) = moto_query(
            shared,
            "iam",
            &format!("Get{kind}Policy"),
            &[(&name_key, name), ("PolicyName", &policy)],
            auth(),
        )
        .await?;
        if let Some(doc) = crate::xml::text(&got, "PolicyDocument").and_then(|d| parse(&d)) {
            out.push(doc);
        }
    }
    let (_, attached) = moto_query(
        shared,
        "iam",
        &format!("ListAttached{kind}Policies"),
        &[(&name_key, name)],
        auth(),
    )
    .await?;
    for arn in crate::xml::texts(&attached, "PolicyArn") {
        let (_, p) = moto_query(shared, "iam", "GetPolicy", &[("PolicyArn", &arn)], auth()).await?;
        let version = crate::xml::text(&p, "DefaultVersionId").unwrap_or_else(|| "v1".into());
        let (_, v) = moto_query(
            shared,
            "iam",
            "GetPolicyVersion",
            &[("PolicyArn", &arn), ("VersionId", &version)],
            auth(),
        )
        .await?;
        if let Some(doc) = crate::xml::text(&v, "Document").and_then(|d| parse(&d)) {
            out.push(doc);
        }
    }
    Ok(out)
}

/// AWS deletes a cluster's automated backups with it (`DeleteAutomatedBackups` defaults to
/// true); moto keeps them, and a new cluster of the same name then fails to take its first one.
async fn drop_automated_snapshots(
    shared: &Shared,
    cluster: &str,
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<()> {
    let (_, body) = moto_query(
        shared,
        "rds",
        "DescribeDBClusterSnapshots",
        &[
            ("DBClusterIdentifier", cluster),
            ("SnapshotType", "automated"),
        ],
        auth.clone(),
    )
    .await?;
    let mut ids = Vec::new();
    let _ = crate::xml::map_members(&body, "DBClusterSnapshot", |b| {
        ids.extend(crate::xml::text(b, "DBClusterSnapshotIdentifier"));
        None
    });
    for id in ids {
        moto_query(
            shared,
            "rds",
            "DeleteDBClusterSnapshot",
            &[("DBClusterSnapshotIdentifier", id.as_str())],
            auth.clone(),
        )
        .await?;
    }
    Ok(())
}

/// A SigV4 authorization header scoped to `service`, for the gateway's own calls to moto (which
/// routes by the scope and does not check signatures).
fn scoped_auth(region: &str, service: &str) -> Option<http::HeaderValue> {
    http::HeaderValue::from_str(&format!(
        "AWS4-HMAC-SHA256 Credential=gateway/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    ))
    .ok()
}

/// Whether a role (by ARN) was created more recently than the propagation delay.
fn role_is_young(shared: &Shared, role_arn: &str) -> bool {
    let role = role_arn.rsplit('/').next().unwrap_or_default();
    let propagation = std::time::Duration::from_millis(shared.slow.settings().role_propagation_ms);
    shared.roles_created.younger_than(role, propagation)
}

/// Bedrock validates the logging configuration's role and group as AWS does: the role is
/// required, must exist (and have propagated), trust `bedrock.amazonaws.com`, and allow
/// `logs:CreateLogStream` and `logs:PutLogEvents`; the group must exist. The refusal, if any.
async fn logging_refusal(
    shared: &Shared,
    region: &str,
    body: &[u8],
) -> anyhow::Result<Option<String>> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let cw = &v["loggingConfig"]["cloudWatchConfig"];
    if cw.is_null() {
        return Ok(None);
    }
    let group = cw["logGroupName"].as_str().unwrap_or_default();
    let Some(role_arn) = cw["roleArn"].as_str().filter(|r| !r.is_empty()) else {
        return Ok(Some(
            "1 validation error detected: Value null at 'loggingConfig.cloudWatchConfig.roleArn' failed to satisfy constraint: Member must not be null".into(),
        ));
    };
    let refused = Some(format!(
        "Failed to validate permissions for log group: {group}, with role: {role_arn}. Verify the IAM role permissions are correct."
    ));
    let role = role_arn.rsplit('/').next().unwrap_or_default();
    let auth = scoped_auth(region, "iam");
    let (status, got) = moto_query(
        shared,
        "iam",
        "GetRole",
        &[("RoleName", role)],
        auth.clone(),
    )
    .await?;
    if !status.is_success() {
        return Ok(refused);
    }
    let young = role_is_young(shared, role_arn);
    let trust = crate::xml::text(&got, "AssumeRolePolicyDocument").unwrap_or_default();
    let trust = emulated::percent_decode(&trust);
    if young || !trust.contains("bedrock.amazonaws.com") {
        return Ok(refused);
    }
    let (_, names) = moto_query(
        shared,
        "iam",
        "ListRolePolicies",
        &[("RoleName", role)],
        auth.clone(),
    )
    .await?;
    let mut policy_names = Vec::new();
    let _ = crate::xml::map_members(&names, "member", |m| {
        policy_names.push(crate::xml::text(m, "member").unwrap_or_default());
        None
    });
    let mut allowed = String::new();
    for p in policy_names {
        let (_, doc) = moto_query(
            shared,
            "iam",
            "GetRolePolicy",
            &[("RoleName", role), ("PolicyName", p.as_str())],
            auth.clone(),
        )
        .await?;
        allowed.push_str(&emulated::percent_decode(
            &crate::xml::text(&doc, "PolicyDocument").unwrap_or_default(),
        ));
    }
    let may = |action: &str| allowed.contains(action) || allowed.contains("\"logs:*\"");
    if !may("logs:CreateLogStream") || !may("logs:PutLogEvents") {
        return Ok(refused);
    }
    let exists = log_group_exists(shared, region, group).await?;
    Ok((!exists)
        .then(|| format!("The log group {group} does not exist."))
        .or(None))
}

/// The request parameters of RDS and ElastiCache that name a KMS key.
const KMS_KEY_PARAMETERS: &[&str] = &[
    "KmsKeyId",
    "MasterUserSecretKmsKeyId",
    "PerformanceInsightsKMSKeyId",
];

/// Replace every KMS key named by id or alias in `form` with the key's ARN, as AWS records it.
/// `Ok(Err(key))` when a key does not exist; `Ok(Ok(changed))` otherwise.
async fn kms_keys_as_arns(
    shared: &Shared,
    region: &str,
    form: &mut [(String, String)],
) -> anyhow::Result<Result<bool, String>> {
    let mut changed = false;
    for (k, v) in form.iter_mut() {
        if !KMS_KEY_PARAMETERS.contains(&k.as_str()) || v.is_empty() {
            continue;
        }
        if v.starts_with("arn:") && v.contains(":key/") {
            continue;
        }
        let (ok, answer) = moto_json(
            shared,
            region,
            "kms",
            "TrentService.DescribeKey",
            serde_json::json!({ "KeyId": v.as_str() }),
        )
        .await?;
        match answer["KeyMetadata"]["Arn"].as_str().map(str::to_string) {
            Some(arn) if ok => {
                *v = arn;
                changed = true;
            }
            _ => return Ok(Err(v.clone())),
        }
    }
    Ok(Ok(changed))
}

/// A JSON-protocol call straight to moto (not counted): `(success, answer)`.
async fn moto_json(
    shared: &Shared,
    region: &str,
    service: &str,
    target: &str,
    body: serde_json::Value,
) -> anyhow::Result<(bool, serde_json::Value)> {
    let req = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=gateway/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0"),
        )
        .body(full(body.to_string()))?;
    let resp = forward(shared, req).await?;
    let ok = resp.status().is_success();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading moto's answer: {e}"))?
        .to_bytes();
    Ok((ok, serde_json::from_slice(&bytes).unwrap_or_default()))
}

/// The data plane's address, when one is bound.
fn data_plane_host(shared: &Shared) -> Option<String> {
    shared
        .data_plane
        .read()
        .expect("not poisoned")
        .as_ref()
        .map(|p| p.host())
}

/// A cluster with an AWS-managed master secret, just created or rotated: give the master user a
/// new random password, in the secret (moto would keep a fixed one, or none after a rotation) and
/// in the data plane's PostgreSQL, together.
async fn set_master_password(shared: &Shared, region: &str, body: &str) -> anyhow::Result<()> {
    let plane = shared.data_plane.read().expect("not poisoned").clone();
    let Some(plane) = plane else { return Ok(()) };
    let Some(cluster) = crate::xml::inner(body, "DBCluster") else {
        return Ok(());
    };
    let (Some(user), Some(arn)) = (
        crate::xml::text(cluster, "MasterUsername"),
        crate::xml::inner(cluster, "MasterUserSecret")
            .and_then(|m| crate::xml::text(m, "SecretArn")),
    ) else {
        return Ok(());
    };
    use rand::distributions::{Alphanumeric, DistString};
    let password = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 32);
    let value = serde_json::json!({"username": user, "password": password}).to_string();
    let (ok, answer) = moto_json(
        shared,
        region,
        "secretsmanager",
        "secretsmanager.PutSecretValue",
        serde_json::json!({"SecretId": arn, "SecretString": value}),
    )
    .await?;
    if !ok {
        anyhow::bail!("setting the master secret {arn}: {answer}");
    }
    plane.set_password(&user, &password).await
}

/// Whether the emulator holds log group `group`.
async fn log_group_exists(shared: &Shared, region: &str, group: &str) -> anyhow::Result<bool> {
    let (_, found) = moto_json(
        shared,
        region,
        "logs",
        "Logs_20140328.DescribeLogGroups",
        serde_json::json!({ "logGroupNamePrefix": group }),
    )
    .await?;
    Ok(found["logGroups"]
        .as_array()
        .is_some_and(|gs| gs.iter().any(|g| g["logGroupName"] == group)))
}

/// `AssociateKmsKey` and `DisassociateKmsKey` (see `log_group_keys`).
async fn log_group_key(
    shared: &Shared,
    region: &str,
    op: &str,
    group: &str,
    body: &[u8],
) -> anyhow::Result<Response<Bytes>> {
    let json = Protocol::Json;
    if !log_group_exists(shared, region, group).await? {
        return Ok(json.error(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        ));
    }
    let key = if op == "AssociateKmsKey" {
        let key = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["kmsKeyId"].as_str().map(str::to_string))
            .unwrap_or_default();
        if !key.starts_with("arn:aws:kms:") {
            return Ok(json.error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterException",
                "Specify the KMS key by its ARN.",
            ));
        }
        Some(key)
    } else {
        None
    };
    shared.log_group_keys.set(region, group, key);
    Ok(crate::protocol::json_ok(
        StatusCode::OK,
        &serde_json::json!({}),
    ))
}

/// AWS forgets a log group's tags with the group; moto keeps them for the next group of the
/// same name. Drop them before the group is deleted.
async fn untag_log_group(shared: &Shared, region: &str, body: &[u8]) -> anyhow::Result<()> {
    let Some(name) = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["logGroupName"].as_str().map(str::to_string))
    else {
        return Ok(());
    };
    let (ok, tags) = moto_json(
        shared,
        region,
        "logs",
        "Logs_20140328.ListTagsLogGroup",
        serde_json::json!({ "logGroupName": name }),
    )
    .await?;
    let keys: Vec<String> = tags["tags"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    if ok && !keys.is_empty() {
        moto_json(
            shared,
            region,
            "logs",
            "Logs_20140328.UntagLogGroup",
            serde_json::json!({ "logGroupName": name, "tags": keys }),
        )
        .await?;
    }
    Ok(())
}

async fn forward(shared: &Shared, req: Request<Body>) -> anyhow::Result<Response<Body>> {
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = format!("http://127.0.0.1:{}{pq}", shared.upstream_port).parse()?;
    let resp = shared
        .client
        .request(Request::from_parts(parts, body))
        .await?;
    Ok(resp.map(stream))
}

/// Enforce the bucket's policy on an S3 call, and serve the bucket-policy calls themselves
/// (see [`crate::iam::bucket_policies`]). `None` lets the call go on to moto.
async fn bucket_policy_call(
    shared: &Shared,
    op: &str,
    parts: &http::request::Parts,
    bucket: &str,
    key: &str,
    body: &mut Option<Body>,
) -> anyhow::Result<Option<Response<Body>>> {
    let xml = Protocol::RestXml;
    let versioned = parts
        .uri
        .query()
        .is_some_and(|q| url::form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "versionId"));
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    let (actions, resource) = match op {
        // Each key of the request is checked by AWS; deny the request when either form is denied.
        "DeleteObjects" => (
            vec![
                "s3:DeleteObject".to_string(),
                "s3:DeleteObjectVersion".to_string(),
            ],
            format!("{bucket_arn}/*"),
        ),
        _ if key.is_empty() => (vec![bucket_policies::action_of(op, versioned)], bucket_arn),
        _ => (
            vec![bucket_policies::action_of(op, versioned)],
            format!("{bucket_arn}/{key}"),
        ),
    };
    if actions
        .iter()
        .any(|a| shared.bucket_policies.denies(bucket, a, &resource))
    {
        let mut r = xml.error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
        if parts.method == http::Method::HEAD {
            *r.body_mut() = Bytes::new();
        }
        return Ok(Some(boxed(r)));
    }
    if !matches!(
        op,
        "PutBucketPolicy" | "GetBucketPolicy" | "DeleteBucketPolicy"
    ) {
        return Ok(None);
    }
    // The bucket must exist: moto knows.
    let head = Request::builder()
        .method("HEAD")
        .uri(format!("/{bucket}"))
        .body(full(Bytes::new()))?;
    if forward(shared, head).await?.status() == StatusCode::NOT_FOUND {
        return Ok(Some(boxed(xml.error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ))));
    }
    let empty = |status| {
        Response::builder()
            .status(status)
            .body(full(Bytes::new()))
            .expect("valid response")
    };
    Ok(Some(match op {
        "PutBucketPolicy" => {
            let text = match body.take() {
                Some(b) => b
                    .collect()
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .to_bytes(),
                None => Bytes::new(),
            };
            let valid = serde_json::from_slice::<serde_json::Value>(&text)
                .ok()
                .is_some_and(|v| v.get("Statement").is_some());
            if !valid {
                boxed(xml.error(
                    StatusCode::BAD_REQUEST,
                    "MalformedPolicy",
                    "Policies must be valid JSON and the first byte must be '{'",
                ))
            } else {
                shared
                    .bucket_policies
                    .put(bucket, String::from_utf8_lossy(&text).into_owned());
                empty(StatusCode::NO_CONTENT)
            }
        }
        "GetBucketPolicy" => match shared.bucket_policies.get(bucket) {
            Some(p) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(full(p))
                .expect("valid response"),
            None => boxed(xml.error(
                StatusCode::NOT_FOUND,
                "NoSuchBucketPolicy",
                "The bucket policy does not exist",
            )),
        },
        _ => {
            shared.bucket_policies.delete(bucket);
            empty(StatusCode::NO_CONTENT)
        }
    }))
}

/// `CreateVpcEndpoint` as AWS answers it: a repeated `ClientToken` returns the first answer
/// (moto would make a second endpoint), and a second interface endpoint with private DNS for the
/// same service in the same VPC is refused (moto accepts it).
async fn create_vpc_endpoint(
    shared: &Shared,
    form: &[(String, String)],
    auth: Option<http::HeaderValue>,
) -> anyhow::Result<Response<Body>> {
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let token = get("ClientToken").map(str::to_string);
    if let Some(t) = &token {
        if let Some(first) = shared.endpoint_tokens.answered(t) {
            return Ok(Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "text/xml")
                .body(full(first))?);
        }
    }
    let interface = get("VpcEndpointType").is_some_and(|t| t.eq_ignore_ascii_case("Interface"));
    let private_dns = get("PrivateDnsEnabled").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let (vpc, service) = (
        get("VpcId").unwrap_or_default(),
        get("ServiceName").unwrap_or_default(),
    );
    if interface && private_dns {
        let (_, text) = moto_query(
            shared,
            "ec2",
            "DescribeVpcEndpoints",
            &[
                ("Filter.1.Name", "vpc-id"),
                ("Filter.1.Value.1", vpc),
                ("Filter.2.Name", "service-name"),
                ("Filter.2.Value.1", service),
            ],
            auth.clone(),
        )
        .await?;
        let conflict = text.split("<vpcEndpointId>").skip(1).any(|item| {
            item.contains("<privateDnsEnabled>true</privateDnsEnabled>")
                && !item.contains("<state>deleted</state>")
                && !item.contains("<state>deleting</state>")
        });
        if conflict {
            return Ok(boxed(Protocol::Ec2.error(
                StatusCode::BAD_REQUEST,
                "InvalidParameter",
                &format!("private-dns-enabled cannot be set because there is already a conflicting DNS domain for {service} in the VPC {vpc}"),
            )));
        }
    }
    let params: Vec<(&str, &str)> = form
        .iter()
        .filter(|(k, _)| k != "Action" && k != "Version")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, text) = moto_query(shared, "ec2", "CreateVpcEndpoint", &params, auth).await?;
    let rbytes = Bytes::from(text);
    if status.is_success() {
        if let Some(t) = token {
            shared.endpoint_tokens.remember(t, rbytes.clone());
        }
    }
    Ok(Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(full(rbytes))?)
}

/// Ask moto whether an Aurora cluster still has instances (AWS refuses to delete it then).
async fn cluster_has_members(shared: &Shared, id: &str, auth: Option<http::HeaderValue>) -> bool {
    describe_cluster(shared, id, auth)
        .await
        .is_some_and(|xml| xml.contains("<DBClusterMember>"))
}

/// Moto's `DescribeDBClusters` answer for one cluster, `None` when it does not exist.
async fn describe_cluster(
    shared: &Shared,
    id: &str,
    auth: Option<http::HeaderValue>,
) -> Option<String> {
    match moto_query(
        shared,
        "rds",
        "DescribeDBClusters",
        &[("DBClusterIdentifier", id)],
        auth,
    )
    .await
    {
        Ok((status, body)) if status.is_success() => Some(body),
        _ => None,
    }
}

/// Ask moto whether a secret of this name is scheduled for deletion.
async fn scheduled_for_deletion(
    shared: &Shared,
    name: &str,
    auth: Option<http::HeaderValue>,
) -> bool {
    let mut req = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "secretsmanager.DescribeSecret");
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let Ok(req) = req.body(full(serde_json::json!({ "SecretId": name }).to_string())) else {
        return false;
    };
    let Ok(resp) = forward(shared, req).await else {
        return false;
    };
    let Ok(body) = resp.into_body().collect().await else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
        .is_ok_and(|v| v.get("DeletedDate").is_some_and(|d| !d.is_null()))
}

fn internal(shared: &Shared, method: &http::Method, rest: &str, body: &[u8]) -> Response<Body> {
    let bad = |e: serde_json::Error| {
        json_response(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": e.to_string() }),
        )
    };
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
        ("GET", "faults") => json_response(
            StatusCode::OK,
            serde_json::json!({ "plan": shared.faults.plan(), "injected": shared.faults.injected() }),
        ),
        ("POST", "faults") => match serde_json::from_slice::<FaultPlan>(body) {
            Ok(plan) => {
                shared.faults.set(plan);
                json_response(StatusCode::OK, serde_json::json!({ "set": true }))
            }
            Err(e) => bad(e),
        },
        ("DELETE", "faults") => {
            shared.faults.clear();
            json_response(StatusCode::OK, serde_json::json!({ "cleared": true }))
        }
        ("GET", "s3-context") => json_response(
            StatusCode::OK,
            serde_json::to_value(shared.bucket_policies.context()).expect("serializes"),
        ),
        ("POST", "s3-context") => match serde_json::from_slice::<S3Context>(body) {
            Ok(c) => {
                shared.bucket_policies.set_context(c);
                json_response(StatusCode::OK, serde_json::json!({ "set": true }))
            }
            Err(e) => bad(e),
        },
        ("GET", "iam") => json_response(
            StatusCode::OK,
            serde_json::json!({ "enforce": shared.authz.enforcing(), "denials": shared.authz.denials() }),
        ),
        ("POST", "iam") => match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(v) => {
                let on = v.get("enforce").and_then(|e| e.as_bool()).unwrap_or(false);
                shared.authz.set(on);
                json_response(StatusCode::OK, serde_json::json!({ "enforce": on }))
            }
            Err(e) => bad(e),
        },
        ("GET", "consistency") => json_response(
            StatusCode::OK,
            serde_json::to_value(shared.consistency.settings()).expect("serializes"),
        ),
        ("POST", "consistency") => {
            match serde_json::from_slice::<crate::consistency::ConsistencySettings>(body) {
                Ok(s) => {
                    shared.consistency.set(s);
                    json_response(StatusCode::OK, serde_json::json!({ "set": true }))
                }
                Err(e) => bad(e),
            }
        }
        ("DELETE", "consistency") => {
            shared.consistency.clear();
            json_response(StatusCode::OK, serde_json::json!({ "cleared": true }))
        }
        ("POST", "fail-creation") => {
            match serde_json::from_slice::<crate::failure_states::FailCreation>(body) {
                Ok(f) => match shared.failure_states.arm(f) {
                    Ok(state) => {
                        json_response(StatusCode::OK, serde_json::json!({ "armed": state }))
                    }
                    Err(why) => {
                        json_response(StatusCode::BAD_REQUEST, serde_json::json!({ "error": why }))
                    }
                },
                Err(e) => bad(e),
            }
        }
        ("DELETE", "fail-creation") => {
            shared.failure_states.clear();
            json_response(StatusCode::OK, serde_json::json!({ "cleared": true }))
        }
        ("GET", "slow") => json_response(
            StatusCode::OK,
            serde_json::to_value(shared.slow.settings()).expect("serializes"),
        ),
        ("POST", "slow") => match serde_json::from_slice::<SlowSettings>(body) {
            Ok(s) => {
                shared.slow.set(s);
                json_response(StatusCode::OK, serde_json::json!({ "set": true }))
            }
            Err(e) => bad(e),
        },
        _ => json_response(
            StatusCode::NOT_FOUND,
            serde_json::json!({ "error": format!("no gateway endpoint {method} /_gateway/{rest}") }),
        ),
    }
}

/// The service and region of the SigV4 credential scope: `Credential=AKID/date/REGION/SERVICE/aws4_request`.
fn credential_scope<B>(req: &Request<B>) -> Option<(String, String)> {
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
    (scope.len() >= 5).then(|| (scope[3].to_string(), scope[2].to_string()))
}

/// The secret a Secrets Manager request names (`SecretId`, or `Name` on create), as given.
fn secret_named(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("SecretId")
        .or_else(|| v.get("Name"))
        .and_then(|s| s.as_str())
        .map(str::to_string)
}

/// Name the operation of a request.
fn classify_call(service: &str, parts: &http::request::Parts, form: Option<&[u8]>) -> Call {
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
            principal: None,
            arrived: 0,
            answered: None,
            status: None,
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
        const IDS: &[&str] = &[
            "DBInstanceIdentifier",
            "DBClusterIdentifier",
            "ReplicationGroupId",
            "CacheParameterGroupName",
            "UserName",
        ];
        let resource = form.and_then(|b| {
            url::form_urlencoded::parse(b)
                .find(|(k, _)| IDS.contains(&k.as_ref()))
                .map(|(_, v)| v.into_owned())
        });
        return Call {
            service: service.into(),
            mutating: !is_read_only(&op),
            operation: op,
            resource,
            principal: None,
            arrived: 0,
            answered: None,
            status: None,
        };
    }
    if service == "s3" {
        return classify_s3(parts);
    }
    let method = parts.method.as_str();
    // A known operation is classified by its name (`ListTagsForResource` is a POST and reads),
    // an unknown one by its method.
    let (operation, mutating) = match rest_json_operation(service, method, parts.uri.path()) {
        Some(op) => (op.to_string(), !is_read_only(op)),
        None => (
            format!("{method} {}", parts.uri.path()),
            !matches!(method, "GET" | "HEAD"),
        ),
    };
    Call {
        service: service.into(),
        operation,
        mutating,
        resource: None,
        principal: None,
        arrived: 0,
        answered: None,
        status: None,
    }
}

/// The operation names of the REST-JSON calls the gateway serves or counts.
fn rest_json_operation(service: &str, method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (service, method, segs.as_slice()) {
        ("bedrock", "GET", ["foundation-models"]) => "ListFoundationModels",
        ("bedrock", "POST", ["inference-profiles"]) => "CreateInferenceProfile",
        ("bedrock", "GET", ["inference-profiles"]) => "ListInferenceProfiles",
        ("bedrock", "GET", ["inference-profiles", _]) => "GetInferenceProfile",
        ("bedrock", "DELETE", ["inference-profiles", _]) => "DeleteInferenceProfile",
        ("bedrock", "POST", ["tagResource"]) => "TagResource",
        ("bedrock", "POST", ["untagResource"]) => "UntagResource",
        ("bedrock", "POST", ["listTagsForResource"]) => "ListTagsForResource",
        ("bedrock", "PUT", ["logging", "modelinvocations"]) => {
            "PutModelInvocationLoggingConfiguration"
        }
        ("bedrock", "GET", ["logging", "modelinvocations"]) => {
            "GetModelInvocationLoggingConfiguration"
        }
        ("bedrock", "DELETE", ["logging", "modelinvocations"]) => {
            "DeleteModelInvocationLoggingConfiguration"
        }
        ("aps", "POST", ["workspaces"]) => "CreateWorkspace",
        ("aps", "GET", ["workspaces"]) => "ListWorkspaces",
        ("aps", "GET", ["workspaces", _]) => "DescribeWorkspace",
        ("aps", "DELETE", ["workspaces", _]) => "DeleteWorkspace",
        ("aps", "POST", ["workspaces", _, "alias"]) => "UpdateWorkspaceAlias",
        ("aps", "POST", ["workspaces", _, "logging"]) => "CreateLoggingConfiguration",
        ("aps", "GET", ["workspaces", _, "logging"]) => "DescribeLoggingConfiguration",
        ("aps", "PUT", ["workspaces", _, "logging"]) => "UpdateLoggingConfiguration",
        ("aps", "DELETE", ["workspaces", _, "logging"]) => "DeleteLoggingConfiguration",
        ("aps", "POST", ["tags", ..]) => "TagResource",
        ("aps", "DELETE", ["tags", ..]) => "UntagResource",
        ("aps", "GET", ["tags", ..]) => "ListTagsForResource",
        ("grafana", "POST", ["workspaces"]) => "CreateWorkspace",
        ("grafana", "GET", ["workspaces"]) => "ListWorkspaces",
        ("grafana", "GET", ["workspaces", _]) => "DescribeWorkspace",
        ("grafana", "PUT", ["workspaces", _]) => "UpdateWorkspace",
        ("grafana", "DELETE", ["workspaces", _]) => "DeleteWorkspace",
        ("grafana", "POST", ["tags", ..]) => "TagResource",
        ("grafana", "DELETE", ["tags", ..]) => "UntagResource",
        ("grafana", "GET", ["tags", ..]) => "ListTagsForResource",
        _ => return None,
    })
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
        principal: None,
        arrived: 0,
        answered: None,
        status: None,
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
        let c = classify_call(
            "iam",
            &p,
            Some(b"Action=CreateUser&UserName=x&Version=2010-05-08"),
        );
        assert_eq!((c.operation.as_str(), c.mutating), ("CreateUser", true));
        let c = classify_call("ec2", &p, Some(b"Action=DescribeVpcs&Version=2016-11-15"));
        assert_eq!((c.operation.as_str(), c.mutating), ("DescribeVpcs", false));
        let p = Request::builder()
            .method("POST")
            .uri("/")
            .header("x-amz-target", "TrentService.CreateKey")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let c = classify_call("kms", &p, None);
        assert_eq!((c.operation.as_str(), c.mutating), ("CreateKey", true));
        // REST-JSON calls by operation, not by method.
        let c = classify_call("bedrock", &parts("POST", "/listTagsForResource"), None);
        assert_eq!(
            (c.operation.as_str(), c.mutating),
            ("ListTagsForResource", false)
        );
        let c = classify_call("bedrock", &parts("POST", "/tagResource"), None);
        assert_eq!((c.operation.as_str(), c.mutating), ("TagResource", true));
        let c = classify_call("aps", &parts("POST", "/workspaces/ws-1/logging"), None);
        assert_eq!(
            (c.operation.as_str(), c.mutating),
            ("CreateLoggingConfiguration", true)
        );
        let c = classify_call("aps", &parts("GET", "/workspaces/ws-1/logging"), None);
        assert_eq!(
            (c.operation.as_str(), c.mutating),
            ("DescribeLoggingConfiguration", false)
        );
    }

    #[test]
    fn service_from_the_credential_scope() {
        let req = Request::builder()
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261128/eu-central-2/secretsmanager/aws4_request, SignedHeaders=host, Signature=abc")
            .body(())
            .unwrap();
        assert_eq!(
            credential_scope(&req),
            Some(("secretsmanager".to_string(), "eu-central-2".to_string()))
        );
        assert_eq!(
            credential_scope(&Request::builder().body(()).unwrap()),
            None
        );
    }
}
