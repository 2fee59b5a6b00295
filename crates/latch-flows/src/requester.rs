//! Who is asking, as the flows see it: the client (a browser or an app install) named by its
//! token, and the signed-in session and user behind it.
//!
//! The HTTP layer reads the token from the `__client` cookie or the `Authorization` header
//! ([`Requester`] knows neither); only a SHA-256 of a token is ever stored, so a database
//! leak does not hand out live clients.

use latch_core::ids::{IdKind, new_id, new_secret};
use latch_core::model::{Client, Millis, Session, User};
use latch_store::{ClientSession, ClientSnapshot, ClientToken, NewClient};
use sha2::{Digest, Sha256};

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};

/// What a request says about its sender.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    /// The client token, if the request carried one.
    pub token: Option<String>,
    /// The page's origin: a ceremony is bound to it, and tokens name it as `azp`.
    pub origin: Option<String>,
    /// The session a `/me` request names (`_clerk_session_id`), if any.
    pub session_hint: Option<String>,
    /// For rate limits and the audit trail.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The id of the Backend API secret key a request was authenticated with, for the audit
    /// trail (never the key); `None` on FAPI.
    pub secret_key_id: Option<String>,
    /// The operator whose admin-console session token authenticated a Backend API request
    /// (docs/protocol.md §17), for the audit trail and reverification; `None` otherwise.
    pub operator: Option<crate::backend::operators::ActingOperator>,
}

impl Requester {
    /// The origin session tokens name as `azp`: the page's origin, only if this instance
    /// allows it. A GET may carry any `Origin` a client likes (CSRF checks only writes), and
    /// a token must not vouch for a page Latch does not serve, nor may the token cache grow
    /// with every made-up origin.
    pub fn azp<'a>(&'a self, latch: &Latch) -> Option<&'a str> {
        self.origin.as_deref().filter(|origin| latch.rp().is_allowed_origin(origin))
    }
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The requester's client, if its token names one.
pub async fn find_client(latch: &Latch, requester: &Requester) -> FlowResult<Option<Client>> {
    match &requester.token {
        None => Ok(None),
        Some(token) => Ok(latch.store().client_by_token(&token_hash(token)).await?),
    }
}

/// The requester's client read whole ([`ClientSnapshot`]), found by its token in
/// the same statement; None when its token names no client.
pub(crate) async fn snapshot_of_requester(latch: &Latch, requester: &Requester) -> FlowResult<Option<ClientSnapshot>> {
    match &requester.token {
        None => Ok(None),
        Some(token) => Ok(latch.store().client_snapshot_by_token(&token_hash(token)).await?),
    }
}

/// A client and, when this request created it or gave it a fresh token, the token to hand
/// to the requester.
pub struct ClientHandle {
    pub client: Client,
    pub new_token: Option<String>,
    /// The new token's hash while the new client is not stored yet ([`client_or_new`]).
    unsaved_token_hash: Option<Vec<u8>>,
    /// The hashes of the token the request came with and of a fresh one for this known
    /// client ([`ClientHandle::rotate_token`]).
    rotation: Option<(Vec<u8>, Vec<u8>)>,
}

impl ClientHandle {
    pub(crate) fn existing(client: Client) -> Self {
        ClientHandle { client, new_token: None, unsaved_token_hash: None, rotation: None }
    }

