//! Latch's HTTP face: Clerk's Frontend API subset, the Backend API (`/bapi/v1`, secret key
//! only, no CORS), the JWKS and WebAuthn well-known files, and the development page.
//!
//! Invariant: only this crate knows HTTP and FAPI's JSON. It turns requests into calls on
//! `latch-flows` (one flow per user action) and their outcomes into FAPI answers.

mod bapi;
mod association;
mod console;
mod context;
mod cookies;
mod dev_page;
mod error;
mod fapi;
pub mod form;
pub mod lifecycle;
mod listener;
pub mod operations;
mod portal;
mod state;
pub mod webhooks;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use lifecycle::{Shutdown, Stopping};
pub use listener::{ConnectionLimits, serve, serve_operations};
pub use state::{AppState, now_ms};
pub use latch_flows::tokens::SigningAlgorithm;
pub use latch_flows::TokenSigner;

/// Request bodies larger than this are refused with 413: a registration credential is a
/// few KiB; nothing in FAPI needs more.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole application, `_method` override included, ready for `axum::serve`.
pub fn service(state: AppState) -> tower::util::MapRequest<Router, fn(axum::extract::Request) -> axum::extract::Request> {
    let override_method: fn(axum::extract::Request) -> axum::extract::Request = fapi::apply_method_override;
    tower::util::MapRequestLayer::new(override_method).layer(router(state))
}

pub fn router(state: AppState) -> Router {
    let fapi = fapi::router()
        .layer(axum::middleware::from_fn_with_state(state.clone(), fapi::require_allowed_origin))
        .layer(axum::middleware::from_fn(fapi::no_store))
        .route_layer(axum::middleware::from_fn(operations::remember_route));
    let mut app = Router::new()
        .nest("/v1", fapi)
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/jwks", get(jwks))
        .route("/.well-known/webauthn", get(related_origins))
        .route("/.well-known/apple-app-site-association", get(association::apple_app_site_association))
        .route("/.well-known/assetlinks.json", get(association::assetlinks));
    if state.settings().dev_mode {
        app = app.merge(dev_page::router());
    }
    if state.settings().portal {
        app = app.merge(portal::router());
    }
    if state.settings().console {
        app = app.merge(console::router());
    }
    // Every answer carries the route template it matched, for the latency histogram.
    let app = app.route_layer(axum::middleware::from_fn(operations::remember_route));
    // The Backend API sits outside the CORS layer: no browser may read its answers.
    let bapi = bapi::router()
        .layer(axum::middleware::from_fn_with_state(state.clone(), bapi::require_secret_key))
        .route_layer(axum::middleware::from_fn(operations::remember_route));
    let public = guarded(app.fallback(|| async { ApiError::not_found("page") })).layer(cors(&state));
    Router::new()
        // Public documentation, like the JWKS: it holds no data of the instance (SECURITY.md).
        .route("/bapi/v1/openapi.json", get(openapi_json))
        .nest("/bapi/v1", guarded(bapi))
        .merge(public)
        .merge(operations::main_routes(&state))
        .layer(axum::middleware::from_fn(error::log_server_faults))
        .layer(axum::middleware::from_fn(operations::observe_http))
        .with_state(state)
}

/// The Backend API's OpenAPI 3.1 document, as JSON (`latch openapi` prints the same text).
pub fn backend_api_openapi_json() -> String {
    // Serializing utoipa's document types cannot fail (strings, maps and numbers only).
    bapi::openapi().to_pretty_json().unwrap_or_default()
}

async fn openapi_json() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], backend_api_openapi_json()).into_response()
}

/// What every route gets, inside out: the body limit, the 30 s timeout, the head check, and
/// Clerk-shaped errors (so the timeout's 408 is shaped too). FAPI's CORS goes around it, so
/// that even those answers carry CORS headers.
fn guarded(routes: Router<AppState>) -> Router<AppState> {
    routes
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(axum::middleware::from_fn(refuse_oversized_heads))
        .layer(axum::middleware::from_fn(error::shape_framework_rejections))
}

/// Request heads over [`listener::MAX_HEAD_BYTES`] get a Clerk-shaped 431. (hyper reads
/// heads up to twice that and answers a bare 431 itself beyond.)
async fn refuse_oversized_heads(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let uri = req.uri().to_string().len();
    let headers: usize = req.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if uri + headers > listener::MAX_HEAD_BYTES {
        return ApiError::from(latch_flows::Refusal::HeadTooLarge).into_response();
    }
    next.run(req).await
}

fn cors(state: &AppState) -> CorsLayer {
    let rp = state.rp().clone();
    CorsLayer::new()
        // Only origins that may read with credentials: a page Latch serves itself needs no
        // CORS, so the request's host plays no part here.
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| rp.may_call_with_credentials(o, None))
        }))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers(tower_http::cors::AllowHeaders::mirror_request())
        .expose_headers([header::RETRY_AFTER, header::AUTHORIZATION, HeaderName::from_static("x-clerk-trace-id")])
        .max_age(Duration::from_secs(600))
}

async fn jwks(State(state): State<AppState>) -> Response {
    axum::Json(state.tokens().jwks(now_ms())).into_response()
}

/// WebAuthn Related Origin Requests: the exact origins allowed to use this RP ID (browsers
/// match this list exactly, so wildcards cannot appear in it).
async fn related_origins(State(state): State<AppState>) -> Response {
    let origins: Vec<String> = state
        .rp()
        .origins()
        .iter()
        .filter(|o| matches!(o, latch_core::origins::OriginPattern::Exact(_)))
        .map(|o| o.to_string())
        .collect();
    axum::Json(serde_json::json!({ "origins": origins })).into_response()
}
