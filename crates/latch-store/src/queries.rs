//! The SQL both stores run. One text serves PostgreSQL and SQLite: parameters are `$1…$n`,
//! each used once and in order (SQLite reads `$n` as a named parameter and numbers it by
//! first appearance, so order is what makes it positional there; a unit test in `sqlite.rs`
//! holds every statement to that), plus `RETURNING` and `ON CONFLICT`, which both speak.

macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, name, aaguid, credential, sign_count, \
         backup_eligible, backup_state, created_at, updated_at, last_used_at, prf_enabled"
    };
}

macro_rules! session_columns {
    () => {
        "id, client_id, user_id, status, tasks, created_at, updated_at, last_active_at, expire_at, \
         first_factor_verified_at, idle_timeout, passkey_id, sign_in_token_id, authenticator_attachment"
    };
}

/// [`session_columns`] of a joined `sessions s`, each named `s_<column>`.
macro_rules! session_columns_prefixed {
    () => {
        "s.id AS s_id, s.client_id AS s_client_id, s.user_id AS s_user_id, s.status AS s_status, s.tasks AS s_tasks, \
         s.created_at AS s_created_at, s.updated_at AS s_updated_at, s.last_active_at AS s_last_active_at, \
         s.expire_at AS s_expire_at, s.first_factor_verified_at AS s_first_factor_verified_at, \
         s.idle_timeout AS s_idle_timeout, s.passkey_id AS s_passkey_id, s.sign_in_token_id AS s_sign_in_token_id, \
         s.authenticator_attachment AS s_authenticator_attachment"
    };
}

macro_rules! sign_in_columns {
    () => {
        "id, client_id, status, identifier, user_id, ch_status, ch_options, ch_state, \
         ch_origin, ch_attempts, ch_expire_at, ch_error, created_session_id, created_at, updated_at, abandon_at"
    };
}

/// A sign-in's columns prefixed `si_`, as the statements that join a sign-in to its client
/// read them ([`client_snapshot`], [`SIGN_IN_ATTEMPT`]).
macro_rules! sign_in_columns_prefixed {
    () => {
        "si.id AS si_id, si.client_id AS si_client_id, si.status AS si_status, si.identifier AS si_identifier, \
         si.user_id AS si_user_id, si.ch_status AS si_ch_status, si.ch_options AS si_ch_options, \
         si.ch_state AS si_ch_state, si.ch_origin AS si_ch_origin, si.ch_attempts AS si_ch_attempts, \
         si.ch_expire_at AS si_ch_expire_at, si.ch_error AS si_ch_error, si.created_session_id AS si_created_session_id, \
         si.created_at AS si_created_at, si.updated_at AS si_updated_at, si.abandon_at AS si_abandon_at"
    };
}

/// A passkey's columns prefixed `p_` and its user's prefixed `u_`, as the statements that
/// join them read them ([`client_snapshot`], [`SIGN_IN_ATTEMPT`]).
macro_rules! user_and_passkey_columns_prefixed {
    () => {
        "u.id AS u_id, u.username AS u_username, u.webauthn_handle AS u_webauthn_handle, u.created_at AS u_created_at, \
         u.updated_at AS u_updated_at, u.last_sign_in_at AS u_last_sign_in_at, \
         p.id AS p_id, p.user_id AS p_user_id, p.credential_id AS p_credential_id, p.name AS p_name, p.aaguid AS p_aaguid, \
         p.credential AS p_credential, p.sign_count AS p_sign_count, p.backup_eligible AS p_backup_eligible, \
         p.backup_state AS p_backup_state, p.created_at AS p_created_at, p.updated_at AS p_updated_at, \
         p.last_used_at AS p_last_used_at, p.prf_enabled AS p_prf_enabled"
    };
}

pub const INSERT_CLIENT: &str =
    "INSERT INTO clients (id, token_hash, created_at, updated_at, last_active_session_id) VALUES ($1, $2, $3, $4, $5)";
pub const CLIENT_BY_TOKEN: &str =
    "SELECT id, created_at, updated_at, last_active_session_id FROM clients WHERE token_hash = $1";
/// A fresh token for a known client (at sign-in, sign-up and sign-out): the old one names
/// nothing from then on. Conditional on the token the action was asked with, so that of two
/// concurrent actions on one client only one hands out a token that works.
pub const ROTATE_CLIENT_TOKEN: &str = "UPDATE clients SET token_hash = $1 WHERE id = $2 AND token_hash = $3";
pub const SET_ACTIVE_SESSION: &str = "UPDATE clients SET last_active_session_id = $1, updated_at = $2 WHERE id = $3";
/// Completing a sign-in: the client's new token ([`ROTATE_CLIENT_TOKEN`]'s condition) and its
/// new active session ([`SET_ACTIVE_SESSION`]) in one write of the client's row, not two
/// (one statement and one row version fewer per sign-in).
pub const SIGN_CLIENT_IN: &str =
    "UPDATE clients SET token_hash = $1, last_active_session_id = $2, updated_at = $3 WHERE id = $4 AND token_hash = $5";
/// Signing out with a new token: [`ROTATE_CLIENT_TOKEN`] and [`CLIENT_SIGNED_OUT`] in one write.
pub const SIGN_CLIENT_OUT_ROTATED: &str = "UPDATE clients SET token_hash = $1, last_active_session_id = NULL, \
     sign_in_id = NULL, sign_up_id = NULL, updated_at = $2 WHERE id = $3 AND token_hash = $4";

