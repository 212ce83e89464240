//! XEP-0054 vcard-temp: each account's vCard, which its owner sets and gets and which
//! any user of the server may read.
//!
//! - Get or set with no `to` or the own bare JID (§3.1, §3.2): the stored vCard, or an
//!   empty `<vCard xmlns='vcard-temp'/>` when there is none (§3.1 allows either that
//!   or `item-not-found`; clients treat the empty vCard as "no profile yet"). A set
//!   replaces the whole vCard; an empty one removes it. The answer to a set is an
//!   empty result.
//! - Get to another local account's bare JID (§3.3): its vCard, or an empty one;
//!   `service-unavailable` when no such account exists (RFC 6121 §8.5.1). A set there
//!   is `forbidden`, without looking the account up.
//!
//! The vCard is stored as received, serialized ([`crate::storage::Storage::vcard`]).
//! [`load`], [`store`] and [`photo_sha1`] are the seam for later XEP-0153 (avatar hash
//! in presence) and XEP-0398 (vCard avatar from the PEP avatar) code: call them rather
//! than the storage directly, so the size limit holds for every writer.
//!
//! # Security
//! A vCard is published information: anyone with an account here can read anyone's
//! (that is the protocol, §3.3), which also tells them the account exists. Only the
//! owner can change it. A vCard larger than `vcard.max_bytes` (serialized) is refused
//! with `not-acceptable` and a text giving the limit; nothing is stored then.
//!
//! # Limitations
//! Queries from other servers are not answered yet (no federation).

use futures_util::future::BoxFuture;
use jid::BareJid;
use sha1::{Digest, Sha1};

use super::{IqKind, Module, ModuleCtx, Outcome, Route, To};
use crate::ns;
use crate::stanza::{Condition, Stanza, StanzaError};
use crate::storage::{self, Storage};
use crate::xml::Element;

/// Why [`store`] refused a vCard.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// The serialized vCard is larger than `limit` bytes (`vcard.max_bytes`).
    #[error("the vCard is larger than the limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The storage failed (or the account does not exist).
    #[error("the vCard could not be stored")]
    Storage(#[source] storage::Error),
}

/// The vCard of `account` as an element (`<vCard xmlns='vcard-temp'>`), or `None` when
/// it has none (or no account).
///
/// # Errors
/// A storage error, or [`storage::Error::Corrupt`] when the stored text does not parse.
pub async fn load(storage: &Storage, account: &BareJid) -> Result<Option<Element>, storage::Error> {
    let Some(xml) = storage.vcard(account.as_str()).await? else {
        return Ok(None);
    };
    crate::xml::parse_element(&xml, ns::CLIENT)
        .map(Some)
        .map_err(|_| storage::Error::Corrupt("stored vCard does not parse".to_owned()))
}

/// Replaces the vCard of `account` with `vcard` (a `<vCard xmlns='vcard-temp'>`
/// element); an empty one (no children, no text) removes it. Refused when its
/// serialization is longer than `max_bytes`.
///
/// # Errors
/// [`StoreError::TooLarge`] (nothing stored), [`StoreError::Storage`].
pub async fn store(
    storage: &Storage,
    account: &BareJid,
    vcard: &Element,
    max_bytes: u64,
) -> Result<(), StoreError> {
    if vcard.nodes().is_empty() {
        return storage
            .set_vcard(account.as_str(), None)
            .await
            .map_err(StoreError::Storage);
    }
    let xml = vcard.to_xml(ns::CLIENT);
    if xml.len() as u64 > max_bytes {
        return Err(StoreError::TooLarge { limit: max_bytes });
    }
    storage
        .set_vcard(account.as_str(), Some(&xml))
        .await
        .map_err(StoreError::Storage)
}

/// The SHA-1 of the vCard's photo, lower-case hex, as XEP-0153 §4 puts it in presence
/// (`<photo/>` of `vcard-temp:x:update`): the hash of the image data, the base64 of
/// `PHOTO/BINVAL` decoded (whitespace in it ignored). `None` without a photo or when
/// `BINVAL` is not base64.
pub fn photo_sha1(vcard: &Element) -> Option<String> {
    use base64::Engine as _;
    let binval = vcard
        .get_child("PHOTO", ns::VCARD)?
        .get_child("BINVAL", ns::VCARD)?
        .text();
    let compact: String = binval
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    Some(hex::encode(Sha1::digest(&data)))
}

