//! The sans-IO stream parser: bytes in, [`StreamEvent`]s out (RFC 6120 §4, §11).
//!
//! [`StreamParser::feed`] appends bytes; [`StreamParser::next_event`] returns the next event
//! once it is complete. Internally an incremental scanner finds token boundaries (a tag
//! `<…>` honouring quoted attribute values, a text run up to `<`, a CDATA section, the XML
//! declaration), keeping its position between calls so every input byte is scanned once.
//! Each complete token is then parsed once: quick-xml splits and unescapes attributes and
//! text, and a stack of open elements and namespace scopes builds the [`Element`] tree.
//! Work is linear in the input, whatever the chunking.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use quick_xml::XmlVersion;
use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::{AttrError, Attributes};

use super::chars::{XML_NS, XMLNS_NS, all_xml_chars, is_ncname, is_ws, normalize_eol, split_qname};
use super::element::{ATTR_OVERHEAD, Attr, ELEMENT_OVERHEAD, Element, Node, TEXT_OVERHEAD, no_ns};

/// The namespace of the stream element itself (RFC 6120 §4.8.1).
pub const STREAMS_NS: &str = "http://etherx.jabber.org/streams";

/// Hard limits applied while parsing, each a `policy-violation` when exceeded (RFC 6120
/// §4.9.3.14, §13.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum cost in bytes of one top-level element: its bytes from its `<` to the end
    /// of its end tag (escapes counted as written), plus 128 per element and per run of
    /// character data and 96 per attribute (about their in-memory size beyond the bytes
    /// written), plus the length of the namespace URI of each element whose namespace
    /// differs from its parent's and of each namespaced attribute (what serializing it
    /// writes again). So both the tree the parser builds and its serialization stay near
    /// this figure. The raw bytes alone also bound any single pending token or text run
    /// and the stream header.
    pub max_stanza_bytes: usize,
    /// Maximum element nesting inside a top-level element; the stanza itself is depth 1.
    pub max_depth: usize,
    /// Maximum attributes on one element, namespace declarations included.
    pub max_attributes: usize,
    /// Maximum length in bytes (unescaped) of a namespace URI declared with `xmlns` or
    /// `xmlns:prefix`, on the stream header or in a stanza.
    pub max_namespace_bytes: usize,
    /// Maximum elements in one top-level element, itself included.
    pub max_elements: usize,
}

impl Default for Limits {
    /// 262 144 bytes (256 KiB) per stanza, depth 32, 64 attributes per element, namespace
    /// URIs up to 1024 bytes, 4096 elements per stanza.
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 262_144,
            max_depth: 32,
            max_attributes: 64,
            max_namespace_bytes: 1024,
            max_elements: 4096,
        }
    }
}

/// The attributes of a `<stream:stream>` header (RFC 6120 §4.7), as sent (unescaped).
///
/// `Debug` scrubs `to` and `from` (JIDs are sensitive in logs).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// `to` (§4.7.2): the domain the initiator wants to reach.
    pub to: Option<String>,
    /// `from` (§4.7.1): the initiator's JID, if it sent one.
    pub from: Option<String>,
    /// `id` (§4.7.3): only set by the receiving entity, so normally absent from clients.
    pub id: Option<String>,
    /// `version` (§4.7.5), e.g. `1.0`.
    pub version: Option<String>,
    /// `xml:lang` (§4.7.4), e.g. `en`.
    pub lang: Option<String>,
    /// The default (content) namespace in scope on the header (§4.8.2), e.g.
    /// `jabber:client`; `""` when none was declared.
    pub default_ns: String,
}

impl fmt::Debug for StreamHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scrub = |o: &Option<String>| o.as_ref().map(|_| "[scrubbed]");
        f.debug_struct("StreamHeader")
            .field("to", &scrub(&self.to))
            .field("from", &scrub(&self.from))
            .field("id", &self.id)
            .field("version", &self.version)
            .field("lang", &self.lang)
            .field("default_ns", &self.default_ns)
            .finish()
    }
}

