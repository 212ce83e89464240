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

fn rss_kib(server: &Server) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
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
            "[auth]\nmax_failures_per_account = 5\nmax_failures_per_source = 1000\n\
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
    let idle = rss_kib(&server);
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
    let after = rss_kib(&server);
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
    (field("s="), field("i="))
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
