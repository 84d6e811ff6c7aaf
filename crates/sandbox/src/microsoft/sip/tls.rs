//! The sandbox CA and the proxies' TLS server certificate (reference `sip-direct-routing.md`
//! §1.3, §1.9): a private CA generated at start, a certificate for the proxy FQDNs (plus any
//! configured extra name) with both server and client authentication, TLS 1.2 or later.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

use crate::microsoft::SandboxError;

fn crypto(error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Crypto(error.to_string())
}

/// A CA that lives as long as the sandbox.
#[derive(Debug)]
pub(crate) struct SandboxCa {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The leaf certificate (PEM).
    pub certificate_pem: String,
    /// Its PKCS#8 private key (PEM).
    pub private_key_pem: String,
    certificate_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl SandboxCa {
    pub(crate) fn generate() -> Result<Self, SandboxError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "callbridge sandbox CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(crypto)?;
        let pem = params.self_signed(&key).map_err(crypto)?.pem();
        Ok(Self { params, key, pem })
    }

    pub(crate) fn pem(&self) -> &str {
        &self.pem
    }

    /// A leaf for `names` with server and client authentication EKUs (§1.3).
    pub(crate) fn issue(&self, names: &[String]) -> Result<IssuedCertificate, SandboxError> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(crypto)?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.clone());
        }
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(crypto)?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let certificate = params.signed_by(&key, &issuer).map_err(crypto)?;
        Ok(IssuedCertificate {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem(),
            certificate_der: certificate.der().to_vec(),
            key_der: key.serialize_der(),
        })
    }
}

/// A TLS acceptor presenting `leaf` (chained to the CA), TLS 1.2 and 1.3 only.
pub(crate) fn acceptor(leaf: &IssuedCertificate) -> Result<TlsAcceptor, SandboxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(crypto)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.certificate_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
        )
        .map_err(crypto)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
