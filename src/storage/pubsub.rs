//! XEP-0060 publish-subscribe nodes, items and subscriptions, for XEP-0163 PEP (the
//! service is an account's bare JID) and the `pubsub.<domain>` service (the service is
//! its domain). Payloads are kept as the serialized element the publisher sent.
//!
//! # Limits
//! Every write that adds data checks [`PubsubLimits`] in the same transaction: nodes per
//! owner, items per node (older items are dropped first, XEP-0060 §7.1.1 with
//! `pubsub#max_items`) and payload bytes per owner over all its nodes.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Error, Storage, account_id};

/// `pubsub#access_model` (XEP-0060 §4.5): who may retrieve items and receive
/// notifications. `authorize` is not offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessModel {
    /// Anyone.
    Open,
    /// Entities subscribed to the owner's presence (roster subscription `from`/`both`).
    Presence,
    /// Contacts in one of the node's allowed roster groups (`pubsub#roster_groups_allowed`).
    Roster,
    /// Only the owner (XEP-0223 private storage uses this).
    Whitelist,
}

impl AccessModel {
    /// The form value.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessModel::Open => "open",
            AccessModel::Presence => "presence",
            AccessModel::Roster => "roster",
            AccessModel::Whitelist => "whitelist",
        }
    }

    /// Parses a form value; `None` for anything else (e.g. `authorize`).
    pub fn parse(s: &str) -> Option<AccessModel> {
        match s {
            "open" => Some(AccessModel::Open),
            "presence" => Some(AccessModel::Presence),
            "roster" => Some(AccessModel::Roster),
            "whitelist" => Some(AccessModel::Whitelist),
            _ => None,
        }
    }
}

/// A node's configuration (the XEP-0060 §16.4.4 `pubsub#node_config` fields allium
/// keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// `pubsub#access_model`.
    pub access_model: AccessModel,
    /// `pubsub#persist_items`: items are stored; otherwise only the last one is kept, in
    /// memory, for last-item delivery.
    pub persist_items: bool,
    /// `pubsub#max_items`; `None` is `max` (the server's limit per node).
    pub max_items: Option<u32>,
    /// `pubsub#notify_retract`: subscribers hear of retracted items.
    pub notify_retract: bool,
    /// `pubsub#title`.
    pub title: String,
    /// `pubsub#roster_groups_allowed`, for [`AccessModel::Roster`].
    pub roster_groups: Vec<String>,
}

impl NodeConfig {
    /// XEP-0163 §4 defaults for a PEP node: presence access, persistent, one item.
    pub fn pep_default() -> NodeConfig {
        NodeConfig {
            access_model: AccessModel::Presence,
            persist_items: true,
            max_items: Some(1),
            notify_retract: true,
            title: String::new(),
            roster_groups: Vec::new(),
        }
    }
}

/// A stored node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNode {
    /// Row id (what item methods take).
    pub id: i64,
    /// The node's name.
    pub name: String,
    /// The owner's bare JID.
    pub owner: String,
    /// Its configuration.
    pub config: NodeConfig,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// The ItemID.
    pub id: String,
    /// The publisher's bare JID.
    pub publisher: String,
    /// The payload element, serialized.
    pub payload: String,
}

/// Limits checked on writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubsubLimits {
    /// Most nodes one owner may have on one service.
    pub max_nodes: u32,
    /// Most items a node keeps (`max` and larger `pubsub#max_items` mean this).
    pub max_items: u32,
    /// Most payload bytes one owner may have stored on one service.
    pub max_bytes: u64,
}

/// What [`Storage::pubsub_create_node`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The node was created.
    Created(StoredNode),
    /// A node of that name exists (XEP-0060 §8.1.2 `conflict`).
    Exists,
    /// The owner has [`PubsubLimits::max_nodes`] nodes on the service already.
    TooManyNodes,
}

/// What [`Storage::pubsub_publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored (or, for a node without persistent items, accepted). `created` says the
    /// node was auto-created.
    Published {
        /// The node after the publish.
        node: StoredNode,
        /// Whether the node was created by this publish.
        created: bool,
    },
    /// The node does not exist and no configuration was given to create it.
    NoSuchNode,
    /// Creating the node would exceed [`PubsubLimits::max_nodes`].
    TooManyNodes,
    /// The owner's stored payloads would exceed [`PubsubLimits::max_bytes`].
    QuotaExceeded,
}

