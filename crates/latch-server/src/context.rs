//! Who is asking: the client (browser or app install) behind a request, and its session.
//!
//! A browser client is named by the HttpOnly `__client` cookie; a native app sends the same
//! token in the `Authorization` header (`_is_native=1`). Only a SHA-256 of the token is
//! stored, so a database leak does not hand out live clients.

use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use latch_core::ids::{IdKind, new_id, new_secret};
use latch_core::model::{Client, Session, User};
use latch_store::NewClient;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now_ms};

pub const CLIENT_COOKIE: &str = "__client";

/// What a FAPI request says about its caller, read once from the headers and query.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub token: Option<String>,
    pub origin: Option<String>,
    pub native: bool,
    pub session_hint: Option<String>,
    pub secure: bool,
    /// The peer address, or the last `X-Forwarded-For` hop when the operator trusts it.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Caller {
    pub fn from_parts(parts: &Parts, trust_forwarded_for: bool) -> Self {
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let query_value = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let native = query_value("_is_native").is_some_and(|v| v == "1" || v == "true");
        let headers = &parts.headers;
        let token = if native {
            bearer(headers)
        } else {
            CookieJar::from_headers(headers).get(CLIENT_COOKIE).map(|c| c.value().to_string()).or_else(|| bearer(headers))
        };
        let origin = header_str(headers, header::ORIGIN).filter(|o| o != "null");
        let secure = origin.as_deref().is_some_and(|o| o.starts_with("https://"))
            || header_str(headers, "x-forwarded-proto").is_some_and(|p| p == "https");
        Caller {
            token,
            origin,
            native,
            session_hint: query_value("_clerk_session_id").filter(|s| !s.is_empty()),
            secure,
            ip: client_ip(parts, trust_forwarded_for),
            user_agent: header_str(headers, header::USER_AGENT),
        }
    }
}

fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        // Proxies append the address they saw: the last hop is the one the operator's own
        // proxy wrote; anything before it came from the client and may be forged.
        if let Some(last) = header_str(&parts.headers, "x-forwarded-for")
            .and_then(|v| v.rsplit(',').next().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
        {
            return Some(last);
        }
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

fn header_str(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = header_str(headers, header::AUTHORIZATION)?;
    let token = value.strip_prefix("Bearer ").unwrap_or(&value).trim();
    (!token.is_empty()).then(|| token.to_string())
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The caller's client, if it has a valid one.
pub async fn find_client(state: &AppState, caller: &Caller) -> ApiResult<Option<Client>> {
    match &caller.token {
        None => Ok(None),
        Some(token) => Ok(state.store().client_by_token(&token_hash(token)).await?),
    }
}

/// A client and, when it was created by this request, the token to hand to the caller.
pub struct ClientHandle {
    pub client: Client,
    pub new_token: Option<String>,
    /// The new token's hash while the new client is not stored yet ([`client_or_new`]).
    unsaved_token_hash: Option<Vec<u8>>,
}

impl ClientHandle {
    fn existing(client: Client) -> Self {
        ClientHandle { client, new_token: None, unsaved_token_hash: None }
    }

    /// The client, if this request made it and nothing has stored it yet.
    pub fn unsaved(&self) -> Option<NewClient<'_>> {
        self.unsaved_token_hash.as_deref().map(|token_hash| NewClient { client: &self.client, token_hash })
    }
}

/// The caller's client, or a new one that is not stored yet: the handler stores it with its
/// own first write ([`ClientHandle::unsaved`]), in one transaction, and a refused request
/// leaves no client behind.
pub async fn client_or_new(state: &AppState, caller: &Caller) -> ApiResult<ClientHandle> {
    if let Some(client) = find_client(state, caller).await? {
        return Ok(ClientHandle::existing(client));
    }
    let now = now_ms();
    let client = Client { id: new_id(IdKind::Client), created_at: now, updated_at: now, last_active_session_id: None };
    let token = new_secret();
    let unsaved_token_hash = Some(token_hash(&token));
    Ok(ClientHandle { client, new_token: Some(token), unsaved_token_hash })
}

/// The caller's client, which must exist.
pub async fn existing_client(state: &AppState, caller: &Caller) -> ApiResult<ClientHandle> {
    match find_client(state, caller).await? {
        Some(client) => Ok(ClientHandle::existing(client)),
        None => Err(ApiError::signed_out()),
    }
}

/// The signed-in user of a `/me` request: the session named by `_clerk_session_id`, else the
/// client's last active session. It must be live and belong to this client.
pub struct SignedIn {
    pub handle: ClientHandle,
    pub session: Session,
    pub user: User,
}

pub async fn signed_in(state: &AppState, caller: &Caller) -> ApiResult<SignedIn> {
    let handle = existing_client(state, caller).await?;
    let session_id = caller
        .session_hint
        .clone()
        .or_else(|| handle.client.last_active_session_id.clone())
        .ok_or_else(ApiError::signed_out)?;
    let session = state.store().session(&session_id).await?.ok_or_else(ApiError::signed_out)?;
    if session.client_id != handle.client.id || !session.is_live(now_ms()) {
        return Err(ApiError::signed_out());
    }
    let user = state.store().user(&session.user_id).await?.ok_or_else(ApiError::signed_out)?;
    Ok(SignedIn { handle, session, user })
}
