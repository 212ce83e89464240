//! What an account keeps about itself and what the server tells about itself: vCards
//! (XEP-0054), private XML storage (XEP-0049), Last Activity (XEP-0012) and contact
//! addresses in disco (XEP-0157); and that account deletion takes the data along.

use allium::xml::Element;

use crate::common::cli::allium;
use crate::common::im::*;
use crate::common::*;

const VCARD_NS: &str = "vcard-temp";
const PRIVATE_NS: &str = "jabber:iq:private";
const LAST_NS: &str = "jabber:iq:last";
const DISCO_INFO_NS: &str = "http://jabber.org/protocol/disco#info";
const DATA_NS: &str = "jabber:x:data";

/// Sends an IQ of `typ` with `payload`, `to` if given; returns the reply.
async fn iq(c: &mut Client, typ: &str, to: Option<&str>, payload: &str) -> Element {
    let id = next_id("q");
    let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
    c.iq(
        &id,
        &format!("<iq type='{typ}' id='{id}'{to}>{payload}</iq>"),
    )
    .await
}

fn assert_result(r: &Element) {
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));
}

fn error_text(r: &Element) -> String {
    r.get_child("error", CLIENT_NS)
        .and_then(|e| e.get_child("text", STANZAS_NS))
        .map(|t| t.text())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- vCard (XEP-0054)

const ALICE_VCARD: &str =
    "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>";

fn vcard_of(r: &Element) -> Element {
    r.get_child("vCard", VCARD_NS)
        .unwrap_or_else(|| panic!("a vCard in {}", r.to_xml(CLIENT_NS)))
        .clone()
}

fn field(v: &Element, name: &str) -> Option<String> {
    v.get_child(name, VCARD_NS).map(|e| e.text())
}

/// §3.1–§3.3: the owner sets and gets its vCard; another user reads it; an account
/// without one answers an empty vCard; only the owner may change it; a JID that is no
/// account gets `service-unavailable`.
#[tokio::test]
async fn vcard_set_get_and_read_by_others() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;

    let r = iq(&mut alice, "get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_result(&r);
    assert!(vcard_of(&r).nodes().is_empty(), "none yet: an empty vCard");

    let r = iq(&mut alice, "set", None, ALICE_VCARD).await;
    assert_result(&r);
    for to in [None, Some("alice@localhost")] {
        let v = vcard_of(&iq(&mut alice, "get", to, "<vCard xmlns='vcard-temp'/>").await);
        assert_eq!(
            field(&v, "FN").as_deref(),
            Some("Alice Liddell"),
            "to={to:?}"
        );
        assert_eq!(field(&v, "NICKNAME").as_deref(), Some("al"));
    }

    let r = iq(
        &mut bob,
        "get",
        Some("alice@localhost"),
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert_result(&r);
    assert_eq!(r.attr("from"), Some("alice@localhost"));
    assert_eq!(field(&vcard_of(&r), "FN").as_deref(), Some("Alice Liddell"));
    let r = iq(
        &mut alice,
        "get",
        Some("bob@localhost"),
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert!(vcard_of(&r).nodes().is_empty(), "bob has none: empty");

    let r = iq(
        &mut bob,
        "set",
        Some("alice@localhost"),
        "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>",
    )
    .await;
    assert_eq!(stanza_error(&r).as_deref(), Some("forbidden"));
    let v = vcard_of(
        &iq(
            &mut bob,
            "get",
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'/>",
        )
        .await,
    );
    assert_eq!(
        field(&v, "FN").as_deref(),
        Some("Alice Liddell"),
        "unchanged"
    );

    let r = iq(
        &mut bob,
        "get",
        Some("nobody@localhost"),
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert_eq!(stanza_error(&r).as_deref(), Some("service-unavailable"));

    // A new vCard replaces the old one entirely; an empty one removes it.
    iq(
        &mut alice,
        "set",
        None,
        "<vCard xmlns='vcard-temp'><FN>A.</FN></vCard>",
    )
    .await;
    let v = vcard_of(
        &iq(
            &mut bob,
            "get",
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'/>",
        )
        .await,
    );
    assert_eq!(field(&v, "FN").as_deref(), Some("A."));
    assert_eq!(field(&v, "NICKNAME"), None);
    assert_result(&iq(&mut alice, "set", None, "<vCard xmlns='vcard-temp'/>").await);
    let v = vcard_of(
        &iq(
            &mut bob,
            "get",
            Some("alice@localhost"),
            "<vCard xmlns='vcard-temp'/>",
        )
        .await,
    );
    assert!(v.nodes().is_empty());
}

/// A vCard over `vcard.max_bytes` is refused with `not-acceptable` naming the limit,
/// and the stored one stays.
#[tokio::test]
async fn vcard_over_the_limit_is_refused() {
    let server = Server::builder()
        .toml("[vcard]\nmax_bytes = 1024\n")
        .start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    assert_result(&iq(&mut alice, "set", None, ALICE_VCARD).await);
    let photo = format!(
        "<vCard xmlns='vcard-temp'><FN>Alice</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{}</BINVAL></PHOTO></vCard>",
        "QUFB".repeat(300)
    );
    let r = iq(&mut alice, "set", None, &photo).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("not-acceptable"));
    assert!(error_text(&r).contains("1024"), "{}", error_text(&r));
    let v = vcard_of(&iq(&mut alice, "get", None, "<vCard xmlns='vcard-temp'/>").await);
    assert_eq!(
        field(&v, "FN").as_deref(),
        Some("Alice Liddell"),
        "old vCard kept"
    );
}

// ---------------------------------------------------------------- private XML (XEP-0049)

const BOOKMARKS: &str = "<storage xmlns='storage:bookmarks'><conference jid='room@conference.localhost' autojoin='true' name='Room'><nick>al</nick></conference></storage>";

fn private_child(r: &Element) -> Element {
    r.get_child("query", PRIVATE_NS)
        .and_then(|q| q.first_child())
        .unwrap_or_else(|| panic!("a stored element in {}", r.to_xml(CLIENT_NS)))
        .clone()
}

async fn private_get(c: &mut Client, to: Option<&str>, what: &str) -> Element {
    iq(
        c,
        "get",
        to,
        &format!("<query xmlns='{PRIVATE_NS}'>{what}</query>"),
    )
    .await
}

async fn private_set(c: &mut Client, to: Option<&str>, what: &str) -> Element {
    iq(
        c,
        "set",
        to,
        &format!("<query xmlns='{PRIVATE_NS}'>{what}</query>"),
    )
    .await
}

/// §2: set and get by element name and namespace; an unknown one comes back empty;
/// another user's JID is `forbidden` (§3) and each account has its own data;
/// reserved namespaces are `not-acceptable`; a get with no child is `bad-request`, a
/// set with none `not-acceptable`; a set is stored whole or not at all.
#[tokio::test]
async fn private_storage_set_get_and_refusals() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    let mut bob = server.login("bob", "pw-b", "laptop").await;

    assert_result(&private_set(&mut alice, None, BOOKMARKS).await);
    let r = private_get(&mut alice, None, "<storage xmlns='storage:bookmarks'/>").await;
    assert_result(&r);
    let storage = private_child(&r);
    assert!(storage.is("storage", "storage:bookmarks"));
    let conf = storage
        .get_child("conference", "storage:bookmarks")
        .expect("the stored conference");
    assert_eq!(conf.attr("jid"), Some("room@conference.localhost"));
    assert_eq!(
        conf.get_child("nick", "storage:bookmarks")
            .map(|n| n.text())
            .as_deref(),
        Some("al")
    );
    // Same namespace, other element name: a different key, nothing stored.
    let other =
        private_child(&private_get(&mut alice, None, "<other xmlns='storage:bookmarks'/>").await);
    assert!(other.is("other", "storage:bookmarks") && other.nodes().is_empty());
    let prefs = private_child(
        &private_get(
            &mut alice,
            Some("alice@localhost"),
            "<prefs xmlns='exodus:prefs'/>",
        )
        .await,
    );
    assert!(prefs.is("prefs", "exodus:prefs") && prefs.nodes().is_empty());

    // Another user's storage: forbidden both ways; bob's own is empty.
    for r in [
        private_get(
            &mut bob,
            Some("alice@localhost"),
            "<storage xmlns='storage:bookmarks'/>",
        )
        .await,
        private_set(
            &mut bob,
            Some("alice@localhost"),
            "<storage xmlns='storage:bookmarks'/>",
        )
        .await,
        private_get(
            &mut bob,
            Some("nobody@localhost"),
            "<storage xmlns='storage:bookmarks'/>",
        )
        .await,
    ] {
        assert_eq!(
            stanza_error(&r).as_deref(),
            Some("forbidden"),
            "{}",
            r.to_xml(CLIENT_NS)
        );
    }
    let mine =
        private_child(&private_get(&mut bob, None, "<storage xmlns='storage:bookmarks'/>").await);
    assert!(mine.nodes().is_empty(), "bob sees none of alice's data");

    for reserved in [
        "<query xmlns='jabber:iq:roster'/>",
        "<x xmlns='http://jabber.org/protocol/muc'/>",
        "<vCard xmlns='vcard-temp'/>",
        "<plain/>",
    ] {
        let r = private_set(&mut alice, None, reserved).await;
        assert_eq!(
            stanza_error(&r).as_deref(),
            Some("not-acceptable"),
            "set {reserved}"
        );
        let r = private_get(&mut alice, None, reserved).await;
        assert_eq!(
            stanza_error(&r).as_deref(),
            Some("not-acceptable"),
            "get {reserved}"
        );
    }
    let r = private_get(&mut alice, None, "").await;
    assert_eq!(stanza_error(&r).as_deref(), Some("bad-request"));
    let r = private_get(&mut alice, None, "<a xmlns='a:a'/><b xmlns='b:b'/>").await;
    assert_eq!(stanza_error(&r).as_deref(), Some("bad-request"));
    let r = private_set(&mut alice, None, "").await;
    assert_eq!(stanza_error(&r).as_deref(), Some("not-acceptable"));

    // All or nothing: a valid fragment next to a reserved one is not stored.
    let r = private_set(
        &mut alice,
        None,
        "<prefs xmlns='exodus:prefs'><x/></prefs><query xmlns='jabber:iq:roster'/>",
    )
    .await;
    assert_eq!(stanza_error(&r).as_deref(), Some("not-acceptable"));
    let prefs =
        private_child(&private_get(&mut alice, None, "<prefs xmlns='exodus:prefs'/>").await);
    assert!(
        prefs.nodes().is_empty(),
        "nothing of a refused set is stored"
    );
}

/// `[private]` limits: a fragment over `max_fragment_bytes` is `not-acceptable`; a
/// namespace beyond `max_fragments` or bytes beyond `max_total_bytes` are
/// `resource-constraint`; each text names the limit and nothing is stored. Storing
/// the empty element frees the key.
#[tokio::test]
async fn private_storage_limits() {
    let server = Server::builder()
        .toml("[private]\nmax_fragments = 2\nmax_fragment_bytes = 256\nmax_total_bytes = 300\n")
        .start();
    server.add_account("alice", "pw-a");
    let mut alice = server.login("alice", "pw-a", "phone").await;

    let big = format!("<big xmlns='x:big'>{}</big>", "b".repeat(300));
    let r = private_set(&mut alice, None, &big).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("not-acceptable"));
    assert!(error_text(&r).contains("256"), "{}", error_text(&r));

    let a = format!("<a xmlns='x:a'>{}</a>", "a".repeat(150));
    assert_result(&private_set(&mut alice, None, &a).await);
    let b = format!("<b xmlns='x:b'>{}</b>", "b".repeat(150));
    let r = private_set(&mut alice, None, &b).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("resource-constraint"));
    assert!(error_text(&r).contains("300"), "{}", error_text(&r));
    assert_result(&private_set(&mut alice, None, "<b xmlns='x:b'>small</b>").await);
    let r = private_set(&mut alice, None, "<c xmlns='x:c'>small</c>").await;
    assert_eq!(stanza_error(&r).as_deref(), Some("resource-constraint"));
    assert!(error_text(&r).contains('2'), "{}", error_text(&r));
    let c = private_child(&private_get(&mut alice, None, "<c xmlns='x:c'/>").await);
    assert!(c.nodes().is_empty(), "the refused fragment was not stored");

    // Forgetting b (an empty element) makes room for c.
    assert_result(&private_set(&mut alice, None, "<b xmlns='x:b'/>").await);
    assert_result(&private_set(&mut alice, None, "<c xmlns='x:c'>small</c>").await);
    let c = private_child(&private_get(&mut alice, None, "<c xmlns='x:c'/>").await);
    assert_eq!(c.text(), "small");
    let a_back = private_child(&private_get(&mut alice, None, "<a xmlns='x:a'/>").await);
    assert_eq!(a_back.text().len(), 150, "earlier data intact");
}

