//! Client-to-server sessions (RFC 6120): TLS, SASL, resource binding, then stanzas.
//!
//! A connection goes through these steps, each a fresh stream header where the RFC
//! requires one:
//! 1. TLS: STARTTLS (`<required/>`, RFC 6120 §5) on `c2s` listeners, or a TLS handshake
//!    before any XML on `c2s_tls` listeners (XEP-0368).
//! 2. SASL (§6): SCRAM-SHA-256/SHA-1, each with -PLUS (channel binding `tls-exporter` on
//!    TLS 1.3 and `tls-server-end-point` on TLS 1.2 and 1.3, XEP-0440 advertisement,
//!    XEP-0474 downgrade protection), and PLAIN. Nothing is offered before TLS.
//! 3. Resource binding (§7), with the legacy session IQ answered for old clients.
//! 4. The bound session: stanzas go to the [`Router`], the router's mailbox comes back.
//!
//! # Security
//! - A `<auth/>` in the clear is refused with `encryption-required` and the stream is
//!   closed: the credentials it may carry have already crossed the network in the clear.
//! - Failed logins count against the source, the (account, source) pair and the
//!   account, reserved before any password is checked; the answer waits a delay that
//!   grows with the source's failures; one SASL exchange per source runs at a time; a
//!   source that has not failed is never refused ([`ratelimit`]). Nothing of it is
//!   logged.
//! - The whole negotiation must finish within `limits.handshake_timeout_secs`, and TLS
//!   must be up within `limits.pretls_timeout_secs`.
//! - Connections not yet bound are capped in total and per source ([`preauth`]).
//! - A bound session that stops reading is closed after `limits.write_timeout_secs`
//!   (also while a write is pending when it is told to close); one that sends nothing
//!   for `limits.ping_interval_secs` gets a XEP-0199 ping and `limits.ping_timeout_secs`
//!   to show it is alive. What was queued for a session and not written goes back to the
//!   router ([`Router::reroute_unwritten`]): bounced to its sender or stored offline.
//!   Offline messages are deleted once written to the stream, not when queued.

pub mod preauth;
pub mod ratelimit;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jid::{BareJid, Jid, NodePart};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span};
use zeroize::Zeroizing;

use crate::auth::{self, ChannelBinding, Mechanism, SaslFailure, SaslSession, Step};
use crate::http::{SharedBaseUrls, Via};
use crate::ns;
use crate::router::hooks::{ElementOutcome, Event};
use crate::router::{BindError, Outbound, Receipt, Router, SessionEntry};
use crate::stanza::{Condition, Stanza, StanzaError, StreamCondition};
use crate::storage::Storage;
use crate::stream::negotiate::{
    Deadlines, accept_direct_tls, accept_header, accept_starttls, fail_read, next_element,
    refuse_starttls, starttls_feature,
};
use crate::stream::{Transport, XmlStream};
use crate::xml::{Element, Limits, StreamEvent};
use ratelimit::{Attempt, AuthLimiter, Key};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Everything a client session needs, shared by all sessions.
pub struct C2sContext {
    /// The router.
    pub router: Arc<Router>,
    /// Storage (accounts).
    pub storage: Storage,
    /// TLS acceptor with the server certificate.
    pub tls: tokio_rustls::TlsAcceptor,
    /// XML limits per stream.
    pub limits: Limits,
    /// Time allowed from connect to bound session.
    pub handshake_timeout: Duration,
    /// Time allowed from connect until TLS is up (within `handshake_timeout`).
    pub pretls_timeout: Duration,
    /// Caps on connections not yet bound.
    pub preauth: Arc<preauth::PreAuth>,
    /// Time one write to the client may take.
    pub write_timeout: Duration,
    /// Silence from a bound client after which the server pings it (XEP-0199).
    pub ping_interval: Duration,
    /// Time a pinged client has to send anything.
    pub ping_timeout: Duration,
    /// Failed-login counters, growing failure delays and per-source SASL gates.
    pub limiter: AuthLimiter,
    /// `tls-server-end-point` channel binding data of the server certificate
    /// (RFC 5929 §4.1, [`crate::tls::server_end_point`]).
    pub server_end_point: Option<Vec<u8>>,
    /// argon2 verification of PLAIN passwords, bounded in parallelism and memory.
    pub verifier: auth::PasswordVerifier,
    /// Fake SCRAM credentials for unknown accounts (stable key, configured iterations).
    pub unknown_accounts: auth::UnknownAccounts,
    /// Server shutdown.
    pub shutdown: CancellationToken,
    /// The first hosted domain: used when a client omits `to` in its header.
    pub default_domain: String,
    /// Credentials of a random password, checked for unknown accounts (see `verify_plain`).
    pub decoy: Arc<auth::StoredCredentials>,
    /// Base URLs of the HTTP listener, for rewriting URLs of ours to onion sessions
    /// ([`crate::http::localize`]).
    pub base_urls: SharedBaseUrls,
}

