//! The room's use cases driven directly: each test builds a [`Room`], hands it stanzas
//! as a client sends them (through [`Env`] and [`Out`], as the service does) and looks
//! at what every occupant's session would receive. The people are those of the
//! XEP-0045 examples: crone1 (firstwitch, the owner), wiccarocks (secondwitch) and
//! hag66 (thirdwitch) in coven@chat.shakespeare.lit.
//!
//! Time only enters as `Env::now` (unix seconds), so the tests set it rather than
//! wait for a clock.

use jid::{BareJid, FullJid};

use super::{Delivery, Env, Out, Room};
use crate::modules::muc::affiliation::{Affiliation, Role};
use crate::modules::muc::roomconfig::{Limits, RoomConfig};
use crate::ns;
use crate::stanza::{Condition, ErrorType, StanzaError};
use crate::xml::{Element, parse_element};

const ROOM: &str = "coven@chat.shakespeare.lit";
const CRONE: &str = "crone1@shakespeare.lit/desktop";
const WICCA: &str = "wiccarocks@shakespeare.lit/laptop";
const HAG: &str = "hag66@shakespeare.lit/pda";
/// A second session of hag66.
const HAG_PHONE: &str = "hag66@shakespeare.lit/phone";
const NOW: i64 = 1_700_000_000;
const PASSWORD_WINDOW: i64 = 600;

fn env() -> Env<'static> {
    Env {
        secret: b"service secret",
        now: NOW,
        limits: Limits {
            history_max: 50,
            logging_available: false,
        },
        may_enter: true,
        history_room_bytes: 1 << 20,
        history_total_bytes: 1 << 24,
        password_max_failures: 3,
        password_window: PASSWORD_WINDOW,
    }
}

fn full(s: &str) -> FullJid {
    FullJid::new(s).unwrap()
}

fn bare(s: &str) -> BareJid {
    full(s).to_bare()
}

fn xml(s: &str) -> Element {
    parse_element(s, ns::CLIENT).unwrap()
}

/// An unlocked room of `config` owned by crone1, nobody in it yet.
fn room_with(config: RoomConfig) -> Room {
    Room::new(bare_room(), config, Some(bare(CRONE)), false)
}

fn bare_room() -> BareJid {
    BareJid::new(ROOM).unwrap()
}

fn open_room() -> Room {
    room_with(RoomConfig::default())
}

/// The stanzas of `out` as they leave the service, one per recipient and with its `to`.
fn sent(out: &Out) -> Vec<Element> {
    let mut v = Vec::new();
    for d in &out.stanzas {
        match d {
            Delivery::One(el) => v.push(el.clone()),
            Delivery::Each { el, to } => {
                for t in to {
                    let mut c = el.clone();
                    c.set_attr("to", t.as_str());
                    v.push(c);
                }
            }
        }
    }
    v
}

/// What the session `jid` receives from `out`, in order.
fn to(out: &Out, jid: &str) -> Vec<Element> {
    sent(out)
        .into_iter()
        .filter(|e| e.attr("to") == Some(jid))
        .collect()
}

/// The presences `jid` receives from `out` from the occupant JID `room/nick`.
fn presences_from(out: &Out, jid: &str, nick: &str) -> Vec<Element> {
    let from = format!("{ROOM}/{nick}");
    to(out, jid)
        .into_iter()
        .filter(|e| e.name() == "presence" && e.attr("from") == Some(from.as_str()))
        .collect()
}

/// The single presence `jid` receives from `room/nick`.
fn presence_from(out: &Out, jid: &str, nick: &str) -> Element {
    let mut v = presences_from(out, jid, nick);
    assert_eq!(v.len(), 1, "one presence from {nick} to {jid}: {v:?}");
    v.remove(0)
}

fn muc_x(el: &Element) -> &Element {
    el.get_child("x", ns::MUC_USER).unwrap()
}

fn item(el: &Element) -> &Element {
    muc_x(el).get_child("item", ns::MUC_USER).unwrap()
}

