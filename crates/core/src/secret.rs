//! Secret values as a type: the one place a secret value lives in memory.
//!
//! [`SecretValue`] wraps [`secrecy::SecretString`]: the value is zeroized when dropped, its
//! `Debug` prints `[REDACTED]`, it has no `Display`, and it is not `Serialize`, so it can reach
//! neither a plan, an output, a log line nor a resource's spec (every spec is `Serialize`).
//! [`SecretValue::expose_secret`] is the one door, used only on the line that hands the value to
//! an SDK request, a hash, or a connection.
//!
//! Putting a secret into something serialized does not compile:
//!
//! ```compile_fail,E0277
//! use layer_core::secret::SecretValue;
//! let v = SecretValue::new("hunter2".to_string());
//! serde_json::to_string(&v).unwrap();
//! ```
//!
//! Nor does a resource spec that holds one (a spec must be `Serialize`):
//!
//! ```compile_fail,E0277
//! use layer_core::secret::SecretValue;
//! #[derive(serde::Serialize)]
//! struct Spec {
//!     name: String,
//!     password: SecretValue,
//! }
//! ```
//!
//! The same spec with names only compiles, so the two examples above fail for the secret alone:
//!
//! ```
//! #[derive(serde::Serialize)]
//! struct Spec {
//!     name: String,
//!     password_secret_arn: String,
//! }
//! serde_json::to_string(&Spec { name: "a".into(), password_secret_arn: "arn".into() }).unwrap();
//! ```
//!
//! And `Display` is not there to call:
//!
//! ```compile_fail,E0277
//! use layer_core::secret::SecretValue;
//! let v = SecretValue::new("hunter2".to_string());
//! println!("{v}");
//! ```

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret value: zeroized on drop, never printed, never serialized.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    /// Take ownership of a value, leaving no copy behind: a `String` of exact capacity moves
    /// into the box; one with room to spare (which moving into a box would reallocate, freeing
    /// the old buffer as it is) is copied into an exact box and zeroized, spare room included.
    pub fn new(mut value: String) -> Self {
        if value.capacity() == value.len() {
            return SecretValue(SecretString::from(value));
        }
        let exact: Box<str> = Box::from(value.as_str());
        zeroize::Zeroize::zeroize(&mut value);
        SecretValue(SecretString::from(exact))
    }

    /// The value, for the one line that hands it to an SDK request, a hash or a connection.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether two values are the same, compared in time that depends on their lengths only.
    pub fn same_as(&self, other: &SecretValue) -> bool {
        let (a, b) = (
            self.0.expose_secret().as_bytes(),
            other.0.expose_secret().as_bytes(),
        );
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Whether the value is empty (an empty secret is never a seeded one).
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::new(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretValue::new("canary-7f3a".to_string());
        let shown = format!("{v:?} {:?}", Some(&v));
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert_eq!(v.expose_secret(), "canary-7f3a");
        assert!(v.same_as(&SecretValue::new("canary-7f3a".to_string())));
        assert!(!v.same_as(&SecretValue::new("canary-7f3b".to_string())));
        assert!(!v.same_as(&SecretValue::new("canary".to_string())));
    }
}