const NODE_COLUMNS: &str = "n.id, n.name, a.jid, n.access_model, n.persist_items, n.max_items, \
                            n.notify_retract, n.title, n.roster_groups";

fn node_from_row(row: &rusqlite::Row<'_>) -> Result<StoredNode, Error> {
    let access: String = row.get(3)?;
    let groups: String = row.get(8)?;
    let max_items: Option<i64> = row.get(5)?;
    Ok(StoredNode {
        id: row.get(0)?,
        name: row.get(1)?,
        owner: row.get(2)?,
        config: NodeConfig {
            access_model: AccessModel::parse(&access)
                .ok_or_else(|| Error::Corrupt("unknown pubsub access model".to_owned()))?,
            persist_items: row.get(4)?,
            max_items: max_items.map(|m| u32::try_from(m).unwrap_or(u32::MAX)),
            notify_retract: row.get(6)?,
            title: row.get(7)?,
            roster_groups: groups
                .split('\n')
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
        },
    })
}

fn find_node(tx: &Transaction<'_>, service: &str, name: &str) -> Result<Option<StoredNode>, Error> {
    let sql = format!(
        "SELECT {NODE_COLUMNS} FROM pubsub_nodes n JOIN accounts a ON a.id = n.owner_id \
         WHERE n.service = ?1 AND n.name = ?2"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![service, name])?;
    match rows.next()? {
        Some(row) => Ok(Some(node_from_row(row)?)),
        None => Ok(None),
    }
}

fn insert_node(
    tx: &Transaction<'_>,
    service: &str,
    name: &str,
    owner_id: i64,
    config: &NodeConfig,
) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO pubsub_nodes (service, name, owner_id, access_model, persist_items, \
         max_items, notify_retract, title, roster_groups) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        service,
        name,
        owner_id,
        config.access_model.as_str(),
        config.persist_items,
        config.max_items,
        config.notify_retract,
        config.title,
        config.roster_groups.join("\n"),
    ])?;
    Ok(())
}