/// How a connection arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Plain TCP, STARTTLS required (RFC 6120 §5).
    StartTls,
    /// TLS from the first byte (XEP-0368).
    DirectTls,
}

/// Serves one client connection until it ends. `source` is used only for failed-login
/// accounting (hashed); it is never logged. `via` says whether the connection came
/// through the onion service ([`SessionEntry::via_onion`]).
pub async fn serve<S>(
    cx: Arc<C2sContext>,
    io: S,
    entry: Entry,
    source: impl Into<ratelimit::Source>,
    via: Via,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sid = crate::log::session_id();
    let span = info_span!("c2s", sid = %sid);
    async move {
        debug!(direct_tls = entry == Entry::DirectTls, "connection opened");
        // Only TCP sources have a per-source cap: onion circuits are cheap to make and
        // count against the total alone.
        let source: ratelimit::Source = source.into();
        let has_source = matches!(source, ratelimit::Source::Ip(_));
        let source = cx.limiter.source_key(source);
        let permit = match cx.preauth.admit(has_source.then_some(source)) {
            Ok(p) => p,
            Err(r) => {
                debug!(
                    reason = r.as_str(),
                    "connection refused: too many unauthenticated"
                );
                return;
            }
        };
        let negotiation = tokio::time::timeout(
            cx.handshake_timeout + Duration::from_secs(5),
            negotiate(&cx, io, entry, source, sid.clone(), via),
        );
        let negotiated = tokio::select! {
            n = negotiation => n,
            // Connections not yet bound are simply dropped at shutdown.
            _ = cx.shutdown.cancelled() => return,
            _ = permit.evicted().cancelled() => {
                debug!("unauthenticated connection evicted by a newcomer");
                return;
            }
        };
        drop(permit);
        match negotiated {
            Ok(Some((stream, session, rx, kill))) => {
                run_session(&cx, stream, session, rx, kill).await
            }
            Ok(None) => {}
            Err(_) => debug!("negotiation timed out"),
        }
        debug!("connection closed");
    }
    .instrument(span)
    .await
}

type Negotiated<S> = (
    XmlStream<S>,
    Arc<SessionEntry>,
    mpsc::Receiver<Outbound>,
    CancellationToken,
);

/// Runs the negotiation of a client stream (RFC 6120 §4.3) up to a bound resource,
/// one round per stream: header and features, then the step they offer (TLS, SASL,
/// binding), until the stream restarts (after TLS, after SASL) or a resource is bound.
/// `None` when the stream ended; the client has been answered.
async fn negotiate<S>(
    cx: &Arc<C2sContext>,
    io: S,
    entry: Entry,
    source: Key,
    sid: String,
    via: Via,
) -> Option<Negotiated<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let deadlines = Deadlines::new(
        tokio::time::Instant::now(),
        cx.pretls_timeout,
        cx.handshake_timeout,
    );
    let transport = match entry {
        Entry::StartTls => Transport::Plain(io),
        Entry::DirectTls => accept_direct_tls(io, &cx.tls, deadlines.tls).await.ok()?,
    };
    let mut stream = XmlStream::new(transport, cx.limits);
    stream.set_write_timeout(Some(cx.write_timeout));
    // Reads during negotiation end with `connection-timeout` at the deadline: the
    // pre-TLS one until TLS is up, then the handshake one (the caller's timeout stays
    // as a backstop).
    stream.set_deadline(Some(deadlines.for_transport(stream.transport())));
    let mut account: Option<BareJid> = None;
    let mut domain = cx.default_domain.clone();
    loop {
        let is_local = |d: &str| cx.router.is_local_domain(d);
        accept_header(&mut stream, ns::CLIENT, &mut domain, is_local)
            .await
            .ok()?;
        let secure = stream.transport().is_tls();
        let exporter = stream.transport().tls_exporter();
        let features = features(
            secure,
            account.is_some(),
            &channel_binding(cx, &exporter),
            &cx.router,
        );
        stream.send(&features).await.ok()?;
        if !secure {
            stream = require_tls(cx, stream, &deadlines).await?;
            continue;
        }
        match &account {
            None => {
                let a = authenticate(cx, &mut stream, &domain, source, exporter).await?;
                account = Some(a);
                // The restart after SASL success (RFC 6120 §6.4.6).
                stream.reset();
            }
            Some(a) => return bind(cx, stream, a, sid, via).await,
        }
    }
}

