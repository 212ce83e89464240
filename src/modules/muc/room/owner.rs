//! Room configuration and destruction by owners (XEP-0045 §10.1 creation, §10.2
//! configuration, §10.9 destruction).

use std::collections::HashMap;

use jid::{BareJid, FullJid};

use super::{Env, ItemExtra, Out, Room, err, status};
use crate::modules::muc::affiliation::Affiliation;
use crate::modules::muc::occupant::Occupant;
use crate::modules::muc::roomconfig::Whois;
use crate::ns;
use crate::stanza::{Condition, StanzaError};
use crate::xml::Element;

impl Room {
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
            // §10.2: members-only now: non-members leave with 322.
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
}
