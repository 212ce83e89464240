//! Character classes, name checks and escaping shared by the parser and the serializer.
//!
//! Implements the production rules of XML 1.0 (Fifth Edition) §2.2 (`Char`), §2.3 (`Name`,
//! `NameStartChar`, `NameChar`, `S`) and Namespaces in XML 1.0 (Third Edition) §3 (`NCName`).

/// The namespace URI bound to the `xml` prefix (Namespaces in XML 1.0 §3).
pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// The namespace URI bound to the `xmlns` prefix (Namespaces in XML 1.0 §3).
pub(crate) const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// XML whitespace (`S`, XML 1.0 §2.3): space, tab, CR, LF.
pub(crate) const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `Char` (XML 1.0 §2.2): may this character appear in an XML 1.0 document at all?
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// `NameStartChar` (XML 1.0 §2.3) without `:`.
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// `NameChar` (XML 1.0 §2.3) without `:`.
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}'
            | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// `NCName` (Namespaces in XML 1.0 §3): a non-empty name without any colon.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start(c) => chars.all(is_name_char),
        _ => false,
    }
}

/// Splits a `QName` (`prefix:local` or `local`) into `(prefix, local)`, checking both parts.
///
/// Returns `None` when `s` is not a valid QName (empty part, more than one colon, bad char).
pub(crate) fn split_qname(s: &str) -> Option<(&str, &str)> {
    match s.split_once(':') {
        Some((p, l)) if is_ncname(p) && is_ncname(l) => Some((p, l)),
        Some(_) => None,
        None if is_ncname(s) => Some(("", s)),
        None => None,
    }
}

/// Does `s` contain only `Char`s (XML 1.0 §2.2)?
pub(crate) fn all_xml_chars(s: &str) -> bool {
    s.chars().all(is_xml_char)
}

/// Normalizes line ends as XML 1.0 §2.11 requires: `\r\n` and a lone `\r` become `\n`.
pub(crate) fn normalize_eol(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\r') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Appends `s` escaped for XML character data or a single-quoted attribute value.
///
/// `& < > ' "` become the predefined entities. `\r` always becomes `&#13;` (it would otherwise
/// be normalized away, XML 1.0 §2.11); in attribute values `\t` and `\n` become `&#9;` and
/// `&#10;` (attribute-value normalization, XML 1.0 §3.3.3). Characters that are not XML 1.0
/// `Char`s cannot be represented at all and are written as U+FFFD.
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str, attribute: bool) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep: &str = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\'' => "&apos;",
            '"' => "&quot;",
            '\r' => "&#13;",
            '\t' if attribute => "&#9;",
            '\n' if attribute => "&#10;",
            c if !is_xml_char(c) => "\u{FFFD}",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(last..i).unwrap_or_default());
        out.extend_from_slice(rep.as_bytes());
        last = i + c.len_utf8();
    }
    out.extend_from_slice(bytes.get(last..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_ncname("message"));
        assert!(is_ncname("x-1.y_z"));
        assert!(is_ncname("é"));
        assert!(!is_ncname(""));
        assert!(!is_ncname("1a"));
        assert!(!is_ncname("a:b"));
        assert!(!is_ncname("a b"));
        assert_eq!(split_qname("stream:stream"), Some(("stream", "stream")));
        assert_eq!(split_qname("body"), Some(("", "body")));
        assert_eq!(split_qname("a:b:c"), None);
        assert_eq!(split_qname(":b"), None);
        assert_eq!(split_qname("a:"), None);
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_into(&mut out, "a<b>&'\"\r\n\t\u{1}é", false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a&lt;b&gt;&amp;&apos;&quot;&#13;\n\t\u{FFFD}é"
        );
        let mut out = Vec::new();
        escape_into(&mut out, "\n\t\r", true);
        assert_eq!(String::from_utf8(out).unwrap(), "&#10;&#9;&#13;");
    }

    #[test]
    fn eol() {
        assert_eq!(normalize_eol("a\r\nb\rc\n"), "a\nb\nc\n");
        assert_eq!(normalize_eol("plain"), "plain");
    }

    #[test]
    fn chars() {
        assert!(is_xml_char('\t'));
        assert!(!is_xml_char('\u{0}'));
        assert!(!is_xml_char('\u{1B}'));
        assert!(!is_xml_char('\u{FFFE}'));
        assert!(is_xml_char('\u{1F600}'));
    }
}
