//! Rich-notification crypto, step for step as documented (reference `teams-graph.md` §4.5):
//! a random AES-256 key per item wrapped with RSA-OAEP (SHA-1) under the subscriber's
//! certificate, AES-CBC/PKCS7 data with IV = the key's first 16 bytes, and an HMAC-SHA256
//! `dataSignature` over the encrypted bytes.

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// A subscriber's encryption certificate.
#[derive(Clone, Debug)]
pub(crate) struct EncryptionCertificate {
    /// The base64 text as the subscriber sent it (echoed in the subscription).
    pub(crate) base64: String,
    /// The subscriber's `encryptionCertificateId`.
    pub(crate) id: String,
    /// SHA-1 of the DER certificate, upper-case hex.
    pub(crate) thumbprint: String,
    /// SubjectPublicKeyInfo DER of its RSA key.
    spki: Vec<u8>,
}

impl EncryptionCertificate {
    /// Parses a base64 DER X.509 certificate holding an RSA key of 2048–4096 bits.
    pub(crate) fn parse(base64_der: &str, id: &str) -> Result<Self, String> {
        let der = STANDARD
            .decode(base64_der.trim())
            .map_err(|_| "encryptionCertificate is not valid base64.".to_owned())?;
        let (_, certificate) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| "encryptionCertificate is not a DER X.509 certificate.".to_owned())?;
        let spki = certificate.public_key().raw.to_vec();
        let key = PublicEncryptingKey::from_der(&spki)
            .map_err(|_| "encryptionCertificate must carry an RSA public key.".to_owned())?;
        if !(2048..=4096).contains(&key.key_size_bits()) {
            return Err("encryptionCertificate key must be 2048 to 4096 bits.".to_owned());
        }
        if id.is_empty() || id.len() > 128 {
            return Err("encryptionCertificateId is required (at most 128 characters).".to_owned());
        }
        let thumbprint = hex::encode_upper(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &der));
        Ok(Self {
            base64: base64_der.trim().to_owned(),
            id: id.to_owned(),
            thumbprint,
            spki,
        })
    }

    /// The `encryptedContent` object for `plaintext`.
    pub(crate) fn encrypt(&self, plaintext: &[u8]) -> Result<Value, String> {
        let failed = |step: &str| format!("rich notification {step} failed");
        let key: [u8; 32] = rand::random();
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let cipher = UnboundCipherKey::new(&AES_256, &key).map_err(|_| failed("key"))?;
        let encrypting = PaddedBlockEncryptingKey::cbc_pkcs7(cipher).map_err(|_| failed("cbc"))?;
        let mut data = plaintext.to_vec();
        encrypting
            .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .map_err(|_| failed("encryption"))?;
        let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &data);
        let public = PublicEncryptingKey::from_der(&self.spki).map_err(|_| failed("rsa key"))?;
        let oaep = OaepPublicEncryptingKey::new(public).map_err(|_| failed("oaep"))?;
        let mut wrapped = vec![0u8; oaep.ciphertext_size()];
        let wrapped = oaep
            .encrypt(&OAEP_SHA1_MGF1SHA1, &key, &mut wrapped, None)
            .map_err(|_| failed("key wrapping"))?;
        Ok(json!({
            "data": STANDARD.encode(&data),
            "dataSignature": STANDARD.encode(signature.as_ref()),
            "dataKey": STANDARD.encode(wrapped),
            "encryptionCertificateId": self.id,
            "encryptionCertificateThumbprint": self.thumbprint,
        }))
    }
}
