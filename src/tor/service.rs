//! Start-up of the Arti client and the onion service, and the loop that hands onion
//! streams to the session code.
//!
//! [`launch`] does the local part at once (configuration, directories, Arti's state
//! and keystore, the service key) and fails start-up on error; bootstrapping the Tor
//! network then goes on in the background without blocking the TCP listeners. One task
//! (in the server's `TaskTracker`) logs bootstrap progress and service status at
//! info and accepts streams until the shutdown token fires; each accepted stream
//! enters [`crate::c2s::serve`] exactly as a TCP connection does, with its rendezvous
//! circuit (a random id) instead of a source address.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use arti_client::config::{CfgPath, ConfigBuildError};
use arti_client::{TorClient, TorClientConfig};
use futures_util::{FutureExt as _, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tor_cell::relaycell::msg::{Connected, End, EndReason};
use tor_hsservice::config::OnionServiceConfigBuilder;
use tor_hsservice::{OnionServiceConfig, RunningOnionService, StreamRequest};
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;
use tracing::{debug, error, info, warn};

use super::{Connector, Dispatch, Error, PortMap, TESTING_ENV};
use crate::c2s::{self, C2sContext};
use crate::config::{Config, TorOnionServiceConfig};

/// A started Tor client (and onion service, when enabled). Dropping it does not
/// stop Tor: cancelling the server's shutdown token does.
#[derive(Debug, Clone)]
pub struct TorHandle {
    onion_address: Option<String>,
    connector: Connector,
}

impl TorHandle {
    /// The onion service's address (`<56 chars>.onion`), or `None` when the onion
    /// service is disabled. Print it; never log it at info (it is `Sensitive`).
    pub fn onion_address(&self) -> Option<&str> {
        self.onion_address.as_deref()
    }

    /// Outbound streams through this Tor client.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }
}

/// The testing network file to use, if any: `tor.testing.network` when set, which
/// requires `env_value` (the value of [`TESTING_ENV`]) to be `"1"`.
///
/// # Errors
/// [`Error::TestingNotAllowed`] when the file is set and the variable is not `1`.
pub fn testing_network(config: &Config, env_value: Option<&str>) -> Result<Option<PathBuf>, Error> {
    let network = &config.tor.testing.network;
    if network.is_empty() {
        return Ok(None);
    }
    let path = PathBuf::from(network);
    if env_value != Some("1") {
        return Err(Error::TestingNotAllowed { path });
    }
    Ok(Some(path))
}

/// Arti's configuration: state in `tor_dir/state` (with the keystore), cache in
/// `tor_dir/cache`, optionally over the network override file `network`.
///
/// The override is an Arti TOML fragment (`[tor_network]`, `[path_rules]`,
/// `[override_net_params]`, `[address_filter]`, …). It must contain `[tor_network]`
/// and no key Arti does not know; its `[storage]`, if any, is replaced.
///
/// # Errors
/// [`Error::TestingRead`], [`Error::TestingParse`], [`Error::TestingContent`] for the
/// override; [`Error::Config`] when Arti rejects the result.
pub fn client_config(tor_dir: &Path, network: Option<&Path>) -> Result<TorClientConfig, Error> {
    let mut builder = match network {
        None => arti_client::config::TorClientConfigBuilder::default(),
        Some(path) => load_network(path)?,
    };
    builder
        .storage()
        .state_dir(CfgPath::new_literal(tor_dir.join("state")))
        .cache_dir(CfgPath::new_literal(tor_dir.join("cache")));
    builder.build().map_err(|e| Error::Config(Box::new(e)))
}

fn load_network(path: &Path) -> Result<arti_client::config::TorClientConfigBuilder, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::TestingRead {
        path: path.to_owned(),
        source,
    })?;
    let parse_err = |source| Error::TestingParse {
        path: path.to_owned(),
        source: Box::new(source),
    };
    let table: toml::Table = toml::from_str(&text).map_err(parse_err)?;
    if !table.contains_key("tor_network") {
        return Err(Error::TestingContent {
            path: path.to_owned(),
            problem: "it has no [tor_network] table, so it would not replace the Tor network"
                .into(),
        });
    }
    let deserializer = toml::Deserializer::parse(&text).map_err(parse_err)?;
    let mut unknown = Vec::new();
    let builder = serde_ignored::deserialize(deserializer, |p| unknown.push(p.to_string()))
        .map_err(parse_err)?;
    if !unknown.is_empty() {
        return Err(Error::TestingContent {
            path: path.to_owned(),
            problem: format!("unknown keys {}", unknown.join(", ")),
        });
    }
    Ok(builder)
}

