//! Rate limits: fixed windows counted in the database, so every node sees one budget.
//! Exceeding one is [`Refusal::TooManyRequests`], with the seconds until the window ends.
//!
//! An IPv6 client is counted by its /64: one host is usually given a whole /64, so counting
//! single addresses would give it 2^64 budgets.

use latch_core::model::Millis;

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};

const MINUTE: Millis = 60_000;
const HOUR: Millis = 3_600_000;

fn window_start(now: Millis, window: Millis) -> Millis {
    now - now.rem_euclid(window)
}

/// The refusal of a hit over `limit`'s budget, counted by the limit's name.
fn too_many(limit: &'static str, now: Millis, window_start: Millis, window: Millis) -> Refusal {
    crate::observe::rate_limited(limit);
    let retry_after_ms = window_start + window - now;
    Refusal::TooManyRequests { retry_after_secs: u64::try_from(retry_after_ms.div_euclid(1000) + 1).unwrap_or(1) }
}

/// Counts a hit on `scope:subject` and refuses it when the window's budget is spent.
async fn check(latch: &Latch, scope: &'static str, subject: &str, limit: u32, window: Millis, now: Millis) -> FlowResult<()> {
    if limit == 0 {
        return Ok(());
    }
    let start = window_start(now, window);
    let hits = latch.store().hit_rate_limit(&format!("{scope}:{subject}"), start).await?;
    if hits > u64::from(limit) {
        return Err(too_many(scope, now, start, window));
    }
    Ok(())
}

/// Who an IP budget counts: the address, or for IPv6 its /64 network.
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            let network = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{network}/64")
        }
        Ok(std::net::IpAddr::V6(v6)) => v6.to_ipv4_mapped().map(|v4| v4.to_string()).unwrap_or_default(),
        _ => ip.to_string(),
    }
}

/// Sign-in creation and attempts: per client IP and per client, counted in one statement.
pub async fn sign_in(latch: &Latch, ip: Option<&str>, client_id: Option<&str>, now: Millis) -> FlowResult<()> {
    let limits = latch.settings().rate_limits;
    let ip = ip.map(ip_subject);
    let ip = ip.as_deref();
    match (ip, client_id) {
        (Some(ip), Some(client_id)) if limits.per_ip_per_minute > 0 && limits.per_client_per_minute > 0 => {
            let start = window_start(now, MINUTE);
            let ip_key = format!("sign_in:ip:{ip}");
            let client_key = format!("sign_in:client:{client_id}");
            let [ip_hits, client_hits] = latch.store().hit_rate_limits([&ip_key, &client_key], start).await?;
            if ip_hits > u64::from(limits.per_ip_per_minute) {
                return Err(too_many("sign_in:ip", now, start, MINUTE));
            }
            if client_hits > u64::from(limits.per_client_per_minute) {
                return Err(too_many("sign_in:client", now, start, MINUTE));
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

/// Sign-ups: per client IP, per minute (the sign-in budget's number, its own counter) and
/// per hour (a budget of sign-ups alone).
pub async fn sign_up(latch: &Latch, ip: Option<&str>, now: Millis) -> FlowResult<()> {
    let Some(ip) = ip.map(ip_subject) else { return Ok(()) };
    let limits = latch.settings().rate_limits;
    check(latch, "sign_up:ip", &ip, limits.per_ip_per_minute, MINUTE, now).await?;
    check(latch, "sign_up:ip:hour", &ip, limits.sign_ups_per_ip_per_hour, HOUR, now).await
}

/// The per-client budget's subject for a request that comes without a client: a new client
/// each time would never meet its budget, so all of one IP's client-less requests share one.
pub fn new_client_subject(ip: Option<&str>, new_client_id: &str) -> String {
    match ip {
        Some(ip) => format!("new-from:{}", ip_subject(ip)),
        None => new_client_id.to_string(),
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

#[cfg(test)]
mod tests {
    use super::ip_subject;

    #[test]
    fn ipv6_is_counted_per_64_and_ipv4_per_address() {
        assert_eq!(ip_subject("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(ip_subject("2001:db8:1:2:ffff:1:2:3"), "2001:db8:1:2::/64");
        assert_ne!(ip_subject("2001:db8:1:3::1"), ip_subject("2001:db8:1:2::1"));
        assert_eq!(ip_subject("203.0.113.7"), "203.0.113.7");
        assert_eq!(ip_subject("::ffff:203.0.113.7"), "203.0.113.7");
    }
}
