//! One XML stream over one transport (RFC 6120 §4): bytes in, top-level elements out.
//!
//! [`Transport`] hides whether bytes travel in the clear (only until STARTTLS) or inside
//! TLS; it is generic over the underlying byte stream, so TCP connections and (later)
//! onion service streams share the session code. [`XmlStream`] owns the transport, the
//! sans-IO [`StreamParser`] and the write path.
//!
//! # Security
//! STARTTLS upgrades refuse any bytes the client pipelined after `<starttls/>` (the
//! plaintext command-injection class of bugs, CVE-2011-0411 and its XMPP cousins): such
//! bytes would otherwise be processed as if they had arrived over TLS.
//!
//! Each write must finish within the write timeout ([`XmlStream::set_write_timeout`]),
//! so a peer that stops reading cannot hold a session forever. A write that timed out,
//! failed or was abandoned (its future dropped, e.g. when the session is told to
//! close) leaves the stream [broken](XmlStream::is_broken): it may end mid-element, so
//! nothing more is written to it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::server::TlsStream;

use crate::ns;
use crate::stanza::StreamCondition;
use crate::xml::{Element, Limits, ParseError, StreamEvent, StreamParser};

/// Bytes read from the socket per read call; the parser buffers only what a pending
/// element needs.
const READ_CHUNK: usize = 4096;

/// A byte stream: in the clear or inside TLS.
pub enum Transport<S> {
    /// Before STARTTLS (never used for authentication).
    Plain(S),
    /// After STARTTLS or on a direct TLS listener (XEP-0368).
    Tls(Box<TlsStream<S>>),
}

