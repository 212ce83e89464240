//! A sans-IO XML stream parser with limits, the element tree, and its serializer.
//!
//! An XMPP stream (RFC 6120 §4) is one long XML document: a `<stream:stream>` header, then
//! top-level elements (stanzas and nonzas), then `</stream:stream>`. [`StreamParser`] turns
//! bytes arriving in arbitrary chunks into [`StreamEvent`]s: the header, each complete
//! top-level [`Element`] with namespaces resolved, and the close. [`Element::write_to`]
//! serializes elements back so that parse∘serialize is the identity.
//!
//! Implements: RFC 6120 §4.1–§4.8 (stream structure, header attributes, namespaces),
//! §4.9.3 (the conditions [`ParseError`] maps to, see [`ParseError::condition`]), §11
//! (restricted XML subset, UTF-8 only), XML 1.0 (Fifth Edition) and Namespaces in XML 1.0.
//! Tokenizing of complete tokens (attribute splitting, unescaping) is done by `quick-xml`.
//!
//! This module is pure: no I/O, no async, no logging.
//!
//! # Security
//! - Linear work per input byte, however the input is chunked: the scanner keeps its state
//!   between [`StreamParser::feed`] calls and parses each token once (no re-parsing of the
//!   pending stanza, which would be a quadratic denial of service with 1-byte packets).
//! - Bounded memory: [`Limits`] bounds the cost of one top-level element (its bytes plus a
//!   fixed overhead per element and attribute, so memory follows what was received however
//!   small the elements), any pending token or text run, the stream header, the nesting
//!   depth, the attribute count, the elements per stanza and the length of namespace URIs.
//!   Namespace URIs are shared between the elements in them, never copied per element.
//! - No DTD is ever processed: `<!DOCTYPE`, `<!ENTITY`, comments, processing instructions
//!   and unknown entity references fail with [`ParseError::Restricted`] as soon as they are
//!   recognized, so billion-laughs and external-entity payloads expand nothing.
//! - Errors never carry input content, and `Debug` of [`Element`] and [`StreamHeader`] shows
//!   no text, attribute values or JIDs.
//! - The serializer skips invalid element and attribute names and never writes an `xmlns`
//!   attribute from the attribute list, so trees built from untrusted strings cannot inject
//!   markup or namespaces.
//!
//! # Limitations
//! - Only UTF-8 (RFC 6120 §11.6). A UTF-8 BOM and whitespace before the XML declaration are
//!   tolerated.
//! - A few well-formedness rules are not checked: missing whitespace between attributes
//!   (`a='1'b='2'`) is accepted, and names are checked against the XML 1.0 Fifth Edition
//!   character classes only.
//! - Non-whitespace character data directly inside the stream element (between stanzas) is
//!   rejected as not well-formed, as is a CDATA section there.
//! - Serialization uses generated prefixes (`ns0`, …) for namespaced attributes and never
//!   preserves the peer's prefixes; characters that XML 1.0 cannot carry (set through the
//!   API) are written as U+FFFD.

mod chars;
mod element;
mod parser;

pub use element::{Element, Node};
pub use parser::{
    LimitKind, Limits, ParseError, RestrictedKind, STREAMS_NS, StreamEvent, StreamHeader,
    StreamParser,
};

