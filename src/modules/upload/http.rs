//! The `/upload/` endpoint: PUT stores a slot's file, GET (and HEAD) serves it.
//!
//! PUT `/upload/<id>/<name>` (XEP-0363 §6):
//! - `401` without a token (`Authorization: Bearer <token>` or `?token=`), `403` for
//!   a wrong token or a slot whose PUT time is over, `404` for an unknown slot,
//!   `409` when the file was already uploaded;
//! - `411` without `Content-Length`, `413` when it is larger than the slot's size,
//!   `400` when it is smaller, or the body is not exactly that long, or the
//!   `Content-Type` differs from the slot's;
//! - `201 Created` once the file is on disk.
//!
//! GET/HEAD: `200` with the stored type, or `404` (unknown, not uploaded, expired).
//! A GET streams the file from disk ([`CHUNK_BYTES`] at a time) while it holds one of
//! the `upload.max_concurrent_downloads` places; when none is free it is answered
//! `503 Service Unavailable` with `Retry-After: 5`.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};
use tokio::io::AsyncWriteExt;
use tracing::debug;

use super::{Shared, is_slot_id, now_unix, percent_decode, percent_encode};
use crate::http::{Endpoint, HttpRequest, ResponseBody};
use crate::storage::UploadSlot;

/// Bytes read from disk and sent per chunk of a download.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Seconds a client is told to wait (`Retry-After`) when every download place is taken.
const RETRY_AFTER_SECS: u32 = 5;

/// The HTTP side of the upload service.
pub struct UploadEndpoint {
    shared: Arc<Shared>,
}

impl UploadEndpoint {
    /// The endpoint over the state shared with the upload services.
    pub fn new(shared: Arc<Shared>) -> Arc<UploadEndpoint> {
        Arc::new(UploadEndpoint { shared })
    }
}

impl Endpoint for UploadEndpoint {
    fn prefix(&self) -> &'static str {
        "/upload/"
    }

    fn handle<'a>(&'a self, req: HttpRequest) -> BoxFuture<'a, Response<ResponseBody>> {
        Box::pin(async move {
            match self.serve(req).await {
                Ok(r) | Err(r) => r,
            }
        })
    }
}

type Answer = Result<Response<ResponseBody>, Response<ResponseBody>>;

