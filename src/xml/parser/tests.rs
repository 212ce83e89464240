//! Unit tests of the stream parser (`super`).

use super::*;
use crate::xml::chars::is_xml_char;
use proptest::prelude::*;
use std::time::{Duration, Instant};

const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
const CLIENT_HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='im.example.com' version='1.0'>";

type Outcome = (Vec<StreamEvent>, Option<ParseError>);

/// Feeds `chunks` in order, collecting events until the input runs out or an error.
fn run_chunks<'a>(limits: Limits, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut p = StreamParser::new(limits);
    let mut events = Vec::new();
    for c in chunks {
        p.feed(c);
        loop {
            match p.next_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => return (events, Some(e)),
            }
        }
    }
    (events, None)
}

fn run(data: &[u8]) -> Outcome {
    run_chunks(Limits::default(), [data])
}

/// Parses `data` whole, one byte at a time and in two halves split at every position,
/// asserting identical outcomes; returns the outcome.
fn run_all_splits(limits: Limits, data: &[u8]) -> Outcome {
    let whole = run_chunks(limits, [data]);
    assert_eq!(run_chunks(limits, data.chunks(1)), whole, "byte by byte");
    for i in 0..=data.len() {
        let (a, b) = data.split_at(i);
        assert_eq!(run_chunks(limits, [a, b]), whole, "split at {i}");
    }
    whole
}

fn header(
    to: Option<&str>,
    from: Option<&str>,
    id: Option<&str>,
    lang: Option<&str>,
    ns: &str,
) -> StreamEvent {
    StreamEvent::StreamOpen(StreamHeader {
        to: to.map(Into::into),
        from: from.map(Into::into),
        id: id.map(Into::into),
        version: Some("1.0".into()),
        lang: lang.map(Into::into),
        default_ns: ns.into(),
    })
}

fn el(e: Element) -> StreamEvent {
    StreamEvent::Element(e)
}

/// RFC 6120 §9.1.1–§9.1.4: the client side of a whole client-to-server session.
#[test]
fn rfc6120_9_1_client_side() {
    let stream = "<?xml version='1.0'?><stream:stream\n     from='juliet@im.example.com'\n     \
        to='im.example.com'\n     version='1.0'\n     xml:lang='en'\n     \
        xmlns='jabber:client'\n     xmlns:stream='http://etherx.jabber.org/streams'>\n\
        <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n\
        <auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"\n     mechanism=\"SCRAM-SHA-1\">\
        biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==</auth>\n\
        <iq id='yhc13a95' type='set'>\n     <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
        \n       <resource>balcony</resource>\n     </bind>\n   </iq>\n \
        <message from='juliet@im.example.com/balcony'\n     id='ju2ba41c'\n     \
        to='romeo@example.net'\n     type='chat'\n     xml:lang='en'>\
        \n     <body>Art thou not Romeo, and a Montague?</body>\n   </message> \
        </stream:stream>";
    let (events, err) = run_all_splits(Limits::default(), stream.as_bytes());
    assert_eq!(err, None);
    let bind = Element::new("iq", "jabber:client")
        .with_attr("id", "yhc13a95")
        .with_attr("type", "set")
        .with_text("\n     ")
        .child(
            Element::new("bind", BIND)
                .with_text("\n       ")
                .child(Element::new("resource", BIND).with_text("balcony"))
                .with_text("\n     "),
        )
        .with_text("\n   ");
    let message = Element::new("message", "jabber:client")
        .with_attr("from", "juliet@im.example.com/balcony")
        .with_attr("id", "ju2ba41c")
        .with_attr("to", "romeo@example.net")
        .with_attr("type", "chat")
        .with_attr("xml:lang", "en")
        .with_text("\n     ")
        .child(
            Element::new("body", "jabber:client").with_text("Art thou not Romeo, and a Montague?"),
        )
        .with_text("\n   ");
    assert_eq!(
        events,
        vec![
            header(
                Some("im.example.com"),
                Some("juliet@im.example.com"),
                None,
                Some("en"),
                "jabber:client"
            ),
            el(Element::new("starttls", TLS)),
            el(Element::new("auth", SASL)
                .with_attr("mechanism", "SCRAM-SHA-1")
                .with_text("biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==")),
            el(bind),
            el(message),
            StreamEvent::StreamClose,
        ]
    );
}

