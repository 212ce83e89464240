//! A bound client session as the router sees it: its full JID, mailbox and presence.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jid::{BareJid, FullJid, Jid};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::ns;
use crate::stanza::StreamCondition;
use crate::xml::Element;

/// What the router hands a session's task to write.
#[derive(Debug)]
pub enum Outbound {
    /// A stanza to write as-is.
    Stanza(Element),
    /// A stanza serialized once for many sessions (MUC fan-out), addressed to the
    /// receiving session's own full JID.
    Shared(SharedStanza),
    /// Stanzas produced together for this session, in order, taking one queue slot: what a
    /// room sends a joiner (occupants' presence, self-presence, history, subject;
    /// XEP-0045 §7.2.3–§7.2.15), so a room larger than the queue can still be joined. At
    /// most what the room holds; the session writes them one by one.
    Batch(Vec<Element>),
    /// A stanza whose writing a module wants to hear of (e.g. a stored offline message,
    /// XEP-0160, deleted once written and left stored otherwise): once it is written to
    /// the stream, the session reports its receipt in
    /// [`crate::router::hooks::Event::Written`]. Not written, it is not routed again.
    Receipt {
        /// The stanza.
        el: Element,
        /// What the module gets back.
        receipt: Receipt,
    },
}

/// What a session reports back for a written [`Outbound::Receipt`] stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The module that asked ([`crate::router::hooks::Module::name`]).
    pub module: &'static str,
    /// The module's own id for the stanza (e.g. an offline row id).
    pub id: i64,
}

/// One serialization of a stanza shared by every session it goes to, split where the
/// value of its `to` attribute goes: a session writes [`head`](Self::head), its own full
/// JID escaped as an attribute value, then [`tail`](Self::tail), which gives the same
/// bytes as serializing the element with that `to`. Cloning is one reference count.
#[derive(Debug, Clone)]
pub struct SharedStanza {
    bytes: Arc<[u8]>,
    split: usize,
}

impl SharedStanza {
    /// Serializes `el` (a `jabber:client` stanza) once; its `to` attribute, if any, is
    /// replaced per session, keeping its place among the attributes (else it comes last,
    /// as [`Element::set_attr`] would put it). `None` for elements in the stream namespace
    /// or that do not serialize (callers then send the element itself).
    pub fn new(el: &Element) -> Option<Self> {
        if el.ns() == ns::STREAM {
            return None;
        }
        let mut bytes = Vec::new();
        if el.attr("to") == Some("") {
            el.write_to(&mut bytes, ns::CLIENT);
        } else {
            let mut c = el.clone();
            c.set_attr("to", "");
            c.write_to(&mut bytes, ns::CLIENT);
        }
        // The start tag comes first and holds the one ` to=''`: attribute values escape
        // `'`, so no other attribute can produce `''`, and a namespaced `to` is written
        // with a prefix (`:to=`). Text and children only come after the start tag.
        const MARK: &[u8] = b" to=''";
        let at = bytes.windows(MARK.len()).position(|w| w == MARK)?;
        Some(Self {
            bytes: bytes.into(),
            split: at + MARK.len() - 1,
        })
    }

    /// Everything up to the `to` attribute's value (ending with `to='`).
    pub fn head(&self) -> &[u8] {
        self.bytes.get(..self.split).unwrap_or_default()
    }

    /// Everything after the `to` attribute's value (starting with its closing `'`).
    pub fn tail(&self) -> &[u8] {
        self.bytes.get(self.split..).unwrap_or_default()
    }
}

/// Presence state of one session (RFC 6121 §4).
#[derive(Debug, Default)]
pub struct PresenceState {
    /// Initial presence sent and no unavailable since (RFC 6121 §4.2).
    pub available: bool,
    /// Priority of the last broadcast presence, -128..=127 (§4.7.2.3).
    pub priority: i8,
    /// The last broadcast presence, with `from` stamped.
    pub last: Option<Element>,
    /// The session asked for the roster, so it gets roster pushes (§2.1.6).
    pub interested: bool,
    /// Offline messages and pending subscriptions were delivered (once per session).
    pub initial_done: bool,
}

