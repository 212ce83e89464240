//! Start-up, listeners and shutdown.
//!
//! [`start`] reads nothing but the validated [`Config`]: it creates the state directory
//! (mode 0700), opens the database, prepares TLS, binds every listener and spawns their
//! accept loops on the one accept path ([`crate::listen`], one connection limit), whose
//! handler maps each listener kind to the client sessions or the HTTP service; with
//! `tor.enabled`, it starts the embedded Tor client and onion service
//! ([`crate::tor::launch`]), whose streams enter the same accept path and whose
//! bootstrap goes on in the background. [`Running::stop`] closes every session with
//! `system-shutdown` (RFC 6120 §4.9.3.17), waits for them to finish and closes the
//! database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use crate::c2s::ratelimit::AuthLimiter;
use crate::c2s::{self, C2sContext, Entry};
use crate::config::{Config, TlsVersion};
use crate::listen::{Conn, Dispatcher, ListenerKind, Peer};
use crate::router::{Router, RouterConfig};
use crate::stanza::StreamCondition;
use crate::storage::{self, Storage};
use crate::xml::Limits;

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory could not be created.
    #[error("cannot create the state directory {0}")]
    StateDir(PathBuf, #[source] crate::tls::Error),
    /// The database could not be opened.
    #[error("cannot open the database")]
    Storage(#[from] storage::Error),
    /// TLS material could not be prepared.
    #[error("cannot prepare TLS")]
    Tls(#[from] crate::tls::Error),
    /// The decoy credentials could not be derived.
    #[error("cannot derive the decoy credentials")]
    Auth(#[from] crate::auth::AuthError),
    /// Tor (Arti or the onion service) could not be started.
    #[error("cannot start Tor")]
    Tor(#[from] crate::tor::Error),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Credentials for a random password, used to make PLAIN logins of unknown accounts cost
/// as much as wrong passwords.
fn decoy_credentials(iterations: u32) -> Result<crate::auth::StoredCredentials, Error> {
    let pw: [u8; 16] = rand::random();
    Ok(crate::auth::hash_password(&hex::encode(pw), iterations)?)
}

/// The secret key of [`crate::auth::UnknownAccounts`] in `<state_dir>/unknown-accounts.key`
/// (32 random bytes, mode 0600), created on first start: the fake SCRAM salts of
/// unknown accounts stay the same across restarts, like real accounts' salts.
fn unknown_accounts_key(state_dir: &Path) -> Result<[u8; 32], Error> {
    let path = state_dir.join("unknown-accounts.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(crate::tls::Error::Io { path, source }.into()),
    }
    // Missing or not 32 bytes: a fresh key.
    let key: [u8; 32] = rand::random();
    crate::tls::write_private(&path, &key)?;
    Ok(key)
}

/// The database file inside a state directory.
pub fn database_path(state_dir: &Path) -> PathBuf {
    state_dir.join("allium.db")
}

/// Opens (creating if needed) the state directory and database.
pub fn open_storage(state_dir: &Path) -> Result<Storage, Error> {
    crate::tls::create_private_dir(state_dir)
        .map_err(|e| Error::StateDir(state_dir.to_owned(), e))?;
    Ok(Storage::open(&database_path(state_dir))?)
}

/// A running server.
pub struct Running {
    /// Bound c2s (STARTTLS) addresses, in config order.
    pub c2s: Vec<SocketAddr>,
    /// Bound c2s direct TLS addresses.
    pub c2s_tls: Vec<SocketAddr>,
    /// Bound HTTP listener addresses, in config order.
    pub http: Vec<SocketAddr>,
    /// The base URLs of the HTTP listener, as handed out in stanzas.
    pub base_urls: crate::http::SharedBaseUrls,
    /// The Tor client and onion service, when `tor.enabled`.
    pub tor: Option<crate::tor::TorHandle>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    router: Arc<Router>,
    storage: Storage,
}

/// Starts the server described by `config` with its state in `state_dir`.
pub async fn start(config: &Config, state_dir: &Path) -> Result<Running, Error> {
    if config.tor.enabled {
        // Refuse a testing Tor network without its environment variable before anything
        // is created or bound.
        let env = std::env::var(crate::tor::TESTING_ENV).ok();
        crate::tor::arti_config::testing_network(config, env.as_deref())?;
    }
    raise_nofile_limit(config.limits.max_preauth_connections);
    let storage = open_storage(state_dir)?;
    let material = if config.tls.certificate.is_empty() {
        crate::tls::load_or_generate(state_dir, &config.server.domains)?
    } else {
        crate::tls::load(
            Path::new(&config.tls.certificate),
            Path::new(&config.tls.key),
        )?
    };
    let tls = crate::tls::server_config(
        &material,
        config.tls.min_version() == Some(TlsVersion::V1_3),
        config.tls.session_resumption,
    )?;
    let server_end_point = material
        .chain
        .first()
        .map(crate::tls::server_end_point)
        .transpose()?;
    let fingerprints = material
        .chain
        .first()
        .map(crate::tls::fingerprints)
        .transpose()?;
    // The HTTP listener's base URLs, for features that hand out URLs: filled in below
    // once the listener is bound and the onion address is known.
    let base_urls: crate::http::SharedBaseUrls = Default::default();
    let shutdown = CancellationToken::new();
    // Every feature of the list in modules/mod.rs: modules, services, endpoints, workers.
    let built = crate::modules::build_all(&crate::modules::BuildCtx {
        config,
        state_dir,
        storage: &storage,
        base_urls: &base_urls,
        shutdown: &shutdown,
    })
    .await?;
    let tracker = TaskTracker::new();
    let router = Router::new(
        RouterConfig {
            domains: config.server.domains.clone(),
            max_resources: config.limits.max_resources as usize,
            session_queue: config.limits.session_queue as usize,
        },
        storage.clone(),
        built.modules,
        built.services,
        tracker.clone(),
    );
    for worker in built.workers {
        tracker.spawn(worker);
    }
    let cx = c2s_context(
        config,
        state_dir,
        &router,
        &storage,
        &tls,
        server_end_point,
        &shutdown,
        &base_urls,
    )?;
    let mut running = Running {
        c2s: Vec::new(),
        c2s_tls: Vec::new(),
        http: Vec::new(),
        base_urls: base_urls.clone(),
        tor: None,
        shutdown,
        tracker,
        router,
        storage,
    };
    // Bound now (their ports go on the fingerprints page), accepting once the HTTP
    // service exists.
    let mut tcp = Vec::new();
    for (addrs, kind) in [
        (config.c2s_addrs(), ListenerKind::C2s),
        (config.c2s_tls_addrs(), ListenerKind::C2sTls),
    ] {
        for addr in addrs {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| Error::Bind { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| Error::Bind { addr, source })?;
            // The address itself goes to stdout only (cli.rs): the log never holds IP
            // addresses (log.rs), not even the server's own.
            info!(kind = kind.as_str(), "listening");
            match kind {
                ListenerKind::C2s => running.c2s.push(local),
                _ => running.c2s_tls.push(local),
            }
            tcp.push((listener, kind));
        }
    }
    let mut endpoints = crate::http::Endpoints::new();
    for e in built.endpoints {
        endpoints.add(e);
    }
    let http = if config.http.enabled {
        Some(start_http(config, &mut running, endpoints, &tls, fingerprints.as_ref()).await?)
    } else {
        None
    };
    let dispatcher = accept_on(config, &running, cx, http, tcp);
    if config.tor.enabled {
        let launched = crate::tor::launch(
            config,
            state_dir,
            dispatcher,
            running.tracker.clone(),
            running.shutdown.clone(),
        )
        .await;
        match launched {
            Ok(handle) => {
                let http_port = config
                    .tor
                    .onion_service
                    .ports
                    .iter()
                    .find(|p| p.listener() == Some(ListenerKind::Http))
                    .map(|p| p.virtual_port);
                if let (true, Some(port), Some(address)) =
                    (config.http.enabled, http_port, handle.onion_address())
                    && let Ok(mut urls) = base_urls.write()
                {
                    urls.onion = Some(crate::http::onion_base(address, port));
                }
                running.tor = Some(handle);
            }
            Err(e) => {
                running.shutdown.cancel();
                return Err(e.into());
            }
        }
    }
    Ok(running)
}

/// The HTTP listener: its service, its TLS acceptor (`http.tls`) and its bound TCP
/// listeners, not accepting yet.
struct Http {
    svc: Arc<crate::http::HttpService>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    listeners: Vec<TcpListener>,
}

/// The client sessions' shared context: limits, TLS, SASL verification, rate limits.
#[allow(clippy::too_many_arguments)]
fn c2s_context(
    config: &Config,
    state_dir: &Path,
    router: &Arc<Router>,
    storage: &Storage,
    tls: &Arc<rustls::ServerConfig>,
    server_end_point: Option<Vec<u8>>,
    shutdown: &CancellationToken,
    base_urls: &crate::http::SharedBaseUrls,
) -> Result<Arc<C2sContext>, Error> {
    Ok(Arc::new(C2sContext {
        router: router.clone(),
        storage: storage.clone(),
        tls: crate::stream::acceptor(tls.clone()),
        limits: Limits {
            max_stanza_bytes: config.limits.max_stanza_bytes as usize,
            max_depth: config.limits.max_depth as usize,
            max_attributes: config.limits.max_attributes as usize,
            max_namespace_bytes: config.limits.max_namespace_bytes as usize,
            max_elements: config.limits.max_elements as usize,
        },
        handshake_timeout: Duration::from_secs(config.limits.handshake_timeout_secs),
        pretls_timeout: Duration::from_secs(config.limits.pretls_timeout_secs),
        preauth: c2s::preauth::PreAuth::new(
            config.limits.max_preauth_connections as usize,
            config.limits.max_preauth_per_source as usize,
        ),
        write_timeout: Duration::from_secs(config.limits.write_timeout_secs),
        ping_interval: Duration::from_secs(config.limits.ping_interval_secs),
        ping_timeout: Duration::from_secs(config.limits.ping_timeout_secs),
        limiter: AuthLimiter::new(crate::c2s::ratelimit::Limits {
            window: Duration::from_secs(config.auth.failure_window_secs),
            max_pair: config.auth.max_failures_per_account,
            max_source: config.auth.max_failures_per_source,
            account_budget: config.auth.account_failure_budget,
            base_delay: Duration::from_millis(config.auth.failure_delay_ms),
            max_delay: Duration::from_millis(config.auth.max_failure_delay_ms),
            max_keys: config.auth.max_failure_counters as usize,
        }),
        server_end_point,
        verifier: crate::auth::PasswordVerifier::new(
            config.auth.max_parallel_password_checks as usize,
        ),
        unknown_accounts: crate::auth::UnknownAccounts::new(
            unknown_accounts_key(state_dir)?,
            config.auth.scram_iterations,
        ),
        shutdown: shutdown.clone(),
        decoy: Arc::new(decoy_credentials(config.auth.scram_iterations)?),
        default_domain: config
            .server
            .domains
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".to_owned()),
        base_urls: base_urls.clone(),
    }))
}

/// Binds the HTTP listeners, builds the service and sets the clearnet base URL; the
/// service also serves the onion service's `http` port.
async fn start_http(
    config: &Config,
    running: &mut Running,
    endpoints: crate::http::Endpoints,
    tls: &Arc<rustls::ServerConfig>,
    fingerprints: Option<&crate::tls::Fingerprints>,
) -> Result<Http, Error> {
    let mut listeners = Vec::new();
    for addr in config.http_addrs() {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        info!(kind = "http", "listening");
        running.http.push(local);
        listeners.push(listener);
    }
    let names = crate::http::fingerprints::names(config);
    let mut ports: Vec<u16> = running
        .c2s
        .iter()
        .chain(&running.c2s_tls)
        .map(SocketAddr::port)
        .collect();
    if config.http.tls {
        ports.extend(running.http.iter().map(SocketAddr::port));
    }
    let pages = match fingerprints {
        Some(f) => crate::http::FingerprintPages::new(&names, &ports, f),
        None => crate::http::FingerprintPages {
            html: Default::default(),
            text: Default::default(),
        },
    };
    let svc = crate::http::HttpService::new(
        endpoints,
        pages,
        std::time::Duration::from_secs(config.http.send_timeout_secs),
    );
    let acceptor = config.http.tls.then(|| {
        let mut cfg = (**tls).clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        crate::stream::acceptor(Arc::new(cfg))
    });
    let clearnet = crate::http::clearnet_base(
        &config.http.public_url,
        config.http.tls,
        config
            .server
            .domains
            .first()
            .map_or("localhost", String::as_str),
        running.http.first().copied(),
    );
    if let Ok(mut urls) = running.base_urls.write() {
        urls.clearnet = clearnet;
    }
    Ok(Http {
        svc,
        tls: acceptor,
        listeners,
    })
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (every connection is a file
/// descriptor) and says so at info; warns when the limit leaves little room beyond
/// `limits.max_preauth_connections`.
fn raise_nofile_limit(max_preauth: u32) {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            match before {
                Some((soft, _)) if soft < now => {
                    info!(from = soft, to = now, "raised the open-file limit")
                }
                _ => info!(limit = now, "open-file limit"),
            }
            if now < u64::from(max_preauth) + 256 {
                warn!(
                    limit = now,
                    "the open-file limit leaves little room beyond limits.max_preauth_connections"
                );
            }
        }
        Err(e) => warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// The accept path of this server: one limit of `limits.max_connections` and
/// [`Sessions`] as handler; starts accepting on the bound c2s listeners (`tcp`) and the
/// HTTP ones. The onion service hands its streams to the returned dispatcher.
fn accept_on(
    config: &Config,
    running: &Running,
    c2s: Arc<C2sContext>,
    http: Option<Http>,
    tcp: Vec<(TcpListener, ListenerKind)>,
) -> Dispatcher {
    let (http, http_listeners) = match http {
        Some(h) => (Some((h.svc, h.tls)), h.listeners),
        None => (None, Vec::new()),
    };
    let sessions = Sessions {
        c2s,
        http,
        shutdown: running.shutdown.clone(),
    };
    let dispatcher = Dispatcher::new(
        config.limits.max_connections as usize,
        sessions,
        running.tracker.clone(),
        running.shutdown.clone(),
    );
    let http_listeners = http_listeners.into_iter().map(|l| (l, ListenerKind::Http));
    for (listener, kind) in tcp.into_iter().chain(http_listeners) {
        dispatcher.listen(listener, kind);
    }
    dispatcher
}

/// Where accepted connections go, by listener kind ([`crate::listen::Handler`]): the
/// client session code for `c2s` (STARTTLS) and `c2s_tls` (XEP-0368), the HTTP
/// service for `http` when the HTTP listener is enabled (with TLS on TCP when
/// `http.tls`, plain inside onion streams); `s2s` is not served yet.
struct Sessions {
    c2s: Arc<C2sContext>,
    http: Option<(
        Arc<crate::http::HttpService>,
        Option<tokio_rustls::TlsAcceptor>,
    )>,
    shutdown: CancellationToken,
}

impl crate::listen::Handler for Sessions {
    fn serves(&self, kind: ListenerKind) -> bool {
        match kind {
            ListenerKind::C2s | ListenerKind::C2sTls => true,
            ListenerKind::Http => self.http.is_some(),
            ListenerKind::S2s => false,
        }
    }

    fn serve(&self, kind: ListenerKind, conn: Conn) -> BoxFuture<'static, ()> {
        let via = crate::http::Via::from_onion(conn.via_onion());
        match (kind, &self.http) {
            (ListenerKind::C2s | ListenerKind::C2sTls, _) => {
                let entry = if kind == ListenerKind::C2s {
                    Entry::StartTls
                } else {
                    Entry::DirectTls
                };
                let source = match conn.peer {
                    Peer::Ip(ip) => c2s::ratelimit::Source::Ip(ip),
                    Peer::OnionCircuit(id) => c2s::ratelimit::Source::OnionCircuit(id),
                };
                Box::pin(c2s::serve(
                    self.c2s.clone(),
                    conn.stream,
                    entry,
                    source,
                    via,
                ))
            }
            (ListenerKind::Http, Some((svc, tls))) => {
                let tls = match conn.peer {
                    Peer::Ip(_) => tls.clone(),
                    Peer::OnionCircuit(_) => None,
                };
                Box::pin(crate::http::serve_conn(
                    svc.clone(),
                    conn.stream,
                    tls,
                    via,
                    self.shutdown.clone(),
                ))
            }
            // Not served ([`Sessions::serves`]): the connection is closed.
            (ListenerKind::Http, None) | (ListenerKind::S2s, _) => Box::pin(async {}),
        }
    }
}

impl Running {
    /// Number of bound sessions.
    pub fn session_count(&self) -> usize {
        self.router.session_count()
    }

    /// Stops accepting (TCP and onion), closes every session with `system-shutdown`,
    /// stops Tor, waits up to `grace` for them, then closes the database.
    pub async fn stop(self, grace: Duration) {
        info!("shutting down");
        self.router.close_all(StreamCondition::SystemShutdown);
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            debug!("some connections did not finish in time");
        }
        self.storage.close().await;
        info!("stopped");
    }
}
