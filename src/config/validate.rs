//! Checks of a parsed [`Config`], and unknown-key reports with "did you mean" hints.
//!
//! Every check pushes a [`Problem`] and goes on, so one run names every bad key.
//! The ranges here are the ones documented on the fields and in `example.toml`.

use std::collections::HashSet;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::RangeInclusive;

use super::{Config, ListenerKind, LogLevel, Problem, RoomCreation, TlsVersion, TorPort};

const MAX_STANZA_BYTES: RangeInclusive<u64> = 10_000..=16_777_216;
const MAX_DEPTH: RangeInclusive<u32> = 8..=256;
const MAX_ATTRIBUTES: RangeInclusive<u32> = 8..=1024;
const MAX_NAMESPACE_BYTES: RangeInclusive<u32> = 64..=65_536;
const MAX_ELEMENTS: RangeInclusive<u32> = 16..=1_048_576;
const POW_QUEUE_DEPTH: RangeInclusive<u32> = 16..=1_000_000;
const MAX_RESOURCES: RangeInclusive<u32> = 1..=1000;
const SESSION_QUEUE: RangeInclusive<u32> = 1..=100_000;
const HANDSHAKE_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3600;
const PRETLS_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3600;
const MAX_PREAUTH_CONNECTIONS: RangeInclusive<u32> = 1..=1_000_000;
const MAX_PREAUTH_PER_SOURCE: RangeInclusive<u32> = 1..=100_000;
const MAX_CONNECTIONS: RangeInclusive<u32> = 1..=1_000_000;
const WRITE_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3600;
const PING_INTERVAL_SECS: RangeInclusive<u64> = 1..=86_400;
const PING_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3600;
const SCRAM_ITERATIONS: RangeInclusive<u32> = 4096..=1_000_000;
const FAILURE_DELAY_MS: RangeInclusive<u64> = 0..=60_000;
const MAX_FAILURES_PER_ACCOUNT: RangeInclusive<u32> = 1..=1000;
const MAX_FAILURES_PER_SOURCE: RangeInclusive<u32> = 1..=10_000;
const FAILURE_WINDOW_SECS: RangeInclusive<u64> = 1..=86_400;
const MAX_FAILURE_DELAY_MS: RangeInclusive<u64> = 0..=600_000;
const ACCOUNT_FAILURE_BUDGET: RangeInclusive<u32> = 1..=1_000_000;
const MAX_PARALLEL_PASSWORD_CHECKS: RangeInclusive<u32> = 0..=1024;
const MAX_FAILURE_COUNTERS: RangeInclusive<u32> = 1000..=10_000_000;
const OFFLINE_MAX_MESSAGES: RangeInclusive<u32> = 1..=10_000;
const MAX_DIRECTED_PRESENCES: RangeInclusive<u32> = 1..=100_000;
const ROSTER_MAX_ITEMS: RangeInclusive<u32> = 1..=100_000;
const ROSTER_MAX_GROUPS: RangeInclusive<u32> = 1..=1000;
const ROSTER_MAX_NAME_BYTES: RangeInclusive<u32> = 1..=65_535;
const BLOCKING_MAX_ITEMS: RangeInclusive<u32> = 1..=100_000;
const MUC_ROOMS_PER_ACCOUNT: RangeInclusive<u32> = 1..=100_000;
const MUC_HISTORY_BYTES_PER_ROOM: RangeInclusive<u64> = 1024..=1 << 30;
const MUC_HISTORY_BYTES_TOTAL_MAX: u64 = 16 << 30;
const MUC_PASSWORD_FAILURES: RangeInclusive<u32> = 1..=1000;
const MUC_PASSWORD_WINDOW_SECS: RangeInclusive<u64> = 1..=86_400;
const PASTEBIN_PER_DAY: RangeInclusive<u32> = 1..=1_000_000;
const VCARD_MAX_BYTES: RangeInclusive<u64> = 1024..=16_777_216;
const PRIVATE_MAX_FRAGMENTS: RangeInclusive<u32> = 1..=10_000;
const PRIVATE_MAX_FRAGMENT_BYTES: RangeInclusive<u64> = 256..=16_777_216;
const PRIVATE_MAX_TOTAL_BYTES: RangeInclusive<u64> = 256..=1 << 30;

