//! One handler per Backend API route: extract, call one flow, render.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latch_core::backend::MetadataPatch;
use latch_flows::backend::users::UserFilter;
use latch_flows::backend::{sessions, sign_in_tokens, users};
use latch_flows::{Refusal, handshake};
use latch_store::SessionQuery;
use serde_json::{Value, json};

use super::{BackendCaller, JsonBody, QueryPairs, invalid, json as render};
use crate::cookies::AppCookies;
use crate::error::ApiResult;
use crate::state::{AppState, now_ms};

pub async fn jwks(State(state): State<AppState>) -> Response {
    Json(state.tokens().jwks(now_ms())).into_response()
}

/// The handshake's payload (docs/protocol.md §14): the `Set-Cookie` directives a nonce stands
/// for, once, scoped to the app page the handshake returned to.
pub async fn handshake_payload(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let grant = handshake::payload(&state, query.one("nonce"), now_ms()).await?;
    let page = url::Url::parse(&grant.redirect_url).map_err(|e| Refusal::Internal(format!("stored redirect_url: {e}")))?;
    let directives = AppCookies::for_page(&state, &page).handshake_directives(&grant);
    Ok(Json(json!({ "directives": directives })).into_response())
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

pub async fn count_users(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let n = match user_filter(&query) {
        Some(filter) => users::count(&state, &filter).await?,
        None => 0,
    };
    Ok(Json(render::total_count(n)).into_response())
}

pub async fn get_user(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(render::user(&users::get(&state, &id).await?)).into_response())
}

pub async fn delete_user(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    users::delete(&state, &caller, &id, now_ms()).await?;
    Ok(Json(render::deleted("user", &id)).into_response())
}

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

pub async fn list_passkeys(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(render::passkeys(&users::passkeys(&state, &id).await?)).into_response())
}

pub async fn delete_passkey(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path((user_id, passkey_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    users::delete_passkey(&state, &caller, &user_id, &passkey_id, now_ms()).await?;
    Ok(Json(render::deleted("passkey", &passkey_id)).into_response())
}

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
    let data: Vec<Value> = page.iter().map(|s| render::session(s, now)).collect();
    // `paginated=true` (what the SDK sends) wants `{data, total_count}`; without it Clerk
    // answers a bare array.
    if query.one("paginated") == Some("true") {
        return Ok(Json(json!({ "data": data, "total_count": total })).into_response());
    }
    Ok(Json(Value::Array(data)).into_response())
}

pub async fn revoke_session(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let now = now_ms();
    let session = sessions::revoke(&state, &caller, &id, now).await?;
    Ok(Json(render::session(&session, now)).into_response())
}

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

pub async fn revoke_sign_in_token(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let token = sign_in_tokens::revoke(&state, &caller, &id, now_ms()).await?;
    Ok(Json(render::sign_in_token(&token, None)).into_response())
}
