//! XEP-0363 HTTP File Upload: the `upload.<domain>` service (disco, slots, errors) and
//! the `/upload/` endpoint of the HTTP listener (PUT, GET, expiry).

use std::time::Duration;

use allium::xml::Element;

use crate::common::http::{self, Response};
use crate::common::*;

const UPLOAD_NS: &str = "urn:xmpp:http:upload:0";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const DATA_NS: &str = "jabber:x:data";

/// A server with `[upload]` set to `upload_toml` (keys only) and alice's account.
fn server(upload_toml: &str) -> Server {
    let s = Server::builder()
        .toml(&format!("[upload]\n{upload_toml}\n"))
        .start();
    s.add_account("alice", "wonderland");
    s
}

/// Sends a slot request (XEP-0363 §4) and returns the IQ reply.
async fn request_slot(c: &mut Client, id: &str, name: &str, size: usize, ctype: &str) -> Element {
    c.iq(
        id,
        &format!(
            "<iq type='get' id='{id}' to='upload.localhost'><request xmlns='{UPLOAD_NS}' \
             filename='{name}' size='{size}' content-type='{ctype}'/></iq>"
        ),
    )
    .await
}

/// The slot of a successful reply: (PUT path, Authorization header, GET path).
fn slot(reply: &Element, server: &Server) -> (String, String, String) {
    assert_eq!(
        reply.attr("type"),
        Some("result"),
        "slot request failed: {}",
        reply.to_xml(CLIENT_NS)
    );
    let slot = reply.get_child("slot", UPLOAD_NS).expect("<slot/>");
    let put = slot.get_child("put", UPLOAD_NS).expect("<put/>");
    let get = slot.get_child("get", UPLOAD_NS).expect("<get/>");
    let auth = put
        .children()
        .find(|h| h.name() == "header" && h.attr("name") == Some("Authorization"))
        .expect("an Authorization header")
        .text();
    let base = format!("https://localhost:{}", server.http.unwrap().port());
    let path = |url: &str| {
        url.strip_prefix(&base)
            .unwrap_or_else(|| panic!("URL {url} is not under {base}"))
            .to_owned()
    };
    (
        path(put.attr("url").unwrap()),
        auth,
        path(get.attr("url").unwrap()),
    )
}

async fn put(
    server: &Server,
    path: &str,
    auth: Option<&str>,
    ctype: &str,
    body: &[u8],
) -> Response {
    let mut headers = vec![("Content-Type", ctype)];
    if let Some(a) = auth {
        headers.push(("Authorization", a));
    }
    http::put(server, path, &headers, body).await
}

/// The error element of an IQ error reply.
fn error_of(reply: &Element) -> &Element {
    assert_eq!(
        reply.attr("type"),
        Some("error"),
        "{}",
        reply.to_xml(CLIENT_NS)
    );
    reply.get_child("error", CLIENT_NS).unwrap()
}

/// The file of slot `get_path` in the state directory.
fn stored_file(server: &Server, get_path: &str) -> std::path::PathBuf {
    let id = get_path.split('/').nth(2).unwrap();
    server.state_dir().join("uploads").join(id)
}

/// XEP-0363 §3: the service is listed in the server's disco#items and its disco#info
/// has identity store/file, the feature, and an XEP-0128 form with max-file-size.
#[tokio::test]
async fn disco_advertises_service_and_max_file_size() {
    let server = server("max_file_bytes = 4096\ndaily_quota_bytes = 8192");
    let mut c = server.login("alice", "wonderland", "r").await;
    let items = c
        .iq(
            "i1",
            &format!("<iq type='get' id='i1' to='localhost'><query xmlns='{DISCO_ITEMS}'/></iq>"),
        )
        .await;
    let q = items.get_child("query", DISCO_ITEMS).unwrap();
    assert!(
        q.children()
            .any(|i| i.attr("jid") == Some("upload.localhost")),
        "{}",
        items.to_xml(CLIENT_NS)
    );
    let info = c
        .iq(
            "i2",
            &format!(
                "<iq type='get' id='i2' to='upload.localhost'><query xmlns='{DISCO_INFO}'/></iq>"
            ),
        )
        .await;
    let q = info.get_child("query", DISCO_INFO).unwrap();
    assert!(q.children().any(|i| i.name() == "identity"
        && i.attr("category") == Some("store")
        && i.attr("type") == Some("file")));
    assert!(
        q.children()
            .any(|f| f.name() == "feature" && f.attr("var") == Some(UPLOAD_NS))
    );
    let form = q.get_child("x", DATA_NS).expect("XEP-0128 form");
    let value = |var: &str| {
        form.children()
            .find(|f| f.attr("var") == Some(var))
            .and_then(|f| f.get_child("value", DATA_NS))
            .map(|v| v.text())
    };
    assert_eq!(value("FORM_TYPE").as_deref(), Some(UPLOAD_NS));
    assert_eq!(value("max-file-size").as_deref(), Some("4096"));
}