/// Arti's onion service configuration from `[tor.onion_service]`: nickname, proof of
/// work (Tor proposal 327) and restricted discovery (each authorized client named `client-<n>`, from 1).
///
/// # Errors
/// [`Error::Nickname`], [`Error::ClientKey`] (both rejected by validation first) or
/// [`Error::Config`].
pub fn service_config(s: &TorOnionServiceConfig) -> Result<OnionServiceConfig, Error> {
    let nickname = s
        .nickname
        .parse()
        .map_err(|_| Error::Nickname(s.nickname.clone()))?;
    let mut b = OnionServiceConfigBuilder::default();
    b.nickname(nickname);
    b.enable_pow(s.proof_of_work);
    b.pow_rend_queue_depth(s.proof_of_work_queue_depth as usize);
    if s.restricted_discovery.enabled {
        let rd = b.restricted_discovery();
        rd.enabled(true);
        for (i, key) in s.restricted_discovery.authorized_clients.iter().enumerate() {
            let key = key.parse().map_err(|_| Error::ClientKey)?;
            let name = format!("client-{}", i + 1)
                .parse()
                .map_err(|_| Error::Internal("client nickname"))?;
            rd.static_keys().access().push((name, key));
        }
    }
    b.build()
        .map_err(|e: ConfigBuildError| Error::Config(Box::new(e)))
}

/// Starts Tor for `config` (which must have `tor.enabled`), with its directory under
/// `state_dir`: reads the testing override (guarded by [`TESTING_ENV`]), creates the
/// directories (0700) and Arti's client, launches the onion service when enabled,
/// then bootstraps in a task on `tracker` that serves onion streams with `cx` until
/// `shutdown` is cancelled. Logs a warning when a testing network is used.
///
/// Must run inside a Tokio runtime. Returns without waiting for the Tor network.
///
/// # Errors
/// Everything local: [`Error::TestingNotAllowed`] and the other testing errors,
/// [`Error::Dir`], [`Error::Config`], [`Error::Nickname`], [`Error::Client`] (e.g.
/// Arti's state is locked by another process or has unsafe permissions),
/// [`Error::Internal`].
pub async fn launch(
    config: &Config,
    state_dir: &Path,
    cx: Arc<C2sContext>,
    http: Option<Arc<crate::http::HttpService>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) -> Result<TorHandle, Error> {
    let env = std::env::var(TESTING_ENV).ok();
    let network = testing_network(config, env.as_deref())?;
    if network.is_some() {
        warn!(
            "tor.testing.network is set: using a private TESTING Tor network, which gives no anonymity"
        );
    }
    let tor_dir = super::prepare_dir(config, state_dir)?;
    let client_config = client_config(&tor_dir, network.as_deref())?;
    let service_config = if config.tor.onion_service.enabled {
        Some(service_config(&config.tor.onion_service)?)
    } else {
        None
    };
    let client = TorClient::<PreferredRuntime>::builder()
        .config(client_config)
        .create_unbootstrapped_async()
        .await
        .map_err(Error::Client)?;
    let launched = match service_config {
        Some(sc) => client.launch_onion_service(sc).map_err(Error::Client)?,
        None => None,
    };
    let mut onion_address = None;
    let mut service = None;
    if let Some((running, requests)) = launched {
        let hsid = running.onion_address().ok_or(Error::Internal(
            "the launched onion service has no identity",
        ))?;
        onion_address = Some(super::address::address_of(hsid)?);
        let streams: StreamRequests = Box::pin(per_circuit_streams(requests));
        service = Some((running, streams));
    }
    let handle = TorHandle {
        onion_address,
        connector: Connector::new(client.clone()),
    };
    let ports = PortMap::new(&config.tor.onion_service.ports);
    let targets = Targets { cx, http, ports };
    tracker.spawn(run(client, service, targets, tracker.clone(), shutdown));
    Ok(handle)
}

