//! Rosters (RFC 6121 §2) with their version (§2.6) and pre-approvals (§3.4), and
//! inbound subscription requests not yet answered (RFC 6121 §3.1.3: the server stores
//! them and re-delivers them at login).
//!
//! Every change of a roster item (insert, update, removal) bumps the roster's
//! [`RosterVersion`] in the same transaction, so a version names exactly one roster
//! content. Pending requests are not part of the roster and do not bump it.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{Error, Storage, account_id, require_account};

/// The `subscription` attribute of a roster item (RFC 6121 §2.1.2.5).
///
/// `remove` is not a state (it is a request) and is not represented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription {
    /// Neither party is subscribed to the other's presence.
    None,
    /// The owner is subscribed to the contact's presence.
    To,
    /// The contact is subscribed to the owner's presence.
    From,
    /// Both are subscribed to each other's presence.
    Both,
}

impl Subscription {
    /// The attribute value: `"none"`, `"to"`, `"from"` or `"both"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }
}

impl std::fmt::Display for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of `none`, `to`, `from`, `both`.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("not a roster subscription state")]
pub struct ParseSubscriptionError;

impl std::str::FromStr for Subscription {
    type Err = ParseSubscriptionError;

    /// Parses the exact, case-sensitive attribute values of RFC 6121 §2.1.2.5.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Subscription::None),
            "to" => Ok(Subscription::To),
            "from" => Ok(Subscription::From),
            "both" => Ok(Subscription::Both),
            _ => Err(ParseSubscriptionError),
        }
    }
}

/// One roster item (RFC 6121 §2.1.2) as stored for its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's normalized bare JID (`jid` attribute, §2.1.2.3).
    pub jid: String,
    /// The owner's handle for the contact (`name` attribute, §2.1.2.4).
    pub name: Option<String>,
    /// Subscription state (§2.1.2.5).
    pub subscription: Subscription,
    /// `ask='subscribe'`: an outbound subscription request is pending (§2.1.2.2).
    pub ask: bool,
    /// `<group/>` names (§2.1.2.6), in the order given; duplicates are dropped on store.
    pub groups: Vec<String>,
    /// `approved='true'`: the owner pre-approved a subscription request from the contact
    /// (RFC 6121 §3.4); the next request is answered without asking the owner.
    pub approved: bool,
}

/// A roster's version (RFC 6121 §2.6): a random epoch fixed when the account's roster
/// was first written, and a counter bumped by every change. The `ver` attribute is its
/// [`Display`](std::fmt::Display) form, `"<epoch hex>-<counter>"`; it says nothing but how
/// many changes the owner's roster had, and only the owner sees it. A roster never
/// written has [`RosterVersion::EMPTY`] (`"0-0"`, an empty roster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RosterVersion {
    /// Random, fixed per account (so a deleted and re-created account starts afresh).
    pub epoch: i64,
    /// Number of changes since the epoch began.
    pub counter: i64,
}

impl RosterVersion {
    /// The version of a roster that was never written (always empty).
    pub const EMPTY: RosterVersion = RosterVersion {
        epoch: 0,
        counter: 0,
    };
}

impl std::fmt::Display for RosterVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.counter)
    }
}

/// The items of `account`'s roster, sorted by contact, inside a transaction.
fn read_items(tx: &rusqlite::Connection, account: i64) -> Result<Vec<RosterItem>, Error> {
    let mut items = Vec::new();
    let mut index = HashMap::new();
    {
        let mut stmt = tx.prepare_cached(
            "SELECT id, contact, name, subscription, ask, approved FROM roster_items \
             WHERE account_id = ?1 ORDER BY contact",
        )?;
        let mut rows = stmt.query([account])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            index.insert(id, items.len());
            items.push(RosterItem {
                jid: row.get(1)?,
                name: row.get(2)?,
                subscription: parse_subscription(&row.get::<_, String>(3)?)?,
                ask: row.get(4)?,
                groups: Vec::new(),
                approved: row.get(5)?,
            });
        }
    }
    let mut stmt = tx.prepare_cached(
        "SELECT g.item_id, g.name FROM roster_groups g \
         JOIN roster_items r ON r.id = g.item_id \
         WHERE r.account_id = ?1 ORDER BY g.item_id, g.position",
    )?;
    let mut rows = stmt.query([account])?;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        let item = index
            .get(&id)
            .and_then(|&i| items.get_mut(i))
            .ok_or_else(|| Error::Corrupt("roster group without item".to_owned()))?;
        item.groups.push(row.get(1)?);
    }
    Ok(items)
}

