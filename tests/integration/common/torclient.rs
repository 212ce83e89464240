//! An Arti client for the tests: bootstraps against the private network of
//! [`super::tornet::TorNet`] (configured from the same TOML fragment the server gets) and
//! opens streams to `.onion` addresses.
#![allow(clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::{DataStream, TorClient};
use tor_rtcompat::PreferredRuntime;

/// How long [`TorClientHandle::connect`] keeps retrying: a freshly launched onion service
/// is reachable only once its descriptor is published (research pitfall 8).
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(90);
/// Longest single connection attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// A bootstrapped Arti client with its own state and cache in a temporary directory.
pub struct TorClientHandle {
    pub client: Arc<TorClient<PreferredRuntime>>,
    /// How long bootstrapping took.
    pub bootstrap_time: Duration,
    _dir: tempfile::TempDir,
}

/// Sends Arti's logs to stderr when `ALLIUM_TEST_ARTI_LOG` is set (an `EnvFilter` string,
/// e.g. `info,tor_netdir=error,tor_circmgr=error`).
fn init_logging() {
    if let Ok(filter) = std::env::var("ALLIUM_TEST_ARTI_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

impl TorClientHandle {
    /// Bootstraps a client configured by `network_toml` (see `TorNet::arti_toml`).
    pub async fn bootstrap(network_toml: &str) -> TorClientHandle {
        init_logging();
        let dir = tempfile::Builder::new().prefix("arti").tempdir().unwrap();
        let mut builder: TorClientConfigBuilder =
            toml::from_str(network_toml).expect("the Arti network fragment parses");
        builder
            .storage()
            .state_dir(CfgPath::new_literal(dir.path().join("state")))
            .cache_dir(CfgPath::new_literal(dir.path().join("cache")));
        let cfg = builder.build().expect("Arti client configuration");
        let t0 = Instant::now();
        let client =
            tokio::time::timeout(Duration::from_secs(60), TorClient::create_bootstrapped(cfg))
                .await
                .expect("Arti bootstrap timed out after 60 s")
                .expect("Arti bootstrap");
        let bootstrap_time = t0.elapsed();
        eprintln!("torclient: Arti bootstrapped in {bootstrap_time:.1?}");
        TorClientHandle {
            client,
            bootstrap_time,
            _dir: dir,
        }
    }

    /// Opens a stream to `onion:port`, retrying until [`CONNECT_DEADLINE`].
    pub async fn connect(&self, onion: &str, port: u16) -> DataStream {
        let t0 = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            // Bound each attempt: a descriptor cached from an earlier run of the service
            // can point at introduction points that no longer answer.
            let left = CONNECT_DEADLINE
                .saturating_sub(t0.elapsed())
                .min(ATTEMPT_TIMEOUT);
            let err = match tokio::time::timeout(left, self.client.connect((onion, port))).await {
                Ok(Ok(stream)) => {
                    eprintln!(
                        "torclient: connected to {onion}:{port} after {:.1?} ({attempts} attempt(s))",
                        t0.elapsed()
                    );
                    return stream;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "timed out".to_owned(),
            };
            if t0.elapsed() + Duration::from_secs(1) >= CONNECT_DEADLINE {
                panic!(
                    "could not connect to {onion}:{port} over Tor within {CONNECT_DEADLINE:?} \
                     ({attempts} attempts); last error: {err}"
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
