//! Hostile and slow connections: caps on unauthenticated connections (total and per
//! source), the overall connection limit of every listener, the pre-TLS deadline, the
//! open-file limit, rate-limited accept failures; slow readers closed after the write
//! timeout with every unwritten message bounced or stored offline; offline rows deleted
//! only once written; server pings of idle sessions.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use allium::xml::{Element, StreamEvent};

use crate::common::im::*;
use crate::common::*;

/// Raises this test process's soft open-file limit to its hard limit (the silent
/// connections below are file descriptors here too).
fn raise_own_nofile() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

/// Limits the running server to `n` open files, as on a host with a small limit: the
/// server can then only be protected by its caps, not by a large descriptor table.
fn limit_server_fds(server: &Server, n: u64) {
    let pid = server.pid().expect("server running") as i32;
    rlimit::prlimit(pid, rlimit::Resource::NOFILE, Some((n, n)), None).expect("prlimit");
}

/// A TCP connection to `to` from the loopback address `from`, or `None` if it could
/// not be made within a few seconds (e.g. the server's accept queue is full).
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let sock = TcpSocket::new_v4().ok()?;
    sock.bind(SocketAddr::new(from.into(), 0)).ok()?;
    tokio::time::timeout(Duration::from_secs(5), sock.connect(to))
        .await
        .ok()?
        .ok()
}

/// `count` silent connections to `to`, `per_source` from each of 127.0.0.2, 127.0.0.3, …
async fn silent_connections(to: SocketAddr, count: usize, per_source: usize) -> Vec<TcpStream> {
    let conns = (0..count).map(|i| {
        let n = (i / per_source) as u32 + 2;
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 0)) + n);
        connect_from(ip, to)
    });
    futures_util::future::join_all(conns)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Logs in from 127.0.0.1 within a generous deadline.
async fn login_within(server: &Server, what: &str) -> Client {
    match tokio::time::timeout(Duration::from_secs(40), server.login("alice", "pw", "r")).await {
        Ok(c) => c,
        Err(_) => panic!("{what}: login from 127.0.0.1 did not finish"),
    }
}

/// 1,500 silent connections from a few other loopback addresses (150 each) do not stop
/// a client on 127.0.0.1 from logging in, on a server with only 1024 file descriptors:
/// the per-source cap (8) closes the excess at once.
#[tokio::test]
async fn silent_connections_from_few_sources_do_not_lock_out_a_login() {
    raise_own_nofile();
    let server = Server::builder()
        .toml("[limits]\nmax_preauth_per_source = 8\nmax_preauth_connections = 100000\npretls_timeout_secs = 120\nhandshake_timeout_secs = 120\n")
        .start();
    server.add_account("alice", "pw");
    limit_server_fds(&server, 1024);
    let conns = silent_connections(server.c2s, 1500, 150).await;
    assert!(conns.len() > 1024, "only {} connections made", conns.len());
    let c = login_within(&server, "1,500 connections from 10 sources").await;
    drop(conns);
    c.close().await;
}

/// 1,500 silent connections from 188 other loopback addresses, each within the
/// per-source cap (8), do not stop a client on 127.0.0.1 from logging in when the total
/// cap (200) is used up: the newcomer takes the place of a source holding more.
#[tokio::test]
async fn silent_connections_within_the_per_source_cap_do_not_lock_out_a_login() {
    raise_own_nofile();
    let server = Server::builder()
        .toml("[limits]\nmax_preauth_per_source = 8\nmax_preauth_connections = 200\npretls_timeout_secs = 120\nhandshake_timeout_secs = 120\n")
        .start();
    server.add_account("alice", "pw");
    limit_server_fds(&server, 1024);
    let conns = silent_connections(server.c2s, 1500, 8).await;
    assert!(conns.len() > 1024, "only {} connections made", conns.len());
    let c = login_within(&server, "1,500 connections from 188 sources").await;
    drop(conns);
    c.close().await;
}

/// The server raises its soft open-file limit to the hard limit at start and says so.
#[tokio::test]
async fn open_file_limit_is_raised_at_start() {
    let mut server = Server::start();
    assert!(server.stop());
    let mut child = Command::new("prlimit")
        .arg("--nofile=256:4096")
        .arg(bin())
        .arg("run")
        .arg("--config")
        .arg(&server.config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux)");
    let mut out = String::new();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        for l in lines.by_ref().map_while(Result::ok) {
            if l == "ready" {
                return true;
            }
        }
        false
    });
    let ready = reader.join().unwrap();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string_blocking(&mut out);
    assert!(ready, "server did not start: {out}");
    let line = out
        .lines()
        .find(|l| l.contains("raised the open-file limit"))
        .unwrap_or_else(|| panic!("no info line about the open-file limit:\n{out}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains("from=256") && line.contains("to=4096"),
        "{line}"
    );
}

