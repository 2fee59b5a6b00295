-- The background purge deletes what has been over for a grace period: ended sessions (by
-- when they ended), expired ones, sign-ups, and clients idle long without a live session.
-- Each finds its rows through an index, so a purge costs what it deletes, not a table scan.
CREATE INDEX sessions_by_updated_at ON sessions(updated_at);
CREATE INDEX sessions_by_expire_at ON sessions(expire_at);
CREATE INDEX sign_ups_by_created_at ON sign_ups(created_at);
CREATE INDEX clients_by_updated_at ON clients(updated_at);
