//! Cost of SASL PLAIN logins (argon2id verification, RFC 4616 over RFC 6120 §6):
//! throughput, server CPU per login, and the server memory they leave behind.
//!
//! Not a timed test: `cargo test --all-targets` builds and runs this target without
//! `--bench`, and then it only prints a skip notice. Run it with
//! `cargo bench --bench plain_logins` (release build of the server), or against the
//! debug server (argon2 and blake2 are optimised in the dev profile too) with
//! `cargo test --bench plain_logins -- --bench`. Loopback only.
//!
//! It starts a server (log level `warn`), adds one account, waits a second and reads:
//! 1. `idle`: the server's `VmRSS` before any login;
//! 2. then [`LOGINS`] PLAIN logins of that account, at most [`IN_FLIGHT`] at once, each
//!    on its own STARTTLS connection from one of [`SOURCES`] loopback addresses
//!    (127.0.0.2, 127.0.0.3, …: distinct connection sources, as real clients are),
//!    closed right after `<success/>`; logins/s is [`LOGINS`] over that time, CPU
//!    ms/login the server's `utime + stime` (`/proc/PID/stat`) over the run divided by
//!    [`LOGINS`];
//! 3. `peak`: `VmHWM` after the run; `after`: `VmRSS` once every connection is closed
//!    and a second has passed (what the allocator kept).
//!
//! The client side shares the machine's cores (TLS handshakes), so logins/s is a lower
//! bound for the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Client, Server};
use tokio::sync::Semaphore;

/// Logins measured.
const LOGINS: usize = 1000;
/// Logins in flight at once.
const IN_FLIGHT: usize = 50;
/// Distinct loopback source addresses the logins come from.
const SOURCES: u8 = 50;

const PASSWORD: &str = "plain bench password";

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let get = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(14) + get(15)
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be read.
fn clk_tck() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// TCP to the server's STARTTLS listener from the loopback address `from`.
async fn tcp_from(server: &Server, from: IpAddr) -> tokio::net::TcpStream {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    sock.connect(server.c2s).await.unwrap()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("plain_logins: skipped (run `cargo bench --bench plain_logins`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let server = Arc::new(
        Server::builder()
            .log_level("warn")
            .toml("[limits]\nhandshake_timeout_secs = 600\n")
            .start(),
    );
    bench::create_accounts(&server, ["alice".to_owned()], PASSWORD).await;
    let pid = server.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = bench::rss_kib(&server);
    let cpu0 = cpu_ticks(pid);
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(LOGINS);
    for i in 0..LOGINS {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let server = server.clone();
        let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % SOURCES as usize) as u8));
        tasks.push(tokio::spawn(async move {
            let tcp = tcp_from(&server, from).await;
            let mut c = Client::starttls_over(tcp, &server).await;
            c.auth_plain("alice", PASSWORD).await.expect("PLAIN login");
            c.close().await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let cpu_ms = (cpu_ticks(pid) - cpu0) * 1000 / clk_tck();
    let peak = bench::status_kib(pid, "VmHWM");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = bench::rss_kib(&server);
    println!(
        "plain_logins: {LOGINS} PLAIN logins, {IN_FLIGHT} in flight from {SOURCES} sources: \
         {:.1} logins/s, server CPU {:.1} ms/login",
        LOGINS as f64 / elapsed.as_secs_f64(),
        cpu_ms as f64 / LOGINS as f64,
    );
    println!(
        "plain_logins: server VmRSS idle {} MiB, peak (VmHWM) {} MiB, after {} MiB (after - idle = {:+} MiB)",
        idle / 1024,
        peak / 1024,
        after / 1024,
        (after as i64 - idle as i64) / 1024,
    );
}
