//! XEP-0092 Software Version: the server's name and version, never its operating system.
//!
//! # Security
//! The `<os/>` element is never sent: it helps an attacker pick exploits and says
//! something about the provider's machine. The whole module is off when
//! `version.enabled = false`.

use futures_util::future::BoxFuture;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::Stanza;
use crate::xml::Element;

/// XEP-0092 §2.
pub struct VersionModule;

static ROUTES: [Route; 1] = [Route::iq(IqKind::Get, "query", ns::VERSION, To::Host)];

impl Module for VersionModule {
    fn name(&self) -> &'static str {
        "version"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::VERSION]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, _cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let q = Element::new("query", ns::VERSION)
                .child(Element::new("name", ns::VERSION).with_text("allium"))
                .child(Element::new("version", ns::VERSION).with_text(env!("CARGO_PKG_VERSION")));
            Outcome::Reply(st.iq_result(Some(q)))
        })
    }
}

/// The feature: `version.enabled`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let on = cx.config.version.enabled;
    Box::pin(async move {
        Ok(if on {
            super::Built::module(VersionModule)
        } else {
            super::Built::default()
        })
    })
}
