//! Why Latch says no: every refusal a flow, a form or the HTTP layer can give, and — in
//! [`Refusal::clerk`], the one table — the Clerk error each becomes on the wire (code, HTTP
//! status, messages, parameter). No Clerk error code is written anywhere else, so a reader
//! who wants to know what `passkey_not_registered` means, or what a client sees when a
//! challenge has expired, looks here.
//!
//! Flows return domain reasons (`Refusal::PasskeyNotRegistered`); they never pick a status
//! or a message. Faults of Latch itself (a database down, a key that cannot sign) are
//! [`Refusal::Internal`]: a 500 whose body keeps Clerk's shape and says nothing of the cause,
//! which the server logs once, in one middleware.

use latch_core::ceremony::CeremonyError;
use latch_store::StoreError;

/// Everything Latch refuses. `Display` is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    // The request's shape.
    #[error("{0} is missing")]
    ParamMissing(String),
    #[error("{param} is invalid: {why}")]
    ParamInvalid { param: String, why: String },
    #[error("the request body is too large")]
    BodyTooLarge,
    #[error("the request's origin is not allowed")]
    OriginInvalid,
    /// The named kind of thing (`"sign-in"`, `"passkey"`, `"endpoint"`…) has no such id here.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// The request's head (URI and headers) is larger than Latch reads.
    #[error("the request head is too large")]
    HeadTooLarge,
    /// The request took longer than Latch gives one.
    #[error("the request timed out")]
    RequestTimeout,
    /// The HTTP layer refused the request before any flow (a malformed path, query or header,
    /// an unsupported media type): the 4xx status it chose, and nothing of its own message.
    #[error("the request was malformed (HTTP {0})")]
    Malformed(u16),

    // Who is asking.
    #[error("signed out")]
    SignedOut,
    #[error("already signed in")]
    SessionExists,
    #[error("the session has tasks to finish")]
    SessionTaskPending,
    /// The action needs a first factor verified within the last `after_minutes` minutes
    /// (docs/protocol.md §16).
    #[error("the session must be reverified")]
    ReverificationRequired { after_minutes: u64 },
    #[error("the session verification is already complete")]
    ReverificationAlreadyComplete,

    // Sign-up.
    #[error("the username is invalid")]
    UsernameInvalid,
    #[error("the username is taken")]
    UsernameTaken,

    // Sign-in.
    #[error("no account with this identifier")]
    IdentifierNotFound,
    #[error("passkeys are disabled")]
    PasskeysDisabled,
    #[error("the account has no passkey")]
    NoPasskeyForUser,
    /// The assertion named a credential Latch does not hold (deleted, or never registered
    /// here). It carries what a page needs to tell the authenticator so with WebAuthn's
    /// `PublicKeyCredential.signalUnknownCredential` (docs/protocol.md §20): the RP ID and the
    /// credential id, base64url as the client sent it.
    #[error("the passkey is not registered")]
    PasskeyNotRegistered { rp_id: String, credential_id: String },
    #[error("the passkey belongs to another user than the one named")]
    PasskeyOfAnotherUser,
    #[error("the sign-in is already complete")]
    SignInAlreadyComplete,
    #[error("the challenge was already answered")]
    ChallengeSpent,
    #[error("the challenge has expired")]
    VerificationExpired,
    /// Another answer spent the challenge, or another sign-in used the passkey, between
    /// verification and the write.
    #[error("the passkey was used concurrently")]
    UsedConcurrently,
    /// The WebAuthn response was malformed or failed verification.
    #[error(transparent)]
    Ceremony(CeremonyError),

    // Passkeys.
    #[error("the passkey name is invalid")]
    PasskeyNameInvalid,
    #[error("the user has as many passkeys as allowed")]
    PasskeyQuotaExceeded,
    #[error("the passkey is already registered")]
    PasskeyAlreadyRegistered,
    /// The authenticator model (AAGUID) is not on the operator's allow-list.
    #[error("the authenticator is not allowed here")]
    AuthenticatorNotAllowed,
    /// The operator's lockout rule (`--protect-last-passkey`, docs/protocol.md §21) keeps
    /// this passkey: the user's only one, or (`last_synced`) their only synced one.
    #[error("the passkey is protected from deletion")]
    PasskeyProtected { last_synced: bool },

    // The Backend API and tickets.
    /// No secret key, or one that is unknown or revoked.
    #[error("the secret key is missing, unknown or revoked")]
    SecretKeyInvalid,
    #[error("the session is not live")]
    SessionNotLive,
    /// A ticket that is unknown, already used or revoked.
    #[error("the ticket is invalid")]
    TicketInvalid,
    #[error("the ticket has expired")]
    TicketExpired,
    /// An admin-console call whose session token this instance did not sign for its own
    /// origin, has expired, or whose session is no longer live (docs/protocol.md §17).
    #[error("the operator's session token is invalid or its session has ended")]
    OperatorTokenInvalid,
    /// A live session whose user does not hold the operator role.
    #[error("the session's user is not an operator")]
    OperatorRequired,
    /// A token asked of the Backend API for a session that exists but has ended (signed out,
    /// revoked, expired): Clerk answers this route's misses with 404 only.
    #[error("the session has ended: no token is issued for it")]
    SessionEndedNoToken,
    /// A token asked with a JWT template: Latch has none.
    #[error("no JWT template {0:?}")]
    JwtTemplateNotFound(String),
    /// An action only the app's server may take (minting a user's session token), asked with
    /// an operator's console session instead of a secret key.
    #[error("a secret key is required")]
    SecretKeyRequired,

    /// A fault of Latch, not of the request: the detail goes to the log, never to the client.
    #[error("internal fault: {0}")]
    Internal(String),
}

