//! The records Latch keeps. Storage persists them; the server renders them as FAPI JSON.
//! Timestamps are milliseconds since the Unix epoch, as FAPI speaks them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{IdKind, new_id};
use webauthn_rs_core::proto::{AuthenticationState, RegistrationState};
/// The stored WebAuthn credential, named here because the records below carry it.
pub use webauthn_rs_core::proto::Credential;

pub type Millis = i64;

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    /// The WebAuthn user handle: random, so it reveals nothing about the account.
    pub webauthn_handle: Uuid,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_sign_in_at: Option<Millis>,
}

/// A verified passkey. Unverified ones live in [`PendingPasskey`] until their ceremony ends.
#[derive(Debug, Clone)]
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    pub credential_id: Vec<u8>,
    pub name: String,
    pub aaguid: Option<Uuid>,
    /// webauthn-rs's credential: public key, counter, backup flags, registration policy.
    pub credential: Credential,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_used_at: Option<Millis>,
    /// Whether the browser reported the PRF extension enabled at registration; `None` when
    /// it reported nothing (docs/protocol.md §22.2).
    pub prf_enabled: Option<bool>,
}

/// A passkey whose creation has begun (`POST /me/passkeys`) but not been verified.
#[derive(Debug, Clone)]
pub struct PendingPasskey {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// The creation options sent to the browser, as JSON: FAPI's verification nonce.
    pub options_json: String,
    pub state: RegistrationState,
    /// The origin that asked; the answer must come from the same one.
    pub origin: Option<String>,
    pub created_at: Millis,
    pub expire_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_active_session_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Pending,
    Ended,
    Expired,
    Removed,
    Revoked,
    /// Single-session mode: a later sign-in on the same client took its place.
    Replaced,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Pending => "pending",
            SessionStatus::Ended => "ended",
            SessionStatus::Expired => "expired",
            SessionStatus::Removed => "removed",
            SessionStatus::Revoked => "revoked",
            SessionStatus::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => SessionStatus::Active,
            "pending" => SessionStatus::Pending,
            "ended" => SessionStatus::Ended,
            "expired" => SessionStatus::Expired,
            "removed" => SessionStatus::Removed,
            "revoked" => SessionStatus::Revoked,
            "replaced" => SessionStatus::Replaced,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub status: SessionStatus,
    /// Keys of tasks the user must finish before the session becomes active.
    pub tasks: Vec<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_active_at: Millis,
    pub expire_at: Millis,
    /// When the session's user last proved a first factor: its creation (sign-up, passkey
    /// or ticket sign-in), or its latest reverification (docs/protocol.md §16).
    pub first_factor_verified_at: Millis,
    /// The session ends once unused for this long (`last_active_at` is its use); None: never.
    pub idle_timeout: Option<Millis>,
    /// How the session was made: deleting the passkey that made it ends it.
    pub made_with: SessionSource,
}

/// What made a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSource {
    /// A sign-up (no credential yet), or a session from before Latch recorded its source.
    SignUp,
    /// A passkey sign-in, with this passkey (its id), and where the browser said its
    /// authenticator was (when it said).
    Passkey { passkey_id: String, attachment: Option<AuthenticatorAttachment> },
    /// A ticket sign-in, with this sign-in token (its id).
    Ticket(String),
}

impl SessionSource {
    pub fn passkey_id(&self) -> Option<&str> {
        match self {
            SessionSource::Passkey { passkey_id, .. } => Some(passkey_id),
            _ => None,
        }
    }

    /// The Clerk strategy of the sign-in that made the session: `passkey` or `ticket`; None
    /// for a sign-up's session.
    pub fn strategy(&self) -> Option<&'static str> {
        match self {
            SessionSource::SignUp => None,
            SessionSource::Passkey { .. } => Some("passkey"),
            SessionSource::Ticket(_) => Some("ticket"),
        }
    }

    /// Where a passkey sign-in's authenticator was, as the browser said.
    pub fn attachment(&self) -> Option<AuthenticatorAttachment> {
        match self {
            SessionSource::Passkey { attachment, .. } => *attachment,
            _ => None,
        }
    }

    pub fn ticket_id(&self) -> Option<&str> {
        match self {
            SessionSource::Ticket(id) => Some(id),
            _ => None,
        }
    }
}

