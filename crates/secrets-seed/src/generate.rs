//! Generated values, from the operating system's CSPRNG, in the formats of CONVENTIONS.md.
//! Every intermediate buffer is zeroized; the value leaves here only inside a [`SecretValue`].

use layer_core::SecretValue;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::catalog::Format;

const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new value in `format`.
pub fn generate(format: Format) -> SecretValue {
    match format {
        Format::Hex32 => SecretValue::new(hex(32).to_string()),
        Format::Alnum32 => SecretValue::new(alnum(32).to_string()),
        Format::LiteLlmKey => {
            let mut s = Zeroizing::new(String::with_capacity(67));
            s.push_str("sk-");
            s.push_str(&hex(32));
            SecretValue::new(std::mem::take(&mut *s))
        }
    }
}

fn hex(bytes: usize) -> Zeroizing<String> {
    let mut raw = Zeroizing::new(vec![0u8; bytes]);
    OsRng.fill_bytes(&mut raw);
    let mut out = Zeroizing::new(String::with_capacity(bytes * 2));
    for b in raw.iter() {
        out.push(char::from_digit(u32::from(b >> 4), 16).expect("nibble"));
        out.push(char::from_digit(u32::from(b & 0xf), 16).expect("nibble"));
    }
    out
}

fn alnum(len: usize) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    let mut buf = Zeroizing::new([0u8; 64]);
    while out.len() < len {
        OsRng.fill_bytes(&mut *buf);
        // Rejection sampling keeps every character equally likely: 248 = 4 × 62.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALNUM[usize::from(b % 62)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_lower_hex(s: &str) -> bool {
        s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    }

    #[test]
    fn formats_match_the_conventions() {
        for _ in 0..50 {
            let h = generate(Format::Hex32);
            assert_eq!(h.expose_secret().len(), 64);
            assert!(is_lower_hex(h.expose_secret()));
            let a = generate(Format::Alnum32);
            assert_eq!(a.expose_secret().len(), 32);
            assert!(a.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
            let k = generate(Format::LiteLlmKey);
            let rest = k.expose_secret().strip_prefix("sk-").expect("sk- prefix");
            assert_eq!(rest.len(), 64);
            assert!(is_lower_hex(rest));
        }
    }

    #[test]
    fn values_differ_and_use_the_whole_alphabet() {
        let a = generate(Format::Alnum32);
        let b = generate(Format::Alnum32);
        assert_ne!(a.expose_secret(), b.expose_secret());
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.extend(generate(Format::Alnum32).expose_secret().chars());
        }
        assert_eq!(seen.len(), 62, "every character of [A-Za-z0-9] appears");
    }
}
