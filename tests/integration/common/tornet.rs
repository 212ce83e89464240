//! A private Tor network on loopback, made from Debian's `tor` and `tor-gencert`.
//!
//! [`TorNet::start`] brings up 1 directory authority + 3 relays (4 `tor` processes, all
//! on 127.0.0.1, in a temporary directory), waits until the authority has published a
//! consensus in which every relay has every flag an Arti onion service needs, and
//! [`TorNet::arti_toml`] gives the Arti 0.47 configuration fragment that points a
//! `TorClient` (the test client, or the server under test) at it.
//!
//! Every setting here comes from `shared/research/tor-testnet.md`:
//! - `TestingTorNetwork 1`, a voting interval that is a multiple of 5 and ≥ 15 s (so Arti's
//!   `hsdir_interval` can be set to the same onion-service time period as C tor's:
//!   24 × interval; pitfall 1);
//! - `AuthDirVoteStableGuarantee*` / `AuthDirFastGuarantee` so every relay is Fast and
//!   Stable in the first consensus (pitfall 2); 4 relays in all (pitfall 3);
//! - Arti's fallback cache is the authority's ORPort with both RSA and ed25519 ids (pitfall 4).
//!
//! The `tor` processes run in the foreground as children of the test process (no
//! daemonising, so there is no PID-file race); each also writes a `PidFile` and has
//! `__OwningControllerProcess` set to the test process, so that even a test process killed
//! with SIGKILL leaves no `tor` behind for long (tor polls that PID and exits). [`Drop`]
//! sends SIGTERM to every PID it started, then SIGKILL after a grace period.
#![allow(clippy::print_stderr)]

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Voting interval in seconds: a multiple of 5 and at least 15 (research pitfall 1).
pub const VOTING_INTERVAL: u32 = 15;
/// How long to wait for the first usable consensus before failing with the logs.
pub const READY_DEADLINE: Duration = Duration::from_secs(120);
/// Number of relays including the authority (Arti onion services need at least 4).
pub const RELAYS: usize = 4;
/// How many ports above the base port one network uses.
pub const PORT_SPAN: u16 = 60;

/// Where `tor` and `tor-gencert` are, if installed.
pub fn tor_binaries() -> Option<(PathBuf, PathBuf)> {
    Some((find_binary("tor")?, find_binary("tor-gencert")?))
}

fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether the Tor tests can run. Without `tor`: when `CI=true` this panics (the tests must
/// run in CI); otherwise it prints a skip notice and returns `false`.
pub fn tor_available(test: &str) -> bool {
    if tor_binaries().is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: `tor` / `tor-gencert` not found, and CI=true requires the Tor tests to run: \
             .ci/run must `apt-get install -y tor`"
        );
    }
    eprintln!(
        "SKIPPED {test}: `tor` / `tor-gencert` not installed (apt-get install tor); \
         with CI=true this test fails instead"
    );
    false
}

/// A base port from which `PORT_SPAN` ports are currently free on 127.0.0.1, searching
/// upwards from `start` (tests pass different starts so they can run in parallel).
pub fn free_base_port(start: u16) -> u16 {
    let mut base = start;
    loop {
        let free = (0..RELAYS as u16)
            .flat_map(|i| [base + i, base + 50 + i])
            .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
        base = base.checked_add(PORT_SPAN).expect("no free port range");
    }
}

struct Node {
    nick: String,
    dir: PathBuf,
    or_port: u16,
    dir_port: u16,
    rsa_fp: String,
    ed_id: String,
}

/// A running private Tor network.
pub struct TorNet {
    dir: tempfile::TempDir,
    nodes: Vec<Node>,
    v3ident: String,
    children: Vec<Child>,
    /// Time from `start` until the consensus was usable.
    pub ready_after: Duration,
}

