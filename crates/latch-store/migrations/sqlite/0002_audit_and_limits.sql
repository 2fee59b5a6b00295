-- The audit trail and the rate-limit counters shared by every node (SQLite).
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX audit_events_by_user ON audit_events(user_id, at);
CREATE INDEX audit_events_by_time ON audit_events(at);

CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);