/// Onion stream requests, each with the random id of the rendezvous circuit it came on.
type StreamRequests = Pin<Box<dyn Stream<Item = (u64, StreamRequest)> + Send>>;

/// Accepts every rendezvous request (as `tor_hsservice::handle_rend_requests` does) and
/// tags the streams of each rendezvous circuit with a fresh random id: one client's
/// circuit, told apart from other clients' for failed-login accounting
/// ([`crate::c2s::ratelimit::Source::OnionCircuit`]). Arti's `StreamRequest` exposes
/// nothing of its circuit, but each accepted `RendRequest` is one circuit.
fn per_circuit_streams(
    requests: impl Stream<Item = tor_hsservice::RendRequest> + Send + 'static,
) -> impl Stream<Item = (u64, StreamRequest)> + Send {
    requests.flat_map_unordered(None, |rend| {
        let circuit: u64 = rand::random();
        Box::pin(async move {
            match rend.accept().await {
                Ok(streams) => streams.map(move |s| (circuit, s)).left_stream(),
                Err(e) => {
                    debug!(error = %e, "rendezvous request could not be accepted");
                    futures_util::stream::empty().right_stream()
                }
            }
        })
        .flatten_stream()
    })
}

/// The next item of an optional stream; pending forever when there is none (or it
/// ended), so `select!` ignores it.
async fn next_of<S: Stream + Unpin>(s: &mut Option<S>) -> S::Item {
    if let Some(stream) = s.as_mut() {
        if let Some(item) = stream.next().await {
            return item;
        }
        *s = None;
    }
    std::future::pending().await
}

/// Where onion streams go: the client session code, the HTTP service (when enabled),
/// by virtual port.
struct Targets {
    cx: Arc<C2sContext>,
    http: Option<Arc<crate::http::HttpService>>,
    ports: PortMap,
}

async fn run(
    client: Arc<TorClient<PreferredRuntime>>,
    service: Option<(Arc<RunningOnionService>, StreamRequests)>,
    targets: Targets,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let (running, streams) = match service {
        Some((r, s)) => (Some(r), Some(s)),
        None => (None, None),
    };
    let mut streams = streams;
    let mut status = running.as_ref().map(|r| r.status_events());
    let mut boot_events = Some(client.bootstrap_events());
    let mut progress = BootstrapLog::default();
    let mut service_log = ServiceLog::default();
    let bootstrap = client.bootstrap();
    tokio::pin!(bootstrap);
    let mut bootstrapped = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            r = &mut bootstrap, if !bootstrapped => {
                bootstrapped = true;
                match r {
                    Ok(()) => info!("tor bootstrap complete"),
                    Err(e) => error!(error = %e, "tor bootstrap failed; the onion service is unreachable"),
                }
            }
            s = next_of(&mut boot_events) => progress.update(&s),
            s = next_of(&mut status) => service_log.update(&s),
            (circuit, req) = next_of(&mut streams) => dispatch(req, circuit, &targets, &tracker, &shutdown),
        }
    }
    // Dropping the running service stops publishing and introductions; the client
    // goes when this task ends (and the last Connector is dropped).
    drop(running);
    debug!("tor stopped");
}

