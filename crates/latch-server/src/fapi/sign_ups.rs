//! `POST /client/sign_ups`: a username and nothing else (no password), which signs the new
//! user in. Passkeys are added afterwards, signed in, as in Clerk's guide.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_core::ids::{IdKind, looks_like, new_id};
use latch_core::model::{SignUp, User, username_is_valid};
use uuid::Uuid;

use crate::audit::{self, Subject};
use crate::context::{Caller, client_or_new, existing_client};
use crate::limits;
use crate::error::{ApiError, ApiResult};
use crate::fapi::sign_ins::{new_session, refuse_if_signed_in};
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, now_ms};

pub async fn create(State(state): State<AppState>, caller: Caller, form: FormFields) -> ApiResult<Response> {
    let username = form.require("username")?.trim().to_string();
    if !username_is_valid(&username) {
        return Err(ApiError::param_invalid(
            "username",
            "Usernames are 3 to 64 characters: letters, digits, '_', '-' and '.'.",
        ));
    }
    limits::sign_up(&state, caller.ip.as_deref()).await?;
    let handle = client_or_new(&state, &caller).await?;
    refuse_if_signed_in(&state, &handle.client).await?;
    let now = now_ms();
    let user = User {
        id: new_id(IdKind::User),
        username,
        webauthn_handle: Uuid::new_v4(),
        created_at: now,
        updated_at: now,
        last_sign_in_at: Some(now),
    };
    let session = new_session(&state, &handle.client.id, &user, now);
    let sign_up = SignUp {
        id: new_id(IdKind::SignUp),
        client_id: handle.client.id.clone(),
        username: user.username.clone(),
        created_user_id: user.id.clone(),
        created_session_id: session.id.clone(),
        created_at: now,
    };
    let subject = Subject {
        user_id: Some(user.id.clone()),
        session_id: Some(session.id.clone()),
        client_id: Some(handle.client.id.clone()),
        ..Subject::default()
    };
    // The success line is written with the sign-up (and the new client) in one transaction;
    // only a refusal is recorded here.
    let audit_line = audit::line(&caller, "sign_up", subject.clone(), None);
    let stored = state.store().sign_up(handle.unsaved(), &user, &sign_up, &session, &audit_line).await;
    audit::refusal(&state, &caller, "sign_up", subject, stored.map_err(ApiError::from)).await?;
    reply::envelope(&state, &caller, &handle, json::sign_up(&sign_up)).await
}

pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let handle = existing_client(&state, &caller).await?;
    if !looks_like(IdKind::SignUp, &id) {
        return Err(ApiError::not_found("sign-up"));
    }
    let sign_up = state
        .store()
        .sign_up_record(&handle.client.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("sign-up"))?;
    reply::envelope(&state, &caller, &handle, json::sign_up(&sign_up)).await
}
