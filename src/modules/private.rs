//! XEP-0049 Private XML Storage (`jabber:iq:private`): an account keeps XML fragments
//! on the server for itself (client settings, legacy bookmarks), each under its
//! element name and namespace.
//!
//! - Set (§2): every child of `<query/>` replaces what is stored under its (name,
//!   namespace); all are stored or none. An empty child (no attributes, no content)
//!   forgets its key, freeing its room in the limits. A set with no child is
//!   `not-acceptable` (§2: "at least one child element ... MUST be included").
//! - Get (§2): exactly one child names the fragment; the answer holds what is stored,
//!   or the empty element when nothing is. No child, or more than one, is
//!   `bad-request` (§3: "Bad Format").
//! - Namespaces reserved by §3 (`jabber:*`, `http://jabber.org/*`, `vcard-temp`;
//!   also a child without a namespace of its own, which inherits `jabber:iq:private`,
//!   or with `xmlns=''`) are `not-acceptable`.
//! - Another account's JID (§3) is `forbidden`, without looking it up.
//!
//! # The seam for a XEP-0402 compatibility layer
//! XEP-0402 §5.3 asks a server with PEP bookmarks to answer `storage:bookmarks`
//! through private storage from the PEP node. Such a layer plugs in as a module on the
//! same routes as [`PrivateModule`], placed before it in [`super::FEATURES`]: it
//! answers the stanzas whose child is `<storage xmlns='storage:bookmarks'/>` and
//! returns [`Outcome::Pass`] for every other, which then reach this module unchanged.
//! Code that must read or write fragments itself (e.g. to mirror PEP changes into the
//! legacy store) calls [`get_fragment`] and [`set_fragments`], which apply the same
//! namespace rules and limits as the protocol path.
//!
//! # Security
//! Only the account itself reads or writes its fragments; nothing is logged of them.
//! Each account is bounded by `[private]`: `max_fragment_bytes` per fragment
//! (`not-acceptable`), `max_fragments` keys and `max_total_bytes` in all
//! (`resource-constraint`), each refusal with a text giving the limit.

use futures_util::future::BoxFuture;
use jid::BareJid;

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::{self, PrivateFragment, PrivateLimit, PrivateLimits, Storage};
use crate::xml::Element;

