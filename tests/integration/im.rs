//! RFC 6121 instant messaging as a user sees it: the roster (§2), subscriptions (§3),
//! presence (§4) and message delivery (§8.5).

use crate::common::im::*;
use crate::common::*;

fn groups(item: &allium::xml::Element) -> Vec<String> {
    let mut g: Vec<String> = item
        .children()
        .filter(|c| c.is("group", ROSTER_NS))
        .map(|c| c.text())
        .collect();
    g.sort();
    g
}

fn error_type_and_from(e: &allium::xml::Element) -> (Option<&str>, Option<&str>) {
    (e.attr("type"), e.attr("from"))
}

// ---------------------------------------------------------------- roster (§2)

/// §2.1.3/§2.1.4 get, §2.3 add with name and groups, §2.1.6 pushes to interested
/// resources only, §2.4 update, §2.5 remove.
#[tokio::test]
async fn roster_get_add_update_remove_with_pushes_to_interested_resources() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut phone = server.login("alice", "pw-a", "phone").await;
    let mut laptop = server.login("alice", "pw-a", "laptop").await;

    // §2.1.4: an empty roster is an empty query.
    assert!(phone.roster_get().await.is_empty());

    // §2.3.2: the set is answered with a result and pushed to each interested resource
    // (the one that fetched the roster), not to one that never asked for it.
    let (reply, pushes) = phone
        .roster_set(
            "<item jid='bob@localhost' name='Bob'><group>Friends</group><group>Work</group></item>",
        )
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(pushes.len(), 1, "the requesting resource gets the push");
    let item = push_item(&pushes[0]);
    assert_eq!(item.attr("jid"), Some("bob@localhost"));
    assert_eq!(item.attr("name"), Some("Bob"));
    assert_eq!(groups(&item), vec!["Friends", "Work"]);
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    laptop
        .assert_idle("a resource that did not fetch the roster gets no push")
        .await;

    // §2.1.4: the roster now has the item.
    let items = laptop.roster_get().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].attr("jid"), Some("bob@localhost"));
    assert_eq!(items[0].attr("name"), Some("Bob"));
    assert_eq!(groups(&items[0]), vec!["Friends", "Work"]);

    // §2.4: update; now both resources are interested and both get the push.
    let (reply, pushes) = phone
        .roster_set("<item jid='bob@localhost' name='Robert'><group>Family</group></item>")
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(pushes.len(), 1);
    let pushed = laptop.expect_push().await;
    assert_eq!(pushed.attr("name"), Some("Robert"));
    assert_eq!(groups(&pushed), vec!["Family"]);
    let items = phone.roster_get().await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].attr("name"), Some("Robert"));
    assert_eq!(groups(&items[0]), vec!["Family"]);

    // §2.5.2: remove is pushed with subscription='remove' and the item is gone.
    let (reply, pushes) = laptop
        .roster_set("<item jid='bob@localhost' subscription='remove'/>")
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert_eq!(pushes.len(), 1);
    assert_eq!(
        push_item(&pushes[0]).attr("subscription"),
        Some("remove"),
        "§2.5.2 push"
    );
    let pushed = phone.expect_push().await;
    assert_eq!(pushed.attr("jid"), Some("bob@localhost"));
    assert_eq!(pushed.attr("subscription"), Some("remove"));
    assert!(phone.roster_get().await.is_empty());
}

/// §2.5.3: removing an item that is not in the roster is `item-not-found`;
/// §2.3.3: a set with more than one item is `bad-request`.
#[tokio::test]
async fn roster_set_errors() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.roster_get().await;

    let (reply, pushes) = alice
        .roster_set("<item jid='nobody@localhost' subscription='remove'/>")
        .await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("item-not-found"));
    assert!(pushes.is_empty());

    let (reply, pushes) = alice
        .roster_set("<item jid='bob@localhost'/><item jid='carol@localhost'/>")
        .await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("bad-request"));
    assert!(pushes.is_empty());
    assert!(
        alice.roster_get().await.is_empty(),
        "a rejected set changes nothing"
    );
}

// ---------------------------------------------------------------- subscriptions (§3)

