//! Webhooks (docs/protocol.md §15): the events a flow reports to the app's server, in the
//! Svix format Clerk's `verifyWebhook` reads, and the operator's endpoints.
//!
//! An event is built by the flow that makes the change, from the records it holds, and
//! rides on the change's audit line ([`latch_store::AuditEvent::webhooks`]): the store call
//! that writes the change writes the event in the same transaction (an outbox), and only if
//! some enabled endpoint wants its type. The server's dispatcher (`latch-server/src/webhooks.rs`)
//! delivers it afterwards, at least once, under its stable `msg_…` id.
//!
//! Building an event costs reads (a session event shows its user, with metadata and
//! passkeys), so flows build none while no endpoint is enabled ([`WebhookSwitch`]): the
//! dispatcher of each node rereads that every poll, so an endpoint receives events from
//! changes made once its node noticed it (within a poll interval of `latch webhooks add`).

use std::sync::atomic::{AtomicBool, Ordering};

use latch_core::backend::UserMetadata;
use latch_core::ids::{IdKind, new_id};
use latch_core::lockout::LastPasskeyProtection;
use latch_core::model::{Millis, Passkey, Session, SessionStatus, User};
use latch_store::{AuditEvent, StoreError, UserUpdatedEvents, WebhookEndpoint, WebhookEvent};
use serde_json::{Value, json};

use crate::backend::json;
use crate::backend::users::BackendUser;
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, audit};

/// Every event type Latch sends: Clerk's user and session events, and its own passkey ones.
pub const EVENT_TYPES: &[&str] = &[
    "user.created",
    "user.updated",
    "user.deleted",
    "session.created",
    "session.ended",
    "session.removed",
    "session.revoked",
    "passkey.created",
    "passkey.updated",
    "passkey.deleted",
];

/// `instance_id` in every envelope: Latch serves one instance per database.
pub const INSTANCE_ID: &str = "ins_latch";

/// Whether some endpoint is enabled, as this node last read it. On until first read, so
/// that a node never drops events for want of having looked.
#[derive(Debug)]
pub struct WebhookSwitch(AtomicBool);

impl Default for WebhookSwitch {
    fn default() -> Self {
        WebhookSwitch(AtomicBool::new(true))
    }
}

impl WebhookSwitch {
    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, Ordering::Relaxed);
    }
}

/// The envelope of backend.md §4, compact: the exact bytes every endpoint receives.
fn event(requester: &Requester, event_type: &str, data: Value, session_id: Option<&str>, now: Millis) -> WebhookEvent {
    let envelope = json!({
        "data": data,
        "object": "event",
        "type": event_type,
        "timestamp": now,
        "instance_id": INSTANCE_ID,
        "event_attributes": {
            "http_request": {
                "client_ip": requester.ip.as_deref().unwrap_or(""),
                "user_agent": requester.user_agent.as_deref().unwrap_or(""),
            },
        },
    });
    WebhookEvent {
        id: new_id(IdKind::WebhookMessage, now),
        event_type: event_type.to_string(),
        payload: envelope.to_string(),
        created_at: now,
        session_id: session_id.map(str::to_string),
    }
}

/// `user.created` / `user.updated`: UserJSON.
pub(crate) fn user_event(requester: &Requester, event_type: &str, user: &BackendUser, now: Millis) -> WebhookEvent {
    event(requester, event_type, json::user(user), None, now)
}

/// `session.*`: SessionJSON with `"user"`, about that session (a sign-out writes each
/// session's event with that session's audit line).
pub(crate) fn session_event(
    requester: &Requester,
    event_type: &str,
    session: &Session,
    user: Option<&BackendUser>,
    now: Millis,
) -> WebhookEvent {
    let mut data = json::session(session, now);
    data["user"] = user.map_or(Value::Null, json::user);
    event(requester, event_type, data, Some(&session.id), now)
}

/// `passkey.created` / `passkey.updated`: the passkey as the Backend API shows it.
pub(crate) fn passkey_event(requester: &Requester, event_type: &str, passkey: &Passkey, now: Millis) -> WebhookEvent {
    event(requester, event_type, json::passkey(passkey), None, now)
}

/// `user.deleted` / `passkey.deleted`: `{"object","id","deleted":true}`.
pub(crate) fn deleted_event(requester: &Requester, event_type: &str, object: &str, id: &str, now: Millis) -> WebhookEvent {
    event(requester, event_type, json::deleted(object, id), None, now)
}

