//! The FAPI envelope: `{response, client}`, with the client token handed over on first contact
//! and `__client_uat` on every answer that shows the client (a browser's; docs/protocol.md §14).

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
    let reply = caller.hand_over_client_token(answer.new_client_token.as_deref(), reply);
    with_client_uat(caller, answer.client.as_ref(), reply)
}

/// The client as both `response` and `client` (`GET /client`, sign-out), or nulls for a
/// requester without one; with the client's token when this request made or rotated it.
pub fn client_only(caller: &Caller, view: Option<&ClientView>, new_token: Option<&str>) -> Response {
    let reply = match view.map(json::client) {
        Some(client) => plain(Envelope { response: &client, client: &client }),
        None => plain(serde_json::json!({ "response": null, "client": null })),
    };
    let reply = caller.hand_over_client_token(new_token, reply);
    with_client_uat(caller, view, reply)
}

/// Tells the app's server, through `__client_uat`, what the client's sign-in state is now
/// (a browser's answer only: a native app has no app cookies). No client: signed out.
fn with_client_uat(caller: &Caller, client: Option<&ClientView>, mut response: Response) -> Response {
    if !caller.native {
        let uat = client.map_or(latch_flows::view::SIGNED_OUT_UAT, ClientView::client_uat);
        caller.app_cookies.set_client_uat(uat, &mut response);
    }
    response
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
