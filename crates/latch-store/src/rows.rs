//! Reading records out of result rows, shared by both drivers: tokio-postgres's `Row` (PostgreSQL)
//! and rusqlite's `Row` (SQLite). Each driver only says how to read one column; what the
//! columns mean lives here once. Operations see rows as `&dyn Columns`, so one mapping
//! function serves both without being generic over them.

use latch_core::model::{
    AuthenticatorAttachment, Client, Passkey, PasskeyChallenge, PendingPasskey, Session, SessionSource, SessionStatus, SessionVerification, SignIn,
    SignInStatus, SignUp, User, VerificationLevel, VerificationStatus,
};
use latch_core::webauthn::{AuthenticationState, Credential, RegistrationState};
use uuid::Uuid;

use latch_core::backend::{SecretKey, SignInToken, TicketStatus, UserMetadata};

use crate::{AuditEvent, StoreError, StoreResult, StoredSigningKey};

/// One result row, read by column name. Integers are i64 and flags 0/1 in both dialects.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i64>;
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>>;
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>>;
}

impl Columns for tokio_postgres::Row {
    fn text(&self, col: &str) -> StoreResult<String> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(self.try_get(col)?)
    }
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
        Ok(self.try_get(col)?)
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.try_get(col)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        Ok(self.get(col)?)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.get(col)?)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        Ok(self.get(col)?)
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        Ok(self.get(col)?)
    }
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
        Ok(self.get(col)?)
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get(col)?)
    }
}

/// The columns of a joined table, named with a prefix (`si_id` for the sign-in's `id`), read
/// under their own names, so that one mapping serves a table read alone or joined.
pub(crate) struct Prefixed<'r> {
    pub row: &'r dyn Columns,
    pub prefix: &'static str,
}

impl Prefixed<'_> {
    /// Reads `col` under its prefixed name, spelled on the stack: a snapshot reads some 50
    /// prefixed columns per row, on SQLite's hot path.
    fn read<T>(&self, col: &str, read: impl FnOnce(&dyn Columns, &str) -> StoreResult<T>) -> StoreResult<T> {
        let mut buf = [0u8; 64];
        let (prefix, col_bytes) = (self.prefix.as_bytes(), col.as_bytes());
        let len = prefix.len() + col_bytes.len();
        if len > buf.len() {
            return read(self.row, &[self.prefix, col].concat());
        }
        buf[..prefix.len()].copy_from_slice(prefix);
        buf[prefix.len()..len].copy_from_slice(col_bytes);
        match std::str::from_utf8(&buf[..len]) {
            Ok(name) => read(self.row, name),
            // Unreachable (two str joined), but no reason to panic over it.
            Err(_) => read(self.row, &[self.prefix, col].concat()),
        }
    }
}

impl Columns for Prefixed<'_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.read(col, |row, name| row.text(name))
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.read(col, |row, name| row.opt_text(name))
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.read(col, |row, name| row.int(name))
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.read(col, |row, name| row.opt_int(name))
    }
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.read(col, |row, name| row.blob(name))
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read(col, |row, name| row.opt_blob(name))
    }
}

/// The joined record under `prefix`, or `None` when the outer join found none (its `id`
/// is NULL).
pub(crate) fn joined<T>(
    row: &dyn Columns,
    prefix: &'static str,
    map: impl FnOnce(&dyn Columns) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    let joined = Prefixed { row, prefix };
    match joined.opt_text("id")? {
        Some(_) => Ok(Some(map(&joined)?)),
        None => Ok(None),
    }
}

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn uuid_from(bytes: &[u8], what: &str) -> StoreResult<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot serialise: {e}")))
}

pub(crate) fn authentication_state(json: &str) -> StoreResult<AuthenticationState> {
    serde_json::from_str(json).map_err(corrupt("authentication state"))
}

pub(crate) fn user(row: &dyn Columns) -> StoreResult<User> {
    Ok(User {
        id: row.text("id")?,
        username: row.text("username")?,
        webauthn_handle: uuid_from(&row.blob("webauthn_handle")?, "webauthn_handle")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        last_sign_in_at: row.opt_int("last_sign_in_at")?,
    })
}

