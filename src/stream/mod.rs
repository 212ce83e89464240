//! One XML stream over one transport (RFC 6120 §4): bytes in, top-level elements out.
//!
//! [`Transport`] hides whether bytes travel in the clear (only until STARTTLS) or inside
//! TLS, from either end of the connection: TLS accepted by a listener
//! ([`accept_tls`], [`XmlStream::starttls`]) and TLS opened towards a peer
//! ([`connect_tls`], [`XmlStream::starttls_connect`]) give the same type, so a session's
//! code does not depend on who dialled. It is generic over the underlying byte stream,
//! so TCP connections and onion service streams share the session code. [`XmlStream`]
//! owns the transport, the sans-IO [`StreamParser`] and the write path; [`negotiate`]
//! holds the RFC 6120 negotiation steps (stream headers, features, STARTTLS, restarts)
//! that sessions compose.
//!
//! # Security
//! STARTTLS upgrades refuse any bytes the peer pipelined after `<starttls/>` (or, on the
//! initiating side, after `<proceed/>`): the plaintext command-injection class of bugs,
//! CVE-2011-0411 and its XMPP cousins. Such bytes would otherwise be processed as if
//! they had arrived over TLS.
//!
//! Each write must finish within the write timeout ([`XmlStream::set_write_timeout`]),
//! so a peer that stops reading cannot hold a session forever. A write that timed out,
//! failed or was abandoned (its future dropped, e.g. when the session is told to
//! close) leaves the stream [broken](XmlStream::is_broken): it may end mid-element, so
//! nothing more is written to it.

pub mod negotiate;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_rustls::TlsStream;

use crate::ns;
use crate::stanza::StreamCondition;
use crate::xml::{Element, Limits, ParseError, StreamEvent, StreamParser};

/// Bytes read from the socket per read call; the parser buffers only what a pending
/// element needs.
const READ_CHUNK: usize = 4096;

/// The ALPN protocol name of a client-to-server stream over direct TLS (XEP-0368 §3).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// The ALPN protocol name of a server-to-server stream over direct TLS (XEP-0368 §3).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// A byte stream: in the clear or inside TLS.
pub enum Transport<S> {
    /// Before STARTTLS (never used for authentication).
    Plain(S),
    /// After STARTTLS or on direct TLS (XEP-0368), accepted from a peer
    /// ([`TlsStream::Server`]) or opened towards one ([`TlsStream::Client`]).
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
        let Transport::Tls(t) = self else {
            return None;
        };
        if t.get_ref().1.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
            return None;
        }
        const LABEL: &[u8] = b"EXPORTER-Channel-Binding";
        match &**t {
            TlsStream::Server(s) => s.get_ref().1.export_keying_material([0u8; 32], LABEL, None),
            TlsStream::Client(c) => c.get_ref().1.export_keying_material([0u8; 32], LABEL, None),
        }
        .ok()
        .map(|b| b.to_vec())
    }

    /// The ALPN protocol both ends agreed on (e.g. [`ALPN_XMPP_SERVER`]); `None` in the
    /// clear or when none was negotiated.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            Transport::Tls(t) => t.get_ref().1.alpn_protocol(),
            Transport::Plain(_) => None,
        }
    }

    /// The certificate chain the peer presented in the TLS handshake, leaf first (DER);
    /// `None` in the clear or when the peer sent none (a client without a certificate).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        match self {
            Transport::Tls(t) => t.get_ref().1.peer_certificates(),
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
    /// The peer sent data after `<starttls/>` (or after `<proceed/>`) before the TLS
    /// handshake.
    #[error("peer pipelined data before the TLS handshake")]
    Pipelined,
    /// The handshake failed, including a peer certificate the client does not accept
    /// (its cause is then a [`rustls::Error::InvalidCertificate`]).
    #[error("TLS handshake failed")]
    Handshake(#[source] io::Error),
    /// The domain to connect to is not a DNS name a certificate can be checked against.
    #[error("not a valid TLS server name")]
    InvalidName,
}

/// The TLS handshake of a listener, before any XML (XEP-0368 direct TLS): the
/// transport is TLS from the first byte of the stream.
///
/// # Errors
/// [`TlsError::Handshake`] when the handshake fails. No timeout applies: the caller
/// bounds it.
pub async fn accept_tls<S>(
    io: S,
    acceptor: &tokio_rustls::TlsAcceptor,
) -> Result<Transport<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = acceptor.accept(io).await.map_err(TlsError::Handshake)?;
    Ok(Transport::Tls(Box::new(tls.into())))
}

/// The TLS handshake of the initiating side, before any XML (XEP-0368 direct TLS):
/// sends `name` as SNI (RFC 6066 §3) and the connector's ALPN protocols, and checks
/// the peer's certificate against `name` with the connector's verifier.
///
/// # Errors
/// [`TlsError::Handshake`] when the handshake fails or the certificate is refused. No
/// timeout applies: the caller bounds it.
pub async fn connect_tls<S>(
    io: S,
    connector: &tokio_rustls::TlsConnector,
    name: ServerName<'static>,
) -> Result<Transport<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = connector
        .connect(name, io)
        .await
        .map_err(TlsError::Handshake)?;
    Ok(Transport::Tls(Box::new(tls.into())))
}

