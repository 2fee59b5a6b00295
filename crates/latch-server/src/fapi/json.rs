//! FAPI's JSON shapes (fapi.md §4): snake_case, timestamps in ms, `null` where clerk-js
//! expects a default. Only this module knows them.

use latch_core::model::{
    Millis, Passkey, PendingPasskey, Session, SignIn, SignInStatus, SignUp, User,
};
use latch_core::settings::InstanceSettings;
use latch_store::{ClientSnapshot, SessionView};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::state::{AppState, now_ms};

pub fn environment(settings: &InstanceSettings) -> Value {
    json!({
        "object": "environment",
        "id": "env_latch",
        "auth_config": {
            "object": "auth_config",
            "id": "aac_latch",
            "single_session_mode": true,
            "session_minter": false,
            "claimed_at": null,
            "reverification": false,
        },
        "display_config": {
            "object": "display_config",
            "id": "display_config_latch",
            // clerk-js takes the instance type from the publishable key (`pk_live_`, fapi.md
            // §2); answering "development" would switch it to dev-browser handling.
            "instance_environment_type": "production",
            "application_name": settings.application_name,
            "captcha_heartbeat": false,
            "captcha_public_key": null,
            "captcha_widget_type": null,
            "captcha_provider": null,
            "branded": false,
            "home_url": null,
            "sign_in_url": null,
            "sign_up_url": null,
            "after_sign_in_url": null,
            "after_sign_up_url": null,
        },
        "user_settings": {
            "attributes": {
                "username": { "enabled": true, "required": true, "used_for_first_factor": true, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false },
                "passkey": { "enabled": settings.passkeys_enabled, "required": false, "used_for_first_factor": settings.passkeys_enabled, "first_factors": ["passkey"], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false },
                "password": { "enabled": false, "required": false, "used_for_first_factor": false, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false },
                "email_address": { "enabled": false, "required": false, "used_for_first_factor": false, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false },
            },
            "passkey_settings": {
                "allow_autofill": settings.allow_autofill,
                "show_sign_in_button": settings.show_sign_in_button,
            },
            "sign_up": { "captcha_enabled": false, "mode": "public", "progressive": true, "legal_consent_enabled": false },
            "social": {},
            "enterprise_sso": { "enabled": false },
        },
        "organization_settings": { "enabled": false },
        "maintenance_mode": false,
    })
}

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

pub fn pending_passkey(p: &PendingPasskey) -> Value {
    json!({
        "object": "passkey",
        "id": p.id,
        "name": null,
        "last_used_at": null,
        "created_at": p.created_at,
        "updated_at": p.created_at,
        "verification": {
            "object": "verification",
            "status": "unverified",
            "strategy": "passkey",
            "nonce": p.options_json,
            "attempts": 0,
            "expire_at": p.expire_at,
            "error": null,
            "external_verification_redirect_url": null,
        },
    })
}

pub fn deleted(object: &str, id: &str) -> Value {
    json!({ "object": object, "id": id, "deleted": true })
}

