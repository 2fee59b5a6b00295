//! Errors as FAPI speaks them: `{"errors":[{code,message,long_message,meta}],"clerk_trace_id"}`.
//!
//! Every failure a handler can meet becomes an [`ApiError`] with a 4xx status and a Clerk
//! code; a 5xx is reserved for faults of Latch itself (a database down), and even then the
//! body keeps the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latch_core::ceremony::CeremonyError;
use latch_core::ids::{IdKind, new_id};
use latch_store::StoreError;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub long_message: String,
    pub param_name: Option<String>,
    /// Seconds, for 429 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, long_message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            long_message: long_message.into(),
            param_name: None,
            retry_after: None,
        }
    }

    pub fn param(mut self, name: &str) -> Self {
        self.param_name = Some(name.to_string());
        self
    }

    pub fn param_missing(name: &str) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_missing",
            format!("{name} must be included."),
            format!("{name} must be included."),
        )
        .param(name)
    }

    pub fn param_invalid(name: &str, why: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_format_invalid",
            format!("{name} is invalid."),
            why,
        )
        .param(name)
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "resource_not_found",
            "Resource not found",
            format!("No {what} was found with this id."),
        )
    }

    pub fn signed_out() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "signed_out",
            "Signed out",
            "You are signed out. Sign in to continue.",
        )
    }

    pub fn origin_invalid() -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_invalid",
            "Origin not allowed",
            "This request came from an origin that is not allowed to use this Latch instance.",
        )
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_clerk_error",
            "Something went wrong",
            "Latch could not complete this request. Please try again.",
        )
    }

    pub fn body(&self) -> Value {
        json!({
            "errors": [{
                "code": self.code,
                "message": self.message,
                "long_message": self.long_message,
                "meta": match &self.param_name {
                    Some(p) => json!({ "param_name": p }),
                    None => json!({}),
                },
            }],
            "clerk_trace_id": new_id(IdKind::Trace),
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::QuotaExceeded => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_quota_exceeded",
                "Passkey limit reached",
                "You have reached the maximum number of passkeys. Delete one before adding another.",
            ),
            StoreError::Conflict("username") => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_identifier_exists",
                "That username is taken. Please try another.",
                "That username is taken. Please try another.",
            )
            .param("username"),
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "passkey_already_registered",
                "This passkey is already registered",
                "This passkey is already registered to an account.",
            ),
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl From<CeremonyError> for ApiError {
    fn from(e: CeremonyError) -> Self {
        match e {
            CeremonyError::Malformed(why) => ApiError::param_invalid(
                "public_key_credential",
                format!("The passkey response could not be read: {why}"),
            ),
            CeremonyError::AlreadyRegistered => ApiError::from(StoreError::Conflict("passkey")),
            other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "verification_failed",
                "Passkey verification failed",
                format!("The passkey could not be verified: {other}."),
            ),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