/// The status codes of a presence or message, in order.
fn codes(el: &Element) -> Vec<u16> {
    el.get_child("x", ns::MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.is("status", ns::MUC_USER))
                .filter_map(|c| c.attr("code")?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn body(el: &Element) -> Option<String> {
    el.get_child("body", ns::CLIENT).map(Element::text)
}

fn occupant_id(el: &Element) -> Option<&str> {
    el.get_child("occupant-id", ns::OCCUPANT_ID)?.attr("id")
}

/// `from` asks to enter as `nick`, with `muc` inside `<x xmlns='…/muc'/>`.
fn try_join_with(
    room: &mut Room,
    env: Env<'_>,
    from: &str,
    nick: &str,
    muc: &str,
    created: bool,
) -> Result<Out, StanzaError> {
    let p = xml(&format!(
        "<presence from='{from}' to='{ROOM}/{nick}'>\
         <x xmlns='http://jabber.org/protocol/muc'>{muc}</x></presence>"
    ));
    let mut out = Out::default();
    room.presence(env, &full(from), nick, &p, created, &mut out)
        .map(|()| out)
}

fn try_join(room: &mut Room, from: &str, nick: &str) -> Result<Out, StanzaError> {
    try_join_with(room, env(), from, nick, "", false)
}

fn join(room: &mut Room, from: &str, nick: &str) -> Out {
    try_join(room, from, nick).unwrap()
}

/// crone1, wiccarocks and hag66 in an open room, in that order.
fn coven() -> Room {
    let mut room = open_room();
    join(&mut room, CRONE, "firstwitch");
    join(&mut room, WICCA, "secondwitch");
    join(&mut room, HAG, "thirdwitch");
    room
}

fn condition(r: Result<Out, StanzaError>) -> Condition {
    r.unwrap_err().condition
}

fn groupchat(room: &mut Room, from: &str, inner: &str) -> Result<Out, StanzaError> {
    let msg = xml(&format!(
        "<message from='{from}' to='{ROOM}' type='groupchat'>{inner}</message>"
    ));
    let mut out = Out::default();
    room.groupchat(env(), &full(from), &msg, &mut out)
        .map(|()| out)
}

fn admin_set(room: &mut Room, from: &str, items: &str) -> Result<Out, StanzaError> {
    let q = xml(&format!(
        "<query xmlns='http://jabber.org/protocol/muc#admin'>{items}</query>"
    ));
    let mut out = Out::default();
    room.admin_set(&full(from), &q, &mut out).map(|()| out)
}

fn admin_get(room: &Room, from: &str, item: &str) -> Result<Element, StanzaError> {
    let q = xml(&format!(
        "<query xmlns='http://jabber.org/protocol/muc#admin'>{item}</query>"
    ));
    room.admin_get(&full(from), &q)
}

/// A `muc#owner` set whose payload is `inner`; `Ok(true)` when the room is destroyed.
fn owner_set(room: &mut Room, from: &str, inner: &str) -> Result<(bool, Out), StanzaError> {
    let q = xml(&format!(
        "<query xmlns='http://jabber.org/protocol/muc#owner'>{inner}</query>"
    ));
    let mut out = Out::default();
    room.owner_set(env(), &full(from), &q, &mut out)
        .map(|d| (d, out))
}

/// A submitted configuration form with `fields` as (var, value).
fn submit(fields: &[(&str, &str)]) -> String {
    let mut f = String::from(
        "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>\
         <value>http://jabber.org/protocol/muc#roomconfig</value></field>",
    );
    for (var, value) in fields {
        f.push_str(&format!(
            "<field var='{var}'><value>{value}</value></field>"
        ));
    }
    f.push_str("</x>");
    f
}

/// The first value of field `var` in the configuration form of a `muc#owner` query.
fn form_value(query: &Element, var: &str) -> Option<String> {
    query
        .get_child("x", ns::DATA)?
        .children()
        .find(|f| f.attr("var") == Some(var))?
        .get_child("value", ns::DATA)
        .map(Element::text)
}

fn invitations(room: &mut Room, from: &str, x: &str) -> Result<Out, StanzaError> {
    let x = xml(&format!(
        "<x xmlns='http://jabber.org/protocol/muc#user'>{x}</x>"
    ));
    let mut out = Out::default();
    room.invitations(&full(from), &x, &mut out).map(|()| out)
}

// §7.2 entering.

/// §7.2.2, §10.1.1: the first occupant of a room it creates gets its own presence with
/// 110 and 201, as owner and moderator, then the (empty) subject; the locked room does
/// not exist for anybody else yet.
#[test]
fn first_occupant_creates_the_room() {
    let mut room = Room::new(bare_room(), RoomConfig::default(), Some(bare(CRONE)), true);
    let out = try_join_with(&mut room, env(), CRONE, "firstwitch", "", true).unwrap();
    let got = to(&out, CRONE);
    assert_eq!(got.len(), 2, "self-presence and subject: {got:?}");
    assert_eq!(sent(&out).len(), 2, "nobody else is told");
    let p = &got[0];
    assert_eq!(
        p.attr("from"),
        Some("coven@chat.shakespeare.lit/firstwitch")
    );
    assert_eq!(codes(p), vec![110, 201]);
    assert_eq!(item(p).attr("affiliation"), Some("owner"));
    assert_eq!(item(p).attr("role"), Some("moderator"));
    assert!(occupant_id(p).is_some_and(|id| !id.is_empty()));
    let subject = &got[1];
    assert_eq!(subject.attr("type"), Some("groupchat"));
    assert_eq!(subject.attr("from"), Some(ROOM));
    assert_eq!(
        subject.get_child("subject", ns::CLIENT).map(Element::text),
        Some(String::new()),
        "§7.2.15: the subject comes even when empty"
    );
    assert_eq!(out.entered, vec![bare(CRONE)]);

    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::ItemNotFound,
        "§10.1.1: a locked room is not there for others"
    );
}

/// §7.2.3: the newcomer first gets the presence of those already in (without real JIDs
/// in a semi-anonymous room), then its own with 110; the others get its presence
/// without 110, moderators with its real JID.
#[test]
fn second_occupant_and_first_see_each_other() {
    let mut room = open_room();
    join(&mut room, CRONE, "firstwitch");
    let out = join(&mut room, HAG, "thirdwitch");

    let got = to(&out, HAG);
    assert_eq!(
        got.len(),
        3,
        "first's presence, own presence, subject: {got:?}"
    );
    assert_eq!(
        got[0].attr("from"),
        Some("coven@chat.shakespeare.lit/firstwitch")
    );
    assert_eq!(codes(&got[0]), Vec::<u16>::new());
    assert_eq!(item(&got[0]).attr("role"), Some("moderator"));
    assert_eq!(item(&got[0]).attr("jid"), None, "§4.2: semi-anonymous");
    assert_eq!(
        got[1].attr("from"),
        Some("coven@chat.shakespeare.lit/thirdwitch")
    );
    assert_eq!(codes(&got[1]), vec![110]);
    assert_eq!(item(&got[1]).attr("affiliation"), Some("none"));
    assert_eq!(item(&got[1]).attr("role"), Some("participant"));
    assert!(got[2].has_child("subject", ns::CLIENT));

    let seen = presence_from(&out, CRONE, "thirdwitch");
    assert_eq!(codes(&seen), Vec::<u16>::new(), "110 only to the joiner");
    assert_eq!(item(&seen).attr("role"), Some("participant"));
    assert_eq!(
        item(&seen).attr("jid"),
        Some(HAG),
        "moderators see real JIDs"
    );
    assert_eq!(occupant_id(&seen), occupant_id(&got[1]));
    assert_eq!(out.entered, vec![bare(HAG)]);
}

/// §7.2.9: a nick held by someone else is a `conflict`; the same user's second session
/// shares the occupant instead, and the others hear nothing of it.
#[test]
fn nick_conflict_and_second_session() {
    let mut room = open_room();
    join(&mut room, CRONE, "firstwitch");
    join(&mut room, HAG, "thirdwitch");
    assert_eq!(
        condition(try_join(&mut room, WICCA, "thirdwitch")),
        Condition::Conflict
    );
    assert_eq!(room.occupants.len(), 2);

    let out = join(&mut room, HAG_PHONE, "thirdwitch");
    assert_eq!(room.occupants.len(), 2);
    assert!(out.entered.is_empty(), "no new occupant");
    assert!(presences_from(&out, CRONE, "thirdwitch").is_empty());
    let own = presence_from(&out, HAG_PHONE, "thirdwitch");
    assert_eq!(codes(&own), vec![110]);
    assert!(to(&out, HAG).is_empty(), "the first session is not told");
}

/// §7.2.6: a password-protected room wants the right `<password/>` (not-authorized
/// otherwise), its owner excepted; after `password_max_failures` wrong ones within the
/// window even the right one is refused (`resource-constraint`, `wait`) until the
/// window has passed.
#[test]
fn password_protected_room() {
    let mut room = room_with(RoomConfig {
        password_protected: true,
        password: "cauldronburn".to_owned(),
        ..RoomConfig::default()
    });
    try_join(&mut room, CRONE, "firstwitch").unwrap();
    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::NotAuthorized
    );
    let good = "<password>cauldronburn</password>";
    try_join_with(&mut room, env(), HAG, "thirdwitch", good, false).unwrap();

    for _ in 0..3 {
        let r = try_join_with(
            &mut room,
            env(),
            WICCA,
            "secondwitch",
            "<password>x</password>",
            false,
        );
        assert_eq!(condition(r), Condition::NotAuthorized);
    }
    let e = try_join_with(&mut room, env(), WICCA, "secondwitch", good, false).unwrap_err();
    assert_eq!(e.condition, Condition::ResourceConstraint);
    assert_eq!(e.kind, ErrorType::Wait);
    assert_eq!(room.occupants.len(), 2);

    let later = Env {
        now: NOW + PASSWORD_WINDOW,
        ..env()
    };
    let out = try_join_with(&mut room, later, WICCA, "secondwitch", good, false).unwrap();
    assert_eq!(codes(&presence_from(&out, WICCA, "secondwitch")), vec![110]);
}

