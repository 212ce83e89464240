//! The HTTP listener (issue 5): the published fingerprints, security headers, 404s,
//! plain HTTP only on loopback, and no access log.

use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;

use crate::common::http::{self, Response};
use crate::common::*;

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The headers every response carries: a CSP allowing no script and no third-party
/// resource (CSP Level 3), no referrer (W3C Referrer Policy), `nosniff` (Fetch §3.6),
/// and never a cookie (RFC 6265 `Set-Cookie`).
fn assert_secure(r: &Response) {
    let csp = r.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("script-src"), "{csp}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("cache-control").is_some(), "{:?}", r.headers);
    assert!(r.header("set-cookie").is_none(), "{:?}", r.headers);
}

/// `/fingerprints` and `/fingerprints.txt` publish the SHA-1 / SHA-256 of the very
/// certificate the HTTPS listener presents, and its DANE `TLSA 3 1 1` (RFC 6698 §2.1:
/// SHA-256 of the SubjectPublicKeyInfo), for the domain and its conference domain;
/// the text is the output of `allium fingerprints` (same names, same values).
#[tokio::test]
async fn fingerprints_page_matches_the_certificate() {
    let server = Server::start();
    let (_, cert) = http::connect_tls(&server).await;
    let sha1 = colon_hex(&Sha1::digest(cert.as_ref()));
    let sha256 = colon_hex(&Sha256::digest(cert.as_ref()));
    let (_, x509) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    let tlsa = hex::encode(Sha256::digest(x509.tbs_certificate.subject_pki.raw));

    let page = http::get(&server, "/fingerprints").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert_secure(&page);
    let html = page.text();
    for needle in [&sha1, &sha256, &tlsa] {
        assert!(html.contains(needle.as_str()), "{needle} missing:\n{html}");
    }
    assert!(html.contains("<h2>localhost</h2>"), "{html}");
    assert!(html.contains("<h2>conference.localhost</h2>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let https_port = server.http.unwrap().port();
    assert!(
        html.contains(&format!(
            "_{https_port}._tcp.localhost. IN TLSA 3 1 1 {tlsa}"
        )),
        "{html}"
    );

    let txt = http::get(&server, "/fingerprints.txt").await;
    assert_eq!(txt.status, 200);
    assert_secure(&txt);
    let txt = txt.text();
    let (ok, cli, err) = server.cli(&["fingerprints"], "");
    assert!(ok, "{err}");
    // Same names and fingerprints as the CLI (the TLSA ports differ: the CLI reads the
    // configured port 0, the page the bound ports).
    let without_tlsa = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.contains("TLSA"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(without_tlsa(&txt), without_tlsa(&cli));
    assert_eq!(
        without_tlsa(&txt),
        [
            "localhost".to_owned(),
            format!("  SHA-1   {sha1}"),
            format!("  SHA-256 {sha256}"),
            "conference.localhost".to_owned(),
            format!("  SHA-1   {sha1}"),
            format!("  SHA-256 {sha256}"),
        ]
    );
    assert!(cli.contains(&tlsa), "{cli}");

    // The stylesheet the page links is served from the same origin (CSP style-src 'self').
    let css = http::get(&server, "/style.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}

/// Unknown paths are `404 Not Found` (RFC 9110 §15.5.5), other methods on the pages
/// `405` with `Allow` (§15.5.6), and every answer, errors included, has the security
/// headers and no cookie.
#[tokio::test]
async fn unknown_paths_are_404_with_security_headers() {
    let server = Server::start();
    for path in [
        "/",
        "/nope",
        "/fingerprints/",
        "/fingerprints.html",
        "/upload",
        "/pastebin",
        "/../etc/passwd",
    ] {
        let r = http::get(&server, path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_secure(&r);
    }
    let r = http::put(&server, "/fingerprints", &[], b"x").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_secure(&r);
    let r = http::request(&server, "HEAD", "/fingerprints", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_secure(&r);
}

/// `http.tls = false` is refused on a non-loopback address (plain HTTP would expose
/// uploads and pastes on the network), naming the key; it is accepted on loopback,
/// where the listener then speaks plain HTTP.
#[tokio::test]
async fn plain_http_only_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[tor]\nenabled = false\n\n[http]\ntls = false\nlisten = [\"127.0.0.1:0\", \"0.0.0.0:0\"]\n",
    )
    .unwrap();
    let (ok, out, err) = run_cli(&path, &["run"], "");
    assert!(!ok, "a non-loopback plain HTTP listener must be refused");
    assert!(!out.contains("ready"), "{out}");
    assert!(err.contains("http.listen[1]"), "{err}");
    assert!(!err.contains("http.listen[0]"), "{err}");

    let server = Server::builder()
        .toml("[http]\ntls = false\nlisten = [\"127.0.0.1:0\"]\n")
        .start();
    let tcp = TcpStream::connect(server.http.unwrap()).await.unwrap();
    let r = http::request_over(tcp, "127.0.0.1", "GET", "/fingerprints.txt", &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("localhost\n"), "{}", r.text());
    assert_secure(&r);
}

/// No access log (issue 5, SECURITY.md): after requests, even at debug level, the log
/// holds no IP address, no requested path and no user agent.
#[tokio::test]
async fn no_access_log() {
    let server = Server::start();
    let secret_path = "/nope-7f3a9c";
    let r = http::get(&server, secret_path).await;
    assert_eq!(r.status, 404);
    let r = http::request(
        &server,
        "GET",
        "/fingerprints",
        &[("User-Agent", "agent-5b1e")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    // Stop the server so everything it logged is flushed.
    let mut server = server;
    assert!(server.stop());
    let log = server.stderr();
    for needle in ["127.0.0.1", "nope-7f3a9c", "/fingerprints", "agent-5b1e"] {
        assert!(!log.contains(needle), "{needle:?} in the log:\n{log}");
    }
}