const MUC_HISTORY_MAX: RangeInclusive<u32> = 0..=1000;
const MUC_MAX_OCCUPANTS: RangeInclusive<u32> = 1..=10_000;

const PASTEBIN_MAX_CHARS: RangeInclusive<u32> = 1..=1_000_000;
const PASTEBIN_MAX_LINES: RangeInclusive<u32> = 2..=10_000;
const PASTEBIN_SUMMARY_CHARS: RangeInclusive<u32> = 0..=1000;
const PASTEBIN_EXPIRE_SECS: RangeInclusive<u64> = 1..=31_536_000;
const UPLOAD_MAX_FILE_BYTES: RangeInclusive<u64> = 1..=1 << 30;
const UPLOAD_EXPIRE_SECS: RangeInclusive<u64> = 1..=31_536_000;
const PEP_MAX_NODES: RangeInclusive<u32> = 1..=10_000;
const PEP_MAX_ITEMS: RangeInclusive<u32> = 1..=100_000;
const PEP_MAX_ITEM_BYTES: RangeInclusive<u32> = 1024..=16_777_216;
const PEP_MAX_BYTES: RangeInclusive<u64> = 1024..=1_073_741_824;
const PUBSUB_MAX_SUBSCRIPTIONS: RangeInclusive<u32> = 1..=100_000;
const UPLOAD_SLOT_VALID_SECS: RangeInclusive<u64> = 1..=86_400;
const UPLOAD_MAX_CONCURRENT_DOWNLOADS: RangeInclusive<u32> = 1..=10_000;
const HTTP_SEND_TIMEOUT_SECS: RangeInclusive<u64> = 1..=3600;

/// Arti's recommended maximum of restricted discovery clients
/// (`tor_hsservice::config::restricted_discovery::MAX_RESTRICTED_DISCOVERY_CLIENTS`).
const MAX_AUTHORIZED_CLIENTS: usize = 160;

