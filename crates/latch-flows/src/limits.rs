//! Rate limits: fixed windows counted in the database, so every node sees one budget.
//! Exceeding one is [`Refusal::TooManyRequests`], with the seconds until the window ends.

use latch_core::model::Millis;

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 3_600_000;

fn window_start(now: Millis, window: Millis) -> Millis {
    now - now.rem_euclid(window)
}

fn too_many(now: Millis, window_start: Millis, window: Millis) -> Refusal {
    let retry_after_ms = window_start + window - now;
    Refusal::TooManyRequests { retry_after_secs: u64::try_from(retry_after_ms.div_euclid(1000) + 1).unwrap_or(1) }
}

/// Counts a hit on `scope:subject` and refuses it when the window's budget is spent.
async fn check(latch: &Latch, scope: &str, subject: &str, limit: u32, window: Millis, now: Millis) -> FlowResult<()> {
    if limit == 0 {
        return Ok(());
    }
    let start = window_start(now, window);
    let hits = latch.store().hit_rate_limit(&format!("{scope}:{subject}"), start).await?;
    if hits > u64::from(limit) {
        return Err(too_many(now, start, window));
    }
    Ok(())
}

/// Sign-in creation and attempts: per client IP and per client, counted in one statement.
pub async fn sign_in(latch: &Latch, ip: Option<&str>, client_id: Option<&str>, now: Millis) -> FlowResult<()> {
    let limits = latch.settings().rate_limits;
    match (ip, client_id) {
        (Some(ip), Some(client_id)) if limits.per_ip_per_minute > 0 && limits.per_client_per_minute > 0 => {
            let start = window_start(now, MINUTE);
            let ip_key = format!("sign_in:ip:{ip}");
            let client_key = format!("sign_in:client:{client_id}");
            let [ip_hits, client_hits] = latch.store().hit_rate_limits([&ip_key, &client_key], start).await?;
            if ip_hits > u64::from(limits.per_ip_per_minute) || client_hits > u64::from(limits.per_client_per_minute) {
                return Err(too_many(now, start, MINUTE));
            }
            Ok(())
        }
        _ => {
            if let Some(ip) = ip {
                check(latch, "sign_in:ip", ip, limits.per_ip_per_minute, MINUTE, now).await?;
            }
            if let Some(client_id) = client_id {
                check(latch, "sign_in:client", client_id, limits.per_client_per_minute, MINUTE, now).await?;
            }
            Ok(())
        }
    }
}

/// Sign-ups: per client IP.
pub async fn sign_up(latch: &Latch, ip: Option<&str>, now: Millis) -> FlowResult<()> {
    match ip {
        Some(ip) => check(latch, "sign_up:ip", ip, latch.settings().rate_limits.per_ip_per_minute, MINUTE, now).await,
        None => Ok(()),
    }
}

/// Handshakes (each stores a nonce): per client IP, on the sign-in budget's per-IP limit.
pub async fn handshake(latch: &Latch, ip: Option<&str>, now: Millis) -> FlowResult<()> {
    match ip {
        Some(ip) => check(latch, "handshake:ip", ip, latch.settings().rate_limits.per_ip_per_minute, MINUTE, now).await,
        None => Ok(()),
    }
}

/// A native app's client made on its first `GET /client`: per client IP, from the sign-in
/// budget's per-IP figure (each is a stored row, like a sign-in's new client).
pub async fn new_client(latch: &Latch, ip: Option<&str>, now: Millis) -> FlowResult<()> {
    match ip {
        Some(ip) => check(latch, "client:ip", ip, latch.settings().rate_limits.per_ip_per_minute, MINUTE, now).await,
        None => Ok(()),
    }
}

/// Passkey creation: per user.
pub async fn passkey_creation(latch: &Latch, user_id: &str, now: Millis) -> FlowResult<()> {
    let limit = latch.settings().rate_limits.passkey_creations_per_user_per_hour;
    check(latch, "passkey_create:user", user_id, limit, HOUR, now).await
}
