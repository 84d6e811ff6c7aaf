//! Secrets in memory and at rest: a string that never prints, and the keyring that seals values
//! with AES-256-GCM before they reach the database.
//!
//! Sealed form: `v1.{key id}.{nonce}.{ciphertext+tag}` (base64url, no padding). Every value has its
//! own random 96-bit nonce, and the row it belongs to is bound in as associated data, so a
//! sealed value copied to another row does not open. The key lives outside the database
//! (config, environment or a key file) and rotation re-wraps every value under the active key.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use crate::StoreError;

/// A secret value (token, signing secret, SRTP key). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is sent to its one legitimate destination.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// The name of one encryption key, stored next to every value it sealed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Parses a key id: 1 to 32 characters of `a-z`, `0-9`, `-`, `_`.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let valid = (1..=32).contains(&text.len())
            && text
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(StoreError::Misconfigured(
                "a secret key id must be 1 to 32 characters of a-z, 0-9, - and _".to_owned(),
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One 256-bit key. Its bytes are never printed.
pub struct SecretKey {
    id: KeyId,
    key: LessSafeKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.id.as_str())
    }
}

impl SecretKey {
    /// Parses `id:base64-of-32-bytes`, the form keys take in config and environment.
    pub fn parse(spec: &str) -> Result<Self, StoreError> {
        let (id, material) = spec.trim().split_once(':').ok_or_else(|| {
            StoreError::Misconfigured("a secret key must look like `id:base64-of-32-bytes`".into())
        })?;
        let bytes = STANDARD.decode(material).map_err(|_| {
            StoreError::Misconfigured(format!("secret key {id:?} is not valid base64"))
        })?;
        Self::from_bytes(KeyId::parse(id)?, &bytes)
    }

    /// A key from raw bytes (must be 32).
    pub fn from_bytes(id: KeyId, bytes: &[u8]) -> Result<Self, StoreError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| {
            StoreError::Misconfigured(format!(
                "secret key {:?} must be exactly 32 bytes (got {})",
                id.as_str(),
                bytes.len()
            ))
        })?;
        Ok(Self {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    /// A fresh random key, in the `id:base64` form [`SecretKey::parse`] reads.
    pub fn generate_spec(id: &KeyId) -> Result<String, StoreError> {
        let mut bytes = [0_u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Misconfigured("no system randomness".into()))?;
        Ok(format!("{}:{}", id.as_str(), STANDARD.encode(bytes)))
    }

    /// The key's id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }
}

/// The keys the store may open values with, and the one it seals new values with.
#[derive(Debug)]
pub struct Keyring {
    active: KeyId,
    keys: BTreeMap<KeyId, SecretKey>,
    random: SystemRandom,
}

impl Keyring {
    /// A keyring sealing with `active` and able to open values sealed by any of `older`.
    pub fn new(active: SecretKey, older: impl IntoIterator<Item = SecretKey>) -> Self {
        let active_id = active.id.clone();
        let mut keys: BTreeMap<KeyId, SecretKey> =
            older.into_iter().map(|key| (key.id.clone(), key)).collect();
        keys.insert(active_id.clone(), active);
        Self {
            active: active_id,
            keys,
            random: SystemRandom::new(),
        }
    }

    /// The key new values are sealed with.
    pub fn active_id(&self) -> &KeyId {
        &self.active
    }

    /// Seals `plaintext` for the row named `context` (table and key).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String, StoreError> {
        let key = &self.keys[&self.active];
        let mut nonce = [0_u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|_| StoreError::Misconfigured("no system randomness".into()))?;
        let mut in_out = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| StoreError::SecretUnreadable {
                name: context.to_owned(),
                reason: "sealing failed",
            })?;
        Ok(format!(
            "v1.{}.{}.{}",
            self.active.as_str(),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(in_out)
        ))
    }

    /// Opens a value sealed for the row named `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Vec<u8>, StoreError> {
        let unreadable = |reason| StoreError::SecretUnreadable {
            name: context.to_owned(),
            reason,
        };
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(id), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(unreadable("not in the v1 sealed format"));
        };
        let key = KeyId::parse(id)
            .ok()
            .and_then(|id| self.keys.get(&id))
            .ok_or_else(|| unreadable("sealed under a key that is not configured"))?;
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(nonce)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| unreadable("bad nonce"))?;
        let mut in_out = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| unreadable("bad encoding"))?;
        let plaintext = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut in_out,
            )
            .map_err(|_| unreadable("authentication failed"))?;
        Ok(plaintext.to_vec())
    }

    /// Whether `sealed` was sealed under the active key (rotation skips those).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.active.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SecretKey {
        SecretKey::parse(&SecretKey::generate_spec(&KeyId::parse(id).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn sealed_values_open_only_in_their_own_row() {
        let ring = Keyring::new(key("k1"), []);
        let sealed = ring.seal("oauth_tokens:slack:T1", b"xoxb-secret").unwrap();
        assert!(!sealed.contains("xoxb"));
        assert_eq!(
            ring.open("oauth_tokens:slack:T1", &sealed).unwrap(),
            b"xoxb-secret"
        );
        assert!(ring.open("oauth_tokens:slack:T2", &sealed).is_err());
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let ring = Keyring::new(key("k1"), []);
        let a = ring.seal("ctx", b"same").unwrap();
        let b = ring.seal("ctx", b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn tampering_and_unknown_keys_are_refused() {
        let ring = Keyring::new(key("k1"), []);
        let sealed = ring.seal("ctx", b"value").unwrap();
        let mut flipped = sealed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(
            ring.open("ctx", std::str::from_utf8(&flipped).unwrap())
                .is_err()
        );
        let other = Keyring::new(key("k2"), []);
        assert!(matches!(
            other.open("ctx", &sealed),
            Err(StoreError::SecretUnreadable { .. })
        ));
        assert!(ring.open("ctx", "garbage").is_err());
    }

    #[test]
    fn rotated_keyring_opens_old_values_and_seals_with_the_new_key() {
        let old = Keyring::new(key("old"), []);
        let sealed = old.seal("ctx", b"value").unwrap();
        let rotated = Keyring::new(key("new"), [old.keys.into_values().next().unwrap()]);
        assert_eq!(rotated.open("ctx", &sealed).unwrap(), b"value");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("ctx", b"value").unwrap()));
    }

    #[test]
    fn malformed_key_specs_are_rejected_with_a_reason() {
        assert!(SecretKey::parse("nocolon").is_err());
        assert!(SecretKey::parse("k1:!!!").is_err());
        let short = format!("k1:{}", STANDARD.encode([0_u8; 16]));
        let error = SecretKey::parse(&short).unwrap_err().to_string();
        assert!(error.contains("32 bytes"), "{error}");
        assert!(format!("{:?}", key("k9")).contains("k9"));
        assert_eq!(
            format!("{:?}", SecretString::new("xoxb-1")),
            "SecretString(<redacted>)"
        );
    }
}