/// RFC 6120 §9.1.1: the server's response header and features, then a stream error.
#[test]
fn rfc6120_9_1_server_side() {
    let stream = "<stream:stream\n     from='im.example.com'\n     \
        id='t7AMCin9zjMNwQKDnplntZPIDEI='\n     to='juliet@im.example.com'\n     \
        version='1.0'\n     xml:lang='en'\n     xmlns='jabber:client'\n     \
        xmlns:stream='http://etherx.jabber.org/streams'>\
        <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\
        <required/></starttls></stream:features>\
        <proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\
        <stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
        </stream:error></stream:stream>";
    let (events, err) = run_all_splits(Limits::default(), stream.as_bytes());
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            header(
                Some("juliet@im.example.com"),
                Some("im.example.com"),
                Some("t7AMCin9zjMNwQKDnplntZPIDEI="),
                Some("en"),
                "jabber:client"
            ),
            el(Element::new("features", STREAMS_NS)
                .child(Element::new("starttls", TLS).child(Element::new("required", TLS)))),
            el(Element::new("proceed", TLS)),
            el(Element::new("error", STREAMS_NS).child(Element::new("not-well-formed", STANZAS))),
            StreamEvent::StreamClose,
        ]
    );
}

/// RFC 6120 §9.2.1: a server-to-server stream header (content namespace jabber:server),
/// with a dialback-style prefixed element (XEP-0220 §2.1).
#[test]
fn rfc6120_9_2_server_to_server() {
    let stream = "<stream:stream from='im.example.com' to='example.net' version='1.0' \
        xmlns='jabber:server' xmlns:db='jabber:server:dialback' \
        xmlns:stream='http://etherx.jabber.org/streams'>\
        <db:result from='example.org' to='xmpp.example.com'>b4835385f37fe2895af6c196b59097b16862406db80559900d596b9c</db:result>";
    let (events, err) = run_all_splits(Limits::default(), stream.as_bytes());
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            header(
                Some("example.net"),
                Some("im.example.com"),
                None,
                None,
                "jabber:server"
            ),
            el(Element::new("result", "jabber:server:dialback")
                .with_attr("from", "example.org")
                .with_attr("to", "xmpp.example.com")
                .with_text("b4835385f37fe2895af6c196b59097b16862406db80559900d596b9c")),
        ]
    );
}

/// Escapes, character references, CDATA, line ends, namespaced and xml: attributes.
#[test]
fn text_attributes_and_namespaces() {
    let stream = format!(
        "{CLIENT_HEADER}<message to='a&amp;b&apos;&quot;&lt;&gt;' x:y='1 \t\n2&#10;' \
        xmlns:x='urn:x' xml:lang='fr'>\
        <body>1 &lt; 2 &amp;&amp; &#x1F600;&#233; \"q\" 'a'\r\nb\rc<![CDATA[<raw>&amp;]]]]></body>\
        <x:data xmlns:x='urn:y'><inner xmlns=''/></x:data></message>"
    );
    let (events, err) = run_all_splits(Limits::default(), stream.as_bytes());
    assert_eq!(err, None);
    let mut message = Element::new("message", "jabber:client")
        .with_attr("to", "a&b'\"<>")
        .with_attr("xml:lang", "fr")
        .child(
            Element::new("body", "jabber:client")
                .with_text("1 < 2 && 😀é \"q\" 'a'\nb\nc<raw>&amp;]]"),
        )
        .child(Element::new("data", "urn:y").child(Element::new("inner", "")));
    // Attribute order is document order; rebuild to match it.
    message = {
        let mut m = Element::new("message", "jabber:client").with_attr("to", "a&b'\"<>");
        m.set_attr_ns("y", "urn:x", "1   2\n");
        m.set_attr("xml:lang", "fr");
        for n in message.nodes() {
            if let crate::xml::Node::Element(c) = n {
                m.push_child(c.clone());
            }
        }
        m
    };
    assert_eq!(events.get(1), Some(&el(message.clone())));
    assert_eq!(message.attr("y"), None);
    assert_eq!(message.attr_ns("y", "urn:x"), Some("1   2\n"));
    // And it round-trips through the serializer.
    let again = format!("{CLIENT_HEADER}{}", message.to_xml("jabber:client"));
    assert_eq!(run(again.as_bytes()).0.get(1), Some(&el(message)));
}

#[test]
fn keepalives_bom_and_several_elements_per_feed() {
    let stream = format!(
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"utf-8\" standalone='yes'?>\n{CLIENT_HEADER} \n \
        <presence/> <presence/>\t\r\n<iq type='get' id='1'/>  </stream:stream>  \n"
    );
    let (events, err) = run_all_splits(Limits::default(), stream.as_bytes());
    assert_eq!(err, None);
    assert_eq!(events.len(), 5);
    assert_eq!(events[1], el(Element::new("presence", "jabber:client")));
    assert_eq!(events[4], StreamEvent::StreamClose);
}

