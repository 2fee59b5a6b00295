//! The Backend API's JSON: the shapes `@clerk/backend` deserializes (docs/backend.md §3.3).
//! Pure rendering: records in, JSON out. Times are Unix milliseconds.
//!
//! They live here, not in the server crate, because two places render them: the Backend
//! API's answers (`latch-server/src/bapi`) and the webhook events a flow writes in the
//! transaction of its change ([`crate::webhooks`]), whose `data` is the same JSON.
//!
//! Each shape is a struct that derives both `Serialize` (what is sent) and `ToSchema` (what
//! the OpenAPI document at `/bapi/v1/openapi.json` says is sent), so the two cannot part:
//! a field added here appears in both. `deny_unknown_fields` makes the schema say
//! `additionalProperties: false`, and every field is `required` (a `null` is written, never
//! left out), so a test validating real answers against the document notices any change.
//! Fields Latch always writes as `null` or `[]` (Clerk has them, Latch's users have no
//! emails or phones) are typed as Clerk types them.

use latch_core::backend::SignInToken;
use latch_core::model::{AuthenticatorAttachment, Millis, Passkey, Session};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::backend::sign_in_tokens::IssuedTicket;
use crate::backend::users::BackendUser;

/// UserJSON: `object:"user"` and empty identifier arrays are what the SDK needs to build a
/// `User`; Latch's users have a username and passkeys, nothing else.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = User)]
pub struct UserJson {
    /// Always `user`.
    #[schema(pattern = "^user$")]
    pub object: &'static str,
    pub id: String,
    pub username: String,
    #[schema(required)]
    pub first_name: Option<String>,
    #[schema(required)]
    pub last_name: Option<String>,
    /// Always empty: Latch keeps no profile images.
    pub image_url: &'static str,
    pub has_image: bool,
    #[schema(required)]
    pub primary_email_address_id: Option<String>,
    #[schema(required)]
    pub primary_phone_number_id: Option<String>,
    #[schema(required)]
    pub primary_web3_wallet_id: Option<String>,
    pub password_enabled: bool,
    pub two_factor_enabled: bool,
    pub totp_enabled: bool,
    pub backup_code_enabled: bool,
    /// Always empty (Latch's users have only passkeys), as are the next five.
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub email_addresses: [Value; 0],
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub phone_numbers: [Value; 0],
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub web3_wallets: [Value; 0],
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub external_accounts: [Value; 0],
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub enterprise_accounts: [Value; 0],
    #[schema(value_type = Vec<Object>, max_items = 0)]
    pub saml_accounts: [Value; 0],
    pub passkeys: Vec<PasskeyJson>,
    /// Any JSON object; the app's server writes it (`PATCH /users/{id}/metadata`).
    #[schema(value_type = Object)]
    pub public_metadata: Value,
    #[schema(value_type = Object)]
    pub private_metadata: Value,
    #[schema(value_type = Object)]
    pub unsafe_metadata: Value,
    #[schema(required)]
    pub external_id: Option<String>,
    pub banned: bool,
    pub locked: bool,
    #[schema(required)]
    pub lockout_expires_in_seconds: Option<i64>,
    #[schema(required)]
    pub verification_attempts_remaining: Option<i64>,
    pub delete_self_enabled: bool,
    pub create_organization_enabled: bool,
    #[schema(required)]
    pub last_sign_in_at: Option<i64>,
    #[schema(required)]
    pub last_active_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn user(u: &BackendUser) -> Value {
    let user = &u.user;
    to_value(UserJson {
        object: "user",
        id: user.id.clone(),
        username: user.username.clone(),
        first_name: None,
        last_name: None,
        image_url: "",
        has_image: false,
        primary_email_address_id: None,
        primary_phone_number_id: None,
        primary_web3_wallet_id: None,
        password_enabled: false,
        two_factor_enabled: false,
        totp_enabled: false,
        backup_code_enabled: false,
        email_addresses: [],
        phone_numbers: [],
        web3_wallets: [],
        external_accounts: [],
        enterprise_accounts: [],
        saml_accounts: [],
        passkeys: u.passkeys.iter().map(passkey_json).collect(),
        public_metadata: u.metadata.public.clone(),
        private_metadata: u.metadata.private.clone(),
        unsafe_metadata: u.metadata.unsafe_.clone(),
        external_id: None,
        banned: false,
        locked: false,
        lockout_expires_in_seconds: None,
        verification_attempts_remaining: None,
        delete_self_enabled: true,
        create_organization_enabled: false,
        last_sign_in_at: user.last_sign_in_at,
        last_active_at: user.last_sign_in_at,
        created_at: user.created_at,
        updated_at: user.updated_at,
    })
}

/// SessionJSON, its status as of `now` (a lapsed session shows `expired`).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Session)]
pub struct SessionJson {
    /// Always `session`.
    #[schema(pattern = "^session$")]
    pub object: &'static str,
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    #[schema(pattern = "^(active|pending|ended|expired|removed|revoked|replaced)$")]
    pub status: &'static str,
    pub last_active_at: i64,
    #[schema(required)]
    pub last_active_organization_id: Option<String>,
    #[schema(value_type = Option<Object>, required)]
    pub actor: Option<Value>,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// A Latch extension (docs/protocol.md §20.1): the strategy of the sign-in that made the
    /// session, `passkey` or `ticket` (a sign-in token); null for a sign-up's session.
    #[schema(pattern = "^(passkey|ticket)$", required)]
    pub sign_in_strategy: Option<&'static str>,
    /// A Latch extension (docs/protocol.md §20.1): for a passkey sign-in, where the browser
    /// said the authenticator was: `platform` (this device) or `cross-platform` (a security
    /// key, or a phone by hybrid transport); null otherwise or when it said nothing. The
    /// browser's word, covered by no signature: fit for offering a passkey, not for policy.
    #[schema(pattern = "^(platform|cross-platform)$", required)]
    pub sign_in_authenticator_attachment: Option<&'static str>,
}

pub fn session(s: &Session, now: Millis) -> Value {
    to_value(session_json(s, now))
}

pub fn session_json(s: &Session, now: Millis) -> SessionJson {
    SessionJson {
        object: "session",
        id: s.id.clone(),
        client_id: s.client_id.clone(),
        user_id: s.user_id.clone(),
        status: s.status_at(now).as_str(),
        last_active_at: s.last_active_at,
        last_active_organization_id: None,
        actor: None,
        expire_at: s.expire_at,
        abandon_at: s.expire_at,
        created_at: s.created_at,
        updated_at: s.updated_at,
        sign_in_strategy: s.made_with.strategy(),
        sign_in_authenticator_attachment: s.made_with.attachment().map(AuthenticatorAttachment::as_str),
    }
}

/// A verified passkey, as FAPI shows it on a user (docs/protocol.md §5).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Passkey)]
pub struct PasskeyJson {
    /// Always `passkey`.
    #[schema(pattern = "^passkey$")]
    pub object: &'static str,
    pub id: String,
    pub name: String,
    #[schema(required)]
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub verification: PasskeyVerificationJson,
}

/// A passkey's verification: always `verified` (unverified passkeys are not shown).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyVerification)]
pub struct PasskeyVerificationJson {
    #[schema(pattern = "^verification$")]
    pub object: &'static str,
    #[schema(pattern = "^verified$")]
    pub status: &'static str,
    #[schema(pattern = "^passkey$")]
    pub strategy: &'static str,
    #[schema(required)]
    pub nonce: Option<String>,
    #[schema(required)]
    pub attempts: Option<i64>,
    #[schema(required)]
    pub expire_at: Option<i64>,
    #[schema(value_type = Option<Object>, required)]
    pub error: Option<Value>,
    #[schema(required)]
    pub external_verification_redirect_url: Option<String>,
}

fn passkey_json(p: &Passkey) -> PasskeyJson {
    PasskeyJson {
        object: "passkey",
        id: p.id.clone(),
        name: p.name.clone(),
        last_used_at: p.last_used_at,
        created_at: p.created_at,
        updated_at: p.updated_at,
        verification: PasskeyVerificationJson {
            object: "verification",
            status: "verified",
            strategy: "passkey",
            nonce: None,
            attempts: None,
            expire_at: None,
            error: None,
            external_verification_redirect_url: None,
        },
    }
}

pub fn passkey(p: &Passkey) -> Value {
    to_value(passkey_json(p))
}

pub fn passkeys(list: &[Passkey]) -> Value {
    to_value(list.iter().map(passkey_json).collect::<Vec<_>>())
}

/// What a DELETE answers: the object's kind and id.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DeletedObject)]
pub struct DeletedJson {
    /// `user` or `passkey`.
    pub object: String,
    pub id: String,
    pub deleted: bool,
}

pub fn deleted(object: &str, id: &str) -> Value {
    to_value(DeletedJson {
        object: object.into(),
        id: id.into(),
        deleted: true,
    })
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TotalCount)]
pub struct TotalCountJson {
    #[schema(pattern = "^total_count$")]
    pub object: &'static str,
    pub total_count: u64,
}

