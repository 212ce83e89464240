-- 0006_blocking: each account's block list (XEP-0191).
--
-- One row per blocked JID, in the form the user gave it after normalization: a
-- domain, a bare JID or a full JID (XEP-0191 §6 matching). The row goes with its
-- account (ON DELETE CASCADE). Nothing else is stored: no time, no reason.

CREATE TABLE blocked_jids (
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    jid        TEXT    NOT NULL,                    -- normalized JID
    PRIMARY KEY (account_id, jid)
) STRICT, WITHOUT ROWID;
