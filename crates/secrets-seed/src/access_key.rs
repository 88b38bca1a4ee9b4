//! The S3 access user's access key, held in `s3-access-key-id` and `s3-secret-access-key`.
//!
//! `CreateAccessKey` returns the only copy of the secret: a retried call after a lost response
//! would leave a key whose secret nobody holds. So it is made with one attempt; after a failure
//! the user's keys are listed, a key that appeared is deleted, and the run tries once more. IAM
//! allows two keys: one that we do not hold makes room first. A key is replaced in two phases,
//! create and store the new one, then delete the old, so the secrets never name a deleted key.
//! When an attempt failed without a definite answer, its key may be listed only seconds later:
//! once the list shows the key made last, any other key no secret holds is deleted, so a lost
//! answer's key goes in the run that made it.

use std::collections::BTreeMap;

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::ProvideErrorMetadata as _;
use aws_sdk_secretsmanager::Client;
use layer_core::{Error, Result, SecretValue};

use crate::catalog::Source;
use crate::meta::{TAG_ACCESS_KEY, TAG_KEPT_KEYS};
use crate::step::{assess, Outcome, Row, SeedInputs, SeedOptions, Sources, State};

/// Attempts at `CreateAccessKey`, each reconciled before the next: as many as the SDK makes of
/// other calls by default, so a dropped connection followed by a lost answer still converges.
const ATTEMPTS: usize = 3;

/// The permissions of the S3 key pair's seeding: the user's keys, listed, created and deleted.
pub(crate) fn access(user: &str) -> Vec<layer_core::access::Access> {
    use layer_core::access::{global_arn, Access, Need};
    vec![Access::new(
        Need::Seed,
        "S3AccessKeys",
        &[
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:CreateAccessKey",
            "iam:DeleteAccessKey",
        ],
        [global_arn("iam", &format!("user/{user}"))],
    )]
}

fn iam_err<E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error>(
    op: &str,
    user: &str,
    e: &E,
) -> Error {
    Error::aws(format!("iam:{op} on {user}"), e)
}

/// The user's access key ids; `None` when the user does not exist.
pub(crate) async fn list_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
) -> Result<Option<Vec<String>>> {
    match iam.list_access_keys().user_name(user).send().await {
        Ok(out) => Ok(Some(
            out.access_key_metadata()
                .iter()
                .filter_map(|k| k.access_key_id().map(str::to_string))
                .collect(),
        )),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(iam_err("ListAccessKeys", user, &e)),
    }
}

/// The ids the key secrets hold, read directly (`DescribeSecret`): a list may lag behind the
/// run that stored them.
pub(crate) async fn held_ids(sm: &Client, inputs: &SeedInputs) -> Result<Vec<String>> {
    let mut held = Vec::new();
    for d in inputs
        .catalog
        .iter()
        .filter(|d| matches!(d.source, Source::AccessKeyId | Source::SecretAccessKey))
    {
        let name = inputs.names.full(&d.name);
        if let Some(id) = crate::meta::describe(sm, &name)
            .await?
            .and_then(|m| m.tag(TAG_ACCESS_KEY).map(str::to_string))
        {
            if !held.contains(&id) {
                held.push(id);
            }
        }
    }
    Ok(held)
}

/// The user's keys as listed, plus every key in `held` that the list does not show yet but
/// that exists and belongs to the user (`GetAccessKeyLastUsed`, a direct read: `ListAccessKeys`
/// may not show a key made seconds ago).
pub(crate) async fn confirmed_keys(
    iam: &aws_sdk_iam::Client,
    user: &str,
    listed: Option<Vec<String>>,
    held: &[String],
) -> Result<Option<Vec<String>>> {
    let Some(mut keys) = listed else {
        return Ok(None);
    };
    for id in held {
        if keys.contains(id) {
            continue;
        }
        match iam
            .get_access_key_last_used()
            .access_key_id(id)
            .send()
            .await
        {
            Ok(out) if out.user_name() == Some(user) => keys.push(id.clone()),
            Ok(_) => {}
            Err(e) if e.code() == Some("NoSuchEntity") => {}
            Err(e) => return Err(iam_err("GetAccessKeyLastUsed", user, &e)),
        }
    }
    Ok(Some(keys))
}

