//! Test harness: starts the real `allium` binary on loopback with a temporary state
//! directory and speaks XMPP over TLS to it.
//!
//! - [`Server`]: a running server process (ports chosen by the OS, reported on stdout).
//! - [`Client`]: a raw XMPP client with `send` / `recv` / `expect_*` helpers that
//!   panic with a clear message (and a timeout) when the server does not behave.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

pub mod torclient;
pub mod tornet;

pub mod cli;
pub mod hostile;
pub mod http;
pub mod im;
pub mod muc;
pub mod pastebin;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub mod raw;
pub mod scram;

use allium::xml::{Element, Limits, StreamEvent, StreamParser};
use base64::Engine as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub const CLIENT_NS: &str = "jabber:client";
pub const STREAM_NS: &str = "http://etherx.jabber.org/streams";
pub const TLS_NS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
pub const SASL_NS: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
pub const BIND_NS: &str = "urn:ietf:params:xml:ns:xmpp-bind";
pub const STANZAS_NS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const STREAMS_NS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
pub const ROSTER_NS: &str = "jabber:iq:roster";

/// How long any single expectation waits.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_allium")
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub c2s: SocketAddr,
    pub c2s_tls: SocketAddr,
    /// The first `listening http` address (the HTTP listener), if any.
    pub http: Option<SocketAddr>,
    pub domain: String,
    /// Everything the server wrote to stderr so far is kept in this file.
    pub stderr_path: PathBuf,
    /// The `.onion` address from the `listening onion` line, once [`Server::wait_onion`]
    /// has seen it (reset on restart).
    pub onion: Option<String>,
    env: Vec<(String, String)>,
    /// Arguments added to `allium run --config FILE` (e.g. `--state-dir DIR`).
    run_args: Vec<String>,
    onion_line: Arc<(Mutex<Option<String>>, Condvar)>,
}

/// Builds a server configuration.
pub struct ServerBuilder {
    extra: String,
    domains: Vec<String>,
    log_level: String,
    env: Vec<(String, String)>,
    tcp_listeners: bool,
    onion_domain: bool,
}

