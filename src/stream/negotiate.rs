//! The steps of RFC 6120 stream negotiation (§4.3), from either end of a stream.
//!
//! Negotiation runs in rounds. Each round opens a stream (§4.2: the initiating entity
//! sends its header, the receiving entity answers with its own), the receiving entity
//! sends its features (§4.3.2) and the initiating entity uses one. A feature that
//! changes the connection, STARTTLS (§5) or SASL (§6), ends the round: both ends
//! restart the stream (§4.3.3) and begin the next round over the new state.
//!
//! Receiving entity (client-to-server, inbound server-to-server):
//! [`accept_header`], then the session's features sent with [`XmlStream::send`],
//! [`next_element`] for what the initiator chose, [`accept_starttls`] or
//! [`refuse_starttls`]. The restart after TLS is the stream [`accept_starttls`]
//! returns; after SASL success it is [`XmlStream::reset`]. Both are followed by
//! [`accept_header`] again.
//!
//! Initiating entity (outbound server-to-server): [`open_stream`], [`read_features`],
//! [`offers_starttls`], [`starttls`], then [`restart`] over the new stream; after SASL
//! success [`restart`] again.
//!
//! What a session offers (SASL mechanisms, accounts, resource binding, dialback) is
//! the session's; this module knows streams only. Limits on time are the caller's too:
//! [`Deadlines`] computes the usual two, and reads end at the deadline set on the
//! stream ([`XmlStream::set_deadline`]).
//!
//! # Errors
//! A step that fails has already answered the peer as RFC 6120 asks: a stream error
//! where one is due and the closing tag (§4.9.1.1), a TLS `<failure/>` (§5.4.2.2). The
//! caller only drops the stream; the [`NegotiationError`] says why, for the debug log.
//!
//! # Limitations
//! [`XmlStream::send`] writes elements in the `jabber:client` content namespace; a
//! `jabber:server` stream's elements get an explicit `xmlns`.

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::debug;

use super::{ReadError, TlsError, Transport, XmlStream, attr_escape};
use crate::ns;
use crate::stanza::StreamCondition;
use crate::xml::{Element, StreamEvent, StreamHeader};

#[cfg(test)]
mod tests;

/// Why a negotiation step ended the stream.
#[derive(Debug, thiserror::Error)]
pub enum NegotiationError {
    /// Reading failed: EOF, the deadline, the socket, or XML the parser refused (the
    /// mapped stream error was sent, see [`ReadError::condition`]).
    #[error("reading from the peer failed")]
    Read(#[source] ReadError),
    /// Writing to the peer failed.
    #[error("writing to the peer failed")]
    Write(#[source] std::io::Error),
    /// The peer closed its stream (`</stream:stream>`); ours was closed too.
    #[error("the peer closed the stream")]
    Closed,
    /// What the peer sent was refused with this stream error (sent to the peer).
    #[error("stream error {} sent to the peer", .0.as_str())]
    Refused(StreamCondition),
    /// The peer sent a stream error (§4.9): the name of its condition, if it named one
    /// in the streams namespace.
    #[error("the peer sent a stream error")]
    PeerError(Option<String>),
    /// The receiving entity answered `<starttls/>` with `<failure/>` (§5.4.2.2).
    #[error("the peer refused STARTTLS")]
    StartTlsRefused,
    /// The TLS upgrade failed (handshake, certificate, pipelined bytes).
    #[error("TLS negotiation failed")]
    Tls(#[source] TlsError),
    /// The TLS handshake did not finish before its deadline.
    #[error("TLS negotiation timed out")]
    Timeout,
}

impl NegotiationError {
    /// The stream error this failure calls for, if any (`None` when the stream is
    /// simply closed).
    pub fn condition(&self) -> Option<StreamCondition> {
        match self {
            NegotiationError::Read(e) => e.condition(),
            NegotiationError::Refused(c) => Some(*c),
            _ => None,
        }
    }
}

/// The two deadlines of a negotiation, as instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// TLS must be up by then (never later than `handshake`).
    pub tls: Instant,
    /// The whole negotiation must be done by then.
    pub handshake: Instant,
}

impl Deadlines {
    /// The deadlines of a negotiation that began at `start`: TLS within `pretls`, all of
    /// it within `handshake` (the TLS deadline is capped at the handshake one).
    pub fn new(
        start: Instant,
        pretls: std::time::Duration,
        handshake: std::time::Duration,
    ) -> Self {
        let handshake = start + handshake;
        Self {
            tls: (start + pretls).min(handshake),
            handshake,
        }
    }

    /// The read deadline of a stream over `transport`: the TLS one until TLS is up,
    /// then the handshake one.
    pub fn for_transport<S>(&self, transport: &Transport<S>) -> Instant {
        if transport.is_tls() {
            self.handshake
        } else {
            self.tls
        }
    }
}

/// A stream header we send (RFC 6120 §4.7): the opening `<stream:stream>` tag with the
/// XML declaration, `version='1.0'` and `xml:lang='en'`.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The content namespace (§4.8.2): [`ns::CLIENT`] or [`ns::SERVER`].
    pub content_ns: &'a str,
    /// `from` (§4.7.1): our domain, or `None` where it may be left out (a client).
    pub from: Option<&'a str>,
    /// `to` (§4.7.2): the peer's domain, sent by the initiating entity.
    pub to: Option<&'a str>,
    /// `id` (§4.7.3): the stream id, sent by the receiving entity only.
    pub id: Option<&'a str>,
}

impl Header<'_> {
    /// The serialized header; attribute values escaped for single quotes.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}'",
            attr_escape(self.content_ns),
            ns::STREAM
        );
        for (name, value) in [("from", self.from), ("to", self.to), ("id", self.id)] {
            if let Some(v) = value {
                out.push_str(&format!(" {name}='{}'", attr_escape(v)));
            }
        }
        out.push_str(" version='1.0' xml:lang='en'>");
        out
    }
}

