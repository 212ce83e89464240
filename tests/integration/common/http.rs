//! A tiny HTTP/1.1 client for the server's HTTP listener: HTTPS with the server's
//! certificate pinned ([`get`], [`put`], [`request`]), or plain HTTP over any byte
//! stream ([`request_over`], e.g. a Tor stream to the onion service's port 80).
//!
//! Each request uses its own connection (`Connection: close`); the response is read
//! by `Content-Length` (or to the end of the stream), chunked bodies are decoded.

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Io, Server, TIMEOUT, tls_config};

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// `GET path` over HTTPS to the server's HTTP listener.
pub async fn get(server: &Server, path: &str) -> Response {
    request(server, "GET", path, &[], b"").await
}

/// `PUT path` with `headers` and `body` over HTTPS.
pub async fn put(server: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    request(server, "PUT", path, headers, body).await
}

/// Opens a TLS connection to the HTTP listener, pinning the server's certificate;
/// returns it with the certificate the server presented.
pub async fn connect_tls(
    server: &Server,
) -> (
    tokio_rustls::client::TlsStream<TcpStream>,
    CertificateDer<'static>,
) {
    let addr = server.http.expect("the server has no HTTP listener");
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_config(server.certificate(), false));
    let name = ServerName::try_from(server.domain.clone()).unwrap();
    let tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake with the HTTP listener");
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("a server certificate")
        .clone()
        .into_owned();
    (tls, cert)
}

/// Any request over HTTPS to the server's HTTP listener.
pub async fn request(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let (tls, _) = connect_tls(server).await;
    let host = format!("{}:{}", server.domain, server.http.unwrap().port());
    request_over(tls, &host, method, path, headers, body).await
}

/// Any request in plain HTTP/1.1 over `io`, with `Host: host`.
pub async fn request_over(
    mut io: impl Io,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    tokio::time::timeout(TIMEOUT, async {
        io.write_all(&out).await.unwrap();
        io.flush().await.unwrap();
        read_response(&mut io, method == "HEAD").await
    })
    .await
    .unwrap_or_else(|_| panic!("no HTTP response to {method} {path} within {TIMEOUT:?}"))
}

async fn read_response(io: &mut impl Io, head_only: bool) -> Response {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = io.read(&mut chunk).await.expect("read HTTP response");
        assert!(n > 0, "connection closed before the response headers");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..header_end].to_vec()).expect("ASCII headers");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut resp = Response {
        status,
        headers,
        body: buf[header_end + 4..].to_vec(),
    };
    if head_only || status == 204 || status == 304 {
        resp.body.clear();
        return resp;
    }
    if let Some(len) = resp.header("content-length") {
        let len: usize = len.parse().unwrap();
        while resp.body.len() < len {
            let n = io.read(&mut chunk).await.expect("read HTTP body");
            assert!(n > 0, "connection closed within the body");
            resp.body.extend_from_slice(&chunk[..n]);
        }
        resp.body.truncate(len);
    } else {
        // To the end of the stream (a missing TLS close_notify counts as the end).
        loop {
            match io.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => resp.body.extend_from_slice(&chunk[..n]),
            }
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            resp.body = dechunk(&resp.body);
        }
    }
    resp
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(i) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..i]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("chunk size");
        if size == 0 {
            return out;
        }
        let start = i + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// The XEP-0363 namespace.
pub const UPLOAD_NS: &str = "urn:xmpp:http:upload:0";

/// Uploads `size` bytes as `name` through a XEP-0363 slot; returns the GET path.
pub async fn upload(server: &Server, c: &mut super::Client, name: &str, size: usize) -> String {
    let reply = c
        .iq(
            "slot",
            &format!(
                "<iq type='get' id='slot' to='upload.localhost'><request xmlns='{UPLOAD_NS}' \
                 filename='{name}' size='{size}' content-type='application/octet-stream'/></iq>"
            ),
        )
        .await;
    let slot = reply
        .get_child("slot", UPLOAD_NS)
        .unwrap_or_else(|| panic!("no slot: {}", reply.to_xml(super::CLIENT_NS)));
    let put = slot.get_child("put", UPLOAD_NS).unwrap();
    let auth = put
        .children()
        .find(|h| h.attr("name") == Some("Authorization"))
        .unwrap()
        .text();
    let base = format!("https://localhost:{}", server.http.unwrap().port());
    let path = |el: &allium::xml::Element| {
        el.attr("url")
            .unwrap()
            .strip_prefix(&base)
            .unwrap()
            .to_owned()
    };
    let body = vec![b'x'; size];
    let r = self::put(
        server,
        &path(put),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        &body,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    path(slot.get_child("get", UPLOAD_NS).unwrap())
}

/// A reader that sends `GET path`, reads the response head and then stops reading,
/// over TLS on a socket with a small receive buffer so that the server soon blocks.
/// Returns the status and the open connection.
pub async fn slow_reader(
    server: &Server,
    path: &str,
) -> (u16, tokio_rustls::client::TlsStream<tokio::net::TcpStream>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock.connect(server.http.unwrap()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls_config(server.certificate(), false));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = tokio::time::timeout(TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .unwrap();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(TIMEOUT, async {
        while !head.ends_with(b"\r\n\r\n") {
            let n = tls.read(&mut byte).await.unwrap();
            assert!(n > 0, "closed before the response head");
            head.push(byte[0]);
        }
    })
    .await
    .expect("no response head");
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status == 503 {
        assert!(
            head.to_ascii_lowercase().contains("retry-after:"),
            "a 503 says when to retry:\n{head}"
        );
    }
    (status, tls)
}
