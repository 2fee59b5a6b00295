-- The audit trail without AUTOINCREMENT. AUTOINCREMENT made every audit insert update
-- sqlite_sequence too: one more page written to the WAL per sign-in, sign-up, passkey
-- change and sign-out. Audit rows are never deleted, so a plain INTEGER PRIMARY KEY
-- (max + 1) never reuses an id either.
CREATE TABLE audit_events_v4 (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    user_id     TEXT,
    session_id  TEXT,
    passkey_id  TEXT,
    client_id   TEXT,
    client_ip   TEXT,
    user_agent  TEXT,
    error_code  TEXT
);
INSERT INTO audit_events_v4 (id, at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, user_agent, error_code)
    SELECT id, at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, user_agent, error_code FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_v4 RENAME TO audit_events;
CREATE INDEX audit_events_by_user ON audit_events(user_id, at);
CREATE INDEX audit_events_by_time ON audit_events(at);
DELETE FROM sqlite_sequence WHERE name = 'audit_events';
