//! Typed repositories over one SQLite database: the only place in allium with SQL.
//!
//! [`Storage`] keeps accounts (stored SASL credentials, RFC 6120 §6), rosters
//! (RFC 6121 §2) with their versions (§2.6) and pre-approvals (§3.4), inbound
//! subscription requests not yet answered (RFC 6121 §3.1.3), offline messages
//! (XEP-0160), block lists (XEP-0191), vCards (XEP-0054), private XML (XEP-0049) and
//! publish-subscribe nodes (XEP-0060, XEP-0163). Every method is `async` and runs its
//! SQL on tokio's blocking pool (`spawn_blocking`), so callers on the async runtime
//! never block.
//!
//! # Connections and durability
//! - One **writer** connection behind a mutex: SQLite allows one writer at a time anyway,
//!   and serializing writes in-process avoids `SQLITE_BUSY` between our own connections.
//!   Every write runs in one `BEGIN IMMEDIATE` transaction (the write lock is taken up
//!   front, so the busy timeout applies and there is no deadlocking lock upgrade); a
//!   multi-step write is never half-applied.
//! - [`READERS`] **reader** connections (`query_only`), each behind its own mutex; a read
//!   takes a free one, so reads run in parallel with each other and with the writer
//!   (WAL). Each read runs in one deferred transaction, so it sees one snapshot.
//! - `journal_mode=WAL`, `foreign_keys=ON`, `busy_timeout` [`BUSY_TIMEOUT`] (another
//!   process, the `allium account add` CLI, may write while the server runs; it opens the
//!   file with this same type).
//! - `synchronous=FULL`: in WAL mode this syncs the WAL on every commit, so a write is on
//!   stable storage when its method returns, even across power loss. `NORMAL` would only
//!   survive process crashes, and allium acknowledges offline messages, roster changes
//!   and accounts to clients, so losing them after an ack is not acceptable.
//!
//! # Migrations
//! The schema version is `PRAGMA user_version`. Migrations are SQL files in
//! `src/storage/migrations/NNNN_name.sql`, listed in [`MIGRATIONS`]; each is applied in
//! its own `BEGIN IMMEDIATE` transaction together with the `user_version` bump, and the
//! version is re-read inside that transaction, so two processes opening a fresh file at
//! once apply each migration exactly once. A database whose version is newer than the
//! code knows is refused with [`Error::TooNew`].
//!
//! ## Adding a feature's tables (MUC rooms, affiliations, pastes, uploads, ...)
//! 1. Add `src/storage/migrations/NNNN_feature.sql` (the next number) and append a
//!    [`Migration`] entry for it at the end of [`MIGRATIONS`]. Never edit an applied
//!    migration. Tables owned by an account reference `accounts(id) ON DELETE CASCADE`
//!    so [`Storage::delete_account`] keeps removing everything; use `STRICT` tables.
//! 2. Add `src/storage/feature.rs` with an `impl Storage { ... }` block and its types,
//!    and `mod feature; pub use feature::{...};` here. Build methods on the private
//!    helpers `Storage::read` / `Storage::write` (closures over a rusqlite
//!    `Transaction`), and `account_id` to map a bare JID to its row id.
//!
//! # Security
//! - The database file is created with mode `0600` on unix (an existing file with group
//!   or other permission bits is tightened to `0600`); SQLite gives the `-wal` and `-shm`
//!   files the database file's mode. The parent directory must already exist (and should
//!   be private to the server's user); it is not created here.
//! - The database never holds passwords: only [`StoredCredentials`] (argon2id hash and
//!   SCRAM keys).
//! - `secure_delete=ON` on the writer: deleted rows (accounts, delivered offline
//!   messages, answered requests) are overwritten with zeros instead of lingering in free
//!   pages.
//! - Error messages never contain JIDs, stanzas or credentials; nothing is logged.
//! - All SQL uses bound parameters; no SQL text is built from input.
//!
//! # Limitations
//! - JIDs are stored exactly as given; callers must pass normalized bare JIDs.
//! - Deleting an account does not touch other accounts' roster items that point at it
//!   (the roster module handles unsubscription).
//! - Old content may remain in the WAL file until the next checkpoint (at the latest in
//!   [`Storage::close`]).
//! - A long-running request holds a blocking-pool thread; there is no per-query timeout
//!   beyond [`BUSY_TIMEOUT`] for locks.

