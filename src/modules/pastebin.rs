//! Pastebin for long messages (issue 5; the behaviour of Prosody's `mod_pastebin`).
//!
//! A message whose body has more than `max_chars` characters, or `max_lines` lines or
//! more, is stored as a paste, and its body is replaced by its first non-blank line
//! (cut to `summary_chars` characters) and the paste's URL on a second line; a
//! `<x xmlns='jabber:x:oob'><url/></x>` (XEP-0066 §3) carries the URL too. This applies to
//! groupchat messages of room occupants (`pastebin.rooms`, on by default) and, with
//! `pastebin.private_messages` (off by default), to `chat` and `normal` messages
//! between local accounts. The paste is served as `text/plain; charset=utf-8` at
//! `<base>/pastebin/<id>` by [`PasteEndpoint`], until it expires (`expire_secs`).
//!
//! The decision and the rewrite are pure functions ([`paste_body`], [`summary`],
//! [`replace_body`]); [`Pastebin`] adds storage and the base URL, and [`PastebinModule`]
//! plugs it into the router's filter chains (room messages and private messages).
//!
//! # Security
//! - End-to-end encrypted messages are never touched: a message with any child element
//!   in an OMEMO (`eu.siacs.conversations.axolotl`, `urn:xmpp:omemo:2`), OpenPGP
//!   (`urn:xmpp:openpgp:0`, `jabber:x:encrypted`) or XEP-0380 (`urn:xmpp:eme:0`)
//!   namespace, or whose body starts with `?OTR` or holds an ASCII-armoured PGP message,
//!   passes through byte for byte ([`is_encrypted`]).
//! - A paste is plaintext the server stores (the server sees these bodies anyway). It
//!   is linked to nothing: no account, JID, room or address is stored with it, and the
//!   128-bit random id is the only way to find it. Expired pastes answer 404 at once and
//!   are deleted by a periodic sweep ([`sweeper`]); the database overwrites
//!   deleted rows (`secure_delete`).
//! - Bodies are never logged.
//! - Each account may cause at most `max_pastes_per_day` pastes in any 24 hours; a
//!   long message beyond is refused with `resource-constraint` and a text (it is not
//!   delivered in full either, so the limit cannot be bypassed). The count is kept in
//!   memory only, per bare JID, and never stored with the pastes.
//!
//! # Limitations
//! - Only messages with exactly one `<body/>` are pasted (several `xml:lang` variants
//!   are left alone).
//! - When a message is pasted, the elements that describe its old body (XHTML-IM,
//!   XEP-0428 fallback ranges, XEP-0394 markup ranges) are removed, since they no
//!   longer match the new body.
//! - A pasted message stored for an offline recipient (XEP-0160) may be delivered after
//!   its paste expired.
//! - Without any HTTP base URL (HTTP listener off and no onion service), nothing is
//!   pasted.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use hyper::{Method, Response, StatusCode, header};
use jid::BareJid;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{Chain, FilterSpec, Module, ModuleCtx, Undo, Verdict};
use crate::config::PastebinConfig;
use crate::http::{Endpoint, HttpRequest, OOB, ResponseBody, SharedBaseUrls, Via};
use crate::stanza::{Condition, Kind, Stanza, StanzaError};
use crate::storage::Storage;
use crate::xml::Element;

/// Path prefix of pastes on the HTTP listener.
pub const PREFIX: &str = "/pastebin/";

/// Namespaces whose presence as a child element marks a message as end-to-end
/// encrypted: OMEMO (XEP-0384, legacy and v2), OpenPGP for XMPP (XEP-0373), legacy
/// OpenPGP (XEP-0027) and Explicit Message Encryption (XEP-0380).
pub const E2EE_NAMESPACES: &[&str] = &[
    "eu.siacs.conversations.axolotl",
    "urn:xmpp:omemo:2",
    "urn:xmpp:openpgp:0",
    "jabber:x:encrypted",
    "urn:xmpp:eme:0",
];

/// Namespaces of elements that describe the body's content by position or markup, and
/// are dropped when the body is replaced: XHTML-IM (XEP-0071), fallback indication
/// (XEP-0428), message markup (XEP-0394).
const BODY_DESCRIBING: &[&str] = &[
    "http://jabber.org/protocol/xhtml-im",
    "urn:xmpp:fallback:0",
    "urn:xmpp:markup:0",
];

