//! Block lists (XEP-0191): the JIDs each account blocks, as normalized strings (a
//! domain, a bare JID or a full JID; XEP-0191 §6 says how they match).

use rusqlite::params;

use super::{Error, Storage, account_id, require_account};

impl Storage {
    /// The JIDs `owner` blocks, sorted; empty if none or no account (XEP-0191 §3.2).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn block_list(&self, owner: &str) -> Result<Vec<String>, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT b.jid FROM blocked_jids b JOIN accounts a ON a.id = b.account_id \
                 WHERE a.jid = ?1 ORDER BY b.jid",
            )?;
            let rows = stmt
                .query_map([owner], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Adds `jids` (normalized) to `owner`'s block list (XEP-0191 §3.3); JIDs already
    /// there are kept once. The whole set is refused when the list would then hold more
    /// than `max` items. One transaction, committed durably when it returns `Ok`, with
    /// the list as it now is (sorted).
    ///
    /// # Errors
    /// [`Error::BlockListFull`] (nothing written); [`Error::NoSuchAccount`];
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn block(
        &self,
        owner: &str,
        jids: &[String],
        max: u32,
    ) -> Result<Vec<String>, Error> {
        let owner = owner.to_owned();
        let jids = jids.to_vec();
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO blocked_jids (account_id, jid) VALUES (?1, ?2)",
                )?;
                for j in &jids {
                    insert.execute(params![account, j])?;
                }
            }
            let count: i64 = tx
                .prepare_cached("SELECT count(*) FROM blocked_jids WHERE account_id = ?1")?
                .query_row([account], |r| r.get(0))?;
            if count > i64::from(max) {
                // Returning an error rolls the inserts back.
                return Err(Error::BlockListFull);
            }
            list(tx, account)
        })
        .await
    }

    /// Removes `jids` from `owner`'s block list (XEP-0191 §3.4); `None` removes every
    /// item (§3.5). JIDs not in the list are ignored. Returns the list as it now is.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn unblock(
        &self,
        owner: &str,
        jids: Option<&[String]>,
    ) -> Result<Vec<String>, Error> {
        let owner = owner.to_owned();
        let jids = jids.map(<[String]>::to_vec);
        self.write(move |tx| {
            let Some(account) = account_id(tx, &owner)? else {
                return Ok(Vec::new());
            };
            match jids {
                None => {
                    tx.prepare_cached("DELETE FROM blocked_jids WHERE account_id = ?1")?
                        .execute([account])?;
                }
                Some(jids) => {
                    let mut stmt = tx.prepare_cached(
                        "DELETE FROM blocked_jids WHERE account_id = ?1 AND jid = ?2",
                    )?;
                    for j in &jids {
                        stmt.execute(params![account, j])?;
                    }
                }
            }
            list(tx, account)
        })
        .await
    }

    /// How many accounts block at least one JID.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn accounts_with_blocks(&self) -> Result<u64, Error> {
        self.read(|tx| {
            let n: i64 = tx
                .prepare_cached("SELECT count(DISTINCT account_id) FROM blocked_jids")?
                .query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }
}

/// The block list of account row `account`, sorted.
fn list(tx: &rusqlite::Transaction<'_>, account: i64) -> Result<Vec<String>, Error> {
    let mut stmt =
        tx.prepare_cached("SELECT jid FROM blocked_jids WHERE account_id = ?1 ORDER BY jid")?;
    let rows = stmt
        .query_map([account], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    const A: &str = "alice@example.org";

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[tokio::test]
    async fn block_unblock_and_cap() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(s.block_list(A).await.unwrap().is_empty());
        let l = s
            .block(A, &v(&["b@example.org", "example.net"]), 3)
            .await
            .unwrap();
        assert_eq!(l, v(&["b@example.org", "example.net"]));
        // Already blocked items do not count twice.
        s.block(A, &v(&["b@example.org", "c@example.org/r"]), 3)
            .await
            .unwrap();
        assert!(matches!(
            s.block(A, &v(&["d@example.org"]), 3).await,
            Err(Error::BlockListFull)
        ));
        assert_eq!(s.block_list(A).await.unwrap().len(), 3, "nothing written");
        assert_eq!(s.accounts_with_blocks().await.unwrap(), 1);
        let l = s
            .unblock(A, Some(&v(&["example.net", "x@y"])))
            .await
            .unwrap();
        assert_eq!(l, v(&["b@example.org", "c@example.org/r"]));
        assert!(s.unblock(A, None).await.unwrap().is_empty());
        assert_eq!(s.accounts_with_blocks().await.unwrap(), 0);
        assert!(matches!(
            s.block("nobody@example.org", &v(&["x@y"]), 3).await,
            Err(Error::NoSuchAccount)
        ));
    }

    #[tokio::test]
    async fn deleting_the_account_removes_its_list() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.block(A, &v(&["b@example.org"]), 10).await.unwrap();
        s.delete_account(A).await.unwrap();
        assert_eq!(s.accounts_with_blocks().await.unwrap(), 0);
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(s.block_list(A).await.unwrap().is_empty());
    }
}
