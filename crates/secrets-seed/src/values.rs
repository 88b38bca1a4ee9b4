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

/// `postgresql://<user>:<percent-encoded password>@<host>:<port>/<db>[?query]`, built with `url`.
pub fn connection_string(
    endpoint: &Endpoint,
    database: &str,
    password: &SecretValue,
) -> Result<SecretValue> {
    let fail = |what: &str| {
        Error::Other(format!(
            "building the connection string of `{database}`: {what}"
        ))
    };
    let mut url = url::Url::parse("postgresql://placeholder").map_err(|_| fail("base URL"))?;
    url.set_host(Some(&endpoint.host))
        .map_err(|e| fail(&format!("host `{}`: {e}", endpoint.host)))?;
    url.set_port(Some(endpoint.port))
        .map_err(|_| fail("port"))?;
    url.set_username(&endpoint.username)
        .map_err(|_| fail("user name"))?;
    let encoded =
        Zeroizing::new(utf8_percent_encode(password.expose_secret(), USERINFO).to_string());
    url.set_password(Some(&encoded))
        .map_err(|_| fail("password"))?;
    let path = utf8_percent_encode(database, USERINFO).to_string();
    url.set_path(&format!("/{path}"));
    if !endpoint.query.is_empty() {
        url.set_query(Some(&endpoint.query));
    }
    Ok(SecretValue::new(String::from(url)))
}

/// The endpoint definitions: the template with the LiteLLM master key as a JSON string.
pub fn endpoint_definitions(template: &str, litellm_key: &SecretValue) -> Result<SecretValue> {
    let quoted = Zeroizing::new(
        serde_json::to_string(litellm_key.expose_secret())
            .map_err(|_| Error::Other("encoding the LiteLLM master key as JSON".into()))?,
    );
    let placeholder = format!("\"{LITELLM_KEY_PLACEHOLDER}\"");
    Ok(SecretValue::new(template.replace(&placeholder, &quoted)))
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
