//! XEP-0045 room options (§10.2, the `muc#roomconfig` form of §16.5.3), each set
//! through the config form by a client and checked for the effect a user sees.

use crate::common::im::*;
use crate::common::muc::*;
use crate::common::*;

fn truthy(v: &[String]) -> bool {
    matches!(v.first().map(String::as_str), Some("1") | Some("true"))
}

/// §10.1.3 reserved room: the owner of a new (locked) room gets the config form, which
/// lists every option of the contract with its default, submits a name and a
/// description, and (§6.4) the room's disco#info then shows them.
#[tokio::test]
async fn config_form_defaults_and_reserved_room_name_description() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("reserved");
    let j = alice.join(&r, "Alice").await;
    assert_eq!(j.codes(), vec![110, 201]);

    let form = alice.config(&r).await;
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(
        field_values(&form, "FORM_TYPE"),
        vec![ROOMCONFIG.to_owned()]
    );
    for var in [
        "muc#roomconfig_roomname",
        "muc#roomconfig_roomdesc",
        "muc#roomconfig_persistentroom",
        "muc#roomconfig_publicroom",
        "muc#roomconfig_changesubject",
        "muc#roomconfig_passwordprotectedroom",
        "muc#roomconfig_roomsecret",
        "muc#roomconfig_moderatedroom",
        "muc#roomconfig_membersonly",
        "muc#maxhistoryfetch",
        "muc#roomconfig_enablelogging",
        "muc#roomconfig_maxusers",
        "muc#roomconfig_whois",
        "muc#roomconfig_allowpm",
        "muc#roomconfig_allowinvites",
        "muc#roomconfig_presencebroadcast",
        "muc#roomconfig_roomowners",
        "muc#roomconfig_roomadmins",
    ] {
        assert!(has_field(&form, var), "config form field {var}");
    }
    for var in [
        "muc#roomconfig_persistentroom",
        "muc#roomconfig_publicroom",
        "muc#roomconfig_changesubject",
        "muc#roomconfig_passwordprotectedroom",
        "muc#roomconfig_moderatedroom",
        "muc#roomconfig_membersonly",
        "muc#roomconfig_enablelogging",
        "muc#roomconfig_allowinvites",
    ] {
        assert!(
            !truthy(&field_values(&form, var)),
            "{var} is off by default"
        );
    }
    assert_eq!(field_values(&form, "muc#maxhistoryfetch"), vec!["20"]);
    assert_eq!(field_values(&form, "muc#roomconfig_maxusers"), vec!["200"]);
    assert_eq!(
        field_values(&form, "muc#roomconfig_whois"),
        vec!["moderators"]
    );
    assert_eq!(
        field_values(&form, "muc#roomconfig_allowpm"),
        vec!["anyone"]
    );
    let mut pb = field_values(&form, "muc#roomconfig_presencebroadcast");
    pb.sort();
    assert_eq!(pb, vec!["moderator", "participant", "visitor"]);

    // Still locked while the owner is configuring.
    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "item-not-found");

    let reply = alice
        .configure(
            &r,
            &[
                ("muc#roomconfig_roomname", "Book Club"),
                ("muc#roomconfig_roomdesc", "We read slowly"),
            ],
        )
        .await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    bob.join(&r, "Bob").await;

    let info = bob.disco_info(&r).await;
    let q = info.get_child("query", DISCO_INFO).unwrap();
    let id = q
        .children()
        .find(|i| i.is("identity", DISCO_INFO) && i.attr("category") == Some("conference"))
        .expect("room identity");
    assert_eq!(id.attr("name"), Some("Book Club"));
    let ri = roominfo(&info).expect("muc#roominfo form (§6.4)");
    assert_eq!(
        field_values(&ri, "muc#roominfo_description"),
        vec!["We read slowly"]
    );
    let form = alice.config(&r).await;
    assert_eq!(
        field_values(&form, "muc#roomconfig_roomname"),
        vec!["Book Club"]
    );
}