mod accounts;
mod blocking;
mod muc;
mod offline;
mod pastebin;
mod private;
mod pubsub;
mod roster;
mod upload;
mod vcard;

pub use muc::StoredRoom;
pub use offline::OfflineMessage;
pub use private::{PrivateFragment, PrivateLimit, PrivateLimits};
pub use pubsub::{
    AccessModel, CreateOutcome, NodeConfig, PublishOutcome, PubsubLimits, StoredItem, StoredNode,
};
pub use roster::{ParseSubscriptionError, RosterItem, RosterVersion, Subscription};
pub use upload::{SlotGrant, UploadSlot};

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use crate::auth::StoredCredentials;

/// Number of read-only connections in the pool (plus one writer).
pub const READERS: usize = 3;

/// How long a connection waits for a lock held by another connection or process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One schema migration: applied when `PRAGMA user_version` is below `version`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The `user_version` after this migration; migrations are numbered 1, 2, 3, ...
    pub version: i64,
    /// Short name, as in the file name `NNNN_name.sql`.
    pub name: &'static str,
    /// The SQL (one or more statements), run in one transaction.
    pub sql: &'static str,
}

/// All migrations, in order; `MIGRATIONS[i].version == i + 1`. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "muc",
        sql: include_str!("migrations/0002_muc.sql"),
    },
    Migration {
        version: 3,
        name: "pastebin",
        sql: include_str!("migrations/0003_pastebin.sql"),
    },
    Migration {
        version: 4,
        name: "upload",
        sql: include_str!("migrations/0004_upload.sql"),
    },
    Migration {
        version: 5,
        name: "pubsub",
        sql: include_str!("migrations/0005_pubsub.sql"),
    },
    Migration {
        version: 6,
        name: "blocking",
        sql: include_str!("migrations/0006_blocking.sql"),
    },
    Migration {
        version: 7,
        name: "account_data",
        sql: include_str!("migrations/0007_account_data.sql"),
    },
];

