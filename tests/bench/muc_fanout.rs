//! MUC fan-out benchmark (allium issue 4): one sender, one XEP-0045 room, N members.
//!
//! Not a timed test: `cargo test --all-targets` builds and runs this target without
//! `--bench`, and then it only prints a skip notice. Run it with
//! `cargo bench --bench muc_fanout` (release build of the server; loopback only).
//!
//! For each room size it starts a fresh server (log level `warn`), adds the accounts
//! straight into its database (one argon2/SCRAM hash reused for all of them, so that
//! setting up is not the benchmark), logs every member in over STARTTLS with
//! SCRAM-SHA-256, creates an instant room (XEP-0045 §10.1.2) and joins everyone, then:
//!
//! - `paced`: the sender sends one message, waits for its own reflection (§7.4), then
//!   the next, at most every 10 ms: latency with one message in flight;
//! - `burst`: the sender writes all its messages at once: throughput, and latency
//!   under queueing.
//!
//! Every body carries its send time; each member records send-to-receipt latency.
//! "deliveries/s" counts member-deliveries (messages × members, the sender's own
//! reflections excluded) from the first send to the last receipt. Clients and server
//! share the machine's cores, so the figures are a lower bound for the server alone.
//! RSS is the server's `VmRSS` from `/proc/PID/status`: idle, all joined, after the runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use allium::xml::{Element, StreamEvent};
use bench::rss_kib;
use common::{CLIENT_NS, Client, Server};
use tokio::sync::{Semaphore, mpsc};

/// Room sizes (members besides the sender).
const SIZES: [usize; 2] = [50, 200];
/// Messages per run.
const PACED: usize = 100;
const BURST: usize = 200;
/// Minimum interval between paced messages.
const PACE: Duration = Duration::from_millis(10);
/// Everything for one room size must be done by then.
const DEADLINE: Duration = Duration::from_secs(120);
/// Logins (TLS + SCRAM) in flight at once.
const LOGIN_CONCURRENCY: usize = 16;

const PASSWORD: &str = "fan-out bench password";
const MUC_NS: &str = "http://jabber.org/protocol/muc";
const MUC_USER_NS: &str = "http://jabber.org/protocol/muc#user";
const ROOM: &str = "bench@conference.localhost";
const RUNS: [(&str, usize); 2] = [("paced", PACED), ("burst", BURST)];

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("muc_fanout: skipped (run `cargo bench --bench muc_fanout`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("muc_fanout: server {}", common::bin());
    let mut rows = Vec::new();
    for n in SIZES {
        rows.extend(rt.block_on(room_of(n)));
    }
    println!();
    println!(
        "{:>7} {:>6} {:>5} {:>10} {:>13} {:>9} {:>9} {:>9}   {:>26}",
        "members",
        "run",
        "msgs",
        "deliveries",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "server RSS idle/joined/after"
    );
    for r in rows {
        println!(
            "{:>7} {:>6} {:>5} {:>10} {:>13.0} {:>9.2} {:>9.2} {:>9.2}   {:>8} {:>8} {:>8} KiB{}",
            r.members,
            r.run,
            r.msgs,
            r.deliveries,
            r.per_sec,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            r.max_us as f64 / 1000.0,
            r.rss[0],
            r.rss[1],
            r.rss[2],
            if r.complete { "" } else { "  INCOMPLETE" }
        );
    }
    println!(
        "paced: one message in flight, at most one per {} ms (deliveries/s bounded by the pace); \
         burst: all messages written at once. Latency: send to receipt per member, sender's \
         reflections excluded. Clients share the cores with the server.",
        PACE.as_millis()
    );
}

struct Row {
    members: usize,
    run: &'static str,
    msgs: usize,
    deliveries: usize,
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    rss: [u64; 3],
    complete: bool,
}

/// Receipt counters of one run, shared by all members.
#[derive(Default)]
struct Progress {
    received: AtomicUsize,
    /// Microseconds since the base instant of the last receipt.
    last_us: AtomicU64,
}