#[test]
fn self_closing_stream_and_prefixed_default() {
    let s = "<s:stream xmlns:s='http://etherx.jabber.org/streams'/>";
    let (events, err) = run_all_splits(Limits::default(), s.as_bytes());
    assert_eq!(err, None);
    assert_eq!(
        events,
        vec![
            StreamEvent::StreamOpen(StreamHeader::default()),
            StreamEvent::StreamClose
        ]
    );
}

#[test]
fn reset_expects_new_header() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(CLIENT_HEADER.as_bytes());
    p.feed(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><garbage");
    assert!(matches!(
        p.next_event(),
        Ok(Some(StreamEvent::StreamOpen(_)))
    ));
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Element(_)))));
    assert_eq!(p.next_event(), Ok(None));
    assert!(p.buffered_len() > 0);
    p.reset();
    assert_eq!(p.buffered_len(), 0);
    p.feed(b"<?xml version='1.0'?>");
    p.feed(CLIENT_HEADER.as_bytes());
    p.feed(b"<message/>");
    assert!(matches!(
        p.next_event(),
        Ok(Some(StreamEvent::StreamOpen(_)))
    ));
    assert_eq!(
        p.next_event(),
        Ok(Some(el(Element::new("message", "jabber:client"))))
    );
    assert_eq!(p.next_event(), Ok(None));
    assert_eq!(p.buffered_len(), 0);
    // A reset also revives a dead parser.
    p.feed(b"<!--");
    assert!(p.next_event().is_err());
    p.reset();
    p.feed(CLIENT_HEADER.as_bytes());
    assert!(matches!(
        p.next_event(),
        Ok(Some(StreamEvent::StreamOpen(_)))
    ));
}

const BILLION_LAUGHS: &str = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n \
    <!ENTITY lol \"lol\">\n <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
    <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n\
    <stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
    <message><body>&lol3;</body></message>";

fn nwf_any(r: &Option<ParseError>) -> bool {
    matches!(r, Some(ParseError::NotWellFormed(_)))
}

