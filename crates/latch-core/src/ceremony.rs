//! The two WebAuthn ceremonies, verified by webauthn-rs.
//!
//! This module decides *what* is sent to the browser and *whether* what comes back is
//! acceptable; it never stores anything. The state returned by a `begin_*` call is plain
//! serialisable data that the caller must keep server-side and hand back, exactly once, to
//! the matching `finish_*` call. All signature, attestation, challenge, origin, RP ID,
//! UP/UV and counter checks are webauthn-rs-core's; this code only chooses its options.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AuthenticationState, COSEAlgorithm, Credential, CredentialID, PublicKeyCredential,
    PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};

use crate::aaguid;
pub use crate::model::AuthenticatorAttachment;
use crate::origins::OriginPattern;

/// How strongly Latch insists that the authenticator verified the user (PIN, biometrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UvPolicy {
    #[default]
    Required,
    Preferred,
    Discouraged,
}

impl UvPolicy {
    fn to_webauthn(self) -> UserVerificationPolicy {
        match self {
            UvPolicy::Required => UserVerificationPolicy::Required,
            UvPolicy::Preferred => UserVerificationPolicy::Preferred,
            UvPolicy::Discouraged => UserVerificationPolicy::Discouraged_DO_NOT_USE,
        }
    }
}

/// Why a ceremony response was refused. The server turns these into FAPI error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyError {
    /// The credential JSON (or the base64/CBOR inside it) could not be decoded.
    #[error("the credential is malformed: {0}")]
    Malformed(String),
    /// The response decoded but failed a check: challenge, origin, RP ID, flags, signature…
    #[error("verification failed: {0}")]
    Rejected(String),
    /// The signature counter did not advance: the credential may have been cloned.
    #[error("the signature counter went backwards; the credential may be cloned")]
    CounterRegression,
    /// The credential is already registered (an excluded credential came back).
    #[error("this passkey is already registered")]
    AlreadyRegistered,
    /// A user handle was sent that does not belong to the credential's owner.
    #[error("the user handle does not match the credential's owner")]
    UserHandleMismatch,
}

impl From<WebauthnError> for CeremonyError {
    fn from(e: WebauthnError) -> Self {
        use WebauthnError as W;
        match e {
            W::CredentialPossibleCompromise => CeremonyError::CounterRegression,
            W::ParseBase64Failure(_)
            | W::ParseCBORFailure(_)
            | W::ParseJSONFailure(_)
            | W::ParseNOMFailure
            | W::ParseInsufficientBytesAvailable
            | W::COSEKeyInvalidCBORValue
            | W::AttestationStatementMapInvalid => CeremonyError::Malformed(e.to_string()),
            other => CeremonyError::Rejected(describe(&other)),
        }
    }
}

fn describe(e: &WebauthnError) -> String {
    use WebauthnError as W;
    match e {
        W::MismatchedChallenge => "the challenge does not match the one issued".into(),
        W::InvalidRPOrigin => "the origin is not allowed for this relying party".into(),
        W::InvalidRPIDHash => "the RP ID hash does not match".into(),
        W::InvalidClientDataType => "the client data is of the wrong ceremony type".into(),
        W::UserNotPresent => "user presence was not asserted".into(),
        W::UserNotVerified => "user verification is required but was not performed".into(),
        W::AuthenticationFailure => "the signature is invalid".into(),
        W::CredentialNotFound => "the credential is not the one expected".into(),
        W::CredentialCrossOrigin => "cross-origin ceremonies are not allowed".into(),
        other => other.to_string(),
    }
}

/// The user a passkey is being created for, as the authenticator will see it.
#[derive(Debug, Clone)]
pub struct PasskeyOwner<'a> {
    /// The WebAuthn user handle: a random UUID, never the user id or username.
    pub handle: Uuid,
    pub name: &'a str,
    pub display_name: &'a str,
}