pub(crate) fn passkey(row: &dyn Columns) -> StoreResult<Passkey> {
    let credential: Credential =
        serde_json::from_str(&row.text("credential")?).map_err(corrupt("passkey credential"))?;
    Ok(Passkey {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        credential_id: row.blob("credential_id")?,
        name: row.text("name")?,
        aaguid: row.opt_blob("aaguid")?.map(|a| uuid_from(&a, "aaguid")).transpose()?,
        credential,
        sign_count: u32::try_from(row.int("sign_count")?)
            .map_err(|e| StoreError::Corrupt(format!("sign_count: {e}")))?,
        backup_eligible: row.int("backup_eligible")? != 0,
        backup_state: row.int("backup_state")? != 0,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        last_used_at: row.opt_int("last_used_at")?,
        prf_enabled: row.opt_int("prf_enabled")?.map(|v| v != 0),
    })
}

pub(crate) fn pending_passkey(row: &dyn Columns) -> StoreResult<PendingPasskey> {
    let state: RegistrationState =
        serde_json::from_str(&row.text("state")?).map_err(corrupt("registration state"))?;
    Ok(PendingPasskey {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        client_id: row.text("client_id")?,
        options_json: row.text("options_json")?,
        state,
        origin: row.opt_text("origin")?,
        created_at: row.int("created_at")?,
        expire_at: row.int("expire_at")?,
    })
}

pub(crate) fn client(row: &dyn Columns) -> StoreResult<Client> {
    Ok(Client {
        id: row.text("id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        last_active_session_id: row.opt_text("last_active_session_id")?,
    })
}

pub(crate) fn session(row: &dyn Columns) -> StoreResult<Session> {
    let status = row.text("status")?;
    Ok(Session {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("session status {status:?}")))?,
        tasks: serde_json::from_str(&row.text("tasks")?).map_err(corrupt("session tasks"))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        last_active_at: row.int("last_active_at")?,
        expire_at: row.int("expire_at")?,
        first_factor_verified_at: row.int("first_factor_verified_at")?,
        idle_timeout: row.opt_int("idle_timeout")?,
        made_with: match (row.opt_text("passkey_id")?, row.opt_text("sign_in_token_id")?) {
            (Some(passkey_id), _) => SessionSource::Passkey {
                passkey_id,
                attachment: row.opt_text("authenticator_attachment")?.as_deref().and_then(AuthenticatorAttachment::parse),
            },
            (None, Some(ticket_id)) => SessionSource::Ticket(ticket_id),
            (None, None) => SessionSource::SignUp,
        },
    })
}

/// A passkey challenge kept in `ch_*` columns (a sign-in's, a session verification's).
fn challenge(row: &dyn Columns) -> StoreResult<Option<PasskeyChallenge>> {
    Ok(match row.opt_text("ch_status")? {
        None => None,
        Some(ch_status) => Some(PasskeyChallenge {
            status: VerificationStatus::parse(&ch_status)
                .ok_or_else(|| StoreError::Corrupt(format!("verification status {ch_status:?}")))?,
            options_json: row.opt_text("ch_options")?.unwrap_or_default(),
            state: row.opt_text("ch_state")?.as_deref().map(authentication_state).transpose()?,
            origin: row.opt_text("ch_origin")?,
            attempts: u32::try_from(row.int("ch_attempts")?).unwrap_or(u32::MAX),
            expire_at: row.opt_int("ch_expire_at")?.unwrap_or(0),
            error_code: row.opt_text("ch_error")?,
        }),
    })
}

pub(crate) fn sign_in(row: &dyn Columns) -> StoreResult<SignIn> {
    let status = row.text("status")?;
    let challenge = challenge(row)?;
    Ok(SignIn {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        status: SignInStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("sign-in status {status:?}")))?,
        identifier: row.opt_text("identifier")?,
        user_id: row.opt_text("user_id")?,
        challenge,
        created_session_id: row.opt_text("created_session_id")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        abandon_at: row.int("abandon_at")?,
    })
}

