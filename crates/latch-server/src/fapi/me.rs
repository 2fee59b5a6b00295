//! The signed-in user and their passkeys: `GET /me`, `POST /me/passkeys` (begin),
//! `…/attempt_verification` (finish), rename and delete (docs/protocol.md §6.6). The flows
//! are in `latch_flows::passkeys`.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_flows::passkeys;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, now_ms};

pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let answer = passkeys::me(&state, &caller.requester, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::user)))
}

pub async fn create_passkey(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let answer = passkeys::begin(&state, &caller.requester, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::pending_passkey)))
}

pub async fn attempt_verification(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let credential_json = form.require("public_key_credential")?;
    let answer = passkeys::verify(&state, &caller.requester, &id, credential_json, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::passkey)))
}

pub async fn update_passkey(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    let name = form.require("name")?;
    let answer = passkeys::rename(&state, &caller.requester, &id, name, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::passkey)))
}

pub async fn delete_passkey(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = passkeys::delete(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::deleted)))
}
