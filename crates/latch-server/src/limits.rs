//! Rate limits: fixed windows counted in the database, so every node sees one budget.
//! Exceeding one answers 429 `too_many_requests` with `Retry-After`.

use axum::http::StatusCode;
use latch_core::model::Millis;

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now_ms};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 3_600_000;

fn window(window: Millis) -> (Millis, Millis) {
    let now = now_ms();
    (now, now - now.rem_euclid(window))
}

fn too_many(now: Millis, window_start: Millis, window: Millis) -> ApiError {
    let retry_after_ms = window_start + window - now;
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "Too many requests",
        "Too many requests. Please wait a moment and try again.",
    );
    error.retry_after = Some(u64::try_from(retry_after_ms.div_euclid(1000) + 1).unwrap_or(1));
    error
}

/// Counts a hit on `scope:subject` and refuses it when the window's budget is spent.
async fn check(state: &AppState, scope: &str, subject: &str, limit: u32, window_ms: Millis) -> ApiResult<()> {
    if limit == 0 {
        return Ok(());
    }
    let (now, start) = window(window_ms);
    let hits = state.store().hit_rate_limit(&format!("{scope}:{subject}"), start).await?;
    if hits > u64::from(limit) {
        return Err(too_many(now, start, window_ms));
    }
    Ok(())
}

/// Sign-in creation and attempts: per client IP and per client, counted in one statement.
pub async fn sign_in(state: &AppState, ip: Option<&str>, client_id: Option<&str>) -> ApiResult<()> {
    let limits = state.settings().rate_limits;
    match (ip, client_id) {
        (Some(ip), Some(client_id)) if limits.per_ip_per_minute > 0 && limits.per_client_per_minute > 0 => {
            let (now, start) = window(MINUTE);
            let ip_key = format!("sign_in:ip:{ip}");
            let client_key = format!("sign_in:client:{client_id}");
            let [ip_hits, client_hits] = state.store().hit_rate_limits([&ip_key, &client_key], start).await?;
            if ip_hits > u64::from(limits.per_ip_per_minute) || client_hits > u64::from(limits.per_client_per_minute) {
                return Err(too_many(now, start, MINUTE));
            }
            Ok(())
        }
        _ => {
            if let Some(ip) = ip {
                check(state, "sign_in:ip", ip, limits.per_ip_per_minute, MINUTE).await?;
            }
            if let Some(client_id) = client_id {
                check(state, "sign_in:client", client_id, limits.per_client_per_minute, MINUTE).await?;
            }
            Ok(())
        }
    }
}

/// Sign-ups: per client IP.
pub async fn sign_up(state: &AppState, ip: Option<&str>) -> ApiResult<()> {
    match ip {
        Some(ip) => check(state, "sign_up:ip", ip, state.settings().rate_limits.per_ip_per_minute, MINUTE).await,
        None => Ok(()),
    }
}

/// Passkey creation: per user.
pub async fn passkey_creation(state: &AppState, user_id: &str) -> ApiResult<()> {
    let limit = state.settings().rate_limits.passkey_creations_per_user_per_hour;
    check(state, "passkey_create:user", user_id, limit, HOUR).await
}
