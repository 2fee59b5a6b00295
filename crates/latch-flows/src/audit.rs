//! The audit trail: who did what, when, from where, and how it went. A success line is
//! written by the store call that acts, in its transaction, where the action has one (sign-up,
//! sign-in, passkey creation, sign-out), so the change and its line commit together;
//! otherwise right after the action, by its flow. Never contains tokens, challenges or keys.

use latch_core::model::Millis;
use latch_store::AuditEvent;

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;

/// The parties to one audited action, filled in as the flow learns them.
#[derive(Default, Debug, Clone)]
pub struct Subject {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub passkey_id: Option<String>,
    pub client_id: Option<String>,
}

/// The audit line for an action, for a store call to write in the action's own transaction.
pub fn line(requester: &Requester, event: &str, subject: Subject, failure: Option<&Refusal>, now: Millis) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: now,
        event: event.to_string(),
        outcome: if failure.is_some() { "failure" } else { "success" }.to_string(),
        user_id: subject.user_id,
        session_id: subject.session_id,
        passkey_id: subject.passkey_id,
        client_id: subject.client_id,
        client_ip: requester.ip.clone(),
        user_agent: requester.user_agent.as_deref().map(|ua| ua.chars().take(512).collect()),
        error_code: failure.map(|e| e.code().to_string()),
        secret_key_id: requester.secret_key_id.clone(),
        operator_id: requester.operator.as_ref().map(|o| o.user_id.clone()),
        // The flow adds the events its action reports (crate::webhooks).
        webhooks: Vec::new(),
    }
}

/// Writes a line on its own, after an action that has no transaction to carry it.
pub async fn record(latch: &Latch, requester: &Requester, event: &str, subject: Subject, failure: Option<&Refusal>, now: Millis) {
    let entry = line(requester, event, subject, failure, now);
    // The action already happened; a lost audit line is logged loudly rather than turning
    // a completed action into an error for the user.
    if let Err(e) = latch.store().record_audit(&entry).await {
        tracing::error!(error = %e, event, "could not write the audit trail");
    }
}

/// Records `result` if it is a refusal and passes it through: for actions whose success line
/// the store wrote in their own transaction ([`line`]).
pub async fn refusal<T>(
    latch: &Latch,
    requester: &Requester,
    event: &str,
    subject: Subject,
    result: FlowResult<T>,
    now: Millis,
) -> FlowResult<T> {
    if let Err(e) = &result {
        record(latch, requester, event, subject, Some(e), now).await;
    }
    result
}
