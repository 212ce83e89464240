//! Stanzas (RFC 6120 §8): a thin typed view over an [`Element`] plus stream and stanza errors.
//!
//! A [`Stanza`] is a top-level `<message/>`, `<presence/>` or `<iq/>` in the stream's content
//! namespace. Its addresses are parsed on demand with the `jid` crate (stringprep, RFC 6122
//! rules as XEP-0479 recommends); a bad address is a `jid-malformed` stanza error (§8.3.3.8).
//!
//! # Security
//! This module is pure: no I/O and no logging. [`Stanza::summary`] gives the only form of a
//! stanza that may be logged: its kind, type and first child's namespace, only when they
//! are values the server knows (never client-chosen text), never addresses or content.

mod error;

pub use error::{Condition, ErrorType, StanzaError, StreamCondition};

use crate::ns;
use crate::xml::Element;
use jid::Jid;

/// The three stanza kinds (RFC 6120 §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `<message/>` (§8.2.1).
    Message,
    /// `<presence/>` (§8.2.2).
    Presence,
    /// `<iq/>` (§8.2.3).
    Iq,
}

impl Kind {
    /// Element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Presence => "presence",
            Kind::Iq => "iq",
        }
    }
}

/// A stanza in the `jabber:client` namespace, ready to be routed.
#[derive(Debug, Clone)]
pub struct Stanza {
    kind: Kind,
    el: Element,
}

/// What is wrong with an IQ (RFC 6120 §8.2.3): answered with `bad-request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IqType {
    /// `get`: asks for information; exactly one payload child.
    Get,
    /// `set`: provides data or a request; exactly one payload child.
    Set,
    /// `result`: successful answer; zero or one child.
    Result,
    /// `error`: failed answer.
    Error,
}

impl Stanza {
    /// Wraps a top-level element if it is a stanza in `content_ns`; otherwise gives it back.
    pub fn from_element(el: Element, content_ns: &str) -> Result<Stanza, Element> {
        if el.ns() != content_ns {
            return Err(el);
        }
        let kind = match el.name() {
            "message" => Kind::Message,
            "presence" => Kind::Presence,
            "iq" => Kind::Iq,
            _ => return Err(el),
        };
        Ok(Stanza { kind, el })
    }

    /// Builds a stanza from a freshly created element of a known kind.
    pub fn new(kind: Kind) -> Stanza {
        Stanza {
            kind,
            el: Element::new(kind.as_str(), ns::CLIENT),
        }
    }

    /// Wraps an element the server built itself as a stanza; the kind follows the element
    /// name (anything else is treated as a message).
    pub fn new_from(el: Element) -> Stanza {
        let kind = match el.name() {
            "presence" => Kind::Presence,
            "iq" => Kind::Iq,
            _ => Kind::Message,
        };
        Stanza { kind, el }
    }

    /// Stanza kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The element.
    pub fn el(&self) -> &Element {
        &self.el
    }

    /// The element, mutable.
    pub fn el_mut(&mut self) -> &mut Element {
        &mut self.el
    }

    /// Unwraps the element.
    pub fn into_element(self) -> Element {
        self.el
    }

    /// `to` address: `Ok(None)` when absent, `Err` when present but not a valid JID.
    pub fn to(&self) -> Result<Option<Jid>, StanzaError> {
        parse_addr(self.el.attr("to"))
    }

    /// `from` address, parsed like [`Stanza::to`].
    pub fn from(&self) -> Result<Option<Jid>, StanzaError> {
        parse_addr(self.el.attr("from"))
    }

    /// Sets `to`.
    pub fn set_to(&mut self, to: &Jid) {
        self.el.set_attr("to", to.as_str());
    }

    /// Sets `from`.
    pub fn set_from(&mut self, from: &Jid) {
        self.el.set_attr("from", from.as_str());
    }

    /// `type` attribute, with the RFC defaults: `"normal"` for messages (RFC 6121 §5.2.2),
    /// `""` (available) for presence.
    pub fn type_attr(&self) -> &str {
        match (self.el.attr("type"), self.kind) {
            (Some(t), _) => t,
            (None, Kind::Message) => "normal",
            (None, _) => "",
        }
    }

    /// `id` attribute.
    pub fn id(&self) -> Option<&str> {
        self.el.attr("id")
    }

    /// The IQ type, or `None` when this is not a well-formed IQ (§8.2.3: `id` required,
    /// get/set carry exactly one child element).
    pub fn iq_type(&self) -> Option<IqType> {
        if self.kind != Kind::Iq || self.id().is_none() {
            return None;
        }
        let children = self.el.children().count();
        match self.el.attr("type")? {
            "get" if children == 1 => Some(IqType::Get),
            "set" if children == 1 => Some(IqType::Set),
            "result" if children <= 1 => Some(IqType::Result),
            "error" => Some(IqType::Error),
            _ => None,
        }
    }

