//! `allium onion address`: offline, stable, and the server's harness keeps Tor off.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs `allium onion address --config CONFIG`, inside a network namespace with no
/// network at all (`unshare -n`, where the system allows it) so any connection
/// attempt would fail; returns the printed address and whether it was isolated.
fn onion_address(config: &Path, extra: &[&str]) -> (String, bool) {
    // `-n` needs root; `-rn` also works unprivileged where user namespaces are allowed.
    let flag = ["-n", "-rn"].into_iter().find(|flag| {
        Command::new("unshare")
            .args([flag, "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let isolated = flag.is_some();
    let mut cmd = match flag {
        Some(flag) => {
            let mut c = Command::new("unshare");
            c.args([flag, "--"]).arg(bin());
            c
        }
        None => Command::new(bin()),
    };
    cmd.args(["onion", "address", "--config"])
        .arg(config)
        .args(extra)
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "onion address failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Offline: no bootstrap to wait for.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    (text.trim().to_owned(), isolated)
}

fn is_v3_onion(a: &str) -> bool {
    a.len() == 62
        && a.ends_with("d.onion")
        && a[..56]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

#[test]
fn onion_address_is_offline_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("allium.toml");
    // Tor enabled, onion-only, as the README recommends.
    std::fs::write(
        &config,
        format!(
            "[server]\ndomains = [\"localhost\"]\nstate_dir = \"{}\"\n\n[listeners]\nc2s = []\nc2s_tls = []\n\n[tor]\nenabled = true\n",
            state.display()
        ),
    )
    .unwrap();
    let (first, isolated) = onion_address(&config, &[]);
    assert!(is_v3_onion(&first), "{first:?}");
    let (second, _) = onion_address(&config, &[]);
    assert_eq!(first, second);
    if !isolated {
        eprintln!("note: unshare -n unavailable; offline-ness checked by timing only");
    }
    // Nothing was downloaded: Arti's cache is empty.
    let cache = state.join("tor").join("cache");
    assert!(
        std::fs::read_dir(&cache).map_or(true, |mut d| d.next().is_none()),
        "{cache:?} is not empty"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join("tor"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    // --state-dir overrides server.state_dir: another directory, another key.
    let other = dir.path().join("other");
    let (third, _) = onion_address(&config, &["--state-dir", other.to_str().unwrap()]);
    assert!(is_v3_onion(&third));
    assert_ne!(third, first);
    let (fourth, _) = onion_address(&config, &["--state-dir", other.to_str().unwrap()]);
    assert_eq!(third, fourth);
}

#[test]
fn harness_servers_run_without_tor() {
    let server = Server::start();
    let cfg = std::fs::read_to_string(&server.config_path).unwrap();
    assert!(cfg.contains("[tor]\nenabled = false\n"), "{cfg}");
    assert!(!server.state_dir().join("tor").exists());
}

#[test]
fn testing_network_needs_the_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("allium.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = \"{}\"\n[listeners]\nc2s = [\"127.0.0.1:0\"]\nc2s_tls = []\n[http]\nlisten = [\"127.0.0.1:0\"]\n[tor.testing]\nnetwork = \"{}\"\n",
            dir.path().join("state").display(),
            dir.path().join("net.toml").display()
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("ALLIUM_TESTING_TOR_NETWORK")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tor.testing.network"), "{err}");
    assert!(err.contains("ALLIUM_TESTING_TOR_NETWORK=1"), "{err}");
}

/// A private "network" whose only directory cache is a closed loopback port: Arti
/// never gets a consensus, and every connection attempt stays on 127.0.0.1.
const DEAD_NETWORK: &str = r#"
[tor_network]
fallback_caches = [
  { rsa_identity = "0123456789ABCDEF0123456789ABCDEF01234567", ed_identity = "dGhpcyBpcyBhbiBlZDI1NTE5IGlkZW50aXR5IGtleSE", orports = ["127.0.0.1:1"] },
]
[tor_network.authorities]
v3idents = ["89ABCDEF0123456789ABCDEF0123456789ABCDEF"]
uploads = [["127.0.0.1:1"]]
downloads = [["127.0.0.1:1"]]
votes = [["127.0.0.1:1"]]
[address_filter]
allow_local_addrs = true
"#;

#[test]
fn run_announces_the_same_onion_address_and_stops() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let net = dir.path().join("net.toml");
    std::fs::write(&net, DEAD_NETWORK).unwrap();
    let config = dir.path().join("allium.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nstate_dir = \"{}\"\n[listeners]\nc2s = [\"127.0.0.1:0\"]\nc2s_tls = []\n[http]\nlisten = [\"127.0.0.1:0\"]\n[tor.testing]\nnetwork = \"{}\"\n",
            state.display(),
            net.display()
        ),
    )
    .unwrap();
    let (offline, _) = onion_address(&config, &[]);
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("ALLIUM_TESTING_TOR_NETWORK", "1")
        .env("RUST_LOG", "allium=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut onion = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(a) = line.strip_prefix("listening onion ") {
            onion = Some(a.to_owned());
        }
        if line == "ready" {
            break;
        }
    }
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(onion.as_deref(), Some(offline.as_str()), "{log}");
    assert!(out.status.success(), "{log}");
    assert!(log.contains("TESTING Tor network"), "{log}");
    // The address is printed, never logged.
    assert!(!log.contains(&offline[..56]), "{log}");
}
