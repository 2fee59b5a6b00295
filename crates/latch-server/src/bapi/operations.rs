//! Latch's own Backend API routes (docs/protocol.md §17), the admin console's reads and its
//! webhook replay: extract, call one flow of `latch_flows::backend::operations`, render.
//! Authenticated like every Backend API route (a secret key, or an operator's session token).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latch_flows::Refusal;
use latch_flows::backend::operations;
use latch_store::AuditQuery;
use serde_json::json;

use super::{BackendCaller, QueryPairs, invalid, json as render};
use crate::error::ApiResult;
use crate::state::{AppState, now_ms};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit_events", get(audit_events))
        .route("/passkeys", get(passkeys))
        .route("/webhooks/deliveries", get(webhook_deliveries))
        .route("/webhooks/deliveries/{id}/replay", post(replay_webhook_delivery))
}

/// `GET /audit_events?user_id=&action=&since=&until=&limit=&offset=` (times in ms): newest
/// first, `{data, total_count}`.
async fn audit_events(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let (limit, offset) = query.page()?;
    let filter = AuditQuery {
        user_id: query.one("user_id").map(str::to_string),
        event: query.one("action").map(str::to_string),
        since: millis(&query, "since")?,
        until: millis(&query, "until")?,
        limit,
        offset,
    };
    let (page, total) = operations::audit_events(&state, &filter).await?;
    Ok(Json(render::page(page.iter().map(render::audit_event).collect(), total)).into_response())
}

/// `GET /passkeys?user_id=`: a user's passkeys in detail, `{data, total_count}`.
async fn passkeys(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let user_id = query.one("user_id").ok_or_else(|| Refusal::ParamMissing("user_id".into()))?;
    let list = operations::passkey_details(&state, user_id).await?;
    let total = list.len() as u64;
    Ok(Json(render::page(list.iter().map(render::passkey_detail).collect(), total)).into_response())
}

/// `GET /webhooks/deliveries?status=pending|failed|delivered&limit=`: newest first.
async fn webhook_deliveries(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let (limit, _) = query.page()?;
    let list = operations::webhook_deliveries(&state, query.one("status"), limit).await?;
    let total = list.len() as u64;
    Ok(Json(render::page(list.iter().map(render::webhook_delivery).collect(), total)).into_response())
}

/// `POST /webhooks/deliveries/{id}/replay`: sent again from its first attempt.
async fn replay_webhook_delivery(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let replayed = operations::replay_webhook_delivery(&state, &caller, &id, now_ms()).await?;
    Ok(Json(json!({ "object": "webhook_replay", "id": id, "replayed": replayed })).into_response())
}

fn millis(query: &QueryPairs, name: &str) -> ApiResult<Option<i64>> {
    query
        .one(name)
        .map(|text| {
            text.parse::<i64>().map_err(|_| invalid(name, format!("{name} is a time in milliseconds since the epoch.")))
        })
        .transpose()
}