    /// The payload of an IQ get/set: its one child element.
    pub fn payload(&self) -> Option<&Element> {
        self.el.first_child()
    }

    /// `true` for `type='error'`, which must never be answered with another error (§8.3.1).
    pub fn is_error(&self) -> bool {
        self.el.attr("type") == Some("error")
    }

    /// The error reply to this stanza (§8.3.1): `to`/`from` swapped, same `id`,
    /// `type='error'`, the original child elements kept for messages and presence.
    /// `None` for an error stanza, which is never answered.
    pub fn error_reply(&self, err: &StanzaError) -> Option<Element> {
        if self.is_error() {
            return None;
        }
        let mut reply = self.reply_shell(self.kind, "error");
        if self.kind != Kind::Iq {
            for c in self.el.children() {
                reply.push_child(c.clone());
            }
        }
        reply.push_child(err.to_element(ns::CLIENT));
        Some(reply)
    }

    /// An IQ result (§8.2.3) answering this IQ, with an optional payload.
    pub fn iq_result(&self, payload: Option<Element>) -> Element {
        let mut reply = self.reply_shell(Kind::Iq, "result");
        if let Some(p) = payload {
            reply.push_child(p);
        }
        reply
    }

    /// An empty reply of `kind` and `type`: same `id`, `to`/`from` swapped (§8.1.2.1).
    fn reply_shell(&self, kind: Kind, typ: &str) -> Element {
        let mut reply = Element::new(kind.as_str(), ns::CLIENT).with_attr("type", typ);
        for (ours, theirs) in [("id", "id"), ("to", "from"), ("from", "to")] {
            if let Some(v) = self.el.attr(theirs) {
                reply.set_attr(ours, v);
            }
        }
        reply
    }

    /// What may be logged about a stanza: `kind/type/namespace`, e.g.
    /// `"iq/get/urn:xmpp:ping"`, `"presence//-"`.
    ///
    /// Only values the server knows are printed: the `type` values of RFC 6121 §5.2.2
    /// (message), §4.7.1 (presence) and RFC 6120 §8.2.3 (iq), and the first child's
    /// namespace when it is one of [`LOGGED_NAMESPACES`]; anything else, whatever the
    /// client wrote (newlines, JIDs, text), is printed as `other`. `-` marks no child.
    pub fn summary(&self) -> String {
        let ns = match self.el.first_child() {
            None => "-",
            Some(c) => LOGGED_NAMESPACES
                .iter()
                .copied()
                .find(|n| *n == c.ns())
                .unwrap_or("other"),
        };
        let typ = self.type_attr();
        let known: &[&str] = match self.kind {
            Kind::Message => &["chat", "error", "groupchat", "headline", "normal"],
            Kind::Presence => &[
                "",
                "error",
                "probe",
                "subscribe",
                "subscribed",
                "unavailable",
                "unsubscribe",
                "unsubscribed",
            ],
            Kind::Iq => &["get", "set", "result", "error"],
        };
        let typ = known.iter().copied().find(|k| *k == typ).unwrap_or("other");
        format!("{}/{}/{}", self.kind.as_str(), typ, ns)
    }
}

/// Payload namespaces [`Stanza::summary`] prints as they are: those of [`crate::ns`]
/// and the common client extensions. Any other namespace is client-chosen text and is
/// printed as `other`.
pub const LOGGED_NAMESPACES: &[&str] = &[
    ns::CLIENT,
    ns::STANZAS,
    ns::BIND,
    ns::SESSION,
    ns::ROSTER,
    ns::DISCO_INFO,
    ns::DISCO_ITEMS,
    ns::PING,
    ns::VERSION,
    ns::DELAY,
    ns::MUC,
    ns::MUC_USER,
    ns::MUC_ADMIN,
    ns::MUC_OWNER,
    ns::OCCUPANT_ID,
    ns::DATA,
    ns::CONFERENCE,
    ns::IQ_CONFERENCE,
    ns::HTTP_UPLOAD,
    "jabber:x:oob",
    "vcard-temp",
    "vcard-temp:x:update",
    "jabber:iq:private",
    "jabber:iq:last",
    "urn:xmpp:time",
    "urn:xmpp:blocking",
    "urn:xmpp:carbons:2",
    "urn:xmpp:mam:2",
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:hints",
    "urn:xmpp:sid:0",
    "urn:xmpp:csi:0",
    "urn:xmpp:sm:3",
    "urn:xmpp:omemo:2",
    "eu.siacs.conversations.axolotl",
    "urn:xmpp:openpgp:0",
    "jabber:x:encrypted",
    "urn:xmpp:eme:0",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/nick",
    "http://jabber.org/protocol/pubsub",
    "http://jabber.org/protocol/pubsub#event",
    "http://jabber.org/protocol/xhtml-im",
];

