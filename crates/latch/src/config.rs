//! `latch serve`'s configuration: a TOML file, overridden by `LATCH_*` environment
//! variables, overridden by flags (clap reads both). Every setting has a development
//! default, so `latch serve` alone runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use latch_core::ceremony::UvPolicy;
use latch_core::lockout::LastPasskeyProtection;
use latch_core::settings::InstanceSettings;
use latch_core::native_apps::{AndroidApp, IosApp, NativeApps};
use latch_core::origins::OriginPattern;
use latch_server::SigningAlgorithm;
use serde::Deserialize;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below (flags and LATCH_* variables win).
    #[arg(long, env = "LATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "LATCH_PORT")]
    pub port: Option<u16>,
    /// Address to bind.
    #[arg(long, env = "LATCH_BIND")]
    pub bind: Option<String>,
    /// Folder for the embedded SQLite database.
    #[arg(long, env = "LATCH_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://…`; default: SQLite in the data folder.
    #[arg(long, env = "LATCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The WebAuthn RP ID (registrable domain).
    #[arg(long, env = "LATCH_RP_ID")]
    pub rp_id: Option<String>,
    /// An origin allowed to use Latch (repeat, or comma-separate in LATCH_ORIGINS).
    #[arg(long = "origin", env = "LATCH_ORIGINS", value_delimiter = ',')]
    pub origins: Vec<String>,
    /// An origin on another domain allowed to use the RP ID (WebAuthn Related Origin
    /// Requests; repeat, or comma-separate in LATCH_RELATED_ORIGINS).
    #[arg(long = "related-origin", env = "LATCH_RELATED_ORIGINS", value_delimiter = ',')]
    pub related_origins: Vec<String>,
    /// An iOS app whose passkeys may sign in, as `<team id>.<bundle id>` (repeat, or
    /// comma-separate in LATCH_IOS_APPS). Served in /.well-known/apple-app-site-association.
    #[arg(long = "ios-app", env = "LATCH_IOS_APPS", value_delimiter = ',')]
    pub ios_apps: Vec<String>,
    /// An Android app whose passkeys may sign in, as `<package name>=<SHA-256 signing-cert
    /// fingerprint AA:BB:…>` (repeat per fingerprint, or comma-separate in LATCH_ANDROID_APPS).
    /// Served in /.well-known/assetlinks.json.
    #[arg(long = "android-app", env = "LATCH_ANDROID_APPS", value_delimiter = ',')]
    pub android_apps: Vec<String>,
    /// Latch's own public URL, the `iss` of session tokens (required, https, with
    /// --production; `http://localhost:PORT` in development).
    #[arg(long, env = "LATCH_ISSUER")]
    pub issuer: Option<String>,
    /// Application name shown to users.
    #[arg(long, env = "LATCH_APPLICATION_NAME")]
    pub application_name: Option<String>,
    /// required | preferred | discouraged
    #[arg(long, env = "LATCH_USER_VERIFICATION", value_parser = parse_uv)]
    pub user_verification: Option<UvPolicy>,
    #[arg(long, env = "LATCH_MAX_PASSKEYS_PER_USER")]
    pub max_passkeys_per_user: Option<u32>,
    /// Seconds a begun ceremony may take.
    #[arg(long, env = "LATCH_CHALLENGE_TTL_SECS")]
    pub challenge_ttl_secs: Option<u64>,
    #[arg(long, env = "LATCH_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    #[arg(long, env = "LATCH_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    /// Session-token signature: RS256 (default; what Clerk's server SDKs accept) or EdDSA.
    #[arg(long, env = "LATCH_TOKEN_ALGORITHM", value_parser = parse_token_algorithm)]
    pub token_algorithm: Option<SigningAlgorithm>,
    /// A task every new session must complete (it stays `pending`), e.g. choose-organization.
    #[arg(long = "session-task", env = "LATCH_SESSION_TASKS", value_delimiter = ',')]
    pub session_tasks: Vec<String>,
    /// Production mode: no dev page, https origins only.
    #[arg(long, env = "LATCH_PRODUCTION")]
    pub production: bool,
    /// Serve the account portal at /portal/sign-in, /portal/sign-up, /portal/account
    /// (default: on in development, off with --production; `--portal=false` turns it off).
    #[arg(long, env = "LATCH_PORTAL", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub portal: Option<bool>,
    /// Sign-in creations and attempts allowed per client IP per minute (0: no limit).
    #[arg(long, env = "LATCH_RATE_LIMIT_IP_PER_MINUTE")]
    pub rate_limit_ip_per_minute: Option<u32>,
    /// Sign-in creations and attempts allowed per client per minute (0: no limit).
    #[arg(long, env = "LATCH_RATE_LIMIT_CLIENT_PER_MINUTE")]
    pub rate_limit_client_per_minute: Option<u32>,
    /// Passkey creations allowed per user per hour (0: no limit).
    #[arg(long, env = "LATCH_RATE_LIMIT_PASSKEYS_PER_HOUR")]
    pub rate_limit_passkeys_per_hour: Option<u32>,
    /// Sign-ups allowed per client IP (IPv6: per /64) per hour (0: no limit).
    #[arg(long, env = "LATCH_RATE_LIMIT_SIGN_UPS_PER_HOUR")]
    pub rate_limit_sign_ups_per_hour: Option<u32>,
    /// Connections served at once; more wait in the kernel's backlog.
    #[arg(long, env = "LATCH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Days the audit trail is kept (0: forever).
    #[arg(long, env = "LATCH_AUDIT_RETENTION_DAYS")]
    pub audit_retention_days: Option<u64>,
    /// Seconds a connection may stay without a request in flight (from its first byte's
    /// absence or its last answer) before it is closed, freeing its slot.
    #[arg(long, env = "LATCH_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Take the client IP from X-Forwarded-For, and https from X-Forwarded-Proto (only
    /// behind your own proxy).
    #[arg(long, env = "LATCH_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// The Domain of the __client_uat cookies, so the app's host receives them (default: the
    /// RP ID; applied only on hosts inside it).
    #[arg(long, env = "LATCH_COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// Seconds between two runs of the background purge of finished records (default 60).
    #[arg(long, env = "LATCH_PURGE_INTERVAL_SECS")]
    pub purge_interval_secs: Option<u64>,
    /// For soak tests only: keep finished records, dead clients and audit lines this many
    /// seconds instead of the day-scale defaults (a day, 30 days, --audit-retention-days),
    /// so that a run of minutes shows the database levelling off (scripts/soak.sh).
    #[arg(long, env = "LATCH_SOAK_RETENTION_SECS")]
    pub soak_retention_secs: Option<u64>,
    /// An origin pattern that may also call Latch with credentials from another origin (CORS
    /// reads of tokens, writes past the CSRF check) although it is a wildcard, e.g.
    /// `https://*.example.com` when every subdomain is yours (repeat, or comma-separate in
    /// LATCH_CREDENTIALED_ORIGINS). It may run ceremonies too. Exact `--origin`s need not be
    /// repeated here: they already may.
    #[arg(long = "credentialed-origin", env = "LATCH_CREDENTIALED_ORIGINS", value_delimiter = ',')]
    pub credentialed_origins: Vec<String>,
    // Reverification and session lifetime (docs/protocol.md §16).
    /// Seconds a first-factor verification (sign-up, sign-in, reverification) stays fresh
    /// enough to add or delete a passkey (default 600).
    #[arg(long, env = "LATCH_REVERIFICATION_MAX_AGE_SECS")]
    pub reverification_max_age_secs: Option<u64>,
    /// Seconds a session may go unused (no touch, no token request) before it ends; 0: no
    /// idle timeout (default 259200, three days). Applies to sessions started afterwards.
    #[arg(long, env = "LATCH_SESSION_IDLE_TIMEOUT_SECS")]
    pub session_idle_timeout_secs: Option<u64>,

    // Webhook delivery (`latch webhooks` manages endpoints; docs/protocol.md §15).
    /// Milliseconds between the webhook dispatcher's looks for due deliveries.
    #[arg(long, env = "LATCH_WEBHOOK_POLL_MS", default_value_t = 1000)]
    pub webhook_poll_ms: u64,
    /// Seconds one webhook POST may take.
    #[arg(long, env = "LATCH_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    pub webhook_timeout_secs: u64,
    /// What one second of the retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h)
    /// lasts, in ms: 1000 in earnest; tests shrink it.
    #[arg(long, env = "LATCH_WEBHOOK_RETRY_UNIT_MS", default_value_t = 1000)]
    pub webhook_retry_unit_ms: u64,

    // The admin console (docs/protocol.md §17; `latch operators` grants the role).
    /// Serve the admin console at /console, and let operators' session tokens (minted on
    /// Latch's own origin) call the Backend API. Off by default; needs the portal's sign-in,
    /// so it turns the portal on unless `--portal=false` says otherwise (an error).
    #[arg(long, env = "LATCH_CONSOLE")]
    pub console: bool,
    // The database connection pool.
    /// Connections this node opens to PostgreSQL at most (default: eight per core of this
    /// machine, at least 8 and at most 64; BENCHMARKS.md "Session 6"); at least 1. SQLite
    /// always uses one.
    #[arg(long, env = "LATCH_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<usize>,
    // Operations (docs/protocol.md §19; README "Operating").
    /// Serve /metrics, /healthz and /readyz on this address too, e.g. 127.0.0.1:9090: a
    /// listener for the operator's network only. Turns metrics on.
    #[arg(long, env = "LATCH_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// Serve /metrics on the main listener as well (default: on in development, off with
    /// --production, where /metrics would be public; `--metrics-on-main=false` turns it off).
    #[arg(long, env = "LATCH_METRICS_ON_MAIN", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_on_main: Option<bool>,
    /// Seconds requests in flight may take to finish after SIGTERM or ctrl-c before Latch
    /// exits anyway (default 30).
    #[arg(long, env = "LATCH_DRAIN_TIMEOUT_SECS")]
    pub drain_timeout_secs: Option<u64>,
    // Authenticator metadata (docs/protocol.md §22; README "Operating").
    /// A JSON file of authenticator names and icons by AAGUID, in the shape of the built-in
    /// crates/latch-core/data/authenticator-icons.json; its entries replace or extend the
    /// built-in ones. Checked at start; read again only at the next start.
    #[arg(long, env = "LATCH_AUTHENTICATOR_METADATA")]
    pub authenticator_metadata: Option<PathBuf>,
    /// Only passkeys from these authenticator models (AAGUIDs, comma-separated) may be
    /// registered; default: any. With attestation "none" the AAGUID is self-reported.
    #[arg(long = "allowed-aaguids", env = "LATCH_ALLOWED_AAGUIDS", value_delimiter = ',')]
    pub allowed_aaguids: Vec<String>,
    /// The same allow-list from a file: one AAGUID a line, `#` comments. Adds to
    /// --allowed-aaguids.
    #[arg(long, env = "LATCH_ALLOWED_AAGUIDS_FILE")]
    pub allowed_aaguids_file: Option<PathBuf>,
    // Lockout prevention (docs/protocol.md §21).
    /// Which of their own passkeys a user may not delete: off (Clerk's behaviour, the
    /// default), last (their only passkey), last-synced (nor their last synced one). An
    /// operator's delete (Backend API, console) is always allowed, and audited.
    #[arg(long, env = "LATCH_PROTECT_LAST_PASSKEY", value_parser = LastPasskeyProtection::parse)]
    pub protect_last_passkey: Option<LastPasskeyProtection>,
}