/// §3.1: alice subscribes to bob, bob approves; the roster states on both sides move
/// through none+ask → to / from, and bob's presence then reaches alice (§3.1.5) but not
/// the other way round.
#[tokio::test]
async fn subscription_handshake_updates_both_rosters_and_starts_presence() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.send("<presence><show>chat</show></presence>").await;
    alice.sync().await;
    bob.sync().await;

    // §3.1.2: the request is stamped with the bare JID and pushed as none + ask.
    alice
        .send("<presence to='bob@localhost' type='subscribe'/>")
        .await;
    let item = alice.expect_push().await;
    assert_eq!(item.attr("jid"), Some("bob@localhost"));
    assert_eq!(
        sub_state(&item),
        ("none".to_owned(), Some("subscribe".to_owned()))
    );
    // §3.1.3: bob's available resource gets the request from alice's bare JID.
    bob.expect_presence("alice@localhost", "subscribe").await;

    // §3.1.5: approval: bob's item becomes 'from', alice's 'to' without ask.
    bob.send("<presence to='alice@localhost' type='subscribed'/>")
        .await;
    let item = bob.expect_push().await;
    assert_eq!(item.attr("jid"), Some("alice@localhost"));
    assert_eq!(sub_state(&item), ("from".to_owned(), None));
    let item = alice.expect_push().await;
    assert_eq!(sub_state(&item), ("to".to_owned(), None));
    alice.expect_presence("bob@localhost", "subscribed").await;
    // §3.1.5: bob's server sends bob's current presence to alice.
    let p = alice.expect_presence("bob@localhost/laptop", "").await;
    assert_eq!(
        p.get_child("show", CLIENT_NS).map(|s| s.text()).as_deref(),
        Some("chat")
    );

    // Presence now flows from bob to alice (§4.4.2)...
    bob.send("<presence><show>away</show></presence>").await;
    let p = alice.expect_presence("bob@localhost/laptop", "").await;
    assert_eq!(
        p.get_child("show", CLIENT_NS).map(|s| s.text()).as_deref(),
        Some("away")
    );
    // ...but not from alice to bob, who is not subscribed to her.
    bob.sync().await;
    alice.send("<presence><show>xa</show></presence>").await;
    alice.sync().await;
    bob.assert_idle("bob has no subscription to alice").await;

    let alice_roster = alice.roster_get().await;
    assert_eq!(sub_state(&alice_roster[0]), ("to".to_owned(), None));
    let bob_roster = bob.roster_get().await;
    assert_eq!(sub_state(&bob_roster[0]), ("from".to_owned(), None));
}

/// §3.1.3: a request to an offline user is kept and delivered when they next become
/// available (after initial presence, not before).
#[tokio::test]
async fn subscription_request_to_offline_user_is_delivered_at_next_login() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    alice
        .send("<presence to='bob@localhost' type='subscribe'/>")
        .await;
    alice.sync().await;

    let mut bob = server.login("bob", "pw-b", "laptop").await;
    bob.assert_idle("nothing before initial presence").await;
    bob.available().await;
    bob.expect_presence("alice@localhost", "subscribe").await;
    bob.assert_idle("the request comes once").await;

    // And the approval completes the handshake as usual.
    bob.send("<presence to='alice@localhost' type='subscribed'/>")
        .await;
    alice.expect_presence("bob@localhost", "subscribed").await;
    assert_eq!(
        sub_state(&alice.roster_get().await[0]),
        ("to".to_owned(), None)
    );
}

/// §3.1 both ways: mutual subscription ends in 'both' on each side, pushed to each.
#[tokio::test]
async fn mutual_subscription_is_both() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut alice, &mut bob).await;

    bob.send("<presence to='alice@localhost' type='subscribe'/>")
        .await;
    let item = bob.expect_push().await;
    assert_eq!(
        sub_state(&item),
        ("from".to_owned(), Some("subscribe".to_owned()))
    );
    alice.expect_presence("bob@localhost", "subscribe").await;
    alice
        .send("<presence to='bob@localhost' type='subscribed'/>")
        .await;
    let item = alice.expect_push().await;
    assert_eq!(sub_state(&item), ("both".to_owned(), None));
    let item = bob.expect_push().await;
    assert_eq!(sub_state(&item), ("both".to_owned(), None));
    // Alice's presence now reaches bob (§3.1.5).
    bob.expect_presence("alice@localhost/phone", "").await;
}

/// §3.3 unsubscribe: the subscriber stops receiving presence; both rosters drop to
/// 'none' and the subscriber gets unavailable presence from the contact (§3.3.3).
#[tokio::test]
async fn unsubscribe_updates_both_rosters_and_sends_unavailable() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut alice, &mut bob).await;

    alice
        .send("<presence to='bob@localhost' type='unsubscribe'/>")
        .await;
    let item = alice.expect_push().await;
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    let item = bob.expect_push().await;
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    bob.expect_presence("alice@localhost", "unsubscribe").await;
    alice
        .expect_presence("bob@localhost/laptop", "unavailable")
        .await;

    // Bob's presence no longer reaches alice.
    bob.send("<presence><show>away</show></presence>").await;
    bob.sync().await;
    alice.assert_idle("no subscription any more").await;
}