/// Thresholds of the paste decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A body with more characters (Unicode scalar values) than this is pasted.
    pub max_chars: usize,
    /// A body with this many lines or more is pasted.
    pub max_lines: usize,
    /// The summary line keeps at most this many characters.
    pub summary_chars: usize,
}

impl Limits {
    /// The thresholds of `[pastebin]`.
    pub fn from_config(cfg: &PastebinConfig) -> Limits {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        Limits {
            max_chars: n(cfg.max_chars),
            max_lines: n(cfg.max_lines),
            summary_chars: n(cfg.summary_chars),
        }
    }
}

/// Whether `msg` carries end-to-end encryption (see the module docs): such a message
/// must reach its recipients exactly as sent.
pub fn is_encrypted(msg: &Element) -> bool {
    let ns = msg.ns();
    msg.children().any(|c| {
        E2EE_NAMESPACES.contains(&c.ns())
            || (c.is("body", ns) && {
                let t = c.text();
                t.trim_start().starts_with("?OTR") || t.contains("-----BEGIN PGP MESSAGE-----")
            })
    })
}

/// The body to paste, when `msg` is a message to paste under `limits`: exactly one
/// `<body/>`, no end-to-end encryption, and more than `max_chars` characters or
/// `max_lines` lines or more (a line ends with a line feed; the last line need not).
pub fn paste_body(msg: &Element, limits: &Limits) -> Option<String> {
    let ns = msg.ns();
    let mut bodies = msg.children().filter(|c| c.is("body", ns));
    let body = bodies.next()?;
    if bodies.next().is_some() || is_encrypted(msg) {
        return None;
    }
    let text = body.text();
    // Counting stops early: only "more than the limit" matters.
    let long = text.chars().nth(limits.max_chars).is_some();
    let lines = text
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        .saturating_add(1);
    (long || lines >= limits.max_lines).then_some(text)
}

/// The first non-blank line of `body`, trimmed, cut to at most `max_chars` characters
/// (on a character boundary).
pub fn summary(body: &str, max_chars: usize) -> String {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let cut = line
        .char_indices()
        .nth(max_chars)
        .map_or(line.len(), |(i, _)| i);
    line.get(..cut).unwrap_or(line).trim_end().to_owned()
}

/// Replaces the body of `msg` by `summary` + `"\n"` + `url`, drops the elements that
/// describe the old body and any earlier out-of-band URL, and adds the
/// `jabber:x:oob` URL. Attributes (`xml:lang` of the body included) are kept.
pub fn replace_body(msg: &mut Element, summary: &str, url: &str) {
    let ns = msg.ns().to_owned();
    let mut new_body = Element::new("body", ns.as_str());
    if let Some(old) = msg.get_child("body", &ns) {
        for (ans, name, value) in old.attrs_ns() {
            new_body.set_attr_ns(name, ans, value);
        }
    }
    new_body.push_text(if summary.is_empty() {
        url.to_owned()
    } else {
        format!("{summary}\n{url}")
    });
    let mut placed = false;
    let mut new_body = Some(new_body);
    let old = std::mem::replace(msg, Element::new(msg.name(), ns.as_str()));
    for (ans, name, value) in old.attrs_ns() {
        msg.set_attr_ns(name, ans, value);
    }
    for c in old.children() {
        if c.is("body", &ns) {
            if let Some(b) = new_body.take() {
                msg.push_child(b);
                placed = true;
            }
        } else if !BODY_DESCRIBING.contains(&c.ns()) && !c.is("x", OOB) {
            msg.push_child(c.clone());
        }
    }
    if !placed && let Some(b) = new_body {
        msg.push_child(b);
    }
    msg.push_child(Element::new("x", OOB).child(Element::new("url", OOB).with_text(url)));
}

/// A new paste id: 128 random bits as 32 lowercase hex digits.
pub fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `id` has the form of a paste id (32 lowercase hex digits).
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Which messages a hook sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A groupchat message of a room occupant.
    Room,
    /// A `chat` or `normal` message between local accounts.
    Private,
}

/// The window of `max_pastes_per_day`.
const DAY: Duration = Duration::from_secs(86_400);

/// Accounts tracked before the paste counters drop accounts with no paste in the window.
const COUNTERS_PRUNE_AT: usize = 10_000;

