-- Usernames are case-insensitive (issue 15, finding 10): Latch stores and looks them up in
-- lower case (`canonical_username`). Rows written before that may be mixed case, and a
-- lookup by the lower-case spelling never finds them. Each is rewritten in lower case unless
-- another row already has that spelling in some case: such a group is left as it is (no
-- account is renamed onto another, and the unique index keeps the lower-case spelling to one
-- row, so a lookup by name finds that row or none); its members still sign in with their
-- passkeys (discoverable) and are reachable by id. SECURITY.md says why.
UPDATE users SET username = LOWER(username)
WHERE username <> LOWER(username)
  AND NOT EXISTS (
    SELECT 1 FROM users other
    WHERE other.id <> users.id AND LOWER(other.username) = LOWER(users.username)
  );

-- A new username is refused when any row has it in any case (`INSERT_USER`), so the groups
-- above never grow; this index answers that check without a scan.
CREATE INDEX users_by_lower_username ON users (LOWER(username));

-- Which Backend API secret key acted (its id, never the key), on the audit lines of Backend
-- API actions (issue 13); NULL for everything else.
ALTER TABLE audit_events ADD COLUMN secret_key_id TEXT;

-- Sign-in tokens (tickets) that are spent, revoked or expired are purged after the grace
-- period like every other finished record; the purge finds them by this index.
CREATE INDEX sign_in_tokens_by_update ON sign_in_tokens(updated_at);