/// The version of `account`'s roster, inside a transaction.
fn read_version(tx: &rusqlite::Connection, account: i64) -> Result<RosterVersion, Error> {
    Ok(tx
        .prepare_cached("SELECT epoch, counter FROM roster_versions WHERE account_id = ?1")?
        .query_row([account], |r| {
            Ok(RosterVersion {
                epoch: r.get(0)?,
                counter: r.get(1)?,
            })
        })
        .optional()?
        .unwrap_or(RosterVersion::EMPTY))
}

/// Bumps `account`'s roster version (creating it with a fresh random epoch), inside the
/// transaction of the change.
fn bump_version(tx: &rusqlite::Connection, account: i64) -> Result<RosterVersion, Error> {
    // 62 random bits: positive as an INTEGER, never the EMPTY epoch 0.
    let epoch = i64::try_from((rand::random::<u64>() >> 2) | 1).unwrap_or(1);
    Ok(tx
        .prepare_cached(
            "INSERT INTO roster_versions (account_id, epoch, counter) VALUES (?1, ?2, 1) \
             ON CONFLICT (account_id) DO UPDATE SET counter = counter + 1 \
             RETURNING epoch, counter",
        )?
        .query_row(params![account, epoch], |r| {
            Ok(RosterVersion {
                epoch: r.get(0)?,
                counter: r.get(1)?,
            })
        })?)
}

