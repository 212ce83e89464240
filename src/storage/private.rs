//! Private XML storage (XEP-0049 `jabber:iq:private`): per account, one serialized
//! fragment per (namespace, element name), with the account's limits enforced in the
//! transaction that writes.

use rusqlite::{OptionalExtension, params};

use super::{Error, Storage, account_id, require_account};

/// One fragment to store for an account (XEP-0049 §2): the child element of
/// `<query xmlns='jabber:iq:private'/>`, keyed by its namespace and local name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateFragment {
    /// The fragment's namespace (e.g. `storage:bookmarks`).
    pub ns: String,
    /// The fragment's local element name (e.g. `storage`).
    pub name: String,
    /// The serialized element, or `None` to forget what is stored under the key.
    pub xml: Option<String>,
}

/// The per-account limits of private storage (`[private]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateLimits {
    /// Most fragments (distinct namespace and name) per account.
    pub max_fragments: u32,
    /// Most bytes of one serialized fragment.
    pub max_fragment_bytes: u64,
    /// Most bytes of all of an account's serialized fragments together.
    pub max_total_bytes: u64,
}

/// Which limit of [`PrivateLimits`] a write would exceed ([`Error::PrivateFull`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivateLimit {
    /// [`PrivateLimits::max_fragments`].
    Fragments,
    /// [`PrivateLimits::max_fragment_bytes`].
    FragmentBytes,
    /// [`PrivateLimits::max_total_bytes`].
    TotalBytes,
}

