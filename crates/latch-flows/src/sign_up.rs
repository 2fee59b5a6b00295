//! Signing up: a username and nothing else (no password), which signs the new user in.
//! Passkeys are added afterwards, signed in, as in Clerk's guide.

use latch_core::ids::{IdKind, looks_like, new_id};
use latch_core::model::{Millis, Session, SessionSource, SignUp, User, canonical_username, username_is_valid};
use uuid::Uuid;

use crate::observe::{self, Ceremony};
use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{Requester, client_or_new, existing_client, refuse_if_signed_in};
use crate::backend::users::BackendUser;
use crate::{Answer, Latch, answer, limits, webhooks};

/// `POST /client/sign_ups`: a new user named `username` (already trimmed), signed in at once.
pub async fn sign_up(latch: &Latch, requester: &Requester, username: &str, now: Millis) -> FlowResult<Answer<SignUp>> {
    observe::ceremony(Ceremony::SignUp, sign_up_unobserved(latch, requester, username, now).await)
}

/// [`sign_up`] before its outcome is counted.
async fn sign_up_unobserved(latch: &Latch, requester: &Requester, username: &str, now: Millis) -> FlowResult<Answer<SignUp>> {
    if !username_is_valid(username) {
        return Err(Refusal::UsernameInvalid);
    }
    let username = canonical_username(username);
    limits::sign_up(latch, requester.ip.as_deref(), now).await?;
    let mut handle = client_or_new(latch, requester, now).await?;
    refuse_if_signed_in(latch, &handle.client, now).await?;
    handle.rotate_token(requester);
    let user = User {
        id: new_id(IdKind::User, now),
        username,
        webauthn_handle: Uuid::new_v4(),
        created_at: now,
        updated_at: now,
        last_sign_in_at: Some(now),
    };
    let session = Session::start(&latch.session_policy(), &handle.client.id, &user.id, SessionSource::SignUp, now);
    let sign_up = SignUp {
        id: new_id(IdKind::SignUp, now),
        client_id: handle.client.id.clone(),
        username: user.username.clone(),
        created_user_id: user.id.clone(),
        created_session_id: session.id.clone(),
        created_at: now,
    };
    let subject = Subject {
        user_id: Some(user.id.clone()),
        session_id: Some(session.id.clone()),
        client_id: Some(handle.client.id.clone()),
        ..Subject::default()
    };
    // The success line is written with the sign-up (and the new client) in one transaction;
    // only a refusal is recorded here.
    let mut audit_line = audit::line(requester, "sign_up", subject.clone(), None, now);
    if latch.webhooks().is_on() {
        let shown = BackendUser { user: user.clone(), metadata: Default::default(), passkeys: Vec::new() };
        audit_line.webhooks = vec![
            webhooks::user_event(requester, "user.created", &shown, now),
            webhooks::session_event(requester, "session.created", &session, Some(&shown), now),
        ];
    }
    let stored = latch.store().sign_up(handle.token_write()?, &user, &sign_up, &session, &audit_line).await;
    audit::refusal(latch, requester, "sign_up", subject, stored.map_err(Refusal::from), now).await?;
    answer(latch, requester, handle, sign_up, now).await
}

/// `GET /client/sign_ups/{id}`: one of the client's sign-ups.
pub async fn get(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Answer<SignUp>> {
    let handle = existing_client(latch, requester).await?;
    if !looks_like(IdKind::SignUp, id) {
        return Err(Refusal::NotFound("sign-up"));
    }
    let sign_up = latch.store().sign_up_record(&handle.client.id, id).await?.ok_or(Refusal::NotFound("sign-up"))?;
    answer(latch, requester, handle, sign_up, now).await
}