/// Before TLS only `<starttls/>` is accepted (RFC 6120 §5.3.1); the stream returned is
/// the restarted one over TLS, its reads bounded by the handshake deadline. `<auth/>`
/// in the clear gets `encryption-required` and `policy-violation`, anything else
/// `not-authorized`.
async fn require_tls<S>(
    cx: &C2sContext,
    mut stream: XmlStream<S>,
    deadlines: &Deadlines,
) -> Option<XmlStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let el = next_element(&mut stream).await.ok()?;
    if el.is("starttls", ns::TLS) {
        let mut stream = accept_starttls(stream, &cx.tls, deadlines.tls).await.ok()?;
        stream.set_deadline(Some(deadlines.handshake));
        return Some(stream);
    }
    if el.is("auth", ns::SASL) {
        let _ = stream
            .send(&sasl_failure(SaslFailure::EncryptionRequired))
            .await;
        stream
            .close_with(Some(StreamCondition::PolicyViolation))
            .await;
        return None;
    }
    stream
        .close_with(Some(StreamCondition::NotAuthorized))
        .await;
    None
}

/// Over TLS, before authentication: SASL exchanges (RFC 6120 §6) until one succeeds,
/// giving the account. A second `<starttls/>` is refused (§5.4.2.2), anything else
/// gets `not-authorized`.
async fn authenticate<S>(
    cx: &Arc<C2sContext>,
    stream: &mut XmlStream<S>,
    domain: &str,
    source: Key,
    exporter: Option<Vec<u8>>,
) -> Option<BareJid>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    loop {
        let el = next_element(stream).await.ok()?;
        if el.is("auth", ns::SASL) {
            match sasl(cx, stream, &el, domain, source, exporter.clone()).await {
                SaslOutcome::Success(account) => return Some(account),
                SaslOutcome::Failed => continue,
                SaslOutcome::Closed => return None,
            }
        }
        if el.is("starttls", ns::TLS) {
            refuse_starttls(stream).await;
            return None;
        }
        stream
            .close_with(Some(StreamCondition::NotAuthorized))
            .await;
        return None;
    }
}

/// Authenticated: resource binding (RFC 6120 §7) until a resource is bound. Other
/// stanzas get a `not-authorized` error; a non-stanza closes the stream with
/// `unsupported-stanza-type`. The bound stream has no read deadline.
async fn bind<S>(
    cx: &Arc<C2sContext>,
    mut stream: XmlStream<S>,
    account: &BareJid,
    sid: String,
    via: Via,
) -> Option<Negotiated<S>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    loop {
        let el = next_element(&mut stream).await.ok()?;
        let st = match Stanza::from_element(el, ns::CLIENT) {
            Ok(st) => st,
            Err(_) => {
                stream
                    .close_with(Some(StreamCondition::UnsupportedStanzaType))
                    .await;
                return None;
            }
        };
        let is_bind = st.iq_type().is_some()
            && st.el().attr("type") == Some("set")
            && st.payload().is_some_and(|p| p.is("bind", ns::BIND));
        if !is_bind {
            if let Some(reply) = st.error_reply(&Condition::NotAuthorized.into())
                && stream.send(&reply).await.is_err()
            {
                return None;
            }
            continue;
        }
        let requested = st
            .payload()
            .and_then(|b| b.get_child("resource", ns::BIND))
            .map(|r| r.text())
            .filter(|r| !r.is_empty());
        let kill = cx.shutdown.child_token();
        match cx.router.bind(
            account,
            requested.as_deref(),
            sid.clone(),
            kill.clone(),
            via == Via::Onion,
        ) {
            Ok((session, rx)) => {
                let result = st
                    .iq_result(Some(Element::new("bind", ns::BIND).child(
                        Element::new("jid", ns::BIND).with_text(session.full.to_string()),
                    )));
                if stream.send(&result).await.is_err() {
                    cx.router.unbind(&session).await;
                    return None;
                }
                debug!("resource bound");
                stream.set_deadline(None);
                return Some((stream, session, rx, kill));
            }
            Err(e) => {
                let err = match e {
                    BindError::BadResource => StanzaError::from_condition(Condition::BadRequest),
                    BindError::TooManyResources => {
                        StanzaError::from_condition(Condition::ResourceConstraint)
                            .with_text("too many sessions for this account")
                    }
                };
                if let Some(reply) = st.error_reply(&err)
                    && stream.send(&reply).await.is_err()
                {
                    return None;
                }
            }
        }
    }
}

