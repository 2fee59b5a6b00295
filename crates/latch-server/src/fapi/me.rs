//! The signed-in user and their passkeys: `GET /me`, `POST /me/passkeys` (begin),
//! `…/attempt_verification` (finish), rename and delete.
//!
//! Every lookup is scoped to the signed-in user: another user's passkey id is simply not
//! found, which reveals nothing about it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latch_core::ceremony::PasskeyOwner;
use latch_core::ids::{IdKind, looks_like, new_id};
use latch_core::model::{Passkey, PendingPasskey, SessionStatus, normalize_passkey_name};
use latch_store::AuditEvent;

use crate::audit::{self, Subject};
use crate::context::{Caller, SignedIn, signed_in};
use crate::limits;
use crate::error::{ApiError, ApiResult};
use crate::fapi::sign_ins::verification_expired;
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, ms, now_ms};

pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let me = signed_in(&state, &caller).await?;
    let body = json::user_with_passkeys(&state, &me.user).await?;
    reply::envelope(&state, &caller, &me.handle, body).await
}

/// Passkeys change only from an active session; a `pending` one has tasks to finish first.
async fn active_user(state: &AppState, caller: &Caller) -> ApiResult<SignedIn> {
    let me = signed_in(state, caller).await?;
    if me.session.status_at(now_ms()) != SessionStatus::Active {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "session_task_pending",
            "Finish signing in first",
            "This session has pending tasks; finish them before managing passkeys.",
        ));
    }
    Ok(me)
}

pub async fn create_passkey(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let me = active_user(&state, &caller).await?;
    limits::passkey_creation(&state, &me.user.id).await?;
    let existing = state.store().passkeys_of(&me.user.id).await?;
    if existing.len() >= state.settings().max_passkeys_per_user as usize {
        return Err(ApiError::from(latch_store::StoreError::QuotaExceeded));
    }
    let owner = PasskeyOwner { handle: me.user.webauthn_handle, name: &me.user.username, display_name: &me.user.username };
    let exclude = existing.iter().map(|p| p.credential.cred_id.clone()).collect();
    let (options, reg_state) = state.rp().begin_registration(&owner, exclude).map_err(ApiError::from)?;
    let now = now_ms();
    let pending = PendingPasskey {
        id: new_id(IdKind::Passkey),
        user_id: me.user.id.clone(),
        client_id: me.handle.client.id.clone(),
        options_json: serde_json::to_string(&options).map_err(|_| ApiError::internal())?,
        state: reg_state,
        origin: caller.origin.clone(),
        created_at: now,
        expire_at: now + ms(state.settings().challenge_ttl),
    };
    state.store().create_pending_passkey(&pending, state.settings().max_passkeys_per_user).await?;
    reply::envelope(&state, &caller, &me.handle, json::pending_passkey(&pending)).await
}

pub async fn attempt_verification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let credential_json = form.require("public_key_credential")?;
    // Refuse what cannot be a credential before consuming the pending registration.
    latch_core::ceremony::parse_registration(credential_json).map_err(ApiError::from)?;
    let me = active_user(&state, &caller).await?;
    if !looks_like(IdKind::Passkey, &id) {
        return Err(ApiError::not_found("passkey"));
    }
    let subject = subject_of(&me, &id);
    // A verified passkey's audit line is written in the transaction that stores it; only a
    // refusal is recorded here.
    let audit_line = audit::line(&caller, "passkey.create", subject.clone(), None);
    let verified = verify_registration(&state, &me, &id, credential_json, &audit_line).await;
    let passkey = audit::refusal(&state, &caller, "passkey.create", subject, verified).await?;
    reply::envelope(&state, &caller, &me.handle, json::passkey(&passkey)).await
}

fn subject_of(me: &SignedIn, passkey_id: &str) -> Subject {
    Subject {
        user_id: Some(me.user.id.clone()),
        session_id: Some(me.session.id.clone()),
        passkey_id: Some(passkey_id.to_string()),
        client_id: Some(me.handle.client.id.clone()),
    }
}

/// Verifies the answer against the pending registration as read; the write that records the
/// outcome spends it (storing the passkey, or deleting the pending registration on a
/// failure), so each registration challenge is answered once at most.
async fn verify_registration(
    state: &AppState,
    me: &SignedIn,
    id: &str,
    credential_json: &str,
    audit_line: &AuditEvent,
) -> ApiResult<Passkey> {
    let store = state.store();
    let pending = store.pending_passkey(&me.user.id, id).await?.ok_or_else(|| ApiError::not_found("passkey"))?;
    let refused = match verified_passkey(state, me, &pending, credential_json) {
        Ok(passkey) => match store.save_verified_passkey(&passkey, state.settings().max_passkeys_per_user, audit_line).await {
            Ok(true) => return Ok(passkey),
            // A concurrent answer spent the registration first.
            Ok(false) => ApiError::not_found("passkey"),
            Err(e) => ApiError::from(e),
        },
        Err(refused) => refused,
    };
    // Refused, over the quota or a known credential: nothing was stored, and the answer
    // still spends the registration.
    store.spend_pending_passkey(&me.user.id, id).await?;
    Err(refused)
}

fn verified_passkey(state: &AppState, me: &SignedIn, pending: &PendingPasskey, credential_json: &str) -> ApiResult<Passkey> {
    let now = now_ms();
    if pending.client_id != me.handle.client.id {
        return Err(ApiError::not_found("passkey"));
    }
    if now >= pending.expire_at {
        return Err(verification_expired());
    }
    let verified = state
        .rp()
        .finish_registration(credential_json, &pending.state, pending.origin.as_deref())
        .map_err(ApiError::from)?;
    Ok(Passkey {
        id: pending.id.clone(),
        user_id: me.user.id.clone(),
        credential_id: verified.credential_id,
        name: verified.default_name,
        aaguid: verified.aaguid,
        sign_count: verified.sign_count,
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
        credential: verified.credential,
        created_at: now,
        updated_at: now,
        last_used_at: None,
    })
}

pub async fn update_passkey(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    let name = form.require("name")?;
    let name = normalize_passkey_name(name)
        .ok_or_else(|| ApiError::param_invalid("name", "Passkey names are 1 to 100 printable characters."))?;
    let me = active_user(&state, &caller).await?;
    if !looks_like(IdKind::Passkey, &id) {
        return Err(ApiError::not_found("passkey"));
    }
    let passkey = state
        .store()
        .rename_passkey(&me.user.id, &id, &name, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("passkey"))?;
    audit::record(&state, &caller, "passkey.rename", subject_of(&me, &id), None).await;
    reply::envelope(&state, &caller, &me.handle, json::passkey(&passkey)).await
}

pub async fn delete_passkey(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let me = active_user(&state, &caller).await?;
    if !looks_like(IdKind::Passkey, &id) || !state.store().delete_passkey(&me.user.id, &id).await? {
        return Err(ApiError::not_found("passkey"));
    }
    audit::record(&state, &caller, "passkey.delete", subject_of(&me, &id), None).await;
    reply::envelope(&state, &caller, &me.handle, json::deleted("passkey", &id)).await
}
