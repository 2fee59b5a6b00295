//! The FAPI envelope: `{response, client}`, with the client token handed over on first contact.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_flows::{Answer, ClientView};
use serde::Serialize;

use crate::context::{Caller, PLAIN_CLIENT_COOKIE, SECURE_CLIENT_COOKIE};
use crate::fapi::json;

const CLIENT_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// `{response, client}` where `client` is the client as it is *after* the action, so
/// clerk-js sees new sessions and passkeys at once.
pub fn envelope<T, R: Serialize>(caller: &Caller, answer: Answer<T>, render: impl FnOnce(&T, Option<&ClientView>) -> R) -> Response {
    let response = render(&answer.response, answer.client.as_ref());
    let client = answer.client.as_ref().map(json::client);
    let body = Envelope { response, client };
    let reply = (StatusCode::OK, axum::Json(body)).into_response();
    with_client_token(caller, answer.new_client_token.as_deref(), reply)
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

/// Hands a new client's token, or a known client's fresh one (sign-in, sign-up and sign-out
/// rotate it), to the caller: a cookie for browsers, the `authorization` header for native
/// apps. The one place a client token is written to an answer.
pub fn with_client_token(caller: &Caller, new_token: Option<&str>, mut response: Response) -> Response {
    if let Some(token) = new_token {
        let headers = response.headers_mut();
        if caller.native {
            if let Ok(v) = HeaderValue::from_str(token) {
                headers.insert(header::AUTHORIZATION, v);
            }
        } else {
            // `__Host-` needs `Secure`, `Path=/` and no `Domain`: so it is whenever `Secure` is.
            let (name, secure) = if caller.secure { (SECURE_CLIENT_COOKIE, "; Secure") } else { (PLAIN_CLIENT_COOKIE, "") };
            let cookie =
                format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={CLIENT_COOKIE_MAX_AGE_SECS}{secure}");
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
