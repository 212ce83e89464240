//! The command line (clap): `run`, `account add|passwd|delete|list`, `config example`,
//! `fingerprints`, `onion address`.
//!
//! `--config FILE` and `--state-dir DIR` are accepted by every subcommand. Without
//! `--config`, the development configuration is used (domain `localhost`, loopback
//! listeners). Passwords are read from the terminal without echo, or from standard input
//! when it is not a terminal; never from the command line, where other local users could
//! read them in the process list.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::storage::Storage;

/// allium: a privacy-first XMPP server.
#[derive(Debug, Parser)]
#[command(name = "allium", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, a development server for `localhost` runs.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory (database, TLS material); overrides `server.state_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGINT or SIGTERM.
    Run,
    /// Manage accounts.
    Account {
        /// Account subcommand.
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Configuration helpers.
    Config {
        /// Config subcommand.
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the TLS certificate fingerprints (SHA-1, SHA-256, DANE TLSA 3 1 1) per domain
    /// and conference domain (the text of the HTTP listener's `/fingerprints.txt`).
    Fingerprints,
    /// Onion service helpers.
    Onion {
        /// Onion subcommand.
        #[command(subcommand)]
        command: OnionCommand,
    },
}

/// `allium onion ...`
#[derive(Debug, Subcommand)]
pub enum OnionCommand {
    /// Print the onion service's address (`<56 characters>.onion`), creating its key in
    /// the Tor state directory on first use. Works offline: no Tor bootstrap, no network.
    Address,
}

/// `allium account ...`
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account; the password is read from the terminal or standard input.
    Add {
        /// Bare JID, e.g. alice@localhost.
        jid: String,
    },
    /// Change an account's password.
    Passwd {
        /// Bare JID.
        jid: String,
    },
    /// Delete an account with everything it stores (roster, offline messages, vCard,
    /// private XML).
    Delete {
        /// Bare JID.
        jid: String,
    },
    /// List accounts.
    List,
}

/// `allium config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete, commented example configuration whose values are the defaults.
    Example,
}

