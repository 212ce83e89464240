//! Features as modules: each declares the IQ routes it answers and its disco features,
//! through the extension API of [`crate::router::hooks`] (re-exported here). A module
//! sees a [`ModuleCtx`] (the router, the requesting session's JID) and returns an
//! [`Outcome`].
//!
//! This file is the one list of features: [`all`].

mod disco;
pub mod muc;
pub mod offline;
pub mod pastebin;
mod ping;
pub mod roster;
pub mod upload;
mod version;

use std::sync::Arc;

pub use crate::router::hooks::{IqKind, Module, ModuleCtx, Outcome, Route, To};

/// The enabled modules, in priority order.
pub fn all(version_enabled: bool) -> Vec<Arc<dyn Module>> {
    let mut v: Vec<Arc<dyn Module>> = vec![
        Arc::new(roster::RosterModule),
        Arc::new(ping::PingModule),
        Arc::new(disco::DiscoModule),
    ];
    if version_enabled {
        v.push(Arc::new(version::VersionModule));
    }
    v
}
