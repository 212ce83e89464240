//! XEP-0163 PEP and the XEP-0060 service as users see them: publishing with
//! auto-create and publish options, access models, `+notify` notifications through
//! XEP-0115 capabilities, last-item delivery, retract/purge/delete, limits, persistence
//! and account deletion.

use allium::xml::Element;
use base64::Engine as _;
use sha1::Digest as _;

use crate::common::im::*;
use crate::common::*;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const CAPS: &str = "http://jabber.org/protocol/caps";

/// Sends an IQ, asserts a result, returns it.
async fn ok(c: &mut Client, xml: &str) -> Element {
    let id = next_id("ps");
    let xml = xml.replacen("<iq ", &format!("<iq id='{id}' "), 1);
    let r = c.iq(&id, &xml).await;
    assert_eq!(
        r.attr("type"),
        Some("result"),
        "expected a result for {xml}, got {}",
        r.to_xml(CLIENT_NS)
    );
    r
}

/// Sends an IQ, asserts an error; returns (condition, pubsub#errors condition).
async fn err(c: &mut Client, xml: &str) -> (String, Option<String>) {
    let id = next_id("pe");
    let xml = xml.replacen("<iq ", &format!("<iq id='{id}' "), 1);
    let r = c.iq(&id, &xml).await;
    assert_eq!(
        r.attr("type"),
        Some("error"),
        "expected an error for {xml}, got {}",
        r.to_xml(CLIENT_NS)
    );
    let app = r
        .get_child("error", CLIENT_NS)
        .and_then(|e| e.children().find(|c| c.ns() == ERRORS))
        .map(|c| c.name().to_owned());
    (stanza_error(&r).unwrap_or_default(), app)
}

fn publish(node: &str, id: &str, payload: &str, options: &[(&str, &str)]) -> String {
    let mut opts = String::new();
    if !options.is_empty() {
        opts.push_str(
            "<publish-options><x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'>\
             <value>http://jabber.org/protocol/pubsub#publish-options</value></field>",
        );
        for (k, v) in options {
            opts.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
        }
        opts.push_str("</x></publish-options>");
    }
    format!(
        "<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='{node}'>\
         <item id='{id}'>{payload}</item></publish>{opts}</pubsub></iq>"
    )
}

fn items_get(to: &str, node: &str) -> String {
    format!(
        "<iq type='get' to='{to}'><pubsub xmlns='{PUBSUB}'><items node='{node}'/></pubsub></iq>"
    )
}

