//! SASL (RFC 6120 §6; RFC 4616, RFC 5802, RFC 7677, RFC 9266), failed-login limits and
//! resource binding (RFC 6120 §7).

use crate::common::scram::{Cb, failure_condition};
use crate::common::*;

/// Sends `<auth/>` with raw text and returns the server's answer.
async fn raw_auth(c: &mut Client, mechanism: &str, text: &str) -> allium::xml::Element {
    c.send(&format!(
        "<auth xmlns='{SASL_NS}' mechanism='{mechanism}'>{text}</auth>"
    ))
    .await;
    c.recv().await
}

fn assert_failure(e: &allium::xml::Element, condition: &str) {
    assert!(e.is("failure", SASL_NS), "expected failure, got {e:?}");
    assert_eq!(failure_condition(e), condition);
}

// ---------------------------------------------------------------------------------------
// Mechanisms

#[tokio::test]
async fn every_mechanism_logs_in() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    // PLAIN (RFC 4616) over TLS.
    let mut c = Client::connect(&server).await;
    c.auth_plain("alice", "wonderland").await.unwrap();
    assert_eq!(c.bind(Some("plain")).await, "alice@localhost/plain");
    // SCRAM (RFC 5802, RFC 7677) with and without tls-exporter channel binding
    // (RFC 9266); auth_scram verifies the server signature v= of the server-final message.
    for (mech, cb) in [
        ("SCRAM-SHA-1", Cb::None),
        ("SCRAM-SHA-256", Cb::None),
        ("SCRAM-SHA-1-PLUS", Cb::Exporter),
        ("SCRAM-SHA-256-PLUS", Cb::Exporter),
    ] {
        let mut c = Client::connect(&server).await;
        c.auth_scram(mech, "alice", "wonderland", cb)
            .await
            .unwrap_or_else(|e| panic!("{mech}: {e}"));
        let res = mech.to_lowercase();
        assert_eq!(c.bind(Some(&res)).await, format!("alice@localhost/{res}"));
        c.ping("p1").await;
    }
}

#[tokio::test]
async fn wrong_credentials_are_not_authorized() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::connect(&server).await;
    // RFC 6120 §6.5.10 not-authorized, for each mechanism family.
    assert_eq!(
        c.auth_plain("alice", "wrong").await,
        Err("not-authorized".into())
    );
    for (mech, cb) in [
        ("SCRAM-SHA-1", Cb::None),
        ("SCRAM-SHA-256", Cb::None),
        ("SCRAM-SHA-256-PLUS", Cb::Exporter),
    ] {
        let r = c.auth_scram(mech, "alice", "wrong", cb).await;
        assert_eq!(r, Err("not-authorized".into()), "{mech}");
    }
    // An unknown account looks exactly like a wrong password.
    assert_eq!(
        c.auth_plain("nobody", "wonderland").await,
        Err("not-authorized".into())
    );
    assert_eq!(
        c.auth_scram("SCRAM-SHA-256", "nobody", "wonderland", Cb::None)
            .await,
        Err("not-authorized".into())
    );
    // RFC 6120 §6.4.5: the client may retry on the same stream.
    c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    c.bind(Some("ok")).await;
}

#[tokio::test]
async fn wrong_channel_binding_fails() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::connect(&server).await;
    // RFC 5802 §6 / RFC 9266: channel binding data that does not match this TLS session
    // (as a man in the middle would have) fails, even with the right password.
    for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        let r = c
            .auth_scram(mech, "alice", "wonderland", Cb::Forged(vec![7u8; 32]))
            .await;
        assert_eq!(r, Err("not-authorized".into()), "{mech}");
    }
}

#[tokio::test]
async fn sasl_error_conditions() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::connect(&server).await;
    // RFC 6120 §6.5.5: data that is not base64.
    let r = raw_auth(&mut c, "PLAIN", "not*base64!").await;
    assert_failure(&r, "incorrect-encoding");
    // §6.5.7: a mechanism the server does not offer.
    let r = raw_auth(&mut c, "DIGEST-MD5", "").await;
    assert_failure(&r, "invalid-mechanism");
    // §6.4.4, §6.5.1: the client aborts after the first (empty) challenge.
    let ch = raw_auth(&mut c, "SCRAM-SHA-256", "").await;
    assert!(ch.is("challenge", SASL_NS), "{ch:?}");
    c.send(&format!("<abort xmlns='{SASL_NS}'/>")).await;
    let r = c.recv().await;
    assert_failure(&r, "aborted");
    // Still usable afterwards.
    c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
}

