//! TLS for every stream: rustls server and client configuration, certificates and
//! fingerprints.
//!
//! allium serves TLS 1.2 and 1.3 (the minimum is configurable to 1.3), with rustls' safe
//! defaults: no compression, no renegotiation, forward-secret suites only (RFC 7590).
//! With no certificate configured, a self-signed certificate covering every hosted domain
//! is generated in `<state_dir>/tls/` on first start and reused afterwards.
//!
//! # Security
//! The private key file is written with mode 0600 in a 0700 directory. Fingerprints
//! (SHA-1, SHA-256 and DANE TLSA `3 1 1`) are what a provider publishes so users can verify
//! the self-signed or pinned certificate out of band.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Errors while preparing TLS material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key file could not be read or written.
    #[error("cannot access TLS file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("no usable {what} in {path}")]
    Pem {
        /// "certificate" or "private key".
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// Generating the self-signed certificate failed.
    #[error("cannot generate a self-signed certificate")]
    Generate(#[source] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("the TLS certificate and key were refused")]
    Rustls(#[source] rustls::Error),
    /// The certificate could not be parsed as X.509.
    #[error("the certificate is not valid X.509")]
    X509,
    /// A configured private key file that any user of the system may access.
    #[error(
        "the TLS private key {} is accessible to every user (mode {mode:04o}); \
         remove the permissions of others (chmod o-rwx)",
        path.display()
    )]
    OpenKey {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Certificate chain and key in DER, as loaded or generated.
pub struct Material {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key (zeroized by rustls' type on drop).
    pub key: PrivateKeyDer<'static>,
}

/// Paths of the generated self-signed certificate and key inside `state_dir`.
pub fn self_signed_paths(state_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = state_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Loads a PEM certificate chain and key.
///
/// # Errors
/// [`Error::Io`] / [`Error::Pem`] naming the file that cannot be read or holds nothing
/// usable; [`Error::OpenKey`] when others (not the owner or group) have any permission
/// on the key file (unix): the operator's file is not changed, start-up is refused.
pub fn load(cert: &Path, key: &Path) -> Result<Material, Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key)
            .map_err(|source| Error::Io {
                path: key.to_owned(),
                source,
            })?
            .permissions()
            .mode()
            & 0o7777;
        if mode & 0o007 != 0 {
            return Err(Error::OpenKey {
                path: key.to_owned(),
                mode,
            });
        }
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|_| Error::Pem {
            what: "certificate",
            path: cert.to_owned(),
        })?
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(Error::Pem {
            what: "certificate",
            path: cert.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|_| Error::Pem {
        what: "private key",
        path: key.to_owned(),
    })?;
    Ok(Material { chain, key })
}

/// Loads the self-signed certificate from `state_dir/tls`, generating it (for `names`) when
/// missing or when it does not cover every name.
///
/// An existing `tls/` directory and key file are tightened to mode 0700 / 0600 when
/// others may read them (unix; see [`create_private_dir`]).
pub fn load_or_generate(state_dir: &Path, names: &[String]) -> Result<Material, Error> {
    let (cert_path, key_path) = self_signed_paths(state_dir);
    if let Some(dir) = key_path.parent() {
        create_private_dir(dir)?;
    }
    if key_path.exists() {
        tighten(&key_path, 0o600)?;
    }
    if cert_path.exists() && key_path.exists() {
        let m = load(&cert_path, &key_path)?;
        let covered = m
            .chain
            .first()
            .map(|c| cert_names(c))
            .transpose()?
            .unwrap_or_default();
        if names
            .iter()
            .all(|n| covered.iter().any(|c| c.eq_ignore_ascii_case(n)))
        {
            return Ok(m);
        }
    }
    let ck = self_signed(names)?;
    let dir = cert_path.parent().unwrap_or(state_dir).to_owned();
    create_private_dir(&dir)?;
    write_private(&key_path, ck.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, ck.cert.pem()).map_err(|source| Error::Io {
        path: cert_path.clone(),
        source,
    })?;
    load(&cert_path, &key_path)
}

/// A self-signed certificate for `names`: common name = the first name, valid from a day
/// ago for ten years, ECDSA P-256 (rcgen's default key).
fn self_signed(names: &[String]) -> Result<rcgen::CertifiedKey<rcgen::KeyPair>, Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(Error::Generate)?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("allium"),
    );
    params.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let signing_key = rcgen::KeyPair::generate().map_err(Error::Generate)?;
    let cert = params.self_signed(&signing_key).map_err(Error::Generate)?;
    Ok(rcgen::CertifiedKey { cert, signing_key })
}

/// Creates `dir` (and parents) with mode 0700 on unix. An existing `dir` that its
/// group or others may access (e.g. made with `mkdir` and a 022 umask) is tightened to
/// 0700, with a warning naming it; parents that already exist are left alone.
///
/// # Errors
/// [`Error::Io`] naming `dir` when it cannot be created or its mode cannot be changed
/// (e.g. it belongs to another user): start-up stops rather than run with a state
/// directory others can read.
pub fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    tighten(dir, 0o700)
}