fn parse_token_algorithm(s: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(s).ok_or_else(|| format!("{s:?} is not one of RS256, EdDSA"))
}

fn parse_uv(s: &str) -> Result<UvPolicy, String> {
    match s {
        "required" => Ok(UvPolicy::Required),
        "preferred" => Ok(UvPolicy::Preferred),
        "discouraged" => Ok(UvPolicy::Discouraged),
        other => Err(format!("{other:?} is not one of required, preferred, discouraged")),
    }
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub port: Option<u16>,
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub rp_id: Option<String>,
    #[serde(default)]
    pub origins: Vec<String>,
    #[serde(default)]
    pub related_origins: Vec<String>,
    pub issuer: Option<String>,
    pub application_name: Option<String>,
    pub user_verification: Option<UvPolicy>,
    pub max_passkeys_per_user: Option<u32>,
    pub challenge_ttl_secs: Option<u64>,
    pub session_ttl_secs: Option<u64>,
    pub token_ttl_secs: Option<u64>,
    pub token_algorithm: Option<String>,
    #[serde(default)]
    pub session_tasks: Vec<String>,
    pub production: Option<bool>,
    pub portal: Option<bool>,
    pub rate_limit_ip_per_minute: Option<u32>,
    pub rate_limit_client_per_minute: Option<u32>,
    pub rate_limit_passkeys_per_hour: Option<u32>,
    pub rate_limit_sign_ups_per_hour: Option<u32>,
    pub trust_forwarded_for: Option<bool>,
    pub cookie_domain: Option<String>,
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
    pub audit_retention_days: Option<u64>,
    pub purge_interval_secs: Option<u64>,
    pub soak_retention_secs: Option<u64>,
    #[serde(default)]
    pub credentialed_origins: Vec<String>,
    pub allow_autofill: Option<bool>,
    pub show_sign_in_button: Option<bool>,
    pub passkeys_enabled: Option<bool>,
    pub reverification_max_age_secs: Option<u64>,
    pub session_idle_timeout_secs: Option<u64>,
    #[serde(default)]
    pub native: NativeFileConfig,
    pub console: Option<bool>,
    pub database_pool_size: Option<usize>,
    pub metrics_listen: Option<String>,
    pub metrics_on_main: Option<bool>,
    pub drain_timeout_secs: Option<u64>,
    pub authenticator_metadata: Option<PathBuf>,
    #[serde(default)]
    pub allowed_aaguids: Vec<String>,
    pub allowed_aaguids_file: Option<PathBuf>,
    pub protect_last_passkey: Option<LastPasskeyProtection>,
}

