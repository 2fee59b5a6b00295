//! Reverification (Clerk's session verification, docs/protocol.md §16): a signed-in user proves
//! again, with a fresh passkey assertion, that they hold a passkey of the session's account,
//! so that a session someone else got hold of for a moment cannot add their own passkey or
//! delete the owner's.
//!
//! - [`require_recent_first_factor`]: the rule sensitive actions ask (adding and deleting a
//!   passkey); a stale session gets `session_reverification_required`, which clerk-js's
//!   `useReverification` turns into its verification dialog.
//! - [`start`], [`prepare`], [`attempt`]: `session.startVerification`,
//!   `prepareFirstFactorVerification({strategy: 'passkey'})`, `attemptFirstFactorVerification`.
//!
//! The ceremony is a sign-in's, bound to the session instead of a sign-in: a single-use
//! challenge (`latch_core::ceremony`, webauthn-rs-core), answered once whatever the outcome,
//! by a passkey of the session's own user, with the user-verification policy and the counter
//! check of a sign-in. The order of an attempt's checks is the sign-in's (sign_in.rs): what can
//! be refused without spending the challenge first, then the verdict, then one write.

use latch_core::ceremony;
use latch_core::model::{
    Millis, PasskeyChallenge, ReverificationCompletion, Session, SessionVerification, User, VerificationLevel,
    VerificationStatus,
};

use crate::observe::{self, Ceremony};
use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::sessions::live_session;
use crate::{Answer, Latch, Requester, answer, limits, ms};

/// Adding or deleting a passkey: the session's first factor must have been verified within
/// the instance's `reverification_max_age`; sign-up and sign-in count as verifications.
pub fn require_recent_first_factor(latch: &Latch, session: &Session, now: Millis) -> FlowResult<()> {
    let max_age = latch.settings().reverification_max_age;
    if session.first_factor_is_fresh(now, ms(max_age)) {
        return Ok(());
    }
    Err(Refusal::ReverificationRequired { after_minutes: max_age.as_secs().div_ceil(60).max(1) })
}

/// `POST /client/sessions/{id}/verify`: a new verification of session `id` at `level`,
/// replacing any earlier one of that session.
pub async fn start(
    latch: &Latch,
    requester: &Requester,
    session_id: &str,
    level: &str,
    now: Millis,
) -> FlowResult<Answer<SessionVerification>> {
    let level = VerificationLevel::parse(level).ok_or_else(|| Refusal::ParamInvalid {
        param: "level".into(),
        why: "level is first_factor, second_factor or multi_factor.".into(),
    })?;
    let (handle, session) = live_session(latch, requester, session_id, now).await?;
    let verification = SessionVerification::start(&session.id, level, now);
    latch.store().start_session_verification(&verification).await?;
    answer(latch, requester, handle, verification, now).await
}

/// `POST /client/sessions/{id}/verify/prepare_first_factor` (`strategy=passkey`): a fresh
/// challenge for the session user's passkeys; the previous one can no longer be answered.
pub async fn prepare(
    latch: &Latch,
    requester: &Requester,
    session_id: &str,
    now: Millis,
) -> FlowResult<Answer<SessionVerification>> {
    let (handle, session) = live_session(latch, requester, session_id, now).await?;
    limits::sign_in(latch, requester.ip.as_deref(), Some(&handle.client.id), now).await?;
    let verification = open_verification(latch, &session).await?;
    let challenge = new_challenge(latch, &session.user_id, requester, now).await?;
    let verification = verification.with_new_challenge(challenge, now).ok_or(Refusal::ReverificationAlreadyComplete)?;
    if !latch.store().save_session_verification_challenge(&verification).await? {
        // Replaced by a new verification, or completed, since it was read.
        return Err(Refusal::NotFound("session verification"));
    }
    answer(latch, requester, handle, verification, now).await
}

/// `POST /client/sessions/{id}/verify/attempt_first_factor`: answers the verification's
/// challenge with the assertion in `credential_json`. On success the session's first factor
/// is verified now (`factor_verification_age` `[0, -1]`).
pub async fn attempt(latch: &Latch, requester: &Requester, session_id: &str, credential_json: &str, now: Millis) -> FlowResult<Answer<SessionVerification>> {
    observe::ceremony(Ceremony::Reverification, attempt_unobserved(latch, requester, session_id, credential_json, now).await)
}

