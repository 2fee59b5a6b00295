//! The FAPI envelope: `{response, client}`, with the client token handed over on first contact.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use latch_flows::{Answer, ClientView};
use serde::Serialize;

use crate::context::Caller;
use crate::fapi::json;

/// `{response, client}` where `client` is the client as it is *after* the action, so
/// clerk-js sees new sessions and passkeys at once.
pub fn envelope<T, R: Serialize>(caller: &Caller, answer: Answer<T>, render: impl FnOnce(&T, Option<&ClientView>) -> R) -> Response {
    let response = render(&answer.response, answer.client.as_ref());
    let client = answer.client.as_ref().map(json::client);
    let body = Envelope { response, client };
    let reply = (StatusCode::OK, axum::Json(body)).into_response();
    caller.hand_over_client_token(answer.new_client_token.as_deref(), reply)
}

/// The response alone, for answers that render without the client.
pub fn only<T, R>(render: impl Fn(&T) -> R) -> impl FnOnce(&T, Option<&ClientView>) -> R {
    move |response, _| render(response)
}

/// `{response, client}`, serialised straight from its parts.
#[derive(Serialize)]
pub struct Envelope<R, C> {
    pub response: R,
    pub client: C,
}

pub fn plain(body: impl Serialize) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}
