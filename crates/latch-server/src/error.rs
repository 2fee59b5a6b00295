//! Errors as FAPI speaks them: `{"errors":[{code,message,long_message,meta}],"clerk_trace_id"}`.
//!
//! Which Clerk error a refusal becomes is decided in one table,
//! [`latch_flows::Refusal::clerk`]; this module only writes it out. A 5xx is reserved for
//! faults of Latch itself (a database down), and even then the body keeps the same shape and
//! tells nothing of the cause: the cause travels in the response's extensions to
//! [`log_server_faults`], the one place that logs it.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latch_core::ids::{IdKind, new_id};
use latch_flows::{ClerkError, Refusal};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::state::now_ms;

/// A refusal on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub refusal: Refusal,
}

impl ApiError {
    pub fn not_found(what: &'static str) -> Self {
        Refusal::NotFound(what).into()
    }

    pub fn clerk(&self) -> ClerkError {
        self.refusal.clerk()
    }

    fn body(shown: &ClerkError) -> ClerkErrors {
        ClerkErrors {
            errors: vec![ClerkErrorJson {
                code: shown.code.to_string(),
                message: shown.message.clone(),
                long_message: shown.long_message.clone(),
                meta: match (&shown.param, shown.reverification_after_minutes, &shown.unknown_credential) {
                    (Some(p), _, _) => json!({ "param_name": p }),
                    // What the action asks for (docs/protocol.md §16), in the shape of Clerk's
                    // ReverificationConfig.
                    (None, Some(minutes), _) => json!({ "reverification": { "level": "first_factor", "afterMinutes": minutes } }),
                    // The argument of `PublicKeyCredential.signalUnknownCredential` as is
                    // (docs/protocol.md §20). Under `data` because that is the one meta field
                    // clerk-js's ClerkAPIError keeps whole; it drops names it does not know.
                    (None, None, Some(unknown)) => {
                        json!({ "data": { "rpId": unknown.rp_id, "credentialId": unknown.credential_id } })
                    }
                    (None, None, None) => json!({}),
                },
            }],
            clerk_trace_id: new_id(IdKind::Trace, now_ms()),
        }
    }
}

/// Clerk's error envelope, every error answer's body (FAPI's and the Backend API's). Typed so
/// the OpenAPI document's `ClerkErrors` schema is this very shape.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClerkErrors {
    /// Exactly one error.
    #[schema(min_items = 1, max_items = 1)]
    pub errors: Vec<ClerkErrorJson>,
    /// An id for this answer, to quote when reporting it.
    pub clerk_trace_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClerkError)]
pub struct ClerkErrorJson {
    /// Clerk's error code, e.g. `resource_not_found`, `form_param_format_invalid`,
    /// `clerk_key_invalid` (the table: `latch_flows::Refusal::clerk`).
    pub code: String,
    pub message: String,
    pub long_message: String,
    /// `{param_name}` for a parameter at fault, `{reverification}` when the action needs a
    /// recent verification, `{data: {rpId, credentialId}}` for an unknown passkey
    /// (`passkey_not_registered`, the argument of WebAuthn's `signalUnknownCredential`),
    /// otherwise `{}`.
    #[schema(value_type = Object)]
    pub meta: Value,
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError { refusal }
    }
}

/// The cause of a 5xx, for [`log_server_faults`] only.
#[derive(Debug, Clone)]
struct Fault(String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let shown = self.clerk();
        let status = StatusCode::from_u16(shown.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(ApiError::body(&shown))).into_response();
        if let Some(secs) = shown.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if let Refusal::Internal(cause) = self.refusal {
            response.extensions_mut().insert(Fault(cause));
        }
        response.extensions_mut().insert(Shaped);
        response
    }
}

/// Every error answer reaches the client in Clerk's shape: an error the framework wrote itself
/// (axum's extractor rejections, a 404/405 of the router, the timeout's empty 408) is
/// replaced by the refusal its status stands for, keeping its status and headers (so CORS,
/// added outside this layer, applies to it too). Nothing of the framework's message is sent.
pub async fn shape_framework_rejections(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let shaped = response.extensions().get::<Shaped>().is_some();
    if shaped || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let refusal = match status.as_u16() {
        404 | 405 => Refusal::NotFound("endpoint"),
        408 => Refusal::RequestTimeout,
        413 => Refusal::BodyTooLarge,
        431 => Refusal::HeadTooLarge,
        code @ 400..=499 => Refusal::Malformed(code),
        code => Refusal::Internal(format!("the HTTP layer answered {code}")),
    };
    let (parts, _framework_body) = response.into_parts();
    let mut shaped = ApiError::from(refusal).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().append(name.clone(), value.clone());
        }
    }
    shaped
}

/// Marks an answer already in Clerk's shape ([`ApiError`]).
#[derive(Debug, Clone, Copy)]
struct Shaped;

/// Logs every answer of 500 or more, with its cause when a flow gave one.
pub async fn log_server_faults(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    if response.status().is_server_error() {
        let cause = response.extensions().get::<Fault>().map_or("", |f| f.0.as_str());
        tracing::error!(%method, %path, status = response.status().as_u16(), cause, "server fault");
    }
    response
}

pub type ApiResult<T> = Result<T, ApiError>;
