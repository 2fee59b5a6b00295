//! `latch audit`: read the audit trail, filtered by user and time.

use clap::Args;
use latch_store::AuditQuery;

use crate::config::ServeArgs;
use crate::serve::open_store;

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub server: ServeArgs,
    /// Only events about this user id.
    #[arg(long)]
    pub user: Option<String>,
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-25T10:00:00Z, or ms since epoch).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time (same formats).
    #[arg(long)]
    pub until: Option<String>,
    /// Only events of this action (e.g. session.revoke, operator.grant).
    #[arg(long)]
    pub action: Option<String>,
    /// At most this many events.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| anyhow::anyhow!("{s:?} is neither RFC 3339 nor milliseconds since the epoch: {e}"))?;
    Ok(i64::try_from(t.unix_timestamp_nanos() / 1_000_000)?)
}

pub fn format_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let resolved = args.server.resolve()?;
    let store = open_store(&resolved).await?;
    let query = AuditQuery {
        user_id: args.user.clone(),
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
        event: args.action.clone(),
        limit: args.limit,
        offset: 0,
    };
    let events = store.audit_events(&query).await?;
    for e in events {
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "id": e.id, "at": e.at, "time": format_time(e.at), "event": e.event, "outcome": e.outcome,
                    "user_id": e.user_id, "session_id": e.session_id, "passkey_id": e.passkey_id,
                    "client_id": e.client_id, "client_ip": e.client_ip, "user_agent": e.user_agent,
                    "error_code": e.error_code, "secret_key_id": e.secret_key_id, "operator_id": e.operator_id,
                })
            );
        } else {
            println!(
                "{}  {:<15} {:<7} user={} passkey={} ip={}{}{} {}",
                format_time(e.at),
                e.event,
                e.outcome,
                e.user_id.as_deref().unwrap_or("-"),
                e.passkey_id.as_deref().unwrap_or("-"),
                e.client_ip.as_deref().unwrap_or("-"),
                e.secret_key_id.as_deref().map(|id| format!(" key={id}")).unwrap_or_default(),
                e.operator_id.as_deref().map(|id| format!(" operator={id}")).unwrap_or_default(),
                e.error_code.as_deref().unwrap_or(""),
            );
        }
    }
    Ok(())
}
