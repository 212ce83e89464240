//! Hardening: quotas on everything a user can store, privacy of error answers, and room
//! passwords (issue "Hostile clients", items 6, 7 and 8). Every limit is set small here
//! so that one test reaches it in a few stanzas.

use allium::xml::Element;

use crate::common::im::*;
use crate::common::muc::*;
use crate::common::pastebin::*;
use crate::common::*;

const HINTS: &str = "urn:xmpp:hints";

/// The error presence or message with `id` among what `c` has queued (skipping the rest).
async fn error_with_id(c: &mut Client, id: &str) -> Option<Element> {
    c.drain()
        .await
        .into_iter()
        .find(|e| e.attr("id") == Some(id) && e.attr("type") == Some("error"))
}

/// The text of a stanza error.
fn error_text(e: &Element) -> String {
    e.get_child("error", CLIENT_NS)
        .and_then(|er| er.children().find(|c| c.name() == "text"))
        .map(|t| t.text())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- roster (item 6)

/// `roster.max_items`, `roster.max_groups_per_item`, `roster.max_name_bytes`: a new
/// item beyond the count is `resource-constraint` (by a roster set and by an outbound
/// subscription request); too many groups or a too long name is `not-acceptable`
/// (RFC 6121 §2.3.3); updating an existing item at the limit still works.
#[tokio::test]
async fn roster_items_groups_and_names_are_capped() {
    let server = Server::builder()
        .toml("[roster]\nmax_items = 2\nmax_groups_per_item = 2\nmax_name_bytes = 10\n")
        .start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.roster_get().await;
    for j in ["a@example.org", "b@example.org"] {
        let (r, _) = alice.roster_set(&format!("<item jid='{j}'/>")).await;
        assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    }
    let (r, _) = alice.roster_set("<item jid='c@example.org'/>").await;
    assert_eq!(
        r.attr("type"),
        Some("error"),
        "a third item: {}",
        r.to_xml(CLIENT_NS)
    );
    assert_eq!(stanza_error(&r).as_deref(), Some("resource-constraint"));
    assert!(!error_text(&r).is_empty(), "the refusal explains itself");

    // Updating an item at the limit works, within the group and name limits.
    let (r, _) = alice
        .roster_set("<item jid='a@example.org' name='Ann'><group>x</group><group>y</group></item>")
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    let (r, _) = alice
        .roster_set(
            "<item jid='a@example.org'><group>x</group><group>y</group><group>z</group></item>",
        )
        .await;
    assert_eq!(
        stanza_error(&r).as_deref(),
        Some("not-acceptable"),
        "three groups"
    );
    let (r, _) = alice
        .roster_set("<item jid='a@example.org' name='Annabelle-Lee'/>")
        .await;
    assert_eq!(
        stanza_error(&r).as_deref(),
        Some("not-acceptable"),
        "11-byte name"
    );

    // A subscription request to a new contact would add a third item.
    alice
        .send("<presence to='carol@example.org' type='subscribe' id='sub3'/>")
        .await;
    let e = error_with_id(&mut alice, "sub3")
        .await
        .expect("the subscription request that would overflow the roster is refused");
    assert_eq!(stanza_error(&e).as_deref(), Some("resource-constraint"));
    let jids: Vec<String> = alice
        .roster_get()
        .await
        .iter()
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect();
    assert_eq!(jids, ["a@example.org", "b@example.org"]);
}

/// Approving a subscription request that would add a roster item beyond
/// `roster.max_items` is refused, and the request stays pending: once the roster has
/// room, the same approval works.
#[tokio::test]
async fn approving_with_a_full_roster_keeps_the_request_pending() {
    let server = Server::builder().toml("[roster]\nmax_items = 1\n").start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    alice.roster_get().await;
    let (r, _) = alice.roster_set("<item jid='a@example.org'/>").await;
    assert_eq!(r.attr("type"), Some("result"));
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.available().await;
    bob.send("<presence to='alice@localhost' type='subscribe'/>")
        .await;
    alice.expect_presence("bob@localhost", "subscribe").await;
    alice
        .send("<presence to='bob@localhost' type='subscribed' id='ok1'/>")
        .await;
    let e = error_with_id(&mut alice, "ok1")
        .await
        .expect("the approval that would overflow the roster is refused");
    assert_eq!(stanza_error(&e).as_deref(), Some("resource-constraint"));
    alice
        .roster_set("<item jid='a@example.org' subscription='remove'/>")
        .await;
    alice
        .send("<presence to='bob@localhost' type='subscribed' id='ok2'/>")
        .await;
    bob.expect_presence("alice@localhost", "subscribed").await;
    assert!(error_with_id(&mut alice, "ok2").await.is_none());
}

/// `limits.max_directed_presences`: directed presence to a further recipient is
/// refused with `resource-constraint`; re-sending to a known recipient still works.
#[tokio::test]
async fn directed_presence_recipients_are_capped() {
    let server = Server::builder()
        .toml("[limits]\nmax_directed_presences = 2\n")
        .start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.available().await;
    bob.sync().await;
    let mut alice = server.login("alice", "pw-a", "phone").await;
    for (i, to) in [
        "bob@localhost/desk",
        "ghost1@localhost",
        "bob@localhost/desk",
    ]
    .iter()
    .enumerate()
    {
        alice
            .send(&format!("<presence to='{to}' id='d{i}'/>"))
            .await;
    }
    assert!(error_with_id(&mut alice, "d2").await.is_none());
    bob.expect_presence("alice@localhost/phone", "").await;
    alice
        .send("<presence to='ghost2@localhost' id='d3'/>")
        .await;
    let e = error_with_id(&mut alice, "d3")
        .await
        .expect("a third directed-presence recipient is refused");
    assert_eq!(stanza_error(&e).as_deref(), Some("resource-constraint"));
}

// ---------------------------------------------------------------- offline (item 7)

/// The offline quota tells a stranger nothing about presence: when the recipient's
/// storage is full the stranger's message gets no error, exactly as when the
/// recipient is online and the message is delivered.
#[tokio::test]
async fn offline_quota_answer_is_the_same_whether_the_target_is_online_or_not() {
    let server = Server::builder()
        .toml("[offline]\nmax_messages = 1\n")
        .start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.chat("alice@localhost", "one").await;
    bob.send("<message to='alice@localhost' type='chat' id='two'><body>two</body></message>")
        .await;
    bob.assert_idle("offline and full: no answer (as when delivered)")
        .await;

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    assert_eq!(body(&alice.expect_message().await).as_deref(), Some("one"));
    bob.send("<message to='alice@localhost' type='chat' id='three'><body>three</body></message>")
        .await;
    assert_eq!(
        body(&alice.expect_message().await).as_deref(),
        Some("three")
    );
    bob.assert_idle("online: no answer").await;
}

/// A contact who receives the recipient's presence learns nothing new from the quota
/// error, so it still gets `service-unavailable` with an explanation (XEP-0160 §4).
#[tokio::test]
async fn offline_quota_error_goes_to_contacts_who_see_presence() {
    let server = Server::builder()
        .toml("[offline]\nmax_messages = 1\n")
        .start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.available().await;
    subscribe(&mut bob, &mut alice).await;
    alice.close().await;
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    bob.chat("alice@localhost", "one").await;
    bob.send("<message to='alice@localhost' type='chat' id='two'><body>two</body></message>")
        .await;
    let e = bob
        .recv_until("the quota error", |e| e.attr("id") == Some("two"))
        .await;
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));
}