/// The channel binding of a TLS stream: `tls-exporter` when the stream has it (TLS 1.3)
/// and the server certificate's `tls-server-end-point` (any TLS version).
fn channel_binding(cx: &C2sContext, exporter: &Option<Vec<u8>>) -> ChannelBinding {
    let cb = match exporter {
        Some(e) => ChannelBinding::tls_exporter(e.clone()),
        None => ChannelBinding::none(),
    };
    match &cx.server_end_point {
        Some(h) => cb.with_server_end_point(h.clone()),
        None => cb,
    }
}

/// Stream features (RFC 6120 §4.3.2) for the current step. `cb` is the channel binding
/// available on a TLS stream: its types are advertised in XEP-0440
/// `<sasl-channel-binding/>` and enable the `-PLUS` mechanisms.
/// After authentication: resource binding, then what the modules offer
/// ([`Router::stream_features`]).
fn features(secure: bool, authenticated: bool, cb: &ChannelBinding, router: &Router) -> Element {
    let cb_types = cb.types();
    let channel_binding = !cb_types.is_empty();
    let mut f = Element::new("features", ns::STREAM);
    if !secure {
        f.push_child(starttls_feature(true));
    } else if !authenticated {
        let mut mechs = Element::new("mechanisms", ns::SASL);
        for m in Mechanism::offered(channel_binding) {
            mechs.push_child(Element::new("mechanism", ns::SASL).with_text(m.name()));
        }
        f.push_child(mechs);
        if channel_binding {
            let mut scb = Element::new("sasl-channel-binding", ns::SASL_CB);
            for t in cb_types {
                scb.push_child(Element::new("channel-binding", ns::SASL_CB).with_attr("type", t));
            }
            f.push_child(scb);
        }
    } else {
        f.push_child(Element::new("bind", ns::BIND));
        for extra in router.stream_features() {
            f.push_child(extra);
        }
    }
    f
}

fn sasl_failure(f: SaslFailure) -> Element {
    Element::new("failure", ns::SASL).child(Element::new(f.condition(), ns::SASL))
}

enum SaslOutcome {
    Success(BareJid),
    Failed,
    Closed,
}

/// Decodes the text of `<auth/>`/`<response/>`: empty is no data, `=` is empty data
/// (RFC 6120 §6.4.2).
fn decode_payload(el: &Element) -> Result<Option<Zeroizing<Vec<u8>>>, SaslFailure> {
    let text = Zeroizing::new(el.text());
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t == "=" {
        return Ok(Some(Zeroizing::new(Vec::new())));
    }
    B64.decode(t)
        .map(|v| Some(Zeroizing::new(v)))
        .map_err(|_| SaslFailure::IncorrectEncoding)
}

/// The account JID a SASL username names on `domain` (RFC 7622 §3.3); `None` when
/// invalid, or when its normalisation is not stable (a JID that others would parse as
/// someone else's, see [`crate::stanza::parse_jid`]).
pub(crate) fn account_jid(username: &str, domain: &str) -> Option<BareJid> {
    let node = NodePart::new(username).ok()?;
    let d = jid::DomainPart::new(domain).ok()?;
    let j = BareJid::from_parts(Some(&node), &d);
    (crate::stanza::parse_bare_jid(j.as_str()).as_ref() == Some(&j)).then_some(j)
}

