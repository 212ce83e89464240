//! SCRAM primitives (RFC 5802 §2.2, §3) and strict parsing of the client messages
//! (RFC 5802 §5.1, §7 grammar). Internal to [`crate::auth`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use rand::TryRng as _;
use zeroize::Zeroizing;

use super::{SaslFailure, ScramCredentials};

/// Hash function of a SCRAM mechanism.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum HashAlg {
    /// SHA-1 (RFC 5802).
    Sha1,
    /// SHA-256 (RFC 7677).
    Sha256,
}

fn hmac_with<D: EagerHash>(key: &[u8], parts: &[&[u8]]) -> Option<Zeroizing<Vec<u8>>> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).ok()?;
    for p in parts {
        mac.update(p);
    }
    Some(Zeroizing::new(mac.finalize().into_bytes().to_vec()))
}

fn hash_with<D: EagerHash>(data: &[u8]) -> Vec<u8> {
    D::digest(data).to_vec()
}

impl HashAlg {
    /// Output length of `H` in bytes (20 or 32).
    pub(crate) fn out_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha256 => 32,
        }
    }

    /// `H(data)`.
    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => hash_with::<sha1::Sha1>(data),
            HashAlg::Sha256 => hash_with::<sha2::Sha256>(data),
        }
    }

    /// `HMAC(key, parts[0] || parts[1] || ...)`; `None` only if HMAC refuses the key
    /// (it accepts any length, so never in practice).
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            HashAlg::Sha1 => hmac_with::<sha1::Sha1>(key, parts),
            HashAlg::Sha256 => hmac_with::<sha2::Sha256>(key, parts),
        }
    }

    /// `Hi(password, salt, i)` = PBKDF2-HMAC-H with dkLen = output length (RFC 5802 §2.2).
    pub(crate) fn salted_password(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; self.out_len()]);
        match self {
            HashAlg::Sha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out)
            }
            HashAlg::Sha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }

    /// `StoredKey` and `ServerKey` for a SASLprep'd password (RFC 5802 §3).
    pub(crate) fn derive_keys(
        self,
        prepped_password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Option<ScramCredentials> {
        let salted = self.salted_password(prepped_password, salt, iterations);
        let client_key = self.hmac(&salted, &[b"Client Key"])?;
        let server_key = self.hmac(&salted, &[b"Server Key"])?;
        Some(ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: self.hash(&client_key),
            server_key: server_key.to_vec(),
        })
    }

    fn label(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => b"SHA-1",
            HashAlg::Sha256 => b"SHA-256",
        }
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let acc = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(acc) == 0
}

/// Fills `buf` from the operating system RNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), rand::rngs::SysError> {
    rand::rngs::SysRng.try_fill_bytes(buf)
}

/// Fresh server nonce: 24 random bytes, base64 (32 printable characters, no `,`).
pub(crate) fn server_nonce() -> Option<String> {
    let mut buf = [0u8; 24];
    random_bytes(&mut buf).ok()?;
    Some(B64.encode(buf))
}

/// Credentials for a username with no account: salt = first 16 bytes of
/// HMAC-SHA-256(key, label || 0 || hash || 0 || username); keys likewise derived (they
/// never match a proof that matters: the session fails anyway).
pub(crate) fn fake_credentials(
    key: &[u8],
    alg: HashAlg,
    username: &str,
    iterations: u32,
) -> Option<ScramCredentials> {
    let derive = |what: &[u8]| {
        HashAlg::Sha256.hmac(
            key,
            &[
                b"allium-scram-fake",
                &[0],
                what,
                &[0],
                alg.label(),
                &[0],
                username.as_bytes(),
            ],
        )
    };
    let salt = derive(b"salt")?;
    let stored = derive(b"stored-key")?;
    let server = derive(b"server-key")?;
    Some(ScramCredentials {
        salt: salt.get(..16)?.to_vec(),
        iterations,
        stored_key: stored.get(..alg.out_len())?.to_vec(),
        server_key: server.get(..alg.out_len())?.to_vec(),
    })
}

