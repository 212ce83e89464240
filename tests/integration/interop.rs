//! Interop: the server driven by an independent, real client library, slixmpp (Python),
//! from a virtualenv created once and cached at `${ALLIUM_VENV:-$HOME/.cache/allium-venv}`.
//!
//! The scenarios live in `tests/interop/slixmpp_chat.py`, which prints every step and
//! exits 0 only when all of them happened. Without python3/venv the tests print a skip
//! notice, unless `CI=true`, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;

/// The slixmpp version these tests are run with.
const SLIXMPP: &str = "1.17.0";
/// The aiohttp version slixmpp's XEP-0363 plugin uploads with in these tests.
const AIOHTTP_VERSION: &str = "3.14.5";

/// Where the cached virtualenv lives.
fn venv_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ALLIUM_VENV").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    PathBuf::from(home).join(".cache").join("allium-venv")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Whether `python` has the pinned slixmpp.
fn has_slixmpp(python: &Path) -> bool {
    let check = format!("import slixmpp, sys; sys.exit(slixmpp.__version__ != '{SLIXMPP}')");
    Command::new(python)
        .args(["-c", &check])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Creates (or reuses) the virtualenv; returns its python.
fn setup_venv() -> Result<PathBuf, String> {
    let dir = venv_dir();
    let python = dir.join("bin").join("python");
    if has_slixmpp(&python) {
        return Ok(python);
    }
    // Other test processes may build the same cache at the same time: one at a time.
    let parent = dir.parent().ok_or("venv path has no parent")?;
    std::fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::File::create(&lock_path)
        .map_err(|e| format!("create {}: {e}", lock_path.display()))?;
    lock.lock().map_err(|e| format!("lock venv: {e}"))?;
    if has_slixmpp(&python) {
        return Ok(python);
    }
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&dir))?;
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("slixmpp=={SLIXMPP}"),
    ]))?;
    if !has_slixmpp(&python) {
        return Err(format!("slixmpp {SLIXMPP} not importable after install"));
    }
    Ok(python)
}

/// The venv's python with aiohttp too (slixmpp's XEP-0363 plugin uploads with it),
/// installed into the cached venv on first use.
fn python_with_aiohttp() -> Option<PathBuf> {
    static AIOHTTP: OnceLock<Result<(), String>> = OnceLock::new();
    let python = python()?;
    let has = |p: &Path| {
        Command::new(p)
            .args(["-c", "import aiohttp"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ready = AIOHTTP.get_or_init(|| {
        if has(&python) {
            return Ok(());
        }
        let lock_path = venv_dir().with_extension("lock");
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| format!("create {}: {e}", lock_path.display()))?;
        lock.lock().map_err(|e| format!("lock venv: {e}"))?;
        if has(&python) {
            return Ok(());
        }
        run(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("aiohttp=={AIOHTTP_VERSION}"),
        ]))
    });
    match ready {
        Ok(()) => Some(python),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the upload interop test needs aiohttp (CI=true): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED slixmpp upload test: {e}");
            None
        }
    }
}

/// The venv's python, or `None` (after a notice) when tests should be skipped.
/// Panics under `CI=true`: there the interop tests must run.
fn python() -> Option<PathBuf> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(setup_venv) {
        Ok(p) => Some(p.clone()),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("interop tests need python3 with venv and pip (CI=true): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED slixmpp interop test: {e}");
            None
        }
    }
}

/// Runs the slixmpp script in `mode` against `server`; asserts it exits 0.
fn slixmpp(server: &Server, python: &Path, mode: &str) -> String {
    let mut args = vec![
        "--mode".to_owned(),
        mode.to_owned(),
        "--tls-port".to_owned(),
    ];
    args.push(server.c2s_tls.port().to_string());
    run_script(server, python, "slixmpp_chat.py", mode, &args)
}

/// Runs `tests/interop/<script>` with the connection arguments, alice's and bob's
/// passwords and `extra`; asserts it exits 0 and returns its stdout (the steps).
fn run_script(
    server: &Server,
    python: &Path,
    script: &str,
    what: &str,
    extra: &[String],
) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let cert = server.state_dir().join("tls").join("cert.pem");
    let out = Command::new(python)
        .arg(&script)
        .args(["--host", "127.0.0.1", "--domain"])
        .arg(&server.domain)
        .arg("--port")
        .arg(server.c2s.port().to_string())
        .arg("--cert")
        .arg(&cert)
        .args([
            "--alice-password",
            "wonderland",
            "--bob-password",
            "builder",
        ])
        .args(extra)
        .args(["--timeout", "30", "--verbose"])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run slixmpp script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "slixmpp {what} scenario failed ({}).\n--- steps ---\n{stdout}\n--- slixmpp log ---\n{}\n--- server log ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    println!("{stdout}");
    stdout
}

fn server_with_accounts() -> Server {
    let server = Server::start();
    // Each `account add` derives password hashes: do both at once.
    std::thread::scope(|s| {
        s.spawn(|| server.add_account("alice", "wonderland"));
        s.spawn(|| server.add_account("bob", "builder"));
    });
    server
}

