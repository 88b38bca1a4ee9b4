//! The local environment's own certificate authorities, made once by `local up`:
//! - `.local/ca/`: the RDS stand-in; `rds-ca-bundle` holds its certificate, as AWS's regional
//!   RDS bundle does on AWS, and the data plane's PostgreSQL presents a certificate from it;
//! - `.local/ca/redis/`: the stand-in for the public CA ElastiCache's in-transit encryption
//!   presents (Amazon's, which an operating system trusts); the data plane's Redis presents a
//!   certificate from it, and the local environment trusts it as `[verify] extra_ca_file`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// The CA certificate's file name in its directory.
pub const CERT_FILE: &str = "ca.pem";
const KEY_FILE: &str = "ca.key";
/// The Redis CA's directory under the local CA's.
pub const REDIS_DIR: &str = "redis";
const CA_NAME: &str = "data-and-ai local CA";
const REDIS_CA_NAME: &str = "data-and-ai local Redis CA";

/// The name of the CA in `dir`: the Redis CA lives in the local CA's `redis/`.
fn name_of(dir: &Path) -> &'static str {
    if dir.file_name().is_some_and(|n| n == REDIS_DIR) {
        REDIS_CA_NAME
    } else {
        CA_NAME
    }
}

/// Make the local CA in `dir` and the Redis CA in `dir/redis` unless they are there; returns the
/// local CA certificate's path.
pub fn ensure(dir: &Path) -> anyhow::Result<PathBuf> {
    ensure_one(&dir.join(REDIS_DIR))?;
    ensure_one(dir)
}

/// The Redis CA certificate's path, under the local CA's directory.
pub fn redis_ca(dir: &Path) -> PathBuf {
    dir.join(REDIS_DIR).join(CERT_FILE)
}

fn ensure_one(dir: &Path) -> anyhow::Result<PathBuf> {
    let cert_path = dir.join(CERT_FILE);
    crate::private::private_dir(dir)?;
    if cert_path.exists() {
        // A key made before, or copied in, is the owner's alone again at every start.
        let key = dir.join(KEY_FILE);
        if key.exists() {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
        }
        return Ok(cert_path);
    }
    let key = KeyPair::generate().context("generating the local CA's key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, name_of(dir));
    let cert = params.self_signed(&key).context("signing the local CA")?;
    let key_path = dir.join(KEY_FILE);
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem())
        .with_context(|| format!("writing {}", cert_path.display()))?;
    Ok(cert_path)
}

/// Issue a server certificate for `names` (host names or IP addresses), signed by the CA in
/// `ca_dir`; writes `<out>/server.pem` and `<out>/server.key` (mode 0600) and returns their paths.
pub fn issue_server(
    ca_dir: &Path,
    out: &Path,
    names: &[String],
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let ca_key_pem = std::fs::read_to_string(ca_dir.join(KEY_FILE))
        .with_context(|| format!("reading the local CA's key in {}", ca_dir.display()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("the local CA's key")?;
    // The issuer, as the CA was made: the same name and key, so what it signs chains to ca.pem.
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, name_of(ca_dir));
    let issuer = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate().context("generating a server key")?;
    let mut params = CertificateParams::new(names.to_vec())?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    let cert = params
        .signed_by(&key, &issuer, &ca_key)
        .context("signing a server certificate")?;
    std::fs::create_dir_all(out)?;
    let cert_path = out.join("server.pem");
    let key_path = out.join("server.key");
    std::fs::write(&cert_path, cert.pem())?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    crate::private::private_file(path)?.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_ca_once() {
        let d = tempfile_dir();
        let p = ensure(&d).unwrap();
        let pem = std::fs::read_to_string(&p).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(ensure(&d).unwrap(), p);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            pem,
            "kept, not remade"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("dal-ca-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
}