/// Hands one onion stream to the session code (with its rendezvous `circuit` as the
/// connection source) or the HTTP service, or refuses it.
fn dispatch(
    req: StreamRequest,
    circuit: u64,
    targets: &Targets,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    let cx = &targets.cx;
    let target = match req.request() {
        IncomingStreamRequest::Begin(begin) => targets.ports.dispatch(begin.port()),
        _ => Dispatch::Unmapped,
    };
    let target = match (target, &targets.http) {
        (Dispatch::Http, None) => Dispatch::NotAvailable(super::ListenerKind::Http),
        (t, _) => t,
    };
    match target {
        Dispatch::Http => {
            let (http, shutdown) = (targets.http.clone(), shutdown.clone());
            tracker.spawn(async move {
                match req.accept(Connected::new_empty()).await {
                    Ok(stream) => {
                        if let Some(http) = http {
                            crate::http::serve_io(http, stream, crate::http::Via::Onion, shutdown)
                                .await
                        }
                    }
                    Err(e) => debug!(error = %e, "onion stream could not be accepted"),
                }
            });
        }
        Dispatch::Serve(entry) => {
            let cx = cx.clone();
            tracker.spawn(async move {
                match req.accept(Connected::new_empty()).await {
                    // No source address: each rendezvous circuit is its own source.
                    Ok(stream) => {
                        let source = c2s::ratelimit::Source::OnionCircuit(circuit);
                        c2s::serve(cx, stream, entry, source, crate::http::Via::Onion).await
                    }
                    Err(e) => debug!(error = %e, "onion stream could not be accepted"),
                }
            });
        }
        refused => {
            debug!(
                kind = match refused {
                    Dispatch::NotAvailable(k) => k.as_str(),
                    _ => "unmapped",
                },
                "onion stream refused"
            );
            tracker.spawn(async move {
                let _ = req
                    .reject(End::new_with_reason(EndReason::CONNECTREFUSED))
                    .await;
            });
        }
    }
}

/// Logs bootstrap progress at info once per 10 % step, and each new blockage once.
#[derive(Default)]
struct BootstrapLog {
    step: Option<u32>,
    blocked: Option<String>,
}

impl BootstrapLog {
    fn update(&mut self, s: &arti_client::status::BootstrapStatus) {
        let percent = (s.as_frac().clamp(0.0, 1.0) * 100.0).round() as u32;
        if let Some(b) = s.blocked() {
            let text = b.to_string();
            if self.blocked.as_deref() != Some(text.as_str()) {
                warn!(percent, problem = %text, "tor bootstrap is stuck");
                self.blocked = Some(text);
            }
            return;
        }
        self.blocked = None;
        let step = percent / 10;
        if self.step != Some(step) {
            self.step = Some(step);
            info!(percent, phase = %s, "tor bootstrap");
        }
    }
}

/// Logs each change of the onion service's state at info, and "published" once.
#[derive(Default)]
struct ServiceLog {
    state: Option<String>,
    published: bool,
}

