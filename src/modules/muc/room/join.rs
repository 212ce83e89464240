//! Entering, status and nick changes, and leaving (XEP-0045 §7.2, §7.6, §7.7, §7.14),
//! including the password check of a password-protected room (§7.2.6).

use jid::{BareJid, FullJid};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Env, ItemExtra, Out, Room, err, presence_payload};
use crate::modules::muc::affiliation::Affiliation;
use crate::modules::muc::history::Request;
use crate::modules::muc::occupant::{Occupant, occupant_id};
use crate::modules::muc::roomconfig::Whois;
use crate::ns;
use crate::stanza::{Condition, ErrorType, StanzaError};
use crate::xml::Element;

/// Accounts with password failures remembered per room before expired ones are
/// dropped.
const PASSWORD_FAILURES_PRUNE_AT: usize = 1024;

/// Whether `given` is `expected`, in time independent of where they differ (both are
/// hashed first, so the length of the password does not show either).
fn password_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

impl Room {
    /// Presence use case (§7.2 enter, §7.6 nick change, §7.7 status change, §7.14 exit)
    /// for a presence from `from` to `room/nick`. `created` is set when the room was
    /// created by this very presence. Errors are answered from `room/nick` by the
    /// caller.
    pub fn presence(
        &mut self,
        env: Env<'_>,
        from: &FullJid,
        nick: &str,
        p: &Element,
        created: bool,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let ptype = p.attr("type").unwrap_or("");
        let current = self.by_session(from);
        match (ptype, current) {
            ("unavailable" | "error", Some(i)) => {
                self.leave(i, from, Some(p), &[], out);
                Ok(())
            }
            ("unavailable" | "error", None) => Ok(()),
            ("", Some(i)) if self.occupants.get(i).is_some_and(|o| o.nick == nick) => {
                // §7.7: a status change, broadcast to all.
                let payload = presence_payload(p);
                if let Some(o) = self.occupants.get_mut(i) {
                    o.payload = payload;
                }
                if let Some(o) = self.occupants.get(i) {
                    self.broadcast_presence(o, false, &ItemExtra::default(), &[], &[], out);
                }
                Ok(())
            }
            ("", Some(i)) => self.change_nick(i, nick, out),
            ("", None) => self.join(env, from, nick, p, created, out),
            _ => Ok(()),
        }
    }