pub fn total_count(n: u64) -> Value {
    to_value(TotalCountJson {
        object: "total_count",
        total_count: n,
    })
}

// ---- Latch extensions the admin console reads (docs/protocol.md §17) ---------------------

/// `{data, total_count}`: a page and how many records its filters select (one type per
/// record, so the OpenAPI document names each).
macro_rules! page_of {
    ($page:ident, $record:ty) => {
        #[derive(Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $page {
            pub data: Vec<$record>,
            pub total_count: u64,
        }
    };
}

page_of!(AuditEventPage, AuditEventJson);
page_of!(PasskeyDetailPage, PasskeyDetailJson);
page_of!(WebhookDeliveryPage, WebhookDeliveryJson);

/// Who made a Backend API call: an operator (their user id) or a secret key (its id).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditActor)]
pub struct AuditActorJson {
    #[serde(rename = "type")]
    #[schema(pattern = "^(operator|secret_key)$")]
    pub kind: &'static str,
    pub id: String,
}

/// One audit line: who acted (`actor`, `null` for a user's own action), on whom, what, how it
/// went. Never holds a secret (the trail stores none).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditEvent)]
pub struct AuditEventJson {
    #[schema(pattern = "^audit_event$")]
    pub object: &'static str,
    pub id: i64,
    pub at: Millis,
    /// `sign_up`, `sign_in`, `passkey.create`, `user.delete`, `operator.grant`, …
    pub action: String,
    #[schema(pattern = "^(success|failure)$")]
    pub outcome: String,
    #[schema(required)]
    pub user_id: Option<String>,
    #[schema(required)]
    pub session_id: Option<String>,
    #[schema(required)]
    pub passkey_id: Option<String>,
    #[schema(required)]
    pub client_id: Option<String>,
    #[schema(required)]
    pub client_ip: Option<String>,
    #[schema(required)]
    pub user_agent: Option<String>,
    /// The Clerk error code of a failure.
    #[schema(required)]
    pub error_code: Option<String>,
    #[schema(required)]
    pub actor: Option<AuditActorJson>,
}

