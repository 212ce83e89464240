//! Mediated invitations and their declines (XEP-0045 §7.8.2), sent to the room's bare
//! JID and relayed to JIDs outside the room.

use jid::FullJid;

use super::{Out, Room, err};
use crate::modules::muc::affiliation::{Affiliation, Role};
use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

/// Pending mediated invitations remembered per room (for declines); the oldest are
/// forgotten beyond.
const MAX_PENDING_INVITES: usize = 256;

impl Room {
    /// §7.8.2 mediated invitations and their declines, in a message to the room's bare
    /// JID. The produced messages go to JIDs outside the room.
    pub fn invitations(
        &mut self,
        from: &FullJid,
        x: &Element,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let bare = from.to_bare();
        let aff = self.affiliation(&bare);
        let occupant = self.by_session(from).is_some();
        for inv in x.children().filter(|c| c.is("invite", ns::MUC_USER)) {
            if !occupant && aff < Affiliation::Admin {
                return Err(err(Condition::NotAcceptable));
            }
            // Invitations by plain occupants need muc#roomconfig_allowinvites; moderators,
            // admins and owners may always invite (§7.8.2; members-only rooms, §9.3).
            let role = self.role_of_session(from);
            if aff < Affiliation::Admin && role != Role::Moderator && !self.config.allow_invites {
                return Err(err(Condition::Forbidden));
            }
            let to = inv
                .attr("to")
                .and_then(crate::stanza::parse_jid)
                .ok_or_else(|| err(Condition::JidMalformed))?;
            if self.config.members_only && self.affiliation(&to.to_bare()) == Affiliation::None {
                self.set_affiliation_raw(&to.to_bare(), Affiliation::Member, "");
                out.save = true;
            }
            let pending = (to.to_bare(), bare.clone());
            if !self.invited.contains(&pending) {
                if self.invited.len() >= MAX_PENDING_INVITES {
                    self.invited.pop_front();
                }
                self.invited.push_back(pending);
            }
            let mut invite = Element::new("invite", ns::MUC_USER).with_attr("from", bare.as_str());
            if let Some(r) = inv.get_child("reason", ns::MUC_USER) {
                invite.push_child(Element::new("reason", ns::MUC_USER).with_text(r.text()));
            }
            let mut ux = Element::new("x", ns::MUC_USER).child(invite);
            if self.config.password_protected {
                ux.push_child(
                    Element::new("password", ns::MUC_USER).with_text(self.config.password.clone()),
                );
            }
            let el = Element::new("message", ns::CLIENT)
                .with_attr("from", self.jid.as_str())
                .with_attr("to", to.as_str())
                .child(ux)
                .child(
                    Element::new("body", ns::CLIENT)
                        .with_text(format!("{bare} invites you to the room {}", self.jid)),
                );
            out.push(el);
        }
        for dec in x.children().filter(|c| c.is("decline", ns::MUC_USER)) {
            let to = dec
                .attr("to")
                .and_then(crate::stanza::parse_jid)
                .ok_or_else(|| err(Condition::JidMalformed))?;
            // Only a pending invitee may decline, to its inviter, once.
            let pending = (bare.clone(), to.to_bare());
            let Some(i) = self.invited.iter().position(|p| p == &pending) else {
                return Err(StanzaError::from_condition(Condition::NotAcceptable)
                    .with_text("no pending invitation to decline"));
            };
            self.invited.remove(i);
            let mut decline =
                Element::new("decline", ns::MUC_USER).with_attr("from", bare.as_str());
            if let Some(r) = dec.get_child("reason", ns::MUC_USER) {
                decline.push_child(Element::new("reason", ns::MUC_USER).with_text(r.text()));
            }
            let el = Element::new("message", ns::CLIENT)
                .with_attr("from", self.jid.as_str())
                .with_attr("to", to.as_str())
                .child(Element::new("x", ns::MUC_USER).child(decline));
            out.push(el);
        }
        Ok(())
    }
}
