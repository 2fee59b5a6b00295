//! Signing in with a passkey: start a sign-in (discoverable, or identifier-first), prepare a
//! new challenge, attempt with an assertion.
//!
//! The order of checks in an attempt is deliberate: everything that can be refused without
//! spending the challenge (malformed credential, wrong sign-in, a challenge already answered,
//! unknown passkey) is refused first and changes nothing; then the assertion is verified
//! against the challenge as read, and the one write that records the outcome also spends the
//! challenge, conditionally on its being unanswered still. So a challenge is answered once at
//! most, whether that answer verifies or not, and an attempt's outcome is one write.

use latch_core::ceremony::{self, Assertion};
use latch_core::ids::{IdKind, looks_like};
use latch_core::model::{Millis, PasskeyChallenge, Session, SessionSource, SignIn, SignInCompletion, SignInStatus, User, VerificationStatus};
use latch_store::{ClientSnapshot, SignInAttempt, TicketRedemption};

use crate::observe::{self, Ceremony};
use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{ClientHandle, Requester, client_or_new, existing_client, refuse_if_signed_in, token_hash};
use crate::{Answer, Latch, answer, answer_with, limits, ms, webhooks};

/// `POST /client/sign_ins`: a new sign-in on the requester's client (a new client if it has
/// none), naming a user by `identifier` or not, with a challenge if `wants_passkey`.
pub async fn start(
    latch: &Latch,
    requester: &Requester,
    wants_passkey: bool,
    identifier: Option<String>,
    now: Millis,
) -> FlowResult<Answer<SignIn>> {
    let handle = client_or_new(latch, requester, now).await?;
    let client_subject = match handle.unsaved() {
        Some(_) => limits::new_client_subject(requester.ip.as_deref(), &handle.client.id),
        None => handle.client.id.clone(),
    };
    limits::sign_in(latch, requester.ip.as_deref(), Some(&client_subject), now).await?;
    refuse_if_signed_in(latch, &handle.client, now).await?;
    let identifier = identifier.map(|name| latch_core::model::canonical_username(&name));
    let user = match &identifier {
        None => None,
        Some(name) => Some(latch.store().user_by_username(name).await?.ok_or(Refusal::IdentifierNotFound)?),
    };
    let challenge = match wants_passkey {
        true => Some(new_challenge(latch, user.as_ref(), requester, now).await?),
        false => None,
    };
    let challenge_ttl = ms(latch.settings().challenge_ttl);
    let sign_in = SignIn::start(&handle.client.id, identifier, user.map(|u| u.id), challenge, now, challenge_ttl);
    let written = latch.store().create_sign_in(handle.unsaved(), &sign_in).await?;
    answer_with(latch, requester, handle, sign_in, written.client, now)
}

/// `POST /client/sign_ins` with `strategy=ticket`: redeems a sign-in token (issued by the
/// Backend API or `latch sign-in-token`) and completes at once, as a passkey sign-in does:
/// a session for the ticket's user, on the requester's client. The ticket is spent in the
/// same transaction, conditionally, so it signs in once at most.
pub async fn with_ticket(latch: &Latch, requester: &Requester, ticket: &str, now: Millis) -> FlowResult<Answer<SignIn>> {
    observe::ceremony(Ceremony::Ticket, with_ticket_unobserved(latch, requester, ticket, now).await)
}

/// [`with_ticket`] before its outcome is counted.
async fn with_ticket_unobserved(latch: &Latch, requester: &Requester, ticket: &str, now: Millis) -> FlowResult<Answer<SignIn>> {
    let mut handle = client_or_new(latch, requester, now).await?;
    limits::sign_in(latch, requester.ip.as_deref(), Some(&handle.client.id), now).await?;
    refuse_if_signed_in(latch, &handle.client, now).await?;
    // Session fixation: a ticket signs in like a passkey, so the client's token is replaced.
    handle.rotate_token(requester);
    let mut subject = Subject { client_id: Some(handle.client.id.clone()), ..Subject::default() };
    let redeemed = redeem(latch, requester, &handle, ticket, &mut subject, now).await;
    let sign_in = match redeemed {
        Ok(sign_in) => sign_in,
        // A refused ticket is audited without storing the new client it came with.
        Err(refusal) => {
            audit::record(latch, requester, "sign_in.ticket", subject, Some(&refusal), now).await;
            return Err(refusal);
        }
    };
    answer(latch, requester, handle, sign_in, now).await
}

