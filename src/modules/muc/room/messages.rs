//! Messages in the room: groupchat messages and subject changes (XEP-0045 §7.4, §8.1),
//! private messages and IQs between occupants (§7.5), and XEP-0410 self-pings.

use jid::FullJid;

use super::{Env, Out, Room, err};
use crate::modules::muc::affiliation::Role;
use crate::modules::muc::history::Caps;
use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

impl Room {
    /// §7.4 groupchat messages and §8.1 subject changes, from an occupant's session.
    pub fn groupchat(
        &mut self,
        env: Env<'_>,
        from: &FullJid,
        msg: &Element,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let Some(me) = self
            .by_session(from)
            .and_then(|i| self.occupants.get(i))
            .cloned()
        else {
            return Err(err(Condition::NotAcceptable));
        };
        let has_body = msg.has_child("body", ns::CLIENT);
        let subject = msg.get_child("subject", ns::CLIENT).map(Element::text);
        if me.role < Role::Participant {
            return Err(err(Condition::Forbidden)); // §7.4, visitors in moderated rooms
        }
        if let (Some(subject), false) = (&subject, has_body) {
            if !(me.role == Role::Moderator || self.config.change_subject) {
                return Err(err(Condition::Forbidden)); // §8.1
            }
            self.subject = (subject.clone(), me.nick.clone());
            out.save = true;
        }
        let mut el = msg.clone();
        el.remove_attr("to");
        el.set_attr("from", self.occupant_jid(&me.nick));
        el.retain_children(|c| c.ns() != ns::OCCUPANT_ID);
        el.push_child(
            Element::new("occupant-id", ns::OCCUPANT_ID).with_attr("id", &me.occupant_id),
        );
        if has_body {
            let caps = Caps {
                messages: self.config.max_history as usize,
                room_bytes: env.history_room_bytes,
                total_bytes: env.history_total_bytes,
            };
            self.history.push(el.clone(), env.now, caps);
        }
        self.fan_out(&el, out);
        Ok(())
    }

    /// §7.5: a private message from an occupant to `room/nick`.
    pub fn private_message(
        &self,
        from: &FullJid,
        nick: &str,
        msg: &Element,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let Some(me) = self.by_session(from).and_then(|i| self.occupants.get(i)) else {
            return Err(err(Condition::NotAcceptable));
        };
        if msg.attr("type") == Some("groupchat") {
            return Err(err(Condition::BadRequest));
        }
        let Some(target) = self.by_nick(nick).and_then(|i| self.occupants.get(i)) else {
            return Err(err(Condition::ItemNotFound));
        };
        if !self.config.allow_pm.allows(me.role) {
            return Err(err(Condition::Forbidden));
        }
        let mut el = msg.clone();
        el.set_attr("from", self.occupant_jid(&me.nick));
        el.retain_children(|c| c.ns() != ns::OCCUPANT_ID && !c.is("x", ns::MUC_USER));
        el.push_child(Element::new("x", ns::MUC_USER));
        el.push_child(
            Element::new("occupant-id", ns::OCCUPANT_ID).with_attr("id", &me.occupant_id),
        );
        for s in &target.sessions {
            let mut c = el.clone();
            c.set_attr("to", s.as_str());
            out.push(c);
        }
        Ok(())
    }

    /// An IQ to `room/nick` (§7.5 for IQs; XEP-0410 self-ping). Get/set from an occupant
    /// go to the target's first session as from the sender's occupant JID; results and
    /// errors to `room/nick` go back to that occupant's sessions.
    pub fn iq_to_occupant(
        &self,
        from: &FullJid,
        nick: &str,
        iq: &Element,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let typ = iq.attr("type").unwrap_or("");
        let me = self.by_session(from).and_then(|i| self.occupants.get(i));
        let Some(target) = self.by_nick(nick).and_then(|i| self.occupants.get(i)) else {
            if matches!(typ, "get" | "set") {
                return Err(err(if me.is_some() {
                    Condition::ItemNotFound
                } else {
                    Condition::NotAcceptable
                }));
            }
            return Ok(());
        };
        let Some(me) = me else {
            // XEP-0410 §3.2: pings from someone not joined are not-acceptable.
            return Err(err(Condition::NotAcceptable));
        };
        if matches!(typ, "get" | "set")
            && me.nick == target.nick
            && iq.first_child().is_some_and(|c| c.is("ping", ns::PING))
        {
            // XEP-0410 §3.3: the service answers self-pings itself.
            let mut r = Element::new("iq", ns::CLIENT)
                .with_attr("type", "result")
                .with_attr("from", self.occupant_jid(nick))
                .with_attr("to", from.as_str());
            if let Some(id) = iq.attr("id") {
                r.set_attr("id", id);
            }
            out.push(r);
            return Ok(());
        }
        let mut el = iq.clone();
        el.set_attr("from", self.occupant_jid(&me.nick));
        match typ {
            "get" | "set" => {
                if let Some(s) = target.sessions.first() {
                    el.set_attr("to", s.as_str());
                    out.push(el);
                }
            }
            _ => {
                for s in &target.sessions {
                    let mut c = el.clone();
                    c.set_attr("to", s.as_str());
                    out.push(c);
                }
            }
        }
        Ok(())
    }
}