/// Each error kind, each input checked at every split point.
#[test]
fn errors() {
    use LimitKind as L;
    use ParseError as E;
    use RestrictedKind as R;
    let h = CLIENT_HEADER;
    let cases: Vec<(String, Option<ParseError>)> = vec![
        (BILLION_LAUGHS.into(), Some(E::Restricted(R::Doctype))),
        (format!("{h}<!DOCTYPE x>"), Some(E::Restricted(R::Doctype))),
        (
            format!("{h}<!ENTITY x 'y'>"),
            Some(E::Restricted(R::Doctype)),
        ),
        (format!("{h}<!-- hi -->"), Some(E::Restricted(R::Comment))),
        (format!("{h}<message><!--"), Some(E::Restricted(R::Comment))),
        (
            "<?php echo 1; ?>".into(),
            Some(E::Restricted(R::ProcessingInstruction)),
        ),
        (
            format!("{h}<?php"),
            Some(E::Restricted(R::ProcessingInstruction)),
        ),
        (
            format!("{h}<a><?xml version='1.0'?>"),
            Some(E::Restricted(R::ProcessingInstruction)),
        ),
        (
            format!("<?xml version='1.0'?><?xml version='1.0'?>{h}"),
            Some(E::Restricted(R::ProcessingInstruction)),
        ),
        (
            format!("{h}<a>&foo;</a>"),
            Some(E::Restricted(R::EntityReference)),
        ),
        (
            format!("{h}<a b='&nbsp;'/>"),
            Some(E::Restricted(R::EntityReference)),
        ),
        (
            "<stream:stream xmlns:stream='urn:wrong'>".into(),
            Some(E::InvalidNamespace),
        ),
        (
            "<foo xmlns='http://etherx.jabber.org/streams'>".into(),
            Some(E::InvalidNamespace),
        ),
        (
            "<stream xmlns='jabber:client'>".into(),
            Some(E::InvalidNamespace),
        ),
        (
            "<stream:stream xmlns='jabber:client'>".into(),
            Some(E::BadNamespacePrefix),
        ),
        (format!("{h}<foo:bar/>"), Some(E::BadNamespacePrefix)),
        (format!("{h}<bar foo:x='1'/>"), Some(E::BadNamespacePrefix)),
        (
            format!("{h}<a xmlns:p='u'/><p:b/>"),
            Some(E::BadNamespacePrefix),
        ),
        (format!("{h}<xml:a/>"), Some(E::BadNamespacePrefix)),
        (
            format!("<?xml version='1.0' encoding='ISO-8859-1'?>{h}"),
            Some(E::UnsupportedEncoding),
        ),
        (
            format!("<?xml version='1.0' encoding='UTF-16'?>{h}"),
            Some(E::UnsupportedEncoding),
        ),
        (
            format!("{h}<a>caf\u{e9}</a>").replace('é', "\u{FFFD}"),
            None,
        ),
    ];
    for (input, want) in &cases {
        let (_, got) = run_all_splits(Limits::default(), input.as_bytes());
        assert_eq!(&got, want, "input {input:?}");
    }

    let not_well_formed: Vec<String> = vec![
        format!("{h}<a></b>"),
        format!("{h}</a>"),
        "</stream:stream>".into(),
        format!("{h}</stream>"),
        format!("{h}hello"),
        "hello".into(),
        format!("{h}<a>]]></a>"),
        format!("{h}<a b='1' b='2'/>"),
        format!("{h}<a xmlns:p='u' xmlns:q='u' p:b='1' q:b='2'/>"),
        format!("{h}<a b=1/>"),
        format!("{h}<a b='1' / >"),
        format!("{h}<a>&#0;</a>"),
        format!("{h}<a>&#1;</a>"),
        format!("{h}<a>\u{1}</a>"),
        format!("{h}<a b='\u{1b}'/>"),
        format!("{h}<a>&amp</a>"),
        format!("{h}<a>& b;</a>"),
        format!("{h}<a><![CDAT[x]]></a>"),
        format!("{h}<![CDATA[x]]>"),
        format!("{h}<a <b>"),
        format!("{h}<a b='<'>"),
        format!("{h}<>"),
        format!("{h}<1a/>"),
        format!("{h}<a:b:c/>"),
        format!("{h}<a xmlns:p=''/>"),
        format!("{h}<a xmlns:xml='urn:x'/>"),
        format!("{h}<a xmlns:xmlns='urn:x'/>"),
        format!("{h}<a xmlns='http://www.w3.org/XML/1998/namespace'/>"),
        format!("{h}</stream:stream><a/>"),
        format!("{h}</stream:stream>text"),
        "<?xml encoding='UTF-8'?>".into(),
    ];
    for input in &not_well_formed {
        let (_, got) = run_all_splits(Limits::default(), input.as_bytes());
        assert!(nwf_any(&got), "input {input:?} gave {got:?}");
    }

    let mut bad_utf8 = h.as_bytes().to_vec();
    bad_utf8.extend_from_slice(b"<a>\xff\xfe</a>");
    assert_eq!(
        run_all_splits(Limits::default(), &bad_utf8).1,
        Some(E::UnsupportedEncoding)
    );

    // Limits, with a short header (77 bytes) so it fits the small stanza limit. A
    // stanza costs its bytes plus ELEMENT_OVERHEAD (128) per element and
    // ATTR_OVERHEAD (96) per attribute (see `Limits::max_stanza_bytes`).
    let h = "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client'>";
    let small = Limits {
        max_stanza_bytes: 2000,
        max_depth: 3,
        max_attributes: 4,
        max_namespace_bytes: 64,
        max_elements: 12,
    };
    let u64 = format!("urn:{}", "u".repeat(60));
    let u65 = format!("{u64}v");
    let u60 = format!("urn:{}", "u".repeat(56));
    let limit_cases: Vec<(String, Option<ParseError>)> = vec![
        (format!("{h}<a><b><c/></b></a>"), None),
        (
            format!("{h}<a><b><c><d/></c></b></a>"),
            Some(E::Limit(L::Depth)),
        ),
        (format!("{h}<a b='1' c='2' d='3' e='4'/>"), None),
        (
            format!("{h}<a b='1' c='2' d='3' e='4' f='5'/>"),
            Some(E::Limit(L::Attributes)),
        ),
        (
            format!("{h}<a xmlns:b='1' xmlns:c='2' xmlns:d='3' d:e='4' f='5'/>"),
            Some(E::Limit(L::Attributes)),
        ),
        // 2000 = 7 bytes of tags + 1737 of text + 128 for the element + 128 for
        // the text run.
        (format!("{h}<a>{}</a>", "x".repeat(1737)), None),
        (
            format!("{h}<a>{}</a>", "x".repeat(1738)),
            Some(E::Limit(L::StanzaSize)),
        ),
        // A never-ending text run, a never-ending tag, a never-ending header.
        (
            format!("{h}<a>{}", "x".repeat(3000)),
            Some(E::Limit(L::StanzaSize)),
        ),
        (
            format!("{h}<a b='{}", "x".repeat(3000)),
            Some(E::Limit(L::StanzaSize)),
        ),
        (
            format!("<s:stream to='{}", "x".repeat(3000)),
            Some(E::Limit(L::StanzaSize)),
        ),
        (
            format!("{h}<a><![CDATA[{}", "x".repeat(3000)),
            Some(E::Limit(L::StanzaSize)),
        ),
        (
            format!("<?xml version='1.0' {}", " ".repeat(3000)),
            Some(E::Limit(L::StanzaSize)),
        ),
        // Each element and text run costs its overhead: 135 + 5 × (57 + 128 + 128)
        // = 1700 fits, 6 children (2013) do not, though 477 bytes of input would.
        (
            format!(
                "{h}<a>{}</a>",
                format!("<b>{}</b>", "x".repeat(50)).repeat(5)
            ),
            None,
        ),
        (
            format!(
                "{h}<a>{}</a>",
                format!("<b>{}</b>", "x".repeat(50)).repeat(6)
            ),
            Some(E::Limit(L::StanzaSize)),
        ),
        // Text runs between elements too: 135 + 7 × (4 + 128) + 7 × (1 + 128) = 1962,
        // one more pair is over.
        (format!("{h}<a>{}</a>", "<b/>x".repeat(7)), None),
        (
            format!("{h}<a>{}</a>", "<b/>x".repeat(8)),
            Some(E::Limit(L::StanzaSize)),
        ),
        // Adjacent text and CDATA make one run, charged once.
        (format!("{h}<a>{}</a>", "x<![CDATA[y]]>".repeat(100)), None),
        // Attributes too: 7 + 5 × 3 + 128 + 5 × 96 = 630 is under 2000, but 4 such
        // elements are not.
        (
            format!("{h}<a>{}</a>", "<b c='' d='' e='' f=''/>".repeat(3)),
            None,
        ),
        (
            format!("{h}<a>{}</a>", "<b c='' d='' e='' f=''/>".repeat(6)),
            Some(E::Limit(L::StanzaSize)),
        ),
        // The element count: the stanza and 11 children, then 12 children.
        (format!("{h}<a>{}</a>", "<b/>".repeat(11)), None),
        (
            format!("{h}<a>{}</a>", "<b/>".repeat(12)),
            Some(E::Limit(L::Elements)),
        ),
        // Namespace URI length, on the header and in a stanza, default and prefixed.
        (format!("{h}<a xmlns='{u64}'/>"), None),
        (
            format!("{h}<a xmlns='{u65}'/>"),
            Some(E::Limit(L::NamespaceLength)),
        ),
        (
            format!("{h}<a xmlns:p='{u65}'/>"),
            Some(E::Limit(L::NamespaceLength)),
        ),
        (
            format!("<s:stream xmlns:s='{STREAMS_NS}' xmlns:p='{u65}'>"),
            Some(E::Limit(L::NamespaceLength)),
        ),
        (
            format!("<s:stream xmlns:s='{STREAMS_NS}' xmlns:p='{u64}'>"),
            None,
        ),
        // An element whose namespace differs from its parent's is charged the URI
        // (its serialization repeats it): 78 bytes of tags + 128 + 96 for `<a>`, then
        // n × (6 + 128 + 60): 1854 for n = 8, 2048 for n = 9 (1508 without the URI).
        (
            format!("{h}<a xmlns:p='{u60}'>{}</a>", "<p:b/>".repeat(8)),
            None,
        ),
        (
            format!("{h}<a xmlns:p='{u60}'>{}</a>", "<p:b/>".repeat(9)),
            Some(E::Limit(L::StanzaSize)),
        ),
        // So is a namespaced attribute's URI: 78 + 128 + 96, then per `<b>` 32 bytes
        // + 128 + 4 × (96 + 60): 1873 for 2, 2654 for 3 (1934 without the URI).
        (
            format!(
                "{h}<a xmlns:p='{u60}'>{}</a>",
                "<b p:c='' p:d='' p:e='' p:f=''/>".repeat(2)
            ),
            None,
        ),
        (
            format!(
                "{h}<a xmlns:p='{u60}'>{}</a>",
                "<b p:c='' p:d='' p:e='' p:f=''/>".repeat(3)
            ),
            Some(E::Limit(L::StanzaSize)),
        ),
        // Whitespace between stanzas is not held, so is not limited.
        (
            format!("{h}{}<a/>{}<a/>", " ".repeat(500), "\n".repeat(500)),
            None,
        ),
    ];
    for (input, want) in &limit_cases {
        let (_, got) = run_all_splits(small, input.as_bytes());
        assert_eq!(&got, want, "input {input:?}");
    }
}

