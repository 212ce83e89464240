-- 0005_pubsub: XEP-0060 publish-subscribe nodes and their items, for the personal
-- eventing service of every account (XEP-0163 PEP: the service is the account's bare
-- JID) and for the pubsub service on `pubsub.<domain>` (the service is its domain).
--
-- A node belongs to the account that created it (for PEP, the account itself): deleting
-- the account deletes its nodes, their items and their subscriptions. Items are the
-- payload element as received (serialized XML, never rewritten: OMEMO bundles and device
-- lists are stored byte for byte as the client published them).

CREATE TABLE pubsub_nodes (
    id               INTEGER PRIMARY KEY,
    service          TEXT    NOT NULL,              -- bare JID (PEP) or service domain
    name             TEXT    NOT NULL,              -- the node's name (NodeID)
    owner_id         INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    access_model     TEXT    NOT NULL,              -- open | presence | roster | whitelist
    persist_items    INTEGER NOT NULL CHECK (persist_items IN (0, 1)),
    max_items        INTEGER CHECK (max_items IS NULL OR max_items >= 0), -- NULL: 'max'
    notify_retract   INTEGER NOT NULL CHECK (notify_retract IN (0, 1)),
    title            TEXT    NOT NULL DEFAULT '',
    roster_groups    TEXT    NOT NULL DEFAULT '',   -- allowed groups, one per line
    UNIQUE (service, name)
) STRICT;

CREATE INDEX pubsub_nodes_owner ON pubsub_nodes (owner_id);

CREATE TABLE pubsub_items (
    node_id    INTEGER NOT NULL REFERENCES pubsub_nodes(id) ON DELETE CASCADE,
    item_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL,                    -- publication order, newest highest
    publisher  TEXT    NOT NULL,                    -- bare JID of the publisher
    payload    TEXT    NOT NULL,                    -- the payload element, serialized
    PRIMARY KEY (node_id, item_id)
) STRICT;

CREATE INDEX pubsub_items_order ON pubsub_items (node_id, seq);

CREATE TABLE pubsub_subscriptions (
    node_id    INTEGER NOT NULL REFERENCES pubsub_nodes(id) ON DELETE CASCADE,
    jid        TEXT    NOT NULL,                    -- subscriber (bare or full JID)
    PRIMARY KEY (node_id, jid)
) STRICT;
