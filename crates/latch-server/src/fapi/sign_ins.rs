//! Sign-in with a passkey: `POST /client/sign_ins`, `…/prepare_first_factor`,
//! `…/attempt_first_factor` (docs/protocol.md §6.4); or with a ticket (`strategy=ticket`). The flows are in `latch_flows::sign_in`.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_flows::sign_in;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, now_ms};

pub async fn create(State(state): State<AppState>, caller: Caller, form: FormFields) -> ApiResult<Response> {
    if form.get("strategy")? == Some("ticket") {
        // A sign-in token from the Backend API (docs/backend.md §3.4): completes at once.
        let ticket = form.require("ticket")?;
        let answer = sign_in::with_ticket(&state, &caller.requester, ticket, now_ms()).await?;
        return Ok(reply::envelope(&caller, answer, reply::only(json::sign_in)));
    }
    let wants_passkey = form.passkey_strategy(false)?;
    let identifier = form.get("identifier")?.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let answer = sign_in::start(&state, &caller.requester, wants_passkey, identifier, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::sign_in)))
}

pub async fn prepare_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let answer = sign_in::prepare(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::sign_in)))
}

pub async fn attempt_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let credential_json = form.require("public_key_credential")?;
    let answer = sign_in::attempt(&state, &caller.requester, &id, credential_json, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, reply::only(json::sign_in)))
}