#[test]
fn exact_stanza_size_boundary() {
    let h = CLIENT_HEADER;
    // The cost of `<a>…</a>` is its length plus one element's and one text run's
    // overhead.
    let limits = Limits {
        max_stanza_bytes: 150 + ELEMENT_OVERHEAD + TEXT_OVERHEAD,
        ..Limits::default()
    };
    let ok = format!("<a>{}</a>", "x".repeat(150 - 7));
    assert_eq!(ok.len(), 150);
    let (ev, err) = run_all_splits(limits, format!("{h}{ok}").as_bytes());
    assert_eq!((ev.len(), err), (2, None));
    let too_big = format!("{h}<a>{}</a>", "x".repeat(150 - 6));
    assert_eq!(
        run_all_splits(limits, too_big.as_bytes()).1,
        Some(ParseError::Limit(LimitKind::StanzaSize))
    );
}

#[test]
fn dead_parser_repeats_its_error() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(CLIENT_HEADER.as_bytes());
    p.feed(b"<!-- x --><message/>");
    assert!(p.next_event().is_ok());
    let e = p.next_event().unwrap_err();
    assert_eq!(e, ParseError::Restricted(RestrictedKind::Comment));
    assert_eq!(e.condition(), "restricted-xml");
    p.feed(b"<message/>");
    assert_eq!(p.next_event(), Err(e.clone()));
    assert_eq!(p.next_event(), Err(e));
    assert_eq!(p.buffered_len(), 0);
}

