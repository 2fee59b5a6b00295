//! The FAPI envelope: `{response, client}`, with the client cookie set on first contact.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::context::{CLIENT_COOKIE, Caller, ClientHandle};
use crate::error::ApiResult;
use crate::fapi::json;
use crate::state::{AppState, now_ms};
use latch_store::ClientSnapshot;

const CLIENT_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// `{response, client}` where `client` is the client as it is *now* (after the handler's
/// writes), so clerk-js sees new sessions and passkeys at once.
pub async fn envelope(state: &AppState, caller: &Caller, handle: &ClientHandle, response: Value) -> ApiResult<Response> {
    let snapshot = state.store().client_snapshot(&handle.client.id).await?;
    envelope_of(state, caller, handle, snapshot.as_ref(), response)
}

/// [`envelope`] around a snapshot the handler already read (to build `response` from it).
pub fn envelope_of(
    state: &AppState,
    caller: &Caller,
    handle: &ClientHandle,
    snapshot: Option<&ClientSnapshot>,
    response: Value,
) -> ApiResult<Response> {
    let client = snapshot.map(|snapshot| json::client(state, snapshot, now_ms(), caller.origin.as_deref())).transpose()?;
    let answer = Envelope { response, client };
    Ok(with_client_token(caller, handle, (StatusCode::OK, axum::Json(answer)).into_response()))
}

/// `{response, client}`, serialised straight from its parts.
#[derive(Serialize)]
pub struct Envelope<R, C> {
    pub response: R,
    pub client: C,
}

/// Hands a newly created client's token to the caller: a cookie for browsers, the
/// `authorization` header for native apps.
pub fn with_client_token(caller: &Caller, handle: &ClientHandle, mut response: Response) -> Response {
    if let Some(token) = &handle.new_token {
        let headers = response.headers_mut();
        if caller.native {
            if let Ok(v) = HeaderValue::from_str(token) {
                headers.insert(header::AUTHORIZATION, v);
            }
        } else {
            let cookie = format!(
                "{CLIENT_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={CLIENT_COOKIE_MAX_AGE_SECS}{}",
                if caller.secure { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }
    response
}

pub fn plain(body: impl Serialize) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}
