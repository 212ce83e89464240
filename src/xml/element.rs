//! The element tree: [`Element`] and [`Node`], with a namespace-aware serializer.
//!
//! An [`Element`] is what XMPP exchanges at depth 1 of a stream (RFC 6120 §4.1): a stanza or a
//! nonza, with every prefix already resolved to a namespace URI (Namespaces in XML 1.0 §5).
//! Attributes are kept in the order they were given.
//!
//! Attribute keys come in two kinds:
//! - keys without a namespace (`to`, `type`) and keys of the reserved `xml` prefix, which are
//!   stored with the prefix as written (`xml:lang`), because that prefix can never be rebound
//!   (Namespaces in XML 1.0 §3); these are what [`Element::attr`] and [`Element::attrs`] see;
//! - keys in any other namespace (`foo:bar` with `xmlns:foo='u'`), stored as namespace URI plus
//!   local name and reached through [`Element::attr_ns`] and [`Element::attrs_ns`].
//!
//! # Memory
//! Namespace URIs are shared (`Arc<str>`): the parser hands every element and attribute in
//! one namespace the same allocation, and clones of a tree share them too, so a long URI
//! declared once costs its length once however many elements use it.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::chars::{XML_NS, XMLNS_NS, escape_into, is_ncname};

/// One attribute: namespace URI (`""` for none and for `xml:*` keys), key, value.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Attr {
    pub(super) ns: Arc<str>,
    pub(super) name: String,
    pub(super) value: String,
}

/// What the parser charges against [`Limits::max_stanza_bytes`](super::Limits) for each
/// element besides its bytes as written: about its in-memory size when it has no
/// attributes and no children (its [`Node`] in the parent's list, the name's allocation).
pub(super) const ELEMENT_OVERHEAD: usize = 128;

/// What the parser charges for each run of character data (a [`Node::Text`]) besides its
/// bytes as written: its [`Node`] and the text's allocation.
pub(super) const TEXT_OVERHEAD: usize = 128;

/// What the parser charges for each attribute (namespace declarations included) besides
/// its bytes as written: about its in-memory size (its entry, the key's and the value's
/// allocations).
pub(super) const ATTR_OVERHEAD: usize = 96;

/// The shared empty namespace URI (no allocation per element without a namespace).
pub(super) fn no_ns() -> Arc<str> {
    static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
    EMPTY.get_or_init(|| Arc::from("")).clone()
}

/// `ns` as a shared URI: the shared empty one for `""`, else a new allocation.
fn shared(ns: &str) -> Arc<str> {
    if ns.is_empty() {
        no_ns()
    } else {
        Arc::from(ns)
    }
}

/// A child of an [`Element`]: an element or a run of character data.
///
/// Text is stored unescaped (the characters, not their XML escapes). Adjacent text runs are
/// always merged and empty runs are never stored, so two trees that serialize identically
/// compare equal.
#[derive(Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (from text or CDATA sections), unescaped.
    Text(String),
}

impl fmt::Debug for Node {
    /// Prints the element's [`Debug`](Element) form, or only the length of a text run: text
    /// may be a message body and must not reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Element(e) => e.fmt(f),
            Node::Text(t) => write!(f, "Text({} bytes)", t.len()),
        }
    }
}

/// An XML element with its namespace resolved (Namespaces in XML 1.0 §5.1, RFC 6120 §4.8).
///
/// Shape: local name (no prefix), namespace URI (`""` for none), ordered attributes, ordered
/// child [`Node`]s. Build one with [`Element::new`] and the builder methods
/// [`with_attr`](Element::with_attr), [`child`](Element::child) and
/// [`with_text`](Element::with_text), or get one from [`StreamParser`](super::StreamParser).
///
/// `Debug` prints the name, the namespace and the child element names only, never attribute
/// values or text (bodies and keys may be inside).
#[derive(Clone, PartialEq, Eq)]
pub struct Element {
    name: String,
    ns: Arc<str>,
    attrs: Vec<Attr>,
    nodes: Vec<Node>,
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let children: Vec<&str> = self.children().map(|c| c.name()).collect();
        f.debug_struct("Element")
            .field("name", &self.name)
            .field("ns", &self.ns)
            .field("children", &children)
            .finish()
    }
}

