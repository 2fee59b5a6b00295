-- Operators (issue 16): Latch users who may use the admin console. A row here is the role;
-- `latch operators grant|revoke` writes it (audited), and the Backend API reads it on every
-- request an operator's session token makes, so a revocation takes effect at the next call.
CREATE TABLE operators (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    granted_at BIGINT NOT NULL
);

-- Which operator acted (their user id), on the audit lines of Backend API calls made from the
-- admin console; NULL for everything else (a secret key's calls name `secret_key_id`).
ALTER TABLE audit_events ADD COLUMN operator_id TEXT;

-- The console's audit filter by action, newest first.
CREATE INDEX audit_events_by_event ON audit_events(event, at);