/// A verified new passkey, ready to store.
#[derive(Debug, Clone)]
pub struct VerifiedRegistration {
    pub credential_id: Vec<u8>,
    pub credential: Credential,
    pub aaguid: Option<Uuid>,
    pub default_name: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub sign_count: u32,
    /// The PRF extension's `enabled` client result ([`prf_enabled_reported`]); `None` when
    /// the client said nothing about PRF.
    pub prf_enabled: Option<bool>,
}

/// What a successful assertion changes on the stored credential.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion {
    /// The stored credential with counter and backup state brought up to date.
    pub credential: Credential,
    pub sign_count: u32,
    pub backup_state: bool,
    pub user_verified: bool,
}

/// The relying party: one RP ID, the origins allowed to use it, and the UV policy.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    rp_id: String,
    rp_name: String,
    origins: Vec<OriginPattern>,
    /// Patterns that may also call Latch with credentials from another origin
    /// ([`crate::origins::may_call_with_credentials`]).
    credentialed_origins: Vec<OriginPattern>,
    /// The origins native apps' passkeys carry (`native_apps.rs`): accepted by ceremonies
    /// begun without a web origin, never for CORS or CSRF.
    native_origins: Vec<Url>,
    timeout: Duration,
    uv: UvPolicy,
    core: WebauthnCore,
}

impl RelyingParty {
    pub fn new(
        rp_id: &str,
        rp_name: &str,
        origins: Vec<OriginPattern>,
        timeout: Duration,
        uv: UvPolicy,
    ) -> Self {
        // Without a request origin (native apps) only exact origins can be checked.
        let exact = origins
            .iter()
            .filter_map(|o| match o {
                OriginPattern::Exact(u) => Some(u.clone()),
                OriginPattern::Wildcard(_) => None,
            })
            .collect();
        let core = Self::core_for(rp_id, rp_name, exact, timeout);
        RelyingParty {
            rp_id: rp_id.to_string(),
            rp_name: rp_name.to_string(),
            origins,
            credentialed_origins: Vec::new(),
            native_origins: Vec::new(),
            timeout,
            uv,
            core,
        }
    }

    /// Native apps' origins (`https://<rp id>`, `android:apk-key-hash:…`) join the ones a
    /// ceremony begun without a web origin accepts. webauthn-rs-core matches an opaque origin
    /// such as Android's only exactly.
    pub fn with_native_origins(mut self, native: Vec<Url>) -> Self {
        let mut exact = self.core.get_allowed_origins().to_vec();
        exact.extend(native.iter().filter(|n| !exact.contains(n)).cloned().collect::<Vec<_>>());
        self.core = Self::core_for(&self.rp_id, &self.rp_name, exact, self.timeout);
        self.native_origins = native;
        self
    }

    /// Wildcards that may call Latch with credentials too (`--credentialed-origin`); they
    /// must also be among the ceremony origins to run ceremonies.
    pub fn with_credentialed_origins(mut self, credentialed: Vec<OriginPattern>) -> Self {
        self.credentialed_origins = credentialed;
        self
    }

    /// The origins native apps' passkeys carry.
    pub fn native_origins(&self) -> &[Url] {
        &self.native_origins
    }

    fn core_for(rp_id: &str, rp_name: &str, origins: Vec<Url>, timeout: Duration) -> WebauthnCore {
        // Exact origins only: subdomains and ports must be listed, so that an operator's
        // list is the whole truth about who may run a ceremony.
        WebauthnCore::new_unsafe_experts_only(rp_name, rp_id, origins, timeout, Some(false), Some(false))
    }

    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    /// Every origin allowed to use this RP ID, first-party and related.
    pub fn origins(&self) -> &[OriginPattern] {
        &self.origins
    }

