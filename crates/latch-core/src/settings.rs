//! Instance settings: what an operator decides about their Latch.

use std::time::Duration;

use url::Url;

use crate::ceremony::{RelyingParty, UvPolicy};
use crate::native_apps::NativeApps;
use crate::origins::{self, OriginPattern};

#[derive(Debug, Clone)]
pub struct InstanceSettings {
    pub application_name: String,
    /// The WebAuthn RP ID: the registrable domain passkeys are bound to.
    pub rp_id: String,
    /// Origins on the RP ID (or its subdomains; `https://*.example.com` for all of them)
    /// allowed to run ceremonies; exact ones may also call Latch with credentials (CORS,
    /// CSRF), wildcards only from pages Latch serves itself (`origins.rs`).
    pub origins: Vec<OriginPattern>,
    /// Patterns that may call Latch with credentials from another origin although they are
    /// wildcards (`--credentialed-origin`); they run ceremonies too.
    pub credentialed_origins: Vec<OriginPattern>,
    /// Origins on other domains that may use this RP ID through Related Origin Requests;
    /// listed at `/.well-known/webauthn`.
    pub related_origins: Vec<OriginPattern>,
    /// iOS and Android apps whose passkeys may sign in: their WebAuthn origins join the
    /// ceremonies' (never CORS's), and the association files list them.
    pub native_apps: NativeApps,
    pub passkeys_enabled: bool,
    pub allow_autofill: bool,
    pub show_sign_in_button: bool,
    pub max_passkeys_per_user: u32,
    pub user_verification: UvPolicy,
    /// How long a begun ceremony (registration or sign-in) may take.
    pub challenge_ttl: Duration,
    pub session_ttl: Duration,
    /// Lifetime of a session JWT. FAPI clients refresh 17 s before expiry, so keep ≥ 60 s.
    pub token_ttl: Duration,
    /// Tasks a new session must complete (it is `pending` until then), e.g. `choose-organization`.
    pub session_tasks: Vec<String>,
    /// Development instance: localhost over http, the try-it page at `/`.
    pub dev_mode: bool,
    /// The hosted account portal at `/portal/…` (sign-in, sign-up, account).
    pub portal: bool,
    /// The admin console at `/console` (docs/protocol.md §17), and with it operators' session
    /// tokens on the Backend API. Off unless asked for.
    pub console: bool,
    pub rate_limits: RateLimits,
    /// Believe the proxy's `X-Forwarded-For` (the client IP) and `X-Forwarded-Proto` (https,
    /// for the cookie's `Secure`): only behind a proxy you run.
    pub trust_forwarded_for: bool,
    /// The `Domain` of the `__client_uat` cookies, so the app's host receives them; None: the
    /// RP ID ([`InstanceSettings::cookie_domain`]).
    pub cookie_domain: Option<String>,
    /// Reverification (docs/protocol.md §16): adding or deleting a passkey needs a first
    /// factor verified this recently (sign-up, sign-in, or a fresh passkey assertion).
    pub reverification_max_age: Duration,
    /// A session not used (touched, or asked for a token) for this long ends; None: never.
    /// Applies to sessions started while it is set.
    pub session_idle_timeout: Option<Duration>,
    /// The authenticator models (AAGUIDs) a new passkey may come from; empty: any
    /// (docs/protocol.md §22.3). With attestation `none` the AAGUID is the authenticator's
    /// own claim: this keeps honest authenticators out, not a forger.
    pub allowed_aaguids: Vec<uuid::Uuid>,
    /// Which of their own passkeys a user may not delete (docs/protocol.md §21).
    pub protect_last_passkey: crate::lockout::LastPasskeyProtection,
}

