//! XEP-0045 Multi-User Chat (1.35) as occupants see it: the service and room disco,
//! room creation, join/leave, nick changes, subject, groupchat and private messages,
//! invitations (mediated §7.8.2 and XEP-0249 direct), XEP-0421 occupant ids and
//! XEP-0410 self-ping. Room options are in `muc_options`, owner/admin use cases in
//! `muc_admin`, the old protocols in `muc_legacy`.

use std::time::Duration;

use allium::xml::Element;

use crate::common::im::*;
use crate::common::muc::*;
use crate::common::*;

/// XEP-0045 §6.1: the service is listed in the server's disco#items; §6.2: its identity
/// is conference/text and it has the MUC feature. §6.3: a room that is not public is not
/// listed in the service's items; §6.4: the room's disco#info names the room's features.
#[tokio::test]
async fn service_and_room_discovery() {
    let server = muc_server("", &["alice"]);
    let mut alice = user(&server, "alice", "phone").await;

    let items = alice.disco_items("localhost").await;
    assert!(items.iter().any(|j| j == SERVICE), "{items:?}");

    let r = alice.disco_info(SERVICE).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    let q = r.get_child("query", DISCO_INFO).unwrap();
    assert!(
        q.children().any(|i| i.is("identity", DISCO_INFO)
            && i.attr("category") == Some("conference")
            && i.attr("type") == Some("text")),
        "identity conference/text: {}",
        r.to_xml(CLIENT_NS)
    );
    assert!(info_features(&r).iter().any(|f| f == MUC_NS));

    let lobby = room("lobby");
    alice.create_room(&lobby, "Alice", &[]).await;
    // Default: not public (muc_hidden), temporary, open, unmoderated, semi-anonymous,
    // unsecured (§16.3 features).
    let r = alice.disco_info(&lobby).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    let f = info_features(&r);
    for want in [
        MUC_NS,
        "muc_hidden",
        "muc_temporary",
        "muc_open",
        "muc_unmoderated",
        "muc_semianonymous",
        "muc_unsecured",
    ] {
        assert!(f.iter().any(|x| x == want), "room feature {want} in {f:?}");
    }
    assert!(
        r.get_child("query", DISCO_INFO)
            .unwrap()
            .children()
            .any(|i| i.is("identity", DISCO_INFO)
                && i.attr("category") == Some("conference")
                && i.attr("type") == Some("text")),
        "room identity"
    );
    let items = alice.disco_items(SERVICE).await;
    assert!(
        !items.contains(&lobby),
        "a hidden room is not listed: {items:?}"
    );

    // §6.2: an unknown room does not exist for disco.
    let r = alice.disco_info(&room("nowhere")).await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(stanza_error(&r).as_deref(), Some("item-not-found"));
}

