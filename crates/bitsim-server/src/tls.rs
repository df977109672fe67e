//! HTTPS: the server's certificate (from PEM files, or made by the server
//! with its own CA) and the faulty certificates fault rules can present.
//!
//! With [`TlsConfig::self_signed`] the server keeps a CA under
//! `<state_dir>/tls/` (`ca.pem`, `ca-key.pem`; made once, reused across
//! restarts, so a client trusts it once) and signs with it, at every start:
//! the server's certificate (for `localhost`, `127.0.0.1`, `::1` and the
//! configured names), an expired one, and one for another host. A fault
//! rule with [`tls_cert`](crate::FaultRule::tls_cert) makes the next
//! handshakes present one of the faulty ones; since the same trusted CA
//! signs them, the fault is the only thing wrong with them, and a client
//! sees exactly the failure under test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::Digest as _;

use crate::config::TlsConfig;
use crate::error::{Error, Result};
use crate::faults::{FaultSet, TlsCertFault};

/// The CA of a server started with a self-signed certificate: what a
/// client must trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfSignedCa {
    /// The CA certificate (PEM).
    pub path: PathBuf,
    /// SHA-256 of the CA certificate (DER), as colon-separated upper-case
    /// hex pairs (the form `openssl x509 -fingerprint -sha256` prints).
    pub sha256: String,
}

/// What [`build`] makes: the acceptor and, when self-signed, its CA.
pub(crate) struct Tls {
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) ca: Option<SelfSignedCa>,
}

/// Host name of the wrong-host certificate (`.test` is reserved, RFC 2606).
const WRONG_HOST: &str = "not-this-host.test";

/// rustls's *ring* provider: it builds with a C compiler alone (aws-lc-rs
/// needs cmake too). Its deprecation is about post-quantum key exchange,
/// which no BITS client offers.
#[allow(deprecated, reason = "see above")]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("tls: {what}: {e}"))
}

/// Builds the TLS acceptor for `cfg`; `faults` are consulted at every
/// handshake.
pub(crate) fn build(cfg: &TlsConfig, state_dir: &Path, faults: Arc<FaultSet>) -> Result<Tls> {
    cfg.validate()?;
    let provider = provider();
    let certified = |chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>| {
        CertifiedKey::from_der(chain, key, &provider)
            .map(Arc::new)
            .map_err(|e| tls_err("certificate and key", e))
    };
    let (normal, faulty, ca) = match (&cfg.cert, &cfg.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| tls_err(&format!("certificate {}", cert.display()), e))?;
            if chain.is_empty() {
                return Err(tls_err(
                    &format!("certificate {}", cert.display()),
                    "no CERTIFICATE in the file",
                ));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(&format!("key {}", key.display()), e))?;
            (certified(chain, key)?, None, None)
        }
        _ => {
            let dir = state_dir.join("tls");
            let made = SelfSigned::load_or_make(&dir, &cfg.names)?;
            let normal = certified(made.chain(&made.leaf), made.leaf_key.clone_key())?;
            let expired = certified(made.chain(&made.expired), made.leaf_key.clone_key())?;
            let wrong_host = certified(made.chain(&made.wrong_host), made.leaf_key.clone_key())?;
            (normal, Some((expired, wrong_host)), Some(made.ca_info))
        }
    };
    let resolver = Resolver {
        normal,
        faulty,
        faults,
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        ca,
    })
}

/// Picks the certificate of each handshake: a faulty one while a fault
/// rule asks for it, else the server's own.
#[derive(Debug)]
struct Resolver {
    normal: Arc<CertifiedKey>,
    /// (expired, wrong host), with a self-signed CA only.
    faulty: Option<(Arc<CertifiedKey>, Arc<CertifiedKey>)>,
    faults: Arc<FaultSet>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let fault = self.faults.take_tls();
        Some(match (fault, &self.faulty) {
            (Some(TlsCertFault::Expired), Some((expired, _))) => {
                tracing::info!("fault: presenting an expired certificate");
                expired.clone()
            }
            (Some(TlsCertFault::WrongHost), Some((_, wrong))) => {
                tracing::info!("fault: presenting a certificate for {WRONG_HOST}");
                wrong.clone()
            }
            _ => self.normal.clone(),
        })
    }
}