async fn sasl<S>(
    cx: &Arc<C2sContext>,
    stream: &mut XmlStream<S>,
    auth_el: &Element,
    domain: &str,
    source: Key,
    exporter: Option<Vec<u8>>,
) -> SaslOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // One exchange at a time per source: parallel connections of one source wait for
    // each other, failure delays included.
    let _gate = cx.limiter.gate(source).await;
    let cb = channel_binding(cx, &exporter);
    let plus_offered = !cb.types().is_empty();
    let Some(mech) = auth_el.attr("mechanism").and_then(Mechanism::from_name) else {
        return sasl_fail(cx, stream, SaslFailure::InvalidMechanism, source, true).await;
    };
    if mech.is_plus() && !plus_offered {
        return sasl_fail(cx, stream, SaslFailure::InvalidMechanism, source, true).await;
    }
    if cx.limiter.source_blocked(source) {
        return sasl_fail(cx, stream, SaslFailure::TemporaryAuthFailure, source, false).await;
    }
    let initial = match decode_payload(auth_el) {
        Ok(i) => i,
        Err(f) => return sasl_fail(cx, stream, f, source, true).await,
    };
    let (mut session, mut step) = SaslSession::start(
        mech,
        plus_offered,
        cb,
        initial.as_ref().map(|v| v.as_slice()),
    );
    let mut account: Option<BareJid> = None;
    // The reserved attempt on `account`: counted as a failure unless it succeeds.
    let mut attempt: Option<Attempt> = None;
    loop {
        step = match step {
            Step::Challenge(data) => {
                let text = if data.is_empty() {
                    String::new()
                } else {
                    B64.encode(&data)
                };
                if stream
                    .send(&Element::new("challenge", ns::SASL).with_text(text))
                    .await
                    .is_err()
                {
                    return SaslOutcome::Closed;
                }
                match stream.next().await {
                    Ok(StreamEvent::Element(el)) if el.is("response", ns::SASL) => {
                        match decode_payload(&el) {
                            Ok(d) => {
                                session.response(d.as_ref().map(|v| v.as_slice()).unwrap_or(&[]))
                            }
                            Err(f) => Step::Failure(f),
                        }
                    }
                    Ok(StreamEvent::Element(el)) if el.is("abort", ns::SASL) => session.abort(),
                    Ok(StreamEvent::Element(_)) => {
                        stream
                            .close_with(Some(StreamCondition::NotAuthorized))
                            .await;
                        return SaslOutcome::Closed;
                    }
                    Ok(_) => {
                        stream.close_with(None).await;
                        return SaslOutcome::Closed;
                    }
                    Err(e) => {
                        fail_read(stream, e).await;
                        return SaslOutcome::Closed;
                    }
                }
            }
            Step::NeedCredentials { username, .. } => {
                match lookup(cx, &username, domain, source).await {
                    Lookup::Done(a, creds, at) => {
                        account = a;
                        attempt = at;
                        session.credentials(creds.as_deref(), &cx.unknown_accounts)
                    }
                    refused => return refuse(cx, stream, source, refused).await,
                }
            }
            Step::VerifyPlain {
                username, password, ..
            } => match lookup(cx, &username, domain, source).await {
                Lookup::Done(a, creds, at) => {
                    account = a;
                    attempt = at;
                    let ok = verify_plain(creds.map(|c| *c), password, cx).await;
                    session.plain_result(ok)
                }
                refused => return refuse(cx, stream, source, refused).await,
            },
            Step::Success {
                authzid,
                additional_data,
                ..
            } => {
                let (Some(a), Some(at)) = (account.take(), attempt.take()) else {
                    return sasl_fail(cx, stream, SaslFailure::NotAuthorized, source, true).await;
                };
                if let Some(z) = authzid.filter(|z| !z.is_empty()) {
                    let same = BareJid::new(&z).map(|j| j == a).unwrap_or(false);
                    if !same {
                        // The reserved attempt stays counted as a failure.
                        drop(at);
                        return sasl_fail(cx, stream, SaslFailure::InvalidAuthzid, source, false)
                            .await;
                    }
                }
                at.succeeded(&cx.limiter);
                let text = additional_data.map(|d| B64.encode(d)).unwrap_or_default();
                if stream
                    .send(&Element::new("success", ns::SASL).with_text(text))
                    .await
                    .is_err()
                {
                    return SaslOutcome::Closed;
                }
                debug!("authenticated");
                return SaslOutcome::Success(a);
            }
            Step::Failure(f) => {
                // A reserved attempt is already counted; anything else counts against
                // the source (an abort before any account was tried does not).
                let count = attempt.take().is_none() && f != SaslFailure::Aborted;
                return sasl_fail(cx, stream, f, source, count).await;
            }
        };
    }
}