/// What modules keep per session, one value per type ([`SessionEntry::with_state`]).
#[derive(Default)]
struct ModuleState(HashMap<TypeId, Box<dyn Any + Send>>);

impl std::fmt::Debug for ModuleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ModuleState({} values)", self.0.len())
    }
}

/// One bound session.
#[derive(Debug)]
pub struct SessionEntry {
    /// The bound full JID.
    pub full: FullJid,
    /// The same, as a [`Jid`] (the `from` of what the session sends).
    pub jid: Jid,
    /// The account: the full JID's bare part.
    pub account: BareJid,
    /// Random session id (the log span field).
    pub sid: String,
    tx: mpsc::Sender<Outbound>,
    kill: CancellationToken,
    kill_reason: Mutex<Option<StreamCondition>>,
    /// Presence state.
    pub presence: Mutex<PresenceState>,
    /// The session's stream came through the onion service: URLs of ours sent to it
    /// use the onion base URL ([`crate::http::BaseUrls::for_via`]).
    pub via_onion: bool,
    /// Modules' per-session values.
    state: Mutex<ModuleState>,
    /// Someone asked to hear when the queue is written ([`SessionEntry::notify_when_written`]).
    written_notice: AtomicBool,
    /// The close lets a pending write finish ([`SessionEntry::close_after_writes`]).
    close_after_writes: AtomicBool,
    /// IQ requests the server sent to the client and waits on, by id
    /// ([`SessionEntry::request`]).
    requests: Mutex<HashMap<String, oneshot::Sender<Element>>>,
}

/// Most IQ requests the server has outstanding on one session
/// ([`SessionEntry::request`]); a client that never answers holds at most this many.
pub const MAX_REQUESTS: usize = 8;

impl SessionEntry {
    /// A new entry for a session whose task reads `tx`'s receiver and watches `kill`;
    /// `via_onion` when its stream came through the onion service.
    pub fn new(
        full: FullJid,
        sid: String,
        tx: mpsc::Sender<Outbound>,
        kill: CancellationToken,
        via_onion: bool,
    ) -> Self {
        Self {
            jid: Jid::from(full.clone()),
            account: full.to_bare(),
            full,
            sid,
            tx,
            kill,
            kill_reason: Mutex::new(None),
            presence: Mutex::new(PresenceState::default()),
            via_onion,
            state: Mutex::new(ModuleState::default()),
            written_notice: AtomicBool::new(false),
            close_after_writes: AtomicBool::new(false),
            requests: Mutex::new(HashMap::new()),
        }
    }

    /// Sends the IQ request `iq` (type `get` or `set`, `from` set by the caller) to the
    /// client under a fresh random id, and returns the receiver of its answer: the
    /// client's `result` or `error` from this session with that id (RFC 6120 §8.2.3),
    /// handed over by the router. `None` when [`MAX_REQUESTS`] are outstanding or the
    /// stanza could not be queued. The caller bounds its wait; on time-out it calls
    /// [`SessionEntry::forget_request`]. Requests end with the session.
    pub fn request(&self, mut iq: Element) -> Option<(String, oneshot::Receiver<Element>)> {
        let id = format!("allium-{:016x}", rand::random::<u64>());
        iq.set_attr("id", id.clone());
        iq.set_attr("to", self.full.as_str());
        let (tx, rx) = oneshot::channel();
        {
            let mut g = match self.requests.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if g.len() >= MAX_REQUESTS {
                return None;
            }
            g.insert(id.clone(), tx);
        }
        if !self.send(iq) {
            self.forget_request(&id);
            return None;
        }
        Some((id, rx))
    }

    /// Drops the outstanding request `id` (its answer, if it comes, is ignored).
    pub fn forget_request(&self, id: &str) {
        let mut g = match self.requests.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.remove(id);
    }