/// One parsed stream event (RFC 6120 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// `<stream:stream>` opened. Attributes: to, from, id, version, xml:lang (raw strings).
    StreamOpen(StreamHeader),
    /// A complete top-level element (depth 1): stanza or nonza, namespaces resolved, e.g. a
    /// `<message>` in `jabber:client`, `<starttls>` in `urn:ietf:params:xml:ns:xmpp-tls`,
    /// `<stream:error>` with ns `http://etherx.jabber.org/streams`.
    Element(Element),
    /// `</stream:stream>` seen (RFC 6120 §4.4).
    StreamClose,
}

/// Which construct of restricted XML was used (RFC 6120 §11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestrictedKind {
    /// An XML comment `<!-- … -->`.
    Comment,
    /// A processing instruction other than the XML declaration before the stream header.
    ProcessingInstruction,
    /// A document type or markup declaration (`<!DOCTYPE`, `<!ENTITY`, …).
    Doctype,
    /// An entity reference other than the five predefined ones and character references.
    EntityReference,
}

impl fmt::Display for RestrictedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestrictedKind::Comment => "comment",
            RestrictedKind::ProcessingInstruction => "processing instruction",
            RestrictedKind::Doctype => "document type or markup declaration",
            RestrictedKind::EntityReference => "entity reference",
        })
    }
}

/// Which [`Limits`] field was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitKind {
    /// [`Limits::max_stanza_bytes`].
    StanzaSize,
    /// [`Limits::max_depth`].
    Depth,
    /// [`Limits::max_attributes`].
    Attributes,
    /// [`Limits::max_namespace_bytes`].
    NamespaceLength,
    /// [`Limits::max_elements`].
    Elements,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::StanzaSize => "stanza size",
            LimitKind::Depth => "element depth",
            LimitKind::Attributes => "attribute count",
            LimitKind::NamespaceLength => "namespace URI length",
            LimitKind::Elements => "element count",
        })
    }
}

/// Why the stream could not be parsed. Each maps to one stream error condition
/// ([`ParseError::condition`], RFC 6120 §4.9.3). Messages never contain input content.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Not well-formed XML (XML 1.0 §1.2, Namespaces in XML): `not-well-formed` (§4.9.3.13).
    /// The detail is a fixed description, never input content.
    #[error("XML stream is not well-formed: {0}")]
    NotWellFormed(String),
    /// A construct outside the XML subset XMPP allows (§11.1): `restricted-xml` (§4.9.3.18).
    #[error("XML stream uses restricted XML: {0}")]
    Restricted(RestrictedKind),
    /// A [`Limits`] value was exceeded: `policy-violation` (§4.9.3.14).
    #[error("XML stream exceeds the {0} limit")]
    Limit(LimitKind),
    /// The root is not `stream` in `http://etherx.jabber.org/streams`: `invalid-namespace`
    /// (§4.9.3.10).
    #[error("stream root is not <stream> in the streams namespace")]
    InvalidNamespace,
    /// An unbound or reserved prefix on an element or attribute: `bad-namespace-prefix`
    /// (§4.9.3.2).
    #[error("unbound or reserved namespace prefix")]
    BadNamespacePrefix,
    /// An XML declaration naming an encoding other than UTF-8, or invalid UTF-8 bytes:
    /// `unsupported-encoding` (§4.9.3.22, §11.6).
    #[error("XML stream is not UTF-8")]
    UnsupportedEncoding,
}

impl ParseError {
    /// The RFC 6120 §4.9.3 stream error condition element name for this error, e.g.
    /// `"not-well-formed"`.
    pub fn condition(&self) -> &'static str {
        match self {
            ParseError::NotWellFormed(_) => "not-well-formed",
            ParseError::Restricted(_) => "restricted-xml",
            ParseError::Limit(_) => "policy-violation",
            ParseError::InvalidNamespace => "invalid-namespace",
            ParseError::BadNamespacePrefix => "bad-namespace-prefix",
            ParseError::UnsupportedEncoding => "unsupported-encoding",
        }
    }
}

