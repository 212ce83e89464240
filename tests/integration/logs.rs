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
