//! Latch's own Backend API extensions, what the admin console reads and does besides Clerk's
//! routes (docs/protocol.md §17): the audit trail with filters, a user's passkeys in detail
//! (authenticator, backup state), webhook deliveries and their replay. Callable with a secret
//! key as well as from the console: they are Backend API routes like any other.

use latch_core::model::{Millis, Passkey};
use latch_store::{AuditEvent, AuditQuery, WebhookDelivery};

use crate::backend::users;
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, webhooks};

/// The longest `action` filter read: every action name is far shorter.
const MAX_ACTION_LEN: usize = 64;

/// One page of the audit lines `query` selects (newest first), and how many it selects.
pub async fn audit_events(latch: &Latch, query: &AuditQuery) -> FlowResult<(Vec<AuditEvent>, u64)> {
    if let Some(action) = &query.event
        && (action.len() > MAX_ACTION_LEN || !action.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'))
    {
        return Err(Refusal::ParamInvalid {
            param: "action".into(),
            why: "action is an audit action such as session.revoke or sign_in.".into(),
        });
    }
    let page = latch.store().audit_events(query).await?;
    let total = latch.store().count_audit_events(query).await?;
    Ok((page, total))
}

/// The passkeys of user `user_id`, as the console details them.
pub async fn passkey_details(latch: &Latch, user_id: &str) -> FlowResult<Vec<Passkey>> {
    users::passkeys(latch, user_id).await
}

/// The delivery statuses a listing may ask for.
const DELIVERY_STATUSES: &[&str] = &["pending", "failed", "delivered"];

/// The newest webhook deliveries, of one status if `status` names one.
pub async fn webhook_deliveries(latch: &Latch, status: Option<&str>, limit: u32) -> FlowResult<Vec<WebhookDelivery>> {
    if let Some(status) = status
        && !DELIVERY_STATUSES.contains(&status)
    {
        return Err(Refusal::ParamInvalid {
            param: "status".into(),
            why: "status is pending, failed or delivered.".into(),
        });
    }
    Ok(latch.store().webhook_deliveries(status, limit).await?)
}

/// Sends delivery `id` (`msg_…:whe_…`) again from its first attempt, same msg id and body
/// (audited with who asked); how many deliveries were queued again.
pub async fn replay_webhook_delivery(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<u64> {
    webhooks::replay(latch, requester, id, now).await
}
