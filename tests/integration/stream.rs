//! Streams and TLS (RFC 6120 §4, §5, XEP-0368, XEP-0440), bad input (§4.9.3, §11),
//! the handshake timeout and a clean shutdown.

use std::time::{Duration, Instant};

use crate::common::scram::Cb;
use crate::common::*;

const CB_NS: &str = "urn:xmpp:sasl-cb:0";

fn has_plus(mechs: &[String]) -> bool {
    mechs.iter().any(|m| m.ends_with("-PLUS"))
}

// ---------------------------------------------------------------------------------------
// STARTTLS (RFC 6120 §5)

#[tokio::test]
async fn starttls_is_required_before_mechanisms() {
    let server = Server::start();
    let mut c = Client::tcp(&server).await;
    // RFC 6120 §5.3.1: a server that requires TLS says so and offers nothing else
    // (§13.8: no SASL mechanism in the clear).
    let f = c.open_stream().await;
    let starttls = f.get_child("starttls", TLS_NS).expect("starttls feature");
    assert!(starttls.get_child("required", TLS_NS).is_some());
    assert!(f.get_child("mechanisms", SASL_NS).is_none());
    assert!(c.mechanisms().is_empty());
    // §5.4.3.3, §6.4.1: after TLS, a new stream offers the mechanisms (and no STARTTLS).
    c.starttls().await;
    let f = c.open_stream().await;
    assert!(f.get_child("starttls", TLS_NS).is_none());
    let mechs = c.mechanisms();
    for m in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered: {mechs:?}");
    }
}

#[tokio::test]
async fn plain_auth_in_the_clear_is_refused() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::tcp(&server).await;
    c.open_stream().await;
    // RFC 6120 §6.5.4: <encryption-required/>; the credentials crossed in the clear, so
    // the stream is closed.
    c.send(&format!(
        "<auth xmlns='{SASL_NS}' mechanism='PLAIN'>AGFsaWNlAHdvbmRlcmxhbmQ=</auth>"
    ))
    .await;
    let end = c.wait_closed(TIMEOUT).await;
    let failure = end
        .elements
        .iter()
        .find(|e| e.is("failure", SASL_NS))
        .expect("SASL failure");
    assert!(failure.get_child("encryption-required", SASL_NS).is_some());
    assert!(
        !end.elements.iter().any(|e| e.is("success", SASL_NS)),
        "authenticated in the clear"
    );
}

#[tokio::test]
async fn stanza_before_tls_is_not_authorized() {
    let server = Server::start();
    let mut c = Client::tcp(&server).await;
    c.open_stream().await;
    // RFC 6120 §5.3.1 with §4.9.3.12: a stanza before the required TLS negotiation.
    c.send("<message to='alice@localhost'><body>hi</body></message>")
        .await;
    c.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn data_pipelined_after_starttls_is_refused() {
    let server = Server::start();
    let mut c = Client::tcp(&server).await;
    c.open_stream().await;
    // RFC 6120 §5.4.3.3; the plaintext-injection class (CVE-2011-0411): bytes sent in
    // the clear right behind <starttls/> must never be treated as protected.
    c.send(&format!(
        "<starttls xmlns='{TLS_NS}'/><message to='alice@localhost'><body>injected</body></message>"
    ))
    .await;
    let p = c.recv().await;
    assert!(p.is("proceed", TLS_NS), "{p:?}");
    let r = c.try_tls().await;
    assert!(r.is_err(), "TLS upgrade happened despite pipelined data");
}

// ---------------------------------------------------------------------------------------
// Direct TLS (XEP-0368) and TLS versions

#[tokio::test]
async fn direct_tls_offers_mechanisms_at_once_and_logs_in() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    // XEP-0368 §2: TLS from the first byte, so the first features are the SASL ones.
    let mut c = Client::connect_direct_tls(&server).await;
    let f = c.features.clone().unwrap();
    assert!(f.get_child("starttls", TLS_NS).is_none());
    assert!(c.mechanisms().iter().any(|m| m == "SCRAM-SHA-256-PLUS"));
    c.auth_scram("SCRAM-SHA-256-PLUS", "alice", "wonderland", Cb::Exporter)
        .await
        .unwrap();
    assert_eq!(c.bind(Some("tls")).await, "alice@localhost/tls");
    c.ping("p1").await;
}

