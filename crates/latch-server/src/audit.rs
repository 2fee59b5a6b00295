//! The audit trail: who did what, when, from where, and how it went. A success line is
//! written by the store call that acts, in its transaction, where the action has one (sign-up,
//! sign-in, passkey creation, sign-out); otherwise after the action, by the handler that did
//! it. Never contains tokens, challenges or keys.

use latch_store::AuditEvent;

use crate::context::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Records `result` if it is a refusal and passes it through: for actions whose success line
/// the store wrote in their own transaction ([`line`]).
pub async fn refusal<T>(
    state: &AppState,
    caller: &Caller,
    event: &str,
    subject: Subject,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Err(e) = &result {
        record(state, caller, event, subject, Some(e)).await;
    }
    result
}

/// The parties to one audited action, filled in as the handler learns them.
#[derive(Default, Debug, Clone)]
pub struct Subject {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub passkey_id: Option<String>,
    pub client_id: Option<String>,
}

pub async fn record(state: &AppState, caller: &Caller, event: &str, subject: Subject, failure: Option<&ApiError>) {
    let entry = line(caller, event, subject, failure);
    // The action already happened; a lost audit line is logged loudly rather than turning
    // a completed sign-in into an error for the user.
    if let Err(e) = state.store().record_audit(&entry).await {
        tracing::error!(error = %e, event, "could not write the audit trail");
    }
}

/// The audit line for an action, for a store call to write in the action's own transaction
/// (so a completed sign-in and its line commit together).
pub fn line(caller: &Caller, event: &str, subject: Subject, failure: Option<&ApiError>) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: now_ms(),
        event: event.to_string(),
        outcome: if failure.is_some() { "failure" } else { "success" }.to_string(),
        user_id: subject.user_id,
        session_id: subject.session_id,
        passkey_id: subject.passkey_id,
        client_id: subject.client_id,
        client_ip: caller.ip.clone(),
        user_agent: caller.user_agent.as_deref().map(|ua| ua.chars().take(512).collect()),
        error_code: failure.map(|e| e.code.to_string()),
    }
}