/// XEP-0160 §3 and XEP-0334 §4: a message without body (a receipt, a chat state) is
/// not stored, nor one with `<no-store/>` or `<no-permanent-store/>`; `<store/>` stores
/// a body-less message.
#[tokio::test]
async fn bodyless_and_no_store_messages_are_not_stored_offline() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    for m in [
        "<message to='alice@localhost' type='chat' id='r'><received xmlns='urn:xmpp:receipts' id='x1'/></message>".to_owned(),
        "<message to='alice@localhost' type='chat' id='c'><active xmlns='http://jabber.org/protocol/chatstates'/></message>".to_owned(),
        format!("<message to='alice@localhost' type='chat' id='ns'><body>no-store</body><no-store xmlns='{HINTS}'/></message>"),
        format!("<message to='alice@localhost' type='chat' id='np'><body>no-permanent-store</body><no-permanent-store xmlns='{HINTS}'/></message>"),
        "<message to='alice@localhost' type='chat' id='b'><body>plain</body></message>".to_owned(),
        format!("<message to='alice@localhost' type='chat' id='st'><displayed xmlns='urn:xmpp:chat-markers:0' id='x2'/><store xmlns='{HINTS}'/></message>"),
    ] {
        bob.send(&m).await;
    }
    bob.assert_idle("nothing refused").await;

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    let got: Vec<String> = alice
        .drain()
        .await
        .into_iter()
        .filter(|e| e.name() == "message")
        .filter_map(|e| e.attr("id").map(str::to_owned))
        .collect();
    assert_eq!(got, ["b", "st"]);
}