/// WebAuthn's `AuthenticatorAttachment`: where the authenticator that answered a ceremony is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticatorAttachment {
    /// Part of the device the browser runs on (its platform authenticator or password manager).
    Platform,
    /// Roaming: a security key, or a phone reached by hybrid transport (a QR code).
    CrossPlatform,
}

impl AuthenticatorAttachment {
    /// WebAuthn's spelling; any other value is `None`.
    pub fn parse(value: &str) -> Option<AuthenticatorAttachment> {
        match value {
            "platform" => Some(AuthenticatorAttachment::Platform),
            "cross-platform" => Some(AuthenticatorAttachment::CrossPlatform),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticatorAttachment::Platform => "platform",
            AuthenticatorAttachment::CrossPlatform => "cross-platform",
        }
    }
}

/// The coarsest a session's use is recorded when it has an idle timeout: a twentieth of the
/// timeout, at most five minutes, so a session in use is never mistaken for an idle one and
/// a token refresh (every ~50 s with clerk-js) writes at most once per five minutes.
fn idle_activity_resolution(idle_timeout: Millis) -> Millis {
    (idle_timeout / 20).clamp(1, 5 * 60 * 1000)
}

impl Session {
    /// The status as of `now`: a live session past its expiry, or unused for longer than its
    /// idle timeout, is expired.
    pub fn status_at(&self, now: Millis) -> SessionStatus {
        let idle = self.idle_timeout.is_some_and(|t| now >= self.last_active_at.saturating_add(t));
        match self.status {
            SessionStatus::Active | SessionStatus::Pending if now >= self.expire_at || idle => SessionStatus::Expired,
            s => s,
        }
    }

    /// Clerk's `factor_verification_age`: whole minutes since the first factor was last
    /// verified, and -1 for the second factor, which Latch does not have.
    pub fn factor_verification_age(&self, now: Millis) -> [i64; 2] {
        [(now - self.first_factor_verified_at).max(0) / 60_000, -1]
    }

    /// Reverification's rule: the first factor was verified less than `max_age` ago.
    pub fn first_factor_is_fresh(&self, now: Millis, max_age: Millis) -> bool {
        now - self.first_factor_verified_at < max_age
    }

    /// Whether a token request at `now` should record the session's use: only for a session
    /// with an idle timeout, and only when the recorded use is older than its resolution.
    pub fn token_records_activity(&self, now: Millis) -> bool {
        self.idle_timeout.is_some_and(|t| now - self.last_active_at >= idle_activity_resolution(t))
    }

    /// Active or pending, and not expired: the session can be used.
    pub fn is_live(&self, now: Millis) -> bool {
        matches!(self.status_at(now), SessionStatus::Active | SessionStatus::Pending)
    }

    /// Whether a touch at `now` has anything to write: the session is not yet its client's
    /// active one, or its recorded activity is [`ACTIVITY_RESOLUTION`] old or more. clerk-js
    /// touches right after every sign-in (`finalize`) and again on focus; recording each of
    /// those to the millisecond would cost a write transaction for nothing.
    pub fn touch_changes_anything(&self, client_active_session: Option<&str>, now: Millis) -> bool {
        let resolution = self.idle_timeout.map_or(ACTIVITY_RESOLUTION, |t| idle_activity_resolution(t).min(ACTIVITY_RESOLUTION));
        client_active_session != Some(self.id.as_str()) || now - self.last_active_at >= resolution
    }
}

/// How precisely a session's `last_active_at` is kept.
pub const ACTIVITY_RESOLUTION: Millis = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInStatus {
    NeedsIdentifier,
    NeedsFirstFactor,
    Complete,
}

impl SignInStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInStatus::NeedsIdentifier => "needs_identifier",
            SignInStatus::NeedsFirstFactor => "needs_first_factor",
            SignInStatus::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "needs_identifier" => SignInStatus::NeedsIdentifier,
            "needs_first_factor" => SignInStatus::NeedsFirstFactor,
            "complete" => SignInStatus::Complete,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationStatus {
    Unverified,
    Verified,
    Failed,
    Expired,
}