/// XEP-0054 responder.
pub struct VcardModule {
    /// `vcard.max_bytes`.
    max_bytes: u64,
}

static ROUTES: [Route; 4] = [
    Route::iq(IqKind::Get, "vCard", ns::VCARD, To::OwnAccount),
    Route::iq(IqKind::Set, "vCard", ns::VCARD, To::OwnAccount),
    Route::iq(IqKind::Get, "vCard", ns::VCARD, To::OtherAccount),
    Route::iq(IqKind::Set, "vCard", ns::VCARD, To::OtherAccount),
];

fn internal() -> Outcome {
    Outcome::Reject(Condition::InternalServerError.into())
}

impl VcardModule {
    async fn get(&self, cx: &ModuleCtx<'_>, st: &Stanza, target: &BareJid) -> Outcome {
        let storage = cx.router.storage();
        if target != cx.account {
            match storage.account_exists(target.as_str()).await {
                Ok(true) => {}
                Ok(false) => return Outcome::Reject(Condition::ServiceUnavailable.into()),
                Err(_) => return internal(),
            }
        }
        match load(storage, target).await {
            Ok(Some(v)) => Outcome::Reply(st.iq_result(Some(v))),
            Ok(None) => Outcome::Reply(st.iq_result(Some(Element::new("vCard", ns::VCARD)))),
            Err(e) => {
                tracing::debug!(error = %e, "vCard read failed");
                internal()
            }
        }
    }

    async fn set(&self, cx: &ModuleCtx<'_>, st: &Stanza) -> Outcome {
        let Some(vcard) = st.payload() else {
            return Outcome::Reject(Condition::BadRequest.into());
        };
        match store(cx.router.storage(), cx.account, vcard, self.max_bytes).await {
            Ok(()) => Outcome::Reply(st.iq_result(None)),
            Err(StoreError::TooLarge { limit }) => Outcome::Reject(
                StanzaError::from_condition(Condition::NotAcceptable).with_text(format!(
                    "the vCard is larger than this server's limit of {limit} bytes"
                )),
            ),
            Err(StoreError::Storage(e)) => {
                tracing::debug!(error = %e, "vCard write failed");
                internal()
            }
        }
    }
}

impl Module for VcardModule {
    fn name(&self) -> &'static str {
        "vcard"
    }
    fn disco_features(&self) -> &'static [&'static str] {
        &[ns::VCARD]
    }
    fn routes(&self) -> &'static [Route] {
        &ROUTES
    }
    fn handle<'a>(&'a self, cx: &'a ModuleCtx<'a>, st: &'a Stanza) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Route::Iq { kind, to, .. } = cx.route else {
                return Outcome::Pass;
            };
            match (kind, to) {
                (IqKind::Get, To::OwnAccount) => self.get(cx, st, cx.account).await,
                (IqKind::Get, _) => match cx.to {
                    Some(t) => self.get(cx, st, &t.to_bare()).await,
                    None => self.get(cx, st, cx.account).await,
                },
                (IqKind::Set, To::OwnAccount) => self.set(cx, st).await,
                (IqKind::Set, _) => Outcome::Reject(
                    StanzaError::from_condition(Condition::Forbidden)
                        .with_text("only the owner may change a vCard"),
                ),
            }
        })
    }
}

/// The feature: `vcard.max_bytes`.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    let max_bytes = cx.config.vcard.max_bytes;
    Box::pin(async move { Ok(super::Built::module(VcardModule { max_bytes })) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vcard(photo: Option<&str>) -> Element {
        let mut v =
            Element::new("vCard", ns::VCARD).child(Element::new("FN", ns::VCARD).with_text("Al"));
        if let Some(b) = photo {
            v.push_child(
                Element::new("PHOTO", ns::VCARD)
                    .child(Element::new("TYPE", ns::VCARD).with_text("image/png"))
                    .child(Element::new("BINVAL", ns::VCARD).with_text(b)),
            );
        }
        v
    }

    #[test]
    fn photo_hash_is_of_the_decoded_image() {
        // SHA-1 of the three bytes "abc" (FIPS 180-2 appendix A.1), base64 "YWJj",
        // with whitespace as clients wrap BINVAL.
        assert_eq!(
            photo_sha1(&vcard(Some("YW\n Jj"))).as_deref(),
            Some("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(photo_sha1(&vcard(None)), None);
        assert_eq!(photo_sha1(&vcard(Some("not base64!"))), None);
    }
}
