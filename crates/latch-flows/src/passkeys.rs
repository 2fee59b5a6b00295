//! The signed-in user and their passkeys: read the user, begin a registration, verify it,
//! rename, delete.
//!
//! Every lookup is scoped to the signed-in user: another user's passkey id is simply not
//! found, which reveals nothing about it. Passkeys change only from an active session; a
//! `pending` one has tasks to finish first.

use latch_core::ceremony::{self, PasskeyOwner};
use latch_core::ids::{IdKind, looks_like, new_id};
use latch_core::model::{Millis, Passkey, PendingPasskey, SessionStatus, User, normalize_passkey_name};
use latch_store::AuditEvent;

use crate::observe::{self, Ceremony};
use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{Requester, SignedIn, signed_in};
use crate::{Answer, Latch, answer, limits, ms, reverify, webhooks};

/// A user with their passkeys.
#[derive(Debug, Clone)]
pub struct UserWithPasskeys {
    pub user: User,
    pub passkeys: Vec<Passkey>,
}

/// An object the action deleted.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub object: &'static str,
    pub id: String,
}

/// `GET /me`.
pub async fn me(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<Answer<UserWithPasskeys>> {
    let me = signed_in(latch, requester, now).await?;
    let passkeys = latch.store().passkeys_of(&me.user.id).await?;
    answer(latch, requester, me.handle, UserWithPasskeys { user: me.user, passkeys }, now).await
}

async fn active_user(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<SignedIn> {
    let me = signed_in(latch, requester, now).await?;
    if me.session.status_at(now) != SessionStatus::Active {
        return Err(Refusal::SessionTaskPending);
    }
    Ok(me)
}

/// `POST /me/passkeys`: begins a registration; its options go back as the verification nonce.
pub async fn begin(latch: &Latch, requester: &Requester, now: Millis) -> FlowResult<Answer<PendingPasskey>> {
    let me = active_user(latch, requester, now).await?;
    // Step-up: a session someone else held for a moment must not add their passkey.
    reverify::require_recent_first_factor(latch, &me.session, now)?;
    limits::passkey_creation(latch, &me.user.id, now).await?;
    let max_passkeys = latch.settings().max_passkeys_per_user;
    let existing = latch.store().passkeys_of(&me.user.id).await?;
    if existing.len() >= max_passkeys as usize {
        return Err(Refusal::PasskeyQuotaExceeded);
    }
    let owner = PasskeyOwner { handle: me.user.webauthn_handle, name: &me.user.username, display_name: &me.user.username };
    let exclude = existing.iter().map(|p| p.credential.cred_id.clone()).collect();
    let (options, state) = latch.rp().begin_registration(&owner, exclude)?;
    let options_json = latch_core::ceremony::creation_options_json(&options)
        .map_err(|e| Refusal::Internal(format!("creation options: {e}")))?;
    let pending = PendingPasskey {
        id: new_id(IdKind::Passkey, now),
        user_id: me.user.id.clone(),
        client_id: me.handle.client.id.clone(),
        options_json,
        state,
        origin: requester.origin.clone(),
        created_at: now,
        expire_at: now.saturating_add(ms(latch.settings().challenge_ttl)),
    };
    latch.store().create_pending_passkey(&pending, max_passkeys).await?;
    answer(latch, requester, me.handle, pending, now).await
}

/// `attempt_verification`: finishes registration `id` with the credential in
/// `credential_json`. The answer spends the registration whatever its outcome.
pub async fn verify(latch: &Latch, requester: &Requester, id: &str, credential_json: &str, now: Millis) -> FlowResult<Answer<Passkey>> {
    observe::ceremony(Ceremony::PasskeyRegistration, verify_unobserved(latch, requester, id, credential_json, now).await)
}

/// [`verify`] before its outcome is counted.
async fn verify_unobserved(
    latch: &Latch,
    requester: &Requester,
    id: &str,
    credential_json: &str,
    now: Millis,
) -> FlowResult<Answer<Passkey>> {
    // Refuse what cannot be a credential before spending the pending registration.
    ceremony::parse_registration(credential_json)?;
    let me = active_user(latch, requester, now).await?;
    if !looks_like(IdKind::Passkey, id) {
        return Err(Refusal::NotFound("passkey"));
    }
    let subject = subject_of(&me, id);
    // A verified passkey's audit line is written in the transaction that stores it; only a
    // refusal is recorded here.
    let audit_line = audit::line(requester, "passkey.create", subject.clone(), None, now);
    let verified = verify_and_record(latch, requester, &me, id, credential_json, &audit_line, now).await;
    let passkey = audit::refusal(latch, requester, "passkey.create", subject, verified, now).await?;
    answer(latch, requester, me.handle, passkey, now).await
}

fn subject_of(me: &SignedIn, passkey_id: &str) -> Subject {
    Subject {
        user_id: Some(me.user.id.clone()),
        session_id: Some(me.session.id.clone()),
        passkey_id: Some(passkey_id.to_string()),
        client_id: Some(me.handle.client.id.clone()),
    }
}

/// Verifies the answer against the pending registration as read; the write that records the
/// outcome spends it (storing the passkey, or deleting the pending registration on a
/// failure), so each registration challenge is answered once at most.
async fn verify_and_record(
    latch: &Latch,
    requester: &Requester,
    me: &SignedIn,
    id: &str,
    credential_json: &str,
    audit_line: &AuditEvent,
    now: Millis,
) -> FlowResult<Passkey> {
    let store = latch.store();
    let pending = store.pending_passkey(&me.user.id, id).await?.ok_or(Refusal::NotFound("passkey"))?;
    let refused = match verified_passkey(latch, me, &pending, credential_json, now) {
        Ok(passkey) => {
            let mut audit_line = audit_line.clone();
            if latch.webhooks().is_on() {
                audit_line.webhooks = vec![webhooks::passkey_event(requester, "passkey.created", &passkey, now)];
            }
            match store.save_verified_passkey(&passkey, latch.settings().max_passkeys_per_user, &audit_line).await {
            Ok(true) => return Ok(passkey),
            // A concurrent answer spent the registration first.
            Ok(false) => Refusal::NotFound("passkey"),
            Err(e) => e.into(),
            }
        }
        Err(refused) => refused,
    };
    // Refused, over the quota or a known credential: nothing was stored, and the answer
    // still spends the registration.
    store.spend_pending_passkey(&me.user.id, id).await?;
    Err(refused)
}

fn verified_passkey(latch: &Latch, me: &SignedIn, pending: &PendingPasskey, credential_json: &str, now: Millis) -> FlowResult<Passkey> {
    if pending.client_id != me.handle.client.id {
        return Err(Refusal::NotFound("passkey"));
    }
    if now >= pending.expire_at {
        return Err(Refusal::VerificationExpired);
    }
    let verified = latch.rp().finish_registration(credential_json, &pending.state, pending.origin.as_deref())?;
    if !latch.settings().authenticator_allowed(verified.aaguid) {
        return Err(Refusal::AuthenticatorNotAllowed);
    }
    Ok(Passkey {
        id: pending.id.clone(),
        user_id: me.user.id.clone(),
        credential_id: verified.credential_id,
        name: verified.default_name,
        aaguid: verified.aaguid,
        sign_count: verified.sign_count,
        backup_eligible: verified.backup_eligible,
        backup_state: verified.backup_state,
        credential: verified.credential,
        created_at: now,
        updated_at: now,
        last_used_at: None,
        prf_enabled: verified.prf_enabled,
    })
}

/// `PATCH /me/passkeys/{id}`: a new name.
pub async fn rename(latch: &Latch, requester: &Requester, id: &str, name: &str, now: Millis) -> FlowResult<Answer<Passkey>> {
    let name = normalize_passkey_name(name).ok_or(Refusal::PasskeyNameInvalid)?;
    let me = active_user(latch, requester, now).await?;
    if !looks_like(IdKind::Passkey, id) {
        return Err(Refusal::NotFound("passkey"));
    }
    let mut line = audit::line(requester, "passkey.rename", subject_of(&me, id), None, now);
    if latch.webhooks().is_on()
        && let Some(before) = latch.store().passkeys_of(&me.user.id).await?.into_iter().find(|p| p.id == id)
    {
        let renamed = Passkey { name: name.clone(), updated_at: now, ..before };
        line.webhooks = vec![webhooks::passkey_event(requester, "passkey.updated", &renamed, now)];
    }
    let passkey =
        latch.store().rename_passkey(&me.user.id, id, &name, now, &line).await?.ok_or(Refusal::NotFound("passkey"))?;
    answer(latch, requester, me.handle, passkey, now).await
}

/// `DELETE /me/passkeys/{id}`.
pub async fn delete(latch: &Latch, requester: &Requester, id: &str, now: Millis) -> FlowResult<Answer<Deleted>> {
    let me = active_user(latch, requester, now).await?;
    // Step-up: a session someone else held for a moment must not lock the owner out.
    reverify::require_recent_first_factor(latch, &me.session, now)?;
    // The other sessions this passkey made end with it. The deleting one stays: it has just
    // proved a recent verification, and ending it would only sign out the user who acted.
    let mut line = audit::line(requester, "passkey.delete", subject_of(&me, id), None, now);
    if latch.webhooks().is_on() {
        line.webhooks = vec![webhooks::deleted_event(requester, "passkey.deleted", "passkey", id, now)];
    }
    // The operator's lockout rule (§21) is checked inside the delete's own transaction.
    let protect = latch.settings().protect_last_passkey;
    if !looks_like(IdKind::Passkey, id) {
        return Err(Refusal::NotFound("passkey"));
    }
    let deleter = webhooks::PasskeyDeleter::User { keep_session: &me.session.id, protect };
    if !webhooks::delete_passkey_revoking_sessions(latch, requester, &me.user.id, id, deleter, &line, now).await? {
        return Err(Refusal::NotFound("passkey"));
    }
    let deleted = Deleted { object: "passkey", id: id.to_string() };
    answer(latch, requester, me.handle, deleted, now).await
}