    /// May run ceremonies (and be a token's `azp`).
    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        Url::parse(origin).is_ok_and(|u| self.origins.iter().any(|o| o.matches(&u)))
    }

    /// May call Latch with credentials: CORS reads, and writes past the CSRF check.
    /// `request_host` is the request's `Host`, for pages Latch serves itself.
    pub fn may_call_with_credentials(&self, origin: &str, request_host: Option<&str>) -> bool {
        Url::parse(origin).is_ok_and(|u| {
            crate::origins::may_call_with_credentials(&self.origins, &self.credentialed_origins, &u, request_host)
        })
    }

    /// The verifier for a ceremony bound to `origin`, or to every allowed origin when the
    /// ceremony was begun without one (native apps send no Origin header).
    fn core_bound_to(&self, origin: Option<&str>) -> Result<WebauthnCore, CeremonyError> {
        match origin {
            None => Ok(self.core.clone()),
            Some(o) => {
                let url = Url::parse(o).map_err(|_| CeremonyError::Rejected("unparsable origin".into()))?;
                if !self.is_allowed_origin(o) {
                    return Err(CeremonyError::Rejected("the origin is not allowed for this relying party".into()));
                }
                Ok(Self::core_for(&self.rp_id, &self.rp_name, vec![url], self.timeout))
            }
        }
    }

    /// Creation options for a new discoverable passkey. The options go to the browser;
    /// the state stays on the server until [`finish_registration`](Self::finish_registration).
    pub fn begin_registration(
        &self,
        owner: &PasskeyOwner<'_>,
        existing: Vec<CredentialID>,
    ) -> Result<(PublicKeyCredentialCreationOptions, RegistrationState), CeremonyError> {
        let builder = self
            .core
            .new_challenge_register_builder(owner.handle.as_bytes(), owner.name, owner.display_name)?
            .attestation(webauthn_rs_core::proto::AttestationConveyancePreference::None)
            // Only what webauthn-rs-core 0.6.2 can verify at sign-in: it cannot verify P-521
            // (ES512), PSS keys or Ed25519 (EdDSA) signatures, so offering those would let an
            // authenticator create a passkey that could never sign in.
            .credential_algorithms(vec![COSEAlgorithm::ES256, COSEAlgorithm::ES384, COSEAlgorithm::RS256])
            // Discoverable sign-in only finds resident credentials.
            .require_resident_key(true)
            .user_verification_policy(self.uv.to_webauthn())
            .exclude_credentials(if existing.is_empty() { None } else { Some(existing) });
        let (challenge, state) = self.core.generate_challenge_register(builder)?;
        Ok((challenge.public_key, state))
    }

    /// Verify the browser's answer to [`begin_registration`](Self::begin_registration).
    pub fn finish_registration(
        &self,
        credential_json: &str,
        state: &RegistrationState,
        origin: Option<&str>,
    ) -> Result<VerifiedRegistration, CeremonyError> {
        let canonical = canonical_credential(credential_json)?;
        let prf_enabled = prf_enabled_reported(&canonical);
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(canonical).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
        check_envelope(&credential.id, credential.raw_id.as_ref(), credential.response.client_data_json.as_ref())?;
        let core = self.core_bound_to(origin)?;
        let verified = core.register_credential(&credential, state, None).map_err(|e| match e {
            // webauthn-rs reports a returned excluded credential with this variant.
            WebauthnError::CredentialAlteredAlgFromRequest
                if state_excludes(state, credential.raw_id.as_ref()) =>
            {
                CeremonyError::AlreadyRegistered
            }
            other => other.into(),
        })?;
        // webauthn-rs takes the credential from authData and never looks at rawId, nor at
        // what follows the parts of authData it reads. Latch wants both exact.
        if verified.cred_id.as_slice() != credential.raw_id.as_slice() {
            return Err(CeremonyError::Rejected("rawId is not the credential id the authenticator attested".into()));
        }
        let auth_data = attested_auth_data(&credential)
            .ok_or_else(|| CeremonyError::Malformed("attestationObject has no authData".into()))?;
        check_auth_data_length(&auth_data)?;
        let aaguid = aaguid::aaguid_from_auth_data(&auth_data);
        Ok(VerifiedRegistration {
            credential_id: verified.cred_id.to_vec(),
            aaguid,
            default_name: aaguid::display_name(aaguid),
            backup_eligible: verified.backup_eligible,
            backup_state: verified.backup_state,
            sign_count: verified.counter,
            prf_enabled,
            credential: verified,
        })
    }

    /// Request options for a sign-in. An empty `allowed` list means a discoverable sign-in:
    /// the authenticator offers whatever passkeys it holds for this RP ID.
    pub fn begin_authentication(
        &self,
        allowed: Vec<Credential>,
    ) -> Result<(PublicKeyCredentialRequestOptions, AuthenticationState), CeremonyError> {
        let builder = self
            .core
            .new_challenge_authenticate_builder(allowed, Some(self.uv.to_webauthn()))?
            // Password managers turn backup eligibility on when they sync a passkey.
            .allow_backup_eligible_upgrade(true);
        let (request, state) = self.core.generate_challenge_authenticate(builder)?;
        Ok((request.public_key, state))
    }

    /// Verify an assertion against the stored credential it names.
    ///
    /// `owner_handle` is the user handle of the credential's owner: when the assertion
    /// carries a user handle it must be this one (some platforms omit it; that is allowed).
    pub fn finish_authentication(
        &self,
        Assertion { credential: assertion, .. }: &Assertion,
        state: &AuthenticationState,
        stored: &Credential,
        owner_handle: Uuid,
        origin: Option<&str>,
    ) -> Result<VerifiedAssertion, CeremonyError> {
        check_envelope(&assertion.id, assertion.raw_id.as_ref(), assertion.response.client_data_json.as_ref())?;
        if let Some(handle) = assertion.get_user_unique_id()
            && handle != owner_handle.as_bytes()
        {
            return Err(CeremonyError::UserHandleMismatch);
        }
        let core = self.core_bound_to(origin)?;
        let result = core.authenticate_single_credential(assertion, state, stored)?;
        let mut credential = stored.clone();
        credential.counter = credential.counter.max(result.counter());
        credential.backup_state = result.backup_state();
        credential.backup_eligible = result.backup_eligible();
        Ok(VerifiedAssertion {
            sign_count: credential.counter,
            backup_state: result.backup_state(),
            user_verified: result.user_verified(),
            credential,
        })
    }
}

