//! One handler per Backend API route: extract, call one flow, render.
//!
//! Each handler carries its OpenAPI description right above it (`#[utoipa::path]`: method,
//! path, parameters, the answers it gives with their schemas, and the errors it refuses with
//! beyond those every route shares, see `docs.rs`). A new route is a handler here (or in a
//! sibling module) with such an annotation, registered in `super::api` with `routes!`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latch_core::backend::MetadataPatch;
use latch_flows::backend::users::UserFilter;
use latch_flows::backend::{sessions, sign_in_tokens, users};
use latch_flows::{Refusal, handshake};
use latch_store::SessionQuery;
use serde_json::{Value, json};

use super::json::{self, HandshakePayload, SessionListing, SessionPage};
use super::{BackendCaller, JsonBody, QueryPairs, invalid, json as render};
use crate::cookies::AppCookies;
use crate::error::{ApiResult, ClerkErrors};
use crate::state::{AppState, now_ms};

#[utoipa::path(get, path = "/jwks", tag = "tokens",
    description = "The session-token keys' public JWKs (RS256, and EdDSA when configured), retired keys while their tokens may live.",
    responses((status = 200, description = "The key set.", body = json::JwkSet)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.tokens().jwks(now_ms())).into_response()
}

/// The handshake's payload (docs/protocol.md §14): the `Set-Cookie` directives a nonce stands
/// for, once, scoped to the app page the handshake returned to.
#[utoipa::path(get, path = "/clients/handshake_payload", tag = "tokens",
    params(("nonce" = String, Query, description = "The handshake nonce from `__clerk_handshake_nonce`; good once.")),
    responses(
        (status = 200, description = "The cookies the nonce stands for.", body = HandshakePayload),
        (status = 404, description = "Unknown, used or expired nonce (`resource_not_found`).", body = ClerkErrors),
        (status = 422, description = "No nonce (`form_param_missing`).", body = ClerkErrors),
    ))]
pub async fn handshake_payload(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let grant = handshake::payload(&state, query.one("nonce"), now_ms()).await?;
    let page = url::Url::parse(&grant.redirect_url).map_err(|e| Refusal::Internal(format!("stored redirect_url: {e}")))?;
    let directives = AppCookies::for_page(&state, &page).handshake_directives(&grant);
    Ok(Json(HandshakePayload { directives }).into_response())
}

/// Filters Latch's users cannot match (they have no email, phone, wallet or external id):
/// given any, a listing is empty rather than everyone.
const UNMATCHABLE_FILTERS: &[&str] = &["email_address", "phone_number", "web3_wallet", "external_id"];

fn user_filter(query: &QueryPairs) -> Option<UserFilter> {
    if UNMATCHABLE_FILTERS.iter().any(|f| query.one(f).is_some()) {
        return None;
    }
    Some(UserFilter { user_ids: query.all("user_id"), usernames: query.all("username"), search: query.one("query").map(str::to_string) })
}

