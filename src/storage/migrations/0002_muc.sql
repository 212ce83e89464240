-- 0002_muc: persistent multi-user chat rooms (XEP-0045 §10.2, muc#roomconfig_persistentroom),
-- their affiliations (§5.2) and the per-service secret of XEP-0421 occupant ids.
--
-- Only persistent rooms are stored. Room history is never stored (it lives in memory).

CREATE TABLE muc_rooms (
    id         INTEGER PRIMARY KEY,
    service    TEXT    NOT NULL,                 -- service domain, e.g. conference.example.org
    node       TEXT    NOT NULL,                 -- room localpart
    config     TEXT    NOT NULL,                 -- room configuration, TOML
    subject    TEXT    NOT NULL DEFAULT '',
    subject_by TEXT    NOT NULL DEFAULT '',      -- nick that set the subject ('' = the room)
    UNIQUE (service, node)
) STRICT;

CREATE TABLE muc_affiliations (
    room_id     INTEGER NOT NULL REFERENCES muc_rooms(id) ON DELETE CASCADE,
    jid         TEXT    NOT NULL,                -- normalized bare JID
    affiliation TEXT    NOT NULL CHECK (affiliation IN ('owner', 'admin', 'member', 'outcast')),
    reason      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (room_id, jid)
) STRICT;

CREATE TABLE muc_secrets (
    service TEXT PRIMARY KEY,
    secret  BLOB NOT NULL
) STRICT;
