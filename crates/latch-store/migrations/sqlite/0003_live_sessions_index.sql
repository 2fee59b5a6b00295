-- A client keeps every session it ever had (ended ones too, for the audit of who was signed
-- in when), but FAPI only ever asks for its live ones: index just those, so a browser that
-- signed in and out a thousand times costs no more to answer than a new one.
DROP INDEX sessions_by_client;
CREATE INDEX live_sessions_by_client ON sessions(client_id) WHERE status IN ('active', 'pending');
