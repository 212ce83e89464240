//! `[http]` (the HTTP listener) and the sections it serves: `[pastebin]` and
//! `[upload]` (XEP-0363).

use serde::{Deserialize, Serialize};

/// `[http]`: the HTTP listener serving uploads (XEP-0363), pastes and the
/// fingerprints page. HTTPS with the server certificate by default; plain HTTP only
/// on loopback (and behind the onion service, whose virtual port `http` always
/// enters it in plain HTTP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Run the HTTP listener. Default `true`.
    pub enabled: bool,
    /// Listening addresses, each `"ip:port"`; port 0 asks the system for a free
    /// port. May be empty (then only the onion service's `http` port serves HTTP).
    /// Default `["127.0.0.1:5443"]` (loopback only).
    pub listen: Vec<String>,
    /// Serve HTTPS with the server certificate. `false` (plain HTTP) is allowed only
    /// when every listen address is loopback. Default `true`.
    pub tls: bool,
    /// Clearnet base URL handed out in stanzas (no trailing slash), e.g.
    /// `"https://xmpp.example.org"`. `""` derives it from the first bound address:
    /// `"https://<first domain>:<port>"` with TLS, `"http://127.0.0.1:<port>"` without.
    /// Default `""`.
    pub public_url: String,
    /// Seconds a response may make no progress in being sent (the client stopped
    /// reading) before its connection is dropped, freeing what it holds (e.g. a place
    /// under `upload.max_concurrent_downloads`). Range `1..=3600`. Default `30`.
    pub send_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: vec!["127.0.0.1:5443".to_owned()],
            tls: true,
            public_url: String::new(),
            send_timeout_secs: 30,
        }
    }
}

/// `[pastebin]`: long messages are stored as pastes (served by the HTTP listener under
/// `/pastebin/`) and their body replaced by their first line and the paste's URL, with a
/// `jabber:x:oob` URL (XEP-0066). End-to-end encrypted messages are never touched.
/// Privacy: a paste is plaintext the server stores until it expires, linked to nothing
/// but its random URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PastebinConfig {
    /// Paste long messages at all (needs an HTTP base URL: `[http]` or the onion
    /// service). Default `true`.
    pub enabled: bool,
    /// Paste groupchat messages of room occupants. Default `true`.
    pub rooms: bool,
    /// Paste `chat` and `normal` messages between local accounts. Default `false`.
    pub private_messages: bool,
    /// A body with more characters (Unicode scalar values, not bytes) is pasted.
    /// Range `1..=1_000_000`. Default `500`.
    pub max_chars: u32,
    /// A body with this many lines or more is pasted. Range `2..=10_000`. Default `5`.
    pub max_lines: u32,
    /// The first line kept in the message is cut to this many characters.
    /// Range `0..=1000`. Default `150`.
    pub summary_chars: u32,
    /// Seconds a paste is served; then it answers 404 and is deleted.
    /// Range `1..=31_536_000` (a year). Default `86400` (24 h).
    pub expire_secs: u64,
    /// Pastes one account may cause in any 24 hours (counted in memory only, never
    /// stored with the paste); a long message beyond is refused with
    /// `<resource-constraint/>` rather than delivered in full. Range `1..=1_000_000`.
    /// Default `100`.
    pub max_pastes_per_day: u32,
}

impl Default for PastebinConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            rooms: true,
            private_messages: false,
            max_chars: 500,
            max_lines: 5,
            summary_chars: 150,
            expire_secs: 86_400,
            max_pastes_per_day: 100,
        }
    }
}

/// `[upload]`: XEP-0363 HTTP File Upload, one service per hosted domain on
/// `<subdomain>.<domain>`, storing files under `<state_dir>/uploads` and serving them
/// on the HTTP listener (needs `http.enabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UploadConfig {
    /// Run the service. Default `true`.
    pub enabled: bool,
    /// The service's domain is `<subdomain>.<domain>` for every hosted domain; one DNS
    /// label. Default `"upload"`.
    pub subdomain: String,
    /// Largest file accepted, in bytes, advertised in disco (XEP-0363 §2, XEP-0128).
    /// Range `1..=1073741824` (1 GiB). Default `10485760` (10 MiB).
    pub max_file_bytes: u64,
    /// Bytes an account may request slots for in any 24 hours (counted at request
    /// time). At least `max_file_bytes`. Default `104857600` (100 MiB).
    pub daily_quota_bytes: u64,
    /// Seconds after which a file (and what links it to its uploader) is deleted from
    /// disk and the database. Range `1..=31536000` (a year). Default `604800` (7 days).
    pub expire_secs: u64,
    /// Seconds a slot accepts its upload (the PUT token's lifetime). Range `1..=86400`.
    /// Default `300`.
    pub slot_valid_secs: u64,
    /// Files served (GET) at once, all clients together; each is streamed from disk.
    /// A GET beyond this is answered `503 Service Unavailable` with `Retry-After`.
    /// Range `1..=10000`. Default `64`.
    pub max_concurrent_downloads: u32,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            subdomain: "upload".to_owned(),
            max_file_bytes: 10 * 1024 * 1024,
            daily_quota_bytes: 100 * 1024 * 1024,
            expire_secs: 7 * 24 * 3600,
            slot_valid_secs: 300,
            max_concurrent_downloads: 64,
        }
    }
}
