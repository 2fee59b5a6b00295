//! What the OpenAPI document says beyond the handlers' own annotations: the API's title and
//! servers, the bearer secret key every route requires, the errors every route can answer
//! (the secret-key guard's 401 and the HTTP layer's 408, 413, 431 and 500, all in Clerk's
//! envelope), and the request bodies (the handlers read them field by field, for precise
//! errors; these types only document them).
//!
//! The routes themselves are in [`super::api`]; each handler's `#[utoipa::path]` says its
//! method, path, parameters and answers.

use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, ToSchema};

use crate::error::ClerkErrors;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Latch Backend API",
        description = "The subset of Clerk's Backend API that Latch serves, for an app's server \
            (`@clerk/backend` with `CLERK_API_URL=https://<latch>/bapi`). Every route needs a \
            secret key (`latch keys create`) as `Authorization: Bearer sk_live_…`. Times are Unix \
            milliseconds. Errors use Clerk's envelope (`ClerkErrors`). Contract: docs/protocol.md §9.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/bapi/v1", description = "Relative to the Latch server")),
    security(("secret_key" = [])),
    components(schemas(ClerkErrors)),
    modifiers(&BearerSecretKey),
    tags(
        (name = "users", description = "Users, their metadata and passkeys"),
        (name = "sessions", description = "Sessions"),
        (name = "sign_in_tokens", description = "One-time sign-in tokens (recovery links)"),
        (name = "tokens", description = "Session-token keys and the cookie handshake"),
        (name = "operations", description = "Latch's own routes for operators: audit trail, passkey details, webhook deliveries"),
    )
)]
pub struct BackendApiDoc;

struct BearerSecretKey;

impl Modify for BearerSecretKey {
    fn modify(&self, document: &mut OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "secret_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A live secret key, `sk_live_…` (`latch keys create`).",
                    ))
                    .build(),
            ),
        );
    }
}

/// The errors any route can answer, whatever its handler does: added to every operation so
/// that no route's annotation has to repeat them.
const SHARED_ERRORS: &[(&str, &str)] = &[
    (
        "401",
        "No live secret key (`clerk_key_invalid`), or with the admin console on, no valid operator session token (`authentication_invalid`).",
    ),
    (
        "403",
        "With the admin console on: the session token's user is not an operator (`authorization_invalid`), or a destructive call's session was verified too long ago (`session_reverification_required`).",
    ),
    (
        "408",
        "The request took longer than 30 s (`request_timeout`).",
    ),
    (
        "413",
        "The body is larger than 64 KiB (`request_body_too_large`).",
    ),
    (
        "431",
        "The URL and headers are too large (`request_header_fields_too_large`).",
    ),
    (
        "500",
        "A fault of Latch itself (`internal_clerk_error`); the body tells nothing of the cause.",
    ),
];

pub fn shared_by_every_route(document: &mut OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            add_shared_errors(operation);
        }
    }
}

fn add_shared_errors(operation: &mut Operation) {
    for (status, description) in SHARED_ERRORS {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(clerk_error(description)));
    }
}

/// An answer in Clerk's error envelope.
fn clerk_error(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ClerkErrors")))
                .build(),
        )
        .build()
}

/// `PATCH /users/{id}/metadata`: each given object is merged into the stored one (a key set
/// to `null` is removed); an absent one is left as it is.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MetadataUpdate {
    #[schema(value_type = Option<Object>)]
    pub public_metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub private_metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub unsafe_metadata: Option<Value>,
}

/// `POST /sign_in_tokens`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SignInTokenCreate {
    /// The user the token signs in.
    pub user_id: String,
    /// Lifetime in seconds, at most 30 days (the default).
    #[schema(minimum = 1, maximum = 2592000)]
    pub expires_in_seconds: Option<i64>,
}

/// `POST /sessions/{id}/tokens` (the body is optional).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionTokenCreate {
    /// The token's lifetime in seconds: from 1 to the instance's session-token lifetime
    /// (`--token-ttl-secs`, the default); longer is refused.
    #[schema(minimum = 1)]
    pub expires_in_seconds: Option<i64>,
}