#[test]
fn conditions_and_messages() {
    let all = [
        (ParseError::NotWellFormed("x".into()), "not-well-formed"),
        (
            ParseError::Restricted(RestrictedKind::Doctype),
            "restricted-xml",
        ),
        (ParseError::Limit(LimitKind::Depth), "policy-violation"),
        (ParseError::InvalidNamespace, "invalid-namespace"),
        (ParseError::BadNamespacePrefix, "bad-namespace-prefix"),
        (ParseError::UnsupportedEncoding, "unsupported-encoding"),
    ];
    for (e, c) in all {
        assert_eq!(e.condition(), c);
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn header_debug_scrubs_jids() {
    let (events, _) = run(
        b"<stream:stream from='juliet@im.example.com' to='secret.example' \
          xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    let d = format!("{events:?}");
    assert!(!d.contains("juliet") && !d.contains("secret"), "{d}");
}

#[test]
fn buffer_is_released_between_stanzas() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(CLIENT_HEADER.as_bytes());
    let big = format!("<message><body>{}</body></message>", "x".repeat(100_000));
    p.feed(big.as_bytes());
    p.feed(b"<presence");
    assert!(p.next_event().unwrap().is_some());
    assert!(p.next_event().unwrap().is_some());
    assert_eq!(p.next_event(), Ok(None));
    assert!(p.buffered_len() < 100, "held {}", p.buffered_len());
}

/// 200 KiB stanza fed one byte at a time: linear, so quick (quadratic would take minutes).
#[test]
fn linear_on_one_byte_chunks() {
    let unit = "a&amp;<b x='y'>é</b>";
    let n = 200 * 1024 / unit.len() + 1;
    let text = unit.repeat(n);
    let stanza = format!(
        "<message><body>{text}</body><x a='{}'/></message>",
        "v".repeat(4096)
    );
    // About 10 000 elements and attributes: allowed for this test.
    let limits = Limits {
        max_stanza_bytes: 16 << 20,
        max_elements: 1 << 20,
        ..Limits::default()
    };
    assert!(stanza.len() > 200 * 1024);
    let t0 = Instant::now();
    let mut p = StreamParser::new(limits);
    p.feed(CLIENT_HEADER.as_bytes());
    assert!(matches!(
        p.next_event(),
        Ok(Some(StreamEvent::StreamOpen(_)))
    ));
    let mut got = None;
    for b in stanza.as_bytes() {
        p.feed(std::slice::from_ref(b));
        if let Some(ev) = p.next_event().unwrap() {
            got = Some(ev);
        }
    }
    let Some(StreamEvent::Element(m)) = got else {
        panic!("no element");
    };
    assert_eq!(m.name(), "message");
    assert_eq!(m.children().count(), 2);
    assert_eq!(m.first_child().unwrap().children().count(), n);
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "took {:?}",
        t0.elapsed()
    );
}

/// One URI declared once is shared by every element and attribute in it, not copied.
#[test]
fn namespace_uris_are_shared() {
    let uri = format!("urn:{}", "x".repeat(1000));
    let doc = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' xmlns:p='{uri}'>\
         <message>{}<b p:c='1'/></message>",
        "<p:a/>".repeat(100)
    );
    let (events, err) = run(doc.as_bytes());
    assert_eq!(err, None);
    let Some(StreamEvent::Element(m)) = events.get(1) else {
        panic!("no stanza: {events:?}");
    };
    let kids: Vec<&Element> = m.children().collect();
    assert_eq!(kids.len(), 101);
    let first = kids[0].ns_shared();
    assert_eq!(&**first, uri);
    assert!(
        kids[..100]
            .iter()
            .all(|k| Arc::ptr_eq(k.ns_shared(), first))
    );
    let b = kids[100];
    assert_eq!(b.attr_ns("c", &uri), Some("1"));
    // Clones share too.
    let copy = m.clone();
    assert!(Arc::ptr_eq(copy.first_child().unwrap().ns_shared(), first));
}

