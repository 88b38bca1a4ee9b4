//! Derived values: the master password from the AWS-managed secret, the connection strings,
//! LiteLLM's endpoint definitions. Each is built in zeroized buffers and leaves only as a
//! [`SecretValue`].

use layer_core::{Error, Result, SecretValue};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::settings::LITELLM_KEY_PLACEHOLDER;

/// Everything but the unreserved characters of RFC 3986 is percent-encoded in the password, so
/// that any consumer (libpq, node-postgres, SQLAlchemy) decodes it to the same bytes.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The password of the AWS-managed master secret (`{"username": …, "password": …}`).
pub fn master_password(secret_string: SecretValue) -> Result<SecretValue> {
    #[derive(Deserialize)]
    struct Master {
        password: String,
    }
    let parsed: Master = serde_json::from_str(secret_string.expose_secret()).map_err(|e| {
        // The parser's message can quote the input: give its position only.
        Error::Other(format!(
            "the AWS-managed master secret is not the JSON RDS writes (error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    Ok(SecretValue::new(parsed.password))
}

/// The non-secret parts of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The master user.
    pub username: String,
    /// The cluster endpoint.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The query, without `?`; empty for none.
    pub query: String,
}

/// `postgresql://<user>:<percent-encoded password>@<host>:<port>/<db>[?query]`.
pub fn connection_string(
    endpoint: &Endpoint,
    database: &str,
    password: &SecretValue,
) -> Result<SecretValue> {
    Ok(take(connection_buffer(endpoint, database, password)?))
}

/// A buffer's value as a [`SecretValue`]: the `String` moves out (the emptied buffer zeroizes
/// nothing), and an exact-size one moves into the value's box without a copy.
fn take(mut buffer: Zeroizing<String>) -> SecretValue {
    SecretValue::new(std::mem::take(&mut *buffer))
}

/// The length of `s` percent-encoded, without encoding it anywhere.
fn encoded_len(s: &str) -> usize {
    utf8_percent_encode(s, USERINFO).map(str::len).sum()
}

/// A buffer of exactly `len` bytes that zeroizes on drop: a value written into it never moves
/// (a `String` that grows leaves the old copy behind, freed as it is).
fn exact_buffer(len: usize) -> Zeroizing<String> {
    Zeroizing::new(String::with_capacity(len))
}

/// The connection string, written into an exact-size zeroizing buffer.
fn connection_buffer(
    endpoint: &Endpoint,
    database: &str,
    password: &SecretValue,
) -> Result<Zeroizing<String>> {
    let host = endpoint.host.as_str();
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
    {
        return Err(Error::Other(format!(
            "building the connection string of `{database}`: host `{host}` is not a DNS name"
        )));
    }
    let port = endpoint.port.to_string();
    let query = &endpoint.query;
    let len = "postgresql://".len()
        + encoded_len(&endpoint.username)
        + 1
        + encoded_len(password.expose_secret())
        + 1
        + host.len()
        + 1
        + port.len()
        + 1
        + encoded_len(database)
        + if query.is_empty() { 0 } else { 1 + query.len() };
    let mut out = exact_buffer(len);
    out.push_str("postgresql://");
    out.extend(utf8_percent_encode(&endpoint.username, USERINFO));
    out.push(':');
    out.extend(utf8_percent_encode(password.expose_secret(), USERINFO));
    out.push('@');
    out.push_str(host);
    out.push(':');
    out.push_str(&port);
    out.push('/');
    out.extend(utf8_percent_encode(database, USERINFO));
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// The endpoint definitions: the template with the LiteLLM master key as a JSON string.
pub fn endpoint_definitions(template: &str, litellm_key: &SecretValue) -> Result<SecretValue> {
    Ok(take(definitions_buffer(template, litellm_key)))
}

/// `c` escaped for a JSON string, as a sequence of `&str` pieces written by `emit`.
fn json_escaped(c: char, emit: &mut impl FnMut(&str)) {
    let mut utf8 = [0u8; 4];
    match c {
        '"' => emit("\\\""),
        '\\' => emit("\\\\"),
        c if (c as u32) < 0x20 => {
            let hex = format!("\\u{:04x}", c as u32);
            emit(&hex)
        }
        c => emit(c.encode_utf8(&mut utf8)),
    }
}

/// The template with every placeholder replaced by the key as a JSON string, written into an
/// exact-size zeroizing buffer.
fn definitions_buffer(template: &str, litellm_key: &SecretValue) -> Zeroizing<String> {
    let placeholder = format!("\"{LITELLM_KEY_PLACEHOLDER}\"");
    let key = litellm_key.expose_secret();
    let mut quoted_len = 2;
    for c in key.chars() {
        json_escaped(c, &mut |s| quoted_len += s.len());
    }
    let n = template.matches(&placeholder).count();
    let len = template.len() - n * placeholder.len() + n * quoted_len;
    let mut out = exact_buffer(len);
    let mut pieces = template.split(&placeholder);
    out.push_str(pieces.next().unwrap_or_default());
    for piece in pieces {
        out.push('"');
        for c in key.chars() {
            json_escaped(c, &mut |s| out.push_str(s));
        }
        out.push('"');
        out.push_str(piece);
    }
    debug_assert_eq!(out.len(), len);
    out
}

/// A digest of non-secret inputs (host, port, database, template): recorded as a tag so that a
/// changed input is seen from metadata. Never called with a secret value.
pub fn digest_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_built_in_buffers_that_never_grow() {
        let endpoint = Endpoint {
            username: "dbadmin".into(),
            host: "db.example".into(),
            port: 5432,
            query: "sslmode=verify-full".into(),
        };
        let pw = SecretValue::new("p@ss w/é~".into());
        let b = connection_buffer(&endpoint, "chat", &pw).unwrap();
        assert_eq!(b.capacity(), b.len(), "pre-sized exactly: {}", b.as_str());
        assert_eq!(
            b.as_str(),
            "postgresql://dbadmin:p%40ss%20w%2F%C3%A9~@db.example:5432/chat?sslmode=verify-full"
        );
        let key = SecretValue::new("sk-a\"b\\c\u{1}".into());
        let d = definitions_buffer(
            "[{\"k\": \"${litellm_master_key}\"}, \"${litellm_master_key}\"]",
            &key,
        );
        assert_eq!(d.capacity(), d.len());
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert_eq!(v[0]["k"], "sk-a\"b\\c\u{1}");
        assert_eq!(v[1], "sk-a\"b\\c\u{1}");
        let bad = Endpoint {
            host: "db.example/evil".into(),
            ..endpoint
        };
        assert!(connection_buffer(&bad, "chat", &pw).is_err());
    }
    use percent_encoding::percent_decode_str;

    #[test]
    fn any_password_survives_the_connection_string() {
        let nasty = "p@ss:w/o?r#d%41&b+c d=é€😀\\\"'";
        let pw = SecretValue::new(nasty.to_string());
        let ep = Endpoint {
            username: "dbadmin".into(),
            host: "dal-aurora.cluster-abc.eu-central-2.rds.amazonaws.com".into(),
            port: 5432,
            query: "sslmode=verify-full".into(),
        };
        let cs = connection_string(&ep, "app_repository", &pw).unwrap();
        let parsed = url::Url::parse(cs.expose_secret()).unwrap();
        assert_eq!(parsed.scheme(), "postgresql");
        assert_eq!(parsed.username(), "dbadmin");
        assert_eq!(parsed.host_str(), Some(ep.host.as_str()));
        assert_eq!(parsed.port(), Some(5432));
        assert_eq!(parsed.path(), "/app_repository");
        assert_eq!(parsed.query(), Some("sslmode=verify-full"));
        let decoded = percent_decode_str(parsed.password().unwrap())
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, nasty);
        // Nothing that would end the userinfo early is left unencoded.
        let userinfo = cs.expose_secret().split('@').count();
        assert_eq!(userinfo, 2, "exactly one @ separates userinfo and host");
    }

    #[test]
    fn master_password_parse_errors_never_quote_the_input() {
        let e = master_password(SecretValue::new("{\"password\": canary-123".into()))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("canary"), "{e}");
        let ok = master_password(SecretValue::new(
            r#"{"username":"dbadmin","password":"x y"}"#.into(),
        ))
        .unwrap();
        assert_eq!(ok.expose_secret(), "x y");
    }

    #[test]
    fn endpoint_definitions_fill_the_key_as_json() {
        let t = r#"[{"endpoint": "http://litellm.unique.svc:4000", "key": "${litellm_master_key}", "models": ["gpt-4o"]}]"#;
        let v = endpoint_definitions(t, &SecretValue::new("sk-ab\"c".into())).unwrap();
        let j: serde_json::Value = serde_json::from_str(v.expose_secret()).unwrap();
        assert_eq!(j[0]["key"], "sk-ab\"c");
        assert_eq!(j[0]["endpoint"], "http://litellm.unique.svc:4000");
    }
}
