//! Features as modules: each declares what it takes part in (routes, filter steps,
//! events, stream features) through the extension API of [`crate::router::hooks`]
//! (re-exported here), and implements the matching handlers.
//!
//! This file is the one list of features: [`all`].

mod disco;
pub mod muc;
pub mod offline;
pub mod pastebin;
mod ping;
pub mod presence;
pub mod roster;
mod session;
mod time;
pub mod upload;
mod version;

use std::sync::Arc;

pub use crate::router::hooks::{
    Chain, ChainResult, ElementOutcome, Event, EventKind, FilterSpec, Filtered, IqKind, Local,
    Module, ModuleCtx, Origin, Outcome, Route, To, Undo, Verdict,
};

use crate::config::Config;

/// The enabled modules, in priority order, for `config`; `pastebin` when
/// `pastebin.enabled`.
pub fn all(config: &Config, pastebin: Option<Arc<pastebin::Pastebin>>) -> Vec<Arc<dyn Module>> {
    let roster_limits = roster::Limits {
        max_items: config.roster.max_items,
        max_groups: config.roster.max_groups_per_item as usize,
        max_name_bytes: config.roster.max_name_bytes as usize,
    };
    let mut v: Vec<Arc<dyn Module>> = vec![
        Arc::new(session::SessionModule),
        Arc::new(roster::RosterModule::new(roster_limits)),
        Arc::new(presence::PresenceModule::new(presence::Settings {
            max_directed_presences: config.limits.max_directed_presences as usize,
            roster_max_items: config.roster.max_items,
        })),
        Arc::new(offline::OfflineModule::new(
            config.offline.enabled,
            config.offline.max_messages,
        )),
        Arc::new(ping::PingModule),
        Arc::new(disco::DiscoModule),
        Arc::new(time::TimeModule),
    ];
    if let Some(p) = pastebin {
        v.push(Arc::new(pastebin::PastebinModule::new(p)));
    }
    if config.version.enabled {
        v.push(Arc::new(version::VersionModule));
    }
    v
}
