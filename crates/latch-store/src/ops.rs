//! Every store operation, written once for both databases.
//!
//! Each function here is the whole of one [`Store`](crate::Store) method: the statements it
//! runs, in order, and what their changed-row counts mean. It runs against an [`Exec`], a
//! connection already inside the transaction the method needs; [`impl_store!`] binds each
//! `Store` method to its function and to that transaction's
//! [`Access`](crate::exec::Access), and each driver (`sqlite.rs`, `postgres.rs`) invokes it
//! once, so the two databases cannot drift apart: an operation is atomic on both or on
//! neither.
//!
//! A failed condition halfway through a write (a challenge already spent, a counter moved
//! since verification) calls [`Exec::roll_back`] and returns `Ok(false)`: the operation
//! changes nothing, and the caller learns why from the return value, not from an error.
//! A condition whose failure ends nothing else early is written as [`Exec::queue_one`] and
//! read back with [`Exec::held`], which lets PostgreSQL send the statements after it in the
//! same flight.
//!
//! Statements whose result an operation does not read are [`Exec::queue`]d rather than
//! [`Exec::run`]: the order and the meaning are the same on both databases, but PostgreSQL
//! sends queued statements together (one network round trip instead of one each), which is
//! most of what a write costs there.

use latch_core::backend::{MetadataPatch, SecretKey, SignInToken, UserMetadata};
use latch_core::lockout::LastPasskeyProtection;
use latch_core::model::{
    AuthenticatorAttachment, Client, Millis, Passkey, PendingPasskey, ReverificationCompletion, Session, SessionStatus, SessionVerification, SignIn,
    SignInCompletion, SignInFailure, SignUp, User, VerificationStatus,
};

use crate::exec::{Bind, Exec, binds};
use crate::queries as q;
use crate::rows::{self, to_json};
use crate::{
    AuditEvent, AuditQuery, ClientSession, ClientSnapshot, ClientToken, HandshakeNonce, NewClient, PurgePolicy, SessionQuery,
    SessionView, SignInAttempt, StoreError, StoreResult, StoredSigningKey, TicketRedemption, UserDetails, UserQuery, Written,
};
use crate::{ClaimedDelivery, DeliveryOutcome, WebhookDelivery, WebhookEndpoint, WebhookEvent};

// ---- pieces several operations share ------------------------------------------------------

async fn insert_client<E: Exec>(tx: &mut E, new: NewClient<'_>) -> StoreResult<()> {
    let c = new.client;
    tx.queue(q::INSERT_CLIENT, binds![&c.id, new.token_hash, c.created_at, c.updated_at, &c.last_active_session_id]).await
}

/// Stores a new client with its first token, or gives a known client a fresh one
/// ([`queue_token_rotation`]; the caller ends with [`require_token_held`]).
async fn hand_out_token<E: Exec>(tx: &mut E, client: ClientToken<'_>) -> StoreResult<()> {
    match client {
        ClientToken::New(new) => insert_client(tx, new).await,
        ClientToken::Rotated { client_id, old_token_hash, token_hash } => {
            queue_token_rotation(tx, client_id, old_token_hash, token_hash).await
        }
    }
}

/// The one rule by which a known client's token is replaced: only if it is still `old`, the
/// token the action was asked with, so that of two actions racing on one client the later
/// changes nothing. A condition ([`Exec::queue_one`]): it goes out with the action's next
/// statements, and the action learns whether it held from [`Exec::held`] (or
/// [`require_token_held`]). Completing a sign-in and signing out write the client's row anyway,
/// so they rotate in that same write, under the same condition ([`q::SIGN_CLIENT_IN`],
/// [`q::SIGN_CLIENT_OUT_ROTATED`]): one statement and one row version fewer each.
async fn queue_token_rotation<E: Exec>(tx: &mut E, client_id: &str, old: &[u8], new: &[u8]) -> StoreResult<()> {
    tx.queue_one(q::ROTATE_CLIENT_TOKEN, binds![new, client_id, old]).await
}

/// Fails the action, which then changes nothing, if its token rotation lost a race. Asked
/// before an action reads a result of its own: after a failed condition those mean nothing.
async fn require_token_held<E: Exec>(tx: &mut E) -> StoreResult<()> {
    if tx.held().await? { Ok(()) } else { Err(StoreError::ClientTokenReplaced) }
}

async fn insert_session<E: Exec>(tx: &mut E, s: &Session) -> StoreResult<()> {
    let tasks = to_json(&s.tasks)?;
    tx.queue(
        q::INSERT_SESSION,
        binds![
            &s.id,
            &s.client_id,
            &s.user_id,
            s.status.as_str(),
            &tasks,
            s.created_at,
            s.updated_at,
            s.last_active_at,
            s.expire_at,
            s.first_factor_verified_at,
            s.idle_timeout,
            s.made_with.passkey_id(),
            s.made_with.ticket_id(),
            s.made_with.attachment().map(AuthenticatorAttachment::as_str)
        ],
    )
    .await
}

async fn insert_audit<E: Exec>(tx: &mut E, e: &AuditEvent) -> StoreResult<()> {
    tx.queue(
        q::INSERT_AUDIT_EVENT,
        binds![
            e.at,
            &e.event,
            &e.outcome,
            &e.user_id,
            &e.session_id,
            &e.passkey_id,
            &e.client_id,
            &e.client_ip,
            &e.user_agent,
            &e.error_code,
            &e.secret_key_id,
            &e.operator_id
        ],
    )
    .await?;
    queue_webhooks(tx, &e.webhooks).await
}

/// Ends a write with its `result` and the client as it is once the write committed.
async fn read_back<E: Exec, T>(tx: &mut E, result: T, client_id: &str) -> StoreResult<Written<T>> {
    tx.commit().await?;
    Ok(Written { result, client: client_snapshot(tx, client_id).await? })
}

// ---- clients ------------------------------------------------------------------------------

pub(crate) async fn create_client<E: Exec>(tx: &mut E, new: NewClient<'_>) -> StoreResult<()> {
    insert_client(tx, new).await
}

pub(crate) async fn client_by_token<E: Exec>(tx: &mut E, token_hash: &[u8]) -> StoreResult<Option<Client>> {
    tx.one(q::CLIENT_BY_TOKEN, binds![token_hash], rows::client).await
}

/// One statement (see [`q::CLIENT_AND_SESSION`]); the token hash is unique, so one row at most.
pub(crate) async fn client_and_session<E: Exec>(
    tx: &mut E,
    token_hash: &[u8],
    session_id: Option<&str>,
) -> StoreResult<Option<ClientSession>> {
    tx.one(q::CLIENT_AND_SESSION, binds![session_id, token_hash], |row| {
        Ok(ClientSession {
            client: rows::client(row)?,
            session: rows::joined(row, "s_", rows::session)?,
            user: rows::joined(row, "u_", rows::user)?,
        })
    })
    .await
}

/// One statement (see [`q::CLIENT_SNAPSHOT`]): its rows repeat the client and each session
/// once per passkey, and are folded back into records here.
pub(crate) async fn client_snapshot<E: Exec>(tx: &mut E, client_id: &str) -> StoreResult<Option<ClientSnapshot>> {
    snapshot_of(tx, q::CLIENT_SNAPSHOT, binds![client_id]).await
}

/// [`client_snapshot`] of the client a token names, in the same one statement.
pub(crate) async fn client_snapshot_by_token<E: Exec>(tx: &mut E, token_hash: &[u8]) -> StoreResult<Option<ClientSnapshot>> {
    snapshot_of(tx, q::CLIENT_SNAPSHOT_BY_TOKEN, binds![token_hash]).await
}