/// XEP-0363 §4-§6: slot, PUT with the slot's header (201), GET returns the bytes with
/// the requested type; a second PUT is 409. The file is on disk with mode 0600. An
/// active type (text/html) is served as an attachment with nosniff (§8).
#[tokio::test]
async fn slot_put_get_round_trip() {
    let server = server("");
    let mut c = server.login("alice", "wonderland", "r").await;
    let body = "hello, upload\n".repeat(100);
    let reply = request_slot(&mut c, "s1", "hello world.txt", body.len(), "text/plain").await;
    let (put_path, auth, get_path) = slot(&reply, &server);
    assert!(
        get_path.starts_with("/upload/") && get_path.ends_with("/hello%20world.txt"),
        "{get_path}"
    );
    let id = get_path.split('/').nth(2).unwrap();
    assert_eq!(id.len(), 32, "128-bit slot id: {id}");

    let r = put(
        &server,
        &put_path,
        Some(&auth),
        "text/plain",
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let file = stored_file(&server, &get_path);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "file mode {mode:o}");

    let r = http::get(&server, &get_path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body.as_bytes());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));

    let again = put(
        &server,
        &put_path,
        Some(&auth),
        "text/plain",
        body.as_bytes(),
    )
    .await;
    assert_eq!(again.status, 409);

    // Active content is never rendered by the browser from our origin.
    let html = b"<script>alert(1)</script>";
    let reply = request_slot(&mut c, "s2", "x.html", html.len(), "text/html").await;
    let (put_path, auth, get_path) = slot(&reply, &server);
    assert_eq!(
        put(&server, &put_path, Some(&auth), "text/html", html)
            .await
            .status,
        201
    );
    let r = http::get(&server, &get_path).await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{:?}",
        r.headers
    );
}

/// XEP-0363 §5: a file over the limit gets modify/not-acceptable with
/// <file-too-large><max-file-size/></file-too-large>.
#[tokio::test]
async fn too_large_is_refused_with_max_file_size() {
    let server = server("max_file_bytes = 1000\ndaily_quota_bytes = 5000");
    let mut c = server.login("alice", "wonderland", "r").await;
    let reply = request_slot(&mut c, "s1", "big.bin", 1001, "application/octet-stream").await;
    let e = error_of(&reply);
    assert_eq!(e.attr("type"), Some("modify"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("not-acceptable"));
    let max = e
        .get_child("file-too-large", UPLOAD_NS)
        .and_then(|f| f.get_child("max-file-size", UPLOAD_NS))
        .map(|m| m.text());
    assert_eq!(max.as_deref(), Some("1000"));
    // Exactly the limit is fine.
    let ok = request_slot(&mut c, "s2", "big.bin", 1000, "application/octet-stream").await;
    slot(&ok, &server);
}

/// XEP-0363 §5: beyond the daily quota, wait/resource-constraint with a <retry stamp/>
/// (when the first slot leaves the 24 h window).
#[tokio::test]
async fn quota_is_resource_constraint_with_retry() {
    let server = server("max_file_bytes = 1000\ndaily_quota_bytes = 1500");
    let mut c = server.login("alice", "wonderland", "r").await;
    let first = request_slot(&mut c, "s1", "a.bin", 1000, "application/octet-stream").await;
    slot(&first, &server);
    let second = request_slot(&mut c, "s2", "b.bin", 600, "application/octet-stream").await;
    let e = error_of(&second);
    assert_eq!(e.attr("type"), Some("wait"));
    assert_eq!(
        stanza_error(&second).as_deref(),
        Some("resource-constraint")
    );
    let stamp = e
        .get_child("retry", UPLOAD_NS)
        .and_then(|r| r.attr("stamp"))
        .expect("<retry stamp/>");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
    // What still fits in the quota is granted.
    let third = request_slot(&mut c, "s3", "c.bin", 500, "application/octet-stream").await;
    slot(&third, &server);
}

/// XEP-0363 §6 (the service checks the PUT): no token 401, a wrong token 403, a
/// Content-Length other than the slot's size 400/413, another Content-Type 400, an
/// unknown slot 404; none of them stores anything (GET stays 404).
#[tokio::test]
async fn bad_puts_are_refused() {
    let server = server("");
    let mut c = server.login("alice", "wonderland", "r").await;
    let reply = request_slot(&mut c, "s1", "a.txt", 10, "text/plain").await;
    let (put_path, auth, get_path) = slot(&reply, &server);
    let ten = b"0123456789";
    assert_eq!(
        put(&server, &put_path, None, "text/plain", ten)
            .await
            .status,
        401
    );
    let forged = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        put(&server, &put_path, Some(&forged), "text/plain", ten)
            .await
            .status,
        403
    );
    assert_eq!(
        put(&server, &put_path, Some(&auth), "text/plain", b"012345678")
            .await
            .status,
        400
    );
    assert_eq!(
        put(
            &server,
            &put_path,
            Some(&auth),
            "text/plain",
            b"0123456789A"
        )
        .await
        .status,
        413
    );
    assert_eq!(
        put(&server, &put_path, Some(&auth), "text/html", ten)
            .await
            .status,
        400
    );
    let other = put_path.replace(&put_path[8..40], &"f".repeat(32));
    assert_eq!(
        put(&server, &other, Some(&auth), "text/plain", ten)
            .await
            .status,
        404
    );
    assert_eq!(http::get(&server, &get_path).await.status, 404);
    // The right request still works afterwards.
    assert_eq!(
        put(&server, &put_path, Some(&auth), "text/plain", ten)
            .await
            .status,
        201
    );
}