pub(crate) fn session_verification(row: &dyn Columns) -> StoreResult<SessionVerification> {
    let level = row.text("level")?;
    Ok(SessionVerification {
        id: row.text("id")?,
        session_id: row.text("session_id")?,
        level: VerificationLevel::parse(&level)
            .ok_or_else(|| StoreError::Corrupt(format!("verification level {level:?}")))?,
        complete: row.int("complete")? != 0,
        challenge: challenge(row)?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) fn sign_up(row: &dyn Columns) -> StoreResult<SignUp> {
    Ok(SignUp {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        username: row.text("username")?,
        created_user_id: row.text("created_user_id")?,
        created_session_id: row.text("created_session_id")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn signing_key(row: &dyn Columns) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: row.text("kid")?,
        alg: row.text("alg")?,
        private_pkcs8: row.blob("private_pkcs8")?,
        public_raw: row.blob("public_raw")?,
        created_at: row.int("created_at")?,
        retired_at: row.opt_int("retired_at")?,
    })
}

pub(crate) fn secret_key(row: &dyn Columns) -> StoreResult<SecretKey> {
    Ok(SecretKey {
        id: row.text("id")?,
        key_hash: row.blob("key_hash")?,
        hint: row.text("hint")?,
        label: row.text("label")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

pub(crate) fn sign_in_token(row: &dyn Columns) -> StoreResult<SignInToken> {
    let status = row.text("status")?;
    Ok(SignInToken {
        id: row.text("id")?,
        user_id: row.text("user_id")?,
        token_hash: row.blob("token_hash")?,
        status: TicketStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("sign-in token status {status:?}")))?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
        expire_at: row.int("expire_at")?,
    })
}

pub(crate) fn user_metadata(row: &dyn Columns) -> StoreResult<UserMetadata> {
    let read = |col: &str| -> StoreResult<serde_json::Value> {
        serde_json::from_str(&row.text(col)?).map_err(corrupt("user metadata"))
    };
    Ok(UserMetadata { public: read("public")?, private: read("private")?, unsafe_: read("unsafe")? })
}

pub(crate) fn audit_event(row: &dyn Columns) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: row.int("id")?,
        at: row.int("at")?,
        event: row.text("event")?,
        outcome: row.text("outcome")?,
        user_id: row.opt_text("user_id")?,
        session_id: row.opt_text("session_id")?,
        passkey_id: row.opt_text("passkey_id")?,
        client_id: row.opt_text("client_id")?,
        client_ip: row.opt_text("client_ip")?,
        user_agent: row.opt_text("user_agent")?,
        error_code: row.opt_text("error_code")?,
        secret_key_id: row.opt_text("secret_key_id")?,
        operator_id: row.opt_text("operator_id")?,
        webhooks: Vec::new(),
    })
}

pub(crate) fn webhook_endpoint(row: &dyn Columns) -> StoreResult<crate::WebhookEndpoint> {
    let types = row.opt_text("event_types")?;
    Ok(crate::WebhookEndpoint {
        id: row.text("id")?,
        url: row.text("url")?,
        secret: row.text("secret")?,
        event_types: types.map(|t| t.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect()),
        enabled: row.int("enabled")? != 0,
        created_at: row.int("created_at")?,
    })
}

fn count(row: &dyn Columns, col: &str) -> StoreResult<u32> {
    Ok(u32::try_from(row.int(col)?).unwrap_or(u32::MAX))
}

pub(crate) fn claimed_delivery(row: &dyn Columns) -> StoreResult<crate::ClaimedDelivery> {
    Ok(crate::ClaimedDelivery {
        id: row.text("id")?,
        event_id: row.text("event_id")?,
        endpoint_id: row.text("endpoint_id")?,
        attempts: count(row, "attempts")?,
        payload: row.text("payload")?,
        url: row.text("url")?,
        secret: row.text("secret")?,
        lease_until: row.int("next_attempt_at")?,
    })
}

pub(crate) fn webhook_delivery(row: &dyn Columns) -> StoreResult<crate::WebhookDelivery> {
    Ok(crate::WebhookDelivery {
        id: row.text("id")?,
        event_id: row.text("event_id")?,
        event_type: row.text("event_type")?,
        endpoint_id: row.text("endpoint_id")?,
        status: row.text("status")?,
        attempts: count(row, "attempts")?,
        next_attempt_at: row.int("next_attempt_at")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}