#[utoipa::path(get, path = "/users", tag = "users",
    description = "A page of users, newest first unless told. A bare array (what `getUserList` reads).",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 500, default 10.", minimum = 1, maximum = 500),
        ("offset" = Option<u32>, Query, description = "Default 0."),
        ("order_by" = Option<String>, Query, description = "`-created_at` (default) or `+created_at`."),
        ("user_id" = Option<Vec<String>>, Query, description = "Only these users (repeat the parameter).", explode = true),
        ("username" = Option<Vec<String>>, Query, description = "Only these usernames (repeat the parameter).", explode = true),
        ("query" = Option<String>, Query, description = "Users whose id or username contains this."),
        ("email_address" = Option<Vec<String>>, Query, description = "Latch's users have none: given, the page is empty.", explode = true),
        ("phone_number" = Option<Vec<String>>, Query, description = "As `email_address`.", explode = true),
        ("web3_wallet" = Option<Vec<String>>, Query, description = "As `email_address`.", explode = true),
        ("external_id" = Option<Vec<String>>, Query, description = "As `email_address`.", explode = true),
    ),
    responses(
        (status = 200, description = "The page.", body = Vec<json::UserJson>),
        (status = 422, description = "A bad `limit`, `offset`, `order_by` or too many `user_id`s (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn list_users(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let (limit, offset) = query.page()?;
    let oldest_first = match query.one("order_by") {
        None | Some("-created_at") => false,
        Some("+created_at") | Some("created_at") => true,
        Some(other) => return Err(invalid("order_by", format!("order_by {other:?} is not supported; use -created_at or +created_at."))),
    };
    let Some(filter) = user_filter(&query) else { return Ok(Json(json!([])).into_response()) };
    let shown = users::list(&state, &filter, oldest_first, limit, offset).await?;
    // A bare array: the SDK's getUserList reads it as the page (docs/backend.md §3.2).
    Ok(Json(Value::Array(shown.iter().map(render::user).collect())).into_response())
}

#[utoipa::path(get, path = "/users/count", tag = "users",
    description = "How many users the same filters as `GET /users` match.",
    params(
        ("user_id" = Option<Vec<String>>, Query, explode = true),
        ("username" = Option<Vec<String>>, Query, explode = true),
        ("query" = Option<String>, Query),
        ("email_address" = Option<Vec<String>>, Query, description = "Latch's users have none: given, the count is 0.", explode = true),
        ("phone_number" = Option<Vec<String>>, Query, explode = true),
        ("web3_wallet" = Option<Vec<String>>, Query, explode = true),
        ("external_id" = Option<Vec<String>>, Query, explode = true),
    ),
    responses(
        (status = 200, description = "The count.", body = json::TotalCountJson),
        (status = 422, description = "Too many `user_id`s (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn count_users(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let n = match user_filter(&query) {
        Some(filter) => users::count(&state, &filter).await?,
        None => 0,
    };
    Ok(Json(render::total_count(n)).into_response())
}

#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = String, Path, description = "The user's id (`user_…`).")),
    responses(
        (status = 200, description = "The user, with their passkeys.", body = json::UserJson),
        (status = 404, description = "No such user (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(render::user(&users::get(&state, &id).await?)).into_response())
}

#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    description = "Deletes the user, their passkeys and sessions (a `user.deleted` webhook event).",
    params(("id" = String, Path, description = "The user's id (`user_…`).")),
    responses(
        (status = 200, description = "Deleted.", body = json::DeletedJson),
        (status = 404, description = "No such user (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    users::delete(&state, &caller, &id, now_ms()).await?;
    Ok(Json(render::deleted("user", &id)).into_response())
}

#[utoipa::path(patch, path = "/users/{id}/metadata", tag = "users",
    description = "Merges the given metadata objects into the user's (deep; `null` removes a key).",
    params(("id" = String, Path, description = "The user's id (`user_…`).")),
    request_body(content = super::docs::MetadataUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The user, updated.", body = json::UserJson),
        (status = 404, description = "No such user (`resource_not_found`).", body = ClerkErrors),
        (status = 422, description = "A body that is not a JSON object, or metadata that is not an object (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn update_metadata(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let patch = MetadataPatch {
        public: body.get("public_metadata").cloned(),
        private: body.get("private_metadata").cloned(),
        unsafe_: body.get("unsafe_metadata").cloned(),
    };
    let user = users::update_metadata(&state, &caller, &id, &patch, now_ms()).await?;
    Ok(Json(render::user(&user)).into_response())
}

#[utoipa::path(get, path = "/users/{id}/passkeys", tag = "users",
    params(("id" = String, Path, description = "The user's id (`user_…`).")),
    responses(
        (status = 200, description = "The user's verified passkeys.", body = Vec<json::PasskeyJson>),
        (status = 404, description = "No such user (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn list_passkeys(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(render::passkeys(&users::passkeys(&state, &id).await?)).into_response())
}

#[utoipa::path(delete, path = "/users/{id}/passkeys/{passkey_id}", tag = "users",
    description = "Deletes the passkey and ends the sessions it made (docs/protocol.md §16.4).",
    params(("id" = String, Path, description = "The user's id (`user_…`)."), ("passkey_id" = String, Path, description = "The passkey's id.")),
    responses(
        (status = 200, description = "Deleted.", body = json::DeletedJson),
        (status = 404, description = "No such user, or no such passkey of theirs (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn delete_passkey(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path((user_id, passkey_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    users::delete_passkey(&state, &caller, &user_id, &passkey_id, now_ms()).await?;
    Ok(Json(render::deleted("passkey", &passkey_id)).into_response())
}

#[utoipa::path(get, path = "/sessions", tag = "sessions",
    params(
        ("user_id" = Option<String>, Query),
        ("client_id" = Option<String>, Query),
        ("status" = Option<String>, Query, description = "`active`, `ended`, `expired`, `removed`, `revoked`, `replaced` or `pending`."),
        ("limit" = Option<u32>, Query, description = "1 to 500, default 10.", minimum = 1, maximum = 500),
        ("offset" = Option<u32>, Query),
        ("paginated" = Option<bool>, Query, description = "`true` (what the SDK sends): `{data, total_count}`; otherwise a bare array."),
    ),
    responses(
        (status = 200, description = "The sessions, newest first.", body = SessionListing),
        (status = 422, description = "A bad `status`, `limit` or `offset` (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn list_sessions(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let (limit, offset) = query.page()?;
    let filter = SessionQuery {
        user_id: query.one("user_id").map(str::to_string),
        client_id: query.one("client_id").map(str::to_string),
        status: query.one("status").map(str::to_string),
        limit,
        offset,
    };
    let (page, total) = sessions::list(&state, &filter).await?;
    let now = now_ms();
    let data = page.iter().map(|s| render::session_json(s, now)).collect();
    // `paginated=true` (what the SDK sends) wants `{data, total_count}`; without it Clerk
    // answers a bare array.
    let listing = match query.one("paginated") {
        Some("true") => SessionListing::Page(SessionPage { data, total_count: total }),
        _ => SessionListing::Plain(data),
    };
    Ok(Json(listing).into_response())
}

#[utoipa::path(post, path = "/sessions/{id}/revoke", tag = "sessions",
    params(("id" = String, Path, description = "The session's id (`sess_…`).")),
    responses(
        (status = 200, description = "The session, now `revoked`.", body = json::SessionJson),
        (status = 400, description = "The session has already ended (`session_not_active`).", body = ClerkErrors),
        (status = 404, description = "No such session (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = now_ms();
    let session = sessions::revoke(&state, &caller, &id, now).await?;
    Ok(Json(render::session(&session, now)).into_response())
}

#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions",
    description = "The session as it is now, live or over (the same status the listing computes).",
    params(("id" = String, Path, description = "The session's id (`sess_…`).")),
    responses(
        (status = 200, description = "The session.", body = json::SessionJson),
        (status = 404, description = "No such session (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn get_session(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let session = sessions::get(&state, &id).await?;
    Ok(Json(render::session(&session, now_ms())).into_response())
}

#[utoipa::path(post, path = "/sessions/{id}/tokens", tag = "sessions",
    description = "A session token for a live session, signed now, as FAPI's but without `azp` (docs/protocol.md §12). Secret keys only.",
    params(("id" = String, Path, description = "The session's id (`sess_…`).")),
    request_body(content = super::docs::SessionTokenCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The token.", body = json::TokenJson),
        (status = 403, description = "Asked with an operator's console session, not a secret key (`authorization_invalid`).", body = ClerkErrors),
        (status = 404, description = "No such session, or it has ended (`resource_not_found`).", body = ClerkErrors),
        (status = 422, description = "A bad `expires_in_seconds` (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn create_session_token(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let expires_in = match body.get("expires_in_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| invalid("expires_in_seconds", "expires_in_seconds must be a whole number.".into()))?),
    };
    let jwt = sessions::token(&state, &caller, &id, expires_in, now_ms()).await?;
    Ok(Json(json::TokenJson { object: "token", jwt }).into_response())
}

#[utoipa::path(post, path = "/sessions/{id}/tokens/{template}", tag = "sessions",
    description = "A token from a JWT template: Latch has none, so every template is refused.",
    params(("id" = String, Path, description = "The session's id (`sess_…`)."), ("template" = String, Path, description = "The JWT template's name.")),
    responses((status = 404, description = "No such JWT template (`resource_not_found`).", body = ClerkErrors)))]
pub async fn create_session_token_from_template(Path((_id, template)): Path<(String, String)>) -> ApiResult<Response> {
    Err(latch_flows::tokens::template_token(&template).into())
}

#[utoipa::path(post, path = "/sign_in_tokens", tag = "sign_in_tokens",
    description = "Issues a one-time sign-in token for a user; its `token` is shown only here.",
    request_body(content = super::docs::SignInTokenCreate, content_type = "application/json"),
    responses(
        (status = 200, description = "The token, with its ticket and URL.", body = json::SignInTokenJson),
        (status = 422, description = "No or unknown `user_id`, or a bad `expires_in_seconds` (`form_param_missing`, `form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn create_sign_in_token(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let user_id = match body.get("user_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => return Err(invalid("user_id", "user_id must be a user's id.".into())),
        None => return Err(latch_flows::Refusal::ParamMissing("user_id".into()).into()),
    };
    let expires_in = match body.get("expires_in_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| invalid("expires_in_seconds", "expires_in_seconds must be a whole number.".into()))?),
    };
    let issued = sign_in_tokens::create(&state, &caller, &user_id, expires_in, now_ms()).await?;
    Ok(Json(render::sign_in_token(&issued.token, Some(&issued))).into_response())
}

#[utoipa::path(post, path = "/sign_in_tokens/{id}/revoke", tag = "sign_in_tokens",
    params(("id" = String, Path, description = "The sign-in token's id.")),
    responses(
        (status = 200, description = "The token, now `revoked` (its ticket is never shown again); revoking it again answers the same.", body = json::SignInTokenJson),
        (status = 404, description = "No sign-in token with this id (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn revoke_sign_in_token(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let token = sign_in_tokens::revoke(&state, &caller, &id, now_ms()).await?;
    Ok(Json(render::sign_in_token(&token, None)).into_response())
}