/// Inserts nothing when a user has the name in any case: only rows older than migration
/// 0012 can differ from their lower-case spelling, and a new name must not join them.
pub const INSERT_USER: &str = "INSERT INTO users (id, username, webauthn_handle, created_at, updated_at, last_sign_in_at) \
     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM users WHERE LOWER(username) = LOWER($7))";
pub const INSERT_SIGN_UP: &str =
    "INSERT INTO sign_ups (id, client_id, username, created_user_id, created_session_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
);
pub const CLIENT_SIGNED_UP: &str = "UPDATE clients SET last_active_session_id = $1, sign_up_id = $2, sign_in_id = NULL, \
     updated_at = $3 WHERE id = $4";
pub const USER_BY_ID: &str = "SELECT * FROM users WHERE id = $1";
pub const USER_BY_USERNAME: &str = "SELECT * FROM users WHERE username = $1";
pub const SIGN_UP_BY_ID: &str = "SELECT * FROM sign_ups WHERE id = $1 AND client_id = $2";

pub const PASSKEYS_OF_USER: &str =
    concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id");
/// Conditional on the quota, which counts the user's verified passkeys and the registrations
/// still open (unexpired), so pending registrations cannot pile up past it.
pub const INSERT_PENDING_PASSKEY_UNDER_QUOTA: &str =
    "INSERT INTO pending_passkeys (id, user_id, client_id, options_json, state, origin, created_at, expire_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
     WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $9) \
         + (SELECT COUNT(*) FROM pending_passkeys WHERE user_id = $10 AND expire_at > $11) < $12";
/// A client runs one registration at a time: a new one replaces the client's earlier ones
/// (an abandoned dialog must not hold the quota until it expires).
pub const REPLACE_CLIENT_PENDING_PASSKEYS: &str = "DELETE FROM pending_passkeys WHERE user_id = $1 AND client_id = $2";
pub const PENDING_PASSKEY_BY_ID: &str = "SELECT id, user_id, client_id, options_json, state, origin, created_at, expire_at \
     FROM pending_passkeys WHERE id = $1 AND user_id = $2";
/// Takes the owner's row lock (PostgreSQL) before counting their passkeys: under READ
/// COMMITTED the conditional insert alone lets two concurrent registrations both see room.
pub const LOCK_USER: &str = "UPDATE users SET updated_at = updated_at WHERE id = $1";
pub const INSERT_PASSKEY_UNDER_QUOTA: &str = concat!(
    "INSERT INTO passkeys (",
    passkey_columns!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
     WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $14) < $15"
);
pub const RENAME_PASSKEY: &str = concat!(
    "UPDATE passkeys SET name = $1, updated_at = $2 WHERE id = $3 AND user_id = $4 RETURNING ",
    passkey_columns!()
);
pub const DELETE_PASSKEY: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2";
/// Deleting a passkey revokes the live sessions that passkey made (perhaps by whoever else
/// held it): they must not outlive it. The user's other sessions stay.
pub const REVOKE_PASSKEY_SESSIONS: &str = "UPDATE sessions SET status = 'revoked', updated_at = $1 \
     WHERE user_id = $2 AND passkey_id = $3 AND id <> $4 AND status IN ('active', 'pending') RETURNING id";
/// The live sessions [`REVOKE_PASSKEY_SESSIONS`] would revoke (but none is kept here).
pub const SESSIONS_MADE_BY_PASSKEY: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 AND passkey_id = $2 AND status IN ('active', 'pending') ORDER BY created_at, id"
);
pub const DELETE_PENDING_PASSKEY: &str = "DELETE FROM pending_passkeys WHERE id = $1 AND user_id = $2";
/// A user's own delete, under the operator's lockout rule (docs/protocol.md §21): it deletes
/// only while more than $4 of the user's passkeys exist (1 keeps the last one) and, when the
/// passkey is synced (BS), more than $6 synced ones (1 keeps the last synced one). Counted in
/// the statement itself, after the user's row lock on PostgreSQL, so two concurrent deletes
/// of a user's last two passkeys cannot both pass.
pub const DELETE_PASSKEY_UNLESS_PROTECTED: &str = "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 \
     AND (SELECT COUNT(*) FROM passkeys WHERE user_id = $3) > $4 \
     AND (backup_state = 0 OR (SELECT COUNT(*) FROM passkeys WHERE user_id = $5 AND backup_state <> 0) > $6)";
/// Why a protected delete changed nothing: the passkey's BS flag and how many passkeys its
/// user has (more than one: the last synced one was kept, not the last one).
pub const PROTECTED_PASSKEY: &str = "SELECT backup_state AS bs, (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) AS n \
     FROM passkeys WHERE id = $2 AND user_id = $3";

pub const INSERT_SIGN_IN: &str = concat!(
    "INSERT INTO sign_ins (",
    sign_in_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);
pub const CLIENT_SIGN_IN: &str = "UPDATE clients SET sign_in_id = $1, updated_at = $2 WHERE id = $3";
pub const SIGN_IN_BY_ID: &str =
    concat!("SELECT ", sign_in_columns!(), " FROM sign_ins WHERE id = $1 AND client_id = $2");