fn parse_addr(value: Option<&str>) -> Result<Option<Jid>, StanzaError> {
    match value {
        None => Ok(None),
        Some(s) => parse_jid(s)
            .map(Some)
            .ok_or_else(|| StanzaError::from_condition(Condition::JidMalformed)),
    }
}

/// A JID from the wire (a stanza's `to`/`from`, an item's `jid`), normalised; `None`
/// when it is not a valid JID (RFC 7622 §3). A final dot of the domainpart is
/// stripped first, as RFC 7622 §3.2 requires before routing or comparing, so
/// `juliet@example.com./balcony` is `juliet@example.com/balcony`; a domainpart that
/// still ends with a dot (`example.com..`) is refused. (The `jid` crate keeps the dot,
/// and its `BareJid::with_resource` then writes a corrupted JID.) So is a JID whose
/// normalisation changes it again when its result is parsed (found by fuzzing).
pub fn parse_jid(s: &str) -> Option<Jid> {
    let end = s.find('/').unwrap_or(s.len());
    let (address, resource) = s.split_at(end);
    let j = match address.strip_suffix('.') {
        Some(a) if a.ends_with('.') => return None,
        Some(a) => Jid::new(&format!("{a}{resource}")).ok()?,
        None => Jid::new(s).ok()?,
    };
    if j.domain().as_str().ends_with('.') {
        return None;
    }
    // The `jid` crate's normalisation is not idempotent for some non-ASCII input
    // (`Ϲ@x` becomes `Σ@x`, which becomes `σ@x` when parsed again), so a JID that
    // another party normalises to someone else's is refused rather than routed.
    if !s.is_ascii() && Jid::new(j.as_str()).ok().as_ref() != Some(&j) {
        return None;
    }
    Some(j)
}