/// §7.2.7: a members-only room refuses non-members with `registration-required` and lets
/// members in.
#[test]
fn members_only_room_refuses_non_members() {
    let mut room = room_with(RoomConfig {
        members_only: true,
        ..RoomConfig::default()
    });
    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::RegistrationRequired
    );
    room.affiliations
        .insert(bare(HAG), (Affiliation::Member, String::new()));
    let out = join(&mut room, HAG, "thirdwitch");
    assert_eq!(
        item(&presence_from(&out, HAG, "thirdwitch")).attr("affiliation"),
        Some("member")
    );
}

/// §7.2.10: a full room refuses newcomers (`service-unavailable`, `wait`) but not its
/// admins; the per-account room quota refuses with `resource-constraint`.
#[test]
fn max_occupants_and_joined_rooms_quota() {
    let mut room = room_with(RoomConfig {
        max_users: 2,
        ..RoomConfig::default()
    });
    room.affiliations
        .insert(bare(WICCA), (Affiliation::Admin, String::new()));
    join(&mut room, CRONE, "firstwitch");
    join(&mut room, "hecate@shakespeare.lit/broom", "hecate");
    let e = try_join(&mut room, HAG, "thirdwitch").unwrap_err();
    assert_eq!(e.condition, Condition::ServiceUnavailable);
    assert_eq!(e.kind, ErrorType::Wait);
    join(&mut room, WICCA, "secondwitch");
    assert_eq!(room.occupants.len(), 3);

    let mut other = open_room();
    let quota = Env {
        may_enter: false,
        ..env()
    };
    let r = try_join_with(&mut other, quota, HAG, "thirdwitch", "", false);
    assert_eq!(condition(r), Condition::ResourceConstraint);
    assert!(other.occupants.is_empty());
}

