-- Reverification and session lifetime (docs/protocol.md §16).
-- A session records when its user last proved a first factor (creation counts; existing
-- sessions get their creation time), its idle timeout (NULL: none), and what made it: the
-- passkey of a passkey sign-in or the ticket of a ticket sign-in (both NULL: a sign-up, or a
-- session from before this migration). Deleting a passkey ends the sessions it made.
ALTER TABLE sessions ADD COLUMN first_factor_verified_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET first_factor_verified_at = created_at;
ALTER TABLE sessions ADD COLUMN idle_timeout INTEGER;
ALTER TABLE sessions ADD COLUMN passkey_id TEXT;
ALTER TABLE sessions ADD COLUMN sign_in_token_id TEXT;
CREATE INDEX sessions_by_passkey ON sessions(passkey_id) WHERE passkey_id IS NOT NULL;
-- The purge finds idle sessions by the end of their idle time.
CREATE INDEX sessions_by_idle_end ON sessions((last_active_at + idle_timeout)) WHERE idle_timeout IS NOT NULL;

-- A session's reverification: one at a time per session, its passkey challenge in the same
-- columns a sign-in keeps its own (`ch_*`), answered once at most.
CREATE TABLE session_verifications (
    session_id   TEXT PRIMARY KEY,
    id           TEXT NOT NULL,
    level        TEXT NOT NULL,
    complete     INTEGER NOT NULL,
    ch_status    TEXT,
    ch_options   TEXT,
    ch_state     TEXT,
    ch_origin    TEXT,
    ch_attempts  INTEGER NOT NULL DEFAULT 0,
    ch_expire_at INTEGER,
    ch_error     TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
-- The purge deletes verifications no longer of use by age.
CREATE INDEX session_verifications_by_update ON session_verifications(updated_at);
