//! Where Latch keeps its records: the [`Store`] trait, on SQLite or PostgreSQL.
//!
//! Invariant: this crate knows SQL and nothing of HTTP or FAPI. Every operation that must be
//! single-use or all-or-nothing (consuming a challenge, completing a sign-in, verifying a
//! pending passkey) is one atomic call here, so that several Latch nodes on one database
//! cannot interleave halfway.
//!
//! How it is built, from the bottom up:
//!
//! * `queries.rs`: the SQL text, one text for both databases.
//! * `rows.rs`: what a result row means, one mapping for both.
//! * `exec.rs`: the [`Exec`](exec::Exec) trait, "run this statement in my transaction",
//!   the only thing each database's driver implements.
//! * `ops.rs`: every store operation, once: its statements, their order, its transaction.
//! * `sqlite.rs` ([`SqliteStore`], rusqlite, one connection driven in place) and
//!   `postgres.rs` ([`PostgresStore`], tokio-postgres, a pool): the drivers.
//! * [`schema`]: sqlx's migrations for both.
//!
//! Callers need none of that: [`migrate`] brings a database's schema up to date and [`open`]
//! returns the store for its URL.

mod exec;
mod ops;
mod postgres;
mod queries;
mod rows;
pub mod schema;
mod sqlite;
mod timing;

use std::sync::Arc;

use async_trait::async_trait;
pub use latch_core::backend::{MetadataPatch, SecretKey, SignInToken, UserMetadata};
pub use latch_core::lockout::LastPasskeyProtection;
use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, ReverificationCompletion, Session, SessionStatus, SessionVerification, SignIn,
    SignInCompletion, SignInFailure, SignUp, User, VerificationStatus,
};

pub use postgres::{PostgresStore, default_pool_size};
pub use schema::{SCHEMA_VERSION, Schema};
pub use sqlite::{SqliteStore, file_of as sqlite_file, in_use_path as sqlite_in_use_path};

/// Brings the schema of the database at `url` (`sqlite://PATH` or `postgres://…`) up to this
/// build's version; refuses one that is newer. Returns the version it is at. Safe when
/// several nodes start at once.
pub async fn migrate(url: &str) -> StoreResult<i64> {
    let schema = Schema::connect(url).await?;
    let migrated = schema.migrate().await;
    let version = match migrated {
        Ok(()) => schema.schema_version().await,
        Err(e) => Err(e),
    };
    schema.pool().close().await;
    version
}

/// The store for the database at `url` (`sqlite://PATH` or `postgres://…`), whose schema
/// must not be newer than this build understands (run [`migrate`] first to serve).
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    open_with_pool(url, None).await
}