/// §3.2 cancelling (unsubscribed): the contact revokes the subscriber's subscription;
/// both rosters drop to 'none' and the former subscriber gets unavailable presence.
#[tokio::test]
async fn unsubscribed_cancels_subscription_and_sends_unavailable() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut alice, &mut bob).await;

    bob.send("<presence to='alice@localhost' type='unsubscribed'/>")
        .await;
    let item = bob.expect_push().await;
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    let item = alice.expect_push().await;
    assert_eq!(sub_state(&item), ("none".to_owned(), None));
    alice.expect_presence("bob@localhost", "unsubscribed").await;
    alice
        .expect_presence("bob@localhost/laptop", "unavailable")
        .await;

    bob.send("<presence><show>dnd</show></presence>").await;
    bob.sync().await;
    alice.assert_idle("the subscription was cancelled").await;
}

/// §2.5.2: removing a contact with a mutual subscription cancels both directions: the
/// contact's roster ends at 'none' and the contact gets unavailable presence.
#[tokio::test]
async fn roster_remove_cancels_subscriptions_both_ways() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut alice, &mut bob).await;
    subscribe(&mut bob, &mut alice).await;
    assert_eq!(
        sub_state(&bob.roster_get().await[0]),
        ("both".to_owned(), None)
    );

    let (reply, _) = alice
        .roster_set("<item jid='bob@localhost' subscription='remove'/>")
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    bob.expect_presence("alice@localhost", "unsubscribe").await;
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    bob.expect_presence("alice@localhost", "unsubscribed").await;
    bob.sync().await;
    let items = bob.roster_get().await;
    assert_eq!(items.len(), 1);
    assert_eq!(sub_state(&items[0]), ("none".to_owned(), None));
    assert!(alice.roster_get().await.is_empty());

    // Neither side's presence reaches the other any more.
    alice.sync().await;
    alice.send("<presence><show>away</show></presence>").await;
    alice.sync().await;
    bob.assert_idle("no subscription left").await;
    bob.send("<presence><show>away</show></presence>").await;
    bob.sync().await;
    alice.assert_idle("no subscription left").await;
}

// ---------------------------------------------------------------- presence (§4)

/// §4.2.2: initial presence goes to every subscriber and to all of the user's available
/// resources, including the one that sent it.
#[tokio::test]
async fn initial_presence_reaches_subscribers_and_other_resources() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut phone = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    phone.available().await;
    bob.available().await;
    subscribe(&mut bob, &mut phone).await; // bob is subscribed to alice

    let mut tablet = server.login("alice", "pw-a", "tablet").await;
    tablet
        .send("<presence><status>on the train</status></presence>")
        .await;
    let p = bob.expect_presence("alice@localhost/tablet", "").await;
    assert_eq!(
        p.get_child("status", CLIENT_NS)
            .map(|s| s.text())
            .as_deref(),
        Some("on the train")
    );
    phone.expect_presence("alice@localhost/tablet", "").await;
    tablet.expect_presence("alice@localhost/tablet", "").await;
}

/// §4.3: on initial presence the server probes the user's contacts, so a user logging in
/// receives the current presence of each contact they are subscribed to.
#[tokio::test]
async fn login_receives_current_presence_of_contacts() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    server.add_account("carol", "pw-c");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    let mut carol = server.login("carol", "pw-c", "desk").await;
    alice.available().await;
    bob.available().await;
    carol.available().await;
    subscribe(&mut alice, &mut bob).await; // alice is subscribed to bob...
    subscribe(&mut carol, &mut alice).await; // ...but not to carol (carol is to her)
    bob.send("<presence><show>dnd</show><status>busy</status></presence>")
        .await;
    carol.send("<presence><show>dnd</show></presence>").await;
    bob.sync().await;
    carol.sync().await;
    alice.close().await;

    let mut alice = server.login("alice", "pw-a", "phone").await;
    alice.available().await;
    // The probe answers are sent while the initial presence is handled.
    let got = alice.drain().await;
    let from_bob: Vec<_> = got
        .iter()
        .filter(|e| is_presence(e, "bob@localhost/laptop", ""))
        .collect();
    assert_eq!(from_bob.len(), 1, "bob's presence once: {got:?}");
    assert_eq!(
        from_bob[0]
            .get_child("status", CLIENT_NS)
            .map(|s| s.text())
            .as_deref(),
        Some("busy"),
        "the contact's current presence"
    );
    assert!(
        !got.iter()
            .any(|e| e.attr("from").is_some_and(|f| f.starts_with("carol@"))),
        "no presence from a contact alice is not subscribed to: {got:?}"
    );
}

