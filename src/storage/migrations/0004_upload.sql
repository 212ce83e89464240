-- 0004_upload: XEP-0363 HTTP File Upload slots and the secret their PUT tokens are
-- signed with.
--
-- A slot is created when an account requests it (counted against the account's daily
-- quota from then on) and marked stored once its file was PUT. The file itself lives
-- under <state_dir>/uploads/<id>. Rows (and files) are deleted when they expire; the
-- row ties a file to its owner only for that long. Deleting an account deletes its
-- rows; the sweeper then removes the files left without a row.

CREATE TABLE upload_slots (
    id           TEXT    PRIMARY KEY,              -- 32 lower-case hex digits (128-bit random)
    account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    filename     TEXT    NOT NULL,                 -- sanitized file name (URL path segment)
    size         INTEGER NOT NULL CHECK (size >= 0),
    content_type TEXT    NOT NULL,
    created      INTEGER NOT NULL,                 -- unix seconds
    put_expires  INTEGER NOT NULL,                 -- unix seconds: no PUT after this
    stored       INTEGER NOT NULL DEFAULT 0 CHECK (stored IN (0, 1))
) STRICT;

CREATE INDEX upload_slots_owner ON upload_slots (account_id, created);
CREATE INDEX upload_slots_created ON upload_slots (created);

CREATE TABLE upload_secret (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    secret BLOB    NOT NULL
) STRICT;
