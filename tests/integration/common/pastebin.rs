//! Pastebin helpers: the path of a paste URL, and the `jabber:x:oob` URL (XEP-0066 §3)
//! of a message. Fetching goes through [`super::http`].

use allium::xml::Element;

pub const OOB_NS: &str = "jabber:x:oob";

/// `(scheme://host:port, path)` of a URL.
pub fn split_url(url: &str) -> (String, String) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let slash = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    (url[..slash].to_owned(), url[slash..].to_owned())
}

/// The `jabber:x:oob` URL of a message.
pub fn oob_url(e: &Element) -> Option<String> {
    e.get_child("x", OOB_NS)
        .and_then(|x| x.get_child("url", OOB_NS))
        .map(|u| u.text())
}