pub fn user(u: &User, passkeys: &[Passkey]) -> Value {
    json!({
        "object": "user",
        "id": u.id,
        "username": u.username,
        "first_name": null,
        "last_name": null,
        "image_url": "",
        "has_image": false,
        "primary_email_address_id": null,
        "primary_phone_number_id": null,
        "primary_web3_wallet_id": null,
        "email_addresses": [],
        "phone_numbers": [],
        "web3_wallets": [],
        "external_accounts": [],
        "enterprise_accounts": [],
        "passkeys": passkeys.iter().map(passkey).collect::<Vec<_>>(),
        "saml_accounts": [],
        "organization_memberships": [],
        "password_enabled": false,
        "two_factor_enabled": false,
        "totp_enabled": false,
        "backup_code_enabled": false,
        "create_organization_enabled": false,
        "delete_self_enabled": false,
        "public_metadata": {},
        "unsafe_metadata": {},
        "external_id": null,
        "last_sign_in_at": u.last_sign_in_at,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

pub fn session(s: &Session, user_json: Value, now: Millis, last_active_token: Option<String>) -> Value {
    let tasks: Option<Vec<Value>> =
        (!s.tasks.is_empty()).then(|| s.tasks.iter().map(|k| json!({ "key": k })).collect());
    let identifier = user_json.get("username").cloned().unwrap_or(Value::Null);
    json!({
        "object": "session",
        "id": s.id,
        "status": s.status_at(now).as_str(),
        "expire_at": s.expire_at,
        "abandon_at": s.expire_at,
        "last_active_at": s.last_active_at,
        "last_active_organization_id": null,
        "actor": null,
        "factor_verification_age": null,
        "user": user_json,
        "public_user_data": {
            "identifier": identifier,
            "user_id": s.user_id,
            "first_name": null,
            "last_name": null,
            "image_url": "",
            "has_image": false,
        },
        // clerk-js rebuilds its auth state from this on every client refresh: a live session
        // without a token makes @clerk/react's useAuth throw.
        "last_active_token": last_active_token.map(|jwt| json!({ "object": "token", "jwt": jwt })),
        "tasks": tasks,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    })
}

pub fn sign_in(s: &SignIn) -> Value {
    let verification = s.challenge.as_ref().map(|c| {
        json!({
            "object": "verification",
            "status": c.status.as_str(),
            "strategy": "passkey",
            // The options stay visible only while they can still be answered.
            "nonce": if c.state.is_some() && c.attempts == 0 { Value::String(c.options_json.clone()) } else { Value::Null },
            "attempts": c.attempts,
            "expire_at": c.expire_at,
            "error": c.error_code.as_ref().map(|code| json!({ "code": code, "message": code, "long_message": code })),
            "external_verification_redirect_url": null,
        })
    });
    json!({
        "object": "sign_in",
        "id": s.id,
        "status": s.status.as_str(),
        "supported_identifiers": ["username", "passkey"],
        "supported_first_factors": if s.status == SignInStatus::Complete { json!([]) } else { json!([{ "strategy": "passkey" }]) },
        "supported_second_factors": null,
        "first_factor_verification": verification,
        "second_factor_verification": null,
        "identifier": s.identifier,
        "user_data": {},
        "created_session_id": s.created_session_id,
        "abandon_at": s.abandon_at,
        "protect_check": null,
    })
}

pub fn sign_up(s: &SignUp) -> Value {
    json!({
        "object": "sign_up",
        "id": s.id,
        "status": "complete",
        "required_fields": ["username"],
        "optional_fields": [],
        "missing_fields": [],
        "unverified_fields": [],
        "verifications": {},
        "username": s.username,
        "email_address": null,
        "phone_number": null,
        "web3_wallet": null,
        "first_name": null,
        "last_name": null,
        "unsafe_metadata": {},
        "public_metadata": {},
        "custom_action": false,
        "external_id": null,
        "created_session_id": s.created_session_id,
        "created_user_id": s.created_user_id,
        "abandon_at": s.created_at,
        "legal_accepted_at": null,
        "protect_check": null,
    })
}

/// A user with their passkeys, as `/me` shows them.
pub async fn user_with_passkeys(state: &AppState, u: &User) -> ApiResult<Value> {
    let passkeys = state.store().passkeys_of(&u.id).await?;
    Ok(user(u, &passkeys))
}

/// A session with its user, read afresh (for a session that is no longer in the client's
/// live set, e.g. one just removed).
pub async fn session_with_user(state: &AppState, s: &Session, azp: Option<&str>) -> ApiResult<Value> {
    let user = state.store().user(&s.user_id).await?;
    let passkeys = match &user {
        Some(u) => state.store().passkeys_of(&u.id).await?,
        None => Vec::new(),
    };
    session_view(state, &SessionView { session: s.clone(), user, passkeys }, now_ms(), azp)
}

/// A session as the client JSON shows it; a live one carries a token (see [`session`]).
pub fn session_view(state: &AppState, view: &SessionView, now: Millis, azp: Option<&str>) -> ApiResult<Value> {
    let user_json = view.user.as_ref().map_or(Value::Null, |u| user(u, &view.passkeys));
    let s = &view.session;
    let token = if s.is_live(now) { Some(crate::fapi::sessions::sign_token(state, s, azp)?) } else { None };
    Ok(session(s, user_json, now, token))
}

/// The whole client, as piggybacked on every FAPI answer: the SDK's only way to learn
/// about new sessions and the current user's passkeys.
pub fn client(state: &AppState, snapshot: &ClientSnapshot, now: Millis, azp: Option<&str>) -> ApiResult<Value> {
    let c = &snapshot.client;
    let live: Vec<&SessionView> = snapshot.sessions.iter().filter(|v| v.session.is_live(now)).collect();
    let sessions_json = live.iter().map(|v| session_view(state, v, now, azp)).collect::<ApiResult<Vec<_>>>()?;
    let last_active = c.last_active_session_id.as_ref().filter(|id| live.iter().any(|v| &v.session.id == *id));
    Ok(json!({
        "object": "client",
        "id": c.id,
        "sessions": sessions_json,
        "sign_in": snapshot.sign_in.as_ref().map(sign_in),
        "sign_up": snapshot.sign_up.as_ref().map(sign_up),
        "last_active_session_id": last_active,
        "last_authentication_strategy": null,
        "cookie_expires_at": null,
        "captcha_bypass": false,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }))
}
