//! Latch's own Backend API routes (docs/protocol.md §17), the admin console's reads and its
//! webhook replay: extract, call one flow of `latch_flows::backend::operations`, render.
//! Authenticated like every Backend API route (a secret key, or an operator's session token).
//! Registered in `super::api` with their OpenAPI annotations, like `handlers.rs`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use latch_flows::Refusal;
use latch_flows::backend::operations;
use latch_store::AuditQuery;

use super::{BackendCaller, QueryPairs, invalid, json as render};
use crate::error::{ApiResult, ClerkErrors};
use crate::state::{AppState, now_ms};

/// `GET /audit_events?user_id=&action=&since=&until=&limit=&offset=` (times in ms): newest
/// first, `{data, total_count}`.
#[utoipa::path(get, path = "/audit_events", tag = "operations",
    description = "A Latch extension: the audit trail, newest first, with the total its filters select.",
    params(
        ("user_id" = Option<String>, Query, description = "Only this user's lines."),
        ("action" = Option<String>, Query, description = "Only this action (`sign_in`, `session.revoke`, …)."),
        ("since" = Option<i64>, Query, description = "From this time (ms since the epoch)."),
        ("until" = Option<i64>, Query, description = "Up to this time (ms since the epoch)."),
        ("limit" = Option<u32>, Query, description = "1 to 500, default 10.", minimum = 1, maximum = 500),
        ("offset" = Option<u32>, Query, description = "Default 0."),
    ),
    responses(
        (status = 200, description = "A page of audit lines.", body = render::AuditEventPage),
        (status = 422, description = "A bad `action`, `since`, `until`, `limit` or `offset` (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn audit_events(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
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
    let data = page.iter().map(render::audit_event).collect();
    Ok(Json(render::AuditEventPage { data, total_count: total }).into_response())
}

/// `GET /passkeys?user_id=`: a user's passkeys in detail, `{data, total_count}`.
#[utoipa::path(get, path = "/passkeys", tag = "operations",
    description = "A Latch extension: a user's passkeys in detail (authenticator, backup flags, last use).",
    params(("user_id" = String, Query, description = "The user's id (`user_…`).")),
    responses(
        (status = 200, description = "The user's passkeys.", body = render::PasskeyDetailPage),
        (status = 404, description = "No such user (`resource_not_found`).", body = ClerkErrors),
        (status = 422, description = "No `user_id` (`form_param_missing`).", body = ClerkErrors),
    ))]
pub async fn passkeys(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let user_id = query.one("user_id").ok_or_else(|| Refusal::ParamMissing("user_id".into()))?;
    let list = operations::passkey_details(&state, user_id).await?;
    let total = list.len() as u64;
    let data = list.iter().map(render::passkey_detail).collect();
    Ok(Json(render::PasskeyDetailPage { data, total_count: total }).into_response())
}

/// `GET /webhooks/deliveries?status=pending|failed|delivered&limit=`: newest first.
#[utoipa::path(get, path = "/webhooks/deliveries", tag = "operations",
    description = "A Latch extension: the newest webhook deliveries, of one status if asked.",
    params(
        ("status" = Option<String>, Query, description = "`pending`, `failed` or `delivered`."),
        ("limit" = Option<u32>, Query, description = "1 to 500, default 10.", minimum = 1, maximum = 500),
    ),
    responses(
        (status = 200, description = "The deliveries; `total_count` is the page's length.", body = render::WebhookDeliveryPage),
        (status = 422, description = "A bad `status` or `limit` (`form_param_format_invalid`).", body = ClerkErrors),
    ))]
pub async fn webhook_deliveries(State(state): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let (limit, _) = query.page()?;
    let list = operations::webhook_deliveries(&state, query.one("status"), limit).await?;
    let total = list.len() as u64;
    let data = list.iter().map(render::webhook_delivery).collect();
    Ok(Json(render::WebhookDeliveryPage { data, total_count: total }).into_response())
}

/// `POST /webhooks/deliveries/{id}/replay`: sent again from its first attempt.
#[utoipa::path(post, path = "/webhooks/deliveries/{id}/replay", tag = "operations",
    description = "A Latch extension: send a delivery again from its first attempt, same `svix-id`.",
    params(("id" = String, Path, description = "The delivery's id (`msg_…:whe_…`).")),
    responses(
        (status = 200, description = "Queued again.", body = render::WebhookReplayJson),
        (status = 404, description = "No such delivery (`resource_not_found`).", body = ClerkErrors),
    ))]
pub async fn replay_webhook_delivery(
    State(state): State<AppState>,
    BackendCaller(caller): BackendCaller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let replayed = operations::replay_webhook_delivery(&state, &caller, &id, now_ms()).await?;
    Ok(Json(render::WebhookReplayJson { object: "webhook_replay", id, replayed }).into_response())
}

fn millis(query: &QueryPairs, name: &str) -> ApiResult<Option<i64>> {
    query
        .one(name)
        .map(|text| {
            text.parse::<i64>().map_err(|_| invalid(name, format!("{name} is a time in milliseconds since the epoch.")))
        })
        .transpose()
}