/// `[native]` in the TOML file:
///
/// ```toml
/// [native]
/// ios = [{ team_id = "ABCDE12345", bundle_id = "com.example.app" }]
/// android = [{ package_name = "com.example.app", sha256_fingerprints = ["AA:BB:…"] }]
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeFileConfig {
    #[serde(default)]
    pub ios: Vec<IosFileApp>,
    #[serde(default)]
    pub android: Vec<AndroidFileApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IosFileApp {
    pub team_id: String,
    pub bundle_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidFileApp {
    pub package_name: String,
    pub sha256_fingerprints: Vec<String>,
}

/// Everything `latch serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub bind: String,
    pub port: u16,
    pub database_url: String,
    pub settings_for_port: SettingsTemplate,
    pub issuer: Option<String>,
    pub max_connections: usize,
    pub token_algorithm: SigningAlgorithm,
    pub idle_timeout: Duration,
    pub purge: latch_store::PurgePolicy,
    pub purge_interval: Duration,
    pub webhooks: latch_server::webhooks::DispatchConfig,
    /// PostgreSQL connections at most; None: the store's default for this machine.
    pub database_pool_size: Option<usize>,
    pub operations: Operations,
    /// The operator's authenticator names and icons (`--authenticator-metadata`), checked.
    pub authenticator_metadata: Option<Arc<latch_core::aaguid::OperatorMetadata>>,
}

/// Where the operations endpoints are served and how Latch stops (docs/protocol.md §19).
#[derive(Debug, Clone)]
pub struct Operations {
    /// The separate operations listener (/metrics, /healthz, /readyz), if any.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Whether the main listener serves /metrics too.
    pub metrics_on_main: bool,
    /// How long requests in flight may take to finish once shutdown begins.
    pub drain_timeout: Duration,
}

impl Operations {
    /// Metrics are recorded only when some listener serves them: otherwise the `metrics`
    /// facade stays a no-op.
    pub fn metrics_on(&self) -> bool {
        self.metrics_listen.is_some() || self.metrics_on_main
    }

    /// Where the metrics are, for the log line at start: nothing an operator asked for is
    /// left out without saying so.
    pub fn describe_metrics(&self, production: bool) -> String {
        match (self.metrics_listen, self.metrics_on_main) {
            (Some(addr), true) => format!("/metrics on http://{addr} and on the main listener"),
            (Some(addr), false) => format!("/metrics on http://{addr} (with /healthz and /readyz)"),
            (None, true) if production => {
                "/metrics on the main listener (--metrics-on-main): hide it from the public at your proxy".into()
            }
            (None, true) => "/metrics on the main listener (development default)".into(),
            (None, false) if production => {
                "metrics are off: with --production, /metrics is served only with --metrics-listen ADDR or --metrics-on-main".into()
            }
            (None, false) => "metrics are off (--metrics-on-main=false and no --metrics-listen)".into(),
        }
    }
}

/// Settings whose origins may depend on the port actually bound (with `--port 0`).
#[derive(Debug, Clone)]
pub struct SettingsTemplate {
    pub settings: InstanceSettings,
    pub origins_given: bool,
}

impl Resolved {
    /// The `iss` of session tokens. Production needs the operator's public https URL: a
    /// default of `http://localhost:PORT` would let tokens claim an issuer backends should
    /// never trust.
    pub fn issuer_for(&self, settings: &InstanceSettings, port: u16) -> anyhow::Result<String> {
        let production = !settings.dev_mode;
        match &self.issuer {
            Some(issuer) if production && !issuer.starts_with("https://") => {
                bail!("invalid configuration: issuer {issuer:?} must be an https URL in production")
            }
            Some(issuer) => Ok(issuer.clone()),
            None if production => bail!(
                "invalid configuration: --issuer is required with --production: Latch's public https URL, \
                 the `iss` backends check in session tokens"
            ),
            None => Ok(format!("http://localhost:{port}")),
        }
        .and_then(|issuer| console_served_on_an_allowed_origin(settings, issuer))
    }
}

/// The admin console runs on Latch's own origin (the issuer's), where operators sign in and
/// mint the tokens the Backend API accepts from them (their `azp`): that origin must be one
/// the instance allows, or no operator could sign in.
fn console_served_on_an_allowed_origin(settings: &InstanceSettings, issuer: String) -> anyhow::Result<String> {
    if settings.console {
        let origin = url::Url::parse(&issuer).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        if !settings.relying_party().is_allowed_origin(&origin) {
            bail!(
                "invalid configuration: --console is served on the issuer's origin {origin:?}, which must be one of the \
                 allowed --origin values"
            );
        }
    }
    Ok(issuer)
}

impl SettingsTemplate {
    /// The settings for the port actually bound, validated as browsers will judge them.
    pub fn for_port(&self, port: u16) -> anyhow::Result<InstanceSettings> {
        let mut s = self.settings.clone();
        if !self.origins_given {
            s.origins = InstanceSettings::dev(port).origins;
        }
        s.validate().map_err(|why| anyhow::anyhow!("invalid configuration: {why}"))?;
        Ok(s)
    }
}

impl ServeArgs {
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let purge = self.purge_policy(&file);
        let operations = self.operations(&file, self.production || file.production.unwrap_or(false))?;
        let port = self.port.or(file.port).unwrap_or(8080);
        let data_dir = self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(".latch"));
        let database_url = match self.database_url.clone().or(file.database_url) {
            Some(url) => url,
            None => format!("sqlite://{}", data_dir.join("latch.db").display()),
        };
        let production = self.production || file.production.unwrap_or(false);
        let mut settings = InstanceSettings::dev(port);
        settings.dev_mode = !production;
        settings.portal = self.portal.or(file.portal).unwrap_or(!production);
        settings.console = self.console || file.console.unwrap_or(false);
        if settings.console {
            // Operators sign in through the portal's sign-in page.
            if self.portal.or(file.portal) == Some(false) {
                bail!("invalid configuration: --console needs the portal's sign-in page; drop --portal=false");
            }
            settings.portal = true;
        }
        if let Some(v) = self.rp_id.clone().or(file.rp_id) {
            settings.rp_id = v;
        }
        let origins = if self.origins.is_empty() { file.origins } else { self.origins.clone() };
        let credentialed =
            if self.credentialed_origins.is_empty() { file.credentialed_origins.clone() } else { self.credentialed_origins.clone() };
        settings.credentialed_origins = parse_origins(&credentialed)?;
        let origins_given = !origins.is_empty() || !settings.credentialed_origins.is_empty();
        if !origins.is_empty() {
            settings.origins = parse_origins(&origins)?;
        } else if origins_given {
            settings.origins = Vec::new();
        }
        let related = if self.related_origins.is_empty() { file.related_origins } else { self.related_origins.clone() };
        settings.related_origins = parse_origins(&related)?;
        settings.native_apps = self.native_apps(&file.native)?;
        if let Some(v) = self.application_name.clone().or(file.application_name) {
            settings.application_name = v;
        }
        if let Some(v) = self.user_verification.or(file.user_verification) {
            settings.user_verification = v;
        }
        if let Some(v) = self.max_passkeys_per_user.or(file.max_passkeys_per_user) {
            settings.max_passkeys_per_user = v;
        }
        if let Some(v) = self.challenge_ttl_secs.or(file.challenge_ttl_secs) {
            settings.challenge_ttl = Duration::from_secs(v);
        }
        if let Some(v) = self.session_ttl_secs.or(file.session_ttl_secs) {
            settings.session_ttl = Duration::from_secs(v);
        }
        if let Some(v) = self.token_ttl_secs.or(file.token_ttl_secs) {
            settings.token_ttl = Duration::from_secs(v);
        }
        let tasks = if self.session_tasks.is_empty() { file.session_tasks } else { self.session_tasks.clone() };
        settings.session_tasks = tasks.into_iter().filter(|t| !t.trim().is_empty()).collect();
        if let Some(v) = file.allow_autofill {
            settings.allow_autofill = v;
        }
        if let Some(v) = file.show_sign_in_button {
            settings.show_sign_in_button = v;
        }
        if let Some(v) = file.passkeys_enabled {
            settings.passkeys_enabled = v;
        }
        if let Some(v) = self.rate_limit_ip_per_minute.or(file.rate_limit_ip_per_minute) {
            settings.rate_limits.per_ip_per_minute = v;
        }
        if let Some(v) = self.rate_limit_client_per_minute.or(file.rate_limit_client_per_minute) {
            settings.rate_limits.per_client_per_minute = v;
        }
        if let Some(v) = self.rate_limit_passkeys_per_hour.or(file.rate_limit_passkeys_per_hour) {
            settings.rate_limits.passkey_creations_per_user_per_hour = v;
        }
        if let Some(v) = self.rate_limit_sign_ups_per_hour.or(file.rate_limit_sign_ups_per_hour) {
            settings.rate_limits.sign_ups_per_ip_per_hour = v;
        }
        settings.trust_forwarded_for = self.trust_forwarded_for || file.trust_forwarded_for.unwrap_or(false);
        settings.allowed_aaguids = self.allowed_aaguids(&file.allowed_aaguids, file.allowed_aaguids_file.as_deref())?;
        settings.cookie_domain = self.cookie_domain.clone().or(file.cookie_domain).filter(|d| !d.trim().is_empty());
        if let Some(v) = self.reverification_max_age_secs.or(file.reverification_max_age_secs) {
            if v == 0 {
                bail!("reverification_max_age_secs must be at least 1");
            }
            settings.reverification_max_age = Duration::from_secs(v);
        }
        if let Some(v) = self.session_idle_timeout_secs.or(file.session_idle_timeout_secs) {
            settings.session_idle_timeout = (v > 0).then_some(Duration::from_secs(v));
        }
        if let Some(v) = self.protect_last_passkey.or(file.protect_last_passkey) {
            settings.protect_last_passkey = v;
        }
        if settings.token_ttl < Duration::from_secs(30) {
            bail!("token_ttl_secs must be at least 30: clerk-js refreshes tokens 17 seconds before they expire");
        }
        if settings.max_passkeys_per_user == 0 {
            bail!("max_passkeys_per_user must be at least 1");
        }
        let token_algorithm = match (self.token_algorithm, file.token_algorithm.as_deref()) {
            (Some(alg), _) => alg,
            (None, Some(text)) => parse_token_algorithm(text).map_err(anyhow::Error::msg)?,
            (None, None) => SigningAlgorithm::default(),
        };
        let database_pool_size = self.database_pool_size.or(file.database_pool_size);
        if database_pool_size == Some(0) {
            bail!("database_pool_size must be at least 1");
        }
        let authenticator_metadata = match self.authenticator_metadata.clone().or(file.authenticator_metadata) {
            Some(path) => Some(Arc::new(load_authenticator_metadata(&path)?)),
            None => None,
        };
        Ok(Resolved {
            authenticator_metadata,
            database_pool_size,
            operations,
            bind: self.bind.clone().or(file.bind).unwrap_or_else(|| "127.0.0.1".into()),
            port,
            database_url,
            settings_for_port: SettingsTemplate { settings, origins_given },
            issuer: self.issuer.clone().or(file.issuer),
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(4096),
            token_algorithm,
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.or(file.idle_timeout_secs).unwrap_or(20).max(1)),
            purge,
            purge_interval: Duration::from_secs(self.purge_interval_secs.or(file.purge_interval_secs).unwrap_or(60).max(1)),
            webhooks: latch_server::webhooks::DispatchConfig {
                poll: Duration::from_millis(self.webhook_poll_ms.max(10)),
                timeout: Duration::from_secs(self.webhook_timeout_secs.max(1)),
                retry_unit_ms: i64::try_from(self.webhook_retry_unit_ms.max(1)).unwrap_or(1000),
                production,
                ..latch_server::webhooks::DispatchConfig::default()
            },
        })
    }
}

