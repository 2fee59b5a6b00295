//! The client and its sessions: `GET /client`, touch, tokens, remove, sign out
//! (docs/protocol.md §6.2, §6.5). The flows are in `latch_flows::sessions`.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_flows::sessions;
use serde_json::json;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::fapi::{json, reply};
use crate::state::{AppState, now_ms};

/// `GET /client`. A browser without a client gets `null`; a native app gets a new client and
/// its token (clerk-android cannot decode a `null` client, docs/protocol.md §13.1).
pub async fn get_client(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let now = now_ms();
    match sessions::client(&state, &caller.requester, now).await? {
        None if caller.native => {
            let answer = sessions::new_client(&state, &caller.requester, now).await?;
            Ok(reply::client_only(&caller, answer.client.as_ref(), answer.new_client_token.as_deref()))
        }
        view => Ok(reply::client_only(&caller, view.as_ref(), None)),
    }
}

/// Sign out: every session of this client ends (`signOut()` with one session), and the
/// client's token is replaced.
pub async fn end_all(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let answer = sessions::sign_out(&state, &caller.requester, now_ms()).await?;
    Ok(reply::client_only(&caller, Some(&answer.response), answer.new_client_token.as_deref()))
}

pub async fn touch(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = sessions::touch(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, json::session))
}

pub async fn remove(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = sessions::remove(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, json::session))
}

/// `POST /client/sessions/{id}/tokens/{template}` (`getToken({ template })`): Latch has no JWT
/// templates, so none is found.
pub async fn template_token(Path((_id, template)): Path<(String, String)>) -> ApiResult<Response> {
    Err(latch_flows::tokens::template_token(&template).into())
}

/// `POST /client/sessions/{id}/tokens`: the JWT comes back at the top level, not in `response`.
pub async fn token(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let jwt = sessions::token(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::plain(json!({ "object": "token", "jwt": jwt })))
}