/// Why a private storage request was refused; [`PrivateError::to_stanza_error`] is its
/// wire form.
#[derive(thiserror::Error, Debug)]
pub enum PrivateError {
    /// A fragment is in a namespace XEP-0049 §3 reserves (`not-acceptable`).
    #[error("the namespace is reserved")]
    Reserved,
    /// A limit of `[private]` would be exceeded (nothing was stored).
    #[error("a private storage limit is reached")]
    Limit(PrivateLimit, PrivateLimits),
    /// The storage failed, or a stored fragment does not parse.
    #[error("private storage failed")]
    Storage(#[source] storage::Error),
}

impl PrivateError {
    /// The stanza error for the client: `not-acceptable` for a reserved namespace or
    /// an oversized fragment, `resource-constraint` for the per-account totals (each
    /// with a text giving the limit), `internal-server-error` otherwise.
    pub fn to_stanza_error(&self) -> StanzaError {
        match self {
            PrivateError::Reserved => StanzaError::from_condition(Condition::NotAcceptable)
                .with_text("this namespace is reserved and cannot be stored (XEP-0049)"),
            PrivateError::Limit(PrivateLimit::FragmentBytes, l) => {
                StanzaError::from_condition(Condition::NotAcceptable).with_text(format!(
                    "a private XML fragment is larger than this server's limit of {} bytes",
                    l.max_fragment_bytes
                ))
            }
            PrivateError::Limit(PrivateLimit::Fragments, l) => {
                StanzaError::from_condition(Condition::ResourceConstraint).with_text(format!(
                    "private storage holds at most {} namespaces per account",
                    l.max_fragments
                ))
            }
            PrivateError::Limit(PrivateLimit::TotalBytes, l) => {
                StanzaError::from_condition(Condition::ResourceConstraint).with_text(format!(
                    "private storage holds at most {} bytes per account",
                    l.max_total_bytes
                ))
            }
            PrivateError::Storage(_) => Condition::InternalServerError.into(),
        }
    }
}

/// Whether `ns` cannot hold a fragment: XEP-0049 §3 reserves `jabber:*`,
/// `http://jabber.org/*` and `vcard-temp` (namespaces are URIs compared as strings),
/// and §2 wants each fragment in a namespace of its own, so no namespace is refused
/// too.
pub fn is_reserved(ns: &str) -> bool {
    ns.is_empty()
        || ns.starts_with("jabber:")
        || ns.starts_with("http://jabber.org/")
        || ns == ns::VCARD
}

/// The fragment `account` stored under (`ns`, `name`), or `None`.
///
/// # Errors
/// [`PrivateError::Reserved`]; [`PrivateError::Storage`] (also for a stored fragment
/// that does not parse).
pub async fn get_fragment(
    storage: &Storage,
    account: &BareJid,
    ns: &str,
    name: &str,
) -> Result<Option<Element>, PrivateError> {
    if is_reserved(ns) {
        return Err(PrivateError::Reserved);
    }
    let Some(xml) = storage
        .private_fragment(account.as_str(), ns, name)
        .await
        .map_err(PrivateError::Storage)?
    else {
        return Ok(None);
    };
    crate::xml::parse_element(&xml, ns::CLIENT)
        .map(Some)
        .map_err(|_| {
            PrivateError::Storage(storage::Error::Corrupt(
                "stored private XML does not parse".to_owned(),
            ))
        })
}

/// Stores every element of `fragments` for `account` under its own name and
/// namespace (an empty element forgets its key), all or none, within `limits`.
///
/// # Errors
/// [`PrivateError::Reserved`] if any is in a reserved namespace (nothing stored);
/// [`PrivateError::Limit`]; [`PrivateError::Storage`].
pub async fn set_fragments(
    storage: &Storage,
    account: &BareJid,
    fragments: &[&Element],
    limits: PrivateLimits,
) -> Result<(), PrivateError> {
    if fragments.iter().any(|f| is_reserved(f.ns())) {
        return Err(PrivateError::Reserved);
    }
    let rows: Vec<PrivateFragment> = fragments
        .iter()
        .map(|f| PrivateFragment {
            ns: f.ns().to_owned(),
            name: f.name().to_owned(),
            xml: (f.attrs().next().is_some() || !f.nodes().is_empty())
                .then(|| f.to_xml(ns::CLIENT)),
        })
        .collect();
    match storage.put_private(account.as_str(), &rows, limits).await {
        Ok(()) => Ok(()),
        Err(storage::Error::PrivateFull(which)) => Err(PrivateError::Limit(which, limits)),
        Err(e) => Err(PrivateError::Storage(e)),
    }
}

/// XEP-0049 responder.
pub struct PrivateModule {
    limits: PrivateLimits,
}

static ROUTES: [Route; 4] = [
    Route::iq(IqKind::Get, "query", ns::PRIVATE, To::OwnAccount),
    Route::iq(IqKind::Set, "query", ns::PRIVATE, To::OwnAccount),
    Route::iq(IqKind::Get, "query", ns::PRIVATE, To::OtherAccount),
    Route::iq(IqKind::Set, "query", ns::PRIVATE, To::OtherAccount),
];

fn reject(e: &PrivateError) -> Outcome {
    if let PrivateError::Storage(s) = e {
        tracing::debug!(error = %s, "private storage failed");
    }
    Outcome::Reject(e.to_stanza_error())
}

impl PrivateModule {
    async fn get(&self, cx: &ModuleCtx<'_>, st: &Stanza, q: &Element) -> Outcome {
        let mut children = q.children();
        let (Some(want), None) = (children.next(), children.next()) else {
            return Outcome::Reject(
                StanzaError::from_condition(Condition::BadRequest)
                    .with_text("a private storage get names exactly one element"),
            );
        };
        match get_fragment(cx.router.storage(), cx.account, want.ns(), want.name()).await {
            Ok(found) => {
                let el = found.unwrap_or_else(|| Element::new(want.name(), want.ns()));
                Outcome::Reply(st.iq_result(Some(Element::new("query", ns::PRIVATE).child(el))))
            }
            Err(e) => reject(&e),
        }
    }

    async fn set(&self, cx: &ModuleCtx<'_>, st: &Stanza, q: &Element) -> Outcome {
        let fragments: Vec<&Element> = q.children().collect();
        if fragments.is_empty() {
            return Outcome::Reject(
                StanzaError::from_condition(Condition::NotAcceptable)
                    .with_text("a private storage set carries at least one element"),
            );
        }
        match set_fragments(cx.router.storage(), cx.account, &fragments, self.limits).await {
            Ok(()) => Outcome::Reply(st.iq_result(None)),
            Err(e) => reject(&e),
        }
    }
}

impl Module for PrivateModule {
    fn name(&self) -> &'static str {
        "private"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::PRIVATE]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Route::Iq { kind, to, .. } = cx.route else {
                return Outcome::Pass;
            };
            if to != To::OwnAccount {
                return Outcome::Reject(
                    StanzaError::from_condition(Condition::Forbidden)
                        .with_text("private storage is only for its own account"),
                );
            }
            let Some(q) = st.payload() else {
                return Outcome::Reject(Condition::BadRequest.into());
            };
            match kind {
                IqKind::Get => self.get(cx, st, q).await,
                IqKind::Set => self.set(cx, st, q).await,
            }
        })
    }
}

/// The feature: the limits of `[private]`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let p = &cx.config.private;
    let limits = PrivateLimits {
        max_fragments: p.max_fragments,
        max_fragment_bytes: p.max_fragment_bytes,
        max_total_bytes: p.max_total_bytes,
    };
    Box::pin(async move { Ok(super::Built::module(PrivateModule { limits })) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_namespaces() {
        for r in [
            "jabber:iq:roster",
            "jabber:iq:private",
            "jabber:client",
            "http://jabber.org/protocol/disco#info",
            "vcard-temp",
            "",
        ] {
            assert!(is_reserved(r), "{r}");
        }
        for ok in [
            "storage:bookmarks",
            "exodus:prefs",
            "urn:xmpp:bookmarks:1",
            "https://jabber.org/x",
            "vcard-temp:x:update-ish",
        ] {
            assert!(!is_reserved(ok), "{ok}");
        }
    }
}
