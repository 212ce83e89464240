//! XEP-0045 Multi-User Chat helpers: a server with the MUC service on
//! `conference.localhost`, joining (with password, history limits, or the
//! groupchat 1.0 way), the owner's config form, admin items, and matchers for
//! `muc#user` status codes, items and XEP-0421 occupant ids.
//!
//! Everything here is written from the XEP text, not from `src/`.

use allium::xml::Element;

use super::im::*;
use super::*;

pub const MUC_NS: &str = "http://jabber.org/protocol/muc";
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const ROOMCONFIG: &str = "http://jabber.org/protocol/muc#roomconfig";
pub const DATA_NS: &str = "jabber:x:data";
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
pub const OCCUPANT_ID_NS: &str = "urn:xmpp:occupant-id:0";
pub const X_CONFERENCE: &str = "jabber:x:conference";
pub const IQ_CONFERENCE: &str = "jabber:iq:conference";

/// The MUC service of the test server (`conference.<domain>`).
pub const SERVICE: &str = "conference.localhost";

/// `name@conference.localhost`.
pub fn room(name: &str) -> String {
    format!("{name}@{SERVICE}")
}

/// A server with the MUC service enabled and `extra` TOML appended to `[muc]`
/// (e.g. `"room_creation = \"admins\"\n"`), with the given accounts (password = name).
pub fn muc_server(extra: &str, users: &[&str]) -> Server {
    let server = Server::builder()
        .toml(&format!("[muc]\nenabled = true\n{extra}"))
        .start();
    for u in users {
        server.add_account(u, u);
    }
    server
}

/// Logs `user` in (password = name) with resource `res` and sends initial presence.
pub async fn user(server: &Server, name: &str, res: &str) -> Client {
    let mut c = server.login_scram(name, name, res).await;
    c.available().await;
    c.sync().await;
    c
}

/// What a successful join showed the joiner (XEP-0045 §7.2.3–§7.2.15): the presence of
/// the occupants already there, the self-presence, the history and the subject.
#[derive(Debug)]
pub struct Joined {
    pub others: Vec<Element>,
    pub self_presence: Element,
    pub history: Vec<Element>,
    pub subject: Option<Element>,
}

impl Joined {
    pub fn codes(&self) -> Vec<u16> {
        status_codes(&self.self_presence)
    }
    pub fn item(&self) -> Element {
        muc_item(&self.self_presence).expect("self-presence carries an item")
    }
    /// Bodies of the history messages, in order.
    pub fn history_bodies(&self) -> Vec<String> {
        self.history.iter().filter_map(body).collect()
    }
}

/// The `muc#user` `<x/>` of a stanza.
pub fn muc_x(e: &Element) -> Option<&Element> {
    e.get_child("x", MUC_USER)
}