/// The items of an items result: (id, payload element).
fn items_of(r: &Element) -> Vec<(String, Element)> {
    r.get_child("pubsub", PUBSUB)
        .and_then(|p| p.get_child("items", PUBSUB))
        .map(|i| {
            i.children()
                .filter(|c| c.is("item", PUBSUB))
                .map(|c| {
                    (
                        c.attr("id").unwrap_or_default().to_owned(),
                        c.children().next().cloned().expect("payload"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The XEP-0115 `ver` of a client with identity client/pc and `features`.
fn caps_ver(features: &[&str]) -> String {
    let mut f: Vec<&str> = features.to_vec();
    f.sort_unstable();
    let s = format!(
        "client/pc//allium-test<{}",
        f.iter().map(|x| format!("{x}<")).collect::<String>()
    );
    base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(s.as_bytes()))
}

/// Sends available presence (to `to`, or broadcast) with capabilities for `features`,
/// and answers the server's disco#info query for them if it asks (XEP-0115 §6.3).
async fn presence_with_caps(
    c: &mut Client,
    to: Option<&str>,
    features: &[&str],
    expect_query: bool,
) {
    let ver = caps_ver(features);
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    c.send(&format!(
        "<presence{to}><c xmlns='{CAPS}' hash='sha-1' node='urn:allium:test' ver='{ver}'/></presence>"
    ))
    .await;
    if !expect_query {
        return;
    }
    let q = c
        .recv_until("the server's caps query", |e| {
            e.name() == "iq"
                && e.attr("type") == Some("get")
                && e.get_child("query", DISCO_INFO).is_some()
        })
        .await;
    let node = q
        .get_child("query", DISCO_INFO)
        .and_then(|q| q.attr("node"))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        node,
        format!("urn:allium:test#{ver}"),
        "XEP-0115 §6.3 node#ver"
    );
    let mut feats = String::new();
    for f in features {
        feats.push_str(&format!("<feature var='{f}'/>"));
    }
    c.send(&format!(
        "<iq type='result' id='{}' to='{}'><query xmlns='{DISCO_INFO}' node='{node}'>\
         <identity category='client' type='pc' name='allium-test'/>{feats}</query></iq>",
        q.attr("id").unwrap_or_default(),
        q.attr("from").unwrap_or_default()
    ))
    .await;
}

/// Waits for a PEP notification from `from` for `node`; returns its `<items/>` (or
/// other event child).
async fn expect_event(c: &mut Client, from: &str, node: &str) -> Element {
    let m = c
        .recv_until(&format!("event for {node} from {from}"), |e| {
            e.name() == "message"
                && e.attr("from") == Some(from)
                && e.get_child("event", EVENT)
                    .and_then(|ev| ev.children().next())
                    .is_some_and(|c| c.attr("node") == Some(node))
        })
        .await;
    assert_eq!(m.attr("type"), Some("headline"));
    m.get_child("event", EVENT)
        .and_then(|ev| ev.children().next())
        .cloned()
        .unwrap()
}

fn event_item_id(ev: &Element) -> Option<String> {
    ev.get_child("item", EVENT)
        .and_then(|i| i.attr("id"))
        .map(str::to_owned)
}

async fn three_users(server: &Server) -> (Client, Client, Client) {
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    server.add_account("carol", "pw-c");
    let alice = server.login("alice", "pw-a", "phone").await;
    let bob = server.login("bob", "pw-b", "laptop").await;
    let carol = server.login("carol", "pw-c", "desk").await;
    (alice, bob, carol)
}

/// XEP-0163 §6.1: the account's bare JID has the pubsub/pep identity and the
/// publish-options feature; the server lists the pubsub service.
#[tokio::test]
async fn account_disco_shows_pep_and_server_lists_service() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let r = ok(
        &mut alice,
        &format!("<iq type='get' to='alice@localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    let q = r.get_child("query", DISCO_INFO).unwrap();
    assert!(q.children().any(|i| i.name() == "identity"
        && i.attr("category") == Some("pubsub")
        && i.attr("type") == Some("pep")));
    let features: Vec<&str> = q.children().filter_map(|f| f.attr("var")).collect();
    for f in [
        PUBSUB,
        "http://jabber.org/protocol/pubsub#publish-options",
        "http://jabber.org/protocol/pubsub#access-whitelist",
        "http://jabber.org/protocol/pubsub#auto-create",
    ] {
        assert!(features.contains(&f), "missing {f} in {features:?}");
    }
    // The server's own disco#info names PEP's features too (profanity looks there).
    let r = ok(
        &mut alice,
        &format!("<iq type='get' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    assert!(
        r.get_child("query", DISCO_INFO)
            .unwrap()
            .children()
            .any(|f| f.attr("var") == Some("http://jabber.org/protocol/pubsub#publish-options"))
    );
    let r = ok(
        &mut alice,
        &format!("<iq type='get' to='localhost'><query xmlns='{DISCO_ITEMS}'/></iq>"),
    )
    .await;
    let items: Vec<&str> = r
        .get_child("query", DISCO_ITEMS)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("jid"))
        .collect();
    assert!(items.contains(&"pubsub.localhost"), "{items:?}");
}

/// XEP-0163 §3 auto-create; XEP-0060 §6.5 items and §4.5 access models: a presence
/// subscriber reads a `presence` node, a stranger does not; `open` is for everyone;
/// `whitelist` for the owner only. The payload comes back as published.
#[tokio::test]
async fn access_models_decide_who_reads_items() {
    let server = Server::start();
    let (mut alice, mut bob, mut carol) = three_users(&server).await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut bob, &mut alice).await; // bob is subscribed to alice (alice: from)

    let device_list = "<list xmlns='eu.siacs.conversations.axolotl'><device id='1234'/></list>";
    ok(
        &mut alice,
        &publish(
            "urn:allium:presence",
            "current",
            "<geo xmlns='urn:x'>here</geo>",
            &[],
        ),
    )
    .await;
    ok(
        &mut alice,
        &publish(
            "eu.siacs.conversations.axolotl.devicelist",
            "current",
            device_list,
            &[("pubsub#access_model", "open")],
        ),
    )
    .await;
    ok(
        &mut alice,
        &publish(
            "storage:bookmarks",
            "current",
            "<storage xmlns='storage:bookmarks'/>",
            &[
                ("pubsub#access_model", "whitelist"),
                ("pubsub#persist_items", "true"),
            ],
        ),
    )
    .await;

    // The owner reads everything.
    let r = ok(
        &mut alice,
        &items_get("alice@localhost", "storage:bookmarks"),
    )
    .await;
    assert_eq!(items_of(&r).len(), 1);

    // A presence subscriber reads the presence node.
    let r = ok(
        &mut bob,
        &items_get("alice@localhost", "urn:allium:presence"),
    )
    .await;
    let got = items_of(&r);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "current");
    assert_eq!(got[0].1.text(), "here");
    // ... but not the whitelist node.
    assert_eq!(
        err(&mut bob, &items_get("alice@localhost", "storage:bookmarks")).await,
        ("not-allowed".to_owned(), Some("closed-node".to_owned()))
    );
    // A stranger reads neither, but reads the open OMEMO device list, unchanged.
    assert_eq!(
        err(
            &mut carol,
            &items_get("alice@localhost", "urn:allium:presence")
        )
        .await,
        (
            "not-authorized".to_owned(),
            Some("presence-subscription-required".to_owned())
        )
    );
    let r = ok(
        &mut carol,
        &items_get(
            "alice@localhost",
            "eu.siacs.conversations.axolotl.devicelist",
        ),
    )
    .await;
    let got = items_of(&r);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].1.to_xml(CLIENT_NS),
        allium::xml::parse_element(device_list, CLIENT_NS)
            .unwrap()
            .to_xml(CLIENT_NS)
    );
    // A missing node is item-not-found with the XEP-0086 code 404, which profanity
    // reads to tell "no OMEMO device list yet" (then it publishes one) from a failure.
    let id = next_id("nf");
    let r = alice
        .iq(
            &id,
            &items_get(
                "alice@localhost",
                "eu.siacs.conversations.axolotl.bundles:1",
            )
            .replacen("<iq ", &format!("<iq id='{id}' "), 1),
        )
        .await;
    let error = r.get_child("error", CLIENT_NS).expect("error");
    assert_eq!(error.attr("code"), Some("404"));
    assert!(error.get_child("item-not-found", STANZAS_NS).is_some());
    // Unknown nodes and accounts.
    assert_eq!(
        err(&mut carol, &items_get("alice@localhost", "urn:nothing"))
            .await
            .0,
        "item-not-found"
    );
    assert_eq!(
        err(&mut carol, &items_get("nobody@localhost", "urn:nothing"))
            .await
            .0,
        "service-unavailable"
    );
    // Only the owner publishes.
    let to_alice = publish("urn:allium:presence", "x", "<geo xmlns='urn:x'/>", &[]).replacen(
        "<iq ",
        "<iq to='alice@localhost' ",
        1,
    );
    assert_eq!(err(&mut bob, &to_alice).await.0, "forbidden");
    // disco#items lists the nodes each may see.
    let nodes = |r: &Element| -> Vec<String> {
        let mut v: Vec<String> = r
            .get_child("query", DISCO_ITEMS)
            .unwrap()
            .children()
            .filter_map(|i| i.attr("node").map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let disco = format!("<iq type='get' to='alice@localhost'><query xmlns='{DISCO_ITEMS}'/></iq>");
    assert_eq!(nodes(&ok(&mut alice, &disco).await).len(), 3);
    assert_eq!(
        nodes(&ok(&mut carol, &disco).await),
        vec!["eu.siacs.conversations.axolotl.devicelist".to_owned()]
    );
}

/// XEP-0060 §7.1.5: publish options that differ from an existing node's configuration
/// fail with precondition-not-met; after the owner reconfigures the node (§8.2) the
/// same publish succeeds.
#[tokio::test]
async fn publish_options_conflict_and_node_configuration() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let node = "urn:xmpp:omemo:2:bundles";
    ok(
        &mut alice,
        &publish(
            node,
            "1",
            "<bundle xmlns='urn:xmpp:omemo:2'/>",
            &[("pubsub#access_model", "open"), ("pubsub#max_items", "max")],
        ),
    )
    .await;
    let r = err(
        &mut alice,
        &publish(
            node,
            "2",
            "<bundle xmlns='urn:xmpp:omemo:2'/>",
            &[("pubsub#access_model", "presence")],
        ),
    )
    .await;
    assert_eq!(
        r,
        (
            "conflict".to_owned(),
            Some("precondition-not-met".to_owned())
        )
    );
    // An option this server does not offer is a failed precondition too.
    let r = err(
        &mut alice,
        &publish(
            node,
            "2",
            "<bundle xmlns='urn:xmpp:omemo:2'/>",
            &[("pubsub#access_model", "authorize")],
        ),
    )
    .await;
    assert_eq!(r.1.as_deref(), Some("precondition-not-met"));

    // §8.2.1: the configuration form shows the node's values.
    let r = ok(
        &mut alice,
        &format!("<iq type='get'><pubsub xmlns='{OWNER}'><configure node='{node}'/></pubsub></iq>"),
    )
    .await;
    let form = r
        .get_child("pubsub", OWNER)
        .and_then(|p| p.get_child("configure", OWNER))
        .and_then(|c| c.get_child("x", "jabber:x:data"))
        .unwrap();
    let value = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.children().next())
            .map(|v| v.text())
    };
    assert_eq!(value("pubsub#access_model").as_deref(), Some("open"));
    assert_eq!(value("pubsub#max_items").as_deref(), Some("max"));

    // §8.2.4: reconfigure; an invalid value is refused.
    let configure = |model: &str| {
        format!(
            "<iq type='set'><pubsub xmlns='{OWNER}'><configure node='{node}'>\
             <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
             <field var='pubsub#access_model'><value>{model}</value></field></x></configure></pubsub></iq>"
        )
    };
    assert_eq!(
        err(&mut alice, &configure("everyone")).await.0,
        "not-acceptable"
    );
    ok(&mut alice, &configure("presence")).await;
    ok(
        &mut alice,
        &publish(
            node,
            "2",
            "<bundle xmlns='urn:xmpp:omemo:2'/>",
            &[("pubsub#access_model", "presence")],
        ),
    )
    .await;
    // max_items stayed "max": both items are kept.
    let r = ok(&mut alice, &items_get("alice@localhost", node)).await;
    assert_eq!(items_of(&r).len(), 2);
}

/// XEP-0163 §4.3: notifications reach the owner's and subscribers' sessions whose
/// capabilities ask for `<node>+notify` (resolved by the server's disco#info query,
/// XEP-0115 §6.3), never a stranger's, and never a session without +notify; a session
/// arriving later gets the last item (§4.3.2).
#[tokio::test]
async fn notifications_follow_capabilities_and_access() {
    let server = Server::start();
    let (mut alice, mut bob, mut carol) = three_users(&server).await;
    let node = "urn:xmpp:omemo:2:devices";
    let notify = format!("{node}+notify");
    alice.available().await;
    bob.available().await;
    subscribe(&mut bob, &mut alice).await;
    subscribe(&mut alice, &mut bob).await;

    // bob's presence (with caps) reaches alice's account: the server asks bob once.
    presence_with_caps(&mut bob, None, &[DISCO_INFO, &notify], true).await;
    bob.sync().await;
    // carol, a stranger, sends directed presence with the same interest.
    presence_with_caps(
        &mut carol,
        Some("alice@localhost"),
        &[DISCO_INFO, &notify],
        false,
    )
    .await;
    // alice's other session, without +notify.
    let mut tablet = server.login("alice", "pw-a", "tablet").await;
    presence_with_caps(&mut tablet, None, &[DISCO_INFO], true).await;
    tablet.sync().await;
    alice.sync().await;
    carol.sync().await;

    ok(
        &mut alice,
        &publish(
            node,
            "current",
            "<devices xmlns='urn:xmpp:omemo:2'><device id='7'/></devices>",
            &[],
        ),
    )
    .await;
    let ev = expect_event(&mut bob, "alice@localhost", node).await;
    assert_eq!(event_item_id(&ev).as_deref(), Some("current"));
    let payload = ev
        .get_child("item", EVENT)
        .and_then(|i| i.children().next())
        .unwrap();
    assert!(payload.is("devices", "urn:xmpp:omemo:2"));
    carol
        .assert_idle("a stranger gets no notification of a presence node")
        .await;
    tablet
        .assert_idle("a session without +notify gets no notification")
        .await;

    // A new session of bob with known caps (cached, no query) gets the last item.
    let mut bob2 = server.login("bob", "pw-b", "phone").await;
    presence_with_caps(&mut bob2, None, &[DISCO_INFO, &notify], false).await;
    let ev = expect_event(&mut bob2, "alice@localhost", node).await;
    assert_eq!(event_item_id(&ev).as_deref(), Some("current"));

    // The owner's own sessions with +notify get their own notifications (the same
    // capabilities as bob's, verified and cached: no query).
    presence_with_caps(&mut tablet, None, &[DISCO_INFO, &notify], false).await;
    let ev = expect_event(&mut tablet, "alice@localhost", node).await;
    assert_eq!(
        event_item_id(&ev).as_deref(),
        Some("current"),
        "last item on new caps"
    );

    // §7.2.2.1 retract with notify, §8.5 purge, §8.4 delete are notified.
    ok(
        &mut alice,
        &format!(
            "<iq type='set'><pubsub xmlns='{PUBSUB}'><retract node='{node}' notify='true'><item id='current'/></retract></pubsub></iq>"
        ),
    )
    .await;
    let ev = expect_event(&mut bob, "alice@localhost", node).await;
    assert_eq!(
        ev.get_child("retract", EVENT).and_then(|r| r.attr("id")),
        Some("current")
    );
    ok(
        &mut alice,
        &publish(node, "again", "<devices xmlns='urn:xmpp:omemo:2'/>", &[]),
    )
    .await;
    expect_event(&mut bob, "alice@localhost", node).await;
    ok(
        &mut alice,
        &format!("<iq type='set'><pubsub xmlns='{OWNER}'><purge node='{node}'/></pubsub></iq>"),
    )
    .await;
    let m = bob
        .recv_until("purge event", |e| {
            e.get_child("event", EVENT)
                .is_some_and(|ev| ev.get_child("purge", EVENT).is_some())
        })
        .await;
    assert_eq!(m.attr("from"), Some("alice@localhost"));
    let r = ok(&mut bob, &items_get("alice@localhost", node)).await;
    assert!(items_of(&r).is_empty(), "purged");
    ok(
        &mut alice,
        &format!("<iq type='set'><pubsub xmlns='{OWNER}'><delete node='{node}'/></pubsub></iq>"),
    )
    .await;
    bob.recv_until("delete event", |e| {
        e.get_child("event", EVENT)
            .is_some_and(|ev| ev.get_child("delete", EVENT).is_some())
    })
    .await;
    assert_eq!(
        err(&mut bob, &items_get("alice@localhost", node)).await.0,
        "item-not-found"
    );
    carol.assert_idle("the stranger heard of nothing").await;

    // Once bob's session is unavailable, it is no longer notified.
    bob.send("<presence type='unavailable'/>").await;
    bob.sync().await;
    ok(
        &mut alice,
        &publish(node, "later", "<devices xmlns='urn:xmpp:omemo:2'/>", &[]),
    )
    .await;
    alice.sync().await;
    bob.assert_idle("an unavailable session gets no notification")
        .await;
}

/// `[pep]` limits: nodes per account, payload size, items per node (oldest dropped
/// first, `max` meaning the server's limit), bytes per account; each a clear error.
#[tokio::test]
async fn limits_are_enforced_with_clear_errors() {
    let server = Server::builder()
        .toml(
            "[pep]\nmax_nodes = 2\nmax_items_per_node = 2\nmax_item_bytes = 1024\nmax_bytes_per_account = 2048\n",
        )
        .start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    for id in ["1", "2", "3"] {
        ok(
            &mut alice,
            &publish(
                "urn:a",
                id,
                "<x xmlns='urn:x'/>",
                &[("pubsub#max_items", "max")],
            ),
        )
        .await;
    }
    let r = ok(&mut alice, &items_get("alice@localhost", "urn:a")).await;
    let ids: Vec<String> = items_of(&r).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["3", "2"], "newest first, the oldest dropped");
    ok(
        &mut alice,
        &publish("urn:b", "1", "<x xmlns='urn:x'/>", &[]),
    )
    .await;
    let (cond, _) = err(
        &mut alice,
        &publish("urn:c", "1", "<x xmlns='urn:x'/>", &[]),
    )
    .await;
    assert_eq!(cond, "resource-constraint");
    let big = format!("<x xmlns='urn:x'>{}</x>", "a".repeat(2000));
    assert_eq!(
        err(&mut alice, &publish("urn:a", "big", &big, &[])).await,
        (
            "not-acceptable".to_owned(),
            Some("payload-too-big".to_owned())
        )
    );
    let nearly = format!("<x xmlns='urn:x'>{}</x>", "a".repeat(900));
    ok(&mut alice, &publish("urn:a", "n1", &nearly, &[])).await;
    ok(&mut alice, &publish("urn:b", "n2", &nearly, &[])).await;
    let (cond, _) = err(&mut alice, &publish("urn:b", "n3", &nearly, &[])).await;
    assert_eq!(cond, "resource-constraint", "bytes per account");
    // Malformed publishes.
    assert_eq!(
        err(
            &mut alice,
            &format!(
                "<iq type='set'><pubsub xmlns='{PUBSUB}'><publish node='urn:a'/></pubsub></iq>"
            )
        )
        .await,
        ("bad-request".to_owned(), Some("item-required".to_owned()))
    );
    assert_eq!(
        err(
            &mut alice,
            &format!(
                "<iq type='set'><pubsub xmlns='{PUBSUB}'><publish><item/></publish></pubsub></iq>"
            )
        )
        .await,
        ("bad-request".to_owned(), Some("nodeid-required".to_owned()))
    );
}