async fn redeem(
    latch: &Latch,
    requester: &Requester,
    handle: &ClientHandle,
    ticket: &str,
    subject: &mut Subject,
    now: Millis,
) -> FlowResult<SignIn> {
    let token = latch.store().sign_in_token_by_hash(&token_hash(ticket)).await?.ok_or(Refusal::TicketInvalid)?;
    subject.user_id = Some(token.user_id.clone());
    if !token.is_redeemable(now) {
        return Err(if token.status == latch_core::backend::TicketStatus::Pending { Refusal::TicketExpired } else { Refusal::TicketInvalid });
    }
    let user = latch.store().user(&token.user_id).await?.ok_or(Refusal::TicketInvalid)?;
    let made_with = SessionSource::Ticket(token.id.clone());
    let session = Session::start(&latch.session_policy(), &handle.client.id, &user.id, made_with, now);
    subject.session_id = Some(session.id.clone());
    let challenge_ttl = ms(latch.settings().challenge_ttl);
    let sign_in = SignIn::start(&handle.client.id, Some(user.username.clone()), Some(user.id.clone()), None, now, challenge_ttl)
        .complete(&user.id, &session.id, now);
    let redemption = TicketRedemption { token_id: &token.id, client: handle.token_write()?, sign_in: &sign_in, session: &session, now };
    let mut line = audit::line(requester, "sign_in.ticket", subject.clone(), None, now);
    if latch.webhooks().is_on() {
        let signed_in = User { last_sign_in_at: Some(now), updated_at: now, ..user.clone() };
        let shown = webhooks::backend_user(latch, signed_in).await?;
        line.webhooks = vec![webhooks::session_event(requester, "session.created", &session, Some(&shown), now)];
    }
    if !latch.store().redeem_sign_in_token(&redemption, &line).await? {
        // Another sign-in redeemed it (or it was revoked) since it was read.
        return Err(Refusal::TicketInvalid);
    }
    Ok(sign_in)
}