/// `muc#roomconfig_persistentroom`: a persistent room keeps its name and affiliations
/// across a server restart and does not vanish when empty; a temporary room does not
/// survive (§10.1, contract: SQLite).
#[tokio::test]
async fn persistent_room_survives_restart_temporary_does_not() {
    let mut server = muc_server("", &["alice", "bob"]);
    let r = room("forever");
    let t = room("temp");
    {
        let mut alice = user(&server, "alice", "phone").await;
        alice
            .create_room(
                &r,
                "Alice",
                &[
                    ("muc#roomconfig_persistentroom", "1"),
                    ("muc#roomconfig_roomname", "Forever"),
                    ("muc#roomconfig_membersonly", "1"),
                ],
            )
            .await;
        alice
            .admin_ok(&r, "<item affiliation='member' jid='bob@localhost'/>")
            .await;
        alice.create_room(&t, "Alice", &[]).await;
        let info = alice.disco_info(&r).await;
        assert!(info_features(&info).iter().any(|f| f == "muc_persistent"));
        // Empty, but persistent: still there.
        alice.leave(&r, "Alice").await;
        let info = alice.disco_info(&r).await;
        assert_eq!(
            info.attr("type"),
            Some("result"),
            "{}",
            info.to_xml(CLIENT_NS)
        );
        alice.close().await;
    }
    server.restart();

    let mut bob = user(&server, "bob", "laptop").await;
    let info = bob.disco_info(&r).await;
    assert_eq!(
        info.attr("type"),
        Some("result"),
        "{}",
        info.to_xml(CLIENT_NS)
    );
    let q = info.get_child("query", DISCO_INFO).unwrap();
    assert!(
        q.children()
            .any(|i| i.is("identity", DISCO_INFO) && i.attr("name") == Some("Forever"))
    );
    assert!(info_features(&info).iter().any(|f| f == "muc_membersonly"));
    // Bob is still a member: he gets in, and the room is not created anew.
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.codes(), vec![110]);
    assert_eq!(j.item().attr("affiliation"), Some("member"));
    // The owner is still the owner.
    let mut alice = user(&server, "alice", "phone").await;
    let j = alice.join(&r, "Alice").await;
    assert_eq!(j.item().attr("affiliation"), Some("owner"));
    assert_eq!(
        alice.affiliation_list(&r, "member").await,
        vec!["bob@localhost"]
    );

    let info = bob.disco_info(&t).await;
    assert_eq!(
        stanza_error(&info).as_deref(),
        Some("item-not-found"),
        "a temporary room does not survive a restart"
    );
}

/// `muc#roomconfig_publicroom`: a searchable room is listed in the service's
/// disco#items (§6.3) and has `muc_public`; unlisted again when turned off.
#[tokio::test]
async fn public_room_is_listed() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("plaza");
    alice
        .create_room(
            &r,
            "Alice",
            &[
                ("muc#roomconfig_publicroom", "1"),
                ("muc#roomconfig_roomname", "Plaza"),
            ],
        )
        .await;
    alice.create_room(&room("back-office"), "Alice", &[]).await;
    let items = bob.disco_items(SERVICE).await;
    assert_eq!(items, vec![r.clone()], "only the public room is listed");
    let info = bob.disco_info(&r).await;
    assert!(info_features(&info).iter().any(|f| f == "muc_public"));

    let reply = alice
        .configure(&r, &[("muc#roomconfig_publicroom", "0")])
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    assert!(bob.disco_items(SERVICE).await.is_empty());
}

/// `muc#roomconfig_passwordprotectedroom` + `roomsecret`: §7.2.6 no or a wrong password
/// is `not-authorized`; the right one gets in. The room shows `muc_passwordprotected`.
#[tokio::test]
async fn password_protected_room() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("secret");
    alice
        .create_room(
            &r,
            "Alice",
            &[
                ("muc#roomconfig_passwordprotectedroom", "1"),
                ("muc#roomconfig_roomsecret", "sesame"),
            ],
        )
        .await;
    let info = bob.disco_info(&r).await;
    assert!(
        info_features(&info)
            .iter()
            .any(|f| f == "muc_passwordprotected")
    );

    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "not-authorized");
    let (cond, _) = bob
        .join_error(&r, "Bob", "<password>wrong</password>")
        .await;
    assert_eq!(cond, "not-authorized");
    alice.assert_idle("refused joins are not broadcast").await;
    let j = bob
        .join_with(&r, "Bob", "<password>sesame</password>")
        .await;
    assert_eq!(j.codes(), vec![110]);
}

