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