/// The account behind a SASL username, looked up once per exchange.
enum Lookup {
    /// Too many failures (source, account and source, or account budget): refuse
    /// without looking.
    Blocked,
    /// The database could not answer.
    Unavailable,
    /// The account JID (`None` when the username is not a valid localpart), its
    /// credentials (`None` when there is no such account) and the attempt reserved on
    /// it ([`AuthLimiter::begin`], `None` without a valid JID).
    Done(
        Option<BareJid>,
        Option<Box<auth::StoredCredentials>>,
        Option<Attempt>,
    ),
}

/// Reserves an attempt of `source` on the account (failure counters go up before any
/// credential is checked), then reads its credentials.
async fn lookup(cx: &Arc<C2sContext>, username: &str, domain: &str, source: Key) -> Lookup {
    let Some(a) = account_jid(username, domain) else {
        cx.limiter.failure(source);
        return Lookup::Done(None, None, None);
    };
    let Ok(attempt) = cx.limiter.begin(source, a.as_str()) else {
        return Lookup::Blocked;
    };
    match cx.storage.credentials(a.as_str()).await {
        Ok(creds) => Lookup::Done(Some(a), creds.map(Box::new), Some(attempt)),
        Err(e) => {
            debug!(error = %e, "credential lookup failed");
            // Not the client's fault: give the reservation back.
            attempt.succeeded(&cx.limiter);
            Lookup::Unavailable
        }
    }
}

/// Answers `temporary-auth-failure` for a lookup that did not complete; a refused
/// attempt is not counted again.
async fn refuse<S>(
    cx: &Arc<C2sContext>,
    stream: &mut XmlStream<S>,
    source: Key,
    _lookup: Lookup,
) -> SaslOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    sasl_fail(cx, stream, SaslFailure::TemporaryAuthFailure, source, false).await
}

/// Verifies a PLAIN password with argon2 through the bounded [`auth::PasswordVerifier`].
/// Without an account the password is checked against a decoy hash, so an unknown
/// account costs the same time as a wrong password and timing does not reveal which
/// accounts exist. Logs one `password check` line at debug per verification (nothing
/// identifying).
async fn verify_plain(
    creds: Option<auth::StoredCredentials>,
    password: Zeroizing<String>,
    cx: &Arc<C2sContext>,
) -> bool {
    let known = creds.is_some();
    let creds = creds.unwrap_or_else(|| (*cx.decoy).clone());
    debug!("password check");
    let ok = cx.verifier.verify(creds, password).await;
    ok && known
}

/// Counts a failure of the source when `count`, waits the source's growing failure
/// delay ([`AuthLimiter::delay`]; none for an abort), and sends `<failure/>`
/// (RFC 6120 §6.4.5).
async fn sasl_fail<S>(
    cx: &Arc<C2sContext>,
    stream: &mut XmlStream<S>,
    f: SaslFailure,
    source: Key,
    count: bool,
) -> SaslOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if count {
        cx.limiter.failure(source);
    }
    debug!(condition = f.condition(), "authentication failed");
    if f != SaslFailure::Aborted {
        tokio::time::sleep(cx.limiter.delay(source)).await;
    }
    if stream.send(&sasl_failure(f)).await.is_err() {
        return SaslOutcome::Closed;
    }
    SaslOutcome::Failed
}

/// Receipts of written stanzas ([`Outbound::Receipt`], e.g. offline messages to delete)
/// are reported in batches of this many (and
/// whenever the queue is empty, and when the session ends).
const RECEIPT_BATCH: usize = 32;

/// A ping the server sent (XEP-0199 §4.2) and is waiting on.
struct PendingPing {
    id: String,
}