// ---------------------------------------------------------------- pastebin (item 6)

/// `pastebin.max_pastes_per_day`: beyond the quota a long message is refused with
/// `resource-constraint` and a text, not delivered in full; short ones still pass.
#[tokio::test]
async fn pastes_per_account_per_day_are_capped() {
    let server = Server::builder()
        .toml("[muc]\nenabled = true\n")
        .toml("[pastebin]\nmax_pastes_per_day = 1\n")
        .start();
    for u in ["alice", "bob"] {
        server.add_account(u, u);
    }
    let r = room("pastes");
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    alice.create_room(&r, "alice", &[]).await;
    bob.join(&r, "bob").await;
    alice.sync().await;
    let from = format!("{r}/alice");
    let long = "x\n".repeat(10);
    alice.groupchat(&r, &long).await;
    let first = bob
        .recv_until("first long message", |e| is_groupchat_from(e, &from))
        .await;
    assert!(oob_url(&first).is_some(), "the first one is pasted");
    alice
        .send(&format!(
            "<message to='{r}' type='groupchat' id='long2'><body>{long}</body></message>"
        ))
        .await;
    let e = alice
        .recv_until("the refusal", |e| e.attr("id") == Some("long2"))
        .await;
    assert_eq!(e.attr("type"), Some("error"), "{}", e.to_xml(CLIENT_NS));
    assert_eq!(stanza_error(&e).as_deref(), Some("resource-constraint"));
    assert!(!error_text(&e).is_empty());
    bob.assert_idle("the refused message reached nobody").await;
    alice.say(&r, "alice", "short is fine").await;
}

// ---------------------------------------------------------------- MUC (items 6, 7, 8)

/// Item 8: `muc#roomconfig_roomsecret` without `passwordprotectedroom` protects the
/// room (as Prosody does) instead of being ignored.
#[tokio::test]
async fn room_secret_alone_protects_the_room() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let r = room("secret");
    alice
        .create_room(&r, "alice", &[("muc#roomconfig_roomsecret", "s3cret")])
        .await;
    let (cond, _) = bob.join_error(&r, "bob", "").await;
    assert_eq!(cond, "not-authorized", "no password given");
    bob.join_with(&r, "bob", "<password>s3cret</password>")
        .await;
}

/// Item 7: a locked room (created, not configured yet, §10.1.1) does not exist for
/// anyone but its owner: messages to it answer `item-not-found`, as for a room that
/// does not exist.
#[tokio::test]
async fn locked_room_answers_item_not_found_to_non_owners() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let r = room("locked");
    let j = alice.join(&r, "alice").await;
    assert!(j.codes().contains(&201));
    alice.drain().await; // the subject that follows creation
    let nowhere = room("nowhere");
    for target in [&r, &nowhere] {
        for (id, m) in [
            (
                "gc",
                format!(
                    "<message to='{target}' type='groupchat' id='gc'><body>hi</body></message>"
                ),
            ),
            (
                "pm",
                format!(
                    "<message to='{target}/alice' type='chat' id='pm'><body>hi</body></message>"
                ),
            ),
            (
                "dec",
                format!(
                    "<message to='{target}' id='dec'><x xmlns='{MUC_USER}'><decline to='alice@localhost'/></x></message>"
                ),
            ),
        ] {
            bob.send(&m).await;
            let e = bob.recv_until(id, |e| e.attr("id") == Some(id)).await;
            assert_eq!(
                stanza_error(&e).as_deref(),
                Some("item-not-found"),
                "{id} to {target}: {}",
                e.to_xml(CLIENT_NS)
            );
        }
    }
    alice.assert_idle("nothing reached the owner").await;
}

