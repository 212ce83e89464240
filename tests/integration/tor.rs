//! Reaching allium over Tor, on a private Tor network on loopback (issue 3).
//!
//! Each test starts its own network ([`TorNet`], 4 `tor` processes, ~10–20 s to a usable
//! consensus) on its own ports, so the tests run in parallel and a failure in one cannot
//! leave a half-used network to another; run in parallel they cost about one network's
//! start-up in wall time. Without `tor` installed they print a skip notice and pass,
//! except with `CI=true`, where they fail.

use std::time::{Duration, Instant};

use crate::common::torclient::TorClientHandle;
use crate::common::tornet::{TorNet, free_base_port, pid_alive, tor_available};
use crate::common::*;

/// Starts a network on a free port range at or above `base` (off the async runtime).
/// One private Tor network at a time: four networks (16 tor processes) beside the rest of
/// the suite on 2 cores made directory votes and onion descriptor publication late enough
/// to fail tests now and then.
static TOR_NETWORKS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn start_net(base: u16) -> TorNet {
    tokio::task::spawn_blocking(move || TorNet::start(free_base_port(base)))
        .await
        .unwrap()
}

/// Stops the network and checks that every tor process it started is gone.
fn stop_and_check(mut net: TorNet) {
    let pids = net.pids();
    net.stop();
    drop(net);
    let out = std::process::Command::new("pgrep")
        .args(["-x", "tor"])
        .output()
        .unwrap();
    let running: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    for pid in pids {
        assert!(!pid_alive(pid), "tor process {pid} still alive after stop");
        assert!(!running.contains(&pid), "pgrep -x tor still lists {pid}");
    }
}

/// `builder` set up for allium's own onion service on the private network `net`: the
/// Arti override file and the environment variable that allows it. The returned
/// directory holds the file and must outlive the server.
fn on_tornet(builder: ServerBuilder, net: &TorNet) -> (ServerBuilder, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arti-net.toml");
    net.write_arti_toml(&file);
    let builder = builder
        .toml(&format!(
            "[tor]\nenabled = true\n\n[tor.testing]\nnetwork = \"{}\"\n",
            file.display()
        ))
        .env("ALLIUM_TESTING_TOR_NETWORK", "1");
    (builder, dir)
}

/// `from` sends a chat message to `to`'s bare JID and `to` receives it from `from`'s full
/// JID (RFC 6121 §5.2.1, §8.5.3.1).
async fn chat(from: &mut Client, to: &mut Client, body: &str) {
    let to_bare = to.jid.clone().unwrap();
    let to_bare = to_bare.split('/').next().unwrap();
    from.send(&format!(
        "<message to='{to_bare}' type='chat' id='m-{body}'><body>{body}</body></message>"
    ))
    .await;
    let m = to
        .recv_until(&format!("message {body}"), |e| e.name() == "message")
        .await;
    assert_eq!(m.attr("from"), from.jid.as_deref());
    assert_eq!(
        m.get_child("body", CLIENT_NS).map(|b| b.text()),
        Some(body.to_owned())
    );
}

/// SASL PLAIN (RFC 6120 §6) and resource binding (RFC 6120 §7) on an opened, TLS-secured
/// stream, then initial presence.
async fn login_on(c: &mut Client, user: &str, password: &str, resource: &str) {
    c.auth_plain(user, password).await.expect("SASL PLAIN");
    c.bind(Some(resource)).await;
    c.available().await;
}

/// The private network boots from Debian's `tor`, Arti bootstraps against it from the
/// fragment `TorNet::arti_toml` gives, and stopping the network leaves no tor process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tornet_boots_and_arti_bootstraps() {
    if !tor_available("tornet_boots_and_arti_bootstraps") {
        return;
    }
    let _one_network_at_a_time = TOR_NETWORKS.lock().await;
    let t0 = Instant::now();
    let net = start_net(21000).await;
    let client = TorClientHandle::bootstrap(&net.arti_toml()).await;
    // Bootstrap can report done a moment before the last microdescriptors are in.
    let ready_by = Instant::now() + Duration::from_secs(30);
    while !client.client.bootstrap_status().ready_for_traffic() && Instant::now() < ready_by {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        client.client.bootstrap_status().ready_for_traffic(),
        "Arti bootstrapped but is not ready for traffic: {}",
        client.client.bootstrap_status()
    );
    drop(client);
    stop_and_check(net);
    eprintln!("tornet_boots_and_arti_bootstraps: {:.1?}", t0.elapsed());
}