trait ReadAll {
    fn read_to_string_blocking(self, out: &mut String);
}

impl ReadAll for std::process::ChildStderr {
    fn read_to_string_blocking(mut self, out: &mut String) {
        use std::io::Read;
        let _ = self.read_to_string(out);
    }
}

/// Accept failures (here: out of file descriptors) are logged rate-limited, not ten
/// times a second.
#[tokio::test]
async fn accept_failures_are_logged_rate_limited() {
    raise_own_nofile();
    let server = Server::builder()
        .toml("[limits]\nmax_preauth_per_source = 1000\npretls_timeout_secs = 120\nhandshake_timeout_secs = 120\n")
        .start();
    limit_server_fds(&server, 64);
    let conns = silent_connections(server.c2s, 120, 120).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = server.stderr();
    let n = log.matches("accept failed").count();
    assert!(
        n >= 1,
        "the out-of-descriptors condition was never logged:\n{log}"
    );
    assert!(n <= 2, "{n} accept failures logged in about 4 s");
    drop(conns);
}

/// A connection that never finishes TLS is closed at `limits.pretls_timeout_secs`,
/// long before the handshake deadline: silent on the STARTTLS port, after the stream
/// header (with `connection-timeout`), and silent on the direct TLS port.
#[tokio::test]
async fn connections_without_tls_are_closed_at_the_pretls_deadline() {
    let server = Server::builder()
        .toml("[limits]\npretls_timeout_secs = 1\nhandshake_timeout_secs = 120\n")
        .start();
    server.add_account("alice", "pw");
    let within = Duration::from_secs(20);
    // Silent on the STARTTLS port.
    let mut tcp = TcpStream::connect(server.c2s).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(within, tcp.read_to_end(&mut buf)).await;
    assert!(
        r.is_ok(),
        "silent STARTTLS connection still open after {within:?}"
    );
    // A stream header, then nothing.
    let mut c = Client::tcp(&server).await;
    c.open_stream().await;
    let end = c.wait_closed(within).await;
    assert_eq!(end.errors, vec!["connection-timeout".to_owned()]);
    // Silent on the direct TLS port.
    let mut tcp = TcpStream::connect(server.c2s_tls).await.unwrap();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(within, tcp.read_to_end(&mut buf)).await;
    assert!(
        r.is_ok(),
        "silent direct TLS connection still open after {within:?}"
    );
    // TLS done in time: the rest of the handshake has the handshake deadline.
    let mut c = Client::connect(&server).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.auth_plain("alice", "pw")
        .await
        .expect("login after the pre-TLS deadline");
}

fn body_of(size: usize, id: usize) -> String {
    let mut s = format!("{id}:");
    while s.len() < size {
        s.push('x');
    }
    s
}

/// A message id from a `<message/>` (the sent `m{n}`), if it is one of ours.
fn our_id(e: &Element) -> Option<usize> {
    if e.name() != "message" {
        return None;
    }
    e.attr("id")?.strip_prefix("m")?.parse().ok()
}

/// Reads everything a stream still delivers until it ends or stays quiet for 5 s.
async fn read_rest(c: &mut Client) -> Vec<Element> {
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), c.next_event()).await {
            Ok(Some(StreamEvent::Element(e))) => got.push(e),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return got,
        }
    }
}