/// Pastes per account in the last 24 hours, in memory only.
#[derive(Debug, Default)]
struct Counters {
    by_account: HashMap<BareJid, VecDeque<Instant>>,
}

impl Counters {
    /// Records a paste by `who` at `now` unless it already made `max` in the window
    /// before `now`; `false` when over the quota.
    fn take(&mut self, who: &BareJid, now: Instant, max: usize) -> bool {
        let fresh = |t: &Instant| now.saturating_duration_since(*t) < DAY;
        if self.by_account.len() >= COUNTERS_PRUNE_AT {
            self.by_account.retain(|_, q| q.back().is_some_and(fresh));
        }
        let q = self.by_account.entry(who.clone()).or_default();
        while q.front().is_some_and(|t| !fresh(t)) {
            q.pop_front();
        }
        if q.len() >= max {
            return false;
        }
        q.push_back(now);
        true
    }
}

/// The pastebin: settings, storage and the base URLs handed out.
pub struct Pastebin {
    limits: Limits,
    rooms: bool,
    private_messages: bool,
    expire_secs: u64,
    max_per_day: usize,
    counters: Mutex<Counters>,
    urls: SharedBaseUrls,
    storage: Storage,
}

/// What [`Pastebin::paste`] did with a message.
#[derive(Debug)]
pub enum PasteOutcome {
    /// Not pasted: short, encrypted, scope off, no base URL, or storing failed.
    Unchanged,
    /// Pasted: send the rewritten message instead.
    Pasted(Pasted),
    /// Long, but its author reached `max_pastes_per_day`: refuse it.
    OverQuota,
}

/// The refusal of a long message beyond `pastebin.max_pastes_per_day`.
pub fn over_quota_error() -> StanzaError {
    StanzaError::from_condition(Condition::ResourceConstraint).with_text(
        "daily limit of long messages reached: send a shorter message or try again later",
    )
}

/// A message that was pasted: the rewritten element, and the paste id (to
/// [`Pastebin::discard`] it when the message is refused after all).
#[derive(Debug)]
pub struct Pasted {
    /// The rewritten message.
    pub el: Element,
    /// The paste id.
    pub id: String,
}

impl Pastebin {
    /// The pastebin of `[pastebin]`, handing out URLs under `urls`.
    pub fn new(cfg: &PastebinConfig, urls: SharedBaseUrls, storage: Storage) -> Arc<Pastebin> {
        Arc::new(Pastebin {
            limits: Limits::from_config(cfg),
            rooms: cfg.rooms,
            private_messages: cfg.private_messages,
            expire_secs: cfg.expire_secs,
            max_per_day: usize::try_from(cfg.max_pastes_per_day).unwrap_or(usize::MAX),
            counters: Mutex::new(Counters::default()),
            urls,
            storage,
        })
    }

    /// Pastes `msg` (sent by `author`) if it is long and `scope` is enabled: stores
    /// the body and returns the rewritten message, or [`PasteOutcome::OverQuota`] when
    /// `author` reached `max_pastes_per_day`. The URL is the clearnet one when there is
    /// one (sessions via the onion service get it rewritten by
    /// [`crate::http::localize`]), else the onion one.
    pub async fn paste(&self, msg: &Element, scope: Scope, author: &BareJid) -> PasteOutcome {
        let enabled = match scope {
            Scope::Room => self.rooms,
            Scope::Private => self.private_messages,
        };
        if !enabled {
            return PasteOutcome::Unchanged;
        }
        let Some(body) = paste_body(msg, &self.limits) else {
            return PasteOutcome::Unchanged;
        };
        let Some(base) = crate::http::read_base_urls(&self.urls)
            .for_via(Via::Clearnet)
            .map(str::to_owned)
        else {
            return PasteOutcome::Unchanged;
        };
        let admitted = match self.counters.lock() {
            Ok(mut c) => c.take(author, Instant::now(), self.max_per_day),
            Err(_) => false,
        };
        if !admitted {
            debug!("paste refused: daily quota reached");
            return PasteOutcome::OverQuota;
        }
        let id = new_id();
        let expires = expiry(self.expire_secs);
        if let Err(e) = self.storage.put_paste(&id, &body, expires).await {
            debug!(error = %e, "paste not stored; message left as is");
            return PasteOutcome::Unchanged;
        }
        let mut el = msg.clone();
        replace_body(
            &mut el,
            &summary(&body, self.limits.summary_chars),
            &format!("{base}{PREFIX}{id}"),
        );
        PasteOutcome::Pasted(Pasted { el, id })
    }