/// A refusal as Clerk's FAPI shows it: `{errors:[{code, message, long_message, meta}]}`
/// with this HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub long_message: String,
    /// `meta.param_name`: the form field at fault.
    pub param: Option<String>,
    /// Seconds, for a 429's `Retry-After`.
    pub retry_after_secs: Option<u64>,
    /// `meta.reverification`: the first factor must be younger than this many minutes.
    pub reverification_after_minutes: Option<u64>,
    /// `meta.data` `{rpId, credentialId}`: the arguments of `signalUnknownCredential`.
    pub unknown_credential: Option<UnknownCredential>,
}

/// The credential an assertion named that Latch does not hold, as WebAuthn's
/// `signalUnknownCredential({rpId, credentialId})` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCredential {
    pub rp_id: String,
    /// base64url without padding.
    pub credential_id: String,
}

impl Refusal {
    /// The Clerk error code alone (the audit trail and a failed challenge record it).
    pub fn code(&self) -> &'static str {
        self.clerk().code
    }

    /// An assertion for `raw_id`, a credential this relying party (`rp_id`) does not hold.
    pub fn passkey_not_registered(rp_id: &str, raw_id: &[u8]) -> Self {
        use base64::Engine;
        Refusal::PasskeyNotRegistered {
            rp_id: rp_id.to_string(),
            credential_id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw_id),
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, Refusal::Internal(_))
    }

    /// The error table.
    pub fn clerk(&self) -> ClerkError {
        use Refusal as R;
        let unprocessable = |code, message: &str, long: &str| ClerkError::new(422, code, message, long);
        match self {
            R::ParamMissing(name) => {
                let says = format!("{name} must be included.");
                ClerkError::new(422, "form_param_missing", &says, &says).param(name)
            }
            R::ParamInvalid { param, why } => {
                ClerkError::new(422, "form_param_format_invalid", &format!("{param} is invalid."), why).param(param)
            }
            R::UsernameInvalid => R::ParamInvalid {
                param: "username".into(),
                why: "Usernames are 3 to 64 characters: letters, digits, '_', '-' and '.'.".into(),
            }
            .clerk(),
            R::PasskeyNameInvalid => R::ParamInvalid {
                param: "name".into(),
                why: "Passkey names are 1 to 100 printable characters, without bidi or zero-width controls.".into(),
            }
            .clerk(),
            R::Ceremony(CeremonyError::Malformed(why)) => R::ParamInvalid {
                param: "public_key_credential".into(),
                why: format!("The passkey response could not be read: {why}"),
            }
            .clerk(),
            R::Ceremony(CeremonyError::AlreadyRegistered) => R::PasskeyAlreadyRegistered.clerk(),
            R::Ceremony(other) => unprocessable(
                "verification_failed",
                "Passkey verification failed",
                &format!("The passkey could not be verified: {other}."),
            ),
            R::PasskeyOfAnotherUser => {
                R::Ceremony(CeremonyError::Rejected("the passkey does not belong to this user".into())).clerk()
            }
            R::UsedConcurrently => {
                R::Ceremony(CeremonyError::Rejected("the passkey was used concurrently; try again".into())).clerk()
            }
            R::BodyTooLarge => ClerkError::new(
                413,
                "request_body_too_large",
                "Request body too large",
                "The request body is larger than Latch accepts.",
            ),
            R::OriginInvalid => ClerkError::new(
                403,
                "origin_invalid",
                "Origin not allowed",
                "This request came from an origin that is not allowed to use this Latch instance.",
            ),
            R::NotFound(what) => ClerkError::new(
                404,
                "resource_not_found",
                "Resource not found",
                &format!("No {what} was found with this id."),
            ),
            R::HeadTooLarge => ClerkError::new(
                431,
                "request_header_fields_too_large",
                "Request headers too large",
                "The request's URL and headers are larger than Latch accepts.",
            ),
            R::RequestTimeout => ClerkError::new(
                408,
                "request_timeout",
                "Request timeout",
                "The request took too long to arrive or to complete. Please try again.",
            ),
            R::Malformed(status) => ClerkError::new(
                if (400..500).contains(status) { *status } else { 400 },
                "bad_request",
                "Bad request",
                "The request could not be read: check its URL, headers and body.",
            ),
            R::TooManyRequests { retry_after_secs } => {
                let mut error = ClerkError::new(
                    429,
                    "too_many_requests",
                    "Too many requests",
                    "Too many requests. Please wait a moment and try again.",
                );
                error.retry_after_secs = Some(*retry_after_secs);
                error
            }
            R::SignedOut => ClerkError::new(401, "signed_out", "Signed out", "You are signed out. Sign in to continue."),
            R::SessionExists => ClerkError::new(
                400,
                "session_exists",
                "You're already signed in.",
                "You're already signed in. Sign out before signing in or up again.",
            ),
            R::SessionTaskPending => ClerkError::new(
                403,
                "session_task_pending",
                "Finish signing in first",
                "This session has pending tasks; finish them before managing passkeys.",
            ),
            R::ReverificationRequired { after_minutes } => {
                let mut error = ClerkError::new(
                    403,
                    "session_reverification_required",
                    "Additional verification required",
                    "Confirm it is you with one of your passkeys, then try again.",
                );
                error.reverification_after_minutes = Some(*after_minutes);
                error
            }
            R::ReverificationAlreadyComplete => unprocessable(
                "verification_already_verified",
                "This verification is already complete",
                "This session verification has already been completed. Start a new one.",
            ),
            R::UsernameTaken => unprocessable(
                "form_identifier_exists",
                "That username is taken. Please try another.",
                "That username is taken. Please try another.",
            )
            .param("username"),
            R::IdentifierNotFound => {
                unprocessable("form_identifier_not_found", "Couldn't find your account.", "Couldn't find your account.")
                    .param("identifier")
            }
            R::PasskeysDisabled => unprocessable(
                "strategy_for_user_invalid",
                "Passkeys are disabled",
                "Passkey sign-in is disabled on this instance.",
            ),
            R::NoPasskeyForUser => unprocessable(
                "strategy_for_user_invalid",
                "No passkey for this account",
                "This account has no passkey yet. Sign in another way and create one.",
            ),
            R::PasskeyNotRegistered { rp_id, credential_id } => {
                let mut shown = unprocessable(
                    "passkey_not_registered",
                    "Passkey not registered",
                    "This passkey is not registered with any account. It may have been deleted.",
                );
                shown.unknown_credential =
                    Some(UnknownCredential { rp_id: rp_id.clone(), credential_id: credential_id.clone() });
                shown
            }
            R::SignInAlreadyComplete => unprocessable(
                "verification_already_verified",
                "This sign-in is already complete",
                "This sign-in has already been completed. Start a new sign-in.",
            ),
            R::ChallengeSpent => unprocessable(
                "verification_failed",
                "This sign-in attempt has already been used",
                "Each passkey challenge can be answered once. Start a new sign-in.",
            ),
            R::VerificationExpired => unprocessable(
                "verification_expired",
                "The passkey challenge has expired",
                "This passkey challenge has expired. Please try again.",
            ),
            R::PasskeyQuotaExceeded => unprocessable(
                "passkey_quota_exceeded",
                "Passkey limit reached",
                "You have reached the maximum number of passkeys. Delete one before adding another.",
            ),
            R::PasskeyProtected { last_synced: false } => unprocessable(
                "passkey_last_protected",
                "You can't delete your only passkey",
                "This is your only passkey: without it you could not sign in. Add another passkey first, then delete this one.",
            ),
            R::PasskeyProtected { last_synced: true } => unprocessable(
                "passkey_last_protected",
                "You can't delete your last synced passkey",
                "This is your only passkey that is synced (backed up by a password manager or cloud account); your other \
                 passkeys live on a single device each. Add another synced passkey first, then delete this one.",
            ),
            R::PasskeyAlreadyRegistered => unprocessable(
                "passkey_already_registered",
                "This passkey is already registered",
                "This passkey is already registered to an account.",
            ),
            // Latch's own code (Clerk has no such policy), in Clerk's shape (§22.3).
            R::AuthenticatorNotAllowed => unprocessable(
                "passkey_authenticator_not_allowed",
                "Authenticator not allowed",
                "Passkeys from this authenticator are not allowed here. Use one of the authenticators your organisation allows.",
            ),
            R::SecretKeyInvalid => ClerkError::new(
                401,
                "clerk_key_invalid",
                "Secret key invalid",
                "The request needs a live secret key (Authorization: Bearer sk_live_…); this one is missing, unknown or revoked.",
            ),
            R::SessionNotLive => ClerkError::new(
                400,
                "session_not_active",
                "Session not active",
                "This session has already ended; it cannot be revoked.",
            ),
            R::TicketInvalid => unprocessable(
                "ticket_invalid",
                "Invalid sign-in token",
                "This sign-in token is invalid, already used or revoked. Ask for a new one.",
            )
            .param("ticket"),
            R::TicketExpired => unprocessable(
                "ticket_expired",
                "Sign-in token expired",
                "This sign-in token has expired. Ask for a new one.",
            )
            .param("ticket"),
            R::OperatorTokenInvalid => ClerkError::new(
                401,
                "authentication_invalid",
                "Session token invalid",
                "The admin console's session token is invalid or expired, or its session has ended. Sign in again.",
            ),
            R::OperatorRequired => ClerkError::new(
                403,
                "authorization_invalid",
                "Not an operator",
                "This account is not an operator of this Latch: an operator grants the role with `latch operators grant`.",
            ),
            R::SessionEndedNoToken => ClerkError::new(
                404,
                "resource_not_found",
                "Session not active",
                "This session has ended (signed out, revoked or expired): no token is issued for it.",
            ),
            R::JwtTemplateNotFound(name) => ClerkError::new(
                404,
                "resource_not_found",
                "JWT template not found",
                &format!("No JWT template named {name:?}: Latch has no JWT templates. Ask for the session token without one."),
            ),
            R::SecretKeyRequired => ClerkError::new(
                403,
                "authorization_invalid",
                "Secret key required",
                "Only the app's server, with a secret key, may do this; an operator's console session may not.",
            ),
            R::Internal(_) => ClerkError::new(
                500,
                "internal_clerk_error",
                "Something went wrong",
                "Latch could not complete this request. Please try again.",
            ),
        }
    }
}

