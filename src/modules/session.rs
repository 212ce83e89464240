//! The RFC 3921 session establishment that old clients still send after binding
//! (`urn:ietf:params:xml:ns:xmpp-session`): offered as an optional stream feature
//! (RFC 6121 Appendix E), and any `<session/>` set to the server or the user's own
//! account is answered with an empty result.

use futures_util::future::BoxFuture;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::Stanza;
use crate::xml::Element;

/// Legacy session establishment.
pub struct SessionModule;

static ROUTES: [Route; 2] = [
    Route::iq(IqKind::Set, "session", ns::SESSION, To::Host),
    Route::iq(IqKind::Set, "session", ns::SESSION, To::OwnAccount),
];

impl Module for SessionModule {
    fn name(&self) -> &'static str {
        "session"
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, _cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move { Outcome::Reply(st.iq_result(None)) })
    }
    fn stream_features(&self) -> Vec<Element> {
        vec![Element::new("session", ns::SESSION).child(Element::new("optional", ns::SESSION))]
    }
}

/// The feature: always on.
pub(super) fn build<'a>(_cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async { Ok(super::Built::module(SessionModule)) })
}