/// A fresh stream id (§4.7.3): 128 random bits in hex, unguessable (§13.13).
pub fn stream_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Reads the peer's stream header (§4.7): the next event must open a stream.
///
/// # Errors
/// [`NegotiationError::Read`]; [`NegotiationError::Refused`] with `not-well-formed`
/// when anything else comes first. Nothing is sent to the peer: see
/// [`NegotiationError::condition`] for the stream error due.
pub async fn read_header<S>(stream: &mut XmlStream<S>) -> Result<StreamHeader, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match stream.next().await {
        Ok(StreamEvent::StreamOpen(h)) => Ok(h),
        Ok(_) => Err(NegotiationError::Refused(StreamCondition::NotWellFormed)),
        Err(e) => Err(NegotiationError::Read(e)),
    }
}

/// Checks the initiating entity's header as the receiving entity (§4.7, §4.8): `to`
/// must be a domain `is_local` accepts (`host-unknown`; `domain` becomes that domain,
/// also when a later check fails), the content namespace must be `content_ns`
/// (`invalid-namespace`) and the major version 1 (`unsupported-version`, §4.7.5).
/// Without `to`, `domain` is left as it is (the caller's default).
pub fn check_header(
    h: &StreamHeader,
    content_ns: &str,
    domain: &mut String,
    is_local: impl Fn(&str) -> bool,
) -> Option<StreamCondition> {
    if let Some(to) = &h.to {
        match jid::DomainPart::new(to) {
            Ok(d) if is_local(d.as_str()) => *domain = d.as_str().to_owned(),
            _ => return Some(StreamCondition::HostUnknown),
        }
    }
    if h.default_ns != content_ns {
        return Some(StreamCondition::InvalidNamespace);
    }
    check_version(h)
}

/// `unsupported-version` unless the header's major version is 1 (§4.7.5).
fn check_version(h: &StreamHeader) -> Option<StreamCondition> {
    let major = h
        .version
        .as_deref()
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    (major != Some(1)).then_some(StreamCondition::UnsupportedVersion)
}

/// Sends the receiving entity's header (from `domain`, with a fresh [`stream_id`]).
/// A failed write is not reported here: the next write or read fails.
async fn send_response_header<S>(stream: &mut XmlStream<S>, content_ns: &str, domain: &str)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let id = stream_id();
    let header = Header {
        content_ns,
        from: Some(domain),
        to: None,
        id: Some(&id),
    };
    let _ = stream.send_raw(header.to_xml().as_bytes()).await;
}

/// Opens a stream as the receiving entity (§4.2, §4.7): reads the initiator's header,
/// checks it ([`check_header`]) and answers with ours, from `domain`. Our header is
/// sent also when the initiator's is refused, so the stream error that follows is
/// well-formed (§4.9.1.2).
///
/// # Errors
/// A header that did not arrive or was refused: our header, the stream error due (if
/// any) and the closing tag were sent.
pub async fn accept_header<S>(
    stream: &mut XmlStream<S>,
    content_ns: &str,
    domain: &mut String,
    is_local: impl Fn(&str) -> bool,
) -> Result<StreamHeader, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let header = match read_header(stream).await {
        Ok(h) => h,
        Err(e) => {
            send_response_header(stream, content_ns, domain).await;
            stream.close_with(e.condition()).await;
            return Err(e);
        }
    };
    if let Some(cond) = check_header(&header, content_ns, domain, is_local) {
        send_response_header(stream, content_ns, domain).await;
        stream.close_with(Some(cond)).await;
        return Err(NegotiationError::Refused(cond));
    }
    send_response_header(stream, content_ns, domain).await;
    Ok(header)
}

