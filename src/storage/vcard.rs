//! vCards (XEP-0054 vcard-temp): one per account, the `<vCard/>` element as the owner
//! last set it, serialized. The size limit (`vcard.max_bytes`) is the caller's
//! ([`crate::modules::vcard`]); this layer stores what it is given.

use rusqlite::params;

use super::{Error, Storage, account_id, require_account};

impl Storage {
    /// The serialized vCard of `owner` (a `<vCard xmlns='vcard-temp'>` element), or
    /// `None` when the account has none or does not exist.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn vcard(&self, owner: &str) -> Result<Option<String>, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            use rusqlite::OptionalExtension;
            let Some(account) = account_id(tx, &owner)? else {
                return Ok(None);
            };
            Ok(tx
                .prepare_cached("SELECT xml FROM vcards WHERE account_id = ?1")?
                .query_row([account], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// Replaces the vCard of `owner` with `xml` (serialized), or removes it for `None`.
    /// Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] if `owner` has no account (nothing written);
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn set_vcard(&self, owner: &str, xml: Option<&str>) -> Result<(), Error> {
        let owner = owner.to_owned();
        let xml = xml.map(str::to_owned);
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            match xml {
                Some(xml) => tx
                    .prepare_cached(
                        "INSERT INTO vcards (account_id, xml) VALUES (?1, ?2) \
                         ON CONFLICT (account_id) DO UPDATE SET xml = excluded.xml",
                    )?
                    .execute(params![account, xml])?,
                None => tx
                    .prepare_cached("DELETE FROM vcards WHERE account_id = ?1")?
                    .execute([account])?,
            };
            Ok(())
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
    async fn set_get_replace_remove_and_cascade() {
        let (_d, s) = temp_storage();
        assert!(matches!(
            s.set_vcard(A, Some("<vCard/>")).await,
            Err(Error::NoSuchAccount)
        ));
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        assert_eq!(s.vcard(A).await.unwrap(), None);
        s.set_vcard(A, Some("<vCard>1</vCard>")).await.unwrap();
        s.set_vcard(A, Some("<vCard>2</vCard>")).await.unwrap();
        assert_eq!(
            s.vcard(A).await.unwrap().as_deref(),
            Some("<vCard>2</vCard>")
        );
        assert_eq!(s.vcard(B).await.unwrap(), None, "per account");
        s.set_vcard(A, None).await.unwrap();
        assert_eq!(s.vcard(A).await.unwrap(), None);

        s.set_vcard(B, Some("<vCard>b</vCard>")).await.unwrap();
        assert!(s.delete_account(B).await.unwrap());
        s.create_account(B, &creds(3)).await.unwrap();
        assert_eq!(s.vcard(B).await.unwrap(), None, "gone with the account");
    }
}
