//! Security headers on the answers hyper writes by itself.
//!
//! hyper answers a request it cannot parse (a bad method, header, URI or version:
//! `400`; headers too large: `431`; URI too long: `414`) on its own, before any service
//! runs, and offers no hook to change that answer. [`SecureErrors`] wraps the I/O of a
//! connection and follows the responses written on it: each response head is held back
//! until it is complete; a head without `Content-Security-Policy` (every answer of
//! [`super::HttpService`] has one, [`super::secure`]) is hyper's own and gets the
//! missing security headers inserted before it is sent. Bodies pass through untouched,
//! framed by `Content-Length` (none after a `HEAD`, `1xx`, `204` or `304`).
//!
//! # Limitations
//! After a chunked or close-delimited response body (the service sends none today:
//! every body has a length), the rest of the connection passes through unchanged.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite};

/// Longest response head followed; a longer one (never sent by this server) makes
/// the rest of the connection pass through.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The request methods of a connection, in order, as the service saw them: whether each
/// was `HEAD` (its response has a `Content-Length` but no body).
#[derive(Clone, Default)]
pub struct Requests(Arc<Mutex<VecDeque<bool>>>);

impl Requests {
    /// Records a request the service is answering; `head` when its method is `HEAD`.
    pub fn push(&self, head: bool) {
        self.lock().push_back(head);
    }

    fn pop(&self) -> bool {
        self.lock().pop_front().unwrap_or(false)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<bool>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Where the outgoing byte stream is.
enum State {
    /// Collecting a response head (bytes so far).
    Head(Vec<u8>),
    /// Inside a body: bytes left.
    Body(u64),
    /// No longer followed: bytes pass through.
    Raw,
}

/// I/O whose outgoing responses are followed so that hyper's own error answers get
/// the security headers (see the module documentation). Reads pass through.
pub struct SecureErrors<IO> {
    io: IO,
    state: State,
    /// Bytes accepted from the writer but not yet written to `io` (a finished head).
    out: Vec<u8>,
    out_pos: usize,
    requests: Requests,
}

impl<IO> SecureErrors<IO> {
    /// Wraps `io`; `requests` is fed by the service of the same connection.
    pub fn new(io: IO, requests: Requests) -> Self {
        Self {
            io,
            state: State::Head(Vec::new()),
            out: Vec::new(),
            out_pos: 0,
            requests,
        }
    }
}

impl<IO: AsyncWrite + Unpin> SecureErrors<IO> {
    /// Writes what is held in `out`.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

/// The header lines (`name: value\r\n`) every answer carries, from [`super::secure`].
static SECURITY_HEADERS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut r = hyper::Response::new(super::ResponseBody::default());
    super::secure(&mut r);
    r.headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
});

/// A complete response head: the bytes to send (with the security headers added when
/// it has no CSP) and the state after it.
fn finish_head(head: &[u8], requests: &Requests) -> (Vec<u8>, State) {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = resp.parse(head) else {
        return (head.to_vec(), State::Raw);
    };
    let code = resp.code.unwrap_or(0);
    if (100..200).contains(&code) {
        return (head.to_vec(), State::Head(Vec::new()));
    }
    let was_head = requests.pop();
    let has = |name: &str| {
        resp.headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    let value = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
    };
    let next = if was_head || code == 204 || code == 304 {
        State::Head(Vec::new())
    } else if has("transfer-encoding") {
        State::Raw
    } else {
        match value("content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(0) => State::Head(Vec::new()),
            Some(n) => State::Body(n),
            None => State::Raw,
        }
    };
    if has("content-security-policy") {
        return (head.to_vec(), next);
    }
    // hyper's own answer: add every security header it lacks before the blank line.
    let mut out = head[..head.len() - 2].to_vec();
    for (name, v) in SECURITY_HEADERS.iter() {
        if !has(name) {
            out.extend_from_slice(format!("{name}: {v}\r\n").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    (out, next)
}

impl<IO: AsyncRead + Unpin> AsyncRead for SecureErrors<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for SecureErrors<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        match &mut this.state {
            State::Raw => Pin::new(&mut this.io).poll_write(cx, buf),
            State::Body(left) => {
                let take = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                let n = ready!(Pin::new(&mut this.io).poll_write(cx, &buf[..take]))?;
                *left -= n as u64;
                if *left == 0 {
                    this.state = State::Head(Vec::new());
                }
                Poll::Ready(Ok(n))
            }
            State::Head(head) => {
                let mut used = 0;
                for &b in buf {
                    head.push(b);
                    used += 1;
                    if head.ends_with(b"\r\n\r\n") {
                        break;
                    }
                }
                let complete = head.ends_with(b"\r\n\r\n");
                let foreign = head.len() >= 5 && !head.starts_with(b"HTTP/");
                if complete || foreign || head.len() > MAX_HEAD_BYTES {
                    let head = std::mem::take(head);
                    let (out, next) = if complete && !foreign {
                        finish_head(&head, &this.requests)
                    } else {
                        (head, State::Raw)
                    };
                    this.out = out;
                    this.out_pos = 0;
                    this.state = next;
                    // Accepted either way; what `io` does not take now is written
                    // before the next write or by the next flush.
                    if let Poll::Ready(Err(e)) = this.drain(cx) {
                        return Poll::Ready(Err(e));
                    }
                }
                Poll::Ready(Ok(used))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if let State::Head(head) = &mut this.state
            && !head.is_empty()
        {
            // A flush in the middle of a head (never done by hyper): send it as is.
            this.out = std::mem::take(head);
            this.out_pos = 0;
            this.state = State::Raw;
        }
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_error_heads_get_the_security_headers() {
        let q = Requests::default();
        let raw = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let (out, next) = finish_head(raw, &q);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n"));
        assert!(text.contains("content-security-policy: default-src 'none'"));
        assert!(text.contains("x-content-type-options: nosniff"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(matches!(next, State::Head(_)));
    }

    #[test]
    fn own_heads_pass_unchanged_and_frame_the_body() {
        let q = Requests::default();
        q.push(false);
        q.push(true);
        let raw = b"HTTP/1.1 200 OK\r\ncontent-security-policy: x\r\ncontent-length: 12\r\n\r\n";
        let (out, next) = finish_head(raw, &q);
        assert_eq!(out, raw);
        assert!(matches!(next, State::Body(12)));
        // The answer to a HEAD has no body.
        let (_, next) = finish_head(raw, &q);
        assert!(matches!(next, State::Head(_)));
    }
}