/// §7.2.8: an outcast cannot enter.
#[test]
fn outcast_cannot_enter() {
    let mut room = open_room();
    room.affiliations
        .insert(bare(HAG), (Affiliation::Outcast, String::new()));
    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::Forbidden
    );
}

// §7.4, §7.5, §8.1 messages.

/// §7.4: a groupchat message reaches every session of every occupant, the sender
/// included, from the sender's occupant JID with its occupant id (a client-supplied one
/// is dropped), and a later joiner gets it as history with a delay.
#[test]
fn groupchat_fans_out_from_the_occupant_jid() {
    let mut room = open_room();
    join(&mut room, CRONE, "firstwitch");
    join(&mut room, WICCA, "secondwitch");
    let joined = join(&mut room, HAG, "thirdwitch");
    let own_id = occupant_id(&presence_from(&joined, HAG, "thirdwitch")).map(str::to_owned);
    join(&mut room, HAG_PHONE, "thirdwitch");
    let out = groupchat(
        &mut room,
        HAG,
        "<body>Harpier cries: 'tis time, 'tis time.</body>\
         <occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/>",
    )
    .unwrap();
    let all = sent(&out);
    assert_eq!(all.len(), 4, "three occupants, four sessions: {all:?}");
    for jid in [CRONE, WICCA, HAG, HAG_PHONE] {
        let got = to(&out, jid);
        assert_eq!(got.len(), 1, "one copy for {jid}");
        let m = &got[0];
        assert_eq!(
            m.attr("from"),
            Some("coven@chat.shakespeare.lit/thirdwitch")
        );
        assert_eq!(m.attr("type"), Some("groupchat"));
        assert_eq!(
            body(m).as_deref(),
            Some("Harpier cries: 'tis time, 'tis time.")
        );
        let ids: Vec<&str> = m
            .children()
            .filter(|c| c.is("occupant-id", ns::OCCUPANT_ID))
            .filter_map(|c| c.attr("id"))
            .collect();
        assert_eq!(ids, vec![own_id.as_deref().unwrap()]);
    }

    let out = join(&mut room, "hecate@shakespeare.lit/broom", "hecate");
    let got = to(&out, "hecate@shakespeare.lit/broom");
    let history: Vec<&Element> = got
        .iter()
        .filter(|e| e.name() == "message" && body(e).is_some())
        .collect();
    assert_eq!(history.len(), 1);
    assert_eq!(
        history[0].attr("from"),
        Some("coven@chat.shakespeare.lit/thirdwitch")
    );
    assert!(history[0].has_child("delay", ns::DELAY));
}

/// §7.4: visitors of a moderated room may not speak (`forbidden`), and someone not in
/// the room is `not-acceptable`; nothing is relayed.
#[test]
fn visitor_in_moderated_room_and_non_occupant_refused() {
    let mut room = room_with(RoomConfig {
        moderated: true,
        ..RoomConfig::default()
    });
    join(&mut room, CRONE, "firstwitch");
    let out = join(&mut room, HAG, "thirdwitch");
    assert_eq!(
        item(&presence_from(&out, HAG, "thirdwitch")).attr("role"),
        Some("visitor")
    );
    assert_eq!(
        condition(groupchat(&mut room, HAG, "<body>hello?</body>")),
        Condition::Forbidden
    );
    assert_eq!(
        condition(groupchat(&mut room, WICCA, "<body>hello?</body>")),
        Condition::NotAcceptable
    );
    let out = join(&mut room, "hecate@shakespeare.lit/broom", "hecate");
    assert!(
        to(&out, "hecate@shakespeare.lit/broom")
            .iter()
            .all(|e| body(e).is_none()),
        "nothing went into the history"
    );
}

/// §8.1: participants may not change the subject by default, moderators may; the new
/// subject comes from the moderator's occupant JID, to everybody and to later joiners.
#[test]
fn subject_changes() {
    let mut room = coven();
    assert_eq!(
        condition(groupchat(&mut room, HAG, "<subject>Fire Burn</subject>")),
        Condition::Forbidden
    );
    let out = groupchat(
        &mut room,
        CRONE,
        "<subject>Fire Burn and Cauldron Bubble!</subject>",
    )
    .unwrap();
    assert!(out.save);
    let m = &to(&out, HAG)[0];
    assert_eq!(
        m.attr("from"),
        Some("coven@chat.shakespeare.lit/firstwitch")
    );
    let out = join(&mut room, "hecate@shakespeare.lit/broom", "hecate");
    let last = to(&out, "hecate@shakespeare.lit/broom").pop().unwrap();
    assert_eq!(
        last.attr("from"),
        Some("coven@chat.shakespeare.lit/firstwitch")
    );
    assert_eq!(
        last.get_child("subject", ns::CLIENT)
            .map(Element::text)
            .as_deref(),
        Some("Fire Burn and Cauldron Bubble!")
    );
}

