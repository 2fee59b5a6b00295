//! `POST /client/sign_ups` and `GET /client/sign_ups/{id}` (docs/protocol.md §6.3). The
//! flows are in `latch_flows::sign_up`.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_flows::sign_up;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, now_ms};

pub async fn create(State(state): State<AppState>, caller: Caller, form: FormFields) -> ApiResult<Response> {
    let username = form.require("username")?.trim();
    let answer = sign_up::sign_up(&state, &caller.requester, username, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::sign_up)))
}

pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let answer = sign_up::get(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::sign_up)))
}