/// Sets the mode of `path` to `mode` (0700 for a directory, 0600 for a file) when its
/// group or others have any permission on it (unix; nothing elsewhere), logging a
/// warning that names the path (operator configuration, never client data).
///
/// # Errors
/// [`Error::Io`] naming `path` when its metadata cannot be read or its mode changed.
pub fn tighten(path: &Path, mode: u32) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let old = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
        if old & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
            tracing::warn!(
                path = %path.display(),
                old = format_args!("{old:04o}"),
                new = format_args!("{mode:04o}"),
                "mode tightened: others could access this state file"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Writes `data` to `path` (created or truncated) with mode 0600 on unix.
pub(crate) fn write_private(path: &Path, data: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    f.write_all(data).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// DNS names (subjectAltName) a certificate covers.
pub fn cert_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, Error> {
    let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| Error::X509)?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = x.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                out.push((*d).to_owned());
            }
        }
    }
    Ok(out)
}

/// Builds the rustls server configuration. `tls13_only` drops TLS 1.2.
///
/// The server's cipher suite order wins over the client's (TLS 1.2 and 1.3). Without
/// `session_resumption`, no TLS 1.3 ticket is sent and no TLS 1.2 session ID is kept,
/// so every connection makes a full handshake: a resumed session would link two
/// connections of the same client (also over Tor, where nothing else does). With it,
/// rustls' defaults apply (an in-memory cache of 256 sessions, TLS 1.3 tickets).
pub fn server_config(
    m: &Material,
    tls13_only: bool,
    session_resumption: bool,
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(Error::Rustls)?
        .with_no_client_auth()
        .with_single_cert(m.chain.clone(), m.key.clone_key())
        .map_err(Error::Rustls)?;
    let mut cfg = cfg;
    cfg.ignore_client_order = true;
    if !session_resumption {
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
    }
    Ok(Arc::new(cfg))
}

/// Builds the rustls client configuration for streams allium opens (RFC 6120 §5 from
/// the initiating side, XEP-0368 direct TLS): TLS 1.2 and 1.3 (`tls13_only` drops 1.2),
/// the server certificate checked against `roots` and the name the stream is for
/// (rustls' WebPKI verifier), SNI sent, and `alpn` offered in order (e.g.
/// [`crate::stream::ALPN_XMPP_SERVER`]; empty offers none).
///
/// No TLS session is resumed: a resumed session would link two connections to the same
/// peer, as on the server side without `session_resumption` ([`server_config`]).
///
/// # Errors
/// [`Error::Rustls`] when rustls refuses the protocol versions.
pub fn client_config(
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
    tls13_only: bool,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(Error::Rustls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// The `tls-server-end-point` channel binding data of a DER certificate (RFC 5929 §4.1):
/// its hash with the hash function of its signature algorithm, SHA-256 when that is
/// MD5 or SHA-1 (or not a plain hash-and-sign algorithm, e.g. Ed25519 or RSA-PSS,
/// which RFC 5929 does not cover).
pub fn server_end_point(cert: &CertificateDer<'_>) -> Result<Vec<u8>, Error> {
    let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| Error::X509)?;
    let oid = x.signature_algorithm.algorithm.to_id_string();
    let der = cert.as_ref();
    Ok(match oid.as_str() {
        // sha384WithRSAEncryption, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => sha2::Sha384::digest(der).to_vec(),
        // sha512WithRSAEncryption, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => sha2::Sha512::digest(der).to_vec(),
        _ => Sha256::digest(der).to_vec(),
    })
}

/// Fingerprints of a certificate, as providers publish them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// SHA-1 of the DER certificate, colon-separated upper-case hex.
    pub sha1: String,
    /// SHA-256 of the DER certificate, colon-separated upper-case hex.
    pub sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo, plain hex: the data of a DANE `TLSA 3 1 1`
    /// record (RFC 6698 §2.1; usage DANE-EE, selector SPKI, matching SHA-256).
    pub tlsa_311: String,
}

/// Computes [`Fingerprints`] of a DER certificate.
pub fn fingerprints(cert: &CertificateDer<'_>) -> Result<Fingerprints, Error> {
    let (_, x) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| Error::X509)?;
    let spki = x.tbs_certificate.subject_pki.raw;
    Ok(Fingerprints {
        sha1: colon_hex(&Sha1::digest(cert.as_ref())),
        sha256: colon_hex(&Sha256::digest(cert.as_ref())),
        tlsa_311: hex::encode(Sha256::digest(spki)),
    })
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned()];
        let a = load_or_generate(dir.path(), &names).unwrap();
        let b = load_or_generate(dir.path(), &names).unwrap();
        assert_eq!(a.chain[0], b.chain[0]);
        assert_eq!(cert_names(&a.chain[0]).unwrap(), names);
        let c = load_or_generate(dir.path(), &["localhost".into(), "example.org".into()]).unwrap();
        assert_ne!(a.chain[0], c.chain[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let (_, key) = self_signed_paths(dir.path());
            assert_eq!(
                std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let f = fingerprints(&a.chain[0]).unwrap();
        assert_eq!(f.sha1.len(), 20 * 3 - 1);
        assert_eq!(f.sha256.len(), 32 * 3 - 1);
        assert_eq!(f.tlsa_311.len(), 64);
        assert!(server_config(&a, false, false).is_ok());
        // rcgen signs with ecdsa-with-SHA256: the end-point hash is SHA-256.
        assert_eq!(
            server_end_point(&a.chain[0]).unwrap(),
            Sha256::digest(a.chain[0].as_ref()).to_vec()
        );
    }
}