/// Logs why reading ended (debug) and sends the stream error it calls for, if any,
/// with the closing tag.
pub async fn fail_read<S>(stream: &mut XmlStream<S>, e: ReadError)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    fail_read_ref(stream, &e).await;
}

async fn fail_read_ref<S>(stream: &mut XmlStream<S>, e: &ReadError)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    debug!(error = %e, "stream read ended");
    if let Some(c) = e.condition() {
        stream.close_with(Some(c)).await;
    }
}

/// The next top-level element of the current stream.
///
/// # Errors
/// The peer closed its stream ([`NegotiationError::Closed`], our closing tag sent), a
/// second stream header (`not-well-formed` sent), or the read failed
/// ([`fail_read`]).
pub async fn next_element<S>(stream: &mut XmlStream<S>) -> Result<Element, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match stream.next().await {
        Ok(StreamEvent::Element(el)) => Ok(el),
        Ok(StreamEvent::StreamClose) => {
            stream.close_with(None).await;
            Err(NegotiationError::Closed)
        }
        Ok(StreamEvent::StreamOpen(_)) => {
            let cond = StreamCondition::NotWellFormed;
            stream.close_with(Some(cond)).await;
            Err(NegotiationError::Refused(cond))
        }
        Err(e) => {
            fail_read_ref(stream, &e).await;
            Err(NegotiationError::Read(e))
        }
    }
}

/// The TLS handshake of a direct-TLS listener (XEP-0368), bounded by `deadline`
/// ([`Deadlines::tls`]); failures are logged at debug.
///
/// # Errors
/// [`NegotiationError::Tls`] when the handshake fails, [`NegotiationError::Timeout`]
/// at the deadline. Nothing can be sent before TLS: the connection is dropped.
pub async fn accept_direct_tls<S>(
    io: S,
    acceptor: &tokio_rustls::TlsAcceptor,
    deadline: Instant,
) -> Result<Transport<S>, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout_at(deadline, super::accept_tls(io, acceptor)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => {
            debug!("TLS handshake failed");
            Err(NegotiationError::Tls(e))
        }
        Err(_) => {
            debug!("TLS handshake timed out");
            Err(NegotiationError::Timeout)
        }
    }
}

/// The `<starttls/>` feature (§5.4.1), `<required/>` when `required`.
pub fn starttls_feature(required: bool) -> Element {
    let f = Element::new("starttls", ns::TLS);
    if required {
        f.child(Element::new("required", ns::TLS))
    } else {
        f
    }
}

/// Answers the initiator's `<starttls/>` as the receiving entity (§5.4.2.3): sends
/// `<proceed/>` and runs the TLS handshake within `deadline` ([`Deadlines::tls`]). The
/// stream returned is the restarted one (§5.4.3.3): its parser expects a new header,
/// and it keeps the old stream's read deadline and write timeout. Failures are logged
/// at debug.
///
/// # Errors
/// [`NegotiationError::Write`] when `<proceed/>` could not be sent;
/// [`NegotiationError::Tls`] (bytes pipelined after `<starttls/>`, handshake);
/// [`NegotiationError::Timeout`]. The connection is dropped: after `<proceed/>`
/// nothing more can be said in the clear.
pub async fn accept_starttls<S>(
    mut stream: XmlStream<S>,
    acceptor: &tokio_rustls::TlsAcceptor,
    deadline: Instant,
) -> Result<XmlStream<S>, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    stream
        .send(&Element::new("proceed", ns::TLS))
        .await
        .map_err(NegotiationError::Write)?;
    match tokio::time::timeout_at(deadline, stream.starttls(acceptor)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            debug!(error = %e, "STARTTLS failed");
            Err(NegotiationError::Tls(e))
        }
        Err(_) => {
            debug!("STARTTLS timed out");
            Err(NegotiationError::Timeout)
        }
    }
}

/// Refuses `<starttls/>` as the receiving entity (§5.4.2.2): sends `<failure/>` and
/// closes the stream.
pub async fn refuse_starttls<S>(stream: &mut XmlStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _ = stream.send(&Element::new("failure", ns::TLS)).await;
    stream.close_with(None).await;
}

