//! XEP-0191 Blocking Command as a user sees it: the block list (§3.2), block (§3.3),
//! unblock (§3.4) and unblock all (§3.5) with pushes to the resources that requested
//! the list, enforcement both ways (§3.3), presence on block and unblock, the item
//! limit, and persistence across a restart.

use allium::xml::Element;

use crate::common::im::*;
use crate::common::*;

const BLOCKING_NS: &str = "urn:xmpp:blocking";
const BLOCKING_ERRORS_NS: &str = "urn:xmpp:blocking:errors";

impl Client {
    /// §3.2: the block list's JIDs, in the server's order.
    async fn blocklist(&mut self) -> Vec<String> {
        let id = next_id("bl");
        let r = self
            .iq(
                &id,
                &format!("<iq type='get' id='{id}'><blocklist xmlns='{BLOCKING_NS}'/></iq>"),
            )
            .await;
        assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
        r.get_child("blocklist", BLOCKING_NS)
            .expect("a blocklist in the result")
            .children()
            .filter_map(|i| i.attr("jid").map(str::to_owned))
            .collect()
    }

    /// Sends `<block/>` or `<unblock/>` (`what`) with these JIDs; returns the reply and
    /// what came to this resource before it (pushes, presence).
    async fn block_set(&mut self, what: &str, jids: &[&str]) -> (Element, Vec<Element>) {
        let id = next_id("bs");
        let items: String = jids.iter().map(|j| format!("<item jid='{j}'/>")).collect();
        self.send(&format!(
            "<iq type='set' id='{id}'><{what} xmlns='{BLOCKING_NS}'>{items}</{what}></iq>"
        ))
        .await;
        let mut before = Vec::new();
        loop {
            let e = self.recv().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                return (e, before);
            }
            before.push(e);
        }
    }

    /// Sends a block or unblock that must succeed; returns what came before the result.
    async fn block_ok(&mut self, what: &str, jids: &[&str]) -> Vec<Element> {
        let (r, before) = self.block_set(what, jids).await;
        assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
        before
    }

    /// Waits for a block list push; returns it as [`push_of`].
    async fn expect_block_push(&mut self) -> Push {
        let e = self.recv_until("block list push", is_block_push).await;
        push_of(&e)
    }
}

/// A block list push: its element name (`block`/`unblock`) and JIDs.
type Push = (String, Vec<String>);

fn is_block_push(e: &Element) -> bool {
    e.name() == "iq" && e.attr("type") == Some("set") && e.children().any(|c| c.ns() == BLOCKING_NS)
}

/// The block list pushes among `els`.
fn pushes(els: &[Element]) -> Vec<Push> {
    els.iter()
        .filter(|e| is_block_push(e))
        .map(push_of)
        .collect()
}

/// Whether `els` has a presence of `ptype` from `from`.
fn has_presence(els: &[Element], from: &str, ptype: &str) -> bool {
    els.iter().any(|e| is_presence(e, from, ptype))
}

fn push_of(e: &Element) -> Push {
    let p = e.first_child().expect("push payload");
    (
        p.name().to_owned(),
        p.children()
            .filter_map(|i| i.attr("jid").map(str::to_owned))
            .collect(),
    )
}

/// alice (`phone`) and bob (`pc`), available, subscribed to each other; drained.
async fn friends(server: &Server) -> (Client, Client) {
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "pc").await;
    alice.roster_get().await;
    bob.roster_get().await;
    alice.available().await;
    bob.available().await;
    alice.drain().await;
    bob.drain().await;
    subscribe(&mut alice, &mut bob).await;
    subscribe(&mut bob, &mut alice).await;
    alice.drain().await;
    bob.drain().await;
    alice.drain().await;
    (alice, bob)
}

