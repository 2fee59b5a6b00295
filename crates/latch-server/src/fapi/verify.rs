//! Reverification: `POST /client/sessions/{id}/verify`, `…/verify/prepare_first_factor`,
//! `…/verify/attempt_first_factor` (docs/protocol.md §16), answering the session
//! verification. The flows are in `latch_flows::reverify`.

use axum::extract::{Path, State};
use axum::response::Response;
use latch_flows::reverify;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::fapi::{json, reply};
use crate::form::FormFields;
use crate::state::{AppState, now_ms};

/// `session.startVerification({ level })`.
pub async fn start(State(state): State<AppState>, caller: Caller, Path(id): Path<String>, form: FormFields) -> ApiResult<Response> {
    let level = form.require("level")?;
    let answer = reverify::start(&state, &caller.requester, &id, level, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, json::session_verification))
}

/// `session.prepareFirstFactorVerification({ strategy: 'passkey' })`: the request options
/// come back as the first factor verification's nonce.
pub async fn prepare_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let answer = reverify::prepare(&state, &caller.requester, &id, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, json::session_verification))
}

/// `session.attemptFirstFactorVerification({ strategy: 'passkey', publicKeyCredential })`.
pub async fn attempt_first_factor(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    form: FormFields,
) -> ApiResult<Response> {
    form.passkey_strategy(true)?;
    let credential_json = form.require("public_key_credential")?;
    let answer = reverify::attempt(&state, &caller.requester, &id, credential_json, now_ms()).await?;
    Ok(reply::envelope(&caller, answer, json::session_verification))
}