    /// Deletes a paste made for a message that was then refused.
    pub async fn discard(&self, pasted: &Pasted) {
        self.discard_id(&pasted.id).await;
    }

    /// Deletes paste `id`.
    async fn discard_id(&self, id: &str) {
        if let Err(e) = self.storage.delete_paste(id).await {
            debug!(error = %e, "paste not deleted");
        }
    }

    /// Deletes expired pastes.
    pub async fn sweep(&self) {
        match self.storage.delete_expired_pastes(now_unix()).await {
            Ok(n) if n > 0 => debug!(count = n, "expired pastes deleted"),
            Ok(_) => {}
            Err(e) => debug!(error = %e, "paste sweep failed"),
        }
    }
}

/// The pastebin's filter steps: [`Chain::Groupchat`] for room messages
/// (`pastebin.rooms`), [`Chain::Outbound`] for `chat` and `normal` messages a local
/// session sends to a local account (`pastebin.private_messages`). A long message beyond
/// `max_pastes_per_day` is rejected with [`over_quota_error`]; a pasted room message
/// the room then refuses leaves no paste behind (the step's undo deletes it).
pub struct PastebinModule {
    pastebin: Arc<Pastebin>,
}

impl PastebinModule {
    /// The module around `pastebin`.
    pub fn new(pastebin: Arc<Pastebin>) -> PastebinModule {
        PastebinModule { pastebin }
    }
}

static BOTH: [FilterSpec; 2] = [
    FilterSpec {
        chain: Chain::Outbound,
        priority: 0,
    },
    FilterSpec {
        chain: Chain::Groupchat,
        priority: 0,
    },
];
static ROOMS: [FilterSpec; 1] = [FilterSpec {
    chain: Chain::Groupchat,
    priority: 0,
}];

impl Module for PastebinModule {
    fn name(&self) -> &'static str {
        "pastebin"
    }
    /// Only the chains of the enabled scopes: without `private_messages`, stanzas
    /// from clients do not pass the pastebin at all.
    fn filters(&self) -> &'static [FilterSpec] {
        match (self.pastebin.private_messages, self.pastebin.rooms) {
            (true, _) => &BOTH,
            (false, true) => &ROOMS,
            (false, false) => &[],
        }
    }
    fn filter<'a>(
        &'a self,
        cx: &'a ModuleCtx<'a>,
        chain: Chain,
        st: &'a mut Stanza,
    ) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            let scope = match chain {
                Chain::Groupchat => Scope::Room,
                Chain::Outbound if private_message(cx, st) => Scope::Private,
                _ => return Verdict::Pass,
            };
            match self.pastebin.paste(st.el(), scope, cx.account).await {
                PasteOutcome::Unchanged => Verdict::Pass,
                PasteOutcome::OverQuota => Verdict::Reject(over_quota_error()),
                PasteOutcome::Pasted(p) => {
                    *st = Stanza::new_from(p.el);
                    let undo: Option<Undo> = (scope == Scope::Room).then(|| {
                        let pastebin = self.pastebin.clone();
                        let id = p.id;
                        Box::new(move || {
                            Box::pin(async move { pastebin.discard_id(&id).await })
                                as BoxFuture<'static, ()>
                        }) as Undo
                    });
                    Verdict::Rewritten(undo)
                }
            }
        })
    }
}

/// Whether `st` (sent by a local session) is a `chat` or `normal` message to a local
/// account (no `to`: the sender's own).
fn private_message(cx: &ModuleCtx<'_>, st: &Stanza) -> bool {
    if st.kind() != Kind::Message || !matches!(st.type_attr(), "" | "normal" | "chat") {
        return false;
    }
    match cx.to {
        None => true,
        Some(to) => to.node().is_some() && cx.router.is_local_domain(to.domain().as_str()),
    }
}

/// Runs [`Pastebin::sweep`] every `min(expire_secs, 300)` seconds until `shutdown`.
pub async fn sweeper(pastebin: Arc<Pastebin>, shutdown: CancellationToken) {
    let every = Duration::from_secs(pastebin.expire_secs.clamp(1, 300));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => pastebin.sweep().await,
        }
    }
}

