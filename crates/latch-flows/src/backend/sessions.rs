//! Sessions as the Backend API sees them: listed across clients, read one by one, revoked by
//! the app's server, and a session token minted for one (`clerkClient.sessions.getToken`).

use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Millis, Session, SessionStatus};
use latch_store::SessionQuery;

use std::time::Duration;

use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, tokens, webhooks};

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

/// Session `id` as it is now, live or over (`GET /sessions/{id}`).
pub async fn get(latch: &Latch, id: &str) -> FlowResult<Session> {
    if !looks_like(IdKind::Session, id) {
        return Err(Refusal::NotFound("session"));
    }
    latch.store().session(id).await?.ok_or(Refusal::NotFound("session"))
}

/// A session token for live session `id`, signed now, for the app's server
/// (`POST /sessions/{id}/tokens`): the claims FAPI's tokens carry, without `azp`. No page
/// asked for it, and naming one of the allowed origins would be a guess; so a verifier that
/// names its `authorizedParties` refuses it (@clerk/backend 3.25 refuses any token without
/// `azp` then), one that does not accepts it, and it is never an operator's console token
/// (that needs Latch's own origin as `azp`, `operators.rs`). It lives
/// `expires_in_seconds`, from 1 to the instance's token lifetime (the default): never longer,
/// since revoking a session promises its tokens die within that lifetime and a retired
/// signing key stays published only that long.
///
/// Minting is not a change, so nothing is audited, and it is not the user's activity: it does
/// not keep a session with an idle timeout alive. Only a secret key may ask: an operator's
/// console has no use for a user's token, and would hold an unaudited way to act as them.
pub async fn token(latch: &Latch, requester: &Requester, id: &str, expires_in_seconds: Option<i64>, now: Millis) -> FlowResult<String> {
    if requester.operator.is_some() {
        return Err(Refusal::SecretKeyRequired);
    }
    let lifetime = token_lifetime(latch, expires_in_seconds)?;
    let session = get(latch, id).await?;
    if !session.is_live(now) {
        return Err(Refusal::SessionEndedNoToken);
    }
    tokens::backend_session_token(latch, &session, lifetime, now)
}

fn token_lifetime(latch: &Latch, expires_in_seconds: Option<i64>) -> FlowResult<Duration> {
    let most = latch.settings().token_ttl.as_secs();
    match expires_in_seconds {
        None => Ok(latch.settings().token_ttl),
        Some(secs) => match u64::try_from(secs) {
            Ok(secs) if (1..=most).contains(&secs) => Ok(Duration::from_secs(secs)),
            _ => Err(Refusal::ParamInvalid {
                param: "expires_in_seconds".into(),
                why: format!("expires_in_seconds must be between 1 and {most}, this instance's session-token lifetime."),
            }),
        },
    }
}
