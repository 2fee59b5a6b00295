//! Sign-in with a passkey: `POST /client/sign_ins`, `…/prepare_first_factor`,
//! `…/attempt_first_factor`.
//!
//! The order of checks in an attempt is deliberate: everything that can be refused without
//! consuming the challenge (malformed credential, unknown passkey, wrong sign-in, a challenge
//! already answered) is refused first and changes nothing; then the assertion is verified
//! against the challenge as read, and the one write that records the outcome also spends the
//! challenge, conditionally on its being unanswered still. So a challenge is answered once at
//! most, whether that answer verifies or not, and an attempt is one write transaction.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latch_core::ceremony::{self, CeremonyError};
use latch_core::ids::{IdKind, looks_like, new_id};
use latch_core::model::{
    Client, PasskeyChallenge, Session, SessionStatus, SignIn, SignInCompletion, SignInFailure, SignInStatus, User, VerificationStatus,
};

use crate::audit::{self, Subject};
use crate::context::{Caller, ClientHandle, client_or_new, existing_client};
use crate::limits;
use crate::error::{ApiError, ApiResult};
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, ms, now_ms};

pub async fn create(State(state): State<AppState>, caller: Caller, form: FormFields) -> ApiResult<Response> {
    let wants_passkey = form.passkey_strategy(false)?;
    let identifier = form.get("identifier")?.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let handle = client_or_new(&state, &caller).await?;
    limits::sign_in(&state, caller.ip.as_deref(), Some(&handle.client.id)).await?;
    refuse_if_signed_in(&state, &handle.client).await?;

    let user = match &identifier {
        None => None,
        Some(name) => Some(state.store().user_by_username(name).await?.ok_or_else(identifier_not_found)?),
    };
    let now = now_ms();
    let challenge = if wants_passkey { Some(new_challenge(&state, user.as_ref(), &caller, now).await?) } else { None };
    let status = if user.is_some() || challenge.is_some() { SignInStatus::NeedsFirstFactor } else { SignInStatus::NeedsIdentifier };
    let sign_in = SignIn {
        id: new_id(IdKind::SignIn),
        client_id: handle.client.id.clone(),
        status,
        identifier,
        user_id: user.map(|u| u.id),
        challenge,
        created_session_id: None,
        created_at: now,
        updated_at: now,
        abandon_at: now + ms(state.settings().challenge_ttl).max(ms(std::time::Duration::from_secs(24 * 3600))),
    };
    state.store().create_sign_in(handle.unsaved(), &sign_in).await?;
    reply::envelope(&state, &caller, &handle, json::sign_in(&sign_in)).await
}

pub async fn prepare_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let handle = existing_client(&state, &caller).await?;
    limits::sign_in(&state, caller.ip.as_deref(), Some(&handle.client.id)).await?;
    let mut sign_in = load(&state, &handle.client.id, &id).await?;
    if sign_in.status == SignInStatus::Complete {
        return Err(already_complete());
    }
    let user = match &sign_in.user_id {
        Some(user_id) => state.store().user(user_id).await?,
        None => None,
    };
    let now = now_ms();
    sign_in.challenge = Some(new_challenge(&state, user.as_ref(), &caller, now).await?);
    sign_in.status = SignInStatus::NeedsFirstFactor;
    sign_in.updated_at = now;
    state.store().save_sign_in_challenge(&sign_in).await?;
    reply::envelope(&state, &caller, &handle, json::sign_in(&sign_in)).await
}

pub async fn attempt_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let credential_json = form.require("public_key_credential")?;
    let handle = existing_client(&state, &caller).await?;
    limits::sign_in(&state, caller.ip.as_deref(), Some(&handle.client.id)).await?;
    let mut subject = Subject { client_id: Some(handle.client.id.clone()), ..Subject::default() };
    // A completed sign-in's audit line is written in its own transaction; only a refused or
    // failed attempt is recorded here.
    let attempted = attempt(&state, &caller, &handle, &id, credential_json, &mut subject).await;
    let done = audit::refusal(&state, &caller, "sign_in", subject, attempted).await?;
    reply::envelope(&state, &caller, &handle, json::sign_in(&done)).await
}