/// A client that stops reading while messages are sent to it is closed after the write
/// timeout, and every message sent to it that it did not get comes back to the sender
/// as an error or lands offline (read at the account's next available session).
#[tokio::test]
async fn slow_reader_is_closed_and_no_message_is_lost_silently() {
    let server = Server::builder()
        .toml("[limits]\nsession_queue = 4\nwrite_timeout_secs = 2\n\n[offline]\nmax_messages = 10000\n")
        .start();
    server.add_account("alice", "pw");
    server.add_account("bob", "pw");
    let mut slow = Client::small_buffer_login(&server, "bob", "pw", "slow").await;
    slow.available().await;
    let mut watch = server.login("bob", "pw", "watch").await;
    // Negative priority: available (sees its own account's presence) but takes no
    // messages to the bare JID and no offline delivery yet.
    watch
        .send("<presence><priority>-1</priority></presence>")
        .await;
    watch.sync().await;
    let mut alice = server.login("alice", "pw", "a").await;
    let n = 300;
    let mut bounced = BTreeSet::new();
    // Small batches, each followed by reading the answers: alice's own session must
    // not become a slow reader of the bounces.
    for batch in 0..n / 5 {
        for i in batch * 5..batch * 5 + 5 {
            alice
                .send(&format!(
                    "<message to='bob@localhost/slow' type='chat' id='m{i}'><body>{}</body></message>",
                    body_of(32 * 1024, i)
                ))
                .await;
        }
        for e in alice.drain().await {
            if e.attr("type") == Some("error")
                && let Some(id) = our_id(&e)
            {
                bounced.insert(id);
            }
        }
    }
    // The slow session ends: its account's other session sees it go.
    watch
        .expect_presence("bob@localhost/slow", "unavailable")
        .await;
    // What it had not written went offline or back to alice.
    watch.send("<presence/>").await;
    let mut offline = BTreeSet::new();
    for e in read_rest(&mut watch).await {
        if let Some(id) = our_id(&e) {
            offline.insert(id);
        }
    }
    for e in read_rest(&mut alice).await {
        if e.attr("type") == Some("error")
            && let Some(id) = our_id(&e)
        {
            bounced.insert(id);
        }
    }
    // What it had written is still in its socket.
    let mut written = BTreeSet::new();
    for e in read_rest(&mut slow).await {
        if let Some(id) = our_id(&e) {
            written.insert(id);
        }
    }
    let missing: Vec<usize> = (0..n)
        .filter(|i| !written.contains(i) && !bounced.contains(i) && !offline.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "lost silently: {missing:?} (written {}, bounced {}, offline {})",
        written.len(),
        bounced.len(),
        offline.len()
    );
    assert!(
        bounced.len() + offline.len() > 0,
        "the slow reader took everything: the test did not exercise a full queue"
    );
}

/// Offline messages whose delivery did not reach the stream stay stored: a session that
/// stops reading during delivery is closed after the write timeout, and the account's
/// next session gets every message the first one was not written.
#[tokio::test]
async fn offline_messages_not_written_stay_stored() {
    let server = Server::builder()
        .toml("[limits]\nwrite_timeout_secs = 2\n\n[offline]\nmax_messages = 1000\n")
        .start();
    server.add_account("alice", "pw");
    server.add_account("bob", "pw");
    let n = 200;
    let mut alice = server.login("alice", "pw", "a").await;
    for batch in 0..n / 10 {
        for i in batch * 10..batch * 10 + 10 {
            alice
                .send(&format!(
                    "<message to='bob@localhost' type='chat' id='m{i}'><body>{}</body></message>",
                    body_of(32 * 1024, i)
                ))
                .await;
        }
        let errors: Vec<_> = alice
            .drain()
            .await
            .into_iter()
            .filter(|e| e.attr("type") == Some("error"))
            .collect();
        assert!(errors.is_empty(), "not stored: {errors:?}");
    }
    let mut watch = server.login("bob", "pw", "watch").await;
    watch
        .send("<presence><priority>-1</priority></presence>")
        .await;
    watch.sync().await;
    // Delivery starts at initial presence; the session then stops reading.
    let mut slow = Client::small_buffer_login(&server, "bob", "pw", "slow").await;
    slow.available().await;
    watch
        .expect_presence("bob@localhost/slow", "unavailable")
        .await;
    let mut written = BTreeSet::new();
    for e in read_rest(&mut slow).await {
        if let Some(id) = our_id(&e) {
            written.insert(id);
        }
    }
    let mut next = server.login("bob", "pw", "next").await;
    next.available().await;
    let mut later = BTreeSet::new();
    for e in read_rest(&mut next).await {
        if let Some(id) = our_id(&e) {
            later.insert(id);
        }
    }
    let missing: Vec<usize> = (0..n)
        .filter(|i| !written.contains(i) && !later.contains(i))
        .collect();
    assert!(
        missing.is_empty(),
        "deleted but never written: {missing:?} (written {}, later {})",
        written.len(),
        later.len()
    );
    assert!(!later.is_empty(), "the first session took everything");
}