/// The schema version this code writes and understands (the last migration's version).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Errors of the storage layer.
///
/// Messages describe this layer only and never contain JIDs, stanzas or credentials;
/// the underlying cause (if any) is in [`std::error::Error::source`].
#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// [`Storage::create_account`]: an account with this JID already exists.
    #[error("the account already exists")]
    AccountExists,
    /// A write for an owner JID that has no account (roster, subscriptions, offline).
    #[error("no such account")]
    NoSuchAccount,
    /// [`Storage::push_offline`]: the owner already has `limit` offline messages
    /// (XEP-0160 §3; the router then bounces with `service-unavailable`).
    #[error("the offline message quota is reached")]
    OfflineQuotaReached,
    /// [`Storage::put_roster_item_capped`]: the item is new and the roster already has
    /// the maximum number of items (`roster.max_items`).
    #[error("the roster is full")]
    RosterFull,
    /// [`Storage::put_private`]: storing the fragments would exceed one of the
    /// account's private storage limits (XEP-0049; `[private]`); nothing was written.
    #[error("a private storage limit is reached")]
    PrivateFull(PrivateLimit),
    /// [`Storage::block`]: the new JIDs would take the block list beyond its maximum
    /// number of items (`blocking.max_items`); nothing was written.
    #[error("the block list is full")]
    BlockListFull,
    /// The database schema (`PRAGMA user_version`) is newer than this program knows.
    #[error("database schema version {found} is newer than the newest known version {known}")]
    TooNew {
        /// `user_version` found in the file.
        found: i64,
        /// [`SCHEMA_VERSION`].
        known: i64,
    },
    /// SQLite reported an error.
    #[error("database operation failed")]
    Sqlite(#[source] rusqlite::Error),
    /// Creating or inspecting the database file failed.
    #[error("database file could not be created or inspected")]
    Io(#[source] std::io::Error),
    /// The blocking task running the SQL failed (panicked or was cancelled).
    #[error("database task failed")]
    Join(#[source] tokio::task::JoinError),
    /// The database holds a value this code cannot interpret (the text says which kind;
    /// it never contains the value).
    #[error("database content is invalid: {0}")]
    Corrupt(String),
    /// SQLite refused to switch the file to WAL journal mode.
    #[error("the database could not be switched to WAL journal mode")]
    NotWal,
    /// [`Storage::close`] was called; no further operations are possible.
    #[error("the storage is closed")]
    Closed,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

/// Handle to the database: cheap to clone (an `Arc` inside), `Send + Sync`.
///
/// See the module docs for the connection pool, durability and migrations.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage").finish_non_exhaustive()
    }
}

struct Inner {
    /// `None` after [`Storage::close`].
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
}

/// Locks a mutex, recovering from poisoning: a panic while holding a connection leaves
/// at worst an open transaction, which rusqlite's `Transaction` drop has rolled back.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Storage {
    /// Opens (creating if missing) the database at `path` and applies pending migrations.
    ///
    /// Synchronous: call it at start-up (or from a blocking context). The file is created
    /// with mode `0600` (unix); its parent directory must exist. Opens one writer and
    /// [`READERS`] reader connections, sets WAL mode, `synchronous=FULL`,
    /// `foreign_keys=ON` and the busy timeout.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be created or its mode read/set (e.g. missing
    /// parent directory); [`Error::TooNew`] if the file's schema is newer than
    /// [`SCHEMA_VERSION`]; [`Error::NotWal`] if WAL mode cannot be enabled;
    /// [`Error::Sqlite`] for any other SQLite failure (not a database, locked past the
    /// busy timeout, ...).
    pub fn open(path: &Path) -> Result<Storage, Error> {
        create_private_file(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut writer = Connection::open_with_flags(path, flags)?;
        configure(&writer)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::NotWal);
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        writer.pragma_update(None, "secure_delete", true)?;
        migrate(&mut writer, MIGRATIONS)?;

        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(path, flags)?;
            configure(&r)?;
            r.pragma_update(None, "query_only", true)?;
            readers.push(Mutex::new(Some(r)));
        }
        Ok(Storage {
            inner: Arc::new(Inner {
                writer: Mutex::new(Some(writer)),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    /// Closes the storage: checkpoints the WAL into the main file (truncating the WAL)
    /// and drops all connections. Best effort: errors are ignored. Afterwards every
    /// method (on every clone) returns [`Error::Closed`]; calling `close` again is a no-op.
    pub async fn close(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = tokio::task::spawn_blocking(move || {
            for r in &inner.readers {
                drop(lock(r).take());
            }
            if let Some(w) = lock(&inner.writer).take() {
                let _ = w.execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);");
                let _ = w.close();
            }
        })
        .await;
    }

    /// Runs `f` in one deferred (snapshot) transaction on a reader connection, on the
    /// blocking pool. For use by the repository files of this module.
    async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = inner.reader();
            let conn = guard.as_mut().ok_or(Error::Closed)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.finish()?;
            Ok(out)
        })
        .await
        .map_err(Error::Join)?
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer connection, on the
    /// blocking pool, and commits when `f` returns `Ok` (rolls back on `Err`). The
    /// commit is durable (`synchronous=FULL`) when this returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut guard = lock(&inner.writer);
            let conn = guard.as_mut().ok_or(Error::Closed)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(Error::Join)?
    }
}

impl Inner {
    /// A free reader if there is one, else waits for the next one in round-robin order.
    fn reader(&self) -> MutexGuard<'_, Option<Connection>> {
        let n = self.readers.len().max(1);
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..self.readers.len() {
            if let Some(m) = self.readers.get((start + i) % n) {
                match m.try_lock() {
                    Ok(g) => return g,
                    Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                    Err(std::sync::TryLockError::WouldBlock) => {}
                }
            }
        }
        match self.readers.get(start) {
            Some(m) => lock(m),
            // READERS is never 0; fall back to the writer rather than panic.
            None => lock(&self.writer),
        }
    }
}

