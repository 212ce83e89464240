//! XEP-0280 Message Carbons as a user sees it: enabling and disabling (§4, §5),
//! `<received/>` copies (§6) and `<sent/>` copies (§7) to the account's other
//! carbons-enabled resources, what is not copied (§6.1: groupchat, errors; §8:
//! `<private/>`; XEP-0334 `<no-copy/>`), and the refusal of a forged carbon (§11).

use allium::xml::Element;

use crate::common::im::*;
use crate::common::*;

const CARBONS_NS: &str = "urn:xmpp:carbons:2";
const FORWARD_NS: &str = "urn:xmpp:forward:0";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

impl Client {
    /// Sends `<enable/>` or `<disable/>` (§4, §5) and returns the reply's type.
    async fn carbons(&mut self, what: &str) -> String {
        let id = next_id("cb");
        let r = self
            .iq(
                &id,
                &format!("<iq type='set' id='{id}'><{what} xmlns='{CARBONS_NS}'/></iq>"),
            )
            .await;
        r.attr("type").unwrap_or_default().to_owned()
    }
}

/// The message inside a carbon `<sent/>` or `<received/>` (`what`), checking the
/// wrapper: from the account's bare JID `bare`, to this resource `to`.
fn unwrap_carbon(e: &Element, what: &str, bare: &str, to: &str) -> Element {
    assert_eq!(e.name(), "message", "{}", e.to_xml(CLIENT_NS));
    assert_eq!(
        e.attr("from"),
        Some(bare),
        "a carbon comes from the bare JID (§11)"
    );
    assert_eq!(e.attr("to"), Some(to));
    e.get_child(what, CARBONS_NS)
        .and_then(|w| w.get_child("forwarded", FORWARD_NS))
        .and_then(|f| f.get_child("message", CLIENT_NS))
        .unwrap_or_else(|| panic!("no {what} carbon: {}", e.to_xml(CLIENT_NS)))
        .clone()
}

/// alice on `phone` and `desk`, both available, `desk` with carbons; bob on `pc`.
/// Everything queued so far is drained.
async fn setup(server: &Server) -> (Client, Client, Client) {
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut phone = server.login("alice", "pw-a", "phone").await;
    let mut desk = server.login("alice", "pw-a", "desk").await;
    let mut bob = server.login("bob", "pw-b", "pc").await;
    assert_eq!(desk.carbons("enable").await, "result");
    for c in [&mut phone, &mut desk, &mut bob] {
        c.available().await;
    }
    for c in [&mut phone, &mut desk, &mut bob] {
        c.drain().await;
    }
    // Own presence of the other resource may still come: sync once more.
    phone.drain().await;
    desk.drain().await;
    (phone, desk, bob)
}

