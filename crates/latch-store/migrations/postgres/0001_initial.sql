-- Latch's first schema (PostgreSQL). Timestamps are ms since the Unix epoch; booleans are 0/1.
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    webauthn_handle BYTEA NOT NULL UNIQUE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_sign_in_at BIGINT
);

CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id   BYTEA NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    aaguid          BYTEA,
    credential      TEXT NOT NULL,
    sign_count      BIGINT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    backup_state    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys(user_id);

CREATE TABLE pending_passkeys (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    options_json TEXT NOT NULL,
    state        TEXT NOT NULL,
    origin       TEXT,
    created_at   BIGINT NOT NULL,
    expire_at    BIGINT NOT NULL
);
CREATE INDEX pending_passkeys_by_user ON pending_passkeys(user_id);

CREATE TABLE clients (
    id                     TEXT PRIMARY KEY,
    token_hash             BYTEA NOT NULL UNIQUE,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
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
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expire_at      BIGINT NOT NULL
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
    ch_attempts        BIGINT NOT NULL DEFAULT 0,
    ch_expire_at       BIGINT,
    ch_error           TEXT,
    created_session_id TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    abandon_at         BIGINT NOT NULL
);
CREATE INDEX sign_ins_by_abandon ON sign_ins(abandon_at);

CREATE TABLE sign_ups (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL,
    username           TEXT NOT NULL,
    created_user_id    TEXT NOT NULL,
    created_session_id TEXT NOT NULL,
    created_at         BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    private_pkcs8  BYTEA NOT NULL,
    public_raw     BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);
