//! What an answer shows of the requester's client after the action: every FAPI answer
//! carries the whole client, the SDK's only way to learn of new sessions and passkeys.
//!
//! The view is read in one store call and each live session's token is signed here, before
//! rendering, so that rendering is pure: the HTTP layer only turns these records into JSON.

use latch_core::model::{Client, Millis, Session, SignIn, SignUp};
use latch_store::{ClientSnapshot, SessionView};

use crate::Latch;
use crate::refusal::FlowResult;
use crate::tokens::session_token;

/// The client as it is after the action.
#[derive(Debug, Clone)]
pub struct ClientView {
    pub client: Client,
    /// The live sessions (not ended, not expired at [`ClientView::now`]), oldest first.
    pub sessions: Vec<LiveSession>,
    pub sign_in: Option<SignIn>,
    pub sign_up: Option<SignUp>,
    /// The time the view was taken at: statuses are judged at it.
    pub now: Millis,
}

/// A live session with its user, their passkeys, and a fresh token (clerk-js rebuilds its
/// auth state from the token on every client refresh: a live session without one makes
/// @clerk/react's `useAuth` throw).
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub view: SessionView,
    pub token: String,
}

impl ClientView {
    /// The client's last active session, if it is still live.
    pub fn last_active_session_id(&self) -> Option<&str> {
        let id = self.client.last_active_session_id.as_deref()?;
        self.sessions.iter().any(|s| s.view.session.id == id).then_some(id)
    }

    /// What `__client_uat` says of this client: see [`client_uat`].
    pub fn client_uat(&self) -> i64 {
        let active = self.last_active_session_id().and_then(|id| self.session(id));
        client_uat(active.map(|s| &s.view.session), self.now)
    }

    pub fn session(&self, id: &str) -> Option<&LiveSession> {
        self.sessions.iter().find(|s| s.view.session.id == id)
    }
}

/// `__client_uat` for a client whose active session is `active`: the one rule for its value
/// (docs/protocol.md §14), which the server only renders.
///
/// Clerk's server SDKs compare it with the `__session` token they are shown: `0` means signed
/// out; a token issued before it (`iat < uat`) is stale and sends the browser to the
/// handshake. Latch gives the creation time (in seconds) of the client's live active session:
/// it changes when the client signs in or up, drops to 0 when it signs out or its session is
/// removed, revoked or expires, and stays put while the session merely refreshes tokens or
/// records activity. Every token of a session is signed after the session was created, from
/// the same clock, so a current token always satisfies `iat >= uat`, while a token of an
/// earlier session (another user, or before a sign-out) does not.
pub fn client_uat(active: Option<&Session>, now: Millis) -> i64 {
    match active {
        Some(session) if session.is_live(now) => session.created_at.div_euclid(1000),
        _ => SIGNED_OUT_UAT,
    }
}

/// `__client_uat` of a signed-out client, or of a request with no client at all.
pub const SIGNED_OUT_UAT: i64 = 0;

/// The client `client_id` as it is now, tokens naming `azp`; None if there is no such client.
pub async fn client_view(latch: &Latch, client_id: &str, azp: Option<&str>, now: Millis) -> FlowResult<Option<ClientView>> {
    let snapshot = latch.store().client_snapshot(client_id).await?;
    view_of_snapshot(latch, snapshot, azp, now)
}

/// The view of a client already read (by [`client_view`], or by a write that read it back).
pub(crate) fn view_of_snapshot(
    latch: &Latch,
    snapshot: Option<ClientSnapshot>,
    azp: Option<&str>,
    now: Millis,
) -> FlowResult<Option<ClientView>> {
    let Some(snapshot) = snapshot else { return Ok(None) };
    let mut sessions = Vec::with_capacity(snapshot.sessions.len());
    for view in snapshot.sessions.into_iter().filter(|v| v.session.is_live(now)) {
        let token = session_token(latch, &view.session, azp, now)?;
        sessions.push(LiveSession { view, token });
    }
    Ok(Some(ClientView { client: snapshot.client, sessions, sign_in: snapshot.sign_in, sign_up: snapshot.sign_up, now }))
}

/// One session as an answer shows it: one of the client's live sessions, or a session that
/// is no longer among them (just removed or ended), read afresh.
#[derive(Debug, Clone)]
pub enum ShownSession {
    /// Live: shown as the client view shows it, token included.
    Live { id: String },
    /// No longer live: no token.
    Gone { view: Box<SessionView>, now: Millis },
}

/// `session` with its user and their passkeys, read afresh.
pub(crate) async fn gone_session(latch: &Latch, session: Session, now: Millis) -> FlowResult<ShownSession> {
    let user = latch.store().user(&session.user_id).await?;
    let passkeys = match &user {
        Some(u) => latch.store().passkeys_of(&u.id).await?,
        None => Vec::new(),
    };
    Ok(ShownSession::Gone { view: Box::new(SessionView { session, user, passkeys }), now })
}