/// §7.5: a private message to `room/nick` reaches every session of that occupant, from
/// the sender's occupant JID and marked with `<x xmlns='…#user'/>`; an unknown nick is
/// `item-not-found`; a groupchat-typed one is `bad-request`.
#[test]
fn private_messages_route_to_the_nick() {
    let mut room = coven();
    join(&mut room, HAG_PHONE, "thirdwitch");
    let msg = xml(&format!(
        "<message from='{WICCA}' to='{ROOM}/thirdwitch' type='chat'>\
         <body>I'll give thee a wind.</body></message>"
    ));
    let mut out = Out::default();
    room.private_message(&full(WICCA), "thirdwitch", &msg, &mut out)
        .unwrap();
    assert_eq!(sent(&out).len(), 2);
    for jid in [HAG, HAG_PHONE] {
        let got = to(&out, jid);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].attr("from"),
            Some("coven@chat.shakespeare.lit/secondwitch")
        );
        assert_eq!(body(&got[0]).as_deref(), Some("I'll give thee a wind."));
        assert!(got[0].has_child("x", ns::MUC_USER));
    }

    let mut out = Out::default();
    let e = room
        .private_message(&full(WICCA), "fourthwitch", &msg, &mut out)
        .unwrap_err();
    assert_eq!(e.condition, Condition::ItemNotFound);
    let gc = xml(&format!(
        "<message from='{WICCA}' to='{ROOM}/thirdwitch' type='groupchat'><body>x</body></message>"
    ));
    let e = room
        .private_message(&full(WICCA), "thirdwitch", &gc, &mut out)
        .unwrap_err();
    assert_eq!(e.condition, Condition::BadRequest);
    assert!(out.stanzas.is_empty());
}

/// §7.5 for IQs and XEP-0410: an IQ get to an occupant goes to its first session from
/// the sender's occupant JID; a self-ping is answered by the room; an unknown nick is
/// `item-not-found`.
#[test]
fn iq_to_occupants_and_self_ping() {
    let room = coven();
    let iq = xml(&format!(
        "<iq from='{WICCA}' to='{ROOM}/thirdwitch' type='get' id='v1'>\
         <query xmlns='jabber:iq:version'/></iq>"
    ));
    let mut out = Out::default();
    room.iq_to_occupant(&full(WICCA), "thirdwitch", &iq, &mut out)
        .unwrap();
    let got = to(&out, HAG);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].attr("from"),
        Some("coven@chat.shakespeare.lit/secondwitch")
    );

    let ping = xml(&format!(
        "<iq from='{HAG}' to='{ROOM}/thirdwitch' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>"
    ));
    let mut out = Out::default();
    room.iq_to_occupant(&full(HAG), "thirdwitch", &ping, &mut out)
        .unwrap();
    let got = to(&out, HAG);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attr("type"), Some("result"));
    assert_eq!(got[0].attr("id"), Some("p1"));

    let mut out = Out::default();
    let e = room
        .iq_to_occupant(&full(WICCA), "fourthwitch", &iq, &mut out)
        .unwrap_err();
    assert_eq!(e.condition, Condition::ItemNotFound);
}

// §7.6 nick change, §7.14 leaving.

/// §7.6: the others see the old nick leave with 303 and the new nick, then the new nick
/// arrive; the occupant gets the same with 110. A nick in use is a `conflict`.
#[test]
fn nick_change_with_303() {
    let mut room = coven();
    let p = xml(&format!("<presence from='{HAG}' to='{ROOM}/oldhag'/>"));
    let mut out = Out::default();
    room.presence(env(), &full(HAG), "oldhag", &p, false, &mut out)
        .unwrap();

    let old = presence_from(&out, CRONE, "thirdwitch");
    assert_eq!(old.attr("type"), Some("unavailable"));
    assert_eq!(codes(&old), vec![303]);
    assert_eq!(item(&old).attr("nick"), Some("oldhag"));
    assert_eq!(
        item(&old).attr("role"),
        Some("participant"),
        "§7.6.2 keeps the role"
    );
    let new = presence_from(&out, CRONE, "oldhag");
    assert_eq!(new.attr("type"), None);

    let own_old = presence_from(&out, HAG, "thirdwitch");
    assert_eq!(codes(&own_old), vec![110, 303]);
    let own_new = presence_from(&out, HAG, "oldhag");
    assert_eq!(codes(&own_new), vec![110]);
    assert_eq!(occupant_id(&own_new), occupant_id(&own_old));

    let p = xml(&format!("<presence from='{HAG}' to='{ROOM}/secondwitch'/>"));
    let mut out = Out::default();
    let e = room
        .presence(env(), &full(HAG), "secondwitch", &p, false, &mut out)
        .unwrap_err();
    assert_eq!(e.condition, Condition::Conflict);
    assert!(room.by_nick("oldhag").is_some());
}