    /// §7.2.6 with a guessing limit: the `<password/>` of the join, compared in constant
    /// time; after `password_max_failures` wrong ones within the window, `bare` is
    /// refused with `resource-constraint` (type `wait`) whatever it gives.
    fn check_password(
        &mut self,
        env: Env<'_>,
        bare: &BareJid,
        muc: Option<&Element>,
    ) -> Result<(), StanzaError> {
        let fresh = |start: i64| env.now.saturating_sub(start) < env.password_window;
        if self.password_failures.len() >= PASSWORD_FAILURES_PRUNE_AT {
            self.password_failures.retain(|_, (start, _)| fresh(*start));
        }
        if let Some((start, n)) = self.password_failures.get(bare)
            && fresh(*start)
            && *n >= env.password_max_failures
        {
            return Err(
                StanzaError::new(ErrorType::Wait, Condition::ResourceConstraint)
                    .with_text("too many wrong passwords; try again later"),
            );
        }
        let given = muc
            .and_then(|x| x.get_child("password", ns::MUC))
            .map(Element::text);
        if given.is_some_and(|g| password_matches(&g, &self.config.password)) {
            self.password_failures.remove(bare);
            return Ok(());
        }
        let entry = self
            .password_failures
            .entry(bare.clone())
            .or_insert((env.now, 0));
        if !fresh(entry.0) {
            *entry = (env.now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Err(err(Condition::NotAuthorized))
    }

    fn join(
        &mut self,
        env: Env<'_>,
        from: &FullJid,
        nick: &str,
        p: &Element,
        created: bool,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let bare = from.to_bare();
        let aff = self.affiliation(&bare);
        let muc = p.get_child("x", ns::MUC);
        if self.locked && aff != Affiliation::Owner {
            // §10.1.1: a locked room does not exist for anyone but its owner.
            return Err(err(Condition::ItemNotFound));
        }
        if aff == Affiliation::Outcast {
            return Err(err(Condition::Forbidden)); // §7.2.8
        }
        if self.config.members_only && aff < Affiliation::Member {
            return Err(err(Condition::RegistrationRequired)); // §7.2.7
        }
        if self.config.password_protected && aff != Affiliation::Owner {
            self.check_password(env, &bare, muc)?;
        }
        let existing = self.by_nick(nick);
        if let Some(i) = existing
            && self.occupants.get(i).is_some_and(|o| o.bare != bare)
        {
            return Err(err(Condition::Conflict)); // §7.2.9
        }
        if existing.is_none() && !env.may_enter {
            return Err(StanzaError::from_condition(Condition::ResourceConstraint)
                .with_text("you are in the maximum number of rooms"));
        }
        if existing.is_none()
            && self.occupants.len() >= self.config.max_users as usize
            && aff < Affiliation::Admin
        {
            // §7.2.10: the room is full.
            return Err(StanzaError::new(
                ErrorType::Wait,
                Condition::ServiceUnavailable,
            ));
        }
        let payload = presence_payload(p);
        let idx = match existing {
            Some(i) => {
                // Another session of the same user joins with the same nick: it shares the
                // occupant (no new presence for the others).
                if let Some(o) = self.occupants.get_mut(i) {
                    o.sessions.push(from.clone());
                }
                i
            }
            None => {
                self.occupants.push(Occupant {
                    nick: nick.to_owned(),
                    bare: bare.clone(),
                    sessions: vec![from.clone()],
                    role: aff.default_role(self.config.moderated),
                    payload,
                    occupant_id: occupant_id(env.secret, &self.jid, &bare),
                });
                out.entered.push(bare.clone());
                // Whoever enters has answered their invitations.
                self.invited.retain(|(invitee, _)| invitee != &bare);
                self.occupants.len() - 1
            }
        };
        let Some(me) = self.occupants.get(idx).cloned() else {
            return Err(err(Condition::InternalServerError));
        };
        // §7.2.3: presence of existing occupants to the new one first.
        let sees = self.sees_jids(me.role);
        for o in self.occupants.iter().filter(|o| o.nick != me.nick) {
            if !self.config.broadcasts(o.role) {
                continue;
            }
            let mut el = self.presence_of(o, false, sees, &ItemExtra::default(), &[], None);
            el.set_attr("to", from.as_str());
            out.push(el);
        }
        // Then the new occupant's presence to everyone, itself last with 110 (§7.2.2):
        // 100 in a non-anonymous room (§7.2.4), 170 when logged (§7.2.12), 201 on creation
        // (§10.1.1).
        let mut self_codes = Vec::new();
        if self.config.whois == Whois::Anyone {
            self_codes.push(100);
        }
        if self.config.logging {
            self_codes.push(170);
        }
        if created {
            self_codes.push(201);
        }
        // §7.2.3 (210): the nick was prepared (Resourceprep, as the room JID was parsed),
        // so it differs from the one asked for; the joiner learns the one it got.
        let asked = p.attr("to").and_then(|t| t.split_once('/')).map(|(_, r)| r);
        if asked.is_some_and(|a| a != nick) {
            self_codes.push(210);
        }
        if existing.is_none() {
            self.broadcast_presence(&me, false, &ItemExtra::default(), &[], &self_codes, out);
        } else {
            let mut own = vec![110];
            own.extend_from_slice(&self_codes);
            let mut el = self.presence_of(&me, false, sees, &ItemExtra::default(), &own, None);
            el.set_attr("to", from.as_str());
            out.push(el);
        }
        // §7.2.14: the history, then the subject (§7.2.15), always, even when empty.
        let req = muc
            .and_then(|x| x.get_child("history", ns::MUC))
            .map(Request::parse)
            .unwrap_or_default();
        for mut m in self.history.replay(
            &req,
            self.config.max_history as usize,
            env.now,
            self.jid.as_str(),
        ) {
            m.set_attr("to", from.as_str());
            out.push(m);
        }
        out.push(self.subject_message(from));
        Ok(())
    }

    fn subject_message(&self, to: &FullJid) -> Element {
        let from = if self.subject.1.is_empty() {
            self.jid.to_string()
        } else {
            self.occupant_jid(&self.subject.1)
        };
        Element::new("message", ns::CLIENT)
            .with_attr("type", "groupchat")
            .with_attr("from", from)
            .with_attr("to", to.as_str())
            .child(Element::new("subject", ns::CLIENT).with_text(self.subject.0.clone()))
    }

    /// §7.14: a session leaves; the occupant leaves with its last session.
    fn leave(
        &mut self,
        i: usize,
        from: &FullJid,
        p: Option<&Element>,
        codes: &[u16],
        out: &mut Out,
    ) {
        let Some(o) = self.occupants.get_mut(i) else {
            return;
        };
        o.sessions.retain(|s| s != from);
        if let Some(p) = p {
            o.payload = presence_payload(p);
        }
        if o.sessions.is_empty() {
            let mut o = self.occupants.remove(i);
            out.left.push(o.bare.clone());
            o.sessions.push(from.clone());
            // Everyone else, then the leaver with 110.
            self.broadcast_presence(&o, true, &ItemExtra::default(), codes, &[], out);
        } else if let Some(o) = self.occupants.get(i) {
            let mut own_codes = vec![110];
            own_codes.extend_from_slice(codes);
            let mut own = self.presence_of(
                o,
                true,
                self.sees_jids(o.role),
                &ItemExtra::default(),
                &own_codes,
                None,
            );
            own.set_attr("to", from.as_str());
            out.push(own);
        }
    }

    /// Removes a session that can no longer be reached: its stream ended without an
    /// unavailable presence reaching the room (or it joined through the legacy IQ), or
    /// its queue refused a copy. The unavailable presence carries status 333, "removed
    /// because of a technical problem" (the XEP-0045 status code registry; XEP-0410 §4).
    pub fn drop_session(&mut self, full: &FullJid, out: &mut Out) {
        if let Some(i) = self.by_session(full) {
            self.leave(i, full, None, &[333], out);
        }
    }

    /// §7.6: nick change: unavailable from the old nick with 303 and the new nick, then
    /// available from the new nick.
    fn change_nick(&mut self, i: usize, nick: &str, out: &mut Out) -> Result<(), StanzaError> {
        let Some(me) = self.occupants.get(i).cloned() else {
            return Err(err(Condition::InternalServerError));
        };
        if self.by_nick(nick).is_some() {
            return Err(err(Condition::Conflict)); // §7.6.3
        }
        let extra = ItemExtra {
            nick: Some(nick),
            ..ItemExtra::default()
        };
        self.broadcast_presence(&me, true, &extra, &[303], &[], out);
        if let Some(o) = self.occupants.get_mut(i) {
            o.nick = nick.to_owned();
        }
        if let Some(o) = self.occupants.get(i).cloned() {
            self.broadcast_presence(&o, false, &ItemExtra::default(), &[], &[], out);
        }
        Ok(())
    }
}
