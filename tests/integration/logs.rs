//! Hardening (issue items 10 and 11): logs stay clean under hostile input, state files
//! get private modes, downloads are streamed under a cap, and hyper's own error
//! answers carry the security headers.

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
