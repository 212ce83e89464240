//! XEP-0045 smoke test: the path a new room takes.

use crate::common::*;

const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

fn status_codes(p: &allium::xml::Element) -> Vec<String> {
    p.get_child("x", MUC_USER)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// XEP-0045 §10.1.2 (instant room), §7.2 (entering), §7.4 (groupchat messages) and
/// §7.2.14 (history replayed to a later joiner with a XEP-0203 delay).
#[tokio::test]
async fn instant_room_chat_and_history() {
    let server = Server::start();
    for u in ["alice", "bob", "carol"] {
        server.add_account(u, "pw");
    }
    let mut alice = server.login("alice", "pw", "a").await;
    let mut bob = server.login("bob", "pw", "b").await;
    let mut carol = server.login("carol", "pw", "c").await;

    // §10.1.1: the creator enters the new room, locked, with 110 and 201.
    alice
        .send(&format!(
            "<presence to='tea@conference.localhost/Alice'><x xmlns='{MUC}'/></presence>"
        ))
        .await;
    let own = alice
        .recv_until("creator's self-presence", |e| e.name() == "presence")
        .await;
    assert_eq!(own.attr("from"), Some("tea@conference.localhost/Alice"));
    let codes = status_codes(&own);
    assert!(
        codes.contains(&"110".into()) && codes.contains(&"201".into()),
        "{codes:?}"
    );
    // §10.1.2: instant room: submit an empty form.
    let r = alice
        .iq(
            "cfg",
            "<iq type='set' id='cfg' to='tea@conference.localhost'>\
             <query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'/></query></iq>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", r.to_xml(CLIENT_NS));

    bob.send(&format!(
        "<presence to='tea@conference.localhost/Bob'><x xmlns='{MUC}'/></presence>"
    ))
    .await;
    let own = bob
        .recv_until("bob's self-presence", |e| {
            e.name() == "presence" && e.attr("from") == Some("tea@conference.localhost/Bob")
        })
        .await;
    assert_eq!(status_codes(&own), ["110"]);
    let seen = alice
        .recv_until("bob's presence", |e| e.name() == "presence")
        .await;
    assert_eq!(seen.attr("from"), Some("tea@conference.localhost/Bob"));

    bob.send(
        "<message to='tea@conference.localhost' type='groupchat' id='g1'><body>hi all</body></message>",
    )
    .await;
    for c in [&mut alice, &mut bob] {
        let m = c
            .recv_until("groupchat message", |e| {
                e.name() == "message" && e.get_child("body", CLIENT_NS).is_some()
            })
            .await;
        assert_eq!(m.attr("from"), Some("tea@conference.localhost/Bob"));
        assert_eq!(m.attr("type"), Some("groupchat"));
    }

    // A third occupant gets the message as history, with a delay from the room.
    carol
        .send(&format!(
            "<presence to='tea@conference.localhost/Carol'><x xmlns='{MUC}'/></presence>"
        ))
        .await;
    let h = carol
        .recv_until("history", |e| {
            e.name() == "message" && e.get_child("body", CLIENT_NS).is_some()
        })
        .await;
    assert_eq!(h.attr("from"), Some("tea@conference.localhost/Bob"));
    assert_eq!(
        h.get_child("body", CLIENT_NS).map(|b| b.text()).as_deref(),
        Some("hi all")
    );
    let delay = h.get_child("delay", "urn:xmpp:delay").expect("delay");
    assert_eq!(delay.attr("from"), Some("tea@conference.localhost"));
    // The subject comes last (§7.2.15).
    let s = carol
        .recv_until("subject", |e| {
            e.name() == "message" && e.get_child("subject", CLIENT_NS).is_some()
        })
        .await;
    assert!(s.get_child("body", CLIENT_NS).is_none());
}