impl Element {
    /// A new element with local name `name` in namespace `ns` (`""` for no namespace), with
    /// no attributes and no children.
    ///
    /// `name` must be an `NCName` (Namespaces in XML 1.0 §3) for the element to be
    /// serializable; [`write_to`](Element::write_to) skips elements with invalid names.
    /// `ns` is copied once into a shared allocation (see [`Element::new_shared`]).
    pub fn new(name: impl Into<String>, ns: impl AsRef<str>) -> Element {
        Element::new_shared(name, shared(ns.as_ref()))
    }

    /// Like [`Element::new`], with a namespace URI shared with other elements (no copy).
    pub fn new_shared(name: impl Into<String>, ns: Arc<str>) -> Element {
        Element {
            name: name.into(),
            ns,
            attrs: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// An element with the attributes `attrs` as given (the parser checked them for
    /// duplicates).
    pub(super) fn with_parsed_attrs(name: &str, ns: Arc<str>, attrs: Vec<Attr>) -> Element {
        Element {
            name: name.to_owned(),
            ns,
            attrs,
            nodes: Vec::new(),
        }
    }

    /// Releases the spare capacity of the child list (once the element is complete).
    pub(super) fn shrink(&mut self) {
        self.nodes.shrink_to_fit();
    }

    /// Builder: sets attribute `name` (unprefixed, or `xml:*` such as `xml:lang`) to `value`,
    /// replacing an existing value. See [`set_attr`](Element::set_attr).
    #[must_use]
    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder: appends a child element.
    #[must_use]
    pub fn child(mut self, e: Element) -> Self {
        self.push_child(e);
        self
    }

    /// Builder: appends character data (merged with a preceding text run; empty text is
    /// ignored). `t` is the unescaped text.
    #[must_use]
    pub fn with_text(mut self, t: impl Into<String>) -> Self {
        self.push_text(t);
        self
    }

    /// The local name, without any prefix (e.g. `message`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resolved namespace URI (e.g. `jabber:client`); `""` when in no namespace.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The namespace URI as shared (see [`Element::new_shared`]), to build elements in
    /// the same namespace without copying it.
    pub fn ns_shared(&self) -> &Arc<str> {
        &self.ns
    }

    /// Is this element `name` in namespace `ns`?
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && &*self.ns == ns
    }

    /// The value (unescaped) of attribute `name`: an unprefixed attribute (`type`) or one of
    /// the `xml` prefix (`xml:lang`, RFC 6120 §4.7.4). `None` when absent.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attr_ns(name, "")
    }

