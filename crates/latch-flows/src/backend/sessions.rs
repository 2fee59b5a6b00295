//! Sessions as the Backend API sees them: listed across clients, revoked by the app's server.

use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Millis, Session, SessionStatus};
use latch_store::SessionQuery;

use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, webhooks};

/// One page of the sessions `query` selects, and how many it selects in all.
pub async fn list(latch: &Latch, query: &SessionQuery) -> FlowResult<(Vec<Session>, u64)> {
    if let Some(status) = &query.status
        && SessionStatus::parse(status).is_none()
    {
        return Err(Refusal::ParamInvalid { param: "status".into(), why: format!("{status:?} is not a session status.") });
    }
    Ok(latch.store().sessions_page(query).await?)
}

/// Revokes live session `id`: its client sees it ended at its next request, no token is
/// issued for it again, and tokens already out expire within the token lifetime.
pub async fn revoke(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Session> {
    // From the admin console: only with a recent verification (docs/protocol.md §17).
    crate::backend::operators::require_recent_verification(latch, requester, now)?;
    if !looks_like(IdKind::Session, id) {
        return Err(Refusal::NotFound("session"));
    }
    let mut line = audit::line(requester, "session.revoke", Subject::default(), None, now);
    if latch.webhooks().is_on()
        && let Some(session) = latch.store().session(id).await?
    {
        // Written only if the revocation below takes (the store keeps the event of the
        // session it revoked).
        let revoked = Session { status: SessionStatus::Revoked, updated_at: now, ..session };
        line.webhooks = vec![webhooks::session_event_reading_user(latch, requester, "session.revoked", &revoked, now).await?];
    }
    match latch.store().revoke_session(id, now, &line).await? {
        Some(session) => Ok(Session { status: SessionStatus::Revoked, updated_at: now, ..session }),
        None => match latch.store().session(id).await? {
            // Already over: Clerk answers with the session as it is.
            Some(session) if !session.is_live(now) => Err(Refusal::SessionNotLive),
            _ => Err(Refusal::NotFound("session")),
        },
    }
}