async fn login(server: &Server, user: &str) -> Client {
    bench::login(server, user, PASSWORD, "bench").await
}

fn status_codes(e: &Element) -> Vec<String> {
    e.get_child("x", MUC_USER_NS)
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Joins the room as `nick` and waits for the self-presence (status 110, §7.2.3).
async fn join(c: &mut Client, nick: &str) -> Element {
    c.send(&format!(
        "<presence to='{ROOM}/{nick}'><x xmlns='{MUC_NS}'><history maxstanzas='0'/></x></presence>"
    ))
    .await;
    let me = format!("{ROOM}/{nick}");
    let p = c
        .recv_until("self-presence", |e| {
            e.name() == "presence" && e.attr("from") == Some(me.as_str())
        })
        .await;
    assert_ne!(
        p.attr("type"),
        Some("error"),
        "join as {nick} failed: {}",
        p.to_xml(CLIENT_NS)
    );
    assert!(
        status_codes(&p).iter().any(|s| s == "110"),
        "no status 110 in {}",
        p.to_xml(CLIENT_NS)
    );
    p
}

/// A body: `bench <run> <seq> <send time in µs since base>`.
fn parse_body(m: &Element) -> Option<(usize, u64)> {
    if m.name() != "message" || m.attr("type") != Some("groupchat") {
        return None;
    }
    let body = m.get_child("body", CLIENT_NS)?.text();
    let mut parts = body.strip_prefix("bench ")?.split(' ');
    let run = parts.next()?.parse().ok()?;
    let _seq: usize = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((run, sent))
}

/// One member: reads until it has every message of every run (or the deadline);
/// returns the latencies (µs) per run.
async fn member(
    mut c: Client,
    base: Instant,
    deadline: Instant,
    progress: Arc<Vec<Progress>>,
) -> Vec<Vec<u64>> {
    let mut lat: Vec<Vec<u64>> = RUNS.iter().map(|(_, m)| Vec::with_capacity(*m)).collect();
    let total: usize = RUNS.iter().map(|(_, m)| m).sum();
    let mut got = 0;
    while got < total && Instant::now() < deadline {
        let asked = Instant::now();
        match c.next_event().await {
            Some(StreamEvent::Element(e)) => {
                if let Some((run, sent)) = parse_body(&e) {
                    let now = base.elapsed().as_micros() as u64;
                    lat[run].push(now.saturating_sub(sent));
                    let p = &progress[run];
                    p.last_us.fetch_max(now, Ordering::Relaxed);
                    p.received.fetch_add(1, Ordering::Relaxed);
                    got += 1;
                }
            }
            Some(_) => {}
            // `next_event` gives up after the harness timeout when idle: keep waiting.
            // Earlier, the stream ended.
            None if asked.elapsed() >= common::TIMEOUT => {}
            None => break,
        }
    }
    lat
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Waits until `progress` reaches `target` receipts or `deadline`; whether it did.
async fn wait_for(progress: &Progress, target: usize, deadline: Instant) -> bool {
    while progress.received.load(Ordering::Relaxed) < target {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

async fn room_of(n: usize) -> Vec<Row> {
    let started = Instant::now();
    let deadline = started + DEADLINE;
    let server = Arc::new(
        Server::builder()
            .log_level("warn")
            .toml("[limits]\nsession_queue = 100000\n")
            .toml(&format!(
                "[muc]\nenabled = true\ndefault_max_occupants = {}\n",
                n + 10
            ))
            .start(),
    );
    // Accounts: straight into the database, one hash for everyone (benchmark set-up).
    bench::create_accounts(
        &server,
        std::iter::once("owner".to_owned()).chain((0..n).map(|i| format!("m{i:04}"))),
        PASSWORD,
    )
    .await;
    let rss_idle = rss_kib(&server);

    // The owner creates an instant room (§10.1.2).
    let mut owner = login(&server, "owner").await;
    let p = join(&mut owner, "sender").await;
    assert!(
        status_codes(&p).iter().any(|s| s == "201"),
        "room not newly created: {}",
        p.to_xml(CLIENT_NS)
    );
    let r = owner
        .iq(
            "cfg",
            &format!(
                "<iq type='set' id='cfg' to='{ROOM}'><query xmlns='{MUC_NS}#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>"
            ),
        )
        .await;
    assert_eq!(
        r.attr("type"),
        Some("result"),
        "instant room: {}",
        r.to_xml(CLIENT_NS)
    );

    // Members log in and join in parallel, then read until done.
    let base = Instant::now();
    let progress: Arc<Vec<Progress>> = Arc::new(RUNS.iter().map(|_| Progress::default()).collect());
    let gate = Arc::new(Semaphore::new(LOGIN_CONCURRENCY));
    let (joined_tx, mut joined_rx) = mpsc::channel::<()>(n);
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        let (server, gate, joined, progress) = (
            server.clone(),
            gate.clone(),
            joined_tx.clone(),
            progress.clone(),
        );
        members.push(tokio::spawn(async move {
            let c = {
                let _permit = gate.acquire().await.unwrap();
                let mut c = login(&server, &format!("m{i:04}")).await;
                join(&mut c, &format!("member{i:04}")).await;
                c
            };
            joined.send(()).await.unwrap();
            // Keep reading (presences of later joiners, then the runs).
            member(c, base, deadline, progress).await
        }));
    }
    drop(joined_tx);
    for _ in 0..n {
        joined_rx.recv().await.expect("a member failed to join");
    }
    let join_secs = base.elapsed().as_secs_f64();
    let rss_joined = rss_kib(&server);
    println!("muc_fanout: {n} members logged in and joined in {join_secs:.1} s");

    // The runs.
    let mut spans = Vec::new();
    let mut complete = Vec::new();
    for (run, (name, msgs)) in RUNS.iter().enumerate() {
        let t0 = base.elapsed().as_micros() as u64;
        let send = |seq: usize| {
            let now = base.elapsed().as_micros();
            format!(
                "<message to='{ROOM}' type='groupchat' id='b{run}-{seq}'><body>bench {run} {seq} {now}</body></message>"
            )
        };
        let is_echo = |e: &Element| parse_body(e).is_some_and(|(r, _)| r == run);
        if *name == "paced" {
            for seq in 0..*msgs {
                let next = tokio::time::Instant::now() + PACE;
                owner.send(&send(seq)).await;
                owner.recv_until("own reflection", is_echo).await;
                tokio::time::sleep_until(next).await;
            }
        } else {
            for seq in 0..*msgs {
                owner.send(&send(seq)).await;
            }
            for _ in 0..*msgs {
                owner.recv_until("own reflection", is_echo).await;
            }
        }
        let ok = wait_for(&progress[run], n * msgs, deadline).await;
        let t1 = progress[run].last_us.load(Ordering::Relaxed);
        spans.push((t1.saturating_sub(t0)) as f64 / 1e6);
        complete.push(ok);
    }
    let rss_after = rss_kib(&server);

    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); RUNS.len()];
    for m in members {
        for (run, l) in m.await.unwrap().into_iter().enumerate() {
            lat[run].extend(l);
        }
    }
    owner.close().await;
    println!(
        "muc_fanout: {n} members done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    RUNS.iter()
        .enumerate()
        .map(|(run, (name, msgs))| {
            let l = &mut lat[run];
            l.sort_unstable();
            Row {
                members: n,
                run: name,
                msgs: *msgs,
                deliveries: l.len(),
                per_sec: l.len() as f64 / spans[run].max(1e-6),
                p50_us: percentile(l, 50),
                p99_us: percentile(l, 99),
                max_us: l.last().copied().unwrap_or(0),
                rss: [rss_idle, rss_joined, rss_after],
                complete: complete[run],
            }
        })
        .collect()
}
