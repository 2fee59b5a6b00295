//! Who may call the Backend API, and the operators of the admin console (docs/protocol.md §17).
//!
//! A Backend API request is authenticated by exactly one of:
//! - a live **secret key** (`Authorization: Bearer sk_live_…`), the app's server, as always;
//! - only when the instance serves the admin console (`--console`), an **operator's session
//!   token**: a session JWT this instance signed, issued to its own origin (`azp` is Latch's
//!   public origin, where the console and the portal's sign-in are served, never an app's
//!   page), for a session that is live in the store now, whose user holds the operator role
//!   now. The role and the session are read from the store on every request, never trusted
//!   from the token's claims, so revoking the role or ending the session takes effect at the
//!   next call; a token alone (its lifetime is a minute) grants nothing after that.
//!
//! Only the `Authorization` header counts; a cookie is never read, so no other site can make
//! a browser call the Backend API with its credentials (and no CORS lets it read an answer).
//!
//! Destructive actions taken with an operator's token ([`require_recent_verification`]) need
//! a first factor verified within the reverification window (§16), as deleting one's own
//! passkey does: a console left open cannot be used to delete users by whoever sits down.

use latch_core::model::{Millis, Session, SessionStatus, canonical_username};
use latch_store::{Operator, Store};

use crate::audit::{self, Subject};
use crate::backend::keys;
use crate::refusal::{FlowResult, Refusal};
use crate::requester::Requester;
use crate::{Latch, reverify};

/// The operator behind a Backend API request: their user id and their session as the store
/// had it when the request was authenticated.
#[derive(Debug, Clone)]
pub struct ActingOperator {
    pub user_id: String,
    pub session: Session,
}

/// Who a Backend API request was authenticated as.
#[derive(Debug, Clone)]
pub enum BackendActor {
    /// The id of the live secret key it presented.
    SecretKey(String),
    Operator(ActingOperator),
}

impl BackendActor {
    /// The requester a flow sees: the caller's address and user agent, and who acted.
    pub fn requester(self, ip: Option<String>, user_agent: Option<String>) -> Requester {
        let (secret_key_id, operator) = match self {
            BackendActor::SecretKey(id) => (Some(id), None),
            BackendActor::Operator(operator) => (None, Some(operator)),
        };
        Requester { ip, user_agent, secret_key_id, operator, ..Requester::default() }
    }
}

/// The one rule for who may call the Backend API: `presented` is the bearer credential of
/// the `Authorization` header. A secret key always works; anything else is an operator's
/// session token, accepted only while the admin console is on.
pub async fn authenticate(latch: &Latch, presented: Option<&str>, now: Millis) -> FlowResult<BackendActor> {
    match presented {
        Some(key) if key.starts_with(latch_core::backend::SECRET_KEY_PREFIX) => {
            Ok(BackendActor::SecretKey(keys::authenticate(latch, Some(key)).await?.id))
        }
        Some(token) if latch.settings().console && !token.is_empty() => {
            Ok(BackendActor::Operator(operator_by_token(latch, token, now).await?))
        }
        _ => Err(Refusal::SecretKeyInvalid),
    }
}

/// The operator whose session token `jwt` is, checked as the module says.
async fn operator_by_token(latch: &Latch, jwt: &str, now: Millis) -> FlowResult<ActingOperator> {
    let claims = latch.tokens().verify(jwt, latch.issuer(), now).ok_or(Refusal::OperatorTokenInvalid)?;
    // A token minted for an app's page (or none) is not the console's: an app's script, or
    // whoever steals from it, must not reach the Backend API with an operator's session.
    if claims.azp.as_deref() != Some(console_origin(latch).as_str()) || claims.sts != SessionStatus::Active.as_str() {
        return Err(Refusal::OperatorTokenInvalid);
    }
    let found = latch.store().operator_session(&claims.sid).await?.ok_or(Refusal::OperatorTokenInvalid)?;
    if found.session.user_id != claims.sub || found.session.status_at(now) != SessionStatus::Active {
        return Err(Refusal::OperatorTokenInvalid);
    }
    if !found.is_operator {
        return Err(Refusal::OperatorRequired);
    }
    Ok(ActingOperator { user_id: found.session.user_id.clone(), session: found.session })
}

/// Latch's own public origin (scheme, host, port of the issuer URL): where the console runs.
pub fn console_origin(latch: &Latch) -> String {
    url::Url::parse(latch.issuer()).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

/// Destructive actions (revoking a session, deleting a passkey or a user, issuing a recovery
/// link) taken from the console need the operator's session verified recently (§16's rule
/// and refusal, `session_reverification_required`). A secret key's calls are not asked.
pub fn require_recent_verification(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<()> {
    match &requester.operator {
        Some(operator) => reverify::require_recent_first_factor(latch, &operator.session, now),
        None => Ok(()),
    }
}

// ---- the role, from the command line -------------------------------------------------------

/// Grants the operator role to the user named `username` (audited).
pub async fn grant(store: &dyn Store, username: &str, now: Millis) -> FlowResult<Operator> {
    let user = store.user_by_username(&canonical_username(username)).await?.ok_or(Refusal::NotFound("user"))?;
    let line = audit::line(&command_line(), "operator.grant", subject(&user.id), None, now);
    if !store.grant_operator(&user.id, now, &line).await? {
        return Err(Refusal::NotFound("user"));
    }
    store
        .operators()
        .await?
        .into_iter()
        .find(|o| o.user.id == user.id)
        .ok_or_else(|| Refusal::Internal("a granted operator is not listed".into()))
}

/// Revokes it (audited): the user's next console call is refused.
pub async fn revoke(store: &dyn Store, username: &str, now: Millis) -> FlowResult<()> {
    let user = store.user_by_username(&canonical_username(username)).await?.ok_or(Refusal::NotFound("user"))?;
    let line = audit::line(&command_line(), "operator.revoke", subject(&user.id), None, now);
    if !store.revoke_operator(&user.id, &line).await? {
        return Err(Refusal::NotFound("operator"));
    }
    Ok(())
}

pub async fn list(store: &dyn Store) -> FlowResult<Vec<Operator>> {
    Ok(store.operators().await?)
}

fn subject(user_id: &str) -> Subject {
    Subject { user_id: Some(user_id.to_string()), ..Subject::default() }
}

/// The operator at the command line, as the audit trail names them: no address.
fn command_line() -> Requester {
    Requester { user_agent: Some("latch-cli".into()), ..Requester::default() }
}