/// §10.1.1: joining a room that does not exist creates it locked: the creator is owner
/// and moderator (201 + 110), others get `item-not-found` until the owner accepts the
/// instant configuration (§10.1.2). §7.2.3/§7.2.4: the next joiner receives the
/// occupants' presence, then its own with 110, then (§7.2.15) the subject; existing
/// occupants get the new presence. §7.4: a groupchat message goes to every occupant
/// (the sender too) from `room/nick`. §7.14: leaving sends unavailable to all, with
/// 110 to the leaver.
#[tokio::test]
async fn instant_room_join_talk_and_leave() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("coffee");

    let j = alice.join(&r, "Alice").await;
    assert_eq!(j.codes(), vec![110, 201]);
    assert_eq!(j.item().attr("affiliation"), Some("owner"));
    assert_eq!(j.item().attr("role"), Some("moderator"));
    assert_eq!(j.self_presence.attr("from"), Some(&*format!("{r}/Alice")));

    // Locked: nobody else gets in (§10.1.1).
    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "item-not-found");

    // §10.1.2 instant room.
    let reply = alice.configure(&r, &[]).await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    alice.drain().await;

    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.codes(), vec![110]);
    assert_eq!(j.item().attr("affiliation"), Some("none"));
    assert_eq!(j.item().attr("role"), Some("participant"));
    assert_eq!(j.others.len(), 1, "alice's presence first (§7.2.3)");
    assert_eq!(j.others[0].attr("from"), Some(&*format!("{r}/Alice")));
    let ai = muc_item(&j.others[0]).unwrap();
    assert_eq!(ai.attr("affiliation"), Some("owner"));
    assert_eq!(ai.attr("role"), Some("moderator"));
    assert!(j.subject.is_some(), "§7.2.15: the subject comes last");
    assert!(j.history.is_empty());

    let p = alice.expect_presence(&format!("{r}/Bob"), "").await;
    assert_eq!(muc_item(&p).unwrap().attr("role"), Some("participant"));
    assert!(!status_codes(&p).contains(&110), "110 only to the joiner");

    // §7.4: messages reach everybody, the sender included.
    bob.say(&r, "Bob", "hello room").await;
    let m = alice.expect_groupchat(&format!("{r}/Bob")).await;
    assert_eq!(body(&m).as_deref(), Some("hello room"));
    alice.say(&r, "Alice", "welcome").await;
    let m = bob.expect_groupchat(&format!("{r}/Alice")).await;
    assert_eq!(body(&m).as_deref(), Some("welcome"));

    // §7.14: leaving.
    let p = bob.leave(&r, "Bob").await;
    assert!(status_codes(&p).contains(&110));
    let p = alice
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    assert_eq!(muc_item(&p).unwrap().attr("role"), Some("none"));
    // Once out, bob's messages are refused (§7.4: not an occupant).
    bob.groupchat(&r, "still here?").await;
    let cond = bob.expect_message_error(&r).await;
    assert!(
        cond == "not-acceptable" || cond == "forbidden",
        "a non-occupant cannot send to the room: {cond}"
    );
    alice
        .assert_idle("a non-occupant's message is not relayed")
        .await;
}

/// A temporary room (the default) is destroyed when its last occupant leaves: the next
/// join creates a fresh room (201) with the new joiner as owner.
#[tokio::test]
async fn temporary_room_vanishes_when_empty() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("pop-up");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_roomname", "Pop-up")])
        .await;
    alice.leave(&r, "Alice").await;

    let r2 = bob.disco_info(&r).await;
    assert_eq!(
        stanza_error(&r2).as_deref(),
        Some("item-not-found"),
        "the room is gone: {}",
        r2.to_xml(CLIENT_NS)
    );
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.codes(), vec![110, 201], "a new room");
    assert_eq!(j.item().attr("affiliation"), Some("owner"));
}

/// §7.6: a nick change is unavailable from the old nick with 303 and the new nick in
/// the item, then available from the new nick (110 for the changer). §7.2.9 and §7.6:
/// a nick in use is `conflict`, whether joining or changing.
#[tokio::test]
async fn nick_change_and_conflicts() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("names");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    alice.drain().await;

    // Joining with a nick in use.
    let (cond, e) = carol.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "conflict", "{}", e.to_xml(CLIENT_NS));

    // Changing to a nick in use.
    bob.send(&format!("<presence to='{r}/Alice'/>")).await;
    let e = bob
        .recv_until("nick change error", |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(stanza_error(&e).as_deref(), Some("conflict"));

    // A real change.
    bob.send(&format!("<presence to='{r}/Robert'/>")).await;
    for (c, me) in [(&mut alice, false), (&mut bob, true)] {
        let p = c.expect_presence(&format!("{r}/Bob"), "unavailable").await;
        let mut want = vec![303];
        if me {
            want.push(110);
        }
        want.sort();
        assert_eq!(status_codes(&p), want);
        assert_eq!(muc_item(&p).unwrap().attr("nick"), Some("Robert"));
        let p = c.expect_presence(&format!("{r}/Robert"), "").await;
        assert_eq!(status_codes(&p).contains(&110), me);
    }
    // Messages now come from the new nick.
    bob.say(&r, "Robert", "renamed").await;
    alice.expect_groupchat(&format!("{r}/Robert")).await;
    // The old nick is free again.
    let j = carol.join(&r, "Bob").await;
    assert_eq!(j.others.len(), 2);
}