/// XEP-0199 §4.2: an idle session gets a ping from the server; answered, the session
/// stays; unanswered, it is closed with `connection-timeout` after the ping timeout.
#[tokio::test]
async fn idle_sessions_are_pinged_and_closed_when_silent() {
    let server = Server::builder()
        .toml("[limits]\nping_interval_secs = 1\nping_timeout_secs = 2\n")
        .start();
    server.add_account("alice", "pw");
    let mut c = server.login("alice", "pw", "r").await;
    let ping = c
        .recv_until("server ping", |e| {
            e.name() == "iq" && e.get_child("ping", PING_NS).is_some()
        })
        .await;
    assert_eq!(ping.attr("type"), Some("get"));
    assert_eq!(ping.attr("from"), Some("localhost"));
    let id = ping.attr("id").unwrap().to_owned();
    c.send(&format!("<iq type='result' id='{id}' to='localhost'/>"))
        .await;
    // Answered: pinged again later, the stream still open.
    c.recv_until("second ping", |e| {
        e.name() == "iq" && e.get_child("ping", PING_NS).is_some()
    })
    .await;
    // Unanswered: closed.
    let end = c.wait_closed(Duration::from_secs(20)).await;
    assert_eq!(end.errors, vec!["connection-timeout".to_owned()]);
}

/// What a fresh connection sees within a few seconds.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// The server answered.
    Served,
    /// The server closed it (end of stream or reset).
    Closed,
    /// Still open, nothing received.
    Silent,
}

/// Connects to `to`, sends `hello` (if any) and waits up to 3 s for an answer.
async fn probe(to: SocketAddr, hello: &str) -> Probe {
    let Ok(mut tcp) = TcpStream::connect(to).await else {
        return Probe::Closed;
    };
    if !hello.is_empty() {
        use tokio::io::AsyncWriteExt;
        if tcp.write_all(hello.as_bytes()).await.is_err() {
            return Probe::Closed;
        }
    }
    let mut buf = [0u8; 64];
    match tokio::time::timeout(Duration::from_secs(3), tcp.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Probe::Served,
        Ok(_) => Probe::Closed,
        Err(_) => Probe::Silent,
    }
}

/// With `limits.max_connections = 3`, one limit covers every listener: with a bound
/// session, an HTTPS connection and a direct TLS stream not yet authenticated open, a further
/// connection to any listener is closed at once while the three are kept, the refusal
/// is logged without an address, and once one of the three closes a new connection is
/// served.
#[tokio::test]
async fn connections_beyond_max_connections_are_closed_at_once() {
    let server = Server::builder()
        .toml("[limits]\nmax_connections = 3\npretls_timeout_secs = 120\nhandshake_timeout_secs = 120\n")
        .start();
    server.add_account("alice", "pw");
    let hello = header(&server.domain);
    let mut alice = server.login("alice", "pw", "a").await;
    let (https, _) = crate::common::http::connect_tls(&server).await;
    let mut tls = Client::connect_direct_tls(&server).await;
    // The three are in: a fourth connection to any listener is closed at once.
    let first_refusal = std::time::Instant::now();
    assert_eq!(probe(server.c2s, &hello).await, Probe::Closed);
    assert_eq!(probe(server.c2s_tls, "").await, Probe::Closed);
    assert_eq!(probe(server.http.unwrap(), "").await, Probe::Closed);
    // The three are kept and still served.
    alice.sync().await;
    tls.auth_plain("alice", "pw").await.expect("login");
    let r = crate::common::http::request_over(
        https,
        &server.domain,
        "GET",
        "/fingerprints.txt",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // The HTTPS connection is closed after its response: its place is free again.
    let mut served = Probe::Closed;
    for _ in 0..50 {
        served = probe(server.c2s, &hello).await;
        if served == Probe::Served {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        served,
        Probe::Served,
        "no connection served after one closed"
    );
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("connection limit reached"))
        .unwrap_or_else(|| panic!("the refusals were not logged:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(!line.contains("127.0.0.1"), "{line}");
    // Refusals are logged at most every 10 s: one warning for those above, unless the
    // test ran longer than that.
    let periods = first_refusal.elapsed().as_secs() / 10 + 1;
    let lines = log.matches("connection limit reached").count() as u64;
    assert!(
        lines <= periods,
        "{lines} warnings in {periods} periods:\n{log}"
    );
    alice.close().await;
    tls.close().await;
}