async fn run_session<S>(
    cx: &Arc<C2sContext>,
    mut stream: XmlStream<S>,
    session: Arc<SessionEntry>,
    mut rx: mpsc::Receiver<Outbound>,
    kill: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let from = Jid::from(session.full.clone());
    let owner = session.full.to_bare();
    // This session's JID as the `to` of shared stanzas, escaped once.
    let to = crate::stream::attr_value(session.full.as_str());
    // Receipts of stanzas written to the stream, to report.
    let mut written: Vec<Receipt> = Vec::new();
    // What was dequeued but not written (the write failed or was abandoned).
    let mut unwritten: Option<Outbound> = None;
    // The stanzas of a dequeued batch not written yet, written before the queue.
    let mut backlog: VecDeque<Outbound> = VecDeque::new();
    let mut ping: Option<PendingPing> = None;
    let mut wake = tokio::time::Instant::now() + cx.ping_interval;
    loop {
        tokio::select! {
            biased;
            _ = kill.cancelled() => {
                // Deliver what was queued before the close (e.g. a final error reply),
                // each write within the write timeout.
                while !stream.is_broken() {
                    let next = match backlog.pop_front() {
                        Some(out) => Some(out),
                        None => rx.try_recv().ok().and_then(|o| unbatch(o, &mut backlog)),
                    };
                    let Some(out) = next else { break };
                    match write_out(cx, &mut stream, &session, &to, &out).await {
                        Ok(()) => note_written(&out, &mut written),
                        Err(_) => unwritten = Some(out),
                    }
                }
                let cond = session.close_reason().unwrap_or(StreamCondition::SystemShutdown);
                stream.close_with(Some(cond)).await;
                break;
            }
            out = next_out(&mut backlog, &mut rx) => match out {
                Some(out) => {
                    // The write is abandoned when the session is told to close, unless
                    // the close lets writes finish (each is bounded by the write timeout).
                    let r = {
                        let w = write_out(cx, &mut stream, &session, &to, &out);
                        tokio::pin!(w);
                        tokio::select! {
                            biased;
                            r = &mut w => r,
                            _ = kill.cancelled() => if session.closes_after_writes() {
                                w.await
                            } else {
                                Err(std::io::ErrorKind::Interrupted.into())
                            },
                        }
                    };
                    if let Err(e) = r {
                        debug!(error = %e, "write to client failed");
                        unwritten = Some(out);
                        // Writes nothing when the stream is broken (it always is here,
                        // unless the transport failed before writing anything).
                        stream.close_with(session.close_reason()).await;
                        break;
                    }
                    note_written(&out, &mut written);
                    if written.len() >= RECEIPT_BATCH || (!written.is_empty() && rx.is_empty()) {
                        report_written(cx, &session, &mut written).await;
                    }
                    if rx.is_empty() && session.take_written_notice() {
                        cx.router.emit(Event::QueueWritten(&session)).await;
                    }
                }
                None => break,
            },
            ev = stream.next() => {
                // Anything from the client shows it is alive (XEP-0199 §4.2.1).
                let answered = ping.take();
                wake = tokio::time::Instant::now() + cx.ping_interval;
                match ev {
                    Ok(StreamEvent::Element(el)) => match Stanza::from_element(el, ns::CLIENT) {
                        Ok(mut st) => {
                            if let Some(p) = answered
                                && st.kind() == crate::stanza::Kind::Iq
                                && matches!(st.type_attr(), "result" | "error")
                                && st.el().attr("id") == Some(p.id.as_str())
                            {
                                continue;
                            }
                            st.set_from(&from);
                            debug!(kind = %st.summary(), "stanza in");
                            cx.router.route_from_client(&session, st).await;
                        }
                        // Not a stanza: a module may have claimed it (e.g. XEP-0198's
                        // `<r/>`); otherwise `unsupported-stanza-type`.
                        Err(el) => match cx.router.handle_element(&session, el).await {
                            ElementOutcome::Reply(els) => {
                                for el in els {
                                    session.send(el);
                                }
                            }
                            ElementOutcome::Handled => {}
                            ElementOutcome::Fail(cond) => {
                                stream.close_with(Some(cond)).await;
                                break;
                            }
                        },
                    },
                    Ok(StreamEvent::StreamClose) => {
                        stream.close_with(None).await;
                        break;
                    }
                    Ok(StreamEvent::StreamOpen(_)) => {
                        stream.close_with(Some(StreamCondition::NotWellFormed)).await;
                        break;
                    }
                    Err(e) => {
                        fail_read(&mut stream, e).await;
                        break;
                    }
                }
            }
            // After reading: an answer already received is never taken for silence.
            _ = tokio::time::sleep_until(wake) => {
                if ping.is_some() {
                    debug!("no answer to the server's ping");
                    stream.close_with(Some(StreamCondition::ConnectionTimeout)).await;
                    break;
                }
                let id = format!("ping-{:016x}", rand::random::<u64>());
                let iq = Element::new("iq", ns::CLIENT)
                    .with_attr("type", "get")
                    .with_attr("id", &id)
                    .with_attr("from", owner.domain().as_str())
                    .with_attr("to", session.full.as_str())
                    .child(Element::new("ping", ns::PING));
                let r = tokio::select! {
                    biased;
                    r = stream.send(&iq) => r,
                    _ = kill.cancelled() => Err(std::io::ErrorKind::Interrupted.into()),
                };
                if r.is_err() {
                    stream.close_with(session.close_reason()).await;
                    break;
                }
                ping = Some(PendingPing { id });
                wake = tokio::time::Instant::now() + cx.ping_timeout;
            }
        }
    }
    report_written(cx, &session, &mut written).await;
    cx.router.unbind(&session).await;
    // Nothing can be queued any more: what is left goes back to the router, so that no
    // stanza queued while the session looked online is lost silently. Offline messages
    // not written simply stay stored.
    rx.close();
    let left = unwritten
        .into_iter()
        .chain(backlog)
        .chain(std::iter::from_fn(|| rx.try_recv().ok()));
    let mut rerouted = 0usize;
    for out in left {
        let els = match out {
            Outbound::Stanza(el) => vec![el],
            Outbound::Batch(els) => els,
            // MUC fan-out copies: the room's history keeps them (XEP-0045 §7.2.15).
            Outbound::Shared(_) | Outbound::Receipt { .. } => continue,
        };
        for el in els {
            rerouted += 1;
            cx.router.reroute_unwritten(el).await;
        }
    }
    if rerouted > 0 {
        debug!(count = rerouted, "unwritten stanzas routed again");
    }
}

