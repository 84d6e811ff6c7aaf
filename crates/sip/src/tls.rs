//! The SBC's TLS identity (reference `sip-direct-routing.md` §1.3): the certificate and key
//! come from files and are re-read whenever either file changes, checked before each new TLS
//! handshake, so a certificate rotated on disk is served on the next connection without a
//! restart. The same identity is presented as the client certificate toward the proxies.
//! TLS 1.2 and 1.3 only, on the aws-lc-rs provider.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use tokio_rustls::rustls::client::ResolvesClientCert;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::SipError;

/// Metric: the SBC certificate's `notAfter`, in seconds since the Unix epoch.
pub const CERT_EXPIRY_METRIC: &str = "callbridge_sbc_certificate_expiry_seconds";
/// Metric: certificate reloads, by outcome (`ok`, `error`).
pub const CERT_RELOAD_METRIC: &str = "callbridge_sbc_certificate_reloads_total";

/// What identifies a version of the files: modification time and length of each.
type Stamp = [(Option<SystemTime>, u64); 2];

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    not_after: i64,
}

/// The SBC certificate and key, re-read from their files when they change.
#[derive(Debug)]
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Loaded>,
}

fn stamp(path: &Path) -> (Option<SystemTime>, u64) {
    fs::metadata(path).map_or((None, 0), |m| (m.modified().ok(), m.len()))
}

fn cert_error(path: &Path, reason: impl std::fmt::Display) -> SipError {
    SipError::Certificate {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl CertStore {
    /// Loads the files once; fails when they are unreadable or do not match.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, SipError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = Self::read(cert_file, key_file, &provider)?;
        metrics::gauge!(CERT_EXPIRY_METRIC).set(loaded.not_after as f64);
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: Mutex::new(loaded),
        })
    }

    fn read(
        cert_file: &Path,
        key_file: &Path,
        provider: &CryptoProvider,
    ) -> Result<Loaded, SipError> {
        let stamp = [stamp(cert_file), stamp(key_file)];
        let cert_pem = fs::read(cert_file).map_err(|e| cert_error(cert_file, e))?;
        let key_pem = fs::read(key_file).map_err(|e| cert_error(key_file, e))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_error(cert_file, e))?;
        let Some(leaf) = chain.first() else {
            return Err(cert_error(cert_file, "no certificate in the file"));
        };
        let not_after = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| cert_error(cert_file, e))?
            .1
            .validity()
            .not_after
            .timestamp();
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| cert_error(key_file, e))?;
        let key =
            CertifiedKey::from_der(chain, key, provider).map_err(|e| cert_error(key_file, e))?;
        Ok(Loaded {
            key: Arc::new(key),
            stamp,
            not_after,
        })
    }

    /// Re-reads the files if either changed since the last load. A half-written or mismatched
    /// pair keeps the previous identity in service (and is counted), so a rotation in progress
    /// never breaks handshakes.
    pub fn refresh(&self) {
        let now = [stamp(&self.cert_file), stamp(&self.key_file)];
        if self.lock().stamp == now {
            return;
        }
        match Self::read(&self.cert_file, &self.key_file, &self.provider) {
            Ok(loaded) => {
                metrics::gauge!(CERT_EXPIRY_METRIC).set(loaded.not_after as f64);
                metrics::counter!(CERT_RELOAD_METRIC, "outcome" => "ok").increment(1);
                tracing::info!(not_after = loaded.not_after, "SBC certificate reloaded");
                *self.lock() = loaded;
            }
            Err(error) => {
                metrics::counter!(CERT_RELOAD_METRIC, "outcome" => "error").increment(1);
                tracing::warn!(%error, "SBC certificate files changed but could not be loaded");
                // Remember the stamp so a broken pair is not re-parsed on every handshake.
                self.lock().stamp = now;
            }
        }
    }

    /// The certificate's `notAfter`, in seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.lock().not_after
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.lock().key.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The TLS server configuration for Microsoft's connections to the SBC.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<ServerConfig, SipError> {
        Ok(ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| SipError::Misconfigured(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone()))))
    }

    /// The TLS client configuration toward the proxies, trusting `ca_file` and presenting
    /// the SBC certificate for mutual TLS.
    pub(crate) fn client_config(
        self: &Arc<Self>,
        ca_file: &Path,
    ) -> Result<ClientConfig, SipError> {
        let pem = fs::read(ca_file).map_err(|e| cert_error(ca_file, e))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.map_err(|e| cert_error(ca_file, e))?)
                .map_err(|e| cert_error(ca_file, e))?;
        }
        if roots.is_empty() {
            return Err(cert_error(ca_file, "no trust anchor in the file"));
        }
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| SipError::Misconfigured(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(Resolver(self.clone()))))
    }
}

/// Hands rustls whatever identity the store holds at handshake time.
#[derive(Debug)]
struct Resolver(Arc<CertStore>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

impl ResolvesClientCert for Resolver {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