/// What an attempt to answer a sign-in's challenge reads, in one statement (one round trip on
/// PostgreSQL for four point reads): the client the request's token names (unprefixed
/// columns), its sign-in `$1` (`si_`), the passkey the assertion names by credential id
/// (`p_`) and that passkey's owner (`u_`), all but the client outer-joined so the caller
/// refuses in its own order. No row: the token names no client.
pub const SIGN_IN_ATTEMPT: &str = concat!(
    "SELECT c.id, c.created_at, c.updated_at, c.last_active_session_id, ",
    sign_in_columns_prefixed!(),
    ", ",
    user_and_passkey_columns_prefixed!(),
    " FROM clients c \
     LEFT JOIN sign_ins si ON si.id = $1 AND si.client_id = c.id \
     LEFT JOIN passkeys p ON p.credential_id = $2 \
     LEFT JOIN users u ON u.id = p.user_id \
     WHERE c.token_hash = $3"
);
pub const SAVE_SIGN_IN_CHALLENGE: &str =
    "UPDATE sign_ins SET status = $1, ch_status = $2, ch_options = $3, ch_state = $4, ch_origin = $5, \
     ch_attempts = 0, ch_expire_at = $6, ch_error = NULL, updated_at = $7 \
     WHERE id = $8 AND client_id = $9 AND status <> 'complete'";
/// Spends the challenge on a failed answer: only the attempt that flips ch_attempts from 0 to
/// 1 on the very challenge it checked (its options carry the random challenge) changes the
/// row, so a challenge is answered once at most, whatever the outcome.
pub const FAIL_SIGN_IN: &str = "UPDATE sign_ins SET ch_attempts = ch_attempts + 1, ch_status = $1, ch_error = $2, \
     ch_state = NULL, updated_at = $3 \
     WHERE id = $4 AND client_id = $5 AND ch_options = $6 AND ch_attempts = 0 AND ch_state IS NOT NULL \
     AND status = 'needs_first_factor'";
/// Written first in `complete_sign_in`, so SQLite takes its write lock at once. It spends the
/// challenge as [`FAIL_SIGN_IN`] does: the same conditions, so of two answers to one challenge
/// at most one changes the row, and only if the challenge is still the one verified. A
/// completed sign-in is over: its `abandon_at` becomes now, so the purge's grace for finished
/// sign-ins counts from its completion (`SignIn::complete`).
pub const CLOSE_SIGN_IN: &str = "UPDATE sign_ins SET status = 'complete', ch_status = 'verified', ch_state = NULL, \
     ch_attempts = ch_attempts + 1, user_id = $1, created_session_id = $2, updated_at = $3, abandon_at = $4 \
     WHERE id = $5 AND client_id = $6 AND ch_options = $7 AND ch_attempts = 0 AND ch_state IS NOT NULL \
     AND status = 'needs_first_factor'";
/// Matches only if nobody signed in with this passkey since verification read its counter.
pub const COUNT_PASSKEY_USE: &str = "UPDATE passkeys SET credential = $1, sign_count = $2, backup_eligible = $3, \
     backup_state = $4, last_used_at = $5, updated_at = $6 WHERE id = $7 AND sign_count = $8";
/// Single-session mode, without check-then-act: the client's newest session replaces any
/// other that is still live (two sign-ins completing at once on one client). Runs after the
/// client's row is written in the same transaction, which serialises per client on
/// PostgreSQL, so the second of two racing transactions sees the first one's session.
pub const REPLACE_OTHER_SESSIONS: &str = "UPDATE sessions SET status = 'replaced', updated_at = $1 \
     WHERE client_id = $2 AND id <> $3 AND status IN ('active', 'pending')";
pub const USER_SIGNED_IN: &str = "UPDATE users SET last_sign_in_at = $1, updated_at = $2 WHERE id = $3";

/// A client's whole snapshot in one statement, so that it reads one snapshot of the database
/// without a transaction, in one round trip on PostgreSQL: the client (found by `$where`)
/// with its current sign-in and sign-up (columns prefixed `si_`, `su_`), then its live
/// sessions (`s_`), each with its user (`u_`) and the user's passkeys (`p_`), one row per
/// passkey. Outer joins leave the prefixed `id` NULL where there is nothing.
macro_rules! client_snapshot {
    ($where:literal) => {
        concat!(
            "SELECT c.id, c.created_at, c.updated_at, c.last_active_session_id, ",
            sign_in_columns_prefixed!(),
            ", su.id AS su_id, su.client_id AS su_client_id, su.username AS su_username, \
             su.created_user_id AS su_created_user_id, su.created_session_id AS su_created_session_id, \
             su.created_at AS su_created_at, ",
            session_columns_prefixed!(),
            ", ",
            user_and_passkey_columns_prefixed!(),
            " FROM clients c \
             LEFT JOIN sign_ins si ON si.id = c.sign_in_id AND si.client_id = c.id \
             LEFT JOIN sign_ups su ON su.id = c.sign_up_id AND su.client_id = c.id \
             LEFT JOIN sessions s ON s.client_id = c.id AND s.status IN ('active', 'pending') \
             LEFT JOIN users u ON u.id = s.user_id \
             LEFT JOIN passkeys p ON p.user_id = u.id \
             WHERE ",
            $where,
            " ORDER BY s.created_at, s.id, p.created_at, p.id"
        )
    };
}
pub const CLIENT_SNAPSHOT: &str = client_snapshot!("c.id = $1");
/// [`CLIENT_SNAPSHOT`] of the client a token names: what a request reads first when its
/// answer may be the client as it is (a touch that writes nothing, `GET /client`), so that
/// finding the client and reading it are one statement, not two.
pub const CLIENT_SNAPSHOT_BY_TOKEN: &str = client_snapshot!("c.token_hash = $1");
/// The client a token names with the session a request names (the client's last active one
/// when `$1` is NULL) and its user, in one statement: one round trip on PostgreSQL for what
/// were two or three point reads. The session is joined only if it is that client's, so
/// "sessions are keyed by client" holds in SQL. Columns as in [`CLIENT_SNAPSHOT`].
pub const CLIENT_AND_SESSION: &str = concat!(
    "SELECT c.id, c.created_at, c.updated_at, c.last_active_session_id, ",
    session_columns_prefixed!(),
    ", u.id AS u_id, u.username AS u_username, u.webauthn_handle AS u_webauthn_handle, u.created_at AS u_created_at, \
     u.updated_at AS u_updated_at, u.last_sign_in_at AS u_last_sign_in_at \
     FROM clients c \
     LEFT JOIN sessions s ON s.id = COALESCE($1, c.last_active_session_id) AND s.client_id = c.id \
     LEFT JOIN users u ON u.id = s.user_id \
     WHERE c.token_hash = $2"
);
pub const SESSION_BY_ID: &str = concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1");
pub const TOUCH_SESSION: &str = "UPDATE sessions SET last_active_at = $1, updated_at = $2 WHERE id = $3";
pub const END_SESSION: &str = "UPDATE sessions SET status = $1, updated_at = $2 \
     WHERE id = $3 AND client_id = $4 AND status IN ('active', 'pending')";