fn run(cmd: &mut Command, stdin: &str, what: &str) -> String {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn make_private_dir(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// The second word of the first line of a `fingerprint` / `fingerprint-ed25519` file.
fn fingerprint_file(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    s.split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{}: no fingerprint in {s:?}", p.display()))
        .to_owned()
}

impl TorNet {
    /// Starts 1 authority + 3 relays with ORPorts `base_port..base_port+4` and DirPorts
    /// `base_port+50..`, and waits (up to [`READY_DEADLINE`]) for a consensus listing all 4
    /// with the flags Arti needs. Panics with the tor logs attached when it does not come.
    pub fn start(base_port: u16) -> TorNet {
        let (tor, gencert) = tor_binaries().expect("tor and tor-gencert are installed");
        let t0 = Instant::now();
        let dir = tempfile::Builder::new().prefix("tornet").tempdir().unwrap();
        let empty = dir.path().join("empty-torrc");
        std::fs::write(&empty, "").unwrap();

        // Keys: relay identity keys for every node, authority keys for node 0.
        let mut nodes = Vec::new();
        for i in 0..RELAYS {
            let nick = if i == 0 {
                "test000auth".to_owned()
            } else {
                format!("test{i:03}relay")
            };
            let ndir = dir.path().join(&nick);
            make_private_dir(&ndir);
            let or_port = base_port + i as u16;
            let dir_port = base_port + 50 + i as u16;
            run(
                Command::new(&tor)
                    .arg("--ignore-missing-torrc")
                    .arg("-f")
                    .arg(&empty)
                    .arg("--defaults-torrc")
                    .arg(&empty)
                    .arg("--quiet")
                    .arg("--datadirectory")
                    .arg(&ndir)
                    .args(["--list-fingerprint", "--orport", "1", "--nickname", &nick])
                    .args([
                        "--dirserver",
                        "xyzzy 127.0.0.1:1 ffffffffffffffffffffffffffffffffffffffff",
                    ]),
                "",
                "tor --list-fingerprint",
            );
            let rsa_fp = fingerprint_file(&ndir.join("fingerprint"));
            let ed_id = fingerprint_file(&ndir.join("fingerprint-ed25519"));
            nodes.push(Node {
                nick,
                dir: ndir,
                or_port,
                dir_port,
                rsa_fp,
                ed_id,
            });
        }
        let auth = &nodes[0];
        let keys = auth.dir.join("keys");
        run(
            Command::new(&gencert)
                .args(["--create-identity-key", "--passphrase-fd", "0", "-m", "12"])
                .arg("-i")
                .arg(keys.join("authority_identity_key"))
                .arg("-s")
                .arg(keys.join("authority_signing_key"))
                .arg("-c")
                .arg(keys.join("authority_certificate"))
                .arg("-a")
                .arg(format!("127.0.0.1:{}", auth.dir_port)),
            "\n",
            "tor-gencert",
        );
        let cert = std::fs::read_to_string(keys.join("authority_certificate")).unwrap();
        let v3ident = cert
            .lines()
            .find_map(|l| l.strip_prefix("fingerprint "))
            .expect("fingerprint line in authority_certificate")
            .trim()
            .to_owned();

        let mut net = TorNet {
            dir,
            nodes,
            v3ident,
            children: Vec::new(),
            ready_after: Duration::ZERO,
        };
        let dir_authority = format!(
            "DirAuthority {} orport={} no-v2 v3ident={} 127.0.0.1:{} {}\n",
            net.nodes[0].nick,
            net.nodes[0].or_port,
            net.v3ident,
            net.nodes[0].dir_port,
            net.nodes[0].rsa_fp
        );
        for i in 0..RELAYS {
            let n = &net.nodes[i];
            let mut rc = common_torrc(&n.dir, &n.nick);
            rc.push_str(&dir_authority);
            let _ = write!(
                rc,
                "Address 127.0.0.1\nORPort 127.0.0.1:{}\nDirPort 127.0.0.1:{}\nExitRelay 0\n\
                 ExitPolicy reject *:*\nAssumeReachable 1\nContactInfo allium-tests\n",
                n.or_port, n.dir_port
            );
            if i == 0 {
                rc.push_str(
                    "AuthoritativeDirectory 1\nV3AuthoritativeDirectory 1\n\
                     AuthDirMaxServersPerAddr 0\n\
                     AuthDirVoteStableGuaranteeMinUptime 0\nAuthDirVoteStableGuaranteeMTBF 0\n\
                     AuthDirFastGuarantee 1 bytes\n",
                );
            }
            let torrc = n.dir.join("torrc");
            std::fs::write(&torrc, rc).unwrap();
            let child = spawn_tor(&tor, &torrc, &empty, &n.dir);
            net.children.push(child);
        }
        net.wait_ready(t0);
        net.ready_after = t0.elapsed();
        eprintln!(
            "tornet: 4 tor processes on 127.0.0.1:{base_port}.., consensus usable after {:.1?}",
            net.ready_after
        );
        net
    }

    fn wait_ready(&mut self, t0: Instant) {
        let consensus = self.nodes[0].dir.join("cached-microdesc-consensus");
        loop {
            if let Ok(text) = std::fs::read_to_string(&consensus)
                && consensus_usable(&text)
            {
                return;
            }
            for (i, c) in self.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "tor process {} exited ({status}) before the network was ready\n{}",
                        self.nodes[i].nick,
                        self.logs()
                    );
                }
            }
            if t0.elapsed() > READY_DEADLINE {
                panic!(
                    "private Tor network not ready after {READY_DEADLINE:?} (no consensus with \
                     {RELAYS} relays that are all Fast, Stable, Guard, HSDir)\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The tail of every tor log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let log = std::fs::read_to_string(n.dir.join("notice.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            let _ = writeln!(out, "---- {} notice.log (last 40 lines)", n.nick);
            for l in tail {
                let _ = writeln!(out, "{l}");
            }
        }
        out
    }

    /// PIDs of every tor process this network started (running or not).
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// The Arti 0.47 configuration fragment that points a `TorClient` at this network.
    pub fn arti_toml(&self) -> String {
        let a = &self.nodes[0];
        format!(
            "# Private loopback Tor network for tests (tests/integration/common/tornet.rs).\n\
             [tor_network]\n\
             fallback_caches = [\n  {{ rsa_identity = \"{rsa}\", ed_identity = \"{ed}\", orports = [\"127.0.0.1:{or}\"] }},\n]\n\n\
             [tor_network.authorities]\n\
             v3idents = [\"{v3}\"]\n\
             uploads = [[\"127.0.0.1:{dir}\"]]\n\
             downloads = [[\"127.0.0.1:{dir}\"]]\n\
             votes = [[\"127.0.0.1:{dir}\"]]\n\n\
             # All relays share 127.0.0.1: turn off the same-subnet family rule.\n\
             [path_rules]\n\
             ipv4_subnet_family_prefix = 33\n\
             ipv6_subnet_family_prefix = 129\n\n\
             # C tor with TestingTorNetwork uses an onion-service time period of\n\
             # 24 x voting interval; Arti must use the same (minutes).\n\
             [override_net_params]\n\
             hsdir_interval = {hsdir}\n\n\
             [address_filter]\n\
             allow_local_addrs = true\n",
            rsa = a.rsa_fp,
            ed = a.ed_id,
            or = a.or_port,
            v3 = self.v3ident,
            dir = a.dir_port,
            hsdir = 24 * VOTING_INTERVAL / 60,
        )
    }

    /// Writes [`TorNet::arti_toml`] to `path`.
    pub fn write_arti_toml(&self, path: &Path) {
        std::fs::write(path, self.arti_toml()).unwrap();
    }

    /// Starts a C tor onion service (an extra tor process, stopped with the network) that
    /// forwards each virtual port to a local address, as a `torrc` with `HiddenServicePort`
    /// lines does in front of allium's loopback listeners. Returns the `.onion` hostname
    /// once tor has written it (the descriptor may still be being published: clients retry).
    pub fn add_ctor_onion_service(&mut self, ports: &[(u16, SocketAddr)]) -> String {
        let (tor, _) = tor_binaries().unwrap();
        let n = self.children.len();
        let ndir = self.dir.path().join(format!("hs{n}"));
        make_private_dir(&ndir);
        let hs_dir = ndir.join("hs");
        make_private_dir(&hs_dir);
        let a = &self.nodes[0];
        let mut rc = common_torrc(&ndir, &format!("test{n:03}hs"));
        let _ = write!(
            rc,
            "DirAuthority {} orport={} no-v2 v3ident={} 127.0.0.1:{} {}\n\
             HiddenServiceDir {}\n",
            a.nick,
            a.or_port,
            self.v3ident,
            a.dir_port,
            a.rsa_fp,
            hs_dir.display()
        );
        for (virt, target) in ports {
            let _ = writeln!(rc, "HiddenServicePort {virt} {target}");
        }
        let torrc = ndir.join("torrc");
        std::fs::write(&torrc, rc).unwrap();
        let empty = self.dir.path().join("empty-torrc");
        self.children.push(spawn_tor(&tor, &torrc, &empty, &ndir));
        let t0 = Instant::now();
        loop {
            if let Ok(h) = std::fs::read_to_string(hs_dir.join("hostname")) {
                return h.trim().to_owned();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "C tor onion service wrote no hostname\n{}",
                std::fs::read_to_string(ndir.join("notice.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops every tor process this network started: SIGTERM, then SIGKILL after 5 s.
    /// Returns once all of them have exited (and been reaped).
    pub fn stop(&mut self) {
        for c in &mut self.children {
            if let Ok(None) = c.try_wait() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(c.id().to_string())
                    .status();
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for c in &mut self.children {
            while let Ok(None) = c.try_wait() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for TorNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `pid` is a live process (reaped children are not).
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn common_torrc(dir: &Path, nick: &str) -> String {
    let v = VOTING_INTERVAL;
    format!(
        "TestingTorNetwork 1\n\
         DataDirectory {d}\n\
         PidFile {d}/tor.pid\n\
         RunAsDaemon 0\n\
         __OwningControllerProcess {pid}\n\
         Nickname {nick}\n\
         Log notice file {d}/notice.log\n\
         SafeLogging 0\n\
         ShutdownWaitLength 0\n\
         SocksPort 0\n\
         ControlPort 0\n\
         PathsNeededToBuildCircuits 0.67\n\
         TestingDirAuthVoteGuard *\n\
         TestingDirAuthVoteExit *\n\
         TestingDirAuthVoteHSDir *\n\
         V3AuthNIntervalsValid 2\n\
         V3AuthVotingInterval {v}\n\
         TestingV3AuthInitialVotingInterval {v}\n\
         V3AuthVoteDelay 2\n\
         V3AuthDistDelay 2\n\
         TestingV3AuthInitialVoteDelay 2\n\
         TestingV3AuthInitialDistDelay 2\n\
         TestingV3AuthVotingStartOffset 0\n",
        d = dir.display(),
        pid = std::process::id(),
    )
}

fn spawn_tor(tor: &Path, torrc: &Path, defaults: &Path, dir: &Path) -> Child {
    let out = std::fs::File::create(dir.join("stdout.log")).unwrap();
    Command::new(tor)
        .arg("-f")
        .arg(torrc)
        .arg("--defaults-torrc")
        .arg(defaults)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start tor")
}

/// A consensus is usable when it lists every relay, each Running, Valid, Fast, Stable,
/// Guard and HSDir (Arti refuses relays without Fast, and without Stable for onion
/// services: research pitfall 2).
fn consensus_usable(text: &str) -> bool {
    let flags: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("s ")).collect();
    let routers = text.lines().filter(|l| l.starts_with("r ")).count();
    routers == RELAYS
        && flags.len() == RELAYS
        && flags.iter().all(|f| {
            let f: Vec<&str> = f.split_whitespace().collect();
            ["Running", "Valid", "Fast", "Stable", "Guard", "HSDir"]
                .iter()
                .all(|want| f.contains(want))
        })
}