/// [`open`], with at most `pool_size` connections to PostgreSQL (default:
/// [`default_pool_size`]). SQLite is always served by one connection.
pub async fn open_with_pool(url: &str, pool_size: Option<usize>) -> StoreResult<Arc<dyn Store>> {
    let schema = Schema::connect(url).await?;
    let checked = schema.check_schema_not_newer().await;
    let sqlite = schema.is_sqlite();
    // SQLite: the file is served by one rusqlite connection; sqlx's must not stay open beside it.
    schema.pool().close().await;
    checked?;
    if sqlite {
        Ok(Arc::new(SqliteStore::open_url(url)?))
    } else {
        Ok(Arc::new(PostgresStore::connect(url, pool_size.unwrap_or_else(default_pool_size)).await?))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was hit: the named thing already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The user already has as many passkeys as allowed.
    #[error("passkey quota exceeded")]
    QuotaExceeded,
    /// The lockout rule keeps this passkey: the user's last one, or (`last_synced`) their
    /// last synced one.
    #[error("the passkey is protected from deletion")]
    PasskeyProtected { last_synced: bool },
    /// The sessions an operation ends are not those its caller wrote events for (one was made
    /// since it read them): nothing changed; read them again and retry.
    #[error("the sessions to end changed concurrently")]
    SessionsChanged,
    /// The client's token was replaced by a concurrent action since this one read it.
    #[error("the client token was replaced concurrently")]
    ClientTokenReplaced,
    /// A stored value could not be read back (a bug or a tampered database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database's schema is newer than this build understands.
    #[error("the database schema is at version {found}, newer than this Latch understands ({supported}); upgrade Latch")]
    SchemaTooNew { found: i64, supported: i64 },
    /// From sqlx: the migrations, and the schema checks at start.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite store (rusqlite).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// From the PostgreSQL store (tokio-postgres).
    #[error("database error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to the database could be had (the pool's limits, or it is closed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A signing key for session tokens, as stored.
#[derive(Debug, Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    /// The JWS algorithm it signs with: `RS256` or `EdDSA`.
    pub alg: String,
    pub private_pkcs8: Vec<u8>,
    /// Ed25519: the raw 32-byte key; RSA: the SubjectPublicKeyInfo DER.
    pub public_raw: Vec<u8>,
    pub created_at: Millis,
    /// When a rotation replaced it; it stays published while its tokens may live.
    pub retired_at: Option<Millis>,
}

/// A user as the Backend API shows them: with their metadata and passkeys, read in one
/// statement ([`Store::users_page`], [`Store::user_details`]).
#[derive(Debug, Clone)]
pub struct UserDetails {
    pub user: User,
    pub metadata: UserMetadata,
    pub passkeys: Vec<Passkey>,
}

/// Which users a Backend API listing shows, newest first unless `oldest_first`.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Part of a username or a user id (case-insensitive).
    pub search: Option<String>,
    pub oldest_first: bool,
    pub limit: u32,
    pub offset: u32,
}

/// Which sessions a Backend API listing shows (all filters combine with AND), newest first.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub status: Option<String>,
    pub limit: u32,
    pub offset: u32,
}

/// A ticket sign-in's outcome, written at once by [`Store::redeem_sign_in_token`]: the token
/// spent, the client if new, the sign-in (complete) and its session.
#[derive(Debug, Clone)]
pub struct TicketRedemption<'a> {
    pub token_id: &'a str,
    /// A ticket signs in like a passkey: the client gets a fresh token (or is stored with its
    /// first one) in the same transaction.
    pub client: ClientToken<'a>,
    pub sign_in: &'a SignIn,
    pub session: &'a Session,
    pub now: Millis,
}

/// A client not stored yet: the write that first needs it stores it in its own transaction,
/// so a request that is refused leaves no client behind.
#[derive(Debug, Clone, Copy)]
pub struct NewClient<'a> {
    pub client: &'a Client,
    /// SHA-256 of the client token handed to the browser (the token itself is never stored).
    pub token_hash: &'a [u8],
}

/// How an action that signs in, up or out hands its client a fresh token: a client new
/// with this action is stored with its first token; a known client's token is replaced, in
/// the action's own transaction, so the token it had before stops working with it.
#[derive(Debug, Clone, Copy)]
pub enum ClientToken<'a> {
    New(NewClient<'a>),
    /// `token_hash` replaces `old_token_hash`, the token the action was asked with; if a
    /// concurrent action replaced that first, the whole action changes nothing
    /// ([`StoreError::ClientTokenReplaced`]).
    Rotated { client_id: &'a str, old_token_hash: &'a [u8], token_hash: &'a [u8] },
}

/// A handshake nonce as stored: never the nonce itself, only its SHA-256.
#[derive(Debug, Clone)]
pub struct HandshakeNonce {
    pub nonce_hash: Vec<u8>,
    /// What the app's server is to set, as JSON the flows layer writes and reads (opaque here).
    pub grant_json: String,
    pub created_at: Millis,
    pub expire_at: Millis,
}

/// One line of the audit trail. Never holds a secret: no tokens, challenges or keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: Millis,
    /// What happened: `sign_up`, `sign_in`, `passkey.create`, `passkey.rename`,
    /// `passkey.delete`, `sign_out`, `session.remove`.
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub passkey_id: Option<String>,
    pub client_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The FAPI error code of a failure.
    pub error_code: Option<String>,
    /// The id of the Backend API secret key that acted (never the key itself); `None` for
    /// everything but Backend API actions.
    pub secret_key_id: Option<String>,
    /// The user id of the operator whose admin-console session made a Backend API call (never
    /// a token); `None` for everything else.
    pub operator_id: Option<String>,
    /// The webhook events the action reports (docs/protocol.md §15): the operation that
    /// writes this line queues them in the same transaction, so an event exists exactly when
    /// its change committed. Never read back (the trail does not store them).
    pub webhooks: Vec<WebhookEvent>,
}

