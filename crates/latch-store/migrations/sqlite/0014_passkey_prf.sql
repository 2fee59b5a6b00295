-- The PRF extension's `enabled` client result at registration (docs/protocol.md §22.2):
-- 1 or 0 as the browser reported it, NULL when it reported nothing (clerk-js posts no
-- client extension results; passkeys made before this migration).
ALTER TABLE passkeys ADD COLUMN prf_enabled INTEGER;
