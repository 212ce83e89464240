//! XEP-0202 Entity Time: the server answers `<time xmlns='urn:xmpp:time'/>` with the
//! current UTC time (XEP-0082 DateTime, whole seconds) and a zero offset.
//!
//! # Security
//! The offset is always zero (`+00:00`, and `utc` ends in `Z`): the server's own time
//! zone would say where it runs, and the time itself is no more than any TLS handshake
//! reveals.

use futures_util::future::BoxFuture;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::stanza::Stanza;
use crate::xml::Element;

/// XEP-0202 namespace.
pub const TIME: &str = "urn:xmpp:time";

/// XEP-0202 §3 responder for the server's JID.
pub struct TimeModule;

static ROUTES: [Route; 1] = [Route::iq(IqKind::Get, "time", TIME, To::Host)];

impl Module for TimeModule {
    fn name(&self) -> &'static str {
        "time"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[TIME]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, _cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let now = time::OffsetDateTime::now_utc().replace_nanosecond(0);
            let utc = now
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
            let answer = Element::new("time", TIME)
                .child(Element::new("tzo", TIME).with_text("+00:00"))
                .child(Element::new("utc", TIME).with_text(utc));
            Outcome::Reply(st.iq_result(Some(answer)))
        })
    }
}

/// The feature: always on.
pub(super) fn build<'a>(_cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async { Ok(super::Built::module(TimeModule)) })
}