impl VerificationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationStatus::Unverified => "unverified",
            VerificationStatus::Verified => "verified",
            VerificationStatus::Failed => "failed",
            VerificationStatus::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unverified" => VerificationStatus::Unverified,
            "verified" => VerificationStatus::Verified,
            "failed" => VerificationStatus::Failed,
            "expired" => VerificationStatus::Expired,
            _ => return None,
        })
    }
}

/// A passkey sign-in's first factor: the request options sent, and how it went.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    pub status: VerificationStatus,
    /// Request options as JSON: FAPI's verification nonce.
    pub options_json: String,
    /// The ceremony state; `None` once consumed. A challenge is answered at most once.
    pub state: Option<AuthenticationState>,
    pub origin: Option<String>,
    pub attempts: u32,
    pub expire_at: Millis,
    /// The error code of a failed attempt, shown in the verification JSON.
    pub error_code: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SignIn {
    pub id: String,
    pub client_id: String,
    pub status: SignInStatus,
    pub identifier: Option<String>,
    /// Set when the sign-in named a user (identifier-first) or once it completed.
    pub user_id: Option<String>,
    pub challenge: Option<PasskeyChallenge>,
    pub created_session_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub abandon_at: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignUp {
    pub id: String,
    pub client_id: String,
    pub username: String,
    pub created_user_id: String,
    pub created_session_id: String,
    pub created_at: Millis,
}

/// Everything stored about one successful sign-in, written atomically.
#[derive(Debug, Clone)]
pub struct SignInCompletion {
    pub sign_in_id: String,
    /// The request options of the challenge that was verified: completing spends exactly
    /// that challenge, not one a concurrent `prepare_first_factor` put in its place.
    pub challenge_options: String,
    pub passkey_id: String,
    /// The counter the passkey had when verification began: the write fails if another
    /// sign-in used the passkey in between (compare-and-swap).
    pub previous_sign_count: u32,
    pub updated_credential: Credential,
    pub session: Session,
    /// SHA-256 of the client's new token: signing in rotates it, so a token the client held
    /// before (one an attacker may have planted) does not carry the new session.
    pub client_token_hash: Vec<u8>,
    /// SHA-256 of the token the attempt came with: the completion fails if a concurrent
    /// action rotated it first.
    pub old_client_token_hash: Vec<u8>,
    pub now: Millis,
}

/// A failed answer to a sign-in's challenge, as recorded: the twin of [`SignInCompletion`].
#[derive(Debug, Clone, Copy)]
pub struct SignInFailure<'a> {
    pub sign_in_id: &'a str,
    pub client_id: &'a str,
    /// The request options of the challenge that was answered: failing spends exactly that
    /// challenge.
    pub challenge_options: &'a str,
    /// `Expired` or `Failed`.
    pub status: VerificationStatus,
    /// The FAPI error code shown in the verification JSON.
    pub error_code: &'a str,
    pub now: Millis,
}

/// What an instance decides about the sessions it starts.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy<'a> {
    /// Tasks a new session must finish (Clerk's session tasks): while any remain it is
    /// `pending`, not `active`.
    pub tasks: &'a [String],
    /// How long a session lives.
    pub ttl: Millis,
    /// How long it may go unused.
    pub idle_timeout: Option<Millis>,
}

impl Session {
    /// A new session for `user_id` on `client_id`: `pending` while the policy names tasks,
    /// else `active`.
    /// Its making counts as a first-factor verification at `now`.
    pub fn start(policy: &SessionPolicy<'_>, client_id: &str, user_id: &str, made_with: SessionSource, now: Millis) -> Session {
        Session {
            id: new_id(IdKind::Session, now),
            client_id: client_id.to_string(),
            user_id: user_id.to_string(),
            status: if policy.tasks.is_empty() { SessionStatus::Active } else { SessionStatus::Pending },
            tasks: policy.tasks.to_vec(),
            created_at: now,
            updated_at: now,
            last_active_at: now,
            expire_at: now.saturating_add(policy.ttl),
            first_factor_verified_at: now,
            idle_timeout: policy.idle_timeout,
            made_with,
        }
    }
}