pub const CLIENT_SIGNED_OUT_OF: &str =
    "UPDATE clients SET last_active_session_id = NULL, sign_in_id = NULL, sign_up_id = NULL, updated_at = $1 \
     WHERE id = $2 AND last_active_session_id = $3";
pub const END_CLIENT_SESSIONS: &str = concat!(
    "UPDATE sessions SET status = $1, updated_at = $2 WHERE client_id = $3 AND status IN ('active', 'pending') RETURNING ",
    session_columns!()
);
pub const CLIENT_SIGNED_OUT: &str =
    "UPDATE clients SET last_active_session_id = NULL, sign_in_id = NULL, sign_up_id = NULL, updated_at = $1 WHERE id = $2";

pub const SIGNING_KEYS: &str = "SELECT kid, alg, private_pkcs8, public_raw, created_at, retired_at FROM signing_keys \
     ORDER BY created_at, kid";
/// The first live key of its algorithm: concurrent first starts keep one (or, racing on
/// PostgreSQL, both, and every node then signs with the same newest).
pub const INSERT_FIRST_SIGNING_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_pkcs8, public_raw, created_at) \
     SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $6 AND retired_at IS NULL)";
pub const RETIRE_SIGNING_KEYS: &str = "UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND retired_at IS NULL";
pub const INSERT_SIGNING_KEY: &str =
    "INSERT INTO signing_keys (kid, alg, private_pkcs8, public_raw, created_at) VALUES ($1, $2, $3, $4, $5)";

pub const INSERT_SECRET_KEY: &str =
    "INSERT INTO secret_keys (id, key_hash, hint, label, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const SECRET_KEYS: &str =
    "SELECT id, key_hash, hint, label, created_at, revoked_at FROM secret_keys ORDER BY created_at, id";
pub const LIVE_SECRET_KEY: &str = "SELECT id, key_hash, hint, label, created_at, revoked_at FROM secret_keys \
     WHERE key_hash = $1 AND revoked_at IS NULL";
pub const REVOKE_SECRET_KEY: &str = "UPDATE secret_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

/// A user (unprefixed columns) with their metadata (`m_`, `m_id` NULL when none was written)
/// and passkeys (`p_`), one row per passkey: the Backend API's user in one statement.
macro_rules! user_details_columns {
    () => {
        "u.id, u.username, u.webauthn_handle, u.created_at, u.updated_at, u.last_sign_in_at, \
         m.user_id AS m_id, m.public AS m_public, m.private AS m_private, m.unsafe AS m_unsafe, \
         p.id AS p_id, p.user_id AS p_user_id, p.credential_id AS p_credential_id, p.name AS p_name, p.aaguid AS p_aaguid, \
         p.credential AS p_credential, p.sign_count AS p_sign_count, p.backup_eligible AS p_backup_eligible, \
         p.backup_state AS p_backup_state, p.created_at AS p_created_at, p.updated_at AS p_updated_at, \
         p.last_used_at AS p_last_used_at, p.prf_enabled AS p_prf_enabled"
    };
}

/// One page of users with their details ([`user_details_columns`]): the page is chosen in
/// the subquery, so LIMIT counts users, not rows. `$1` NULL lists everyone; else a
/// lower-case `LIKE` pattern on username or id.
pub const USERS_NEWEST_FIRST: &str = concat!(
    "SELECT ",
    user_details_columns!(),
    " FROM (SELECT * FROM users \
     WHERE ($1 IS NULL OR LOWER(username) LIKE $2 ESCAPE '\\' OR LOWER(id) LIKE $3 ESCAPE '\\') \
     ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) u \
     LEFT JOIN user_metadata m ON m.user_id = u.id LEFT JOIN passkeys p ON p.user_id = u.id \
     ORDER BY u.created_at DESC, u.id DESC, p.created_at, p.id"
);
pub const USERS_OLDEST_FIRST: &str = concat!(
    "SELECT ",
    user_details_columns!(),
    " FROM (SELECT * FROM users \
     WHERE ($1 IS NULL OR LOWER(username) LIKE $2 ESCAPE '\\' OR LOWER(id) LIKE $3 ESCAPE '\\') \
     ORDER BY created_at, id LIMIT $4 OFFSET $5) u \
     LEFT JOIN user_metadata m ON m.user_id = u.id LEFT JOIN passkeys p ON p.user_id = u.id \
     ORDER BY u.created_at, u.id, p.created_at, p.id"
);
pub const USER_DETAILS: &str = concat!(
    "SELECT ",
    user_details_columns!(),
    " FROM users u LEFT JOIN user_metadata m ON m.user_id = u.id LEFT JOIN passkeys p ON p.user_id = u.id \
     WHERE u.id = $1 ORDER BY p.created_at, p.id"
);
pub const COUNT_USERS: &str = "SELECT COUNT(*) AS n FROM users \
     WHERE ($1 IS NULL OR LOWER(username) LIKE $2 ESCAPE '\\' OR LOWER(id) LIKE $3 ESCAPE '\\')";
