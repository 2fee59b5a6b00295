//! FAPI's JSON shapes (docs/protocol.md §5): snake_case, timestamps in ms, `null` where
//! clerk-js expects a default. Only this module knows them.
//!
//! Rendering is pure: it turns what a flow returned (records, and tokens the flow already
//! signed) into JSON, and reads nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::aaguid::FALLBACK_NAME;
use latch_core::model::{
    AuthenticatorAttachment, Millis, Passkey, PasskeyChallenge, PendingPasskey, Session, SessionVerification, SignIn, SignInStatus, SignUp, User,
};
use latch_core::settings::InstanceSettings;
use latch_flows::passkeys::{Deleted, UserWithPasskeys};
use latch_flows::{ClientView, ShownSession};
use latch_store::SessionView;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::{Value, json};

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
            // Passkey changes ask for a recent verification (docs/protocol.md §16).
            "reverification": true,
        },
        "display_config": {
            "object": "display_config",
            "id": "display_config_latch",
            // clerk-js takes the instance type from the publishable key (`pk_live_`,
            // docs/protocol.md §2.1); answering "development" would switch it to dev-browser handling.
            "instance_environment_type": "production",
            "application_name": settings.application_name,
            "captcha_heartbeat": false,
            "captcha_public_key": null,
            "captcha_widget_type": null,
            "captcha_provider": null,
            "branded": false,
            // ClerkKit and clerk-android decode these as required (docs/protocol.md §13.4):
            // a string where they say String, a present null where they say String?.
            "preferred_sign_in_strategy": "passkey",
            "logo_image_url": "",
            "home_url": "/",
            "privacy_policy_url": null,
            "terms_url": null,
            "google_one_tap_client_id": null,
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
            "sign_up": { "captcha_enabled": false, "custom_action_required": false, "mode": "public", "progressive": true, "legal_consent_enabled": false },
            "social": {},
            "actions": { "delete_self": false, "create_organization": false },
            "enterprise_sso": { "enabled": false },
        },
        "organization_settings": { "enabled": false },
        "maintenance_mode": false,
    })
}

pub fn passkey(p: &Passkey) -> Value {
    to_value(passkey_json(p))
}

fn passkey_json(p: &Passkey) -> PasskeyJson<'_> {
    PasskeyJson {
        object: "passkey",
        id: &p.id,
        credential_id: URL_SAFE_NO_PAD.encode(&p.credential_id),
        name: &p.name,
        last_used_at: p.last_used_at,
        created_at: p.created_at,
        updated_at: p.updated_at,
        verification: VerificationJson::verified(),
        backup_eligible: p.backup_eligible,
        backed_up: p.backup_state,
        prf_enabled: p.prf_enabled,
    }
}

pub fn pending_passkey(p: &PendingPasskey) -> Value {
    to_value(PendingPasskeyJson {
        object: "passkey",
        id: &p.id,
        // Never null, not even before verification: ClerkKit and clerk-android decode
        // `name` as a non-null string, and fail the whole answer otherwise. Verification
        // names it after the authenticator model.
        name: FALLBACK_NAME,
        last_used_at: NULL,
        created_at: p.created_at,
        updated_at: p.created_at,
        verification: VerificationJson {
            status: "unverified",
            nonce: Some(&p.options_json),
            attempts: Some(0),
            expire_at: Some(p.expire_at),
            ..VerificationJson::verified()
        },
    })
}

pub fn deleted(d: &Deleted) -> Value {
    json!({ "object": d.object, "id": d.id, "deleted": true })
}

pub fn user(u: &UserWithPasskeys) -> Value {
    to_value(user_json(&u.user, &u.passkeys))
}

fn user_json<'a>(u: &'a User, passkeys: &'a [Passkey]) -> UserJson<'a> {
    UserJson {
        object: "user",
        id: &u.id,
        username: &u.username,
        webauthn_user_id: URL_SAFE_NO_PAD.encode(u.webauthn_handle.as_bytes()),
        first_name: NULL,
        last_name: NULL,
        image_url: "",
        has_image: false,
        primary_email_address_id: NULL,
        primary_phone_number_id: NULL,
        primary_web3_wallet_id: NULL,
        email_addresses: NONE,
        phone_numbers: NONE,
        web3_wallets: NONE,
        external_accounts: NONE,
        enterprise_accounts: NONE,
        passkeys: passkeys.iter().map(passkey_json).collect(),
        saml_accounts: NONE,
        organization_memberships: NONE,
        password_enabled: false,
        two_factor_enabled: false,
        totp_enabled: false,
        backup_code_enabled: false,
        create_organization_enabled: false,
        delete_self_enabled: false,
        public_metadata: EmptyObject,
        unsafe_metadata: EmptyObject,
        external_id: NULL,
        last_sign_in_at: u.last_sign_in_at,
        created_at: u.created_at,
        updated_at: u.updated_at,
    }
}

