//! Memory per idle authenticated TLS session (DESIGN.md, "Performance shape").
//!
//! Not a timed test: `cargo test --all-targets` builds and runs this target without
//! `--bench`, and then it only prints a skip notice. Run it with
//! `cargo bench --bench idle_sessions` (release build of the server; loopback only).
//!
//! For each N it starts a fresh server (log level `warn`), adds N + a few accounts
//! straight into its database (one hash shared by all), then:
//!
//! 1. warm-up: logs in and out a few sessions, so that one-time costs (worker and
//!    blocking threads, lazily built state, the database page cache) are not counted
//!    per session; waits until the server holds no connection again;
//! 2. `before`: the server's `VmRSS`;
//! 3. logs in N sessions from this process, at most [`LOGIN_CONCURRENCY`] at once, one
//!    account each: STARTTLS with TLS 1.3 (RFC 6120 §5), SCRAM-SHA-256 (§6, RFC 7677),
//!    resource binding (§7), initial presence (RFC 6121 §4.2), then an XEP-0199 ping
//!    whose answer says the presence was handled; the login rate is N over that time;
//! 4. `idle`: `VmRSS` after all N have been bound and idle for [`IDLE`]; also `VmHWM`
//!    (the peak, reached while handshakes were in flight);
//! 5. `after`: every client closes its stream (RFC 6120 §4.4), the bench waits until
//!    the server's open sockets are back to the count before the warm-up, and
//!    reads `VmRSS` again (what the allocator kept);
//! 6. `again`: the same N log in and stay idle once more, `VmRSS` then: close to
//!    `idle` when the memory of closed sessions is reused rather than leaked.
//!
//! KiB/session is (idle − before) / N. One account per session: N resources of one
//! account would each receive every other one's initial presence (RFC 6121 §4.2.2),
//! which measures a presence storm rather than idle sessions. Kernel socket buffers
//! are not in `VmRSS`. The client side (this process, the test harness client: not a
//! lean client) is shown for contrast, its `VmRSS` growth per session. Clients and the
//! server share the machine's cores, and the client computes PBKDF2 (4096 iterations)
//! for each login, so the login rate is a lower bound for the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Server};
use tokio::sync::Semaphore;

/// Session counts; each needs that many file descriptors in this process and in the
/// server (`ulimit -n`), so a size beyond the limit is skipped with a notice.
const SIZES: [usize; 2] = [500, 2000];
/// File descriptors kept free besides the sessions' sockets.
const FD_MARGIN: usize = 100;
/// Sessions logged in and out before measuring.
const WARMUP: usize = 16;
/// Logins (TLS + SCRAM) in flight at once.
const LOGIN_CONCURRENCY: usize = 16;
/// How long all sessions stay idle before the measurement.
const IDLE: Duration = Duration::from_secs(2);
/// Everything for one size must be done by then.
const DEADLINE: Duration = Duration::from_secs(50);

const PASSWORD: &str = "idle bench password";

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("idle_sessions: skipped (run `cargo bench --bench idle_sessions`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("idle_sessions: server {}", common::bin());
    let fd_limit = open_files_limit();
    let mut rows = Vec::new();
    for n in SIZES {
        if n + FD_MARGIN > fd_limit {
            println!("idle_sessions: N = {n} skipped: `ulimit -n` is {fd_limit}");
            continue;
        }
        let row = rt
            .block_on(async { tokio::time::timeout(DEADLINE, sessions(n)).await })
            .unwrap_or_else(|_| panic!("N = {n} did not finish within {DEADLINE:?}"));
        rows.push(row);
    }
    println!();
    println!(
        "{:>5} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12} {:>12}",
        "N",
        "logins/s",
        "RSS cold",
        "RSS before",
        "RSS idle",
        "HWM",
        "RSS after",
        "RSS again",
        "KiB/session",
        "client KiB/s"
    );
    for r in &rows {
        println!(
            "{:>5} {:>8.0} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>12.1} {:>12.1}",
            r.n,
            r.n as f64 / r.login_secs,
            r.cold,
            r.before,
            r.idle,
            r.hwm,
            r.after,
            r.again,
            r.idle.saturating_sub(r.before) as f64 / r.n as f64,
            r.client_idle.saturating_sub(r.client_before) as f64 / r.n as f64,
        );
    }
    println!(
        "Server VmRSS/VmHWM in KiB. cold: after start; before: after a warm-up of {WARMUP} \
         sessions; idle: N sessions bound, initial presence sent, idle {} s; HWM: peak; \
         after: all closed; again: the same N logged in and idle again. KiB/session = \
         (idle - before) / N; client KiB/s(ession): this process's VmRSS growth per \
         session (test harness client). Logins: STARTTLS + TLS 1.3 + \
         SCRAM-SHA-256 + bind + presence, {LOGIN_CONCURRENCY} at once, client and server \
         on the same cores.",
        IDLE.as_secs()
    );
}

