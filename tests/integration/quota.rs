//! Hardening: quotas on everything a user can store, privacy of error answers, and room
//! passwords (issue "Hostile clients", items 6, 7 and 8). Every limit is set small here
//! so that one test reaches it in a few stanzas.

use allium::xml::Element;

use crate::common::im::*;
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