/// The `status` codes in a stanza's `muc#user` `<x/>` (sorted).
pub fn status_codes(e: &Element) -> Vec<u16> {
    let mut v: Vec<u16> = muc_x(e)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", MUC_USER))
                .filter_map(|c| c.attr("code").and_then(|s| s.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The `<item/>` of a stanza's `muc#user` `<x/>`.
pub fn muc_item(e: &Element) -> Option<Element> {
    muc_x(e).and_then(|x| x.get_child("item", MUC_USER).cloned())
}

/// The XEP-0421 occupant id of a presence or message.
pub fn occupant_id(e: &Element) -> Option<String> {
    e.get_child("occupant-id", OCCUPANT_ID_NS)
        .and_then(|o| o.attr("id").map(str::to_owned))
}

/// Whether `e` is the room subject message (§7.2.15: a groupchat message with a
/// `<subject/>` and no body).
pub fn is_subject(e: &Element) -> bool {
    e.name() == "message"
        && e.attr("type") == Some("groupchat")
        && e.get_child("subject", CLIENT_NS).is_some()
        && e.get_child("body", CLIENT_NS).is_none()
}

/// Whether `e` is a groupchat message with a body from `from`.
pub fn is_groupchat_from(e: &Element, from: &str) -> bool {
    e.name() == "message"
        && e.attr("type") == Some("groupchat")
        && e.attr("from") == Some(from)
        && body(e).is_some()
}

/// Error conditions XEP-0045 uses for "you may not do that" (§8.2 and §9.1 leave the
/// choice between them open for an occupant without the privilege).
pub const REFUSED: [&str; 2] = ["forbidden", "not-allowed"];

/// The legacy `code` of an error stanza.
pub fn error_code(e: &Element) -> Option<String> {
    e.get_child("error", CLIENT_NS)
        .and_then(|er| er.attr("code").map(str::to_owned))
}

/// Values of `var` in a data form.
pub fn field_values(form: &Element, var: &str) -> Vec<String> {
    form.children()
        .find(|f| f.is("field", DATA_NS) && f.attr("var") == Some(var))
        .map(|f| {
            f.children()
                .filter(|v| v.is("value", DATA_NS))
                .map(|v| v.text())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a data form has a field `var`.
pub fn has_field(form: &Element, var: &str) -> bool {
    form.children()
        .any(|f| f.is("field", DATA_NS) && f.attr("var") == Some(var))
}

/// A submitted `muc#roomconfig` form: consecutive pairs with the same field name
/// become one multi-valued field.
pub fn config_form(fields: &[(&str, &str)]) -> String {
    let mut out = format!(
        "<x xmlns='{DATA_NS}' type='submit'><field var='FORM_TYPE'><value>{ROOMCONFIG}</value></field>"
    );
    let mut i = 0;
    while i < fields.len() {
        let var = fields[i].0;
        out.push_str(&format!("<field var='{var}'>"));
        while i < fields.len() && fields[i].0 == var {
            out.push_str(&format!("<value>{}</value>", fields[i].1));
            i += 1;
        }
        out.push_str("</field>");
    }
    out.push_str("</x>");
    out
}

impl Client {
    /// Sends presence to `room/nick` with `<x xmlns='…muc'>{inner}</x>` (or no `<x/>`
    /// at all when `inner` is `None`: the groupchat 1.0 join).
    pub async fn send_join(&mut self, room: &str, nick: &str, inner: Option<&str>) {
        let x = match inner {
            Some(i) => format!("<x xmlns='{MUC_NS}'>{i}</x>"),
            None => String::new(),
        };
        self.send(&format!("<presence to='{room}/{nick}'>{x}</presence>"))
            .await;
    }

    /// Reads the answer to a join of `room`: either the error presence (returned as
    /// `Err(presence)`) or everything up to the self-presence (status 110), then — unless
    /// the room was just created (201) — the history and the subject (§7.2.15: last).
    pub async fn read_join(&mut self, room: &str) -> Result<Joined, Element> {
        let prefix = format!("{room}/");
        let mut others = Vec::new();
        let self_presence = loop {
            let e = self.recv().await;
            if e.name() != "presence" {
                continue;
            }
            let from = e.attr("from").unwrap_or_default();
            if !from.starts_with(&prefix) && from != room {
                continue;
            }
            if e.attr("type") == Some("error") {
                return Err(e);
            }
            if status_codes(&e).contains(&110) {
                break e;
            }
            others.push(e);
        };
        let mut joined = Joined {
            others,
            self_presence,
            history: Vec::new(),
            subject: None,
        };
        if joined.codes().contains(&201) {
            return Ok(joined);
        }
        loop {
            let e = self.recv().await;
            if e.name() != "message" || !e.attr("from").unwrap_or_default().starts_with(room) {
                continue;
            }
            if is_subject(&e) {
                joined.subject = Some(e);
                return Ok(joined);
            }
            joined.history.push(e);
        }
    }

    /// Joins `room` as `nick` with `<x xmlns='…muc'>{inner}</x>`; panics on an error.
    pub async fn join_with(&mut self, room: &str, nick: &str, inner: &str) -> Joined {
        self.send_join(room, nick, Some(inner)).await;
        match self.read_join(room).await {
            Ok(j) => j,
            Err(e) => panic!("join {room}/{nick} failed: {}", e.to_xml(CLIENT_NS)),
        }
    }

    /// Joins `room` as `nick` (XEP-0045 §7.2.2).
    pub async fn join(&mut self, room: &str, nick: &str) -> Joined {
        self.join_with(room, nick, "").await
    }

    /// Tries to join and expects an error presence; returns its condition (and the
    /// error presence).
    pub async fn join_error(&mut self, room: &str, nick: &str, inner: &str) -> (String, Element) {
        self.send_join(room, nick, Some(inner)).await;
        match self.read_join(room).await {
            Ok(j) => panic!(
                "join {room}/{nick} should fail, got {}",
                j.self_presence.to_xml(CLIENT_NS)
            ),
            Err(e) => (stanza_error(&e).unwrap_or_default(), e),
        }
    }

    /// Creates `room` (it must not exist) as owner `nick` and unlocks it with the
    /// config `fields` (an instant room when empty, §10.1.2; otherwise a reserved room
    /// configured through the form, §10.1.3). Returns the creation self-presence.
    pub async fn create_room(&mut self, room: &str, nick: &str, fields: &[(&str, &str)]) -> Joined {
        let j = self.join(room, nick).await;
        assert!(
            j.codes().contains(&201),
            "§10.1.1: a new room answers 201, got {}",
            j.self_presence.to_xml(CLIENT_NS)
        );
        let r = self.configure(room, fields).await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "configuring {room}: {}",
            r.to_xml(CLIENT_NS)
        );
        // Whatever the room sent on unlocking (e.g. the subject) is skipped.
        self.drain().await;
        j
    }

    /// Submits the config form with `fields` (§10.2); returns the IQ reply.
    pub async fn configure(&mut self, room: &str, fields: &[(&str, &str)]) -> Element {
        let id = next_id("cfg");
        let form = config_form(fields);
        self.iq(
            &id,
            &format!(
                "<iq type='set' id='{id}' to='{room}'><query xmlns='{MUC_OWNER}'>{form}</query></iq>"
            ),
        )
        .await
    }

    /// Fetches the config form (§10.2); returns the IQ reply.
    pub async fn get_config(&mut self, room: &str) -> Element {
        let id = next_id("getcfg");
        self.iq(
            &id,
            &format!("<iq type='get' id='{id}' to='{room}'><query xmlns='{MUC_OWNER}'/></iq>"),
        )
        .await
    }

    /// The `<x/>` data form of a config reply.
    pub async fn config(&mut self, room: &str) -> Element {
        let r = self.get_config(room).await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "config form: {}",
            r.to_xml(CLIENT_NS)
        );
        r.get_child("query", MUC_OWNER)
            .and_then(|q| q.get_child("x", DATA_NS))
            .cloned()
            .expect("config form")
    }

    /// A `muc#admin` set with the raw `items` (§8, §9); returns the IQ reply.
    pub async fn admin_set(&mut self, room: &str, items: &str) -> Element {
        let id = next_id("adm");
        self.iq(
            &id,
            &format!(
                "<iq type='set' id='{id}' to='{room}'><query xmlns='{MUC_ADMIN}'>{items}</query></iq>"
            ),
        )
        .await
    }

    /// A `muc#admin` set with the raw `items`, asserting a result; returns what arrived
    /// before the result (the room may broadcast the change to the actor first, or
    /// after: see [`Client::expect_seen`]).
    pub async fn admin_ok(&mut self, room: &str, items: &str) -> Vec<Element> {
        let id = next_id("adm");
        self.send(&format!(
            "<iq type='set' id='{id}' to='{room}'><query xmlns='{MUC_ADMIN}'>{items}</query></iq>"
        ))
        .await;
        let mut seen = Vec::new();
        loop {
            let e = self.recv().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                assert_eq!(
                    e.attr("type"),
                    Some("result"),
                    "admin set {items}: {}",
                    e.to_xml(CLIENT_NS)
                );
                return seen;
            }
            seen.push(e);
        }
    }

    /// The first stanza matching `pred`, taken from `seen` (stanzas already received)
    /// or else waited for.
    pub async fn expect_seen(
        &mut self,
        seen: &mut Vec<Element>,
        what: &str,
        pred: impl Fn(&Element) -> bool,
    ) -> Element {
        if let Some(i) = seen.iter().position(&pred) {
            return seen.remove(i);
        }
        self.recv_until(what, pred).await
    }

    /// A `muc#admin` get for `attr='value'` (e.g. `affiliation='member'`); returns the reply.
    pub async fn admin_get(&mut self, room: &str, filter: &str) -> Element {
        let id = next_id("admget");
        self.iq(
            &id,
            &format!(
                "<iq type='get' id='{id}' to='{room}'><query xmlns='{MUC_ADMIN}'><item {filter}/></query></iq>"
            ),
        )
        .await
    }

    /// The bare JIDs on an affiliation list (§9.5, §10.5…), sorted.
    pub async fn affiliation_list(&mut self, room: &str, affiliation: &str) -> Vec<String> {
        let r = self
            .admin_get(room, &format!("affiliation='{affiliation}'"))
            .await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "{affiliation} list: {}",
            r.to_xml(CLIENT_NS)
        );
        let mut v: Vec<String> = r
            .get_child("query", MUC_ADMIN)
            .expect("admin query")
            .children()
            .filter(|i| i.is("item", MUC_ADMIN))
            .map(|i| {
                assert_eq!(
                    i.attr("affiliation"),
                    Some(affiliation),
                    "list item affiliation"
                );
                i.attr("jid").unwrap_or_default().to_owned()
            })
            .collect();
        v.sort();
        v
    }

    /// Sends a groupchat message to `room`.
    pub async fn groupchat(&mut self, room: &str, text: &str) {
        self.send(&format!(
            "<message to='{room}' type='groupchat' id='{}'><body>{text}</body></message>",
            next_id("gc")
        ))
        .await;
    }

    /// Sends a groupchat message and waits for its reflection (§7.4); returns it.
    pub async fn say(&mut self, room: &str, nick: &str, text: &str) -> Element {
        self.groupchat(room, text).await;
        let from = format!("{room}/{nick}");
        self.recv_until(&format!("reflection of '{text}'"), |e| {
            is_groupchat_from(e, &from) && body(e).as_deref() == Some(text)
        })
        .await
    }

    /// Waits for a groupchat message with a body from `from` (`room/nick`).
    pub async fn expect_groupchat(&mut self, from: &str) -> Element {
        self.recv_until(&format!("groupchat from {from}"), |e| {
            is_groupchat_from(e, from)
        })
        .await
    }

    /// Waits for a message of type error from `from`; returns its condition.
    pub async fn expect_message_error(&mut self, from: &str) -> String {
        let e = self
            .recv_until(&format!("message error from {from}"), |e| {
                e.name() == "message"
                    && e.attr("type") == Some("error")
                    && e.attr("from") == Some(from)
            })
            .await;
        stanza_error(&e).unwrap_or_default()
    }

    /// Leaves the room (§7.14) and waits for the unavailable self-presence.
    pub async fn leave(&mut self, room: &str, nick: &str) -> Element {
        self.send(&format!(
            "<presence to='{room}/{nick}' type='unavailable'/>"
        ))
        .await;
        self.expect_presence(&format!("{room}/{nick}"), "unavailable")
            .await
    }

    /// disco#info of `to`; returns the reply.
    pub async fn disco_info(&mut self, to: &str) -> Element {
        let id = next_id("di");
        self.iq(
            &id,
            &format!("<iq type='get' id='{id}' to='{to}'><query xmlns='{DISCO_INFO}'/></iq>"),
        )
        .await
    }

    /// disco#items JIDs of `to` (asserts a result).
    pub async fn disco_items(&mut self, to: &str) -> Vec<String> {
        let id = next_id("dit");
        let r = self
            .iq(
                &id,
                &format!("<iq type='get' id='{id}' to='{to}'><query xmlns='{DISCO_ITEMS}'/></iq>"),
            )
            .await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "disco#items {to}: {}",
            r.to_xml(CLIENT_NS)
        );
        r.get_child("query", DISCO_ITEMS)
            .expect("items query")
            .children()
            .filter_map(|i| i.attr("jid").map(str::to_owned))
            .collect()
    }
}

/// disco#info features of a reply.
pub fn info_features(r: &Element) -> Vec<String> {
    r.get_child("query", DISCO_INFO)
        .map(|q| {
            q.children()
                .filter(|c| c.is("feature", DISCO_INFO))
                .filter_map(|c| c.attr("var").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `muc#roominfo` extended form of a disco#info reply (XEP-0045 §6.4, XEP-0128).
pub fn roominfo(r: &Element) -> Option<Element> {
    r.get_child("query", DISCO_INFO).and_then(|q| {
        q.children()
            .find(|x| {
                x.is("x", DATA_NS)
                    && field_values(x, "FORM_TYPE")
                        == vec!["http://jabber.org/protocol/muc#roominfo".to_owned()]
            })
            .cloned()
    })
}