/// Opens a stream as the initiating entity (§4.2, §4.7): sends `header` and reads the
/// receiving entity's, which must be in the same content namespace
/// (`invalid-namespace`) and of major version 1 (`unsupported-version`, §4.7.5). The
/// caller checks its `from` and `id` where it relies on them (dialback).
///
/// # Errors
/// [`NegotiationError::Write`]; a header that did not arrive or was refused (the
/// stream error due, if any, and the closing tag were sent).
pub async fn open_stream<S>(
    stream: &mut XmlStream<S>,
    header: &Header<'_>,
) -> Result<StreamHeader, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    stream
        .send_raw(header.to_xml().as_bytes())
        .await
        .map_err(NegotiationError::Write)?;
    let theirs = match read_header(stream).await {
        Ok(h) => h,
        Err(e) => {
            stream.close_with(e.condition()).await;
            return Err(e);
        }
    };
    let refused = if theirs.default_ns != header.content_ns {
        Some(StreamCondition::InvalidNamespace)
    } else {
        check_version(&theirs)
    };
    if let Some(cond) = refused {
        stream.close_with(Some(cond)).await;
        return Err(NegotiationError::Refused(cond));
    }
    Ok(theirs)
}

/// The name of the condition of a `<stream:error/>` (§4.9.2), if it is one.
fn peer_error(el: &Element) -> Option<Option<String>> {
    el.is("error", ns::STREAM).then(|| {
        el.children()
            .find(|c| c.ns() == ns::STREAMS && c.name() != "text")
            .map(|c| c.name().to_owned())
    })
}

/// An element the initiating entity did not expect at this step: a stream error from
/// the peer ends the stream, anything else is refused with `unsupported-stanza-type`.
async fn unexpected<S>(stream: &mut XmlStream<S>, el: &Element) -> NegotiationError
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    if let Some(cond) = peer_error(el) {
        stream.close_with(None).await;
        return NegotiationError::PeerError(cond);
    }
    let cond = StreamCondition::UnsupportedStanzaType;
    stream.close_with(Some(cond)).await;
    NegotiationError::Refused(cond)
}

/// Reads the receiving entity's `<stream:features/>` (§4.3.2) as the initiating
/// entity.
///
/// # Errors
/// As [`next_element`]; [`NegotiationError::PeerError`] when a stream error comes
/// instead (e.g. `host-unknown`), [`NegotiationError::Refused`] for anything else.
pub async fn read_features<S>(stream: &mut XmlStream<S>) -> Result<Element, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let el = next_element(stream).await?;
    if el.is("features", ns::STREAM) {
        return Ok(el);
    }
    Err(unexpected(stream, &el).await)
}

/// Whether `features` offer STARTTLS (§5.4.1): `Some(true)` when it is `<required/>`,
/// `Some(false)` when optional, `None` when not offered.
pub fn offers_starttls(features: &Element) -> Option<bool> {
    features
        .get_child("starttls", ns::TLS)
        .map(|s| s.get_child("required", ns::TLS).is_some())
}

/// STARTTLS as the initiating entity (§5.4.2.1, §5.4.3.3): sends `<starttls/>`, waits
/// for `<proceed/>`, then runs the TLS handshake within `deadline`, with SNI `name`
/// and the connector's ALPN protocols and verifier. The stream returned is TLS with a
/// fresh parser; continue with [`restart`].
///
/// # Errors
/// [`NegotiationError::StartTlsRefused`] when the peer answers `<failure/>` (our
/// closing tag sent); [`NegotiationError::Tls`] when bytes follow `<proceed/>`, the
/// handshake fails or the peer's certificate is refused (the connection is dropped);
/// [`NegotiationError::Timeout`]; otherwise as [`next_element`] and
/// [`read_features`].
pub async fn starttls<S>(
    mut stream: XmlStream<S>,
    connector: &tokio_rustls::TlsConnector,
    name: ServerName<'static>,
    deadline: Instant,
) -> Result<XmlStream<S>, NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    stream
        .send(&Element::new("starttls", ns::TLS))
        .await
        .map_err(NegotiationError::Write)?;
    let el = next_element(&mut stream).await?;
    if el.is("failure", ns::TLS) {
        stream.close_with(None).await;
        return Err(NegotiationError::StartTlsRefused);
    }
    if !el.is("proceed", ns::TLS) {
        return Err(unexpected(&mut stream, &el).await);
    }
    match tokio::time::timeout_at(deadline, stream.starttls_connect(connector, name)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            debug!(error = %e, "STARTTLS failed");
            Err(NegotiationError::Tls(e))
        }
        Err(_) => {
            debug!("STARTTLS timed out");
            Err(NegotiationError::Timeout)
        }
    }
}

/// Restarts the stream as the initiating entity (§4.3.3), after TLS or SASL success:
/// forgets the old stream, sends `header` again and reads the new header and features.
///
/// # Errors
/// As [`open_stream`] and [`read_features`].
pub async fn restart<S>(
    stream: &mut XmlStream<S>,
    header: &Header<'_>,
) -> Result<(StreamHeader, Element), NegotiationError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    stream.reset();
    let theirs = open_stream(stream, header).await?;
    let features = read_features(stream).await?;
    Ok((theirs, features))
}
