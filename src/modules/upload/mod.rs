//! XEP-0363 HTTP File Upload (version 1.1): one service per hosted domain on
//! `<subdomain>.<domain>`, plugged into the router as a [`Service`], and the
//! `/upload/` [`Endpoint`](crate::http::Endpoint) of the HTTP listener that receives and serves the files.
//!
//! A client asks the service for a slot (`<request filename size content-type/>`,
//! §4); the service checks the size limit and the account's quota, stores the slot and
//! answers with a PUT URL, an `Authorization` header to send with it, and a GET URL
//! (both `<base>/upload/<slot id>/<file name>`). The client then PUTs the file over
//! HTTP (`http.rs`) and shares the GET URL.
//!
//! - The base URL is the one the requester can reach: the onion address when its
//!   session came through the onion service ([`crate::router::SessionEntry::via_onion`]).
//! - Only accounts of the service's own domain get slots (others: `forbidden`).
//! - Quota: the sizes of an account's slots requested in the last 24 hours, counted at
//!   request time (`resource-constraint` with a `<retry stamp>` when more fits later).
//! - Files and slots expire after `upload.expire_secs`: [`sweep`] deletes rows and
//!   files at start-up and periodically ([`run_sweeper`]).
//!
//! # Security
//! - Slot ids are 128 random bits, so GET URLs are unguessable.
//! - The PUT token is HMAC-SHA-256 over (slot id, size, content type, PUT expiry) under
//!   a secret generated once and kept in the database; it is checked in constant time.
//!   The slot also accepts the token as `?token=` in the query string.
//! - Files are written with mode 0600 under `<state_dir>/uploads/` (mode 0700): first to
//!   a temporary file, renamed once complete; an upload with more or fewer bytes than
//!   announced is discarded.
//! - GET answers with the stored content type; anything but plain text, images, audio
//!   and video is served as an attachment, under a CSP sandbox.
//! - Nothing about uploaders, file names or sizes is logged.
//! - GET streams the file from disk in 64 KiB chunks; at most
//!   `upload.max_concurrent_downloads` are served at once (beyond: `503` with
//!   `Retry-After`), and a reader that stops reading is dropped after
//!   `http.send_timeout_secs`, freeing its place.
//!
//! # Limitations
//! - No CORS headers, so browser-based clients on other origins cannot upload.
//! - No purposes (XEP-0363 §4.1); every upload is a `message` upload.

mod http;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use hmac::{Hmac, KeyInit, Mac};
use jid::{FullJid, Jid};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::config::UploadConfig;
use crate::http::{SharedBaseUrls, Via};
use crate::ns;
use crate::router::hooks::Origin;
use crate::router::{Router, Service};
use crate::stanza::{Condition, ErrorType, Kind, Stanza, StanzaError};
use crate::storage::{self, SlotGrant, Storage, UploadSlot};
use crate::xml::Element;

pub use http::UploadEndpoint;

/// The quota window: one day.
const QUOTA_WINDOW_SECS: i64 = 24 * 60 * 60;
/// Longest file name kept (characters).
const MAX_FILENAME_CHARS: usize = 200;
/// Longest content type accepted (bytes).
const MAX_CONTENT_TYPE_BYTES: usize = 255;

/// What the services, the endpoint and the sweeper share.
pub struct Shared {
    storage: Storage,
    secret: Vec<u8>,
    dir: PathBuf,
    max_file_bytes: u64,
    quota: u64,
    expire_secs: i64,
    slot_valid_secs: i64,
    urls: SharedBaseUrls,
    /// One permit per download being served (`upload.max_concurrent_downloads`).
    downloads: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Reads (or creates) the token secret and creates `<state_dir>/uploads` (mode 0700).
    ///
    /// # Errors
    /// A storage error, or [`storage::Error::Io`] when the directory cannot be created.
    pub async fn load(
        cfg: &UploadConfig,
        state_dir: &Path,
        storage: Storage,
        urls: SharedBaseUrls,
    ) -> Result<Arc<Shared>, storage::Error> {
        let secret = storage.upload_secret(rand::random()).await?;
        let dir = state_dir.join("uploads");
        crate::tls::create_private_dir(&dir)
            .map_err(|e| storage::Error::Io(std::io::Error::other(e.to_string())))?;
        Ok(Arc::new(Shared {
            storage,
            secret,
            dir,
            max_file_bytes: cfg.max_file_bytes,
            quota: cfg.daily_quota_bytes,
            expire_secs: i64::try_from(cfg.expire_secs).unwrap_or(i64::MAX),
            slot_valid_secs: i64::try_from(cfg.slot_valid_secs).unwrap_or(i64::MAX),
            urls,
            downloads: Arc::new(tokio::sync::Semaphore::new(
                usize::try_from(cfg.max_concurrent_downloads).unwrap_or(usize::MAX),
            )),
        }))
    }