impl Config {
    /// Every problem of this configuration, in key order; empty when valid.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        self.check_server(&mut p);
        self.check_listeners(&mut p);
        self.check_tls(&mut p);
        self.check_ranges(&mut p);
        self.check_tor(&mut p);
        self.check_muc(&mut p);
        self.check_http(&mut p);
        self.check_pastebin(&mut p);
        self.check_upload(&mut p);
        self.check_pubsub(&mut p);
        self.check_account_data(&mut p);
        if self.log.level().is_none() {
            p.push(not_one_of(
                "log.level",
                &LogLevel::ALL.map(LogLevel::as_str),
                &self.log.level,
            ));
        }
        p
    }

    fn check_account_data(&self, p: &mut Vec<Problem>) {
        range(p, "vcard.max_bytes", self.vcard.max_bytes, VCARD_MAX_BYTES);
        let pv = &self.private;
        range(
            p,
            "private.max_fragments",
            pv.max_fragments,
            PRIVATE_MAX_FRAGMENTS,
        );
        range(
            p,
            "private.max_fragment_bytes",
            pv.max_fragment_bytes,
            PRIVATE_MAX_FRAGMENT_BYTES,
        );
        range(
            p,
            "private.max_total_bytes",
            pv.max_total_bytes,
            PRIVATE_MAX_TOTAL_BYTES,
        );
        if pv.max_total_bytes < pv.max_fragment_bytes {
            p.push(Problem::new(
                "private.max_total_bytes",
                format!(
                    "must be at least private.max_fragment_bytes ({}) (got {})",
                    pv.max_fragment_bytes, pv.max_total_bytes
                ),
            ));
        }
        for (_, key, list) in self.contact.kinds() {
            for (i, uri) in list.iter().enumerate() {
                if !super::account::is_uri_with_scheme(uri) {
                    p.push(Problem::new(
                        format!("contact.{key}[{i}]"),
                        format!(
                            "must be a URI with a scheme such as \"mailto:abuse@example.org\", \"xmpp:admin@example.org\" or \"https://example.org/contact\", without spaces, at most {} bytes (got {uri:?})",
                            super::account::MAX_URI_BYTES
                        ),
                    ));
                }
            }
        }
    }

    fn check_server(&self, p: &mut Vec<Problem>) {
        if self.server.domains.is_empty() {
            p.push(Problem::new(
                "server.domains",
                "must list at least one hosted domain",
            ));
        }
        let mut seen = HashSet::new();
        for (i, domain) in self.server.domains.iter().enumerate() {
            let key = format!("server.domains[{i}]");
            if domain.is_empty() {
                p.push(Problem::new(key, "must not be empty"));
                continue;
            }
            match jid::DomainPart::new(domain) {
                Err(e) => p.push(Problem::new(
                    key,
                    format!("is not a valid JID domainpart: {e} (got {domain:?})"),
                )),
                Ok(normalized) => {
                    let normalized = normalized.as_str();
                    if normalized != domain {
                        p.push(Problem::new(
                            key,
                            format!(
                                "must be written in normalized form {normalized:?} (got {domain:?})"
                            ),
                        ));
                    } else if !seen.insert(normalized.to_owned()) {
                        p.push(Problem::new(
                            key,
                            format!("is listed twice (got {domain:?})"),
                        ));
                    }
                }
            }
        }
        if self.server.state_dir.is_empty() {
            p.push(Problem::new("server.state_dir", "must not be empty"));
        }
    }

    fn check_listeners(&self, p: &mut Vec<Problem>) {
        let mut seen: HashSet<SocketAddr> = HashSet::new();
        let lists = [
            ("listeners.c2s", &self.listeners.c2s),
            ("listeners.c2s_tls", &self.listeners.c2s_tls),
        ];
        for (name, list) in lists {
            for (i, text) in list.iter().enumerate() {
                let key = format!("{name}[{i}]");
                match text.parse::<SocketAddr>() {
                    Err(_) => p.push(Problem::new(
                        key,
                        format!(
                            "must be an \"ip:port\" socket address such as \"127.0.0.1:5222\" or \"[::1]:5222\" (got {text:?})"
                        ),
                    )),
                    // Port 0 asks the system for a free port, so it may repeat.
                    Ok(addr) if addr.port() != 0 && !seen.insert(addr) => p.push(Problem::new(
                        key,
                        format!("address {addr} is used by another listener"),
                    )),
                    Ok(_) => {}
                }
            }
        }
        // Onion-only: no TCP listener at all is fine when the onion service feeds a
        // client listener kind.
        let feeds_clients =
            |p: &TorPort| matches!(p.listener(), Some(ListenerKind::C2s | ListenerKind::C2sTls));
        let onion_way_in =
            self.onion_service_enabled() && self.tor.onion_service.ports.iter().any(feeds_clients);
        if self.listeners.c2s.is_empty() && self.listeners.c2s_tls.is_empty() && !onion_way_in {
            p.push(Problem::new(
                "listeners",
                "at least one c2s or c2s_tls address is needed, unless the onion service \
                 (tor.enabled, tor.onion_service.enabled) maps a port to \"c2s\" or \"c2s_tls\"",
            ));
        }
    }

    fn check_tor(&self, p: &mut Vec<Problem>) {
        let t = &self.tor;
        if t.state_dir.is_empty() {
            p.push(Problem::new("tor.state_dir", "must not be empty"));
        }
        let s = &t.onion_service;
        range(
            p,
            "tor.onion_service.proof_of_work_queue_depth",
            s.proof_of_work_queue_depth,
            POW_QUEUE_DEPTH,
        );
        if s.nickname.parse::<tor_hsservice::HsNickname>().is_err() {
            p.push(Problem::new(
                "tor.onion_service.nickname",
                format!(
                    "must be 1 to 64 characters from a-z, 0-9, '-' and '_' (got {:?})",
                    s.nickname
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, port) in s.ports.iter().enumerate() {
            let key = format!("tor.onion_service.ports[{i}]");
            if port.virtual_port == 0 {
                p.push(Problem::new(
                    format!("{key}.virtual"),
                    "must be between 1 and 65535 (got 0)",
                ));
            } else if !seen.insert(port.virtual_port) {
                p.push(Problem::new(
                    format!("{key}.virtual"),
                    format!("port {} is mapped twice", port.virtual_port),
                ));
            }
            if port.listener().is_none() {
                p.push(not_one_of(
                    format!("{key}.listener"),
                    &ListenerKind::ALL.map(ListenerKind::as_str),
                    &port.listener,
                ));
            }
        }
        let rd = &s.restricted_discovery;
        let mut keys = HashSet::new();
        for (i, client) in rd.authorized_clients.iter().enumerate() {
            let key = format!("tor.onion_service.restricted_discovery.authorized_clients[{i}]");
            match client.parse::<arti_client::HsClientDescEncKey>() {
                Err(_) => p.push(Problem::new(
                    key,
                    format!(
                        "must be a client key \"descriptor:x25519:<base32 key>\" (got {client:?})"
                    ),
                )),
                Ok(k) => {
                    if !keys.insert(k.to_string()) {
                        p.push(Problem::new(key, "is listed twice"));
                    }
                }
            }
        }
        if rd.authorized_clients.len() > MAX_AUTHORIZED_CLIENTS {
            p.push(Problem::new(
                "tor.onion_service.restricted_discovery.authorized_clients",
                format!(
                    "must list at most {MAX_AUTHORIZED_CLIENTS} clients (got {})",
                    rd.authorized_clients.len()
                ),
            ));
        }
        if rd.enabled && rd.authorized_clients.is_empty() {
            p.push(Problem::new(
                "tor.onion_service.restricted_discovery.authorized_clients",
                "must list at least one client key when restricted discovery is enabled",
            ));
        }
    }

    fn check_tls(&self, p: &mut Vec<Problem>) {
        match (self.tls.certificate.is_empty(), self.tls.key.is_empty()) {
            (false, true) => p.push(Problem::new(
                "tls.key",
                "must be set when tls.certificate is set",
            )),
            (true, false) => p.push(Problem::new(
                "tls.certificate",
                "must be set when tls.key is set",
            )),
            _ => {}
        }
        if self.tls.min_version().is_none() {
            p.push(not_one_of(
                "tls.min_version",
                &TlsVersion::ALL.map(TlsVersion::as_str),
                &self.tls.min_version,
            ));
        }
    }

    fn check_ranges(&self, p: &mut Vec<Problem>) {
        let l = &self.limits;
        range(
            p,
            "limits.max_stanza_bytes",
            l.max_stanza_bytes,
            MAX_STANZA_BYTES,
        );
        range(p, "limits.max_depth", l.max_depth, MAX_DEPTH);
        range(p, "limits.max_attributes", l.max_attributes, MAX_ATTRIBUTES);
        range(
            p,
            "limits.max_namespace_bytes",
            l.max_namespace_bytes,
            MAX_NAMESPACE_BYTES,
        );
        range(p, "limits.max_elements", l.max_elements, MAX_ELEMENTS);
        range(p, "limits.max_resources", l.max_resources, MAX_RESOURCES);
        range(p, "limits.session_queue", l.session_queue, SESSION_QUEUE);
        range(
            p,
            "limits.handshake_timeout_secs",
            l.handshake_timeout_secs,
            HANDSHAKE_TIMEOUT_SECS,
        );
        range(
            p,
            "limits.pretls_timeout_secs",
            l.pretls_timeout_secs,
            PRETLS_TIMEOUT_SECS,
        );
        range(
            p,
            "limits.max_preauth_connections",
            l.max_preauth_connections,
            MAX_PREAUTH_CONNECTIONS,
        );
        range(
            p,
            "limits.max_preauth_per_source",
            l.max_preauth_per_source,
            MAX_PREAUTH_PER_SOURCE,
        );
        range(
            p,
            "limits.max_connections",
            l.max_connections,
            MAX_CONNECTIONS,
        );
        range(
            p,
            "limits.write_timeout_secs",
            l.write_timeout_secs,
            WRITE_TIMEOUT_SECS,
        );
        range(
            p,
            "limits.ping_interval_secs",
            l.ping_interval_secs,
            PING_INTERVAL_SECS,
        );
        range(
            p,
            "limits.ping_timeout_secs",
            l.ping_timeout_secs,
            PING_TIMEOUT_SECS,
        );
        let a = &self.auth;
        range(
            p,
            "auth.scram_iterations",
            a.scram_iterations,
            SCRAM_ITERATIONS,
        );
        range(
            p,
            "auth.failure_delay_ms",
            a.failure_delay_ms,
            FAILURE_DELAY_MS,
        );
        range(
            p,
            "auth.max_failure_delay_ms",
            a.max_failure_delay_ms,
            MAX_FAILURE_DELAY_MS,
        );
        range(
            p,
            "auth.max_failures_per_account",
            a.max_failures_per_account,
            MAX_FAILURES_PER_ACCOUNT,
        );
        range(
            p,
            "auth.account_failure_budget",
            a.account_failure_budget,
            ACCOUNT_FAILURE_BUDGET,
        );
        range(
            p,
            "auth.max_failures_per_source",
            a.max_failures_per_source,
            MAX_FAILURES_PER_SOURCE,
        );
        range(
            p,
            "auth.failure_window_secs",
            a.failure_window_secs,
            FAILURE_WINDOW_SECS,
        );
        range(
            p,
            "auth.max_failure_counters",
            a.max_failure_counters,
            MAX_FAILURE_COUNTERS,
        );
        range(
            p,
            "auth.max_parallel_password_checks",
            a.max_parallel_password_checks,
            MAX_PARALLEL_PASSWORD_CHECKS,
        );
        range(
            p,
            "offline.max_messages",
            self.offline.max_messages,
            OFFLINE_MAX_MESSAGES,
        );
        range(
            p,
            "limits.max_directed_presences",
            l.max_directed_presences,
            MAX_DIRECTED_PRESENCES,
        );
        let r = &self.roster;
        range(p, "roster.max_items", r.max_items, ROSTER_MAX_ITEMS);
        range(
            p,
            "roster.max_groups_per_item",
            r.max_groups_per_item,
            ROSTER_MAX_GROUPS,
        );
        range(
            p,
            "roster.max_name_bytes",
            r.max_name_bytes,
            ROSTER_MAX_NAME_BYTES,
        );
        range(
            p,
            "blocking.max_items",
            self.blocking.max_items,
            BLOCKING_MAX_ITEMS,
        );
    }
}

impl Config {
    fn check_muc(&self, p: &mut Vec<Problem>) {
        let m = &self.muc;
        let label_ok = !m.subdomain.is_empty()
            && m.subdomain.len() <= 63
            && !m.subdomain.starts_with('-')
            && !m.subdomain.ends_with('-')
            && m.subdomain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !label_ok {
            p.push(Problem::new(
                "muc.subdomain",
                format!(
                    "must be one DNS label of a-z, 0-9 and '-' (got {:?})",
                    m.subdomain
                ),
            ));
        }
        if m.room_creation().is_none() {
            p.push(not_one_of(
                "muc.room_creation",
                &RoomCreation::ALL.map(RoomCreation::as_str),
                &m.room_creation,
            ));
        }
        range(
            p,
            "muc.history_default",
            m.history_default,
            0..=m.history_max,
        );
        range(p, "muc.history_max", m.history_max, MUC_HISTORY_MAX);
        range(
            p,
            "muc.default_max_occupants",
            m.default_max_occupants,
            MUC_MAX_OCCUPANTS,
        );
        range(
            p,
            "muc.max_rooms_per_account",
            m.max_rooms_per_account,
            MUC_ROOMS_PER_ACCOUNT,
        );
        range(
            p,
            "muc.max_joined_rooms_per_account",
            m.max_joined_rooms_per_account,
            MUC_ROOMS_PER_ACCOUNT,
        );
        range(
            p,
            "muc.history_max_bytes_per_room",
            m.history_max_bytes_per_room,
            MUC_HISTORY_BYTES_PER_ROOM,
        );
        range(
            p,
            "muc.history_max_bytes_total",
            m.history_max_bytes_total,
            m.history_max_bytes_per_room..=MUC_HISTORY_BYTES_TOTAL_MAX,
        );
        range(
            p,
            "muc.password_max_failures",
            m.password_max_failures,
            MUC_PASSWORD_FAILURES,
        );
        range(
            p,
            "muc.password_failure_window_secs",
            m.password_failure_window_secs,
            MUC_PASSWORD_WINDOW_SECS,
        );
    }
}

impl Config {
    fn check_pubsub(&self, p: &mut Vec<Problem>) {
        let e = &self.pep;
        range(p, "pep.max_nodes", e.max_nodes, PEP_MAX_NODES);
        range(
            p,
            "pep.max_items_per_node",
            e.max_items_per_node,
            PEP_MAX_ITEMS,
        );
        range(
            p,
            "pep.max_item_bytes",
            e.max_item_bytes,
            PEP_MAX_ITEM_BYTES,
        );
        range(
            p,
            "pep.max_bytes_per_account",
            e.max_bytes_per_account,
            PEP_MAX_BYTES,
        );
        if e.max_bytes_per_account < u64::from(e.max_item_bytes) {
            p.push(Problem::new(
                "pep.max_bytes_per_account",
                format!(
                    "must be at least pep.max_item_bytes ({}) (got {})",
                    e.max_item_bytes, e.max_bytes_per_account
                ),
            ));
        }
        let s = &self.pubsub;
        if !dns_label_ok(&s.subdomain) {
            p.push(Problem::new(
                "pubsub.subdomain",
                format!(
                    "must be one DNS label of a-z, 0-9 and '-' (got {:?})",
                    s.subdomain
                ),
            ));
        }
        if s.enabled
            && ((self.muc.enabled && s.subdomain == self.muc.subdomain)
                || (self.upload.enabled && s.subdomain == self.upload.subdomain))
        {
            p.push(Problem::new(
                "pubsub.subdomain",
                format!(
                    "must differ from muc.subdomain and upload.subdomain (got {:?})",
                    s.subdomain
                ),
            ));
        }
        range(
            p,
            "pubsub.max_nodes_per_account",
            s.max_nodes_per_account,
            PEP_MAX_NODES,
        );
        range(
            p,
            "pubsub.max_subscriptions_per_node",
            s.max_subscriptions_per_node,
            PUBSUB_MAX_SUBSCRIPTIONS,
        );
    }

    fn check_upload(&self, p: &mut Vec<Problem>) {
        let u = &self.upload;
        if !dns_label_ok(&u.subdomain) {
            p.push(Problem::new(
                "upload.subdomain",
                format!(
                    "must be one DNS label of a-z, 0-9 and '-' (got {:?})",
                    u.subdomain
                ),
            ));
        }
        range(
            p,
            "upload.max_file_bytes",
            u.max_file_bytes,
            UPLOAD_MAX_FILE_BYTES,
        );
        if u.daily_quota_bytes < u.max_file_bytes {
            p.push(Problem::new(
                "upload.daily_quota_bytes",
                format!(
                    "must be at least upload.max_file_bytes ({}) (got {})",
                    u.max_file_bytes, u.daily_quota_bytes
                ),
            ));
        }
        range(p, "upload.expire_secs", u.expire_secs, UPLOAD_EXPIRE_SECS);
        range(
            p,
            "upload.slot_valid_secs",
            u.slot_valid_secs,
            UPLOAD_SLOT_VALID_SECS,
        );
        range(
            p,
            "upload.max_concurrent_downloads",
            u.max_concurrent_downloads,
            UPLOAD_MAX_CONCURRENT_DOWNLOADS,
        );
        if u.enabled && self.muc.enabled && u.subdomain == self.muc.subdomain {
            p.push(Problem::new(
                "upload.subdomain",
                format!(
                    "must differ from muc.subdomain (both are {:?})",
                    u.subdomain
                ),
            ));
        }
    }

    fn check_http(&self, p: &mut Vec<Problem>) {
        let h = &self.http;
        range(
            p,
            "http.send_timeout_secs",
            h.send_timeout_secs,
            HTTP_SEND_TIMEOUT_SECS,
        );
        let mut seen: HashSet<SocketAddr> = self
            .c2s_addrs()
            .into_iter()
            .chain(self.c2s_tls_addrs())
            .filter(|a| a.port() != 0)
            .collect();
        for (i, text) in h.listen.iter().enumerate() {
            let key = format!("http.listen[{i}]");
            match text.parse::<SocketAddr>() {
                Err(_) => p.push(Problem::new(
                    key,
                    format!(
                        "must be an \"ip:port\" socket address such as \"127.0.0.1:5443\" (got {text:?})"
                    ),
                )),
                Ok(addr) => {
                    if addr.port() != 0 && !seen.insert(addr) {
                        p.push(Problem::new(
                            key.clone(),
                            format!("address {addr} is used by another listener"),
                        ));
                    }
                    if !h.tls && !addr.ip().is_loopback() {
                        p.push(Problem::new(
                            key,
                            format!(
                                "plain HTTP (http.tls = false) is allowed only on loopback addresses (got {text:?})"
                            ),
                        ));
                    }
                }
            }
        }
        let url = &h.public_url;
        if !url.is_empty() {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"));
            let ok = rest.is_some_and(|r| {
                !r.is_empty()
                    && !r.ends_with('/')
                    && !r.contains(['?', '#', ' ', '"', '<', '>', '\\'])
                    && r.is_ascii()
            });
            if !ok {
                p.push(Problem::new(
                    "http.public_url",
                    format!(
                        "must be \"\" or an http:// or https:// URL without trailing slash, query or spaces (got {url:?})"
                    ),
                ));
            }
        }
    }
}

impl Config {
    fn check_pastebin(&self, p: &mut Vec<Problem>) {
        let b = &self.pastebin;
        range(p, "pastebin.max_chars", b.max_chars, PASTEBIN_MAX_CHARS);
        range(p, "pastebin.max_lines", b.max_lines, PASTEBIN_MAX_LINES);
        range(
            p,
            "pastebin.summary_chars",
            b.summary_chars,
            PASTEBIN_SUMMARY_CHARS,
        );
        range(
            p,
            "pastebin.expire_secs",
            b.expire_secs,
            PASTEBIN_EXPIRE_SECS,
        );
        range(
            p,
            "pastebin.max_pastes_per_day",
            b.max_pastes_per_day,
            PASTEBIN_PER_DAY,
        );
    }
}

fn range<T: PartialOrd + Display>(
    p: &mut Vec<Problem>,
    key: &str,
    value: T,
    allowed: RangeInclusive<T>,
) {
    if !allowed.contains(&value) {
        p.push(Problem::new(
            key,
            format!(
                "must be between {} and {} (got {value})",
                allowed.start(),
                allowed.end()
            ),
        ));
    }
}

/// The problem of a key whose value `got` is none of the names `allowed`.
fn not_one_of(key: impl Into<String>, allowed: &[&str], got: &str) -> Problem {
    Problem::new(
        key,
        format!("must be one of {} (got {got:?})", quoted(allowed)),
    )
}

fn quoted(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One step of a path to an ignored value: a table key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    /// A key in a table.
    Key(String),
    /// An element of a list.
    Index(usize),
}

/// The steps from the document root to an ignored value, as `serde_ignored` saw it.
pub(super) fn path_segments(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    let mut out = Vec::new();
    push_segments(path, &mut out);
    out
}

fn push_segments(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            push_segments(parent, out);
            out.push(Segment::Index(*index));
        }
        Path::Map { parent, key } => {
            push_segments(parent, out);
            out.push(Segment::Key(key.clone()));
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => push_segments(parent, out),
    }
}

fn dotted(segments: &[Segment]) -> String {
    let mut s = String::new();
    for seg in segments {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// One "unknown key" problem per ignored path, with a hint when a known key is close.
///
/// Known keys come from serializing [`Config::default`], so they follow the structs.
pub(super) fn unknown_key_problems(paths: &[Vec<Segment>]) -> Vec<Problem> {
    let known = toml::Table::try_from(Config::default()).ok();
    paths
        .iter()
        .map(|segments| {
            let message = match known.as_ref().and_then(|k| suggestion(k, segments)) {
                Some(hint) => format!("unknown key (did you mean {hint:?}?)"),
                None => "unknown key".to_owned(),
            };
            Problem::new(dotted(segments), message)
        })
        .collect()
}

/// A known dotted key the unknown `segments` was probably meant to be: a close
/// spelling in the same table, else the same (or a close) name in another table.
fn suggestion(known: &toml::Table, segments: &[Segment]) -> Option<String> {
    let (last, parents) = segments.split_last()?;
    let Segment::Key(name) = last else {
        return None;
    };
    // The table that holds the unknown key.
    let mut table = known;
    let mut prefix = Vec::new();
    for seg in parents {
        let Segment::Key(k) = seg else {
            return None;
        };
        table = table.get(k)?.as_table()?;
        prefix.push(k.as_str());
    }
    let join = |key: &str| {
        let mut parts = prefix.clone();
        parts.push(key);
        parts.join(".")
    };
    if let Some(close) = closest(name, table.keys().map(String::as_str)) {
        return Some(join(close));
    }
    // A key put in the wrong table: look one level down from the root.
    if parents.len() <= 1 {
        let mut best: Option<(usize, String)> = None;
        for (section, value) in known {
            let Some(inner) = value.as_table() else {
                continue;
            };
            if Some(section.as_str()) == prefix.first().copied() {
                continue;
            }
            for key in inner.keys() {
                let d = edit_distance(name, key);
                if d <= tolerance(name) && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                    best = Some((d, format!("{section}.{key}")));
                }
            }
        }
        return best.map(|(_, k)| k);
    }
    None
}

/// The candidate nearest to `name`, if within the spelling tolerance.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= tolerance(name))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edits allowed for a misspelling of a key `name` characters long.
fn tolerance(name: &str) -> usize {
    match name.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    }
}

/// Edit distance in characters, counting an insertion, deletion, substitution or
/// swap of two neighbours as one edit (optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i chars of a and the first j chars of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// One DNS label of `a-z`, `0-9` and `-`, not starting or ending with `-`.
fn dns_label_ok(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && !l.starts_with('-')
        && !l.ends_with('-')
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_examples() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("max_dept", "max_depth"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("domian", "domains"), 2);
        assert_eq!(edit_distance("lvel", "level"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("ä", "a"), 1);
    }

    #[test]
    fn dotted_paths() {
        let segs = vec![
            Segment::Key("listeners".into()),
            Segment::Key("c2s".into()),
            Segment::Index(1),
        ];
        assert_eq!(dotted(&segs), "listeners.c2s[1]");
        assert_eq!(dotted(&[]), "");
    }

    #[test]
    fn suggestions() {
        let known = toml::Table::try_from(Config::default()).unwrap();
        let key = |s: &str| -> Vec<Segment> {
            s.split('.').map(|k| Segment::Key(k.to_owned())).collect()
        };
        let cases = [
            ("limits.max_dept", Some("limits.max_depth")),
            ("server.domain", Some("server.domains")),
            ("limit", Some("limits")),
            ("server.max_depth", Some("limits.max_depth")),
            ("max_depth", Some("limits.max_depth")),
            ("gateway", None),
            ("gateway.enabled", None),
            ("pastebin.max_char", Some("pastebin.max_chars")),
            ("tor.enabld", Some("tor.enabled")),
            ("log.colour", None),
        ];
        for (path, want) in cases {
            assert_eq!(
                suggestion(&known, &key(path)).as_deref(),
                want,
                "for {path}"
            );
        }
    }
}
