-- 0003_pastebin: long messages moved out of chats (issue 5, like Prosody's mod_pastebin).
--
-- A paste is the full body of one message, served as text/plain under
-- /pastebin/<id>. The id is 128 random bits (hex), so URLs are unguessable.
-- Nothing links a paste to its author or its room: no account, no JID, no address.
-- Rows are deleted once `expires` (unix seconds) has passed.

CREATE TABLE pastes (
    id      TEXT    PRIMARY KEY,                 -- 32 lowercase hex digits
    body    TEXT    NOT NULL,                    -- the original message body
    expires INTEGER NOT NULL                     -- unix seconds
) STRICT, WITHOUT ROWID;

CREATE INDEX pastes_expires ON pastes (expires);