impl ClerkError {
    fn new(status: u16, code: &'static str, message: &str, long_message: &str) -> Self {
        ClerkError {
            status,
            code,
            message: message.to_string(),
            long_message: long_message.to_string(),
            param: None,
            retry_after_secs: None,
            reverification_after_minutes: None,
            unknown_credential: None,
        }
    }

    fn param(mut self, name: &str) -> Self {
        self.param = Some(name.to_string());
        self
    }
}

/// The store's refusals are domain facts (a taken username, a full quota); anything else
/// it reports is a fault of Latch.
impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::QuotaExceeded => Refusal::PasskeyQuotaExceeded,
            StoreError::PasskeyProtected { last_synced } => Refusal::PasskeyProtected { last_synced },
            StoreError::Conflict("username") => Refusal::UsernameTaken,
            StoreError::Conflict(_) => Refusal::PasskeyAlreadyRegistered,
            // A concurrent sign-in, sign-up or sign-out gave the client a new token: the one
            // this request came with names nothing any more.
            StoreError::ClientTokenReplaced => Refusal::SignedOut,
            other => Refusal::Internal(format!("storage: {other}")),
        }
    }
}

impl From<CeremonyError> for Refusal {
    fn from(e: CeremonyError) -> Self {
        Refusal::Ceremony(e)
    }
}