/// One webhook event for the outbox: the body every endpoint receives, under a stable
/// `msg_…` id. The store writes it only when some enabled endpoint wants `event_type`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    pub id: String,
    pub event_type: String,
    /// The exact JSON body (compact); signatures cover these bytes.
    pub payload: String,
    pub created_at: Millis,
    /// An event about one of the sessions an operation ends (sign-out ends several): it is
    /// written only with that session's audit line ([`AuditEvent::for_session`]).
    pub session_id: Option<String>,
}

/// The events of a metadata merge, rendered inside its store call from the merged metadata
/// ([`Store::update_user_metadata`]).
pub type UserUpdatedEvents = dyn Fn(&UserMetadata) -> Vec<WebhookEvent> + Send + Sync + 'static;

/// A webhook endpoint as the operator set it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    /// `whsec_…`: stored as is, since signing needs the key itself.
    pub secret: String,
    /// The event types it wants; `None` for all.
    pub event_types: Option<Vec<String>>,
    pub enabled: bool,
    pub created_at: Millis,
}

/// A delivery the dispatcher claimed: what sending it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub payload: String,
    pub url: String,
    pub secret: String,
    /// The due time this claim set: finishing the attempt is conditional on nothing else.
    pub lease_until: Millis,
}

/// How one delivery stands, for `latch webhooks deliveries`.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_id: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this time.
    RetryAt(Millis, String),
    /// No attempt left.
    Failed(String),
}

/// A requester's client with the session its request names, as
/// [`Store::client_and_session`] reads them.
#[derive(Debug, Clone)]
pub struct ClientSession {
    pub client: Client,
    /// `None` when there is no such session of this client.
    pub session: Option<Session>,
    /// The session's user; `None` without a session, or if the user was deleted under it.
    pub user: Option<User>,
}

/// The client a request's token names, its sign-in, the passkey an assertion names and that
/// passkey's owner, as [`Store::sign_in_attempt`] reads them.
#[derive(Debug, Clone)]
pub struct SignInAttempt {
    pub client: Client,
    /// `None` when the client has no sign-in with that id.
    pub sign_in: Option<SignIn>,
    /// `None` when no passkey has the credential id.
    pub passkey: Option<Passkey>,
    /// The passkey's owner; `None` without a passkey, or if the owner is missing.
    pub owner: Option<User>,
}

/// What a write that an answer follows returns: its own result, and the client as it is
/// once the write committed ([`Store::client_snapshot`]), read in the same store call so
/// that PostgreSQL sends that read with COMMIT (one round trip per answer fewer). `client`
/// is None when there is no such client, or when the write changed nothing (a
/// `complete_sign_in` that lost a race).
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub result: T,
    pub client: Option<ClientSnapshot>,
}

/// Everything FAPI's client JSON shows, read in one store call: the client, its live
/// sessions (status active or pending; the caller checks expiry), each with its user and
/// the user's passkeys, and the client's current sign-in and sign-up.
#[derive(Debug, Clone)]
pub struct ClientSnapshot {
    pub client: Client,
    pub sessions: Vec<SessionView>,
    pub sign_in: Option<SignIn>,
    pub sign_up: Option<SignUp>,
}

