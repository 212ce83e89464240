-- 0001_initial: accounts, roster (RFC 6121 §2), pending inbound subscription
-- requests (RFC 6121 §3.1.3) and offline messages (XEP-0160).
--
-- Every per-account table references accounts(id) with ON DELETE CASCADE, so
-- deleting an account removes everything it owns in one statement.

CREATE TABLE accounts (
    id                      INTEGER PRIMARY KEY,
    jid                     TEXT    NOT NULL UNIQUE,   -- normalized bare JID
    argon2_hash             TEXT    NOT NULL,          -- PHC string
    scram_sha1_salt         BLOB    NOT NULL,
    scram_sha1_iterations   INTEGER NOT NULL CHECK (scram_sha1_iterations BETWEEN 1 AND 4294967295),
    scram_sha1_stored_key   BLOB    NOT NULL,
    scram_sha1_server_key   BLOB    NOT NULL,
    scram_sha256_salt       BLOB    NOT NULL,
    scram_sha256_iterations INTEGER NOT NULL CHECK (scram_sha256_iterations BETWEEN 1 AND 4294967295),
    scram_sha256_stored_key BLOB    NOT NULL,
    scram_sha256_server_key BLOB    NOT NULL,
    created_at              INTEGER NOT NULL           -- unix seconds
) STRICT;

CREATE TABLE roster_items (
    id           INTEGER PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact      TEXT    NOT NULL,                      -- normalized bare JID
    name         TEXT,
    subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
    ask          INTEGER NOT NULL CHECK (ask IN (0, 1)),
    UNIQUE (account_id, contact)
) STRICT;

CREATE TABLE roster_groups (
    item_id  INTEGER NOT NULL REFERENCES roster_items(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    PRIMARY KEY (item_id, position),
    UNIQUE (item_id, name)
) STRICT;

CREATE TABLE pending_subscriptions (
    id         INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact    TEXT    NOT NULL,                        -- normalized bare JID
    stanza     TEXT    NOT NULL,                        -- serialized <presence type='subscribe'/>
    UNIQUE (account_id, contact)
) STRICT;

-- AUTOINCREMENT: ids are never reused, so a delete by id can never hit a newer message.
CREATE TABLE offline_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    stanza     TEXT    NOT NULL,                        -- serialized <message/>
    stamp      INTEGER NOT NULL                         -- unix seconds
) STRICT;

CREATE INDEX offline_messages_by_account ON offline_messages (account_id, id);