impl ServeArgs {
    /// The operations settings, checked: a metrics address that is not `HOST:PORT` is refused
    /// at start rather than when the listener would bind.
    fn operations(&self, file: &FileConfig, production: bool) -> anyhow::Result<Operations> {
        let metrics_listen = match self.metrics_listen.clone().or_else(|| file.metrics_listen.clone()) {
            Some(text) if !text.trim().is_empty() => Some(text.trim().parse::<std::net::SocketAddr>().map_err(|_| {
                anyhow::anyhow!("invalid configuration: metrics_listen {text:?} is not an IP address and port, e.g. 127.0.0.1:9090")
            })?),
            _ => None,
        };
        Ok(Operations {
            metrics_listen,
            metrics_on_main: self.metrics_on_main.or(file.metrics_on_main).unwrap_or(!production),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs.or(file.drain_timeout_secs).unwrap_or(30)),
        })
    }

    /// How long finished records stay: the defaults, the audit retention in days, or, for a
    /// soak test, everything in seconds.
    fn purge_policy(&self, file: &FileConfig) -> latch_store::PurgePolicy {
        if let Some(secs) = self.soak_retention_secs.or(file.soak_retention_secs) {
            let ms = i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
            return latch_store::PurgePolicy { finished_grace: ms, dead_client_grace: ms, audit_retention: Some(ms) };
        }
        latch_store::PurgePolicy {
            audit_retention: match self.audit_retention_days.or(file.audit_retention_days).unwrap_or(90) {
                0 => None,
                days => Some(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000).saturating_mul(86_400_000)),
            },
            ..latch_store::PurgePolicy::default()
        }
    }

    /// The native apps: flags (or LATCH_IOS_APPS / LATCH_ANDROID_APPS) replace the file's
    /// `[native]` lists, per platform, as `origins` does.
    fn native_apps(&self, file: &NativeFileConfig) -> anyhow::Result<NativeApps> {
        let mut apps = NativeApps::default();
        let given = |t: &&String| !t.trim().is_empty();
        if self.ios_apps.iter().any(|t| given(&t)) {
            for text in self.ios_apps.iter().filter(given) {
                apps.ios.push(IosApp::parse_app_id(text).map_err(anyhow::Error::msg)?);
            }
        } else {
            for app in &file.ios {
                apps.ios.push(IosApp::new(&app.team_id, &app.bundle_id).map_err(anyhow::Error::msg)?);
            }
        }
        if self.android_apps.iter().any(|t| given(&t)) {
            for text in self.android_apps.iter().filter(given) {
                let app = AndroidApp::parse_pair(text).map_err(anyhow::Error::msg)?;
                apps.add_android(&app.package_name, app.fingerprints);
            }
        } else {
            for app in &file.android {
                let app = AndroidApp::new(&app.package_name, &app.sha256_fingerprints).map_err(anyhow::Error::msg)?;
                apps.add_android(&app.package_name, app.fingerprints);
            }
        }
        Ok(apps)
    }
}

