//! A client on 127.0.0.1 logging in while silent connections flood the server
//! (`limits.max_preauth_connections`, `limits.max_preauth_per_source`).
//!
//! Not a timed test: under `cargo test --all-targets` it only prints a skip notice. Run
//! it with `cargo bench --bench preauth_flood` (release build; loopback only).
//!
//! For each flood it starts a fresh server with the default limits, opens the flood's
//! silent TCP connections from 127.0.0.2, 127.0.0.3, … (`per_source` from each), waits
//! for the server to have taken them, then prints: the server's `VmRSS` before and
//! during the flood, how many of the flood's sockets were not closed (no EOF within
//! 500 ms: held by the server, or still waiting in the listen backlog), how many file
//! descriptors the server process holds, and the time of [`LOGINS`] logins from
//! 127.0.0.1 (STARTTLS, PLAIN, bind) made one after the other during the flood.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::Server;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// (connections, per source).
const FLOODS: [(usize, usize); 3] = [(3000, 300), (3000, 16), (6000, 4)];
/// Logins from 127.0.0.1 during each flood.
const LOGINS: usize = 5;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("preauth_flood: skipped (run `cargo bench --bench preauth_flood`)");
        return;
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("preauth_flood: server {}", common::bin());
    for (n, per) in FLOODS {
        rt.block_on(flood(n, per));
    }
}

async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> Option<TcpStream> {
    let sock = TcpSocket::new_v4().ok()?;
    sock.bind(SocketAddr::new(from.into(), 0)).ok()?;
    tokio::time::timeout(Duration::from_secs(5), sock.connect(to))
        .await
        .ok()?
        .ok()
}

/// Whether the server still holds the socket open (no EOF within a moment).
async fn still_open(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    tokio::time::timeout(Duration::from_millis(500), s.read(&mut b))
        .await
        .is_err()
}

async fn flood(n: usize, per: usize) {
    let server = Server::builder()
        .log_level("warn")
        .toml("[limits]\npretls_timeout_secs = 600\nhandshake_timeout_secs = 600\n")
        .start();
    server.add_account("alice", "pw");
    let before = bench::rss_kib(&server);
    let conns = (0..n).map(|i| {
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)) + (i / per) as u32);
        connect_from(ip, server.c2s)
    });
    let mut conns: Vec<TcpStream> = futures_util::future::join_all(conns)
        .await
        .into_iter()
        .flatten()
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = bench::rss_kib(&server);
    // Sockets the server process holds (its listeners, database and log included).
    let server_fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid().unwrap()))
        .map(|d| d.count())
        .unwrap_or(0);
    let open = futures_util::future::join_all(conns.iter_mut().map(still_open))
        .await
        .into_iter()
        .filter(|o| *o)
        .count();
    let mut times = Vec::new();
    for i in 0..LOGINS {
        let t = Instant::now();
        let c = tokio::time::timeout(
            Duration::from_secs(60),
            server.login("alice", "pw", &format!("r{i}")),
        )
        .await
        .expect("login during the flood");
        times.push(t.elapsed());
        c.close().await;
    }
    times.sort();
    println!(
        "preauth_flood: {n} silent connections, {per} per source: {} made, {open} not closed by the server, \
         {server_fds} file descriptors in the server; \
         server VmRSS {before} KiB before, {during} KiB during; {LOGINS} logins from 127.0.0.1: \
         median {:?}, max {:?}",
        conns.len(),
        times[LOGINS / 2],
        times[LOGINS - 1]
    );
}
