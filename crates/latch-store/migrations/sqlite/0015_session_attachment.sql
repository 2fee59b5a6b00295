-- Where the browser said a passkey sign-in's authenticator was (docs/protocol.md §20.1):
-- 'platform' or 'cross-platform' (a security key, or a phone by hybrid transport); NULL for
-- sessions not made by a passkey, when the browser said nothing, and for sessions from
-- before this migration.
ALTER TABLE sessions ADD COLUMN authenticator_attachment TEXT;
