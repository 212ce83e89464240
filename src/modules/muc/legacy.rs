//! Adapters for the protocols older than XEP-0045, onto the same rooms.
//!
//! - **groupchat 1.0**: a presence to `room@service/nick` without
//!   `<x xmlns='http://jabber.org/protocol/muc'/>` joins as usual, with the default
//!   history and no password; a room created that way is an instant room, unlocked at
//!   once (XEP-0045 §10.1.1, "backwards compatibility with groupchat 1.0").
//! - **`jabber:iq:conference`** entrance negotiation: an IQ get to the room returns what
//!   entering needs (`<nick/>`, `<secret/>` when the room has a password, and the room
//!   `<name/>`); an IQ set with `<nick/>` (and `<secret/>`) joins and returns the nick and
//!   the occupant JID as `<id/>`. Errors carry the legacy `code` attribute: 404 for an
//!   unknown room, 401 for a wrong secret, 409 for a nick in use, 405 for any other
//!   refusal.
//!
//! # Limitations
//! A session that entered through `jabber:iq:conference` sent no directed presence, so
//! the server does not tell the room when it ends; the room drops it the first time a
//! stanza for it finds no session.

use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

use super::room::Room;

/// Whether a presence joins the groupchat 1.0 way (no MUC extension).
pub fn is_gc1_join(p: &Element) -> bool {
    !p.has_child("x", ns::MUC)
}

/// The answer to an IQ get: what entering the room needs.
pub fn requirements(room: &Room) -> Element {
    let mut q =
        Element::new("query", ns::IQ_CONFERENCE).child(Element::new("nick", ns::IQ_CONFERENCE));
    if room.config.password_protected {
        q.push_child(Element::new("secret", ns::IQ_CONFERENCE));
    }
    let name = if room.config.name.is_empty() {
        room.jid.node().map(|n| n.to_string()).unwrap_or_default()
    } else {
        room.config.name.clone()
    };
    q.push_child(Element::new("name", ns::IQ_CONFERENCE).with_text(name));
    q
}

/// Reads an IQ set: the nick (required) and the secret.
pub fn parse_set(q: &Element) -> Result<(String, Option<String>), StanzaError> {
    let nick = q
        .get_child("nick", ns::IQ_CONFERENCE)
        .map(|n| n.text().trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| StanzaError::from_condition(Condition::BadRequest))?;
    let secret = q.get_child("secret", ns::IQ_CONFERENCE).map(Element::text);
    Ok((nick, secret))
}

/// The presence an IQ set stands for: a MUC join with the secret as password.
pub fn join_presence(secret: Option<String>) -> Element {
    let mut x = Element::new("x", ns::MUC);
    if let Some(s) = secret {
        x.push_child(Element::new("password", ns::MUC).with_text(s));
    }
    Element::new("presence", ns::CLIENT).child(x)
}

/// The answer to a successful IQ set.
pub fn joined(room: &Room, nick: &str) -> Element {
    Element::new("query", ns::IQ_CONFERENCE)
        .child(Element::new("nick", ns::IQ_CONFERENCE).with_text(nick))
        .child(Element::new("id", ns::IQ_CONFERENCE).with_text(format!("{}/{nick}", room.jid)))
}

/// Maps a join refusal to the protocol's errors: 401, 404, 409 kept, anything else 405.
pub fn map_error(e: StanzaError) -> StanzaError {
    match e.condition {
        Condition::NotAuthorized
        | Condition::ItemNotFound
        | Condition::Conflict
        | Condition::BadRequest => e,
        _ => StanzaError::from_condition(Condition::NotAllowed),
    }
}

/// Adds the legacy numeric `code` to the `<error/>` of an error reply.
pub fn add_code(reply: &mut Element) {
    let Some(e) = reply.get_child_mut("error", ns::CLIENT) else {
        return;
    };
    let code = e
        .children()
        .find(|c| c.ns() == ns::STANZAS)
        .map(|c| match c.name() {
            "bad-request" => "400",
            "not-authorized" => "401",
            "forbidden" => "403",
            "item-not-found" => "404",
            "not-allowed" => "405",
            "not-acceptable" => "406",
            "registration-required" => "407",
            "conflict" => "409",
            "service-unavailable" => "503",
            _ => "500",
        });
    if let Some(code) = code {
        e.set_attr("code", code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc1_and_codes() {
        let plain = Element::new("presence", ns::CLIENT);
        assert!(is_gc1_join(&plain));
        assert!(!is_gc1_join(&join_presence(None)));
        let q = Element::new("query", ns::IQ_CONFERENCE)
            .child(Element::new("nick", ns::IQ_CONFERENCE).with_text("ann"))
            .child(Element::new("secret", ns::IQ_CONFERENCE).with_text("s"));
        assert_eq!(
            parse_set(&q).unwrap(),
            ("ann".to_owned(), Some("s".to_owned()))
        );
        assert!(parse_set(&Element::new("query", ns::IQ_CONFERENCE)).is_err());
        assert_eq!(
            map_error(Condition::RegistrationRequired.into()).condition,
            Condition::NotAllowed
        );
        let mut reply = Element::new("iq", ns::CLIENT)
            .child(StanzaError::from_condition(Condition::ItemNotFound).to_element(ns::CLIENT));
        add_code(&mut reply);
        assert_eq!(
            reply
                .get_child("error", ns::CLIENT)
                .and_then(|e| e.attr("code")),
            Some("404")
        );
    }
}
