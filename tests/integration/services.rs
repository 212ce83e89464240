//! What the server itself answers: service discovery (XEP-0030), ping (XEP-0199),
//! software version (XEP-0092), and the errors of RFC 6120 §8.3 / §10 for what it
//! cannot serve.

use crate::common::im::*;
use crate::common::*;

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const VERSION_NS: &str = "jabber:iq:version";
const MSGOFFLINE: &str = "msgoffline";

async fn alice(server: &Server) -> Client {
    server.add_account("alice", "pw-a");
    server.login("alice", "pw-a", "phone").await
}

fn features(reply: &allium::xml::Element) -> Vec<String> {
    reply
        .get_child("query", DISCO_INFO)
        .expect("disco#info query")
        .children()
        .filter(|c| c.is("feature", DISCO_INFO))
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect()
}

/// XEP-0030 §3.1/§4.1: the server's identity is server/im and its features list disco,
/// ping, version and msgoffline (XEP-0160 §2); disco#items answers with a (here empty)
/// item list. XEP-0199 §4.2: a ping to the server is answered with a result.
#[tokio::test]
async fn disco_info_items_and_ping() {
    let server = Server::start();
    let mut c = alice(&server).await;
    let r = c
        .iq(
            "i1",
            &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("from"), Some("localhost"));
    let q = r.get_child("query", DISCO_INFO).unwrap();
    let ids: Vec<(Option<&str>, Option<&str>)> = q
        .children()
        .filter(|c| c.is("identity", DISCO_INFO))
        .map(|i| (i.attr("category"), i.attr("type")))
        .collect();
    assert!(ids.contains(&(Some("server"), Some("im"))), "{ids:?}");
    let f = features(&r);
    for want in [DISCO_INFO, DISCO_ITEMS, PING_NS, VERSION_NS, MSGOFFLINE] {
        assert!(f.iter().any(|x| x == want), "feature {want} in {f:?}");
    }

    let r = c
        .iq(
            "i2",
            &format!("<iq type='get' id='i2' to='localhost'><query xmlns='{DISCO_ITEMS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    assert!(r.get_child("query", DISCO_ITEMS).is_some());

    let r = c
        .iq(
            "p1",
            &format!("<iq type='get' id='p1' to='localhost'><ping xmlns='{PING_NS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("from"), Some("localhost"));
}

/// XEP-0202 §3: the server's time is UTC with a zero offset, close to the test's clock,
/// and the feature is advertised.
#[tokio::test]
async fn entity_time_is_utc() {
    let server = Server::start();
    let mut c = alice(&server).await;
    let before = std::time::SystemTime::now();
    let r = c
        .iq(
            "t1",
            "<iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let t = r.get_child("time", "urn:xmpp:time").expect("time payload");
    let text = |n: &str| t.get_child(n, "urn:xmpp:time").map(|e| e.text());
    assert_eq!(text("tzo").as_deref(), Some("+00:00"));
    let utc = text("utc").expect("utc");
    let parsed = time::OffsetDateTime::parse(&utc, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{utc}: {e}"));
    assert!(utc.ends_with('Z'), "{utc}");
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    };
    let diff = parsed.unix_timestamp() - secs(before);
    assert!((-2..=5).contains(&diff), "{utc} is {diff} s from now");

    let r = c
        .iq(
            "i1",
            &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
        )
        .await;
    assert!(features(&r).iter().any(|f| f == "urn:xmpp:time"));
}

/// XEP-0092 §2: name `allium` and its version, and never `<os/>` (privacy).
#[tokio::test]
async fn software_version_without_os() {
    let server = Server::start();
    let mut c = alice(&server).await;
    let r = c
        .iq(
            "v1",
            &format!("<iq type='get' id='v1' to='localhost'><query xmlns='{VERSION_NS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let q = r.get_child("query", VERSION_NS).expect("version query");
    assert_eq!(
        q.get_child("name", VERSION_NS).map(|n| n.text()).as_deref(),
        Some("allium")
    );
    assert_eq!(
        q.get_child("version", VERSION_NS)
            .map(|n| n.text())
            .as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(q.get_child("os", VERSION_NS).is_none(), "no <os/>: {q:?}");
}

/// `[version] enabled = false`: the query is `service-unavailable` (RFC 6120 §8.4) and
/// the feature is not advertised.
#[tokio::test]
async fn software_version_disabled() {
    let server = Server::builder()
        .toml("[version]\nenabled = false\n")
        .start();
    let mut c = alice(&server).await;
    let r = c
        .iq(
            "v1",
            &format!("<iq type='get' id='v1' to='localhost'><query xmlns='{VERSION_NS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(stanza_error(&r).as_deref(), Some("service-unavailable"));
    let r = c
        .iq(
            "i1",
            &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_INFO}'/></iq>"),
        )
        .await;
    assert!(!features(&r).iter().any(|f| f == VERSION_NS));
}

/// RFC 6120 §8.4: an IQ get or set nobody handles is `service-unavailable`; an IQ
/// result addressed to the server is consumed without any answer (§8.2.3).
#[tokio::test]
async fn unknown_iq_is_service_unavailable_and_result_gets_nothing() {
    let server = Server::start();
    let mut c = alice(&server).await;
    for (id, ty) in [("u1", "get"), ("u2", "set")] {
        let r = c
            .iq(
                id,
                &format!("<iq type='{ty}' id='{id}' to='localhost'><query xmlns='urn:example:nothing'/></iq>"),
            )
            .await;
        assert_eq!(r.attr("type"), Some("error"), "{ty}");
        assert_eq!(stanza_error(&r).as_deref(), Some("service-unavailable"));
    }
    c.send("<iq type='result' id='r1' to='localhost'/>").await;
    c.send("<iq type='result' id='r2'/>").await;
    c.assert_idle("an IQ result is never answered").await;
}

/// RFC 6120 §8.3.3.8: an unparseable address is `jid-malformed`.
#[tokio::test]
async fn malformed_address_is_jid_malformed() {
    let server = Server::start();
    let mut c = alice(&server).await;
    let r = c
        .iq(
            "j1",
            &format!("<iq type='get' id='j1' to='a@b@c'><ping xmlns='{PING_NS}'/></iq>"),
        )
        .await;
    assert_eq!(r.attr("type"), Some("error"));
    assert_eq!(stanza_error(&r).as_deref(), Some("jid-malformed"));
    c.send("<message to='a@b@c' id='j2' type='chat'><body>x</body></message>")
        .await;
    let m = c.expect_message().await;
    assert_eq!(m.attr("id"), Some("j2"));
    assert_eq!(stanza_error(&m).as_deref(), Some("jid-malformed"));
}

/// RFC 6120 §10.4.3 / §8.3.3.16: a domain that is not hosted, while federation is not
/// available, is `remote-server-not-found`.
#[tokio::test]
async fn message_to_unhosted_domain_is_remote_server_not_found() {
    let server = Server::start();
    let mut c = alice(&server).await;
    c.send("<message to='someone@unhosted.example' id='r1' type='chat'><body>hi</body></message>")
        .await;
    let m = c.expect_message().await;
    assert_eq!(m.attr("type"), Some("error"));
    assert_eq!(m.attr("id"), Some("r1"));
    assert_eq!(m.attr("from"), Some("someone@unhosted.example"));
    assert_eq!(stanza_error(&m).as_deref(), Some("remote-server-not-found"));
}
