//! The client and its sessions: `GET /client`, touch, tokens, remove, sign out.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Session, SessionStatus};
use serde_json::json;

use crate::audit::{self, Subject};
use crate::context::{Caller, ClientHandle, existing_client, find_client};
use crate::error::{ApiError, ApiResult};
use crate::fapi::{json, reply};
use crate::state::{AppState, now_ms};
use crate::tokens::SessionClaims;

pub async fn get_client(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    match find_client(&state, &caller).await? {
        None => Ok(reply::plain(json!({ "response": null, "client": null }))),
        Some(c) => client_as_response(&state, &caller, &c.id).await,
    }
}

/// Sign out: every session of this client ends (`signOut()` with one session).
pub async fn end_all(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let handle = existing_client(&state, &caller).await?;
    let subject = Subject { client_id: Some(handle.client.id.clone()), ..Subject::default() };
    let audit_line = audit::line(&caller, "sign_out", subject, None);
    state.store().end_client_sessions(&handle.client.id, SessionStatus::Ended, now_ms(), Some(&audit_line)).await?;
    client_as_response(&state, &caller, &handle.client.id).await
}

/// `GET /client` and sign-out answer with the client as both `response` and `client`.
async fn client_as_response(state: &AppState, caller: &Caller, client_id: &str) -> ApiResult<Response> {
    let snapshot = state.store().client_snapshot(client_id).await?.ok_or_else(ApiError::signed_out)?;
    let client_json = json::client(state, &snapshot, now_ms(), caller.origin.as_deref())?;
    Ok(reply::plain(reply::Envelope { response: &client_json, client: &client_json }))
}

pub async fn touch(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let (handle, session) = live_session(&state, &caller, &id).await?;
    let now = now_ms();
    if session.touch_changes_anything(handle.client.last_active_session_id.as_deref(), now) {
        state.store().touch_session(&handle.client.id, &session.id, now).await?;
    }
    let snapshot = state.store().client_snapshot(&handle.client.id).await?;
    let touched = snapshot.as_ref().and_then(|s| s.sessions.iter().find(|v| v.session.id == session.id));
    let body = match touched {
        Some(view) => json::session_view(&state, view, now, caller.origin.as_deref())?,
        // Ended between the touch and the read: show it as it is now.
        None => {
            let session = state.store().session(&session.id).await?.unwrap_or(session);
            json::session_with_user(&state, &session, caller.origin.as_deref()).await?
        }
    };
    reply::envelope_of(&state, &caller, &handle, snapshot.as_ref(), body)
}

pub async fn remove(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let (handle, session) = live_session(&state, &caller, &id).await?;
    state.store().end_session(&handle.client.id, &session.id, SessionStatus::Removed, now_ms()).await?;
    let subject = Subject {
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        client_id: Some(handle.client.id.clone()),
        ..Subject::default()
    };
    audit::record(&state, &caller, "sign_out", subject, None).await;
    let session = state.store().session(&session.id).await?.unwrap_or(session);
    let body = json::session_with_user(&state, &session, caller.origin.as_deref()).await?;
    reply::envelope(&state, &caller, &handle, body).await
}

/// `POST /client/sessions/{id}/tokens`: the JWT comes back at the top level, not in `response`.
pub async fn token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let (_handle, session) = live_session(&state, &caller, &id).await?;
    let jwt = sign_token(&state, &session, caller.origin.as_deref())?;
    Ok(reply::plain(json!({ "object": "token", "jwt": jwt })))
}

/// A session JWT for `session`, valid for the instance's token lifetime.
pub fn sign_token(state: &AppState, session: &Session, azp: Option<&str>) -> ApiResult<String> {
    let now = now_ms();
    let now_secs = now / 1000;
    let settings = state.settings();
    let claims = SessionClaims {
        sid: &session.id,
        sub: &session.user_id,
        iat: now_secs,
        nbf: now_secs - 5,
        exp: now_secs + i64::try_from(settings.token_ttl.as_secs()).unwrap_or(60),
        iss: &state.inner.issuer,
        azp,
        sts: session.status_at(now).as_str(),
        v: 2,
    };
    state.inner.tokens.sign_reusable(&claims).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        ApiError::internal()
    })
}

/// A live session of the caller's client. A session that exists but has ended answers
/// 401, which tells clerk-js to refetch the client and sign out locally.
async fn live_session(state: &AppState, caller: &Caller, id: &str) -> ApiResult<(ClientHandle, Session)> {
    let handle = existing_client(state, caller).await?;
    if !looks_like(IdKind::Session, id) {
        return Err(ApiError::not_found("session"));
    }
    let session = state
        .store()
        .session(id)
        .await?
        .filter(|s| s.client_id == handle.client.id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    if !session.is_live(now_ms()) {
        return Err(ApiError::signed_out());
    }
    Ok((handle, session))
}
