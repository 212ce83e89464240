//! Pastebin helpers: a minimal HTTPS/1.1 GET over the pinned server certificate, URL
//! parsing, and matchers for the `jabber:x:oob` URL (XEP-0066 §3) of a message.

use std::net::SocketAddr;

use allium::xml::Element;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

pub const OOB_NS: &str = "jabber:x:oob";

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `(host:port, path)` of an `https://` URL.
pub fn split_url(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("not an https URL: {url}"));
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    (host.to_owned(), path.to_owned())
}

/// GET `path` over HTTPS from `addr`, trusting only the server's certificate.
pub async fn https_get(server: &Server, addr: SocketAddr, path: &str) -> HttpAnswer {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_config(server.certificate(), false));
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("HTTPS handshake");
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, tls.read_to_end(&mut raw))
        .await
        .expect("HTTP answer in time")
        .ok();
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// GET an `https://host:port/path` URL handed out by the server.
pub async fn fetch(server: &Server, url: &str) -> HttpAnswer {
    let (host, path) = split_url(url);
    let port: u16 = host.rsplit(':').next().unwrap().parse().unwrap();
    https_get(server, SocketAddr::from(([127, 0, 0, 1], port)), &path).await
}

/// The `jabber:x:oob` URL of a message.
pub fn oob_url(e: &Element) -> Option<String> {
    e.get_child("x", OOB_NS)
        .and_then(|x| x.get_child("url", OOB_NS))
        .map(|u| u.text())
}

/// Escapes text for XML content.
pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