/// The `torrc.example` deployment: a C tor onion service whose `HiddenServicePort`s forward
/// to allium's loopback listeners. A client over Tor completes STARTTLS (RFC 6120 §5),
/// SASL and bind on port 5222 and chats with a client on TCP; direct TLS (XEP-0368) works
/// on port 5223 of the same onion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctor_onion_service_forwards_to_allium() {
    if !tor_available("ctor_onion_service_forwards_to_allium") {
        return;
    }
    let _one_network_at_a_time = TOR_NETWORKS.lock().await;
    let t0 = Instant::now();
    let server = Server::start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let mut net = start_net(21200).await;
    let onion = net.add_ctor_onion_service(&[(5222, server.c2s), (5223, server.c2s_tls)]);
    assert!(onion.ends_with(".onion"), "hostname {onion}");
    let tor = TorClientHandle::bootstrap(&net.arti_toml()).await;

    let stream = tor.connect(&onion, 5222).await;
    let mut alice = Client::starttls_over(stream, &server).await;
    login_on(&mut alice, "alice", "wonderland", "tor").await;
    let mut bob = server.login("bob", "builder", "tcp").await;
    bob.available().await;
    chat(&mut alice, &mut bob, "hello-from-onion").await;
    chat(&mut bob, &mut alice, "hello-from-tcp").await;

    // A new client, as a user connecting after the restart would be (no cached descriptor).
    drop(tor);
    let tor = TorClientHandle::bootstrap(&net.arti_toml()).await;
    let stream = tor.connect(&onion, 5223).await;
    let mut alice2 = Client::direct_tls_over(stream, &server).await;
    login_on(&mut alice2, "alice", "wonderland", "tor-direct").await;
    chat(&mut alice2, &mut bob, "direct-tls-over-onion").await;

    alice.close().await;
    alice2.close().await;
    bob.close().await;
    drop(tor);
    stop_and_check(net);
    eprintln!(
        "ctor_onion_service_forwards_to_allium: {:.1?}",
        t0.elapsed()
    );
}

/// allium's own onion service (Arti, `[tor]`): a client reaches the `.onion` address the
/// server reports, completes STARTTLS, SASL and bind, and chats with a client on TCP; after
/// a restart the same address is served (the key is kept in the state directory); direct
/// TLS (XEP-0368) over the onion's port 5223 works too. The onion's port 80 serves the
/// HTTP listener, and URLs of ours reach the onion client with the onion address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onion_c2s_end_to_end() {
    if !tor_available("onion_c2s_end_to_end") {
        return;
    }
    let _one_network_at_a_time = TOR_NETWORKS.lock().await;
    let t0 = Instant::now();
    let net = start_net(21400).await;
    let (builder, _net_dir) = on_tornet(Server::builder(), &net);
    let mut server = builder.start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let onion = server.wait_onion(Duration::from_secs(90));
    assert!(onion.ends_with(".onion"), "onion address {onion}");
    let tor = TorClientHandle::bootstrap(&net.arti_toml()).await;

    let stream = tor.connect(&onion, 5222).await;
    let mut alice = Client::starttls_over(stream, &server).await;
    login_on(&mut alice, "alice", "wonderland", "tor").await;
    let mut bob = server.login("bob", "builder", "tcp").await;
    bob.available().await;
    chat(&mut alice, &mut bob, "hello-from-onion").await;
    chat(&mut bob, &mut alice, "hello-from-tcp").await;

    // A link to our HTTP listener reaches the onion session with the onion base URL
    // (issue 5): in the body and in the XEP-0066 §3 jabber:x:oob <url>.
    let clearnet = format!("https://localhost:{}", server.http.unwrap().port());
    bob.send(&format!(
        "<message to='alice@localhost' type='chat' id='oob'><body>see {clearnet}/f/a.png</body>\
         <x xmlns='jabber:x:oob'><url>{clearnet}/f/a.png</url></x></message>"
    ))
    .await;
    let m = alice
        .recv_until("the oob message", |e| e.attr("id") == Some("oob"))
        .await;
    let onion_url = format!("http://{onion}/f/a.png");
    assert_eq!(
        m.get_child("body", CLIENT_NS).map(|b| b.text()),
        Some(format!("see {onion_url}"))
    );
    let url = m
        .get_child("x", "jabber:x:oob")
        .and_then(|x| x.get_child("url", "jabber:x:oob"))
        .map(|u| u.text());
    assert_eq!(url, Some(onion_url));

    // XEP-0363 over the onion service (issue 5): the slot of an onion session carries
    // the onion base URL, and PUT and GET work through the onion's port 80.
    let reply = alice
        .iq(
            "slot",
            "<iq type='get' id='slot' to='upload.localhost'><request \
             xmlns='urn:xmpp:http:upload:0' filename='a.txt' size='5' content-type='text/plain'/></iq>",
        )
        .await;
    let slot = reply
        .get_child("slot", "urn:xmpp:http:upload:0")
        .unwrap_or_else(|| panic!("no slot: {}", reply.to_xml(CLIENT_NS)));
    let put = slot.get_child("put", "urn:xmpp:http:upload:0").unwrap();
    let put_url = put.attr("url").unwrap().to_owned();
    let auth = put.children().next().unwrap().text();
    let onion_base = format!("http://{onion}");
    let path = put_url
        .strip_prefix(&onion_base)
        .unwrap_or_else(|| panic!("slot URL {put_url} is not under {onion_base}"))
        .to_owned();
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "text/plain"),
    ];
    let stream = tor.connect(&onion, 80).await;
    let r =
        crate::common::http::request_over(stream, &onion, "PUT", &path, &headers, b"hello").await;
    assert_eq!(r.status, 201, "{}", r.text());
    let stream = tor.connect(&onion, 80).await;
    let r = crate::common::http::request_over(stream, &onion, "GET", &path, &[], b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    alice.close().await;
    bob.close().await;

    // The onion's port 80 serves the HTTP listener in plain HTTP: the published
    // fingerprints are those of the server's certificate.
    let stream = tor.connect(&onion, 80).await;
    let r = crate::common::http::request_over(stream, &onion, "GET", "/fingerprints.txt", &[], b"")
        .await;
    assert_eq!(r.status, 200);
    use sha2::Digest as _;
    let sha256 = sha2::Sha256::digest(server.certificate().as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    assert!(r.text().contains(&sha256), "{}", r.text());
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));

    server.restart();
    let again = server.wait_onion(Duration::from_secs(90));
    assert_eq!(again, onion, "the onion address changed across a restart");

    // A new client, as a user connecting after the restart would be (no cached descriptor).
    drop(tor);
    let tor = TorClientHandle::bootstrap(&net.arti_toml()).await;
    let stream = tor.connect(&onion, 5223).await;
    let mut alice = Client::direct_tls_over(stream, &server).await;
    login_on(&mut alice, "alice", "wonderland", "tor-direct").await;
    let mut bob = server.login("bob", "builder", "tcp").await;
    bob.available().await;
    chat(&mut alice, &mut bob, "after-restart").await;
    alice.close().await;
    bob.close().await;

    assert!(server.stop(), "server did not stop cleanly");
    drop(tor);
    stop_and_check(net);
    eprintln!("onion_c2s_end_to_end: {:.1?}", t0.elapsed());
}