fn nwf(detail: &'static str) -> ParseError {
    ParseError::NotWellFormed(detail.to_owned())
}

/// Where the scanner is inside the current token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Character data, looking for `<`.
    Text,
    /// Just past a `<`, deciding what follows.
    Lt,
    /// In a start or end tag, looking for `>`; `quote` is the open quote byte or 0.
    Tag { quote: u8 },
    /// Just past `<!`.
    Bang,
    /// Matching `<![CDATA[`.
    CdataOpen,
    /// In a CDATA section, looking for `]]>`.
    Cdata,
    /// In the XML declaration, looking for `?>`.
    Pi,
}

/// A complete token handed from the scanner to the tree builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Text,
    Tag,
    Cdata,
    Pi,
}

/// Where we are in the stream document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the stream header; `decl_allowed` while no XML declaration was seen.
    Prolog { decl_allowed: bool },
    /// Inside the stream element.
    Open,
    /// After `</stream:stream>`.
    Closed,
}

/// An element open inside the current top-level element.
struct Frame {
    /// The name as written (`prefix:local`), to match the end tag.
    qname: String,
    /// Length of the namespace scope stack before this element's declarations.
    ns_mark: usize,
    element: Element,
}

/// Tree-building state, separate from the byte buffer so tokens can be borrowed from it.
struct Tree {
    limits: Limits,
    phase: Phase,
    /// Prefix bindings in scope, innermost last; `""` is the default namespace. The URIs
    /// are shared with every element and attribute in them.
    scopes: Vec<(String, Arc<str>)>,
    stream_qname: String,
    frames: Vec<Frame>,
    /// Absolute offset of the current top-level element's `<`.
    stanza_start: Option<usize>,
    /// What the current top-level element costs beyond its bytes (see
    /// [`Limits::max_stanza_bytes`]); 0 between stanzas.
    overhead: usize,
    /// Elements of the current top-level element so far.
    elements: usize,
    pending: VecDeque<StreamEvent>,
}

/// An incremental, sans-IO parser for one direction of an XMPP stream (RFC 6120 §4).
///
/// Feed it bytes as they arrive and pull [`StreamEvent`]s. It never panics, does work
/// linear in the input however it is chunked, and holds roughly at most
/// [`Limits::max_stanza_bytes`] plus the last chunk fed.
pub struct StreamParser {
    buf: Vec<u8>,
    /// Absolute stream offset of `buf[0]`.
    base: usize,
    /// Start of the current token in `buf`.
    start: usize,
    /// Next byte to scan in `buf`.
    pos: usize,
    scan: Scan,
    bom_checked: bool,
    tree: Tree,
    dead: Option<ParseError>,
}

/// Read buffers emptied with more capacity than this are released.
const KEEP_CAPACITY: usize = 8192;

