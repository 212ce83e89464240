//! One room: its occupants, affiliations, configuration, subject and history, and the
//! XEP-0045 use cases acting on them (§7 occupants, §8 moderators, §9 admins, §10
//! owners). Everything here is synchronous and pure apart from the clock value passed
//! in: each use case appends the stanzas it produces to an [`Out`], which the service
//! delivers while it still holds the room's lock (so every occupant sees one order).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use jid::{BareJid, FullJid};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::affiliation::{Affiliation, Role, may_set_affiliation, may_set_role};
use super::history::{Caps, History, Request};
use super::occupant::{Occupant, occupant_id};
use super::roomconfig::{Limits, RoomConfig, Whois};
use crate::ns;
use crate::stanza::{Condition, ErrorType, StanzaError};
use crate::storage::StoredRoom;
use crate::xml::Element;

/// What a use case produced.
#[derive(Debug, Default)]
pub struct Out {
    /// Stanzas to deliver, in order.
    pub stanzas: Vec<Delivery>,
    /// The room's persistent state changed: store it (if persistent) or drop it.
    pub save: bool,
    /// Real bare JIDs that became an occupant (one entry per new occupant).
    pub entered: Vec<BareJid>,
    /// Real bare JIDs whose occupant left (one entry per occupant gone).
    pub left: Vec<BareJid>,
}

/// One stanza to deliver, to one JID or to several sessions.
#[derive(Debug)]
pub enum Delivery {
    /// A stanza with `from` and `to`.
    One(Element),
    /// The same stanza (with `from`, and `to=''` where each copy's `to` goes) for each
    /// of `to`, so that it can be serialized once for all of them.
    Each {
        /// The stanza.
        el: Element,
        /// Its recipients.
        to: Vec<FullJid>,
    },
}

impl Out {
    fn push(&mut self, el: Element) {
        self.stanzas.push(Delivery::One(el));
    }

    /// Queues `el` for every session in `to` (with `to` set to each of them).
    fn push_each(&mut self, el: &Element, to: Vec<FullJid>) {
        if to.is_empty() {
            return;
        }
        let mut el = el.clone();
        el.set_attr("to", "");
        self.stanzas.push(Delivery::Each { el, to });
    }
}

/// Service-wide values a room needs.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The service secret for occupant ids.
    pub secret: &'a [u8],
    /// Now, unix seconds.
    pub now: i64,
    /// Bounds on the configuration.
    pub limits: Limits,
    /// Whether the sender may become an occupant of one more room
    /// (`muc.max_joined_rooms_per_account`).
    pub may_enter: bool,
    /// Bytes of history per room (`muc.history_max_bytes_per_room`).
    pub history_room_bytes: usize,
    /// Bytes of history of the whole service (`muc.history_max_bytes_total`).
    pub history_total_bytes: usize,
    /// Wrong passwords allowed per account within `password_window`
    /// (`muc.password_max_failures`).
    pub password_max_failures: u32,
    /// Seconds of the password failure window (`muc.password_failure_window_secs`).
    pub password_window: i64,
}

/// Pending mediated invitations remembered per room (for declines); the oldest are
/// forgotten beyond.
const MAX_PENDING_INVITES: usize = 256;

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

/// A room.
#[derive(Debug)]
pub struct Room {
    /// `room@service`.
    pub jid: BareJid,
    /// The configuration.
    pub config: RoomConfig,
    /// Created and not configured yet (XEP-0045 §10.1): only the owner may enter.
    pub locked: bool,
    /// Affiliations other than `none`, with the reason given.
    pub affiliations: HashMap<BareJid, (Affiliation, String)>,
    /// Occupants in join order.
    pub occupants: Vec<Occupant>,
    /// The subject and the nick that set it (`""`: the room).
    pub subject: (String, String),
    /// Recent messages, in memory.
    pub history: History,
    /// Set when the room was destroyed or emptied: a handler holding an old reference
    /// must look the room up again.
    pub gone: bool,
    /// The account that created the room (counted in `muc.max_rooms_per_account`).
    pub creator: Option<BareJid>,
    /// Pending mediated invitations as (invitee, inviter) real bare JIDs, oldest
    /// first: a decline is relayed only from a pending invitee to its inviter.
    pub invited: VecDeque<(BareJid, BareJid)>,
    /// Wrong passwords per account: (start of the window, unix seconds; count).
    pub password_failures: HashMap<BareJid, (i64, u32)>,
}