/// The attack of the hardening issue, at parser level: a 250 KB URI on the header and
/// 40,000 `<p:a/>` in one stanza. With the default limits the header is refused; with
/// a URI cap large enough for it, the stanza is refused after a few children, because
/// each child in a namespace other than its parent's is charged the URI (its
/// serialization repeats it).
#[test]
fn long_namespace_times_many_children_is_refused() {
    let uri = format!("urn:{}", "x".repeat(250_000));
    let header = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' xmlns:p='{uri}'>"
    );
    let stanza = format!("<message>{}</message>", "<p:a/>".repeat(40_000));
    let doc = format!("{header}{stanza}");
    let (events, err) = run(doc.as_bytes());
    assert_eq!(
        (events.len(), err),
        (0, Some(ParseError::Limit(LimitKind::NamespaceLength)))
    );
    let roomy = Limits {
        max_stanza_bytes: 16 << 20,
        max_namespace_bytes: 1 << 20,
        max_elements: 1 << 20,
        ..Limits::default()
    };
    let mut p = StreamParser::new(roomy);
    p.feed(header.as_bytes());
    assert!(matches!(
        p.next_event(),
        Ok(Some(StreamEvent::StreamOpen(_)))
    ));
    let mut err = None;
    for chunk in stanza.as_bytes().chunks(4096) {
        p.feed(chunk);
        if let Err(e) = p.next_event() {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(ParseError::Limit(LimitKind::StanzaSize)));
    assert_eq!(p.buffered_len(), 0);
}

/// The overhead constants cover at least the inline size of what they stand for.
#[test]
fn overheads_cover_the_inline_sizes() {
    assert!(ELEMENT_OVERHEAD >= std::mem::size_of::<crate::xml::Node>());
    assert!(TEXT_OVERHEAD >= std::mem::size_of::<crate::xml::Node>());
    assert!(ATTR_OVERHEAD >= std::mem::size_of::<Attr>());
}

/// Found by the `stanza` fuzz target: an element shorter than the synthetic stream
/// header (e.g. a short offline message) failed with the stanza size limit.
#[test]
fn parse_element_accepts_short_elements() {
    for xml in ["<a/>", "<presence/>", "<message><body>hi</body></message>"] {
        let e = crate::xml::parse_element(xml, "jabber:client").unwrap();
        assert_eq!(e.to_xml("jabber:client"), xml);
    }
    let long = format!("<a>{}</a>", "x".repeat(300));
    assert!(crate::xml::parse_element(&long, "jabber:client").is_ok());
}

/// The fuzzing entry point on the unit vectors (seeds for a fuzz corpus).
#[test]
fn fuzzing_entry_point_on_vectors() {
    crate::xml::fuzzing::parse_stream(BILLION_LAUGHS.as_bytes());
    crate::xml::fuzzing::parse_stream(b"");
    crate::xml::fuzzing::parse_stream(b"\xEF\xBB");
    let s = format!(
        "{CLIENT_HEADER}<message to='a&amp;b' xmlns:x='urn:x' x:y='&#9;'><body>&lt;&#13;\r\n\
         <![CDATA[]]>]]&gt;</body><x:z xmlns=''/></message></stream:stream>"
    );
    crate::xml::fuzzing::parse_stream(s.as_bytes());
}