#[derive(Debug, Clone)]
pub struct SessionView {
    pub session: Session,
    /// `None` only if the user was deleted under a live session.
    pub user: Option<User>,
    pub passkeys: Vec<Passkey>,
}

impl AuditEvent {
    /// This line, about one session of its user.
    pub fn for_session(&self, session: &Session) -> AuditEvent {
        let mut line = self.clone();
        line.user_id = Some(session.user_id.clone());
        line.session_id = Some(session.id.clone());
        line.webhooks.retain(|event| event.session_id.as_deref() == Some(session.id.as_str()));
        line
    }
}

/// How long finished records are kept before the purge deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgePolicy {
    /// Ended and expired sessions, completed sign-ins, sign-ups, spent or expired tickets.
    pub finished_grace: Millis,
    /// Clients without a live session, counted from their last change.
    pub dead_client_grace: Millis,
    /// Audit lines; `None` keeps them forever.
    pub audit_retention: Option<Millis>,
}

impl Default for PurgePolicy {
    fn default() -> Self {
        const DAY: Millis = 86_400_000;
        PurgePolicy { finished_grace: DAY, dead_client_grace: 30 * DAY, audit_retention: Some(90 * DAY) }
    }
}

/// Which audit events to read: all filters are optional and combine with AND.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// Only lines of this action (`session.revoke`, `sign_in`…).
    pub event: Option<String>,
    pub limit: u32,
    /// Lines skipped, newest first (the console's pages).
    pub offset: u32,
}

/// A user who holds the operator role (the admin console's), and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub user: User,
    pub granted_at: Millis,
}

