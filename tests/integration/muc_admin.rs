//! XEP-0045 moderator, admin and owner use cases (§8–§10): kick, ban, voice (in
//! `muc_options::moderated_room_voice`), affiliation lists, the owner's form fields for
//! owners and admins, destroy with an alternate venue, and who may create rooms.

use crate::common::im::*;
use crate::common::muc::*;
use crate::common::*;

/// §8.2 kick: the kicked occupant gets unavailable with 307 (and 110) and the reason;
/// the others get 307. A participant may not kick.
#[tokio::test]
async fn kick_with_307() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("dojo");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    carol.join(&r, "Carol").await;

    let reply = carol.admin_set(&r, "<item nick='Bob' role='none'/>").await;
    assert_eq!(reply.attr("type"), Some("error"));
    let cond = stanza_error(&reply).unwrap_or_default();
    assert!(
        REFUSED.contains(&cond.as_str()),
        "a participant cannot kick: {cond}"
    );

    let mut seen = alice
        .admin_ok(
            &r,
            "<item nick='Bob' role='none'><reason>Too loud</reason></item>",
        )
        .await;
    let p = bob
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    assert_eq!(status_codes(&p), vec![110, 307]);
    let item = muc_item(&p).unwrap();
    assert_eq!(item.attr("role"), Some("none"));
    assert_eq!(
        item.get_child("reason", MUC_USER)
            .map(|r| r.text())
            .as_deref(),
        Some("Too loud")
    );
    let from = format!("{r}/Bob");
    let p = alice
        .expect_seen(&mut seen, "kick", |e| is_presence(e, &from, "unavailable"))
        .await;
    assert_eq!(status_codes(&p), vec![307]);
    let p = carol.expect_presence(&from, "unavailable").await;
    assert_eq!(status_codes(&p), vec![307]);
    // Kicked, not banned: he may come back.
    bob.join(&r, "Bob").await;
}

/// §9.1 ban: the banned user is removed with 301 (110 for them), is on the outcast list
/// (§9.2) and (§7.2.8) gets `forbidden` when joining; lifting the ban lets them in.
/// A participant may not ban.
#[tokio::test]
async fn ban_with_301_outcast_list_and_unban() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("gate");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    carol.join(&r, "Carol").await;

    let reply = carol
        .admin_set(&r, "<item affiliation='outcast' jid='bob@localhost'/>")
        .await;
    let cond = stanza_error(&reply).unwrap_or_default();
    assert!(
        REFUSED.contains(&cond.as_str()),
        "a participant cannot ban: {cond}"
    );

    alice
        .admin_ok(
            &r,
            "<item affiliation='outcast' jid='bob@localhost'><reason>Spam</reason></item>",
        )
        .await;
    let p = bob
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    assert_eq!(status_codes(&p), vec![110, 301]);
    assert_eq!(muc_item(&p).unwrap().attr("affiliation"), Some("outcast"));
    let p = carol
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    assert_eq!(status_codes(&p), vec![301]);
    assert_eq!(
        alice.affiliation_list(&r, "outcast").await,
        vec!["bob@localhost"]
    );

    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "forbidden");
    // Another resource of the same account is banned too (bans are by bare JID).
    let mut bob2 = user(&server, "bob", "phone").await;
    let (cond, _) = bob2.join_error(&r, "Bobby", "").await;
    assert_eq!(cond, "forbidden");

    alice
        .admin_ok(&r, "<item affiliation='none' jid='bob@localhost'/>")
        .await;
    assert!(alice.affiliation_list(&r, "outcast").await.is_empty());
    bob.join(&r, "Bob").await;
}