/// The README's onion-only deployment with the onion address itself as the JID domain:
/// no TCP listener at all, the address learnt offline with `allium onion address`, a
/// self-signed certificate for it; two users reach the server only over Tor and chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onion_only_server_with_onion_domain() {
    if !tor_available("onion_only_server_with_onion_domain") {
        return;
    }
    let _one_network_at_a_time = TOR_NETWORKS.lock().await;
    let net = start_net(21600).await;
    let (builder, _net_dir) = on_tornet(Server::builder().onion_only().onion_domain(), &net);
    let mut server = builder.start();
    // No TCP listener is reported or reachable.
    assert_eq!(server.c2s.port(), 0);
    let onion = server.wait_onion(Duration::from_secs(90));
    assert_eq!(onion, server.domain, "the JID domain is the onion address");
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let tor = TorClientHandle::bootstrap(&net.arti_toml()).await;

    let mut alice = Client::starttls_over(tor.connect(&onion, 5222).await, &server).await;
    login_on(&mut alice, "alice", "wonderland", "a").await;
    let mut bob = Client::direct_tls_over(tor.connect(&onion, 5223).await, &server).await;
    login_on(&mut bob, "bob", "builder", "b").await;
    assert_eq!(bob.jid.as_deref(), Some(format!("bob@{onion}/b").as_str()));
    chat(&mut alice, &mut bob, "onion-only-hello").await;
    chat(&mut bob, &mut alice, "onion-only-reply").await;
    alice.close().await;
    bob.close().await;
    drop(tor);
    drop(server);
    stop_and_check(net);
}

/// Onion clients are told apart by rendezvous circuit. One onion
/// client failing until its circuit is refused (`temporary-auth-failure`) does not
/// refuse another onion client's right password; before, all onion clients shared one
/// failure bucket, so anyone's failures refused every onion login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onion_failures_count_per_circuit() {
    if !tor_available("onion_failures_count_per_circuit") {
        return;
    }
    let _one_network_at_a_time = TOR_NETWORKS.lock().await;
    let net = start_net(21800).await;
    let (builder, _net_dir) = on_tornet(
        Server::builder().toml("[auth]\nmax_failures_per_source = 2\nfailure_delay_ms = 10\n"),
        &net,
    );
    let mut server = builder.start();
    server.add_account("alice", "wonderland");
    let onion = server.wait_onion(Duration::from_secs(90));
    let attacker = TorClientHandle::bootstrap(&net.arti_toml()).await;
    let stream = attacker.connect(&onion, 5222).await;
    let mut a = Client::starttls_over(stream, &server).await;
    for _ in 0..2 {
        assert_eq!(
            a.auth_plain("mallory", "guess").await,
            Err("not-authorized".into())
        );
    }
    assert_eq!(
        a.auth_plain("alice", "wonderland").await,
        Err("temporary-auth-failure".into())
    );
    // Another Tor client: its own rendezvous circuit, no failure.
    let user = TorClientHandle::bootstrap(&net.arti_toml()).await;
    let stream = user.connect(&onion, 5222).await;
    let mut u = Client::starttls_over(stream, &server).await;
    login_on(&mut u, "alice", "wonderland", "tor").await;
    u.close().await;
    drop(a);
    assert!(server.stop(), "server did not stop cleanly");
    drop(attacker);
    drop(user);
    stop_and_check(net);
}
