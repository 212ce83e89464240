//! Both ends of a stream negotiating with each other in-process, over
//! `tokio::io::duplex`, with a self-signed certificate the client trusts alone.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::time::{Instant, timeout};

use super::*;
use crate::stream::{
    ALPN_XMPP_SERVER, TlsError, Transport, XmlStream, acceptor, connector, server_name,
};
use crate::xml::Limits;

/// The domain the test certificate is for.
const DOMAIN: &str = "allium.test";

/// Upper bound of every exchange: a step that hangs fails the test instead.
const STEP: Duration = Duration::from_secs(10);

struct Pki {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: tokio_rustls::TlsConnector,
    cert: rustls::pki_types::CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

/// A self-signed certificate for [`DOMAIN`], a server configuration presenting it
/// (ALPN `xmpp-server`) and a client configuration trusting exactly that certificate.
fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let m = crate::tls::load_or_generate(dir.path(), &[DOMAIN.to_owned()]).unwrap();
    let mut server = (*crate::tls::server_config(&m, false, false).unwrap()).clone();
    server.alpn_protocols = vec![ALPN_XMPP_SERVER.to_vec()];
    let mut roots = rustls::RootCertStore::empty();
    roots.add(m.chain[0].clone()).unwrap();
    let client = crate::tls::client_config(roots, &[ALPN_XMPP_SERVER], false).unwrap();
    Pki {
        acceptor: acceptor(Arc::new(server)),
        connector: connector(client),
        cert: m.chain[0].clone(),
        _dir: dir,
    }
}

fn pair() -> (XmlStream<DuplexStream>, XmlStream<DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    (
        XmlStream::new(Transport::Plain(a), Limits::default()),
        XmlStream::new(Transport::Plain(b), Limits::default()),
    )
}

fn client_header() -> Header<'static> {
    Header {
        content_ns: ns::CLIENT,
        from: None,
        to: Some(DOMAIN),
        id: None,
    }
}

fn deadline() -> Instant {
    Instant::now() + STEP
}

/// The receiving end: STARTTLS required, then an empty feature list over TLS, then it
/// answers one message with another and closes when the initiator does. Gives its
/// `tls-exporter` channel binding.
async fn receiving(
    mut s: XmlStream<DuplexStream>,
    acceptor: &tokio_rustls::TlsAcceptor,
) -> Result<Option<Vec<u8>>, NegotiationError> {
    let mut domain = DOMAIN.to_owned();
    let is_local = |d: &str| d == DOMAIN;
    accept_header(&mut s, ns::CLIENT, &mut domain, is_local).await?;
    s.send(&Element::new("features", ns::STREAM).child(starttls_feature(true)))
        .await
        .map_err(NegotiationError::Write)?;
    let el = next_element(&mut s).await?;
    assert!(el.is("starttls", ns::TLS));
    let mut s = accept_starttls(s, acceptor, deadline()).await?;
    assert!(s.transport().is_tls());
    assert_eq!(s.transport().alpn_protocol(), Some(ALPN_XMPP_SERVER));
    accept_header(&mut s, ns::CLIENT, &mut domain, is_local).await?;
    s.send(&Element::new("features", ns::STREAM))
        .await
        .map_err(NegotiationError::Write)?;
    let ping = next_element(&mut s).await?;
    assert_eq!(
        ping.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("over tls".to_owned())
    );
    s.send(
        &Element::new("message", ns::CLIENT)
            .child(Element::new("body", ns::CLIENT).with_text("pong")),
    )
    .await
    .map_err(NegotiationError::Write)?;
    match next_element(&mut s).await {
        Err(NegotiationError::Closed) => Ok(s.transport().tls_exporter()),
        other => panic!("expected the initiator to close, got {other:?}"),
    }
}

#[tokio::test]
async fn starttls_from_both_ends_then_an_element_over_tls() {
    let pki = pki();
    let (client, server) = pair();
    let acc = pki.acceptor.clone();
    let server = tokio::spawn(async move { receiving(server, &acc).await });

    let mut client = client;
    let theirs = timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.from.as_deref(), Some(DOMAIN));
    assert_eq!(theirs.id.as_ref().map(String::len), Some(32));
    let features = timeout(STEP, read_features(&mut client))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offers_starttls(&features), Some(true));

    let name = server_name(DOMAIN).unwrap();
    let mut client = timeout(STEP, starttls(client, &pki.connector, name, deadline()))
        .await
        .unwrap()
        .unwrap();
    assert!(client.transport().is_tls());
    assert_eq!(client.transport().alpn_protocol(), Some(ALPN_XMPP_SERVER));
    assert_eq!(
        client.transport().peer_certificates().map(|c| c[0].clone()),
        Some(pki.cert.clone())
    );
    let exporter = client.transport().tls_exporter();
    assert_eq!(exporter.as_ref().map(Vec::len), Some(32));

    let (theirs, features) = timeout(STEP, restart(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.default_ns, ns::CLIENT);
    assert_eq!(offers_starttls(&features), None);

    client
        .send(
            &Element::new("message", ns::CLIENT)
                .child(Element::new("body", ns::CLIENT).with_text("over tls")),
        )
        .await
        .unwrap();
    let pong = timeout(STEP, next_element(&mut client))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        pong.get_child("body", ns::CLIENT).map(|b| b.text()),
        Some("pong".to_owned())
    );
    client.close_with(None).await;
    // Both ends derive the same RFC 9266 binding (TLS 1.3).
    let server_exporter = timeout(STEP, server).await.unwrap().unwrap().unwrap();
    assert_eq!(server_exporter, exporter);
}