impl ServiceLog {
    fn update(&mut self, s: &tor_hsservice::status::OnionServiceStatus) {
        let state = s.state();
        let name = format!("{state:?}");
        if self.state.as_deref() != Some(name.as_str()) {
            info!(state = %name, "onion service status");
            if let Some(p) = s.current_problem() {
                debug!(problem = ?p, "onion service problem");
            }
            self.state = Some(name);
        }
        if state.is_fully_reachable() && !self.published {
            self.published = true;
            info!("onion service published and reachable");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testing_network_needs_the_environment() {
        let mut c = Config::default();
        assert_eq!(testing_network(&c, None).unwrap(), None);
        assert_eq!(testing_network(&c, Some("1")).unwrap(), None);
        c.tor.testing.network = "net.toml".into();
        for env in [
            None,
            Some(""),
            Some("0"),
            Some("true"),
            Some("yes"),
            Some(" 1"),
        ] {
            let err = testing_network(&c, env).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("tor.testing.network"), "{text}");
            assert!(text.contains("ALLIUM_TESTING_TOR_NETWORK=1"), "{text}");
        }
        assert_eq!(
            testing_network(&c, Some("1")).unwrap(),
            Some(PathBuf::from("net.toml"))
        );
    }

    const NETWORK: &str = r#"
[tor_network]
fallback_caches = [
  { rsa_identity = "0123456789ABCDEF0123456789ABCDEF01234567", ed_identity = "dGhpcyBpcyBhbiBlZDI1NTE5IGlkZW50aXR5IGtleSE", orports = ["127.0.0.1:15000"] },
]
[tor_network.authorities]
v3idents = ["89ABCDEF0123456789ABCDEF0123456789ABCDEF"]
uploads = [["127.0.0.1:15100"]]
downloads = [["127.0.0.1:15100"]]
votes = [["127.0.0.1:15100"]]

[path_rules]
ipv4_subnet_family_prefix = 33
ipv6_subnet_family_prefix = 129

[override_net_params]
hsdir_interval = 8

[address_filter]
allow_local_addrs = true
"#;

    #[test]
    fn network_override_is_loaded_and_storage_kept() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("net.toml");
        std::fs::write(&net, NETWORK).unwrap();
        let tor_dir = dir.path().join("tor");
        let plain = client_config(&tor_dir, None).unwrap();
        let testing = client_config(&tor_dir, Some(&net)).unwrap();
        assert_ne!(plain, testing);
        // The override's own [storage] never moves Arti's state.
        std::fs::write(
            &net,
            format!("{NETWORK}\n[storage]\nstate_dir = \"/elsewhere\"\n"),
        )
        .unwrap();
        assert_eq!(client_config(&tor_dir, Some(&net)).unwrap(), testing);
    }

    #[test]
    fn network_override_errors() {
        let dir = tempfile::tempdir().unwrap();
        let tor_dir = dir.path().join("tor");
        let net = dir.path().join("net.toml");
        assert!(matches!(
            client_config(&tor_dir, Some(&net)),
            Err(Error::TestingRead { .. })
        ));
        std::fs::write(&net, "[path_rules]\nipv4_subnet_family_prefix = 33\n").unwrap();
        let err = client_config(&tor_dir, Some(&net)).unwrap_err();
        assert!(err.to_string().contains("[tor_network]"), "{err}");
        std::fs::write(&net, format!("{NETWORK}\n[tor_netwrok]\nx = 1\n")).unwrap();
        let err = client_config(&tor_dir, Some(&net)).unwrap_err();
        assert!(err.to_string().contains("tor_netwrok"), "{err}");
        std::fs::write(&net, "[tor_network\n").unwrap();
        assert!(matches!(
            client_config(&tor_dir, Some(&net)),
            Err(Error::TestingParse { .. })
        ));
    }

    #[test]
    fn service_config_with_restricted_discovery() {
        let mut s = TorOnionServiceConfig::default();
        let plain = service_config(&s).unwrap();
        assert_eq!(plain.nickname().to_string(), "allium");
        s.restricted_discovery.enabled = true;
        s.restricted_discovery.authorized_clients =
            vec!["descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA".into()];
        let restricted = service_config(&s).unwrap();
        assert_ne!(restricted, plain);
        // Proof of work is on by default and can be turned off.
        let no_pow = TorOnionServiceConfig {
            proof_of_work: false,
            ..TorOnionServiceConfig::default()
        };
        assert_ne!(service_config(&no_pow).unwrap(), plain);
        s.restricted_discovery.authorized_clients = vec!["descriptor:x25519:nope".into()];
        assert!(matches!(service_config(&s), Err(Error::ClientKey)));
        s.nickname = "Not valid!".into();
        assert!(matches!(service_config(&s), Err(Error::Nickname(_))));
    }
}
