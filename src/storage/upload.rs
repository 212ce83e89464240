//! XEP-0363 HTTP File Upload slots: who requested what (for the daily quota), whether
//! its file was stored, and the secret PUT tokens are signed with. The files themselves
//! live on disk (`modules::upload`); rows and files go when they expire.

use rusqlite::{OptionalExtension, params};

use super::{Error, Storage, account_id};

/// One upload slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSlot {
    /// 32 lower-case hex digits (128 random bits).
    pub id: String,
    /// Sanitized file name.
    pub filename: String,
    /// Exact size in bytes the PUT must have.
    pub size: u64,
    /// Content type the PUT must have and the GET serves.
    pub content_type: String,
    /// Creation time, unix seconds.
    pub created: i64,
    /// No PUT after this time (unix seconds).
    pub put_expires: i64,
    /// The file was uploaded.
    pub stored: bool,
}

/// What [`Storage::create_upload_slot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotGrant {
    /// The slot was stored.
    Granted,
    /// The account's quota would be exceeded; `retry_at` (unix seconds) is when enough
    /// of it frees up, `None` if the file alone exceeds the quota.
    QuotaReached {
        /// When a request of the same size would be granted.
        retry_at: Option<i64>,
    },
}

impl Storage {
    /// Stores `slot` for `owner` unless the sizes of the owner's slots created after
    /// `window_start` plus this one exceed `quota` bytes. Check and insert are one
    /// transaction, so concurrent requests never exceed the quota. `window` (seconds)
    /// gives `retry_at`: the moment an old slot leaves the window.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] if `owner` has no account; [`Error::Sqlite`],
    /// [`Error::Closed`], [`Error::Join`].
    pub async fn create_upload_slot(
        &self,
        owner: &str,
        slot: &UploadSlot,
        window: i64,
        quota: u64,
    ) -> Result<SlotGrant, Error> {
        let owner = owner.to_owned();
        let slot = slot.clone();
        self.write(move |tx| {
            let account = account_id(tx, &owner)?.ok_or(Error::NoSuchAccount)?;
            let window_start = slot.created.saturating_sub(window);
            let used: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT created, size FROM upload_slots WHERE account_id = ?1 \
                     AND created > ?2 ORDER BY created",
                )?
                .query_map(params![account, window_start], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<Result<_, _>>()?;
            let size = i64::try_from(slot.size).unwrap_or(i64::MAX);
            let quota = i64::try_from(quota).unwrap_or(i64::MAX);
            let mut total: i64 = used.iter().map(|(_, s)| *s).fold(0, i64::saturating_add);
            if total.saturating_add(size) > quota {
                let mut retry_at = None;
                if size <= quota {
                    for (created, s) in &used {
                        total -= s;
                        if total.saturating_add(size) <= quota {
                            retry_at = Some(created.saturating_add(window));
                            break;
                        }
                    }
                }
                return Ok(SlotGrant::QuotaReached { retry_at });
            }
            tx.prepare_cached(
                "INSERT INTO upload_slots (id, account_id, filename, size, content_type, \
                 created, put_expires, stored) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
            )?
            .execute(params![
                slot.id,
                account,
                slot.filename,
                size,
                slot.content_type,
                slot.created,
                slot.put_expires
            ])?;
            Ok(SlotGrant::Granted)
        })
        .await
    }

