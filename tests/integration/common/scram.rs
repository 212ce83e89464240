//! A test-side SCRAM client (RFC 5802, RFC 7677) with optional `tls-exporter` channel
//! binding (RFC 9266), written independently of `src/auth/` so that it checks the
//! server against the RFC rather than against itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{EagerHash, Hmac, KeyInit, Mac};

use super::{Client, SASL_NS};

fn hmac_with<D: EagerHash>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Hash function of a SCRAM mechanism.
#[derive(Clone, Copy, Debug)]
pub enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => hmac_with::<sha1::Sha1>(key, data),
            Hash::Sha256 => hmac_with::<sha2::Sha256>(key, data),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }

    fn hi(self, password: &[u8], salt: &[u8], i: u32) -> Vec<u8> {
        match self {
            Hash::Sha1 => {
                let mut out = vec![0u8; 20];
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, i, &mut out);
                out
            }
            Hash::Sha256 => {
                let mut out = vec![0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, i, &mut out);
                out
            }
        }
    }
}

/// Channel binding the client uses.
#[derive(Clone, Debug)]
pub enum Cb {
    /// `n`: the client does not support channel binding.
    None,
    /// `p=tls-exporter` with the client's own exporter bytes.
    Exporter,
    /// `p=tls-exporter` with these (wrong) bytes.
    Forged(Vec<u8>),
    /// `p=tls-server-end-point` (RFC 5929 §4.1) with the SHA-256 of the pinned server
    /// certificate (the harness's certificates are signed with ECDSA-SHA-256).
    ServerEndPoint,
    /// `y`: the client supports channel binding but believes the server does not
    /// (RFC 5802 §6), e.g. because an attacker removed the -PLUS mechanisms.
    Yes,
}

fn field(msg: &str, key: char) -> Option<&str> {
    msg.split(',')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

impl Client {
    /// Runs a SCRAM exchange for `mechanism` (e.g. `SCRAM-SHA-256-PLUS`). On success,
    /// checks the server signature (`v=`, RFC 5802 §3) and restarts the stream.
    /// `Err(condition)` when the server answers `<failure/>`.
    pub async fn auth_scram(
        &mut self,
        mechanism: &str,
        user: &str,
        password: &str,
        cb: Cb,
    ) -> Result<(), String> {
        let hash = if mechanism.starts_with("SCRAM-SHA-256") {
            Hash::Sha256
        } else {
            Hash::Sha1
        };
        let (gs2, cb_data) = match &cb {
            Cb::None => ("n,,".to_owned(), Vec::new()),
            Cb::Exporter => (
                "p=tls-exporter,,".to_owned(),
                self.exporter
                    .clone()
                    .expect("no tls-exporter (TLS 1.3 needed)"),
            ),
            Cb::Forged(b) => ("p=tls-exporter,,".to_owned(), b.clone()),
            Cb::ServerEndPoint => {
                use sha2::Digest as _;
                (
                    "p=tls-server-end-point,,".to_owned(),
                    sha2::Sha256::digest(self.cert.as_ref()).to_vec(),
                )
            }
            Cb::Yes => ("y,,".to_owned(), Vec::new()),
        };
        let cnonce = format!("{:032x}", rand::random::<u128>());
        let client_first_bare = format!("n={user},r={cnonce}");
        let client_first = format!("{gs2}{client_first_bare}");
        self.send(&format!(
            "<auth xmlns='{SASL_NS}' mechanism='{mechanism}'>{}</auth>",
            B64.encode(&client_first)
        ))
        .await;
        let ch = self.recv().await;
        if ch.is("failure", SASL_NS) {
            return Err(failure_condition(&ch));
        }
        assert!(
            ch.is("challenge", SASL_NS),
            "expected challenge, got {ch:?}"
        );
        let server_first = String::from_utf8(B64.decode(ch.text().trim()).unwrap()).unwrap();
        let nonce = field(&server_first, 'r').expect("r=").to_owned();
        assert!(
            nonce.starts_with(&cnonce) && nonce.len() > cnonce.len(),
            "server nonce must extend the client nonce (RFC 5802 §5.1)"
        );
        let salt = B64.decode(field(&server_first, 's').expect("s=")).unwrap();
        let iterations: u32 = field(&server_first, 'i').expect("i=").parse().unwrap();
        assert!(iterations >= 4096, "RFC 7677 §4: at least 4096 iterations");
        // XEP-0474 §4.2: the downgrade protection hash, when sent, matches what the
        // features of this stream advertised.
        if let Some(h) = field(&server_first, 'h') {
            assert_eq!(
                B64.decode(h).unwrap(),
                hash.hash(self.downgrade_protection_input().as_bytes()),
                "XEP-0474 hash does not match the advertised mechanisms and channel bindings"
            );
        }

        let mut cbind = gs2.into_bytes();
        cbind.extend_from_slice(&cb_data);
        let without_proof = format!("c={},r={nonce}", B64.encode(&cbind));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let salted = hash.hi(password.as_bytes(), &salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        let stored_key = hash.hash(&client_key);
        let client_sig = hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_sig)
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hash.hmac(&salted, b"Server Key");
        let server_sig = hash.hmac(&server_key, auth_message.as_bytes());

        let client_final = format!("{without_proof},p={}", B64.encode(&proof));
        self.send(&format!(
            "<response xmlns='{SASL_NS}'>{}</response>",
            B64.encode(&client_final)
        ))
        .await;
        let r = self.recv().await;
        if r.is("failure", SASL_NS) {
            return Err(failure_condition(&r));
        }
        assert!(r.is("success", SASL_NS), "expected success, got {r:?}");
        // RFC 6120 §6.3.10: the server-final message comes as additional data with success.
        let server_final = String::from_utf8(B64.decode(r.text().trim()).unwrap()).unwrap();
        let v = field(&server_final, 'v').expect("server-final v=");
        assert_eq!(
            B64.decode(v).unwrap(),
            server_sig,
            "server signature does not verify (RFC 5802 §3)"
        );
        self.parser.reset();
        self.open_stream().await;
        Ok(())
    }
}

impl Client {
    /// The XEP-0474 §4.1 string for the last features received: sorted mechanisms
    /// joined by U+001E, then U+001F and the sorted XEP-0440 channel binding types
    /// joined by U+001E when `<sasl-channel-binding/>` was advertised.
    pub fn downgrade_protection_input(&self) -> String {
        let mut mechs = self.mechanisms();
        mechs.sort();
        let mut s = mechs.join("\u{1e}");
        let cb = self
            .features
            .as_ref()
            .and_then(|f| f.get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0"));
        if let Some(cb) = cb {
            let mut types: Vec<String> = cb
                .children()
                .filter_map(|c| c.attr("type").map(str::to_owned))
                .collect();
            types.sort();
            s.push('\u{1f}');
            s.push_str(&types.join("\u{1e}"));
        }
        s
    }

    /// The channel binding types of the last features (XEP-0440), in order.
    pub fn channel_binding_types(&self) -> Vec<String> {
        self.features
            .as_ref()
            .and_then(|f| f.get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0"))
            .map(|cb| {
                cb.children()
                    .filter_map(|c| c.attr("type").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The condition of a SASL `<failure/>`.
pub fn failure_condition(f: &super::Element) -> String {
    f.children()
        .find(|c| c.ns() == SASL_NS && c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_default()
}