pub const USER_METADATA: &str = "SELECT public, private, unsafe FROM user_metadata WHERE user_id = $1";
pub const UPSERT_USER_METADATA: &str = "INSERT INTO user_metadata (user_id, public, private, unsafe, updated_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
     public = excluded.public, private = excluded.private, unsafe = excluded.unsafe, updated_at = excluded.updated_at";
pub const USER_UPDATED: &str = "UPDATE users SET updated_at = $1 WHERE id = $2";
/// A deleted user's live sessions end; their clients forget them as their active one.
pub const REMOVE_USER_SESSIONS: &str = concat!(
    "UPDATE sessions SET status = 'removed', updated_at = $1 WHERE user_id = $2 AND status IN ('active', 'pending') RETURNING ",
    session_columns!()
);
pub const CLIENTS_FORGET_USER: &str = "UPDATE clients SET last_active_session_id = NULL, updated_at = $1 \
     WHERE id IN (SELECT client_id FROM sessions WHERE user_id = $2) \
     AND last_active_session_id IN (SELECT id FROM sessions WHERE user_id = $3)";
pub const DELETE_PENDING_PASSKEYS_OF_USER: &str = "DELETE FROM pending_passkeys WHERE user_id = $1";
pub const DELETE_PASSKEYS_OF_USER: &str = "DELETE FROM passkeys WHERE user_id = $1";
pub const DELETE_SIGN_IN_TOKENS_OF_USER: &str = "DELETE FROM sign_in_tokens WHERE user_id = $1";
pub const DELETE_USER_METADATA: &str = "DELETE FROM user_metadata WHERE user_id = $1";
pub const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

/// Absent filters bind as NULL and match everything (each filter is bound twice).
pub const SESSIONS_PAGE: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE ($1 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $4) AND ($5 IS NULL OR status = $6) \
     ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
);
pub const COUNT_SESSIONS: &str = "SELECT COUNT(*) AS n FROM sessions \
     WHERE ($1 IS NULL OR user_id = $2) AND ($3 IS NULL OR client_id = $4) AND ($5 IS NULL OR status = $6)";
pub const REVOKE_SESSION: &str = concat!(
    "UPDATE sessions SET status = 'revoked', updated_at = $1 WHERE id = $2 AND status IN ('active', 'pending') RETURNING ",
    session_columns!()
);
pub const CLIENT_FORGETS_SESSION: &str =
    "UPDATE clients SET last_active_session_id = NULL, updated_at = $1 WHERE id = $2 AND last_active_session_id = $3";

pub const INSERT_SIGN_IN_TOKEN: &str = "INSERT INTO sign_in_tokens (id, user_id, token_hash, status, created_at, updated_at, expire_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const SIGN_IN_TOKEN_BY_HASH: &str = "SELECT id, user_id, token_hash, status, created_at, updated_at, expire_at \
     FROM sign_in_tokens WHERE token_hash = $1";
pub const REVOKE_SIGN_IN_TOKEN: &str = "UPDATE sign_in_tokens SET status = 'revoked', updated_at = $1 \
     WHERE id = $2 AND status = 'pending' \
     RETURNING id, user_id, token_hash, status, created_at, updated_at, expire_at";
pub const SIGN_IN_TOKEN_BY_ID: &str = "SELECT id, user_id, token_hash, status, created_at, updated_at, expire_at \
     FROM sign_in_tokens WHERE id = $1";
/// Spends a ticket: only the redemption that flips it from pending, before it expires, for
/// the user its session names, changes the row (`SignInToken::is_redeemable`'s rule).
pub const REDEEM_SIGN_IN_TOKEN: &str = "UPDATE sign_in_tokens SET status = 'accepted', updated_at = $1 \
     WHERE id = $2 AND user_id = $3 AND status = 'pending' AND expire_at > $4";

pub const INSERT_AUDIT_EVENT: &str = "INSERT INTO audit_events \
     (at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, user_agent, error_code, secret_key_id, \
     operator_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// Absent filters bind as NULL and match everything (each filter is bound twice).
pub const AUDIT_EVENTS: &str = "SELECT id, at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, \
     user_agent, error_code, secret_key_id, operator_id FROM audit_events \
     WHERE ($1 IS NULL OR user_id = $2) AND ($3 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $6) \
     AND ($7 IS NULL OR event = $8) \
     ORDER BY at DESC, id DESC LIMIT $9 OFFSET $10";
/// How many lines [`AUDIT_EVENTS`]' filters select (the console's pagination).
pub const COUNT_AUDIT_EVENTS: &str = "SELECT COUNT(*) AS n FROM audit_events \
     WHERE ($1 IS NULL OR user_id = $2) AND ($3 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $6) \
     AND ($7 IS NULL OR event = $8)";

pub const HIT_RATE_LIMIT: &str = "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1) \
     ON CONFLICT (key) DO UPDATE SET \
       hits = CASE WHEN rate_limits.window_start = $3 THEN rate_limits.hits + 1 ELSE 1 END, \
       window_start = $4 \
     RETURNING hits";