impl Storage {
    /// The fragment `owner` stored under (`ns`, `name`), serialized; `None` when there
    /// is none or no such account.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn private_fragment(
        &self,
        owner: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, Error> {
        let (owner, ns, name) = (owner.to_owned(), ns.to_owned(), name.to_owned());
        self.read(move |tx| {
            let Some(account) = account_id(tx, &owner)? else {
                return Ok(None);
            };
            Ok(tx
                .prepare_cached(
                    "SELECT xml FROM private_xml WHERE account_id = ?1 AND ns = ?2 AND name = ?3",
                )?
                .query_row(params![account, ns, name], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    /// Stores (or, for `xml: None`, forgets) every fragment of `fragments` for `owner`,
    /// replacing what was stored under the same key, all in one transaction: either all
    /// are written or none. Refused when a fragment is larger than
    /// `limits.max_fragment_bytes`, or when afterwards the account would have more than
    /// `limits.max_fragments` fragments or more than `limits.max_total_bytes` bytes.
    /// Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::PrivateFull`] with the limit (nothing written); [`Error::NoSuchAccount`];
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn put_private(
        &self,
        owner: &str,
        fragments: &[PrivateFragment],
        limits: PrivateLimits,
    ) -> Result<(), Error> {
        let too_large = fragments.iter().any(|f| {
            f.xml
                .as_ref()
                .is_some_and(|x| x.len() as u64 > limits.max_fragment_bytes)
        });
        if too_large {
            return Err(Error::PrivateFull(PrivateLimit::FragmentBytes));
        }
        let owner = owner.to_owned();
        let fragments = fragments.to_vec();
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            for f in &fragments {
                match &f.xml {
                    Some(xml) => tx
                        .prepare_cached(
                            "INSERT INTO private_xml (account_id, ns, name, xml) \
                             VALUES (?1, ?2, ?3, ?4) \
                             ON CONFLICT (account_id, ns, name) DO UPDATE SET xml = excluded.xml",
                        )?
                        .execute(params![account, f.ns, f.name, xml])?,
                    None => tx
                        .prepare_cached(
                            "DELETE FROM private_xml \
                             WHERE account_id = ?1 AND ns = ?2 AND name = ?3",
                        )?
                        .execute(params![account, f.ns, f.name])?,
                };
            }
            // Checked after the writes, inside the transaction: returning an error rolls
            // every write of this call back.
            let (count, bytes): (i64, i64) = tx
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(length(CAST(xml AS BLOB))), 0) \
                     FROM private_xml WHERE account_id = ?1",
                )?
                .query_row([account], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if count > i64::from(limits.max_fragments) {
                return Err(Error::PrivateFull(PrivateLimit::Fragments));
            }
            if u64::try_from(bytes).unwrap_or(u64::MAX) > limits.max_total_bytes {
                return Err(Error::PrivateFull(PrivateLimit::TotalBytes));
            }
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

    fn frag(ns: &str, name: &str, xml: Option<&str>) -> PrivateFragment {
        PrivateFragment {
            ns: ns.to_owned(),
            name: name.to_owned(),
            xml: xml.map(str::to_owned),
        }
    }

    const LIMITS: PrivateLimits = PrivateLimits {
        max_fragments: 2,
        max_fragment_bytes: 20,
        max_total_bytes: 25,
    };

    #[tokio::test]
    async fn put_get_replace_forget() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        assert_eq!(s.private_fragment(A, "a:b", "x").await.unwrap(), None);
        s.put_private(A, &[frag("a:b", "x", Some("<x>1</x>"))], LIMITS)
            .await
            .unwrap();
        s.put_private(A, &[frag("a:b", "x", Some("<x>2</x>"))], LIMITS)
            .await
            .unwrap();
        assert_eq!(
            s.private_fragment(A, "a:b", "x").await.unwrap().as_deref(),
            Some("<x>2</x>")
        );
        assert_eq!(s.private_fragment(A, "a:b", "y").await.unwrap(), None);
        assert_eq!(s.private_fragment(A, "a:c", "x").await.unwrap(), None);
        assert_eq!(s.private_fragment(B, "a:b", "x").await.unwrap(), None);
        s.put_private(A, &[frag("a:b", "x", None)], LIMITS)
            .await
            .unwrap();
        assert_eq!(s.private_fragment(A, "a:b", "x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn limits_refuse_the_whole_write() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(matches!(
            s.put_private(A, &[frag("n:1", "x", Some(&"y".repeat(21)))], LIMITS)
                .await,
            Err(Error::PrivateFull(PrivateLimit::FragmentBytes))
        ));
        s.put_private(
            A,
            &[
                frag("n:1", "x", Some("0123456789")),
                frag("n:2", "x", Some("0123456789")),
            ],
            LIMITS,
        )
        .await
        .unwrap();
        // A third key: over max_fragments, and the first write of the call is undone.
        assert!(matches!(
            s.put_private(
                A,
                &[frag("n:1", "x", Some("abc")), frag("n:3", "x", Some("abc"))],
                LIMITS
            )
            .await,
            Err(Error::PrivateFull(PrivateLimit::Fragments))
        ));
        assert_eq!(
            s.private_fragment(A, "n:1", "x").await.unwrap().as_deref(),
            Some("0123456789"),
            "nothing of a refused write is kept"
        );
        // Replacing within the count but over the total bytes (bytes, not characters).
        assert!(matches!(
            s.put_private(A, &[frag("n:1", "x", Some(&"é".repeat(10)))], LIMITS)
                .await,
            Err(Error::PrivateFull(PrivateLimit::TotalBytes))
        ));
        // Forgetting one frees room for another key.
        s.put_private(
            A,
            &[frag("n:2", "x", None), frag("n:3", "x", Some("abc"))],
            LIMITS,
        )
        .await
        .unwrap();
        assert!(matches!(
            s.put_private(B, &[frag("n:1", "x", Some("a"))], LIMITS)
                .await,
            Err(Error::NoSuchAccount)
        ));
    }

    #[tokio::test]
    async fn fragments_go_with_the_account() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.put_private(A, &[frag("n:1", "x", Some("<x/>"))], LIMITS)
            .await
            .unwrap();
        assert!(s.delete_account(A).await.unwrap());
        s.create_account(A, &creds(1)).await.unwrap();
        assert_eq!(s.private_fragment(A, "n:1", "x").await.unwrap(), None);
    }
}