/// The user as an event shows them: with metadata and passkeys, read now.
pub(crate) async fn backend_user(latch: &Latch, user: User) -> FlowResult<BackendUser> {
    let metadata = latch.store().user_metadata(&user.id).await?;
    let passkeys = latch.store().passkeys_of(&user.id).await?;
    Ok(BackendUser { user, metadata, passkeys })
}

/// Who deletes a passkey: its user (their session `keep_session` stays, the operator's
/// lockout rule applies) or an operator.
pub(crate) enum PasskeyDeleter<'a> {
    User { keep_session: &'a str, protect: LastPasskeyProtection },
    Operator,
}

/// Deletes passkey `passkey_id` of `user_id` with the audit line `line`, joined by a
/// `session.revoked` event for each live session the passkey made but the deleting user's
/// (docs/protocol.md §16.4: they end with it), the user shown without that passkey. Should a
/// session be made or ended between this read and the delete (`StoreError::SessionsChanged`,
/// after which nothing changed), the sessions are read again, twice at most.
pub(crate) async fn delete_passkey_revoking_sessions(
    latch: &Latch,
    requester: &Requester,
    user_id: &str,
    passkey_id: &str,
    deleter: PasskeyDeleter<'_>,
    line: &AuditEvent,
    now: Millis,
) -> FlowResult<bool> {
    let delete = async |line: AuditEvent| match deleter {
        PasskeyDeleter::User { keep_session, protect } => {
            latch.store().delete_passkey(user_id, passkey_id, keep_session, &line, protect).await
        }
        PasskeyDeleter::Operator => latch.store().delete_user_passkey(user_id, passkey_id, &line).await,
    };
    if !latch.webhooks().is_on() {
        return Ok(delete(line.clone()).await?);
    }
    let keep = match deleter {
        PasskeyDeleter::User { keep_session, .. } => keep_session,
        PasskeyDeleter::Operator => "",
    };
    let mut retries = 2;
    loop {
        let mut with_sessions = line.clone();
        with_sessions.webhooks.extend(revoked_events(latch, requester, user_id, passkey_id, keep, now).await?);
        match delete(with_sessions).await {
            Err(StoreError::SessionsChanged) if retries > 0 => retries -= 1,
            done => return Ok(done?),
        }
    }
}

async fn revoked_events(
    latch: &Latch,
    requester: &Requester,
    user_id: &str,
    passkey_id: &str,
    keep: &str,
    now: Millis,
) -> FlowResult<Vec<WebhookEvent>> {
    let mut ending = latch.store().sessions_made_by_passkey(user_id, passkey_id).await?;
    ending.retain(|s| s.id != keep);
    if ending.is_empty() {
        return Ok(Vec::new());
    }
    let mut user = latch.store().user_details(user_id).await?;
    if let Some(shown) = &mut user {
        shown.passkeys.retain(|p| p.id != passkey_id);
    }
    Ok(ending
        .into_iter()
        .map(|s| {
            let revoked = Session { status: SessionStatus::Revoked, updated_at: now, ..s };
            session_event(requester, "session.revoked", &revoked, user.as_ref(), now)
        })
        .collect())
}

/// A user's session event, the user read by id (None if gone).
pub(crate) async fn session_event_reading_user(
    latch: &Latch,
    requester: &Requester,
    event_type: &str,
    session: &Session,
    now: Millis,
) -> FlowResult<WebhookEvent> {
    let user = latch.store().user_details(&session.user_id).await?;
    Ok(session_event(requester, event_type, session, user.as_ref(), now))
}

/// `user.updated` for a metadata merge: rendered by the store call from the merged metadata.
pub(crate) fn user_updated_with(requester: &Requester, user: User, passkeys: Vec<Passkey>, now: Millis) -> Box<UserUpdatedEvents> {
    let requester = requester.clone();
    Box::new(move |metadata: &UserMetadata| {
        let shown = BackendUser { user: User { updated_at: now, ..user.clone() }, metadata: metadata.clone(), passkeys: passkeys.clone() };
        vec![user_event(&requester, "user.updated", &shown, now)]
    })
}

// ---- the operator's endpoints -------------------------------------------------------------

