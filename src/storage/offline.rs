//! Offline message storage (XEP-0160 §3: messages to an account with no available
//! resource are stored and delivered when it next becomes available).

use rusqlite::params;

use super::{Error, Storage, require_account};

/// One stored offline message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Row id: increases with insertion order and is never reused; pass it to
    /// [`Storage::delete_offline`] once delivered.
    pub id: i64,
    /// The serialized `<message/>` stanza, as given to [`Storage::push_offline`].
    pub stanza: String,
    /// When it was stored, unix seconds (for the XEP-0203 delay stamp).
    pub stamp: i64,
}

impl Storage {
    /// Stores `stanza` (serialized XML) for `owner` with `stamp` (unix seconds), unless
    /// the owner already has `limit` or more stored messages. The count and the insert
    /// are one transaction, so concurrent pushes never exceed `limit`. Committed
    /// durably when it returns `Ok`.
    ///
    /// # Errors
    /// [`Error::OfflineQuotaReached`] if the owner already has `limit` messages (nothing
    /// written; `limit == 0` always refuses); [`Error::NoSuchAccount`] if `owner` has no
    /// account; [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn push_offline(
        &self,
        owner: &str,
        stanza: &str,
        stamp: i64,
        limit: u32,
    ) -> Result<(), Error> {
        let owner = owner.to_owned();
        let stanza = stanza.to_owned();
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            let count: i64 = tx
                .prepare_cached("SELECT count(*) FROM offline_messages WHERE account_id = ?1")?
                .query_row([account], |r| r.get(0))?;
            if count >= i64::from(limit) {
                return Err(Error::OfflineQuotaReached);
            }
            tx.prepare_cached(
                "INSERT INTO offline_messages (account_id, stanza, stamp) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![account, stanza, stamp])?;
            Ok(())
        })
        .await
    }

    /// All stored messages of `owner`, oldest (lowest id) first; empty if none or no
    /// account. Messages stay stored until [`Storage::delete_offline`].
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn offline_messages(&self, owner: &str) -> Result<Vec<OfflineMessage>, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT o.id, o.stanza, o.stamp FROM offline_messages o \
                 JOIN accounts a ON a.id = o.account_id \
                 WHERE a.jid = ?1 ORDER BY o.id",
            )?;
            let rows = stmt
                .query_map([owner], |r| {
                    Ok(OfflineMessage {
                        id: r.get(0)?,
                        stanza: r.get(1)?,
                        stamp: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Deletes `owner`'s messages with the given ids (after delivery), in one
    /// transaction. Ids that do not exist or belong to another account are ignored.
    /// Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn delete_offline(&self, owner: &str, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let owner = owner.to_owned();
        let ids = ids.to_vec();
        self.write(move |tx| {
            let Some(account) = super::account_id(tx, &owner)? else {
                return Ok(());
            };
            let mut stmt = tx
                .prepare_cached("DELETE FROM offline_messages WHERE id = ?1 AND account_id = ?2")?;
            for id in ids {
                stmt.execute([id, account])?;
            }
            Ok(())
        })
        .await
    }

    /// How many messages `owner` has stored (0 if no account).
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the count does not fit a `u32`; [`Error::Sqlite`],
    /// [`Error::Closed`], [`Error::Join`].
    pub async fn offline_count(&self, owner: &str) -> Result<u32, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            let n: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM offline_messages \
                     WHERE account_id = (SELECT id FROM accounts WHERE jid = ?1)",
                )?
                .query_row([owner], |r| r.get(0))?;
            u32::try_from(n).map_err(|_| Error::Corrupt("offline message count too large".into()))
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
    async fn push_list_count_delete() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        assert_eq!(s.offline_count(A).await.unwrap(), 0);
        assert!(s.offline_messages(A).await.unwrap().is_empty());

        s.push_offline(A, "<message id='1'/>", 100, 10)
            .await
            .unwrap();
        s.push_offline(A, "<message id='2'/>", 50, 10)
            .await
            .unwrap();
        s.push_offline(B, "<message id='b'/>", 70, 10)
            .await
            .unwrap();
        assert_eq!(s.offline_count(A).await.unwrap(), 2);

        let msgs = s.offline_messages(A).await.unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].stanza, "<message id='1'/>");
        assert_eq!(msgs[0].stamp, 100);
        assert_eq!(msgs[1].stanza, "<message id='2'/>");
        assert_eq!(msgs[1].stamp, 50);
        assert!(msgs[0].id < msgs[1].id, "insertion order, not stamp order");

        // Another owner's id is not deleted through A.
        let b_id = s.offline_messages(B).await.unwrap()[0].id;
        s.delete_offline(A, &[msgs[0].id, b_id, 999_999])
            .await
            .unwrap();
        assert_eq!(s.offline_messages(A).await.unwrap(), vec![msgs[1].clone()]);
        assert_eq!(s.offline_count(B).await.unwrap(), 1);

        s.delete_offline(A, &[]).await.unwrap();
        s.delete_offline("nobody@example.org", &[b_id])
            .await
            .unwrap();
        s.delete_offline(A, &[msgs[1].id]).await.unwrap();
        assert_eq!(s.offline_count(A).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn ids_are_not_reused() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.push_offline(A, "<message/>", 1, 10).await.unwrap();
        let first = s.offline_messages(A).await.unwrap()[0].id;
        s.delete_offline(A, &[first]).await.unwrap();
        s.push_offline(A, "<message/>", 2, 10).await.unwrap();
        assert!(s.offline_messages(A).await.unwrap()[0].id > first);
    }

    #[tokio::test]
    async fn quota_is_atomic() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(matches!(
            s.push_offline(A, "<message/>", 1, 0).await,
            Err(Error::OfflineQuotaReached)
        ));
        for i in 0..3 {
            s.push_offline(A, "<message/>", i, 3).await.unwrap();
        }
        assert!(matches!(
            s.push_offline(A, "<message id='over'/>", 9, 3).await,
            Err(Error::OfflineQuotaReached)
        ));
        assert_eq!(s.offline_count(A).await.unwrap(), 3);
        assert!(
            s.offline_messages(A)
                .await
                .unwrap()
                .iter()
                .all(|m| m.stanza == "<message/>"),
            "nothing written on refusal"
        );

        // Many concurrent pushes never exceed the limit.
        s.create_account(B, &creds(2)).await.unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { s.push_offline(B, "<message/>", i, 5).await })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(Error::OfflineQuotaReached) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(ok, 5);
        assert_eq!(s.offline_count(B).await.unwrap(), 5);
    }

    #[tokio::test]
    async fn push_for_missing_account_is_refused() {
        let (_d, s) = temp_storage();
        assert!(matches!(
            s.push_offline(A, "<message/>", 1, 10).await,
            Err(Error::NoSuchAccount)
        ));
        assert_eq!(s.offline_count(A).await.unwrap(), 0);
    }
}
