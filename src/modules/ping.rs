//! XEP-0199 XMPP Ping: answers pings to the server and to the sender's own account.

use futures_util::future::BoxFuture;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::Stanza;

/// XEP-0199 §4.2 (client-to-server ping).
pub struct PingModule;

static ROUTES: [Route; 2] = [
    Route::iq(IqKind::Get, "ping", ns::PING, To::Host),
    Route::iq(IqKind::Get, "ping", ns::PING, To::OwnAccount),
];

impl Module for PingModule {
    fn name(&self) -> &'static str {
        "ping"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::PING]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, _cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { Outcome::Reply(st.iq_result(None)) })
    }
}

/// The feature: always on.
pub(super) fn build<'a>(_cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async { Ok(super::Built::module(PingModule)) })
}