struct Row {
    n: usize,
    login_secs: f64,
    cold: u64,
    before: u64,
    idle: u64,
    hwm: u64,
    after: u64,
    again: u64,
    client_before: u64,
    client_idle: u64,
}

/// The soft limit on open files of this process (inherited by the server).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .map(|v| v.parse().unwrap_or(usize::MAX))
        .unwrap_or(1024)
}

/// Open sockets of process `pid` (its listeners and connections; database files and
/// other descriptors opened lazily are not counted).
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter(|l| l.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

fn own_rss() -> u64 {
    bench::status_kib(std::process::id(), "VmRSS")
}

/// One idle session: logged in (TLS 1.3, SCRAM-SHA-256), bound, available.
async fn session(server: &Server, user: &str) -> Client {
    let mut c = bench::login(server, user, PASSWORD, "idle").await;
    // The harness keeps tls-exporter data only when TLS 1.3 was negotiated.
    assert!(c.exporter.is_some(), "TLS 1.3 was not negotiated");
    // RFC 6121 §4.2: initial presence.
    c.available().await;
    // XEP-0199 §4.2: the server answers after it has handled the presence sent before.
    let r = c
        .iq(
            "idle-ping",
            "<iq type='get' id='idle-ping' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"), "ping: {r:?}");
    c
}

/// Logs in every user in `users`, [`LOGIN_CONCURRENCY`] at once.
async fn log_in(server: &Arc<Server>, users: Vec<String>) -> Vec<Client> {
    let gate = Arc::new(Semaphore::new(LOGIN_CONCURRENCY));
    let tasks: Vec<_> = users
        .into_iter()
        .map(|user| {
            let (server, gate) = (server.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire().await.unwrap();
                session(&server, &user).await
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(tasks.len());
    for t in tasks {
        clients.push(t.await.expect("a login failed"));
    }
    clients
}

/// Closes every stream (RFC 6120 §4.4), then waits until the server has no more
/// sockets open than `sockets`.
async fn log_out(server: &Server, clients: Vec<Client>, sockets: usize) {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(c.close()))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let pid = server.pid().unwrap();
    let until = Instant::now() + common::TIMEOUT;
    while open_sockets(pid) > sockets {
        assert!(
            Instant::now() < until,
            "server still holds {} sockets, {sockets} before the logins",
            open_sockets(pid)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sessions(n: usize) -> Row {
    let server = Arc::new(Server::builder().log_level("warn").start());
    let pid = server.pid().unwrap();
    let warm: Vec<String> = (0..WARMUP).map(|i| format!("w{i:02}")).collect();
    let users: Vec<String> = (0..n).map(|i| format!("u{i:05}")).collect();
    bench::create_accounts(&server, warm.iter().chain(&users).cloned(), PASSWORD).await;
    let cold = bench::rss_kib(&server);
    let sockets = open_sockets(pid);

    let clients = log_in(&server, warm).await;
    log_out(&server, clients, sockets).await;
    let before = bench::rss_kib(&server);
    let client_before = own_rss();

    let started = Instant::now();
    let clients = log_in(&server, users.clone()).await;
    let login_secs = started.elapsed().as_secs_f64();
    assert!(
        open_sockets(pid) >= sockets + n,
        "the server should hold a socket per session"
    );
    println!("idle_sessions: {n} sessions bound in {login_secs:.2} s");
    tokio::time::sleep(IDLE).await;
    let idle = bench::rss_kib(&server);
    let hwm = bench::status_kib(pid, "VmHWM");
    let client_idle = own_rss();

    log_out(&server, clients, sockets).await;
    let after = bench::rss_kib(&server);

    // The same N again: memory freed by the first round should be reused.
    let clients = log_in(&server, users).await;
    tokio::time::sleep(IDLE).await;
    let again = bench::rss_kib(&server);
    log_out(&server, clients, sockets).await;
    Row {
        n,
        login_secs,
        cold,
        before,
        idle,
        hwm,
        after,
        again,
        client_before,
        client_idle,
    }
}
