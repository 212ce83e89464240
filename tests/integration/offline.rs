//! XEP-0160 offline messages: stored while the recipient has no available session,
//! delivered with a XEP-0203 delay at the next initial presence, survive a restart.

use crate::common::im::*;
use crate::common::*;

/// XEP-0160 §3 + XEP-0203: stored messages come at the next login, after initial
/// presence (not before), in order, each with `<delay xmlns='urn:xmpp:delay' stamp=…/>`,
/// even when the server restarted in between; and they are delivered only once.
#[tokio::test]
async fn offline_messages_survive_restart_in_order_with_delay_once() {
    let mut server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    for text in ["first", "second", "third"] {
        bob.chat("alice@localhost", text).await;
    }
    bob.assert_idle("stored without an error").await;
    drop(bob);

    server.restart();

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.assert_idle("nothing before initial presence").await;
    alice.available().await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let m = alice.expect_message().await;
        assert_eq!(m.attr("from"), Some("bob@localhost/desk"));
        let delay = m
            .get_child("delay", DELAY_NS)
            .unwrap_or_else(|| panic!("no XEP-0203 delay: {m:?}"));
        let stamp = delay.attr("stamp").expect("delay stamp");
        // XEP-0082 DateTime in UTC, e.g. 2024-05-01T12:00:00Z.
        assert!(
            stamp.len() >= 20 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "stamp {stamp}"
        );
        bodies.push(body(&m).unwrap());
    }
    assert_eq!(bodies, ["first", "second", "third"]);
    alice.assert_idle("exactly three").await;
    alice.close().await;

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    alice.expect_presence("alice@localhost/phone", "").await; // §4.2.2 echo
    alice.assert_idle("not delivered twice").await;
}

/// XEP-0160 §4 (`offline.max_messages`): when the storage is full a sender who sees
/// the recipient's presence gets `service-unavailable` (a stranger gets no answer, see
/// `quota::offline_quota_answer_is_the_same_whether_the_target_is_online_or_not`); the
/// stored ones are still delivered.
#[tokio::test]
async fn offline_quota_refuses_with_service_unavailable() {
    let server = Server::builder()
        .toml("[offline]\nmax_messages = 2\n")
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
    bob.chat("alice@localhost", "two").await;
    bob.assert_idle("two fit").await;
    bob.send("<message to='alice@localhost' type='chat' id='three'><body>three</body></message>")
        .await;
    let e = bob.expect_message().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("id"), Some("three"));
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    assert_eq!(body(&alice.expect_message().await).as_deref(), Some("one"));
    assert_eq!(body(&alice.expect_message().await).as_deref(), Some("two"));
    alice.assert_idle("the third was refused").await;
}

/// `offline.enabled = false`: a message to an account with no available session is
/// refused with `service-unavailable` (RFC 6121 §8.5.2.2.1) and never stored.
#[tokio::test]
async fn offline_disabled_refuses_with_service_unavailable() {
    let server = Server::builder()
        .toml("[offline]\nenabled = false\n")
        .start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.send("<message to='alice@localhost' type='chat' id='x'><body>anyone?</body></message>")
        .await;
    let e = bob.expect_message().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("from"), Some("alice@localhost"));
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    alice.expect_presence("alice@localhost/phone", "").await; // §4.2.2 echo
    alice.assert_idle("nothing was stored").await;
}