/// The feature: `[pastebin]` with `enabled`: the filter steps, the `/pastebin/`
/// endpoint and the sweeper of expired pastes.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async move {
        if !cx.config.pastebin.enabled {
            return Ok(super::Built::default());
        }
        let pastebin = Pastebin::new(
            &cx.config.pastebin,
            cx.base_urls.clone(),
            cx.storage.clone(),
        );
        Ok(super::Built {
            modules: vec![Arc::new(PastebinModule::new(pastebin.clone()))],
            endpoints: vec![PasteEndpoint::new(cx.storage.clone())],
            workers: vec![Box::pin(sweeper(pastebin, cx.shutdown.clone()))],
            ..super::Built::default()
        })
    })
}

/// The `/pastebin/<id>` endpoint: `GET` (and `HEAD`) answer the paste as
/// `text/plain; charset=utf-8`; unknown, malformed or expired ids are `404`.
pub struct PasteEndpoint {
    storage: Storage,
}

impl PasteEndpoint {
    /// The endpoint over `storage`.
    pub fn new(storage: Storage) -> Arc<PasteEndpoint> {
        Arc::new(PasteEndpoint { storage })
    }

    async fn answer(&self, req: HttpRequest) -> Response<ResponseBody> {
        let head = req.method == Method::HEAD;
        if req.method != Method::GET && !head {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let id = req.path.strip_prefix(PREFIX).unwrap_or("");
        if !valid_id(id) {
            return not_found();
        }
        match self.storage.paste(id, now_unix()).await {
            Ok(Some(body)) => {
                let len = body.len();
                let body = if head { String::new() } else { body };
                Response::builder()
                    .status(StatusCode::OK)
                    .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header(header::CONTENT_LENGTH, len)
                    // Pastes are unguessable links: keep them out of shared caches.
                    .header(header::CACHE_CONTROL, "private, max-age=300")
                    .body(ResponseBody::new(bytes::Bytes::from(body)))
                    .unwrap_or_else(|_| plain_500())
            }
            Ok(None) => not_found(),
            Err(e) => {
                debug!(error = %e, "paste lookup failed");
                plain_500()
            }
        }
    }
}

impl Endpoint for PasteEndpoint {
    fn prefix(&self) -> &'static str {
        PREFIX
    }

    fn handle<'a>(&'a self, req: HttpRequest) -> BoxFuture<'a, Response<ResponseBody>> {
        Box::pin(self.answer(req))
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<ResponseBody> {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(ResponseBody::new(bytes::Bytes::from_static(
            text.as_bytes(),
        )))
        .unwrap_or_else(|_| plain_500())
}

fn not_found() -> Response<ResponseBody> {
    status(StatusCode::NOT_FOUND, "not found\n")
}