/// `muc#roomconfig_moderatedroom`: §7.4/§8.3 a visitor's groupchat message is refused
/// with `forbidden` and reaches nobody; once a moderator grants voice (role participant,
/// broadcast to all) it goes through; §8.4 revoking makes it a visitor again.
#[tokio::test]
async fn moderated_room_voice() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("stage");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_moderatedroom", "1")])
        .await;
    let info = bob.disco_info(&r).await;
    assert!(info_features(&info).iter().any(|f| f == "muc_moderated"));
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.item().attr("role"), Some("visitor"));
    alice.expect_presence(&format!("{r}/Bob"), "").await;

    bob.groupchat(&r, "can I speak?").await;
    assert_eq!(bob.expect_message_error(&r).await, "forbidden");
    alice
        .assert_idle("a visitor's message is not relayed")
        .await;

    let mut seen = alice
        .admin_ok(
            &r,
            "<item nick='Bob' role='participant'><reason>go ahead</reason></item>",
        )
        .await;
    let from = format!("{r}/Bob");
    let p = alice
        .expect_seen(&mut seen, "voice granted", |e| is_presence(e, &from, ""))
        .await;
    assert_eq!(muc_item(&p).unwrap().attr("role"), Some("participant"));
    let p = bob.expect_presence(&from, "").await;
    assert_eq!(muc_item(&p).unwrap().attr("role"), Some("participant"));
    bob.say(&r, "Bob", "thank you").await;
    alice.expect_groupchat(&format!("{r}/Bob")).await;

    alice
        .admin_ok(&r, "<item nick='Bob' role='visitor'/>")
        .await;
    let p = bob.expect_presence(&format!("{r}/Bob"), "").await;
    assert_eq!(muc_item(&p).unwrap().attr("role"), Some("visitor"));
    bob.groupchat(&r, "again?").await;
    assert_eq!(bob.expect_message_error(&r).await, "forbidden");
}

/// `muc#roomconfig_membersonly`: §7.2.7 a non-member gets `registration-required`; a
/// member added by the owner (§9.5) gets in; §9.6 a member removed from the list is
/// removed from the room with status 321 and refused again.
#[tokio::test]
async fn members_only_room() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("club");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_membersonly", "1")])
        .await;
    let info = bob.disco_info(&r).await;
    assert!(info_features(&info).iter().any(|f| f == "muc_membersonly"));

    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "registration-required");

    alice
        .admin_ok(&r, "<item affiliation='member' jid='bob@localhost'/>")
        .await;
    assert_eq!(
        alice.affiliation_list(&r, "member").await,
        vec!["bob@localhost"]
    );
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.item().attr("affiliation"), Some("member"));
    alice.expect_presence(&format!("{r}/Bob"), "").await;

    alice
        .admin_ok(&r, "<item affiliation='none' jid='bob@localhost'/>")
        .await;
    let p = bob
        .expect_presence(&format!("{r}/Bob"), "unavailable")
        .await;
    assert!(status_codes(&p).contains(&321), "{}", p.to_xml(CLIENT_NS));
    assert!(alice.affiliation_list(&r, "member").await.is_empty());
    let (cond, _) = bob.join_error(&r, "Bob", "").await;
    assert_eq!(cond, "registration-required");
}

/// `muc#maxhistoryfetch` and §7.2.13–§7.2.14: the room replays at most that many
/// messages, oldest first, each with a XEP-0203 delay from the room; the joiner narrows
/// it with `maxstanzas`, `maxchars`, `seconds` and `since`.
#[tokio::test]
async fn history_length_and_joiner_limits() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("history");
    alice
        .create_room(&r, "Alice", &[("muc#maxhistoryfetch", "3")])
        .await;
    for i in 1..=5 {
        alice.say(&r, "Alice", &format!("m{i}")).await;
    }

    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.history_bodies(), vec!["m3", "m4", "m5"]);
    for m in &j.history {
        assert_eq!(m.attr("from"), Some(&*format!("{r}/Alice")));
        assert_eq!(m.attr("type"), Some("groupchat"));
        let d = m.get_child("delay", DELAY_NS).expect("XEP-0203 delay");
        assert_eq!(d.attr("from"), Some(&*r));
        assert!(d.attr("stamp").is_some());
    }

    let cases: [(&str, Vec<&str>); 6] = [
        ("<history maxstanzas='2'/>", vec!["m4", "m5"]),
        ("<history maxstanzas='0'/>", vec![]),
        ("<history maxchars='0'/>", vec![]),
        ("<history seconds='3600'/>", vec!["m3", "m4", "m5"]),
        (
            "<history since='2000-01-01T00:00:00Z'/>",
            vec!["m3", "m4", "m5"],
        ),
        ("<history since='2999-01-01T00:00:00Z'/>", vec![]),
    ];
    for (h, want) in &cases {
        bob.leave(&r, "Bob").await;
        let j = bob.join_with(&r, "Bob", h).await;
        assert_eq!(&j.history_bodies(), want, "history with {h}");
    }
}