/// §7.14: the leaver gets its unavailable presence with 110 and role `none`, the others
/// without 110; the occupant is gone. With two sessions, the first to leave only tells
/// itself.
#[test]
fn leaving() {
    let mut room = coven();
    join(&mut room, HAG_PHONE, "thirdwitch");
    let leave = |from: &str| {
        xml(&format!(
            "<presence from='{from}' to='{ROOM}/thirdwitch' type='unavailable'>\
             <status>Off to the heath</status></presence>"
        ))
    };

    let mut out = Out::default();
    room.presence(
        env(),
        &full(HAG_PHONE),
        "thirdwitch",
        &leave(HAG_PHONE),
        false,
        &mut out,
    )
    .unwrap();
    assert_eq!(sent(&out).len(), 1);
    assert_eq!(
        codes(&presence_from(&out, HAG_PHONE, "thirdwitch")),
        vec![110]
    );
    assert!(out.left.is_empty());
    assert!(room.by_nick("thirdwitch").is_some());

    let mut out = Out::default();
    room.presence(
        env(),
        &full(HAG),
        "thirdwitch",
        &leave(HAG),
        false,
        &mut out,
    )
    .unwrap();
    let own = presence_from(&out, HAG, "thirdwitch");
    assert_eq!(own.attr("type"), Some("unavailable"));
    assert_eq!(codes(&own), vec![110]);
    assert_eq!(item(&own).attr("role"), Some("none"));
    assert_eq!(
        own.get_child("status", ns::CLIENT)
            .map(Element::text)
            .as_deref(),
        Some("Off to the heath")
    );
    for jid in [CRONE, WICCA] {
        let p = presence_from(&out, jid, "thirdwitch");
        assert_eq!(p.attr("type"), Some("unavailable"));
        assert_eq!(codes(&p), Vec::<u16>::new());
    }
    assert_eq!(out.left, vec![bare(HAG)]);
    assert!(room.by_nick("thirdwitch").is_none());
}

/// A session that cannot be reached is dropped with 333 (XEP-0410 §4).
#[test]
fn dropped_session_leaves_with_333() {
    let mut room = coven();
    let mut out = Out::default();
    room.drop_session(&full(HAG), &mut out);
    assert_eq!(codes(&presence_from(&out, CRONE, "thirdwitch")), vec![333]);
    assert_eq!(out.left, vec![bare(HAG)]);
}

// §8, §9 administration.

/// §8.2: a moderator kicks a participant: it leaves with 307 (110 for it), the actor
/// and the reason; it may come back.
#[test]
fn moderator_kicks_with_307() {
    let mut room = coven();
    let out = admin_set(
        &mut room,
        CRONE,
        "<item nick='thirdwitch' role='none'><reason>Avaunt, you cullion!</reason></item>",
    )
    .unwrap();
    let p = presence_from(&out, HAG, "thirdwitch");
    assert_eq!(p.attr("type"), Some("unavailable"));
    assert_eq!(codes(&p), vec![110, 307]);
    let it = item(&p);
    assert_eq!(it.attr("role"), Some("none"));
    assert_eq!(
        it.get_child("actor", ns::MUC_USER)
            .and_then(|a| a.attr("nick")),
        Some("firstwitch")
    );
    assert_eq!(
        it.get_child("reason", ns::MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("Avaunt, you cullion!")
    );
    for jid in [CRONE, WICCA] {
        assert_eq!(codes(&presence_from(&out, jid, "thirdwitch")), vec![307]);
    }
    assert_eq!(out.left, vec![bare(HAG)]);
    assert!(room.by_nick("thirdwitch").is_none());
    join(&mut room, HAG, "thirdwitch");
}

/// §9.1: an admin bans a user: it leaves with 301, is on the outcast list (§9.2) and
/// cannot enter again (§7.2.8). An admin cannot ban an owner.
#[test]
fn admin_bans_with_301() {
    let mut room = open_room();
    room.affiliations
        .insert(bare(WICCA), (Affiliation::Admin, String::new()));
    join(&mut room, CRONE, "firstwitch");
    join(&mut room, WICCA, "secondwitch");
    join(&mut room, HAG, "thirdwitch");

    let out = admin_set(
        &mut room,
        WICCA,
        "<item affiliation='outcast' jid='hag66@shakespeare.lit'><reason>Treason</reason></item>",
    )
    .unwrap();
    assert!(out.save);
    let p = presence_from(&out, HAG, "thirdwitch");
    assert_eq!(codes(&p), vec![110, 301]);
    assert_eq!(item(&p).attr("affiliation"), Some("outcast"));
    assert_eq!(codes(&presence_from(&out, CRONE, "thirdwitch")), vec![301]);
    assert_eq!(room.affiliation(&bare(HAG)), Affiliation::Outcast);

    let list = admin_get(&room, WICCA, "<item affiliation='outcast'/>").unwrap();
    let items: Vec<(Option<&str>, String)> = list
        .children()
        .map(|i| {
            let reason = i.get_child("reason", ns::MUC_ADMIN).map(Element::text);
            (i.attr("jid"), reason.unwrap_or_default())
        })
        .collect();
    assert_eq!(
        items,
        vec![(Some("hag66@shakespeare.lit"), "Treason".to_owned())]
    );

    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::Forbidden
    );
    assert_eq!(
        condition(admin_set(
            &mut room,
            WICCA,
            "<item affiliation='outcast' jid='crone1@shakespeare.lit'/>"
        )),
        Condition::NotAllowed
    );
    assert_eq!(room.affiliation(&bare(CRONE)), Affiliation::Owner);
}