pub const HIT_RATE_LIMITS: &str = "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1), ($3, $4, 1) \
     ON CONFLICT (key) DO UPDATE SET \
       hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END, \
       window_start = excluded.window_start \
     RETURNING key, hits";

pub const PURGE_PENDING_PASSKEYS: &str = "DELETE FROM pending_passkeys WHERE expire_at < $1";
/// Abandoned sign-ins at once; completed ones (a client shows its latest) the grace period
/// after completing (completion sets `abandon_at`).
pub const PURGE_SIGN_INS: &str =
    "DELETE FROM sign_ins WHERE abandon_at < $1 AND (status <> 'complete' OR abandon_at < $2)";
pub const PURGE_ENDED_SESSIONS: &str =
    "DELETE FROM sessions WHERE updated_at < $1 AND status NOT IN ('active', 'pending')";
/// Past their lifetime, or unused for longer than their idle timeout, before the grace period.
pub const PURGE_EXPIRED_SESSIONS: &str =
    "DELETE FROM sessions WHERE expire_at < $1 OR (idle_timeout IS NOT NULL AND last_active_at + idle_timeout < $2)";
pub const PURGE_SIGN_UPS: &str = "DELETE FROM sign_ups WHERE created_at < $1";
/// Clients untouched for the grace period with no live session: a browser that comes back
/// later is simply a new client.
pub const PURGE_DEAD_CLIENTS: &str = "DELETE FROM clients WHERE updated_at < $1 AND NOT EXISTS \
     (SELECT 1 FROM sessions s WHERE s.client_id = clients.id AND s.status IN ('active', 'pending') AND s.expire_at > $2 \
     AND (s.idle_timeout IS NULL OR s.last_active_at + s.idle_timeout > $3))";
pub const PURGE_AUDIT_EVENTS: &str = "DELETE FROM audit_events WHERE at < $1";
/// Tickets accepted or revoked, and pending ones past their expiry, after the grace period.
pub const PURGE_SIGN_IN_TOKENS: &str =
    "DELETE FROM sign_in_tokens WHERE updated_at < $1 AND (status <> 'pending' OR expire_at < $2)";
pub const PURGE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE window_start < $1";

pub const INSERT_HANDSHAKE_NONCE: &str =
    "INSERT INTO handshake_nonces (nonce_hash, grant_json, created_at, expire_at) VALUES ($1, $2, $3, $4)";
/// Single use is this statement: of two takers, one deletes the row and the other finds none.
pub const TAKE_HANDSHAKE_NONCE: &str = "DELETE FROM handshake_nonces WHERE nonce_hash = $1 RETURNING grant_json, expire_at";
pub const PURGE_HANDSHAKE_NONCES: &str = "DELETE FROM handshake_nonces WHERE expire_at < $1";

// ---- reverification and session use (docs/protocol.md §16) --------------------------------

/// A token request records the session's use (idle timeout), only while the session is live.
pub const RECORD_SESSION_USE: &str = "UPDATE sessions SET last_active_at = $1 \
     WHERE id = $2 AND status IN ('active', 'pending') AND last_active_at < $3";
macro_rules! session_verification_columns {
    () => {
        "session_id, id, level, complete, ch_status, ch_options, ch_state, ch_origin, ch_attempts, ch_expire_at, \
         ch_error, created_at, updated_at"
    };
}
/// One verification per session: a new one replaces the last.
pub const DELETE_SESSION_VERIFICATION: &str = "DELETE FROM session_verifications WHERE session_id = $1";
pub const INSERT_SESSION_VERIFICATION: &str = concat!(
    "INSERT INTO session_verifications (",
    session_verification_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);
pub const SESSION_VERIFICATION: &str =
    concat!("SELECT ", session_verification_columns!(), " FROM session_verifications WHERE session_id = $1");
/// `prepare_first_factor`: a new challenge, only on the verification the flow read and only
/// while it is incomplete.
pub const SAVE_SESSION_VERIFICATION_CHALLENGE: &str = "UPDATE session_verifications SET ch_status = $1, ch_options = $2, \
     ch_state = $3, ch_origin = $4, ch_attempts = 0, ch_expire_at = $5, ch_error = NULL, updated_at = $6 \
     WHERE session_id = $7 AND id = $8 AND complete = 0";
/// A failed answer spends the challenge, as [`FAIL_SIGN_IN`] does for a sign-in's.
pub const FAIL_SESSION_VERIFICATION: &str = "UPDATE session_verifications SET ch_attempts = ch_attempts + 1, \
     ch_status = $1, ch_error = $2, ch_state = NULL, updated_at = $3 \
     WHERE session_id = $4 AND ch_options = $5 AND ch_attempts = 0 AND ch_state IS NOT NULL AND complete = 0";
/// A verified answer spends the challenge, on the same conditions.
pub const CLOSE_SESSION_VERIFICATION: &str = "UPDATE session_verifications SET complete = 1, ch_status = 'verified', \
     ch_state = NULL, ch_attempts = ch_attempts + 1, updated_at = $1 \
     WHERE session_id = $2 AND id = $3 AND ch_options = $4 AND ch_attempts = 0 AND ch_state IS NOT NULL AND complete = 0";
/// The session's user proved the first factor now; only a live session.
pub const SESSION_REVERIFIED: &str = "UPDATE sessions SET first_factor_verified_at = $1, last_active_at = $2, updated_at = $3 \
     WHERE id = $4 AND status IN ('active', 'pending')";