/// Server option `history_default` sets the default of `muc#maxhistoryfetch`.
#[tokio::test]
async fn history_default_from_server_config() {
    let server = muc_server("history_default = 2\n", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("short");
    alice.create_room(&r, "Alice", &[]).await;
    assert_eq!(
        field_values(&alice.config(&r).await, "muc#maxhistoryfetch"),
        vec!["2"]
    );
    for i in 1..=4 {
        alice.say(&r, "Alice", &format!("m{i}")).await;
    }
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.history_bodies(), vec!["m3", "m4"]);
}

/// `muc#roomconfig_enablelogging`: public logs cannot be turned on unless the operator
/// made them available (`not-acceptable`, and the room is unchanged); with
/// `public_logs_available = true` the owner may turn them on.
#[tokio::test]
async fn logging_needs_the_operator() {
    let server = muc_server("", &["alice"]);
    let mut alice = user(&server, "alice", "phone").await;
    let r = room("nolog");
    alice.create_room(&r, "Alice", &[]).await;
    let reply = alice
        .configure(&r, &[("muc#roomconfig_enablelogging", "1")])
        .await;
    assert_eq!(
        reply.attr("type"),
        Some("error"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    assert_eq!(stanza_error(&reply).as_deref(), Some("not-acceptable"));
    assert!(!truthy(&field_values(
        &alice.config(&r).await,
        "muc#roomconfig_enablelogging"
    )));
    drop(alice);
    drop(server);

    let server = muc_server("public_logs_available = true\n", &["alice"]);
    let mut alice = user(&server, "alice", "phone").await;
    alice.create_room(&r, "Alice", &[]).await;
    let reply = alice
        .configure(&r, &[("muc#roomconfig_enablelogging", "1")])
        .await;
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    assert!(truthy(&field_values(
        &alice.config(&r).await,
        "muc#roomconfig_enablelogging"
    )));
}

/// `muc#roomconfig_maxusers`: §7.2.10 a joiner beyond the maximum gets
/// `service-unavailable`.
#[tokio::test]
async fn max_occupants() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("tiny");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_maxusers", "2")])
        .await;
    bob.join(&r, "Bob").await;
    let (cond, _) = carol.join_error(&r, "Carol", "").await;
    assert_eq!(cond, "service-unavailable");
    bob.leave(&r, "Bob").await;
    carol.join(&r, "Carol").await;
}

/// `muc#roomconfig_whois`: semi-anonymous by default (§7.2.4: only moderators see real
/// JIDs); `anyone` makes the room non-anonymous: everyone sees real JIDs, joiners get
/// status 100 (§7.2.5), and the change is announced with 172 (§10.2.1).
#[tokio::test]
async fn whois_semi_anonymous_and_non_anonymous() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("masks");
    alice.create_room(&r, "Alice", &[]).await;

    let j = bob.join(&r, "Bob").await;
    assert!(!j.codes().contains(&100));
    assert_eq!(
        muc_item(&j.others[0]).unwrap().attr("jid"),
        None,
        "a participant does not see real JIDs"
    );
    let p = alice.expect_presence(&format!("{r}/Bob"), "").await;
    assert_eq!(
        muc_item(&p).unwrap().attr("jid"),
        bob.jid.as_deref(),
        "a moderator sees the real full JID"
    );

    let reply = alice
        .configure(&r, &[("muc#roomconfig_whois", "anyone")])
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    let m = bob
        .recv_until("config change notice", |e| {
            e.name() == "message" && e.attr("from") == Some(&*r) && muc_x(e).is_some()
        })
        .await;
    assert!(status_codes(&m).contains(&172), "{}", m.to_xml(CLIENT_NS));

    let j = carol.join(&r, "Carol").await;
    assert!(j.codes().contains(&100), "§7.2.5: non-anonymous room");
    let jids: Vec<Option<String>> = j
        .others
        .iter()
        .map(|p| muc_item(p).unwrap().attr("jid").map(str::to_owned))
        .collect();
    assert!(jids.contains(&alice.jid.clone()), "{jids:?}");
    assert!(jids.contains(&bob.jid.clone()), "{jids:?}");
    let p = bob.expect_presence(&format!("{r}/Carol"), "").await;
    assert_eq!(muc_item(&p).unwrap().attr("jid"), carol.jid.as_deref());
    let info = bob.disco_info(&r).await;
    assert!(info_features(&info).iter().any(|f| f == "muc_nonanonymous"));
}