fn session_json<'a>(s: &'a Session, user: Option<UserJson<'a>>, now: Millis, last_active_token: Option<&'a str>) -> SessionJson<'a> {
    let identifier = user.as_ref().map(|u| u.username);
    SessionJson {
        object: "session",
        id: &s.id,
        status: s.status_at(now).as_str(),
        expire_at: s.expire_at,
        abandon_at: s.expire_at,
        last_active_at: s.last_active_at,
        last_active_organization_id: NULL,
        actor: NULL,
        factor_verification_age: Some(s.factor_verification_age(now)),
        user,
        public_user_data: PublicUserDataJson {
            identifier,
            user_id: &s.user_id,
            first_name: NULL,
            last_name: NULL,
            image_url: "",
            has_image: false,
        },
        // clerk-js rebuilds its auth state from this on every client refresh: a live session
        // without a token makes @clerk/react's useAuth throw.
        last_active_token: last_active_token.map(|jwt| TokenJson { object: "token", jwt }),
        tasks: (!s.tasks.is_empty()).then(|| s.tasks.iter().map(|key| TaskJson { key }).collect()),
        created_at: s.created_at,
        updated_at: s.updated_at,
        sign_in_strategy: s.made_with.strategy(),
        sign_in_authenticator_attachment: s.made_with.attachment().map(AuthenticatorAttachment::as_str),
    }
}

pub fn sign_in(s: &SignIn) -> Value {
    let verification = s.challenge.as_ref().map(challenge_json);
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

/// One session, as `touch` and `remove` answer with it: a live one as the client view
/// shows it (its token included), a gone one without a token.
pub fn session(shown: &ShownSession, client: Option<&ClientView>) -> Value {
    match shown {
        ShownSession::Live { id } => match client.and_then(|c| c.session(id)) {
            Some(live) => to_value(session_view_json(&live.view, client.map_or(0, |c| c.now), Some(&live.token))),
            None => Value::Null,
        },
        ShownSession::Gone { view, now } => to_value(session_view_json(view, *now, None)),
    }
}

fn session_view_json<'a>(view: &'a SessionView, now: Millis, token: Option<&'a str>) -> SessionJson<'a> {
    let user = view.user.as_ref().map(|u| user_json(u, &view.passkeys));
    session_json(&view.session, user, now, token)
}

/// A session's reverification (docs/protocol.md §16), with its session as the client view
/// shows it. Latch verifies the first factor only, a passkey, whatever the level asked.
pub fn session_verification(v: &SessionVerification, client: Option<&ClientView>) -> Value {
    let session = session(&ShownSession::Live { id: v.session_id.clone() }, client);
    json!({
        "object": "session_verification",
        "id": v.id,
        "status": v.status(),
        "level": v.level.as_str(),
        "session": session,
        "first_factor_verification": v.challenge.as_ref().map(challenge_json),
        "second_factor_verification": null,
        "supported_first_factors": if v.complete { json!([]) } else { json!([{ "strategy": "passkey" }]) },
        "supported_second_factors": null,
    })
}

fn challenge_json(c: &PasskeyChallenge) -> VerificationJson<'_> {
    VerificationJson {
        status: c.status.as_str(),
        // The options stay visible only while they can still be answered.
        nonce: c.is_open().then_some(c.options_json.as_str()),
        attempts: Some(c.attempts),
        expire_at: Some(c.expire_at),
        error: c.error_code.as_deref().map(|code| ErrorJson { code, message: code, long_message: code }),
        ..VerificationJson::verified()
    }
}

/// The whole client, as piggybacked on every FAPI answer: the SDK's only way to learn
/// about new sessions and the current user's passkeys. Typed rather than a `Value` tree:
/// it is built and serialised for every answer (BENCHMARKS.md).
pub fn client(view: &ClientView) -> ClientJson<'_> {
    let c = &view.client;
    ClientJson {
        object: "client",
        id: &c.id,
        sessions: view.sessions.iter().map(|s| session_view_json(&s.view, view.now, Some(&s.token))).collect(),
        sign_in: view.sign_in.as_ref().map(sign_in),
        sign_up: view.sign_up.as_ref().map(sign_up),
        last_active_session_id: view.last_active_session_id(),
        last_authentication_strategy: NULL,
        cookie_expires_at: NULL,
        captcha_bypass: false,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn to_value(json: impl Serialize) -> Value {
    // These shapes hold only strings, numbers, booleans and nulls: serialising them to a
    // `Value` cannot fail.
    serde_json::to_value(json).unwrap_or(Value::Null)
}

/// `null` in a typed shape.
type Null = Option<()>;
const NULL: Null = None;
/// `[]` in a typed shape.
const NONE: [(); 0] = [];

/// `{}` in a typed shape.
struct EmptyObject;

impl Serialize for EmptyObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_map(Some(0))?.end()
    }
}