#[tokio::test]
async fn client_refuses_a_certificate_for_another_name() {
    let pki = pki();
    let (mut client, server) = pair();
    let acc = pki.acceptor.clone();
    let server = tokio::spawn(async move { receiving(server, &acc).await });

    timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    timeout(STEP, read_features(&mut client))
        .await
        .unwrap()
        .unwrap();
    let wrong = server_name("other.test").unwrap();
    let err = timeout(STEP, starttls(client, &pki.connector, wrong, deadline()))
        .await
        .unwrap()
        .err()
        .unwrap();
    let NegotiationError::Tls(TlsError::Handshake(io)) = &err else {
        panic!("expected a handshake failure, got {err:?}");
    };
    let cause = io.get_ref().and_then(|c| c.downcast_ref::<rustls::Error>());
    assert!(
        matches!(cause, Some(rustls::Error::InvalidCertificate(_))),
        "{cause:?}"
    );
    // The receiving end sees the handshake fail, no stream over TLS.
    let server_err = timeout(STEP, server).await.unwrap().unwrap().err().unwrap();
    assert!(
        matches!(server_err, NegotiationError::Tls(TlsError::Handshake(_))),
        "{server_err:?}"
    );
}

#[tokio::test]
async fn bytes_pipelined_after_proceed_are_refused_by_the_initiator() {
    let pki = pki();
    let (mut client, mut server) = pair();
    let server = tokio::spawn(async move {
        let mut domain = DOMAIN.to_owned();
        accept_header(&mut server, ns::CLIENT, &mut domain, |_| true)
            .await
            .unwrap();
        server
            .send_raw(b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>")
            .await
            .unwrap();
        assert!(
            next_element(&mut server)
                .await
                .unwrap()
                .is("starttls", ns::TLS)
        );
        // `<proceed/>` and, in the same write, a stanza that must not count as
        // arriving over TLS.
        server
            .send_raw(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><message><body>injected</body></message>")
            .await
            .unwrap();
        server
    });
    timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    let features = timeout(STEP, read_features(&mut client))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(offers_starttls(&features), Some(false));
    let name = server_name(DOMAIN).unwrap();
    let err = timeout(STEP, starttls(client, &pki.connector, name, deadline()))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert!(
        matches!(err, NegotiationError::Tls(TlsError::Pipelined)),
        "{err:?}"
    );
    let _server = timeout(STEP, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn starttls_refused_by_the_receiving_end() {
    let pki = pki();
    let (mut client, mut server) = pair();
    let server = tokio::spawn(async move {
        let mut domain = DOMAIN.to_owned();
        accept_header(&mut server, ns::CLIENT, &mut domain, |_| true)
            .await
            .unwrap();
        server
            .send(&Element::new("features", ns::STREAM).child(starttls_feature(false)))
            .await
            .unwrap();
        assert!(
            next_element(&mut server)
                .await
                .unwrap()
                .is("starttls", ns::TLS)
        );
        refuse_starttls(&mut server).await;
    });
    timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    timeout(STEP, read_features(&mut client))
        .await
        .unwrap()
        .unwrap();
    let name = server_name(DOMAIN).unwrap();
    let err = timeout(STEP, starttls(client, &pki.connector, name, deadline()))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert!(matches!(err, NegotiationError::StartTlsRefused), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn initiator_reports_the_stream_error_sent_instead_of_features() {
    let (mut client, mut server) = pair();
    let server = tokio::spawn(async move {
        let mut domain = "elsewhere.test".to_owned();
        accept_header(&mut server, ns::CLIENT, &mut domain, |_| false).await
    });
    timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .unwrap();
    let err = timeout(STEP, read_features(&mut client))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert!(
        matches!(&err, NegotiationError::PeerError(Some(c)) if c == "host-unknown"),
        "{err:?}"
    );
    let server_err = server.await.unwrap().err().unwrap();
    assert_eq!(server_err.condition(), Some(StreamCondition::HostUnknown));
}

#[tokio::test]
async fn initiator_refuses_a_header_in_another_namespace() {
    let (mut client, mut server) = pair();
    let server = tokio::spawn(async move {
        assert!(read_header(&mut server).await.is_ok());
        server
            .send_raw(
                Header {
                    content_ns: ns::SERVER,
                    from: Some(DOMAIN),
                    to: None,
                    id: Some("abc"),
                }
                .to_xml()
                .as_bytes(),
            )
            .await
            .unwrap();
        next_element(&mut server).await
    });
    let err = timeout(STEP, open_stream(&mut client, &client_header()))
        .await
        .unwrap()
        .err()
        .unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::InvalidNamespace));
    // The receiving end gets the stream error, then the close.
    let el = server.await.unwrap().unwrap();
    assert_eq!(peer_error(&el), Some(Some("invalid-namespace".to_owned())));
}

/// RFC 6120 §4.7 checks of the receiving entity, table-driven: header attributes →
/// the stream error, and the domain the answer comes from.
#[test]
fn receiving_header_checks() {
    let header = |to: Option<&str>, ns: &str, version: Option<&str>| StreamHeader {
        to: to.map(str::to_owned),
        from: None,
        id: None,
        version: version.map(str::to_owned),
        lang: None,
        default_ns: ns.to_owned(),
    };
    let cases = [
        (header(Some(DOMAIN), ns::CLIENT, Some("1.0")), None, DOMAIN),
        (header(None, ns::CLIENT, Some("1.0")), None, "default.test"),
        (header(Some(DOMAIN), ns::CLIENT, Some("1.5")), None, DOMAIN),
        (
            header(Some("other.test"), ns::CLIENT, Some("1.0")),
            Some(StreamCondition::HostUnknown),
            "default.test",
        ),
        (
            header(Some("not a domain"), ns::CLIENT, Some("1.0")),
            Some(StreamCondition::HostUnknown),
            "default.test",
        ),
        (
            header(Some(DOMAIN), ns::SERVER, Some("1.0")),
            Some(StreamCondition::InvalidNamespace),
            DOMAIN,
        ),
        (
            header(Some(DOMAIN), ns::CLIENT, None),
            Some(StreamCondition::UnsupportedVersion),
            DOMAIN,
        ),
        (
            header(Some(DOMAIN), ns::CLIENT, Some("2.0")),
            Some(StreamCondition::UnsupportedVersion),
            DOMAIN,
        ),
    ];
    for (h, cond, domain) in cases {
        let mut d = "default.test".to_owned();
        assert_eq!(
            check_header(&h, ns::CLIENT, &mut d, |d| d == DOMAIN),
            cond,
            "{h:?}"
        );
        assert_eq!(d, domain, "{h:?}");
    }
}

#[test]
fn header_serialization() {
    assert_eq!(
        client_header().to_xml(),
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' to='allium.test' version='1.0' \
         xml:lang='en'>"
    );
    assert_eq!(
        crate::stream::server_header("a'b", "x"),
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' from='a&apos;b' id='x' \
         version='1.0' xml:lang='en'>"
    );
}

#[test]
fn deadlines() {
    let start = Instant::now();
    let d = Deadlines::new(start, Duration::from_secs(10), Duration::from_secs(30));
    assert_eq!(d.tls, start + Duration::from_secs(10));
    assert_eq!(d.handshake, start + Duration::from_secs(30));
    let capped = Deadlines::new(start, Duration::from_secs(60), Duration::from_secs(30));
    assert_eq!(capped.tls, capped.handshake);
    let plain: Transport<DuplexStream> = Transport::Plain(tokio::io::duplex(1).0);
    assert_eq!(d.for_transport(&plain), d.tls);
}

/// RFC 6120 §4.8.3: the content namespace is the stream's, chosen when writing. A
/// stanza built in the server's internal `jabber:client` goes out on a `jabber:server`
/// stream without any `xmlns='jabber:client'`, and comes in on the other end in the
/// internal namespace again, extension payloads untouched.
#[tokio::test]
async fn content_namespace_is_chosen_by_the_stream() {
    let msg = Element::new("message", ns::CLIENT)
        .with_attr("to", "b@example.org")
        .with_attr("type", "chat")
        .child(Element::new("body", ns::CLIENT).with_text("hi"))
        .child(Element::new("x", "urn:example").child(Element::new("y", "urn:example")));
    let mut bytes = Vec::new();
    crate::stream::write_top_level_as(&msg, &mut bytes, ns::SERVER);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "<message to='b@example.org' type='chat'><body>hi</body>\
         <x xmlns='urn:example'><y/></x></message>"
    );
    let mut same = Vec::new();
    crate::stream::write_top_level(&msg, &mut same);
    assert_eq!(same, msg.to_xml(ns::CLIENT).into_bytes());

    let (mut a, mut b) = pair();
    a.set_content_ns(ns::SERVER);
    b.set_content_ns(ns::SERVER);
    let header = Header {
        content_ns: ns::SERVER,
        from: Some("a.example"),
        to: Some("b.example"),
        id: None,
    };
    a.send_raw(header.to_xml().as_bytes()).await.unwrap();
    a.send(&msg).await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match b.next().await.unwrap() {
                StreamEvent::Element(el) => break el,
                StreamEvent::StreamOpen(h) => assert_eq!(h.default_ns, ns::SERVER),
                StreamEvent::StreamClose => panic!("closed"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got.ns(), ns::CLIENT);
    assert_eq!(got.to_xml(ns::CLIENT), msg.to_xml(ns::CLIENT));
}
