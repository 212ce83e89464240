//! Regressions for what the fuzz targets in `fuzz/` found, seen from a client.

use crate::common::im::*;
use crate::common::*;

/// XEP-0160: a stored message shorter than the stream header allium wraps it in when
/// reading it back (about 85 bytes) is still delivered. Found by the `stanza` fuzz target
/// (`xml::parse_element` failed such elements with the size limit, and the offline
/// store then deleted them undelivered).
#[tokio::test]
async fn short_offline_message_is_delivered() {
    let server = Server::start();
    server.add_account("a", "pw-a");
    server.add_account("b", "pw-b");
    let mut b = server.login("b", "pw-b", "d").await;
    // Stored as <message from='b@localhost/d' to='a@localhost'><body>x</body></message>.
    b.send("<message to='a@localhost'><body>x</body></message>")
        .await;
    b.assert_idle("stored without an error").await;
    drop(b);

    let mut a = server.login("a", "pw-a", "r").await;
    a.available().await;
    let m = a.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("x"));
    assert_eq!(m.attr("from"), Some("b@localhost/d"));
}

/// RFC 7622 §3: the `jid` crate normalises U+03F9 (GREEK CAPITAL LUNATE SIGMA) to Σ,
/// which it normalises to σ when parsed again, so an account `Ϲ` would be bound as
/// `Σ@localhost` while every client reads that as `σ@localhost`, another account. Such
/// an account cannot be created, a login with that username fails, and a stanza to such
/// an address is `jid-malformed`; σ itself works. Found by the `stanza` fuzz target.
#[tokio::test]
async fn address_whose_normalisation_is_unstable_is_refused() {
    let server = Server::start();
    server.add_account("alice", "pw");
    server.add_account("\u{3c3}", "pw");
    let (ok, _, err) = server.cli(&["account", "add", "\u{3f9}@localhost"], "pw\n");
    assert!(!ok, "an unstable account JID is refused");
    assert!(err.contains("not a stable JID"), "{err}");
    let mut c = Client::connect(&server).await;
    assert_eq!(
        c.auth_plain("\u{3f9}", "pw").await,
        Err("not-authorized".into())
    );
    let mut alice = server.login("alice", "pw", "a").await;
    let mut sigma = server.login("\u{3c3}", "pw", "s").await;
    alice
        .send("<message to='\u{3f9}@localhost/s' type='chat' id='lunate'><body>x</body></message>")
        .await;
    let e = alice.recv().await;
    assert_eq!(e.attr("type"), Some("error"), "{}", e.to_xml(CLIENT_NS));
    assert_eq!(stanza_error(&e).as_deref(), Some("jid-malformed"));
    alice
        .send("<message to='\u{3c3}@localhost/s' type='chat' id='plain'><body>y</body></message>")
        .await;
    assert_eq!(sigma.expect_message().await.attr("id"), Some("plain"));
}