/// A sign-in's answer as [`parse_assertion`] reads it: the WebAuthn assertion, and where
/// the browser says the authenticator that made it is.
#[derive(Debug, Clone)]
pub struct Assertion {
    pub credential: PublicKeyCredential,
    /// The credential's `authenticatorAttachment`: the browser's word, covered by no
    /// signature (webauthn-rs does not read it). Latch records it on the session it makes so
    /// that pages can offer a passkey on this device after a sign-in from another one
    /// (docs/protocol.md §20.1); nothing is decided on it. An absent, null or unknown value
    /// (WebAuthn may add some) is `None`, not a refusal: clerk-android sends `null`.
    pub attachment: Option<AuthenticatorAttachment>,
}

/// Parse an assertion as clerk-js or a native SDK sends it ([`canonical_credential`]).
pub fn parse_assertion(json: &str) -> Result<Assertion, CeremonyError> {
    let value = canonical_credential(json)?;
    let attachment = value.get("authenticatorAttachment").and_then(|a| a.as_str()).and_then(AuthenticatorAttachment::parse);
    let credential = serde_json::from_value(value).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
    Ok(Assertion { credential, attachment })
}

/// Parse a registration credential as clerk-js or a native SDK sends it ([`canonical_credential`]).
/// The creation options as the browser receives them (FAPI's verification nonce): what
/// webauthn-rs built, plus the PRF extension (`extensions.prf = {}`), which webauthn-rs-core
/// 0.6 cannot express. Asking costs nothing where PRF is unsupported (the browser ignores an
/// extension it does not know) and is the only time a security key can be told to create
/// its PRF (CTAP2 `hmac-secret`) secret; the answer, `prf.enabled`, says whether the passkey
/// can later derive keys for the app (docs/protocol.md §22.2).
pub fn creation_options_json(options: &PublicKeyCredentialCreationOptions) -> Result<String, CeremonyError> {
    let mut value = serde_json::to_value(options).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        let extensions = object.entry("extensions").or_insert_with(|| serde_json::json!({}));
        if !extensions.is_object() {
            *extensions = serde_json::json!({});
        }
        if let Some(extensions) = extensions.as_object_mut() {
            extensions.insert("prf".into(), serde_json::json!({}));
        }
    }
    Ok(value.to_string())
}

