//! Tests of parsing, defaults, the example file and validation.

use super::*;

fn problems(text: &str) -> Vec<Problem> {
    match Config::from_toml_str(text) {
        Err(ConfigError::Invalid(p)) => p,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn keys(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn example_parses_to_defaults() {
    assert_eq!(
        Config::from_toml_str(Config::EXAMPLE).unwrap(),
        Config::default()
    );
}

#[test]
fn example_contains_every_key() {
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    let example: toml::Value = toml::from_str(Config::EXAMPLE).unwrap();
    assert_eq!(example, defaults);
}

#[test]
fn defaults_are_valid_and_development_is_default_without_tor() {
    Config::default().validate().unwrap();
    Config::development().validate().unwrap();
    assert!(Config::default().tor.enabled);
    let mut dev = Config::development();
    assert!(!dev.tor.enabled);
    dev.tor.enabled = true;
    assert_eq!(dev, Config::default());
}

#[test]
fn documented_defaults() {
    let c = Config::default();
    assert_eq!(c.server.domains, ["localhost"]);
    assert_eq!(c.state_dir(), PathBuf::from("allium-data"));
    assert_eq!(c.c2s_addrs(), [SocketAddr::from(([127, 0, 0, 1], 5222))]);
    assert_eq!(
        c.c2s_tls_addrs(),
        [SocketAddr::from(([127, 0, 0, 1], 5223))]
    );
    assert_eq!((c.tls.certificate.as_str(), c.tls.key.as_str()), ("", ""));
    assert_eq!(c.tls.min_version, "1.2");
    assert_eq!(c.limits.max_stanza_bytes, 256 * 1024);
    assert_eq!(c.limits.max_depth, 32);
    assert_eq!(c.limits.max_attributes, 64);
    assert_eq!(c.limits.max_namespace_bytes, 1024);
    assert_eq!(c.limits.max_elements, 4096);
    assert_eq!(c.limits.max_resources, 10);
    assert_eq!(c.limits.session_queue, 256);
    assert_eq!(c.limits.handshake_timeout_secs, 60);
    assert_eq!(c.limits.max_preauth_connections, 1000);
    assert_eq!(c.limits.max_preauth_per_source, 16);
    assert_eq!(c.limits.max_connections, 20_000);
    assert_eq!(c.auth.scram_iterations, 4096);
    assert_eq!(c.auth.failure_delay_ms, 1000);
    assert_eq!(c.auth.max_failures_per_account, 5);
    assert_eq!(c.auth.max_failures_per_source, 20);
    assert_eq!(c.auth.failure_window_secs, 300);
    assert_eq!(c.auth.max_failure_delay_ms, 30_000);
    assert_eq!(c.auth.account_failure_budget, 100);
    assert_eq!(c.auth.max_parallel_password_checks, 0);
    assert!(c.offline.enabled);
    assert_eq!(c.offline.max_messages, 100);
    assert!(c.version.enabled);
    assert_eq!(c.log.level, "info");
    assert!(c.tor.enabled);
    assert_eq!(c.tor.state_dir, "tor");
    assert_eq!(
        c.tor_dir(Path::new("/srv/allium")),
        PathBuf::from("/srv/allium/tor")
    );
    let s = &c.tor.onion_service;
    assert!(s.enabled && c.onion_service_enabled());
    assert_eq!(s.nickname, "allium");
    let ports: Vec<(u16, &str)> = s
        .ports
        .iter()
        .map(|p| (p.virtual_port, p.listener.as_str()))
        .collect();
    assert_eq!(
        ports,
        [
            (5222, "c2s"),
            (5223, "c2s_tls"),
            (5269, "s2s"),
            (80, "http")
        ]
    );
    assert!(!s.restricted_discovery.enabled);
    assert!(s.restricted_discovery.authorized_clients.is_empty());
    assert_eq!(c.tor.testing.network, "");
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
    assert_eq!(
        Config::from_toml_str("# nothing but a comment\n\n").unwrap(),
        Config::default()
    );
}

#[test]
fn omitted_keys_take_defaults() {
    let c =
        Config::from_toml_str("[limits]\nmax_depth = 64\n[server]\ndomains = [\"example.org\"]\n")
            .unwrap();
    assert_eq!(c.limits.max_depth, 64);
    assert_eq!(c.limits.max_attributes, 64);
    assert_eq!(c.server.domains, ["example.org"]);
    assert_eq!(c.server.state_dir, "allium-data");
    assert_eq!(c.auth, AuthConfig::default());
}

#[test]
fn unknown_keys_are_all_named() {
    let p = problems(
        "verbose = true\n\
         [limits]\nmax_dept = 16\n\
         [pastebinn]\nenabled = true\n",
    );
    let mut found: Vec<String> = p.iter().map(Problem::to_string).collect();
    found.sort();
    assert_eq!(
        found,
        [
            "limits.max_dept: unknown key (did you mean \"limits.max_depth\"?)",
            "pastebinn: unknown key (did you mean \"pastebin\"?)",
            "verbose: unknown key",
        ]
    );
}

#[test]
fn unknown_keys_come_with_validation_problems() {
    let p = problems("[server]\ndomian = \"x\"\n[limits]\nmax_depth = 4\n");
    assert_eq!(keys(&p), ["server.domian", "limits.max_depth"]);
    assert_eq!(
        p[0].message,
        "unknown key (did you mean \"server.domains\"?)"
    );
}

#[test]
fn several_bad_values_are_all_named() {
    let text = r#"
[server]
domains = []
state_dir = ""
[listeners]
c2s = ["127.0.0.1:5222", "not an address", "localhost:5222"]
c2s_tls = ["127.0.0.1:5222"]
[tls]
certificate = "cert.pem"
min_version = "1.1"
[limits]
max_stanza_bytes = 100
max_depth = 4
max_attributes = 2000
max_namespace_bytes = 63
max_elements = 15
max_resources = 0
session_queue = 0
handshake_timeout_secs = 0
[auth]
scram_iterations = 1000
failure_delay_ms = 600000
max_failure_delay_ms = 600001
max_failures_per_account = 0
account_failure_budget = 0
max_failures_per_source = 0
failure_window_secs = 0
max_failure_counters = 999
max_parallel_password_checks = 1025
[offline]
max_messages = 0
[log]
level = "verbose"
"#;
    let p = problems(text);
    assert_eq!(
        keys(&p),
        [
            "server.domains",
            "server.state_dir",
            "listeners.c2s[1]",
            "listeners.c2s[2]",
            "listeners.c2s_tls[0]",
            "tls.key",
            "tls.min_version",
            "limits.max_stanza_bytes",
            "limits.max_depth",
            "limits.max_attributes",
            "limits.max_namespace_bytes",
            "limits.max_elements",
            "limits.max_resources",
            "limits.session_queue",
            "limits.handshake_timeout_secs",
            "auth.scram_iterations",
            "auth.failure_delay_ms",
            "auth.max_failure_delay_ms",
            "auth.max_failures_per_account",
            "auth.account_failure_budget",
            "auth.max_failures_per_source",
            "auth.failure_window_secs",
            "auth.max_failure_counters",
            "auth.max_parallel_password_checks",
            "offline.max_messages",
            "log.level",
        ]
    );
}

#[test]
fn invalid_display_lists_one_problem_per_line() {
    let err = Config::from_toml_str("[limits]\nmax_depth = 4\nmax_attributes = 4\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "limits.max_depth: must be between 8 and 256 (got 4)\n\
         limits.max_attributes: must be between 8 and 1024 (got 4)"
    );
}

#[test]
fn range_bounds_are_inclusive() {
    let ok = "[limits]\nmax_stanza_bytes = 10000\nmax_depth = 256\nmax_attributes = 8\n\
              max_namespace_bytes = 65536\nmax_elements = 16\nmax_resources = 1000\n[auth]\nscram_iterations = 1000000\nfailure_delay_ms = 0\n\
              [offline]\nmax_messages = 10000\n";
    Config::from_toml_str(ok).unwrap();
    let p = problems("[limits]\nmax_stanza_bytes = 16777217\nmax_depth = 7\n");
    assert_eq!(
        p[0].to_string(),
        "limits.max_stanza_bytes: must be between 10000 and 16777216 (got 16777217)"
    );
    assert_eq!(keys(&p), ["limits.max_stanza_bytes", "limits.max_depth"]);
}

#[test]
fn max_connections_is_bounded() {
    Config::from_toml_str("[limits]\nmax_connections = 1\n").unwrap();
    Config::from_toml_str("[limits]\nmax_connections = 1000000\n").unwrap();
    for bad in [0, 1_000_001] {
        let p = problems(&format!("[limits]\nmax_connections = {bad}\n"));
        assert_eq!(
            p[0].to_string(),
            format!("limits.max_connections: must be between 1 and 1000000 (got {bad})")
        );
        assert_eq!(keys(&p), ["limits.max_connections"]);
    }
}

#[test]
fn domains_are_checked() {
    let p = problems(
        r#"[server]
domains = ["example.org", "user@example.org", "Example.ORG", "", "example.org", "a/b"]"#,
    );
    assert_eq!(
        keys(&p),
        [
            "server.domains[1]",
            "server.domains[2]",
            "server.domains[3]",
            "server.domains[4]",
            "server.domains[5]",
        ]
    );
    assert!(
        p[1].message.contains("normalized form \"example.org\""),
        "{}",
        p[1]
    );
    assert!(p[3].message.contains("listed twice"), "{}", p[3]);
    let c = Config::from_toml_str(
        "[server]\ndomains = [\"example.org\", \"xmpp.example.net\", \"127.0.0.1\", \"localhost\"]\n",
    )
    .unwrap();
    assert_eq!(c.server.domains.len(), 4);
}

#[test]
fn listeners_are_checked() {
    let p = problems("[listeners]\nc2s = []\nc2s_tls = []\n[tor]\nenabled = false\n");
    assert_eq!(keys(&p), ["listeners"]);

    // Direct TLS only, IPv6, and repeated port 0 (tests) are all fine.
    let c = Config::from_toml_str(
        "[listeners]\nc2s = [\"127.0.0.1:0\"]\nc2s_tls = [\"[::1]:5223\", \"127.0.0.1:0\"]\n",
    )
    .unwrap();
    assert_eq!(c.c2s_addrs(), [SocketAddr::from(([127, 0, 0, 1], 0))]);
    assert_eq!(c.c2s_tls_addrs().len(), 2);
    let c = Config::from_toml_str("[listeners]\nc2s = []\n").unwrap();
    assert!(c.c2s_addrs().is_empty());

    let p = problems("[listeners]\nc2s = [\"[::1]:5222\", \"[::1]:5222\"]\n");
    assert_eq!(
        p[0].to_string(),
        "listeners.c2s[1]: address [::1]:5222 is used by another listener"
    );
}

#[test]
fn tls_pair_and_version() {
    let p = problems("[tls]\nkey = \"key.pem\"\nmin_version = \"1.0\"\n");
    assert_eq!(keys(&p), ["tls.certificate", "tls.min_version"]);
    assert_eq!(
        p[1].message,
        "must be one of \"1.2\", \"1.3\" (got \"1.0\")"
    );
    let c = Config::from_toml_str(
        "[tls]\ncertificate = \"c.pem\"\nkey = \"k.pem\"\nmin_version = \"1.3\"\n",
    )
    .unwrap();
    assert_eq!(c.tls.min_version, "1.3");
}

#[test]
fn log_levels() {
    for level in ["error", "warn", "info", "debug", "trace"] {
        Config::from_toml_str(&format!("[log]\nlevel = \"{level}\"\n")).unwrap();
    }
    assert_eq!(keys(&problems("[log]\nlevel = \"INFO\"\n")), ["log.level"]);
}

#[test]
fn type_errors_are_clear_syntax_errors() {
    let err = Config::from_toml_str("[limits]\nmax_depth = \"deep\"\n").unwrap_err();
    let ConfigError::Syntax(source) = &err else {
        panic!("expected Syntax, got {err:?}");
    };
    let detail = source.to_string();
    assert!(detail.contains("line 2"), "{detail}");
    assert!(detail.contains("max_depth"), "{detail}");
    assert!(detail.contains("invalid type: string \"deep\""), "{detail}");
    assert!(std::error::Error::source(&err).is_some());

    for text in [
        "[limits]\nmax_depth = -1\n",
        "[server]\ndomains = \"example.org\"\n",
        "offline = true\n",
        "[version]\nenabled = \"yes\"\n",
    ] {
        assert!(
            matches!(Config::from_toml_str(text), Err(ConfigError::Syntax(_))),
            "{text}"
        );
    }
}

#[test]
fn malformed_toml_is_a_syntax_error() {
    for text in [
        "[limits\n",
        "max_depth = \n",
        "[a]\n[a]\n",
        "x = 1\nx = 2\n",
    ] {
        assert!(
            matches!(Config::from_toml_str(text), Err(ConfigError::Syntax(_))),
            "{text:?}"
        );
    }
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allium.toml");
    std::fs::write(&path, Config::EXAMPLE).unwrap();
    assert_eq!(Config::load(&path).unwrap(), Config::default());

    let missing = dir.path().join("missing.toml");
    let err = Config::load(&missing).unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("missing.toml"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn serialized_config_round_trips() {
    let mut c = Config::default();
    c.server.domains = vec!["example.org".into(), "example.net".into()];
    c.limits.max_depth = 100;
    c.offline.enabled = false;
    let text = toml::to_string(&c).unwrap();
    assert_eq!(Config::from_toml_str(&text).unwrap(), c);
}

#[test]
fn example_documents_every_key_with_its_default() {
    let mut comment = Vec::new();
    for line in Config::EXAMPLE.lines() {
        let line = line.trim();
        if let Some(text) = line.strip_prefix('#') {
            comment.push(text);
        } else if line.starts_with('{') || line.starts_with(']') {
            // The continuation of a multi-line array (`ports = [ ... ]`).
            continue;
        } else if line.is_empty() || line.starts_with('[') {
            comment.clear();
        } else {
            let key = line.split('=').next().unwrap_or_default().trim();
            assert!(
                comment.iter().any(|c| c.contains("Default:")),
                "key {key:?} in example.toml has no comment giving its default"
            );
            comment.clear();
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        if let Err(e) = Config::from_toml_str(&text) {
            let _ = e.to_string();
            if let Some(source) = std::error::Error::source(&e) {
                let _ = source.to_string();
            }
        }
    }

    #[test]
    fn arbitrary_limits_never_panic(depth in proptest::num::i64::ANY, bytes in proptest::num::i64::ANY) {
        let text = format!("[limits]\nmax_depth = {depth}\nmax_stanza_bytes = {bytes}\n");
        let ok = Config::from_toml_str(&text).is_ok();
        proptest::prop_assert_eq!(
            ok,
            (8..=256).contains(&depth) && (10_000..=16_777_216).contains(&bytes)
        );
    }
}

const ONION_ONLY: &str = "[listeners]\nc2s = []\nc2s_tls = []\n";

#[test]
fn onion_only_needs_the_onion_service_with_a_client_port() {
    // Valid: no TCP listener, the onion service feeds c2s.
    let c = Config::from_toml_str(ONION_ONLY).unwrap();
    assert!(c.c2s_addrs().is_empty() && c.c2s_tls_addrs().is_empty());
    let c = Config::from_toml_str(&format!(
        "{ONION_ONLY}[tor.onion_service]\nports = [{{ virtual = 443, listener = \"c2s_tls\" }}]\n"
    ))
    .unwrap();
    assert_eq!(c.tor.onion_service.ports, [TorPort::new(443, "c2s_tls")]);
    // No way in at all.
    for extra in [
        "[tor]\nenabled = false\n",
        "[tor.onion_service]\nenabled = false\n",
        "[tor.onion_service]\nports = [{ virtual = 5269, listener = \"s2s\" }]\n",
        "[tor.onion_service]\nports = []\n",
    ] {
        let p = problems(&format!("{ONION_ONLY}{extra}"));
        assert_eq!(keys(&p), ["listeners"], "{extra}");
        assert!(p[0].message.contains("onion service"), "{}", p[0]);
    }
}

#[test]
fn tor_values_are_checked() {
    let p = problems(
        r#"[tor]
state_dir = ""
[tor.onion_service]
nickname = "Has Spaces"
ports = [
  { virtual = 5222, listener = "c2s" },
  { virtual = 0, listener = "c2s" },
  { virtual = 5222, listener = "c2s_tls" },
  { virtual = 25, listener = "smtp" },
]
[tor.onion_service.restricted_discovery]
enabled = true
authorized_clients = [
  "descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA",
  "descriptor:x25519:zprrmiv6dv6sjfl7sfbsvlj5vunpgcdfevz7m23ltlvtccxjqbka",
  "x25519:abc",
]
"#,
    );
    assert_eq!(
        keys(&p),
        [
            "tor.state_dir",
            "tor.onion_service.nickname",
            "tor.onion_service.ports[1].virtual",
            "tor.onion_service.ports[2].virtual",
            "tor.onion_service.ports[3].listener",
            "tor.onion_service.restricted_discovery.authorized_clients[1]",
            "tor.onion_service.restricted_discovery.authorized_clients[2]",
        ]
    );
    assert_eq!(
        p[4].message,
        "must be one of \"c2s\", \"c2s_tls\", \"s2s\", \"http\" (got \"smtp\")"
    );
    assert!(p[5].message.contains("listed twice"), "{}", p[5]);

    let p = problems("[tor.onion_service.restricted_discovery]\nenabled = true\n");
    assert_eq!(
        keys(&p),
        ["tor.onion_service.restricted_discovery.authorized_clients"]
    );

    // Port numbers are u16: 65536 is a type error, reported as syntax.
    assert!(matches!(
        Config::from_toml_str(
            "[tor.onion_service]\nports = [{ virtual = 65536, listener = \"c2s\" }]\n"
        ),
        Err(ConfigError::Syntax(_))
    ));
    // Unknown keys inside a port entry are named.
    let p = problems(
        "[tor.onion_service]\nports = [{ virtual = 5222, listener = \"c2s\", tls = true }]\n",
    );
    assert_eq!(keys(&p), ["tor.onion_service.ports[0].tls"]);
}

#[test]
fn tor_settings_parse() {
    let c = Config::from_toml_str(
        r#"[tor]
enabled = true
state_dir = "/var/lib/allium-tor"
[tor.onion_service]
nickname = "xmpp_1"
[tor.onion_service.restricted_discovery]
enabled = true
authorized_clients = ["descriptor:x25519:ZPRRMIV6DV6SJFL7SFBSVLJ5VUNPGCDFEVZ7M23LTLVTCCXJQBKA"]
[tor.testing]
network = "/tmp/net.toml"
"#,
    )
    .unwrap();
    assert_eq!(
        c.tor_dir(Path::new("state")),
        PathBuf::from("/var/lib/allium-tor")
    );
    assert_eq!(c.tor.onion_service.nickname, "xmpp_1");
    assert_eq!(
        c.tor.onion_service.ports,
        TorOnionServiceConfig::default().ports
    );
    assert_eq!(c.tor.testing.network, "/tmp/net.toml");
}

#[test]
fn muc_defaults_and_checks() {
    let c = Config::default();
    assert!(c.muc.enabled);
    assert_eq!(c.muc.subdomain, "conference");
    assert_eq!(c.muc.room_creation, "local");
    assert_eq!((c.muc.history_default, c.muc.history_max), (20, 100));
    assert!(!c.muc.public_logs_available);
    assert_eq!(c.muc.default_max_occupants, 200);
    let p = problems(
        "[muc]\nsubdomain = \"Conf.x\"\nroom_creation = \"everyone\"\nhistory_default = 50\n\
         history_max = 10\ndefault_max_occupants = 0\n",
    );
    assert_eq!(
        keys(&p),
        [
            "muc.subdomain",
            "muc.room_creation",
            "muc.history_default",
            "muc.default_max_occupants",
        ]
    );
}

#[test]
fn http_defaults_and_checks() {
    let c = Config::default();
    assert!(c.http.enabled && c.http.tls);
    assert_eq!(c.http.listen, ["127.0.0.1:5443"]);
    assert_eq!(c.http.public_url, "");
    // Plain HTTP on loopback (IPv4 and IPv6) is fine.
    assert!(
        Config::from_toml_str("[http]\ntls = false\nlisten = [\"127.0.0.1:0\", \"[::1]:8080\"]\n")
            .is_ok()
    );
    let p = problems(
        "[http]\ntls = false\nlisten = [\"127.0.0.1:1\", \"0.0.0.0:80\", \"nope\", \"127.0.0.1:5222\"]\n\
         public_url = \"ftp://x/\"\n",
    );
    assert_eq!(
        keys(&p),
        [
            "http.listen[1]",
            "http.listen[2]",
            "http.listen[3]",
            "http.public_url",
        ]
    );
    for ok in [
        "https://xmpp.example.org",
        "http://127.0.0.1:8080",
        "https://x.example/files",
    ] {
        assert!(
            Config::from_toml_str(&format!("[http]\npublic_url = \"{ok}\"\n")).is_ok(),
            "{ok}"
        );
    }
    for bad in ["https://", "https://x/", "x.example", "https://x?y"] {
        assert_eq!(
            keys(&problems(&format!("[http]\npublic_url = \"{bad}\"\n"))),
            ["http.public_url"],
            "{bad}"
        );
    }
}

#[test]
fn pastebin_defaults_and_checks() {
    let c = Config::default();
    assert!(c.pastebin.enabled && c.pastebin.rooms && !c.pastebin.private_messages);
    assert_eq!(
        (
            c.pastebin.max_chars,
            c.pastebin.max_lines,
            c.pastebin.summary_chars
        ),
        (500, 5, 150)
    );
    assert_eq!(c.pastebin.expire_secs, 86_400);
    let p = problems(
        "[pastebin]\nmax_chars = 0\nmax_lines = 1\nsummary_chars = 5000\nexpire_secs = 0\n",
    );
    assert_eq!(
        keys(&p),
        [
            "pastebin.max_chars",
            "pastebin.max_lines",
            "pastebin.summary_chars",
            "pastebin.expire_secs",
        ]
    );
}

#[test]
fn closed_set_values_parse_to_their_variants() {
    let c = Config::default();
    assert_eq!(c.tls.min_version(), Some(TlsVersion::V1_2));
    assert_eq!(c.muc.room_creation(), Some(RoomCreation::Local));
    assert_eq!(c.log.level(), Some(LogLevel::Info));
    let kinds: Vec<_> = c
        .tor
        .onion_service
        .ports
        .iter()
        .map(TorPort::listener)
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ListenerKind::C2s),
            Some(ListenerKind::C2sTls),
            Some(ListenerKind::S2s),
            Some(ListenerKind::Http)
        ]
    );

    for (text, want) in [("1.2", TlsVersion::V1_2), ("1.3", TlsVersion::V1_3)] {
        let c = Config::from_toml_str(&format!("[tls]\nmin_version = \"{text}\"\n")).unwrap();
        assert_eq!(c.tls.min_version(), Some(want), "{text}");
    }
    for (text, want) in [
        ("local", RoomCreation::Local),
        ("admins", RoomCreation::Admins),
        ("anyone", RoomCreation::Anyone),
    ] {
        let c = Config::from_toml_str(&format!("[muc]\nroom_creation = \"{text}\"\n")).unwrap();
        assert_eq!(c.muc.room_creation(), Some(want), "{text}");
    }
    for (text, want) in [
        ("error", LogLevel::Error),
        ("warn", LogLevel::Warn),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ] {
        let c = Config::from_toml_str(&format!("[log]\nlevel = \"{text}\"\n")).unwrap();
        assert_eq!(c.log.level(), Some(want), "{text}");
    }
    let c = Config::from_toml_str(
        "[tor.onion_service]\nports = [{ virtual = 443, listener = \"c2s_tls\" }, \
         { virtual = 5222, listener = \"c2s\" }, { virtual = 5269, listener = \"s2s\" }, \
         { virtual = 8080, listener = \"http\" }]\n",
    )
    .unwrap();
    let kinds: Vec<_> = c
        .tor
        .onion_service
        .ports
        .iter()
        .map(|p| (p.virtual_port, p.listener()))
        .collect();
    assert_eq!(
        kinds,
        [
            (443, Some(ListenerKind::C2sTls)),
            (5222, Some(ListenerKind::C2s)),
            (5269, Some(ListenerKind::S2s)),
            (8080, Some(ListenerKind::Http))
        ]
    );
}

#[test]
fn closed_set_names_round_trip_and_are_exact() {
    for v in TlsVersion::ALL {
        assert_eq!(TlsVersion::parse(v.as_str()), Some(v));
    }
    for r in RoomCreation::ALL {
        assert_eq!(RoomCreation::parse(r.as_str()), Some(r));
    }
    for l in LogLevel::ALL {
        assert_eq!(LogLevel::parse(l.as_str()), Some(l));
    }
    for k in ListenerKind::ALL {
        assert_eq!(ListenerKind::parse(k.as_str()), Some(k));
    }
    assert_eq!(TOR_LISTENER_KINDS, ["c2s", "c2s_tls", "s2s", "http"]);
    for bad in ["1.1", "1.4", "1", "1.30", " 1.3", "TLSv1.3", ""] {
        assert_eq!(TlsVersion::parse(bad), None, "{bad:?}");
    }
    for bad in ["Local", "ADMINS", "everyone", "admin", ""] {
        assert_eq!(RoomCreation::parse(bad), None, "{bad:?}");
    }
    for bad in ["INFO", "warning", "off", "allium=debug", ""] {
        assert_eq!(LogLevel::parse(bad), None, "{bad:?}");
    }
    for bad in ["C2S", "c2s-tls", "s2s_tls", "https", ""] {
        assert_eq!(ListenerKind::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn invalid_closed_set_values_are_reported_with_other_problems() {
    let text = r#"
[tls]
min_version = "1.4"
[limits]
max_depth = 4
[muc]
room_creation = "everyone"
[log]
level = "loud"
[tor.onion_service]
ports = [{ virtual = 5222, listener = "c2s" }, { virtual = 5223, listener = "xmpp" }]
"#;
    let err = Config::from_toml_str(text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tls.min_version: must be one of \"1.2\", \"1.3\" (got \"1.4\")\n\
         limits.max_depth: must be between 8 and 256 (got 4)\n\
         tor.onion_service.ports[1].listener: must be one of \"c2s\", \"c2s_tls\", \"s2s\", \"http\" (got \"xmpp\")\n\
         muc.room_creation: must be one of \"local\", \"admins\", \"anyone\" (got \"everyone\")\n\
         log.level: must be one of \"error\", \"warn\", \"info\", \"debug\", \"trace\" (got \"loud\")"
    );

    // Read without validation, the same text keeps every value and parses none of the
    // wrong names; validation then reports them.
    let raw: Config = toml::from_str(text).unwrap();
    assert_eq!(raw.tls.min_version(), None);
    assert_eq!(raw.muc.room_creation(), None);
    assert_eq!(raw.log.level(), None);
    assert_eq!(
        raw.tor.onion_service.ports[0].listener(),
        Some(ListenerKind::C2s)
    );
    assert_eq!(raw.tor.onion_service.ports[1].listener(), None);
    let Err(ConfigError::Invalid(p)) = raw.validate() else {
        panic!("expected Invalid");
    };
    assert_eq!(
        keys(&p),
        [
            "tls.min_version",
            "limits.max_depth",
            "tor.onion_service.ports[1].listener",
            "muc.room_creation",
            "log.level",
        ]
    );
}

#[test]
fn account_data_sections_are_checked() {
    let c = Config::default();
    assert_eq!(c.vcard.max_bytes, 128 * 1024);
    assert_eq!(c.private.max_fragments, 64);
    assert_eq!(c.private.max_fragment_bytes, 64 * 1024);
    assert_eq!(c.private.max_total_bytes, 512 * 1024);
    assert!(c.last_activity.enabled);
    assert!(!c.last_activity.server_uptime);
    assert!(c.roster.pre_approval);
    assert!(c.contact.is_empty());

    let p = problems(
        "[vcard]\nmax_bytes = 10\n[private]\nmax_fragments = 0\nmax_fragment_bytes = 4096\nmax_total_bytes = 1024\n",
    );
    assert_eq!(
        keys(&p),
        [
            "vcard.max_bytes",
            "private.max_fragments",
            "private.max_total_bytes"
        ]
    );

    let ok = Config::from_toml_str(
        "[contact]\nabuse_addresses = [\"mailto:abuse@example.org\", \"xmpp:abuse@example.org\"]\nsupport_addresses = [\"https://example.org/help\"]\n",
    )
    .unwrap();
    assert!(!ok.contact.is_empty());
    assert_eq!(ok.contact.abuse_addresses.len(), 2);

    let p = problems(
        "[contact]\nabuse_addresses = [\"mailto:abuse@example.org\", \"abuse@example.org\"]\nsecurity_addresses = [\"https://example.org/a b\"]\n",
    );
    assert_eq!(
        keys(&p),
        [
            "contact.abuse_addresses[1]",
            "contact.security_addresses[0]"
        ]
    );
    assert!(p[0].message.contains("\"abuse@example.org\""), "{}", p[0]);
}