impl ServerBuilder {
    /// Appends TOML (whole tables, e.g. `"[offline]\nmax_messages = 2\n"`).
    /// Unless the extra TOML has an `[auth]` table, the builder sets
    /// `auth.failure_delay_ms = 50` to keep tests fast; unless it has a `[tor…]`
    /// table, it sets `tor.enabled = false`.
    pub fn toml(mut self, extra: &str) -> Self {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    /// Hosted domains (default `["localhost"]`).
    pub fn domains(mut self, d: &[&str]) -> Self {
        self.domains = d.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Log level written to the config (default debug, so tests can check what is logged).
    pub fn log_level(mut self, l: &str) -> Self {
        self.log_level = l.into();
        self
    }

    /// Sets an environment variable for the server process (kept across restarts).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// No TCP listener at all: the onion-only deployment of the README.
    pub fn onion_only(mut self) -> Self {
        self.tcp_listeners = false;
        self
    }

    /// The JID domain is the server's own onion address, learnt offline with
    /// `allium onion address` before the first start, as the README tells operators.
    pub fn onion_domain(mut self) -> Self {
        self.onion_domain = true;
        self
    }

    pub fn start(mut self) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("allium.toml");
        let state = dir.path().join("state");
        if self.onion_domain {
            let out = Command::new(bin())
                .args(["onion", "address", "--state-dir"])
                .arg(&state)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "onion address: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            self.domains = vec![String::from_utf8_lossy(&out.stdout).trim().to_owned()];
        }
        let domains: Vec<String> = self.domains.iter().map(|d| format!("\"{d}\"")).collect();
        let has_auth = self.extra.contains("[auth]");
        let mut cfg = format!(
            "[server]\ndomains = [{}]\nstate_dir = \"{}\"\n\n[listeners]\nc2s = [{tcp}]\nc2s_tls = [{tcp}]\n\n[log]\nlevel = \"{}\"\n\n",
            domains.join(", "),
            state.display(),
            self.log_level,
            tcp = if self.tcp_listeners {
                "\"127.0.0.1:0\""
            } else {
                ""
            },
        );
        if !has_auth {
            cfg.push_str("[auth]\nfailure_delay_ms = 50\n\n");
        }
        // Tor is on by default in a config file: ordinary tests never reach the real
        // Tor network. A test that wants Tor passes its own [tor] table.
        if !self.extra.contains("[tor") {
            cfg.push_str("[tor]\nenabled = false\n\n");
        }
        // The HTTP listener on a free loopback port, unless the test configures it.
        if !self.extra.contains("[http]") {
            cfg.push_str("[http]\nlisten = [\"127.0.0.1:0\"]\n\n");
        }
        cfg.push_str(&self.extra);
        std::fs::write(&config_path, cfg).unwrap();
        let stderr_path = dir.path().join("stderr.log");
        let mut s = Server {
            child: None,
            dir,
            config_path,
            c2s: "127.0.0.1:0".parse().unwrap(),
            c2s_tls: "127.0.0.1:0".parse().unwrap(),
            http: None,
            domain: self.domains[0].clone(),
            stderr_path,
            onion: None,
            env: self.env,
            run_args: Vec::new(),
            onion_line: Arc::default(),
        };
        s.spawn();
        s
    }
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            extra: String::new(),
            domains: vec!["localhost".into()],
            log_level: "debug".into(),
            env: Vec::new(),
            tcp_listeners: true,
            onion_domain: false,
        }
    }

    /// A server with the test defaults.
    pub fn start() -> Server {
        Self::builder().start()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The server process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self) {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .unwrap();
        let mut child = Command::new(bin())
            .arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .args(&self.run_args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start allium");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (mut c2s, mut c2s_tls, mut http) = (None, None, None);
        self.onion = None;
        let onion_line: Arc<(Mutex<Option<String>>, Condvar)> = Arc::default();
        self.onion_line = onion_line.clone();
        let record_onion = move |line: &str| {
            if let Some(a) = line.strip_prefix("listening onion ") {
                let addr = a.split_whitespace().next().unwrap_or_default();
                let addr = addr.split(':').next().unwrap_or_default().to_owned();
                let (slot, cv) = &*onion_line;
                slot.lock().unwrap().get_or_insert(addr);
                cv.notify_all();
            }
        };
        loop {
            let line = match lines.next() {
                Some(Ok(l)) => l,
                _ => panic!(
                    "server exited before it was ready; stderr:\n{}",
                    self.stderr()
                ),
            };
            if let Some(a) = line.strip_prefix("listening c2s ") {
                c2s.get_or_insert(a.trim().parse().unwrap());
            } else if let Some(a) = line.strip_prefix("listening c2s_tls ") {
                c2s_tls.get_or_insert(a.trim().parse().unwrap());
            } else if let Some(a) = line.strip_prefix("listening http ") {
                http.get_or_insert(a.trim().parse().unwrap());
            } else if line == "ready" {
                break;
            } else {
                record_onion(&line);
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe, noting the
        // onion address if it is reported after `ready`.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                record_onion(&line);
            }
        });
        // An onion-only server reports no TCP listener; the placeholders refuse connections.
        self.c2s = c2s.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        self.c2s_tls = c2s_tls.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        self.http = http;
        self.child = Some(child);
    }

    /// Waits up to `timeout` for the `listening onion XXXX.onion` line on stdout (the
    /// server's onion service was launched), sets [`Server::onion`] and returns it.
    pub fn wait_onion(&mut self, timeout: Duration) -> String {
        let (slot, cv) = &*self.onion_line;
        let guard = slot.lock().unwrap();
        let (guard, _) = cv
            .wait_timeout_while(guard, timeout, |o| o.is_none())
            .unwrap();
        let onion = guard.clone().unwrap_or_else(|| {
            panic!(
                "no `listening onion` line within {timeout:?}; stderr:\n{}",
                self.stderr()
            )
        });
        drop(guard);
        self.onion = Some(onion.clone());
        onion
    }

    /// The server's stderr (its log) so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs the binary with `args` plus `--config`, feeding `stdin`; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        run_cli(&self.config_path, args, stdin)
    }

    /// Creates an account through `allium account add`.
    pub fn add_account(&self, user: &str, password: &str) {
        let jid = format!("{user}@{}", self.domain);
        let (ok, out, err) = self.cli(&["account", "add", &jid], &format!("{password}\n"));
        assert!(ok, "account add failed: {out} {err}");
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Stops and starts the server again on the same state directory (new ports).
    pub fn restart(&mut self) {
        assert!(self.stop(), "server did not stop cleanly");
        self.spawn();
    }

    /// The self-signed certificate the server generated (DER).
    pub fn certificate(&self) -> CertificateDer<'static> {
        let pem = self.state_dir().join("tls").join("cert.pem");
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_file(pem).expect("server certificate")
    }

    /// Logs in `user` with PLAIN and binds `resource`.
    pub async fn login(&self, user: &str, password: &str, resource: &str) -> Client {
        let mut c = Client::connect(self).await;
        c.auth_plain(user, password).await.expect("login failed");
        c.bind(Some(resource)).await;
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs the CLI with a config file.
pub fn run_cli(config: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let config = config.to_string_lossy();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", &config]);
    run_binary(&all, stdin)
}

/// Runs the binary with `args`, feeding `stdin`; returns (success, stdout, stderr).
pub fn run_binary(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A certificate verifier that accepts exactly one certificate (the server's self-signed one).
#[derive(Debug)]
struct Pinned {
    /// The one certificate accepted; `None` accepts any (only to see which one the
    /// server presents).
    cert: Option<CertificateDer<'static>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if self
            .cert
            .as_ref()
            .is_none_or(|c| c.as_ref() == end_entity.as_ref())
        {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected certificate".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client configuration trusting only `cert`; `tls12_only` forces TLS 1.2.
pub fn tls_config(cert: CertificateDer<'static>, tls12_only: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            cert: Some(cert),
            provider,
        }))
        .with_no_client_auth();
    Arc::new(cfg)
}

/// Any byte stream the client can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A raw XMPP client.
pub struct Client {
    io: Option<Box<dyn Io>>,
    /// The stream before TLS: TCP, or any other transport (e.g. an onion stream).
    tcp_only: Option<Box<dyn Io>>,
    parser: StreamParser,
    pub domain: String,
    /// The last stream features received.
    pub features: Option<Element>,
    /// The bound full JID.
    pub jid: Option<String>,
    /// Channel binding data (tls-exporter), when TLS 1.3 was negotiated.
    pub exporter: Option<Vec<u8>>,
    cert: CertificateDer<'static>,
    tls12_only: bool,
}

/// A client stream header for `domain`.
pub fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0' xml:lang='en'>"
    )
}