/// The row id of the account `jid`, if it exists.
fn account_id(conn: &Connection, jid: &str) -> Result<Option<i64>, Error> {
    Ok(conn
        .prepare_cached("SELECT id FROM accounts WHERE jid = ?1")?
        .query_row([jid], |r| r.get(0))
        .optional()?)
}

/// Like [`account_id`], but a missing account is [`Error::NoSuchAccount`].
fn require_account(conn: &Connection, jid: &str) -> Result<i64, Error> {
    account_id(conn, jid)?.ok_or(Error::NoSuchAccount)
}

/// Per-connection settings shared by the writer and the readers.
fn configure(conn: &Connection) -> Result<(), Error> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "trusted_schema", false)?;
    Ok(())
}

/// Applies every migration whose version is above the file's `user_version`, each in
/// its own immediate transaction (the version is re-read under the write lock).
fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), Error> {
    let known = migrations.last().map_or(0, |m| m.version);
    for m in migrations {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > known {
            return Err(Error::TooNew { found, known });
        }
        if found >= m.version {
            tx.finish()?;
            continue;
        }
        if found != m.version - 1 {
            return Err(Error::Corrupt("migration sequence has a gap".to_owned()));
        }
        tx.execute_batch(m.sql)?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
    }
    // No migrations left to run: still refuse a newer file.
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > known {
        return Err(Error::TooNew { found, known });
    }
    Ok(())
}

/// Creates `path` with mode 0600 if missing; tightens an existing file to 0600 (unix).
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(Error::Io)?;
    let meta = file.metadata().map_err(Error::Io)?;
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(Error::Io)?;
    }
    Ok(())
}

/// Creates `path` if missing (no permission handling off unix).
#[cfg(not(unix))]
fn create_private_file(path: &Path) -> Result<(), Error> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(Error::Io)
}