/// §3 disco feature, §4 enable and §5 disable are answered with results, also when
/// sent twice, and to the server's domain.
#[tokio::test]
async fn carbons_feature_enable_and_disable() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut c = server.login("alice", "pw-a", "phone").await;
    let r = c
        .iq(
            "d1",
            &format!("<iq type='get' id='d1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
        )
        .await;
    let features: Vec<&str> = r
        .get_child("query", DISCO_INFO)
        .expect("disco result")
        .children()
        .filter_map(|f| f.attr("var"))
        .collect();
    assert!(features.contains(&CARBONS_NS), "{features:?}");
    assert_eq!(c.carbons("enable").await, "result");
    assert_eq!(c.carbons("enable").await, "result");
    assert_eq!(c.carbons("disable").await, "result");
    let r = c
        .iq(
            "h1",
            &format!("<iq type='set' id='h1' to='localhost'><enable xmlns='{CARBONS_NS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

/// §6: a chat message to one full JID comes to that resource and, as a `<received/>`
/// copy from the bare JID, to the other carbons-enabled resource; the resource without
/// carbons gets no copy of what goes to the other. A message to the bare JID that the
/// router gives both resources (same priority) is not copied to them again.
#[tokio::test]
async fn received_copy_to_the_other_enabled_resource() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;

    bob.send(
        "<message to='alice@localhost/phone' type='chat' id='r1'><body>to the phone</body></message>",
    )
    .await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("to the phone"));
    let c = desk.expect_message().await;
    let inner = unwrap_carbon(&c, "received", "alice@localhost", "alice@localhost/desk");
    assert_eq!(inner.attr("from"), Some("bob@localhost/pc"));
    assert_eq!(inner.attr("to"), Some("alice@localhost/phone"));
    assert_eq!(inner.attr("id"), Some("r1"));
    assert_eq!(body(&inner).as_deref(), Some("to the phone"));

    bob.send(
        "<message to='alice@localhost/desk' type='chat' id='r2'><body>to the desk</body></message>",
    )
    .await;
    let m = desk.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("to the desk"));
    assert!(m.get_child("received", CARBONS_NS).is_none());
    phone
        .assert_idle("a resource without carbons gets no copy")
        .await;

    bob.chat("alice@localhost", "to the bare JID").await;
    for c in [&mut phone, &mut desk] {
        let m = c.expect_message().await;
        assert_eq!(body(&m).as_deref(), Some("to the bare JID"));
        assert!(m.get_child("received", CARBONS_NS).is_none());
    }
    desk.assert_idle("no copy for a resource that got the original")
        .await;
    bob.assert_idle("no error for the sender").await;
}

/// §7: a chat message alice's phone sends to bob goes to bob and, as a `<sent/>` copy,
/// to her carbons-enabled desk; the phone gets no copy of its own message. An OMEMO
/// payload is copied unchanged.
#[tokio::test]
async fn sent_copy_to_the_other_enabled_resource() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;

    let omemo = "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>AAAA</iv></header><payload>BBBB</payload></encrypted>";
    phone
        .send(&format!(
            "<message to='bob@localhost' type='chat' id='s1'><body>sent</body>{omemo}</message>"
        ))
        .await;
    let m = bob.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("sent"));
    let c = desk.expect_message().await;
    let inner = unwrap_carbon(&c, "sent", "alice@localhost", "alice@localhost/desk");
    assert_eq!(inner.attr("from"), Some("alice@localhost/phone"));
    assert_eq!(inner.attr("to"), Some("bob@localhost"));
    assert_eq!(inner.attr("id"), Some("s1"));
    let enc = inner
        .get_child("encrypted", "eu.siacs.conversations.axolotl")
        .expect("OMEMO payload kept");
    assert_eq!(
        enc.to_xml(CLIENT_NS),
        m.get_child("encrypted", "eu.siacs.conversations.axolotl")
            .unwrap()
            .to_xml(CLIENT_NS)
    );
    phone.assert_idle("the sender gets no copy").await;

    // A delivery receipt (XEP-0184) without body is copied too (§6.1).
    phone
        .send("<message to='bob@localhost/pc' id='s2'><received xmlns='urn:xmpp:receipts' id='x'/></message>")
        .await;
    let c = desk.expect_message().await;
    let inner = unwrap_carbon(&c, "sent", "alice@localhost", "alice@localhost/desk");
    assert!(inner.get_child("received", "urn:xmpp:receipts").is_some());
}

/// §8 and XEP-0334: `<private/>` with `<no-copy/>`, or `<no-copy/>` alone, is not
/// copied either way; the recipient gets the message with its `<private/>` element.
#[tokio::test]
async fn private_and_no_copy_are_not_copied() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;

    phone
        .send(&format!(
            "<message to='bob@localhost' type='chat' id='p1'><body>private</body>\
             <private xmlns='{CARBONS_NS}'/><no-copy xmlns='urn:xmpp:hints'/></message>"
        ))
        .await;
    let m = bob.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("private"));
    assert!(m.get_child("private", CARBONS_NS).is_some(), "kept (§8)");
    bob.send(
        "<message to='alice@localhost/phone' type='chat' id='p2'><body>no copy</body>\
         <no-copy xmlns='urn:xmpp:hints'/></message>",
    )
    .await;
    let m = phone.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("no copy"));
    desk.assert_idle("neither is copied").await;
}