/// `<x xmlns='http://jabber.org/protocol/muc#user'/>` item details.
#[derive(Debug, Default, Clone)]
struct ItemExtra<'a> {
    nick: Option<&'a str>,
    actor: Option<&'a str>,
    reason: Option<&'a str>,
}

fn err(c: Condition) -> StanzaError {
    StanzaError::from_condition(c)
}

fn status(code: u16) -> Element {
    Element::new("status", ns::MUC_USER).with_attr("code", code.to_string())
}

/// Child elements of a client's presence kept in the room's copy: everything except MUC
/// elements and client-supplied occupant ids (XEP-0421 §4: the service strips them).
pub fn presence_payload(p: &Element) -> Vec<Element> {
    p.children()
        .filter(|c| !(c.ns() == ns::MUC || c.ns() == ns::MUC_USER || c.ns() == ns::OCCUPANT_ID))
        .cloned()
        .collect()
}

impl Room {
    /// A new, empty room with `owner` as its owner; `locked` until configured.
    pub fn new(jid: BareJid, config: RoomConfig, owner: Option<BareJid>, locked: bool) -> Room {
        let mut affiliations = HashMap::new();
        if let Some(o) = owner {
            affiliations.insert(o, (Affiliation::Owner, String::new()));
        }
        Room {
            jid,
            config,
            locked,
            affiliations,
            occupants: Vec::new(),
            subject: (String::new(), String::new()),
            history: History::default(),
            gone: false,
            creator: None,
            invited: VecDeque::new(),
            password_failures: HashMap::new(),
        }
    }

    /// Counts this room's history in the service-wide byte total.
    pub fn attach_history(&mut self, total: Arc<AtomicUsize>) {
        self.history.attach(total);
    }

    /// Restores a stored room (unlocked, empty).
    pub fn restore(jid: BareJid, stored: &StoredRoom, defaults: RoomConfig) -> Room {
        let config = toml::from_str(&stored.config).unwrap_or(defaults);
        let mut room = Room::new(jid, config, None, false);
        room.subject = (stored.subject.clone(), stored.subject_by.clone());
        for (j, a, reason) in &stored.affiliations {
            if let (Ok(j), Some(a)) = (BareJid::new(j), Affiliation::parse(a)) {
                room.affiliations.insert(j, (a, reason.clone()));
            }
        }
        room
    }

    /// What to store for a persistent room.
    pub fn stored(&self) -> StoredRoom {
        let mut affiliations: Vec<(String, String, String)> = self
            .affiliations
            .iter()
            .map(|(j, (a, r))| (j.to_string(), a.as_str().to_owned(), r.clone()))
            .collect();
        affiliations.sort();
        StoredRoom {
            node: self.jid.node().map(|n| n.to_string()).unwrap_or_default(),
            config: toml::to_string(&self.config).unwrap_or_default(),
            subject: self.subject.0.clone(),
            subject_by: self.subject.1.clone(),
            affiliations,
        }
    }

    /// The affiliation of a real bare JID.
    pub fn affiliation(&self, bare: &BareJid) -> Affiliation {
        self.affiliations
            .get(bare)
            .map_or(Affiliation::None, |(a, _)| *a)
    }

    fn set_affiliation_raw(&mut self, bare: &BareJid, a: Affiliation, reason: &str) {
        if a == Affiliation::None {
            self.affiliations.remove(bare);
        } else {
            self.affiliations
                .insert(bare.clone(), (a, reason.to_owned()));
        }
    }

