//! `[log]`: the diagnostic log.

use serde::{Deserialize, Serialize};

/// `[log]`: the diagnostic log, which never contains passwords, keys, message
/// bodies, SASL data or IP addresses at any level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// One of `"error"`, `"warn"`, `"info"`, `"debug"`, `"trace"`. Default `"info"`.
    /// Kept as written, so that a wrong name is reported with the other problems;
    /// read it parsed with [`LogConfig::level`].
    pub(super) level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info.as_str().to_owned(),
        }
    }
}

impl LogConfig {
    /// The level of the diagnostic log (`log.level`), or `None` when the text names
    /// no level, which [`Config::validate`](super::Config::validate) reports.
    pub fn level(&self) -> Option<LogLevel> {
        LogLevel::parse(&self.level)
    }
}

/// The level of the diagnostic log (`log.level`): events of this level and the more
/// severe ones are written, as [`crate::log`] sets them (which `RUST_LOG` overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogLevel {
    /// `"error"`: errors only.
    Error,
    /// `"warn"`: errors and warnings.
    Warn,
    /// `"info"`: also lifecycle events (listening, shutting down, configuration
    /// warnings). The default.
    #[default]
    Info,
    /// `"debug"`: also per-connection, per-stanza and per-login events.
    Debug,
    /// `"trace"`: everything the server logs.
    Trace,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The name in the configuration, which is also the `tracing` filter directive:
    /// `"error"`, `"warn"`, `"info"`, `"debug"` or `"trace"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// The level a configuration name stands for (exactly, in lower case), or `None`.
    pub fn parse(name: &str) -> Option<LogLevel> {
        LogLevel::ALL.into_iter().find(|l| l.as_str() == name)
    }
}