/// §8.2, §9.1, §9.5: a participant may neither kick, ban, grant voice nor read the
/// lists; nothing changes and nobody is told.
#[test]
fn participant_may_not_administer() {
    let mut room = coven();
    for items in [
        "<item nick='thirdwitch' role='none'/>",
        "<item nick='thirdwitch' role='visitor'/>",
        "<item affiliation='outcast' jid='hag66@shakespeare.lit'/>",
        "<item affiliation='member' jid='hecate@shakespeare.lit'/>",
    ] {
        assert_eq!(
            condition(admin_set(&mut room, WICCA, items)),
            Condition::NotAllowed,
            "{items}"
        );
    }
    assert_eq!(
        admin_get(&room, WICCA, "<item affiliation='outcast'/>")
            .unwrap_err()
            .condition,
        Condition::Forbidden
    );
    assert_eq!(
        admin_get(&room, WICCA, "<item role='participant'/>")
            .unwrap_err()
            .condition,
        Condition::Forbidden
    );
    assert_eq!(room.occupants.len(), 3);
    assert!(room.occupants.iter().all(|o| o.role != Role::Visitor));
    assert_eq!(room.affiliation(&bare(HAG)), Affiliation::None);
    assert!(
        !room
            .affiliations
            .contains_key(&BareJid::new("hecate@shakespeare.lit").unwrap())
    );
}

/// §8.3/§8.4 through a role change: a moderator revokes voice and the room sees the
/// occupant as a visitor.
#[test]
fn moderator_revokes_voice() {
    let mut room = coven();
    let out = admin_set(&mut room, CRONE, "<item nick='thirdwitch' role='visitor'/>").unwrap();
    assert_eq!(
        item(&presence_from(&out, WICCA, "thirdwitch")).attr("role"),
        Some("visitor")
    );
    assert_eq!(
        condition(groupchat(&mut room, HAG, "<body>hello?</body>")),
        Condition::Forbidden
    );
}

/// §10.3/§10.4: the last owner cannot give up ownership.
#[test]
fn last_owner_stays() {
    let mut room = coven();
    assert_eq!(
        condition(admin_set(
            &mut room,
            CRONE,
            "<item affiliation='admin' jid='crone1@shakespeare.lit'/>"
        )),
        Condition::Conflict
    );
    assert_eq!(room.affiliation(&bare(CRONE)), Affiliation::Owner);
}

// §10 owners.

/// §10.2: the owner gets the configuration form with the current values; others are
/// `forbidden`. Submitting members-only takes effect: the occupants learn of the change
/// (104), non-members leave with 322 and newcomers need membership.
#[test]
fn owner_configures_the_room() {
    let mut room = coven();
    room.affiliations
        .insert(bare(WICCA), (Affiliation::Member, String::new()));
    let q = room.owner_get(&full(CRONE)).unwrap();
    assert_eq!(
        q.get_child("x", ns::DATA).and_then(|x| x.attr("type")),
        Some("form")
    );
    assert_eq!(
        form_value(&q, "muc#roomconfig_membersonly").as_deref(),
        Some("0")
    );
    assert_eq!(
        form_value(&q, "muc#roomconfig_roomowners").as_deref(),
        Some("crone1@shakespeare.lit")
    );
    assert_eq!(
        room.owner_get(&full(WICCA)).unwrap_err().condition,
        Condition::Forbidden
    );

    let (destroyed, out) = owner_set(
        &mut room,
        CRONE,
        &submit(&[("muc#roomconfig_membersonly", "1")]),
    )
    .unwrap();
    assert!(!destroyed);
    assert!(out.save);
    let q = room.owner_get(&full(CRONE)).unwrap();
    assert_eq!(
        form_value(&q, "muc#roomconfig_membersonly").as_deref(),
        Some("1")
    );
    let gone = presence_from(&out, HAG, "thirdwitch");
    assert_eq!(codes(&gone), vec![110, 322]);
    assert_eq!(codes(&presence_from(&out, CRONE, "thirdwitch")), vec![322]);
    let notice: Vec<Element> = to(&out, WICCA)
        .into_iter()
        .filter(|e| e.name() == "message")
        .collect();
    assert_eq!(notice.len(), 1);
    assert_eq!(notice[0].attr("from"), Some(ROOM));
    assert_eq!(codes(&notice[0]), vec![104]);
    assert!(
        to(&out, HAG).iter().all(|e| e.name() == "presence"),
        "hag66 left first"
    );
    assert_eq!(
        condition(try_join(&mut room, HAG, "thirdwitch")),
        Condition::RegistrationRequired
    );

    assert_eq!(
        owner_set(&mut room, WICCA, &submit(&[]))
            .unwrap_err()
            .condition,
        Condition::Forbidden
    );
    assert_eq!(
        owner_set(
            &mut room,
            CRONE,
            &submit(&[("muc#roomconfig_passwordprotectedroom", "1")])
        )
        .unwrap_err()
        .condition,
        Condition::NotAcceptable,
        "a protected room needs a password"
    );
    assert!(!room.config.password_protected);
}

/// §10.1.2: submitting the form of a just-created room unlocks it without telling
/// anyone of a change (104); others may then enter.
#[test]
fn configuring_a_new_room_unlocks_it() {
    let mut room = Room::new(bare_room(), RoomConfig::default(), Some(bare(CRONE)), true);
    try_join_with(&mut room, env(), CRONE, "firstwitch", "", true).unwrap();
    let (_, out) = owner_set(&mut room, CRONE, &submit(&[])).unwrap();
    assert!(!room.locked);
    assert!(out.stanzas.is_empty());
    join(&mut room, HAG, "thirdwitch");
}