/// [`parse_jid`] for a bare JID; `None` also when `s` has a resource.
pub fn parse_bare_jid(s: &str) -> Option<jid::BareJid> {
    let j = parse_jid(s)?;
    j.is_bare().then(|| j.into_bare())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_domain_dot_is_stripped() {
        let j = parse_jid("juliet@example.com./balcony").unwrap();
        assert_eq!(j.as_str(), "juliet@example.com/balcony");
        assert_eq!(j, Jid::new("juliet@example.com/balcony").unwrap());
        let b = parse_bare_jid("juliet@example.com.").unwrap();
        assert_eq!(b.as_str(), "juliet@example.com");
        // The resource is built on the stripped domain, not corrupted.
        let r = jid::ResourcePart::new("r").unwrap();
        assert_eq!(b.with_resource(&r).as_str(), "juliet@example.com/r");
        assert_eq!(parse_jid("example.com.").unwrap().as_str(), "example.com");
        // A dot inside the resource stays.
        assert_eq!(parse_jid("a@b/c.").unwrap().as_str(), "a@b/c.");
        for bad in ["example.com..", "a@.", ".", "a@example.com../r", ""] {
            assert!(parse_jid(bad).is_none(), "{bad:?}");
        }
        assert!(parse_bare_jid("a@b/c").is_none());
    }

    #[test]
    fn unstable_normalisation_is_refused() {
        // U+03F9 GREEK CAPITAL LUNATE SIGMA: `jid` maps it to Σ, and Σ to σ on a reparse.
        for s in [
            "\u{3f9}@x",
            "a@\u{3f9}.org",
            "l\"\u{599}\u{3f9}",
            "a@b/\u{3f9}",
        ] {
            if let Some(j) = parse_jid(s) {
                assert_eq!(Jid::new(j.as_str()).ok(), Some(j), "{s:?}");
            }
        }
        assert!(parse_jid("\u{3f9}@x").is_none());
        assert!(parse_jid("\u{3c3}@x").is_some());
        assert_eq!(parse_jid("Σ@x").unwrap().as_str(), "σ@x");
    }

    #[test]
    fn iq_shapes() {
        let ok = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .with_attr("id", "1")
            .child(Element::new("ping", ns::PING));
        let s = Stanza::from_element(ok, ns::CLIENT).unwrap();
        assert_eq!(s.iq_type(), Some(IqType::Get));
        let no_id = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .child(Element::new("ping", ns::PING));
        assert_eq!(
            Stanza::from_element(no_id, ns::CLIENT).unwrap().iq_type(),
            None
        );
        let two = Element::new("iq", ns::CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "1")
            .child(Element::new("a", "x"))
            .child(Element::new("b", "x"));
        assert_eq!(
            Stanza::from_element(two, ns::CLIENT).unwrap().iq_type(),
            None
        );
    }

    #[test]
    fn error_reply_swaps_addresses_and_never_answers_errors() {
        let m = Element::new("message", ns::CLIENT)
            .with_attr("to", "bob@example.org")
            .with_attr("from", "alice@example.org/a")
            .with_attr("id", "m1")
            .child(Element::new("body", ns::CLIENT).with_text("hi"));
        let s = Stanza::from_element(m, ns::CLIENT).unwrap();
        let r = s
            .error_reply(&Condition::ServiceUnavailable.into())
            .unwrap();
        assert_eq!(r.attr("to"), Some("alice@example.org/a"));
        assert_eq!(r.attr("from"), Some("bob@example.org"));
        assert_eq!(r.attr("type"), Some("error"));
        let err = r.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(err.attr("type"), Some("cancel"));
        assert!(err.has_child("service-unavailable", ns::STANZAS));
        let s2 = Stanza::from_element(r, ns::CLIENT).unwrap();
        assert!(
            s2.error_reply(&Condition::ServiceUnavailable.into())
                .is_none()
        );
    }

    #[test]
    fn bad_addresses_are_jid_malformed() {
        let m = Element::new("message", ns::CLIENT).with_attr("to", "a@b@c");
        let s = Stanza::from_element(m, ns::CLIENT).unwrap();
        assert_eq!(s.to().unwrap_err().condition, Condition::JidMalformed);
    }

    fn reparse(el: &Element) -> Element {
        crate::xml::parse_element(&el.to_xml(ns::CLIENT), ns::CLIENT).unwrap()
    }

    proptest::proptest! {
        /// parse∘serialize = id for stanzas as the router builds and forwards them
        /// (RFC 6120 §8.2), including error replies (§8.3).
        #[test]
        fn stanza_round_trip(
            kind in proptest::sample::select(vec!["message", "presence", "iq"]),
            typ in proptest::option::of("[a-z]{1,10}"),
            id in proptest::option::of("[ -~]{0,20}"),
            node in "[a-z0-9]{1,12}",
            body in "\\PC{0,64}",
        ) {
            let mut el = Element::new(kind, ns::CLIENT)
                .with_attr("to", format!("{node}@example.org"))
                .with_attr("from", "alice@example.org/r")
                .child(Element::new("body", ns::CLIENT).with_text(body.clone()))
                .child(Element::new("x", "urn:example:payload").with_attr("k", body));
            if let Some(t) = typ { el.set_attr("type", t); }
            if let Some(i) = id { el.set_attr("id", i); }
            let st = Stanza::from_element(el.clone(), ns::CLIENT).unwrap();
            proptest::prop_assert_eq!(reparse(st.el()), el.clone());
            let reply = st.error_reply(&Condition::ServiceUnavailable.into());
            if let Some(r) = reply {
                let back = Stanza::from_element(reparse(&r), ns::CLIENT).unwrap();
                proptest::prop_assert!(back.is_error());
                proptest::prop_assert_eq!(back.to().unwrap().map(|j| j.to_string()), Some("alice@example.org/r".to_owned()));
            }
        }
    }

    #[test]
    fn summary_has_no_addresses() {
        let m = Element::new("message", ns::CLIENT)
            .with_attr("to", "secret@example.org")
            .with_attr("type", "chat")
            .child(Element::new("body", ns::CLIENT).with_text("private words"));
        let s = Stanza::from_element(m, ns::CLIENT).unwrap();
        assert_eq!(s.summary(), "message/chat/jabber:client");
    }

    #[test]
    fn summary_names_only_known_types_and_namespaces() {
        let forged = "chat\n2026-01-01 INFO forged a@b.example";
        for kind in ["message", "presence", "iq"] {
            let m = Element::new(kind, ns::CLIENT)
                .with_attr("type", forged)
                .child(Element::new("x", "urn:evil:a@b.example"));
            let s = Stanza::from_element(m, ns::CLIENT).unwrap();
            assert_eq!(s.summary(), format!("{kind}/other/other"));
        }
        let p = Element::new("presence", ns::CLIENT);
        let s = Stanza::from_element(p, ns::CLIENT).unwrap();
        assert_eq!(s.summary(), "presence//-");
        let iq = Element::new("iq", ns::CLIENT)
            .with_attr("type", "get")
            .child(Element::new("ping", ns::PING));
        let s = Stanza::from_element(iq, ns::CLIENT).unwrap();
        assert_eq!(s.summary(), "iq/get/urn:xmpp:ping");
    }
}
