//! Features as modules: each declares what it takes part in (routes, filter steps,
//! events, stream features) through the extension API of [`crate::router::hooks`]
//! (re-exported here), and implements the matching handlers.
//!
//! This file is the one list of features: [`FEATURES`]. Each feature's `build` reads
//! its configuration section and returns what it adds to the server ([`Built`]): its
//! modules, its services (a domain of its own, e.g. `conference.<domain>`), its HTTP
//! endpoints and its background workers. [`crate::server::start`] runs the list and
//! plugs the results in; a feature that is switched off returns nothing.

pub mod blocking;
pub mod carbons;
mod disco;
mod last;
pub mod muc;
pub mod offline;
pub mod pastebin;
mod ping;
pub mod presence;
pub mod private;
pub mod pubsub;
pub mod roster;
mod session;
mod time;
pub mod upload;
pub mod vcard;
mod version;

use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

pub use crate::router::hooks::{
    Chain, ChainResult, ElementOutcome, Event, EventKind, FilterSpec, Filtered, IqKind, Local,
    Module, ModuleCtx, Origin, Outcome, Route, To, Undo, Verdict,
};

use crate::config::Config;
use crate::http::{Endpoint, SharedBaseUrls};
use crate::router::Service;
use crate::storage::{self, Storage};

/// What a feature's `build` may use.
pub struct BuildCtx<'a> {
    /// The validated configuration.
    pub config: &'a Config,
    /// The state directory (created, mode 0700).
    pub state_dir: &'a Path,
    /// The database.
    pub storage: &'a Storage,
    /// The HTTP listener's base URLs, filled in once the listener is bound and the
    /// onion address known (read them when handing out a URL, not at build time).
    pub base_urls: &'a SharedBaseUrls,
    /// Cancelled at shutdown: workers end when it is.
    pub shutdown: &'a CancellationToken,
}

/// What a feature adds to the server.
#[derive(Default)]
pub struct Built {
    /// Modules, in the order their routes and filters are tried.
    pub modules: Vec<Arc<dyn Module>>,
    /// Services by domain (lower case).
    pub services: Vec<(String, Arc<dyn Service>)>,
    /// HTTP endpoints (served only when `http.enabled`).
    pub endpoints: Vec<Arc<dyn Endpoint>>,
    /// Background workers, run as tasks of the server until [`BuildCtx::shutdown`]
    /// (shutdown waits for them).
    pub workers: Vec<BoxFuture<'static, ()>>,
}

impl Built {
    /// One module and nothing else.
    pub fn module(m: impl Module) -> Built {
        Built {
            modules: vec![Arc::new(m)],
            ..Built::default()
        }
    }

    fn extend(&mut self, other: Built) {
        self.modules.extend(other.modules);
        self.services.extend(other.services);
        self.endpoints.extend(other.endpoints);
        self.workers.extend(other.workers);
    }
}

/// What a feature's `build` returns.
pub type BuildResult<'a> = BoxFuture<'a, Result<Built, storage::Error>>;

/// One feature: its name (for logs) and its `build`.
pub struct Feature {
    /// Short name.
    pub name: &'static str,
    /// Reads the feature's configuration and builds it.
    pub build: for<'a> fn(&'a BuildCtx<'a>) -> BuildResult<'a>,
}

impl Feature {
    /// A feature entry.
    pub const fn new(
        name: &'static str,
        build: for<'a> fn(&'a BuildCtx<'a>) -> BuildResult<'a>,
    ) -> Feature {
        Feature { name, build }
    }
}

/// Every feature, in priority order (routes and equal-priority filter steps are tried
/// in this order).
pub static FEATURES: &[Feature] = &[
    Feature::new("session", session::build),
    Feature::new("roster", roster::build),
    // Before presence: when a session ends, the logout time is recorded before the
    // contacts hear of it (so a contact's query right after sees it).
    Feature::new("last", last::build),
    Feature::new("presence", presence::build),
    Feature::new("offline", offline::build),
    Feature::new("blocking", blocking::build),
    Feature::new("carbons", carbons::build),
    Feature::new("ping", ping::build),
    // Before disco: PEP answers disco#items of accounts (their nodes).
    Feature::new("pubsub", pubsub::build),
    Feature::new("disco", disco::build),
    Feature::new("time", time::build),
    Feature::new("version", version::build),
    Feature::new("vcard", vcard::build),
    Feature::new("private", private::build),
    Feature::new("pastebin", pastebin::build),
    Feature::new("muc", muc::build),
    Feature::new("upload", upload::build),
];

/// Builds every feature of [`FEATURES`], in order.
///
/// # Errors
/// The first feature that could not be built (a storage error).
pub async fn build_all(cx: &BuildCtx<'_>) -> Result<Built, storage::Error> {
    let mut all = Built::default();
    for f in FEATURES {
        let built = (f.build)(cx).await?;
        tracing::debug!(
            feature = f.name,
            modules = built.modules.len(),
            "feature built"
        );
        all.extend(built);
    }
    Ok(all)
}
