//! Accounts: a normalized bare JID and its [`StoredCredentials`] (RFC 6120 §6; SCRAM keys
//! per RFC 5802 §3 and RFC 7677, argon2id for PLAIN, RFC 4616).

use rusqlite::{OptionalExtension, Row, params};

use super::{Error, Storage, StoredCredentials, now_unix};
use crate::auth::ScramCredentials;

const CREDENTIAL_COLUMNS: &str = "argon2_hash, \
     scram_sha1_salt, scram_sha1_iterations, scram_sha1_stored_key, scram_sha1_server_key, \
     scram_sha256_salt, scram_sha256_iterations, scram_sha256_stored_key, scram_sha256_server_key";

/// Reads the columns of [`CREDENTIAL_COLUMNS`], in order, from `row`.
fn credentials_from_row(row: &Row<'_>) -> Result<StoredCredentials, Error> {
    let scram = |base: usize| -> Result<ScramCredentials, Error> {
        let iterations: i64 = row.get(base + 1)?;
        Ok(ScramCredentials {
            salt: row.get(base)?,
            iterations: u32::try_from(iterations)
                .map_err(|_| Error::Corrupt("SCRAM iteration count out of range".to_owned()))?,
            stored_key: row.get(base + 2)?,
            server_key: row.get(base + 3)?,
        })
    };
    Ok(StoredCredentials {
        argon2_hash: row.get(0)?,
        scram_sha1: scram(1)?,
        scram_sha256: scram(5)?,
    })
}

/// Owned copy of credentials for a `'static` blocking closure, as SQL parameters.
#[derive(Clone)]
struct CredParams {
    argon2_hash: String,
    sha1: (Vec<u8>, i64, Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, i64, Vec<u8>, Vec<u8>),
}

impl From<&StoredCredentials> for CredParams {
    fn from(c: &StoredCredentials) -> Self {
        let p = |s: &ScramCredentials| {
            (
                s.salt.clone(),
                i64::from(s.iterations),
                s.stored_key.clone(),
                s.server_key.clone(),
            )
        };
        CredParams {
            argon2_hash: c.argon2_hash.clone(),
            sha1: p(&c.scram_sha1),
            sha256: p(&c.scram_sha256),
        }
    }
}

impl Storage {
    /// Creates the account `jid` (a normalized bare JID, stored as given) with `creds`.
    ///
    /// Committed durably when it returns `Ok`.
    ///
    /// # Errors
    /// [`Error::AccountExists`] if `jid` already has an account (nothing is changed);
    /// [`Error::Sqlite`] (e.g. a SCRAM iteration count of 0 violates the schema),
    /// [`Error::Closed`], [`Error::Join`].
    pub async fn create_account(&self, jid: &str, creds: &StoredCredentials) -> Result<(), Error> {
        let jid = jid.to_owned();
        let c = CredParams::from(creds);
        self.write(move |tx| {
            let n = tx
                .prepare_cached(&format!(
                    "INSERT INTO accounts (jid, created_at, {CREDENTIAL_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                     ON CONFLICT (jid) DO NOTHING"
                ))?
                .execute(params![
                    jid,
                    now_unix(),
                    c.argon2_hash,
                    c.sha1.0,
                    c.sha1.1,
                    c.sha1.2,
                    c.sha1.3,
                    c.sha256.0,
                    c.sha256.1,
                    c.sha256.2,
                    c.sha256.3,
                ])?;
            if n == 0 {
                return Err(Error::AccountExists);
            }
            Ok(())
        })
        .await
    }