#[tokio::test]
async fn repeated_failures_lock_the_account_only() {
    let server = Server::builder()
        .toml("[auth]\nmax_failures_per_account = 2\nfailure_delay_ms = 10\n")
        .start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let mut c = Client::connect(&server).await;
    for _ in 0..2 {
        assert_eq!(
            c.auth_scram("SCRAM-SHA-256", "alice", "guess", Cb::None)
                .await,
            Err("not-authorized".into())
        );
    }
    // RFC 6120 §6.5.11 temporary-auth-failure: even the right password is refused now,
    // with PLAIN and SCRAM alike.
    assert_eq!(
        c.auth_plain("alice", "wonderland").await,
        Err("temporary-auth-failure".into())
    );
    let mut c2 = Client::connect(&server).await;
    assert_eq!(
        c2.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
            .await,
        Err("temporary-auth-failure".into())
    );
    // Another account is unaffected (from the same source).
    let mut bob = server.login_scram("bob", "builder", "desk").await;
    bob.ping("p1").await;
}

/// Guessing across many accounts from one source: after `max_failures_per_source`
/// failures, every further attempt from that source is refused, whatever the account,
/// with `temporary-auth-failure` (RFC 6120 §6.5.11); nothing identifies the source in
/// the log.
#[tokio::test]
async fn repeated_failures_from_one_source_lock_the_source() {
    let server = Server::builder()
        .toml("[auth]\nmax_failures_per_source = 3\nmax_failures_per_account = 100\nfailure_delay_ms = 10\n")
        .start();
    server.add_account("alice", "wonderland");
    let mut c = Client::connect(&server).await;
    for user in ["u1", "u2", "u3"] {
        assert_eq!(
            c.auth_scram("SCRAM-SHA-256", user, "guess", Cb::None).await,
            Err("not-authorized".into())
        );
    }
    // A new connection from the same address, an account never tried, the right password.
    let mut c2 = Client::connect(&server).await;
    assert_eq!(
        c2.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
            .await,
        Err("temporary-auth-failure".into())
    );
    assert!(
        !server.stderr().contains("127.0.0.1"),
        "the source address was logged"
    );
}

// ---------------------------------------------------------------------------------------
// Resource binding (RFC 6120 §7)

#[tokio::test]
async fn bind_requested_and_generated_resources() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    // §7.6: the client's resource is used.
    let mut a = server.login_scram("alice", "wonderland", "phone").await;
    assert_eq!(a.jid.as_deref(), Some("alice@localhost/phone"));
    // §7.6.1: no resource given, the server generates one.
    let mut b = Client::connect(&server).await;
    b.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    // The bind feature is offered after SASL (§7.4).
    assert!(
        b.features
            .as_ref()
            .and_then(|f| f.get_child("bind", BIND_NS))
            .is_some()
    );
    let jid = b.bind(None).await;
    let res = jid
        .strip_prefix("alice@localhost/")
        .unwrap_or_else(|| panic!("{jid}"));
    assert!(!res.is_empty());
    // Both sessions are routable: a message to the generated full JID arrives.
    a.send(&format!(
        "<message to='{jid}' type='chat' id='m1'><body>hi</body></message>"
    ))
    .await;
    let m = b.recv_until("message", |e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some("alice@localhost/phone"));
}

#[tokio::test]
async fn same_resource_kicks_older_session() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut old = server.login_scram("alice", "wonderland", "phone").await;
    let mut new = server.login_scram("alice", "wonderland", "phone").await;
    // RFC 6120 §7.7.2.2 / §4.9.3.3: the existing session is closed with <conflict/>.
    old.expect_stream_error("conflict").await;
    assert_eq!(new.jid.as_deref(), Some("alice@localhost/phone"));
    new.ping("p1").await;
}

#[tokio::test]
async fn max_resources_refuses_further_binds() {
    let server = Server::builder()
        .toml("[limits]\nmax_resources = 2\n")
        .start();
    server.add_account("alice", "wonderland");
    let _a = server.login_scram("alice", "wonderland", "one").await;
    let _b = server.login_scram("alice", "wonderland", "two").await;
    let mut c = Client::connect(&server).await;
    c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    // RFC 6120 §7.6.2.1: resource-constraint.
    let r = c
        .iq(
            "b3",
            &format!("<iq type='set' id='b3'><bind xmlns='{BIND_NS}'><resource>three</resource></bind></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(stanza_error(&r).as_deref(), Some("resource-constraint"));
}

#[tokio::test]
async fn stanzas_before_bind_are_refused() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let mut bob = server.login_scram("bob", "builder", "desk").await;
    bob.available().await;
    let mut c = Client::connect(&server).await;
    c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    // RFC 6120 §7.1: no stanzas before a resource is bound.
    let r = c
        .iq(
            "p0",
            "<iq type='get' id='p0' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(stanza_error(&r).as_deref(), Some("not-authorized"));
    c.send("<message to='bob@localhost/desk' id='m0'><body>early</body></message>")
        .await;
    // After binding the session works, and the early message was never delivered.
    c.bind(Some("late")).await;
    c.ping("p1").await;
    c.send("<message to='bob@localhost/desk' id='m1'><body>bound</body></message>")
        .await;
    let m = bob.recv_until("message", |e| e.name() == "message").await;
    assert_eq!(m.attr("id"), Some("m1"));
}