fn parse_origins(texts: &[String]) -> anyhow::Result<Vec<OriginPattern>> {
    texts
        .iter()
        .filter(|t| !t.trim().is_empty())
        .map(|t| OriginPattern::parse(t).map_err(anyhow::Error::msg))
        .collect()
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

impl ServeArgs {
    /// The AAGUID allow-list from the flag (else the TOML list) and the file, checked.
    fn allowed_aaguids(&self, in_file: &[String], file_of_them: Option<&Path>) -> anyhow::Result<Vec<latch_core::aaguid::Aaguid>> {
        let listed = if self.allowed_aaguids.is_empty() { in_file } else { &self.allowed_aaguids };
        let mut items: Vec<String> = listed.to_vec();
        if let Some(path) = self.allowed_aaguids_file.as_deref().or(file_of_them) {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("invalid configuration: cannot read --allowed-aaguids-file {}", path.display()))?;
            items.extend(text.lines().map(str::to_string));
        }
        latch_core::aaguid::parse_allow_list(items.iter().map(String::as_str))
            .map_err(|why| anyhow::anyhow!("invalid configuration: --allowed-aaguids: {why}"))
    }
}

/// Read and check the operator's authenticator metadata file; a bad file stops the start
/// with a message naming the file and the fault.
fn load_authenticator_metadata(path: &Path) -> anyhow::Result<latch_core::aaguid::OperatorMetadata> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("invalid configuration: cannot read --authenticator-metadata {}", path.display()))?;
    latch_core::aaguid::OperatorMetadata::parse(&text).map_err(|why| {
        anyhow::anyhow!("invalid configuration: --authenticator-metadata {}: {why}", path.display())
    })
}
