//! Role and affiliation administration (XEP-0045 §8 moderators, §9 admins, §10.3–§10.7
//! owners): the `muc#admin` lists and changes, and what a changed affiliation does to an
//! occupant.

use jid::{BareJid, FullJid};

use super::{ItemExtra, Out, Room, err};
use crate::modules::muc::affiliation::{
    Affiliation, Role, may_list_affiliation, may_set_affiliation, may_set_role,
};
use crate::modules::muc::occupant::Occupant;
use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

impl Room {
    fn owners(&self) -> usize {
        self.affiliations
            .values()
            .filter(|(a, _)| *a == Affiliation::Owner)
            .count()
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
            if !may_list_affiliation(actor, a) {
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
    pub(super) fn affiliation_changed(
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
    pub(super) fn remove_occupant(
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
}