pub fn audit_event(e: &latch_store::AuditEvent) -> AuditEventJson {
    let actor = match (&e.operator_id, &e.secret_key_id) {
        (Some(operator), _) => Some(AuditActorJson { kind: "operator", id: operator.clone() }),
        (None, Some(key)) => Some(AuditActorJson { kind: "secret_key", id: key.clone() }),
        (None, None) => None,
    };
    AuditEventJson {
        object: "audit_event",
        id: e.id,
        at: e.at,
        action: e.event.clone(),
        outcome: e.outcome.clone(),
        user_id: e.user_id.clone(),
        session_id: e.session_id.clone(),
        passkey_id: e.passkey_id.clone(),
        client_id: e.client_id.clone(),
        client_ip: e.client_ip.clone(),
        user_agent: e.user_agent.clone(),
        error_code: e.error_code.clone(),
        actor,
    }
}

/// A passkey as the console details it: its authenticator (named from the AAGUID its
/// attestation carried, when it carried one) and its backup flags as last seen (BE/BS, updated
/// on every use): `backed_up` is a synced passkey, otherwise it is bound to one device.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyDetail)]
pub struct PasskeyDetailJson {
    #[schema(pattern = "^passkey$")]
    pub object: &'static str,
    pub id: String,
    pub user_id: String,
    pub name: String,
    #[schema(required)]
    pub aaguid: Option<String>,
    #[schema(required)]
    pub authenticator_name: Option<String>,
    /// The authenticator's icon for a light background, a `data:` URI (SVG or PNG), when
    /// Latch's dataset has one.
    #[schema(required)]
    pub authenticator_icon_light: Option<String>,
    /// The same for a dark background.
    #[schema(required)]
    pub authenticator_icon_dark: Option<String>,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: Millis,
    #[schema(required)]
    pub last_used_at: Option<Millis>,
    /// The PRF extension's `enabled` result as the browser reported it at registration
    /// (whether the passkey can derive keys for the app); null when the browser reported
    /// nothing, as clerk-js never does (docs/protocol.md §22.2).
    #[schema(required)]
    pub prf_enabled: Option<bool>,
}