fn plain_500() -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::default());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// The expiry of a paste made now: at least `expire_secs` from now, in whole unix
/// seconds (rounded up, since a paste is gone once the current second reaches it).
fn expiry(expire_secs: u64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now
        .as_secs()
        .saturating_add(expire_secs)
        .saturating_add(u64::from(now.subsec_nanos() > 0));
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_counter_is_per_account_and_slides() {
        let mut c = Counters::default();
        let a = BareJid::new("a@example.org").unwrap();
        let b = BareJid::new("b@example.org").unwrap();
        let t0 = Instant::now();
        assert!(c.take(&a, t0, 2));
        assert!(c.take(&a, t0, 2));
        assert!(
            !c.take(&a, t0 + Duration::from_secs(60), 2),
            "third in a day"
        );
        assert!(c.take(&b, t0, 2), "another account has its own count");
        assert!(c.take(&a, t0 + DAY, 2), "a day later the oldest expired");
    }

    const NS: &str = "jabber:client";

    fn limits() -> Limits {
        Limits {
            max_chars: 500,
            max_lines: 5,
            summary_chars: 150,
        }
    }

    fn msg(body: &str) -> Element {
        Element::new("message", NS)
            .with_attr("type", "groupchat")
            .with_attr("id", "m1")
            .child(Element::new("body", NS).with_text(body))
    }

    #[test]
    fn character_threshold_counts_characters_not_bytes() {
        // "é" is two bytes: 500 of them are 1000 bytes but 500 characters.
        assert_eq!(paste_body(&msg(&"é".repeat(500)), &limits()), None);
        let long = "é".repeat(501);
        assert_eq!(paste_body(&msg(&long), &limits()), Some(long));
        assert_eq!(paste_body(&msg(&"a".repeat(500)), &limits()), None);
        assert!(paste_body(&msg(&"a".repeat(501)), &limits()).is_some());
    }

    #[test]
    fn line_threshold() {
        assert_eq!(paste_body(&msg("1\n2\n3\n4"), &limits()), None);
        assert_eq!(
            paste_body(&msg("1\n2\n3\n4\n5"), &limits()).as_deref(),
            Some("1\n2\n3\n4\n5")
        );
        // Four line feeds: the fifth line is empty but counts (as in mod_pastebin).
        assert!(paste_body(&msg("1\n2\n3\n4\n"), &limits()).is_some());
    }

    #[test]
    fn no_body_or_several_bodies_are_left_alone() {
        let none = Element::new("message", NS).with_attr("type", "groupchat");
        assert_eq!(paste_body(&none, &limits()), None);
        let two = msg(&"a".repeat(600)).child(
            Element::new("body", NS)
                .with_attr("xml:lang", "de")
                .with_text("x"),
        );
        assert_eq!(paste_body(&two, &limits()), None);
    }

    #[test]
    fn every_encryption_marker_is_skipped() {
        let long = "x\n".repeat(10);
        for ns in E2EE_NAMESPACES {
            let m = msg(&long).child(Element::new("encrypted", *ns));
            assert!(is_encrypted(&m), "{ns}");
            assert_eq!(paste_body(&m, &limits()), None, "{ns}");
        }
        let eme = msg(&long).child(
            Element::new("encryption", "urn:xmpp:eme:0").with_attr("namespace", "urn:xmpp:otr:0"),
        );
        assert_eq!(paste_body(&eme, &limits()), None);
        let otr = format!("?OTR:AAMG{}", "A".repeat(800));
        assert_eq!(paste_body(&msg(&otr), &limits()), None);
        let armour = "-----BEGIN PGP MESSAGE-----\n\nhQEMA\nabc\ndef\n-----END PGP MESSAGE-----";
        assert_eq!(paste_body(&msg(armour), &limits()), None);
        // Plain long text is pasted.
        assert!(paste_body(&msg(&long), &limits()).is_some());
    }

    #[test]
    fn summary_is_first_line_cut_on_a_char_boundary() {
        assert_eq!(summary("first line\nsecond", 150), "first line");
        assert_eq!(summary("\n  \n  hello  \nx", 150), "hello");
        assert_eq!(summary("ééééé", 3), "ééé");
        assert_eq!(summary("日本語のテキスト", 4), "日本語の");
        assert_eq!(summary("🦀🦀🦀", 2), "🦀🦀");
        assert_eq!(summary("short", 150), "short");
        assert_eq!(summary("", 150), "");
    }

    #[test]
    fn replace_body_keeps_other_children_and_adds_oob() {
        let mut m = msg("one\ntwo")
            .child(Element::new(
                "active",
                "http://jabber.org/protocol/chatstates",
            ))
            .child(Element::new("html", "http://jabber.org/protocol/xhtml-im"))
            .child(Element::new("fallback", "urn:xmpp:fallback:0"));
        replace_body(&mut m, "one", "https://h/pastebin/abc");
        assert_eq!(m.attr("id"), Some("m1"));
        assert_eq!(m.attr("type"), Some("groupchat"));
        let body = m.get_child("body", NS).unwrap();
        assert_eq!(body.text(), "one\nhttps://h/pastebin/abc");
        assert!(m.has_child("active", "http://jabber.org/protocol/chatstates"));
        assert!(!m.has_child("html", "http://jabber.org/protocol/xhtml-im"));
        assert!(!m.has_child("fallback", "urn:xmpp:fallback:0"));
        let url = m
            .get_child("x", OOB)
            .unwrap()
            .get_child("url", OOB)
            .unwrap();
        assert_eq!(url.text(), "https://h/pastebin/abc");
        assert_eq!(m.children().filter(|c| c.is("body", NS)).count(), 1);
    }

    #[test]
    fn ids_are_128_bit_hex() {
        let a = new_id();
        assert!(valid_id(&a), "{a}");
        assert_ne!(a, new_id());
        assert!(!valid_id("../../etc/passwd"));
        assert!(!valid_id(&"A".repeat(32)));
        assert!(!valid_id(&"a".repeat(31)));
    }
}
