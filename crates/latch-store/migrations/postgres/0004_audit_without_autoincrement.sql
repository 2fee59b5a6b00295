-- Schema 4 rebuilt SQLite's audit trail without AUTOINCREMENT (a page write per audit line
-- there). PostgreSQL's BIGSERIAL has no such cost; the version moves in step.
COMMENT ON TABLE audit_events IS 'Who did what, when, from where (latch audit). Never deleted by Latch.';