impl PasskeyChallenge {
    /// A fresh challenge: `options_json` goes to the browser, `state` stays here.
    pub fn issue(options_json: String, state: AuthenticationState, origin: Option<String>, now: Millis, ttl: Millis) -> Self {
        PasskeyChallenge {
            status: VerificationStatus::Unverified,
            options_json,
            state: Some(state),
            origin,
            attempts: 0,
            expire_at: now.saturating_add(ttl),
            error_code: None,
        }
    }

    /// Open: issued and not answered yet. A challenge is answered once at most, whatever
    /// the outcome; only an open one shows its options or is verified. (The store's
    /// conditional writes hold the same rule against concurrent answers.)
    pub fn is_open(&self) -> bool {
        self.state.is_some() && self.attempts == 0
    }

    pub fn has_expired(&self, now: Millis) -> bool {
        now >= self.expire_at
    }
}

/// How long an unfinished sign-in is kept at least (the challenge lifetime, if longer).
const SIGN_IN_ABANDON_AFTER: Millis = 24 * 3600 * 1000;

impl SignIn {
    /// A new sign-in, identifier-first when `user_id` is set, with a challenge when the
    /// caller asked for the passkey strategy. It needs a first factor once it names a user
    /// or holds a challenge; an identifier otherwise.
    pub fn start(
        client_id: &str,
        identifier: Option<String>,
        user_id: Option<String>,
        challenge: Option<PasskeyChallenge>,
        now: Millis,
        challenge_ttl: Millis,
    ) -> SignIn {
        let status = if user_id.is_some() || challenge.is_some() {
            SignInStatus::NeedsFirstFactor
        } else {
            SignInStatus::NeedsIdentifier
        };
        SignIn {
            id: new_id(IdKind::SignIn, now),
            client_id: client_id.to_string(),
            status,
            identifier,
            user_id,
            challenge,
            created_session_id: None,
            created_at: now,
            updated_at: now,
            abandon_at: now.saturating_add(challenge_ttl.max(SIGN_IN_ABANDON_AFTER)),
        }
    }

    /// `prepare_first_factor`: a new challenge replaces the previous one, which can no
    /// longer be answered. None when the sign-in is already complete.
    pub fn with_new_challenge(mut self, challenge: PasskeyChallenge, now: Millis) -> Option<SignIn> {
        if self.status == SignInStatus::Complete {
            return None;
        }
        self.challenge = Some(challenge);
        self.status = SignInStatus::NeedsFirstFactor;
        self.updated_at = now;
        Some(self)
    }

    /// The challenge an answer may still be verified against, with its ceremony state.
    pub fn open_challenge(&self) -> Option<(&PasskeyChallenge, &AuthenticationState)> {
        if self.status != SignInStatus::NeedsFirstFactor {
            return None;
        }
        let challenge = self.challenge.as_ref().filter(|c| c.is_open())?;
        Some((challenge, challenge.state.as_ref()?))
    }

    /// The sign-in once `session` was created from an answer to its open challenge: what
    /// [`SignInCompletion`] records.
    pub fn complete(mut self, user_id: &str, session_id: &str, now: Millis) -> SignIn {
        self.status = SignInStatus::Complete;
        self.user_id = Some(user_id.to_string());
        self.created_session_id = Some(session_id.to_string());
        self.updated_at = now;
        // Over now: the purge's grace for finished sign-ins counts from here, not from the
        // day an open one would have been abandoned (as CLOSE_SIGN_IN writes it).
        self.abandon_at = now;
        if let Some(challenge) = self.challenge.as_mut() {
            challenge.status = VerificationStatus::Verified;
            challenge.state = None;
            challenge.attempts += 1;
        }
        self
    }

    /// A failed answer to the open challenge (`status` expired or failed), as recorded: it
    /// spends the challenge. None when no challenge is open.
    pub fn fail<'a>(&'a self, status: VerificationStatus, error_code: &'a str, now: Millis) -> Option<SignInFailure<'a>> {
        let (challenge, _) = self.open_challenge()?;
        Some(SignInFailure {
            sign_in_id: &self.id,
            client_id: &self.client_id,
            challenge_options: &challenge.options_json,
            status,
            error_code,
            now,
        })
    }
}

/// How much a reverification asks for (Clerk's `level`). Latch has one factor, the passkey:
/// with no second factor enrolled, Clerk's own check falls back to the first factor for every
/// level, and so does Latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationLevel {
    FirstFactor,
    SecondFactor,
    MultiFactor,
}