#[derive(Serialize)]
pub struct ClientJson<'a> {
    object: &'static str,
    id: &'a str,
    sessions: Vec<SessionJson<'a>>,
    sign_in: Option<Value>,
    sign_up: Option<Value>,
    last_active_session_id: Option<&'a str>,
    last_authentication_strategy: Null,
    cookie_expires_at: Null,
    captcha_bypass: bool,
    created_at: Millis,
    updated_at: Millis,
}

#[derive(Serialize)]
struct SessionJson<'a> {
    object: &'static str,
    id: &'a str,
    status: &'static str,
    expire_at: Millis,
    abandon_at: Millis,
    last_active_at: Millis,
    last_active_organization_id: Null,
    actor: Null,
    factor_verification_age: Option<[i64; 2]>,
    user: Option<UserJson<'a>>,
    public_user_data: PublicUserDataJson<'a>,
    last_active_token: Option<TokenJson<'a>>,
    tasks: Option<Vec<TaskJson<'a>>>,
    created_at: Millis,
    updated_at: Millis,
    // Latch extensions (docs/protocol.md §20.1): how the session was signed in, so that a
    // page can offer a passkey on this device after a sign-in by link or from another device.
    sign_in_strategy: Option<&'static str>,
    sign_in_authenticator_attachment: Option<&'static str>,
}

#[derive(Serialize)]
struct PublicUserDataJson<'a> {
    identifier: Option<&'a str>,
    user_id: &'a str,
    first_name: Null,
    last_name: Null,
    image_url: &'static str,
    has_image: bool,
}

#[derive(Serialize)]
struct TokenJson<'a> {
    object: &'static str,
    jwt: &'a str,
}

#[derive(Serialize)]
struct TaskJson<'a> {
    key: &'a str,
}

#[derive(Serialize)]
struct UserJson<'a> {
    object: &'static str,
    id: &'a str,
    username: &'a str,
    /// Latch's addition (docs/protocol.md §20): the WebAuthn user handle its passkeys were
    /// registered with, base64url, for `signalAllAcceptedCredentials` and
    /// `signalCurrentUserDetails`.
    webauthn_user_id: String,
    first_name: Null,
    last_name: Null,
    image_url: &'static str,
    has_image: bool,
    primary_email_address_id: Null,
    primary_phone_number_id: Null,
    primary_web3_wallet_id: Null,
    email_addresses: [(); 0],
    phone_numbers: [(); 0],
    web3_wallets: [(); 0],
    external_accounts: [(); 0],
    enterprise_accounts: [(); 0],
    passkeys: Vec<PasskeyJson<'a>>,
    saml_accounts: [(); 0],
    organization_memberships: [(); 0],
    password_enabled: bool,
    two_factor_enabled: bool,
    totp_enabled: bool,
    backup_code_enabled: bool,
    create_organization_enabled: bool,
    delete_self_enabled: bool,
    public_metadata: EmptyObject,
    unsafe_metadata: EmptyObject,
    external_id: Null,
    last_sign_in_at: Option<Millis>,
    created_at: Millis,
    updated_at: Millis,
}

#[derive(Serialize)]
struct PasskeyJson<'a> {
    object: &'static str,
    id: &'a str,
    /// Latch's addition (docs/protocol.md §20): the WebAuthn credential id, base64url, for
    /// `signalAllAcceptedCredentials`.
    credential_id: String,
    name: &'a str,
    last_used_at: Option<Millis>,
    created_at: Millis,
    updated_at: Millis,
    verification: VerificationJson<'static>,
    // Latch extensions (docs/protocol.md §21), named as the Backend API's (§17.4): the BE and
    // BS flags as last seen. clerk-js, ClerkKit and clerk-android ignore keys they do not know.
    backup_eligible: bool,
    backed_up: bool,
    /// Latch's extension (docs/protocol.md §22.2), as the Backend API's: the PRF extension's
    /// `enabled` at registration, null when the client did not say.
    prf_enabled: Option<bool>,
}

/// FAPI's verification object, for a passkey (verified or pending) and a sign-in's first factor.
#[derive(Serialize)]
struct VerificationJson<'a> {
    object: &'static str,
    status: &'static str,
    strategy: &'static str,
    nonce: Option<&'a str>,
    attempts: Option<u32>,
    expire_at: Option<Millis>,
    error: Option<ErrorJson<'a>>,
    external_verification_redirect_url: Null,
}

impl VerificationJson<'_> {
    /// A verified passkey's: nothing left to answer.
    fn verified() -> Self {
        VerificationJson {
            object: "verification",
            status: "verified",
            strategy: "passkey",
            nonce: None,
            attempts: None,
            expire_at: None,
            error: None,
            external_verification_redirect_url: NULL,
        }
    }
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    code: &'a str,
    message: &'a str,
    long_message: &'a str,
}

/// A passkey whose registration is not verified yet.
#[derive(Serialize)]
struct PendingPasskeyJson<'a> {
    object: &'static str,
    id: &'a str,
    name: &'static str,
    last_used_at: Null,
    created_at: Millis,
    updated_at: Millis,
    verification: VerificationJson<'a>,
}
