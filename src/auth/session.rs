//! The sans-IO SASL server exchange (RFC 6120 §6.4) for SCRAM (RFC 5802, RFC 7677,
//! RFC 9266 channel binding) and PLAIN (RFC 4616).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use super::scram::{self, ClientFirst, Gs2Flag, HashAlg};
use super::{
    ChannelBinding, MAX_MESSAGE_LEN, Mechanism, SaslFailure, StoredCredentials, UnknownAccounts,
};

/// What the caller must do next in a SASL exchange.
pub enum Step {
    /// Send `<challenge/>` carrying these bytes (the caller base64-encodes them;
    /// empty means an empty challenge, RFC 6120 §6.4.2).
    Challenge(Vec<u8>),
    /// SCRAM: look the account `username` up (after nodeprep) and call
    /// [`SaslSession::credentials`] with its stored credentials, or `None` if it does
    /// not exist. `username` is the unescaped `n=` value (RFC 5802 §5.1) as sent;
    /// `authzid` the unescaped `a=` value, if any.
    NeedCredentials {
        /// Authentication identity as sent by the client.
        username: String,
        /// Requested authorization identity, if any (caller checks it).
        authzid: Option<String>,
    },
    /// PLAIN: verify `password` with [`super::verify_password`] (on a blocking thread)
    /// against the account `username`, then call [`SaslSession::plain_result`].
    VerifyPlain {
        /// Authentication identity (`authcid`, RFC 4616) as sent.
        username: String,
        /// Requested authorization identity, if any (caller checks it).
        authzid: Option<String>,
        /// The password as sent (not yet SASLprep'd), zeroised on drop.
        password: Zeroizing<String>,
    },
    /// Authentication succeeded: send `<success/>` with `additional_data` (base64) if
    /// present (SCRAM server-final message `v=...`, RFC 6120 §6.3.10). The caller must
    /// still check `authzid` (RFC 6120 §6.3.8) and may fail with
    /// [`SaslFailure::InvalidAuthzid`].
    Success {
        /// Authentication identity as sent by the client.
        username: String,
        /// Requested authorization identity, if any.
        authzid: Option<String>,
        /// Additional data with success, if any.
        additional_data: Option<Vec<u8>>,
    },
    /// Authentication failed: send `<failure/>` with this condition (RFC 6120 §6.5).
    /// The session is finished.
    Failure(SaslFailure),
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Challenge(c) => f.debug_tuple("Challenge").field(&c.len()).finish(),
            Step::NeedCredentials { .. } => f.write_str("NeedCredentials"),
            Step::VerifyPlain { .. } => f.write_str("VerifyPlain"),
            Step::Success { .. } => f.write_str("Success"),
            Step::Failure(c) => f.debug_tuple("Failure").field(c).finish(),
        }
    }
}

/// State of a SCRAM exchange after the server-first message.
struct ScramFinal {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    stored_key: Zeroizing<Vec<u8>>,
    server_key: Zeroizing<Vec<u8>>,
    known_account: bool,
}

enum State {
    /// SCRAM: empty challenge sent, waiting for the client-first message.
    ScramFirst,
    /// SCRAM: waiting for the caller's account lookup.
    ScramCredentials(ClientFirst),
    /// SCRAM: server-first sent, waiting for the client-final message.
    ScramFinal(Box<ScramFinal>),
    /// PLAIN: empty challenge sent, waiting for the message.
    PlainResponse,
    /// PLAIN: waiting for the caller's password check.
    PlainResult {
        username: String,
        authzid: Option<String>,
    },
    /// Succeeded, failed or aborted.
    Done,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::ScramFirst => "ScramFirst",
            State::ScramCredentials(_) => "ScramCredentials",
            State::ScramFinal(_) => "ScramFinal",
            State::PlainResponse => "PlainResponse",
            State::PlainResult { .. } => "PlainResult",
            State::Done => "Done",
        }
    }
}

/// One server-side SASL exchange (RFC 6120 §6.4), driven by the c2s session.
///
/// Create with [`SaslSession::start`], then feed each client `<response/>` to
/// [`SaslSession::response`] and the results of account lookups / password checks to
/// [`SaslSession::credentials`] / [`SaslSession::plain_result`], until a
/// [`Step::Success`] or [`Step::Failure`]. A call in the wrong state yields
/// `Failure(MalformedRequest)` and ends the exchange; nothing panics.
pub struct SaslSession {
    mech: Mechanism,
    plus_offered: bool,
    cb: ChannelBinding,
    state: State,
    /// Test hook: fixed server nonce (RFC test vectors).
    #[cfg(test)]
    fixed_nonce: Option<String>,
    /// Test hook: no XEP-0474 `h=` (RFC test vectors predate it).
    #[cfg(test)]
    no_downgrade_hash: bool,
}

impl std::fmt::Debug for SaslSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSession")
            .field("mech", &self.mech)
            .field("plus_offered", &self.plus_offered)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

fn fail(f: SaslFailure) -> Step {
    Step::Failure(f)
}

