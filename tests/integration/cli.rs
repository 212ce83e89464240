//! The operator's side: `allium config`, `account`, `fingerprints`, `--state-dir`, and
//! what the server's log (stderr) must never contain.

use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::common::cli::*;
use crate::common::im::*;
use crate::common::*;

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

async fn login_fails(server: &Server, user: &str, password: &str) -> String {
    let mut c = Client::connect(server).await;
    c.auth_plain(user, password)
        .await
        .expect_err("login should fail")
}

/// `allium config example` prints exactly the shipped, documented example file.
#[test]
fn config_example_is_the_shipped_file() {
    let (ok, out, err) = allium(&["config", "example"], "");
    assert!(ok, "{err}");
    assert_eq!(out, include_str!("../../src/config/example.toml"));
}

/// Every problem of an invalid configuration is named at once (two unknown keys and an
/// out-of-range value), and the command fails.
#[test]
fn invalid_config_names_every_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\ndomainz = [\"localhost\"]\n\n[limits]\nmax_depth = 1\n\n[log]\ncolour = true\n",
    )
    .unwrap();
    let cfg = path.to_str().unwrap();
    for args in [
        &["run", "--config", cfg][..],
        &["account", "list", "--config", cfg][..],
    ] {
        let (ok, out, err) = allium(args, "");
        assert!(!ok, "{args:?} must fail");
        assert!(!out.contains("ready"), "{out}");
        for key in ["server.domainz", "log.colour", "limits.max_depth"] {
            assert!(err.contains(key), "{args:?}: '{key}' not named in: {err}");
        }
    }
}

/// `account add` of an existing account is an error; a password is never taken from
/// the command line (there is no such argument).
#[test]
fn account_add_twice_fails_and_password_is_not_an_argument() {
    let server = Server::start();
    server.add_account("alice", "pw-a");
    let (ok, _, err) = server.cli(&["account", "add", "alice@localhost"], "other\n");
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");

    let (ok, _, err) = server.cli(
        &["account", "add", "bob@localhost", "secret-on-argv"],
        "secret-on-argv\n",
    );
    assert!(!ok, "a password argument must be refused");
    assert!(!err.contains("created"), "{err}");
    let (ok, out, _) = server.cli(&["account", "list"], "");
    assert!(ok);
    assert!(!out.contains("bob@localhost"), "bob was not created: {out}");
}

/// Accounts changed with the CLI while the server runs take effect at once: add (login
/// works), passwd (old password fails, new works), list, delete (login fails).
#[tokio::test]
async fn account_lifecycle_while_server_runs() {
    let server = Server::start();
    server.add_account("alice", "old-pw");
    server.add_account("bob", "pw-b");
    let c = server.login("alice", "old-pw", "phone").await;
    c.close().await;

    let (ok, out, err) = server.cli(&["account", "list"], "");
    assert!(ok, "{err}");
    let listed: Vec<&str> = out.lines().map(str::trim).collect();
    assert!(listed.contains(&"alice@localhost"), "{out}");
    assert!(listed.contains(&"bob@localhost"), "{out}");

    let (ok, _, err) = server.cli(&["account", "passwd", "alice@localhost"], "new-pw\n");
    assert!(ok, "{err}");
    assert_eq!(
        login_fails(&server, "alice", "old-pw").await,
        "not-authorized"
    );
    let c = server.login("alice", "new-pw", "phone").await;
    c.close().await;

    let (ok, _, err) = server.cli(&["account", "delete", "alice@localhost"], "");
    assert!(ok, "{err}");
    assert_eq!(
        login_fails(&server, "alice", "new-pw").await,
        "not-authorized"
    );
    let (_, out, _) = server.cli(&["account", "list"], "");
    assert!(!out.contains("alice@localhost"), "{out}");
    assert!(out.contains("bob@localhost"), "{out}");
}