async fn attempt(
    state: &AppState,
    caller: &Caller,
    handle: &ClientHandle,
    id: &str,
    credential_json: &str,
    subject: &mut Subject,
) -> ApiResult<SignIn> {
    let assertion = ceremony::parse_assertion(credential_json)?;
    let sign_in = load(state, &handle.client.id, id).await?;
    if sign_in.status == SignInStatus::Complete {
        return Err(already_complete());
    }
    // The challenge is verified as read here and spent by the write that records the outcome
    // (`fail_sign_in` or `complete_sign_in`), which matches only while it is unanswered: one
    // write transaction per attempt, and still one answer per challenge.
    let unanswered = sign_in.challenge.as_ref().filter(|c| c.attempts == 0 && sign_in.status == SignInStatus::NeedsFirstFactor);
    let Some((challenge, challenge_state)) = unanswered.and_then(|c| Some((c, c.state.as_ref()?))) else {
        return Err(challenge_spent());
    };
    let store = state.store();
    let passkey = store
        .passkey_by_credential_id(assertion.raw_id.as_ref())
        .await?
        .ok_or_else(passkey_not_registered)?;
    subject.passkey_id = Some(passkey.id.clone());
    subject.user_id = Some(passkey.user_id.clone());
    // Identifier-first: the passkey must belong to the user who was named.
    if sign_in.user_id.as_ref().is_some_and(|u| *u != passkey.user_id) {
        return Err(ApiError::from(CeremonyError::Rejected("the passkey does not belong to this user".into())));
    }
    let owner = store.user(&passkey.user_id).await?.ok_or_else(passkey_not_registered)?;
    // Two sign-ins started on one signed-out client: once one completes, the other is
    // refused here, before its challenge is spent. (Should both complete at the same
    // instant, complete_sign_in lets the later replace the earlier.)
    refuse_if_signed_in(state, &handle.client).await?;

    let now = now_ms();
    if now >= challenge.expire_at {
        return Err(spend_on_failure(state, &sign_in, challenge, VerificationStatus::Expired, verification_expired(), now).await);
    }
    let verified = match state.rp().finish_authentication(
        &assertion,
        challenge_state,
        &passkey.credential,
        owner.webauthn_handle,
        challenge.origin.as_deref(),
    ) {
        Ok(v) => v,
        Err(e) => {
            let error = ApiError::from(e);
            return Err(spend_on_failure(state, &sign_in, challenge, VerificationStatus::Failed, error, now).await);
        }
    };

    let session = new_session(state, &handle.client.id, &owner, now);
    subject.session_id = Some(session.id.clone());
    let completion = SignInCompletion {
        sign_in_id: sign_in.id.clone(),
        challenge_options: challenge.options_json.clone(),
        passkey_id: passkey.id.clone(),
        previous_sign_count: passkey.sign_count,
        updated_credential: verified.credential,
        session,
        now,
    };
    let audit_line = audit::line(caller, "sign_in", subject.clone(), None);
    if !store.complete_sign_in(&completion, &audit_line).await? {
        // Another answer spent this challenge, or another sign-in used this passkey, since
        // they were read.
        return Err(ApiError::from(CeremonyError::Rejected("the passkey was used concurrently; try again".into())));
    }
    let mut done = sign_in;
    done.status = SignInStatus::Complete;
    done.user_id = Some(owner.id.clone());
    done.created_session_id = subject.session_id.clone();
    done.updated_at = now;
    if let Some(challenge) = done.challenge.as_mut() {
        challenge.status = VerificationStatus::Verified;
        challenge.state = None;
        challenge.attempts += 1;
    }
    Ok(done)
}

