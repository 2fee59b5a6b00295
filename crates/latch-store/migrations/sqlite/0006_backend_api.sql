-- The app's server half (SQLite): token keys by algorithm and rotation, secret keys for the
-- Backend API, sign-in tokens (tickets), user metadata.

-- Session-token signing keys carry their algorithm (`RS256` or `EdDSA`; keys from before
-- this migration are Ed25519). A rotated key is retired, not deleted: it stays in the JWKS
-- while tokens it signed may still be alive.
ALTER TABLE signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'EdDSA';
ALTER TABLE signing_keys ADD COLUMN retired_at INTEGER;

-- Backend API secret keys (`sk_live_…`): only a SHA-256 of each is stored; `hint` is its
-- last characters, to tell keys apart in a listing.
CREATE TABLE secret_keys (
    id          TEXT PRIMARY KEY,
    key_hash    BLOB NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

-- Sign-in tokens: a ticket, redeemed once by a `ticket` sign-in, for one user.
CREATE TABLE sign_in_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    expire_at   INTEGER NOT NULL
);
CREATE INDEX sign_in_tokens_by_user ON sign_in_tokens(user_id);

-- The metadata an app keeps on a user (Clerk's public, private and unsafe metadata), as JSON
-- objects. A row only once something was written.
CREATE TABLE user_metadata (
    user_id     TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    public      TEXT NOT NULL,
    private     TEXT NOT NULL,
    unsafe      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- The Backend API lists users newest first.
CREATE INDEX users_by_creation ON users(created_at, id);