/// §3.2 get (empty, then the items), §3.3 block with a push to every resource that
/// requested the list (the blocking one included) and to no other, §3.4 unblock with
/// its push; refusals: a block without items is `bad-request`, an invalid JID
/// `jid-malformed` (nothing changes), the own account `not-acceptable`.
#[tokio::test]
async fn block_list_get_set_and_pushes() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let mut a = server.login("alice", "pw-a", "a").await;
    let mut b = server.login("alice", "pw-a", "b").await;
    let mut c = server.login("alice", "pw-a", "c").await;
    assert!(a.blocklist().await.is_empty());
    assert!(b.blocklist().await.is_empty());

    let want = (
        "block".to_owned(),
        vec!["bob@localhost".to_owned(), "example.net".to_owned()],
    );
    let before = a.block_ok("block", &["bob@localhost", "Example.NET"]).await;
    assert_eq!(
        pushes(&before),
        std::slice::from_ref(&want),
        "the blocking resource gets the push too"
    );
    assert_eq!(b.expect_block_push().await, want);
    c.assert_idle("a resource that never requested the list gets no push")
        .await;
    assert_eq!(c.blocklist().await, ["bob@localhost", "example.net"]);

    let (e, _) = a.block_set("block", &[]).await;
    assert_eq!(stanza_error(&e).as_deref(), Some("bad-request"));
    let (e, _) = a.block_set("block", &["carol@localhost", "@@bad@@"]).await;
    assert_eq!(stanza_error(&e).as_deref(), Some("jid-malformed"));
    let (e, _) = a.block_set("block", &["alice@localhost/other"]).await;
    assert_eq!(stanza_error(&e).as_deref(), Some("not-acceptable"));
    assert_eq!(
        a.blocklist().await,
        ["bob@localhost", "example.net"],
        "unchanged"
    );

    let want = ("unblock".to_owned(), vec!["example.net".to_owned()]);
    assert_eq!(
        pushes(&b.block_ok("unblock", &["example.net"]).await),
        std::slice::from_ref(&want)
    );
    for r in [&mut a, &mut c] {
        assert_eq!(r.expect_block_push().await, want);
    }
    assert_eq!(a.blocklist().await, ["bob@localhost"]);
}

/// §3.3: once alice blocks bob, bob's message and IQ get are refused with
/// `service-unavailable` and never reach alice; bob's presence is dropped without an
/// answer. On the block, bob gets unavailable presence from alice and alice from bob.
#[tokio::test]
async fn blocked_sender_is_refused_and_its_presence_dropped() {
    let server = Server::start();
    let (mut alice, mut bob) = friends(&server).await;
    let before = alice.block_ok("block", &["bob@localhost"]).await;
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    assert!(
        has_presence(&before, "bob@localhost/pc", "unavailable"),
        "alice stops seeing bob: {before:?}"
    );

    bob.send("<message to='alice@localhost' type='chat' id='m1'><body>hi</body></message>")
        .await;
    let e = bob.expect_message().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("id"), Some("m1"));
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));
    let e = bob
        .iq(
            "q1",
            "<iq type='get' id='q1' to='alice@localhost/phone'><query xmlns='jabber:iq:version'/></iq>",
        )
        .await;
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));

    bob.send("<presence><status>still here</status></presence>")
        .await;
    bob.send("<presence to='alice@localhost/phone'><status>directed</status></presence>")
        .await;
    bob.drain().await;
    alice.assert_idle("nothing of bob's reaches alice").await;
    bob.assert_idle("no answer to presence").await;
}

/// §3.3: what alice sends to the JID she blocked is refused with `not-acceptable` and
/// `<blocked xmlns='urn:xmpp:blocking:errors'/>`; her presence does not reach bob.
#[tokio::test]
async fn stanza_to_a_blocked_jid_is_refused_with_blocked() {
    let server = Server::start();
    let (mut alice, mut bob) = friends(&server).await;
    alice
        .block_ok("block", &["localhost/nothing", "bob@localhost"])
        .await;
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    alice.drain().await;

    alice
        .send("<message to='bob@localhost/pc' type='chat' id='o1'><body>hey</body></message>")
        .await;
    let e = alice.expect_message().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("id"), Some("o1"));
    assert_eq!(stanza_error(&e).as_deref(), Some("not-acceptable"));
    let err = e.get_child("error", CLIENT_NS).unwrap();
    assert!(
        err.get_child("blocked", BLOCKING_ERRORS_NS).is_some(),
        "{}",
        e.to_xml(CLIENT_NS)
    );
    // Broadcast presence skips bob.
    alice.send("<presence><show>away</show></presence>").await;
    alice.drain().await;
    bob.assert_idle("nothing of alice's reaches bob").await;
}