/// Deleting an account deletes its vCard and private XML: the same JID added again
/// starts empty.
#[tokio::test]
async fn account_deletion_takes_vcard_and_private_storage() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    server.add_account("bob", "pw-b");
    let mut alice = server.login("alice", "pw-a", "phone").await;
    assert_result(&iq(&mut alice, "set", None, ALICE_VCARD).await);
    assert_result(&private_set(&mut alice, None, BOOKMARKS).await);
    alice.close().await;

    let (ok, out, err) = server.cli(&["account", "delete", "alice@localhost"], "");
    assert!(ok, "{out} {err}");
    let mut bob = server.login("bob", "pw-b", "laptop").await;
    let r = iq(
        &mut bob,
        "get",
        Some("alice@localhost"),
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert_eq!(
        stanza_error(&r).as_deref(),
        Some("service-unavailable"),
        "no account, no vCard"
    );

    server.add_account("alice", "pw-a2");
    let mut alice = server.login("alice", "pw-a2", "phone").await;
    let v = vcard_of(&iq(&mut alice, "get", None, "<vCard xmlns='vcard-temp'/>").await);
    assert!(v.nodes().is_empty(), "the new account has no vCard");
    let r = iq(
        &mut bob,
        "get",
        Some("alice@localhost"),
        "<vCard xmlns='vcard-temp'/>",
    )
    .await;
    assert!(vcard_of(&r).nodes().is_empty());
    let s =
        private_child(&private_get(&mut alice, None, "<storage xmlns='storage:bookmarks'/>").await);
    assert!(s.nodes().is_empty(), "the new account has no bookmarks");
}

