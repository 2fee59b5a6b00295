//! Sign-in tokens: a ticket the app's server (or the operator: `latch sign-in-token`) issues
//! for one user, redeemed once by a `ticket` sign-in ([`crate::sign_in::with_ticket`]). It is
//! how a user who lost every passkey gets back in to add a new one.

use latch_core::backend::{MAX_TICKET_LIFETIME_SECS, SignInToken};
use latch_core::model::Millis;

use crate::audit::{self, Subject};
use crate::backend::users;
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{Requester, token_hash};
use crate::Latch;

/// A new ticket, shown once.
#[derive(Debug, Clone)]
pub struct IssuedTicket {
    pub token: SignInToken,
    pub ticket: String,
    /// Where the user redeems it: the account portal's sign-in page, when the portal is
    /// served (otherwise the app's own sign-in page, with `?__clerk_ticket=`, does it).
    pub url: Option<String>,
}

/// A ticket for `user_id`, valid `expires_in_seconds` (Clerk's default and most: 30 days).
pub async fn create(
    latch: &Latch,
    requester: &Requester,
    user_id: &str,
    expires_in_seconds: Option<i64>,
    now: Millis,
) -> FlowResult<IssuedTicket> {
    // From the admin console: only with a recent verification (docs/protocol.md §17).
    crate::backend::operators::require_recent_verification(latch, requester, now)?;
    let lifetime = expires_in_seconds.unwrap_or(MAX_TICKET_LIFETIME_SECS);
    if !(1..=MAX_TICKET_LIFETIME_SECS).contains(&lifetime) {
        return Err(Refusal::ParamInvalid {
            param: "expires_in_seconds".into(),
            why: format!("expires_in_seconds must be between 1 and {MAX_TICKET_LIFETIME_SECS}."),
        });
    }
    users::find(latch, user_id).await?.ok_or(Refusal::ParamInvalid {
        param: "user_id".into(),
        why: "No user was found with this id.".into(),
    })?;
    let (token, ticket) = SignInToken::issue(user_id, lifetime, token_hash, now);
    let subject = Subject { user_id: Some(user_id.to_string()), ..Subject::default() };
    let line = audit::line(requester, "sign_in_token.create", subject, None, now);
    latch.store().create_sign_in_token(&token, &line).await?;
    let url = latch
        .settings()
        .portal
        .then(|| format!("{}/portal/sign-in?__clerk_ticket={ticket}", latch.issuer().trim_end_matches('/')));
    Ok(IssuedTicket { token, ticket, url })
}

/// Revokes a pending ticket (audited); the ticket as it is afterwards.
pub async fn revoke(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<SignInToken> {
    let line = audit::line(requester, "sign_in_token.revoke", Subject::default(), None, now);
    latch.store().revoke_sign_in_token(id, now, &line).await?.ok_or(Refusal::NotFound("sign-in token"))
}
