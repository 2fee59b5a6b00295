-- Latch's first schema (SQLite). Timestamps are ms since the Unix epoch; booleans are 0/1.
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    webauthn_handle BLOB NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER
);

CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id   BLOB NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    aaguid          BLOB,
    credential      TEXT NOT NULL,
    sign_count      INTEGER NOT NULL,
    backup_eligible INTEGER NOT NULL,
    backup_state    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);
CREATE INDEX passkeys_by_user ON passkeys(user_id);

CREATE TABLE pending_passkeys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    options_json TEXT NOT NULL,
    state        TEXT NOT NULL,
    origin       TEXT,
    created_at   INTEGER NOT NULL,
    expire_at    INTEGER NOT NULL
);
CREATE INDEX pending_passkeys_by_user ON pending_passkeys(user_id);

CREATE TABLE clients (
    id                     TEXT PRIMARY KEY,
    token_hash             BLOB NOT NULL UNIQUE,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    last_active_session_id TEXT,
    sign_in_id             TEXT,
    sign_up_id             TEXT
);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    status         TEXT NOT NULL,
    tasks          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    expire_at      INTEGER NOT NULL
);
CREATE INDEX sessions_by_client ON sessions(client_id);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE sign_ins (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    status             TEXT NOT NULL,
    identifier         TEXT,
    user_id            TEXT,
    ch_status          TEXT,
    ch_options         TEXT,
    ch_state           TEXT,
    ch_origin          TEXT,
    ch_attempts        INTEGER NOT NULL DEFAULT 0,
    ch_expire_at       INTEGER,
    ch_error           TEXT,
    created_session_id TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    abandon_at         INTEGER NOT NULL
);
CREATE INDEX sign_ins_by_abandon ON sign_ins(abandon_at);

CREATE TABLE sign_ups (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    username           TEXT NOT NULL,
    created_user_id    TEXT NOT NULL,
    created_session_id TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    private_pkcs8  BLOB NOT NULL,
    public_raw     BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);
