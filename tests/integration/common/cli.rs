//! CLI helpers: running the binary without a configuration, a server started with
//! `--state-dir`, and the certificate a TLS client is actually shown.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use super::*;

/// Runs the binary with exactly `args` (no `--config` added), feeding `stdin`.
pub fn allium(args: &[&str], stdin: &str) -> (bool, String, String) {
    run_binary(args, stdin)
}

impl Server {
    /// A server whose configuration names `<dir>/config-state` as state directory, but
    /// which is started (and whose accounts `users` are created) with
    /// `--state-dir <dir>/state`. The configured directory must stay unused.
    pub fn start_with_state_dir_flag(users: &[(&str, &str)]) -> Server {
        // Let the builder write its usual configuration, then point `state_dir` elsewhere.
        let mut s = Server::start();
        assert!(s.stop(), "clean stop");
        let cfg = std::fs::read_to_string(&s.config_path).unwrap();
        let line = format!("state_dir = \"{}\"", s.state_dir().display());
        assert!(cfg.contains(&line), "{cfg}");
        let configured = format!("state_dir = \"{}\"", s.configured_state_dir().display());
        std::fs::write(&s.config_path, cfg.replace(&line, &configured)).unwrap();
        let state = s.state_dir();
        let state = state.to_str().unwrap();
        for (user, pw) in users {
            let jid = format!("{user}@localhost");
            let (ok, out, err) = s.cli(
                &["account", "add", &jid, "--state-dir", state],
                &format!("{pw}\n"),
            );
            assert!(ok, "account add --state-dir: {out} {err}");
        }
        s.run_args = vec!["--state-dir".to_owned(), state.to_owned()];
        s.spawn();
        s
    }

    /// The configured (and unused) state directory of [`Server::start_with_state_dir_flag`].
    pub fn configured_state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("config-state")
    }
}

/// The leaf certificate the server presents on its direct-TLS listener (XEP-0368).
pub async fn presented_certificate(server: &Server) -> CertificateDer<'static> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            cert: None,
            provider,
        }))
        .with_no_client_auth();
    let tcp = TcpStream::connect(server.c2s_tls).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone();
    leaf.into_owned()
}