#[tokio::test]
async fn tls12_client_gets_server_end_point_only() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::tcp_tls12(&server).await;
    c.open_stream().await;
    c.starttls().await;
    c.open_stream().await;
    // RFC 9266 §3: tls-exporter is defined for TLS 1.3 only (without EMS on 1.2 it is
    // unsafe); -PLUS is offered with tls-server-end-point (RFC 5929) alone.
    let mechs = c.mechanisms();
    assert!(has_plus(&mechs), "{mechs:?}");
    assert!(mechs.iter().any(|m| m == "SCRAM-SHA-256"), "{mechs:?}");
    assert_eq!(c.channel_binding_types(), ["tls-server-end-point"]);
    // TLS 1.2 still works for login without channel binding.
    c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    c.bind(Some("old")).await;
    c.ping("p1").await;
}

#[tokio::test]
async fn tls13_offers_plus_mechanisms_and_xep0440() {
    let server = Server::start();
    let c = Client::connect(&server).await;
    let mechs = c.mechanisms();
    // RFC 5802 §6, RFC 7677, RFC 9266: -PLUS with tls-exporter on TLS 1.3.
    for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        assert!(mechs.iter().any(|x| x == m), "{m} not offered: {mechs:?}");
    }
    // XEP-0440 §2: the channel-binding types the server supports.
    let f = c.features.clone().unwrap();
    let cb = f
        .get_child("sasl-channel-binding", CB_NS)
        .expect("XEP-0440 sasl-channel-binding");
    let types: Vec<_> = cb
        .children()
        .filter(|t| t.is("channel-binding", CB_NS))
        .filter_map(|t| t.attr("type").map(str::to_owned))
        .collect();
    assert_eq!(
        types,
        vec!["tls-exporter".to_owned(), "tls-server-end-point".to_owned()]
    );
}

#[tokio::test]
async fn min_version_13_refuses_tls12_clients() {
    let server = Server::builder()
        .toml("[tls]\nmin_version = \"1.3\"\n")
        .start();
    // RFC 8446 / RFC 9325: the configured floor is enforced on both listeners.
    let mut direct = Client::tcp_direct(&server, true).await;
    assert!(direct.try_tls().await.is_err(), "TLS 1.2 accepted");
    let mut st = Client::tcp_tls12(&server).await;
    st.open_stream().await;
    st.send(&format!("<starttls xmlns='{TLS_NS}'/>")).await;
    assert!(st.recv().await.is("proceed", TLS_NS));
    assert!(
        st.try_tls().await.is_err(),
        "TLS 1.2 accepted after STARTTLS"
    );
    // A TLS 1.3 client is still served.
    let ok = Client::connect_direct_tls(&server).await;
    assert!(ok.mechanisms().iter().any(|m| m == "SCRAM-SHA-256-PLUS"));
}

// ---------------------------------------------------------------------------------------
// Bad input (RFC 6120 §4.9.3, §11). Each case closes only the offending stream: a
// witness session logged in beforehand keeps working.

struct Arena {
    server: Server,
    witness: Client,
    pings: u32,
}

impl Arena {
    async fn new(extra_toml: &str) -> Arena {
        let server = Server::builder().toml(extra_toml).start();
        server.add_account("alice", "wonderland");
        let witness = server.login_scram("alice", "wonderland", "witness").await;
        Arena {
            server,
            witness,
            pings: 0,
        }
    }

    /// A logged-in attacker sends `payload`; expects the stream error `condition`.
    async fn after_login(&mut self, payload: &str, condition: &str) {
        let mut c = self
            .server
            .login_scram("alice", "wonderland", "attacker")
            .await;
        c.send(payload).await;
        c.expect_stream_error(condition).await;
        self.witness_alive().await;
    }

    /// Raw bytes as the very first thing on a new cleartext connection.
    async fn first_bytes(&mut self, payload: &str, condition: &str) {
        let mut c = Client::tcp(&self.server).await;
        c.send(payload).await;
        c.expect_stream_error(condition).await;
        self.witness_alive().await;
    }

    async fn witness_alive(&mut self) {
        self.pings += 1;
        let id = format!("w{}", self.pings);
        self.witness.ping(&id).await;
    }
}