impl StreamParser {
    /// A parser expecting a stream header (optionally preceded by a UTF-8 BOM and an XML
    /// declaration), enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        StreamParser {
            buf: Vec::new(),
            base: 0,
            start: 0,
            pos: 0,
            scan: Scan::Text,
            bom_checked: false,
            tree: Tree {
                limits,
                phase: Phase::Prolog { decl_allowed: true },
                scopes: Vec::new(),
                stream_qname: String::new(),
                frames: Vec::new(),
                stanza_start: None,
                overhead: 0,
                elements: 0,
                pending: VecDeque::new(),
            },
            dead: None,
        }
    }

    /// Appends bytes read from the transport. Cheap: nothing is parsed until
    /// [`next_event`](StreamParser::next_event). Bytes fed after an error are dropped.
    pub fn feed(&mut self, data: &[u8]) {
        if self.dead.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`ParseError`] describing the first problem found. After an error the parser is
    /// dead: every later call returns the same error and its buffer is released.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>, ParseError> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(ev) => Ok(ev),
            Err(e) => {
                self.dead = Some(e.clone());
                self.buf = Vec::new();
                self.tree.frames = Vec::new();
                self.tree.pending.clear();
                self.start = 0;
                self.pos = 0;
                Err(e)
            }
        }
    }

    /// Forgets everything (buffered bytes, open elements, namespaces, errors) and expects a
    /// new stream header, as after STARTTLS (RFC 6120 §5.4.3.3) or SASL success (§6.4.6).
    /// Bytes fed after the reset belong to the new stream.
    pub fn reset(&mut self) {
        *self = StreamParser::new(self.tree.limits);
    }

    /// Bytes currently held in the read buffer (for memory accounting).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received but not yet consumed by a returned event. After `<starttls/>` this
    /// must be zero: RFC 6120 §5.4.3.3 forbids pipelining data into the TLS handshake.
    pub fn unconsumed_len(&self) -> usize {
        let queued = usize::from(!self.tree.pending.is_empty());
        self.buf.len().saturating_sub(self.start) + queued
    }

    fn advance(&mut self) -> Result<Option<StreamEvent>, ParseError> {
        loop {
            if let Some(ev) = self.tree.pending.pop_front() {
                return Ok(Some(ev));
            }
            let Some((tok, a, b)) = self.scan_token()? else {
                return Ok(None);
            };
            let raw = self.buf.get(a..b).unwrap_or_default();
            self.tree.handle(tok, raw, self.base.saturating_add(a))?;
        }
    }

    /// Drops consumed bytes; amortized linear (moves at most as many bytes as consumed).
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start >= self.buf.len() {
            self.base = self.base.saturating_add(self.buf.len());
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.start = 0;
            self.pos = 0;
        } else if self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.base = self.base.saturating_add(self.start);
            self.pos -= self.start;
            self.start = 0;
        }
    }

    fn decl_allowed(&self) -> bool {
        matches!(self.tree.phase, Phase::Prolog { decl_allowed: true })
    }

    /// Cost of the current top-level element up to `end` (relative): its bytes plus the
    /// overhead charged for its elements so far (see [`Limits::max_stanza_bytes`]); or the
    /// bytes of the pending token between stanzas.
    fn held(&self, end: usize) -> usize {
        match self.tree.stanza_start {
            Some(s) => self
                .base
                .saturating_add(end)
                .saturating_sub(s)
                .saturating_add(self.tree.overhead),
            None => end.saturating_sub(self.start),
        }
    }

    /// Completes the token `[start, end)`: checks the size limit and moves on.
    fn finish(
        &mut self,
        tok: Token,
        end: usize,
    ) -> Result<Option<(Token, usize, usize)>, ParseError> {
        if self.held(end) > self.tree.limits.max_stanza_bytes {
            return Err(ParseError::Limit(LimitKind::StanzaSize));
        }
        let a = self.start;
        self.start = end;
        self.pos = end;
        self.scan = Scan::Text;
        Ok(Some((tok, a, end)))
    }

    /// Scans forward for the next complete token; `Ok(None)` when the buffer runs out.
    fn scan_token(&mut self) -> Result<Option<(Token, usize, usize)>, ParseError> {
        self.compact();
        if !self.bom_checked {
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let avail = self.buf.get(self.pos..).unwrap_or_default();
            let n = avail.len().min(BOM.len());
            if avail.get(..n) == BOM.get(..n) {
                if n < BOM.len() {
                    return Ok(None);
                }
                self.pos += BOM.len();
                self.start = self.pos;
            }
            self.bom_checked = true;
        }
        while let Some(&byte) = self.buf.get(self.pos) {
            match self.scan {
                Scan::Text => {
                    let rest = self.buf.get(self.pos..).unwrap_or_default();
                    let found = rest.iter().position(|&b| b == b'<');
                    let end = found.map_or(self.buf.len(), |o| self.pos + o);
                    if self.tree.frames.is_empty() {
                        // Between top-level elements: whitespace only, dropped at once.
                        let run = self.buf.get(self.pos..end).unwrap_or_default();
                        if !run.iter().all(|&b| is_ws(b)) {
                            return Err(nwf("character data outside a stanza"));
                        }
                        self.start = end;
                    }
                    self.pos = end;
                    if found.is_some() {
                        if end > self.start {
                            let tok = self.finish(Token::Text, end)?;
                            self.pos = end + 1;
                            self.scan = Scan::Lt;
                            return Ok(tok);
                        }
                        self.pos = end + 1;
                        self.scan = Scan::Lt;
                    }
                }
                Scan::Lt => match byte {
                    b'!' => {
                        self.pos += 1;
                        self.scan = Scan::Bang;
                    }
                    b'?' => {
                        if !self.decl_allowed() {
                            return Err(ParseError::Restricted(
                                RestrictedKind::ProcessingInstruction,
                            ));
                        }
                        self.pos += 1;
                        self.scan = Scan::Pi;
                    }
                    _ => self.scan = Scan::Tag { quote: 0 },
                },
                Scan::Bang => match byte {
                    b'-' => return Err(ParseError::Restricted(RestrictedKind::Comment)),
                    b'[' => {
                        self.pos += 1;
                        self.scan = Scan::CdataOpen;
                    }
                    _ => return Err(ParseError::Restricted(RestrictedKind::Doctype)),
                },
                Scan::CdataOpen => {
                    const OPEN: &[u8] = b"<![CDATA[";
                    if OPEN.get(self.pos - self.start) != Some(&byte) {
                        return Err(nwf("malformed CDATA section"));
                    }
                    self.pos += 1;
                    if self.pos - self.start == OPEN.len() {
                        self.scan = Scan::Cdata;
                    }
                }
                Scan::Cdata => {
                    let min = self.start + b"<![CDATA[]]".len();
                    while let Some(&b) = self.buf.get(self.pos) {
                        self.pos += 1;
                        if b == b'>'
                            && self.pos > min
                            && self.buf.get(self.pos - 3..self.pos - 1) == Some(&b"]]"[..])
                        {
                            return self.finish(Token::Cdata, self.pos);
                        }
                    }
                }
                Scan::Pi => {
                    while let Some(&b) = self.buf.get(self.pos) {
                        // Only `<?xml` + whitespace may start here (checked byte by byte so
                        // `<?php` fails before its end arrives).
                        let k = self.pos - self.start - 2;
                        let ok = match b"xml".get(k) {
                            Some(&want) => b == want,
                            None => k > 3 || is_ws(b),
                        };
                        if !ok {
                            return Err(ParseError::Restricted(
                                RestrictedKind::ProcessingInstruction,
                            ));
                        }
                        self.pos += 1;
                        if b == b'>' && self.buf.get(self.pos - 2) == Some(&b'?') {
                            return self.finish(Token::Pi, self.pos);
                        }
                    }
                }
                Scan::Tag { mut quote } => {
                    while let Some(&b) = self.buf.get(self.pos) {
                        self.pos += 1;
                        if b == b'<' {
                            return Err(nwf("'<' inside a tag"));
                        }
                        if quote != 0 {
                            if b == quote {
                                quote = 0;
                            }
                        } else if b == b'\'' || b == b'"' {
                            quote = b;
                        } else if b == b'>' {
                            return self.finish(Token::Tag, self.pos);
                        }
                    }
                    self.scan = Scan::Tag { quote };
                }
            }
        }
        if self.held(self.pos) > self.tree.limits.max_stanza_bytes {
            return Err(ParseError::Limit(LimitKind::StanzaSize));
        }
        Ok(None)
    }
}

