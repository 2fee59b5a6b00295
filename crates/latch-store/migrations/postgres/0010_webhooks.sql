-- Webhooks (docs/protocol.md §15): the operator's endpoints, and an outbox of events and
-- their deliveries. An event is written in the transaction of the change it reports, and only
-- when some enabled endpoint wants its type; one delivery row per such endpoint, which the
-- dispatcher of any node claims, POSTs and retries.

-- An endpoint: where to POST, the `whsec_` secret its signatures use (in the clear: HMAC
-- needs it; see SECURITY.md), and which event types it wants: NULL for all, else the types as
-- ",a,b," so that one LIKE tests membership.
CREATE TABLE webhook_endpoints (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_types  TEXT,
    enabled      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- An event: its `msg_…` id (the `svix-id` of every delivery and replay) and the exact
-- body every endpoint receives.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_events_by_creation ON webhook_events(created_at);

-- One event to one endpoint. `id` is "<msg id>:<endpoint id>". `status` is pending,
-- delivered or failed; a pending delivery is due at `next_attempt_at`, and a dispatcher that
-- claims it moves that time past its lease, so no other node sends the same attempt.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    event_id         TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- The dispatcher's poll: pending deliveries by due time.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries(event_id);
-- Removing an endpoint deletes its deliveries (ON DELETE CASCADE) by this index.
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries(endpoint_id);
