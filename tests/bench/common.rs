//! Helpers shared by the benchmarks in `tests/bench/` (each declares this file with
//! `#[path = "common.rs"] mod bench;` next to the integration harness as `common`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::scram::Cb;
use crate::common::{Client, Server};

/// A field in KiB (e.g. `VmRSS`, `VmHWM`) of `/proc/PID/status`; 0 if unreadable.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The server's resident set size (`VmRSS`) in KiB.
pub fn rss_kib(server: &Server) -> u64 {
    status_kib(server.pid().expect("server running"), "VmRSS")
}

/// Creates `user@localhost` for every name straight in the server's database, with one
/// argon2/SCRAM hash (4096 iterations) of `password` shared by all: setting up is not
/// the benchmark.
pub async fn create_accounts(
    server: &Server,
    names: impl IntoIterator<Item = String>,
    password: &str,
) {
    let storage = allium::server::open_storage(&server.state_dir()).unwrap();
    let password = password.to_owned();
    let creds = tokio::task::spawn_blocking(move || allium::auth::hash_password(&password, 4096))
        .await
        .unwrap()
        .unwrap();
    for name in names {
        storage
            .create_account(&format!("{name}@localhost"), &creds)
            .await
            .unwrap();
    }
    storage.close().await;
}

/// Logs `user` in over STARTTLS with SCRAM-SHA-256 (no channel binding) and binds
/// `resource`.
pub async fn login(server: &Server, user: &str, password: &str, resource: &str) -> Client {
    let mut c = Client::connect(server).await;
    c.auth_scram("SCRAM-SHA-256", user, password, Cb::None)
        .await
        .expect("SCRAM login");
    c.bind(Some(resource)).await;
    c
}
