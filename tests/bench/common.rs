//! Helpers shared by the benchmarks in `tests/bench/` (each declares this file with
//! `#[path = "common.rs"] mod bench;` next to the integration harness as `common`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use crate::common::scram::Cb;
use crate::common::{Client, Server};

// Not every benchmark reads both.
#[allow(unused_imports)]
pub use crate::common::{rss_kib, status_kib};

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