// ---- property tests ----

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_\u{e9}][a-zA-Z0-9_.\u{e9}-]{0,6}"
        .prop_filter("reserved", |n| !n.to_ascii_lowercase().starts_with("xml"))
}

fn ns() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("jabber:client".to_owned()),
        Just("urn:a".to_owned()),
        Just("urn:x:b".to_owned()),
        Just("http://e.example/?a=1&b='2'\"<>".to_owned()),
    ]
}

fn foreign_ns() -> impl Strategy<Value = String> {
    ns().prop_filter("needs a namespace", |n| !n.is_empty())
}

fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => prop::sample::select(vec![
            '<', '&', '>', '\'', '"', '\r', '\n', '\t', ']', ' ', 'é', '😀', 'a', ';', '#'
        ]),
        1 => any::<char>().prop_filter("XML Char", |c| is_xml_char(*c)),
    ];
    prop::collection::vec(c, 0..12).prop_map(|v| v.into_iter().collect())
}

fn with_attrs(mut e: Element, attrs: Vec<(Option<String>, String, String)>) -> Element {
    for (ns, name, value) in attrs {
        match ns {
            Some(ns) => e.set_attr_ns(&name, &ns, value),
            None => e.set_attr(&name, value),
        }
    }
    e
}

fn attrs() -> impl Strategy<Value = Vec<(Option<String>, String, String)>> {
    let key = prop_oneof![
        name().prop_map(|n| (None, n)),
        Just((None, "xml:lang".to_owned())),
        (foreign_ns(), name()).prop_map(|(ns, n)| (Some(ns), n)),
    ];
    prop::collection::vec((key, text()).prop_map(|((ns, n), v)| (ns, n, v)), 0..4)
}

fn element() -> impl Strategy<Value = Element> {
    let leaf = (name(), ns(), attrs(), text())
        .prop_map(|(n, ns, a, t)| with_attrs(Element::new(n, ns), a).with_text(t));
    leaf.prop_recursive(4, 32, 5, |inner| {
        let node = prop_oneof![inner.prop_map(Node::Element), text().prop_map(Node::Text),];
        (name(), ns(), attrs(), prop::collection::vec(node, 0..5)).prop_map(|(n, ns, a, nodes)| {
            let mut e = with_attrs(Element::new(n, ns), a);
            for node in nodes {
                match node {
                    Node::Element(c) => e.push_child(c),
                    Node::Text(t) => e.push_text(t),
                }
            }
            e
        })
    })
}

use crate::xml::Node;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// parse∘serialize = id, whole and split at an arbitrary point.
    #[test]
    fn round_trip(e in element(), split in any::<prop::sample::Index>()) {
        let doc = format!("{CLIENT_HEADER}{}", e.to_xml("jabber:client"));
        let (events, err) = run(doc.as_bytes());
        prop_assert_eq!(err, None);
        prop_assert_eq!(events.get(1), Some(&StreamEvent::Element(e.clone())));
        let (a, b) = doc.as_bytes().split_at(split.index(doc.len() + 1));
        let (events2, err2) = run_chunks(Limits::default(), [a, b]);
        prop_assert_eq!(err2, None);
        prop_assert_eq!(events2, events);
    }

    /// Arbitrary bytes, alone or after a valid header, never break the invariants.
    #[test]
    fn fuzz_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64), with_header: bool) {
        let mut doc = if with_header { CLIENT_HEADER.as_bytes().to_vec() } else { Vec::new() };
        doc.extend_from_slice(&bytes);
        crate::xml::fuzzing::parse_stream(&doc);
    }

    /// Random streams assembled from XML-ish fragments never break the invariants.
    #[test]
    fn fuzz_fragments(parts in prop::collection::vec(prop::sample::select(vec![
        "<a>", "</a>", "<b x='1'/>", "<c xmlns='urn:c'>", "</c>", "&amp;", "&#x41;", "&bad;",
        "text", " ", "\r\n", "<![CDATA[<x>]]>", "<p:d xmlns:p='urn:p' p:k='v'>", "</p:d>",
        "<!--", "<?pi?>", "]]>", "<e a='\"' b=\"'\">", "</e>", "</stream:stream>", "\u{e9}",
        "\u{1}", "<", ">", "'", "xml:lang='en'", "<f xml:lang='de'/>",
    ]), 0..40)) {
        let body: String = parts.concat();
        let doc = format!("{CLIENT_HEADER}{body}");
        crate::xml::fuzzing::parse_stream(doc.as_bytes());
    }
}
