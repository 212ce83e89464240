//! XEP-0115 Entity Capabilities, for PEP's `+notify` filtering (XEP-0163 §4.3.2): the
//! `<c/>` of a presence, the verification string of a disco#info answer (§5.1, with the
//! §5.4 checks), and a bounded cache of verified answers by hash.
//!
//! # Security
//! A client could claim another client's `ver` with other features, so only answers
//! whose hash matches their `ver` are cached for everyone; an unverifiable answer
//! counts for the session that gave it only. The cache holds at most
//! [`CACHE_ENTRIES`] hashes (oldest dropped first); each entry is bounded by the
//! stanza size limit of the answer it came from.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use base64::Engine as _;
use sha1::Digest as _;

use crate::ns;
use crate::xml::Element;

/// Most verified hashes kept.
pub const CACHE_ENTRIES: usize = 4096;

/// The `<c xmlns='http://jabber.org/protocol/caps' hash node ver/>` of a presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    /// `hash`: `sha-1` or `sha-256` (XEP-0115 §5.1 with the IANA hash names).
    pub hash: String,
    /// `node`: the client software's URI.
    pub node: String,
    /// `ver`: the base64 hash of the verification string.
    pub ver: String,
}

impl Caps {
    /// The cache key: hash name and `ver`.
    pub fn key(&self) -> String {
        format!("{} {}", self.hash, self.ver)
    }
}

/// The capabilities in a presence, if it has a hashed `<c/>` (legacy caps without a
/// `hash` attribute are ignored, §8.4 deprecates them).
pub fn parse(presence: &Element) -> Option<Caps> {
    let c = presence.get_child("c", ns::CAPS)?;
    let hash = c.attr("hash")?;
    if !matches!(hash, "sha-1" | "sha-256") {
        return None;
    }
    let node = c.attr("node")?;
    let ver = c.attr("ver")?;
    if ver.is_empty() || ver.len() > 128 || node.len() > 1024 {
        return None;
    }
    Some(Caps {
        hash: hash.to_owned(),
        node: node.to_owned(),
        ver: ver.to_owned(),
    })
}

/// The nodes a disco#info answer asks notifications for: every feature `N+notify`
/// (XEP-0163 §4.3.1).
pub type Notify = HashSet<String>;

