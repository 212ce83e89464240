//! The certificate fingerprints as providers publish them: `/fingerprints` (HTML),
//! `/fingerprints.txt` (the text of `allium fingerprints`) and `/style.css`.
//!
//! The same certificate serves every hosted domain and its conference domain, so each
//! name gets the same SHA-1 / SHA-256 fingerprints and one DANE `TLSA 3 1 1` line per
//! TLS port (RFC 6698 §2.1, RFC 7673 for XMPP).

use crate::config::Config;
use crate::tls::Fingerprints;

/// The names whose fingerprints are published: every hosted domain, each followed by
/// its conference domain (`<muc.subdomain>.<domain>`) when MUC is enabled.
pub fn names(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for d in &config.server.domains {
        out.push(d.clone());
        if config.muc.enabled {
            out.push(format!("{}.{d}", config.muc.subdomain));
        }
    }
    out
}

/// The text of `allium fingerprints` and `/fingerprints.txt`: per name, its SHA-1 and
/// SHA-256 and a `TLSA 3 1 1` line per port in `ports`.
pub fn text(names: &[String], ports: &[u16], f: &Fingerprints) -> String {
    let mut s = String::new();
    for d in names {
        s.push_str(&format!(
            "{d}\n  SHA-1   {}\n  SHA-256 {}\n",
            f.sha1, f.sha256
        ));
        for p in ports {
            s.push_str(&format!("  _{p}._tcp.{d}. IN TLSA 3 1 1 {}\n", f.tlsa_311));
        }
    }
    s
}

/// The HTML page: no script, no inline style, one same-origin stylesheet.
pub fn html(names: &[String], ports: &[u16], f: &Fingerprints) -> String {
    let mut s = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Certificate fingerprints</title>\n\
         <link rel=\"stylesheet\" href=\"/style.css\">\n</head>\n<body>\n\
         <h1>Certificate fingerprints</h1>\n\
         <p>Compare these with what your client shows before you trust the certificate. \
         Also as <a href=\"/fingerprints.txt\">plain text</a>.</p>\n",
    );
    for d in names {
        let d = escape(d);
        s.push_str(&format!(
            "<section>\n<h2>{d}</h2>\n<dl>\n<dt>SHA-1</dt><dd><code>{}</code></dd>\n\
             <dt>SHA-256</dt><dd><code>{}</code></dd>\n",
            escape(&f.sha1),
            escape(&f.sha256)
        ));
        if !ports.is_empty() {
            s.push_str("<dt>DANE TLSA</dt><dd><pre>");
            for p in ports {
                s.push_str(&format!(
                    "_{p}._tcp.{d}. IN TLSA 3 1 1 {}\n",
                    escape(&f.tlsa_311)
                ));
            }
            s.push_str("</pre></dd>\n");
        }
        s.push_str("</dl>\n</section>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

/// The stylesheet of the pages served here (`/style.css`).
pub const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;\
line-height:1.4}code,pre{font-family:monospace;overflow-wrap:anywhere;white-space:pre-wrap}\
dt{font-weight:bold}h2{border-bottom:1px solid #ccc}\n";

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The prepared fingerprint pages.
#[derive(Debug, Clone)]
pub struct FingerprintPages {
    /// `/fingerprints`.
    pub html: bytes::Bytes,
    /// `/fingerprints.txt`.
    pub text: bytes::Bytes,
}

impl FingerprintPages {
    /// Both pages for `names`, `ports` and the certificate's fingerprints.
    pub fn new(names: &[String], ports: &[u16], f: &Fingerprints) -> Self {
        Self {
            html: html(names, ports, f).into(),
            text: text(names, ports, f).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_include_conference_domains() {
        let mut c = Config::default();
        c.server.domains = vec!["a.example".into(), "b.example".into()];
        assert_eq!(
            names(&c),
            [
                "a.example",
                "conference.a.example",
                "b.example",
                "conference.b.example"
            ]
        );
        c.muc.enabled = false;
        assert_eq!(names(&c), ["a.example", "b.example"]);
    }

    #[test]
    fn pages_list_every_name_and_port() {
        let f = Fingerprints {
            sha1: "AA:BB".into(),
            sha256: "CC:DD".into(),
            tlsa_311: "eeff".into(),
        };
        let names = vec!["x<y".to_owned()];
        let t = text(&names, &[5222, 5443], &f);
        assert_eq!(
            t,
            "x<y\n  SHA-1   AA:BB\n  SHA-256 CC:DD\n  _5222._tcp.x<y. IN TLSA 3 1 1 eeff\n  _5443._tcp.x<y. IN TLSA 3 1 1 eeff\n"
        );
        let h = html(&names, &[5222], &f);
        assert!(h.contains("x&lt;y"));
        assert!(!h.contains("x<y"));
        assert!(h.contains("CC:DD") && h.contains("_5222._tcp.x&lt;y. IN TLSA 3 1 1 eeff"));
        assert!(!h.contains("<script") && !h.contains("style="));
    }
}
