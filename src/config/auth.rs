//! `[auth]`: SASL credential strength, failed-login limits and the cost of password
//! checks.

use serde::{Deserialize, Serialize};

/// `[auth]`: SASL (RFC 6120 §6) credential strength, failed-login limits and the cost
/// of password checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// PBKDF2 iteration count for new SCRAM credentials (RFC 5802 §5.1, RFC 7677 §4),
    /// also shown for accounts that do not exist. Range `4096..=1_000_000`.
    /// Default `4096`.
    pub scram_iterations: u32,
    /// Delay before answering the first failed login of a source, in milliseconds;
    /// each further failure of that source within the window doubles it, up to
    /// [`AuthConfig::max_failure_delay_ms`]. Range `0..=60_000`. Default `1000`.
    pub failure_delay_ms: u64,
    /// Largest delay before answering a failed login, in milliseconds.
    /// Range `0..=600_000`. Default `30_000`.
    pub max_failure_delay_ms: u64,
    /// Failed logins on one account from one connection source within
    /// [`AuthConfig::failure_window_secs`] after which that source's further tries on
    /// that account are refused. Other sources are not affected. Counted before the
    /// password is checked, so parallel guesses cannot exceed it.
    /// Range `1..=1000`. Default `5`.
    pub max_failures_per_account: u32,
    /// Failed logins on one account from all sources within the window after which
    /// sources that have failed (on any account) are refused on it; a source with no
    /// failure is never refused. Range `1..=1_000_000`. Default `100`.
    pub account_failure_budget: u32,
    /// Failed logins from one connection source within the window that lock that
    /// source. Privacy: the address (or onion circuit) is kept in memory only, hashed.
    /// Range `1..=10_000`. Default `20`.
    pub max_failures_per_source: u32,
    /// Window of the failure counters, in seconds. Range `1..=86_400`. Default `300`.
    pub failure_window_secs: u64,
    /// Failure counters kept in memory at most (one per source, per account and per
    /// (account, source) that failed in the window); beyond, the tenth with the oldest
    /// last failure is dropped, so recent failures survive a flood of new names.
    /// Range `1000..=10_000_000`. Default `100_000`.
    pub max_failure_counters: u32,
    /// PLAIN password checks (argon2id, 19 MiB each) run at once; further logins wait.
    /// `0` means the number of CPU cores. The server keeps this many argon2 working
    /// memories. Range `0..=1024`. Default `0`.
    pub max_parallel_password_checks: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            scram_iterations: 4096,
            failure_delay_ms: 1000,
            max_failure_delay_ms: 30_000,
            max_failures_per_account: 5,
            account_failure_budget: 100,
            max_failures_per_source: 20,
            failure_window_secs: 300,
            max_failure_counters: 100_000,
            max_parallel_password_checks: 0,
        }
    }
}
