//! The HTTP listener: file uploads (XEP-0363), pastes and the fingerprints page.
//!
//! One hyper (HTTP/1.1) service serves every request, whichever way it arrived:
//! - TCP listeners of `http.listen`: HTTPS with the server certificate (plain HTTP
//!   only on loopback addresses, enforced by configuration validation);
//! - the onion service's virtual port mapped to `"http"` (80 by default): plain HTTP
//!   inside the Tor stream, marked [`Via::Onion`].
//!
//! Features plug in as [`Endpoint`]s, each serving one path prefix
//! ([`Endpoints::add`], called in [`crate::server::start`]). This module itself serves
//! `/fingerprints` and `/fingerprints.txt`; anything else is `404 Not Found`.
//!
//! URLs handed out in stanzas start with a base URL ([`BaseUrls`]): the clearnet one
//! (configured or derived from the bound address) or the onion one
//! (`http://<address>.onion`), chosen by how the recipient reached the server
//! ([`Via`], [`crate::router::SessionEntry::via_onion`]); [`localize`] rewrites URLs
//! of outbound stanzas for onion sessions.
//!
//! # Security
//! - Every response carries the same security headers ([`secure`]), hyper's own
//!   answers to malformed requests included ([`hyper_errors`]): a CSP
//!   that allows nothing but same-origin styles and images and no framing, no
//!   referrer, `nosniff`. No cookie is ever set.
//! - There is no access log: requests, paths, user agents and addresses are never
//!   logged, at any level. The service is never handed the peer address of a
//!   connection.

pub mod fingerprints;
pub mod hyper_errors;
mod listener;

pub use fingerprints::FingerprintPages;
pub use listener::{
    CSP, HttpService, WriteTimeout, clearnet_base, onion_base, secure, serve_conn, serve_io, status,
};

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, StreamBody};
use hyper::body::{Body, Frame, SizeHint};

use crate::xml::Element;

/// The body of every response: a whole buffer ([`ResponseBody::new`]) or a stream of
/// chunks ([`ResponseBody::stream`], e.g. a file read from disk chunk by chunk), boxed.
///
/// A stream's error (an I/O error reading the file) ends the connection: the client
/// sees a response shorter than its `Content-Length`.
pub struct ResponseBody(BoxBody<Bytes, std::io::Error>);

impl ResponseBody {
    /// A body of `data`, sent whole (its length is the `Content-Length`).
    pub fn new(data: Bytes) -> Self {
        Self(Full::new(data).map_err(|never| match never {}).boxed())
    }

    /// A body streamed from `chunks`; whatever the stream owns (an open file, a
    /// semaphore permit) is dropped when the response is sent or its connection ends.
    pub fn stream<S>(chunks: S) -> Self
    where
        S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
    {
        let frames = futures_util::StreamExt::map(chunks, |c| c.map(Frame::data));
        Self(StreamBody::new(frames).boxed())
    }
}

impl Default for ResponseBody {
    /// An empty body.
    fn default() -> Self {
        Self::new(Bytes::new())
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("size_hint", &self.0.size_hint())
            .finish()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// Out-of-band data (XEP-0066 §3): the `<x xmlns='jabber:x:oob'><url/></x>` of a
/// message.
pub const OOB: &str = "jabber:x:oob";

/// How a request (or a client session) arrived: decides which base URL answers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A TCP listener (clearnet, or loopback).
    Clearnet,
    /// The onion service.
    Onion,
}

impl Via {
    /// [`Via::Onion`] when `onion`, else [`Via::Clearnet`].
    pub fn from_onion(onion: bool) -> Via {
        if onion { Via::Onion } else { Via::Clearnet }
    }
}

/// One HTTP request as an [`Endpoint`] sees it. It carries no peer address.
pub struct HttpRequest {
    /// The method.
    pub method: hyper::Method,
    /// The path, percent-encoded as received (`/upload/…`).
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// The request headers.
    pub headers: hyper::HeaderMap,
    /// The request body (streamed; the endpoint enforces its own size limit).
    pub body: hyper::body::Incoming,
    /// How the request arrived.
    pub via: Via,
}

/// A feature served under one path prefix.
pub trait Endpoint: Send + Sync + 'static {
    /// Path prefix served, e.g. `"/upload/"` or `"/pastebin/"`.
    fn prefix(&self) -> &'static str;
    /// Answers one request whose path starts with [`Endpoint::prefix`]. The security
    /// headers are added afterwards (an endpoint may set its own `Cache-Control` and
    /// `Content-Security-Policy`; the others are overwritten).
    fn handle<'a>(&'a self, req: HttpRequest) -> BoxFuture<'a, hyper::Response<ResponseBody>>;
}

/// The endpoints of the listener, by path prefix.
#[derive(Clone, Default)]
pub struct Endpoints(Vec<Arc<dyn Endpoint>>);

impl Endpoints {
    /// No endpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an endpoint. When prefixes overlap, the longest matching prefix wins.
    pub fn add(&mut self, endpoint: Arc<dyn Endpoint>) {
        self.0.push(endpoint);
    }

    /// The endpoint serving `path`: the one with the longest prefix of `path`.
    pub fn find(&self, path: &str) -> Option<&Arc<dyn Endpoint>> {
        self.0
            .iter()
            .filter(|e| path.starts_with(e.prefix()))
            .max_by_key(|e| e.prefix().len())
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no endpoint.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|e| e.prefix()))
            .finish()
    }
}

/// Base URLs handed out in stanzas, without trailing slash: clearnet e.g.
/// `"https://localhost:5443"`, onion e.g. `"http://<56 chars>.onion"` (the onion
/// service maps virtual port 80 to the HTTP listener).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseUrls {
    /// The clearnet base URL, when a TCP listener is bound or `http.public_url` is set.
    pub clearnet: Option<String>,
    /// The onion base URL, when the onion service maps a port to `"http"`.
    pub onion: Option<String>,
}

