//! Hardening (issue items 10 and 11): logs stay clean under hostile input, state files
//! get private modes, downloads are streamed under a cap, and hyper's own error
//! answers carry the security headers.

use crate::common::http;
use crate::common::*;

/// A client-chosen `type` (with a forged log line, a JID and text) and unknown
/// payload namespaces never reach a debug-level log: the stanza summary names only
/// the types of RFC 6121 §4.7.1 / §5.2.2 / RFC 6120 §8.2.3 and namespaces the server
/// knows, anything else as `other`.
#[tokio::test]
async fn forged_types_and_namespaces_stay_out_of_the_log() {
    let server = Server::builder().log_level("debug").start();
    server.add_account("alice", "wonderland");
    server.add_account("bob", "builder");
    let mut alice = server.login("alice", "wonderland", "a").await;
    let forged = "chat&#10;2026-12-01T00:00:00Z  INFO FORGEDLINE \
                  victim@evil.example said PRIVATE-WORDS";
    alice
        .send(&format!(
            "<message to='bob@localhost' type='{forged}'>\
             <x xmlns='urn:evil:victim@evil.example:NS-SECRET'/></message>"
        ))
        .await;
    alice
        .send(&format!(
            "<presence type='{forged}'><y xmlns='urn:evil:presence:NS-SECRET'/></presence>"
        ))
        .await;
    alice
        .send(&format!(
            "<iq type='{forged}' id='f1' to='localhost'>\
             <q xmlns='urn:evil:iq:NS-SECRET'/></iq>"
        ))
        .await;
    alice
        .send(
            "<iq type='get' id='f2' to='bob@localhost/none'>\
             <q xmlns='http://victim@evil.example/NS-SECRET'/></iq>",
        )
        .await;
    // A ping answered proves every stanza before it was read and logged.
    let pong = alice
        .iq(
            "p1",
            "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
        )
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
    alice.close().await;
    let log = server.stderr();
    assert!(log.contains("stanza in"), "debug logging is on:\n{log}");
    for leak in [
        "FORGEDLINE",
        "evil.example",
        "PRIVATE-WORDS",
        "NS-SECRET",
        "urn:evil",
    ] {
        assert!(!log.contains(leak), "{leak:?} reached the log:\n{log}");
    }
    // Known values are still there to debug with.
    assert!(log.contains("iq/get/urn:xmpp:ping"), "{log}");
    assert!(log.contains("message/other/other"), "{log}");
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A state directory, TLS directory, key file, database and upload directory left
/// readable by others (`mkdir` / `cp` with a 022 umask) are tightened to 0700 / 0600
/// when the server starts, and the server runs; the log names each path it fixed.
#[cfg(unix)]
#[test]
fn open_state_files_are_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let mut server = Server::builder().log_level("info").start();
    assert!(server.stop(), "clean stop");
    let state = server.state_dir();
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let dirs = [state.clone(), state.join("tls"), state.join("uploads")];
    let files = [state.join("tls/key.pem"), state.join("allium.db")];
    for d in &dirs {
        set(d, 0o755);
    }
    for f in &files {
        set(f, 0o644);
    }
    server.restart();
    for d in &dirs {
        assert_eq!(mode(d), 0o700, "{} is {:o}", d.display(), mode(d));
    }
    for f in &files {
        assert_eq!(mode(f), 0o600, "{} is {:o}", f.display(), mode(f));
    }
    let log = server.stderr();
    assert!(
        log.contains("mode tightened") && log.contains("key.pem"),
        "the log names what was fixed:\n{log}"
    );
    // The Tor directories, made by `allium onion address`, get the same treatment.
    let tor = state.join("tor");
    let (ok, _, err) = server.cli(&["onion", "address"], "");
    assert!(ok, "onion address: {err}");
    set(&tor, 0o755);
    set(&tor.join("state"), 0o750);
    let (ok, _, err) = server.cli(&["onion", "address"], "");
    assert!(ok, "onion address with open directories: {err}");
    assert_eq!(mode(&tor), 0o700);
    assert_eq!(mode(&tor.join("state")), 0o700);
}

/// 60 readers of a 10 MiB upload that stop reading: the file is streamed from disk,
/// so the server's resident memory grows by far less than 60 × 10 MiB (today it grows
/// by ~560 MiB), and beyond `upload.max_concurrent_downloads` the excess readers get
/// `503 Service Unavailable` with `Retry-After`.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn slow_downloads_are_streamed_and_capped() {
    const SIZE: usize = 10 * 1024 * 1024;
    let server = Server::builder()
        .toml("[upload]\nmax_concurrent_downloads = 40\n")
        .start();
    server.add_account("alice", "wonderland");
    let mut alice = server.login("alice", "wonderland", "r").await;
    let get = http::upload(&server, &mut alice, "big.bin", SIZE).await;
    // One complete download: the file is served whole.
    let whole = http::get(&server, &get).await;
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.len(), SIZE);
    let pid = server.pid().unwrap();
    let before = status_kib(pid, "VmRSS");
    let mut readers = Vec::new();
    for _ in 0..60 {
        readers.push(http::slow_reader(&server, &get).await);
    }
    // Let every stalled response fill what buffers it can.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let grown_mib = status_kib(pid, "VmRSS").saturating_sub(before) / 1024;
    let ok = readers.iter().filter(|(s, _)| *s == 200).count();
    let busy = readers.iter().filter(|(s, _)| *s == 503).count();
    println!("60 slow readers of 10 MiB: RSS +{grown_mib} MiB, {ok} × 200, {busy} × 503");
    assert_eq!((ok, busy), (40, 20), "the cap answers the excess");
    assert!(
        grown_mib < 100,
        "60 slow readers of a 10 MiB file grew the server by {grown_mib} MiB"
    );
}

