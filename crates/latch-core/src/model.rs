//! The records Latch keeps. Storage persists them; the server renders them as FAPI JSON.
//! Timestamps are milliseconds since the Unix epoch, as FAPI speaks them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs_core::proto::{AuthenticationState, Credential, RegistrationState};

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
}

impl Session {
    /// The status as of `now`: a live session past its expiry is expired.
    pub fn status_at(&self, now: Millis) -> SessionStatus {
        match self.status {
            SessionStatus::Active | SessionStatus::Pending if now >= self.expire_at => SessionStatus::Expired,
            s => s,
        }
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
        client_active_session != Some(self.id.as_str()) || now - self.last_active_at >= ACTIVITY_RESOLUTION
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

/// Usernames are identifiers people type: 3–64 ASCII letters, digits, `_`, `-`, `.`.
pub fn username_is_valid(username: &str) -> bool {
    let len = username.chars().count();
    (3..=64).contains(&len)
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Passkey names are shown in lists and screen readers: bounded, printable, trimmed.
pub fn normalize_passkey_name(name: &str) -> Option<String> {
    let trimmed = name.trim();
    let len = trimmed.chars().count();
    if len == 0 || len > 100 || trimmed.chars().any(char::is_control) {
        return None;
    }
    Some(trimmed.to_string())
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
        };
        let resolution = super::ACTIVITY_RESOLUTION;
        assert!(!session.touch_changes_anything(Some("sess_a"), 1_000));
        assert!(!session.touch_changes_anything(Some("sess_a"), 1_000 + resolution - 1));
        assert!(session.touch_changes_anything(Some("sess_a"), 1_000 + resolution));
        assert!(session.touch_changes_anything(Some("sess_b"), 1_000));
        assert!(session.touch_changes_anything(None, 1_000));
    }

    use super::*;

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
        };
        assert!(s.is_live(99));
        assert_eq!(s.status_at(100), SessionStatus::Expired);
        assert!(!s.is_live(100));
    }
}