/// Records a failed answer, spending the challenge, and gives back the error to answer with
/// (a store failure replaces it).
async fn spend_on_failure(
    state: &AppState,
    sign_in: &SignIn,
    challenge: &PasskeyChallenge,
    status: VerificationStatus,
    error: ApiError,
    now: i64,
) -> ApiError {
    let failure = SignInFailure {
        sign_in_id: &sign_in.id,
        client_id: &sign_in.client_id,
        challenge_options: &challenge.options_json,
        status,
        error_code: error.code,
        now,
    };
    let recorded = state.store().fail_sign_in(&failure).await;
    match recorded {
        // Spent here, or already by a concurrent answer: either way this one failed.
        Ok(_) => error,
        Err(e) => ApiError::from(e),
    }
}

/// A new session for `user`: `pending` while the instance requires tasks, else `active`.
pub fn new_session(state: &AppState, client_id: &str, user: &User, now: i64) -> Session {
    let tasks = state.settings().session_tasks.clone();
    Session {
        id: new_id(IdKind::Session),
        client_id: client_id.to_string(),
        user_id: user.id.clone(),
        status: if tasks.is_empty() { SessionStatus::Active } else { SessionStatus::Pending },
        tasks,
        created_at: now,
        updated_at: now,
        last_active_at: now,
        expire_at: now + ms(state.settings().session_ttl),
    }
}

/// Single-session mode: a signed-in client must sign out before signing in again. The
/// client's last active session is its only live one (sign-in and sign-up set it, sign-out
/// clears it), so a signed-out client costs no query here.
pub async fn refuse_if_signed_in(state: &AppState, client: &Client) -> ApiResult<()> {
    let Some(session_id) = &client.last_active_session_id else { return Ok(()) };
    let live = state.store().session(session_id).await?.is_some_and(|s| s.is_live(now_ms()));
    if live {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "session_exists",
            "You're already signed in.",
            "You're already signed in. Sign out before signing in or up again.",
        ));
    }
    Ok(())
}

async fn new_challenge(state: &AppState, user: Option<&User>, caller: &Caller, now: i64) -> ApiResult<PasskeyChallenge> {
    if !state.settings().passkeys_enabled {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "strategy_for_user_invalid",
            "Passkeys are disabled",
            "Passkey sign-in is disabled on this instance.",
        ));
    }
    let allowed = match user {
        None => Vec::new(),
        Some(user) => {
            let passkeys = state.store().passkeys_of(&user.id).await?;
            if passkeys.is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "strategy_for_user_invalid",
                    "No passkey for this account",
                    "This account has no passkey yet. Sign in another way and create one.",
                ));
            }
            passkeys.into_iter().map(|p| p.credential).collect()
        }
    };
    let (options, auth_state) = state.rp().begin_authentication(allowed).map_err(ApiError::from)?;
    let options_json = serde_json::to_string(&options).map_err(|_| ApiError::internal())?;
    Ok(PasskeyChallenge {
        status: VerificationStatus::Unverified,
        options_json,
        state: Some(auth_state),
        origin: caller.origin.clone(),
        attempts: 0,
        expire_at: now + ms(state.settings().challenge_ttl),
        error_code: None,
    })
}

async fn load(state: &AppState, client_id: &str, id: &str) -> ApiResult<SignIn> {
    if !looks_like(IdKind::SignIn, id) {
        return Err(ApiError::not_found("sign-in"));
    }
    state.store().sign_in(client_id, id).await?.ok_or_else(|| ApiError::not_found("sign-in"))
}

fn challenge_spent() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_failed",
        "This sign-in attempt has already been used",
        "Each passkey challenge can be answered once. Start a new sign-in.",
    )
}

fn identifier_not_found() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "form_identifier_not_found",
        "Couldn't find your account.",
        "Couldn't find your account.",
    )
    .param("identifier")
}

fn passkey_not_registered() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "passkey_not_registered",
        "Passkey not registered",
        "This passkey is not registered with any account. It may have been deleted.",
    )
}

fn already_complete() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_already_verified",
        "This sign-in is already complete",
        "This sign-in has already been completed. Start a new sign-in.",
    )
}

pub fn verification_expired() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "verification_expired",
        "The passkey challenge has expired",
        "This passkey challenge has expired. Please try again.",
    )
}