    /// The slot `id`, if it exists.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a negative size; [`Error::Sqlite`], [`Error::Closed`],
    /// [`Error::Join`].
    pub async fn upload_slot(&self, id: &str) -> Result<Option<UploadSlot>, Error> {
        let id = id.to_owned();
        let row = self
            .read(move |tx| {
                Ok(tx
                    .prepare_cached(
                        "SELECT id, filename, size, content_type, created, put_expires, \
                         stored FROM upload_slots WHERE id = ?1",
                    )?
                    .query_row([&id], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                            r.get::<_, i64>(6)?,
                        ))
                    })
                    .optional()?)
            })
            .await?;
        row.map(
            |(id, filename, size, content_type, created, put_expires, stored)| {
                Ok(UploadSlot {
                    id,
                    filename,
                    size: u64::try_from(size)
                        .map_err(|_| Error::Corrupt("negative upload size".into()))?,
                    content_type,
                    created,
                    put_expires,
                    stored: stored != 0,
                })
            },
        )
        .transpose()
    }

    /// Marks slot `id` as stored; `false` if it was already stored (or is gone), so
    /// exactly one of concurrent uploads wins.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn mark_upload_stored(&self, id: &str) -> Result<bool, Error> {
        let id = id.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("UPDATE upload_slots SET stored = 1 WHERE id = ?1 AND stored = 0")?
                .execute([&id])?;
            Ok(n == 1)
        })
        .await
    }

    /// Deletes every slot created before `before` (unix seconds) and returns their ids,
    /// so the caller removes the files.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn take_expired_uploads(&self, before: i64) -> Result<Vec<String>, Error> {
        self.write(move |tx| {
            let ids: Vec<String> = tx
                .prepare_cached("SELECT id FROM upload_slots WHERE created < ?1")?
                .query_map([before], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            tx.prepare_cached("DELETE FROM upload_slots WHERE created < ?1")?
                .execute([before])?;
            Ok(ids)
        })
        .await
    }

    /// Whether slot `id` exists (the sweeper removes files without one).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn upload_exists(&self, id: &str) -> Result<bool, Error> {
        let id = id.to_owned();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT 1 FROM upload_slots WHERE id = ?1")?
                .query_row([&id], |_| Ok(()))
                .optional()?
                .is_some())
        })
        .await
    }

    /// The secret PUT tokens are signed with, created from `fresh` on first use and the
    /// same ever after.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn upload_secret(&self, fresh: [u8; 32]) -> Result<Vec<u8>, Error> {
        self.write(move |tx| {
            let found: Option<Vec<u8>> = tx
                .prepare_cached("SELECT secret FROM upload_secret WHERE id = 1")?
                .query_row([], |r| r.get(0))
                .optional()?;
            if let Some(s) = found {
                return Ok(s);
            }
            tx.prepare_cached("INSERT INTO upload_secret (id, secret) VALUES (1, ?1)")?
                .execute([fresh.to_vec()])?;
            Ok(fresh.to_vec())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{creds, temp_storage};
    use super::*;

    fn slot(id: &str, size: u64, created: i64) -> UploadSlot {
        UploadSlot {
            id: id.into(),
            filename: "a.txt".into(),
            size,
            content_type: "text/plain".into(),
            created,
            put_expires: created + 300,
            stored: false,
        }
    }

    #[tokio::test]
    async fn quota_window_store_and_expiry() {
        let (_dir, s) = temp_storage();
        s.create_account("a@example.org", &creds(1)).await.unwrap();
        let owner = "a@example.org";
        assert!(matches!(
            s.create_upload_slot("nobody@example.org", &slot("x", 1, 0), 100, 10)
                .await,
            Err(Error::NoSuchAccount)
        ));
        assert_eq!(
            s.create_upload_slot(owner, &slot("a", 6, 1000), 100, 10)
                .await
                .unwrap(),
            SlotGrant::Granted
        );
        assert_eq!(
            s.create_upload_slot(owner, &slot("b", 4, 1050), 100, 10)
                .await
                .unwrap(),
            SlotGrant::Granted
        );
        // 6 + 4 used: 5 more fit once "a" leaves the window (1000 + 100).
        assert_eq!(
            s.create_upload_slot(owner, &slot("c", 5, 1060), 100, 10)
                .await
                .unwrap(),
            SlotGrant::QuotaReached {
                retry_at: Some(1100)
            }
        );
        assert_eq!(
            s.create_upload_slot(owner, &slot("d", 11, 1060), 100, 10)
                .await
                .unwrap(),
            SlotGrant::QuotaReached { retry_at: None }
        );
        assert_eq!(
            s.create_upload_slot(owner, &slot("c", 5, 1101), 100, 10)
                .await
                .unwrap(),
            SlotGrant::Granted
        );
        assert!(!s.upload_slot("a").await.unwrap().unwrap().stored);
        assert!(s.mark_upload_stored("a").await.unwrap());
        assert!(!s.mark_upload_stored("a").await.unwrap());
        assert!(s.upload_slot("a").await.unwrap().unwrap().stored);
        assert_eq!(s.take_expired_uploads(1051).await.unwrap(), vec!["a", "b"]);
        assert!(s.upload_slot("a").await.unwrap().is_none());
        assert!(!s.upload_exists("b").await.unwrap());
        assert!(s.upload_exists("c").await.unwrap());
        let k1 = s.upload_secret([1; 32]).await.unwrap();
        assert_eq!(s.upload_secret([2; 32]).await.unwrap(), k1);
    }
}
