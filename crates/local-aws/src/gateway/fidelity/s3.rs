//! S3's hooks: tags validated as AWS does (moto ignores those given at `CreateBucket`: they are
//! applied right after the bucket is made), bucket policies enforced on every call and kept by
//! the gateway, and `GetBucketVersioning` answered in AWS's shape.

use http::Request;

use super::super::exchange::{answer, Exchange, Step};
use super::super::{forward, full, lag, Shared};
use crate::{emulated, fixes, rules};

pub(super) async fn before(shared: &Shared, x: &mut Exchange) -> Step {
    if x.op == "PutBucketTagging" {
        if let Some(text) = x.read_body().await? {
            if let Some((code, why)) = rules::s3_tags(&String::from_utf8_lossy(&text)) {
                return x.bad_request(code, &why);
            }
            x.body = Some(full(text));
        }
    }
    if x.op == "CreateBucket" {
        if let Some(text) = x.read_body().await? {
            return create_bucket(shared, x, text).await;
        }
    }
    let path = x.parts.uri.path().trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let (bucket, key) = (
        emulated::percent_decode(bucket),
        emulated::percent_decode(key),
    );
    if bucket.is_empty() || matches!(x.op.as_str(), "CreateBucket" | "ListBuckets") {
        return Ok(None);
    }
    let call =
        super::super::bucket_policy_call(shared, &x.op, &x.parts, &bucket, &key, &mut x.body);
    if let Some(resp) = call.await? {
        return answer(resp);
    }
    x.notes.s3_bucket = bucket;
    Ok(None)
}

/// `CreateBucket` with its tags: the bucket made, then tagged.
async fn create_bucket(shared: &Shared, x: &mut Exchange, text: bytes::Bytes) -> Step {
    let bucket = x.parts.uri.path().trim_start_matches('/').to_string();
    let tags = crate::xml::inner(&String::from_utf8_lossy(&text), "Tags").map(str::to_string);
    if let Some((code, why)) = tags.as_deref().and_then(rules::s3_tags) {
        return x.bad_request(code, &why);
    }
    let mut parts = x.parts.clone();
    parts.headers.remove("content-length");
    let auth = x.auth();
    let resp = forward(shared, Request::from_parts(parts, full(text))).await?;
    if resp.status().is_success() {
        if let Some(tags) = tags.filter(|t| !t.trim().is_empty()) {
            let tagging = format!("<Tagging><TagSet>{tags}</TagSet></Tagging>");
            let mut req = Request::builder()
                .method("PUT")
                .uri(format!("/{bucket}?tagging"))
                .header("content-type", "application/xml");
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            forward(shared, req.body(full(tagging))?).await?;
        }
        let path = format!("/{bucket}");
        lag::after(shared, "s3", &x.region, &x.op, &x.form, &path, None, "");
    }
    answer(resp)
}

pub(super) fn after_forward(shared: &Shared, x: &Exchange) {
    if x.op == "DeleteBucket" && !x.notes.s3_bucket.is_empty() {
        shared.bucket_policies.delete(&x.notes.s3_bucket);
    }
}

pub(super) fn answer_first(text: &mut String) {
    *text = String::from_utf8_lossy(&fixes::get_bucket_versioning(text.as_bytes())).into_owned();
}
