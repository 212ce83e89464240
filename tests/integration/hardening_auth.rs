//! Hostile clients against authentication: password checks are bounded in number and
//! memory, failures slow the failing party without locking others out, unknown accounts
//! look like real ones.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::future::join_all;

use crate::common::scram::Cb;
use crate::common::{Client, SASL_NS, Server};

/// A loopback source address other than 127.0.0.1: the server tells sources apart by
/// address, so each test party gets its own.
fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// STARTTLS client whose TCP connection comes from `from`.
async fn connect_from(server: &Server, from: IpAddr) -> Client {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    let tcp = sock.connect(server.c2s).await.unwrap();
    Client::starttls_over(tcp, server).await
}

/// Item 3: 40 parallel wrong PLAIN passwords on one account, all sent at once, get at
/// most `max_failures_per_account` + 1 password checks: the failure counters are
/// reserved before argon2 runs. The others are refused with `temporary-auth-failure`
/// (RFC 6120 §6.5.11) without a check, and the server logs one `password check` per
/// argon2 verification.
#[tokio::test]
async fn parallel_guesses_check_at_most_the_limit() {
    let server = Server::builder()
        .toml(
            // 40 connections from one address: above the default per-source cap on
            // unauthenticated connections (limits.max_preauth_per_source).
            "[limits]\nmax_preauth_per_source = 64\n\
             [auth]\nmax_failures_per_account = 5\nmax_failures_per_source = 1000\n\
             failure_delay_ms = 5\nmax_failure_delay_ms = 20\n",
        )
        .start();
    server.add_account("alice", "wonderland");
    let mut clients = join_all((0..40).map(|_| Client::connect(&server))).await;
    let results = join_all(
        clients
            .iter_mut()
            .map(|c| c.auth_plain("alice", "not the password")),
    )
    .await;
    let checked = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e == "not-authorized"))
        .count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(e) if e == "temporary-auth-failure"))
        .count();
    assert_eq!(checked + refused, 40, "{results:?}");
    assert!(
        checked <= 6,
        "{checked} of 40 parallel guesses were checked (at most 5 + 1 expected)"
    );
    let checks = server.stderr().matches("password check").count();
    assert!(
        (1..=6).contains(&checks),
        "{checks} argon2 verifications logged"
    );
    // The right password from another source still works.
    let mut other = connect_from(&server, lo(2)).await;
    other.auth_plain("alice", "wonderland").await.unwrap();
}