pub type FlowResult<T> = Result<T, Refusal>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_a_4xx_but_an_internal_fault() {
        let refusals = [
            Refusal::ParamMissing("x".into()),
            Refusal::SignedOut,
            Refusal::Ceremony(CeremonyError::CounterRegression),
            Refusal::UsedConcurrently,
            Refusal::TooManyRequests { retry_after_secs: 3 },
            Refusal::SessionEndedNoToken,
            Refusal::JwtTemplateNotFound("x".into()),
            Refusal::SecretKeyRequired,
        ];
        for refusal in refusals {
            let status = refusal.clerk().status;
            assert!((400..500).contains(&status), "{refusal:?} → {status}");
        }
        assert_eq!(Refusal::Internal("db down".into()).clerk().status, 500);
    }

    #[test]
    fn an_internal_fault_tells_the_client_nothing_of_its_cause() {
        let shown = Refusal::Internal("password=hunter2 at db.internal".into()).clerk();
        assert!(!shown.message.contains("hunter2") && !shown.long_message.contains("hunter2"));
    }

    #[test]
    fn store_conflicts_are_domain_refusals() {
        assert_eq!(Refusal::from(StoreError::Conflict("username")).code(), "form_identifier_exists");
        assert_eq!(Refusal::from(StoreError::Conflict("credential")).code(), "passkey_already_registered");
        assert_eq!(Refusal::from(StoreError::QuotaExceeded).code(), "passkey_quota_exceeded");
        let kept = Refusal::from(StoreError::PasskeyProtected { last_synced: true }).clerk();
        assert_eq!((kept.status, kept.code), (422, "passkey_last_protected"));
    }
}