pub const PASSKEY_BY_CREDENTIAL: &str = concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1");
/// Verifications are short-lived: kept a day after their last change, or while their session is.
pub const PURGE_SESSION_VERIFICATIONS: &str = "DELETE FROM session_verifications WHERE updated_at < $1";
// ---- webhooks (docs/protocol.md §15) ------------------------------------------------------

/// The outbox, written in the transaction of the change an event reports: the event only
/// if some enabled endpoint wants its type (`$5` is `%,<type>,%`), so an instance without
/// endpoints stores nothing; then one pending delivery per such endpoint, due at once, if
/// the event was stored (on PostgreSQL each statement sees the endpoints as they are when it
/// runs: one added between the two must not get a delivery of an event that is not there).
pub const INSERT_WEBHOOK_EVENT: &str = "INSERT INTO webhook_events (id, event_type, payload, created_at) \
     SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM webhook_endpoints \
     WHERE enabled = 1 AND (event_types IS NULL OR event_types LIKE $5))";
pub const INSERT_WEBHOOK_DELIVERIES: &str =
    "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at) \
     SELECT CAST($1 AS TEXT) || ':' || id, $2, id, 'pending', 0, $3, $4, $5 FROM webhook_endpoints \
     WHERE enabled = 1 AND (event_types IS NULL OR event_types LIKE $6) \
     AND EXISTS (SELECT 1 FROM webhook_events WHERE id = $7)";

pub const INSERT_WEBHOOK_ENDPOINT: &str =
    "INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
pub const WEBHOOK_ENDPOINTS: &str = "SELECT * FROM webhook_endpoints ORDER BY created_at, id";
pub const DELETE_WEBHOOK_ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE id = $1";
pub const ANY_WEBHOOK_ENDPOINT: &str = "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE enabled = 1";

/// Due pending deliveries with what sending one needs, oldest due first.
pub const DUE_WEBHOOK_DELIVERIES: &str =
    "SELECT d.id, d.event_id, d.endpoint_id, d.attempts, d.next_attempt_at, e.payload, e.created_at AS event_created_at, \
     p.url, p.secret FROM webhook_deliveries d \
     JOIN webhook_events e ON e.id = d.event_id JOIN webhook_endpoints p ON p.id = d.endpoint_id \
     WHERE d.status = 'pending' AND d.next_attempt_at <= $1 ORDER BY d.next_attempt_at, d.id LIMIT $2";
/// The lease: a delivery is claimed by moving its due time past the lease, conditionally on
/// the due time the claimer read. Of two nodes that read the same row, one changes it.
pub const CLAIM_WEBHOOK_DELIVERY: &str = "UPDATE webhook_deliveries SET next_attempt_at = $1, updated_at = $2 \
     WHERE id = $3 AND status = 'pending' AND next_attempt_at = $4";
/// An attempt's outcome: delivered, due again later, or failed for good.
pub const FINISH_WEBHOOK_DELIVERY: &str = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, \
     next_attempt_at = $2, last_error = $3, updated_at = $4 WHERE id = $5 AND status = 'pending'";
/// Replay: a delivery (by its id) or every delivery of an event (by its msg id) is pending
/// again from the first attempt; the event, and so its msg id and body, is unchanged.
pub const REPLAY_WEBHOOK: &str = "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
     last_error = NULL, updated_at = $2 WHERE id = $3 OR event_id = $4";
pub const WEBHOOK_DELIVERIES: &str =
    "SELECT d.*, e.event_type FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
     WHERE ($1 IS NULL OR d.status = $2) ORDER BY d.created_at DESC, d.id DESC LIMIT $3";
pub const WEBHOOK_EVENT_COUNT: &str = "SELECT COUNT(*) AS n FROM webhook_events";
pub const PURGE_WEBHOOK_DELIVERIES: &str =
    "DELETE FROM webhook_deliveries WHERE (status = 'delivered' AND updated_at < $1) OR (status = 'failed' AND updated_at < $2)";
/// Events none of whose deliveries is left (all purged, or their endpoints removed).
pub const PURGE_WEBHOOK_EVENTS: &str = "DELETE FROM webhook_events WHERE created_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = webhook_events.id)";

/// Operators (the admin console's role), granted to an existing user only.
pub const GRANT_OPERATOR: &str = "INSERT INTO operators (user_id, granted_at) SELECT id, $1 FROM users WHERE id = $2 \
     ON CONFLICT (user_id) DO NOTHING";
/// Revoking the role, and deleting a user (who takes their role with them).
pub const REVOKE_OPERATOR: &str = "DELETE FROM operators WHERE user_id = $1";
pub const OPERATORS: &str = "SELECT o.granted_at, u.id, u.username, u.webauthn_handle, u.created_at, u.updated_at, \
     u.last_sign_in_at FROM operators o JOIN users u ON u.id = o.user_id ORDER BY o.granted_at";
/// A session and whether its user holds the operator role, in one read: what every Backend
/// API call an operator's session token makes is checked against.
pub const OPERATOR_SESSION: &str = concat!(
    "SELECT ", session_columns!(), ", CAST(CASE WHEN EXISTS (SELECT 1 FROM operators o WHERE o.user_id = sessions.user_id) \
     THEN 1 ELSE 0 END AS BIGINT) AS is_operator FROM sessions WHERE id = $1"
);
// Operations (docs/protocol.md §19): what /readyz and a metrics scrape read.
/// The schema version the database is at: the newest migration sqlx recorded as applied.
pub const SCHEMA_VERSION_APPLIED: &str =
    "SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations WHERE success";
