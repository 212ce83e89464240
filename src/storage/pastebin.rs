//! Pastes: full bodies of long messages replaced by a link (issue 5, see
//! [`crate::modules::pastebin`]). A paste is keyed by its random id and has an expiry;
//! nothing links it to an account, a room or an address.

use rusqlite::{OptionalExtension, params};

use super::{Error, Storage};

impl Storage {
    /// Stores the paste `id` with `body`, to be served until `expires` (unix seconds).
    /// Committed durably when it returns `Ok`.
    ///
    /// # Errors
    /// [`Error::Sqlite`] (e.g. an id already in use), [`Error::Closed`], [`Error::Join`].
    pub async fn put_paste(&self, id: &str, body: &str, expires: i64) -> Result<(), Error> {
        let (id, body) = (id.to_owned(), body.to_owned());
        self.write(move |tx| {
            tx.prepare_cached("INSERT INTO pastes (id, body, expires) VALUES (?1, ?2, ?3)")?
                .execute(params![id, body, expires])?;
            Ok(())
        })
        .await
    }

    /// The body of paste `id` if it exists and has not expired at `now` (unix seconds):
    /// an expired paste is gone even before [`Storage::delete_expired_pastes`] runs.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn paste(&self, id: &str, now: i64) -> Result<Option<String>, Error> {
        let id = id.to_owned();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT body FROM pastes WHERE id = ?1 AND expires > ?2")?
                .query_row(params![id, now], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// Deletes the paste `id` (if any).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn delete_paste(&self, id: &str) -> Result<(), Error> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM pastes WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
        .await
    }

    /// Deletes every paste whose expiry is at or before `now`; returns how many.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn delete_expired_pastes(&self, now: i64) -> Result<usize, Error> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM pastes WHERE expires <= ?1")?
                .execute([now])?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_storage;

    #[tokio::test]
    async fn put_get_expire() {
        let (_dir, s) = temp_storage();
        s.put_paste("aa", "long text\nwith lines", 100)
            .await
            .unwrap();
        s.put_paste("bb", "other", 200).await.unwrap();
        assert_eq!(
            s.paste("aa", 99).await.unwrap().as_deref(),
            Some("long text\nwith lines")
        );
        // Expired at its expiry time, even before the sweep.
        assert_eq!(s.paste("aa", 100).await.unwrap(), None);
        assert_eq!(s.paste("zz", 0).await.unwrap(), None);
        // A duplicate id is refused, the first paste is kept.
        assert!(s.put_paste("aa", "replaced", 300).await.is_err());
        assert_eq!(s.delete_expired_pastes(150).await.unwrap(), 1);
        assert_eq!(s.paste("aa", 0).await.unwrap(), None);
        assert_eq!(s.paste("bb", 150).await.unwrap().as_deref(), Some("other"));
        s.delete_paste("bb").await.unwrap();
        assert_eq!(s.paste("bb", 150).await.unwrap(), None);
    }
}