/// Item 3: 200 PLAIN logins, 50 in flight from 50 sources, leave the server's resident
/// memory within 64 MiB of the idle server (argon2's 19 MiB working memories are reused,
/// not left resident in the allocator one per login).
#[tokio::test]
async fn plain_logins_leave_memory_bounded() {
    let server = Arc::new(
        Server::builder()
            .log_level("warn")
            .toml("[auth]\nfailure_delay_ms = 50\nmax_parallel_password_checks = 2\n")
            .start(),
    );
    server.add_account("alice", "wonderland");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let idle = crate::common::rss_kib(&server);
    let sem = Arc::new(tokio::sync::Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = connect_from(&server, lo(10 + (i % 50) as u8)).await;
            c.auth_plain("alice", "wonderland").await.unwrap();
            c.close().await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = crate::common::rss_kib(&server);
    assert!(
        after <= idle + 64 * 1024,
        "VmRSS grew from {} MiB idle to {} MiB after 200 PLAIN logins",
        idle / 1024,
        after / 1024
    );
}

/// Item 4: a stranger failing on purpose does not lock the account: the failing source
/// is refused on it (`temporary-auth-failure`), another source with the right password
/// logs in. Over the account's failure budget, a source that has failed elsewhere is
/// refused on it, a source that has never failed is not.
#[tokio::test]
async fn strangers_cannot_lock_an_account() {
    let server = Server::builder()
        .toml(
            "[auth]\nmax_failures_per_account = 3\naccount_failure_budget = 6\n\
             max_failures_per_source = 100\nfailure_delay_ms = 5\nmax_failure_delay_ms = 20\n",
        )
        .start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    // The attacker at .2 fails 3 times, then is refused even with the right password.
    let mut attacker = connect_from(&server, lo(2)).await;
    for _ in 0..3 {
        assert_eq!(
            attacker.auth_plain("alice", "guess").await,
            Err("not-authorized".into())
        );
    }
    assert_eq!(
        attacker
            .auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
            .await,
        Err("temporary-auth-failure".into())
    );
    // Alice, at .3, is not affected.
    let mut alice = connect_from(&server, lo(3)).await;
    alice.auth_plain("alice", "wonderland").await.unwrap();
    // A second attacker at .4 spends the account's budget (3 + 3 = 6 failures).
    let mut second = connect_from(&server, lo(4)).await;
    for _ in 0..3 {
        assert_eq!(
            second
                .auth_scram("SCRAM-SHA-256", "alice", "guess", Cb::None)
                .await,
            Err("not-authorized".into())
        );
    }
    // .5 failed once on bob: over alice's budget it is refused on alice...
    let mut failed_elsewhere = connect_from(&server, lo(5)).await;
    assert_eq!(
        failed_elsewhere.auth_plain("bob", "guess").await,
        Err("not-authorized".into())
    );
    assert_eq!(
        failed_elsewhere.auth_plain("alice", "wonderland").await,
        Err("temporary-auth-failure".into())
    );
    // ...and a source with no failure logs in, with SCRAM and PLAIN.
    let mut fresh = connect_from(&server, lo(6)).await;
    fresh
        .auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::None)
        .await
        .unwrap();
    let mut fresh2 = connect_from(&server, lo(7)).await;
    fresh2.auth_plain("alice", "wonderland").await.unwrap();
}

/// The salt and iteration count of a SCRAM server-first message (RFC 5802 §5.1) for
/// `user`; the exchange is then aborted (RFC 6120 §6.4.4).
async fn server_first(server: &Server, from: IpAddr, user: &str) -> (String, String) {
    let mut c = connect_from(server, from).await;
    let (s, i, _) = server_first_with(server, Some(&mut c), user).await;
    (s, i)
}