/// The gs2 channel-binding flag of the client-first message (RFC 5802 §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gs2Flag {
    /// `n`: client does not support channel binding.
    No,
    /// `y`: client supports it but thinks the server does not.
    Yes,
    /// `p=cb-name`: client requires channel binding of that type.
    Bind(String),
}

/// A parsed client-first message.
#[derive(Clone, Debug)]
pub(crate) struct ClientFirst {
    /// `gs2-header` exactly as sent, including its two commas.
    pub(crate) gs2_header: String,
    /// `client-first-message-bare` exactly as sent.
    pub(crate) bare: String,
    pub(crate) flag: Gs2Flag,
    pub(crate) authzid: Option<String>,
    pub(crate) username: String,
    pub(crate) client_nonce: String,
}

/// A parsed client-final message.
pub(crate) struct ClientFinal<'a> {
    /// `client-final-message-without-proof` exactly as sent.
    pub(crate) without_proof: &'a str,
    /// `c=` value (base64) as sent.
    pub(crate) channel_binding: &'a str,
    /// `r=` value.
    pub(crate) nonce: &'a str,
    /// Decoded `p=` value.
    pub(crate) proof: Vec<u8>,
}

const MALFORMED: SaslFailure = SaslFailure::MalformedRequest;

/// UTF-8, no NUL (excluded by every SCRAM production), bounded length.
fn as_text(data: &[u8]) -> Result<&str, SaslFailure> {
    if data.len() > super::MAX_MESSAGE_LEN || data.contains(&0) {
        return Err(MALFORMED);
    }
    std::str::from_utf8(data).map_err(|_| MALFORMED)
}

