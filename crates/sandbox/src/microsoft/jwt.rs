//! RS256 signing keys generated at start, the JWKS that publishes them, and JWT minting and
//! checking. Tokens are checked against the sandbox clock, never the wall clock, so expiry is
//! testable by advancing time.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::SandboxError;

/// One RSA key that signs tokens, published in a JWKS under its `kid`.
#[derive(Debug)]
pub(crate) struct SigningKey {
    kid: String,
    pair: KeyPair,
    modulus: String,
    exponent: String,
}

/// Why a presented token is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// Not a JWT, bad signature, unknown key or wrong algorithm.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The `exp` claim is in the past (sandbox time).
    #[error("token expired")]
    Expired,
}

impl SigningKey {
    /// Generates a fresh 2048-bit key.
    pub(crate) fn generate() -> Result<Self, SandboxError> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| SandboxError::Crypto("RSA key generation failed".to_owned()))?;
        let public = pair.public_key();
        let modulus = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let exponent = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        // Entra key ids are opaque base64url strings; a random one of similar length looks alike.
        let kid = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 21]>());
        Ok(Self {
            kid,
            pair,
            modulus,
            exponent,
        })
    }

    /// Signs `claims` as an RS256 JWT (`typ` JWT, `kid` = this key).
    pub(crate) fn mint(&self, claims: &Value) -> Result<String, SandboxError> {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SandboxError::Crypto("RSA signing failed".to_owned()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// The JWK of the public half, with any extra members (Bot Framework `endorsements`).
    pub(crate) fn jwk(&self, extra: &Value) -> Value {
        let mut jwk = json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": self.modulus, "e": self.exponent, "alg": "RS256",
        });
        if let (Some(jwk), Some(extra)) = (jwk.as_object_mut(), extra.as_object()) {
            jwk.extend(extra.clone());
        }
        jwk
    }

    /// Checks signature, `kid` and algorithm with a standard JWT library, then `exp`/`nbf`
    /// against `now` (sandbox Unix seconds); returns the claims.
    pub(crate) fn verify(&self, token: &str, now: i64) -> Result<Value, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid("unknown signing key".to_owned()));
        }
        let key = DecodingKey::from_rsa_components(&self.modulus, &self.exponent)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Time is checked against the sandbox clock below, audience by the caller.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp <= now {
            return Err(TokenError::Expired);
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now + 300)
        {
            return Err(TokenError::Invalid("token not yet valid".to_owned()));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_and_every_tampering_fails() {
        let key = SigningKey::generate().unwrap();
        let token = key
            .mint(&json!({"aud": "a", "exp": 2000, "tid": "t", "roles": ["R"]}))
            .unwrap();
        assert_eq!(key.verify(&token, 1000).unwrap()["tid"], "t");
        assert_eq!(key.verify(&token, 2000), Err(TokenError::Expired));

        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"aud":"a","exp":2000,"tid":"evil"}"#);
        let tampered_payload = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert!(key.verify(&tampered_payload, 1000).is_err());
        let none_alg = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid));
        assert!(
            key.verify(&format!("{none_alg}.{}.", parts[1]), 1000)
                .is_err()
        );
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
        assert!(key.verify(&flipped, 1000).is_err());
        let other = SigningKey::generate().unwrap();
        assert!(other.verify(&token, 1000).is_err());
        assert!(key.verify("not-a-jwt", 1000).is_err());
    }
}
