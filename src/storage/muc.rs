//! Persistent multi-user chat rooms (XEP-0045 §10.2): configuration, subject and
//! affiliations of rooms whose owner made them persistent, and the per-service secret
//! of XEP-0421 occupant ids. Room history is never stored.

use rusqlite::{OptionalExtension, params};

use super::{Error, Storage};

/// One stored room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    /// Room localpart.
    pub node: String,
    /// The room configuration, serialized by the MUC module (TOML).
    pub config: String,
    /// The room subject (`""` when none).
    pub subject: String,
    /// Nick that set the subject (`""` for the room itself).
    pub subject_by: String,
    /// `(bare JID, affiliation, reason)`; affiliation is `owner`, `admin`, `member` or
    /// `outcast`.
    pub affiliations: Vec<(String, String, String)>,
}

impl Storage {
    /// Every stored room of `service`.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn muc_rooms(&self, service: &str) -> Result<Vec<StoredRoom>, Error> {
        let service = service.to_owned();
        self.read(move |tx| {
            let mut rooms = tx
                .prepare_cached(
                    "SELECT id, node, config, subject, subject_by FROM muc_rooms \
                     WHERE service = ?1 ORDER BY id",
                )?
                .query_map([&service], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        StoredRoom {
                            node: r.get(1)?,
                            config: r.get(2)?,
                            subject: r.get(3)?,
                            subject_by: r.get(4)?,
                            affiliations: Vec::new(),
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = tx.prepare_cached(
                "SELECT jid, affiliation, reason FROM muc_affiliations WHERE room_id = ?1 \
                 ORDER BY jid",
            )?;
            for (id, room) in &mut rooms {
                room.affiliations = stmt
                    .query_map([*id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
            }
            Ok(rooms.into_iter().map(|(_, r)| r).collect())
        })
        .await
    }

    /// Stores (inserts or replaces) a room with all its affiliations, in one transaction.
    ///
    /// # Errors
    /// [`Error::Sqlite`] (e.g. an unknown affiliation), [`Error::Closed`], [`Error::Join`].
    pub async fn put_muc_room(&self, service: &str, room: &StoredRoom) -> Result<(), Error> {
        let service = service.to_owned();
        let room = room.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO muc_rooms (service, node, config, subject, subject_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (service, node) DO UPDATE SET \
                 config = excluded.config, subject = excluded.subject, \
                 subject_by = excluded.subject_by",
            )?
            .execute(params![
                service,
                room.node,
                room.config,
                room.subject,
                room.subject_by
            ])?;
            let id: i64 = tx
                .prepare_cached("SELECT id FROM muc_rooms WHERE service = ?1 AND node = ?2")?
                .query_row(params![service, room.node], |r| r.get(0))?;
            tx.prepare_cached("DELETE FROM muc_affiliations WHERE room_id = ?1")?
                .execute([id])?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO muc_affiliations (room_id, jid, affiliation, reason) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (jid, aff, reason) in &room.affiliations {
                ins.execute(params![id, jid, aff, reason])?;
            }
            Ok(())
        })
        .await
    }

    /// Deletes a stored room and its affiliations (no error if it is not stored).
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn delete_muc_room(&self, service: &str, node: &str) -> Result<(), Error> {
        let (service, node) = (service.to_owned(), node.to_owned());
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM muc_rooms WHERE service = ?1 AND node = ?2")?
                .execute(params![service, node])?;
            Ok(())
        })
        .await
    }

    /// The secret of `service` (for XEP-0421 occupant ids), created from `fresh` on
    /// first use and the same ever after.
    ///
    /// # Errors
    /// [`Error::Sqlite`], [`Error::Closed`], [`Error::Join`].
    pub async fn muc_secret(&self, service: &str, fresh: [u8; 32]) -> Result<Vec<u8>, Error> {
        let service = service.to_owned();
        self.write(move |tx| {
            let found: Option<Vec<u8>> = tx
                .prepare_cached("SELECT secret FROM muc_secrets WHERE service = ?1")?
                .query_row([&service], |r| r.get(0))
                .optional()?;
            if let Some(s) = found {
                return Ok(s);
            }
            tx.prepare_cached("INSERT INTO muc_secrets (service, secret) VALUES (?1, ?2)")?
                .execute(params![service, fresh.to_vec()])?;
            Ok(fresh.to_vec())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::temp_storage;
    use super::*;

    #[tokio::test]
    async fn rooms_round_trip_and_secret_is_stable() {
        let (_dir, s) = temp_storage();
        let mut room = StoredRoom {
            node: "lobby".into(),
            config: "name = 'x'".into(),
            subject: "hello".into(),
            subject_by: "ann".into(),
            affiliations: vec![
                ("a@example.org".into(), "owner".into(), String::new()),
                ("b@example.org".into(), "outcast".into(), "spam".into()),
            ],
        };
        s.put_muc_room("conference.example.org", &room)
            .await
            .unwrap();
        room.affiliations.pop();
        room.subject = "bye".into();
        s.put_muc_room("conference.example.org", &room)
            .await
            .unwrap();
        assert_eq!(
            s.muc_rooms("conference.example.org").await.unwrap(),
            vec![room]
        );
        assert!(s.muc_rooms("other").await.unwrap().is_empty());
        s.delete_muc_room("conference.example.org", "lobby")
            .await
            .unwrap();
        assert!(
            s.muc_rooms("conference.example.org")
                .await
                .unwrap()
                .is_empty()
        );
        let a = s.muc_secret("c", [1; 32]).await.unwrap();
        let b = s.muc_secret("c", [2; 32]).await.unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec![1; 32]);
    }
}