impl Client {
    /// Opens TCP to the STARTTLS listener without sending anything.
    pub async fn tcp(server: &Server) -> Client {
        let tcp = TcpStream::connect(server.c2s).await.unwrap();
        Self::over(tcp, server)
    }

    /// A client over any byte stream (e.g. a Tor `DataStream` to the server's onion
    /// address) without sending anything: STARTTLS and direct TLS then work over it
    /// exactly as over TCP, with the server's certificate pinned.
    pub fn over(stream: impl Io + 'static, server: &Server) -> Client {
        Client {
            io: None,
            tcp_only: Some(Box::new(stream)),
            parser: StreamParser::new(Limits {
                max_stanza_bytes: 16 << 20,
                max_elements: 1 << 20,
                ..Limits::default()
            }),
            domain: server.domain.clone(),
            features: None,
            jid: None,
            exporter: None,
            cert: server.certificate(),
            tls12_only: false,
        }
    }

    /// Like [`Client::tcp`], but the TLS upgrade will use TLS 1.2 only.
    pub async fn tcp_tls12(server: &Server) -> Client {
        let mut c = Self::tcp(server).await;
        c.tls12_only = true;
        c
    }

    /// Writes raw bytes (before or after TLS). Errors are ignored: the server may have
    /// closed the stream, which the next `recv`/`expect_*` reports.
    pub async fn send_raw(&mut self, data: &[u8]) {
        if let Some(io) = &mut self.io {
            let _ = io.write_all(data).await;
            let _ = io.flush().await;
        } else if let Some(t) = &mut self.tcp_only {
            let _ = t.write_all(data).await;
            let _ = t.flush().await;
        }
    }

    /// Writes an XML string.
    pub async fn send(&mut self, xml: &str) {
        self.send_raw(xml.as_bytes()).await;
    }