/// [`attempt`] before its outcome is counted.
async fn attempt_unobserved(
    latch: &Latch,
    requester: &Requester,
    session_id: &str,
    credential_json: &str,
    now: Millis,
) -> FlowResult<Answer<SessionVerification>> {
    let assertion = ceremony::parse_assertion(credential_json)?;
    let (handle, session) = live_session(latch, requester, session_id, now).await?;
    limits::sign_in(latch, requester.ip.as_deref(), Some(&handle.client.id), now).await?;
    let mut subject = Subject {
        user_id: Some(session.user_id.clone()),
        session_id: Some(session.id.clone()),
        client_id: Some(handle.client.id.clone()),
        passkey_id: None,
    };
    // The success line is written with the completion, in its transaction.
    let verified = verify_and_record(latch, requester, &session, &assertion, &mut subject, now).await;
    let verification = audit::refusal(latch, requester, "session.reverify", subject, verified, now).await?;
    answer(latch, requester, handle, verification, now).await
}

async fn verify_and_record(
    latch: &Latch,
    requester: &Requester,
    session: &Session,
    assertion: &ceremony::Assertion,
    subject: &mut Subject,
    now: Millis,
) -> FlowResult<SessionVerification> {
    let store = latch.store();
    let verification = open_verification(latch, session).await?;
    let Some((challenge, challenge_state)) = verification.open_challenge() else {
        return Err(Refusal::ChallengeSpent);
    };
    let passkey = store.passkey_by_credential(assertion.credential.raw_id.as_ref()).await?
        .ok_or_else(|| Refusal::passkey_not_registered(latch.rp().rp_id(), assertion.credential.raw_id.as_ref()))?;
    subject.passkey_id = Some(passkey.id.clone());
    // Only the session's own user may reverify it: another account's passkey, however valid,
    // proves nothing about this one.
    if passkey.user_id != session.user_id {
        return Err(Refusal::PasskeyOfAnotherUser);
    }
    let user = session_user(latch, session).await?;
    if challenge.has_expired(now) {
        return Err(spend_on_failure(latch, session, challenge, VerificationStatus::Expired, Refusal::VerificationExpired, now).await);
    }
    let verified = latch.rp().finish_authentication(
        assertion,
        challenge_state,
        &passkey.credential,
        user.webauthn_handle,
        challenge.origin.as_deref(),
    );
    let verified = match verified {
        Ok(verified) => verified,
        Err(e) => return Err(spend_on_failure(latch, session, challenge, VerificationStatus::Failed, e.into(), now).await),
    };
    let completion = ReverificationCompletion {
        verification_id: verification.id.clone(),
        session_id: session.id.clone(),
        challenge_options: challenge.options_json.clone(),
        passkey_id: passkey.id.clone(),
        previous_sign_count: passkey.sign_count,
        updated_credential: verified.credential,
        now,
    };
    let audit_line = audit::line(requester, "session.reverify", subject.clone(), None, now);
    if !store.complete_session_verification(&completion, &audit_line).await? {
        // Another answer spent the challenge, another sign-in used the passkey, or the
        // session ended, since they were read.
        return Err(Refusal::UsedConcurrently);
    }
    Ok(verification.completed(now))
}

/// The session's current verification, which must not be complete yet.
async fn open_verification(latch: &Latch, session: &Session) -> FlowResult<SessionVerification> {
    let verification =
        latch.store().session_verification(&session.id).await?.ok_or(Refusal::NotFound("session verification"))?;
    if verification.complete {
        return Err(Refusal::ReverificationAlreadyComplete);
    }
    Ok(verification)
}

async fn session_user(latch: &Latch, session: &Session) -> FlowResult<User> {
    latch.store().user(&session.user_id).await?.ok_or(Refusal::SignedOut)
}

/// Records a failed answer, spending the challenge, and gives back the refusal to answer with.
async fn spend_on_failure(
    latch: &Latch,
    session: &Session,
    challenge: &PasskeyChallenge,
    status: VerificationStatus,
    refusal: Refusal,
    now: Millis,
) -> Refusal {
    let spent =
        latch.store().fail_session_verification(&session.id, &challenge.options_json, status, refusal.code(), now).await;
    match spent {
        Ok(_) => refusal,
        Err(e) => e.into(),
    }
}

/// A challenge that only the user's own passkeys can answer (their credentials are the
/// allow list, so the browser offers nothing else).
async fn new_challenge(latch: &Latch, user_id: &str, requester: &Requester, now: Millis) -> FlowResult<PasskeyChallenge> {
    let passkeys = latch.store().passkeys_of(user_id).await?;
    if passkeys.is_empty() {
        return Err(Refusal::NoPasskeyForUser);
    }
    let allowed = passkeys.into_iter().map(|p| p.credential).collect();
    let (options, state) = latch.rp().begin_authentication(allowed)?;
    let options_json =
        serde_json::to_string(&options).map_err(|e| Refusal::Internal(format!("request options: {e}")))?;
    Ok(PasskeyChallenge::issue(options_json, state, requester.origin.clone(), now, ms(latch.settings().challenge_ttl)))
}