/// §10.9: destroying tells every occupant, with the alternate venue and the reason,
/// that it is no longer in the room; the room is gone. Others may not destroy it.
#[test]
fn owner_destroys_the_room() {
    let mut room = coven();
    let destroy = "<destroy jid='coven@chat.shakespeare.lit'>\
                   <reason>Macbeth doth come.</reason></destroy>";
    assert_eq!(
        owner_set(&mut room, HAG, destroy).unwrap_err().condition,
        Condition::Forbidden
    );
    let (destroyed, out) = owner_set(&mut room, CRONE, destroy).unwrap();
    assert!(destroyed);
    assert!(room.gone);
    assert!(room.occupants.is_empty());
    assert_eq!(out.left.len(), 3);
    for (jid, nick) in [
        (CRONE, "firstwitch"),
        (WICCA, "secondwitch"),
        (HAG, "thirdwitch"),
    ] {
        let got = to(&out, jid);
        assert_eq!(got.len(), 1, "{jid}");
        let p = &got[0];
        assert_eq!(p.attr("from"), Some(&*format!("{ROOM}/{nick}")));
        assert_eq!(p.attr("type"), Some("unavailable"));
        assert_eq!(item(p).attr("affiliation"), Some("none"));
        assert_eq!(item(p).attr("role"), Some("none"));
        let d = muc_x(p).get_child("destroy", ns::MUC_USER).unwrap();
        assert_eq!(d.attr("jid"), Some("coven@chat.shakespeare.lit"));
        assert_eq!(
            d.get_child("reason", ns::MUC_USER)
                .map(Element::text)
                .as_deref(),
            Some("Macbeth doth come.")
        );
    }
}

// §7.8 invitations.

/// §7.8.2, §9.3: the owner invites to a members-only room: the invitee gets the
/// invitation from the room (with the password of a protected room) and becomes a
/// member, so it may enter.
#[test]
fn invitation_to_members_only_room_makes_a_member() {
    let mut room = room_with(RoomConfig {
        members_only: true,
        password_protected: true,
        password: "cauldronburn".to_owned(),
        ..RoomConfig::default()
    });
    join(&mut room, CRONE, "firstwitch");
    let out = invitations(
        &mut room,
        CRONE,
        "<invite to='hecate@shakespeare.lit'><reason>Hey Hecate, this is the place for all good witches!</reason></invite>",
    )
    .unwrap();
    assert!(out.save);
    assert_eq!(
        room.affiliation(&BareJid::new("hecate@shakespeare.lit").unwrap()),
        Affiliation::Member
    );
    let got = to(&out, "hecate@shakespeare.lit");
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.attr("from"), Some(ROOM));
    let inv = muc_x(m).get_child("invite", ns::MUC_USER).unwrap();
    assert_eq!(inv.attr("from"), Some("crone1@shakespeare.lit"));
    assert_eq!(
        inv.get_child("reason", ns::MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("Hey Hecate, this is the place for all good witches!")
    );
    assert_eq!(
        muc_x(m)
            .get_child("password", ns::MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("cauldronburn")
    );
    let r = try_join_with(
        &mut room,
        env(),
        "hecate@shakespeare.lit/broom",
        "hecate",
        "<password>cauldronburn</password>",
        false,
    );
    assert!(r.is_ok());
}

/// §7.8.2: a decline goes from the invitee to its inviter, once; a decline without a
/// pending invitation is `not-acceptable`.
#[test]
fn decline_is_relayed_once_to_the_inviter() {
    let mut room = open_room();
    join(&mut room, CRONE, "firstwitch");
    invitations(&mut room, CRONE, "<invite to='hecate@shakespeare.lit'/>").unwrap();
    assert_eq!(
        condition(invitations(
            &mut room,
            WICCA,
            "<decline to='crone1@shakespeare.lit'/>"
        )),
        Condition::NotAcceptable,
        "wiccarocks was not invited"
    );

    let decline = "<decline to='crone1@shakespeare.lit'><reason>Sorry, I'm too busy right now.</reason></decline>";
    let out = invitations(&mut room, "hecate@shakespeare.lit/broom", decline).unwrap();
    let got = to(&out, "crone1@shakespeare.lit");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attr("from"), Some(ROOM));
    let d = muc_x(&got[0]).get_child("decline", ns::MUC_USER).unwrap();
    assert_eq!(d.attr("from"), Some("hecate@shakespeare.lit"));
    assert_eq!(
        d.get_child("reason", ns::MUC_USER)
            .map(Element::text)
            .as_deref(),
        Some("Sorry, I'm too busy right now.")
    );
    assert_eq!(
        condition(invitations(
            &mut room,
            "hecate@shakespeare.lit/broom",
            decline
        )),
        Condition::NotAcceptable,
        "only once"
    );
}

/// §7.8.2: a participant may invite only when `muc#roomconfig_allowinvites` is on;
/// someone not in the room may not invite at all.
#[test]
fn invitations_need_allowinvites() {
    let mut room = coven();
    let invite = "<invite to='hecate@shakespeare.lit'/>";
    assert_eq!(
        condition(invitations(&mut room, HAG, invite)),
        Condition::Forbidden
    );
    assert_eq!(
        condition(invitations(
            &mut room,
            "macbeth@shakespeare.lit/castle",
            invite
        )),
        Condition::NotAcceptable
    );
    room.config.allow_invites = true;
    let out = invitations(&mut room, HAG, invite).unwrap();
    assert_eq!(to(&out, "hecate@shakespeare.lit").len(), 1);
    assert!(!out.save, "no membership granted in an open room");
}