impl Storage {
    /// The roster of `owner`, sorted by contact JID (byte order); empty if the owner has
    /// no items or no account.
    ///
    /// # Errors
    /// [`Error::Corrupt`] on a stored subscription value outside the four states;
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn roster(&self, owner: &str) -> Result<Vec<RosterItem>, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| match account_id(tx, &owner)? {
            Some(account) => read_items(tx, account),
            None => Ok(Vec::new()),
        })
        .await
    }

    /// The version of `owner`'s roster (RFC 6121 §2.6); [`RosterVersion::EMPTY`] for a
    /// roster never written or no account.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn roster_version(&self, owner: &str) -> Result<RosterVersion, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| match account_id(tx, &owner)? {
            Some(account) => read_version(tx, account),
            None => Ok(RosterVersion::EMPTY),
        })
        .await
    }

    /// As [`Storage::roster`], with the roster's version, both from one snapshot.
    ///
    /// # Errors
    /// As [`Storage::roster`].
    pub async fn roster_with_version(
        &self,
        owner: &str,
    ) -> Result<(Vec<RosterItem>, RosterVersion), Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            let Some(account) = account_id(tx, &owner)? else {
                return Ok((Vec::new(), RosterVersion::EMPTY));
            };
            Ok((read_items(tx, account)?, read_version(tx, account)?))
        })
        .await
    }

    /// The roster item of `owner` for `contact`, if any.
    ///
    /// # Errors
    /// As [`Storage::roster`].
    pub async fn roster_item(
        &self,
        owner: &str,
        contact: &str,
    ) -> Result<Option<RosterItem>, Error> {
        let owner = owner.to_owned();
        let contact = contact.to_owned();
        self.read(move |tx| {
            let row = tx
                .prepare_cached(
                    "SELECT r.id, r.name, r.subscription, r.ask, r.approved FROM roster_items r \
                     JOIN accounts a ON a.id = r.account_id \
                     WHERE a.jid = ?1 AND r.contact = ?2",
                )?
                .query_row([&owner, &contact], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .optional()?;
            let Some((id, name, subscription, ask, approved)) = row else {
                return Ok(None);
            };
            let groups = tx
                .prepare_cached(
                    "SELECT name FROM roster_groups WHERE item_id = ?1 ORDER BY position",
                )?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(Some(RosterItem {
                jid: contact,
                name,
                subscription: parse_subscription(&subscription)?,
                ask,
                groups,
                approved,
            }))
        })
        .await
    }

    /// Inserts or replaces the item for `item.jid` in `owner`'s roster (RFC 6121 §2.3,
    /// §2.4), replacing its groups with `item.groups` (duplicates dropped, first
    /// occurrence kept), all in one transaction. Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] if `owner` has no account (nothing written);
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn put_roster_item(&self, owner: &str, item: &RosterItem) -> Result<(), Error> {
        self.put_roster_item_capped(owner, item, u32::MAX).await
    }

    /// As [`Storage::put_roster_item`], but a **new** item is refused when `owner`
    /// already has `max_items` items (RFC 6121 §2.3; `roster.max_items`). The count and
    /// the insert are one transaction, so concurrent sets never exceed the limit.
    /// Replacing an existing item is never refused.
    ///
    /// # Errors
    /// [`Error::RosterFull`] (nothing written); otherwise as [`Storage::put_roster_item`].
    pub async fn put_roster_item_capped(
        &self,
        owner: &str,
        item: &RosterItem,
        max_items: u32,
    ) -> Result<(), Error> {
        self.put_roster_item_versioned(owner, item, max_items)
            .await
            .map(drop)
    }

    /// As [`Storage::put_roster_item_capped`], returning the roster's new version
    /// (bumped in the same transaction, RFC 6121 §2.6) for the roster push.
    ///
    /// # Errors
    /// As [`Storage::put_roster_item_capped`].
    pub async fn put_roster_item_versioned(
        &self,
        owner: &str,
        item: &RosterItem,
        max_items: u32,
    ) -> Result<RosterVersion, Error> {
        let owner = owner.to_owned();
        let item = item.clone();
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            if max_items != u32::MAX {
                let exists: bool = tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM roster_items \
                         WHERE account_id = ?1 AND contact = ?2)",
                    )?
                    .query_row(params![account, item.jid], |r| r.get(0))?;
                if !exists {
                    let count: i64 = tx
                        .prepare_cached("SELECT count(*) FROM roster_items WHERE account_id = ?1")?
                        .query_row([account], |r| r.get(0))?;
                    if count >= i64::from(max_items) {
                        return Err(Error::RosterFull);
                    }
                }
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO roster_items \
                     (account_id, contact, name, subscription, ask, approved) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                     ON CONFLICT (account_id, contact) DO UPDATE SET \
                     name = excluded.name, subscription = excluded.subscription, \
                     ask = excluded.ask, approved = excluded.approved \
                     RETURNING id",
                )?
                .query_row(
                    params![
                        account,
                        item.jid,
                        item.name,
                        item.subscription.as_str(),
                        item.ask,
                        item.approved
                    ],
                    |r| r.get(0),
                )?;
            tx.prepare_cached("DELETE FROM roster_groups WHERE item_id = ?1")?
                .execute([id])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO roster_groups (item_id, position, name) VALUES (?1, ?2, ?3)",
            )?;
            let mut seen = std::collections::HashSet::new();
            let mut position: i64 = 0;
            for group in &item.groups {
                if seen.insert(group.as_str()) {
                    insert.execute(params![id, position, group])?;
                    position += 1;
                }
            }
            bump_version(tx, account)
        })
        .await
    }

    /// Removes `contact` from `owner`'s roster (with its groups; RFC 6121 §2.5).
    ///
    /// Returns `false` if there was no such item. Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn remove_roster_item(&self, owner: &str, contact: &str) -> Result<bool, Error> {
        Ok(self
            .remove_roster_item_versioned(owner, contact)
            .await?
            .is_some())
    }

    /// As [`Storage::remove_roster_item`], returning the roster's new version (bumped
    /// in the same transaction, RFC 6121 §2.6), or `None` if there was no such item
    /// (nothing changed, no bump).
    ///
    /// # Errors
    /// As [`Storage::remove_roster_item`].
    pub async fn remove_roster_item_versioned(
        &self,
        owner: &str,
        contact: &str,
    ) -> Result<Option<RosterVersion>, Error> {
        let owner = owner.to_owned();
        let contact = contact.to_owned();
        self.write(move |tx| {
            let Some(account) = account_id(tx, &owner)? else {
                return Ok(None);
            };
            let n = tx
                .prepare_cached("DELETE FROM roster_items WHERE account_id = ?1 AND contact = ?2")?
                .execute(params![account, contact])?;
            if n == 0 {
                return Ok(None);
            }
            bump_version(tx, account).map(Some)
        })
        .await
    }

    /// Stores an inbound subscription request from `contact` to `owner` that the owner
    /// has not answered yet (RFC 6121 §3.1.3), as the serialized `<presence
    /// type='subscribe'/>` `stanza`. A later request from the same contact replaces the
    /// stored stanza (keeping its original position). Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] if `owner` has no account (nothing written);
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn add_pending_subscription(
        &self,
        owner: &str,
        contact: &str,
        stanza: &str,
    ) -> Result<(), Error> {
        let owner = owner.to_owned();
        let contact = contact.to_owned();
        let stanza = stanza.to_owned();
        self.write(move |tx| {
            let account = require_account(tx, &owner)?;
            tx.prepare_cached(
                "INSERT INTO pending_subscriptions (account_id, contact, stanza) \
                 VALUES (?1, ?2, ?3) \
                 ON CONFLICT (account_id, contact) DO UPDATE SET stanza = excluded.stanza",
            )?
            .execute(params![account, contact, stanza])?;
            Ok(())
        })
        .await
    }

    /// Forgets the pending request from `contact` to `owner` (answered or cancelled).
    ///
    /// Returns `false` if there was none. Committed durably when it returns.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn remove_pending_subscription(
        &self,
        owner: &str,
        contact: &str,
    ) -> Result<bool, Error> {
        let owner = owner.to_owned();
        let contact = contact.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM pending_subscriptions WHERE contact = ?2 \
                     AND account_id = (SELECT id FROM accounts WHERE jid = ?1)",
                )?
                .execute([&owner, &contact])?;
            Ok(n > 0)
        })
        .await
    }

    /// `owner`'s pending inbound requests as `(contact, stanza)`, in the order they first
    /// arrived (for re-delivery at login, RFC 6121 §3.1.3).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pending_subscriptions(&self, owner: &str) -> Result<Vec<(String, String)>, Error> {
        let owner = owner.to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT p.contact, p.stanza FROM pending_subscriptions p \
                 JOIN accounts a ON a.id = p.account_id \
                 WHERE a.jid = ?1 ORDER BY p.id",
            )?;
            let rows = stmt
                .query_map([owner], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<(String, String)>, _>>()?;
            Ok(rows)
        })
        .await
    }
}