    /// The PUT token of a slot: hex HMAC-SHA-256 over its id, size, type and PUT expiry.
    fn token(&self, slot: &UploadSlot) -> Option<String> {
        Some(hex::encode(self.mac(slot)?.finalize().into_bytes()))
    }

    fn mac(&self, slot: &UploadSlot) -> Option<Hmac<sha2::Sha256>> {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&self.secret).ok()?;
        mac.update(
            format!(
                "{}\n{}\n{}\n{}",
                slot.id, slot.size, slot.content_type, slot.put_expires
            )
            .as_bytes(),
        );
        Some(mac)
    }

    /// Whether `token` (hex) is the slot's token, compared in constant time.
    fn token_ok(&self, slot: &UploadSlot, token: &str) -> bool {
        let Ok(raw) = hex::decode(token.trim()) else {
            return false;
        };
        self.mac(slot).is_some_and(|m| m.verify_slice(&raw).is_ok())
    }

    /// The file of slot `id`.
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A 128-bit random slot id, 32 lower-case hex digits.
fn new_slot_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Whether `s` looks like a slot id (so it is safe as a file name).
fn is_slot_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The file name kept for a requested one: its last path segment, without control
/// characters, at most [`MAX_FILENAME_CHARS`] characters; `"file"` when nothing is left.
fn sanitize_filename(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILENAME_CHARS)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".to_owned()
    } else {
        clean.to_owned()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A content type a client may ask for: printable ASCII with a `/`, bounded.
fn valid_content_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_CONTENT_TYPE_BYTES
        && t.contains('/')
        && t.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// One upload service (`upload.<domain>`).
pub struct UploadService {
    /// The hosted domain whose accounts may upload.
    parent: String,
    shared: Arc<Shared>,
}

impl UploadService {
    /// The service for the accounts of the hosted domain `parent`.
    pub fn new(parent: String, shared: Arc<Shared>) -> Arc<UploadService> {
        Arc::new(UploadService { parent, shared })
    }

    async fn dispatch(&self, router: &Arc<Router>, st: Stanza) {
        let (Ok(Some(from)), Ok(Some(to))) = (st.from(), st.to()) else {
            return;
        };
        // Services never talk to each other: nothing here waits on another service.
        if router.service(from.domain().as_str()).is_some() || st.is_error() {
            return;
        }
        match st.kind() {
            Kind::Presence => return,
            Kind::Message => {
                return send_error(router, &st, Condition::ServiceUnavailable.into());
            }
            Kind::Iq => {}
        }
        if st.type_attr() == "result" {
            return;
        }
        let addressed_to_service = to.node().is_none() && to.resource().is_none();
        let Some(q) = st.payload().filter(|_| addressed_to_service) else {
            return send_error(router, &st, Condition::ServiceUnavailable.into());
        };
        debug!(kind = %st.summary(), "upload stanza");
        if st.type_attr() != "get" {
            return send_error(router, &st, Condition::ServiceUnavailable.into());
        }
        let reply = if q.is("query", ns::DISCO_INFO) && q.attr("node").is_none() {
            Ok(self.disco_info())
        } else if q.is("query", ns::DISCO_ITEMS) && q.attr("node").is_none() {
            Ok(Element::new("query", ns::DISCO_ITEMS))
        } else if q.is("request", ns::HTTP_UPLOAD) {
            self.request(router, &from, q).await
        } else if q.attr("node").is_some() {
            Err(Condition::ItemNotFound.into())
        } else {
            Err(Condition::ServiceUnavailable.into())
        };
        match reply {
            Ok(el) => send_direct(router, st.iq_result(Some(el))),
            Err(e) => send_error(router, &st, e),
        }
    }

    /// Identity `store/file`, the feature, and the XEP-0128 form with
    /// `max-file-size` (XEP-0363 §3).
    fn disco_info(&self) -> Element {
        let mut res = Element::new("query", ns::DISCO_INFO).child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "store")
                .with_attr("type", "file")
                .with_attr("name", "HTTP File Upload"),
        );
        for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::HTTP_UPLOAD] {
            res.push_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", f));
        }
        let field = |var: &str, value: String| {
            Element::new("field", ns::DATA)
                .with_attr("var", var)
                .child(Element::new("value", ns::DATA).with_text(value))
        };
        res.push_child(
            Element::new("x", ns::DATA)
                .with_attr("type", "result")
                .child(field("FORM_TYPE", ns::HTTP_UPLOAD.to_owned()).with_attr("type", "hidden"))
                .child(field(
                    "max-file-size",
                    self.shared.max_file_bytes.to_string(),
                )),
        );
        res
    }

    /// A slot request (XEP-0363 §4) and its errors (§5).
    async fn request(
        &self,
        router: &Arc<Router>,
        from: &Jid,
        q: &Element,
    ) -> Result<Element, StanzaError> {
        let forbidden = || {
            StanzaError::new(ErrorType::Auth, Condition::Forbidden)
                .with_text("Only accounts of this server may upload files here.")
        };
        // Only sessions of local accounts of this domain.
        let full: FullJid = from.clone().try_into_full().map_err(|_| forbidden())?;
        if full.node().is_none()
            || !full.domain().as_str().eq_ignore_ascii_case(&self.parent)
            || !router.is_local_domain(full.domain().as_str())
        {
            return Err(forbidden());
        }
        let bad = |t: &str| StanzaError::new(ErrorType::Modify, Condition::BadRequest).with_text(t);
        let filename = q
            .attr("filename")
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| bad("A file name is required."))?;
        let size: u64 = q
            .attr("size")
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| bad("The size must be a number of bytes."))?;
        let content_type = match q.attr("content-type").map(str::trim) {
            None | Some("") => "application/octet-stream".to_owned(),
            Some(t) if valid_content_type(t) => t.to_owned(),
            Some(_) => return Err(bad("Invalid content type.")),
        };
        let max = self.shared.max_file_bytes;
        if size > max {
            let mut e = StanzaError::new(ErrorType::Modify, Condition::NotAcceptable).with_text(
                format!("File too large. The maximum file size is {max} bytes."),
            );
            e.app = Some(Box::new(
                Element::new("file-too-large", ns::HTTP_UPLOAD).child(
                    Element::new("max-file-size", ns::HTTP_UPLOAD).with_text(max.to_string()),
                ),
            ));
            return Err(e);
        }
        let via = Via::from_onion(router.session(&full).is_some_and(|s| s.via_onion));
        let base = {
            let urls = match self.shared.urls.read() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            urls.for_via(via).map(str::to_owned)
        };
        let Some(base) = base else {
            return Err(Condition::ServiceUnavailable.into());
        };
        let now = now_unix();
        let slot = UploadSlot {
            id: new_slot_id(),
            filename: sanitize_filename(filename),
            size,
            content_type,
            created: now,
            put_expires: now.saturating_add(
                self.shared
                    .slot_valid_secs
                    .min(self.shared.expire_secs)
                    .max(1),
            ),
            stored: false,
        };
        let owner = full.to_bare().to_string();
        match self
            .shared
            .storage
            .create_upload_slot(&owner, &slot, QUOTA_WINDOW_SECS, self.shared.quota)
            .await
        {
            Ok(SlotGrant::Granted) => {}
            Ok(SlotGrant::QuotaReached { retry_at }) => {
                let mut e = StanzaError::new(ErrorType::Wait, Condition::ResourceConstraint)
                    .with_text(format!(
                        "Quota reached. You can upload {} bytes per day.",
                        self.shared.quota
                    ));
                if let Some(stamp) = retry_at.and_then(rfc3339) {
                    e.app = Some(Box::new(
                        Element::new("retry", ns::HTTP_UPLOAD).with_attr("stamp", stamp),
                    ));
                }
                return Err(e);
            }
            Err(storage::Error::NoSuchAccount) => return Err(forbidden()),
            Err(e) => {
                debug!(error = %e, "storing an upload slot failed");
                return Err(Condition::InternalServerError.into());
            }
        }
        let token = self
            .shared
            .token(&slot)
            .ok_or(Condition::InternalServerError)?;
        let url = format!(
            "{base}/upload/{}/{}",
            slot.id,
            percent_encode(&slot.filename)
        );
        Ok(Element::new("slot", ns::HTTP_UPLOAD)
            .child(
                Element::new("put", ns::HTTP_UPLOAD)
                    .with_attr("url", url.clone())
                    .child(
                        Element::new("header", ns::HTTP_UPLOAD)
                            .with_attr("name", "Authorization")
                            .with_text(format!("Bearer {token}")),
                    ),
            )
            .child(Element::new("get", ns::HTTP_UPLOAD).with_attr("url", url)))
    }
}

