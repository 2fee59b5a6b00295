-- The handshake (docs/protocol.md §14): `GET /v1/client/handshake` leaves what the app's
-- server must set under a nonce, and `GET /bapi/v1/clients/handshake_payload` takes it, once.
-- Only a SHA-256 of the nonce is stored; `grant` is the client's signed-in state as JSON
-- (a session token or none, the `__client_uat` value, the redirect it was issued for).
CREATE TABLE handshake_nonces (
    nonce_hash  BLOB PRIMARY KEY,
    grant_json  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expire_at   INTEGER NOT NULL
);
-- The purge deletes expired nonces by this index.
CREATE INDEX handshake_nonces_by_expiry ON handshake_nonces(expire_at);