/// A start tag split by quick-xml: `(qname, [(key, unescaped value)], self-closing)`.
type RawStart<'a> = (&'a str, Vec<(&'a str, String)>, bool);

fn utf8(raw: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(raw).map_err(|_| ParseError::UnsupportedEncoding)
}

fn map_escape(e: &EscapeError) -> ParseError {
    match e {
        EscapeError::UnrecognizedEntity(_, name) if split_qname(name).is_some() => {
            ParseError::Restricted(RestrictedKind::EntityReference)
        }
        _ => nwf("invalid entity or character reference"),
    }
}

fn map_attr(e: &AttrError) -> ParseError {
    match e {
        AttrError::Duplicated(..) => nwf("duplicate attribute"),
        _ => nwf("malformed attribute"),
    }
}

/// Parses `inner` (the tag without `<` and `>`) into name and attributes.
fn parse_start(inner: &str, max_attributes: usize) -> Result<RawStart<'_>, ParseError> {
    let (inner, empty) = match inner.strip_suffix('/') {
        Some(i) => (i, true),
        None => (inner, false),
    };
    let name_end = inner.bytes().position(is_ws).unwrap_or(inner.len());
    let qname = inner.get(..name_end).unwrap_or_default();
    let mut attrs = Vec::new();
    for a in Attributes::new(inner, name_end) {
        let a = a.map_err(|e| map_attr(&e))?;
        if attrs.len() >= max_attributes {
            return Err(ParseError::Limit(LimitKind::Attributes));
        }
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| match e {
                quick_xml::Error::Escape(e) => map_escape(&e),
                _ => nwf("malformed attribute value"),
            })?;
        if !all_xml_chars(&value) {
            return Err(nwf("invalid character in attribute value"));
        }
        attrs.push((a.key.0, value.into_owned()));
    }
    Ok((qname, attrs, empty))
}