// ---------------------------------------------------------------- last activity (XEP-0012)

fn seconds(r: &Element) -> u64 {
    r.get_child("query", LAST_NS)
        .and_then(|q| q.attr("seconds"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("seconds in {}", r.to_xml(CLIENT_NS)))
}

async fn last(c: &mut Client, to: Option<&str>) -> Element {
    iq(c, "get", to, "<query xmlns='jabber:iq:last'/>").await
}

/// §4: the account itself and its presence subscribers learn how long ago it logged
/// out (0 while online); strangers and JIDs that are no account get the same
/// `service-unavailable`; after a restart the time is unknown (`item-not-found`).
/// A query to a full JID reaches the client only from a subscriber.
#[tokio::test]
async fn last_activity_for_subscribers_only() {
    let mut server = Server::start();
    for u in ["alice", "bob", "carol"] {
        server.add_account(u, "pw");
    }
    let mut alice = server.login("alice", "pw", "phone").await;
    let mut bob = server.login("bob", "pw", "laptop").await;
    let mut carol = server.login("carol", "pw", "desk").await;
    for c in [&mut alice, &mut bob] {
        c.roster_get().await;
        c.available().await;
        c.sync().await;
    }
    subscribe(&mut bob, &mut alice).await; // alice's roster: bob 'from'

    assert_eq!(
        seconds(&last(&mut bob, Some("alice@localhost")).await),
        0,
        "online"
    );
    assert_eq!(seconds(&last(&mut alice, None).await), 0, "own account");
    for to in ["alice@localhost", "nobody@localhost"] {
        let r = last(&mut carol, Some(to)).await;
        assert_eq!(
            stanza_error(&r).as_deref(),
            Some("service-unavailable"),
            "{to}"
        );
    }

    // Full JID: a subscriber's query is the client's to answer; a stranger's is refused.
    let id = next_id("fl");
    bob.send(&format!(
        "<iq type='get' id='{id}' to='alice@localhost/phone'><query xmlns='jabber:iq:last'/></iq>"
    ))
    .await;
    let q = alice
        .recv_until("last query", |e| {
            e.name() == "iq" && e.attr("id") == Some(id.as_str())
        })
        .await;
    assert_eq!(q.attr("from"), Some("bob@localhost/laptop"));
    alice
        .send(&format!(
            "<iq type='result' id='{id}' to='bob@localhost/laptop'><query xmlns='jabber:iq:last' seconds='42'/></iq>"
        ))
        .await;
    let r = bob
        .recv_until("idle answer", |e| {
            e.name() == "iq" && e.attr("id") == Some(id.as_str())
        })
        .await;
    assert_eq!(seconds(&r), 42);
    let r = last(&mut carol, Some("alice@localhost/phone")).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("service-unavailable"));
    alice
        .assert_idle("the stranger's query never reached the client")
        .await;

    alice.close().await;
    bob.expect_presence("alice@localhost/phone", "unavailable")
        .await;
    let r = last(&mut bob, Some("alice@localhost")).await;
    assert_result(&r);
    assert!(
        seconds(&r) < 3600,
        "seconds since the logout: {}",
        seconds(&r)
    );
    let r = last(&mut carol, Some("alice@localhost")).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("service-unavailable"));

    // Kept in memory only: unknown after a restart.
    bob.close().await;
    carol.close().await;
    server.restart();
    let mut bob = server.login("bob", "pw", "laptop").await;
    let r = last(&mut bob, Some("alice@localhost")).await;
    assert_eq!(stanza_error(&r).as_deref(), Some("item-not-found"));
}