/// `prepare_first_factor`: a fresh challenge for sign-in `id`; the previous one can no longer
/// be answered.
pub async fn prepare(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Answer<SignIn>> {
    let handle = existing_client(latch, requester).await?;
    limits::sign_in(latch, requester.ip.as_deref(), Some(&handle.client.id), now).await?;
    let sign_in = load(latch, &handle.client.id, id).await?;
    if sign_in.status == SignInStatus::Complete {
        return Err(Refusal::SignInAlreadyComplete);
    }
    let user = match &sign_in.user_id {
        Some(user_id) => latch.store().user(user_id).await?,
        None => None,
    };
    let challenge = new_challenge(latch, user.as_ref(), requester, now).await?;
    let sign_in = sign_in.with_new_challenge(challenge, now).ok_or(Refusal::SignInAlreadyComplete)?;
    latch.store().save_sign_in_challenge(&sign_in).await?;
    answer(latch, requester, handle, sign_in, now).await
}

/// `attempt_first_factor`: answers sign-in `id`'s challenge with the assertion in
/// `credential_json`. On success the sign-in is complete and its session is the client's.
pub async fn attempt(latch: &Latch, requester: &Requester, id: &str, credential_json: &str, now: Millis) -> FlowResult<Answer<SignIn>> {
    observe::ceremony(Ceremony::SignIn, attempt_unobserved(latch, requester, id, credential_json, now).await)
}

/// [`attempt`] before its outcome is counted.
async fn attempt_unobserved(
    latch: &Latch,
    requester: &Requester,
    id: &str,
    credential_json: &str,
    now: Millis,
) -> FlowResult<Answer<SignIn>> {
    let assertion = ceremony::parse_assertion(credential_json);
    let read = read_attempt(latch, requester, id, assertion.as_ref().ok()).await?;
    let mut handle = ClientHandle::existing(read.client.clone());
    limits::sign_in(latch, requester.ip.as_deref(), Some(&handle.client.id), now).await?;
    let mut subject = Subject { client_id: Some(handle.client.id.clone()), ..Subject::default() };
    // A completed sign-in's audit line is written in its own transaction; only a refused or
    // failed attempt is recorded here.
    let attempted = match assertion {
        Err(e) => Err(e.into()),
        Ok(_) if !looks_like(IdKind::SignIn, id) => Err(Refusal::NotFound("sign-in")),
        Ok(assertion) => verify_and_record(latch, requester, &mut handle, &assertion, read, &mut subject, now).await,
    };
    let (done, client) = audit::refusal(latch, requester, "sign_in", subject, attempted, now).await?;
    answer_with(latch, requester, handle, done, client, now)
}

/// The requester's client (refused as signed out without one) and, when the answer and the
/// sign-in id are well formed, the sign-in, the passkey the answer names and its owner, in
/// the same store call: one round trip, not two. What is missing is refused later in the
/// same order as if read one by one (a malformed answer before a missing sign-in).
async fn read_attempt(
    latch: &Latch,
    requester: &Requester,
    id: &str,
    assertion: Option<&Assertion>,
) -> FlowResult<SignInAttempt> {
    let token_hash = token_hash(requester.token.as_deref().ok_or(Refusal::SignedOut)?);
    let found = match assertion {
        Some(assertion) if looks_like(IdKind::SignIn, id) => {
            latch.store().sign_in_attempt(&token_hash, id, assertion.credential.raw_id.as_ref()).await?
        }
        _ => latch.store().client_by_token(&token_hash).await?.map(|client| SignInAttempt {
            client,
            sign_in: None,
            passkey: None,
            owner: None,
        }),
    };
    found.ok_or(Refusal::SignedOut)
}

async fn verify_and_record(
    latch: &Latch,
    requester: &Requester,
    handle: &mut ClientHandle,
    assertion: &Assertion,
    read: SignInAttempt,
    subject: &mut Subject,
    now: Millis,
) -> FlowResult<(SignIn, Option<ClientSnapshot>)> {
    let SignInAttempt { sign_in, passkey, owner, .. } = read;
    let store = latch.store();
    let sign_in = sign_in.ok_or(Refusal::NotFound("sign-in"))?;
    if sign_in.status == SignInStatus::Complete {
        return Err(Refusal::SignInAlreadyComplete);
    }
    let Some((challenge, challenge_state)) = sign_in.open_challenge() else {
        return Err(Refusal::ChallengeSpent);
    };
    let unknown = || Refusal::passkey_not_registered(latch.rp().rp_id(), assertion.credential.raw_id.as_ref());
    let passkey = passkey.ok_or_else(unknown)?;
    subject.passkey_id = Some(passkey.id.clone());
    subject.user_id = Some(passkey.user_id.clone());
    // Identifier-first: the passkey must belong to the user who was named.
    if sign_in.user_id.as_ref().is_some_and(|u| *u != passkey.user_id) {
        return Err(Refusal::PasskeyOfAnotherUser);
    }
    let owner = owner.ok_or_else(unknown)?;
    // Two sign-ins started on one signed-out client: once one completes, the other is
    // refused here, before its challenge is spent. (Should both complete at the same
    // instant, complete_sign_in lets the later replace the earlier.)
    refuse_if_signed_in(latch, &handle.client, now).await?;

    if challenge.has_expired(now) {
        return Err(spend_on_failure(latch, &sign_in, VerificationStatus::Expired, Refusal::VerificationExpired, now).await);
    }
    let verified = latch.rp().finish_authentication(
        assertion,
        challenge_state,
        &passkey.credential,
        owner.webauthn_handle,
        challenge.origin.as_deref(),
    );
    let verified = match verified {
        Ok(verified) => verified,
        Err(e) => return Err(spend_on_failure(latch, &sign_in, VerificationStatus::Failed, e.into(), now).await),
    };

    let made_with = SessionSource::Passkey { passkey_id: passkey.id.clone(), attachment: assertion.attachment };
    let session = Session::start(&latch.session_policy(), &handle.client.id, &owner.id, made_with, now);
    subject.session_id = Some(session.id.clone());
    handle.rotate_token(requester);
    let (old_client_token_hash, client_token_hash) = handle
        .rotation()
        .map(|(old, new)| (old.to_vec(), new.to_vec()))
        .ok_or_else(|| Refusal::Internal("a signing-in client got no fresh token".into()))?;
    let completion = SignInCompletion {
        sign_in_id: sign_in.id.clone(),
        challenge_options: challenge.options_json.clone(),
        passkey_id: passkey.id.clone(),
        previous_sign_count: passkey.sign_count,
        updated_credential: verified.credential,
        session,
        client_token_hash,
        old_client_token_hash,
        now,
    };
    let mut audit_line = audit::line(requester, "sign_in", subject.clone(), None, now);
    if latch.webhooks().is_on() {
        // The user as this sign-in leaves them (USER_SIGNED_IN).
        let signed_in = User { last_sign_in_at: Some(now), updated_at: now, ..owner.clone() };
        let shown = webhooks::backend_user(latch, signed_in).await?;
        audit_line.webhooks = vec![webhooks::session_event(requester, "session.created", &completion.session, Some(&shown), now)];
    }
    let written = store.complete_sign_in(&completion, &audit_line).await?;
    if !written.result {
        // Another answer spent this challenge, or another sign-in used this passkey, since
        // they were read.
        return Err(Refusal::UsedConcurrently);
    }
    Ok((sign_in.complete(&owner.id, &completion.session.id, now), written.client))
}

/// Records a failed answer, spending the challenge, and gives back the refusal to answer
/// with (a store failure replaces it).
async fn spend_on_failure(latch: &Latch, sign_in: &SignIn, status: VerificationStatus, refusal: Refusal, now: Millis) -> Refusal {
    let Some(failure) = sign_in.fail(status, refusal.code(), now) else { return Refusal::ChallengeSpent };
    match latch.store().fail_sign_in(&failure).await {
        // Spent here, or already by a concurrent answer: either way this one failed.
        Ok(_) => refusal,
        Err(e) => e.into(),
    }
}

/// A challenge for `user`'s passkeys, or for any discoverable passkey when no user is named.
async fn new_challenge(latch: &Latch, user: Option<&User>, requester: &Requester, now: Millis) -> FlowResult<PasskeyChallenge> {
    if !latch.settings().passkeys_enabled {
        return Err(Refusal::PasskeysDisabled);
    }
    let allowed = match user {
        None => Vec::new(),
        Some(user) => {
            let passkeys = latch.store().passkeys_of(&user.id).await?;
            if passkeys.is_empty() {
                return Err(Refusal::NoPasskeyForUser);
            }
            passkeys.into_iter().map(|p| p.credential).collect()
        }
    };
    let (options, state) = latch.rp().begin_authentication(allowed)?;
    let options_json =
        serde_json::to_string(&options).map_err(|e| Refusal::Internal(format!("request options: {e}")))?;
    Ok(PasskeyChallenge::issue(options_json, state, requester.origin.clone(), now, ms(latch.settings().challenge_ttl)))
}

async fn load(latch: &Latch, client_id: &str, id: &str) -> FlowResult<SignIn> {
    if !looks_like(IdKind::SignIn, id) {
        return Err(Refusal::NotFound("sign-in"));
    }
    latch.store().sign_in(client_id, id).await?.ok_or(Refusal::NotFound("sign-in"))
}