/// The PRF extension's `enabled` result in a registration credential's
/// `clientExtensionResults`, when the client sent one that is a boolean. It is the browser's
/// word, covered by no signature: Latch records and shows it and decides nothing on it.
/// clerk-js leaves `clientExtensionResults` out of what it posts, so passkeys made through it
/// have `None`; Latch's own pages and the native SDKs send it.
pub fn prf_enabled_reported(credential: &serde_json::Value) -> Option<bool> {
    credential.get("clientExtensionResults")?.get("prf")?.get("enabled")?.as_bool()
}

pub fn parse_registration(json: &str) -> Result<RegisterPublicKeyCredential, CeremonyError> {
    serde_json::from_value(canonical_credential(json)?).map_err(|e| CeremonyError::Malformed(e.to_string()))
}

/// The credential JSON in the one spelling webauthn-rs reads. Native SDKs write it their own
/// ways (docs/protocol.md §7.2): clerk-android's creation JSON says `raw_id` (its serializer
/// snake-cases every property), ClerkKit pretty-prints, some leave `rawId` out or send
/// `clientExtensionResults`, `authenticatorAttachment: null`, no `transports` (serde already
/// takes those). `id` is the credential id: `rawId` becomes `raw_id` when only that is
/// sent, `id` when neither is; given both, they must agree; and [`check_envelope`] still
/// requires `rawId` to decode to `id`.
pub fn canonical_credential(json: &str) -> Result<serde_json::Value, CeremonyError> {
    check_json_depth(json)?;
    let mut value: serde_json::Value = serde_json::from_str(json).map_err(|e| CeremonyError::Malformed(e.to_string()))?;
    let object = value.as_object_mut().ok_or_else(|| CeremonyError::Malformed("the credential is not a JSON object".into()))?;
    let snake = object.remove("raw_id");
    match (object.get("rawId"), snake) {
        (Some(camel), Some(snake)) if *camel != snake => {
            return Err(CeremonyError::Rejected("rawId and raw_id name different credentials".into()));
        }
        (None, Some(snake)) => {
            object.insert("rawId".into(), snake);
        }
        (None, None) => {
            if let Some(id) = object.get("id").cloned() {
                object.insert("rawId".into(), id);
            }
        }
        _ => {}
    }
    Ok(value)
}

/// A WebAuthn credential nests three levels deep; anything past this is not one. serde
/// skips unknown keys without looking inside, so without this bound a credential could
/// smuggle arbitrarily deep (or, past serde's own limit of 128, unparsable) junk.
pub const MAX_CREDENTIAL_JSON_DEPTH: usize = 16;