/// A download whose reader stops reading is dropped after `http.send_timeout_secs`,
/// which frees its place under `upload.max_concurrent_downloads` for the next reader.
#[tokio::test]
async fn stalled_downloads_are_dropped_after_the_send_timeout() {
    let server = Server::builder()
        .toml(
            "[upload]\nmax_concurrent_downloads = 2\n\n\
             [http]\nlisten = [\"127.0.0.1:0\"]\nsend_timeout_secs = 2\n",
        )
        .start();
    server.add_account("alice", "wonderland");
    let mut alice = server.login("alice", "wonderland", "r").await;
    let get = http::upload(&server, &mut alice, "f.bin", 4 * 1024 * 1024).await;
    let (a, _keep_a) = http::slow_reader(&server, &get).await;
    let (b, _keep_b) = http::slow_reader(&server, &get).await;
    let (c, _) = http::slow_reader(&server, &get).await;
    assert_eq!(
        (a, b, c),
        (200, 200, 503),
        "two places, the third is refused"
    );
    // The two stalled readers are dropped; then a reader gets a place again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, _) = http::slow_reader(&server, &get).await;
        if s == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stalled readers still hold every place after 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Sends raw `bytes` over TLS to the HTTP listener and reads everything until the
/// server closes (or 10 s pass); returns it as text.
async fn raw_http(server: &Server, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut tls, _) = http::connect_tls(server).await;
    tls.write_all(bytes).await.unwrap();
    tls.flush().await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, async {
        let mut buf = [0u8; 4096];
        while let Ok(n) = tls.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The headers of the first response in `text` (lower-case names).
fn head_of(text: &str) -> (u16, Vec<(String, String)>) {
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// Requests hyper itself refuses before any handler runs (a header line without a
/// colon, a bad method token, an unknown HTTP version, a bad `Content-Length`) get
/// `400 Bad Request` with the same security headers as every other answer
/// (tests/integration/http.rs `assert_secure`), also after a good request on the same
/// connection.
#[tokio::test]
async fn malformed_requests_get_400_with_security_headers() {
    let server = Server::start();
    let good = "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let cases = [
        "GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n".to_owned(),
        "G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        "GET / HTTP/9.9\r\nHost: localhost\r\n\r\n".to_owned(),
        "PUT /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n".to_owned(),
        format!("{good}GET / HTTP/1.1\r\nHost: localhost\r\nno colon here\r\n\r\n"),
        format!(
            "HEAD /fingerprints HTTP/1.1\r\nHost: localhost\r\n\r\n{good}G@T / HTTP/1.1\r\n\r\n"
        ),
    ];
    for case in &cases {
        let text = raw_http(&server, case.as_bytes()).await;
        // The last response on the connection is hyper's answer to the bad request.
        let last = text
            .rfind("HTTP/1.1 ")
            .map(|i| &text[i..])
            .unwrap_or_else(|| panic!("no response to {case:?}"));
        let (status, headers) = head_of(last);
        assert_eq!(status, 400, "{case:?} -> {text:?}");
        let h = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        let csp = h("content-security-policy").unwrap_or_else(|| panic!("no CSP: {last:?}"));
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h("referrer-policy"), Some("no-referrer"), "{last:?}");
        assert_eq!(h("x-content-type-options"), Some("nosniff"), "{last:?}");
        assert_eq!(h("x-frame-options"), Some("DENY"), "{last:?}");
        assert!(h("cache-control").is_some(), "{last:?}");
        assert!(h("set-cookie").is_none(), "{last:?}");
        // The good requests before it were answered normally.
        if case.starts_with(good) || case.starts_with("HEAD") {
            assert!(text.matches("HTTP/1.1 ").count() >= 2, "{text:?}");
        }
    }
}

/// A configured TLS key (`tls.key`, the operator's file) that every user may read is
/// refused at start-up with a message naming it; the file is left as it is. The same
/// key with mode 0640 (e.g. group `ssl-cert`) is accepted.
#[cfg(unix)]
#[test]
fn world_readable_configured_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mut first = Server::builder().log_level("info").start();
    assert!(first.stop(), "clean stop");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(first.state_dir().join("tls/cert.pem"), &cert).unwrap();
    std::fs::copy(first.state_dir().join("tls/key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("allium.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndomains = [\"localhost\"]\nstate_dir = \"{}\"\n\n\
             [listeners]\nc2s = [\"127.0.0.1:0\"]\nc2s_tls = []\n\n\
             [tls]\ncertificate = \"{}\"\nkey = \"{}\"\n\n\
             [tor]\nenabled = false\n\n[http]\nlisten = []\n",
            dir.path().join("state").display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    // Some((success, stderr)) when the server exits, None when it runs ("ready").
    let run = || {
        let mut child = std::process::Command::new(bin())
            .args(["run", "--config"])
            .arg(&config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, ready) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if line == "ready" {
                    let _ = tx.try_send(());
                }
            }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read as _;
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return Some((status.success(), err));
            }
            if ready.try_recv().is_ok() || std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let (ok, err) = run().expect("the server started with a world-readable TLS key");
    assert!(!ok);
    assert!(
        err.contains(&key.display().to_string()) && err.contains("0644"),
        "the refusal names the key and its mode: {err}"
    );
    assert_eq!(mode(&key), 0o644, "the operator's file is not changed");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(run().is_none(), "mode 0640 is accepted (the server runs)");
}