/// `last_activity.enabled = false`: every query gets `service-unavailable` and the
/// feature is not advertised. The server's uptime is off by default and answered when
/// `server_uptime` is on (§5).
#[tokio::test]
async fn last_activity_switches_and_server_uptime() {
    let server = Server::builder()
        .toml("[last_activity]\nenabled = false\nserver_uptime = true\n")
        .start();
    server.add_account("alice", "pw");
    let mut alice = server.login("alice", "pw", "phone").await;
    for to in [None, Some("alice@localhost"), Some("localhost")] {
        let r = last(&mut alice, to).await;
        assert_eq!(
            stanza_error(&r).as_deref(),
            Some("service-unavailable"),
            "{to:?}"
        );
    }
    assert!(
        !server_features(&mut alice)
            .await
            .contains(&LAST_NS.to_owned())
    );

    let server = Server::start();
    server.add_account("alice", "pw");
    let mut alice = server.login("alice", "pw", "phone").await;
    let r = last(&mut alice, Some("localhost")).await;
    assert_eq!(
        stanza_error(&r).as_deref(),
        Some("service-unavailable"),
        "uptime off by default"
    );
    assert!(
        server_features(&mut alice)
            .await
            .contains(&LAST_NS.to_owned())
    );

    let server = Server::builder()
        .toml("[last_activity]\nserver_uptime = true\n")
        .start();
    server.add_account("alice", "pw");
    let mut alice = server.login("alice", "pw", "phone").await;
    let r = last(&mut alice, Some("localhost")).await;
    assert_result(&r);
    assert_eq!(r.attr("from"), Some("localhost"));
    assert!(seconds(&r) < 3600, "uptime: {}", seconds(&r));
}