/// §3.4 unblock restores delivery both ways and sends each side the other's current
/// presence; §3.5 an empty `<unblock/>` empties the list, pushed as an empty unblock.
#[tokio::test]
async fn unblock_restores_and_unblock_all_empties() {
    let server = Server::start();
    let (mut alice, mut bob) = friends(&server).await;
    alice.blocklist().await;
    let before = alice
        .block_ok("block", &["bob@localhost", "carol@localhost"])
        .await;
    assert_eq!(pushes(&before).len(), 1);
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    alice.drain().await;

    let before = alice.block_ok("unblock", &["bob@localhost"]).await;
    assert_eq!(pushes(&before).len(), 1);
    assert!(
        has_presence(&before, "bob@localhost/pc", ""),
        "alice sees bob again: {before:?}"
    );
    bob.expect_presence("alice@localhost/phone", "").await;
    bob.chat("alice@localhost", "back").await;
    let m = alice.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("back"));
    alice.chat("bob@localhost", "welcome").await;
    let m = bob.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("welcome"));

    let before = alice.block_ok("unblock", &[]).await;
    assert_eq!(pushes(&before), [("unblock".to_owned(), Vec::new())]);
    assert!(alice.blocklist().await.is_empty());
}

/// `blocking.max_items`: a block that would take the list beyond the limit is refused
/// as a whole with `resource-constraint` and a text; the list is unchanged.
#[tokio::test]
async fn block_beyond_the_limit_is_refused() {
    let server = Server::builder()
        .toml("[blocking]\nmax_items = 2\n")
        .start();
    server.add_account("alice", "pw-a");
    let mut a = server.login("alice", "pw-a", "a").await;
    a.block_ok("block", &["x@localhost"]).await;
    let (e, _) = a.block_set("block", &["y@localhost", "z@localhost"]).await;
    assert_eq!(stanza_error(&e).as_deref(), Some("resource-constraint"));
    let text = e
        .get_child("error", CLIENT_NS)
        .and_then(|er| er.get_child("text", STANZAS_NS))
        .map(|t| t.text())
        .unwrap_or_default();
    assert!(text.contains('2'), "the text names the limit: {text:?}");
    assert_eq!(a.blocklist().await, ["x@localhost"]);
    // Blocking what is already there does not count twice.
    a.block_ok("block", &["x@localhost", "y@localhost"]).await;
    assert_eq!(a.blocklist().await, ["x@localhost", "y@localhost"]);
}

/// The list is stored: after a restart it is still there and enforced, also while
/// alice is offline (bob's message is refused rather than stored for her).
#[tokio::test]
async fn block_list_survives_restart_and_applies_offline() {
    let mut server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut a = server.login("alice", "pw-a", "a").await;
    a.block_ok("block", &["localhost/x", "bob@localhost"]).await;
    a.close().await;
    server.restart();

    let mut bob = server.login("bob", "pw-b", "pc").await;
    bob.send("<message to='alice@localhost' type='chat' id='off1'><body>stored?</body></message>")
        .await;
    let e = bob.expect_message().await;
    assert_eq!(stanza_error(&e).as_deref(), Some("service-unavailable"));

    let mut a = server.login("alice", "pw-a", "a").await;
    assert_eq!(a.blocklist().await, ["bob@localhost", "localhost/x"]);
    a.available().await;
    a.drain().await;
    a.assert_idle("bob's message was not stored").await;
}
