//! Hostile XML against the server's memory (hardening issue: "XML memory is bounded by
//! what was received"): a 250 KB namespace URI declared once on the stream header, then
//! 40,000 `<p:a/>` children in one stanza. The attacker gets `<policy-violation/>`
//! (RFC 6120 §4.9.3.14), the server's peak RSS stays within +64 MiB of where it started,
//! and a client logged in beforehand is still served.

use std::time::Duration;

use crate::common::hostile::{
    CHILDREN, MemoryWatch, Outcome, URI_BYTES, header_with_ns, stanza, uri,
};
use crate::common::*;

/// Allowed growth of the server's peak RSS during an attack.
const MARGIN_KIB: u64 = 64 * 1024;
/// The memory watch kills the server beyond this RSS (a regression must not take the
/// machine's memory with it).
const KILL_ABOVE_KIB: u64 = 1024 * 1024;

struct Arena {
    server: Server,
    witness: Client,
}

impl Arena {
    /// A server with `extra` TOML, accounts alice, bob, mallory, and alice logged in as
    /// the witness.
    async fn new(extra: &str) -> Arena {
        let server = Server::builder().toml(extra).log_level("info").start();
        for u in ["alice", "bob", "mallory"] {
            server.add_account(u, "secret");
        }
        let mut witness = server.login_scram("alice", "secret", "witness").await;
        witness.ping("w0").await;
        Arena { server, witness }
    }

    /// Runs `attack` under a [`MemoryWatch`] and asserts that it ends in a
    /// policy-violation, that the peak RSS stayed within [`MARGIN_KIB`] of the start and
    /// that the witness still gets a message from a client who logs in afterwards.
    async fn expect_bounded<F: Future<Output = Outcome>>(&mut self, what: &str, attack: F) {
        let watch = MemoryWatch::start(&self.server, KILL_ABOVE_KIB);
        let outcome = attack.await;
        assert!(
            !watch.killed(),
            "{what}: the server passed {KILL_ABOVE_KIB} KiB of RSS and was killed"
        );
        assert_eq!(
            outcome,
            Outcome::StreamError("policy-violation".into()),
            "{what}"
        );
        // Let the server finish whatever the attack set off, then read its peak.
        self.witness.ping(&format!("{what}-1")).await;
        let peak = watch.peak_kib();
        assert!(
            peak <= watch.start_kib + MARGIN_KIB,
            "{what}: peak RSS {peak} KiB, started at {} KiB",
            watch.start_kib
        );
        drop(watch);
        let mut bob = self.server.login_scram("bob", "secret", "after").await;
        bob.send(&format!(
            "<message to='alice@localhost/witness' id='{what}'><body>still here</body></message>"
        ))
        .await;
        let m = self
            .witness
            .recv_until("the message sent after the attack", |e| {
                e.name() == "message" && e.attr("id") == Some(what)
            })
            .await;
        assert_eq!(
            m.get_child("body", CLIENT_NS).map(|b| b.text()).as_deref(),
            Some("still here")
        );
        bob.close().await;
    }
}

/// The attack before TLS, on a server with the default limits: the header alone is over
/// `limits.max_namespace_bytes`.
#[tokio::test]
async fn huge_namespace_before_tls_is_refused_without_memory_growth() {
    let mut a = Arena::new("").await;
    let header = header_with_ns("localhost", &uri(URI_BYTES));
    let body = stanza("alice@localhost/witness", CHILDREN);
    let mut attacker = Client::tcp(&a.server).await;
    a.expect_bounded("pre-tls", async { attacker.attack(&header, &body).await })
        .await;
}

/// The same after TLS and SASL, in the restarted stream of an authenticated account.
#[tokio::test]
async fn huge_namespace_after_auth_is_refused_without_memory_growth() {
    let mut a = Arena::new("").await;
    let header = header_with_ns("localhost", &uri(URI_BYTES));
    let body = stanza("alice@localhost/witness", CHILDREN);
    let mut attacker = Client::connect(&a.server).await;
    attacker.auth_plain_no_restart("mallory", "secret").await;
    a.expect_bounded("post-auth", async { attacker.attack(&header, &body).await })
        .await;
}

/// A namespace URI under the cap (the largest one allowed) shared by 40,000 children:
/// the URI is not copied into each child, and the children's own cost counts against
/// `limits.max_stanza_bytes`, so the stanza is refused while small.
#[tokio::test]
async fn many_children_in_a_long_namespace_are_refused_without_memory_growth() {
    let mut a = Arena::new("[limits]\nmax_namespace_bytes = 65536\n").await;
    let header = header_with_ns("localhost", &uri(65_536));
    let body = stanza("alice@localhost/witness", CHILDREN);
    let mut attacker = Client::tcp(&a.server).await;
    a.expect_bounded("long-ns", async { attacker.attack(&header, &body).await })
        .await;
}

/// Tiny elements are charged their in-memory size: 40,000 `<a/>` (160 KB of input, under
/// the default 256 KiB `limits.max_stanza_bytes`) are refused.
#[tokio::test]
async fn many_tiny_elements_are_a_policy_violation() {
    let mut a = Arena::new("").await;
    let mut attacker = a.server.login_scram("mallory", "secret", "x").await;
    let body = format!(
        "<message to='alice@localhost/witness'>{}</message>",
        "<a/>".repeat(CHILDREN)
    );
    attacker.send(&body).await;
    attacker.expect_stream_error("policy-violation").await;
    a.witness.ping("tiny").await;
    a.witness.expect_silence(Duration::from_millis(200)).await;
}

/// `limits.max_elements` caps the elements of one stanza, whatever their size.
#[tokio::test]
async fn elements_per_stanza_are_capped() {
    let mut a = Arena::new("[limits]\nmax_elements = 16\n").await;
    let mut sender = a.server.login_scram("bob", "secret", "x").await;
    let ok = format!(
        "<message to='alice@localhost/witness' id='ok'>{}</message>",
        "<a/>".repeat(15)
    );
    sender.send(&ok).await;
    let m = a
        .witness
        .recv_until("the 16-element message", |e| e.attr("id") == Some("ok"))
        .await;
    assert_eq!(m.children().count(), 15);
    let over = format!(
        "<message to='alice@localhost/witness' id='over'>{}</message>",
        "<a/>".repeat(16)
    );
    sender.send(&over).await;
    sender.expect_stream_error("policy-violation").await;
    a.witness.ping("capped").await;
    a.witness.expect_silence(Duration::from_millis(200)).await;
}