// ---------------------------------------------------------------- contact addresses (XEP-0157)

async fn server_info(c: &mut Client) -> Element {
    let r = iq(
        c,
        "get",
        Some("localhost"),
        &format!("<query xmlns='{DISCO_INFO_NS}'/>"),
    )
    .await;
    assert_result(&r);
    r.get_child("query", DISCO_INFO_NS)
        .expect("disco#info")
        .clone()
}

async fn server_features(c: &mut Client) -> Vec<String> {
    server_info(c)
        .await
        .children()
        .filter(|e| e.name() == "feature")
        .filter_map(|e| e.attr("var").map(str::to_owned))
        .collect()
}

fn serverinfo_form(info: &Element) -> Option<Element> {
    info.children()
        .filter(|x| x.is("x", DATA_NS))
        .find(|x| {
            x.children().any(|f| {
                f.attr("var") == Some("FORM_TYPE")
                    && f.children()
                        .any(|v| v.text() == "http://jabber.org/network/serverinfo")
            })
        })
        .cloned()
}

fn form_values(form: &Element, var: &str) -> Option<Vec<String>> {
    form.children()
        .find(|f| f.attr("var") == Some(var))
        .map(|f| f.children().map(|v| v.text()).collect())
}

/// The configured addresses are in the server's disco#info as the serverinfo form,
/// one field per configured kind; without configuration there is no form; vCard,
/// private storage and last activity are advertised.
#[tokio::test]
async fn contact_addresses_in_server_disco() {
    let server = Server::builder()
        .toml("[contact]\nabuse_addresses = [\"mailto:abuse@localhost\", \"xmpp:abuse@localhost\"]\nsecurity_addresses = [\"https://localhost/security\"]\n")
        .start();
    server.add_account("alice", "pw");
    let mut alice = server.login("alice", "pw", "phone").await;
    let info = server_info(&mut alice).await;
    let form = serverinfo_form(&info).expect("XEP-0157 form");
    assert_eq!(form.attr("type"), Some("result"));
    assert_eq!(
        form_values(&form, "abuse-addresses").unwrap(),
        ["mailto:abuse@localhost", "xmpp:abuse@localhost"]
    );
    assert_eq!(
        form_values(&form, "security-addresses").unwrap(),
        ["https://localhost/security"]
    );
    assert_eq!(
        form_values(&form, "support-addresses"),
        None,
        "unconfigured kind"
    );
    let features = server_features(&mut alice).await;
    for f in [VCARD_NS, PRIVATE_NS, LAST_NS] {
        assert!(features.contains(&f.to_owned()), "{f} advertised");
    }

    let server = Server::start();
    server.add_account("alice", "pw");
    let mut alice = server.login("alice", "pw", "phone").await;
    let info = server_info(&mut alice).await;
    assert!(serverinfo_form(&info).is_none(), "no addresses: no form");
}

/// An address without a scheme is refused when the server starts, naming the key.
#[test]
fn invalid_contact_address_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[contact]\nabuse_addresses = [\"abuse@example.org\"]\nsupport_addresses = [\"https://example.org/help\"]\n",
    )
    .unwrap();
    let cfg = path.to_str().unwrap();
    let (ok, out, err) = allium(&["run", "--config", cfg], "");
    assert!(!ok, "must refuse to run");
    assert!(!out.contains("ready"), "{out}");
    assert!(err.contains("contact.abuse_addresses[0]"), "{err}");
    assert!(
        !err.contains("support_addresses"),
        "the valid key is not named: {err}"
    );
}