/// Where Latch may POST: https, or http on a development instance (a receiver on the
/// developer's machine). Only an operator sets endpoints; this rule keeps a production
/// instance from sending signed events in the clear.
pub fn check_endpoint_url(url: &str, production: bool) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if !production => {}
        "http" => return Err(format!("{url:?}: a production instance sends webhooks over https only")),
        other => return Err(format!("{url:?}: {other} is not http or https")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} names no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!("{url:?}: credentials in the URL would be sent with every event"));
    }
    Ok(parsed)
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes (Svix's format).
fn new_secret() -> FlowResult<String> {
    use base64::Engine;
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| Refusal::Internal("no randomness for a webhook secret".into()))?;
    Ok(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key)))
}

fn operator_line(operator: &Requester, event: &str, now: Millis) -> AuditEvent {
    audit::line(operator, event, audit::Subject::default(), None, now)
}

/// Adds an endpoint for `event_types` (all when empty); returns it with its secret, which
/// the operator sees only now.
pub async fn add_endpoint(
    latch: &Latch,
    operator: &Requester,
    url: &str,
    event_types: &[String],
    now: Millis,
) -> FlowResult<WebhookEndpoint> {
    let production = !latch.settings().dev_mode;
    let url = check_endpoint_url(url, production).map_err(|why| Refusal::ParamInvalid { param: "url".into(), why })?;
    if let Some(unknown) = event_types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
        return Err(Refusal::ParamInvalid {
            param: "events".into(),
            why: format!("{unknown:?} is not an event type; known: {}", EVENT_TYPES.join(", ")),
        });
    }
    let endpoint = WebhookEndpoint {
        id: new_id(IdKind::WebhookEndpoint, now),
        url: url.to_string(),
        secret: new_secret()?,
        event_types: (!event_types.is_empty()).then(|| event_types.to_vec()),
        enabled: true,
        created_at: now,
    };
    let line = operator_line(operator, "webhook.endpoint.add", now);
    latch.store().create_webhook_endpoint(&endpoint, &line).await?;
    Ok(endpoint)
}

pub async fn remove_endpoint(latch: &Latch, operator: &Requester, id: &str, now: Millis) -> FlowResult<()> {
    let line = operator_line(operator, "webhook.endpoint.remove", now);
    if !latch.store().remove_webhook_endpoint(id, &line).await? {
        return Err(Refusal::NotFound("webhook endpoint"));
    }
    Ok(())
}

/// Re-queues a delivery (`msg_…:whe_…`) or every delivery of an event (`msg_…`), with the
/// same msg id and body; how many deliveries.
pub async fn replay(latch: &Latch, operator: &Requester, id: &str, now: Millis) -> FlowResult<u64> {
    let line = operator_line(operator, "webhook.replay", now);
    match latch.store().replay_webhook(id, now, &line).await? {
        0 => Err(Refusal::NotFound("webhook delivery")),
        n => Ok(n),
    }
}

// ---- delivery schedule ----------------------------------------------------------------------

/// Svix's retry schedule after a failed attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h;
/// then the delivery has failed. `unit_ms` is what one second of it lasts (1000; tests
/// shrink it).
pub fn next_attempt_at(attempts_made: u32, now: Millis, unit_ms: Millis) -> Option<Millis> {
    const SECONDS: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let wait = SECONDS.get(usize::try_from(attempts_made).ok()?.checked_sub(1)?)?;
    Some(now + wait * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_svix_then_stop() {
        assert_eq!(next_attempt_at(1, 0, 1000), Some(5_000));
        assert_eq!(next_attempt_at(2, 0, 1000), Some(300_000));
        assert_eq!(next_attempt_at(7, 0, 1000), Some(36_000_000));
        assert_eq!(next_attempt_at(8, 0, 1000), None, "eight attempts, then failed");
        assert_eq!(next_attempt_at(1, 100, 10), Some(150));
    }

    #[test]
    fn endpoints_are_https_in_production() {
        assert!(check_endpoint_url("https://app.example.com/hooks", true).is_ok());
        assert!(check_endpoint_url("http://app.example.com/hooks", true).is_err());
        assert!(check_endpoint_url("http://127.0.0.1:3000/hooks", false).is_ok());
        assert!(check_endpoint_url("ftp://app.example.com/", false).is_err());
        assert!(check_endpoint_url("https://user:pw@app.example.com/", true).is_err());
        assert!(check_endpoint_url("not a url", false).is_err());
    }
}