/// Salt, iteration count and the whole server-first message of SCRAM-SHA-256 for `user`
/// on `c` (a new connection when `None`); the exchange is aborted.
async fn server_first_with(
    server: &Server,
    c: Option<&mut Client>,
    user: &str,
) -> (String, String, String) {
    let mut own;
    let c = match c {
        Some(c) => c,
        None => {
            own = Client::connect(server).await;
            &mut own
        }
    };
    let first = format!("n,,n={user},r=abcdefghijklmnop");
    c.send(&format!(
        "<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{}</auth>",
        B64.encode(first)
    ))
    .await;
    let ch = c.recv().await;
    assert!(ch.is("challenge", SASL_NS), "{ch:?}");
    let sf = String::from_utf8(B64.decode(ch.text().trim()).unwrap()).unwrap();
    let field = |k: &str| {
        sf.split(',')
            .find_map(|p| p.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    c.send(&format!("<abort xmlns='{SASL_NS}'/>")).await;
    let _ = c.recv().await;
    (field("s="), field("i="), sf.clone())
}

/// Item 10: an unknown account's SCRAM salt stays the same across restarts (as a real
/// account's does) and its iteration count is the configured one, so neither tells
/// unknown accounts from real ones.
#[tokio::test]
async fn unknown_accounts_look_like_real_ones() {
    let mut server = Server::builder()
        .toml("[auth]\nscram_iterations = 5000\nfailure_delay_ms = 5\n")
        .start();
    server.add_account("alice", "wonderland");
    let (real_salt, real_i) = server_first(&server, lo(2), "alice").await;
    let (ghost_salt, ghost_i) = server_first(&server, lo(2), "ghost").await;
    assert_eq!(real_i, "5000");
    assert_eq!(
        ghost_i, real_i,
        "unknown account shows another iteration count"
    );
    server.restart();
    let (real_salt2, _) = server_first(&server, lo(3), "alice").await;
    let (ghost_salt2, ghost_i2) = server_first(&server, lo(3), "ghost").await;
    assert_eq!(real_salt2, real_salt);
    assert_eq!(ghost_i2, "5000");
    assert_eq!(
        ghost_salt2, ghost_salt,
        "unknown account's salt changed across a restart"
    );
}

// ---------------------------------------------------------------------------------------
// Item 9: channel binding on TLS 1.2, XEP-0474, no TLS session resumption, server order.

/// On TLS 1.2 the -PLUS mechanisms are offered with `tls-server-end-point` (RFC 5929)
/// advertised per XEP-0440, a -PLUS login binds to the certificate, the server-first
/// message carries the XEP-0474 hash (checked by the harness against the features),
/// and a client `y` flag (it could bind but saw no -PLUS: stripped by a relay) fails.
#[tokio::test]
async fn tls12_offers_plus_with_server_end_point() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let tls12 = || async {
        let mut c = Client::tcp_tls12(&server).await;
        c.open_stream().await;
        c.starttls().await;
        c.open_stream().await;
        c
    };
    let mut c = tls12().await;
    let mechs = c.mechanisms();
    assert!(
        mechs.iter().any(|m| m == "SCRAM-SHA-256-PLUS"),
        "no -PLUS on TLS 1.2: {mechs:?}"
    );
    assert_eq!(c.channel_binding_types(), ["tls-server-end-point"]);
    let (_, _, sf) = server_first_with(&server, Some(&mut c), "alice").await;
    assert!(sf.contains(",h="), "no XEP-0474 hash in {sf:?}");
    let mut c = tls12().await;
    c.auth_scram(
        "SCRAM-SHA-256-PLUS",
        "alice",
        "wonderland",
        Cb::ServerEndPoint,
    )
    .await
    .unwrap();
    // A relay that strips -PLUS: the client says `y`, the server refuses (RFC 5802 §6).
    let mut c = tls12().await;
    assert_eq!(
        c.auth_scram("SCRAM-SHA-256", "alice", "wonderland", Cb::Yes)
            .await,
        Err("not-authorized".into())
    );
    // SCRAM-SHA-1-PLUS binds the same way.
    let mut c = tls12().await;
    c.auth_scram(
        "SCRAM-SHA-1-PLUS",
        "alice",
        "wonderland",
        Cb::ServerEndPoint,
    )
    .await
    .unwrap();
}

/// On TLS 1.3 both types are advertised and both bind.
#[tokio::test]
async fn tls13_offers_both_channel_bindings() {
    let server = Server::start();
    server.add_account("alice", "wonderland");
    let mut c = Client::connect(&server).await;
    assert_eq!(
        c.channel_binding_types(),
        ["tls-exporter", "tls-server-end-point"]
    );
    c.auth_scram(
        "SCRAM-SHA-256-PLUS",
        "alice",
        "wonderland",
        Cb::ServerEndPoint,
    )
    .await
    .unwrap();
    let mut c = Client::connect(&server).await;
    c.auth_scram("SCRAM-SHA-256-PLUS", "alice", "wonderland", Cb::Exporter)
        .await
        .unwrap();
}

/// One direct-TLS connection (XEP-0368) with `config`, reading the stream header and
/// features (so that TLS 1.3 tickets sent after the handshake are received); returns
/// how the handshake went and the negotiated cipher suite.
async fn direct_tls_handshake(
    server: &Server,
    config: Arc<rustls::ClientConfig>,
) -> (rustls::HandshakeKind, rustls::CipherSuite) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(server.c2s_tls)
        .await
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(config);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(crate::common::header(&server.domain).as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("</stream:features>") {
        let n = tokio::time::timeout(crate::common::TIMEOUT, tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream ended before the features");
        got.extend_from_slice(&buf[..n]);
    }
    let conn = tls.get_ref().1;
    let kind = conn.handshake_kind().unwrap();
    let suite = conn.negotiated_cipher_suite().unwrap().suite();
    let _ = tls.shutdown().await;
    (kind, suite)
}

/// TLS session resumption is off by default: a client keeping its session store (TLS
/// 1.3 tickets, TLS 1.2 session IDs) makes a full handshake on its second connection,
/// so the two connections cannot be linked. `tls.session_resumption = true` allows it.
#[tokio::test]
async fn tls_sessions_are_not_resumed() {
    let server = Server::start();
    for tls12 in [false, true] {
        let config = crate::common::tls_config(server.certificate(), tls12);
        let (first, _) = direct_tls_handshake(&server, config.clone()).await;
        assert_eq!(first, rustls::HandshakeKind::Full);
        let (second, _) = direct_tls_handshake(&server, config).await;
        assert_eq!(
            second,
            rustls::HandshakeKind::Full,
            "second TLS {} connection was resumed",
            if tls12 { "1.2" } else { "1.3" }
        );
    }
    let resuming = Server::builder()
        .toml("[tls]\nsession_resumption = true\n")
        .start();
    let config = crate::common::tls_config(resuming.certificate(), false);
    let _ = direct_tls_handshake(&resuming, config.clone()).await;
    let (second, _) = direct_tls_handshake(&resuming, config).await;
    assert_eq!(second, rustls::HandshakeKind::Resumed);
}

/// TLS 1.2 uses the server's cipher suite order: a client preferring ChaCha20 gets
/// AES-256-GCM, rustls' first choice.
#[tokio::test]
async fn tls12_uses_the_server_cipher_order() {
    use rustls::crypto::ring::cipher_suite as cs;
    let server = Server::start();
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ];
    let provider = Arc::new(provider);
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(crate::common::any_certificate(provider))
        .with_no_client_auth();
    let (_, suite) = direct_tls_handshake(&server, Arc::new(config)).await;
    assert_eq!(
        suite,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
    );
}

/// Item 10: when the failure-counter table is full, the oldest counters are dropped,
/// not all of them: a source refused on an account stays refused after a flood of
/// failures on new names fills the table past `auth.max_failure_counters`.
#[tokio::test]
async fn failure_counters_evict_the_oldest() {
    let server = Server::builder()
        .toml(
            "[auth]\nmax_failure_counters = 1000\nmax_failures_per_account = 2\n\
             max_failures_per_source = 10000\naccount_failure_budget = 1000000\n\
             failure_delay_ms = 0\n",
        )
        .start();
    server.add_account("alice", "wonderland");
    // Each aborted SCRAM attempt on a new name adds two counters (the name, and the
    // name with this source).
    let mut flood = connect_from(&server, lo(2)).await;
    for n in 0..450 {
        let first = format!("n,,n=nobody{n},r=abcdefghijklmnop");
        flood
            .send(&format!(
                "<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{}</auth><abort xmlns='{SASL_NS}'/>",
                B64.encode(first)
            ))
            .await;
        assert!(flood.recv().await.is("challenge", SASL_NS));
        assert!(flood.recv().await.is("failure", SASL_NS));
    }
    // .3 fails twice on alice and is refused on it.
    let mut guesser = connect_from(&server, lo(3)).await;
    for _ in 0..2 {
        assert_eq!(
            guesser.auth_plain("alice", "guess").await,
            Err("not-authorized".into())
        );
    }
    // The flood goes on past the table's size.
    for n in 450..600 {
        let first = format!("n,,n=nobody{n},r=abcdefghijklmnop");
        flood
            .send(&format!(
                "<auth xmlns='{SASL_NS}' mechanism='SCRAM-SHA-256'>{}</auth><abort xmlns='{SASL_NS}'/>",
                B64.encode(first)
            ))
            .await;
        assert!(flood.recv().await.is("challenge", SASL_NS));
        assert!(flood.recv().await.is("failure", SASL_NS));
    }
    assert_eq!(
        guesser.auth_plain("alice", "wonderland").await,
        Err("temporary-auth-failure".into()),
        "the flood wiped the recent failures"
    );
}