/// Errors reported by the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error("configuration error")]
    Config(#[from] crate::config::ConfigError),
    /// The server failed.
    #[error("server error")]
    Server(#[from] crate::server::Error),
    /// Tor failed.
    #[error("Tor error")]
    Tor(#[from] crate::tor::Error),
    /// Storage failed.
    #[error("storage error")]
    Storage(#[from] crate::storage::Error),
    /// TLS material failed.
    #[error("TLS error")]
    Tls(#[from] crate::tls::Error),
    /// Hashing the password failed.
    #[error("cannot hash the password")]
    Auth(#[from] crate::auth::AuthError),
    /// Terminal or file I/O failed.
    #[error("input/output error")]
    Io(#[from] std::io::Error),
    /// A usage problem, explained.
    #[error("{0}")]
    Usage(String),
}

/// Resolves the configuration and state directory from the global options.
pub fn resolve(cli: &Cli) -> Result<(Config, PathBuf, bool), Error> {
    let (config, development) = match &cli.config {
        Some(p) => (Config::load(p)?, false),
        None => (Config::development(), true),
    };
    let state_dir = cli.state_dir.clone().unwrap_or_else(|| config.state_dir());
    Ok((config, state_dir, development))
}

/// Runs the command line; returns the process exit code.
pub async fn main(cli: Cli) -> Result<(), Error> {
    if let Command::Config {
        command: ConfigCommand::Example,
    } = &cli.command
    {
        print!("{}", Config::EXAMPLE);
        return Ok(());
    }
    let (config, state_dir, development) = resolve(&cli)?;
    match &cli.command {
        Command::Run => run(&config, &state_dir, development).await,
        Command::Account { command } => account(&config, &state_dir, command).await,
        Command::Fingerprints => fingerprints(&config, &state_dir),
        Command::Onion {
            command: OnionCommand::Address,
        } => {
            println!("{}", crate::tor::onion_address(&config, &state_dir)?);
            Ok(())
        }
        Command::Config { .. } => Ok(()),
    }
}

async fn run(config: &Config, state_dir: &Path, development: bool) -> Result<(), Error> {
    crate::log::init(config.log.level().unwrap_or_default().as_str());
    let running = crate::server::start(config, state_dir).await?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "allium {} serving {}",
        env!("CARGO_PKG_VERSION"),
        config.server.domains.join(", ")
    )?;
    for a in &running.c2s {
        writeln!(out, "listening c2s {a}")?;
    }
    for a in &running.c2s_tls {
        writeln!(out, "listening c2s_tls {a}")?;
    }
    for a in &running.http {
        writeln!(out, "listening http {a}")?;
    }
    if let Some(onion) = running.tor.as_ref().and_then(|t| t.onion_address()) {
        writeln!(out, "listening onion {onion}")?;
    }
    if development {
        writeln!(
            out,
            "development server: state in {dir}; add an account with\n  printf 'secret\\n' | {program} account add alice@{domain} --state-dir {dir}",
            // The path this binary was started by (e.g. target/release/allium under
            // `cargo run`), so the hint can be pasted as it is.
            program = std::env::args()
                .next()
                .unwrap_or_else(|| "allium".to_owned()),
            dir = state_dir.display(),
            domain = config
                .server
                .domains
                .first()
                .map(String::as_str)
                .unwrap_or("localhost"),
        )?;
    }
    // Handlers are in place before "ready": a SIGTERM right after it must stop the
    // server cleanly, not kill it with the default action.
    let signalled = shutdown_signal();
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    signalled.await;
    running.stop(Duration::from_secs(10)).await;
    Ok(())
}

/// Registers the SIGTERM and SIGINT handlers now; the returned future ends at the first
/// of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (Ok(mut term), Err(_)) => {
                    term.recv().await;
                }
                (Err(_), Ok(mut int)) => {
                    int.recv().await;
                }
                (Err(_), Err(_)) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Normalizes an account JID and checks that its domain is hosted.
fn account_jid(config: &Config, s: &str) -> Result<jid::BareJid, Error> {
    let j = jid::BareJid::new(s)
        .map_err(|e| Error::Usage(format!("'{s}' is not a valid bare JID: {e}")))?;
    if crate::stanza::parse_bare_jid(j.as_str()).as_ref() != Some(&j) {
        return Err(Error::Usage(format!(
            "'{s}' is not a stable JID: it normalises to '{j}', which normalises to something else again"
        )));
    }
    if j.node().is_none() {
        return Err(Error::Usage(format!(
            "'{s}' has no local part: use user@domain"
        )));
    }
    if !config
        .server
        .domains
        .iter()
        .any(|d| d.eq_ignore_ascii_case(j.domain().as_str()))
    {
        return Err(Error::Usage(format!(
            "the domain of '{s}' is not hosted here (hosted: {})",
            config.server.domains.join(", ")
        )));
    }
    Ok(j)
}

/// Reads a password: from the terminal (twice, no echo) or one line of standard input.
fn read_password() -> Result<Zeroizing<String>, Error> {
    let stdin = std::io::stdin();
    let pw = if stdin.is_terminal() {
        let a = Zeroizing::new(rpassword::prompt_password("Password: ")?);
        let b = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?);
        if a != b {
            return Err(Error::Usage("the passwords differ".into()));
        }
        a
    } else {
        let mut line = Zeroizing::new(String::new());
        stdin.lock().read_line(&mut line)?;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        Zeroizing::new(trimmed.to_owned())
    };
    if pw.is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    Ok(pw)
}

async fn account(config: &Config, state_dir: &Path, cmd: &AccountCommand) -> Result<(), Error> {
    let storage: Storage = crate::server::open_storage(state_dir)?;
    let iterations = config.auth.scram_iterations;
    let result = match cmd {
        AccountCommand::Add { jid } => {
            let j = account_jid(config, jid)?;
            let pw = read_password()?;
            let creds = tokio::task::spawn_blocking(move || {
                crate::auth::hash_password(pw.as_str(), iterations)
            })
            .await
            .map_err(|_| Error::Usage("password hashing was interrupted".into()))??;
            match storage.create_account(j.as_str(), &creds).await {
                Ok(()) => {
                    println!("account {j} created");
                    Ok(())
                }
                Err(crate::storage::Error::AccountExists) => {
                    Err(Error::Usage(format!("account {j} already exists")))
                }
                Err(e) => Err(e.into()),
            }
        }
        AccountCommand::Passwd { jid } => {
            let j = account_jid(config, jid)?;
            if !storage.account_exists(j.as_str()).await? {
                return Err(Error::Usage(format!("no account {j}")));
            }
            let pw = read_password()?;
            let creds = tokio::task::spawn_blocking(move || {
                crate::auth::hash_password(pw.as_str(), iterations)
            })
            .await
            .map_err(|_| Error::Usage("password hashing was interrupted".into()))??;
            if storage.set_credentials(j.as_str(), &creds).await? {
                println!("password of {j} changed");
                Ok(())
            } else {
                Err(Error::Usage(format!("no account {j}")))
            }
        }
        AccountCommand::Delete { jid } => {
            let j = account_jid(config, jid)?;
            if storage.delete_account(j.as_str()).await? {
                println!("account {j} deleted");
                Ok(())
            } else {
                Err(Error::Usage(format!("no account {j}")))
            }
        }
        AccountCommand::List => {
            for a in storage.list_accounts().await? {
                println!("{a}");
            }
            Ok(())
        }
    };
    storage.close().await;
    result
}

fn fingerprints(config: &Config, state_dir: &Path) -> Result<(), Error> {
    let material = if config.tls.certificate.is_empty() {
        crate::server::open_storage(state_dir).map(drop)?;
        crate::tls::load_or_generate(state_dir, &config.server.domains)?
    } else {
        crate::tls::load(
            Path::new(&config.tls.certificate),
            Path::new(&config.tls.key),
        )?
    };
    let Some(leaf) = material.chain.first() else {
        return Err(Error::Usage("the certificate chain is empty".into()));
    };
    let f = crate::tls::fingerprints(leaf)?;
    let mut ports: Vec<u16> = config
        .c2s_addrs()
        .iter()
        .chain(config.c2s_tls_addrs().iter())
        .map(|a| a.port())
        .collect();
    if config.http.enabled && config.http.tls {
        ports.extend(config.http_addrs().iter().map(|a| a.port()));
    }
    // The same text as the HTTP listener's /fingerprints.txt.
    let names = crate::http::fingerprints::names(config);
    print!("{}", crate::http::fingerprints::text(&names, &ports, &f));
    Ok(())
}