    /// The value of the attribute with local name `name` in namespace `ns`. With `ns == ""`
    /// this is [`attr`](Element::attr).
    pub fn attr_ns(&self, name: &str, ns: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && &*a.ns == ns)
            .map(|a| a.value.as_str())
    }

    /// Sets attribute `name` (unprefixed, or `xml:*`) to the unescaped `value`, replacing an
    /// existing value in place or appending a new attribute.
    ///
    /// Names that cannot be serialized (not an `NCName` nor `xml:` + `NCName`, or `xmlns`
    /// itself) are stored but skipped by the serializer, so they can never inject markup or
    /// namespace declarations.
    pub fn set_attr(&mut self, name: &str, value: impl Into<String>) {
        self.set_attr_ns(name, "", value);
    }

    /// Sets the attribute with local name `name` in namespace `ns` (`""` for none) to the
    /// unescaped `value`, replacing an existing value in place or appending it.
    pub fn set_attr_ns(&mut self, name: &str, ns: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .attrs
            .iter_mut()
            .find(|a| a.name == name && &*a.ns == ns)
        {
            Some(a) => a.value = value,
            None => self.attrs.push(Attr {
                ns: shared(ns),
                name: name.to_owned(),
                value,
            }),
        }
    }

    /// Removes attribute `name` (unprefixed, or `xml:*`) and returns its value, if present.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.name == name && a.ns.is_empty())?;
        Some(self.attrs.remove(i).value)
    }

    /// The attributes without a namespace (including `xml:*`), as `(name, value)` pairs in
    /// document order.
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs
            .iter()
            .filter(|a| a.ns.is_empty())
            .map(|a| (a.name.as_str(), a.value.as_str()))
    }

    /// All attributes as `(namespace, name, value)` triples in document order; the namespace
    /// is `""` for unprefixed and `xml:*` attributes.
    pub fn attrs_ns(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.attrs
            .iter()
            .map(|a| (&*a.ns, a.name.as_str(), a.value.as_str()))
    }

    /// The child elements (text nodes skipped), in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The child elements, mutably, in document order.
    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.nodes.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// All child nodes (elements and text runs) in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The first child element `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// The first child element `name` in namespace `ns`, mutably.
    pub fn get_child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.children_mut().find(|c| c.is(name, ns))
    }

    /// Is there a child element `name` in namespace `ns`?
    pub fn has_child(&self, name: &str, ns: &str) -> bool {
        self.get_child(name, ns).is_some()
    }

    /// The first child element, whatever its name (e.g. the payload of an IQ, RFC 6120 §8.2.3).
    pub fn first_child(&self) -> Option<&Element> {
        self.children().next()
    }

    /// Appends a child element.
    pub fn push_child(&mut self, e: Element) {
        self.nodes.push(Node::Element(e));
    }

    /// Appends unescaped character data, merged into a preceding text run; empty text is
    /// ignored.
    pub fn push_text(&mut self, t: impl Into<String>) {
        let t = t.into();
        if t.is_empty() {
            return;
        }
        match self.nodes.last_mut() {
            Some(Node::Text(prev)) => prev.push_str(&t),
            _ => self.nodes.push(Node::Text(t)),
        }
    }

    /// Removes and returns the first child element `name` in namespace `ns`. Text runs that
    /// become adjacent are merged.
    pub fn remove_child(&mut self, name: &str, ns: &str) -> Option<Element> {
        let i = self
            .nodes
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.is(name, ns)))?;
        let removed = self.nodes.remove(i);
        self.merge_text_at(i);
        match removed {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        }
    }

    /// Keeps only the child elements for which `f` returns `true` (text runs are kept and
    /// merged where they become adjacent).
    pub fn retain_children(&mut self, mut f: impl FnMut(&Element) -> bool) {
        let old = std::mem::take(&mut self.nodes);
        for n in old {
            match n {
                Node::Element(e) => {
                    if f(&e) {
                        self.nodes.push(Node::Element(e));
                    }
                }
                Node::Text(t) => self.push_text(t),
            }
        }
    }

    /// The concatenation of the direct text children (unescaped), e.g. a `<body/>`'s content.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            if let Node::Text(t) = n {
                s.push_str(t);
            }
        }
        s
    }

    /// Merges `nodes[i - 1]` and `nodes[i]` if both are text.
    fn merge_text_at(&mut self, i: usize) {
        if i == 0 || i >= self.nodes.len() {
            return;
        }
        let both_text = matches!(
            (self.nodes.get(i - 1), self.nodes.get(i)),
            (Some(Node::Text(_)), Some(Node::Text(_)))
        );
        if both_text
            && let Node::Text(t) = self.nodes.remove(i)
            && let Some(Node::Text(prev)) = self.nodes.get_mut(i - 1)
        {
            prev.push_str(&t);
        }
    }

    /// Serializes this element as UTF-8 XML, appending to `out`.
    ///
    /// `parent_ns` is the default namespace in scope where the element is written (for a
    /// stanza: the stream's content namespace, e.g. `jabber:client`, RFC 6120 §4.8.2). An
    /// `xmlns='…'` declaration is emitted only when the element's namespace differs from it.
    /// Attributes in other namespaces get generated prefixes (`ns0`, `ns1`, …) declared on the
    /// same element. Values are single-quoted; `& < > ' "` are escaped everywhere, and CR (and
    /// TAB/LF in attribute values) as character references, so the output re-parses to the
    /// same tree.
    ///
    /// # Security
    /// Elements whose name is not an `NCName` are skipped entirely, and attributes with
    /// unserializable names (including `xmlns` and `xmlns:*`) are skipped, so a tree built
    /// from untrusted strings cannot inject markup or namespace declarations. Elements in the
    /// reserved `xml`/`xmlns` namespaces are skipped for the same reason. Characters that XML
    /// 1.0 cannot carry are written as U+FFFD.
    pub fn write_to(&self, out: &mut Vec<u8>, parent_ns: &str) {
        if !is_ncname(&self.name) || &*self.ns == XML_NS || &*self.ns == XMLNS_NS {
            return;
        }
        out.push(b'<');
        out.extend_from_slice(self.name.as_bytes());
        if &*self.ns != parent_ns {
            out.extend_from_slice(b" xmlns='");
            escape_into(out, &self.ns, true);
            out.push(b'\'');
        }
        // Prefixes for namespaced attributes, declared on this element only.
        let mut prefixes: Vec<&str> = Vec::new();
        for a in &self.attrs {
            if a.ns.is_empty() {
                if !is_plain_attr_name(&a.name) {
                    continue;
                }
                out.push(b' ');
                out.extend_from_slice(a.name.as_bytes());
            } else {
                if !is_ncname(&a.name) || &*a.ns == XML_NS || &*a.ns == XMLNS_NS {
                    continue;
                }
                let idx = match prefixes.iter().position(|p| *p == &*a.ns) {
                    Some(i) => i,
                    None => {
                        prefixes.push(&a.ns);
                        let i = prefixes.len() - 1;
                        out.extend_from_slice(format!(" xmlns:ns{i}='").as_bytes());
                        escape_into(out, &a.ns, true);
                        out.push(b'\'');
                        i
                    }
                };
                out.extend_from_slice(format!(" ns{idx}:").as_bytes());
                out.extend_from_slice(a.name.as_bytes());
            }
            out.extend_from_slice(b"='");
            escape_into(out, &a.value, true);
            out.push(b'\'');
        }
        if self.nodes.is_empty() {
            out.extend_from_slice(b"/>");
            return;
        }
        out.push(b'>');
        for n in &self.nodes {
            match n {
                Node::Element(e) => e.write_to(out, &self.ns),
                Node::Text(t) => escape_into(out, t, false),
            }
        }
        out.extend_from_slice(b"</");
        out.extend_from_slice(self.name.as_bytes());
        out.push(b'>');
    }

    /// Moves this element and every descendant in namespace `from` to namespace `to`
    /// (other namespaces are left alone). Streams whose content namespace is not the
    /// server's internal one (`jabber:server` on a server-to-server stream, RFC 6120
    /// §4.8.3) map what they read into it, and [`write_content`](Element::write_content)
    /// maps it back when writing.
    pub fn map_ns(&mut self, from: &str, to: &str) {
        if &*self.ns == from {
            self.ns = Arc::from(to);
        }
        for n in &mut self.nodes {
            if let Node::Element(e) = n {
                e.map_ns(from, to);
            }
        }
    }

    /// Serializes a stanza held in the server's internal content namespace `internal`
    /// for a stream whose content namespace is `content_ns`: elements in `internal` are
    /// written as if in `content_ns` (so a stanza built once can be written to a
    /// `jabber:client` or a `jabber:server` stream, RFC 6120 §4.8.3). With both equal
    /// this is [`write_to`](Element::write_to).
    pub fn write_content(&self, out: &mut Vec<u8>, internal: &str, content_ns: &str) {
        if internal == content_ns || !self.has_ns_deep(internal) {
            return self.write_to(out, content_ns);
        }
        let mut c = self.clone();
        c.map_ns(internal, content_ns);
        c.write_to(out, content_ns);
    }

    /// Whether this element or a descendant is in namespace `ns`.
    fn has_ns_deep(&self, ns: &str) -> bool {
        &*self.ns == ns || self.children().any(|c| c.has_ns_deep(ns))
    }

    /// Serializes this element to a `String`; see [`write_to`](Element::write_to).
    pub fn to_xml(&self, parent_ns: &str) -> String {
        let mut out = Vec::new();
        self.write_to(&mut out, parent_ns);
        // The serializer only writes valid UTF-8 (names and escaped `str` data).
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Is `name` writable as a namespace-less attribute key: an `NCName` or `xml:` + `NCName`,
/// never `xmlns`?
fn is_plain_attr_name(name: &str) -> bool {
    match name.strip_prefix("xml:") {
        Some(local) => is_ncname(local),
        None => is_ncname(name) && name != "xmlns",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_accessors() {
        let mut m = Element::new("message", "jabber:client")
            .with_attr("to", "juliet@example.com")
            .with_attr("xml:lang", "en")
            .child(Element::new("body", "jabber:client").with_text("Art thou"))
            .child(Element::new("thread", "jabber:client"));
        m.set_attr_ns("bar", "urn:foo", "x");
        assert!(m.is("message", "jabber:client"));
        assert_eq!(m.attr("to"), Some("juliet@example.com"));
        assert_eq!(m.attr("xml:lang"), Some("en"));
        assert_eq!(m.attr("bar"), None);
        assert_eq!(m.attr_ns("bar", "urn:foo"), Some("x"));
        assert_eq!(m.attrs().count(), 2);
        assert_eq!(m.attrs_ns().count(), 3);
        assert_eq!(m.children().count(), 2);
        assert_eq!(m.first_child().map(Element::name), Some("body"));
        assert!(m.has_child("body", "jabber:client"));
        assert!(!m.has_child("body", "jabber:server"));
        assert_eq!(
            m.get_child("body", "jabber:client").map(Element::text),
            Some("Art thou".to_owned())
        );
        m.get_child_mut("thread", "jabber:client")
            .unwrap()
            .push_text("t1");
        assert_eq!(m.remove_attr("to"), Some("juliet@example.com".to_owned()));
        assert_eq!(m.remove_attr("to"), None);
        m.set_attr("type", "chat");
        m.set_attr("type", "normal");
        assert_eq!(m.attr("type"), Some("normal"));
        let t = m.remove_child("thread", "jabber:client").unwrap();
        assert_eq!(t.text(), "t1");
        assert!(m.remove_child("thread", "jabber:client").is_none());
        m.retain_children(|c| c.name() != "body");
        assert_eq!(m.children().count(), 0);
        for c in m.children_mut() {
            c.set_attr("x", "y");
        }
    }

    #[test]
    fn text_merging() {
        let mut e = Element::new("a", "")
            .with_text("x")
            .with_text("")
            .with_text("y");
        assert_eq!(e.nodes().len(), 1);
        e.push_child(Element::new("b", ""));
        e.push_text("z");
        assert_eq!(e.nodes().len(), 3);
        assert_eq!(e.text(), "xyz");
        e.remove_child("b", "");
        assert_eq!(e.nodes(), &[Node::Text("xyz".into())]);
        let mut e = Element::new("a", "")
            .with_text("x")
            .child(Element::new("b", ""))
            .with_text("y");
        e.retain_children(|_| false);
        assert_eq!(e.nodes(), &[Node::Text("xy".into())]);
    }

    #[test]
    fn serialize() {
        let m = Element::new("message", "jabber:client")
            .with_attr("to", "a&b<'\">")
            .with_attr("xml:lang", "en")
            .child(Element::new("body", "jabber:client").with_text("1 < 2 & 'x' \"y\" ]]> é"))
            .child(Element::new("x", "urn:ext"))
            .child(Element::new("y", ""));
        assert_eq!(
            m.to_xml("jabber:client"),
            "<message to='a&amp;b&lt;&apos;&quot;&gt;' xml:lang='en'>\
             <body>1 &lt; 2 &amp; &apos;x&apos; &quot;y&quot; ]]&gt; é</body>\
             <x xmlns='urn:ext'/><y xmlns=''/></message>"
        );
        assert_eq!(
            m.to_xml(""),
            m.to_xml("jabber:client")
                .replacen("<message", "<message xmlns='jabber:client'", 1)
        );
    }

    #[test]
    fn serialize_namespaced_attrs() {
        let mut e = Element::new("e", "u");
        e.set_attr_ns("a", "urn:1", "1");
        e.set_attr_ns("b", "urn:2", "2");
        e.set_attr_ns("c", "urn:1", "3");
        assert_eq!(
            e.to_xml("u"),
            "<e xmlns:ns0='urn:1' ns0:a='1' xmlns:ns1='urn:2' ns1:b='2' ns0:c='3'/>"
        );
    }

    #[test]
    fn serializer_skips_invalid_names() {
        let mut e = Element::new("e", "");
        e.set_attr("xmlns", "evil");
        e.set_attr("a='1' b", "x");
        e.set_attr("xmlns:p", "evil");
        e.set_attr_ns("a b", "urn:x", "evil");
        e.set_attr_ns("lang", XML_NS, "evil");
        e.push_child(Element::new("bad name", ""));
        e.push_child(Element::new("lang", XML_NS));
        assert_eq!(e.to_xml(""), "<e></e>");
        assert_eq!(Element::new("", "").to_xml(""), "");
    }

    #[test]
    fn debug_hides_content() {
        let m = Element::new("message", "jabber:client")
            .with_attr("to", "secret-jid")
            .child(Element::new("body", "jabber:client").with_text("secret body"));
        let d = format!("{m:?} {:?}", m.nodes());
        assert!(d.contains("message") && d.contains("body") && d.contains("jabber:client"));
        assert!(!d.contains("secret"));
    }
}