    /// Next stream event, or `None` on EOF/timeout/IO error.
    pub async fn next_event(&mut self) -> Option<StreamEvent> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            match self.parser.next_event() {
                Ok(Some(ev)) => return Some(ev),
                Ok(None) => {}
                Err(e) => panic!("client could not parse server output: {e}"),
            }
            let mut buf = [0u8; 8192];
            let read = async {
                if let Some(io) = &mut self.io {
                    io.read(&mut buf).await
                } else if let Some(t) = &mut self.tcp_only {
                    t.read(&mut buf).await
                } else {
                    Ok(0)
                }
            };
            match tokio::time::timeout_at(deadline, read).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.parser.feed(&buf[..n]),
            }
        }
    }

    /// The next top-level element; panics on timeout or end of stream.
    pub async fn recv(&mut self) -> Element {
        match self.next_event().await {
            Some(StreamEvent::Element(e)) => e,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// Receives until `pred` matches (other elements are skipped).
    pub async fn recv_until(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        loop {
            match self.next_event().await {
                Some(StreamEvent::Element(e)) if pred(&e) => return e,
                Some(StreamEvent::Element(_)) => continue,
                other => panic!("waiting for {what}, got {other:?}"),
            }
        }
    }

    /// Asserts that no element arrives within `d` and the stream stays open.
    pub async fn expect_silence(&mut self, d: Duration) {
        let r = tokio::time::timeout(d, async {
            loop {
                match self.parser.next_event() {
                    Ok(Some(ev)) => return Some(ev),
                    Ok(None) => {}
                    Err(_) => return None,
                }
                let mut buf = [0u8; 4096];
                let n = match &mut self.io {
                    Some(io) => io.read(&mut buf).await.unwrap_or(0),
                    None => return None,
                };
                if n == 0 {
                    return None;
                }
                self.parser.feed(&buf[..n]);
            }
        })
        .await;
        if let Ok(ev) = r {
            panic!("expected silence, got {ev:?}");
        }
    }

    /// Expects `<stream:error>` with `condition`, then the end of the stream.
    pub async fn expect_stream_error(&mut self, condition: &str) {
        loop {
            match self.next_event().await {
                Some(StreamEvent::Element(e)) if e.is("error", STREAM_NS) => {
                    let got: Vec<String> = e
                        .children()
                        .filter(|c| c.ns() == STREAMS_NS)
                        .map(|c| c.name().to_owned())
                        .collect();
                    assert_eq!(got, vec![condition.to_owned()], "stream error condition");
                    break;
                }
                Some(StreamEvent::Element(_)) | Some(StreamEvent::StreamOpen(_)) => continue,
                other => panic!("expected stream error {condition}, got {other:?}"),
            }
        }
        // Then the stream ends.
        loop {
            match self.next_event().await {
                Some(StreamEvent::StreamClose) | None => return,
                Some(_) => continue,
            }
        }
    }

    /// Sends a stream header and reads the server's header and features.
    pub async fn open_stream(&mut self) -> Element {
        let h = header(&self.domain);
        self.send(&h).await;
        match self.next_event().await {
            Some(StreamEvent::StreamOpen(_)) => {}
            other => panic!("expected stream header, got {other:?}"),
        }
        let f = self.recv().await;
        assert!(
            f.is("features", STREAM_NS),
            "expected stream features, got {f:?}"
        );
        self.features = Some(f.clone());
        f
    }

    async fn upgrade(&mut self) {
        let tcp = self.tcp_only.take().expect("tcp");
        let connector =
            tokio_rustls::TlsConnector::from(tls_config(self.cert.clone(), self.tls12_only));
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let conn = tls.get_ref().1;
        self.exporter = if conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                .ok()
                .map(|b| b.to_vec())
        } else {
            None
        };
        self.io = Some(Box::new(tls));
        self.parser.reset();
    }

    /// STARTTLS on an already opened stream (features read).
    pub async fn starttls(&mut self) {
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await;
        let p = self.recv().await;
        assert!(p.is("proceed", TLS_NS), "expected proceed, got {p:?}");
        self.upgrade().await;
    }

    /// Connects to the STARTTLS listener, negotiates TLS and opens the secured stream.
    pub async fn connect(server: &Server) -> Client {
        let mut c = Self::tcp(server).await;
        c.open_stream().await;
        c.starttls().await;
        c.open_stream().await;
        c
    }

    /// Connects to the direct TLS listener (XEP-0368) and opens the stream.
    pub async fn connect_direct_tls(server: &Server) -> Client {
        let tcp = TcpStream::connect(server.c2s_tls).await.unwrap();
        Self::direct_tls_over(tcp, server).await
    }

    /// Direct TLS (XEP-0368) over any byte stream, then opens the XMPP stream.
    pub async fn direct_tls_over(stream: impl Io + 'static, server: &Server) -> Client {
        let mut c = Self::over(stream, server);
        c.upgrade().await;
        c.open_stream().await;
        c
    }

    /// STARTTLS over any byte stream: opens the stream, negotiates TLS, reopens it.
    pub async fn starttls_over(stream: impl Io + 'static, server: &Server) -> Client {
        let mut c = Self::over(stream, server);
        c.open_stream().await;
        c.starttls().await;
        c.open_stream().await;
        c
    }

    /// Mechanism names offered in the current features.
    pub fn mechanisms(&self) -> Vec<String> {
        self.features
            .as_ref()
            .and_then(|f| f.get_child("mechanisms", SASL_NS))
            .map(|m| m.children().map(|c| c.text()).collect())
            .unwrap_or_default()
    }

    /// SASL PLAIN; on success restarts the stream. `Err(condition)` on failure.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), String> {
        let payload = format!("\0{user}\0{password}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
        self.send(&format!(
            "<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{b64}</auth>"
        ))
        .await;
        self.finish_sasl().await
    }

    /// Reads `<success/>` (and restarts the stream) or `<failure/>`.
    pub async fn finish_sasl(&mut self) -> Result<(), String> {
        let r = self.recv().await;
        if r.is("success", SASL_NS) {
            self.parser.reset();
            self.open_stream().await;
            Ok(())
        } else if r.is("failure", SASL_NS) {
            Err(r
                .first_child()
                .map(|c| c.name().to_owned())
                .unwrap_or_default())
        } else {
            panic!("unexpected SASL answer {r:?}");
        }
    }

    /// Binds a resource; returns the full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let res = resource
            .map(|r| format!("<resource>{r}</resource>"))
            .unwrap_or_default();
        self.send(&format!(
            "<iq type='set' id='bind1'><bind xmlns='{BIND_NS}'>{res}</bind></iq>"
        ))
        .await;
        let r = self
            .recv_until("bind result", |e| e.attr("id") == Some("bind1"))
            .await;
        assert_eq!(
            r.attr("type"),
            Some("result"),
            "bind failed: {}",
            r.to_xml(CLIENT_NS)
        );
        let jid = r
            .get_child("bind", BIND_NS)
            .and_then(|b| b.get_child("jid", BIND_NS))
            .map(|j| j.text())
            .unwrap();
        self.jid = Some(jid.clone());
        jid
    }

    /// Sends an IQ and waits for the reply with the same id.
    pub async fn iq(&mut self, id: &str, xml: &str) -> Element {
        self.send(xml).await;
        self.recv_until(&format!("iq reply {id}"), |e| {
            e.name() == "iq" && e.attr("id") == Some(id)
        })
        .await
    }

    /// Sends initial presence.
    pub async fn available(&mut self) {
        self.send("<presence/>").await;
    }

    /// Closes the stream politely.
    pub async fn close(mut self) {
        self.send("</stream:stream>").await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(ev) = self.next_event().await {
                if matches!(ev, StreamEvent::StreamClose) {
                    break;
                }
            }
        })
        .await;
    }
}

/// The defined condition of a stanza error reply.
pub fn stanza_error(e: &Element) -> Option<String> {
    e.get_child("error", CLIENT_NS)
        .and_then(|er| {
            er.children()
                .find(|c| c.ns() == STANZAS_NS && c.name() != "text")
        })
        .map(|c| c.name().to_owned())
}

/// A field in KiB of `/proc/PID/status` (`VmRSS`, `VmHWM`); 0 when unreadable.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The server's resident set size (`VmRSS`) in KiB.
pub fn rss_kib(server: &Server) -> u64 {
    status_kib(server.pid().expect("server running"), "VmRSS")
}

/// A certificate verifier that accepts any server certificate (signatures are still
/// checked), for tests that look at what the server negotiates, not who it is.
pub fn any_certificate(
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Arc<dyn rustls::client::danger::ServerCertVerifier> {
    Arc::new(Pinned {
        cert: None,
        provider,
    })
}