/// `allium fingerprints` prints SHA-1 and SHA-256 of the certificate a client is shown
/// over TLS, and a DANE `TLSA 3 1 1` record (RFC 6698: SHA-256 of the public key).
#[tokio::test]
async fn fingerprints_match_the_certificate_seen_over_tls() {
    let server = Server::start();
    let (ok, out, err) = server.cli(&["fingerprints"], "");
    assert!(ok, "{err}");
    let cert = presented_certificate(&server).await;

    let value_of = |label: &str| -> String {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .unwrap_or_else(|| panic!("no '{label}' line in:\n{out}"))
            .trim()
            .to_owned()
    };
    assert_eq!(value_of("SHA-1"), colon_hex(&Sha1::digest(cert.as_ref())));
    assert_eq!(
        value_of("SHA-256"),
        colon_hex(&Sha256::digest(cert.as_ref()))
    );
    let tlsa = out
        .lines()
        .find(|l| l.contains("TLSA 3 1 1"))
        .unwrap_or_else(|| panic!("no TLSA line in:\n{out}"));
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    let spki = x509.tbs_certificate.subject_pki.raw;
    assert_eq!(
        tlsa.split_whitespace().last().unwrap().to_ascii_lowercase(),
        hex::encode(Sha256::digest(spki))
    );
}

/// `--state-dir` overrides `server.state_dir` for `account add` and for `run`.
#[tokio::test]
async fn state_dir_option_for_account_add_and_run() {
    let server = Server::start_with_state_dir_flag(&[("alice", "pw-a")]);
    let c = server.login("alice", "pw-a", "phone").await;
    c.close().await;
    assert!(
        !server.configured_state_dir().exists(),
        "the configured state directory was used"
    );
    let state = server.state_dir();
    let (ok, out, err) = server.cli(
        &["account", "list", "--state-dir", state.to_str().unwrap()],
        "",
    );
    assert!(ok, "{err}");
    assert!(out.contains("alice@localhost"), "{out}");
    // Without the option the configured directory is used, where alice does not exist.
    let (_, out, _) = server.cli(&["account", "list"], "");
    assert!(!out.contains("alice@localhost"), "{out}");
}

/// The log policy (src/log.rs): even at debug level, a session with a PLAIN login and a
/// message leaves no body, password, SASL data, local parts or IP address in stderr.
#[tokio::test]
async fn debug_log_has_no_secrets_addresses_or_local_parts() {
    let mut server = Server::builder().log_level("debug").start();
    server.add_account("zeldauser", "hunter2-SECRET-pw");
    server.add_account("quuxuser", "other-SECRET-pw");
    let mut zelda = server
        .login("zeldauser", "hunter2-SECRET-pw", "phone")
        .await;
    let mut quux = server.login("quuxuser", "other-SECRET-pw", "desk").await;
    zelda.available().await;
    quux.available().await;
    zelda.sync().await;
    quux.sync().await;
    zelda
        .send("<message to='quuxuser@localhost' type='chat'><body>TOP-SECRET-BODY</body></message>")
        .await;
    let m = quux.expect_message().await;
    assert_eq!(body(&m).as_deref(), Some("TOP-SECRET-BODY"));
    zelda
        .send(
            "<message to='nobodyuser@localhost' type='chat'><body>TOP-SECRET-BODY</body></message>",
        )
        .await;
    zelda.expect_message().await; // the error
    zelda.close().await;
    quux.close().await;
    assert!(server.stop(), "clean stop");

    let log = server.stderr();
    assert!(
        log.contains("stanza in"),
        "debug logging was on and logged stanzas:\n{log}"
    );
    let plain = base64::engine::general_purpose::STANDARD.encode("\0zeldauser\0hunter2-SECRET-pw");
    for secret in [
        "TOP-SECRET-BODY",
        "hunter2-SECRET-pw",
        "other-SECRET-pw",
        plain.as_str(),
        "zeldauser",
        "quuxuser",
        "nobodyuser",
        "127.0.0.1",
    ] {
        assert!(!log.contains(secret), "'{secret}' in the log:\n{log}");
    }
}

/// A SIGTERM right after the server said "ready" stops it cleanly (exit status 0):
/// the signal handlers must be in place before start-up is announced.
#[test]
fn sigterm_right_after_ready_stops_cleanly() {
    for _ in 0..3 {
        let mut server = Server::start();
        assert!(
            server.stop(),
            "exit status after SIGTERM:\n{}",
            server.stderr()
        );
    }
}