impl SaslSession {
    /// Starts an exchange for `mech` after `<auth mechanism='...'>` (RFC 6120 §6.4.2).
    ///
    /// - `plus_offered`: whether the server advertised any `-PLUS` mechanism on this
    ///   stream (downgrade detection: a client gs2 flag `y` while the server offered
    ///   PLUS fails with `NotAuthorized`, RFC 5802 §6).
    /// - `cb`: channel binding data of the TLS connection.
    /// - `initial_response`: decoded initial response (`Some(b"")` for `=`), or `None`
    ///   when the `<auth/>` element was empty.
    ///
    /// Returns the session and the first step: without an initial response, an empty
    /// `Challenge` (RFC 6120 §6.4.2); otherwise as [`SaslSession::response`]. A `-PLUS`
    /// mechanism without any channel binding data, or when `plus_offered` is false,
    /// fails with [`SaslFailure::InvalidMechanism`] (it was not offered). The client
    /// may bind with any type `cb` holds (`p=tls-exporter`, `p=tls-server-end-point`).
    ///
    /// The server-first message of SCRAM ends with the XEP-0474 attribute `h=`: the
    /// SCRAM hash of [`super::downgrade_protection_input`] for the mechanisms
    /// advertised ([`Mechanism::offered`]`(plus_offered)`) and, when `plus_offered`,
    /// the channel binding types of `cb` (as the stream features advertised them).
    pub fn start(
        mech: Mechanism,
        plus_offered: bool,
        cb: ChannelBinding,
        initial_response: Option<&[u8]>,
    ) -> (SaslSession, Step) {
        let mut s = SaslSession {
            mech,
            plus_offered,
            cb,
            state: State::Done,
            #[cfg(test)]
            fixed_nonce: None,
            #[cfg(test)]
            no_downgrade_hash: false,
        };
        let cb_ok = !s.cb.types().is_empty();
        if mech.is_plus() && !(plus_offered && cb_ok) {
            return (s, fail(SaslFailure::InvalidMechanism));
        }
        s.state = match mech {
            Mechanism::Plain => State::PlainResponse,
            _ => State::ScramFirst,
        };
        let step = match initial_response {
            None => Step::Challenge(Vec::new()),
            Some(data) => s.response(data),
        };
        (s, step)
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    fn alg(&self) -> HashAlg {
        match self.mech {
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => HashAlg::Sha1,
            _ => HashAlg::Sha256,
        }
    }

    /// Continues a SCRAM exchange after [`Step::NeedCredentials`] with the account's
    /// stored credentials, or `None` if no such account exists; `unknown` gives the
    /// fake credentials of accounts that do not exist.
    ///
    /// Returns `Challenge(server-first-message)` (RFC 5802 §5.1:
    /// `r=<client nonce><24 random bytes, base64>,s=<salt>,i=<iterations>`). For
    /// `None`, the salt is derived by HMAC from `unknown`'s key and the username, with
    /// `unknown`'s iteration count (same on every attempt and across restarts when the
    /// key is kept: no user enumeration) and the exchange later
    /// fails with `NotAuthorized`. Unusable stored data (wrong key length, zero
    /// iterations, empty salt) or an RNG failure gives `TemporaryAuthFailure`.
    pub fn credentials(
        &mut self,
        creds: Option<&StoredCredentials>,
        unknown: &UnknownAccounts,
    ) -> Step {
        let State::ScramCredentials(first) = std::mem::replace(&mut self.state, State::Done) else {
            return fail(SaslFailure::MalformedRequest);
        };
        let alg = self.alg();
        let (sc, known_account) = match creds {
            Some(c) => {
                let sc = match alg {
                    HashAlg::Sha1 => &c.scram_sha1,
                    HashAlg::Sha256 => &c.scram_sha256,
                };
                (sc.clone(), true)
            }
            None => match scram::fake_credentials(
                unknown.key(),
                alg,
                &first.username,
                unknown.iterations(),
            ) {
                Some(sc) => (sc, false),
                None => return fail(SaslFailure::TemporaryAuthFailure),
            },
        };
        if sc.salt.is_empty()
            || sc.iterations == 0
            || sc.stored_key.len() != alg.out_len()
            || sc.server_key.len() != alg.out_len()
        {
            return fail(SaslFailure::TemporaryAuthFailure);
        }
        let Some(snonce) = self.server_nonce() else {
            return fail(SaslFailure::TemporaryAuthFailure);
        };
        let nonce = format!("{}{}", first.client_nonce, snonce);
        let mut server_first =
            format!("r={},s={},i={}", nonce, B64.encode(&sc.salt), sc.iterations);
        if self.downgrade_hash_wanted() {
            // XEP-0474 §4.1: what this stream advertised, as `features` does.
            let cb_types = if self.plus_offered {
                self.cb.types()
            } else {
                Vec::new()
            };
            let input = super::downgrade_protection_input(
                &Mechanism::offered(self.plus_offered),
                &cb_types,
            );
            server_first.push_str(",h=");
            server_first.push_str(&B64.encode(alg.hash(input.as_bytes())));
        }
        let challenge = server_first.as_bytes().to_vec();
        self.state = State::ScramFinal(Box::new(ScramFinal {
            first,
            server_first,
            nonce,
            stored_key: Zeroizing::new(sc.stored_key.clone()),
            server_key: Zeroizing::new(sc.server_key.clone()),
            known_account,
        }));
        Step::Challenge(challenge)
    }

    #[cfg(test)]
    fn downgrade_hash_wanted(&self) -> bool {
        !self.no_downgrade_hash
    }

    #[cfg(not(test))]
    fn downgrade_hash_wanted(&self) -> bool {
        true
    }

    #[cfg(test)]
    fn server_nonce(&self) -> Option<String> {
        match &self.fixed_nonce {
            Some(n) => Some(n.clone()),
            None => scram::server_nonce(),
        }
    }

    #[cfg(not(test))]
    fn server_nonce(&self) -> Option<String> {
        scram::server_nonce()
    }

    /// Finishes a PLAIN exchange after [`Step::VerifyPlain`]: `ok` is the result of
    /// [`super::verify_password`] (false also for an unknown account). Returns
    /// `Success` (no additional data) or `Failure(NotAuthorized)`.
    pub fn plain_result(&mut self, ok: bool) -> Step {
        let State::PlainResult { username, authzid } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return fail(SaslFailure::MalformedRequest);
        };
        if ok {
            Step::Success {
                username,
                authzid,
                additional_data: None,
            }
        } else {
            fail(SaslFailure::NotAuthorized)
        }
    }

