//! Start-up of the Arti client and the onion service, and the loop that hands onion
//! streams to the session code.
//!
//! [`launch`] does the local part at once (configuration, directories, Arti's state
//! and keystore, the service key) and fails start-up on error; bootstrapping the Tor
//! network then goes on in the background without blocking the TCP listeners. One task
//! (in the server's `TaskTracker`) logs bootstrap progress and service status at
//! info and accepts streams until the shutdown token fires; each stream to a virtual
//! port whose listener kind the server serves takes a place under the connection limit
//! and enters [`Dispatcher::serve`] exactly as a TCP connection does, with its
//! rendezvous circuit (a random id) instead of a source address.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use arti_client::TorClient;
use futures_util::{FutureExt as _, Stream, StreamExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tor_cell::relaycell::msg::{Connected, End, EndReason};
use tor_hsservice::{RunningOnionService, StreamRequest};
use tor_proto::stream::IncomingStreamRequest;
use tor_rtcompat::PreferredRuntime;
use tracing::{debug, error, info, warn};

use super::arti_config::{client_config, service_config, testing_network};
use super::{Connector, Dispatch, Error, PortMap, TESTING_ENV};
use crate::config::Config;
use crate::listen::{Conn, Dispatcher};

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

/// Starts Tor for `config` (which must have `tor.enabled`), with its directory under
/// `state_dir`: reads the testing override (guarded by [`TESTING_ENV`]), creates the
/// directories (0700) and Arti's client, launches the onion service when enabled,
/// then bootstraps in a task on `tracker` that hands onion streams to `dispatcher` until
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
    dispatcher: Dispatcher,
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
    let targets = Targets { dispatcher, ports };
    tracker.spawn(run(client, service, targets, tracker.clone(), shutdown));
    Ok(handle)
}

/// Onion stream requests, each with the random id of the rendezvous circuit it came on.
type StreamRequests = Pin<Box<dyn Stream<Item = (u64, StreamRequest)> + Send>>;

/// Accepts every rendezvous request (as `tor_hsservice::handle_rend_requests` does) and
/// tags the streams of each rendezvous circuit with a fresh random id: one client's
/// circuit, told apart from other clients' for failed-login accounting
/// ([`crate::listen::Peer::OnionCircuit`]). Arti's `StreamRequest` exposes
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

/// Where onion streams go: the server's accept path, by the listener kind of their
/// virtual port.
struct Targets {
    dispatcher: Dispatcher,
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
            (circuit, req) = next_of(&mut streams) => dispatch(req, circuit, &targets, &tracker),
        }
    }
    // Dropping the running service stops publishing and introductions; the client
    // goes when this task ends (and the last Connector is dropped).
    drop(running);
    debug!("tor stopped");
}

/// Hands one onion stream, with the listener kind of its virtual port and its
/// rendezvous `circuit` as the connection source, to the dispatcher; refuses it when
/// the kind is not served or no place is left under the connection limit.
fn dispatch(req: StreamRequest, circuit: u64, targets: &Targets, tracker: &TaskTracker) {
    let dispatcher = &targets.dispatcher;
    let target = match req.request() {
        IncomingStreamRequest::Begin(begin) => targets
            .ports
            .dispatch(begin.port(), |kind| dispatcher.serves(kind)),
        _ => Dispatch::Unmapped,
    };
    let place = match target {
        // At the limit the stream is refused like any other (counted and logged there).
        Dispatch::Serve(kind) => dispatcher.admit().map(|place| (kind, place)),
        refused => {
            debug!(
                kind = match refused {
                    Dispatch::NotAvailable(k) => k.as_str(),
                    _ => "unmapped",
                },
                "onion stream refused"
            );
            None
        }
    };
    match place {
        Some((kind, place)) => {
            let dispatcher = dispatcher.clone();
            tracker.spawn(async move {
                match req.accept(Connected::new_empty()).await {
                    // No source address: each rendezvous circuit is its own source.
                    Ok(stream) => {
                        dispatcher
                            .serve(place, kind, Conn::onion(stream, circuit))
                            .await
                    }
                    Err(e) => debug!(error = %e, "onion stream could not be accepted"),
                }
            });
        }
        None => {
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
