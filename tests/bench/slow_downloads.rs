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

use common::{CLIENT_NS, Client, Server, TIMEOUT, tls_config};

const UPLOAD_NS: &str = "urn:xmpp:http:upload:0";
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
    let get = upload(&server, &mut alice).await;
    let whole = common::http::get(&server, &get).await;
    assert_eq!(whole.body.len(), SIZE);
    let before = bench::rss_kib(&server);
    let mut held = Vec::new();
    for _ in 0..readers {
        held.push(slow_reader(&server, &get).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = bench::rss_kib(&server);
    let ok = held.iter().filter(|(s, _)| *s == 200).count();
    let busy = held.iter().filter(|(s, _)| *s == 503).count();
    (ok, busy, before, after)
}

async fn upload(server: &Server, c: &mut Client) -> String {
    let reply = c
        .iq(
            "slot",
            &format!(
                "<iq type='get' id='slot' to='upload.localhost'><request xmlns='{UPLOAD_NS}' \
                 filename='big.bin' size='{SIZE}' content-type='application/octet-stream'/></iq>"
            ),
        )
        .await;
    let slot = reply
        .get_child("slot", UPLOAD_NS)
        .unwrap_or_else(|| panic!("no slot: {}", reply.to_xml(CLIENT_NS)));
    let put = slot.get_child("put", UPLOAD_NS).unwrap();
    let auth = put
        .children()
        .find(|h| h.attr("name") == Some("Authorization"))
        .unwrap()
        .text();
    let base = format!("https://localhost:{}", server.http.unwrap().port());
    let path = |el: &allium::xml::Element| {
        el.attr("url")
            .unwrap()
            .strip_prefix(&base)
            .unwrap()
            .to_owned()
    };
    let r = common::http::put(
        server,
        &path(put),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        &vec![b'x'; SIZE],
    )
    .await;
    assert_eq!(r.status, 201);
    path(slot.get_child("get", UPLOAD_NS).unwrap())
}

async fn slow_reader(
    server: &Server,
    path: &str,
) -> (u16, tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(server.http.unwrap()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_config(server.certificate(), false));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .unwrap()
        .unwrap();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tls.read(&mut byte).await.unwrap(), 1, "closed early");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        tls,
    )
}