/// `saslname` (RFC 5802 §7): 1*(value-safe-char / "=2C" / "=3D"), unescaped.
pub(crate) fn unescape_saslname(s: &str) -> Result<String, SaslFailure> {
    if s.is_empty() {
        return Err(MALFORMED);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find(['=', ',']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if tail.starts_with("=2C") {
            out.push(',');
        } else if tail.starts_with("=3D") {
            out.push('=');
        } else {
            return Err(MALFORMED);
        }
        rest = &tail[3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `printable` nonce characters: %x21-2B / %x2D-7E, at least one.
fn is_nonce(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b',')
}

/// `attr-val = ALPHA "=" value`, `value = 1*value-char` (commas excluded by splitting).
fn is_attr_val(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b'='
}

/// `cb-name = 1*(ALPHA / DIGIT / "." / "-")`.
fn is_cb_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// Parses a client-first message (RFC 5802 §7):
/// `gs2-header [reserved-mext ","] username "," nonce ["," extensions]`.
pub(crate) fn parse_client_first(data: &[u8]) -> Result<ClientFirst, SaslFailure> {
    let text = as_text(data)?;
    let (flag_s, rest) = text.split_once(',').ok_or(MALFORMED)?;
    let (authz_s, bare) = rest.split_once(',').ok_or(MALFORMED)?;
    let flag = match flag_s {
        "n" => Gs2Flag::No,
        "y" => Gs2Flag::Yes,
        _ => match flag_s.strip_prefix("p=") {
            Some(name) if is_cb_name(name) => Gs2Flag::Bind(name.to_owned()),
            _ => return Err(MALFORMED),
        },
    };
    let authzid = if authz_s.is_empty() {
        None
    } else {
        let v = authz_s.strip_prefix("a=").ok_or(MALFORMED)?;
        Some(unescape_saslname(v)?)
    };
    let gs2_header = text
        .get(..flag_s.len() + authz_s.len() + 2)
        .ok_or(MALFORMED)?
        .to_owned();

    let mut attrs = bare.split(',');
    let first = attrs.next().ok_or(MALFORMED)?;
    if first.starts_with("m=") {
        // No mandatory extension is supported (RFC 5802 §5.1 "m").
        return Err(MALFORMED);
    }
    let username = unescape_saslname(first.strip_prefix("n=").ok_or(MALFORMED)?)?;
    let nonce_attr = attrs.next().ok_or(MALFORMED)?;
    let client_nonce = nonce_attr.strip_prefix("r=").ok_or(MALFORMED)?;
    if !is_nonce(client_nonce) {
        return Err(MALFORMED);
    }
    for ext in attrs {
        if !is_attr_val(ext) {
            return Err(MALFORMED);
        }
    }
    Ok(ClientFirst {
        gs2_header,
        bare: bare.to_owned(),
        flag,
        authzid,
        username,
        client_nonce: client_nonce.to_owned(),
    })
}

/// Parses a client-final message (RFC 5802 §7):
/// `channel-binding "," nonce ["," extensions] "," proof`.
pub(crate) fn parse_client_final(data: &[u8]) -> Result<ClientFinal<'_>, SaslFailure> {
    let text = as_text(data)?;
    let (without_proof, proof_attr) = text.rsplit_once(',').ok_or(MALFORMED)?;
    let proof_b64 = proof_attr.strip_prefix("p=").ok_or(MALFORMED)?;
    let proof = B64.decode(proof_b64).map_err(|_| MALFORMED)?;

    let mut attrs = without_proof.split(',');
    let channel_binding = attrs
        .next()
        .and_then(|a| a.strip_prefix("c="))
        .ok_or(MALFORMED)?;
    if channel_binding.is_empty() {
        return Err(MALFORMED);
    }
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(MALFORMED)?;
    if !is_nonce(nonce) {
        return Err(MALFORMED);
    }
    for ext in attrs {
        // A second proof or a mandatory extension has no place here.
        if !is_attr_val(ext) || ext.starts_with("p=") || ext.starts_with("m=") {
            return Err(MALFORMED);
        }
    }
    Ok(ClientFinal {
        without_proof,
        channel_binding,
        nonce,
        proof,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saslname_escapes() {
        assert_eq!(unescape_saslname("user").unwrap(), "user");
        assert_eq!(unescape_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(unescape_saslname("=3D").unwrap(), "=");
        for bad in ["", "a=", "a=2", "a=2c", "a=41", "=", "a=3d", "a,b"] {
            assert_eq!(unescape_saslname(bad), Err(MALFORMED), "{bad}");
        }
    }

    #[test]
    fn client_first_fields() {
        let cf = parse_client_first(b"p=tls-exporter,a=ad=2Cmin,n=us=3Der,r=abc,x=1").unwrap();
        assert_eq!(cf.gs2_header, "p=tls-exporter,a=ad=2Cmin,");
        assert_eq!(cf.bare, "n=us=3Der,r=abc,x=1");
        assert_eq!(cf.flag, Gs2Flag::Bind("tls-exporter".into()));
        assert_eq!(cf.authzid.as_deref(), Some("ad,min"));
        assert_eq!(cf.username, "us=er");
        assert_eq!(cf.client_nonce, "abc");
        let cf = parse_client_first(b"y,,n=u,r=x").unwrap();
        assert_eq!(cf.flag, Gs2Flag::Yes);
        assert_eq!(cf.gs2_header, "y,,");
        assert_eq!(cf.authzid, None);
    }

    #[test]
    fn client_final_fields() {
        let f = parse_client_final(b"c=biws,r=abc,e=1,p=AAAA").unwrap();
        assert_eq!(f.without_proof, "c=biws,r=abc,e=1");
        assert_eq!(f.channel_binding, "biws");
        assert_eq!(f.nonce, "abc");
        assert_eq!(f.proof, vec![0, 0, 0]);
    }

    #[test]
    fn fake_credentials_are_stable() {
        let k = [9u8; 32];
        let a = fake_credentials(&k, HashAlg::Sha256, "nobody", 4096).unwrap();
        let b = fake_credentials(&k, HashAlg::Sha256, "nobody", 4096).unwrap();
        let c = fake_credentials(&k, HashAlg::Sha256, "nobody2", 4096).unwrap();
        let d = fake_credentials(&k, HashAlg::Sha1, "nobody", 4096).unwrap();
        let e = fake_credentials(&[8u8; 32], HashAlg::Sha256, "nobody", 4096).unwrap();
        assert_ne!(a.salt, e.salt);
        assert_eq!(a, b);
        assert_eq!(a.salt.len(), 16);
        assert_ne!(a.salt, c.salt);
        assert_ne!(a.salt, d.salt);
        assert_eq!(d.stored_key.len(), 20);
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