/// The TLS server name of an XMPP domain (RFC 6120 §13.7.2.1: the certificate is
/// checked against the domain of the stream's `to`).
///
/// # Errors
/// [`TlsError::InvalidName`] when `domain` is not a DNS name (e.g. an IP literal is
/// accepted by rustls, an empty or malformed name is not).
pub fn server_name(domain: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(domain.to_owned()).map_err(|_| TlsError::InvalidName)
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
    /// The stream's content namespace (RFC 6120 §4.8.3): `jabber:client` unless set.
    content_ns: &'static str,
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
            content_ns: ns::CLIENT,
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

    /// Sets the stream's content namespace (RFC 6120 §4.8.3), e.g. `jabber:server` for
    /// a server-to-server stream. Stanzas inside the server are always in
    /// `jabber:client` ([`ns::CLIENT`]); this stream maps what it reads from
    /// `content_ns` into it and writes it back as `content_ns`, so the namespace is
    /// chosen when a stanza is written, not when it is built.
    pub fn set_content_ns(&mut self, content_ns: &'static str) {
        self.content_ns = content_ns;
    }

    /// The stream's content namespace.
    pub fn content_ns(&self) -> &'static str {
        self.content_ns
    }

    /// Next stream event. Cancel-safe: bytes read are fed to the parser before any
    /// other await point. Elements in the stream's content namespace come out in the
    /// server's internal one ([`XmlStream::set_content_ns`]).
    pub async fn next(&mut self) -> Result<StreamEvent, ReadError> {
        loop {
            if let Some(ev) = self.parser.next_event().map_err(ReadError::Parse)? {
                return Ok(match ev {
                    StreamEvent::Element(mut el) if self.content_ns != ns::CLIENT => {
                        el.map_ns(self.content_ns, ns::CLIENT);
                        StreamEvent::Element(el)
                    }
                    ev => ev,
                });
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

    /// Serializes and writes a top-level element in the stream's content namespace
    /// ([`XmlStream::set_content_ns`]). Elements in the stream namespace are written with
    /// the conventional `stream:` prefix.
    pub async fn send(&mut self, el: &Element) -> io::Result<()> {
        self.out.clear();
        write_top_level_as(el, &mut self.out, self.content_ns);
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

    /// Upgrades a cleartext stream to TLS after sending `<proceed/>`, as the receiving
    /// entity (RFC 6120 §5.4.3.3). The parser starts afresh: the next event is the
    /// initiator's new stream header.
    ///
    /// # Errors
    /// [`TlsError::Pipelined`] when bytes followed `<starttls/>`; [`TlsError::Handshake`].
    pub async fn starttls(
        self,
        acceptor: &tokio_rustls::TlsAcceptor,
    ) -> Result<XmlStream<S>, TlsError> {
        self.upgrade(|io| async move { acceptor.accept(io).await.map(TlsStream::from) })
            .await
    }

    /// Upgrades a cleartext stream to TLS after receiving `<proceed/>`, as the
    /// initiating entity (RFC 6120 §5.4.3.3), with SNI `name` and the connector's ALPN
    /// protocols and verifier (see [`connect_tls`]). The parser starts afresh: the
    /// caller sends a new stream header next.
    ///
    /// # Errors
    /// [`TlsError::Pipelined`] when bytes followed `<proceed/>`; [`TlsError::Handshake`],
    /// also when the peer's certificate is refused.
    pub async fn starttls_connect(
        self,
        connector: &tokio_rustls::TlsConnector,
        name: ServerName<'static>,
    ) -> Result<XmlStream<S>, TlsError> {
        self.upgrade(|io| async move { connector.connect(name, io).await.map(TlsStream::from) })
            .await
    }

    /// The common part of both STARTTLS upgrades: refuse pipelined bytes, run
    /// `handshake` on the cleartext stream, keep the limits, deadline and write timeout.
    async fn upgrade<F, Fut>(self, handshake: F) -> Result<XmlStream<S>, TlsError>
    where
        F: FnOnce(S) -> Fut,
        Fut: Future<Output = io::Result<TlsStream<S>>>,
    {
        if self.parser.unconsumed_len() > 0 {
            return Err(TlsError::Pipelined);
        }
        let (limits, deadline, write_timeout, content_ns) = (
            self.limits,
            self.deadline,
            self.write_timeout,
            self.content_ns,
        );
        let transport = match self.transport {
            Transport::Plain(s) => {
                Transport::Tls(Box::new(handshake(s).await.map_err(TlsError::Handshake)?))
            }
            tls @ Transport::Tls(_) => tls,
        };
        let mut upgraded = XmlStream::new(transport, limits);
        upgraded.set_deadline(deadline);
        upgraded.set_write_timeout(write_timeout);
        upgraded.set_content_ns(content_ns);
        Ok(upgraded)
    }
}

/// Writes a top-level element for a `jabber:client` stream: `stream:`-prefixed when in
/// the stream namespace.
pub fn write_top_level(el: &Element, out: &mut Vec<u8>) {
    write_top_level_as(el, out, ns::CLIENT);
}

/// Writes a top-level element for a stream whose content namespace is `content_ns`:
/// what is in the server's internal `jabber:client` is written as `content_ns`.
pub fn write_top_level_as(el: &Element, out: &mut Vec<u8>, content_ns: &str) {
    if el.ns() == ns::STREAM {
        out.extend_from_slice(b"<stream:");
        out.extend_from_slice(el.name().as_bytes());
        out.push(b'>');
        for c in el.children() {
            c.write_content(out, ns::CLIENT, content_ns);
        }
        out.extend_from_slice(b"</stream:");
        out.extend_from_slice(el.name().as_bytes());
        out.push(b'>');
    } else {
        el.write_content(out, ns::CLIENT, content_ns);
    }
}

/// The server's stream header (RFC 6120 §4.7) for a client stream.
pub fn server_header(from: &str, id: &str) -> String {
    negotiate::Header {
        content_ns: ns::CLIENT,
        from: Some(from),
        to: None,
        id: Some(id),
    }
    .to_xml()
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

/// Builds the connector for a rustls client configuration
/// ([`crate::tls::client_config`]).
pub fn connector(cfg: Arc<rustls::ClientConfig>) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(cfg)
}