fn check_json_depth(json: &str) -> Result<(), CeremonyError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_CREDENTIAL_JSON_DEPTH {
                    return Err(CeremonyError::Malformed(format!(
                        "the credential JSON nests deeper than {MAX_CREDENTIAL_JSON_DEPTH} levels"
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Checks webauthn-rs leaves to its caller. `id` must be the base64url form of `rawId`
/// (webauthn-rs reads only `rawId`; a mismatch means a confused or forged client). The
/// client data must not describe a ceremony run inside a cross-origin iframe: webauthn-rs
/// refuses that at registration but not at authentication, and Latch allows neither.
fn check_envelope(id: &str, raw_id: &[u8], client_data_json: &[u8]) -> Result<(), CeremonyError> {
    if URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).ok().as_deref() != Some(raw_id) {
        return Err(CeremonyError::Rejected("the credential id does not match rawId".into()));
    }
    let client_data: serde_json::Value =
        serde_json::from_slice(client_data_json).map_err(|e| CeremonyError::Malformed(format!("clientDataJSON: {e}")))?;
    if client_data.get("crossOrigin").and_then(serde_json::Value::as_bool) == Some(true)
        || client_data.get("topOrigin").is_some_and(|t| !t.is_null())
    {
        return Err(CeremonyError::Rejected("cross-origin ceremonies are not allowed".into()));
    }
    Ok(())
}

fn state_excludes(state: &RegistrationState, raw_id: &[u8]) -> bool {
    // RegistrationState keeps its fields private; its serialised form is the documented way in.
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.get("exclude_credentials").cloned())
        .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
        .is_some_and(|ids| ids.iter().any(|id| URL_SAFE_NO_PAD.decode(id).is_ok_and(|b| b == raw_id)))
}

fn attested_auth_data(credential: &RegisterPublicKeyCredential) -> Option<Vec<u8>> {
    // webauthn-rs has already verified this object; here we only read authData out of it,
    // for its length and for the authenticator model (the passkey's display name).
    use serde_cbor_2::Value;
    let bytes: &[u8] = credential.response.attestation_object.as_ref();
    let Value::Map(mut object) = serde_cbor_2::from_slice::<Value>(bytes).ok()? else {
        return None;
    };
    match object.remove(&Value::Text("authData".into()))? {
        Value::Bytes(auth_data) => Some(auth_data),
        _ => None,
    }
}

/// authData is rpIdHash (32), flags (1), signCount (4), then the attested credential data
/// if AT is set (AAGUID, id length, id, one CBOR public key) and one CBOR extensions map if
/// ED is set, and nothing after that (WebAuthn §6.1).
fn check_auth_data_length(auth_data: &[u8]) -> Result<(), CeremonyError> {
    fn skip_cbor_item(bytes: &[u8]) -> Option<&[u8]> {
        let mut de = serde_cbor_2::Deserializer::from_slice(bytes);
        serde_cbor_2::Value::deserialize(&mut de).ok()?;
        bytes.get(de.byte_offset()..)
    }
    let rest = (|| {
        let flags = *auth_data.get(32)?;
        let mut rest = auth_data.get(37..)?;
        if flags & 0x40 != 0 {
            let id_len = usize::from(u16::from_be_bytes(rest.get(16..18)?.try_into().ok()?));
            rest = skip_cbor_item(rest.get(18 + id_len..)?)?;
        }
        if flags & 0x80 != 0 {
            rest = skip_cbor_item(rest)?;
        }
        Some(rest)
    })()
    .ok_or_else(|| CeremonyError::Malformed("authenticator data is truncated".into()))?;
    if !rest.is_empty() {
        return Err(CeremonyError::Malformed(format!("authenticator data has {} trailing bytes", rest.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_credential_spellings_become_one() {
        let raw_id_of = |json: &str| canonical_credential(json).map(|v| v["rawId"].clone());
        assert_eq!(raw_id_of(r#"{"id":"AQID","raw_id":"AQID"}"#), Ok("AQID".into()));
        assert_eq!(raw_id_of("{\n  \"id\" : \"AQID\"\n}"), Ok("AQID".into()));
        assert_eq!(raw_id_of(r#"{"id":"AQID","rawId":"AQID","raw_id":"AQID"}"#), Ok("AQID".into()));
        assert!(matches!(raw_id_of(r#"{"id":"AQID","rawId":"AQID","raw_id":"BBBB"}"#), Err(CeremonyError::Rejected(_))));
        // A differing raw_id alone is kept, for check_envelope to refuse against `id`.
        assert_eq!(raw_id_of(r#"{"id":"AQID","raw_id":"BBBB"}"#), Ok("BBBB".into()));
        assert!(matches!(raw_id_of("[1]"), Err(CeremonyError::Malformed(_))));
    }

    #[test]
    fn creation_options_ask_for_prf_and_keep_the_rest() {
        let origin = OriginPattern::parse("https://example.com").unwrap();
        let rp = RelyingParty::new("example.com", "Example", vec![origin], Duration::from_secs(60), UvPolicy::Required);
        let owner = PasskeyOwner { handle: Uuid::new_v4(), name: "amy", display_name: "amy" };
        let (options, _) = rp.begin_registration(&owner, Vec::new()).unwrap();
        let plain = serde_json::to_value(&options).unwrap();
        let sent: serde_json::Value = serde_json::from_str(&creation_options_json(&options).unwrap()).unwrap();
        assert_eq!(sent["extensions"]["prf"], serde_json::json!({}));
        assert_eq!(sent["challenge"], plain["challenge"]);
        assert_eq!(sent["authenticatorSelection"], plain["authenticatorSelection"]);
        // Whatever extensions webauthn-rs asked for are still asked for.
        for (name, value) in plain["extensions"].as_object().into_iter().flatten() {
            assert_eq!(&sent["extensions"][name], value, "{name}");
        }
    }

    #[test]
    fn the_prf_result_is_read_only_when_it_is_a_boolean() {
        let reported = |json: &str| prf_enabled_reported(&serde_json::from_str(json).unwrap());
        assert_eq!(reported(r#"{"clientExtensionResults":{"prf":{"enabled":true}}}"#), Some(true));
        assert_eq!(reported(r#"{"clientExtensionResults":{"prf":{"enabled":false},"credProps":{"rk":true}}}"#), Some(false));
        assert_eq!(reported(r#"{"clientExtensionResults":{"prf":{"enabled":1}}}"#), None);
        assert_eq!(reported(r#"{"clientExtensionResults":{"prf":true}}"#), None);
        assert_eq!(reported(r#"{"clientExtensionResults":{}}"#), None);
        assert_eq!(reported(r#"{"id":"AQID"}"#), None);
    }

    #[test]
    fn credential_json_depth_is_bounded_outside_strings_only() {
        assert!(check_json_depth(r#"{"a":{"b":[1,2,{"c":3}]}}"#).is_ok());
        let deep = format!("{}{}", "[".repeat(17), "]".repeat(17));
        assert!(check_json_depth(&deep).is_err());
        let in_string = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(check_json_depth(&in_string).is_ok());
    }

    #[test]
    fn auth_data_must_end_after_its_credential_and_extensions() {
        // rpIdHash, flags AT|ED|UP, signCount, AAGUID, id length 1, id, COSE {1: 2}, extensions {"x": 2}.
        let mut auth_data = vec![0u8; 32];
        auth_data.push(0xc1);
        auth_data.extend([0, 0, 0, 7]);
        auth_data.extend([0u8; 16]);
        auth_data.extend([0, 1, 0xaa]);
        auth_data.extend([0xa1, 0x01, 0x02]);
        auth_data.extend([0xa1, 0x61, b'x', 0x02]);
        assert_eq!(check_auth_data_length(&auth_data), Ok(()));
        let mut trailing = auth_data.clone();
        trailing.push(0);
        assert!(matches!(check_auth_data_length(&trailing), Err(CeremonyError::Malformed(_))));
        let truncated = &auth_data[..auth_data.len() - 1];
        assert!(matches!(check_auth_data_length(truncated), Err(CeremonyError::Malformed(_))));
        // Without ED the extensions map is itself trailing data.
        let mut no_ed = auth_data.clone();
        no_ed[32] = 0x41;
        assert!(matches!(check_auth_data_length(&no_ed), Err(CeremonyError::Malformed(_))));
    }
}