/// §7.2.3 status 210: the service modified the requested nick (here: the nickname
/// profile of RFC 8266 folds fullwidth letters), and the joiner learns the nick it got
/// from the self-presence's `from`.
#[tokio::test]
async fn nick_modified_by_service_has_status_210() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("width");
    alice.create_room(&r, "Alice", &[]).await;
    bob.send_join(&r, "\u{ff22}\u{ff4f}\u{ff42}", Some(""))
        .await;
    let j = bob.read_join(&r).await.expect("joined");
    assert_eq!(j.codes(), vec![110, 210]);
    assert_eq!(j.self_presence.attr("from"), Some(&*format!("{r}/Bob")));
    alice.expect_presence(&format!("{r}/Bob"), "").await;
}

/// §8.1: by default only moderators change the subject (`forbidden` for a participant);
/// the change goes to all occupants from `room/nick` and a later joiner gets it last
/// (§7.2.15). With `muc#roomconfig_changesubject` participants may change it too.
#[tokio::test]
async fn subject_changes_and_refusal() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("topics");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    alice.drain().await;

    bob.send(&format!(
        "<message to='{r}' type='groupchat' id='s1'><subject>Bob's topic</subject></message>"
    ))
    .await;
    assert_eq!(bob.expect_message_error(&r).await, "forbidden");

    alice
        .send(&format!(
            "<message to='{r}' type='groupchat' id='s2'><subject>Weekly sync</subject></message>"
        ))
        .await;
    for c in [&mut alice, &mut bob] {
        let m = c.recv_until("subject change", is_subject).await;
        assert_eq!(m.attr("from"), Some(&*format!("{r}/Alice")));
        assert_eq!(
            m.get_child("subject", CLIENT_NS)
                .map(|s| s.text())
                .as_deref(),
            Some("Weekly sync")
        );
    }
    let j = carol.join(&r, "Carol").await;
    let s = j.subject.expect("subject");
    assert_eq!(
        s.get_child("subject", CLIENT_NS)
            .map(|s| s.text())
            .as_deref(),
        Some("Weekly sync")
    );

    // The owner lets participants change it.
    let reply = alice
        .configure(&r, &[("muc#roomconfig_changesubject", "1")])
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    bob.send(&format!(
        "<message to='{r}' type='groupchat' id='s3'><subject>Bob's topic</subject></message>"
    ))
    .await;
    let m = carol.recv_until("subject change", is_subject).await;
    assert_eq!(m.attr("from"), Some(&*format!("{r}/Bob")));
    assert_eq!(
        m.get_child("subject", CLIENT_NS)
            .map(|s| s.text())
            .as_deref(),
        Some("Bob's topic")
    );
}

/// §7.5: a private message to `room/nick` reaches that occupant's real JID from the
/// sender's occupant JID, never revealing the sender's real JID; an unknown nick is
/// `item-not-found`.
#[tokio::test]
async fn private_messages_between_occupants() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("whisper");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    alice.drain().await;

    bob.send(&format!(
        "<message to='{r}/Alice' type='chat' id='pm1'><body>psst</body></message>"
    ))
    .await;
    let m = alice
        .recv_until("private message", |e| {
            e.name() == "message" && body(e).as_deref() == Some("psst")
        })
        .await;
    assert_eq!(m.attr("from"), Some(&*format!("{r}/Bob")));
    assert_eq!(m.attr("type"), Some("chat"));
    assert_eq!(m.attr("to"), alice.jid.as_deref());
    assert!(
        !m.to_xml(CLIENT_NS).contains("bob@localhost"),
        "the sender's real JID stays hidden: {}",
        m.to_xml(CLIENT_NS)
    );

    bob.send(&format!(
        "<message to='{r}/Nobody' type='chat' id='pm2'><body>hello?</body></message>"
    ))
    .await;
    assert_eq!(
        bob.expect_message_error(&format!("{r}/Nobody")).await,
        "item-not-found"
    );
}

