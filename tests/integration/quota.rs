//! Hardening: quotas on everything a user can store, privacy of error answers, and room
//! passwords (issue "Hostile clients", items 6, 7 and 8). Every limit is set small here
//! so that one test reaches it in a few stanzas.

use allium::xml::Element;

use crate::common::*;

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
