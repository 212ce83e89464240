-- 0007_account_data: what one account keeps about itself beyond the roster.
--
-- * roster_versions: the roster version (RFC 6121 §2.6), bumped in the transaction of
--   every roster change. `epoch` is random per row, so an account deleted and created
--   again never repeats a version string a client may have cached.
-- * roster_items.approved: a subscription pre-approval (RFC 6121 §3.4).
-- * vcards: the account's vCard (XEP-0054), the XML as received, serialized.
-- * private_xml: private XML storage (XEP-0049), one fragment per (element name,
--   namespace).
--
-- Every table references accounts(id) ON DELETE CASCADE: deleting an account removes
-- its vCard, its private XML and its roster version with it. Nothing here holds a time.

CREATE TABLE roster_versions (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL,                        -- random, fixed for the row
    counter    INTEGER NOT NULL CHECK (counter >= 0)    -- +1 per roster change
) STRICT;

ALTER TABLE roster_items
    ADD COLUMN approved INTEGER NOT NULL DEFAULT 0 CHECK (approved IN (0, 1));

CREATE TABLE vcards (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    xml        TEXT    NOT NULL                         -- serialized <vCard xmlns='vcard-temp'/>
) STRICT;

CREATE TABLE private_xml (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    ns         TEXT    NOT NULL,                        -- the fragment's namespace
    name       TEXT    NOT NULL,                        -- the fragment's element name
    xml        TEXT    NOT NULL,                        -- the serialized fragment
    PRIMARY KEY (account_id, ns, name)
) STRICT, WITHOUT ROWID;
