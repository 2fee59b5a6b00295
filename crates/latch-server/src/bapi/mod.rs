//! The Backend API (BAPI): what an app's server calls with its secret key, through Clerk's
//! `@clerk/backend` (`clerkClient`, `authenticateRequest`, `currentUser()`), under
//! `/bapi/v1/…` so that `CLERK_API_URL=https://<latch>/bapi` (docs/protocol.md §9,
//! docs/backend.md §3).
//!
//! Set apart from FAPI on purpose:
//! - every request, unknown paths included, must present a live secret key
//!   (`Authorization: Bearer sk_live_…`) or, with the admin console on, an operator's session
//!   token ([`require_secret_key`], whose rule is `latch_flows::backend::operators`); a client
//!   cookie or a publishable key opens nothing here;
//! - no CORS: the router is mounted outside the CORS layer, so no browser page can read an
//!   answer (a secret key never belongs in a browser);
//! - JSON in and out, answers with `Content-Type: application/json` exactly (the SDK reads any
//!   other type, even with `; charset=utf-8`, as a string), errors in Clerk's envelope.
//!
//! A handler extracts, calls one flow of `latch_flows::backend`, and renders with [`json`].
//!
//! The OpenAPI 3.1 document of this API ([`openapi`], served without a key at
//! `GET /bapi/v1/openapi.json` and printed by `latch openapi`) is generated from the code:
//! each handler's `#[utoipa::path]` annotation (method, path, parameters, answers), the JSON
//! shapes' `ToSchema` derives (`latch_flows::backend::json`, [`crate::error::ClerkErrors`]),
//! and [`docs`] for what all routes share.

mod docs;
mod handlers;
mod json;
mod operations;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latch_flows::backend::operators::{self, BackendActor};
use latch_flows::backend::{DEFAULT_LIMIT, MAX_LIMIT};
use latch_flows::{Refusal, Requester};
use serde_json::Value;
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// Every Backend API route, in one place: each `routes!` entry takes its method and path from
/// the `#[utoipa::path]` annotation right above its handler, so the router serves exactly
/// what the OpenAPI document ([`openapi`]) lists. Add a route ONLY here, with an annotated
/// handler (see `handlers.rs`): a plain `.route(…)` would serve it undocumented, and
/// `tests::every_route_is_documented` and crates/latch/tests/openapi.rs refuse that.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::BackendApiDoc::openapi())
        .routes(routes!(handlers::jwks))
        .routes(routes!(handlers::handshake_payload))
        .routes(routes!(handlers::list_users))
        .routes(routes!(handlers::count_users))
        .routes(routes!(handlers::get_user, handlers::delete_user))
        .routes(routes!(handlers::update_metadata))
        .routes(routes!(handlers::list_passkeys))
        .routes(routes!(handlers::delete_passkey))
        .routes(routes!(handlers::list_sessions))
        .routes(routes!(handlers::revoke_session))
        .routes(routes!(handlers::get_session))
        .routes(routes!(handlers::create_session_token))
        .routes(routes!(handlers::create_session_token_from_template))
        .routes(routes!(handlers::create_sign_in_token))
        .routes(routes!(handlers::revoke_sign_in_token))
        .routes(routes!(operations::audit_events))
        .routes(routes!(operations::passkeys))
        .routes(routes!(operations::webhook_deliveries))
        .routes(routes!(operations::replay_webhook_delivery))
}

pub fn router() -> Router<AppState> {
    let (router, _document) = api().split_for_parts();
    router.fallback(not_found).method_not_allowed_fallback(not_found)
}

/// The Backend API's OpenAPI 3.1 document, generated once from the same routes the router
/// serves, with what every route shares (the bearer secret key, the guard's errors) added by
/// [`docs::shared_by_every_route`].
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_router, mut document) = api().split_for_parts();
        docs::shared_by_every_route(&mut document);
        document
    })
}

async fn not_found() -> ApiError {
    ApiError::not_found("endpoint")
}

/// Refuses every request that is not authenticated, before routing: a live secret key, or
/// with the console on an operator's session token (`operators::authenticate`, the one rule).
/// Only the `Authorization` header counts (never a cookie).
pub async fn require_secret_key(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match operators::authenticate(&state, presented, crate::state::now_ms()).await {
        Ok(actor) => {
            let mut req = req;
            req.extensions_mut().insert(Acting(actor));
            next.run(req).await
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// Who [`require_secret_key`] authenticated the request as.
#[derive(Clone)]
struct Acting(BackendActor);

/// Who called, for the audit trail: the caller's address and user agent, and who acted (the
/// secret key, by id, or the operator). No client.
pub struct BackendCaller(pub Requester);

impl FromRequestParts<AppState> for BackendCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = crate::context::Caller::from_parts(parts, state.settings());
        let (ip, user_agent) = (caller.requester.ip, caller.requester.user_agent);
        Ok(BackendCaller(match parts.extensions.get::<Acting>() {
            Some(Acting(actor)) => actor.clone().requester(ip, user_agent),
            None => Requester { ip, user_agent, ..Requester::default() },
        }))
    }
}

/// The query string's pairs, repeated names kept (the SDK sends arrays as repeats).
pub struct QueryPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let pairs = parts.uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Ok(QueryPairs(pairs))
    }
}

impl QueryPairs {
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone()).collect()
    }

    pub fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// `limit` (1 to 500, default 10) and `offset` (default 0).
    pub fn page(&self) -> Result<(u32, u32), ApiError> {
        let limit = match self.one("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(invalid("limit", format!("limit must be a number from 1 to {MAX_LIMIT}."))),
            },
        };
        let offset = match self.one("offset") {
            None => 0,
            Some(text) => text.parse::<u32>().map_err(|_| invalid("offset", "offset must be a non-negative number.".into()))?,
        };
        Ok((limit, offset))
    }
}

/// A JSON object body; an empty body is an empty object (the SDK sends
/// `Content-Type: application/json` even on bodyless POSTs and DELETEs).
pub struct JsonBody(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), crate::MAX_BODY_BYTES)
            .await
            .map_err(|_| ApiError::from(Refusal::BodyTooLarge))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(serde_json::Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            _ => Err(invalid("body", "The request body must be a JSON object.".into())),
        }
    }
}

pub fn invalid(param: &str, why: String) -> ApiError {
    Refusal::ParamInvalid { param: param.into(), why }.into()
}

#[cfg(test)]
mod tests {
    /// The router is built only from `routes!` (documented) entries: a `.route(` call in
    /// [`super::api`] would serve a path the OpenAPI document does not list.
    #[test]
    fn every_route_is_documented() {
        let source = include_str!("mod.rs");
        let start = source.find("fn api()").expect("api() is defined");
        let body = &source[start..start + source[start..].find("\n}\n").expect("api() ends")];
        assert!(body.contains(".routes(routes!("), "api() registers its routes with routes!");
        for bypass in [".route(", ".nest(", ".merge(", ".route_service("] {
            assert!(!body.contains(bypass), "{bypass} in api() serves routes the OpenAPI document does not list: use .routes(routes!(handler)) with an annotated handler");
        }
    }
}
