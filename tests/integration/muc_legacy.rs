//! The protocols older than XEP-0045 that the service still answers, as adapters onto
//! the same rooms: the groupchat 1.0 presence join (XEP-0045 §7.2.1) and the
//! `jabber:iq:conference` entrance negotiation (get: requirements; set: join; errors
//! with their legacy codes 401/404/405/409).

use crate::common::muc::*;
use crate::common::*;

/// XEP-0045 §7.2.1: presence to `room/nick` without the MUC `<x/>` joins the room; the
/// other occupants see the newcomer and messages flow both ways.
#[tokio::test]
async fn groupchat_1_0_join() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("oldies");
    alice.create_room(&r, "Alice", &[]).await;

    bob.send_join(&r, "Bob", None).await;
    let j = bob.read_join(&r).await.expect("gc 1.0 join");
    assert_eq!(j.self_presence.attr("from"), Some(&*format!("{r}/Bob")));
    assert_eq!(j.others.len(), 1);
    alice.expect_presence(&format!("{r}/Bob"), "").await;

    bob.say(&r, "Bob", "hi from 1999").await;
    alice.expect_groupchat(&format!("{r}/Bob")).await;
    alice.say(&r, "Alice", "welcome back").await;
    bob.expect_groupchat(&format!("{r}/Alice")).await;
    bob.leave(&r, "Bob").await;
    alice
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
}

fn iq_conf(id: &str, to: &str, ty: &str, inner: &str) -> String {
    format!(
        "<iq type='{ty}' id='{id}' to='{to}'><query xmlns='{IQ_CONFERENCE}'>{inner}</query></iq>"
    )
}

fn child_text(r: &allium::xml::Element, name: &str) -> Option<String> {
    r.get_child("query", IQ_CONFERENCE)
        .and_then(|q| q.get_child(name, IQ_CONFERENCE))
        .map(|c| c.text())
}

/// `jabber:iq:conference` get: the requirements (`<nick/>`, `<secret/>` when the room
/// is password protected, and the room's `<name/>`); set with nick (and secret) joins
/// and returns the assigned nick and the occupant JID as `<id/>`; the other occupants
/// see the newcomer.
#[tokio::test]
async fn iq_conference_get_and_set() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let open = room("open");
    let locked = room("locked");
    alice
        .create_room(&open, "Alice", &[("muc#roomconfig_roomname", "Open Room")])
        .await;
    alice
        .create_room(
            &locked,
            "Alice",
            &[
                ("muc#roomconfig_roomname", "Locked Room"),
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "k3y"),
            ],
        )
        .await;

    let r = bob.iq("g1", &iq_conf("g1", &open, "get", "")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    let q = r.get_child("query", IQ_CONFERENCE).expect("query");
    assert!(q.get_child("nick", IQ_CONFERENCE).is_some());
    assert!(q.get_child("secret", IQ_CONFERENCE).is_none());
    assert_eq!(child_text(&r, "name").as_deref(), Some("Open Room"));

    let r = bob.iq("g2", &iq_conf("g2", &locked, "get", "")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    let q = r.get_child("query", IQ_CONFERENCE).expect("query");
    assert!(
        q.get_child("secret", IQ_CONFERENCE).is_some(),
        "a secret is required"
    );
    assert_eq!(child_text(&r, "name").as_deref(), Some("Locked Room"));

    let r = bob
        .iq("s1", &iq_conf("s1", &open, "set", "<nick>Bob</nick>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    assert_eq!(child_text(&r, "nick").as_deref(), Some("Bob"));
    assert_eq!(child_text(&r, "id"), Some(format!("{open}/Bob")));
    alice.expect_presence(&format!("{open}/Bob"), "").await;
    alice.say(&open, "Alice", "hello bob").await;
    bob.expect_groupchat(&format!("{open}/Alice")).await;

    let r = bob
        .iq(
            "s2",
            &iq_conf("s2", &locked, "set", "<nick>Bob</nick><secret>k3y</secret>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    assert_eq!(child_text(&r, "id"), Some(format!("{locked}/Bob")));
    alice.expect_presence(&format!("{locked}/Bob"), "").await;
}

/// `jabber:iq:conference` errors with their legacy codes: a wrong secret is 401
/// (`not-authorized`), an unknown room 404 (`item-not-found`), a room the user may not
/// enter (banned) 405 (`not-allowed`), a nick in use 409 (`conflict`).
#[tokio::test]
async fn iq_conference_errors() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let locked = room("vault");
    let banned = room("no-bob");
    alice
        .create_room(
            &locked,
            "Alice",
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "k3y"),
            ],
        )
        .await;
    alice.create_room(&banned, "Alice", &[]).await;
    alice
        .admin_ok(&banned, "<item affiliation='outcast' jid='bob@localhost'/>")
        .await;

    let check = |r: &allium::xml::Element, code: &str, cond: &str| {
        assert_eq!(r.attr("type"), Some("error"), "{}", r.to_xml(CLIENT_NS));
        assert_eq!(
            stanza_error(r).as_deref(),
            Some(cond),
            "{}",
            r.to_xml(CLIENT_NS)
        );
        assert_eq!(
            error_code(r).as_deref(),
            Some(code),
            "{}",
            r.to_xml(CLIENT_NS)
        );
    };

    let r = bob
        .iq(
            "e1",
            &iq_conf(
                "e1",
                &locked,
                "set",
                "<nick>Bob</nick><secret>nope</secret>",
            ),
        )
        .await;
    check(&r, "401", "not-authorized");
    let r = bob
        .iq("e2", &iq_conf("e2", &room("ghost"), "get", ""))
        .await;
    check(&r, "404", "item-not-found");
    let r = bob
        .iq(
            "e3",
            &iq_conf("e3", &room("ghost"), "set", "<nick>Bob</nick>"),
        )
        .await;
    check(&r, "404", "item-not-found");
    let r = bob
        .iq("e4", &iq_conf("e4", &banned, "set", "<nick>Bob</nick>"))
        .await;
    check(&r, "405", "not-allowed");
    let r = bob
        .iq(
            "e5",
            &iq_conf(
                "e5",
                &locked,
                "set",
                "<nick>Alice</nick><secret>k3y</secret>",
            ),
        )
        .await;
    check(&r, "409", "conflict");
    alice.drain().await;
    alice.assert_idle("nobody joined").await;
}
