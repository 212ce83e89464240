//! `[log]`: the diagnostic log.

use serde::{Deserialize, Serialize};

/// `[log]`: the diagnostic log, which never contains passwords, keys, message
/// bodies, SASL data or IP addresses at any level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// One of `"error"`, `"warn"`, `"info"`, `"debug"`, `"trace"`. Default `"info"`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}