/// `muc#roomconfig_allowpm`: with `none` nobody's private message is delivered (an
/// error comes back); with `moderators` a participant's is refused and a moderator's
/// goes through.
#[tokio::test]
async fn allowpm_none_and_moderators() {
    let server = muc_server("", &["alice", "bob"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let r = room("quiet");
    alice
        .create_room(&r, "Alice", &[("muc#roomconfig_allowpm", "none")])
        .await;
    bob.join(&r, "Bob").await;
    alice.drain().await;
    let pm = |to: &str, text: &str| {
        format!(
            "<message to='{to}' type='chat' id='{}'><body>{text}</body></message>",
            next_id("pm")
        )
    };
    let refused = ["forbidden", "not-acceptable", "not-allowed"];

    bob.send(&pm(&format!("{r}/Alice"), "psst")).await;
    let cond = bob.expect_message_error(&format!("{r}/Alice")).await;
    assert!(refused.contains(&cond.as_str()), "refused PM: {cond}");
    alice.assert_idle("no PM when allowpm is none").await;
    alice.send(&pm(&format!("{r}/Bob"), "psst")).await;
    let cond = alice.expect_message_error(&format!("{r}/Bob")).await;
    assert!(refused.contains(&cond.as_str()), "refused PM: {cond}");

    let reply = alice
        .configure(&r, &[("muc#roomconfig_allowpm", "moderators")])
        .await;
    assert_eq!(reply.attr("type"), Some("result"));
    bob.drain().await;
    bob.send(&pm(&format!("{r}/Alice"), "psst")).await;
    let cond = bob.expect_message_error(&format!("{r}/Alice")).await;
    assert!(refused.contains(&cond.as_str()), "refused PM: {cond}");
    alice
        .send(&pm(&format!("{r}/Bob"), "from the moderator"))
        .await;
    let m = bob
        .recv_until("PM", |e| body(e).as_deref() == Some("from the moderator"))
        .await;
    assert_eq!(m.attr("from"), Some(&*format!("{r}/Alice")));
}

/// `muc#roomconfig_presencebroadcast`: only the presence of occupants whose role is
/// listed is broadcast. With `moderator` only, a participant's join is seen by nobody
/// else, while the moderator's presence still reaches everyone.
#[tokio::test]
async fn presence_broadcast_roles() {
    let server = muc_server("", &["alice", "bob", "carol"]);
    let mut alice = user(&server, "alice", "phone").await;
    let mut bob = user(&server, "bob", "laptop").await;
    let mut carol = user(&server, "carol", "tablet").await;
    let r = room("lurkers");
    alice
        .create_room(
            &r,
            "Alice",
            &[("muc#roomconfig_presencebroadcast", "moderator")],
        )
        .await;
    let j = bob.join(&r, "Bob").await;
    assert_eq!(j.others.len(), 1, "the moderator's presence is broadcast");
    let j = carol.join(&r, "Carol").await;
    let from: Vec<&str> = j.others.iter().filter_map(|p| p.attr("from")).collect();
    assert_eq!(
        from,
        vec![format!("{r}/Alice")],
        "bob's presence is not broadcast"
    );
    bob.assert_idle("carol's presence is not broadcast").await;
    // Messages still flow.
    carol.say(&r, "Carol", "anyone?").await;
    bob.expect_groupchat(&format!("{r}/Carol")).await;
}