impl VerificationLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationLevel::FirstFactor => "first_factor",
            VerificationLevel::SecondFactor => "second_factor",
            VerificationLevel::MultiFactor => "multi_factor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "first_factor" => VerificationLevel::FirstFactor,
            "second_factor" => VerificationLevel::SecondFactor,
            "multi_factor" => VerificationLevel::MultiFactor,
            _ => return None,
        })
    }
}

/// A signed-in user proving again, with a fresh passkey assertion, that they hold a passkey
/// of the session's account (Clerk's session reverification, docs/protocol.md §16). One per
/// session at a time: starting another replaces it.
#[derive(Debug, Clone)]
pub struct SessionVerification {
    pub id: String,
    pub session_id: String,
    pub level: VerificationLevel,
    /// `needs_first_factor` until an assertion verifies, then `complete`.
    pub complete: bool,
    /// The passkey challenge, once `prepare_first_factor` issued one.
    pub challenge: Option<PasskeyChallenge>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl SessionVerification {
    pub fn start(session_id: &str, level: VerificationLevel, now: Millis) -> Self {
        SessionVerification {
            id: new_id(IdKind::SessionVerification, now),
            session_id: session_id.to_string(),
            level,
            complete: false,
            challenge: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn status(&self) -> &'static str {
        if self.complete { "complete" } else { "needs_first_factor" }
    }

    /// `prepare_first_factor`: a new challenge replaces the previous one. None once complete.
    pub fn with_new_challenge(mut self, challenge: PasskeyChallenge, now: Millis) -> Option<Self> {
        if self.complete {
            return None;
        }
        self.challenge = Some(challenge);
        self.updated_at = now;
        Some(self)
    }

    /// The challenge an assertion may still be verified against (the same rule as a
    /// sign-in's: [`PasskeyChallenge::is_open`]).
    pub fn open_challenge(&self) -> Option<(&PasskeyChallenge, &AuthenticationState)> {
        if self.complete {
            return None;
        }
        let challenge = self.challenge.as_ref().filter(|c| c.is_open())?;
        Some((challenge, challenge.state.as_ref()?))
    }

    /// The verification once an assertion to its open challenge verified.
    pub fn completed(mut self, now: Millis) -> Self {
        self.complete = true;
        self.updated_at = now;
        if let Some(challenge) = self.challenge.as_mut() {
            challenge.status = VerificationStatus::Verified;
            challenge.state = None;
            challenge.attempts += 1;
        }
        self
    }
}

/// Everything a verified reverification writes at once: the challenge spent, the passkey's
/// counter (compare-and-swap), the session's first-factor time.
#[derive(Debug, Clone)]
pub struct ReverificationCompletion {
    pub verification_id: String,
    pub session_id: String,
    /// The request options of the verified challenge: only that challenge is spent.
    pub challenge_options: String,
    pub passkey_id: String,
    pub previous_sign_count: u32,
    pub updated_credential: Credential,
    pub now: Millis,
}

/// Usernames are identifiers people type: 3–64 ASCII letters, digits, `_`, `-`, `.`.
pub fn username_is_valid(username: &str) -> bool {
    let len = username.chars().count();
    (3..=64).contains(&len)
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The one spelling of a username: usernames are case-insensitive (`Alice`, `alice` and
/// `ALICE` are one account), so they are stored and looked up in lower case, as Clerk does.
/// Valid usernames are ASCII ([`username_is_valid`]), so lower case is unambiguous.
pub fn canonical_username(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Passkey names are shown in lists and screen readers: bounded, printable, trimmed, and
/// without the invisible characters that make one name look like another or reorder the text
/// around it (bidirectional overrides and isolates, zero-width characters).
pub fn normalize_passkey_name(name: &str) -> Option<String> {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 100 || trimmed.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return None;
    }
    Some(trimmed.to_string())
}

/// Bidi controls (LRM, RLM, ALM, embeddings, overrides, isolates), zero-width characters,
/// the word joiner and invisible operators, and the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_touch_writes_only_to_switch_sessions_or_to_record_older_activity() {
        let session = super::Session {
            id: "sess_a".into(),
            client_id: "client_a".into(),
            user_id: "user_a".into(),
            status: super::SessionStatus::Active,
            tasks: Vec::new(),
            created_at: 1_000,
            updated_at: 1_000,
            last_active_at: 1_000,
            expire_at: 1_000_000,
            first_factor_verified_at: 1_000,
            idle_timeout: None,
            made_with: super::SessionSource::SignUp,
        };
        let resolution = super::ACTIVITY_RESOLUTION;
        assert!(!session.touch_changes_anything(Some("sess_a"), 1_000));
        assert!(!session.touch_changes_anything(Some("sess_a"), 1_000 + resolution - 1));
        assert!(session.touch_changes_anything(Some("sess_a"), 1_000 + resolution));
        assert!(session.touch_changes_anything(Some("sess_b"), 1_000));
        assert!(session.touch_changes_anything(None, 1_000));
    }

    use super::*;

    fn authentication_state() -> AuthenticationState {
        // An identifier-less challenge, as the relying party issues it: its state is opaque
        // data here.
        let rp = crate::ceremony::RelyingParty::new(
            "localhost",
            "Latch",
            vec![crate::origins::OriginPattern::parse("http://localhost:8080").unwrap()],
            std::time::Duration::from_secs(300),
            crate::ceremony::UvPolicy::Required,
        );
        rp.begin_authentication(Vec::new()).unwrap().1
    }

    fn open_sign_in() -> SignIn {
        let challenge = PasskeyChallenge::issue("{}".into(), authentication_state(), None, 1_000, 300_000);
        SignIn::start("client_a", None, None, Some(challenge), 1_000, 300_000)
    }

    #[test]
    fn a_sign_in_with_a_challenge_needs_its_first_factor_and_is_open_once() {
        let sign_in = open_sign_in();
        assert_eq!(sign_in.status, SignInStatus::NeedsFirstFactor);
        assert!(sign_in.open_challenge().is_some());
        assert!(sign_in.abandon_at >= 1_000 + 24 * 3600 * 1000, "kept a day at least");
        let done = sign_in.complete("user_a", "sess_a", 2_000);
        assert_eq!(done.status, SignInStatus::Complete);
        assert_eq!(done.created_session_id.as_deref(), Some("sess_a"));
        assert!(done.open_challenge().is_none(), "a completed sign-in's challenge is spent");
        assert!(done.fail(VerificationStatus::Failed, "verification_failed", 3_000).is_none());
        assert!(done.clone().with_new_challenge(open_sign_in().challenge.unwrap(), 3_000).is_none());
    }

    #[test]
    fn an_answered_challenge_is_no_longer_open() {
        let mut sign_in = open_sign_in();
        assert!(sign_in.fail(VerificationStatus::Failed, "verification_failed", 2_000).is_some());
        if let Some(c) = sign_in.challenge.as_mut() {
            c.attempts = 1;
        }
        assert!(sign_in.open_challenge().is_none());
        assert!(sign_in.fail(VerificationStatus::Failed, "verification_failed", 2_000).is_none());
        let renewed = sign_in.with_new_challenge(open_sign_in().challenge.unwrap(), 3_000).unwrap();
        assert!(renewed.open_challenge().is_some(), "prepare_first_factor opens a new challenge");
    }

    #[test]
    fn a_sign_in_without_identifier_or_challenge_needs_an_identifier() {
        let sign_in = SignIn::start("client_a", None, None, None, 1_000, 300_000);
        assert_eq!(sign_in.status, SignInStatus::NeedsIdentifier);
        assert!(sign_in.open_challenge().is_none());
    }

    #[test]
    fn a_session_is_pending_while_the_policy_names_tasks() {
        let tasks = vec!["choose-organization".to_string()];
        let pending = Session::start(&SessionPolicy { tasks: &tasks, ttl: 60_000, idle_timeout: None }, "client_a", "user_a", SessionSource::SignUp, 1_000);
        assert_eq!(pending.status, SessionStatus::Pending);
        assert_eq!(pending.expire_at, 61_000);
        let active = Session::start(&SessionPolicy { tasks: &[], ttl: 60_000, idle_timeout: None }, "client_a", "user_a", SessionSource::SignUp, 1_000);
        assert_eq!(active.status, SessionStatus::Active);
        assert!(active.id.starts_with("sess_") && active.id != pending.id);
    }

    #[test]
    fn usernames_are_bounded_and_plain() {
        assert!(username_is_valid("alice"));
        assert!(username_is_valid("a.b-c_9"));
        assert!(!username_is_valid("al"));
        assert!(!username_is_valid("alice smith"));
        assert!(!username_is_valid(&"x".repeat(65)));
        assert!(!username_is_valid("ålice"));
    }

    #[test]
    fn passkey_names_are_trimmed_and_bounded() {
        assert_eq!(normalize_passkey_name("  Work laptop "), Some("Work laptop".into()));
        assert_eq!(normalize_passkey_name("   "), None);
        assert_eq!(normalize_passkey_name("a\u{0}b"), None);
        assert_eq!(normalize_passkey_name(&"n".repeat(101)), None);
        assert!(normalize_passkey_name("Clé de Zoë 🔑").is_some());
    }

    #[test]
    fn a_session_past_its_expiry_is_expired() {
        let s = Session {
            id: "sess_x".into(),
            client_id: "client_x".into(),
            user_id: "user_x".into(),
            status: SessionStatus::Active,
            tasks: vec![],
            created_at: 0,
            updated_at: 0,
            last_active_at: 0,
            expire_at: 100,
            first_factor_verified_at: 0,
            idle_timeout: None,
            made_with: SessionSource::SignUp,
        };
        assert!(s.is_live(99));
        assert_eq!(s.status_at(100), SessionStatus::Expired);
        assert!(!s.is_live(100));
    }

    fn session_used_at(last_active_at: Millis, idle_timeout: Option<Millis>) -> Session {
        let policy = SessionPolicy { tasks: &[], ttl: 7 * 86_400_000, idle_timeout };
        let mut s = Session::start(&policy, "client_x", "user_x", SessionSource::Passkey { passkey_id: "pkey_x".into(), attachment: None }, 0);
        s.last_active_at = last_active_at;
        s
    }

    #[test]
    fn a_session_unused_for_its_idle_timeout_is_expired() {
        let s = session_used_at(50_000, Some(60_000));
        assert!(s.is_live(109_999));
        assert_eq!(s.status_at(110_000), SessionStatus::Expired);
        assert!(session_used_at(50_000, None).is_live(10_000_000), "no idle timeout: only the lifetime counts");
    }

    #[test]
    fn a_token_request_records_use_only_with_an_idle_timeout_and_coarsely() {
        let hour = 3_600_000;
        let s = session_used_at(0, Some(24 * hour));
        assert!(!s.token_records_activity(5 * 60_000 - 1), "five minutes at most between records");
        assert!(s.token_records_activity(5 * 60_000));
        let short = session_used_at(0, Some(2_000));
        assert!(short.token_records_activity(100), "a twentieth of a short timeout");
        assert!(!session_used_at(0, None).token_records_activity(hour));
        assert!(short.touch_changes_anything(Some("x"), 0) && short.touch_changes_anything(Some(short.id.as_str()), 100));
    }

    #[test]
    fn factor_verification_age_counts_whole_minutes_since_the_first_factor() {
        let mut s = session_used_at(0, None);
        s.first_factor_verified_at = 1_000;
        assert_eq!(s.factor_verification_age(1_000 + 59_999), [0, -1]);
        assert_eq!(s.factor_verification_age(1_000 + 11 * 60_000), [11, -1]);
        assert!(s.first_factor_is_fresh(1_000 + 599_999, 600_000));
        assert!(!s.first_factor_is_fresh(1_000 + 600_000, 600_000));
    }

    #[test]
    fn passkey_names_refuse_bidi_and_zero_width_characters() {
        for sneaky in ["\u{202E}yek", "my\u{200B}key", "a\u{2066}b\u{2069}", "\u{FEFF}key", "a\u{200F}b"] {
            assert_eq!(super::normalize_passkey_name(sneaky), None, "{sneaky:?}");
        }
        assert_eq!(super::normalize_passkey_name("  Clé de Zoë 🔑 ").as_deref(), Some("Clé de Zoë 🔑"));
    }
}
