//! The Backend API's JSON: the shapes `@clerk/backend` deserializes (docs/backend.md §3.3).
//! Pure rendering: records in, JSON out. Times are Unix milliseconds.
//!
//! They live here, not in the server crate, because two places render them: the Backend
//! API's answers (`latch-server/src/bapi`) and the webhook events a flow writes in the
//! transaction of its change ([`crate::webhooks`]), whose `data` is the same JSON.

use latch_core::backend::SignInToken;
use latch_core::model::{Millis, Passkey, Session};
use serde_json::{Value, json};

use crate::backend::sign_in_tokens::IssuedTicket;
use crate::backend::users::BackendUser;

/// UserJSON: `object:"user"` and `linked_to`-free empty identifier arrays are what the SDK
/// needs to build a `User`; Latch's users have a username and passkeys, nothing else.
pub fn user(u: &BackendUser) -> Value {
    let user = &u.user;
    json!({
        "object": "user",
        "id": user.id,
        "username": user.username,
        "first_name": null,
        "last_name": null,
        "image_url": "",
        "has_image": false,
        "primary_email_address_id": null,
        "primary_phone_number_id": null,
        "primary_web3_wallet_id": null,
        "password_enabled": false,
        "two_factor_enabled": false,
        "totp_enabled": false,
        "backup_code_enabled": false,
        "email_addresses": [],
        "phone_numbers": [],
        "web3_wallets": [],
        "external_accounts": [],
        "enterprise_accounts": [],
        "saml_accounts": [],
        "passkeys": u.passkeys.iter().map(passkey).collect::<Vec<_>>(),
        "public_metadata": u.metadata.public,
        "private_metadata": u.metadata.private,
        "unsafe_metadata": u.metadata.unsafe_,
        "external_id": null,
        "banned": false,
        "locked": false,
        "lockout_expires_in_seconds": null,
        "verification_attempts_remaining": null,
        "delete_self_enabled": true,
        "create_organization_enabled": false,
        "last_sign_in_at": user.last_sign_in_at,
        "last_active_at": user.last_sign_in_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    })
}

/// SessionJSON, its status as of `now` (a lapsed session shows `expired`).
pub fn session(s: &Session, now: Millis) -> Value {
    json!({
        "object": "session",
        "id": s.id,
        "client_id": s.client_id,
        "user_id": s.user_id,
        "status": s.status_at(now).as_str(),
        "last_active_at": s.last_active_at,
        "last_active_organization_id": null,
        "actor": null,
        "expire_at": s.expire_at,
        "abandon_at": s.expire_at,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

/// A verified passkey, as FAPI shows it on a user (docs/protocol.md §5).
pub fn passkey(p: &Passkey) -> Value {
    json!({
        "object": "passkey",
        "id": p.id,
        "name": p.name,
        "last_used_at": p.last_used_at,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "verification": {
            "object": "verification",
            "status": "verified",
            "strategy": "passkey",
            "nonce": null,
            "attempts": null,
            "expire_at": null,
            "error": null,
            "external_verification_redirect_url": null,
        },
    })
}

pub fn passkeys(list: &[Passkey]) -> Value {
    Value::Array(list.iter().map(passkey).collect())
}

pub fn deleted(object: &str, id: &str) -> Value {
    json!({ "object": object, "id": id, "deleted": true })
}

pub fn total_count(n: u64) -> Value {
    json!({ "object": "total_count", "total_count": n })
}

/// SignInTokenJSON; `token` only when it was just issued.
pub fn sign_in_token(t: &SignInToken, issued: Option<&IssuedTicket>) -> Value {
    json!({
        "object": "sign_in_token",
        "id": t.id,
        "user_id": t.user_id,
        "token": issued.map(|i| i.ticket.as_str()),
        "url": issued.and_then(|i| i.url.as_deref()),
        "status": t.status.as_str(),
        "expire_at": t.expire_at,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    })
}

// ---- Latch extensions the admin console reads (docs/protocol.md §17) ---------------------

/// `{data, total_count}`: a page and how many records its filters select.
pub fn page(data: Vec<Value>, total_count: u64) -> Value {
    json!({ "data": data, "total_count": total_count })
}

/// One audit line: who acted (`actor`: an operator's user id or a secret key's id), on whom,
/// what, how it went. Never holds a secret (the trail stores none).
pub fn audit_event(e: &latch_store::AuditEvent) -> Value {
    let actor = match (&e.operator_id, &e.secret_key_id) {
        (Some(operator), _) => json!({ "type": "operator", "id": operator }),
        (None, Some(key)) => json!({ "type": "secret_key", "id": key }),
        (None, None) => Value::Null,
    };
    json!({
        "object": "audit_event",
        "id": e.id,
        "at": e.at,
        "action": e.event,
        "outcome": e.outcome,
        "user_id": e.user_id,
        "session_id": e.session_id,
        "passkey_id": e.passkey_id,
        "client_id": e.client_id,
        "client_ip": e.client_ip,
        "user_agent": e.user_agent,
        "error_code": e.error_code,
        "actor": actor,
    })
}

/// A passkey as the console details it: its authenticator (named from the AAGUID its
/// attestation carried, when it carried one) and its backup flags as last seen (BE/BS, updated
/// on every use): `backed_up` is a synced passkey, otherwise it is bound to one device.
pub fn passkey_detail(p: &Passkey) -> Value {
    json!({
        "object": "passkey",
        "id": p.id,
        "user_id": p.user_id,
        "name": p.name,
        "aaguid": p.aaguid.map(|a| a.to_string()),
        "authenticator_name": p.aaguid.map(|a| latch_core::aaguid::display_name(Some(a))),
        "backup_eligible": p.backup_eligible,
        "backed_up": p.backup_state,
        "created_at": p.created_at,
        "last_used_at": p.last_used_at,
    })
}

/// One webhook delivery: which event to which endpoint, and how it stands.
pub fn webhook_delivery(d: &latch_store::WebhookDelivery) -> Value {
    json!({
        "object": "webhook_delivery",
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "endpoint_id": d.endpoint_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
    })
}
