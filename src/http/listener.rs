//! The hyper service, its security headers, and the serving of one connection.

use std::convert::Infallible;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::hyper_errors::{Requests, SecureErrors};
use super::{Endpoints, FingerprintPages, HttpRequest, ResponseBody, Via};

/// The Content-Security-Policy of every response that does not set its own: nothing
/// but same-origin styles and images, no framing, no forms, no base URL changes.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; \
     form-action 'none'; base-uri 'none'";

/// Time a client has to send a request's headers (slow-header defence).
const HEADER_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything the HTTP listener serves: the endpoints and the built-in pages.
#[derive(Debug)]
pub struct HttpService {
    endpoints: Endpoints,
    pages: FingerprintPages,
    send_timeout: Duration,
}

impl HttpService {
    /// A service over `endpoints` and the fingerprint `pages`; a connection whose
    /// writes make no progress for `send_timeout` (`http.send_timeout_secs`) is dropped.
    pub fn new(endpoints: Endpoints, pages: FingerprintPages, send_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            endpoints,
            pages,
            send_timeout,
        })
    }

    /// Answers one request, with the security headers.
    pub async fn respond(
        &self,
        req: Request<hyper::body::Incoming>,
        via: Via,
    ) -> Response<ResponseBody> {
        let mut resp = self.route(req, via).await;
        secure(&mut resp);
        resp
    }

    async fn route(&self, req: Request<hyper::body::Incoming>, via: Via) -> Response<ResponseBody> {
        let path = req.uri().path().to_owned();
        let page = match path.as_str() {
            "/fingerprints" => Some((&self.pages.html, "text/html; charset=utf-8")),
            "/fingerprints.txt" => Some((&self.pages.text, "text/plain; charset=utf-8")),
            "/style.css" => Some((&STYLE, "text/css; charset=utf-8")),
            _ => None,
        };
        if let Some((body, content_type)) = page {
            if req.method() != Method::GET && req.method() != Method::HEAD {
                let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
                r.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return r;
            }
            let mut r = Response::new(ResponseBody::new(body.clone()));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            return r;
        }
        let Some(endpoint) = self.endpoints.find(&path) else {
            return status(StatusCode::NOT_FOUND);
        };
        let (parts, body) = req.into_parts();
        endpoint
            .handle(HttpRequest {
                method: parts.method,
                query: parts.uri.query().map(str::to_owned),
                path,
                headers: parts.headers,
                body,
                via,
            })
            .await
    }
}

static STYLE: bytes::Bytes = bytes::Bytes::from_static(super::fingerprints::STYLE.as_bytes());

/// A plain-text response with the status's reason as body.
pub fn status(code: StatusCode) -> Response<ResponseBody> {
    let text = format!("{}\n", code.canonical_reason().unwrap_or("error"));
    let mut r = Response::new(ResponseBody::new(text.into()));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Adds the security headers to a response: the CSP and `Cache-Control: no-store`
/// unless the endpoint set its own, always `Referrer-Policy: no-referrer`,
/// `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` and
/// `Cross-Origin-Resource-Policy: same-origin`; removes any `Set-Cookie`.
pub fn secure(resp: &mut Response<ResponseBody>) {
    let h = resp.headers_mut();
    h.remove(header::SET_COOKIE);
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// Serves HTTP/1.1 on one connection (TLS already terminated, or plain) until the
/// client closes it or `shutdown` fires (then in-flight requests finish first). A write
/// or flush that makes no progress for the service's send timeout ends the connection
/// ([`WriteTimeout`]), dropping the response (and the download place it holds).
pub async fn serve_io<IO>(svc: Arc<HttpService>, io: IO, via: Via, shutdown: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = Requests::default();
    let io = WriteTimeout::new(SecureErrors::new(io, requests.clone()), svc.send_timeout);
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        requests.push(req.method() == Method::HEAD);
        let svc = svc.clone();
        async move { Ok::<_, Infallible>(svc.respond(req, via).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!(error = %e, "http connection ended with an error");
    }
}

/// An I/O object whose writes, flushes and shutdown fail with
/// [`std::io::ErrorKind::TimedOut`] once they have been pending, without any progress,
/// for `timeout`: a peer that stops reading cannot hold a response (and its buffers)
/// forever. Reads are passed through untouched.
pub struct WriteTimeout<IO> {
    io: IO,
    timeout: Duration,
    /// Armed while a write is pending; reset by any progress.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO> WriteTimeout<IO> {
    /// Wraps `io` with a no-progress `timeout`.
    pub fn new(io: IO, timeout: Duration) -> Self {
        Self {
            io,
            timeout,
            deadline: None,
        }
    }

    /// Called when the inner write is pending: arms the deadline on the first call and
    /// fails once it passes.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        let timeout = self.timeout;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match r {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.deadline = None;
                ready
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteTimeout<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.guard(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.guard(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.guard(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.guard(cx, r)
    }
}

/// Serves one connection of the HTTP listener until it ends or `shutdown` fires: after
/// a TLS handshake with `tls` (which must finish within the header timeout) when given,
/// else in plain HTTP ([`serve_io`]). It is handed no peer address.
pub async fn serve_conn<IO>(
    svc: Arc<HttpService>,
    io: IO,
    tls: Option<tokio_rustls::TlsAcceptor>,
    via: Via,
    shutdown: CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tls {
        None => serve_io(svc, io, via, shutdown).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(io));
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                s = handshake => s,
            };
            match stream {
                Ok(Ok(s)) => serve_io(svc, s, via, shutdown).await,
                _ => debug!("http TLS handshake failed"),
            }
        }
    }
}

/// The clearnet base URL: `public_url` when set, else derived from the first bound
/// address: `https://<domain>:<port>` with TLS, `http://<address>` without.
pub fn clearnet_base(
    public_url: &str,
    tls: bool,
    domain: &str,
    first: Option<SocketAddr>,
) -> Option<String> {
    if !public_url.is_empty() {
        return Some(public_url.trim_end_matches('/').to_owned());
    }
    let addr = first?;
    Some(if tls {
        format!("https://{domain}:{}", addr.port())
    } else {
        format!("http://{addr}")
    })
}

/// The onion base URL for an onion address whose virtual port `port` feeds HTTP:
/// `http://<address>` for port 80, `http://<address>:<port>` otherwise.
pub fn onion_base(address: &str, port: u16) -> String {
    if port == 80 {
        format!("http://{address}")
    } else {
        format!("http://{address}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let a: SocketAddr = "127.0.0.1:5443".parse().unwrap();
        assert_eq!(
            clearnet_base("", true, "localhost", Some(a)).as_deref(),
            Some("https://localhost:5443")
        );
        assert_eq!(
            clearnet_base("", false, "localhost", Some(a)).as_deref(),
            Some("http://127.0.0.1:5443")
        );
        assert_eq!(
            clearnet_base("https://x.example", true, "localhost", None).as_deref(),
            Some("https://x.example")
        );
        assert_eq!(clearnet_base("", true, "localhost", None), None);
        assert_eq!(onion_base("a.onion", 80), "http://a.onion");
        assert_eq!(onion_base("a.onion", 8080), "http://a.onion:8080");
    }

    #[test]
    fn security_headers_are_added_and_cookies_removed() {
        let mut r = status(StatusCode::NOT_FOUND);
        r.headers_mut()
            .insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
        secure(&mut r);
        let h = r.headers();
        assert!(h.get(header::SET_COOKIE).is_none());
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
    }
}
