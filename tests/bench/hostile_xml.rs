//! The server's memory under hostile XML (hardening issue: "XML memory is bounded by what
//! was received").
//!
//! Not a timed test: `cargo test --all-targets` builds and runs this target without
//! `--bench`, and then it only prints a skip notice. Run it with
//! `cargo bench --bench hostile_xml` (release build of the server), or
//! `cargo test --bench hostile_xml -- --bench` (debug build); loopback only.
//!
//! Each scenario starts a fresh server (log level `warn`) with three accounts, logs in a
//! witness (alice), resets the server's peak RSS (`/proc/PID/clear_refs`), reads its
//! `VmRSS` (`before`), runs one attack, then reads the peak (`VmHWM`, cross-checked by
//! sampling `VmRSS` every 2 ms) and `VmRSS` again (`after`), and checks that a client who
//! logs in afterwards (bob) can still send alice a message. The server is killed if its
//! RSS passes 2 GiB (the figure then reads `killed`).
//!
//! Scenarios (URI = a namespace URI bound to prefix `p` on the stream header; the stanza
//! is one `<message>` with `<p:a/>` children, 6 bytes each):
//! - `pre-tls`: a 250 KB URI and 40,000 children, before TLS, default limits;
//! - `post-auth`: the same in the stream restarted after SASL PLAIN over TLS;
//! - `long-ns`: a 64 KiB URI (with `limits.max_namespace_bytes = 65536`) and 40,000
//!   children, before TLS;
//! - `tiny`: 40,000 `<a/>` (160 KB, under the 256 KiB `limits.max_stanza_bytes`) after
//!   login, default limits.
//!
//! Scenario names given after `--bench` run only those (e.g. `-- --bench pre-tls`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::hostile::{CHILDREN, MemoryWatch, Outcome, URI_BYTES, header_with_ns, stanza, uri};
use common::{CLIENT_NS, Client, Server};

/// The server is killed beyond this RSS.
const KILL_ABOVE_KIB: u64 = 2 * 1024 * 1024;
/// Everything for one scenario must be done by then.
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy)]
enum Scenario {
    PreTls,
    PostAuth,
    LongNs,
    Tiny,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::PreTls => "pre-tls",
            Scenario::PostAuth => "post-auth",
            Scenario::LongNs => "long-ns",
            Scenario::Tiny => "tiny",
        }
    }
}

struct Row {
    name: &'static str,
    input_kib: usize,
    before: u64,
    peak: u64,
    after: u64,
    killed: bool,
    outcome: Outcome,
    secs: f64,
    served: bool,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("hostile_xml: skipped (run `cargo bench --bench hostile_xml`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("hostile_xml: server {}", common::bin());
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mut rows = Vec::new();
    for s in [
        Scenario::PreTls,
        Scenario::PostAuth,
        Scenario::LongNs,
        Scenario::Tiny,
    ] {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == s.name()) {
            continue;
        }
        let row = rt
            .block_on(async { tokio::time::timeout(DEADLINE, run(s)).await })
            .unwrap_or_else(|_| panic!("{} did not finish within {DEADLINE:?}", s.name()));
        rows.push(row);
    }
    println!();
    println!(
        "{:>10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>8}  {:<28} {:>7}",
        "scenario",
        "input KiB",
        "RSS before",
        "peak",
        "peak-before",
        "RSS after",
        "secs",
        "attacker got",
        "served"
    );
    for r in &rows {
        let outcome = match &r.outcome {
            Outcome::StreamError(c) => format!("<{c}/>"),
            Outcome::NoError => "no stream error".to_owned(),
        };
        let peak = if r.killed {
            format!(">{KILL_ABOVE_KIB} killed")
        } else {
            format!("{} KiB", r.peak)
        };
        println!(
            "{:>10} {:>10} {:>8} KiB {:>12} {:>8} KiB {:>8} KiB {:>8.2}  {:<28} {:>7}",
            r.name,
            r.input_kib,
            r.before,
            peak,
            r.peak.saturating_sub(r.before),
            r.after,
            r.secs,
            outcome,
            if r.served { "yes" } else { "NO" }
        );
    }
}

async fn run(s: Scenario) -> Row {
    let extra = match s {
        Scenario::LongNs => "[limits]\nmax_namespace_bytes = 65536\n",
        _ => "",
    };
    let server = Server::builder().toml(extra).log_level("warn").start();
    bench::create_accounts(
        &server,
        ["alice", "bob", "mallory"].map(String::from),
        "secret",
    )
    .await;
    let mut witness = bench::login(&server, "alice", "secret", "witness").await;
    witness.ping("w0").await;
    let to = "alice@localhost/witness";
    let (header, body) = match s {
        Scenario::PreTls | Scenario::PostAuth => (
            header_with_ns("localhost", &uri(URI_BYTES)),
            stanza(to, CHILDREN),
        ),
        Scenario::LongNs => (
            header_with_ns("localhost", &uri(65_536)),
            stanza(to, CHILDREN),
        ),
        Scenario::Tiny => (
            String::new(),
            format!("<message to='{to}'>{}</message>", "<a/>".repeat(CHILDREN)),
        ),
    };
    let input_kib = (header.len() + body.len()) / 1024;
    // The attacker's connection and login are not part of the measurement.
    let mut attacker = match s {
        Scenario::PreTls | Scenario::LongNs => Client::tcp(&server).await,
        Scenario::PostAuth => {
            let mut c = Client::connect(&server).await;
            c.auth_plain_no_restart("mallory", "secret").await;
            c
        }
        Scenario::Tiny => bench::login(&server, "mallory", "secret", "x").await,
    };
    let watch = MemoryWatch::start(&server, KILL_ABOVE_KIB);
    let before = watch.start_kib;
    let t0 = Instant::now();
    let outcome = match s {
        Scenario::Tiny => {
            attacker.send(&body).await;
            attacker.attack("", "").await
        }
        _ => attacker.attack(&header, &body).await,
    };
    let secs = t0.elapsed().as_secs_f64();
    let killed = watch.killed();
    let (peak, after, served) = if killed {
        (0, 0, false)
    } else {
        witness.ping("w1").await;
        let peak = watch.peak_kib();
        let after = watch.now_kib();
        drop(watch);
        let mut bob = bench::login(&server, "bob", "secret", "after").await;
        bob.send(&format!(
            "<message to='{to}' id='after'><body>still here</body></message>"
        ))
        .await;
        let m = witness
            .recv_until("the message sent after the attack", |e| {
                e.attr("id") == Some("after")
            })
            .await;
        let served =
            m.get_child("body", CLIENT_NS).map(|b| b.text()).as_deref() == Some("still here");
        (peak, after, served)
    };
    Row {
        name: s.name(),
        input_kib,
        before,
        peak,
        after,
        killed,
        outcome,
        secs,
        served,
    }
}