/// §7.8.2 mediated invitation: the room forwards the invite to the invitee from the
/// room with the inviter's JID and reason (and the password of a protected room);
/// §7.8.2 decline goes back to the inviter through the room. By default
/// (`muc#roomconfig_allowinvites` off) a participant may not invite (`forbidden`), an
/// owner may; with the option on, participants may invite.
#[tokio::test]
async fn mediated_invitation_decline_and_allowinvites() {
    let server = muc_server("", &["alice", "bob", "carol", "dave"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let mut dave = user(&server, "dave", "desk").await;
    let r = room("party");
    alice
        .create_room(
            &r,
            "Alice",
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "cake"),
            ],
        )
        .await;

    alice
        .send(&format!(
            "<message to='{r}' id='inv1'><x xmlns='{MUC_USER}'><invite to='bob@localhost'><reason>Join us</reason></invite></x></message>"
        ))
        .await;
    let m = bob
        .recv_until("invitation", |e| {
            e.name() == "message"
                && muc_x(e).is_some_and(|x| x.get_child("invite", MUC_USER).is_some())
        })
        .await;
    assert_eq!(m.attr("from"), Some(&*r));
    let x = muc_x(&m).unwrap();
    let inv = x.get_child("invite", MUC_USER).unwrap();
    let from = inv.attr("from").unwrap_or_default();
    assert!(from.starts_with("alice@localhost"), "invite from {from}");
    assert_eq!(
        inv.get_child("reason", MUC_USER)
            .map(|r| r.text())
            .as_deref(),
        Some("Join us")
    );
    assert_eq!(
        x.get_child("password", MUC_USER)
            .map(|p| p.text())
            .as_deref(),
        Some("cake"),
        "§7.8.2: the password of a protected room comes with the invite"
    );

    // Decline.
    bob.send(&format!(
        "<message to='{r}' id='dec1'><x xmlns='{MUC_USER}'><decline to='alice@localhost'><reason>Busy</reason></decline></x></message>"
    ))
    .await;
    let m = alice
        .recv_until("decline", |e| {
            e.name() == "message"
                && muc_x(e).is_some_and(|x| x.get_child("decline", MUC_USER).is_some())
        })
        .await;
    assert_eq!(m.attr("from"), Some(&*r));
    let d = muc_x(&m).unwrap().get_child("decline", MUC_USER).unwrap();
    assert!(
        d.attr("from")
            .unwrap_or_default()
            .starts_with("bob@localhost")
    );
    assert_eq!(
        d.get_child("reason", MUC_USER).map(|r| r.text()).as_deref(),
        Some("Busy")
    );

    // A participant may not invite by default.
    carol
        .join_with(&r, "Carol", "<password>cake</password>")
        .await;
    carol
        .send(&format!(
            "<message to='{r}' id='inv2'><x xmlns='{MUC_USER}'><invite to='dave@localhost'/></x></message>"
        ))
        .await;
    assert_eq!(carol.expect_message_error(&r).await, "forbidden");
    dave.assert_idle("no invitation when invites are not allowed")
        .await;

    let reply = alice
        .configure(&r, &[("muc#roomconfig_allowinvites", "1")])
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    carol
        .send(&format!(
            "<message to='{r}' id='inv3'><x xmlns='{MUC_USER}'><invite to='dave@localhost'/></x></message>"
        ))
        .await;
    let m = dave
        .recv_until("invitation", |e| {
            e.name() == "message"
                && muc_x(e).is_some_and(|x| x.get_child("invite", MUC_USER).is_some())
        })
        .await;
    assert_eq!(m.attr("from"), Some(&*r));
}

/// XEP-0249: a direct invitation is an ordinary message from user to user and passes
/// through unchanged.
#[tokio::test]
async fn direct_invitation_passes_through() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("direct");
    alice.create_room(&r, "Alice", &[]).await;
    alice
        .send(&format!(
            "<message to='bob@localhost' id='di1'><x xmlns='{X_CONFERENCE}' jid='{r}' reason='come'/></message>"
        ))
        .await;
    let m = bob
        .recv_until("direct invitation", |e| {
            e.name() == "message" && e.get_child("x", X_CONFERENCE).is_some()
        })
        .await;
    assert_eq!(m.attr("from"), alice.jid.as_deref());
    let x = m.get_child("x", X_CONFERENCE).unwrap();
    assert_eq!(x.attr("jid"), Some(&*r));
    assert_eq!(x.attr("reason"), Some("come"));
    // And it works: bob joins the room he was invited to.
    bob.join(&r, "Bob").await;
}