/// Parses one complete element, as [`Element::to_xml`] wrote it with `content_ns` as the
/// parent namespace (e.g. a stanza kept in the database). The default depth and
/// attribute limits apply; the size limit is 64 times the text's own length (room for the
/// per-element overhead of [`Limits::max_stanza_bytes`], so memory stays proportionate
/// to the text), and element count and namespace length are not limited (the text was
/// accepted once already).
///
/// # Errors
/// Any [`ParseError`] of the text, or `NotWellFormed` when it holds no complete element.
pub fn parse_element(xml: &str, content_ns: &str) -> Result<Element, ParseError> {
    let header = format!("<stream:stream xmlns='{content_ns}' xmlns:stream='{STREAMS_NS}'>");
    // The size limit also bounds the stream header token: an element shorter than the
    // header must still parse.
    let limits = Limits {
        max_stanza_bytes: xml.len().saturating_mul(64).max(header.len()),
        max_namespace_bytes: usize::MAX,
        max_elements: usize::MAX,
        ..Limits::default()
    };
    let mut p = StreamParser::new(limits);
    p.feed(header.as_bytes());
    p.feed(xml.as_bytes());
    loop {
        match p.next_event()? {
            Some(StreamEvent::Element(e)) => return Ok(e),
            Some(_) => continue,
            None => return Err(ParseError::NotWellFormed("incomplete element".into())),
        }
    }
}

/// Invariant-checking entry points for fuzz targets and property tests. Not a stable API.
///
/// These functions *assert* (panic) when an invariant is broken: that is their purpose.
#[doc(hidden)]
pub mod fuzzing {
    use super::chars::escape_into;
    use super::{Limits, ParseError, STREAMS_NS, StreamEvent, StreamParser};

    /// Drives a parser over `chunks` until it needs more bytes or fails.
    fn run<'a>(
        chunks: impl Iterator<Item = &'a [u8]>,
        limits: Limits,
    ) -> (Vec<StreamEvent>, Option<ParseError>) {
        let mut p = StreamParser::new(limits);
        let mut events = Vec::new();
        for chunk in chunks {
            p.feed(chunk);
            loop {
                match p.next_event() {
                    Ok(Some(ev)) => events.push(ev),
                    Ok(None) => break,
                    Err(e) => {
                        // Dead parsers repeat their error.
                        assert_eq!(p.next_event(), Err(e.clone()));
                        return (events, Some(e));
                    }
                }
            }
        }
        (events, None)
    }

    /// Parses `data` whole and in several chunkings, asserting that no call panics, that
    /// every chunking yields the same events, and that each element re-serializes and
    /// re-parses to an equal element.
    ///
    /// # Panics
    /// When an invariant is broken (a bug in this module).
    pub fn parse_stream(data: &[u8]) {
        let limits = Limits {
            max_stanza_bytes: 4096,
            max_depth: 16,
            max_attributes: 16,
            max_namespace_bytes: 256,
            max_elements: 64,
        };
        let (whole, whole_err) = run(std::iter::once(data), limits);
        let n = data.len();
        let first = data.first().map_or(1, |&b| usize::from(b % 7) + 1);
        for size in [1, first, n / 3 + 1] {
            let (events, err) = run(data.chunks(size), limits);
            assert_eq!(events, whole, "chunking changed the events");
            assert_eq!(
                err.is_some(),
                whole_err.is_some(),
                "chunking changed the outcome"
            );
        }

        let mut default_ns = String::new();
        for ev in &whole {
            match ev {
                StreamEvent::StreamOpen(h) => default_ns.clone_from(&h.default_ns),
                StreamEvent::Element(e) => {
                    let mut doc = b"<stream:stream xmlns='".to_vec();
                    escape_into(&mut doc, &default_ns, true);
                    doc.extend_from_slice(b"' xmlns:stream='");
                    doc.extend_from_slice(STREAMS_NS.as_bytes());
                    doc.extend_from_slice(b"'>");
                    e.write_to(&mut doc, &default_ns);
                    let unlimited = Limits {
                        max_stanza_bytes: usize::MAX,
                        max_depth: usize::MAX,
                        max_attributes: usize::MAX,
                        max_namespace_bytes: usize::MAX,
                        max_elements: usize::MAX,
                    };
                    let (again, err) = run(std::iter::once(&doc[..]), unlimited);
                    assert_eq!(err, None, "re-serialized element does not parse");
                    assert_eq!(again.get(1), Some(ev), "re-serialized element differs");
                }
                StreamEvent::StreamClose => {}
            }
        }
    }
}
