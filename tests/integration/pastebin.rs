//! Pastebin for long messages (issue 5, after Prosody's mod_pastebin): a body of more
//! than `max_chars` characters or `max_lines` lines or more is replaced by its first
//! line and a URL, with a `jabber:x:oob` URL (XEP-0066 §3); the URL serves the original
//! text. End-to-end encrypted messages (XEP-0384, XEP-0373, XEP-0027, XEP-0380, OTR)
//! are never touched.

use std::time::Duration;

use allium::xml::Element;

use crate::common::http;
use crate::common::im::*;
use crate::common::muc::*;
use crate::common::pastebin::*;
use crate::common::*;

/// A server with MUC, the HTTP listener and `[pastebin]` + `pastebin` (extra keys),
/// with accounts alice, bob (password = name).
fn paste_server(pastebin: &str) -> Server {
    let server = Server::builder()
        .toml("[muc]\nenabled = true\n")
        .toml(&format!("[pastebin]\n{pastebin}"))
        .start();
    for u in ["alice", "bob"] {
        server.add_account(u, u);
    }
    server
}

/// alice creates `name` and bob joins; both are synced.
async fn room_with_two(server: &Server, name: &str) -> (Client, Client, String) {
    let room = room(name);
    let mut alice = user(server, "alice", "a").await;
    let mut bob = user(server, "bob", "b").await;
    alice.create_room(&room, "alice", &[]).await;
    bob.join(&room, "bob").await;
    alice.expect_presence(&format!("{room}/bob"), "").await;
    alice.sync().await;
    bob.sync().await;
    (alice, bob, room)
}