fn parse_subscription(s: &str) -> Result<Subscription, Error> {
    s.parse()
        .map_err(|_| Error::Corrupt("invalid roster subscription state".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::*;
    use super::*;

    const A: &str = "alice@example.org";
    const B: &str = "bob@example.org";
    const C: &str = "carol@example.net";

    fn item(jid: &str, groups: &[&str]) -> RosterItem {
        RosterItem {
            jid: jid.to_owned(),
            name: None,
            subscription: Subscription::None,
            ask: false,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            approved: false,
        }
    }

    #[test]
    fn subscription_strings_round_trip() {
        for s in [
            Subscription::None,
            Subscription::To,
            Subscription::From,
            Subscription::Both,
        ] {
            assert_eq!(s.as_str().parse::<Subscription>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for bad in ["", "Both", "remove", "none "] {
            assert_eq!(bad.parse::<Subscription>(), Err(ParseSubscriptionError));
        }
    }

    #[tokio::test]
    async fn put_get_and_sorted_roster() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert!(s.roster(A).await.unwrap().is_empty());
        assert_eq!(s.roster_item(A, B).await.unwrap(), None);

        let mut carol = item(C, &["Work", "Friends"]);
        carol.name = Some("Carol".to_owned());
        carol.subscription = Subscription::To;
        carol.ask = true;
        let bob = item(B, &[]);
        s.put_roster_item(A, &carol).await.unwrap();
        s.put_roster_item(A, &bob).await.unwrap();

        assert_eq!(s.roster(A).await.unwrap(), vec![bob.clone(), carol.clone()]);
        assert_eq!(s.roster_item(A, C).await.unwrap(), Some(carol));
        assert_eq!(s.roster_item(A, B).await.unwrap(), Some(bob));
        assert_eq!(s.roster_item(B, C).await.unwrap(), None);
    }

    #[tokio::test]
    async fn upsert_replaces_fields_and_groups() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        let mut it = item(B, &["Friends", "Work"]);
        it.name = Some("Bob".to_owned());
        s.put_roster_item(A, &it).await.unwrap();

        let mut updated = item(B, &["Family", "Friends", "Family"]);
        updated.subscription = Subscription::Both;
        s.put_roster_item(A, &updated).await.unwrap();

        let got = s.roster_item(A, B).await.unwrap().unwrap();
        assert_eq!(got.name, None, "name replaced, not merged");
        assert_eq!(got.subscription, Subscription::Both);
        assert!(!got.ask);
        assert_eq!(
            got.groups,
            vec!["Family", "Friends"],
            "groups replaced, deduplicated"
        );
        assert_eq!(s.roster(A).await.unwrap(), vec![got]);

        // Removing all groups.
        s.put_roster_item(A, &item(B, &[])).await.unwrap();
        assert!(
            s.roster_item(A, B)
                .await
                .unwrap()
                .unwrap()
                .groups
                .is_empty()
        );
    }

    #[tokio::test]
    async fn capped_put_refuses_only_new_items_beyond_the_limit() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.put_roster_item_capped(A, &item(B, &[]), 1).await.unwrap();
        assert!(matches!(
            s.put_roster_item_capped(A, &item(C, &[]), 1).await,
            Err(Error::RosterFull)
        ));
        s.put_roster_item_capped(A, &item(B, &["g"]), 1)
            .await
            .unwrap();
        assert_eq!(s.roster(A).await.unwrap(), vec![item(B, &["g"])]);
    }

    #[tokio::test]
    async fn every_change_bumps_the_version_and_approved_is_stored() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        assert_eq!(s.roster_version(A).await.unwrap(), RosterVersion::EMPTY);
        assert_eq!(s.roster_version(C).await.unwrap(), RosterVersion::EMPTY);
        let v1 = s
            .put_roster_item_versioned(A, &item(B, &[]), u32::MAX)
            .await
            .unwrap();
        assert_eq!(v1.counter, 1);
        assert_ne!(v1.epoch, 0);
        let mut approved = item(C, &["g"]);
        approved.approved = true;
        let v2 = s
            .put_roster_item_versioned(A, &approved, u32::MAX)
            .await
            .unwrap();
        assert_eq!((v2.epoch, v2.counter), (v1.epoch, 2));
        assert_eq!(s.roster_item(A, C).await.unwrap(), Some(approved.clone()));
        let (items, v) = s.roster_with_version(A).await.unwrap();
        assert_eq!(v, v2);
        assert_eq!(items, vec![item(B, &[]), approved]);
        assert_eq!(
            s.remove_roster_item_versioned(A, B).await.unwrap(),
            Some(RosterVersion {
                epoch: v1.epoch,
                counter: 3
            })
        );
        assert_eq!(s.remove_roster_item_versioned(A, B).await.unwrap(), None);
        assert_eq!(
            s.roster_version(A).await.unwrap().counter,
            3,
            "no-op: no bump"
        );
        // A refused write does not bump either.
        assert!(matches!(
            s.put_roster_item_versioned(A, &item(B, &[]), 1).await,
            Err(Error::RosterFull)
        ));
        assert_eq!(s.roster_version(A).await.unwrap().counter, 3);
        // A re-created account starts a new epoch.
        assert!(s.delete_account(A).await.unwrap());
        s.create_account(A, &creds(1)).await.unwrap();
        assert_eq!(s.roster_version(A).await.unwrap(), RosterVersion::EMPTY);
        let again = s
            .put_roster_item_versioned(A, &item(B, &[]), u32::MAX)
            .await
            .unwrap();
        assert_ne!(again.to_string(), v1.to_string());
    }

    #[test]
    fn version_strings() {
        assert_eq!(RosterVersion::EMPTY.to_string(), "0-0");
        let v = RosterVersion {
            epoch: 0xabc,
            counter: 7,
        };
        assert_eq!(v.to_string(), "abc-7");
    }

    #[tokio::test]
    async fn rosters_are_per_owner() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        s.put_roster_item(A, &item(C, &["x"])).await.unwrap();
        s.put_roster_item(B, &item(C, &["y"])).await.unwrap();
        assert_eq!(s.roster(A).await.unwrap(), vec![item(C, &["x"])]);
        assert_eq!(s.roster(B).await.unwrap(), vec![item(C, &["y"])]);
    }

    #[tokio::test]
    async fn remove_item() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.put_roster_item(A, &item(B, &["g"])).await.unwrap();
        assert!(s.remove_roster_item(A, B).await.unwrap());
        assert!(!s.remove_roster_item(A, B).await.unwrap());
        assert!(!s.remove_roster_item(C, B).await.unwrap());
        assert_eq!(s.roster_item(A, B).await.unwrap(), None);
        let groups: i64 = s
            .read(|tx| Ok(tx.query_row("SELECT count(*) FROM roster_groups", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(groups, 0);
    }

    #[tokio::test]
    async fn writes_for_missing_account_are_refused() {
        let (_d, s) = temp_storage();
        assert!(matches!(
            s.put_roster_item(A, &item(B, &["g"])).await,
            Err(Error::NoSuchAccount)
        ));
        assert!(matches!(
            s.add_pending_subscription(A, B, "<presence/>").await,
            Err(Error::NoSuchAccount)
        ));
        assert!(s.roster(A).await.unwrap().is_empty());
        assert!(s.pending_subscriptions(A).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn pending_subscriptions_upsert_order_and_remove() {
        let (_d, s) = temp_storage();
        s.create_account(A, &creds(1)).await.unwrap();
        s.create_account(B, &creds(2)).await.unwrap();
        s.add_pending_subscription(A, C, "<presence id='1'/>")
            .await
            .unwrap();
        s.add_pending_subscription(A, B, "<presence id='2'/>")
            .await
            .unwrap();
        s.add_pending_subscription(A, C, "<presence id='3'/>")
            .await
            .unwrap();
        s.add_pending_subscription(B, C, "<presence id='4'/>")
            .await
            .unwrap();
        assert_eq!(
            s.pending_subscriptions(A).await.unwrap(),
            vec![
                (C.to_owned(), "<presence id='3'/>".to_owned()),
                (B.to_owned(), "<presence id='2'/>".to_owned()),
            ]
        );
        assert!(s.remove_pending_subscription(A, C).await.unwrap());
        assert!(!s.remove_pending_subscription(A, C).await.unwrap());
        assert_eq!(
            s.pending_subscriptions(A).await.unwrap(),
            vec![(B.to_owned(), "<presence id='2'/>".to_owned())]
        );
        assert_eq!(s.pending_subscriptions(B).await.unwrap().len(), 1);
    }
}