/// Current time in unix seconds (0 if the clock is before 1970).
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::auth::ScramCredentials;

    /// A fresh database in a temporary directory (keep the `TempDir` alive).
    pub(crate) fn temp_storage() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(&dir.path().join("allium.db")).unwrap();
        (dir, s)
    }

    /// Distinct, recognisable credentials derived from `seed`.
    pub(crate) fn creds(seed: u8) -> StoredCredentials {
        let scram = |n: u8| ScramCredentials {
            salt: vec![seed, n, 1],
            iterations: 4096 + u32::from(seed),
            stored_key: vec![seed, n, 2],
            server_key: vec![seed, n, 3],
        };
        StoredCredentials {
            argon2_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$seed{seed}"),
            scram_sha1: scram(1),
            scram_sha256: scram(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn migrations_are_numbered_consecutively() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "migration {}", m.name);
        }
        assert_eq!(SCHEMA_VERSION, MIGRATIONS.len() as i64);
    }

    #[tokio::test]
    async fn open_sets_version_wal_and_pragmas() {
        let (dir, s) = temp_storage();
        let (version, mode, fk) = s
            .read(|tx| {
                let v: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let m: String = tx.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                let fk: i64 = tx.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
                Ok((v, m, fk))
            })
            .await
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(mode, "wal");
        assert_eq!(fk, 1);
        let sync: i64 = s
            .write(|tx| Ok(tx.pragma_query_value(None, "synchronous", |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        s.close().await;
        drop(dir);
    }

    #[tokio::test]
    async fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allium.db");
        {
            let s = Storage::open(&path).unwrap();
            s.create_account("a@example.org", &creds(1)).await.unwrap();
            s.push_offline("a@example.org", "<message/>", 7, 10)
                .await
                .unwrap();
            // No close: dropping the handle must not lose committed writes.
        }
        let s = Storage::open(&path).unwrap();
        assert!(s.account_exists("a@example.org").await.unwrap());
        assert_eq!(s.offline_count("a@example.org").await.unwrap(), 1);
        s.close().await;
        let s = Storage::open(&path).unwrap();
        assert_eq!(
            s.credentials("a@example.org").await.unwrap(),
            Some(creds(1))
        );
    }

    #[tokio::test]
    async fn second_open_writes_are_seen_immediately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allium.db");
        let server = Storage::open(&path).unwrap();
        assert!(!server.account_exists("cli@example.org").await.unwrap());
        let cli = Storage::open(&path).unwrap();
        cli.create_account("cli@example.org", &creds(2))
            .await
            .unwrap();
        cli.close().await;
        // Every reader of the first handle sees it.
        for _ in 0..READERS * 2 {
            assert!(server.account_exists("cli@example.org").await.unwrap());
        }
        assert_eq!(
            server.credentials("cli@example.org").await.unwrap(),
            Some(creds(2))
        );
        // And the server can still write while the other handle was open.
        server
            .create_account("srv@example.org", &creds(3))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allium.db");
        Storage::open(&path).unwrap().close().await;
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        match Storage::open(&path) {
            Err(Error::TooNew { found, known }) => {
                assert_eq!(found, SCHEMA_VERSION + 1);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected TooNew, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn migration_is_atomic_and_resumable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let mut c = Connection::open(&path).unwrap();
        let bad = [
            Migration {
                version: 1,
                name: "ok",
                sql: "CREATE TABLE a (x INTEGER) STRICT;",
            },
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE b (x INTEGER) STRICT; THIS IS NOT SQL;",
            },
        ];
        assert!(matches!(migrate(&mut c, &bad), Err(Error::Sqlite(_))));
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "first migration committed, second rolled back");
        let b: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0, "no half-applied migration");
        let good = [
            bad[0],
            Migration {
                version: 2,
                name: "fixed",
                sql: "CREATE TABLE b (x INTEGER) STRICT;",
            },
        ];
        migrate(&mut c, &good).unwrap();
        migrate(&mut c, &good).unwrap(); // idempotent
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
    }

    #[test]
    fn missing_parent_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/allium.db");
        assert!(matches!(Storage::open(&path), Err(Error::Io(_))));
    }

    #[test]
    fn garbage_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allium.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(Storage::open(&path), Err(Error::Sqlite(_))));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allium.db");
        let s = Storage::open(&path).unwrap();
        s.create_account("a@example.org", &creds(1)).await.unwrap();
        for name in ["allium.db", "allium.db-wal", "allium.db-shm"] {
            let meta = std::fs::metadata(dir.path().join(name)).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
        s.close().await;

        // An existing, too-open file is tightened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Storage::open(&path).unwrap().close().await;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[tokio::test]
    async fn closed_storage_refuses_work() {
        let (_dir, s) = temp_storage();
        let clone = s.clone();
        s.close().await;
        s.close().await; // second close is a no-op
        assert!(matches!(
            clone.account_exists("a@example.org").await,
            Err(Error::Closed)
        ));
        assert!(matches!(
            clone.create_account("a@example.org", &creds(1)).await,
            Err(Error::Closed)
        ));
    }

    #[tokio::test]
    async fn concurrent_reads_and_writes() {
        let (_dir, s) = temp_storage();
        s.create_account("a@example.org", &creds(1)).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16i64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.push_offline("a@example.org", "<message/>", i, 1000)
                    .await
                    .unwrap();
                s.offline_count("a@example.org").await.unwrap()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap() >= 1);
        }
        assert_eq!(s.offline_count("a@example.org").await.unwrap(), 16);
    }

    #[test]
    fn errors_do_not_leak_user_data() {
        let e = Error::TooNew { found: 9, known: 1 };
        assert!(e.to_string().contains('9'));
        for e in [
            Error::AccountExists,
            Error::NoSuchAccount,
            Error::OfflineQuotaReached,
            Error::RosterFull,
            Error::PrivateFull(PrivateLimit::TotalBytes),
            Error::BlockListFull,
            Error::Closed,
        ] {
            assert!(!e.to_string().contains('@'));
        }
    }
}