    fn owners(&self) -> usize {
        self.affiliations
            .values()
            .filter(|(a, _)| *a == Affiliation::Owner)
            .count()
    }

    /// JIDs with affiliation `a`, sorted.
    pub fn with_affiliation(&self, a: Affiliation) -> Vec<String> {
        let mut v: Vec<String> = self
            .affiliations
            .iter()
            .filter(|(_, (x, _))| *x == a)
            .map(|(j, _)| j.to_string())
            .collect();
        v.sort();
        v
    }

    /// Index of the occupant with `nick`.
    pub fn by_nick(&self, nick: &str) -> Option<usize> {
        self.occupants.iter().position(|o| o.nick == nick)
    }

    /// Index of the occupant one of whose sessions is `full`.
    pub fn by_session(&self, full: &FullJid) -> Option<usize> {
        self.occupants
            .iter()
            .position(|o| o.sessions.iter().any(|s| s == full))
    }

    fn occupant_jid(&self, nick: &str) -> String {
        format!("{}/{}", self.jid, nick)
    }

    /// Whether someone with `role` sees real JIDs (§4.2: semi-anonymous rooms show them
    /// to moderators only).
    fn sees_jids(&self, role: Role) -> bool {
        self.config.whois == Whois::Anyone || role == Role::Moderator
    }

    /// The presence of occupant `o` as seen by others, with or without its real JID.
    #[allow(clippy::too_many_arguments)]
    fn presence_of(
        &self,
        o: &Occupant,
        unavailable: bool,
        with_jid: bool,
        extra: &ItemExtra<'_>,
        codes: &[u16],
        destroy: Option<&Element>,
    ) -> Element {
        let mut p =
            Element::new("presence", ns::CLIENT).with_attr("from", self.occupant_jid(&o.nick));
        if unavailable {
            p.set_attr("type", "unavailable");
            for c in o.payload.iter().filter(|c| c.is("status", ns::CLIENT)) {
                p.push_child(c.clone());
            }
        } else {
            for c in &o.payload {
                p.push_child(c.clone());
            }
        }
        let mut item = Element::new("item", ns::MUC_USER)
            .with_attr("affiliation", self.affiliation(&o.bare).as_str())
            .with_attr(
                "role",
                // §7.6.2: the unavailable presence of a nick change keeps the role.
                if unavailable && extra.nick.is_none() {
                    "none"
                } else {
                    o.role.as_str()
                },
            );
        if with_jid && let Some(s) = o.sessions.first() {
            item.set_attr("jid", s.as_str());
        }
        if let Some(n) = extra.nick {
            item.set_attr("nick", n);
        }
        if let Some(a) = extra.actor {
            item.push_child(Element::new("actor", ns::MUC_USER).with_attr("nick", a));
        }
        if let Some(r) = extra.reason {
            item.push_child(Element::new("reason", ns::MUC_USER).with_text(r));
        }
        let mut x = Element::new("x", ns::MUC_USER).child(item);
        if let Some(d) = destroy {
            x.push_child(d.clone());
        }
        for c in codes {
            x.push_child(status(*c));
        }
        p.push_child(x);
        p.push_child(Element::new("occupant-id", ns::OCCUPANT_ID).with_attr("id", &o.occupant_id));
        p
    }

    /// Sends occupant `o`'s presence to every occupant entitled to it: the occupant itself
    /// with 110 and `self_codes`, others with `codes` if the role's presence is broadcast
    /// (muc#roomconfig_presencebroadcast).
    fn broadcast_presence(
        &self,
        o: &Occupant,
        unavailable: bool,
        extra: &ItemExtra<'_>,
        codes: &[u16],
        self_codes: &[u16],
        out: &mut Out,
    ) {
        let broadcast = self.config.broadcasts(o.role) || unavailable;
        let plain = self.presence_of(o, unavailable, false, extra, codes, None);
        let jid = self.presence_of(o, unavailable, true, extra, codes, None);
        let (mut to_plain, mut to_jid) = (Vec::new(), Vec::new());
        for r in &self.occupants {
            if r.nick == o.nick || !broadcast {
                continue;
            }
            let to = if self.sees_jids(r.role) {
                &mut to_jid
            } else {
                &mut to_plain
            };
            to.extend(r.sessions.iter().cloned());
        }
        out.push_each(&plain, to_plain);
        out.push_each(&jid, to_jid);
        let mut own: Vec<u16> = vec![110];
        own.extend_from_slice(codes);
        own.extend_from_slice(self_codes);
        let mine = self.presence_of(o, unavailable, self.sees_jids(o.role), extra, &own, None);
        for s in &o.sessions {
            let mut c = mine.clone();
            c.set_attr("to", s.as_str());
            out.push(c);
        }
    }