/// A short plain-text answer.
fn status(code: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut r = Response::new(ResponseBody::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_found() -> Response<ResponseBody> {
    status(StatusCode::NOT_FOUND, "Not found.\n")
}

/// Types a browser shows without running anything; everything else is an attachment.
fn passive_type(t: &str) -> bool {
    let t = t.split(';').next().unwrap_or_default().trim();
    let t = t.to_ascii_lowercase();
    matches!(
        t.as_str(),
        "text/plain" | "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "image/avif"
    ) || t.starts_with("audio/")
        || t.starts_with("video/")
}

impl UploadEndpoint {
    /// The slot named by `/upload/<id>/<name>`, if the name matches too.
    async fn slot(&self, path: &str) -> Result<UploadSlot, Response<ResponseBody>> {
        let rest = path.strip_prefix("/upload/").ok_or_else(not_found)?;
        let (id, name) = rest.split_once('/').ok_or_else(not_found)?;
        if !is_slot_id(id) {
            return Err(not_found());
        }
        let slot = match self.shared.storage.upload_slot(id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(not_found()),
            Err(e) => {
                debug!(error = %e, "reading an upload slot failed");
                return Err(status(StatusCode::INTERNAL_SERVER_ERROR, "Error.\n"));
            }
        };
        if percent_decode(name).as_deref() != Some(slot.filename.as_str()) {
            return Err(not_found());
        }
        Ok(slot)
    }

    async fn serve(&self, req: HttpRequest) -> Answer {
        match req.method {
            Method::PUT => self.put(req).await,
            Method::GET | Method::HEAD => self.get(req).await,
            _ => {
                let mut r = status(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed.\n");
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, PUT"));
                Err(r)
            }
        }
    }

    async fn get(&self, req: HttpRequest) -> Answer {
        let slot = self.slot(&req.path).await?;
        let now = now_unix();
        if !slot.stored || slot.created.saturating_add(self.shared.expire_secs) <= now {
            return Err(not_found());
        }
        let permit = if req.method == Method::HEAD {
            None
        } else {
            match self.shared.downloads.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let mut r = status(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Too many downloads at once; retry later.\n",
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                    return Err(r);
                }
            }
        };
        let file = tokio::fs::File::open(self.shared.path(&slot.id))
            .await
            .map_err(|_| not_found())?;
        let len = file.metadata().await.map_err(|_| not_found())?.len();
        let body = match permit {
            None => ResponseBody::default(),
            Some(permit) => {
                let chunks = tokio_util::io::ReaderStream::with_capacity(file, CHUNK_BYTES);
                // The permit lives as long as the body: until the last chunk is sent
                // or the connection ends.
                ResponseBody::stream(futures_util::StreamExt::map(chunks, move |c| {
                    let _held = &permit;
                    c
                }))
            }
        };
        let mut r = Response::new(body);
        let h = r.headers_mut();
        let ctype = HeaderValue::from_str(&slot.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let disposition = if passive_type(&slot.content_type) {
            "inline"
        } else {
            "attachment"
        };
        h.insert(header::CONTENT_TYPE, ctype);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{disposition}; filename*=UTF-8''{}",
            percent_encode(&slot.filename)
        )) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
        );
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-transform"),
        );
        Ok(r)
    }

    async fn put(&self, req: HttpRequest) -> Answer {
        let slot = self.slot(&req.path).await?;
        let token = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v).to_owned())
            .or_else(|| {
                req.query.as_deref().and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("token="))
                        .map(str::to_owned)
                })
            });
        let Some(token) = token else {
            let mut r = status(StatusCode::UNAUTHORIZED, "A token is required.\n");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Err(r);
        };
        if !self.shared.token_ok(&slot, &token) {
            return Err(status(StatusCode::FORBIDDEN, "Invalid token.\n"));
        }
        if slot.stored {
            return Err(status(StatusCode::CONFLICT, "Already uploaded.\n"));
        }
        if slot.put_expires <= now_unix() {
            return Err(status(StatusCode::FORBIDDEN, "The upload slot expired.\n"));
        }
        let length: u64 = match req.headers.get(header::CONTENT_LENGTH) {
            None => {
                return Err(status(
                    StatusCode::LENGTH_REQUIRED,
                    "Content-Length is required.\n",
                ));
            }
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| status(StatusCode::BAD_REQUEST, "Bad Content-Length.\n"))?,
        };
        if length > slot.size {
            return Err(status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Larger than the slot's size.\n",
            ));
        }
        if length != slot.size {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "Content-Length differs from the slot's size.\n",
            ));
        }
        if let Some(t) = req.headers.get(header::CONTENT_TYPE) {
            let same = t
                .to_str()
                .is_ok_and(|t| t.trim().eq_ignore_ascii_case(&slot.content_type));
            if !same {
                return Err(status(
                    StatusCode::BAD_REQUEST,
                    "Content-Type differs from the slot's.\n",
                ));
            }
        }
        let tmp = self.shared.dir.join(format!(
            "{}.{}.part",
            slot.id,
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let written = write_body(req.body, &tmp, slot.size).await;
        if let Err(r) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(r);
        }
        match self.shared.storage.mark_upload_stored(&slot.id).await {
            Ok(true) => {}
            Ok(false) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(status(StatusCode::CONFLICT, "Already uploaded.\n"));
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                debug!(error = %e, "marking an upload stored failed");
                return Err(status(StatusCode::INTERNAL_SERVER_ERROR, "Error.\n"));
            }
        }
        if let Err(e) = tokio::fs::rename(&tmp, self.shared.path(&slot.id)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            debug!(error = %e, "storing an upload failed");
            return Err(status(StatusCode::INTERNAL_SERVER_ERROR, "Error.\n"));
        }
        Ok(status(StatusCode::CREATED, "Created.\n"))
    }
}

/// Streams `body` into a new file `tmp` (mode 0600); exactly `size` bytes, or an error
/// answer (the caller removes the file).
async fn write_body(
    mut body: hyper::body::Incoming,
    tmp: &std::path::Path,
    size: u64,
) -> Result<(), Response<ResponseBody>> {
    let internal = |e: std::io::Error| {
        debug!(error = %e, "writing an upload failed");
        status(StatusCode::INTERNAL_SERVER_ERROR, "Error.\n")
    };
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut file = opts.open(tmp).await.map_err(internal)?;
    let mut got: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| status(StatusCode::BAD_REQUEST, "The upload was cut short.\n"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        got = got.saturating_add(data.len() as u64);
        if got > size {
            return Err(status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Larger than the slot's size.\n",
            ));
        }
        file.write_all(&data).await.map_err(internal)?;
    }
    if got != size {
        return Err(status(
            StatusCode::BAD_REQUEST,
            "The body differs from the slot's size.\n",
        ));
    }
    file.sync_all().await.map_err(internal)?;
    Ok(())
}