/// The `+notify` nodes of a disco#info `<query/>`.
pub fn notify_nodes(info: &Element) -> Notify {
    info.children()
        .filter(|e| e.is("feature", ns::DISCO_INFO))
        .filter_map(|e| e.attr("var"))
        .filter_map(|v| v.strip_suffix("+notify"))
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The XEP-0115 §5.1 verification string of a disco#info `<query/>`, or `None` when the
/// answer breaks §5.4 (duplicate identity or feature, duplicate or malformed forms).
pub fn verification_string(info: &Element) -> Option<String> {
    let mut identities: Vec<String> = info
        .children()
        .filter(|e| e.is("identity", ns::DISCO_INFO))
        .map(|e| {
            format!(
                "{}/{}/{}/{}<",
                e.attr("category").unwrap_or(""),
                e.attr("type").unwrap_or(""),
                e.attr_ns("lang", "http://www.w3.org/XML/1998/namespace")
                    .or_else(|| e.attr("xml:lang"))
                    .unwrap_or(""),
                e.attr("name").unwrap_or("")
            )
        })
        .collect();
    let mut features: Vec<String> = info
        .children()
        .filter(|e| e.is("feature", ns::DISCO_INFO))
        .map(|e| format!("{}<", e.attr("var").unwrap_or("")))
        .collect();
    identities.sort();
    features.sort();
    if has_duplicates(&identities) || has_duplicates(&features) {
        return None;
    }
    let mut forms: Vec<(String, String)> = Vec::new();
    for x in info.children().filter(|e| e.is("x", ns::DATA)) {
        let mut form_type = None;
        let mut fields: Vec<String> = Vec::new();
        for f in x.children().filter(|e| e.is("field", ns::DATA)) {
            let var = f.attr("var").unwrap_or("");
            let mut values: Vec<String> = f
                .children()
                .filter(|v| v.is("value", ns::DATA))
                .map(|v| format!("{}<", v.text()))
                .collect();
            if var == "FORM_TYPE" {
                if form_type.is_some() || values.len() != 1 || f.attr("type") != Some("hidden") {
                    return None;
                }
                form_type = values.pop();
                continue;
            }
            values.sort();
            fields.push(format!("{var}<{}", values.concat()));
        }
        // §5.4 3.6: forms without a hidden FORM_TYPE are ignored.
        let Some(form_type) = form_type else {
            continue;
        };
        fields.sort();
        forms.push((form_type.clone(), format!("{form_type}{}", fields.concat())));
    }
    forms.sort();
    if forms.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let forms: String = forms.into_iter().map(|(_, s)| s).collect();
    Some(format!(
        "{}{}{forms}",
        identities.concat(),
        features.concat()
    ))
}

fn has_duplicates(sorted: &[String]) -> bool {
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// Whether `info` hashes to `caps.ver` (XEP-0115 §5.4).
pub fn verify(caps: &Caps, info: &Element) -> bool {
    let Some(s) = verification_string(info) else {
        return false;
    };
    let digest = match caps.hash.as_str() {
        "sha-1" => sha1::Sha1::digest(s.as_bytes()).to_vec(),
        "sha-256" => sha2::Sha256::digest(s.as_bytes()).to_vec(),
        _ => return false,
    };
    base64::engine::general_purpose::STANDARD.encode(digest) == caps.ver
}

/// Verified answers by [`Caps::key`], at most [`CACHE_ENTRIES`].
#[derive(Debug, Default)]
pub struct CapsCache {
    map: HashMap<String, Arc<Notify>>,
    order: VecDeque<String>,
}

impl CapsCache {
    /// The `+notify` nodes of a verified hash.
    pub fn get(&self, key: &str) -> Option<Arc<Notify>> {
        self.map.get(key).cloned()
    }

    /// Remembers a verified answer, dropping the oldest beyond [`CACHE_ENTRIES`].
    pub fn insert(&mut self, key: String, notify: Arc<Notify>) {
        if self.map.insert(key.clone(), notify).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHE_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::parse_element;

    /// XEP-0115 §5.2, the simple example.
    #[test]
    fn simple_example_verifies() {
        let info = parse_element(
            "<query xmlns='http://jabber.org/protocol/disco#info' \
             node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>\
             <identity category='client' name='Exodus 0.9.1' type='pc'/>\
             <feature var='http://jabber.org/protocol/caps'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/disco#items'/>\
             <feature var='http://jabber.org/protocol/muc'/></query>",
            ns::CLIENT,
        )
        .unwrap();
        assert_eq!(
            verification_string(&info).unwrap(),
            "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<\
             http://jabber.org/protocol/disco#info<\
             http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<"
        );
        let caps = Caps {
            hash: "sha-1".into(),
            node: "http://code.google.com/p/exodus".into(),
            ver: "QgayPKawpkPSDYmwT/WM94uAlu0=".into(),
        };
        assert!(verify(&caps, &info));
        let wrong = Caps {
            ver: "AAAAPKawpkPSDYmwT/WM94uAlu0=".into(),
            ..caps
        };
        assert!(!verify(&wrong, &info));
    }

    /// XEP-0115 §5.3, the complex example with an extended form.
    #[test]
    fn complex_example_verifies() {
        let info = parse_element(
            "<query xmlns='http://jabber.org/protocol/disco#info' \
             node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>\
             <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>\
             <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>\
             <feature var='http://jabber.org/protocol/caps'/>\
             <feature var='http://jabber.org/protocol/disco#info'/>\
             <feature var='http://jabber.org/protocol/disco#items'/>\
             <feature var='http://jabber.org/protocol/muc'/>\
             <x xmlns='jabber:x:data' type='result'>\
             <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>\
             <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>\
             <field var='os'><value>Mac</value></field>\
             <field var='os_version'><value>10.5.1</value></field>\
             <field var='software'><value>Psi</value></field>\
             <field var='software_version'><value>0.11</value></field>\
             </x></query>",
            ns::CLIENT,
        )
        .unwrap();
        let caps = Caps {
            hash: "sha-1".into(),
            node: "http://psi-im.org".into(),
            ver: "q07IKJEyjvHSyhy//CH0CxmKi8w=".into(),
        };
        assert!(verify(&caps, &info), "{:?}", verification_string(&info));
    }

    #[test]
    fn duplicates_and_notify() {
        let info = parse_element(
            "<query xmlns='http://jabber.org/protocol/disco#info'>\
             <feature var='urn:xmpp:omemo:2:devices+notify'/>\
             <feature var='urn:xmpp:omemo:2:devices+notify'/></query>",
            ns::CLIENT,
        )
        .unwrap();
        assert!(verification_string(&info).is_none());
        assert!(notify_nodes(&info).contains("urn:xmpp:omemo:2:devices"));
    }

    #[test]
    fn cache_is_bounded() {
        let mut c = CapsCache::default();
        for i in 0..CACHE_ENTRIES + 10 {
            c.insert(format!("k{i}"), Arc::new(Notify::new()));
        }
        assert!(c.get("k0").is_none());
        assert!(c.get(&format!("k{}", CACHE_ENTRIES + 9)).is_some());
        assert_eq!(c.map.len(), CACHE_ENTRIES);
    }
}