/// §4.6: directed presence reaches a non-contact, and when the sender's session ends the
/// recipient gets unavailable presence (§4.6.3).
#[tokio::test]
async fn directed_presence_reaches_non_contact_and_ends_with_unavailable() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("carol", "pw-c");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut carol = server.login("carol", "pw-c", "desk").await;
    alice.available().await;
    carol.available().await;
    carol.sync().await; // carol is available before alice's presence arrives
    alice
        .send("<presence to='carol@localhost'><status>hi</status></presence>")
        .await;
    let p = carol.expect_presence("alice@localhost/phone", "").await;
    assert_eq!(
        p.get_child("status", CLIENT_NS)
            .map(|s| s.text())
            .as_deref(),
        Some("hi")
    );
    alice.close().await;
    carol
        .expect_presence("alice@localhost/phone", "unavailable")
        .await;
}

/// §4.5.2: when a session ends, with `</stream:stream>` or by the connection dropping,
/// unavailable presence is broadcast to subscribers and the user's other resources.
#[tokio::test]
async fn session_end_broadcasts_unavailable_also_on_dropped_connection() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut phone = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    phone.available().await;
    bob.available().await;
    subscribe(&mut bob, &mut phone).await;

    // Polite close.
    let mut laptop = server.login("alice", "pw-a", "laptop").await;
    laptop.available().await;
    bob.expect_presence("alice@localhost/laptop", "").await;
    phone.expect_presence("alice@localhost/laptop", "").await;
    laptop.close().await;
    bob.expect_presence("alice@localhost/laptop", "unavailable")
        .await;
    phone
        .expect_presence("alice@localhost/laptop", "unavailable")
        .await;

    // The TCP connection just goes away, no closing tag.
    drop(phone);
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
}

// ---------------------------------------------------------------- messages (§8.5)

/// Two available resources of alice with the given priorities, and bob.
async fn alice_two_resources(
    server: &Server,
    phone_prio: i8,
    laptop_prio: i8,
) -> (Client, Client, Client) {
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut phone = server.login("alice", "pw-a", "phone").await;
    let mut laptop = server.login("alice", "pw-a", "laptop").await;
    let mut bob = server.login("bob", "pw-b", "desk").await;
    phone
        .send(&format!(
            "<presence><priority>{phone_prio}</priority></presence>"
        ))
        .await;
    laptop
        .send(&format!(
            "<presence><priority>{laptop_prio}</priority></presence>"
        ))
        .await;
    bob.available().await;
    phone.sync().await;
    laptop.sync().await;
    phone.sync().await;
    bob.sync().await;
    (phone, laptop, bob)
}

/// §8.5.3.1: a message to a full JID goes to exactly that resource.
#[tokio::test]
async fn message_to_full_jid_reaches_only_that_resource() {
    let server = Server::start();
    let (mut phone, mut laptop, mut bob) = alice_two_resources(&server, 5, 1).await;
    bob.chat("alice@localhost/laptop", "for the laptop").await;
    let m = laptop.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("for the laptop"));
    assert_eq!(m.attr("from"), Some("bob@localhost/desk"));
    phone.assert_idle("the other resource").await;
}

/// §8.5.2.1.1: a message to the bare JID goes to the highest-priority resource.
#[tokio::test]
async fn message_to_bare_jid_goes_to_highest_priority() {
    let server = Server::start();
    let (mut phone, mut laptop, mut bob) = alice_two_resources(&server, 5, 1).await;
    bob.chat("alice@localhost", "to the best resource").await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("to the best resource"));
    bob.sync().await;
    laptop.assert_idle("lower priority").await;
}

/// §8.5.2.1.1: resources sharing the highest priority all receive it.
#[tokio::test]
async fn message_to_bare_jid_with_equal_priorities_reaches_both() {
    let server = Server::start();
    let (mut phone, mut laptop, mut bob) = alice_two_resources(&server, 3, 3).await;
    bob.chat("alice@localhost", "to both").await;
    assert_eq!(
        body(&phone.expect_message().await).as_deref(),
        Some("to both")
    );
    assert_eq!(
        body(&laptop.expect_message().await).as_deref(),
        Some("to both")
    );
}