async fn keys(iam: &aws_sdk_iam::Client, user: &str) -> Result<Vec<String>> {
    Ok(list_keys(iam, user).await?.unwrap_or_default())
}

async fn delete_key(iam: &aws_sdk_iam::Client, user: &str, id: &str) -> Result<()> {
    match iam
        .delete_access_key()
        .user_name(user)
        .access_key_id(id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
        Err(e) => Err(iam_err("DeleteAccessKey", user, &e)),
    }
}

/// The user's keys, listed again while `shown` is false of them (IAM's lists lag by seconds),
/// for a bounded time; then as they are.
async fn keys_showing(
    iam: &aws_sdk_iam::Client,
    user: &str,
    shown: impl Fn(&[String]) -> bool,
) -> Result<Vec<String>> {
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(250);
    loop {
        let listed = keys(iam, user).await?;
        if shown(&listed) || started.elapsed() >= layer_core::wait::UNSEEN_LIMIT {
            return Ok(listed);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}

/// The user's keys that were not there `before`: made by a failed call. With `wait`, one is
/// known to exist: the list is read again until it shows it.
async fn made_since(
    iam: &aws_sdk_iam::Client,
    user: &str,
    before: &[String],
    wait: bool,
) -> Result<Vec<String>> {
    let new = |listed: &[String]| listed.iter().any(|k| !before.contains(k));
    let listed = keys_showing(iam, user, |l| !wait || new(l)).await?;
    Ok(listed.into_iter().filter(|k| !before.contains(k)).collect())
}

/// A key made, and its secret.
struct Made {
    id: String,
    secret: SecretValue,
}

/// What the attempts at a key left to reconcile, across every attempt of the run.
#[derive(Default)]
struct Attempts {
    /// An attempt failed without a definite answer (a dropped connection, a lost response): it
    /// may have made a key the list does not show yet.
    uncertain: bool,
    /// The keys already deleted after a failed attempt.
    deleted: Vec<String>,
}

impl Attempts {
    fn note(tried: &std::sync::Mutex<Attempts>, f: impl FnOnce(&mut Attempts)) {
        f(&mut tried
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}

/// Whether a failed call surely made nothing: AWS refused it (a 4xx answer).
fn refused<E>(
    e: &aws_sdk_iam::error::SdkError<E, aws_sdk_iam::config::http::HttpResponse>,
) -> bool {
    matches!(e, aws_sdk_iam::error::SdkError::ServiceError(s) if s.raw().status().is_client_error())
}

/// One `CreateAccessKey`, without retries; on failure, delete whatever key it may have made.
/// What is left to reconcile is noted in `tried`, which outlives a retry of the whole call.
async fn create_key(
    iam: &aws_sdk_iam::Client,
    user: &str,
    tried: &std::sync::Mutex<Attempts>,
) -> Result<Made> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let before = keys(iam, user).await?;
        let res = layer_core::log_guard::carrying(
            iam.create_access_key()
                .user_name(user)
                .customize()
                .config_override(
                    aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send(),
        )
        .await;
        match res {
            Ok(mut out) => {
                let mut key = out.access_key.take().ok_or_else(|| {
                    Error::Other(format!("iam:CreateAccessKey on {user}: no key returned"))
                })?;
                // Taken out of the answer, not copied.
                let secret = SecretValue::new(std::mem::take(&mut key.secret_access_key));
                return Ok(Made {
                    id: std::mem::take(&mut key.access_key_id),
                    secret,
                });
            }
            Err(e) => {
                Attempts::note(tried, |t| t.uncertain |= !refused(&e));
                tracing::warn!(user, "CreateAccessKey failed; reconciling the user's keys");
                // At IAM's quota of two with fewer seen, an earlier call whose answer was lost
                // made a key that the list does not show yet.
                let at_quota = e.code() == Some("LimitExceeded") && before.len() < 2;
                last = Some(iam_err("CreateAccessKey", user, &e));
                // A key made by a failed call has a secret nobody holds.
                for id in made_since(iam, user, &before, at_quota).await? {
                    delete_key(iam, user, &id).await?;
                    Attempts::note(tried, |t| t.deleted.push(id));
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| Error::Other("CreateAccessKey failed".into())))
}

/// After a create whose earlier attempt may have made a key: once the list shows the key made
/// last (a key made before it is listed by then), delete every key no secret holds and this run
/// has not deleted already (`done`: a list may still show those), so the run that lost an answer
/// leaves no key behind for the next one to find.
async fn sweep(
    iam: &aws_sdk_iam::Client,
    user: &str,
    made: &str,
    held: &[String],
    kept: &[&str],
    done: &[String],
) -> Result<()> {
    let listed = keys_showing(iam, user, |l| l.iter().any(|k| k == made)).await?;
    let strays: Vec<&String> = listed
        .iter()
        .filter(|k| *k != made && !held.contains(k) && !done.contains(k))
        .filter(|k| !kept.contains(&k.as_str()))
        .collect();
    for stray in &strays {
        delete_key(iam, user, stray).await?;
    }
    if !strays.is_empty() {
        tracing::info!(
            user,
            count = strays.len(),
            "deleted keys that a create whose answer was lost made"
        );
    }
    Ok(())
}

/// Seed the S3 key pair; returns the two rows. Records written versions in `written`.
pub(crate) async fn seed(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    inputs: &SeedInputs,
    opts: &SeedOptions,
    sources: &Sources,
    written: &mut BTreeMap<String, String>,
) -> Vec<Row> {
    let defs: Vec<_> = inputs
        .catalog
        .iter()
        .filter(|d| matches!(d.source, Source::AccessKeyId | Source::SecretAccessKey))
        .collect();
    let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    let rows = |outcome: Outcome, note: Option<String>| -> Vec<Row> {
        names
            .iter()
            .map(|n| Row {
                secret: n.clone(),
                outcome: outcome.clone(),
                note: note.clone(),
            })
            .collect()
    };
    match pair(sm, iam, inputs, opts, sources, &defs).await {
        Ok(None) => rows(Outcome::Unchanged, None),
        Ok(Some((outcome, versions, note))) => {
            written.extend(versions);
            rows(outcome, note)
        }
        Err(e) => rows(Outcome::Failed(e.to_string()), None),
    }
}

/// The key id of a pair set by someone else (the old seed script): both secrets hold a value,
/// neither records its key, and the id secret names one of the user's active keys. The id is
/// read inside a [`SecretValue`] and compared there; the secret key's value is never read.
async fn adoptable(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    user: &str,
    defs: &[&crate::catalog::SecretDef],
    metas: &[Option<crate::meta::SecretMeta>],
    full: &dyn Fn(&str) -> String,
) -> Result<Option<String>> {
    let untagged_values = metas.iter().all(|m| {
        m.as_ref()
            .is_some_and(|m| m.has_value() && m.tag(TAG_ACCESS_KEY).is_none())
    });
    let Some(id_def) = defs.iter().find(|d| d.source == Source::AccessKeyId) else {
        return Ok(None);
    };
    if !untagged_values {
        return Ok(None);
    }
    let stored = crate::store::read_value(sm, &full(&id_def.name), None).await?;
    let active = iam
        .list_access_keys()
        .user_name(user)
        .send()
        .await
        .map_err(|e| iam_err("ListAccessKeys", user, &e))?;
    Ok(active
        .access_key_metadata()
        .iter()
        .filter(|k| k.status() == Some(&aws_sdk_iam::types::StatusType::Active))
        .filter_map(|k| k.access_key_id())
        .find(|id| stored.same_as(&SecretValue::new((*id).to_string())))
        .map(str::to_string))
}

/// Take over the key pair the secrets already hold (`id`, an active key of `user`): tagged, not
/// replaced. The user's other keys serve someone else: recorded, so no later run deletes them.
async fn adopt(
    sm: &Client,
    user: &str,
    id: &str,
    user_keys: &[String],
    defs: &[&crate::catalog::SecretDef],
    full: &dyn Fn(&str) -> String,
) -> Result<Written> {
    let others: Vec<&str> = user_keys
        .iter()
        .map(String::as_str)
        .filter(|k| *k != id)
        .collect();
    let kept = others.join(" ");
    for d in defs {
        let mut tags = vec![(TAG_ACCESS_KEY, id)];
        if !kept.is_empty() {
            tags.push((TAG_KEPT_KEYS, kept.as_str()));
        }
        crate::store::tag(sm, &full(&d.name), &tags).await?;
    }
    tracing::info!(user = %user, "adopted the key pair the secrets held: tagged, not replaced");
    let note = format!(
        "adopted: the secrets held `{user}`'s active key {id}; tagged, not replaced, and no key deleted"
    );
    Ok((Outcome::Unchanged, Vec::new(), Some(note)))
}

/// Make room for a new key: IAM allows two. Keys we do not hold go first, oldest first; a key
/// kept at adoption is never deleted. Returns the keys left.
async fn make_room(
    iam: &aws_sdk_iam::Client,
    user: &str,
    user_keys: &[String],
    held_id: Option<&str>,
    kept: &[&str],
) -> Result<Vec<String>> {
    let mut existing = user_keys.to_vec();
    while existing.len() >= 2 {
        let victim = existing
            .iter()
            .position(|k| Some(k.as_str()) != held_id)
            .unwrap_or(0);
        let id = existing.remove(victim);
        if kept.contains(&id.as_str()) {
            return Err(Error::Other(format!(
                "`{user}` holds IAM's two keys, and {id} was kept at adoption for another user of it; delete that key once nothing uses it, then run seed again"
            )));
        }
        delete_key(iam, user, &id).await?;
    }
    Ok(existing)
}

type Written = (Outcome, Vec<(String, String)>, Option<String>);

async fn pair(
    sm: &Client,
    iam: &aws_sdk_iam::Client,
    inputs: &SeedInputs,
    opts: &SeedOptions,
    sources: &Sources,
    defs: &[&crate::catalog::SecretDef],
) -> Result<Option<Written>> {
    let user = &inputs.s3_user;
    let Some(user_keys) = &sources.access_keys else {
        return Err(Error::Other(format!(
            "the S3 access user `{user}` does not exist yet; run deploy first"
        )));
    };
    let full = |n: &str| inputs.names.full(n);
    // Read the pair directly: a lagging list must not make us replace, or delete, a key we hold.
    let mut metas = Vec::new();
    for d in defs {
        metas.push(crate::meta::describe(sm, &full(&d.name)).await?);
    }
    let held_now: Vec<String> = metas
        .iter()
        .filter_map(|m| {
            m.as_ref()
                .and_then(|m| m.tag(TAG_ACCESS_KEY))
                .map(str::to_string)
        })
        .collect();
    let user_keys = &confirmed_keys(iam, user, Some(user_keys.clone()), &held_now)
        .await?
        .unwrap_or_default();
    let sources = &Sources {
        access_keys: Some(user_keys.clone()),
        ..sources.clone()
    };
    let states: Vec<State> = defs
        .iter()
        .zip(&metas)
        .map(|(d, m)| assess(d, m.as_ref(), sources, None, ""))
        .collect();
    if states.contains(&State::NoContainer) {
        return Err(Error::Other(
            "its container does not exist or is scheduled for deletion; run deploy first".into(),
        ));
    }
    let rotate = defs.iter().any(|d| opts.rotate.contains(&d.name));
    if !opts.force && !rotate {
        if let Some(id) = adoptable(sm, iam, user, defs, &metas, &full).await? {
            return adopt(sm, user, &id, user_keys, defs, &full).await.map(Some);
        }
    }
    let held: Vec<Option<&str>> = metas
        .iter()
        .map(|m| m.as_ref().and_then(|m| m.tag(TAG_ACCESS_KEY)))
        .collect();
    let consistent = states.iter().all(|s| *s == State::Seeded) && held[0] == held[1];
    let held_id = if consistent { held[0] } else { None };
    // Keys kept at adoption (another user of the user's keys) are never ours to delete.
    let kept: Vec<&str> = metas
        .iter()
        .filter_map(|m| m.as_ref().and_then(|m| m.tag(TAG_KEPT_KEYS)))
        .flat_map(str::split_whitespace)
        .collect();
    let renew = !consistent || opts.force || rotate;
    if !renew {
        // A leftover key (from a run killed between its two phases) is removed.
        let stray: Vec<&String> = user_keys
            .iter()
            .filter(|k| Some(k.as_str()) != held_id && !held_now.contains(k))
            .filter(|k| !kept.contains(&k.as_str()))
            .collect();
        if stray.is_empty() {
            return Ok(None);
        }
        for k in &stray {
            delete_key(iam, user, k).await?;
        }
        tracing::info!(user = %user, count = stray.len(), "deleted access keys no secret holds");
        return Ok(None);
    }
    let first = states.iter().all(|s| *s == State::Unseeded);
    let existing = make_room(iam, user, user_keys, held_id, &kept).await?;
    // A user made seconds ago (by the deploy before this seed) may be unknown to IAM yet.
    let what = format!("IAM user {user}");
    let tried = std::sync::Mutex::new(Attempts::default());
    let Made { id, secret } = layer_core::wait::while_unseen(
        &what,
        &["NoSuchEntity"],
        layer_core::wait::UNSEEN_LIMIT,
        || create_key(iam, user, &tried),
    )
    .await?;
    let mut versions = Vec::new();
    // Phase one: store the new key (the secret first, then its id).
    for d in defs.iter().rev() {
        let name = full(&d.name);
        let value = if d.source == Source::SecretAccessKey {
            secret.clone()
        } else {
            SecretValue::new(id.clone())
        };
        let version = crate::store::put(sm, &name, &value).await?;
        drop(value);
        crate::store::tag(sm, &name, &[(TAG_ACCESS_KEY, &id)]).await?;
        versions.push((d.name.clone(), version));
    }
    drop(secret);
    // Phase two: delete the old keys, read again directly first: never one a secret holds.
    let held_after = held_ids(sm, inputs).await?;
    for old in existing.iter().filter(|k| !held_after.contains(k)) {
        delete_key(iam, user, old).await?;
    }
    let tried = tried
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if tried.uncertain {
        // Cleanup only: the new pair is stored, and a key left here is the next run's stray.
        // Every key the run began with is held, kept, or deleted by now.
        let done: Vec<String> = tried
            .deleted
            .into_iter()
            .chain(user_keys.iter().cloned())
            .collect();
        if let Err(e) = sweep(iam, user, &id, &held_after, &kept, &done).await {
            tracing::warn!(user = %user, error = %e, "a key a lost create may have made is left for the next seed");
        }
    }
    tracing::info!(user = %user, "stored a new access key");
    let why = if rotate {
        "--rotate".to_string()
    } else if opts.force && consistent {
        "--force".to_string()
    } else {
        "the key it held was missing or not ours".to_string()
    };
    let outcome = if first {
        Outcome::Set
    } else {
        Outcome::Rewritten(why)
    };
    let note = (!first).then(|| {
        "the chat service picks up the new key when it reads its secrets again; the old key is deleted".to_string()
    });
    Ok(Some((outcome, versions, note)))
}