/// A session as an operator's Backend API call is checked against: the session, and whether
/// its user holds the operator role now.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub session: Session,
    pub is_operator: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    // Clients: one per browser (or native app install), stored by the first write that
    // needs one (`NewClient` in `create_sign_in` and `sign_up`), or on its own when a native
    // app's first `GET /client` asks for one (`create_client`).
    async fn create_client(&self, new_client: NewClient<'_>) -> StoreResult<()>;
    async fn client_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Client>>;
    /// The client whose token hashes to `token_hash`, with the session `session_id` names (the
    /// client's last active session when `None`) and that session's user, in one call and
    /// one snapshot. The session is given only if it belongs to that client; it may have
    /// ended or expired (the caller checks).
    async fn client_and_session(&self, token_hash: &[u8], session_id: Option<&str>) -> StoreResult<Option<ClientSession>>;
    /// The client as FAPI shows it, in one call and one snapshot.
    async fn client_snapshot(&self, client_id: &str) -> StoreResult<Option<ClientSnapshot>>;
    /// [`Store::client_snapshot`] of the client whose token hashes to `token_hash`: finding
    /// a client and reading it whole in one call.
    async fn client_snapshot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<ClientSnapshot>>;

    // Users.
    /// Sign-up: the client (new, or its token rotated), the user, the sign-up record, the
    /// first session and the `audit` line, all or nothing.
    async fn sign_up(
        &self,
        client: ClientToken<'_>,
        user: &User,
        sign_up: &SignUp,
        session: &Session,
        audit: &AuditEvent,
    ) -> StoreResult<()>;
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn sign_up_record(&self, client_id: &str, id: &str) -> StoreResult<Option<SignUp>>;

    // Passkeys.
    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<Passkey>>;
    /// Opens a registration, replacing the client's earlier open ones, if the user's verified
    /// passkeys and open registrations stay under `max_passkeys`; else `QuotaExceeded`,
    /// changing nothing.
    async fn create_pending_passkey(&self, pending: &PendingPasskey, max_passkeys: u32) -> StoreResult<()>;
    /// The user's pending passkey, left in place (verification reads it, the outcome spends it).
    async fn pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>>;
    /// Removes the pending passkey, spending its challenge on a failed answer; false when it
    /// was already gone.
    async fn spend_pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Stores a verified passkey, spends its pending registration (same id) and writes the
    /// `audit` line, in one transaction. False, changing nothing, when the pending
    /// registration was spent meanwhile; an error, changing nothing, when the user is at the
    /// quota or the credential is known.
    async fn save_verified_passkey(&self, passkey: &Passkey, max_passkeys: u32, audit: &AuditEvent) -> StoreResult<bool>;
    /// Renames the passkey with the `audit` line; None, changing nothing, when there is none.
    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str, now: Millis, audit: &AuditEvent)
    -> StoreResult<Option<Passkey>>;
    /// Deletes a verified or pending passkey of this user; false when there was none. Deleting
    /// a verified one also revokes the live sessions that passkey made (and no other) except
    /// `keep_session`, the one deleting it, in the same transaction, at the `audit` line's time and with it (its
    /// webhook events only for a verified passkey; each revoked session's `session.revoked`
    /// event, named by its `session_id`, is written when that session is revoked, and a
    /// revoked session without one is `SessionsChanged`). `protect` is the operator's lockout rule:
    /// a verified passkey it keeps is not deleted, changing nothing, and the answer is
    /// `PasskeyProtected`; the rule is checked in the same transaction as the delete.
    async fn delete_passkey(
        &self,
        user_id: &str,
        id: &str,
        keep_session: &str,
        audit: &AuditEvent,
        protect: LastPasskeyProtection,
    ) -> StoreResult<bool>;

    // Sign-ins.
    /// The sign-in, with the client if it is new, in one transaction; then the client as it
    /// is now.
    async fn create_sign_in(&self, new_client: Option<NewClient<'_>>, sign_in: &SignIn) -> StoreResult<Written<()>>;
    async fn sign_in(&self, client_id: &str, id: &str) -> StoreResult<Option<SignIn>>;
    /// What answering sign-in `id`'s challenge needs, in one call and one snapshot: the
    /// client whose token hashes to `token_hash` (None without one), its sign-in `id`, the
    /// passkey with `credential_id` and that passkey's owner.
    async fn sign_in_attempt(&self, token_hash: &[u8], id: &str, credential_id: &[u8]) -> StoreResult<Option<SignInAttempt>>;
    /// Replaces the sign-in's passkey challenge (prepare_first_factor).
    async fn save_sign_in_challenge(&self, sign_in: &SignIn) -> StoreResult<()>;
    /// Spends the sign-in's challenge on a failed answer (`status` expired or failed) and
    /// records why. False, changing nothing, when the challenge (named by its request
    /// options) was already spent or replaced: each challenge is answered once at most.
    async fn fail_sign_in(&self, failure: &SignInFailure<'_>) -> StoreResult<bool>;
    /// Spends the verified challenge and writes the passkey counter, session, sign-in status,
    /// client (its new token included) and the `audit` line in one transaction. Returns false
    /// (and changes nothing) when the challenge was already spent or replaced, the passkey
    /// was used concurrently since verification read it, or the client's token is no longer
    /// the completion's `old_client_token_hash`.
    /// When it did complete, the client as it is now.
    async fn complete_sign_in(&self, completion: &SignInCompletion, audit: &AuditEvent) -> StoreResult<Written<bool>>;

    // Sessions.
    async fn session(&self, id: &str) -> StoreResult<Option<Session>>;
    /// The user's live sessions passkey `passkey_id` made: those deleting it ends (§16.4).
    async fn sessions_made_by_passkey(&self, user_id: &str, passkey_id: &str) -> StoreResult<Vec<Session>>;
    /// Marks the session active now and makes it the client's active one.
    async fn touch_session(&self, client_id: &str, id: &str, now: Millis) -> StoreResult<()>;
    /// Ends one live session of the client with the `audit` line; false, writing no line,
    /// when it was not live.
    async fn end_session(&self, client_id: &str, id: &str, status: SessionStatus, now: Millis, audit: &AuditEvent)
    -> StoreResult<bool>;
    /// Ends every live session of the client and returns them; with `rotation` (old token
    /// hash, new token hash) the client's token is rotated too, or nothing changes
    /// ([`StoreError::ClientTokenReplaced`]). With `audit`, one line per ended session is
    /// written in the same transaction: the template with the session's user and id filled in.
    async fn end_client_sessions(
        &self,
        client_id: &str,
        status: SessionStatus,
        now: Millis,
        rotation: Option<(&[u8], &[u8])>,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<Written<Vec<Session>>>;

    // Token signing keys, shared by every node.
    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// Inserts the key only if there is none yet; returns the keys afterwards, so concurrent
    /// first starts agree on one key.
    async fn init_signing_key(&self, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>>;

    /// Retires every live key of the new key's algorithm and adds the new one, which signs
    /// from now on; returns the keys afterwards.
    async fn rotate_signing_key(&self, key: &StoredSigningKey, now: Millis) -> StoreResult<Vec<StoredSigningKey>>;

    // Backend API secret keys: only their hashes.
    async fn create_secret_key(&self, key: &SecretKey, audit: &AuditEvent) -> StoreResult<()>;
    /// Every key, revoked ones too, oldest first.
    async fn secret_keys(&self) -> StoreResult<Vec<SecretKey>>;
    /// The unrevoked key with this hash.
    async fn live_secret_key(&self, key_hash: &[u8]) -> StoreResult<Option<SecretKey>>;
    /// Revokes key `id`; false when there is no such unrevoked key.
    async fn revoke_secret_key(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool>;

    // The Backend API's users and sessions.
    /// One page of users with their details, in one statement (no read per user).
    async fn users_page(&self, query: &UserQuery) -> StoreResult<Vec<UserDetails>>;
    /// One user with their details, in one statement.
    async fn user_details(&self, id: &str) -> StoreResult<Option<UserDetails>>;
    async fn count_users(&self, search: Option<&str>) -> StoreResult<u64>;
    /// The user's metadata (empty objects when none was ever written).
    async fn user_metadata(&self, user_id: &str) -> StoreResult<UserMetadata>;
    /// Merges `patch` into the user's metadata under the user's row lock (no lost update) and
    /// writes the `audit` line, with the webhook events `webhooks` renders from the merged
    /// metadata; None, changing nothing, when there is no such user.
    async fn update_user_metadata(
        &self,
        user_id: &str,
        patch: &MetadataPatch,
        now: Millis,
        audit: &AuditEvent,
        webhooks: &UserUpdatedEvents,
    ) -> StoreResult<Option<UserMetadata>>;
    /// Deletes the user, their passkeys, pending registrations, tickets and metadata, and
    /// ends their live sessions (`removed`), with the `audit` line; false when there was none.
    async fn delete_user(&self, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool>;
    /// One page of sessions and the total that match.
    async fn sessions_page(&self, query: &SessionQuery) -> StoreResult<(Vec<Session>, u64)>;
    /// Revokes live session `id` (its client sees it ended) with the `audit` line; None when
    /// it was not live.
    async fn revoke_session(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<Option<Session>>;
    /// Deletes passkey `id` of the user with the `audit` line, revoking the live sessions it
    /// made (their events as in [`Store::delete_passkey`]); false when there was none.
    async fn delete_user_passkey(&self, user_id: &str, id: &str, audit: &AuditEvent) -> StoreResult<bool>;

    // Sign-in tokens.
    async fn create_sign_in_token(&self, token: &SignInToken, audit: &AuditEvent) -> StoreResult<()>;
    async fn sign_in_token_by_hash(&self, token_hash: &[u8]) -> StoreResult<Option<SignInToken>>;
    /// Revokes a pending token, with the `audit` line when it was pending; the token as it is
    /// afterwards, None when there is none.
    async fn revoke_sign_in_token(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<Option<SignInToken>>;
    /// Spends the token (conditionally: still pending, unexpired, this session's user) and
    /// writes the client if new, the complete sign-in, the session and the `audit` line, in
    /// one transaction. False, changing nothing, when the token was spent meanwhile.
    async fn redeem_sign_in_token(&self, redemption: &TicketRedemption<'_>, audit: &AuditEvent) -> StoreResult<bool>;

    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first.
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;

    /// Counts one hit on `key` in the fixed window starting at `window_start` and returns
    /// the hits in that window so far. Atomic, so every node shares one count.
    async fn hit_rate_limit(&self, key: &str, window_start: Millis) -> StoreResult<u64>;
    /// [`hit_rate_limit`](Store::hit_rate_limit) on two keys in one statement (the hot path
    /// counts per IP and per client together); returns both counts, in order.
    async fn hit_rate_limits(&self, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]>;

    // Handshake nonces (docs/protocol.md §14): written by the handshake, taken once.
    async fn create_handshake_nonce(&self, nonce: &HandshakeNonce) -> StoreResult<()>;
    /// Deletes the nonce and returns what it held and when it expires (the caller judges
    /// expiry); None when there is none: never issued, already taken, or purged. Of two
    /// concurrent takers, exactly one gets it.
    async fn take_handshake_nonce(&self, nonce_hash: &[u8]) -> StoreResult<Option<(String, Millis)>>;

    /// Deletes what is over: ceremonies, sign-ins and handshake nonces that can no longer be
    /// completed, at once;
    /// ended and expired sessions, completed sign-ins, sign-ups and spent, revoked or expired
    /// sign-in tokens after `policy.finished_grace`; clients without a live session untouched for
    /// `policy.dead_client_grace`; audit lines older than `policy.audit_retention`.
    async fn purge_expired(&self, now: Millis, policy: &PurgePolicy) -> StoreResult<u64>;

    // Reverification and session use (docs/protocol.md §16).
    /// Records that live session `session_id` was used at `now` (its idle timeout counts from
    /// there); never moves the record back.
    async fn record_session_use(&self, session_id: &str, now: Millis) -> StoreResult<()>;
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> StoreResult<Option<Passkey>>;
    /// Stores a new verification for its session, replacing the session's previous one.
    async fn start_session_verification(&self, verification: &SessionVerification) -> StoreResult<()>;
    async fn session_verification(&self, session_id: &str) -> StoreResult<Option<SessionVerification>>;
    /// Replaces the verification's challenge; false, changing nothing, when that verification
    /// was replaced or completed meanwhile.
    async fn save_session_verification_challenge(&self, verification: &SessionVerification) -> StoreResult<bool>;
    /// Spends the session verification's challenge (named by its request options) on a failed
    /// answer; false when it was already spent or replaced.
    async fn fail_session_verification(
        &self,
        session_id: &str,
        challenge_options: &str,
        status: VerificationStatus,
        error_code: &str,
        now: Millis,
    ) -> StoreResult<bool>;
    /// Spends the verified challenge, writes the passkey's counter (compare-and-swap), the
    /// session's first-factor time and the `audit` line in one transaction; false, changing
    /// nothing, when the challenge was spent or replaced, the passkey used meanwhile, or the
    /// session is no longer live.
    async fn complete_session_verification(&self, completion: &ReverificationCompletion, audit: &AuditEvent)
    -> StoreResult<bool>;
    // Webhooks (docs/protocol.md §15): endpoints, and the outbox the dispatcher drains.
    /// Stores the endpoint with the `audit` line.
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint, audit: &AuditEvent) -> StoreResult<()>;
    /// Every endpoint, oldest first.
    async fn webhook_endpoints(&self) -> StoreResult<Vec<WebhookEndpoint>>;
    /// Deletes the endpoint and its deliveries, with the `audit` line; false when there was none.
    async fn remove_webhook_endpoint(&self, id: &str, audit: &AuditEvent) -> StoreResult<bool>;
    /// Whether some enabled endpoint exists (flows build events only then).
    async fn webhooks_enabled(&self) -> StoreResult<bool>;
    /// Claims up to `limit` deliveries due at `now` until `lease_until`: no other claimer gets
    /// them before then. A claim that is not finished (the node died) is due again then.
    async fn claim_webhook_deliveries(&self, now: Millis, lease_until: Millis, limit: u32) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt's outcome; false when the delivery is no longer pending.
    async fn finish_webhook_delivery(&self, id: &str, outcome: &DeliveryOutcome, now: Millis) -> StoreResult<bool>;
    /// Makes a delivery (by id) or every delivery of an event (by msg id) pending again with
    /// the same event, with the `audit` line; how many.
    async fn replay_webhook(&self, id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<u64>;
    /// The newest deliveries, of one status if given.
    async fn webhook_deliveries(&self, status: Option<&str>, limit: u32) -> StoreResult<Vec<WebhookDelivery>>;
    /// How many events the outbox holds.
    async fn webhook_event_count(&self) -> StoreResult<u64>;

    // Operators (the admin console, docs/protocol.md §17).
    /// How many lines `audit_events`' filters select, ignoring its limit and offset.
    async fn count_audit_events(&self, query: &AuditQuery) -> StoreResult<u64>;
    /// Grants the operator role to user `user_id`, with its audit line; false if there is
    /// no such user. Granting it again changes nothing but writes the line.
    async fn grant_operator(&self, user_id: &str, now: Millis, audit: &AuditEvent) -> StoreResult<bool>;
    /// Revokes it, with its audit line; false (and no line) if the user held no such role.
    async fn revoke_operator(&self, user_id: &str, audit: &AuditEvent) -> StoreResult<bool>;
    async fn operators(&self) -> StoreResult<Vec<Operator>>;
    async fn operator_session(&self, session_id: &str) -> StoreResult<Option<OperatorSession>>;
    // Operations (docs/protocol.md §19).
    /// The schema version the database is at, read through the serving connection: /readyz
    /// asks it, so a database that does not answer is not ready either.
    async fn schema_version_applied(&self) -> StoreResult<i64>;
    /// What a metrics scrape shows of the stored state, in one statement.
    async fn operations_gauges(&self, now: Millis) -> StoreResult<OperationsGauges>;
}

/// The stored state a metrics scrape shows (docs/protocol.md §19).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OperationsGauges {
    /// Sessions active or pending, and neither expired nor idle past their timeout.
    pub live_sessions: u64,
    /// Webhook deliveries not yet made (due now or waiting for a retry).
    pub webhook_backlog: u64,
}

/// The counts `hit_rate_limits` returns, in the order of `keys`, from `(key, hits)` rows in
/// whatever order the database gave them.
fn hits_in_order(keys: [&str; 2], rows: &[(String, i64)]) -> [u64; 2] {
    let mut hits = [0u64; 2];
    for (key, count) in rows {
        for (slot, wanted) in hits.iter_mut().zip(keys) {
            if key == wanted {
                *slot = u64::try_from(*count).unwrap_or(0);
            }
        }
    }
    hits
}

/// Rate-limit windows are at most an hour long: older counters can go.
fn oldest_rate_limit_window(now: Millis) -> Millis {
    now - 2 * 3600 * 1000
}

/// Pending registrations are purged an hour after they expire, not at once: until then an
/// answer to one gets `verification_expired` rather than "no such passkey", and the purge
/// cannot race a ceremony whose challenge lifetime is very short.
fn purgeable_pending_before(now: Millis) -> Millis {
    now - 3600 * 1000
}

/// Delivered webhooks are kept a week (for `latch webhooks replay`), then purged.
fn webhook_delivered_retention(now: Millis) -> Millis {
    now - 7 * 86_400_000
}