/// §4.7.2.3 / §8.5.2.1.1: a resource with negative priority never gets bare-JID
/// messages; with only such resources the message is stored offline (XEP-0160).
#[tokio::test]
async fn message_with_only_negative_priority_goes_offline() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut shy = server.login("alice", "pw-a", "shy").await;
    let mut bob = server.login("bob", "pw-b", "desk").await;
    shy.send("<presence><priority>-1</priority></presence>")
        .await;
    shy.sync().await;
    bob.chat("alice@localhost", "kept for later").await;
    bob.sync().await;
    shy.assert_idle("negative priority").await;

    let mut phone = server.login("alice", "pw-a", "phone").await;
    phone.available().await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("kept for later"));
    assert!(m.get_child("delay", DELAY_NS).is_some(), "XEP-0203 delay");
}

/// §8.5.3.2.1 / RFC 6120 §8.1.2.1: between two resources of the same account; the
/// server stamps `from` with the sender's full JID whatever the client wrote.
#[tokio::test]
async fn messages_between_own_resources_and_forged_from_is_overwritten() {
    let server = Server::start();
    let (mut phone, mut laptop, mut bob) = alice_two_resources(&server, 0, 0).await;
    phone
        .send(
            "<message to='alice@localhost/laptop' type='chat'><body>note to self</body></message>",
        )
        .await;
    let m = laptop.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("note to self"));
    assert_eq!(m.attr("from"), Some("alice@localhost/phone"));

    bob.send(
        "<message from='mallory@localhost/evil' to='alice@localhost/laptop' type='chat'><body>forged</body></message>",
    )
    .await;
    let m = laptop.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("forged"));
    assert_eq!(m.attr("from"), Some("bob@localhost/desk"));
    bob.send(
        "<message from='alice@localhost/phone' to='alice@localhost/laptop' type='chat'><body>forged 2</body></message>",
    )
    .await;
    let m = laptop.expect_message().await;
    assert_eq!(m.attr("from"), Some("bob@localhost/desk"));
}

/// §8.5.2.2.1: a message to a local account that does not exist is answered with
/// `service-unavailable`.
#[tokio::test]
async fn message_to_unknown_local_account_is_service_unavailable() {
    let server = Server::start();
    server.add_account("bob", "pw-b");
    let mut bob = server.login("bob", "pw-b", "desk").await;
    bob.available().await;
    bob.send("<message to='nobody@localhost' type='chat' id='lost'><body>hello?</body></message>")
        .await;
    let e = bob.expect_message().await;
    assert_eq!(
        error_type_and_from(&e),
        (Some("error"), Some("nobody@localhost"))
    );
    assert_eq!(e.attr("id"), Some("lost"));
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));
}

/// §8.5.3.2.1: a chat/normal message to a full JID whose resource is not connected is
/// handled as if sent to the bare JID.
#[tokio::test]
async fn message_to_offline_resource_follows_bare_jid_rules() {
    let server = Server::start();
    let (mut phone, mut laptop, mut bob) = alice_two_resources(&server, 5, 1).await;
    bob.chat("alice@localhost/gone", "where are you").await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("where are you"));
    bob.send("<message to='alice@localhost/gone'><body>normal type</body></message>")
        .await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("normal type"));
    bob.sync().await;
    laptop.assert_idle("lower priority").await;
}

/// RFC 7622 §3.2: a final dot of the domainpart is stripped before routing or
/// comparing. A message to `bob@localhost./phone` reaches bob's phone, and a roster
/// item set with `bob@localhost.` is the same contact as `bob@localhost`.
#[tokio::test]
async fn final_dot_of_a_domain_is_the_same_domain() {
    let server = Server::builder().start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "phone").await;
    alice
        .send("<message to='bob@localhost./phone' type='chat' id='dot'><body>hi</body></message>")
        .await;
    let m = bob.expect_message().await;
    assert_eq!(m.attr("id"), Some("dot"), "{}", m.to_xml(CLIENT_NS));
    assert_eq!(body(&m).as_deref(), Some("hi"));
    alice
        .roster_set("<item jid='bob@localhost.' name='Bob'/>")
        .await;
    let items = alice.roster_get().await;
    let jids: Vec<&str> = items.iter().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, vec!["bob@localhost"]);
}