/// §10.6/§10.7 granting admin (and §10.3 owner) changes the occupant's affiliation and
/// role (admin → moderator), broadcast to the room; the lists (§9.5, §10.5, §10.8) show
/// them; a non-admin may not read the member list (`forbidden`). The owner form's
/// `muc#roomconfig_roomowners`/`roomadmins` set the same lists.
#[tokio::test]
async fn affiliation_lists_and_grants() {
    let server = muc_server("", &["alice", "bob", "carol", "dave"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("board");
    alice.create_room(&r, "Alice", &[]).await;
    bob.join(&r, "Bob").await;
    carol.join(&r, "Carol").await;

    let reply = carol.admin_get(&r, "affiliation='member'").await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("forbidden"));

    alice.drain().await;
    let mut seen = alice
        .admin_ok(&r, "<item affiliation='admin' jid='bob@localhost'/>")
        .await;
    let from = format!("{r}/Bob");
    let p1 = alice
        .expect_seen(&mut seen, "admin grant", |e| is_presence(e, &from, ""))
        .await;
    let p2 = carol.expect_presence(&from, "").await;
    for p in [p1, p2] {
        let item = muc_item(&p).unwrap();
        assert_eq!(item.attr("affiliation"), Some("admin"));
        assert_eq!(item.attr("role"), Some("moderator"));
    }
    assert_eq!(
        alice.affiliation_list(&r, "admin").await,
        vec!["bob@localhost"]
    );
    assert_eq!(
        alice.affiliation_list(&r, "owner").await,
        vec!["alice@localhost"]
    );
    // An admin may edit the member list (§9.5), carol becomes a member.
    bob.admin_ok(&r, "<item affiliation='member' jid='carol@localhost'/>")
        .await;
    assert_eq!(
        bob.affiliation_list(&r, "member").await,
        vec!["carol@localhost"]
    );
    let p = alice.expect_presence(&format!("{r}/Carol"), "").await;
    assert_eq!(muc_item(&p).unwrap().attr("affiliation"), Some("member"));
    // Members can be listed by role too (§8.5 moderators list).
    let reply = alice.admin_get(&r, "role='moderator'").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let mods: Vec<String> = reply
        .get_child("query", MUC_ADMIN)
        .unwrap()
        .children()
        .filter_map(|i| i.attr("nick").map(str::to_owned))
        .collect();
    assert!(
        mods.contains(&"Alice".to_owned()) && mods.contains(&"Bob".to_owned()),
        "{mods:?}"
    );
    // An admin may not change the owner list (§10.3: owners only).
    let reply = bob
        .admin_set(&r, "<item affiliation='owner' jid='dave@localhost'/>")
        .await;
    assert_eq!(reply.attr("type"), Some("error"));
    let cond = stanza_error(&reply).unwrap_or_default();
    assert!(
        REFUSED.contains(&cond.as_str()),
        "an admin cannot make owners: {cond}"
    );

    // The config form sets owners and admins too.
    let reply = alice
        .configure(
            &r,
            &[
                ("muc#roomconfig_roomowners", "alice@localhost"),
                ("muc#roomconfig_roomowners", "dave@localhost"),
                ("muc#roomconfig_roomadmins", "bob@localhost"),
                ("muc#roomconfig_roomadmins", "carol@localhost"),
            ],
        )
        .await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    assert_eq!(
        alice.affiliation_list(&r, "owner").await,
        vec!["alice@localhost", "dave@localhost"]
    );
    assert_eq!(
        alice.affiliation_list(&r, "admin").await,
        vec!["bob@localhost", "carol@localhost"]
    );
    let mut dave = user(&server, "dave", "desk").await;
    let j = dave.join(&r, "Dave").await;
    assert_eq!(j.item().attr("affiliation"), Some("owner"));
    // Only owners see the config form (§10.2: `forbidden` otherwise).
    let reply = bob.get_config(&r).await;
    assert_eq!(stanza_error(&reply).as_deref(), Some("forbidden"));
}

/// §10.9 destroy: every occupant gets unavailable carrying `<destroy/>` with the
/// alternate venue and the reason; the room is gone. Only an owner may destroy.
#[tokio::test]
async fn destroy_with_alternate_venue() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("old-place");
    let alt = room("new-place");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_persistentroom", "1")])
        .await;
    bob.join(&r, "Bob").await;
    alice.drain().await;

    let destroy = |id: &str| {
        format!(
            "<iq type='set' id='{id}' to='{r}'><query xmlns='{MUC_OWNER}'><destroy jid='{alt}'><reason>We moved</reason></destroy></query></iq>"
        )
    };
    let reply = bob.iq("d1", &destroy("d1")).await;
    assert_eq!(reply.attr("type"), Some("error"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("forbidden"));

    alice.send(&destroy("d2")).await;
    for (c, nick) in [(&mut bob, "Bob"), (&mut alice, "Alice")] {
        let p = c
            .expect_presence(&format!("{r}/{nick}"), "unavailable")
            .await;
        let x = muc_x(&p).expect("muc#user x");
        let item = x.get_child("item", MUC_USER).unwrap();
        assert_eq!(item.attr("role"), Some("none"));
        assert_eq!(item.attr("affiliation"), Some("none"));
        let d = x.get_child("destroy", MUC_USER).expect("destroy element");
        assert_eq!(d.attr("jid"), Some(&*alt));
        assert_eq!(
            d.get_child("reason", MUC_USER).map(|r| r.text()).as_deref(),
            Some("We moved")
        );
    }
    let reply = alice
        .recv_until("destroy result", |e| e.attr("id") == Some("d2"))
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    // Gone, even though it was persistent.
    let info = bob.disco_info(&r).await;
    assert_eq!(stanza_error(&info).as_deref(), Some("item-not-found"));
}

/// Contract `room_creation`: with `"admins"` and no admin configured nobody may create a
/// room (`not-allowed`, XEP-0045 §10.1.1); with `"anyone"` (and by default, `"local"`)
/// a local account may.
#[tokio::test]
async fn room_creation_policy() {
    let server = muc_server("room_creation = \"admins\"\n", &["alice"]);
    let mut alice = user(&server, "alice", "phone").await;
    let (cond, _) = alice.join_error(&room("mine"), "Alice", "").await;
    assert_eq!(cond, "not-allowed");
    drop(alice);
    drop(server);

    let server = muc_server("room_creation = \"anyone\"\n", &["alice"]);
    let mut alice = user(&server, "alice", "phone").await;
    alice.create_room(&room("mine"), "Alice", &[]).await;
}