/// XEP-0421: occupant ids are on presence and messages, stable for the same user across
/// rejoins (and nick changes), different for another user and in another room, and
/// they do not contain the real JID.
#[tokio::test]
async fn occupant_ids_stable_and_distinct() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r1 = room("one");
    let r2 = room("two");
    alice.create_room(&r1, "Alice", &[]).await;
    alice.create_room(&r2, "Alice", &[]).await;

    let j = bob.join(&r1, "Bob").await;
    let bob_id = occupant_id(&j.self_presence).expect("occupant id on self-presence");
    let alice_id = occupant_id(&j.others[0]).expect("occupant id on others' presence");
    assert_ne!(bob_id, alice_id, "different users, different ids");
    for id in [&bob_id, &alice_id] {
        assert!(!id.contains("bob") && !id.contains("alice") && !id.contains("localhost"));
    }
    let p = alice.expect_presence(&format!("{r1}/Bob"), "").await;
    assert_eq!(occupant_id(&p).as_deref(), Some(&*bob_id));
    let m = bob.say(&r1, "Bob", "hi").await;
    assert_eq!(
        occupant_id(&m).as_deref(),
        Some(&*bob_id),
        "on messages too"
    );
    let m = alice.expect_groupchat(&format!("{r1}/Bob")).await;
    assert_eq!(occupant_id(&m).as_deref(), Some(&*bob_id));

    // Rejoin with another nick: same id.
    bob.leave(&r1, "Bob").await;
    let j = bob.join(&r1, "Bobby").await;
    assert_eq!(occupant_id(&j.self_presence).as_deref(), Some(&*bob_id));
    // Another resource of the same account: same id.
    let mut bob2 = user(&server, "bob", "phone").await;
    let j = bob2.join(&r1, "Bob-phone").await;
    assert_eq!(occupant_id(&j.self_presence).as_deref(), Some(&*bob_id));

    // Another room: another id.
    let j = bob.join(&r2, "Bob").await;
    let other = occupant_id(&j.self_presence).unwrap();
    assert_ne!(other, bob_id, "ids are per room");
    let alice_in_2 = occupant_id(&j.others[0]).unwrap();
    assert_ne!(alice_in_2, alice_id);
}

/// XEP-0410: a ping to one's own occupant JID is answered with a result while joined,
/// and `not-acceptable` once out of the room.
#[tokio::test]
async fn self_ping() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("ping");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    let ping =
        |id: &str| format!("<iq type='get' id='{id}' to='{r}/Bob'><ping xmlns='{PING_NS}'/></iq>");
    let reply = bob.iq("sp1", &ping("sp1")).await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    assert_eq!(reply.attr("from"), Some(&*format!("{r}/Bob")));
    bob.leave(&r, "Bob").await;
    let reply = bob.iq("sp2", &ping("sp2")).await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("not-acceptable"));
}

/// RFC 6121 §4.6 / XEP-0045 §7.14: when an occupant's session ends without leaving, the
/// room removes it and the others see it leave.
#[tokio::test]
async fn session_end_removes_occupant() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("drop");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    alice.expect_presence(&format!("{r}/Bob"), "").await;
    bob.close().await;
    alice
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    // The nick is free again.
    let mut bob = user(&server, "bob", "laptop").await;
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.others.len(), 1);
}

/// `{id}:` then filler up to `size` bytes.
fn numbered_body(size: usize, id: usize) -> String {
    let mut s = format!("{id}:");
    s.extend(std::iter::repeat_n('x', size.saturating_sub(s.len())));
    s
}

/// The number a [`numbered_body`] starts with.
fn body_number(e: &Element) -> Option<usize> {
    body(e)?.split(':').next()?.parse().ok()
}