    /// The stored credentials of `jid`, or `None` if there is no such account.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if a stored iteration count does not fit a `u32`;
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn credentials(&self, jid: &str) -> Result<Option<StoredCredentials>, Error> {
        let jid = jid.to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM accounts WHERE jid = ?1"
            ))?;
            let mut rows = stmt.query([jid])?;
            match rows.next()? {
                Some(row) => Ok(Some(credentials_from_row(row)?)),
                None => Ok(None),
            }
        })
        .await
    }

    /// Replaces the credentials of `jid` (password change, RFC 6120 §6 / XEP-0077 §3.3).
    ///
    /// Returns `false` (and changes nothing) if there is no such account. Committed
    /// durably when it returns.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn set_credentials(
        &self,
        jid: &str,
        creds: &StoredCredentials,
    ) -> Result<bool, Error> {
        let jid = jid.to_owned();
        let c = CredParams::from(creds);
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE accounts SET argon2_hash = ?2, \
                     scram_sha1_salt = ?3, scram_sha1_iterations = ?4, \
                     scram_sha1_stored_key = ?5, scram_sha1_server_key = ?6, \
                     scram_sha256_salt = ?7, scram_sha256_iterations = ?8, \
                     scram_sha256_stored_key = ?9, scram_sha256_server_key = ?10 \
                     WHERE jid = ?1",
                )?
                .execute(params![
                    jid,
                    c.argon2_hash,
                    c.sha1.0,
                    c.sha1.1,
                    c.sha1.2,
                    c.sha1.3,
                    c.sha256.0,
                    c.sha256.1,
                    c.sha256.2,
                    c.sha256.3,
                ])?;
            Ok(n > 0)
        })
        .await
    }

    /// Deletes the account `jid` and, in the same transaction, everything it owns: its
    /// roster (items and groups), pending subscription requests and offline messages.
    ///
    /// Returns `false` if there was no such account. Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn delete_account(&self, jid: &str) -> Result<bool, Error> {
        let jid = jid.to_owned();
        self.write(move |tx| {
            // ON DELETE CASCADE (foreign_keys=ON) removes the owned rows.
            let n = tx
                .prepare_cached("DELETE FROM accounts WHERE jid = ?1")?
                .execute([jid])?;
            Ok(n > 0)
        })
        .await
    }

    /// Whether the account `jid` exists.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn account_exists(&self, jid: &str) -> Result<bool, Error> {
        let jid = jid.to_owned();
        self.read(move |tx| Ok(super::account_id(tx, &jid)?.is_some()))
            .await
    }

    /// All account JIDs, sorted by byte order.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn list_accounts(&self) -> Result<Vec<String>, Error> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT jid FROM accounts ORDER BY jid")?;
            let jids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(jids)
        })
        .await
    }

    /// When the account `jid` was created (unix seconds), or `None` if it does not exist.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn account_created_at(&self, jid: &str) -> Result<Option<i64>, Error> {
        let jid = jid.to_owned();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT created_at FROM accounts WHERE jid = ?1")?
                .query_row([jid], |r| r.get(0))
                .optional()?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    const A: &str = "alice@example.org";
    const B: &str = "bob@example.org";

    #[tokio::test]
    async fn create_and_read_credentials() {
        let (_d, s) = temp_storage();
        assert_eq!(s.credentials(A).await.unwrap(), None);
        assert!(!s.account_exists(A).await.unwrap());
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(s.account_exists(A).await.unwrap());
        assert_eq!(s.credentials(A).await.unwrap(), Some(creds(1)));
        let created = s.account_created_at(A).await.unwrap().unwrap();
        assert!(created > 1_600_000_000);
        assert_eq!(s.account_created_at(B).await.unwrap(), None);
    }

    #[tokio::test]
    async fn duplicate_account_is_refused_unchanged() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(matches!(
            s.create_account(A, &creds(2)).await,
            Err(Error::AccountExists)
        ));
        assert_eq!(s.credentials(A).await.unwrap(), Some(creds(1)));
    }

    #[tokio::test]
    async fn jids_are_stored_as_given() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        // Normalization is the caller's job: a different spelling is another row.
        assert!(!s.account_exists("Alice@example.org").await.unwrap());
    }

    #[tokio::test]
    async fn set_credentials_replaces_or_reports_missing() {
        let (_d, s) = temp_storage();
        assert!(!s.set_credentials(A, &creds(2)).await.unwrap());
        assert!(!s.account_exists(A).await.unwrap());
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(s.set_credentials(A, &creds(2)).await.unwrap());
        assert_eq!(s.credentials(A).await.unwrap(), Some(creds(2)));
    }

    #[tokio::test]
    async fn max_iterations_round_trip_and_zero_is_refused() {
        let (_d, s) = temp_storage();
        let mut c = creds(1);
        c.scram_sha256.iterations = u32::MAX;
        s.create_account(A, &c).await.unwrap();
        assert_eq!(s.credentials(A).await.unwrap(), Some(c));
        let mut bad = creds(1);
        bad.scram_sha1.iterations = 0;
        assert!(matches!(
            s.create_account(B, &bad).await,
            Err(Error::Sqlite(_))
        ));
        assert!(!s.account_exists(B).await.unwrap());
    }

    #[tokio::test]
    async fn list_is_sorted() {
        let (_d, s) = temp_storage();
        assert!(s.list_accounts().await.unwrap().is_empty());
        for j in ["carol@example.org", A, "dave@example.net", B] {
            s.create_account(j, &creds(1)).await.unwrap();
        }
        assert_eq!(
            s.list_accounts().await.unwrap(),
            vec![A, B, "carol@example.org", "dave@example.net"]
        );
    }

    #[tokio::test]
    async fn delete_cascades_to_everything_owned() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        let item = crate::storage::RosterItem {
            jid: B.to_owned(),
            name: Some("Bob".to_owned()),
            subscription: crate::storage::Subscription::Both,
            ask: false,
            groups: vec!["Friends".to_owned()],
            approved: true,
        };
        for owner in [A, B] {
            s.put_roster_item(owner, &item).await.unwrap();
            s.add_pending_subscription(owner, "eve@example.com", "<presence/>")
                .await
                .unwrap();
            s.push_offline(owner, "<message/>", 1, 10).await.unwrap();
        }

        assert!(s.delete_account(A).await.unwrap());
        assert!(!s.delete_account(A).await.unwrap());
        assert!(!s.account_exists(A).await.unwrap());
        assert!(s.roster(A).await.unwrap().is_empty());
        assert!(s.pending_subscriptions(A).await.unwrap().is_empty());
        assert_eq!(s.offline_count(A).await.unwrap(), 0);

        // No orphans anywhere, including roster groups.
        let orphans: i64 = s
            .read(|tx| {
                Ok(tx.query_row(
                    "SELECT (SELECT count(*) FROM roster_groups g
                               WHERE NOT EXISTS (SELECT 1 FROM roster_items r WHERE r.id = g.item_id))
                          + (SELECT count(*) FROM roster_items WHERE account_id NOT IN (SELECT id FROM accounts))
                          + (SELECT count(*) FROM pending_subscriptions WHERE account_id NOT IN (SELECT id FROM accounts))
                          + (SELECT count(*) FROM offline_messages WHERE account_id NOT IN (SELECT id FROM accounts))",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(orphans, 0);
        let groups: i64 = s
            .read(|tx| Ok(tx.query_row("SELECT count(*) FROM roster_groups", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(groups, 1, "bob's group remains");

        // The other account is untouched.
        assert_eq!(s.roster(B).await.unwrap(), vec![item]);
        assert_eq!(s.pending_subscriptions(B).await.unwrap().len(), 1);
        assert_eq!(s.offline_count(B).await.unwrap(), 1);

        // Re-creating the account starts empty.
        s.create_account(A, &creds(3)).await.unwrap();
        assert!(s.roster(A).await.unwrap().is_empty());
        assert_eq!(s.offline_count(A).await.unwrap(), 0);
    }
}