/// The next thing to write: the backlog first, then the queue, a batch taken apart
/// into the backlog. `None` when the queue is closed. Cancel-safe: nothing is awaited
/// after a dequeue.
async fn next_out(
    backlog: &mut VecDeque<Outbound>,
    rx: &mut mpsc::Receiver<Outbound>,
) -> Option<Outbound> {
    loop {
        if let Some(out) = backlog.pop_front() {
            return Some(out);
        }
        if let Some(out) = unbatch(rx.recv().await?, backlog) {
            return Some(out);
        }
    }
}

/// `out`, or for a batch its first stanza, the rest appended to `backlog`.
fn unbatch(out: Outbound, backlog: &mut VecDeque<Outbound>) -> Option<Outbound> {
    match out {
        Outbound::Batch(els) => {
            backlog.extend(els.into_iter().map(Outbound::Stanza));
            backlog.pop_front()
        }
        out => Some(out),
    }
}

/// Notes the receipt of a written stanza.
fn note_written(out: &Outbound, written: &mut Vec<Receipt>) {
    if let Outbound::Receipt { receipt, .. } = out {
        written.push(*receipt);
    }
}

/// Reports the receipts of written stanzas to the modules ([`Event::Written`]).
async fn report_written(cx: &C2sContext, session: &Arc<SessionEntry>, written: &mut Vec<Receipt>) {
    if written.is_empty() {
        return;
    }
    cx.router.emit(Event::Written(session, written)).await;
    written.clear();
}

/// Writes what the router queued for `session`; `to` is its full JID escaped
/// ([`crate::stream::attr_value`]). URLs of ours in out-of-band data are localized for
/// onion sessions; shared stanzas never carry such data (the MUC fan-out sends those to
/// onion sessions as elements).
async fn write_out<S>(
    cx: &C2sContext,
    stream: &mut XmlStream<S>,
    session: &SessionEntry,
    to: &[u8],
    out: &Outbound,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match out {
        Outbound::Stanza(el) | Outbound::Receipt { el, .. } => {
            write_stanza(cx, stream, session, el).await
        }
        Outbound::Shared(sh) => stream.send_split(sh.head(), to, sh.tail()).await,
        // The session loop takes batches apart ([`unbatch`]); this is the fallback.
        Outbound::Batch(els) => {
            for el in els {
                write_stanza(cx, stream, session, el).await?;
            }
            Ok(())
        }
    }
}

/// Writes one stanza, its out-of-band URLs localized for an onion session.
async fn write_stanza<S>(
    cx: &C2sContext,
    stream: &mut XmlStream<S>,
    session: &SessionEntry,
    el: &Element,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if session.via_onion && el.children().any(|c| c.is("x", crate::http::OOB)) {
        let mut el = el.clone();
        let urls = crate::http::read_base_urls(&cx.base_urls);
        crate::http::localize(&mut el, &urls, Via::Onion);
        return stream.send(&el).await;
    }
    stream.send(el).await
}