    /// Hands an IQ `result`/`error` the client sent to the request waiting on its id;
    /// gives it back when no request of this session has that id.
    ///
    /// # Errors
    /// The element, when nobody waits for it.
    pub fn answer(&self, el: Element) -> Result<(), Element> {
        let Some(id) = el.attr("id") else {
            return Err(el);
        };
        let tx = {
            let mut g = match self.requests.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if g.is_empty() {
                return Err(el);
            }
            g.remove(id)
        };
        match tx {
            // The waiter may have given up: then the answer is dropped.
            Some(tx) => {
                let _ = tx.send(el);
                Ok(())
            }
            None => Err(el),
        }
    }

    /// Queues a stanza for the session; returns whether it was queued. It is not when
    /// the queue (`limits.session_queue`) is full or the session has ended: the caller
    /// decides what the sender learns (see [`SessionEntry::try_send`]). A session that
    /// stops reading is closed by its own task after the write timeout.
    pub fn send(&self, el: Element) -> bool {
        self.try_send(el).is_ok()
    }

    /// Queues a stanza, or gives it back when the queue is full or the session ended,
    /// so the router can bounce it or store it offline ([`crate::router::Router::not_queued`]).
    ///
    /// # Errors
    /// The element, unqueued.
    pub fn try_send(&self, el: Element) -> Result<(), Element> {
        self.tx.try_send(Outbound::Stanza(el)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(Outbound::Stanza(el))
            | mpsc::error::TrySendError::Closed(Outbound::Stanza(el)) => el,
            // Only a Stanza was sent.
            _ => Element::new("message", ns::CLIENT),
        })
    }

    /// Queues `els` in one slot: several as an [`Outbound::Batch`], one as a plain
    /// stanza; returns whether they were queued (see [`SessionEntry::send`]). An empty
    /// batch queues nothing.
    pub fn send_batch(&self, mut els: Vec<Element>) -> bool {
        match els.len() {
            0 => true,
            1 => els.pop().is_some_and(|el| self.send(el)),
            _ => self.tx.try_send(Outbound::Batch(els)).is_ok(),
        }
    }

    /// Queues a shared serialization of a stanza addressed to this session's full JID
    /// ([`SharedStanza`]); returns whether it was queued (see [`SessionEntry::send`]).
    pub fn send_shared(&self, st: SharedStanza) -> bool {
        self.tx.try_send(Outbound::Shared(st)).is_ok()
    }

    /// Runs `f` on this session's value of type `T`, created with `T::default()` on
    /// first use: the typed per-session state of a module (e.g. its directed-presence
    /// recipients). Poisoning is recovered (the values are plain data); `f` must not
    /// call `with_state` again on the same session.
    pub fn with_state<T: Default + Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut g = match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let slot =
            g.0.entry(TypeId::of::<T>())
                .or_insert_with(|| Box::new(T::default()));
        match slot.downcast_mut::<T>() {
            Some(v) => f(v),
            // Unreachable: the slot of `T` holds a `T`. Fall back on a fresh value.
            None => f(&mut T::default()),
        }
    }

    /// Asks the session's task to emit [`crate::router::hooks::Event::QueueWritten`]
    /// once it has written everything queued (e.g. offline delivery stopped at a full
    /// queue and resumes then).
    pub fn notify_when_written(&self) {
        self.written_notice.store(true, Ordering::Release);
    }

    /// Whether [`SessionEntry::notify_when_written`] was asked (and clears it).
    pub fn take_written_notice(&self) -> bool {
        self.written_notice.swap(false, Ordering::AcqRel)
    }

    /// Queues a stanza with a receipt ([`Outbound::Receipt`]); returns whether it was
    /// queued.
    pub fn send_with_receipt(&self, el: Element, receipt: Receipt) -> bool {
        self.tx.try_send(Outbound::Receipt { el, receipt }).is_ok()
    }

    /// Asks the session task to end the stream with `cond`.
    pub fn close(&self, cond: StreamCondition) {
        if let Ok(mut r) = self.kill_reason.lock() {
            r.get_or_insert(cond);
        }
        self.kill.cancel();
    }

    /// Like [`SessionEntry::close`], but a write under way is not abandoned: it and what
    /// is queued are written, each within the write timeout, before the stream error, so
    /// a client that reads again sees why its stream ended. Used when the session fell
    /// too far behind to stay consistent (a room dropped it, XEP-0045 §7.2).
    pub fn close_after_writes(&self, cond: StreamCondition) {
        self.close_after_writes.store(true, Ordering::Release);
        self.close(cond);
    }

    /// Whether the close was asked by [`SessionEntry::close_after_writes`].
    pub fn closes_after_writes(&self) -> bool {
        self.close_after_writes.load(Ordering::Acquire)
    }

    /// Why [`SessionEntry::close`] was called, if it was.
    pub fn close_reason(&self) -> Option<StreamCondition> {
        self.kill_reason.lock().ok().and_then(|r| *r)
    }

    /// Runs `f` on the presence state (poisoning is recovered: the state is plain data).
    pub fn with_presence<R>(&self, f: impl FnOnce(&mut PresenceState) -> R) -> R {
        let mut g = match self.presence.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{attr_value, write_top_level};

    /// What the Element path writes for `el` sent to `to`.
    fn element_path(el: &Element, to: &str) -> Vec<u8> {
        let mut c = el.clone();
        c.set_attr("to", to);
        let mut out = Vec::new();
        write_top_level(&c, &mut out);
        out
    }

    /// What a session writes for the shared serialization of `el` sent to `to`.
    fn shared_path(el: &Element, to: &str) -> Vec<u8> {
        let sh = SharedStanza::new(el).expect("serializable stanza");
        [sh.head(), &attr_value(to), sh.tail()].concat()
    }

    fn message() -> Element {
        let mut body = Element::new("body", ns::CLIENT);
        body.push_text("a <b> & 'c' \"d\"\r\n\tto=''");
        Element::new("message", ns::CLIENT)
            .with_attr("from", "room@conference.example/n'ck&<>\"")
            .with_attr("type", "groupchat")
            .with_attr("id", "x' to='' \t\n")
            .with_attr("xml:lang", "en")
            .child(body)
            .child(
                Element::new("x", "jabber:x:oob")
                    .child(Element::new("url", "jabber:x:oob").with_text("https://h/?a=1&b=2")),
            )
            .child(Element::new("occupant-id", "urn:xmpp:occupant-id:0").with_attr("id", "AbC"))
    }

    #[test]
    fn shared_bytes_equal_element_bytes() {
        let mut el = message();
        let mut nsd = Element::new("data", "urn:example");
        nsd.set_attr_ns("to", "urn:example:attr", "elsewhere");
        el.push_child(nsd);
        el.set_attr_ns("to", "urn:example:attr", "");
        for to in [
            "user@example/res",
            "user@example/r'e&s<\"x>",
            "ünïcode@example/ресурс",
        ] {
            assert_eq!(shared_path(&el, to), element_path(&el, to), "to = {to}");
        }
    }

    #[test]
    fn to_keeps_its_place() {
        // A `to` already present (here before `type`) is replaced in place, as by set_attr.
        let el = Element::new("presence", ns::CLIENT)
            .with_attr("from", "room@conference.example/nick")
            .with_attr("to", "someone@example/old")
            .with_attr("type", "unavailable")
            .child(Element::new("x", "http://jabber.org/protocol/muc#user"));
        let to = "user@example/a'b";
        let bytes = shared_path(&el, to);
        assert_eq!(bytes, element_path(&el, to));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("<presence from='room@conference.example/nick' to='user@example/a&apos;b' type='unavailable'>"), "{text}");
    }

    #[test]
    fn stream_namespace_is_not_shared() {
        assert!(SharedStanza::new(&Element::new("error", ns::STREAM)).is_none());
    }
}
