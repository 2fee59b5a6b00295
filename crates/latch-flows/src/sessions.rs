//! The client and its sessions: read the client, touch, token, remove one session, sign out.

use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Millis, Session, SessionStatus};

use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{ClientHandle, Requester, client_and_session, client_or_new, existing_client, snapshot_of_requester};
use crate::tokens::session_token;
use crate::view::{ClientView, ShownSession, gone_session, view_of_snapshot};
use crate::backend::users::BackendUser;
use crate::{Answer, Latch, answer, answer_with, limits, webhooks};

/// `GET /client`: the requester's client, or None when it has none.
pub async fn client(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<Option<ClientView>> {
    let snapshot = snapshot_of_requester(latch, requester).await?;
    view_of_snapshot(latch, snapshot, requester.azp(latch), now)
}

/// A new, empty client for a requester that holds none (or a token Latch does not know):
/// a native app's first `GET /client`, whose SDK needs a client to decode and a token to keep
/// (docs/protocol.md §13.1). Stored at once; its token goes back in the answer.
pub async fn new_client(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<Answer<()>> {
    limits::new_client(latch, requester.ip.as_deref(), now).await?;
    let handle = client_or_new(latch, requester, now).await?;
    if let Some(new) = handle.unsaved() {
        latch.store().create_client(new).await?;
    }
    answer(latch, requester, handle, (), now).await
}

/// Sign out: every session of the client ends (`signOut()` with one session), each with its
/// audit line, and the client gets a fresh token, in one transaction. The answer is the
/// client as it is now, with the new token.
pub async fn sign_out(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<Answer<ClientView>> {
    let mut handle = existing_client(latch, requester).await?;
    handle.rotate_token(requester);
    let subject = Subject { client_id: Some(handle.client.id.clone()), ..Subject::default() };
    let mut audit_line = audit::line(requester, "sign_out", subject, None, now);
    if latch.webhooks().is_on() {
        audit_line.webhooks = ended_events(latch, requester, &handle.client.id, now).await?;
    }
    let rotation = handle.rotation();
    let written =
        latch.store().end_client_sessions(&handle.client.id, SessionStatus::Ended, now, rotation, Some(&audit_line)).await?;
    let view = view_of_snapshot(latch, written.client, requester.azp(latch), now)?.ok_or(Refusal::SignedOut)?;
    Ok(Answer { response: view.clone(), client: Some(view), new_client_token: handle.new_token })
}

/// `session.ended` for each live session of the client, as sign-out leaves it; the store
/// writes each one with the audit line of the session it actually ended.
async fn ended_events(
    latch: &Latch,
    requester: &Requester,
    client_id: &str,
    now: Millis,
) -> FlowResult<Vec<latch_store::WebhookEvent>> {
    let Some(snapshot) = latch.store().client_snapshot(client_id).await? else { return Ok(Vec::new()) };
    let mut events = Vec::with_capacity(snapshot.sessions.len());
    for view in snapshot.sessions {
        let ended = Session { status: SessionStatus::Ended, updated_at: now, ..view.session };
        let user = match view.user {
            Some(user) => {
                let metadata = latch.store().user_metadata(&user.id).await?;
                Some(BackendUser { user, metadata, passkeys: view.passkeys })
            }
            None => None,
        };
        events.push(webhooks::session_event(requester, "session.ended", &ended, user.as_ref(), now));
    }
    Ok(events)
}

/// `touch`: session `id` becomes the client's active one and records activity — a write only
/// when that changes something (`Session::touch_changes_anything`).
pub async fn touch(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Answer<ShownSession>> {
    // The client read whole by its token first: the session is found live in it, and when
    // the touch changes nothing (most touches: see `Session::touch_changes_anything`) that
    // read is the answer, one statement in all.
    let snapshot = snapshot_of_requester(latch, requester).await?;
    let live = snapshot.as_ref().and_then(|s| s.sessions.iter().map(|v| &v.session).find(|s| s.id == id && s.is_live(now)));
    match (live.cloned(), snapshot) {
        (Some(session), Some(snapshot)) => {
            let handle = ClientHandle::existing(snapshot.client.clone());
            if session.touch_changes_anything(handle.client.last_active_session_id.as_deref(), now) {
                return touched(latch, requester, handle, session, now).await;
            }
            answer_with(latch, requester, handle, ShownSession::Live { id: session.id }, Some(snapshot), now)
        }
        // Not live in the requester's client: refused as any action on it is.
        _ => {
            let (handle, session) = live_session(latch, requester, id, now).await?;
            touched(latch, requester, handle, session, now).await
        }
    }
}

/// The end of a touch of live `session`: written if it changes anything, then answered with
/// the client as it is after.
async fn touched(
    latch: &Latch,
    requester: &Requester,
    handle: ClientHandle,
    session: Session,
    now: Millis,
) -> FlowResult<Answer<ShownSession>> {
    if session.touch_changes_anything(handle.client.last_active_session_id.as_deref(), now) {
        latch.store().touch_session(&handle.client.id, &session.id, now).await?;
    }
    let mut done = answer(latch, requester, handle, ShownSession::Live { id: session.id.clone() }, now).await?;
    if done.client.as_ref().and_then(|c| c.session(&session.id)).is_none() {
        // Ended between the touch and the read: show it as it is now.
        let session = latch.store().session(&session.id).await?.unwrap_or(session);
        done.response = gone_session(latch, session, now).await?;
    }
    Ok(done)
}

/// `remove`: ends session `id` of the client.
pub async fn remove(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Answer<ShownSession>> {
    let (handle, session) = live_session(latch, requester, id, now).await?;
    let subject = Subject {
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        client_id: Some(handle.client.id.clone()),
        ..Subject::default()
    };
    let mut line = audit::line(requester, "sign_out", subject, None, now);
    if latch.webhooks().is_on() {
        let removed = Session { status: SessionStatus::Removed, updated_at: now, ..session.clone() };
        line.webhooks = vec![webhooks::session_event_reading_user(latch, requester, "session.removed", &removed, now).await?];
    }
    latch.store().end_session(&handle.client.id, &session.id, SessionStatus::Removed, now, &line).await?;
    let session = latch.store().session(&session.id).await?.unwrap_or(session);
    let shown = gone_session(latch, session, now).await?;
    answer(latch, requester, handle, shown, now).await
}

/// `tokens`: a JWT for live session `id`, naming the requester's (allowed) origin as `azp`.
pub async fn token(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<String> {
    let (_handle, session) = live_session(latch, requester, id, now).await?;
    // A token request is the session's use: with an idle timeout, it keeps the session alive
    // (recorded coarsely, so most refreshes write nothing).
    if session.token_records_activity(now) {
        latch.store().record_session_use(&session.id, now).await?;
    }
    session_token(latch, &session, requester.azp(latch), now)
}

/// A live session of the requester's client. A session that exists but has ended is
/// `SignedOut`, which tells clerk-js to refetch the client and sign out locally.
pub(crate) async fn live_session(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<(ClientHandle, Session)> {
    // The client and the session in one store call; the store joins the session only if it
    // is this client's. The refusals keep their order: no client first, then the session.
    let found = client_and_session(latch, requester, Some(id)).await?.ok_or(Refusal::SignedOut)?;
    if !looks_like(IdKind::Session, id) {
        return Err(Refusal::NotFound("session"));
    }
    let session = found.session.ok_or(Refusal::NotFound("session"))?;
    if !session.is_live(now) {
        return Err(Refusal::SignedOut);
    }
    Ok((ClientHandle::existing(found.client), session))
}
