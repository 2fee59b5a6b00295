//! Clerk's Frontend API, the subset clerk-js uses for passkeys (docs/protocol.md).
//!
//! Only this module knows FAPI's paths and JSON. A handler extracts its inputs, calls one
//! flow of `latch_flows`, and renders the outcome with [`json`] inside the [`reply`] envelope.

pub(crate) mod json;
mod handshake;
mod me;
mod reply;
pub(crate) mod sessions;
mod sign_ins;
mod sign_ups;
mod verify;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use crate::context::Caller;
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/environment", get(environment).patch(environment))
        .route("/client", get(sessions::get_client).delete(sessions::end_all))
        .route("/client/handshake", get(handshake::handshake))
        .route("/client/sessions", delete(sessions::end_all))
        .route("/client/sessions/{id}/touch", post(sessions::touch))
        .route("/client/sessions/{id}/tokens", post(sessions::token))
        .route("/client/sessions/{id}/tokens/{template}", post(sessions::template_token))
        .route("/client/sessions/{id}/remove", post(sessions::remove))
        .route("/client/sessions/{id}/verify", post(verify::start))
        .route("/client/sessions/{id}/verify/prepare_first_factor", post(verify::prepare_first_factor))
        .route("/client/sessions/{id}/verify/attempt_first_factor", post(verify::attempt_first_factor))
        .route("/client/sign_ups", post(sign_ups::create))
        .route("/client/sign_ups/{id}", get(sign_ups::get))
        .route("/client/sign_ins", post(sign_ins::create))
        .route("/client/sign_ins/{id}/prepare_first_factor", post(sign_ins::prepare_first_factor))
        .route("/client/sign_ins/{id}/attempt_first_factor", post(sign_ins::attempt_first_factor))
        .route("/me", get(me::get))
        .route("/me/passkeys", post(me::create_passkey))
        .route("/me/passkeys/{id}", delete(me::delete_passkey).patch(me::update_passkey))
        .route("/me/passkeys/{id}/attempt_verification", post(me::attempt_verification))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

async fn environment(State(state): State<AppState>) -> Response {
    axum::Json(json::environment(state.settings())).into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut caller = Caller::from_parts(parts, state.settings());
        if !caller.native {
            let host = crate::context::request_host(parts, state.settings().trust_forwarded_for);
            caller.app_cookies = crate::cookies::AppCookies::for_host(state, host.as_deref(), caller.secure);
        }
        Ok(caller)
    }
}

/// FAPI answers carry the client, session tokens and ceremony options: no browser or proxy
/// may cache them, nor read them as another type.
pub async fn no_store(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    headers.insert(axum::http::header::X_CONTENT_TYPE_OPTIONS, axum::http::HeaderValue::from_static("nosniff"));
    response
}

/// clerk-js sends PATCH and DELETE as `POST ?_method=…` (docs/protocol.md §2.2); route them as meant.
pub fn apply_method_override(mut req: Request) -> Request {
    if req.method() == Method::POST {
        let wanted = req.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "_method")
                .map(|(_, v)| v.to_ascii_uppercase())
        });
        match wanted.as_deref() {
            Some("PATCH") => *req.method_mut() = Method::PATCH,
            Some("DELETE") => *req.method_mut() = Method::DELETE,
            Some("PUT") => *req.method_mut() = Method::PUT,
            _ => {}
        }
    }
    req
}

/// CSRF defence for cookie-authenticated calls: a state-changing request whose `Origin` may
/// not call Latch with credentials (an unlisted origin, or one only a wildcard covers, from
/// another host: `latch_core::origins`) is refused before any handler runs. (SameSite=Lax on
/// `__client` already keeps cross-site POSTs cookie-less; this also covers same-site
/// sibling origins, such as a user-content subdomain.)
pub async fn require_allowed_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let changes_state = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !changes_state {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let host = crate::context::request_host(&parts, state.settings().trust_forwarded_for);
    let origin = parts.headers.get(axum::http::header::ORIGIN).and_then(|v| v.to_str().ok());
    let foreign = match origin {
        Some("null") => true,
        Some(o) => !state.rp().may_call_with_credentials(o, host.as_deref()),
        None => parts
            .headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s == "cross-site"),
    };
    if foreign {
        return ApiError::from(latch_flows::Refusal::OriginInvalid).into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