fn node_count(tx: &Transaction<'_>, service: &str, owner_id: i64) -> Result<u32, Error> {
    let n: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM pubsub_nodes WHERE service = ?1 AND owner_id = ?2")?
        .query_row(params![service, owner_id], |r| r.get(0))?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

fn owner_bytes(tx: &Transaction<'_>, service: &str, owner_id: i64) -> Result<u64, Error> {
    let n: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(LENGTH(CAST(i.payload AS BLOB))), 0) FROM pubsub_items i \
             JOIN pubsub_nodes n ON n.id = i.node_id WHERE n.service = ?1 AND n.owner_id = ?2",
        )?
        .query_row(params![service, owner_id], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Drops the oldest items of `node_id` beyond `keep`; returns their ids.
fn trim(tx: &Transaction<'_>, node_id: i64, keep: u32) -> Result<Vec<String>, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT item_id FROM pubsub_items WHERE node_id = ?1 ORDER BY seq DESC LIMIT -1 OFFSET ?2",
    )?;
    let old: Vec<String> = stmt
        .query_map(params![node_id, keep], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut del =
        tx.prepare_cached("DELETE FROM pubsub_items WHERE node_id = ?1 AND item_id = ?2")?;
    for id in &old {
        del.execute(params![node_id, id])?;
    }
    Ok(old)
}

fn effective_max(config: &NodeConfig, limits: &PubsubLimits) -> u32 {
    config
        .max_items
        .map_or(limits.max_items, |m| m.min(limits.max_items))
}

impl Storage {
    /// The node `name` of `service`, if it exists.
    ///
    /// # Errors
    /// [`Error::Corrupt`] on a stored access model allium does not know;
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_node(
        &self,
        service: &str,
        name: &str,
    ) -> Result<Option<StoredNode>, Error> {
        let (service, name) = (service.to_owned(), name.to_owned());
        self.read(move |tx| find_node(tx, &service, &name)).await
    }

    /// Every node of `service`, by name.
    ///
    /// # Errors
    /// As [`Storage::pubsub_node`].
    pub async fn pubsub_nodes(&self, service: &str) -> Result<Vec<StoredNode>, Error> {
        let service = service.to_owned();
        self.read(move |tx| {
            let sql = format!(
                "SELECT {NODE_COLUMNS} FROM pubsub_nodes n JOIN accounts a ON a.id = n.owner_id \
                 WHERE n.service = ?1 ORDER BY n.name"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let mut rows = stmt.query([service])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(node_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    /// Creates node `name` on `service`, owned by account `owner`.
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] for an unknown owner; [`Error::Sqlite`],
    /// [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_create_node(
        &self,
        service: &str,
        name: &str,
        owner: &str,
        config: &NodeConfig,
        limits: PubsubLimits,
    ) -> Result<CreateOutcome, Error> {
        let (service, name, owner) = (service.to_owned(), name.to_owned(), owner.to_owned());
        let config = config.clone();
        self.write(move |tx| {
            let owner_id = account_id(tx, &owner)?.ok_or(Error::NoSuchAccount)?;
            if find_node(tx, &service, &name)?.is_some() {
                return Ok(CreateOutcome::Exists);
            }
            if node_count(tx, &service, owner_id)? >= limits.max_nodes {
                return Ok(CreateOutcome::TooManyNodes);
            }
            insert_node(tx, &service, &name, owner_id, &config)?;
            find_node(tx, &service, &name)?
                .map(CreateOutcome::Created)
                .ok_or_else(|| Error::Corrupt("created node not found".to_owned()))
        })
        .await
    }

    /// Replaces the configuration of node `node_id` and drops the items beyond the new
    /// `max_items` (all of them when items stop being persistent); returns the ids of the
    /// dropped items.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_configure_node(
        &self,
        node_id: i64,
        config: &NodeConfig,
        limits: PubsubLimits,
    ) -> Result<Vec<String>, Error> {
        let config = config.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE pubsub_nodes SET access_model = ?2, persist_items = ?3, max_items = ?4, \
                 notify_retract = ?5, title = ?6, roster_groups = ?7 WHERE id = ?1",
            )?
            .execute(params![
                node_id,
                config.access_model.as_str(),
                config.persist_items,
                config.max_items,
                config.notify_retract,
                config.title,
                config.roster_groups.join("\n"),
            ])?;
            let keep = if config.persist_items {
                effective_max(&config, &limits)
            } else {
                0
            };
            trim(tx, node_id, keep)
        })
        .await
    }

    /// Deletes node `name` of `service` with its items and subscriptions; whether it
    /// existed.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_delete_node(&self, service: &str, name: &str) -> Result<bool, Error> {
        let (service, name) = (service.to_owned(), name.to_owned());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM pubsub_nodes WHERE service = ?1 AND name = ?2")?
                .execute(params![service, name])?;
            Ok(n > 0)
        })
        .await
    }

    /// Publishes `item` to node `name` of `service` in one transaction: creates the node
    /// with `create` when it does not exist (XEP-0163 §3 auto-create; `None`: no
    /// auto-create), replaces an item with the same id, stores it when the node persists
    /// items, and drops the oldest items beyond `max_items`. `owner` is the publisher's
    /// account (owner of a created node; its quota is checked).
    ///
    /// # Errors
    /// [`Error::NoSuchAccount`] for an unknown owner; [`Error::Sqlite`],
    /// [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_publish(
        &self,
        service: &str,
        name: &str,
        owner: &str,
        create: Option<&NodeConfig>,
        item: &StoredItem,
        limits: PubsubLimits,
    ) -> Result<PublishOutcome, Error> {
        let (service, name, owner) = (service.to_owned(), name.to_owned(), owner.to_owned());
        let create = create.cloned();
        let item = item.clone();
        self.write(move |tx| {
            let owner_id = account_id(tx, &owner)?.ok_or(Error::NoSuchAccount)?;
            let existing = find_node(tx, &service, &name)?;
            let config = match (&existing, &create) {
                (Some(n), _) => n.config.clone(),
                (None, Some(c)) => c.clone(),
                (None, None) => return Ok(PublishOutcome::NoSuchNode),
            };
            if existing.is_none() && node_count(tx, &service, owner_id)? >= limits.max_nodes {
                return Ok(PublishOutcome::TooManyNodes);
            }
            if config.persist_items {
                // Checked before anything is written, so a refused publish leaves nothing.
                let replaced: i64 = match &existing {
                    Some(n) => tx
                        .prepare_cached(
                            "SELECT COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0) \
                             FROM pubsub_items WHERE node_id = ?1 AND item_id = ?2",
                        )?
                        .query_row(params![n.id, item.id], |r| r.get(0))?,
                    None => 0,
                };
                let used = owner_bytes(tx, &service, owner_id)?
                    .saturating_sub(u64::try_from(replaced).unwrap_or(0));
                if used.saturating_add(item.payload.len() as u64) > limits.max_bytes {
                    return Ok(PublishOutcome::QuotaExceeded);
                }
            }
            let created = existing.is_none();
            let node = match existing {
                Some(n) => n,
                None => {
                    insert_node(tx, &service, &name, owner_id, &config)?;
                    find_node(tx, &service, &name)?
                        .ok_or_else(|| Error::Corrupt("created node not found".to_owned()))?
                }
            };
            if node.config.persist_items {
                let seq: i64 = tx
                    .prepare_cached(
                        "SELECT COALESCE(MAX(seq), 0) + 1 FROM pubsub_items WHERE node_id = ?1",
                    )?
                    .query_row([node.id], |r| r.get(0))?;
                tx.prepare_cached(
                    "INSERT INTO pubsub_items (node_id, item_id, seq, publisher, payload) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (node_id, item_id) DO UPDATE SET \
                     seq = excluded.seq, publisher = excluded.publisher, payload = excluded.payload",
                )?
                .execute(params![node.id, item.id, seq, item.publisher, item.payload])?;
                trim(tx, node.id, effective_max(&node.config, &limits).max(1))?;
            }
            Ok(PublishOutcome::Published { node, created })
        })
        .await
    }

    /// Items of node `node_id`, newest first: those with the given ids (`ids` non-empty,
    /// in stored order), else at most `max` (`None`: all).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_items(
        &self,
        node_id: i64,
        ids: &[String],
        max: Option<u32>,
    ) -> Result<Vec<StoredItem>, Error> {
        let ids = ids.to_vec();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT item_id, publisher, payload FROM pubsub_items WHERE node_id = ?1 \
                 ORDER BY seq DESC LIMIT ?2",
            )?;
            let limit = if ids.is_empty() {
                max.map_or(-1, i64::from)
            } else {
                -1
            };
            let all = stmt
                .query_map(params![node_id, limit], |r| {
                    Ok(StoredItem {
                        id: r.get(0)?,
                        publisher: r.get(1)?,
                        payload: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                Ok(all)
            } else {
                Ok(all.into_iter().filter(|i| ids.contains(&i.id)).collect())
            }
        })
        .await
    }

    /// Deletes item `item_id` of node `node_id`; whether it existed.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_retract(&self, node_id: i64, item_id: &str) -> Result<bool, Error> {
        let item_id = item_id.to_owned();
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM pubsub_items WHERE node_id = ?1 AND item_id = ?2")?
                .execute(params![node_id, item_id])?;
            Ok(n > 0)
        })
        .await
    }

    /// Deletes every item of node `node_id` (XEP-0060 §8.5).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_purge(&self, node_id: i64) -> Result<(), Error> {
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM pubsub_items WHERE node_id = ?1")?
                .execute([node_id])?;
            Ok(())
        })
        .await
    }

    /// Explicit subscribers of node `node_id` (XEP-0060 §6.1).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_subscribers(&self, node_id: i64) -> Result<Vec<String>, Error> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT jid FROM pubsub_subscriptions WHERE node_id = ?1 ORDER BY jid",
            )?;
            let v = stmt
                .query_map([node_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(v)
        })
        .await
    }

    /// Subscribes (`on`) or unsubscribes `jid` to node `node_id`. `Ok(false)`: the node
    /// has `max` subscribers already and `jid` is not one of them (nothing changed).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn pubsub_set_subscription(
        &self,
        node_id: i64,
        jid: &str,
        on: bool,
        max: u32,
    ) -> Result<bool, Error> {
        let jid = jid.to_owned();
        self.write(move |tx| {
            if !on {
                tx.prepare_cached(
                    "DELETE FROM pubsub_subscriptions WHERE node_id = ?1 AND jid = ?2",
                )?
                .execute(params![node_id, jid])?;
                return Ok(true);
            }
            let exists = tx
                .prepare_cached(
                    "SELECT 1 FROM pubsub_subscriptions WHERE node_id = ?1 AND jid = ?2",
                )?
                .query_row(params![node_id, jid], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                return Ok(true);
            }
            let n: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM pubsub_subscriptions WHERE node_id = ?1")?
                .query_row([node_id], |r| r.get(0))?;
            if n >= i64::from(max) {
                return Ok(false);
            }
            tx.prepare_cached("INSERT INTO pubsub_subscriptions (node_id, jid) VALUES (?1, ?2)")?
                .execute(params![node_id, jid])?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PubsubLimits {
        PubsubLimits {
            max_nodes: 2,
            max_items: 3,
            max_bytes: 100,
        }
    }

    fn item(id: &str, payload: &str) -> StoredItem {
        StoredItem {
            id: id.to_owned(),
            publisher: "alice@example.org".to_owned(),
            payload: payload.to_owned(),
        }
    }

    async fn storage() -> (tempfile::TempDir, Storage) {
        let (dir, s) = super::super::test_util::temp_storage();
        s.create_account("alice@example.org", &super::super::test_util::creds(1))
            .await
            .unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn publish_autocreates_replaces_and_trims() {
        let (_d, s) = storage().await;
        let svc = "alice@example.org";
        let mut cfg = NodeConfig::pep_default();
        cfg.max_items = Some(2);
        let out = s
            .pubsub_publish(svc, "n", svc, Some(&cfg), &item("1", "<a/>"), limits())
            .await
            .unwrap();
        assert!(matches!(
            out,
            PublishOutcome::Published { created: true, .. }
        ));
        for id in ["2", "3", "2"] {
            s.pubsub_publish(svc, "n", svc, Some(&cfg), &item(id, "<b/>"), limits())
                .await
                .unwrap();
        }
        let node = s.pubsub_node(svc, "n").await.unwrap().unwrap();
        let ids: Vec<String> = s
            .pubsub_items(node.id, &[], None)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, ["2", "3"]);
        assert!(
            s.pubsub_publish(svc, "missing", svc, None, &item("1", "<a/>"), limits())
                .await
                .unwrap()
                == PublishOutcome::NoSuchNode
        );
    }

    #[tokio::test]
    async fn limits_refuse_nodes_and_bytes() {
        let (_d, s) = storage().await;
        let svc = "alice@example.org";
        let cfg = NodeConfig::pep_default();
        for n in ["a", "b"] {
            s.pubsub_publish(svc, n, svc, Some(&cfg), &item("1", "<x/>"), limits())
                .await
                .unwrap();
        }
        assert_eq!(
            s.pubsub_publish(svc, "c", svc, Some(&cfg), &item("1", "<x/>"), limits())
                .await
                .unwrap(),
            PublishOutcome::TooManyNodes
        );
        let big = format!("<x>{}</x>", "y".repeat(95));
        assert_eq!(
            s.pubsub_publish(svc, "a", svc, Some(&cfg), &item("2", &big), limits())
                .await
                .unwrap(),
            PublishOutcome::QuotaExceeded
        );
        // Replacing an item counts only the new size.
        let fits = format!("<x>{}</x>", "y".repeat(80));
        assert!(matches!(
            s.pubsub_publish(svc, "a", svc, Some(&cfg), &item("1", &fits), limits())
                .await
                .unwrap(),
            PublishOutcome::Published { .. }
        ));
    }

    #[tokio::test]
    async fn account_deletion_removes_nodes() {
        let (_d, s) = storage().await;
        let svc = "alice@example.org";
        s.pubsub_publish(
            svc,
            "n",
            svc,
            Some(&NodeConfig::pep_default()),
            &item("1", "<a/>"),
            limits(),
        )
        .await
        .unwrap();
        s.delete_account(svc).await.unwrap();
        assert!(s.pubsub_node(svc, "n").await.unwrap().is_none());
    }
}