impl<S> Transport<S> {
    /// Whether TLS protects this transport.
    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// The RFC 9266 `tls-exporter` channel binding (32 bytes, label
    /// "EXPORTER-Channel-Binding", no context), only on TLS 1.3 where it is safe without
    /// the extended master secret; `None` otherwise.
    pub fn tls_exporter(&self) -> Option<Vec<u8>> {
        match self {
            Transport::Tls(t) => {
                let conn = t.get_ref().1;
                if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
                    return None;
                }
                conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
                    .ok()
                    .map(|b| b.to_vec())
            }
            Transport::Plain(_) => None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_flush(cx),
            Transport::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Why reading from a stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection (TCP EOF).
    #[error("connection closed by peer")]
    Eof,
    /// The deadline set with [`XmlStream::set_deadline`] passed.
    #[error("deadline passed")]
    Timeout,
    /// The socket failed.
    #[error("connection failed")]
    Io(#[source] io::Error),
    /// The peer sent XML the parser refused; answer with the mapped stream error.
    #[error("invalid XML from peer")]
    Parse(#[source] ParseError),
}

impl ReadError {
    /// The stream error to send before closing, if the connection is still writable.
    pub fn condition(&self) -> Option<StreamCondition> {
        match self {
            ReadError::Parse(e) => Some(StreamCondition::from(e)),
            ReadError::Timeout => Some(StreamCondition::ConnectionTimeout),
            _ => None,
        }
    }
}

/// Failure to upgrade to TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The client sent data after `<starttls/>` before `<proceed/>`.
    #[error("client pipelined data before the TLS handshake")]
    Pipelined,
    /// The handshake failed.
    #[error("TLS handshake failed")]
    Handshake(#[source] io::Error),
}

/// An XMPP stream over a transport.
pub struct XmlStream<S> {
    transport: Transport<S>,
    parser: StreamParser,
    limits: Limits,
    out: Vec<u8>,
    read_buf: Vec<u8>,
    deadline: Option<tokio::time::Instant>,
    write_timeout: Option<std::time::Duration>,
    broken: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> XmlStream<S> {
    /// Wraps a transport with a fresh parser.
    pub fn new(transport: Transport<S>, limits: Limits) -> Self {
        Self {
            transport,
            parser: StreamParser::new(limits),
            limits,
            out: Vec::new(),
            read_buf: Vec::new(),
            deadline: None,
            write_timeout: None,
            broken: false,
        }
    }

    /// Each write (write and flush of one stanza or header) fails with
    /// [`io::ErrorKind::TimedOut`] when it takes longer than `timeout`; `None`: no limit.
    pub fn set_write_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.write_timeout = timeout;
    }

    /// Whether a write failed, timed out or was abandoned midway: the peer may have
    /// part of an element, so the stream takes no more writes.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Reads fail with [`ReadError::Timeout`] (mapped to `connection-timeout`,
    /// RFC 6120 §4.9.3.4) once `deadline` passes; `None` removes the deadline.
    pub fn set_deadline(&mut self, deadline: Option<tokio::time::Instant>) {
        self.deadline = deadline;
    }

    /// The transport (for TLS state).
    pub fn transport(&self) -> &Transport<S> {
        &self.transport
    }

    /// Next stream event. Cancel-safe: bytes read are fed to the parser before any
    /// other await point.
    pub async fn next(&mut self) -> Result<StreamEvent, ReadError> {
        loop {
            if let Some(ev) = self.parser.next_event().map_err(ReadError::Parse)? {
                return Ok(ev);
            }
            if self.read_buf.len() != READ_CHUNK {
                self.read_buf.resize(READ_CHUNK, 0);
            }
            let read = self.transport.read(&mut self.read_buf);
            let n = match self.deadline {
                Some(d) => tokio::time::timeout_at(d, read)
                    .await
                    .map_err(|_| ReadError::Timeout)?,
                None => read.await,
            }
            .map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Eof);
            }
            self.parser.feed(&self.read_buf[..n]);
        }
    }

    /// Forget the current stream and expect a new header (RFC 6120 §5.4.3.3, §6.4.6).
    pub fn reset(&mut self) {
        self.parser.reset();
    }

    /// Writes raw, already-serialized XML and flushes it, within the write timeout.
    ///
    /// # Errors
    /// The transport's error; [`io::ErrorKind::TimedOut`] after the write timeout;
    /// [`io::ErrorKind::BrokenPipe`] if the stream is [broken](Self::is_broken). After any
    /// error, and when this future is dropped before it finished, the stream is broken.
    pub async fn send_raw(&mut self, xml: &[u8]) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stream broken by an earlier write",
            ));
        }
        // Set until the write completed: a dropped future leaves it set.
        self.broken = true;
        let transport = &mut self.transport;
        let write = async {
            transport.write_all(xml).await?;
            transport.flush().await
        };
        let r = match self.write_timeout {
            Some(t) => tokio::time::timeout(t, write).await.unwrap_or_else(|_| {
                Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"))
            }),
            None => write.await,
        };
        if r.is_ok() {
            self.broken = false;
        }
        r
    }

    /// Serializes and writes a top-level element in the `jabber:client` content namespace.
    /// Elements in the stream namespace are written with the conventional `stream:` prefix.
    pub async fn send(&mut self, el: &Element) -> io::Result<()> {
        self.out.clear();
        write_top_level(el, &mut self.out);
        let out = std::mem::take(&mut self.out);
        let r = self.send_raw(&out).await;
        self.out = out;
        r
    }

    /// Writes a [`SharedStanza`](crate::router::SharedStanza)'s head, `to` (already
    /// escaped, see [`attr_value`]) and tail as one write.
    pub async fn send_split(&mut self, head: &[u8], to: &[u8], tail: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(to);
        self.out.extend_from_slice(tail);
        let out = std::mem::take(&mut self.out);
        let r = self.send_raw(&out).await;
        self.out = out;
        r
    }

    /// Sends a stream error and the closing tag, then shuts the transport down
    /// (RFC 6120 §4.9.1.1). Errors are ignored: the stream is over either way.
    /// A [broken](Self::is_broken) stream gets nothing written: the transport is
    /// simply dropped by the caller.
    pub async fn close_with(&mut self, cond: Option<StreamCondition>) {
        if self.broken {
            return;
        }
        if let Some(c) = cond {
            let _ = self.send(&c.to_element()).await;
        }
        let _ = self.send_raw(b"</stream:stream>").await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.transport.shutdown())
            .await;
    }

    /// Upgrades a cleartext stream to TLS after `<proceed/>` (RFC 6120 §5.4.3.3).
    pub async fn starttls(
        self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<XmlStream<S>, TlsError> {
        if self.parser.unconsumed_len() > 0 {
            return Err(TlsError::Pipelined);
        }
        let (limits, deadline, write_timeout) = (self.limits, self.deadline, self.write_timeout);
        let transport = match self.transport {
            Transport::Plain(s) => Transport::Tls(Box::new(
                acceptor.accept(s).await.map_err(TlsError::Handshake)?,
            )),
            tls @ Transport::Tls(_) => tls,
        };
        let mut upgraded = XmlStream::new(transport, limits);
        upgraded.set_deadline(deadline);
        upgraded.set_write_timeout(write_timeout);
        Ok(upgraded)
    }
}

/// Writes a top-level element: `stream:`-prefixed when in the stream namespace.
pub fn write_top_level(el: &Element, out: &mut Vec<u8>) {
    if el.ns() == ns::STREAM {
        out.extend_from_slice(b"<stream:");
        out.extend_from_slice(el.name().as_bytes());
        out.push(b'>');
        for c in el.children() {
            c.write_to(out, ns::CLIENT);
        }
        out.extend_from_slice(b"</stream:");
        out.extend_from_slice(el.name().as_bytes());
        out.push(b'>');
    } else {
        el.write_to(out, ns::CLIENT);
    }
}

/// The server's stream header (RFC 6120 §4.7) for a client stream.
pub fn server_header(from: &str, id: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' from='{}' id='{}' version='1.0' xml:lang='en'>",
        ns::CLIENT,
        ns::STREAM,
        attr_escape(from),
        attr_escape(id)
    )
}

/// `value` escaped as the serializer escapes a single-quoted attribute value
/// ([`Element::write_to`]), taken from a serialized `<a v='…'/>` so both agree byte for byte.
pub fn attr_value(value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Element::new("a", ns::CLIENT)
        .with_attr("v", value)
        .write_to(&mut out, ns::CLIENT);
    let end = out.len().saturating_sub(b"'/>".len());
    out.get(b"<a v='".len()..end)
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('\'', "&apos;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// Builds the acceptor for a rustls configuration.
pub fn acceptor(cfg: Arc<rustls::ServerConfig>) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(cfg)
}