/// RFC 6120 §5 (STARTTLS), §6 (SASL, slixmpp's own pick of SCRAM), §7 (bind); RFC 6121
/// §3.1 (subscribe and approve, both ways), §4.2 (presence seen by both), §5 (chat both
/// ways), §2.1 (roster shows `both`/`to`), §4.5.2 (unavailable presence on logout).
#[test]
fn slixmpp_two_accounts_subscribe_and_chat() {
    let Some(python) = python() else { return };
    let server = server_with_accounts();
    let out = slixmpp(&server, &python, "chat");
    // The script exits 0 only when every step happened; check the key ones were reported.
    assert!(out.contains("via SCRAM-SHA-"), "{out}");
    assert!(
        out.contains("bob: subscription request from alice@localhost"),
        "{out}"
    );
    assert!(
        out.contains("with subscription 'both'") || out.contains("with subscription 'to'"),
        "{out}"
    );
    assert!(out.contains("bob: sees alice unavailable"), "{out}");
    assert!(out.trim_end().ends_with("OK: chat"), "{out}");
}

/// XEP-0368: a client on the direct TLS port messages a client on the STARTTLS port.
#[test]
fn slixmpp_direct_tls_to_starttls() {
    let Some(python) = python() else { return };
    let server = server_with_accounts();
    let out = slixmpp(&server, &python, "direct-tls");
    assert!(out.contains("(direct TLS)"), "{out}");
    assert!(out.trim_end().ends_with("OK: direct-tls"), "{out}");
}

/// XEP-0045 with slixmpp's MUC plugin (`tests/interop/slixmpp_muc.py`): service disco
/// (§6.1-6.2), room creation (§10.1.1, status 201), the config form (§10.1.3: name,
/// members-only) and its effect (§6.4 disco, §7.2.6 registration-required), membership
/// (§9.3), joins (§7.2.3), groupchat to all occupants (§7.4) with XEP-0421 occupant ids,
/// a kick (§8.2, status 307) and destroy (§10.9).
#[test]
fn slixmpp_muc_create_configure_talk_kick_destroy() {
    let Some(python) = python() else { return };
    let server = Server::start();
    std::thread::scope(|s| {
        s.spawn(|| server.add_account("alice", "wonderland"));
        s.spawn(|| server.add_account("bob", "builder"));
        s.spawn(|| server.add_account("carol", "chemist"));
    });
    let extra = ["--carol-password".to_owned(), "chemist".to_owned()];
    let out = run_script(&server, &python, "slixmpp_muc.py", "muc", &extra);
    assert!(
        out.contains("carol: refused with registration-required"),
        "{out}"
    );
    assert!(out.contains("carol: kicked (status [110, 307]"), "{out}");
    assert!(out.contains("bob: room destroyed"), "{out}");
    assert!(out.trim_end().ends_with("OK: muc"), "{out}");
}

/// XEP-0363 with slixmpp's upload plugin (`tests/interop/slixmpp_upload.py`): service
/// discovery from the server's disco#items and the max-file-size of its XEP-0128 form
/// (§3; a larger file is refused from it), slot request (§4), HTTPS PUT with the slot's
/// Authorization header (§6), and a download of the shared GET URL by another account.
#[test]
fn slixmpp_http_upload() {
    let Some(python) = python_with_aiohttp() else {
        return;
    };
    let server = Server::builder()
        .toml("[upload]\nmax_file_bytes = 4096\n")
        .start();
    std::thread::scope(|s| {
        s.spawn(|| server.add_account("alice", "wonderland"));
        s.spawn(|| server.add_account("bob", "builder"));
    });
    let extra = ["--max-size".to_owned(), "4096".to_owned()];
    let out = run_script(&server, &python, "slixmpp_upload.py", "upload", &extra);
    assert!(out.contains("max-file-size 4096"), "{out}");
    assert!(out.contains("the same as alice uploaded"), "{out}");
    assert!(out.trim_end().ends_with("OK: upload"), "{out}");
}

/// XEP-0280 with slixmpp's carbons plugin (`tests/interop/slixmpp_carbons.py`): the
/// server's disco feature (§3), enable (§4) and disable (§5), a `<received/>` copy of a
/// message to the account's other resource (§6), a `<sent/>` copy of what that resource
/// sends (§7), and no copy of a `<private/>` + `<no-copy/>` message (§8, XEP-0334).
#[test]
fn slixmpp_message_carbons() {
    let Some(python) = python() else { return };
    let server = server_with_accounts();
    let out = run_script(&server, &python, "slixmpp_carbons.py", "carbons", &[]);
    assert!(out.contains("desk: carbons enabled"), "{out}");
    assert!(
        out.contains("desk: received carbon from alice@localhost of bob's message"),
        "{out}"
    );
    assert!(out.contains("the private one was not copied"), "{out}");
    assert!(out.trim_end().ends_with("OK: carbons"), "{out}");
}
