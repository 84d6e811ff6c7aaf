//! Decrypting rich change notifications (reference `teams-graph.md` §4.5): the per-item AES-256
//! key is unwrapped with our RSA key (OAEP, SHA-1, as Graph sends it), the HMAC-SHA256
//! `dataSignature` over the encrypted bytes is checked in constant time *before* anything is
//! decrypted, then AES-CBC/PKCS7 with the IV taken from the key's first 16 bytes.

use aws_lc_rs::cipher::{AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::config::NotificationCertificate;

/// An item's `encryptedContent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EncryptedContent {
    pub(crate) data: String,
    pub(crate) data_signature: String,
    pub(crate) data_key: String,
    pub(crate) encryption_certificate_id: String,
}

/// Why an item could not be decrypted; each is counted under its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecryptError {
    /// Encrypted to a certificate we do not hold.
    UnknownCertificate,
    /// Not base64, or a key of the wrong size.
    Malformed,
    /// The RSA unwrap failed.
    KeyUnwrap,
    /// The HMAC did not match: tampered or not from Graph.
    Signature,
    /// AES or padding failed.
    Decrypt,
}

impl DecryptError {
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::UnknownCertificate => "unknown_certificate",
            Self::Malformed => "malformed_encrypted_content",
            Self::KeyUnwrap => "key_unwrap",
            Self::Signature => "data_signature",
            Self::Decrypt => "decrypt",
        }
    }
}

/// Our side of rich notifications.
pub(crate) struct Decryptor {
    certificate_id: String,
    key: OaepPrivateDecryptingKey,
}

impl std::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("certificate_id", &self.certificate_id)
            .finish_non_exhaustive()
    }
}

impl Decryptor {
    pub(crate) fn new(certificate: &NotificationCertificate) -> Result<Self, String> {
        let key = PrivateDecryptingKey::from_pkcs8(&certificate.private_key_pkcs8)
            .map_err(|_| "notification key is not an RSA PKCS#8 key".to_owned())?;
        let key = OaepPrivateDecryptingKey::new(key)
            .map_err(|_| "notification key cannot do RSA-OAEP".to_owned())?;
        Ok(Self {
            certificate_id: certificate.id.clone(),
            key,
        })
    }

    /// The plaintext of one item.
    pub(crate) fn decrypt(&self, content: &EncryptedContent) -> Result<Vec<u8>, DecryptError> {
        if content.encryption_certificate_id != self.certificate_id {
            return Err(DecryptError::UnknownCertificate);
        }
        let decode = |text: &str| STANDARD.decode(text).map_err(|_| DecryptError::Malformed);
        let wrapped = decode(&content.data_key)?;
        let signature = decode(&content.data_signature)?;
        let mut data = decode(&content.data)?;
        let mut unwrapped = vec![0u8; self.key.min_output_size()];
        let key = self
            .key
            .decrypt(&OAEP_SHA1_MGF1SHA1, &wrapped, &mut unwrapped, None)
            .map_err(|_| DecryptError::KeyUnwrap)?;
        if key.len() != 32 {
            return Err(DecryptError::Malformed);
        }
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), &data, &signature)
            .map_err(|_| DecryptError::Signature)?;
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let cipher = UnboundCipherKey::new(&AES_256, key).map_err(|_| DecryptError::Decrypt)?;
        let decrypting =
            PaddedBlockDecryptingKey::cbc_pkcs7(cipher).map_err(|_| DecryptError::Decrypt)?;
        let plaintext = decrypting
            .decrypt(&mut data, DecryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| DecryptError::Decrypt)?;
        Ok(plaintext.to_vec())
    }
}