    /// Presence use case (§7.2 enter, §7.6 nick change, §7.7 status change, §7.14 exit)
    /// for a presence from `from` to `room/nick`. `legacy` marks a groupchat 1.0 join
    /// (no `<x xmlns='http://jabber.org/protocol/muc'/>`). `created` is set when the room
    /// was created by this very presence. Errors are answered from `room/nick` by the
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

    /// Sends `el` to every session of every occupant (the `to` is the only change).
    fn fan_out(&self, el: &Element, out: &mut Out) {
        let to = self
            .occupants
            .iter()
            .flat_map(|o| o.sessions.iter().cloned());
        out.push_each(el, to.collect());
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

    fn role_of_session(&self, from: &FullJid) -> Role {
        self.by_session(from)
            .and_then(|i| self.occupants.get(i))
            .map_or(Role::None, |o| o.role)
    }

    fn nick_of_session(&self, from: &FullJid) -> Option<String> {
        self.by_session(from)
            .and_then(|i| self.occupants.get(i))
            .map(|o| o.nick.clone())
    }

    /// §9.5, §10.5 and §8.5: `muc#admin` get: an affiliation list or a role list.
    pub fn admin_get(&self, from: &FullJid, query: &Element) -> Result<Element, StanzaError> {
        let item = query
            .get_child("item", ns::MUC_ADMIN)
            .ok_or_else(|| err(Condition::BadRequest))?;
        let actor = self.affiliation(&from.to_bare());
        let mut res = Element::new("query", ns::MUC_ADMIN);
        if let Some(a) = item.attr("affiliation") {
            let a = Affiliation::parse(a).ok_or_else(|| err(Condition::BadRequest))?;
            if !super::affiliation::may_list_affiliation(actor, a) {
                return Err(err(Condition::Forbidden));
            }
            let mut list: Vec<(&BareJid, &String)> = self
                .affiliations
                .iter()
                .filter(|(_, (x, _))| *x == a)
                .map(|(j, (_, r))| (j, r))
                .collect();
            list.sort();
            for (j, reason) in list {
                let mut it = Element::new("item", ns::MUC_ADMIN)
                    .with_attr("affiliation", a.as_str())
                    .with_attr("jid", j.as_str());
                if let Some(o) = self.occupants.iter().find(|o| &o.bare == j) {
                    it.set_attr("nick", &o.nick);
                    it.set_attr("role", o.role.as_str());
                }
                if !reason.is_empty() {
                    it.push_child(Element::new("reason", ns::MUC_ADMIN).with_text(reason.clone()));
                }
                res.push_child(it);
            }
            return Ok(res);
        }
        if let Some(r) = item.attr("role") {
            let r = Role::parse(r).ok_or_else(|| err(Condition::BadRequest))?;
            if self.role_of_session(from) != Role::Moderator {
                return Err(err(Condition::Forbidden));
            }
            for o in self.occupants.iter().filter(|o| o.role == r) {
                let mut it = Element::new("item", ns::MUC_ADMIN)
                    .with_attr("affiliation", self.affiliation(&o.bare).as_str())
                    .with_attr("role", o.role.as_str())
                    .with_attr("nick", &o.nick);
                if let Some(s) = o.sessions.first() {
                    it.set_attr("jid", s.as_str());
                }
                res.push_child(it);
            }
            return Ok(res);
        }
        Err(err(Condition::BadRequest))
    }

    /// `muc#admin` set (§8.2 kick, §8.3/§8.4 voice, §9.1 ban, §9.3/§9.4 membership, §9.6/
    /// §9.7 moderator, §10.3–§10.7 owner and admin): every item is checked before any is
    /// applied.
    pub fn admin_set(
        &mut self,
        from: &FullJid,
        query: &Element,
        out: &mut Out,
    ) -> Result<(), StanzaError> {
        let actor_bare = from.to_bare();
        let actor_aff = self.affiliation(&actor_bare);
        let actor_role = self.role_of_session(from);
        let actor_nick = self.nick_of_session(from);
        enum Change {
            Role(usize, Role, String),
            Aff(BareJid, Affiliation, String),
        }
        let mut changes = Vec::new();
        let items: Vec<&Element> = query
            .children()
            .filter(|c| c.is("item", ns::MUC_ADMIN))
            .collect();
        if items.is_empty() {
            return Err(err(Condition::BadRequest));
        }
        let mut owners = self.owners() as i64;
        for item in items {
            let reason = item
                .get_child("reason", ns::MUC_ADMIN)
                .map(Element::text)
                .unwrap_or_default();
            match (item.attr("role"), item.attr("affiliation")) {
                (Some(r), None) => {
                    let r = Role::parse(r).ok_or_else(|| err(Condition::BadRequest))?;
                    let nick = item
                        .attr("nick")
                        .ok_or_else(|| err(Condition::BadRequest))?;
                    let i = self
                        .by_nick(nick)
                        .ok_or_else(|| err(Condition::ItemNotFound))?;
                    let t = self
                        .occupants
                        .get(i)
                        .ok_or_else(|| err(Condition::ItemNotFound))?;
                    let t_aff = self.affiliation(&t.bare);
                    if !may_set_role((actor_role, actor_aff), (t.role, t_aff), r) {
                        return Err(err(Condition::NotAllowed));
                    }
                    changes.push(Change::Role(i, r, reason));
                }
                (None, Some(a)) => {
                    let a = Affiliation::parse(a).ok_or_else(|| err(Condition::BadRequest))?;
                    let jid = item
                        .attr("jid")
                        .and_then(crate::stanza::parse_jid)
                        .map(|j| j.to_bare())
                        .ok_or_else(|| err(Condition::BadRequest))?;
                    let t_aff = self.affiliation(&jid);
                    if !may_set_affiliation(actor_aff, t_aff, a) {
                        return Err(err(Condition::NotAllowed));
                    }
                    if t_aff == Affiliation::Owner && a != Affiliation::Owner {
                        owners -= 1;
                        if owners < 1 {
                            // §10.3/§10.4: the last owner cannot leave the room ownerless.
                            return Err(err(Condition::Conflict));
                        }
                    }
                    changes.push(Change::Aff(jid, a, reason));
                }
                _ => return Err(err(Condition::BadRequest)),
            }
        }
        let actor = actor_nick.as_deref();
        for c in changes {
            match c {
                Change::Role(i, r, reason) => {
                    let Some(t) = self.occupants.get(i).cloned() else {
                        continue;
                    };
                    let reason = (!reason.is_empty()).then_some(reason.as_str());
                    if r == Role::None {
                        self.remove_occupant(&t, 307, actor, reason, out);
                    } else if let Some(o) = self.occupants.get_mut(i) {
                        o.role = r;
                        let o = o.clone();
                        let extra = ItemExtra {
                            actor,
                            reason,
                            nick: None,
                        };
                        self.broadcast_presence(&o, false, &extra, &[], &[], out);
                    }
                }
                Change::Aff(jid, a, reason) => {
                    self.set_affiliation_raw(&jid, a, &reason);
                    out.save = true;
                    self.affiliation_changed(
                        &jid,
                        a,
                        actor,
                        (!reason.is_empty()).then_some(reason.as_str()),
                        out,
                    );
                }
            }
        }
        Ok(())
    }

    /// After `jid`'s affiliation became `a`: an occupant is banned (301), removed from a
    /// members-only room (321), or gets the role of its new affiliation (§9.1, §9.4,
    /// §10.6, §10.7, §5.2).
    fn affiliation_changed(
        &mut self,
        jid: &BareJid,
        a: Affiliation,
        actor: Option<&str>,
        reason: Option<&str>,
        out: &mut Out,
    ) {
        let Some(i) = self.occupants.iter().position(|o| &o.bare == jid) else {
            return;
        };
        let Some(t) = self.occupants.get(i).cloned() else {
            return;
        };
        if a == Affiliation::Outcast {
            self.remove_occupant(&t, 301, actor, reason, out);
        } else if self.config.members_only && a < Affiliation::Member {
            self.remove_occupant(&t, 321, actor, reason, out);
        } else if let Some(o) = self.occupants.get_mut(i) {
            o.role = a.default_role(self.config.moderated);
            let o = o.clone();
            let extra = ItemExtra {
                actor,
                reason,
                nick: None,
            };
            self.broadcast_presence(&o, false, &extra, &[], &[], out);
        }
    }

    /// Removes an occupant with all its sessions, telling everyone with `code`
    /// (307 kicked, 301 banned, 321/322 no longer a member).
    fn remove_occupant(
        &mut self,
        t: &Occupant,
        code: u16,
        actor: Option<&str>,
        reason: Option<&str>,
        out: &mut Out,
    ) {
        let extra = ItemExtra {
            actor,
            reason,
            nick: None,
        };
        self.broadcast_presence(t, true, &extra, &[code], &[], out);
        let before = self.occupants.len();
        self.occupants.retain(|o| o.nick != t.nick);
        if self.occupants.len() < before {
            out.left.push(t.bare.clone());
        }
    }

    /// §10.2: the configuration form, for owners.
    pub fn owner_get(&self, from: &FullJid) -> Result<Element, StanzaError> {
        if self.affiliation(&from.to_bare()) != Affiliation::Owner {
            return Err(err(Condition::Forbidden));
        }
        Ok(Element::new("query", ns::MUC_OWNER).child(self.config.form(
            &self.with_affiliation(Affiliation::Owner),
            &self.with_affiliation(Affiliation::Admin),
        )))
    }

    /// `muc#owner` set: a submitted or cancelled configuration form (§10.1.2, §10.1.3,
    /// §10.2) or a destruction (§10.9). Returns `true` when the room is to be destroyed.
    pub fn owner_set(
        &mut self,
        env: Env<'_>,
        from: &FullJid,
        query: &Element,
        out: &mut Out,
    ) -> Result<bool, StanzaError> {
        if self.affiliation(&from.to_bare()) != Affiliation::Owner {
            return Err(err(Condition::Forbidden));
        }
        if let Some(d) = query.get_child("destroy", ns::MUC_OWNER) {
            self.destroy(d, out);
            return Ok(true);
        }
        let x = query
            .get_child("x", ns::DATA)
            .ok_or_else(|| err(Condition::BadRequest))?;
        match x.attr("type") {
            Some("cancel") => return Ok(self.locked),
            Some("submit") => {}
            _ => return Err(err(Condition::BadRequest)),
        }
        let (config, extras) = self.config.apply(x, env.limits)?;
        let before: HashMap<BareJid, Affiliation> = self
            .occupants
            .iter()
            .map(|o| (o.bare.clone(), self.affiliation(&o.bare)))
            .collect();
        if let Some(owners) = &extras.owners {
            for j in self.with_affiliation(Affiliation::Owner) {
                if let Ok(j) = BareJid::new(&j)
                    && !owners.contains(&j)
                {
                    self.affiliations.remove(&j);
                }
            }
            for j in owners {
                self.set_affiliation_raw(j, Affiliation::Owner, "");
            }
        }
        if let Some(admins) = &extras.admins {
            for j in self.with_affiliation(Affiliation::Admin) {
                if let Ok(j) = BareJid::new(&j)
                    && !admins.contains(&j)
                {
                    self.affiliations.remove(&j);
                }
            }
            for j in admins {
                if self.affiliation(j) != Affiliation::Owner {
                    self.set_affiliation_raw(j, Affiliation::Admin, "");
                }
            }
        }
        let old = std::mem::replace(&mut self.config, config);
        self.history.trim(self.config.max_history as usize);
        out.save = true;
        let was_locked = std::mem::replace(&mut self.locked, false);
        // Roles follow changed affiliations.
        let changed: Vec<(BareJid, Affiliation)> = self
            .occupants
            .iter()
            .filter_map(|o| {
                let now = self.affiliation(&o.bare);
                let then = before.get(&o.bare).copied().unwrap_or(Affiliation::None);
                (now != then).then(|| (o.bare.clone(), now))
            })
            .collect();
        for (b, a) in changed {
            self.affiliation_changed(&b, a, None, None, out);
        }
        if self.config.members_only && !old.members_only {
            // §9.? members-only now: non-members leave with 322.
            let gone: Vec<Occupant> = self
                .occupants
                .iter()
                .filter(|o| self.affiliation(&o.bare) < Affiliation::Member)
                .cloned()
                .collect();
            for o in gone {
                self.remove_occupant(&o, 322, None, None, out);
            }
        }
        if !was_locked {
            // §10.2.1: tell the occupants that the configuration changed.
            let mut codes = vec![104];
            if self.config.logging != old.logging {
                codes.push(if self.config.logging { 170 } else { 171 });
            }
            if self.config.whois != old.whois {
                codes.push(if self.config.whois == Whois::Anyone {
                    172
                } else {
                    173
                });
            }
            let mut x = Element::new("x", ns::MUC_USER);
            for c in codes {
                x.push_child(status(c));
            }
            let el = Element::new("message", ns::CLIENT)
                .with_attr("type", "groupchat")
                .with_attr("from", self.jid.as_str())
                .child(x);
            self.fan_out(&el, out);
        }
        Ok(false)
    }

    /// §10.9: every occupant leaves with the `<destroy/>` (alternate venue, reason).
    fn destroy(&mut self, d: &Element, out: &mut Out) {
        let mut destroy = Element::new("destroy", ns::MUC_USER);
        if let Some(j) = d.attr("jid") {
            destroy.set_attr("jid", j);
        }
        if let Some(r) = d.get_child("reason", ns::MUC_OWNER) {
            destroy.push_child(Element::new("reason", ns::MUC_USER).with_text(r.text()));
        }
        if let Some(p) = d.get_child("password", ns::MUC_OWNER) {
            destroy.push_child(Element::new("password", ns::MUC_USER).with_text(p.text()));
        }
        for o in &self.occupants {
            let mut el =
                self.presence_of(o, true, false, &ItemExtra::default(), &[], Some(&destroy));
            if let Some(x) = el.get_child_mut("x", ns::MUC_USER)
                && let Some(item) = x.get_child_mut("item", ns::MUC_USER)
            {
                item.set_attr("affiliation", "none");
            }
            for s in &o.sessions {
                let mut c = el.clone();
                c.set_attr("to", s.as_str());
                out.push(c);
            }
        }
        out.left.extend(self.occupants.drain(..).map(|o| o.bare));
        self.gone = true;
    }

    /// Destroys the room without an alternate venue (an owner cancelled the initial
    /// configuration, §10.1.3).
    pub fn destroy_quietly(&mut self, out: &mut Out) {
        self.destroy(&Element::new("destroy", ns::MUC_OWNER), out);
    }

    /// The empty room vanishes on its own (a temporary room whose last occupant left).
    pub fn vanishes(&self) -> bool {
        self.occupants.is_empty() && !self.config.persistent
    }

    /// §7.8.2 mediated invitations and §7.8.? declines, in a message to the room's bare
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