/// Whether `url` is `https://localhost:<HTTP port>/pastebin/<32 lowercase hex digits>`.
fn is_paste_url(server: &Server, url: &str) -> bool {
    let base = format!(
        "https://localhost:{}/pastebin/",
        server.http.unwrap().port()
    );
    let Some(id) = url.strip_prefix(&base) else {
        return false;
    };
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a pasted message: body = `summary` + "\n" + URL, the oob URL is the same,
/// and fetching it returns `original` as UTF-8 plain text. Returns the URL.
async fn assert_pasted(server: &Server, msg: &Element, summary: &str, original: &str) -> String {
    let url = oob_url(msg).expect("a jabber:x:oob URL (XEP-0066 §3)");
    assert!(is_paste_url(server, &url), "paste URL {url}");
    assert_eq!(body(msg).unwrap(), format!("{summary}\n{url}"));
    let got = http::get(server, &split_url(&url).1).await;
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(got.text(), original);
    url
}

#[tokio::test]
async fn long_room_message_is_pasted_for_every_occupant() {
    let server = paste_server("");
    let (mut alice, mut bob, room) = room_with_two(&server, "long").await;
    // 620 characters on one line (multi-byte): more than 500; the summary keeps 150.
    let text = format!("Première ligne {}", "é".repeat(605));
    alice.groupchat(&room, &text).await;
    let from = format!("{room}/alice");
    let at_bob = bob.expect_groupchat(&from).await;
    let at_alice = alice.expect_groupchat(&from).await; // the reflection (XEP-0045 §7.4)
    let summary: String = text.chars().take(150).collect();
    let url = assert_pasted(&server, &at_bob, &summary, &text).await;
    assert_eq!(oob_url(&at_alice).as_deref(), Some(url.as_str()));
    assert_eq!(body(&at_alice), body(&at_bob));

    // Five short lines: pasted, the first line is the summary.
    let lines = "line one\nline two\nline three\nline four\nline five";
    alice.groupchat(&room, lines).await;
    let at_bob = bob.expect_groupchat(&from).await;
    assert_pasted(&server, &at_bob, "line one", lines).await;
}

#[tokio::test]
async fn room_messages_within_the_limits_are_untouched() {
    let server = paste_server("");
    let (mut alice, mut bob, room) = room_with_two(&server, "short").await;
    let from = format!("{room}/alice");
    // Exactly 500 characters (1000 bytes) and exactly 4 lines: both under the limits.
    for text in ["ü".repeat(500), "one\ntwo\nthree\nfour".to_owned()] {
        alice.groupchat(&room, &text).await;
        let got = bob.expect_groupchat(&from).await;
        assert_eq!(body(&got).as_deref(), Some(text.as_str()));
        assert_eq!(oob_url(&got), None);
    }
}

/// A long fallback body (10 lines, > 500 characters) with one encryption marker.
fn encrypted_messages() -> Vec<(&'static str, Vec<Element>, String)> {
    let fallback =
        "This message is encrypted end to end; your client does not support it.\n".repeat(10);
    let marker = |name: &str, ns: &str| {
        Element::new(name, ns).child(
            Element::new("payload", ns).with_text("aGVsbG8gd29ybGQgdGhpcyBpcyBjaXBoZXJ0ZXh0"),
        )
    };
    vec![
        (
            "OMEMO (XEP-0384 legacy)",
            vec![marker("encrypted", "eu.siacs.conversations.axolotl")],
            fallback.clone(),
        ),
        (
            "OMEMO 2 (XEP-0384)",
            vec![marker("encrypted", "urn:xmpp:omemo:2")],
            fallback.clone(),
        ),
        (
            "OpenPGP for XMPP (XEP-0373)",
            vec![Element::new("openpgp", "urn:xmpp:openpgp:0").with_text("aGVsbG8=")],
            fallback.clone(),
        ),
        (
            "legacy OpenPGP (XEP-0027)",
            vec![Element::new("x", "jabber:x:encrypted").with_text("hQEMA1234\nabcd\nefgh")],
            fallback.clone(),
        ),
        (
            "Explicit Message Encryption (XEP-0380)",
            vec![
                Element::new("encryption", "urn:xmpp:eme:0")
                    .with_attr("namespace", "urn:example:e2ee")
                    .with_attr("name", "Example"),
            ],
            fallback.clone(),
        ),
        (
            "OTR body",
            vec![],
            format!(
                "?OTR:AAMDJ+MVmSfjFZcAAAAAAQAAAAIAAADA{}.",
                "QUJD".repeat(200)
            ),
        ),
    ]
}

fn message_xml(to: &str, mtype: &str, markers: &[Element], text: &str) -> (String, Vec<Element>) {
    let mut m = Element::new("message", CLIENT_NS)
        .with_attr("to", to)
        .with_attr("type", mtype)
        .with_attr("id", next_id("e2e"))
        .child(Element::new("body", CLIENT_NS).with_text(text));
    for c in markers {
        m.push_child(c.clone());
    }
    let children = m.children().cloned().collect();
    (m.to_xml(CLIENT_NS), children)
}

#[tokio::test]
async fn encrypted_messages_pass_through_unchanged() {
    let server = paste_server("private_messages = true\n");
    let (mut alice, mut bob, room) = room_with_two(&server, "secret").await;
    let from = format!("{room}/alice");
    let bob_jid = bob.jid.clone().unwrap();
    for (what, markers, text) in encrypted_messages() {
        // In a room: the payload is what alice sent; the service only adds its
        // XEP-0421 occupant id.
        let (xml, sent) = message_xml(&room, "groupchat", &markers, &text);
        alice.send(&xml).await;
        let got = bob.expect_groupchat(&from).await;
        let payload: Vec<Element> = got
            .children()
            .filter(|c| c.ns() != OCCUPANT_ID_NS)
            .cloned()
            .collect();
        assert_eq!(payload, sent, "{what} in a room");
        assert_eq!(body(&got).as_deref(), Some(text.as_str()), "{what}");
        // 1:1 chat with private_messages on: delivered exactly as sent.
        let (xml, sent) = message_xml(&bob_jid, "chat", &markers, &text);
        alice.send(&xml).await;
        let got = bob
            .recv_until("chat message", |e| {
                e.name() == "message" && e.attr("type") == Some("chat")
            })
            .await;
        let payload: Vec<Element> = got.children().cloned().collect();
        assert_eq!(payload, sent, "{what} in a chat");
    }
}

#[tokio::test]
async fn private_messages_are_untouched_by_default() {
    let server = paste_server("");
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let text = "a long private message\n".repeat(30);
    alice.chat(&bare(&bob), &text).await;
    let got = bob.expect_message().await;
    assert_eq!(body(&got).as_deref(), Some(text.as_str()));
    assert_eq!(oob_url(&got), None);
}

#[tokio::test]
async fn private_messages_are_pasted_when_enabled() {
    let server = paste_server("private_messages = true\n");
    let mut alice = user(&server, "alice", "a").await;
    let mut bob = user(&server, "bob", "b").await;
    let text = format!("Hello Bob,\n{}", "here is the log line\n".repeat(30));
    alice.chat(&bare(&bob), &text).await;
    let got = bob.expect_message().await;
    assert_eq!(got.attr("type"), Some("chat"));
    assert_pasted(&server, &got, "Hello Bob,", &text).await;
}

#[tokio::test]
async fn pastes_survive_a_restart() {
    let mut server = paste_server("");
    let (mut alice, mut bob, room) = room_with_two(&server, "persist").await;
    let text = "kept\n".repeat(8);
    alice.groupchat(&room, &text).await;
    let got = bob.expect_groupchat(&format!("{room}/alice")).await;
    let url = assert_pasted(&server, &got, "kept", &text).await;
    drop((alice, bob));
    server.restart();
    // The listener has a new port after the restart; the path is what persists.
    let (_, path) = split_url(&url);
    let got = http::get(&server, &path).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.text(), text);
}

#[tokio::test]
async fn expired_paste_is_not_found() {
    let server = paste_server("expire_secs = 1\n");
    let (mut alice, mut bob, room) = room_with_two(&server, "expiry").await;
    let text = "gone soon\n".repeat(8);
    alice.groupchat(&room, &text).await;
    let got = bob.expect_groupchat(&format!("{room}/alice")).await;
    let url = assert_pasted(&server, &got, "gone soon", &text).await;
    let path = split_url(&url).1;
    // No stanza announces expiry: poll until the paste is gone (1 to 2 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    loop {
        let got = http::get(&server, &path).await;
        if got.status == 404 {
            assert!(!got.text().contains("gone soon"));
            break;
        }
        assert_eq!(got.status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "paste still served after its expiry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