const STREAM_OPEN: &str = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

#[tokio::test]
async fn restricted_xml_is_refused() {
    let mut a = Arena::new("").await;
    // RFC 6120 §11.1: no DTD, no comments, no processing instructions, only the five
    // predefined entities (§4.9.3.18 restricted-xml).
    a.first_bytes(
        &format!("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>{STREAM_OPEN}"),
        "restricted-xml",
    )
    .await;
    a.after_login("<!-- a comment -->", "restricted-xml").await;
    a.after_login(
        "<message to='alice@localhost'><?php echo 1; ?></message>",
        "restricted-xml",
    )
    .await;
    a.after_login(
        "<message to='alice@localhost/witness'><body>&undefined;</body></message>",
        "restricted-xml",
    )
    .await;
    // The message with the undefined entity was never delivered.
    a.witness.expect_silence(Duration::from_millis(200)).await;
}

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"#;

#[tokio::test]
async fn billion_laughs_is_refused_quickly() {
    let mut a = Arena::new("").await;
    // RFC 6120 §11.1: the DTD is refused as soon as it is seen; nothing expands.
    let start = Instant::now();
    a.first_bytes(
        &format!("{BILLION_LAUGHS}{STREAM_OPEN}<message><body>&lol9;</body></message>"),
        "restricted-xml",
    )
    .await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn malformed_xml_is_not_well_formed() {
    let mut a = Arena::new("").await;
    // RFC 6120 §4.9.3.13: mismatched end tag.
    a.after_login(
        "<message to='alice@localhost'><body>x</message>",
        "not-well-formed",
    )
    .await;
}

#[tokio::test]
async fn limits_are_policy_violations() {
    let mut a =
        Arena::new("[limits]\nmax_stanza_bytes = 10000\nmax_depth = 8\nmax_attributes = 8\n").await;
    // RFC 6120 §13.12 (stanza size), §4.9.3.14 policy-violation.
    let big = "x".repeat(12_000);
    a.after_login(
        &format!("<message to='alice@localhost/witness'><body>{big}</body></message>"),
        "policy-violation",
    )
    .await;
    let deep = format!(
        "<message to='alice@localhost/witness'>{}{}</message>",
        "<a>".repeat(10),
        "</a>".repeat(10)
    );
    a.after_login(&deep, "policy-violation").await;
    let attrs: String = (0..9).map(|i| format!(" a{i}='v'")).collect();
    a.after_login(
        &format!("<message to='alice@localhost/witness'{attrs}/>"),
        "policy-violation",
    )
    .await;
    // None of the refused stanzas reached the witness.
    a.witness.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn bad_stream_headers() {
    let mut a = Arena::new("").await;
    // RFC 6120 §4.9.3.10: the stream namespace is not http://etherx.jabber.org/streams.
    a.first_bytes(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://example.com/streams' to='localhost' version='1.0'>",
        "invalid-namespace",
    )
    .await;
    // §4.9.3.6: a domain this server does not host.
    a.first_bytes(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.net' version='1.0'>",
        "host-unknown",
    )
    .await;
    // §4.7.5, §4.9.3.25: no version attribute means a pre-1.0 client.
    a.first_bytes(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>",
        "unsupported-version",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Timeouts and shutdown

#[tokio::test]
async fn handshake_timeout_closes_unauthenticated_connection() {
    let server = Server::builder()
        .toml("[limits]\nhandshake_timeout_secs = 1\n")
        .start();
    let mut c = Client::connect(&server).await;
    let start = Instant::now();
    // The client never authenticates: the server closes the stream with
    // <connection-timeout/> (RFC 6120 §4.9.3.4).
    let end = c.wait_closed(Duration::from_secs(4)).await;
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(end.errors, vec!["connection-timeout".to_owned()]);
}

#[tokio::test]
async fn sigterm_closes_sessions_with_system_shutdown() {
    let mut server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = server.login_scram("alice", "wonderland", "phone").await;
    assert!(server.stop(), "server did not exit 0 on SIGTERM");
    // RFC 6120 §4.9.3.17: system-shutdown, then the stream ends.
    c.expect_stream_error("system-shutdown").await;
}