/// The gauges a scrape shows: live sessions (the rule of `Session::is_live`), and webhook
/// deliveries still to make.
pub const OPERATIONS_GAUGES: &str = "SELECT \
     (SELECT COUNT(*) FROM sessions WHERE status IN ('active', 'pending') AND expire_at > $1 \
     AND (idle_timeout IS NULL OR last_active_at + idle_timeout > $2)) AS live_sessions, \
     (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending') AS webhook_backlog";

/// Every statement: the SQLite store caches them all prepared, and a test checks their
/// parameter numbering.
pub const ALL: &[&str] = &[
    INSERT_CLIENT, CLIENT_BY_TOKEN, ROTATE_CLIENT_TOKEN, SET_ACTIVE_SESSION, SIGN_CLIENT_IN, SIGN_CLIENT_OUT_ROTATED, INSERT_USER, INSERT_SIGN_UP,
    INSERT_SESSION, CLIENT_SIGNED_UP, USER_BY_ID, USER_BY_USERNAME, SIGN_UP_BY_ID, PASSKEYS_OF_USER,
    INSERT_PENDING_PASSKEY_UNDER_QUOTA, REPLACE_CLIENT_PENDING_PASSKEYS, PENDING_PASSKEY_BY_ID, LOCK_USER,
    INSERT_PASSKEY_UNDER_QUOTA, RENAME_PASSKEY, DELETE_PASSKEY, REVOKE_PASSKEY_SESSIONS, SESSIONS_MADE_BY_PASSKEY, DELETE_PENDING_PASSKEY, INSERT_SIGN_IN, CLIENT_SIGN_IN,
    DELETE_PASSKEY_UNLESS_PROTECTED, PROTECTED_PASSKEY,
    SIGN_IN_BY_ID, SIGN_IN_ATTEMPT, SAVE_SIGN_IN_CHALLENGE, FAIL_SIGN_IN, CLOSE_SIGN_IN, COUNT_PASSKEY_USE,
    REPLACE_OTHER_SESSIONS, USER_SIGNED_IN, CLIENT_SNAPSHOT, CLIENT_SNAPSHOT_BY_TOKEN, CLIENT_AND_SESSION, SESSION_BY_ID, TOUCH_SESSION, END_SESSION, CLIENT_SIGNED_OUT_OF,
    END_CLIENT_SESSIONS, CLIENT_SIGNED_OUT, SIGNING_KEYS, INSERT_FIRST_SIGNING_KEY, RETIRE_SIGNING_KEYS, INSERT_SIGNING_KEY,
    INSERT_SECRET_KEY, SECRET_KEYS, LIVE_SECRET_KEY, REVOKE_SECRET_KEY, USERS_NEWEST_FIRST, USERS_OLDEST_FIRST, USER_DETAILS,
    COUNT_USERS, USER_METADATA, UPSERT_USER_METADATA, USER_UPDATED, REMOVE_USER_SESSIONS, CLIENTS_FORGET_USER,
    DELETE_PENDING_PASSKEYS_OF_USER, DELETE_PASSKEYS_OF_USER, DELETE_SIGN_IN_TOKENS_OF_USER, DELETE_USER_METADATA,
    DELETE_USER, SESSIONS_PAGE, COUNT_SESSIONS, REVOKE_SESSION, CLIENT_FORGETS_SESSION, INSERT_SIGN_IN_TOKEN,
    SIGN_IN_TOKEN_BY_HASH, REVOKE_SIGN_IN_TOKEN, SIGN_IN_TOKEN_BY_ID, REDEEM_SIGN_IN_TOKEN,
    INSERT_AUDIT_EVENT, AUDIT_EVENTS,
    HIT_RATE_LIMIT, HIT_RATE_LIMITS, PURGE_PENDING_PASSKEYS, PURGE_SIGN_INS, PURGE_RATE_LIMITS,
    PURGE_ENDED_SESSIONS, PURGE_EXPIRED_SESSIONS, PURGE_SIGN_UPS, PURGE_DEAD_CLIENTS, PURGE_AUDIT_EVENTS,
    INSERT_HANDSHAKE_NONCE, TAKE_HANDSHAKE_NONCE, PURGE_HANDSHAKE_NONCES, PURGE_SIGN_IN_TOKENS,
    RECORD_SESSION_USE, DELETE_SESSION_VERIFICATION, INSERT_SESSION_VERIFICATION, SESSION_VERIFICATION,
    SAVE_SESSION_VERIFICATION_CHALLENGE, FAIL_SESSION_VERIFICATION, CLOSE_SESSION_VERIFICATION, SESSION_REVERIFIED,
    PASSKEY_BY_CREDENTIAL, PURGE_SESSION_VERIFICATIONS,
    INSERT_WEBHOOK_EVENT, INSERT_WEBHOOK_DELIVERIES, INSERT_WEBHOOK_ENDPOINT, WEBHOOK_ENDPOINTS, DELETE_WEBHOOK_ENDPOINT,
    ANY_WEBHOOK_ENDPOINT, DUE_WEBHOOK_DELIVERIES, CLAIM_WEBHOOK_DELIVERY, FINISH_WEBHOOK_DELIVERY, REPLAY_WEBHOOK,
    WEBHOOK_DELIVERIES, WEBHOOK_EVENT_COUNT, PURGE_WEBHOOK_DELIVERIES, PURGE_WEBHOOK_EVENTS,
    COUNT_AUDIT_EVENTS, GRANT_OPERATOR, REVOKE_OPERATOR, OPERATORS, OPERATOR_SESSION,
    OPERATIONS_GAUGES,
];