/// Request budgets; 0 turns a limit off. Counted in the database, so shared by every node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Sign-in creations and attempts per client IP per minute.
    pub per_ip_per_minute: u32,
    /// Sign-in creations and attempts per client (browser) per minute.
    pub per_client_per_minute: u32,
    /// Passkey creations begun per user per hour.
    pub passkey_creations_per_user_per_hour: u32,
    /// Sign-ups per client IP (an IPv6 /64) per hour: a budget of its own, far below the
    /// sign-in one, since each sign-up stores a user for good.
    pub sign_ups_per_ip_per_hour: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_ip_per_minute: 600,
            per_client_per_minute: 120,
            passkey_creations_per_user_per_hour: 60,
            sign_ups_per_ip_per_hour: 60,
        }
    }
}

impl InstanceSettings {
    /// Development defaults for a Latch listening on `port` of localhost.
    pub fn dev(port: u16) -> Self {
        let origin = Url::parse(&format!("http://localhost:{port}")).expect("a localhost URL parses");
        let origin = OriginPattern::Exact(origin);
        InstanceSettings {
            application_name: "Latch".into(),
            rp_id: "localhost".into(),
            origins: vec![origin],
            credentialed_origins: Vec::new(),
            related_origins: Vec::new(),
            native_apps: NativeApps::default(),
            passkeys_enabled: true,
            allow_autofill: true,
            show_sign_in_button: true,
            max_passkeys_per_user: 10,
            user_verification: UvPolicy::Required,
            challenge_ttl: Duration::from_secs(5 * 60),
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            token_ttl: Duration::from_secs(60),
            session_tasks: Vec::new(),
            dev_mode: true,
            portal: true,
            console: false,
            rate_limits: RateLimits::default(),
            trust_forwarded_for: false,
            cookie_domain: None,
            reverification_max_age: Duration::from_secs(10 * 60),
            session_idle_timeout: Some(Duration::from_secs(3 * 24 * 3600)),
            allowed_aaguids: Vec::new(),
            protect_last_passkey: crate::lockout::LastPasskeyProtection::Off,
        }
    }

    /// Every page that may call Latch is on https (always so in production, where origins
    /// must be https): the client cookie is then `Secure`, and `__Host-` prefixed, on every
    /// answer, whatever a request says. A development instance with an http origin decides
    /// per request instead.
    pub fn cookies_always_secure(&self) -> bool {
        !self.dev_mode || self.origins.iter().chain(&self.credentialed_origins).all(|o| o.scheme() == "https")
    }

    /// The domain the `__client_uat` cookies are scoped to: the operator's choice, else the
    /// RP ID (Latch and the apps it serves share it). A cookie gets `Domain` only on a host
    /// inside it (`latch_server`'s cookies module); elsewhere it stays host-only.
    pub fn cookie_domain(&self) -> &str {
        self.cookie_domain.as_deref().unwrap_or(&self.rp_id)
    }

    /// Whether a new passkey from this authenticator model may be registered: any, unless an
    /// allow-list is set; then only a listed AAGUID (a passkey with none, or the all-zero
    /// one, names no model and is refused).
    pub fn authenticator_allowed(&self, aaguid: Option<uuid::Uuid>) -> bool {
        self.allowed_aaguids.is_empty() || aaguid.is_some_and(|a| !a.is_nil() && self.allowed_aaguids.contains(&a))
    }

    /// Refuses settings browsers would reject, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        let all: Vec<OriginPattern> = self.origins.iter().chain(&self.credentialed_origins).cloned().collect();
        origins::validate(&self.rp_id, &all, &self.related_origins, self.dev_mode)?;
        if let Some(domain) = &self.cookie_domain {
            origins::validate_cookie_domain(domain)?;
        }
        Ok(())
    }

    pub fn relying_party(&self) -> RelyingParty {
        RelyingParty::new(
            &self.rp_id,
            &self.application_name,
            self.origins.iter().chain(&self.credentialed_origins).chain(&self.related_origins).cloned().collect(),
            self.challenge_ttl,
            self.user_verification,
        )
        .with_credentialed_origins(self.credentialed_origins.clone())
        .with_native_origins(self.native_apps.webauthn_origins(&self.rp_id))
    }
}