/// Items survive a restart; deleting the account removes its nodes.
#[tokio::test]
async fn items_persist_and_go_with_the_account() {
    let mut server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    {
        let mut alice = server.login("alice", "pw-a", "phone").await;
        ok(
            &mut alice,
            &publish(
                "urn:xmpp:avatar:metadata",
                "abc",
                "<metadata xmlns='urn:xmpp:avatar:metadata'/>",
                &[("pubsub#access_model", "open")],
            ),
        )
        .await;
        alice.close().await;
    }
    server.restart();
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    let r = ok(
        &mut bob,
        &items_get("alice@localhost", "urn:xmpp:avatar:metadata"),
    )
    .await;
    assert_eq!(items_of(&r).len(), 1, "persisted across a restart");
    let (okay, _, stderr) = server.cli(&["account", "delete", "alice@localhost"], "");
    assert!(okay, "{stderr}");
    server.add_account("alice", "pw-new");
    assert_eq!(
        err(
            &mut bob,
            &items_get("alice@localhost", "urn:xmpp:avatar:metadata")
        )
        .await
        .0,
        "item-not-found",
        "a deleted account's nodes are gone"
    );
}

/// The XEP-0060 service on pubsub.<domain>: a local account creates a node and
/// publishes; another subscribes (§6.1), gets the last item and later notifications;
/// only the owner publishes or deletes.
#[tokio::test]
async fn pubsub_service_create_subscribe_publish() {
    let server = Server::start();
    let (mut alice, mut bob, _carol) = three_users(&server).await;
    let svc = "pubsub.localhost";
    let r = ok(
        &mut alice,
        &format!("<iq type='get' to='{svc}'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    assert!(
        r.get_child("query", DISCO_INFO)
            .unwrap()
            .children()
            .any(|i| i.attr("category") == Some("pubsub") && i.attr("type") == Some("service"))
    );
    ok(
        &mut alice,
        &format!(
            "<iq type='set' to='{svc}'><pubsub xmlns='{PUBSUB}'><create node='news'/></pubsub></iq>"
        ),
    )
    .await;
    assert_eq!(
        err(
            &mut bob,
            &format!("<iq type='set' to='{svc}'><pubsub xmlns='{PUBSUB}'><create node='news'/></pubsub></iq>")
        )
        .await
        .0,
        "conflict"
    );
    let to_svc = |xml: String| xml.replacen("<iq ", &format!("<iq to='{svc}' "), 1);
    ok(
        &mut alice,
        &to_svc(publish(
            "news",
            "first",
            "<entry xmlns='http://www.w3.org/2005/Atom'>one</entry>",
            &[],
        )),
    )
    .await;
    assert_eq!(
        err(
            &mut bob,
            &to_svc(publish(
                "news",
                "x",
                "<entry xmlns='http://www.w3.org/2005/Atom'/>",
                &[]
            ))
        )
        .await
        .0,
        "forbidden"
    );
    let r = ok(
        &mut bob,
        &format!(
            "<iq type='set' to='{svc}'><pubsub xmlns='{PUBSUB}'><subscribe node='news' jid='bob@localhost/laptop'/></pubsub></iq>"
        ),
    )
    .await;
    assert_eq!(
        r.get_child("pubsub", PUBSUB)
            .and_then(|p| p.get_child("subscription", PUBSUB))
            .and_then(|s| s.attr("subscription")),
        Some("subscribed")
    );
    let ev = expect_event(&mut bob, svc, "news").await;
    assert_eq!(
        event_item_id(&ev).as_deref(),
        Some("first"),
        "last item on subscribe"
    );
    // Subscribing someone else is refused.
    assert_eq!(
        err(
            &mut bob,
            &format!("<iq type='set' to='{svc}'><pubsub xmlns='{PUBSUB}'><subscribe node='news' jid='carol@localhost'/></pubsub></iq>")
        )
        .await,
        ("bad-request".to_owned(), Some("invalid-jid".to_owned()))
    );
    ok(
        &mut alice,
        &to_svc(publish(
            "news",
            "second",
            "<entry xmlns='http://www.w3.org/2005/Atom'>two</entry>",
            &[],
        )),
    )
    .await;
    let ev = expect_event(&mut bob, svc, "news").await;
    assert_eq!(event_item_id(&ev).as_deref(), Some("second"));
    let r = ok(&mut bob, &items_get(svc, "news")).await;
    assert_eq!(items_of(&r).len(), 2);
}

/// XEP-0163 §4.3.1 with a one-way subscription: bob is subscribed to alice's presence
/// but alice not to his, so his presence never reaches her account; he still gets her
/// notifications, and the last item when his session becomes available.
#[tokio::test]
async fn one_way_subscribers_are_notified() {
    let server = Server::start();
    let (mut alice, mut bob, _carol) = three_users(&server).await;
    alice.available().await;
    bob.available().await;
    subscribe(&mut bob, &mut alice).await;
    let node = "http://jabber.org/protocol/nick";
    let notify = format!("{node}+notify");
    ok(
        &mut alice,
        &publish(
            node,
            "current",
            "<nick xmlns='http://jabber.org/protocol/nick'>Alice</nick>",
            &[],
        ),
    )
    .await;
    presence_with_caps(&mut bob, None, &[DISCO_INFO, &notify], true).await;
    let ev = expect_event(&mut bob, "alice@localhost", node).await;
    assert_eq!(event_item_id(&ev).as_deref(), Some("current"), "last item");
    ok(
        &mut alice,
        &publish(
            node,
            "next",
            "<nick xmlns='http://jabber.org/protocol/nick'>A.</nick>",
            &[],
        ),
    )
    .await;
    let ev = expect_event(&mut bob, "alice@localhost", node).await;
    assert_eq!(event_item_id(&ev).as_deref(), Some("next"));
    // alice, not subscribed to bob, hears nothing of his nodes, though her presence
    // (with the same +notify capabilities) reaches his account.
    presence_with_caps(&mut alice, None, &[DISCO_INFO, &notify], false).await;
    alice.sync().await;
    bob.sync().await;
    ok(
        &mut bob,
        &publish(
            node,
            "b",
            "<nick xmlns='http://jabber.org/protocol/nick'>Bob</nick>",
            &[],
        ),
    )
    .await;
    alice.assert_idle("no subscription to bob's presence").await;
}

/// XEP-0191 §3.3: an entity the account blocked gets none of its PEP items (the
/// server answers for the account, so the account's block list applies), also while
/// the account is offline; others still do.
#[tokio::test]
async fn blocked_entities_cannot_read_pep_items() {
    let server = Server::start();
    let (mut alice, mut bob, mut carol) = three_users(&server).await;
    let node = "urn:xmpp:omemo:2:devices";
    ok(
        &mut alice,
        &publish(
            node,
            "current",
            "<devices xmlns='urn:xmpp:omemo:2'/>",
            &[("pubsub#access_model", "open")],
        ),
    )
    .await;
    ok(
        &mut alice,
        "<iq type='set'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>",
    )
    .await;
    assert_eq!(
        err(&mut bob, &items_get("alice@localhost", node)).await.0,
        "service-unavailable"
    );
    assert_eq!(
        items_of(&ok(&mut carol, &items_get("alice@localhost", node)).await).len(),
        1
    );
    alice.close().await;
    assert_eq!(
        err(&mut bob, &items_get("alice@localhost", node)).await.0,
        "service-unavailable",
        "the stored block list applies while alice is offline"
    );
}

/// XEP-0402 §5.3 (`urn:xmpp:bookmarks:1#compat`): bookmarks published to PEP are read
/// through XEP-0049 private storage, and a legacy private-storage set is published to
/// PEP (notified to the account's XEP-0402 clients), rooms no longer listed retracted.
#[tokio::test]
async fn bookmarks_are_shared_between_pep_and_private_storage() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut modern = server.login("alice", "pw-a", "modern").await;
    let mut legacy = server.login("alice", "pw-a", "legacy").await;
    let node = "urn:xmpp:bookmarks:1";
    let notify = format!("{node}+notify");
    let r = ok(
        &mut modern,
        &format!("<iq type='get' to='alice@localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
    )
    .await;
    assert!(
        r.get_child("query", DISCO_INFO)
            .unwrap()
            .children()
            .any(|f| f.attr("var") == Some("urn:xmpp:bookmarks:1#compat"))
    );
    presence_with_caps(&mut modern, None, &[DISCO_INFO, &notify], true).await;
    modern.sync().await;
    let whitelist = [
        ("pubsub#persist_items", "true"),
        ("pubsub#max_items", "max"),
        ("pubsub#access_model", "whitelist"),
    ];
    ok(
        &mut modern,
        &publish(
            node,
            "one@conference.localhost",
            "<conference xmlns='urn:xmpp:bookmarks:1' name='One' autojoin='true'><nick>al</nick></conference>",
            &whitelist,
        ),
    )
    .await;
    expect_event(&mut modern, "alice@localhost", node).await;

    // The legacy client reads the room through private storage.
    let get = "<iq type='get'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query></iq>";
    let r = ok(&mut legacy, get).await;
    let storage = r
        .get_child("query", "jabber:iq:private")
        .and_then(|q| q.get_child("storage", "storage:bookmarks"))
        .unwrap();
    let confs: Vec<&Element> = storage
        .children()
        .filter(|c| c.name() == "conference")
        .collect();
    assert_eq!(confs.len(), 1);
    assert_eq!(confs[0].attr("jid"), Some("one@conference.localhost"));
    assert_eq!(confs[0].attr("name"), Some("One"));
    assert_eq!(confs[0].attr("autojoin"), Some("true"));

    // The legacy client replaces its bookmarks: the modern client hears of both changes.
    ok(
        &mut legacy,
        "<iq type='set'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>\
         <conference jid='two@conference.localhost' name='Two' autojoin='1'><nick>al</nick></conference>\
         <url name='site' url='https://example.org/'/></storage></query></iq>",
    )
    .await;
    let ev = expect_event(&mut modern, "alice@localhost", node).await;
    let mut seen: Vec<String> = ev
        .children()
        .map(|c| format!("{} {}", c.name(), c.attr("id").unwrap_or_default()))
        .collect();
    let ev2 = expect_event(&mut modern, "alice@localhost", node).await;
    seen.extend(
        ev2.children()
            .map(|c| format!("{} {}", c.name(), c.attr("id").unwrap_or_default())),
    );
    seen.sort();
    assert_eq!(
        seen,
        [
            "item two@conference.localhost",
            "retract one@conference.localhost"
        ]
    );
    let r = ok(&mut modern, &items_get("alice@localhost", node)).await;
    let items = items_of(&r);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].0, "two@conference.localhost");
    assert!(items[0].1.is("conference", "urn:xmpp:bookmarks:1"));
    let r = ok(&mut legacy, get).await;
    let storage = r
        .get_child("query", "jabber:iq:private")
        .and_then(|q| q.get_child("storage", "storage:bookmarks"))
        .unwrap();
    let names: Vec<&str> = storage
        .children()
        .filter_map(|c| c.attr("jid").or(c.attr("url")))
        .collect();
    assert_eq!(names, ["two@conference.localhost", "https://example.org/"]);
}