/// An occupant whose session stops reading is not left in the room with a gap it
/// cannot see: once its queue refuses a copy, the others see it leave with status 333
/// (removed for a technical reason, XEP-0045 §7.2 and the status code registry), its
/// stream ends with `<resource-constraint/>` after what was queued is written, and what
/// it missed is in the history when it rejoins.
#[tokio::test]
async fn occupant_that_stops_reading_is_removed_and_told() {
    let server = muc_server(
        "history_default = 100\n\n[limits]\nsession_queue = 8\nwrite_timeout_secs = 600\n\n\
         [pastebin]\nrooms = false\n",
        &["alice", "bob", "carol"],
    );
    let r = room("busy");
    let mut alice = user(&server, "alice", "a").await;
    alice.create_room(&r, "alice", &[]).await;
    let mut slow = Client::small_buffer_login(&server, "bob", "bob", "slow").await;
    slow.available().await;
    slow.join(&r, "bob").await;
    let mut carol = user(&server, "carol", "c").await;
    carol.join(&r, "carol").await;
    alice.drain().await;
    // From here on, the slow session reads nothing.
    let bob = format!("{r}/bob");
    let left = |got: &[Element]| {
        got.iter()
            .find(|e| is_presence(e, &bob, "unavailable"))
            .cloned()
    };
    let (mut seen_by_alice, mut seen_by_carol) = (None, None);
    let mut sent = 0;
    while sent < 600 && (seen_by_alice.is_none() || seen_by_carol.is_none()) {
        if seen_by_alice.is_none() {
            for _ in 0..5 {
                alice.groupchat(&r, &numbered_body(16 * 1024, sent)).await;
                sent += 1;
            }
        }
        // Both read everything, so only the slow session falls behind.
        let (a, c) = (alice.drain().await, carol.drain().await);
        seen_by_alice = seen_by_alice.or_else(|| left(&a));
        seen_by_carol = seen_by_carol.or_else(|| left(&c));
    }
    let gone = seen_by_alice.expect("the occupants see the slow occupant leave");
    assert!(
        status_codes(&gone).contains(&333),
        "removed with status 333: {}",
        gone.to_xml(CLIENT_NS)
    );
    let gone = seen_by_carol.expect("every occupant sees it leave");
    assert!(
        status_codes(&gone).contains(&333),
        "{}",
        gone.to_xml(CLIENT_NS)
    );
    // Reading again, the slow client gets what was queued, then the reason its stream ended.
    let end = slow.wait_closed(Duration::from_secs(60)).await;
    assert_eq!(end.errors, vec!["resource-constraint".to_owned()]);
    let from_alice = format!("{r}/alice");
    let got: Vec<usize> = end
        .elements
        .iter()
        .filter(|e| is_groupchat_from(e, &from_alice))
        .filter_map(body_number)
        .collect();
    assert!(
        got.iter().enumerate().all(|(i, n)| i == *n),
        "the slow client got the messages in order without a gap: {got:?}"
    );
    assert!(got.len() < sent, "some copies were refused ({sent} sent)");
    // Rejoining, it finds the rest in the history.
    let mut again = user(&server, "bob", "again").await;
    let joined = again.join(&r, "bob").await;
    let history: Vec<usize> = joined.history.iter().filter_map(body_number).collect();
    let missing: Vec<usize> = (got.len()..sent).filter(|n| !history.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "messages neither written to the slow client nor in the history: {missing:?}"
    );
    // The other occupants stayed and still talk.
    alice.say(&r, "alice", "still here").await;
    carol.expect_groupchat(&from_alice).await;
}

/// What a room sends a joiner at once (the occupants' presence, the self-presence, the
/// history and the subject, XEP-0045 §7.2.3–§7.2.15) arrives whole even when it is more
/// stanzas than a session queue holds: a big room can still be joined.
#[tokio::test]
async fn join_larger_than_the_session_queue_arrives_whole() {
    let server = muc_server(
        "history_default = 50\n\n[limits]\nsession_queue = 16\n",
        &["alice", "bob", "carol", "dave", "erin"],
    );
    let r = room("big");
    let mut alice = user(&server, "alice", "a").await;
    alice.create_room(&r, "alice", &[]).await;
    let mut others = Vec::new();
    for name in ["carol", "dave", "erin"] {
        let mut c = user(&server, name, "x").await;
        c.join(&r, name).await;
        others.push(c);
    }
    // One at a time: the occupants' sessions write each before the next (they are not
    // slow readers); the join below is 46 stanzas.
    for i in 0..40 {
        alice.say(&r, "alice", &format!("{i}:hello")).await;
    }
    let mut bob = user(&server, "bob", "b").await;
    let joined = bob.join(&r, "bob").await;
    let nicks: Vec<&str> = joined
        .others
        .iter()
        .filter_map(|p| p.attr("from")?.rsplit('/').next())
        .collect();
    assert_eq!(nicks.len(), 4, "presence of every occupant: {nicks:?}");
    let history: Vec<usize> = joined.history.iter().filter_map(body_number).collect();
    assert_eq!(
        history,
        (0..40).collect::<Vec<_>>(),
        "the whole history, in order"
    );
    assert!(
        joined.subject.is_some(),
        "the subject ends the join (§7.2.15)"
    );
}