/// The made certificates, DER.
struct SelfSigned {
    ca: CertificateDer<'static>,
    ca_info: SelfSignedCa,
    leaf: CertificateDer<'static>,
    expired: CertificateDer<'static>,
    wrong_host: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

impl SelfSigned {
    fn chain(&self, leaf: &CertificateDer<'static>) -> Vec<CertificateDer<'static>> {
        vec![leaf.clone(), self.ca.clone()]
    }

    /// Loads the CA from `dir` (or makes and stores it) and signs the
    /// three server certificates with it.
    fn load_or_make(dir: &Path, names: &[String]) -> Result<SelfSigned> {
        std::fs::create_dir_all(dir)?;
        let (ca_pem, key_pem) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
        let ca_params = || -> Result<CertificateParams> {
            let mut p = CertificateParams::new(Vec::<String>::new())
                .map_err(|e| tls_err("CA parameters", e))?;
            p.distinguished_name
                .push(DnType::CommonName, "bitsim serve test CA");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            p.not_before = date_time_ymd(2024, 1, 1);
            p.not_after = date_time_ymd(2100, 1, 1);
            Ok(p)
        };
        let (ca_key, ca_der) = if ca_pem.is_file() && key_pem.is_file() {
            let key_text = std::fs::read_to_string(&key_pem)?;
            let key = KeyPair::from_pem(&key_text)
                .map_err(|e| tls_err(&format!("CA key {}", key_pem.display()), e))?;
            let der = CertificateDer::from_pem_file(&ca_pem)
                .map_err(|e| tls_err(&format!("CA certificate {}", ca_pem.display()), e))?;
            (key, der)
        } else {
            let key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
            let cert = ca_params()?
                .self_signed(&key)
                .map_err(|e| tls_err("CA certificate", e))?;
            write_private(&key_pem, key.serialize_pem().as_bytes())?;
            std::fs::write(&ca_pem, cert.pem())?;
            (key, cert.der().clone())
        };
        // The issuer for signing: the same name and key as the stored CA
        // certificate, so what it signs chains to it.
        let issuer = ca_params()?
            .self_signed(&ca_key)
            .map_err(|e| tls_err("CA certificate", e))?;
        let leaf_key = KeyPair::generate().map_err(|e| tls_err("server key", e))?;
        let sign = |names: Vec<String>, from: (i32, u8, u8), to: (i32, u8, u8)| {
            let mut p = CertificateParams::new(names).map_err(|e| tls_err("server names", e))?;
            p.distinguished_name
                .push(DnType::CommonName, "bitsim serve");
            p.is_ca = IsCa::NoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p.not_before = date_time_ymd(from.0, from.1, from.2);
            p.not_after = date_time_ymd(to.0, to.1, to.2);
            p.signed_by(&leaf_key, &issuer, &ca_key)
                .map(|c| c.der().clone())
                .map_err(|e| tls_err("server certificate", e))
        };
        let mut all: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        all.extend(names.iter().cloned());
        let leaf = sign(all.clone(), (2024, 1, 1), (2100, 1, 1))?;
        let expired = sign(all, (2000, 1, 1), (2001, 1, 1))?;
        let wrong_host = sign(vec![WRONG_HOST.to_string()], (2024, 1, 1), (2100, 1, 1))?;
        let sha256 = fingerprint(&ca_der);
        let leaf_key = PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| tls_err("server key", e))?;
        Ok(SelfSigned {
            ca_info: SelfSignedCa {
                path: ca_pem,
                sha256,
            },
            ca: ca_der,
            leaf,
            expired,
            wrong_host,
            leaf_key,
        })
    }
}

/// SHA-256 of `der` as `AB:CD:…`.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Writes a private key readable by its owner only (on Unix).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)?.write_all(bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let a = SelfSigned::load_or_make(d.path(), &[]).unwrap();
        let b = SelfSigned::load_or_make(d.path(), &["bits.test".into()]).unwrap();
        assert_eq!(a.ca_info, b.ca_info);
        assert_eq!(a.ca_info.sha256.len(), 32 * 3 - 1);
        assert_ne!(a.leaf, b.leaf);
    }

    #[test]
    fn files_that_are_not_pem_are_refused_naming_them() {
        let d = tempfile::tempdir().unwrap();
        let (c, k) = (d.path().join("c.pem"), d.path().join("k.pem"));
        std::fs::write(&c, "not a certificate").unwrap();
        std::fs::write(&k, "not a key").unwrap();
        let cfg = TlsConfig {
            cert: Some(c),
            key: Some(k),
            ..TlsConfig::default()
        };
        let e = build(&cfg, d.path(), Arc::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("c.pem"), "{e}");
    }
}