impl BaseUrls {
    /// The base URL for a recipient that arrived `via`: the onion one for
    /// [`Via::Onion`], else the clearnet one; each falls back to the other when
    /// missing. `None` when there is none at all.
    pub fn for_via(&self, via: Via) -> Option<&str> {
        let (first, second) = match via {
            Via::Onion => (&self.onion, &self.clearnet),
            Via::Clearnet => (&self.clearnet, &self.onion),
        };
        first.as_deref().or(second.as_deref())
    }
}

/// Base URLs shared with the features, filled in at start-up once the listener is
/// bound and the onion address is known.
pub type SharedBaseUrls = Arc<std::sync::RwLock<BaseUrls>>;

/// A snapshot of shared base URLs (poisoning is recovered: the value is plain data).
pub fn read_base_urls(shared: &SharedBaseUrls) -> BaseUrls {
    match shared.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// Rewrites URLs of ours for a recipient that arrived `via`: for [`Via::Onion`],
/// every occurrence of the clearnet base URL in the `<body>` texts and in the
/// `jabber:x:oob` `<url>` (XEP-0066 §3) of `el` is replaced by the onion base URL.
/// Does nothing for [`Via::Clearnet`] or when either base URL is unknown.
pub fn localize(el: &mut Element, urls: &BaseUrls, via: Via) {
    if via != Via::Onion {
        return;
    }
    let (Some(clearnet), Some(onion)) = (urls.clearnet.as_deref(), urls.onion.as_deref()) else {
        return;
    };
    if clearnet == onion {
        return;
    }
    let ns = el.ns().to_owned();
    for child in el.children_mut() {
        if child.is("body", &ns) {
            replace_text(child, clearnet, onion);
        } else if child.is("x", OOB) {
            for url in child.children_mut().filter(|u| u.is("url", OOB)) {
                replace_text(url, clearnet, onion);
            }
        }
    }
}

/// Replaces `from` by `to` in the text of `el`, keeping its attributes and child
/// elements (which come after the text).
fn replace_text(el: &mut Element, from: &str, to: &str) {
    let text = el.text();
    if !text.contains(from) {
        return;
    }
    let mut out = Element::new(el.name(), el.ns());
    for (ns, name, value) in el.attrs_ns() {
        out.set_attr_ns(name, ns, value);
    }
    out.push_text(text.replace(from, to));
    for c in el.children() {
        out.push_child(c.clone());
    }
    *el = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls() -> BaseUrls {
        BaseUrls {
            clearnet: Some("https://localhost:5443".into()),
            onion: Some("http://abc.onion".into()),
        }
    }

    #[test]
    fn for_via_falls_back() {
        let u = urls();
        assert_eq!(u.for_via(Via::Onion), Some("http://abc.onion"));
        assert_eq!(u.for_via(Via::Clearnet), Some("https://localhost:5443"));
        let only_clear = BaseUrls {
            clearnet: u.clearnet.clone(),
            onion: None,
        };
        assert_eq!(
            only_clear.for_via(Via::Onion),
            Some("https://localhost:5443")
        );
        let only_onion = BaseUrls {
            clearnet: None,
            onion: u.onion.clone(),
        };
        assert_eq!(only_onion.for_via(Via::Clearnet), Some("http://abc.onion"));
        assert_eq!(BaseUrls::default().for_via(Via::Onion), None);
    }

    fn message() -> Element {
        Element::new("message", "jabber:client")
            .with_attr("to", "a@localhost")
            .child(
                Element::new("body", "jabber:client")
                    .with_text("see https://localhost:5443/pastebin/x and https://other/"),
            )
            .child(
                Element::new("x", OOB)
                    .child(Element::new("url", OOB).with_text("https://localhost:5443/pastebin/x")),
            )
    }

    #[test]
    fn localize_rewrites_body_and_oob_for_onion() {
        let mut m = message();
        localize(&mut m, &urls(), Via::Onion);
        let body = m.get_child("body", "jabber:client").unwrap();
        assert_eq!(
            body.text(),
            "see http://abc.onion/pastebin/x and https://other/"
        );
        let url = m
            .get_child("x", OOB)
            .unwrap()
            .get_child("url", OOB)
            .unwrap();
        assert_eq!(url.text(), "http://abc.onion/pastebin/x");
        assert_eq!(m.attr("to"), Some("a@localhost"));
    }

    #[test]
    fn localize_leaves_clearnet_and_unknown_alone() {
        let mut m = message();
        localize(&mut m, &urls(), Via::Clearnet);
        assert_eq!(m, message());
        let no_onion = BaseUrls {
            clearnet: urls().clearnet,
            onion: None,
        };
        localize(&mut m, &no_onion, Via::Onion);
        assert_eq!(m, message());
    }

    #[test]
    fn endpoints_longest_prefix() {
        struct E(&'static str);
        impl Endpoint for E {
            fn prefix(&self) -> &'static str {
                self.0
            }
            fn handle<'a>(
                &'a self,
                _req: HttpRequest,
            ) -> BoxFuture<'a, hyper::Response<ResponseBody>> {
                Box::pin(async { hyper::Response::new(ResponseBody::default()) })
            }
        }
        let mut e = Endpoints::new();
        e.add(Arc::new(E("/a/")));
        e.add(Arc::new(E("/a/b/")));
        assert_eq!(e.find("/a/b/c").map(|e| e.prefix()), Some("/a/b/"));
        assert_eq!(e.find("/a/c").map(|e| e.prefix()), Some("/a/"));
        assert!(e.find("/b").is_none());
    }
}
