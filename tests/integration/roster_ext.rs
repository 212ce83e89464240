//! Roster versioning (RFC 6121 §2.6, XEP-0237) and subscription pre-approval
//! (RFC 6121 §3.4), as a client sees them.

use allium::xml::Element;

use crate::common::im::*;
use crate::common::*;

const ROSTERVER_NS: &str = "urn:xmpp:features:rosterver";
const PREAPPROVAL_NS: &str = "urn:xmpp:features:pre-approval";

/// A roster get with `ver` (raw attribute value); returns the reply.
async fn roster_get_ver(c: &mut Client, ver: &str) -> Element {
    let id = next_id("rv");
    let r = c
        .iq(
            &id,
            &format!("<iq type='get' id='{id}'><query xmlns='{ROSTER_NS}' ver='{ver}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
    r
}

fn query(r: &Element) -> Option<&Element> {
    r.get_child("query", ROSTER_NS)
}

fn ver_of(r: &Element) -> String {
    query(r)
        .and_then(|q| q.attr("ver"))
        .expect("a roster result carries ver (§2.6.3)")
        .to_owned()
}

fn jids(r: &Element) -> Vec<String> {
    query(r)
        .map(|q| {
            q.children()
                .filter_map(|i| i.attr("jid").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits for a roster push and returns (its ver, its item), acknowledging it.
async fn push_with_ver(c: &mut Client) -> (String, Element) {
    let e = c.recv_until("roster push", is_push).await;
    let id = e.attr("id").unwrap_or_default().to_owned();
    c.send(&format!("<iq type='result' id='{id}'/>")).await;
    let ver = query(&e)
        .and_then(|q| q.attr("ver"))
        .expect("a roster push carries ver (§2.1.6)")
        .to_owned();
    (ver, push_item(&e))
}

/// §2.6: the stream feature is offered; a get with the current version is an empty
/// result, with an older, unknown or empty one the whole roster with the new version;
/// pushes (also those of subscription processing) carry the version, which survives
/// a restart.
#[tokio::test]
async fn roster_versions_in_results_and_pushes() {
    let mut server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let features = alice.features.clone().expect("features");
    assert!(
        features.get_child("ver", ROSTERVER_NS).is_some(),
        "roster versioning feature (§2.6.1): {}",
        features.to_xml(STREAM_NS)
    );

    // ver='' means no cached roster: the whole (empty) roster with its version.
    let r = roster_get_ver(&mut alice, "").await;
    let v0 = ver_of(&r);
    assert!(jids(&r).is_empty());
    // The current version: an empty result, no query at all (§2.6.3).
    let r = roster_get_ver(&mut alice, &v0).await;
    assert!(r.first_child().is_none(), "{}", r.to_xml(CLIENT_NS));

    let (reply, pushes) = alice.roster_set("<item jid='carol@localhost'/>").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let v1 = ver_of(&pushes[0]);
    assert_ne!(v1, v0, "a change makes a new version");

    let r = roster_get_ver(&mut alice, &v1).await;
    assert!(r.first_child().is_none(), "cache current: empty result");
    for old in [v0.as_str(), "", "not-a-version"] {
        let r = roster_get_ver(&mut alice, old).await;
        assert_eq!(jids(&r), ["carol@localhost"], "ver={old:?}: whole roster");
        assert_eq!(ver_of(&r), v1, "with the current version");
    }

    // A subscription request changes the item (ask='subscribe'): pushed with a new ver.
    alice
        .send("<presence to='bob@localhost' type='subscribe'/>")
        .await;
    let (v2, item) = push_with_ver(&mut alice).await;
    assert_eq!(item.attr("jid"), Some("bob@localhost"));
    assert_eq!(item.attr("ask"), Some("subscribe"));
    assert_ne!(v2, v1);
    let r = roster_get_ver(&mut alice, &v1).await;
    assert_eq!(jids(&r), ["bob@localhost", "carol@localhost"]);
    assert_eq!(ver_of(&r), v2);

    // Removal is a change too.
    let (_, pushes) = alice
        .roster_set("<item jid='carol@localhost' subscription='remove'/>")
        .await;
    let v3 = ver_of(&pushes[0]);
    assert_ne!(v3, v2);

    // The version is stored with the roster.
    alice.close().await;
    server.restart();
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let r = roster_get_ver(&mut alice, &v3).await;
    assert!(r.first_child().is_none(), "same version after a restart");
    let r = roster_get_ver(&mut alice, &v2).await;
    assert_eq!(jids(&r), ["bob@localhost"]);
}

/// §3.4: the user approves before the contact asks: the item is marked approved and
/// pushed, the contact hears nothing; the contact's later request is answered at once
/// and the user is not asked.
#[tokio::test]
async fn pre_approval_answers_the_later_request_without_asking() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    let features = alice.features.clone().expect("features");
    assert!(
        features.get_child("sub", PREAPPROVAL_NS).is_some(),
        "pre-approval feature (§3.4.1)"
    );
    alice.roster_get().await;
    alice.available().await;
    bob.roster_get().await;
    bob.available().await;
    alice.sync().await;
    bob.sync().await;

    alice
        .send("<presence to='bob@localhost' type='subscribed'/>")
        .await;
    let item = alice.expect_push().await;
    assert_eq!(item.attr("jid"), Some("bob@localhost"));
    assert_eq!(item.attr("approved"), Some("true"));
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    bob.assert_idle("the contact is not told of a pre-approval (§3.4.2)")
        .await;
    let items = alice.roster_get().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].attr("approved"), Some("true"));

    // A second pre-approval changes nothing.
    alice
        .send("<presence to='bob@localhost' type='subscribed'/>")
        .await;
    alice.assert_idle("already pre-approved").await;

    bob.send("<presence to='alice@localhost' type='subscribe'/>")
        .await;
    bob.expect_presence("alice@localhost", "subscribed").await;
    bob.expect_presence("alice@localhost/phone", "").await;
    let item = alice.expect_push().await;
    assert_eq!(item.attr("jid"), Some("bob@localhost"));
    assert_eq!(sub_state(&item), ("from".to_owned(), None));
    assert_eq!(item.attr("approved"), None, "the approval is used up");
    let queued = alice.drain().await;
    assert!(
        !queued
            .iter()
            .any(|e| e.name() == "presence" && e.attr("type") == Some("subscribe")),
        "the user is not asked: {queued:?}"
    );
    let bobs = bob.roster_get().await;
    let to_alice = bobs
        .iter()
        .find(|i| i.attr("jid") == Some("alice@localhost"))
        .expect("bob's item for alice");
    assert_eq!(sub_state(to_alice).0, "to");
}

/// §3.4: `unsubscribed` cancels a pre-approval (the contact is not told); a new item
/// made by a pre-approval counts against `roster.max_items`.
#[tokio::test]
async fn pre_approval_cancel_and_roster_quota() {
    let server = Server::builder().toml("[roster]\nmax_items = 2\n").start();
    server.add_account("alice", "pw-a");
    server.add_account("carol", "pw-c");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut carol = server.login("carol", "pw-c", "desk").await;
    alice.roster_get().await;
    carol.roster_get().await;
    carol.available().await;
    carol.sync().await;

    alice
        .send("<presence to='carol@localhost' type='subscribed'/>")
        .await;
    assert_eq!(alice.expect_push().await.attr("approved"), Some("true"));
    alice
        .send("<presence to='carol@localhost' type='unsubscribed'/>")
        .await;
    let item = alice.expect_push().await;
    assert_eq!(item.attr("approved"), None, "cancelled");
    carol
        .assert_idle("neither the approval nor its cancellation reaches the contact")
        .await;
    // Cancelled: carol's request now goes to alice.
    carol
        .send("<presence to='alice@localhost' type='subscribe'/>")
        .await;
    alice.expect_presence("carol@localhost", "subscribe").await;

    // Quota: carol's item plus one more fill the roster; a pre-approval of a third
    // contact is refused.
    alice.roster_set("<item jid='dave@localhost'/>").await;
    alice
        .send("<presence to='erin@localhost' type='subscribed' id='pa1'/>")
        .await;
    let err = alice
        .recv_until("presence error", |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(stanza_error(&err).as_deref(), Some("resource-constraint"));
    let jids: Vec<String> = alice
        .roster_get()
        .await
        .iter()
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect();
    assert_eq!(jids, ["carol@localhost", "dave@localhost"]);
}

/// `roster.pre_approval = false`: no stream feature, and a `subscribed` nobody asked
/// for is ignored as before.
#[tokio::test]
async fn pre_approval_can_be_switched_off() {
    let server = Server::builder()
        .toml("[roster]\npre_approval = false\n")
        .start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let features = alice.features.clone().expect("features");
    assert!(features.get_child("sub", PREAPPROVAL_NS).is_none());
    assert!(features.get_child("ver", ROSTERVER_NS).is_some());
    alice.roster_get().await;
    alice
        .send("<presence to='bob@localhost' type='subscribed'/>")
        .await;
    alice.assert_idle("no push: nothing was approved").await;
    assert!(alice.roster_get().await.is_empty());
}
