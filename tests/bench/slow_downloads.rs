//! Server memory while slow readers hold downloads of one uploaded file (issue item 11).
//!
//! Not a timed test: `cargo test --all-targets` builds and runs this target without
//! `--bench`, and then it only prints a skip notice. Run it with
//! `cargo bench --bench slow_downloads` (loopback only).
//!
//! For each reader count R it starts a fresh server (log level `warn`,
//! `upload.max_concurrent_downloads = 64`), uploads one 10 MiB file through XEP-0363,
//! downloads it once whole (warm-up), reads the server's `VmRSS` (`before`), then opens
//! R readers that each send `GET`, read the response head and stop reading (a 4 KiB
//! receive buffer, so the server soon blocks on every one), waits 2 s and reads
//! `VmRSS` again (`held`). It prints the statuses (200 streamed, 503 beyond the cap)
//! and (held − before) in MiB and per served reader. Kernel socket buffers are not in
//! `VmRSS`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "common.rs"]
mod bench;
#[path = "../integration/common/mod.rs"]
mod common;

use std::time::Duration;

use common::Server;

const SIZE: usize = 10 * 1024 * 1024;
const READERS: [usize; 2] = [20, 60];

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("slow_downloads: skipped (run `cargo bench --bench slow_downloads`)");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("slow_downloads: server {}", common::bin());
    println!(
        "{:>7} {:>5} {:>5} {:>12} {:>12} {:>14}",
        "readers", "200", "503", "RSS before", "RSS held", "KiB/download"
    );
    for r in READERS {
        let (ok, busy, before, held) = rt.block_on(run(r));
        let per = held.saturating_sub(before) / u64::try_from(ok.max(1)).unwrap();
        println!(
            "{r:>7} {ok:>5} {busy:>5} {:>9} MiB {:>9} MiB {per:>14}",
            before / 1024,
            held / 1024
        );
    }
}

async fn run(readers: usize) -> (usize, usize, u64, u64) {
    let server = Server::builder()
        .log_level("warn")
        .toml("[upload]\nmax_concurrent_downloads = 64\n")
        .start();
    server.add_account("alice", "wonderland");
    let mut alice = server.login("alice", "wonderland", "r").await;
    let get = common::http::upload(&server, &mut alice, "big.bin", SIZE).await;
    let whole = common::http::get(&server, &get).await;
    assert_eq!(whole.body.len(), SIZE);
    let before = bench::rss_kib(&server);
    let mut held = Vec::new();
    for _ in 0..readers {
        held.push(common::http::slow_reader(&server, &get).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = bench::rss_kib(&server);
    let ok = held.iter().filter(|(s, _)| *s == 200).count();
    let busy = held.iter().filter(|(s, _)| *s == 503).count();
    (ok, busy, before, after)
}