impl Tree {
    /// The URI bound to `prefix` in scope (`""` → default namespace, `""` if none), shared.
    fn resolve(&self, prefix: &str) -> Option<Arc<str>> {
        match prefix {
            "xml" => return Some(Arc::from(XML_NS)),
            "xmlns" => return None,
            _ => {}
        }
        match self.scopes.iter().rev().find(|(p, _)| p == prefix) {
            Some((_, uri)) => Some(uri.clone()),
            None if prefix.is_empty() => Some(no_ns()),
            None => None,
        }
    }

    fn handle(&mut self, tok: Token, raw: &[u8], abs: usize) -> Result<(), ParseError> {
        let s = utf8(raw)?;
        let end = abs.saturating_add(raw.len());
        match tok {
            Token::Text => {
                if s.contains("]]>") {
                    return Err(nwf("']]>' in character data"));
                }
                let text = normalize_eol(s);
                let text = quick_xml::escape::unescape(&text).map_err(|e| map_escape(&e))?;
                self.push_text(&text, end)
            }
            Token::Cdata => {
                let body = s
                    .get("<![CDATA[".len()..s.len().saturating_sub("]]>".len()))
                    .unwrap_or_default();
                self.push_text(&normalize_eol(body), end)
            }
            Token::Pi => self.xml_decl(s),
            Token::Tag => {
                let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or_default();
                match inner.strip_prefix('/') {
                    Some(name) => self.end_tag(name),
                    None => self.start_tag(inner, abs, end),
                }
            }
        }
    }

    /// Character data ending at absolute offset `end`, appended to the open element; a new
    /// text run (not merged into a preceding one) is charged [`TEXT_OVERHEAD`].
    fn push_text(&mut self, text: &str, end: usize) -> Result<(), ParseError> {
        if !all_xml_chars(text) {
            return Err(nwf("invalid character in character data"));
        }
        let Some(f) = self.frames.last_mut() else {
            return Err(nwf("character data outside a stanza"));
        };
        let new_run = !text.is_empty() && !matches!(f.element.nodes().last(), Some(Node::Text(_)));
        f.element.push_text(text);
        if new_run {
            self.charge(TEXT_OVERHEAD, end)?;
        }
        Ok(())
    }