    /// The client, if this request made it and nothing has stored it yet.
    pub fn unsaved(&self) -> Option<NewClient<'_>> {
        self.unsaved_token_hash.as_deref().map(|token_hash| NewClient { client: &self.client, token_hash })
    }

    /// Session fixation defence: signing in, up or out gives the client a fresh token, so a
    /// token someone else knew or planted before (a cookie tossed from a sibling subdomain)
    /// names nothing afterwards. The token reaches the requester only if the action succeeds
    /// (a refused action answers no client); the action's own write stores it
    /// ([`ClientHandle::token_write`], [`ClientHandle::rotation`]), conditionally on the token
    /// the request came with. A client this request creates has a fresh token already.
    pub(crate) fn rotate_token(&mut self, requester: &Requester) {
        if self.unsaved_token_hash.is_some() {
            return;
        }
        let old = token_hash(requester.token.as_deref().unwrap_or_default());
        let token = new_secret();
        self.rotation = Some((old, token_hash(&token)));
        self.new_token = Some(token);
    }

    /// How the action's write hands out the client's token: a new client with its first
    /// token, or a known client's rotated one. Call after [`ClientHandle::rotate_token`].
    pub(crate) fn token_write(&self) -> FlowResult<ClientToken<'_>> {
        if let Some(new) = self.unsaved() {
            return Ok(ClientToken::New(new));
        }
        match &self.rotation {
            Some((old_token_hash, token_hash)) => {
                Ok(ClientToken::Rotated { client_id: &self.client.id, old_token_hash, token_hash })
            }
            None => Err(Refusal::Internal("a client token was written before it was rotated".into())),
        }
    }

    /// The hashes of the token the request came with and of the fresh one, if
    /// [`ClientHandle::rotate_token`] made one.
    pub(crate) fn rotation(&self) -> Option<(&[u8], &[u8])> {
        self.rotation.as_ref().map(|(old, new)| (old.as_slice(), new.as_slice()))
    }
}

/// The requester's client, or a new one that is not stored yet: the flow stores it with its
/// own first write ([`ClientHandle::unsaved`]), in one transaction, so a refused request
/// leaves no client behind.
pub async fn client_or_new(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<ClientHandle> {
    if let Some(client) = find_client(latch, requester).await? {
        return Ok(ClientHandle::existing(client));
    }
    let client = Client { id: new_id(IdKind::Client, now), created_at: now, updated_at: now, last_active_session_id: None };
    let token = new_secret();
    let unsaved_token_hash = Some(token_hash(&token));
    Ok(ClientHandle { client, new_token: Some(token), unsaved_token_hash, rotation: None })
}

/// The requester's client, which must exist.
pub async fn existing_client(latch: &Latch, requester: &Requester) -> FlowResult<ClientHandle> {
    match find_client(latch, requester).await? {
        Some(client) => Ok(ClientHandle::existing(client)),
        None => Err(Refusal::SignedOut),
    }
}

/// The signed-in user: the session the request names, else the client's last active
/// session. It must be live and belong to this client.
pub struct SignedIn {
    pub handle: ClientHandle,
    pub session: Session,
    pub user: User,
}

pub async fn signed_in(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<SignedIn> {
    // One store call for the client, the session and its user (one round trip, not three).
    let found = client_and_session(latch, requester, requester.session_hint.as_deref()).await?;
    let ClientSession { client, session, user } = found.ok_or(Refusal::SignedOut)?;
    // No session named and none active, another client's, or missing: all signed out.
    let session = session.ok_or(Refusal::SignedOut)?;
    if !session.is_live(now) {
        return Err(Refusal::SignedOut);
    }
    let user = user.ok_or(Refusal::SignedOut)?;
    Ok(SignedIn { handle: ClientHandle::existing(client), session, user })
}

/// The requester's client with session `session_id` (its last active one when `None`), if
/// its token names a client: see [`Store::client_and_session`](latch_store::Store::client_and_session).
pub(crate) async fn client_and_session(
    latch: &Latch,
    requester: &Requester,
    session_id: Option<&str>,
) -> FlowResult<Option<ClientSession>> {
    match &requester.token {
        None => Ok(None),
        Some(token) => Ok(latch.store().client_and_session(&token_hash(token), session_id).await?),
    }
}

/// Single-session mode: a signed-in client must sign out before signing in or up again. The
/// client's last active session is its only live one (sign-in and sign-up set it, sign-out
/// clears it), so a signed-out client costs no query here.
pub async fn refuse_if_signed_in(latch: &Latch, client: &Client, now: Millis) -> FlowResult<()> {
    let Some(session_id) = &client.last_active_session_id else { return Ok(()) };
    let live = latch.store().session(session_id).await?.is_some_and(|s| s.is_live(now));
    if live {
        return Err(Refusal::SessionExists);
    }
    Ok(())
}