pub fn passkey_detail(p: &Passkey) -> PasskeyDetailJson {
    let icons = latch_core::aaguid::icons(p.aaguid);
    PasskeyDetailJson {
        object: "passkey",
        id: p.id.clone(),
        user_id: p.user_id.clone(),
        name: p.name.clone(),
        aaguid: p.aaguid.map(|a| a.to_string()),
        authenticator_name: p.aaguid.map(|a| latch_core::aaguid::display_name(Some(a))),
        authenticator_icon_light: icons.map(|i| i.light.to_string()),
        authenticator_icon_dark: icons.map(|i| i.dark.to_string()),
        backup_eligible: p.backup_eligible,
        backed_up: p.backup_state,
        created_at: p.created_at,
        last_used_at: p.last_used_at,
        prf_enabled: p.prf_enabled,
    }
}

/// One webhook delivery: which event to which endpoint, and how it stands.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookDelivery)]
pub struct WebhookDeliveryJson {
    #[schema(pattern = "^webhook_delivery$")]
    pub object: &'static str,
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    #[schema(pattern = "^(pending|delivered|failed)$")]
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    #[schema(required)]
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub fn webhook_delivery(d: &latch_store::WebhookDelivery) -> WebhookDeliveryJson {
    WebhookDeliveryJson {
        object: "webhook_delivery",
        id: d.id.clone(),
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        endpoint_id: d.endpoint_id.clone(),
        status: d.status.clone(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

/// What `POST /webhooks/deliveries/{id}/replay` answers.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookReplay)]
pub struct WebhookReplayJson {
    #[schema(pattern = "^webhook_replay$")]
    pub object: &'static str,
    pub id: String,
    /// How many deliveries were queued again.
    pub replayed: u64,
}

/// SignInTokenJSON; `token` and `url` only when it was just issued (`null` afterwards).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SignInToken)]
pub struct SignInTokenJson {
    #[schema(pattern = "^sign_in_token$")]
    pub object: &'static str,
    pub id: String,
    pub user_id: String,
    /// The ticket itself: shown once, in the answer that issues it.
    #[schema(required)]
    pub token: Option<String>,
    /// Where the user redeems it, when Latch serves the account portal.
    #[schema(required)]
    pub url: Option<String>,
    #[schema(pattern = "^(pending|accepted|revoked)$")]
    pub status: &'static str,
    pub expire_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn sign_in_token(t: &SignInToken, issued: Option<&IssuedTicket>) -> Value {
    to_value(SignInTokenJson {
        object: "sign_in_token",
        id: t.id.clone(),
        user_id: t.user_id.clone(),
        token: issued.map(|i| i.ticket.clone()),
        url: issued.and_then(|i| i.url.clone()),
        status: t.status.as_str(),
        expire_at: t.expire_at,
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

/// These shapes hold only strings, numbers, booleans and JSON values: serializing them
/// cannot fail.
fn to_value<T: Serialize>(shape: T) -> Value {
    serde_json::to_value(shape).unwrap_or(Value::Null)
}