/// §5: after `<disable/>` nothing is copied, sent or received.
#[tokio::test]
async fn nothing_is_copied_once_disabled() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;
    assert_eq!(desk.carbons("disable").await, "result");
    phone.chat("bob@localhost", "one").await;
    bob.expect_message().await;
    bob.send("<message to='alice@localhost/phone' type='chat'><body>two</body></message>")
        .await;
    phone.expect_message().await;
    desk.assert_idle("carbons disabled").await;
}

/// §6.1: groupchat messages and errors are not copied.
#[tokio::test]
async fn groupchat_and_errors_are_not_copied() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;
    bob.send(
        "<message to='alice@localhost/phone' type='groupchat' id='g1'><body>room</body></message>",
    )
    .await;
    let m = phone.expect_message().await;
    assert_eq!(m.attr("type"), Some("groupchat"));
    bob.send(
        "<message to='alice@localhost/phone' type='error' id='e1'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
    )
    .await;
    let m = phone.expect_message().await;
    assert_eq!(m.attr("type"), Some("error"));
    // And a sent groupchat message to someone is not copied either.
    phone
        .send("<message to='bob@localhost/pc' type='groupchat'><body>g</body></message>")
        .await;
    bob.expect_message().await;
    desk.assert_idle("groupchat and errors are not copied")
        .await;
}

/// §11: a message from another entity carrying a carbons wrapper (a forged copy that
/// claims alice sent something) is refused with `not-acceptable` and never delivered.
#[tokio::test]
async fn forged_carbon_from_another_entity_is_refused() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;
    bob.send(&format!(
        "<message to='alice@localhost/phone' type='chat' id='f1'>\
         <sent xmlns='{CARBONS_NS}'><forwarded xmlns='{FORWARD_NS}'>\
         <message xmlns='jabber:client' from='alice@localhost/desk' to='mallory@localhost' type='chat'>\
         <body>forged</body></message></forwarded></sent></message>"
    ))
    .await;
    let e = bob.expect_message().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("id"), Some("f1"));
    assert_eq!(stanza_error(&e).as_deref(), Some("not-acceptable"));
    phone
        .assert_idle("the forged carbon is not delivered")
        .await;
    desk.assert_idle("nor copied").await;
}

/// §6 with RFC 6121 §8.5: a message to the bare JID goes to the highest-priority
/// resource only, so the lower-priority carbons-enabled resource gets a `<received/>`
/// copy; so does a message to a resource that is not bound (delivered as to the bare
/// JID, §8.5.3.2.1), with or without a type.
#[tokio::test]
async fn received_copy_when_the_router_picks_another_resource() {
    let server = Server::start();
    let (mut phone, mut desk, mut bob) = setup(&server).await;
    phone
        .send("<presence><priority>5</priority></presence>")
        .await;
    phone.drain().await;
    desk.drain().await;

    for (to, typ) in [
        ("alice@localhost", " type='chat'"),
        ("alice@localhost/gone", " type='chat'"),
        ("alice@localhost/gone", ""),
    ] {
        bob.send(&format!(
            "<message to='{to}'{typ}><body>pick one</body></message>"
        ))
        .await;
        let m = phone.expect_message().await;
        assert_eq!(body(&m).as_deref(), Some("pick one"), "{to}");
        assert!(m.get_child("received", CARBONS_NS).is_none());
        let c = desk.expect_message().await;
        let inner = unwrap_carbon(&c, "received", "alice@localhost", "alice@localhost/desk");
        assert_eq!(inner.attr("to"), Some(to));
        desk.assert_idle("one copy").await;
    }
}