/// XEP-0363 §4 (the PUT URL is valid for a limited time): after
/// `upload.slot_valid_secs` the token is refused with 403.
#[tokio::test]
async fn expired_token_is_refused() {
    let server = server("slot_valid_secs = 1");
    let mut c = server.login("alice", "wonderland", "r").await;
    let reply = request_slot(&mut c, "s1", "a.txt", 3, "text/plain").await;
    let (put_path, auth, get_path) = slot(&reply, &server);
    // Expiry is in whole seconds: wait past the next two second boundaries.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = put(&server, &put_path, Some(&auth), "text/plain", b"abc").await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(http::get(&server, &get_path).await.status, 404);
}

/// Issue 5 (expiry): after `upload.expire_secs` the file is removed from disk and its
/// URL answers 404.
#[tokio::test]
async fn expired_files_are_removed() {
    let server = server("expire_secs = 2");
    let mut c = server.login("alice", "wonderland", "r").await;
    let reply = request_slot(&mut c, "s1", "a.txt", 3, "text/plain").await;
    let (put_path, auth, get_path) = slot(&reply, &server);
    assert_eq!(
        put(&server, &put_path, Some(&auth), "text/plain", b"abc")
            .await
            .status,
        201
    );
    let file = stored_file(&server, &get_path);
    assert!(file.exists());
    // The sweeper runs every expire_secs; poll the disk rather than guess.
    let deadline = std::time::Instant::now() + Duration::from_secs(8);
    while file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired file is still on disk"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(http::get(&server, &get_path).await.status, 404);
}

/// Only accounts of the service's domain get slots: a user of another hosted domain,
/// and a session whose account was deleted meanwhile, get auth/forbidden.
#[tokio::test]
async fn other_domains_and_unknown_accounts_are_refused() {
    let server = Server::builder()
        .domains(&["localhost", "example.net"])
        .start();
    server.add_account("alice", "wonderland");
    let (ok, out, err) = server.cli(&["account", "add", "eve@example.net"], "evepass\n");
    assert!(ok, "{out}{err}");
    let mut eve = Client::tcp(&server).await;
    eve.domain = "example.net".into();
    eve.open_stream().await;
    eve.starttls().await;
    eve.open_stream().await;
    eve.auth_plain("eve", "evepass").await.unwrap();
    eve.bind(Some("r")).await;
    let reply = request_slot(&mut eve, "s1", "a.txt", 3, "text/plain").await;
    assert_eq!(error_of(&reply).attr("type"), Some("auth"));
    assert_eq!(stanza_error(&reply).as_deref(), Some("forbidden"));

    let mut alice = server.login("alice", "wonderland", "r").await;
    let (ok, out, err) = server.cli(&["account", "delete", "alice@localhost"], "");
    assert!(ok, "{out}{err}");
    let reply = request_slot(&mut alice, "s2", "a.txt", 3, "text/plain").await;
    assert_eq!(stanza_error(&reply).as_deref(), Some("forbidden"));
}