    /// Adds `overhead` to the current stanza's cost and checks it, with the stanza's bytes
    /// up to absolute offset `end`, against [`Limits::max_stanza_bytes`].
    fn charge(&mut self, overhead: usize, end: usize) -> Result<(), ParseError> {
        self.overhead = self.overhead.saturating_add(overhead);
        let start = self.stanza_start.unwrap_or(end);
        let cost = end.saturating_sub(start).saturating_add(self.overhead);
        if cost > self.limits.max_stanza_bytes {
            return Err(ParseError::Limit(LimitKind::StanzaSize));
        }
        Ok(())
    }

    /// The XML declaration (XML 1.0 §2.8): version 1.x, encoding UTF-8 if named (RFC 6120
    /// §11.6).
    fn xml_decl(&mut self, s: &str) -> Result<(), ParseError> {
        let body = s.get(2..s.len().saturating_sub(2)).unwrap_or_default();
        let mut version = false;
        for a in Attributes::new(body, 3) {
            let a = a.map_err(|e| map_attr(&e))?;
            match (a.key.0, a.value.as_ref()) {
                ("version", v) if v.starts_with("1.") => version = true,
                ("encoding", e) if e.eq_ignore_ascii_case("UTF-8") => {}
                ("encoding", _) => return Err(ParseError::UnsupportedEncoding),
                ("standalone", "yes" | "no") => {}
                _ => return Err(nwf("malformed XML declaration")),
            }
        }
        if !version {
            return Err(nwf("malformed XML declaration"));
        }
        self.phase = Phase::Prolog {
            decl_allowed: false,
        };
        Ok(())
    }

    /// A start tag at absolute offsets `[abs, end)`: namespace declarations, resolution,
    /// the limits, then the element is opened (or completed if empty).
    fn start_tag(&mut self, inner: &str, abs: usize, end: usize) -> Result<(), ParseError> {
        if self.phase == Phase::Closed {
            return Err(nwf("content after the stream closed"));
        }
        let (qname, raw_attrs, empty) = parse_start(inner, self.limits.max_attributes)?;
        let (prefix, local) = split_qname(qname).ok_or_else(|| nwf("invalid element name"))?;
        let in_prolog = matches!(self.phase, Phase::Prolog { .. });
        if !in_prolog {
            if self.frames.len() >= self.limits.max_depth {
                return Err(ParseError::Limit(LimitKind::Depth));
            }
            self.elements = self.elements.saturating_add(1);
            if self.elements > self.limits.max_elements {
                return Err(ParseError::Limit(LimitKind::Elements));
            }
        }
        // The namespace this element is serialized under (its parent's), before its own
        // declarations come into scope.
        let parent_ns = match self.frames.last() {
            Some(f) => f.element.ns_shared().clone(),
            None => self.resolve("").unwrap_or_else(no_ns),
        };
        let mut overhead = ELEMENT_OVERHEAD.saturating_add(ATTR_OVERHEAD * raw_attrs.len());

        // Namespace declarations first (Namespaces in XML 1.0 §3), then resolution.
        let ns_mark = self.scopes.len();
        let mut attrs: Vec<(&str, &str, String)> = Vec::new();
        for (key, value) in raw_attrs {
            let declared = if key == "xmlns" {
                if value == XML_NS || value == XMLNS_NS {
                    return Err(nwf("reserved namespace as default"));
                }
                Some("")
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                if !is_ncname(p) || p == "xmlns" {
                    return Err(nwf("invalid namespace declaration"));
                }
                if p == "xml" {
                    if value != XML_NS {
                        return Err(nwf("invalid namespace declaration"));
                    }
                    continue;
                }
                if value.is_empty() || value == XML_NS || value == XMLNS_NS {
                    return Err(nwf("invalid namespace declaration"));
                }
                Some(p)
            } else {
                None
            };
            match declared {
                Some(_) if value.len() > self.limits.max_namespace_bytes => {
                    return Err(ParseError::Limit(LimitKind::NamespaceLength));
                }
                Some(p) => self.scopes.push((p.to_owned(), Arc::from(value))),
                None => {
                    let (p, l) = split_qname(key).ok_or_else(|| nwf("invalid attribute name"))?;
                    attrs.push((p, l, value));
                }
            }
        }
        if prefix == "xml" {
            return Err(ParseError::BadNamespacePrefix);
        }
        let ns = self.resolve(prefix).ok_or(ParseError::BadNamespacePrefix)?;
        if !Arc::ptr_eq(&ns, &parent_ns) && *ns != *parent_ns {
            // Serialization writes `xmlns='…'` again on this element.
            overhead = overhead.saturating_add(ns.len());
        }
        let mut element_attrs: Vec<Attr> = Vec::with_capacity(attrs.len());
        for (p, l, value) in attrs {
            let (ans, aname) = match p {
                "" => (no_ns(), l.to_owned()),
                "xml" => (no_ns(), format!("xml:{l}")),
                p => {
                    let ans = self.resolve(p).ok_or(ParseError::BadNamespacePrefix)?;
                    // Serialization declares a prefix for it again.
                    overhead = overhead.saturating_add(ans.len());
                    (ans, l.to_owned())
                }
            };
            if element_attrs
                .iter()
                .any(|a| a.name == aname && *a.ns == *ans)
            {
                return Err(nwf("duplicate attribute"));
            }
            element_attrs.push(Attr {
                ns: ans,
                name: aname,
                value,
            });
        }
        let element = Element::with_parsed_attrs(local, ns, element_attrs);

        if in_prolog {
            return self.stream_open(qname, element, empty);
        }
        self.stanza_start.get_or_insert(abs);
        self.charge(overhead, end)?;
        if empty {
            self.scopes.truncate(ns_mark);
            self.complete(element);
        } else {
            self.frames.push(Frame {
                qname: qname.to_owned(),
                ns_mark,
                element,
            });
        }
        Ok(())
    }