/// `unix` as an XEP-0082 date-time (UTC).
fn rfc3339(unix: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
}

impl Service for UploadService {
    fn name(&self) -> &str {
        "HTTP File Upload"
    }

    fn handle<'a>(
        &'a self,
        router: &'a Arc<Router>,
        _origin: &'a Origin,
        st: Stanza,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.dispatch(router, st))
    }
}

/// Sends a reply to a local session, or routes it.
fn send_direct(router: &Arc<Router>, el: Element) {
    let to = el.attr("to").and_then(|t| Jid::new(t).ok());
    if let Some(Ok(full)) = to.clone().map(Jid::try_into_full)
        && let Some(s) = router.session(&full)
    {
        s.send(el);
        return;
    }
    if let Some(to) = to {
        let r = router.clone();
        router.spawn(async move {
            let st = Stanza::new_from(el);
            let origin = r.origin_of(&st);
            r.route_inbound(&origin, st, &to).await;
        });
    }
}

fn send_error(router: &Arc<Router>, st: &Stanza, e: StanzaError) {
    if let Some(reply) = st.error_reply(&e) {
        send_direct(router, reply);
    }
}

/// Deletes expired slots and their files, and files without a slot (left by a deleted
/// account, or a crash during an upload).
pub async fn sweep(shared: &Shared) {
    let before = now_unix().saturating_sub(shared.expire_secs);
    match shared.storage.take_expired_uploads(before).await {
        Ok(ids) => {
            for id in ids {
                let _ = tokio::fs::remove_file(shared.path(&id)).await;
            }
        }
        Err(e) => debug!(error = %e, "expiring uploads failed"),
    }
    let Ok(mut dir) = tokio::fs::read_dir(&shared.dir).await else {
        return;
    };
    while let Ok(Some(entry)) = dir.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let orphan = if is_slot_id(name) {
            matches!(shared.storage.upload_exists(name).await, Ok(false))
        } else {
            // Temporary files of uploads in progress: only once their slot is gone.
            is_stale_temp(&shared.storage, name).await
        };
        if orphan {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// A temporary file (`<id>.<random>.part`) whose slot no longer exists.
async fn is_stale_temp(storage: &Storage, name: &str) -> bool {
    let Some(id) = name.strip_suffix(".part").and_then(|n| n.split('.').next()) else {
        return false;
    };
    is_slot_id(id) && matches!(storage.upload_exists(id).await, Ok(false))
}

/// The feature: with `upload.enabled` and `http.enabled`, one XEP-0363 service per hosted
/// domain on `<upload.subdomain>.<domain>` sharing one store, the `/upload/` endpoint
/// and the sweeper of expired files.
pub(super) fn build<'a>(cx: &'a super::BuildCtx<'a>) -> super::BuildResult<'a> {
    Box::pin(async move {
        let mut built = super::Built::default();
        let cfg = &cx.config.upload;
        if !(cfg.enabled && cx.config.http.enabled) {
            return Ok(built);
        }
        let shared =
            Shared::load(cfg, cx.state_dir, cx.storage.clone(), cx.base_urls.clone()).await?;
        for domain in &cx.config.server.domains {
            let service = format!("{}.{domain}", cfg.subdomain);
            let svc: Arc<dyn Service> = UploadService::new(domain.clone(), shared.clone());
            built.services.push((service, svc));
        }
        built.endpoints.push(UploadEndpoint::new(shared.clone()));
        built
            .workers
            .push(Box::pin(run_sweeper(shared, cx.shutdown.clone())));
        Ok(built)
    })
}

/// Runs [`sweep`] now and then every `expire_secs` (at most hourly, at least every
/// second) until `shutdown`.
pub async fn run_sweeper(shared: Arc<Shared>, shutdown: CancellationToken) {
    let every =
        Duration::from_secs(u64::try_from(shared.expire_secs.clamp(1, 3600)).unwrap_or(3600));
    loop {
        sweep(&shared).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitized_and_encoded() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\x\\a b.txt"), "a b.txt");
        assert_eq!(sanitize_filename("a\u{0}\nb"), "ab");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(
            sanitize_filename(&"x".repeat(500)).len(),
            MAX_FILENAME_CHARS
        );
        assert_eq!(percent_encode("a b/ü.txt"), "a%20b%2F%C3%BC.txt");
        assert_eq!(percent_decode("a%20b%2F%C3%BC.txt").unwrap(), "a b/ü.txt");
        assert_eq!(percent_decode("%zz"), None);
        assert!(is_slot_id(&new_slot_id()));
        assert!(!is_slot_id("../x"));
    }

    #[test]
    fn content_types() {
        assert!(valid_content_type("image/png"));
        assert!(valid_content_type("text/plain; charset=utf-8"));
        assert!(!valid_content_type("text/plain\r\nX: y"));
        assert!(!valid_content_type("png"));
    }
}