/// Item 7: a `<decline/>` is relayed only from someone with a pending invitation, and
/// only once.
#[tokio::test]
async fn decline_is_relayed_only_from_a_pending_invitee() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let mut carol = user(&server, "carol", "c").await;
    let r = room("declines");
    alice.create_room(&r, "alice", &[]).await;
    let decline = |id: &str| {
        format!(
            "<message to='{r}' id='{id}'><x xmlns='{MUC_USER}'><decline to='alice@localhost'><reason>no</reason></decline></x></message>"
        )
    };
    carol.send(&decline("c1")).await;
    let e = error_with_id(&mut carol, "c1").await;
    alice
        .assert_idle("an uninvited decline is not relayed")
        .await;
    assert!(e.is_some(), "the uninvited decline is refused");

    alice
        .send(&format!(
            "<message to='{r}' id='inv'><x xmlns='{MUC_USER}'><invite to='bob@localhost'/></x></message>"
        ))
        .await;
    bob.recv_until("invitation", |e| {
        muc_x(e).is_some_and(|x| x.get_child("invite", MUC_USER).is_some())
    })
    .await;
    bob.send(&decline("b1")).await;
    alice
        .recv_until("decline", |e| {
            muc_x(e).is_some_and(|x| x.get_child("decline", MUC_USER).is_some())
        })
        .await;
    bob.send(&decline("b2")).await;
    assert!(error_with_id(&mut bob, "b2").await.is_some());
    alice.assert_idle("a second decline is not relayed").await;
}

/// Item 7: password guessing is limited per (account, room): after
/// `password_max_failures` wrong passwords even the right one is refused with
/// `resource-constraint` for that account; another account is not affected.
#[tokio::test]
async fn room_password_guessing_is_limited_per_account_and_room() {
    let server = muc_server("password_max_failures = 2\n", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let mut carol = user(&server, "carol", "c").await;
    let r = room("guess");
    alice
        .create_room(
            &r,
            "alice",
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "right"),
            ],
        )
        .await;
    for guess in ["wrong1", "wrong2"] {
        let (cond, _) = bob
            .join_error(&r, "bob", &format!("<password>{guess}</password>"))
            .await;
        assert_eq!(cond, "not-authorized");
    }
    let (cond, e) = bob
        .join_error(&r, "bob", "<password>right</password>")
        .await;
    assert_eq!(cond, "resource-constraint", "{}", e.to_xml(CLIENT_NS));
    carol
        .join_with(&r, "carol", "<password>right</password>")
        .await;
}

/// Item 6: `muc.history_max_bytes_per_room` bounds the history in bytes, whatever the
/// message count allows.
#[tokio::test]
async fn room_history_is_bounded_in_bytes() {
    let server = muc_server("history_max_bytes_per_room = 2048\n", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let r = room("bytes");
    alice.create_room(&r, "alice", &[]).await;
    for i in 0..10 {
        alice
            .say(&r, "alice", &format!("{i}{}", "y".repeat(300)))
            .await;
    }
    let j = bob.join(&r, "bob").await;
    let got = j.history_bodies();
    assert!(
        !got.is_empty() && got.len() < 10,
        "history of {} messages of ~300 bytes within 2048 bytes",
        got.len()
    );
    assert!(got.last().unwrap().starts_with('9'), "the newest are kept");
}

/// Item 6: `muc.max_rooms_per_account`: a further creation is refused with
/// `resource-constraint`; once a room is gone the account may create another.
#[tokio::test]
async fn rooms_created_per_account_are_capped() {
    let server = muc_server("max_rooms_per_account = 1\n", &["alice"]);
    let mut alice = user(&server, "alice", "a").await;
    let one = room("one");
    let two = room("two");
    alice.create_room(&one, "alice", &[]).await;
    let (cond, _) = alice.join_error(&two, "alice", "").await;
    assert_eq!(cond, "resource-constraint");
    alice
        .send(&format!("<presence to='{one}/alice' type='unavailable'/>"))
        .await;
    alice.sync().await;
    alice.create_room(&two, "alice", &[]).await;
}

/// Item 6: `muc.max_joined_rooms_per_account`: a further join is refused with
/// `resource-constraint`; after leaving a room the account may join another.
#[tokio::test]
async fn rooms_joined_per_account_are_capped() {
    let server = muc_server(
        "max_joined_rooms_per_account = 1\n",
        &["alice", "bob", "carol"],
    );
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let mut carol = user(&server, "carol", "c").await;
    let one = room("j-one");
    let two = room("j-two");
    alice.create_room(&one, "alice", &[]).await;
    carol.create_room(&two, "carol", &[]).await;
    bob.join(&one, "bob").await;
    let (cond, _) = bob.join_error(&two, "bob", "").await;
    assert_eq!(cond, "resource-constraint");
    bob.send(&format!("<presence to='{one}/bob' type='unavailable'/>"))
        .await;
    bob.sync().await;
    bob.join(&two, "bob").await;
}