/// A client's snapshot from the rows of `sql`, one of the [`q::CLIENT_SNAPSHOT`] family.
async fn snapshot_of<E: Exec>(tx: &mut E, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<Option<ClientSnapshot>> {
    let mut snapshot: Option<ClientSnapshot> = None;
    tx.all(sql, binds, |row| {
        let snapshot = match &mut snapshot {
            Some(snapshot) => snapshot,
            None => snapshot.insert(ClientSnapshot {
                client: rows::client(row)?,
                sessions: Vec::new(),
                sign_in: rows::joined(row, "si_", rows::sign_in)?,
                sign_up: rows::joined(row, "su_", rows::sign_up)?,
            }),
        };
        let Some(session_id) = row.opt_text("s_id")? else { return Ok(()) };
        let is_new = snapshot.sessions.last().is_none_or(|view| view.session.id != session_id);
        if is_new {
            let session = rows::session(&rows::Prefixed { row, prefix: "s_" })?;
            let user = rows::joined(row, "u_", rows::user)?;
            snapshot.sessions.push(SessionView { session, user, passkeys: Vec::new() });
        }
        if let (Some(view), Some(passkey)) = (snapshot.sessions.last_mut(), rows::joined(row, "p_", rows::passkey)?) {
            view.passkeys.push(passkey);
        }
        Ok(())
    })
    .await?;
    Ok(snapshot)
}

// ---- users --------------------------------------------------------------------------------

pub(crate) async fn sign_up<E: Exec>(
    tx: &mut E,
    client: ClientToken<'_>,
    user: &User,
    sign_up: &SignUp,
    session: &Session,
    audit: &AuditEvent,
) -> StoreResult<()> {
    hand_out_token(tx, client).await?;
    let inserted = tx
        .run(
            q::INSERT_USER,
            binds![
                &user.id,
                &user.username,
                user.webauthn_handle.as_bytes().as_slice(),
                user.created_at,
                user.updated_at,
                user.last_sign_in_at,
                &user.username
            ],
        )
        .await;
    require_token_held(tx).await?;
    match inserted {
        Err(e) if E::is_unique_violation(&e) => return Err(StoreError::Conflict("username")),
        Ok(0) => return Err(StoreError::Conflict("username")),
        other => other?,
    };
    tx.queue(
        q::INSERT_SIGN_UP,
        binds![
            &sign_up.id,
            &sign_up.client_id,
            &sign_up.username,
            &sign_up.created_user_id,
            &sign_up.created_session_id,
            sign_up.created_at
        ],
    )
    .await?;
    insert_session(tx, session).await?;
    tx.queue(q::CLIENT_SIGNED_UP, binds![&session.id, &sign_up.id, session.created_at, &session.client_id]).await?;
    tx.queue(q::REPLACE_OTHER_SESSIONS, binds![session.created_at, &session.client_id, &session.id]).await?;
    insert_audit(tx, audit).await
}

pub(crate) async fn user<E: Exec>(tx: &mut E, id: &str) -> StoreResult<Option<User>> {
    tx.one(q::USER_BY_ID, binds![id], rows::user).await
}

pub(crate) async fn user_by_username<E: Exec>(tx: &mut E, username: &str) -> StoreResult<Option<User>> {
    tx.one(q::USER_BY_USERNAME, binds![username], rows::user).await
}

pub(crate) async fn sign_up_record<E: Exec>(tx: &mut E, client_id: &str, id: &str) -> StoreResult<Option<SignUp>> {
    tx.one(q::SIGN_UP_BY_ID, binds![id, client_id], rows::sign_up).await
}

// ---- passkeys -----------------------------------------------------------------------------

pub(crate) async fn passkeys_of<E: Exec>(tx: &mut E, user_id: &str) -> StoreResult<Vec<Passkey>> {
    tx.all(q::PASSKEYS_OF_USER, binds![user_id], rows::passkey).await
}

pub(crate) async fn create_pending_passkey<E: Exec>(tx: &mut E, p: &PendingPasskey, max_passkeys: u32) -> StoreResult<()> {
    let state = to_json(&p.state)?;
    if !E::SERIALISES_WRITERS {
        // As in save_verified_passkey: the user's row lock orders concurrent registrations.
        tx.run(q::LOCK_USER, binds![&p.user_id]).await?;
    }
    tx.run(q::REPLACE_CLIENT_PENDING_PASSKEYS, binds![&p.user_id, &p.client_id]).await?;
    let inserted = tx
        .run(
            q::INSERT_PENDING_PASSKEY_UNDER_QUOTA,
            binds![
                &p.id,
                &p.user_id,
                &p.client_id,
                &p.options_json,
                &state,
                &p.origin,
                p.created_at,
                p.expire_at,
                &p.user_id,
                &p.user_id,
                p.created_at,
                i64::from(max_passkeys)
            ],
        )
        .await?;
    if inserted == 0 {
        tx.roll_back();
        return Err(StoreError::QuotaExceeded);
    }
    Ok(())
}

pub(crate) async fn pending_passkey<E: Exec>(tx: &mut E, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>> {
    tx.one(q::PENDING_PASSKEY_BY_ID, binds![id, user_id], rows::pending_passkey).await
}

pub(crate) async fn spend_pending_passkey<E: Exec>(tx: &mut E, user_id: &str, id: &str) -> StoreResult<bool> {
    Ok(tx.run(q::DELETE_PENDING_PASSKEY, binds![id, user_id]).await? == 1)
}

pub(crate) async fn save_verified_passkey<E: Exec>(
    tx: &mut E,
    p: &Passkey,
    max_passkeys: u32,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let credential = to_json(&p.credential)?;
    if !E::SERIALISES_WRITERS {
        // Under READ COMMITTED two registrations of one user could both count room under
        // the quota; the user's row lock orders them.
        tx.queue(q::LOCK_USER, binds![&p.user_id]).await?;
    }
    if tx.run(q::DELETE_PENDING_PASSKEY, binds![&p.id, &p.user_id]).await? != 1 {
        tx.roll_back();
        return Ok(false);
    }
    let aaguid = p.aaguid.map(|a| *a.as_bytes());
    let inserted = tx
        .run(
            q::INSERT_PASSKEY_UNDER_QUOTA,
            binds![
                &p.id,
                &p.user_id,
                &p.credential_id,
                &p.name,
                aaguid.as_ref().map(|a| a.as_slice()),
                &credential,
                i64::from(p.sign_count),
                i64::from(p.backup_eligible),
                i64::from(p.backup_state),
                p.created_at,
                p.updated_at,
                p.last_used_at,
                p.prf_enabled.map(i64::from),
                &p.user_id,
                i64::from(max_passkeys)
            ],
        )
        .await;
    match inserted {
        Err(e) if E::is_unique_violation(&e) => return Err(StoreError::Conflict("passkey")),
        Ok(0) => return Err(StoreError::QuotaExceeded),
        other => other?,
    };
    insert_audit(tx, audit).await?;
    Ok(true)
}

pub(crate) async fn rename_passkey<E: Exec>(
    tx: &mut E,
    user_id: &str,
    id: &str,
    name: &str,
    now: Millis,
    audit: &AuditEvent,
) -> StoreResult<Option<Passkey>> {
    let renamed = tx.one(q::RENAME_PASSKEY, binds![name, now, id, user_id], rows::passkey).await?;
    if renamed.is_some() {
        insert_audit(tx, audit).await?;
    }
    Ok(renamed)
}

pub(crate) async fn delete_passkey<E: Exec>(
    tx: &mut E,
    user_id: &str,
    id: &str,
    keep_session: &str,
    audit: &AuditEvent,
    protect: LastPasskeyProtection,
) -> StoreResult<bool> {
    if protect != LastPasskeyProtection::Off && !E::SERIALISES_WRITERS {
        // Under READ COMMITTED two deletes of a user's last two passkeys would each count the
        // other still there; the user's row lock orders them.
        tx.queue(q::LOCK_USER, binds![user_id]).await?;
    }
    let keep_passkeys = i64::from(protect.keeps_last());
    let keep_synced = i64::from(protect.keeps_last_synced());
    let deleted = tx
        .run(q::DELETE_PASSKEY_UNLESS_PROTECTED, binds![id, user_id, user_id, keep_passkeys, user_id, keep_synced])
        .await?;
    if deleted > 0 {
        let line = revoke_passkey_sessions(tx, user_id, id, keep_session, audit).await?;
        insert_audit(tx, &line).await?;
        return Ok(true);
    }
    if tx.run(q::DELETE_PENDING_PASSKEY, binds![id, user_id]).await? > 0 {
        // An unverified registration was never a passkey the app heard of: no event.
        insert_audit(tx, &AuditEvent { webhooks: Vec::new(), ..audit.clone() }).await?;
        return Ok(true);
    }
    let kept = tx.one(q::PROTECTED_PASSKEY, binds![user_id, id, user_id], |row| row.int("n")).await?;
    match kept {
        // The rule kept it: with other passkeys left, what it kept was the last synced one.
        Some(passkeys) => Err(StoreError::PasskeyProtected { last_synced: passkeys > 1 }),
        None => Ok(false),
    }
}

// ---- sign-ins -----------------------------------------------------------------------------

pub(crate) async fn create_sign_in<E: Exec>(
    tx: &mut E,
    new_client: Option<NewClient<'_>>,
    s: &SignIn,
) -> StoreResult<Written<()>> {
    if let Some(new) = new_client {
        insert_client(tx, new).await?;
    }
    insert_sign_in(tx, s).await?;
    read_back(tx, (), &s.client_id).await
}

/// A new sign-in, which becomes its client's current one.
async fn insert_sign_in<E: Exec>(tx: &mut E, s: &SignIn) -> StoreResult<()> {
    let ch = s.challenge.as_ref();
    let state = ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?;
    tx.queue(
        q::INSERT_SIGN_IN,
        binds![
            &s.id,
            &s.client_id,
            s.status.as_str(),
            &s.identifier,
            &s.user_id,
            ch.map(|c| c.status.as_str()),
            ch.map(|c| c.options_json.as_str()),
            &state,
            ch.and_then(|c| c.origin.as_deref()),
            i64::from(ch.map_or(0, |c| c.attempts)),
            ch.map(|c| c.expire_at),
            ch.and_then(|c| c.error_code.as_deref()),
            &s.created_session_id,
            s.created_at,
            s.updated_at,
            s.abandon_at
        ],
    )
    .await?;
    tx.queue(q::CLIENT_SIGN_IN, binds![&s.id, s.created_at, &s.client_id]).await
}

pub(crate) async fn sign_in<E: Exec>(tx: &mut E, client_id: &str, id: &str) -> StoreResult<Option<SignIn>> {
    tx.one(q::SIGN_IN_BY_ID, binds![id, client_id], rows::sign_in).await
}

/// One statement (see [`q::SIGN_IN_ATTEMPT`]); token hash, sign-in id and credential id are
/// unique, so one row at most.
pub(crate) async fn sign_in_attempt<E: Exec>(
    tx: &mut E,
    token_hash: &[u8],
    id: &str,
    credential_id: &[u8],
) -> StoreResult<Option<SignInAttempt>> {
    tx.one(q::SIGN_IN_ATTEMPT, binds![id, credential_id, token_hash], |row| {
        Ok(SignInAttempt {
            client: rows::client(row)?,
            sign_in: rows::joined(row, "si_", rows::sign_in)?,
            passkey: rows::joined(row, "p_", rows::passkey)?,
            owner: rows::joined(row, "u_", rows::user)?,
        })
    })
    .await
}

pub(crate) async fn save_sign_in_challenge<E: Exec>(tx: &mut E, s: &SignIn) -> StoreResult<()> {
    let ch = s.challenge.as_ref();
    let state = ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?;
    tx.run(
        q::SAVE_SIGN_IN_CHALLENGE,
        binds![
            s.status.as_str(),
            ch.map(|c| c.status.as_str()),
            ch.map(|c| c.options_json.as_str()),
            &state,
            ch.and_then(|c| c.origin.as_deref()),
            ch.map(|c| c.expire_at),
            s.updated_at,
            &s.id,
            &s.client_id
        ],
    )
    .await?;
    Ok(())
}

pub(crate) async fn fail_sign_in<E: Exec>(tx: &mut E, f: &SignInFailure<'_>) -> StoreResult<bool> {
    let failed = tx
        .run(
            q::FAIL_SIGN_IN,
            binds![f.status.as_str(), f.error_code, f.now, f.sign_in_id, f.client_id, f.challenge_options],
        )
        .await?;
    Ok(failed == 1)
}

/// The sign-in closes and the passkey's counter moves only if neither changed since the
/// attempt read them (each conditional write must change one row); otherwise nothing is
/// written and the caller learns the attempt lost a race.
pub(crate) async fn complete_sign_in<E: Exec>(
    tx: &mut E,
    c: &SignInCompletion,
    audit: &AuditEvent,
) -> StoreResult<Written<bool>> {
    let s = &c.session;
    tx.queue_one(q::CLOSE_SIGN_IN, binds![&s.user_id, &s.id, c.now, c.now, &c.sign_in_id, &s.client_id, &c.challenge_options])
        .await?;
    queue_passkey_use(tx, &c.passkey_id, &c.updated_credential, c.previous_sign_count, c.now).await?;
    insert_session(tx, s).await?;
    // The client's new token (conditional, as `queue_token_rotation`) and active session.
    tx.queue_one(q::SIGN_CLIENT_IN, binds![&c.client_token_hash, &s.id, c.now, &s.client_id, &c.old_client_token_hash])
        .await?;
    tx.queue(q::REPLACE_OTHER_SESSIONS, binds![c.now, &s.client_id, &s.id]).await?;
    tx.queue(q::USER_SIGNED_IN, binds![c.now, c.now, &s.user_id]).await?;
    insert_audit(tx, audit).await?;
    // On PostgreSQL everything above, COMMIT and the read go out in one flight; whether the
    // conditions held is known only after it.
    let read_back = read_back(tx, true, &s.client_id).await?;
    if !tx.held().await? {
        return Ok(Written { result: false, client: None });
    }
    Ok(read_back)
}

// ---- sessions -----------------------------------------------------------------------------

pub(crate) async fn session<E: Exec>(tx: &mut E, id: &str) -> StoreResult<Option<Session>> {
    tx.one(q::SESSION_BY_ID, binds![id], rows::session).await
}

pub(crate) async fn touch_session<E: Exec>(tx: &mut E, client_id: &str, id: &str, now: Millis) -> StoreResult<()> {
    tx.queue(q::TOUCH_SESSION, binds![now, now, id]).await?;
    tx.queue(q::SET_ACTIVE_SESSION, binds![id, now, client_id]).await
}

pub(crate) async fn end_session<E: Exec>(
    tx: &mut E,
    client_id: &str,
    id: &str,
    status: SessionStatus,
    now: Millis,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    let ended = tx.run(q::END_SESSION, binds![status.as_str(), now, id, client_id]).await?;
    tx.queue(q::CLIENT_SIGNED_OUT_OF, binds![now, client_id, id]).await?;
    if ended > 0 {
        insert_audit(tx, audit).await?;
    }
    Ok(ended > 0)
}

pub(crate) async fn end_client_sessions<E: Exec>(
    tx: &mut E,
    client_id: &str,
    status: SessionStatus,
    now: Millis,
    rotation: Option<(&[u8], &[u8])>,
    audit: Option<&AuditEvent>,
) -> StoreResult<Written<Vec<Session>>> {
    // The client signs out (with its new token, conditional as `queue_token_rotation`) before
    // its sessions end: the same order of row locks as completing a sign-in, client first.
    if let Some((old, new)) = rotation {
        tx.queue_one(q::SIGN_CLIENT_OUT_ROTATED, binds![new, now, client_id, old]).await?;
    }
    let ended = tx.all(q::END_CLIENT_SESSIONS, binds![status.as_str(), now, client_id], rows::session).await?;
    require_token_held(tx).await?;
    if rotation.is_none() {
        tx.queue(q::CLIENT_SIGNED_OUT, binds![now, client_id]).await?;
    }
    if let Some(template) = audit {
        for session in &ended {
            insert_audit(tx, &template.for_session(session)).await?;
        }
    }
    read_back(tx, ended, client_id).await
}

// ---- signing keys, audit, rate limits, purge ----------------------------------------------

pub(crate) async fn signing_keys<E: Exec>(tx: &mut E) -> StoreResult<Vec<StoredSigningKey>> {
    tx.all(q::SIGNING_KEYS, binds![], rows::signing_key).await
}

pub(crate) async fn init_signing_key<E: Exec>(tx: &mut E, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>> {
    tx.queue(
        q::INSERT_FIRST_SIGNING_KEY,
        binds![&key.kid, &key.alg, &key.private_pkcs8, &key.public_raw, key.created_at, &key.alg],
    )
    .await?;
    tx.all(q::SIGNING_KEYS, binds![], rows::signing_key).await
}

pub(crate) async fn rotate_signing_key<E: Exec>(
    tx: &mut E,
    key: &StoredSigningKey,
    now: Millis,
) -> StoreResult<Vec<StoredSigningKey>> {
    tx.run(q::RETIRE_SIGNING_KEYS, binds![now, &key.alg]).await?;
    tx.run(q::INSERT_SIGNING_KEY, binds![&key.kid, &key.alg, &key.private_pkcs8, &key.public_raw, key.created_at]).await?;
    tx.all(q::SIGNING_KEYS, binds![], rows::signing_key).await
}

// ---- Backend API: secret keys, users, sessions, sign-in tokens ----------------------------

pub(crate) async fn create_secret_key<E: Exec>(tx: &mut E, k: &SecretKey, audit: &AuditEvent) -> StoreResult<()> {
    tx.run(q::INSERT_SECRET_KEY, binds![&k.id, &k.key_hash, &k.hint, &k.label, k.created_at, k.revoked_at]).await?;
    insert_audit(tx, audit).await
}

pub(crate) async fn secret_keys<E: Exec>(tx: &mut E) -> StoreResult<Vec<SecretKey>> {
    tx.all(q::SECRET_KEYS, binds![], rows::secret_key).await
}

pub(crate) async fn live_secret_key<E: Exec>(tx: &mut E, key_hash: &[u8]) -> StoreResult<Option<SecretKey>> {
    tx.one(q::LIVE_SECRET_KEY, binds![key_hash], rows::secret_key).await
}

pub(crate) async fn revoke_secret_key<E: Exec>(tx: &mut E, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
    remove_one_audited(tx, q::REVOKE_SECRET_KEY, binds![now, id], audit).await
}

/// The `LIKE` pattern for a search: lower case, its own `%` and `_` escaped.
fn like_pattern(search: &str) -> String {
    let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

pub(crate) async fn users_page<E: Exec>(tx: &mut E, query: &UserQuery) -> StoreResult<Vec<UserDetails>> {
    let pattern = query.search.as_deref().map(like_pattern);
    let sql = if query.oldest_first { q::USERS_OLDEST_FIRST } else { q::USERS_NEWEST_FIRST };
    let (limit, offset) = (i64::from(query.limit), i64::from(query.offset));
    let binds = binds![pattern.as_deref(), pattern.as_deref(), pattern.as_deref(), limit, offset];
    let mut users: Vec<UserDetails> = Vec::new();
    tx.all(sql, binds, |row| fold_user_details(&mut users, row)).await?;
    Ok(users)
}

pub(crate) async fn user_details<E: Exec>(tx: &mut E, id: &str) -> StoreResult<Option<UserDetails>> {
    let mut users: Vec<UserDetails> = Vec::new();
    tx.all(q::USER_DETAILS, binds![id], |row| fold_user_details(&mut users, row)).await?;
    Ok(users.pop())
}

/// Folds a row of [`q::USER_DETAILS`]' shape into `users`: rows of one user are adjacent,
/// one per passkey.
fn fold_user_details(users: &mut Vec<UserDetails>, row: &dyn rows::Columns) -> StoreResult<()> {
    let id = row.text("id")?;
    if users.last().is_none_or(|last| last.user.id != id) {
        let metadata = rows::joined(row, "m_", rows::user_metadata)?.unwrap_or_default();
        users.push(UserDetails { user: rows::user(row)?, metadata, passkeys: Vec::new() });
    }
    if let (Some(details), Some(passkey)) = (users.last_mut(), rows::joined(row, "p_", rows::passkey)?) {
        details.passkeys.push(passkey);
    }
    Ok(())
}

pub(crate) async fn count_users<E: Exec>(tx: &mut E, search: Option<&str>) -> StoreResult<u64> {
    let pattern = search.map(like_pattern);
    let n = tx.one(q::COUNT_USERS, binds![pattern.as_deref(), pattern.as_deref(), pattern.as_deref()], |row| row.int("n")).await?;
    Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

pub(crate) async fn user_metadata<E: Exec>(tx: &mut E, user_id: &str) -> StoreResult<UserMetadata> {
    Ok(tx.one(q::USER_METADATA, binds![user_id], rows::user_metadata).await?.unwrap_or_default())
}

pub(crate) async fn update_user_metadata<E: Exec>(
    tx: &mut E,
    user_id: &str,
    patch: &MetadataPatch,
    now: Millis,
    audit: &AuditEvent,
    webhooks: &crate::UserUpdatedEvents,
) -> StoreResult<Option<UserMetadata>> {
    // The user's row lock orders concurrent updates (PostgreSQL); the read below then sees
    // the previous update's result, so a merge never loses one.
    if tx.run(q::USER_UPDATED, binds![now, user_id]).await? != 1 {
        tx.roll_back();
        return Ok(None);
    }
    let mut metadata = tx.one(q::USER_METADATA, binds![user_id], rows::user_metadata).await?.unwrap_or_default();
    patch.apply(&mut metadata);
    let (public, private, unsafe_) = (to_json(&metadata.public)?, to_json(&metadata.private)?, to_json(&metadata.unsafe_)?);
    tx.run(q::UPSERT_USER_METADATA, binds![user_id, &public, &private, &unsafe_, now]).await?;
    // The event shows the metadata as merged here, under the row lock.
    insert_audit(tx, &AuditEvent { webhooks: webhooks(&metadata), ..audit.clone() }).await?;
    Ok(Some(metadata))
}

pub(crate) async fn delete_user<E: Exec>(tx: &mut E, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
    tx.run(q::CLIENTS_FORGET_USER, binds![now, user_id, user_id]).await?;
    tx.all(q::REMOVE_USER_SESSIONS, binds![now, user_id], rows::session).await?;
    tx.run(q::DELETE_PENDING_PASSKEYS_OF_USER, binds![user_id]).await?;
    tx.run(q::DELETE_PASSKEYS_OF_USER, binds![user_id]).await?;
    tx.run(q::DELETE_SIGN_IN_TOKENS_OF_USER, binds![user_id]).await?;
    tx.run(q::DELETE_USER_METADATA, binds![user_id]).await?;
    tx.run(q::REVOKE_OPERATOR, binds![user_id]).await?;
    if tx.run(q::DELETE_USER, binds![user_id]).await? != 1 {
        tx.roll_back();
        return Ok(false);
    }
    insert_audit(tx, audit).await?;
    Ok(true)
}

pub(crate) async fn sessions_page<E: Exec>(tx: &mut E, query: &SessionQuery) -> StoreResult<(Vec<Session>, u64)> {
    let (user, client, status) = (query.user_id.as_deref(), query.client_id.as_deref(), query.status.as_deref());
    let (limit, offset) = (i64::from(query.limit), i64::from(query.offset));
    let page =
        tx.all(q::SESSIONS_PAGE, binds![user, user, client, client, status, status, limit, offset], rows::session).await?;
    let total =
        tx.one(q::COUNT_SESSIONS, binds![user, user, client, client, status, status], |row| row.int("n")).await?;
    Ok((page, total.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)))
}

pub(crate) async fn revoke_session<E: Exec>(tx: &mut E, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<Option<Session>> {
    let Some(session) = tx.one(q::REVOKE_SESSION, binds![now, id], rows::session).await? else {
        tx.roll_back();
        return Ok(None);
    };
    tx.run(q::CLIENT_FORGETS_SESSION, binds![now, &session.client_id, &session.id]).await?;
    insert_audit(tx, &audit.for_session(&session)).await?;
    Ok(Some(session))
}

pub(crate) async fn delete_user_passkey<E: Exec>(tx: &mut E, user_id: &str, id: &str, audit: &AuditEvent) -> StoreResult<bool> {
    if tx.run(q::DELETE_PASSKEY, binds![id, user_id]).await? != 1 {
        tx.roll_back();
        return Ok(false);
    }
    // The sessions this passkey made end with it, as on FAPI.
    let line = revoke_passkey_sessions(tx, user_id, id, "", audit).await?;
    insert_audit(tx, &line).await?;
    Ok(true)
}

/// Revokes the live sessions passkey `id` made, but `keep_session` (docs/protocol.md §16.4),
/// at the time of the `audit` line, and fits `audit`'s webhook events to them: the `session.revoked` event of a session that
/// ended meanwhile is dropped; a session revoked here that has no event (made after the
/// caller read them) fails the operation with [`StoreError::SessionsChanged`], changing
/// nothing, for the caller to read them again. Without events (webhooks off) nothing is
/// checked.
async fn revoke_passkey_sessions<E: Exec>(tx: &mut E, user_id: &str, id: &str, keep_session: &str, audit: &AuditEvent) -> StoreResult<AuditEvent> {
    let revoked = tx.all(q::REVOKE_PASSKEY_SESSIONS, binds![audit.at, user_id, id, keep_session], |row| row.text("id")).await?;
    let mut line = audit.clone();
    if line.webhooks.is_empty() {
        return Ok(line);
    }
    let has_event = |session: &String| line.webhooks.iter().any(|e| e.session_id.as_ref() == Some(session));
    if !revoked.iter().all(has_event) {
        return Err(StoreError::SessionsChanged);
    }
    line.webhooks.retain(|e| e.session_id.as_ref().is_none_or(|session| revoked.contains(session)));
    Ok(line)
}

pub(crate) async fn sessions_made_by_passkey<E: Exec>(tx: &mut E, user_id: &str, passkey_id: &str) -> StoreResult<Vec<Session>> {
    tx.all(q::SESSIONS_MADE_BY_PASSKEY, binds![user_id, passkey_id], rows::session).await
}

pub(crate) async fn create_sign_in_token<E: Exec>(tx: &mut E, t: &SignInToken, audit: &AuditEvent) -> StoreResult<()> {
    tx.run(
        q::INSERT_SIGN_IN_TOKEN,
        binds![&t.id, &t.user_id, &t.token_hash, t.status.as_str(), t.created_at, t.updated_at, t.expire_at],
    )
    .await?;
    insert_audit(tx, audit).await
}

pub(crate) async fn sign_in_token_by_hash<E: Exec>(tx: &mut E, token_hash: &[u8]) -> StoreResult<Option<SignInToken>> {
    tx.one(q::SIGN_IN_TOKEN_BY_HASH, binds![token_hash], rows::sign_in_token).await
}

pub(crate) async fn revoke_sign_in_token<E: Exec>(
    tx: &mut E,
    id: &str,
    now: Millis,
    audit: &AuditEvent,
) -> StoreResult<Option<SignInToken>> {
    if let Some(revoked) = tx.one(q::REVOKE_SIGN_IN_TOKEN, binds![now, id], rows::sign_in_token).await? {
        let line = AuditEvent { user_id: Some(revoked.user_id.clone()), ..audit.clone() };
        insert_audit(tx, &line).await?;
        return Ok(Some(revoked));
    }
    tx.one(q::SIGN_IN_TOKEN_BY_ID, binds![id], rows::sign_in_token).await
}

/// Whether the ticket was spendable is read at once (it decides between "refused" and
/// everything else); the rest is queued, the client's token rotation a condition of it.
pub(crate) async fn redeem_sign_in_token<E: Exec>(tx: &mut E, r: &TicketRedemption<'_>, audit: &AuditEvent) -> StoreResult<bool> {
    let s = r.session;
    if tx.run(q::REDEEM_SIGN_IN_TOKEN, binds![r.now, r.token_id, &s.user_id, r.now]).await? != 1 {
        tx.roll_back();
        return Ok(false);
    }
    hand_out_token(tx, r.client).await?;
    insert_sign_in(tx, r.sign_in).await?;
    insert_session(tx, s).await?;
    tx.queue(q::SET_ACTIVE_SESSION, binds![&s.id, r.now, &s.client_id]).await?;
    tx.queue(q::REPLACE_OTHER_SESSIONS, binds![r.now, &s.client_id, &s.id]).await?;
    tx.queue(q::USER_SIGNED_IN, binds![r.now, r.now, &s.user_id]).await?;
    insert_audit(tx, audit).await?;
    require_token_held(tx).await?;
    Ok(true)
}

pub(crate) async fn record_audit<E: Exec>(tx: &mut E, e: &AuditEvent) -> StoreResult<()> {
    insert_audit(tx, e).await
}

pub(crate) async fn audit_events<E: Exec>(tx: &mut E, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
    let (user, event) = (query.user_id.as_deref(), query.event.as_deref());
    tx.all(
        q::AUDIT_EVENTS,
        binds![
            user,
            user,
            query.since,
            query.since,
            query.until,
            query.until,
            event,
            event,
            i64::from(query.limit.max(1)),
            i64::from(query.offset)
        ],
        rows::audit_event,
    )
    .await
}

pub(crate) async fn hit_rate_limit<E: Exec>(tx: &mut E, key: &str, window_start: Millis) -> StoreResult<u64> {
    let hits = tx.one(q::HIT_RATE_LIMIT, binds![key, window_start, window_start, window_start], |row| row.int("hits")).await?;
    Ok(hits.and_then(|h| u64::try_from(h).ok()).unwrap_or(0))
}

pub(crate) async fn hit_rate_limits<E: Exec>(tx: &mut E, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]> {
    let counted = tx
        .all(q::HIT_RATE_LIMITS, binds![keys[0], window_start, keys[1], window_start], |row| {
            Ok((row.text("key")?, row.int("hits")?))
        })
        .await?;
    Ok(crate::hits_in_order(keys, &counted))
}

/// Each delete is `run`, not queued: the purge reports how many rows went, so it reads every
/// count (it runs in the background, once a minute, where a round trip each costs nothing).
pub(crate) async fn purge_expired<E: Exec>(tx: &mut E, now: Millis, policy: &PurgePolicy) -> StoreResult<u64> {
    let finished_before = now - policy.finished_grace;
    let pending = tx.run(q::PURGE_PENDING_PASSKEYS, binds![crate::purgeable_pending_before(now)]).await?;
    let sign_ins = tx.run(q::PURGE_SIGN_INS, binds![now, finished_before]).await?;
    let windows = tx.run(q::PURGE_RATE_LIMITS, binds![crate::oldest_rate_limit_window(now)]).await?;
    let ended = tx.run(q::PURGE_ENDED_SESSIONS, binds![finished_before]).await?;
    let expired = tx.run(q::PURGE_EXPIRED_SESSIONS, binds![finished_before, finished_before]).await?;
    let verifications = tx.run(q::PURGE_SESSION_VERIFICATIONS, binds![finished_before]).await?;
    let sign_ups = tx.run(q::PURGE_SIGN_UPS, binds![finished_before]).await?;
    let clients = tx.run(q::PURGE_DEAD_CLIENTS, binds![now - policy.dead_client_grace, now, now]).await?;
    let audit = match policy.audit_retention {
        Some(retention) => tx.run(q::PURGE_AUDIT_EVENTS, binds![now - retention]).await?,
        None => 0,
    };
    let nonces = tx.run(q::PURGE_HANDSHAKE_NONCES, binds![now]).await?;
    let tickets = tx.run(q::PURGE_SIGN_IN_TOKENS, binds![finished_before, finished_before]).await?;
    let webhooks = purge_webhooks(tx, now, policy).await?;
    Ok(pending + sign_ins + windows + ended + expired + verifications + sign_ups + clients + audit + nonces + tickets + webhooks)
}

// ---- handshake nonces ---------------------------------------------------------------------

pub(crate) async fn create_handshake_nonce<E: Exec>(tx: &mut E, nonce: &HandshakeNonce) -> StoreResult<()> {
    tx.run(q::INSERT_HANDSHAKE_NONCE, binds![&nonce.nonce_hash[..], &nonce.grant_json, nonce.created_at, nonce.expire_at]).await?;
    Ok(())
}

pub(crate) async fn take_handshake_nonce<E: Exec>(tx: &mut E, nonce_hash: &[u8]) -> StoreResult<Option<(String, Millis)>> {
    tx.one(q::TAKE_HANDSHAKE_NONCE, binds![nonce_hash], |row| Ok((row.text("grant_json")?, row.int("expire_at")?))).await
}

// ---- reverification and session use (docs/protocol.md §16) --------------------------------

pub(crate) async fn record_session_use<E: Exec>(tx: &mut E, session_id: &str, now: Millis) -> StoreResult<()> {
    tx.run(q::RECORD_SESSION_USE, binds![now, session_id, now]).await?;
    Ok(())
}

pub(crate) async fn passkey_by_credential<E: Exec>(tx: &mut E, credential_id: &[u8]) -> StoreResult<Option<Passkey>> {
    tx.one(q::PASSKEY_BY_CREDENTIAL, binds![credential_id], rows::passkey).await
}

pub(crate) async fn start_session_verification<E: Exec>(tx: &mut E, v: &SessionVerification) -> StoreResult<()> {
    tx.queue(q::DELETE_SESSION_VERIFICATION, binds![&v.session_id]).await?;
    let ch = v.challenge.as_ref();
    let state = ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?;
    tx.queue(
        q::INSERT_SESSION_VERIFICATION,
        binds![
            &v.session_id,
            &v.id,
            v.level.as_str(),
            i64::from(v.complete),
            ch.map(|c| c.status.as_str()),
            ch.map(|c| c.options_json.as_str()),
            &state,
            ch.and_then(|c| c.origin.as_deref()),
            i64::from(ch.map_or(0, |c| c.attempts)),
            ch.map(|c| c.expire_at),
            ch.and_then(|c| c.error_code.as_deref()),
            v.created_at,
            v.updated_at
        ],
    )
    .await
}

pub(crate) async fn session_verification<E: Exec>(tx: &mut E, session_id: &str) -> StoreResult<Option<SessionVerification>> {
    tx.one(q::SESSION_VERIFICATION, binds![session_id], rows::session_verification).await
}

pub(crate) async fn save_session_verification_challenge<E: Exec>(tx: &mut E, v: &SessionVerification) -> StoreResult<bool> {
    let Some(ch) = v.challenge.as_ref() else { return Ok(false) };
    let state = ch.state.as_ref().map(to_json).transpose()?;
    let saved = tx
        .run(
            q::SAVE_SESSION_VERIFICATION_CHALLENGE,
            binds![ch.status.as_str(), ch.options_json.as_str(), &state, ch.origin.as_deref(), ch.expire_at, v.updated_at, &v.session_id, &v.id],
        )
        .await?;
    Ok(saved == 1)
}

pub(crate) async fn fail_session_verification<E: Exec>(
    tx: &mut E,
    session_id: &str,
    challenge_options: &str,
    status: VerificationStatus,
    error_code: &str,
    now: Millis,
) -> StoreResult<bool> {
    let failed = tx
        .run(q::FAIL_SESSION_VERIFICATION, binds![status.as_str(), error_code, now, session_id, challenge_options])
        .await?;
    Ok(failed == 1)
}

/// Spends the verified challenge, moves the passkey's counter on (only if nobody used the
/// passkey since verification read it) and records the session's first-factor time, with
/// the audit line; changes nothing and returns false when any of those conditions fails.
pub(crate) async fn complete_session_verification<E: Exec>(
    tx: &mut E,
    c: &ReverificationCompletion,
    audit: &AuditEvent,
) -> StoreResult<bool> {
    tx.queue_one(q::CLOSE_SESSION_VERIFICATION, binds![c.now, &c.session_id, &c.verification_id, &c.challenge_options])
        .await?;
    queue_passkey_use(tx, &c.passkey_id, &c.updated_credential, c.previous_sign_count, c.now).await?;
    tx.queue_one(q::SESSION_REVERIFIED, binds![c.now, c.now, c.now, &c.session_id]).await?;
    insert_audit(tx, audit).await?;
    tx.held().await
}

/// A verified assertion's passkey use: the new counter and backup flags, conditionally on
/// nobody having used the passkey since the verification read it (`previous_sign_count`).
async fn queue_passkey_use<E: Exec>(
    tx: &mut E,
    passkey_id: &str,
    updated: &latch_core::model::Credential,
    previous_sign_count: u32,
    now: Millis,
) -> StoreResult<()> {
    let credential = to_json(updated)?;
    tx.queue_one(
        q::COUNT_PASSKEY_USE,
        binds![
            &credential,
            i64::from(updated.counter),
            i64::from(updated.backup_eligible),
            i64::from(updated.backup_state),
            now,
            now,
            passkey_id,
            i64::from(previous_sign_count)
        ],
    )
    .await
}

// ---- webhooks (docs/protocol.md §15) ------------------------------------------------------

/// The outbox half of an action: each event, and its deliveries, only where an enabled
/// endpoint wants its type (see [`q::INSERT_WEBHOOK_EVENT`]). Queued, so on PostgreSQL they
/// travel with the action's other statements; without endpoints they insert nothing.
async fn queue_webhooks<E: Exec>(tx: &mut E, events: &[WebhookEvent]) -> StoreResult<()> {
    for e in events {
        // Event types are Latch's fixed names (letters and dots): no LIKE wildcard in them.
        let wanted = format!("%,{},%", e.event_type);
        tx.queue(q::INSERT_WEBHOOK_EVENT, binds![&e.id, &e.event_type, &e.payload, e.created_at, &wanted]).await?;
        tx.queue(
            q::INSERT_WEBHOOK_DELIVERIES,
            binds![&e.id, &e.id, e.created_at, e.created_at, e.created_at, &wanted, &e.id],
        )
        .await?;
    }
    Ok(())
}

async fn purge_webhooks<E: Exec>(tx: &mut E, now: Millis, policy: &PurgePolicy) -> StoreResult<u64> {
    let delivered_before = crate::webhook_delivered_retention(now);
    // Failed deliveries stay visible (and replayable) as long as the audit trail keeps lines.
    let failed_before = policy.audit_retention.map_or(i64::MIN, |retention| now - retention);
    let deliveries = tx.run(q::PURGE_WEBHOOK_DELIVERIES, binds![delivered_before, failed_before]).await?;
    let events = tx.run(q::PURGE_WEBHOOK_EVENTS, binds![delivered_before]).await?;
    Ok(deliveries + events)
}

pub(crate) async fn create_webhook_endpoint<E: Exec>(tx: &mut E, e: &WebhookEndpoint, audit: &AuditEvent) -> StoreResult<()> {
    let types = e.event_types.as_ref().map(|types| format!(",{},", types.join(",")));
    tx.run(q::INSERT_WEBHOOK_ENDPOINT, binds![&e.id, &e.url, &e.secret, &types, i64::from(e.enabled), e.created_at]).await?;
    insert_audit(tx, audit).await
}

/// Deletes the one row `sql` names and writes its audit line; false, and nothing written, when
/// there was no such row.
async fn remove_one_audited<E: Exec>(tx: &mut E, sql: &'static str, binds: &[Bind<'_>], audit: &AuditEvent) -> StoreResult<bool> {
    if tx.run(sql, binds).await? != 1 {
        tx.roll_back();
        return Ok(false);
    }
    insert_audit(tx, audit).await?;
    Ok(true)
}

pub(crate) async fn webhook_endpoints<E: Exec>(tx: &mut E) -> StoreResult<Vec<WebhookEndpoint>> {
    tx.all(q::WEBHOOK_ENDPOINTS, binds![], rows::webhook_endpoint).await
}

pub(crate) async fn remove_webhook_endpoint<E: Exec>(tx: &mut E, id: &str, audit: &AuditEvent) -> StoreResult<bool> {
    remove_one_audited(tx, q::DELETE_WEBHOOK_ENDPOINT, binds![id], audit).await
}

pub(crate) async fn webhooks_enabled<E: Exec>(tx: &mut E) -> StoreResult<bool> {
    Ok(tx.one(q::ANY_WEBHOOK_ENDPOINT, binds![], |row| row.int("n")).await?.unwrap_or(0) > 0)
}

/// Reads the due deliveries, then claims each with a conditional write on the due time it
/// read: a delivery another node claimed meanwhile changes no row and is left to it.
pub(crate) async fn claim_webhook_deliveries<E: Exec>(
    tx: &mut E,
    now: Millis,
    lease_until: Millis,
    limit: u32,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let due = tx.all(q::DUE_WEBHOOK_DELIVERIES, binds![now, i64::from(limit)], rows::claimed_delivery).await?;
    let mut claimed = Vec::with_capacity(due.len());
    for delivery in due {
        let was_due_at = delivery.lease_until;
        if tx.run(q::CLAIM_WEBHOOK_DELIVERY, binds![lease_until, now, &delivery.id, was_due_at]).await? == 1 {
            claimed.push(ClaimedDelivery { lease_until, ..delivery });
        }
    }
    Ok(claimed)
}

pub(crate) async fn finish_webhook_delivery<E: Exec>(
    tx: &mut E,
    id: &str,
    outcome: &DeliveryOutcome,
    now: Millis,
) -> StoreResult<bool> {
    let (status, next, error) = match outcome {
        DeliveryOutcome::Delivered => ("delivered", now, None),
        DeliveryOutcome::RetryAt(at, error) => ("pending", *at, Some(error.as_str())),
        DeliveryOutcome::Failed(error) => ("failed", now, Some(error.as_str())),
    };
    Ok(tx.run(q::FINISH_WEBHOOK_DELIVERY, binds![status, next, error, now, id]).await? == 1)
}

pub(crate) async fn replay_webhook<E: Exec>(tx: &mut E, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<u64> {
    let replayed = tx.run(q::REPLAY_WEBHOOK, binds![now, now, id, id]).await?;
    if replayed == 0 {
        tx.roll_back();
        return Ok(0);
    }
    insert_audit(tx, audit).await?;
    Ok(replayed)
}

pub(crate) async fn webhook_deliveries<E: Exec>(tx: &mut E, status: Option<&str>, limit: u32) -> StoreResult<Vec<WebhookDelivery>> {
    tx.all(q::WEBHOOK_DELIVERIES, binds![status, status, i64::from(limit)], rows::webhook_delivery).await
}

pub(crate) async fn webhook_event_count<E: Exec>(tx: &mut E) -> StoreResult<u64> {
    let n = tx.one(q::WEBHOOK_EVENT_COUNT, binds![], |row| row.int("n")).await?;
    Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

// ---- operators (the admin console) --------------------------------------------------------

pub(crate) async fn count_audit_events<E: Exec>(tx: &mut E, query: &AuditQuery) -> StoreResult<u64> {
    let (user, event) = (query.user_id.as_deref(), query.event.as_deref());
    let n = tx
        .one(
            q::COUNT_AUDIT_EVENTS,
            binds![user, user, query.since, query.since, query.until, query.until, event, event],
            |row| row.int("n"),
        )
        .await?;
    Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
}

pub(crate) async fn grant_operator<E: Exec>(tx: &mut E, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
    if tx.one(q::USER_BY_ID, binds![user_id], rows::user).await?.is_none() {
        tx.roll_back();
        return Ok(false);
    }
    tx.queue(q::GRANT_OPERATOR, binds![now, user_id]).await?;
    insert_audit(tx, audit).await?;
    Ok(true)
}

pub(crate) async fn revoke_operator<E: Exec>(tx: &mut E, user_id: &str, audit: &AuditEvent) -> StoreResult<bool> {
    remove_one_audited(tx, q::REVOKE_OPERATOR, binds![user_id], audit).await
}

pub(crate) async fn operators<E: Exec>(tx: &mut E) -> StoreResult<Vec<crate::Operator>> {
    tx.all(q::OPERATORS, binds![], |row| Ok(crate::Operator { user: rows::user(row)?, granted_at: row.int("granted_at")? }))
        .await
}

pub(crate) async fn operator_session<E: Exec>(tx: &mut E, session_id: &str) -> StoreResult<Option<crate::OperatorSession>> {
    tx.one(q::OPERATOR_SESSION, binds![session_id], |row| {
        Ok(crate::OperatorSession { session: rows::session(row)?, is_operator: row.int("is_operator")? != 0 })
    })
    .await
}

// Operations (docs/protocol.md §19).

pub(crate) async fn schema_version_applied<E: Exec>(tx: &mut E) -> StoreResult<i64> {
    Ok(tx.one(q::SCHEMA_VERSION_APPLIED, binds![], |row| row.int("v")).await?.unwrap_or(0))
}

pub(crate) async fn operations_gauges<E: Exec>(tx: &mut E, now: Millis) -> StoreResult<crate::OperationsGauges> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let gauges = tx
        .one(q::OPERATIONS_GAUGES, binds![now, now], |row| {
            Ok(crate::OperationsGauges {
                live_sessions: count(row.int("live_sessions")?),
                webhook_backlog: count(row.int("webhook_backlog")?),
            })
        })
        .await?;
    Ok(gauges.unwrap_or_default())
}

/// `impl Store for $store` with every method bound to its operation above and to the
/// transaction it needs. `$with!(self, access, |tx| operation)` is the driver's way to run
/// an operation in such a transaction; it must evaluate to the operation's result.
macro_rules! impl_store {
    ($store:ty, $with:ident) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn create_client(&self, new_client: NewClient<'_>) -> StoreResult<()> {
                $with!(self, Access::WriteOne, |tx| ops::create_client(tx, new_client))
            }
            async fn client_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Client>> {
                $with!(self, Access::ReadOne, |tx| ops::client_by_token(tx, token_hash))
            }
            async fn client_and_session(
                &self,
                token_hash: &[u8],
                session_id: Option<&str>,
            ) -> StoreResult<Option<ClientSession>> {
                $with!(self, Access::ReadOne, |tx| ops::client_and_session(tx, token_hash, session_id))
            }
            async fn client_snapshot(&self, client_id: &str) -> StoreResult<Option<ClientSnapshot>> {
                $with!(self, Access::ReadOne, |tx| ops::client_snapshot(tx, client_id))
            }
            async fn client_snapshot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<ClientSnapshot>> {
                $with!(self, Access::ReadOne, |tx| ops::client_snapshot_by_token(tx, token_hash))
            }
            async fn sign_up(
                &self,
                client: ClientToken<'_>,
                user: &User,
                sign_up: &SignUp,
                session: &Session,
                audit: &AuditEvent,
            ) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::sign_up(tx, client, user, sign_up, session, audit))
            }
            async fn user(&self, id: &str) -> StoreResult<Option<User>> {
                $with!(self, Access::ReadOne, |tx| ops::user(tx, id))
            }
            async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                $with!(self, Access::ReadOne, |tx| ops::user_by_username(tx, username))
            }
            async fn sign_up_record(&self, client_id: &str, id: &str) -> StoreResult<Option<SignUp>> {
                $with!(self, Access::ReadOne, |tx| ops::sign_up_record(tx, client_id, id))
            }
            async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
                $with!(self, Access::ReadOne, |tx| ops::passkeys_of(tx, user_id))
            }
            async fn create_pending_passkey(&self, pending: &PendingPasskey, max_passkeys: u32) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::create_pending_passkey(tx, pending, max_passkeys))
            }
            async fn pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>> {
                $with!(self, Access::ReadOne, |tx| ops::pending_passkey(tx, user_id, id))
            }
            async fn spend_pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
                $with!(self, Access::WriteOne, |tx| ops::spend_pending_passkey(tx, user_id, id))
            }
            async fn save_verified_passkey(
                &self,
                passkey: &Passkey,
                max_passkeys: u32,
                audit: &AuditEvent,
            ) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::save_verified_passkey(tx, passkey, max_passkeys, audit))
            }
            async fn rename_passkey(
                &self,
                user_id: &str,
                id: &str,
                name: &str,
                now: Millis,
                audit: &AuditEvent,
            ) -> StoreResult<Option<Passkey>> {
                $with!(self, Access::Write, |tx| ops::rename_passkey(tx, user_id, id, name, now, audit))
            }
            async fn delete_passkey(
                &self,
                user_id: &str,
                id: &str,
                keep_session: &str,
                audit: &AuditEvent,
                protect: latch_core::lockout::LastPasskeyProtection,
            ) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::delete_passkey(tx, user_id, id, keep_session, audit, protect))
            }
            async fn create_sign_in(&self, new_client: Option<NewClient<'_>>, sign_in: &SignIn) -> StoreResult<Written<()>> {
                $with!(self, Access::Write, |tx| ops::create_sign_in(tx, new_client, sign_in))
            }
            async fn sign_in(&self, client_id: &str, id: &str) -> StoreResult<Option<SignIn>> {
                $with!(self, Access::ReadOne, |tx| ops::sign_in(tx, client_id, id))
            }
            async fn sign_in_attempt(
                &self,
                token_hash: &[u8],
                id: &str,
                credential_id: &[u8],
            ) -> StoreResult<Option<SignInAttempt>> {
                $with!(self, Access::ReadOne, |tx| ops::sign_in_attempt(tx, token_hash, id, credential_id))
            }
            async fn save_sign_in_challenge(&self, sign_in: &SignIn) -> StoreResult<()> {
                $with!(self, Access::WriteOne, |tx| ops::save_sign_in_challenge(tx, sign_in))
            }
            async fn fail_sign_in(&self, failure: &SignInFailure<'_>) -> StoreResult<bool> {
                $with!(self, Access::WriteOne, |tx| ops::fail_sign_in(tx, failure))
            }
            async fn complete_sign_in(&self, completion: &SignInCompletion, audit: &AuditEvent) -> StoreResult<Written<bool>> {
                $with!(self, Access::Write, |tx| ops::complete_sign_in(tx, completion, audit))
            }
            async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
                $with!(self, Access::ReadOne, |tx| ops::session(tx, id))
            }
            async fn sessions_made_by_passkey(&self, user_id: &str, passkey_id: &str) -> StoreResult<Vec<Session>> {
                $with!(self, Access::ReadOne, |tx| ops::sessions_made_by_passkey(tx, user_id, passkey_id))
            }
            async fn touch_session(&self, client_id: &str, id: &str, now: Millis) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::touch_session(tx, client_id, id, now))
            }
            async fn end_session(
                &self,
                client_id: &str,
                id: &str,
                status: SessionStatus,
                now: Millis,
                audit: &AuditEvent,
            ) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::end_session(tx, client_id, id, status, now, audit))
            }
            async fn end_client_sessions(
                &self,
                client_id: &str,
                status: SessionStatus,
                now: Millis,
                rotation: Option<(&[u8], &[u8])>,
                audit: Option<&AuditEvent>,
            ) -> StoreResult<Written<Vec<Session>>> {
                $with!(self, Access::Write, |tx| ops::end_client_sessions(tx, client_id, status, now, rotation, audit))
            }
            async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
                $with!(self, Access::ReadOne, |tx| ops::signing_keys(tx))
            }
            async fn init_signing_key(&self, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>> {
                $with!(self, Access::Write, |tx| ops::init_signing_key(tx, key))
            }
            async fn rotate_signing_key(&self, key: &StoredSigningKey, now: Millis) -> StoreResult<Vec<StoredSigningKey>> {
                $with!(self, Access::Write, |tx| ops::rotate_signing_key(tx, key, now))
            }
            async fn create_secret_key(&self, key: &SecretKey, audit: &AuditEvent) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::create_secret_key(tx, key, audit))
            }
            async fn secret_keys(&self) -> StoreResult<Vec<SecretKey>> {
                $with!(self, Access::ReadOne, |tx| ops::secret_keys(tx))
            }
            async fn live_secret_key(&self, key_hash: &[u8]) -> StoreResult<Option<SecretKey>> {
                $with!(self, Access::ReadOne, |tx| ops::live_secret_key(tx, key_hash))
            }
            async fn revoke_secret_key(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::revoke_secret_key(tx, id, now, audit))
            }
            async fn users_page(&self, query: &UserQuery) -> StoreResult<Vec<$crate::UserDetails>> {
                $with!(self, Access::ReadOne, |tx| ops::users_page(tx, query))
            }
            async fn user_details(&self, id: &str) -> StoreResult<Option<$crate::UserDetails>> {
                $with!(self, Access::ReadOne, |tx| ops::user_details(tx, id))
            }
            async fn count_users(&self, search: Option<&str>) -> StoreResult<u64> {
                $with!(self, Access::ReadOne, |tx| ops::count_users(tx, search))
            }
            async fn user_metadata(&self, user_id: &str) -> StoreResult<UserMetadata> {
                $with!(self, Access::ReadOne, |tx| ops::user_metadata(tx, user_id))
            }
            async fn update_user_metadata(
                &self,
                user_id: &str,
                patch: &MetadataPatch,
                now: Millis,
                audit: &AuditEvent,
                webhooks: &crate::UserUpdatedEvents,
            ) -> StoreResult<Option<UserMetadata>> {
                $with!(self, Access::Write, |tx| ops::update_user_metadata(tx, user_id, patch, now, audit, webhooks))
            }
            async fn delete_user(&self, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::delete_user(tx, user_id, now, audit))
            }
            async fn sessions_page(&self, query: &SessionQuery) -> StoreResult<(Vec<Session>, u64)> {
                // The page and the total are two reads; under concurrent writes on PostgreSQL
                // they may disagree by those writes (a listing, not a decision).
                $with!(self, Access::ReadOne, |tx| ops::sessions_page(tx, query))
            }
            async fn revoke_session(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<Option<Session>> {
                $with!(self, Access::Write, |tx| ops::revoke_session(tx, id, now, audit))
            }
            async fn delete_user_passkey(&self, user_id: &str, id: &str, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::delete_user_passkey(tx, user_id, id, audit))
            }
            async fn create_sign_in_token(&self, token: &SignInToken, audit: &AuditEvent) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::create_sign_in_token(tx, token, audit))
            }
            async fn sign_in_token_by_hash(&self, token_hash: &[u8]) -> StoreResult<Option<SignInToken>> {
                $with!(self, Access::ReadOne, |tx| ops::sign_in_token_by_hash(tx, token_hash))
            }
            async fn revoke_sign_in_token(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<Option<SignInToken>> {
                $with!(self, Access::Write, |tx| ops::revoke_sign_in_token(tx, id, now, audit))
            }
            async fn redeem_sign_in_token(&self, redemption: &TicketRedemption<'_>, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::redeem_sign_in_token(tx, redemption, audit))
            }
            async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
                $with!(self, Access::WriteOne, |tx| ops::record_audit(tx, event))
            }
            async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
                $with!(self, Access::ReadOne, |tx| ops::audit_events(tx, query))
            }
            async fn hit_rate_limit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
                $with!(self, Access::WriteOne, |tx| ops::hit_rate_limit(tx, key, window_start))
            }
            async fn hit_rate_limits(&self, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]> {
                $with!(self, Access::WriteOne, |tx| ops::hit_rate_limits(tx, keys, window_start))
            }
            async fn create_handshake_nonce(&self, nonce: &crate::HandshakeNonce) -> StoreResult<()> {
                $with!(self, Access::WriteOne, |tx| ops::create_handshake_nonce(tx, nonce))
            }
            async fn take_handshake_nonce(&self, nonce_hash: &[u8]) -> StoreResult<Option<(String, Millis)>> {
                $with!(self, Access::WriteOne, |tx| ops::take_handshake_nonce(tx, nonce_hash))
            }
            async fn purge_expired(&self, now: Millis, policy: &PurgePolicy) -> StoreResult<u64> {
                $with!(self, Access::Write, |tx| ops::purge_expired(tx, now, policy))
            }
            async fn record_session_use(&self, session_id: &str, now: Millis) -> StoreResult<()> {
                $with!(self, Access::WriteOne, |tx| ops::record_session_use(tx, session_id, now))
            }
            async fn passkey_by_credential(&self, credential_id: &[u8]) -> StoreResult<Option<Passkey>> {
                $with!(self, Access::ReadOne, |tx| ops::passkey_by_credential(tx, credential_id))
            }
            async fn start_session_verification(&self, verification: &SessionVerification) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::start_session_verification(tx, verification))
            }
            async fn session_verification(&self, session_id: &str) -> StoreResult<Option<SessionVerification>> {
                $with!(self, Access::ReadOne, |tx| ops::session_verification(tx, session_id))
            }
            async fn save_session_verification_challenge(&self, verification: &SessionVerification) -> StoreResult<bool> {
                $with!(self, Access::WriteOne, |tx| ops::save_session_verification_challenge(tx, verification))
            }
            async fn fail_session_verification(
                &self,
                session_id: &str,
                challenge_options: &str,
                status: VerificationStatus,
                error_code: &str,
                now: Millis,
            ) -> StoreResult<bool> {
                $with!(self, Access::WriteOne, |tx| ops::fail_session_verification(
                    tx,
                    session_id,
                    challenge_options,
                    status,
                    error_code,
                    now
                ))
            }
            async fn complete_session_verification(
                &self,
                completion: &ReverificationCompletion,
                audit: &AuditEvent,
            ) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::complete_session_verification(tx, completion, audit))
            }
            async fn create_webhook_endpoint(&self, endpoint: &crate::WebhookEndpoint, audit: &AuditEvent) -> StoreResult<()> {
                $with!(self, Access::Write, |tx| ops::create_webhook_endpoint(tx, endpoint, audit))
            }
            async fn webhook_endpoints(&self) -> StoreResult<Vec<crate::WebhookEndpoint>> {
                $with!(self, Access::ReadOne, |tx| ops::webhook_endpoints(tx))
            }
            async fn remove_webhook_endpoint(&self, id: &str, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::remove_webhook_endpoint(tx, id, audit))
            }
            async fn webhooks_enabled(&self) -> StoreResult<bool> {
                $with!(self, Access::ReadOne, |tx| ops::webhooks_enabled(tx))
            }
            async fn claim_webhook_deliveries(
                &self,
                now: Millis,
                lease_until: Millis,
                limit: u32,
            ) -> StoreResult<Vec<crate::ClaimedDelivery>> {
                $with!(self, Access::Write, |tx| ops::claim_webhook_deliveries(tx, now, lease_until, limit))
            }
            async fn finish_webhook_delivery(&self, id: &str, outcome: &crate::DeliveryOutcome, now: Millis) -> StoreResult<bool> {
                $with!(self, Access::WriteOne, |tx| ops::finish_webhook_delivery(tx, id, outcome, now))
            }
            async fn replay_webhook(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<u64> {
                $with!(self, Access::Write, |tx| ops::replay_webhook(tx, id, now, audit))
            }
            async fn webhook_deliveries(&self, status: Option<&str>, limit: u32) -> StoreResult<Vec<crate::WebhookDelivery>> {
                $with!(self, Access::ReadOne, |tx| ops::webhook_deliveries(tx, status, limit))
            }
            async fn webhook_event_count(&self) -> StoreResult<u64> {
                $with!(self, Access::ReadOne, |tx| ops::webhook_event_count(tx))
            }
            async fn count_audit_events(&self, query: &AuditQuery) -> StoreResult<u64> {
                $with!(self, Access::ReadOne, |tx| ops::count_audit_events(tx, query))
            }
            async fn grant_operator(&self, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::grant_operator(tx, user_id, now, audit))
            }
            async fn revoke_operator(&self, user_id: &str, audit: &AuditEvent) -> StoreResult<bool> {
                $with!(self, Access::Write, |tx| ops::revoke_operator(tx, user_id, audit))
            }
            async fn operators(&self) -> StoreResult<Vec<crate::Operator>> {
                $with!(self, Access::ReadOne, |tx| ops::operators(tx))
            }
            async fn operator_session(&self, session_id: &str) -> StoreResult<Option<crate::OperatorSession>> {
                $with!(self, Access::ReadOne, |tx| ops::operator_session(tx, session_id))
            }
            async fn schema_version_applied(&self) -> StoreResult<i64> {
                $with!(self, Access::ReadOne, |tx| ops::schema_version_applied(tx))
            }
            async fn operations_gauges(&self, now: Millis) -> StoreResult<crate::OperationsGauges> {
                $with!(self, Access::ReadOne, |tx| ops::operations_gauges(tx, now))
            }
        }
    };
}
pub(crate) use impl_store;