    /// Handles a client `<response/>` payload (decoded bytes, at most
    /// [`MAX_MESSAGE_LEN`]): the SCRAM client-first or client-final message, or the
    /// PLAIN message, depending on the state.
    pub fn response(&mut self, data: &[u8]) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ScramFirst => self.client_first(data),
            State::ScramFinal(f) => self.client_final(&f, data),
            State::PlainResponse => self.plain(data),
            _ => fail(SaslFailure::MalformedRequest),
        }
    }

    /// Handles `<abort/>` (RFC 6120 §6.4.4): ends the exchange, `Failure(Aborted)`.
    pub fn abort(&mut self) -> Step {
        self.state = State::Done;
        fail(SaslFailure::Aborted)
    }

    /// RFC 5802 §5.1 client-first message and gs2 header checks.
    fn client_first(&mut self, data: &[u8]) -> Step {
        let first = match scram::parse_client_first(data) {
            Ok(f) => f,
            Err(e) => return fail(e),
        };
        match (&first.flag, self.mech.is_plus()) {
            (Gs2Flag::Bind(name), true) if self.cb.data(name).is_some() => {}
            // Unsupported channel binding type, or -PLUS without `p=`.
            (_, true) => return fail(SaslFailure::MalformedRequest),
            // `p=` on a mechanism without channel binding.
            (Gs2Flag::Bind(_), false) => return fail(SaslFailure::MalformedRequest),
            // Client supports channel binding and thinks we do not: downgrade.
            (Gs2Flag::Yes, false) if self.plus_offered => {
                return fail(SaslFailure::NotAuthorized);
            }
            (Gs2Flag::Yes | Gs2Flag::No, false) => {}
        }
        let step = Step::NeedCredentials {
            username: first.username.clone(),
            authzid: first.authzid.clone(),
        };
        self.state = State::ScramCredentials(first);
        step
    }

    /// RFC 5802 §5.1 client-final message: channel binding, nonce, proof.
    fn client_final(&mut self, f: &ScramFinal, data: &[u8]) -> Step {
        let msg = match scram::parse_client_final(data) {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        let alg = self.alg();
        if msg.proof.len() != alg.out_len() {
            return fail(SaslFailure::MalformedRequest);
        }
        let mut cb_input = Zeroizing::new(f.first.gs2_header.as_bytes().to_vec());
        if let Gs2Flag::Bind(name) = &f.first.flag {
            match self.cb.data(name) {
                Some(bytes) => cb_input.extend_from_slice(bytes),
                None => return fail(SaslFailure::NotAuthorized),
            }
        }
        let expected_c = Zeroizing::new(B64.encode(&*cb_input));
        let cb_ok = scram::ct_eq(expected_c.as_bytes(), msg.channel_binding.as_bytes());
        let nonce_ok = scram::ct_eq(f.nonce.as_bytes(), msg.nonce.as_bytes());

        let auth_message = [
            f.first.bare.as_bytes(),
            b",",
            f.server_first.as_bytes(),
            b",",
            msg.without_proof.as_bytes(),
        ];
        let Some(client_sig) = alg.hmac(&f.stored_key, &auth_message) else {
            return fail(SaslFailure::TemporaryAuthFailure);
        };
        let client_key = Zeroizing::new(
            msg.proof
                .iter()
                .zip(client_sig.iter())
                .map(|(p, s)| p ^ s)
                .collect::<Vec<u8>>(),
        );
        let proof_ok = scram::ct_eq(&alg.hash(&client_key), &f.stored_key);
        if !(cb_ok && nonce_ok && proof_ok && f.known_account) {
            return fail(SaslFailure::NotAuthorized);
        }
        let Some(server_sig) = alg.hmac(&f.server_key, &auth_message) else {
            return fail(SaslFailure::TemporaryAuthFailure);
        };
        Step::Success {
            username: f.first.username.clone(),
            authzid: f.first.authzid.clone(),
            additional_data: Some(format!("v={}", B64.encode(&*server_sig)).into_bytes()),
        }
    }

    /// RFC 4616 §2: `[authzid] NUL authcid NUL passwd`, UTF-8.
    fn plain(&mut self, data: &[u8]) -> Step {
        if data.len() > MAX_MESSAGE_LEN {
            return fail(SaslFailure::MalformedRequest);
        }
        let mut parts = data.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(passwd), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return fail(SaslFailure::MalformedRequest);
        };
        let (Ok(authzid), Ok(authcid), Ok(passwd)) = (
            std::str::from_utf8(authzid),
            std::str::from_utf8(authcid),
            std::str::from_utf8(passwd),
        ) else {
            return fail(SaslFailure::MalformedRequest);
        };
        if authcid.is_empty() || passwd.is_empty() {
            return fail(SaslFailure::NotAuthorized);
        }
        let authzid = (!authzid.is_empty()).then(|| authzid.to_owned());
        self.state = State::PlainResult {
            username: authcid.to_owned(),
            authzid: authzid.clone(),
        };
        Step::VerifyPlain {
            username: authcid.to_owned(),
            authzid,
            password: Zeroizing::new(passwd.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ScramCredentials, hash_password};

    const EXPORTER: [u8; 32] = [7u8; 32];
    const UNKNOWN: UnknownAccounts = UnknownAccounts::new([5u8; 32], 4096);

    fn rfc_creds(alg: HashAlg, salt_b64: &str) -> StoredCredentials {
        let salt = B64.decode(salt_b64).unwrap();
        let sc = alg.derive_keys(b"pencil", &salt, 4096).unwrap();
        let other = ScramCredentials {
            salt: vec![1],
            iterations: 1,
            stored_key: vec![],
            server_key: vec![],
        };
        let (scram_sha1, scram_sha256) = match alg {
            HashAlg::Sha1 => (sc, other),
            HashAlg::Sha256 => (other, sc),
        };
        StoredCredentials {
            argon2_hash: String::new(),
            scram_sha1,
            scram_sha256,
        }
    }

    fn challenge(step: Step) -> Vec<u8> {
        match step {
            Step::Challenge(c) => c,
            other => panic!("expected challenge, got {other:?}"),
        }
    }

    fn failure(step: Step) -> SaslFailure {
        match step {
            Step::Failure(f) => f,
            other => panic!("expected failure, got {other:?}"),
        }
    }

    /// Runs an RFC test vector: client-first, server-first, client-final, server-final.
    fn rfc_vector(mech: Mechanism, salt: &str, msgs: [&str; 4], snonce: &str) {
        let alg = if mech == Mechanism::ScramSha1 {
            HashAlg::Sha1
        } else {
            HashAlg::Sha256
        };
        let creds = rfc_creds(alg, salt);
        let (mut s, step) = SaslSession::start(mech, false, ChannelBinding::none(), None);
        assert!(challenge(step).is_empty());
        match s.response(msgs[0].as_bytes()) {
            Step::NeedCredentials { username, authzid } => {
                assert_eq!(username, "user");
                assert_eq!(authzid, None);
            }
            other => panic!("{other:?}"),
        }
        s.fixed_nonce = Some(snonce.into());
        s.no_downgrade_hash = true;
        assert_eq!(
            challenge(s.credentials(Some(&creds), &UNKNOWN)),
            msgs[1].as_bytes()
        );
        match s.response(msgs[2].as_bytes()) {
            Step::Success {
                username,
                authzid,
                additional_data,
            } => {
                assert_eq!(username, "user");
                assert_eq!(authzid, None);
                assert_eq!(additional_data.unwrap(), msgs[3].as_bytes());
            }
            other => panic!("{other:?}"),
        }
        // Finished: anything more is a protocol error.
        assert_eq!(failure(s.response(b"x")), SaslFailure::MalformedRequest);
    }

    #[test]
    fn rfc5802_scram_sha1_example() {
        rfc_vector(
            Mechanism::ScramSha1,
            "QSXCR+Q6sek8bf92",
            [
                "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
            ],
            "3rfcNHYJY1ZVvWVs7j",
        );
    }

    #[test]
    fn rfc7677_scram_sha256_example() {
        rfc_vector(
            Mechanism::ScramSha256,
            "W22ZaJ0SNY7soEsUEjb6gQ==",
            [
                "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            ],
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
    }

    /// A minimal SCRAM client (RFC 5802 §3, §5), for full exchanges.
    struct Client {
        alg: HashAlg,
        password: String,
        gs2_header: String,
        cb_data: Vec<u8>,
        bare: String,
        cnonce: String,
        /// Optional extension inserted into the client-final message.
        final_ext: Option<String>,
    }

    struct Parsed {
        nonce: String,
        salt: Vec<u8>,
        iterations: u32,
    }

    impl Client {
        fn new(mech: Mechanism, user: &str, password: &str, gs2_header: &str, cb: &[u8]) -> Client {
            let alg = match mech {
                Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => HashAlg::Sha1,
                _ => HashAlg::Sha256,
            };
            let cnonce = "clientnonce+/123".to_string();
            let escaped = user.replace('=', "=3D").replace(',', "=2C");
            Client {
                alg,
                password: password.into(),
                gs2_header: gs2_header.into(),
                cb_data: cb.to_vec(),
                bare: format!("n={escaped},r={cnonce}"),
                cnonce,
                final_ext: None,
            }
        }

        fn first(&self) -> Vec<u8> {
            format!("{}{}", self.gs2_header, self.bare).into_bytes()
        }

        fn parse_server_first(&self, sf: &[u8]) -> Parsed {
            let sf = std::str::from_utf8(sf).unwrap();
            let mut it = sf.split(',');
            let nonce = it.next().unwrap().strip_prefix("r=").unwrap().to_string();
            assert!(nonce.starts_with(&self.cnonce));
            assert!(nonce.len() > self.cnonce.len());
            let salt = B64
                .decode(it.next().unwrap().strip_prefix("s=").unwrap())
                .unwrap();
            let iterations = it
                .next()
                .unwrap()
                .strip_prefix("i=")
                .unwrap()
                .parse()
                .unwrap();
            Parsed {
                nonce,
                salt,
                iterations,
            }
        }

        /// Returns (client-final, expected server-final).
        fn finish(&self, sf: &[u8]) -> (Vec<u8>, Vec<u8>) {
            let p = self.parse_server_first(sf);
            let mut cb = self.gs2_header.as_bytes().to_vec();
            cb.extend_from_slice(&self.cb_data);
            let mut without_proof = format!("c={},r={}", B64.encode(&cb), p.nonce);
            if let Some(ext) = &self.final_ext {
                without_proof = format!("{without_proof},{ext}");
            }
            let auth = format!(
                "{},{},{}",
                self.bare,
                std::str::from_utf8(sf).unwrap(),
                without_proof
            );
            let salted = self
                .alg
                .salted_password(self.password.as_bytes(), &p.salt, p.iterations);
            let client_key = self.alg.hmac(&salted, &[b"Client Key"]).unwrap();
            let stored_key = self.alg.hash(&client_key);
            let sig = self.alg.hmac(&stored_key, &[auth.as_bytes()]).unwrap();
            let proof: Vec<u8> = client_key
                .iter()
                .zip(sig.iter())
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = self.alg.hmac(&salted, &[b"Server Key"]).unwrap();
            let server_sig = self.alg.hmac(&server_key, &[auth.as_bytes()]).unwrap();
            (
                format!("{without_proof},p={}", B64.encode(&proof)).into_bytes(),
                format!("v={}", B64.encode(&*server_sig)).into_bytes(),
            )
        }
    }

    fn creds() -> &'static StoredCredentials {
        static C: std::sync::OnceLock<StoredCredentials> = std::sync::OnceLock::new();
        C.get_or_init(|| hash_password("correct horse", 4096).unwrap())
    }

    /// Full exchange; returns the final step.
    fn exchange(
        mech: Mechanism,
        plus_offered: bool,
        cb: Option<&[u8]>,
        client: &Client,
        account: Option<&StoredCredentials>,
    ) -> Step {
        let chan = ChannelBinding {
            tls_exporter: cb.map(|b| Zeroizing::new(b.to_vec())),
            tls_server_end_point: None,
        };
        let (mut s, step) = SaslSession::start(mech, plus_offered, chan, Some(&client.first()));
        match step {
            Step::NeedCredentials { .. } => {}
            other => return other,
        }
        let sf = challenge(s.credentials(account, &UNKNOWN));
        let (cf, expected_sf) = client.finish(&sf);
        let step = s.response(&cf);
        if let Step::Success {
            additional_data, ..
        } = &step
        {
            assert_eq!(additional_data.as_deref(), Some(&expected_sf[..]));
        }
        step
    }

    fn assert_success(step: Step, user: &str) {
        match step {
            Step::Success { username, .. } => assert_eq!(username, user),
            other => panic!("expected success, got {other:?}"),
        }
    }

    #[test]
    fn full_exchanges_both_hashes() {
        for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
            for (gs2, plus_offered) in [("n,,", false), ("n,,", true), ("y,,", false)] {
                let c = Client::new(mech, "juliet", "correct horse", gs2, b"");
                assert_success(
                    exchange(mech, plus_offered, None, &c, Some(creds())),
                    "juliet",
                );
            }
        }
    }

    #[test]
    fn unknown_optional_extensions_ignored() {
        let mech = Mechanism::ScramSha256;
        let mut c = Client::new(mech, "juliet", "correct horse", "n,,", b"");
        c.bare.push_str(",x=first=ext");
        c.final_ext = Some("z=final".into());
        assert_success(exchange(mech, false, None, &c, Some(creds())), "juliet");
    }

    #[test]
    fn plus_success_with_exporter() {
        for mech in [Mechanism::ScramSha1Plus, Mechanism::ScramSha256Plus] {
            let c = Client::new(
                mech,
                "ro,m=eo",
                "correct horse",
                "p=tls-exporter,,",
                &EXPORTER,
            );
            assert_success(
                exchange(mech, true, Some(&EXPORTER), &c, Some(creds())),
                "ro,m=eo",
            );
        }
    }

    #[test]
    fn plus_with_authzid() {
        let mech = Mechanism::ScramSha256Plus;
        let c = Client::new(
            mech,
            "romeo",
            "correct horse",
            "p=tls-exporter,a=admin=40x,",
            &EXPORTER,
        );
        // `=40` is not a valid saslname escape.
        assert_eq!(
            failure(exchange(mech, true, Some(&EXPORTER), &c, Some(creds()))),
            SaslFailure::MalformedRequest
        );
        let c = Client::new(
            mech,
            "romeo",
            "correct horse",
            "p=tls-exporter,a=ad=2Cmin,",
            &EXPORTER,
        );
        match exchange(mech, true, Some(&EXPORTER), &c, Some(creds())) {
            Step::Success { authzid, .. } => assert_eq!(authzid.as_deref(), Some("ad,min")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plus_channel_binding_mismatch_fails() {
        let mech = Mechanism::ScramSha256Plus;
        let c = Client::new(
            mech,
            "romeo",
            "correct horse",
            "p=tls-exporter,,",
            &[8u8; 32],
        );
        let step = exchange(mech, true, Some(&EXPORTER), &c, Some(creds()));
        assert_eq!(failure(step), SaslFailure::NotAuthorized);
        // Non-PLUS: c= must be base64(gs2-header) exactly, not with cb data appended.
        let mech = Mechanism::ScramSha256;
        let c = Client::new(mech, "romeo", "correct horse", "n,,", &EXPORTER);
        let step = exchange(mech, false, None, &c, Some(creds()));
        assert_eq!(failure(step), SaslFailure::NotAuthorized);
    }

    #[test]
    fn plus_requires_binding_and_offer() {
        let mech = Mechanism::ScramSha256Plus;
        let c = Client::new(
            mech,
            "romeo",
            "correct horse",
            "p=tls-exporter,,",
            &EXPORTER,
        );
        // Not offered (TLS 1.2: no exporter), or plus_offered false.
        assert_eq!(
            failure(exchange(mech, true, None, &c, Some(creds()))),
            SaslFailure::InvalidMechanism
        );
        assert_eq!(
            failure(exchange(mech, false, Some(&EXPORTER), &c, Some(creds()))),
            SaslFailure::InvalidMechanism
        );
        // -PLUS with n / y / another cb type.
        for gs2 in ["n,,", "y,,", "p=tls-unique,,", "p=tls-server-end-point,,"] {
            let c = Client::new(mech, "romeo", "correct horse", gs2, &EXPORTER);
            assert_eq!(
                failure(exchange(mech, true, Some(&EXPORTER), &c, Some(creds()))),
                SaslFailure::MalformedRequest,
                "{gs2}"
            );
        }
    }

    #[test]
    fn downgrade_detected() {
        for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
            let c = Client::new(mech, "romeo", "correct horse", "y,,", b"");
            assert_eq!(
                failure(exchange(mech, true, None, &c, Some(creds()))),
                SaslFailure::NotAuthorized
            );
        }
    }

    #[test]
    fn p_flag_on_non_plus_fails() {
        let mech = Mechanism::ScramSha256;
        for gs2 in ["p=tls-exporter,,", "p=tls-unique,,"] {
            let c = Client::new(mech, "romeo", "correct horse", gs2, &EXPORTER);
            assert_eq!(
                failure(exchange(mech, true, Some(&EXPORTER), &c, Some(creds()))),
                SaslFailure::MalformedRequest
            );
        }
    }

    #[test]
    fn wrong_password_fails() {
        for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256Plus] {
            let gs2 = if mech.is_plus() {
                "p=tls-exporter,,"
            } else {
                "n,,"
            };
            let c = Client::new(mech, "romeo", "wrong horse", gs2, &EXPORTER);
            assert_eq!(
                failure(exchange(mech, true, Some(&EXPORTER), &c, Some(creds()))),
                SaslFailure::NotAuthorized
            );
        }
    }

    fn server_first_salt(sf: &[u8]) -> String {
        let sf = std::str::from_utf8(sf).unwrap();
        sf.split(',').nth(1).unwrap().to_string()
    }

    #[test]
    fn unknown_user_fails_with_stable_salt() {
        let mech = Mechanism::ScramSha256;
        let mut salts = Vec::new();
        for _ in 0..2 {
            let c = Client::new(mech, "ghost", "correct horse", "n,,", b"");
            let (mut s, _) =
                SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
            let sf = challenge(s.credentials(None, &UNKNOWN));
            salts.push(server_first_salt(&sf));
            assert!(String::from_utf8_lossy(&sf).contains(",i=4096,h="));
            let (cf, _) = c.finish(&sf);
            assert_eq!(failure(s.response(&cf)), SaslFailure::NotAuthorized);
        }
        assert_eq!(salts[0], salts[1]);
        assert_eq!(
            B64.decode(salts[0].strip_prefix("s=").unwrap())
                .unwrap()
                .len(),
            16
        );
        // Another user gets another salt.
        let c = Client::new(mech, "ghost2", "x", "n,,", b"");
        let (mut s, _) = SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
        assert_ne!(
            server_first_salt(&challenge(s.credentials(None, &UNKNOWN))),
            salts[0]
        );
    }

    #[test]
    fn server_nonce_is_fresh() {
        let mech = Mechanism::ScramSha1;
        let c = Client::new(mech, "romeo", "correct horse", "n,,", b"");
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let (mut s, _) =
                SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
            let sf = challenge(s.credentials(Some(creds()), &UNKNOWN));
            let p = c.parse_server_first(&sf);
            // client nonce + base64 of 24 bytes.
            assert_eq!(p.nonce.len(), c.cnonce.len() + 32);
            nonces.push(p.nonce);
        }
        assert_ne!(nonces[0], nonces[1]);
    }

    #[test]
    fn malformed_client_first_table() {
        let long = format!("n,,n=u,r={}", "a".repeat(MAX_MESSAGE_LEN));
        let cases: &[&[u8]] = &[
            b"",
            b"n",
            b"n,",
            b"n,,",
            b"x,,n=u,r=a",
            b"p,,n=u,r=a",
            b"p=,,n=u,r=a",
            b"p=tls exporter,,n=u,r=a",
            b"n,b=x,n=u,r=a",
            b"n,a=,n=u,r=a",
            b"n,a=x=41,n=u,r=a",
            b"n,,n=,r=a",
            b"n,,n=u",
            b"n,,n=u,r=",
            b"n,,n=u,r=a b",
            b"n,,r=a,n=u",
            b"n,,n=u=2c,r=a",
            b"n,,n=u=,r=a",
            b"n,,n=u=3,r=a",
            b"n,,m=ext,n=u,r=a",
            b"n,,n=u,r=a,",
            b"n,,n=u,r=a,x",
            b"n,,n=u,r=a,x=",
            b"n,,n=u,r=a,1=x",
            b"n,,n=u\0,r=a",
            b"n,,n=\xff,r=a",
            b"n,,n=u,r=\xc3\xa9",
            long.as_bytes(),
        ];
        for case in cases {
            let (mut s, step) = SaslSession::start(
                Mechanism::ScramSha256,
                false,
                ChannelBinding::none(),
                Some(case),
            );
            assert_eq!(
                failure(step),
                SaslFailure::MalformedRequest,
                "{:?}",
                String::from_utf8_lossy(case)
            );
            // The session is finished.
            assert_eq!(
                failure(s.credentials(Some(creds()), &UNKNOWN)),
                SaslFailure::MalformedRequest
            );
        }
    }

    #[test]
    fn malformed_client_final_table() {
        let mech = Mechanism::ScramSha256;
        let c = Client::new(mech, "romeo", "correct horse", "n,,", b"");
        let (mut s, _) = SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
        let sf = challenge(s.credentials(Some(creds()), &UNKNOWN));
        let (good, _) = c.finish(&sf);
        let good = String::from_utf8(good).unwrap();
        let nonce = c.parse_server_first(&sf).nonce;
        let proof = good.rsplit_once(",p=").unwrap().1.to_string();
        let cases: Vec<(String, SaslFailure)> = vec![
            (String::new(), SaslFailure::MalformedRequest),
            ("c=biws".into(), SaslFailure::MalformedRequest),
            (format!("c=biws,r={nonce}"), SaslFailure::MalformedRequest),
            (
                format!("c=biws,r={nonce},p="),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},p=!!!!"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},p=AAAA"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("r={nonce},c=biws,p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=,r={nonce},p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r=,p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},p={proof},p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},m=x,p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},,p={proof}"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},p={proof}\0"),
                SaslFailure::MalformedRequest,
            ),
            (
                format!("c=biws,r={nonce},p={proof},"),
                SaslFailure::MalformedRequest,
            ),
            // Well-formed but wrong: nonce not ours / truncated, or c= not canonical.
            (
                format!("c=biws,r={}x,p={proof}", nonce),
                SaslFailure::NotAuthorized,
            ),
            (
                format!("c=biws,r={},p={proof}", &nonce[..nonce.len() - 1]),
                SaslFailure::NotAuthorized,
            ),
            (
                format!("c=biws,r={},p={proof}", c.cnonce),
                SaslFailure::NotAuthorized,
            ),
            (
                format!("c=eSws,r={nonce},p={proof}"),
                SaslFailure::NotAuthorized,
            ),
            (
                format!("c=biws,r={nonce},p={}", flip_first_char(&proof)),
                SaslFailure::NotAuthorized,
            ),
        ];
        for (case, want) in cases {
            let (mut s, _) =
                SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
            s.fixed_nonce = Some(nonce[c.cnonce.len()..].to_string());
            assert_eq!(challenge(s.credentials(Some(creds()), &UNKNOWN)), sf);
            assert_eq!(failure(s.response(case.as_bytes())), want, "{case:?}");
            assert_eq!(
                failure(s.response(good.as_bytes())),
                SaslFailure::MalformedRequest
            );
        }
    }

    /// Changes the first base64 character, keeping the encoding valid.
    fn flip_first_char(b64: &str) -> String {
        let first = if b64.starts_with('A') { 'B' } else { 'A' };
        format!("{first}{}", &b64[1..])
    }

    #[test]
    fn wrong_state_calls_fail() {
        let (mut s, step) =
            SaslSession::start(Mechanism::ScramSha256, false, ChannelBinding::none(), None);
        assert!(challenge(step).is_empty());
        assert_eq!(
            failure(s.credentials(Some(creds()), &UNKNOWN)),
            SaslFailure::MalformedRequest
        );
        let (mut s, _) =
            SaslSession::start(Mechanism::ScramSha256, false, ChannelBinding::none(), None);
        assert_eq!(failure(s.plain_result(true)), SaslFailure::MalformedRequest);
        let (mut s, _) = SaslSession::start(
            Mechanism::ScramSha256,
            false,
            ChannelBinding::none(),
            Some(b"n,,n=u,r=a"),
        );
        // Waiting for credentials: a response is out of order.
        assert_eq!(
            failure(s.response(b"c=biws,r=a,p=AAAA")),
            SaslFailure::MalformedRequest
        );
        let (mut s, _) = SaslSession::start(Mechanism::Plain, false, ChannelBinding::none(), None);
        assert_eq!(
            failure(s.credentials(None, &UNKNOWN)),
            SaslFailure::MalformedRequest
        );
        let (mut s, _) = SaslSession::start(Mechanism::Plain, false, ChannelBinding::none(), None);
        assert_eq!(failure(s.abort()), SaslFailure::Aborted);
        assert_eq!(
            failure(s.response(b"\0u\0p")),
            SaslFailure::MalformedRequest
        );
        assert_eq!(failure(s.abort()), SaslFailure::Aborted);
    }

    #[test]
    fn abort_mid_scram() {
        let mech = Mechanism::ScramSha1;
        let c = Client::new(mech, "romeo", "correct horse", "n,,", b"");
        let (mut s, _) = SaslSession::start(mech, false, ChannelBinding::none(), Some(&c.first()));
        let sf = challenge(s.credentials(Some(creds()), &UNKNOWN));
        assert_eq!(failure(s.abort()), SaslFailure::Aborted);
        let (cf, _) = c.finish(&sf);
        assert_eq!(failure(s.response(&cf)), SaslFailure::MalformedRequest);
    }

    #[test]
    fn bad_stored_credentials_are_temporary_failure() {
        let mut bad = creds().clone();
        bad.scram_sha256.stored_key.truncate(5);
        let (mut s, _) = SaslSession::start(
            Mechanism::ScramSha256,
            false,
            ChannelBinding::none(),
            Some(b"n,,n=u,r=a"),
        );
        assert_eq!(
            failure(s.credentials(Some(&bad), &UNKNOWN)),
            SaslFailure::TemporaryAuthFailure
        );
    }

    fn plain(msg: &[u8], initial: bool) -> (SaslSession, Step) {
        if initial {
            SaslSession::start(Mechanism::Plain, false, ChannelBinding::none(), Some(msg))
        } else {
            let (mut s, step) =
                SaslSession::start(Mechanism::Plain, false, ChannelBinding::none(), None);
            assert!(challenge(step).is_empty());
            let step = s.response(msg);
            (s, step)
        }
    }

    #[test]
    fn plain_good_and_bad() {
        for initial in [true, false] {
            let (mut s, step) = plain(b"\0juliet\0correct horse", initial);
            match step {
                Step::VerifyPlain {
                    username,
                    authzid,
                    password,
                } => {
                    assert_eq!(username, "juliet");
                    assert_eq!(authzid, None);
                    assert!(verify_password_ok(&password));
                    match s.plain_result(verify_password_ok(&password)) {
                        Step::Success {
                            username,
                            authzid,
                            additional_data,
                        } => {
                            assert_eq!(username, "juliet");
                            assert_eq!(authzid, None);
                            assert_eq!(additional_data, None);
                        }
                        other => panic!("{other:?}"),
                    }
                }
                other => panic!("{other:?}"),
            }
            let (mut s, step) = plain(b"admin@x\0juliet\0wrong", initial);
            match step {
                Step::VerifyPlain {
                    authzid, password, ..
                } => {
                    assert_eq!(authzid.as_deref(), Some("admin@x"));
                    assert_eq!(
                        failure(s.plain_result(verify_password_ok(&password))),
                        SaslFailure::NotAuthorized
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(failure(s.plain_result(true)), SaslFailure::MalformedRequest);
        }
    }

    fn verify_password_ok(p: &str) -> bool {
        crate::auth::verify_password(creds(), p)
    }

    #[test]
    fn plain_malformed() {
        let long = [b"\0u\0".as_slice(), &vec![b'a'; MAX_MESSAGE_LEN]].concat();
        let cases: &[(&[u8], SaslFailure)] = &[
            (b"", SaslFailure::MalformedRequest),
            (b"juliet", SaslFailure::MalformedRequest),
            (b"\0juliet", SaslFailure::MalformedRequest),
            (b"\0juliet\0pw\0", SaslFailure::MalformedRequest),
            (b"a\0b\0c\0d", SaslFailure::MalformedRequest),
            (b"\0jul\xffiet\0pw", SaslFailure::MalformedRequest),
            (b"\xff\0juliet\0pw", SaslFailure::MalformedRequest),
            (b"\0juliet\0p\xc3", SaslFailure::MalformedRequest),
            (long.as_slice(), SaslFailure::MalformedRequest),
            (b"\0\0pw", SaslFailure::NotAuthorized),
            (b"\0juliet\0", SaslFailure::NotAuthorized),
            (b"\0\0", SaslFailure::NotAuthorized),
        ];
        for (case, want) in cases {
            for initial in [true, false] {
                let (mut s, step) = plain(case, initial);
                assert_eq!(failure(step), *want, "{:?}", String::from_utf8_lossy(case));
                assert_eq!(failure(s.plain_result(true)), SaslFailure::MalformedRequest);
            }
        }
    }

    #[test]
    fn debug_does_not_leak() {
        let (s, step) = plain(b"\0juliet\0sekrit", true);
        let d = format!("{s:?} {step:?}");
        assert!(!d.contains("sekrit") && !d.contains("juliet"), "{d}");
        let chan = ChannelBinding::tls_exporter(EXPORTER.to_vec());
        let (s, _) = SaslSession::start(Mechanism::ScramSha256Plus, true, chan, None);
        let d = format!("{s:?}");
        assert!(d.contains("ScramFirst") && !d.contains("7, 7"), "{d}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..160),
            prefix in proptest::sample::select(vec!["", "n,,", "y,,", "p=tls-exporter,,", "n,,n=u,r=a", "c=biws,r=", "\0u\0"]),
            mech in proptest::sample::select(Mechanism::ALL.to_vec()),
        ) {
            let msg = [prefix.as_bytes(), &data].concat();
            let chan = || ChannelBinding::tls_exporter(EXPORTER.to_vec());
            let _ = SaslSession::start(mech, true, chan(), Some(&msg));
            let (mut s, _) = SaslSession::start(mech, true, chan(), None);
            let _ = s.response(&msg);
            let _ = s.credentials(None, &UNKNOWN);
            let _ = s.response(&msg);
            let _ = s.plain_result(true);
            // Client-final fuzzing after a valid client-first.
            let gs2 = if mech.is_plus() { "p=tls-exporter,," } else { "n,," };
            let (mut s, _) = SaslSession::start(mech, true, chan(), Some(format!("{gs2}n=u,r=a").as_bytes()));
            let _ = s.credentials(Some(creds()), &UNKNOWN);
            let _ = s.response(&msg);
        }
    }
}