    /// The stream header (RFC 6120 §4.2, §4.7, §4.8).
    fn stream_open(&mut self, qname: &str, root: Element, empty: bool) -> Result<(), ParseError> {
        if !root.is("stream", STREAMS_NS) {
            return Err(ParseError::InvalidNamespace);
        }
        let get = |n: &str| root.attr(n).map(str::to_owned);
        let header = StreamHeader {
            to: get("to"),
            from: get("from"),
            id: get("id"),
            version: get("version"),
            lang: get("xml:lang"),
            default_ns: self.resolve("").map(|u| u.to_string()).unwrap_or_default(),
        };
        self.pending.push_back(StreamEvent::StreamOpen(header));
        self.stream_qname = qname.to_owned();
        if empty {
            self.close_stream();
        } else {
            self.phase = Phase::Open;
        }
        Ok(())
    }

    fn close_stream(&mut self) {
        self.phase = Phase::Closed;
        self.scopes.clear();
        self.pending.push_back(StreamEvent::StreamClose);
    }

    /// A finished element: emitted when top-level, else appended to its parent.
    fn complete(&mut self, mut element: Element) {
        element.shrink();
        match self.frames.last_mut() {
            Some(parent) => parent.element.push_child(element),
            None => {
                self.stanza_start = None;
                self.overhead = 0;
                self.elements = 0;
                self.pending.push_back(StreamEvent::Element(element));
            }
        }
    }

    fn end_tag(&mut self, rest: &str) -> Result<(), ParseError> {
        let name = rest.trim_end_matches([' ', '\t', '\r', '\n']);
        match self.frames.pop() {
            Some(frame) => {
                if frame.qname != name {
                    return Err(nwf("mismatched end tag"));
                }
                self.scopes.truncate(frame.ns_mark);
                self.complete(frame.element);
                Ok(())
            }
            None if self.phase == Phase::Open && name == self.stream_qname => {
                self.close_stream();
                Ok(())
            }
            None => Err(nwf("unexpected end tag")),
        }
    }
}

#[cfg(test)]
mod tests;
