//! One room: its occupants, affiliations, configuration, subject and history, and the
//! XEP-0045 use cases acting on them (§7 occupants, §8 moderators, §9 admins, §10
//! owners). Everything here is synchronous and pure apart from the clock value passed
//! in: each use case appends the stanzas it produces to an [`Out`], which the service
//! delivers while it still holds the room's lock (so every occupant sees one order).
//!
//! This file holds the room's state, [`Out`] and [`Env`], the constructors and the
//! helpers every use case shares (presence of an occupant, broadcast, fan-out). The use
//! cases are split by what a user does:
//! - `join`: entering, password, status and nick change, leaving (§7.2, §7.6, §7.7,
//!   §7.14);
//! - `messages`: groupchat messages, subject changes, private messages and IQs to
//!   occupants (§7.4, §7.5, §8.1; XEP-0410 self-ping);
//! - `admin`: role and affiliation administration (§8, §9, §10.3–§10.7);
//! - `owner`: room configuration and destruction (§10.1, §10.2, §10.9);
//! - `invitations`: mediated invitations and declines (§7.8.2).
//!
//! The unit tests (`tests`) drive a [`Room`] directly and look at what [`Out`] holds.

mod admin;
mod invitations;
mod join;
mod messages;
mod owner;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use jid::{BareJid, FullJid};

use super::affiliation::{Affiliation, Role};
use super::history::History;
use super::occupant::Occupant;
use super::roomconfig::{Limits, RoomConfig, Whois};
use crate::ns;
use crate::stanza::{Condition, StanzaError};
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

    fn role_of_session(&self, from: &FullJid) -> Role {
        self.by_session(from)
            .and_then(|i| self.occupants.get(i))
            .map_or(Role::None, |o| o.role)
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

    /// Sends `el` to every session of every occupant (the `to` is the only change).
    fn fan_out(&self, el: &Element, out: &mut Out) {
        let to = self
            .occupants
            .iter()
            .flat_map(|o| o.sessions.iter().cloned());
        out.push_each(el, to.collect());
    }

    /// The empty room vanishes on its own (a temporary room whose last occupant left).
    pub fn vanishes(&self) -> bool {
        self.occupants.is_empty() && !self.config.persistent
    }
}
