//! The `Store` contract, held against both databases with the same test bodies: every test
//! below runs once as `sqlite::NAME` (a file in a temporary folder) and once as
//! `postgres::NAME` (a schema of its own in the database named by `LATCH_TEST_POSTGRES_URL`,
//! which `scripts/test-all.sh` sets). Without that variable the PostgreSQL cases fail, saying
//! how to run them: a contract checked on one database only is not checked.

use std::sync::Arc;
use std::time::Duration;

use latch_core::ceremony::{PasskeyOwner, RelyingParty, UvPolicy};
use latch_core::ids::{IdKind, new_id};
use latch_core::model::{
    Client, Passkey, PasskeyChallenge, PendingPasskey, Session, SessionSource, SessionStatus, SignIn, SignInCompletion, SignInFailure, AuthenticatorAttachment,
    SignInStatus, SignUp, User, VerificationStatus,
};
use latch_core::origins::OriginPattern;
use latch_core::webauthn::{AuthenticationState, Credential, RegistrationState};
use latch_store::{
    AuditEvent, AuditQuery, ClientToken, HandshakeNonce, MetadataPatch, NewClient, PurgePolicy, SecretKey, SignInToken, Store,
    LastPasskeyProtection, StoreError, StoredSigningKey, TicketRedemption,
};
use uuid::Uuid;

/// A credential as webauthn-rs serialises it (an ES256 passkey, `none` attestation).
const CREDENTIAL: &str = r#"{"cred_id":"QBYy8hasWhUMWhL4iBf9lw","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":"PNPO84j8Lz-TRcmZImcmfkbJSonYlKfsSQ2JsQHE4og","y":"ApfpAo5sw9KRy-kqSnj7v1xyNoA1ippnU48aXD120Pg"}}},"counter":0,"transports":null,"user_verified":true,"backup_eligible":true,"backup_state":true,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested","appid":"NotRequested","cred_props":"Ignored"},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}"#;

const T: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

// ---- the two databases --------------------------------------------------------------------

struct Db {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the admin URL and the schema to drop when the test passed.
    schema: Option<(String, String)>,
}

impl Db {
    async fn sqlite() -> Db {
        let dir = tempfile::Builder::new().prefix("latch-contract-").tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("latch.db").display());
        latch_store::migrate(&url).await.expect("migrate SQLite");
        let store = latch_store::open(&url).await.expect("open SQLite");
        Db { store, _dir: Some(dir), schema: None }
    }

    async fn postgres() -> Db {
        let Ok(admin) = std::env::var("LATCH_TEST_POSTGRES_URL") else {
            panic!(
                "LATCH_TEST_POSTGRES_URL is not set, so the PostgreSQL half of the store contract cannot run. \
                 Run the tests via `bash scripts/test-all.sh`, or set LATCH_TEST_POSTGRES_URL to a PostgreSQL \
                 database the tests may create schemas in (`source scripts/postgres-test-db.sh && start_test_postgres`)."
            )
        };
        let schema = format!("contract_{}", Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&admin).await.expect("connect to LATCH_TEST_POSTGRES_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pool).await.expect("create a schema");
        pool.close().await;
        let mut url = url::Url::parse(&admin).expect("LATCH_TEST_POSTGRES_URL is a URL");
        url.query_pairs_mut().append_pair("options", &format!("-csearch_path={schema}"));
        latch_store::migrate(url.as_str()).await.expect("migrate PostgreSQL");
        let store = latch_store::open(url.as_str()).await.expect("open PostgreSQL");
        Db { store, _dir: None, schema: Some((admin, schema)) }
    }

    async fn done(self) {
        if let Some((admin, schema)) = self.schema {
            drop(self.store);
            let pool = sqlx::PgPool::connect(&admin).await.expect("connect to LATCH_TEST_POSTGRES_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&pool).await.expect("drop the schema");
            pool.close().await;
        }
    }
}

/// Each test body, once per database.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::sqlite().await;
                    super::$name(db.store.as_ref()).await;
                    db.done().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = super::Db::postgres().await;
                    super::$name(db.store.as_ref()).await;
                    db.done().await;
                }
            )*
        }
    };
}

contract!(
    sign_up_stores_everything_or_nothing,
    a_client_is_created_on_its_own,
    client_snapshot_reads_the_client_as_fapi_shows_it,
    a_client_and_its_session_are_read_together,
    passkey_registration_is_single_use_and_under_quota,
    open_registrations_count_against_the_quota,
    rename_and_delete_passkeys,
    a_sign_in_completes_once,
    an_attempt_reads_the_client_sign_in_passkey_and_owner_together,
    a_failed_answer_spends_the_challenge_once,
    a_moved_counter_stops_completion,
    sessions_touch_and_end,
    ending_a_clients_sessions_audits_each,
    writes_read_the_client_back_as_committed,
    audit_events_filter_and_order,
    rate_limits_count_per_window,
    the_first_signing_key_wins,
    purge_deletes_only_what_is_dead,
    a_ticket_is_redeemed_once_before_it_expires_for_its_user,
    secret_keys_are_found_by_hash_until_revoked,
    metadata_merges_and_a_deleted_user_takes_their_records,
    a_handshake_nonce_is_taken_once_and_purged_when_expired,
    a_revoked_session_leaves_its_client,
    purge_deletes_finished_records_after_their_grace,
    signing_in_up_and_out_rotates_the_client_token,
    purge_takes_each_finished_kind_after_its_grace_and_nothing_live,
    a_page_of_users_comes_with_their_details_in_one_read,
    an_idle_session_is_purged_after_its_grace,
    webhook_events_fan_out_to_the_endpoints_that_want_them,
    a_webhook_delivery_is_claimed_once_and_retried_or_finished,
    a_change_that_rolls_back_leaves_no_webhook_event,
    operators_are_granted_revoked_and_read_with_their_sessions,
    audit_events_filter_by_action_and_page_with_a_count,
    operations_read_the_schema_version_live_sessions_and_webhook_backlog,
    the_lockout_rule_keeps_the_last_passkey_and_the_last_synced_one,
    two_concurrent_deletes_of_the_last_two_passkeys_leave_one,
    a_passkey_delete_announces_exactly_the_sessions_it_ends,
);

// ---- records ------------------------------------------------------------------------------

fn new_client() -> (Client, Vec<u8>) {
    let client = Client { id: new_id(IdKind::Client, T), created_at: T, updated_at: T, last_active_session_id: None };
    let token_hash = Uuid::new_v4().as_bytes().to_vec();
    (client, token_hash)
}

fn new_user(name: &str) -> User {
    User {
        id: new_id(IdKind::User, T),
        username: name.into(),
        webauthn_handle: Uuid::new_v4(),
        created_at: T,
        updated_at: T,
        last_sign_in_at: None,
    }
}

fn new_session(client: &Client, user: &User, at: i64) -> Session {
    Session {
        id: new_id(IdKind::Session, T),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        status: SessionStatus::Active,
        tasks: vec![],
        created_at: at,
        updated_at: at,
        last_active_at: at,
        expire_at: at + 7 * DAY,
        first_factor_verified_at: at,
        idle_timeout: None,
        made_with: SessionSource::SignUp,
    }
}

fn sign_up_of(client: &Client, user: &User, session: &Session) -> SignUp {
    SignUp {
        id: new_id(IdKind::SignUp, T),
        client_id: client.id.clone(),
        username: user.username.clone(),
        created_user_id: user.id.clone(),
        created_session_id: session.id.clone(),
        created_at: T,
    }
}

/// For `update_user_metadata`: no webhook events.
fn no_webhooks(_: &latch_store::UserMetadata) -> Vec<latch_store::WebhookEvent> {
    Vec::new()
}

fn event(name: &str, at: i64) -> AuditEvent {
    AuditEvent { at, event: name.into(), outcome: "success".into(), ..AuditEvent::default() }
}

fn relying_party() -> RelyingParty {
    let origin = OriginPattern::Exact(url::Url::parse("http://localhost:8080").expect("an origin"));
    RelyingParty::new("localhost", "Latch", vec![origin], Duration::from_secs(300), UvPolicy::Required)
}

fn registration_state(user: &User) -> RegistrationState {
    let owner = PasskeyOwner { handle: user.webauthn_handle, name: &user.username, display_name: &user.username };
    relying_party().begin_registration(&owner, vec![]).expect("begin registration").1
}

fn authentication_state() -> AuthenticationState {
    relying_party().begin_authentication(vec![]).expect("begin authentication").1
}

fn credential() -> Credential {
    serde_json::from_str(CREDENTIAL).expect("the test credential")
}

fn new_pending(user: &User, client: &Client, id: &str, expire_at: i64) -> PendingPasskey {
    PendingPasskey {
        id: id.into(),
        user_id: user.id.clone(),
        client_id: client.id.clone(),
        options_json: "{}".into(),
        state: registration_state(user),
        origin: Some("http://localhost:8080".into()),
        created_at: T,
        expire_at,
    }
}

fn new_passkey(user: &User, id: &str, credential_id: &[u8]) -> Passkey {
    Passkey {
        id: id.into(),
        user_id: user.id.clone(),
        credential_id: credential_id.to_vec(),
        name: "iCloud Keychain".into(),
        aaguid: Some(Uuid::new_v4()),
        credential: credential(),
        sign_count: 0,
        backup_eligible: true,
        backup_state: false,
        created_at: T,
        updated_at: T,
        last_used_at: None,
        prf_enabled: Some(true),
    }
}

fn new_sign_in(client: &Client, options: &str) -> SignIn {
    SignIn {
        id: new_id(IdKind::SignIn, T),
        client_id: client.id.clone(),
        status: SignInStatus::NeedsFirstFactor,
        identifier: None,
        user_id: None,
        challenge: Some(PasskeyChallenge {
            status: VerificationStatus::Unverified,
            options_json: options.into(),
            state: Some(authentication_state()),
            origin: Some("http://localhost:8080".into()),
            attempts: 0,
            expire_at: T + 300_000,
            error_code: None,
        }),
        created_session_id: None,
        created_at: T,
        updated_at: T,
        abandon_at: T + DAY,
    }
}

/// A signed-up user with one verified passkey, signed out again, on a fresh client.
struct World {
    client: Client,
    token_hash: Vec<u8>,
    user: User,
    passkey: Passkey,
}

async fn world(store: &dyn Store, name: &str) -> World {
    let (client, token_hash) = new_client();
    let user = new_user(name);
    let first = new_session(&client, &user, T);
    let signed_up = sign_up_of(&client, &user, &first);
    store
        .sign_up(ClientToken::New(NewClient { client: &client, token_hash: &token_hash }), &user, &signed_up, &first, &event("sign_up", T))
        .await
        .expect("sign up");
    store.end_client_sessions(&client.id, SessionStatus::Ended, T, None, None).await.expect("sign out");
    let id = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&user, &client, &id, T + 300_000), 10).await.expect("pending passkey");
    let passkey = new_passkey(&user, &id, Uuid::new_v4().as_bytes());
    assert!(store.save_verified_passkey(&passkey, 10, &event("passkey.create", T)).await.expect("save passkey"));
    World { client, token_hash, user, passkey }
}

fn completion(w: &World, sign_in: &SignIn, previous_sign_count: u32, at: i64) -> SignInCompletion {
    let mut updated_credential = credential();
    updated_credential.counter = previous_sign_count + 1;
    SignInCompletion {
        sign_in_id: sign_in.id.clone(),
        challenge_options: sign_in.challenge.as_ref().map(|c| c.options_json.clone()).unwrap_or_default(),
        passkey_id: w.passkey.id.clone(),
        previous_sign_count,
        updated_credential,
        session: new_session(&w.client, &w.user, at),
        // Kept as it is; `signing_in_up_and_out_rotates_the_client_token` rotates it.
        client_token_hash: w.token_hash.clone(),
        old_client_token_hash: w.token_hash.clone(),
        now: at,
    }
}

// ---- the contract -------------------------------------------------------------------------

async fn a_client_is_created_on_its_own(store: &dyn Store) {
    let (client, token_hash) = new_client();
    store.create_client(NewClient { client: &client, token_hash: &token_hash }).await.unwrap();
    let found = store.client_by_token(&token_hash).await.unwrap().unwrap();
    assert_eq!((found.id.as_str(), found.last_active_session_id), (client.id.as_str(), None));
    let snapshot = store.client_snapshot(&client.id).await.unwrap().unwrap();
    assert!(snapshot.sessions.is_empty() && snapshot.sign_in.is_none() && snapshot.sign_up.is_none());
    // A token is one client's: a second client under the same token hash is refused.
    let (second, _) = new_client();
    assert!(store.create_client(NewClient { client: &second, token_hash: &token_hash }).await.is_err());
}

async fn sign_up_stores_everything_or_nothing(store: &dyn Store) {
    let (client, token_hash) = new_client();
    let alice = new_user("alice");
    let first = new_session(&client, &alice, T);
    let record = sign_up_of(&client, &alice, &first);
    store
        .sign_up(ClientToken::New(NewClient { client: &client, token_hash: &token_hash }), &alice, &record, &first, &event("sign_up", T))
        .await
        .unwrap();

    assert_eq!(store.client_by_token(&token_hash).await.unwrap().unwrap().id, client.id);
    let stored = stored_client(store, &client.id).await.unwrap();
    assert_eq!(stored.last_active_session_id.as_deref(), Some(first.id.as_str()));
    assert_eq!(attempts(store, &client.id).await, (None, Some(record.id.clone())));
    assert_eq!(store.user(&alice.id).await.unwrap().unwrap().username, "alice");
    let by_name = store.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!((by_name.id.as_str(), by_name.webauthn_handle), (alice.id.as_str(), alice.webauthn_handle));
    assert_eq!(store.sign_up_record(&client.id, &record.id).await.unwrap().unwrap().created_session_id, first.id);
    assert!(store.sign_up_record("client_other", &record.id).await.unwrap().is_none());
    assert_eq!(store.session(&first.id).await.unwrap().unwrap().status, SessionStatus::Active);
    assert_eq!(live_sessions(store, &client.id).await.len(), 1);
    let audit = store.audit_events(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(audit.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(), ["sign_up"]);

    // The same username from another, new client: a conflict, and nothing of it is stored,
    // not even the client.
    let (other, other_token) = new_client();
    let again = new_user("alice");
    let second = new_session(&other, &again, T);
    let refused = store
        .sign_up(
            ClientToken::New(NewClient { client: &other, token_hash: &other_token }),
            &again,
            &sign_up_of(&other, &again, &second),
            &second,
            &event("sign_up", T),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict("username"))), "{refused:?}");
    assert!(store.client_by_token(&other_token).await.unwrap().is_none());
    assert!(store.session(&second.id).await.unwrap().is_none());
    assert_eq!(store.audit_events(&AuditQuery { limit: 10, ..AuditQuery::default() }).await.unwrap().len(), 1);
    assert!(store.user("user_missing").await.unwrap().is_none());
    assert!(stored_client(store, "client_missing").await.is_none());
    assert_eq!(attempts(store, "client_missing").await, (None, None));
}

/// The client as stored, read through the snapshot FAPI answers are built from.
async fn stored_client(store: &dyn Store, id: &str) -> Option<Client> {
    store.client_snapshot(id).await.unwrap().map(|s| s.client)
}

/// The client's current sign-in and sign-up ids, as its snapshot shows them.
async fn attempts(store: &dyn Store, client_id: &str) -> (Option<String>, Option<String>) {
    match store.client_snapshot(client_id).await.unwrap() {
        Some(s) => (s.sign_in.map(|x| x.id), s.sign_up.map(|x| x.id)),
        None => (None, None),
    }
}

/// The client's live sessions, as its snapshot shows them.
async fn live_sessions(store: &dyn Store, client_id: &str) -> Vec<Session> {
    store.client_snapshot(client_id).await.unwrap().map_or_else(Vec::new, |s| s.sessions.into_iter().map(|v| v.session).collect())
}

async fn client_snapshot_reads_the_client_as_fapi_shows_it(store: &dyn Store) {
    assert!(store.client_snapshot("client_missing").await.unwrap().is_none());
    let w = world(store, "bob").await;
    let signed_out = store.client_snapshot(&w.client.id).await.unwrap().unwrap();
    assert!(signed_out.sessions.is_empty());
    assert!(signed_out.sign_in.is_none(), "signing out clears the client's attempts");

    // A second passkey, so the snapshot shows the user's passkeys in order.
    let second = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &second, T + 300_000), 10).await.unwrap();
    let mut later = new_passkey(&w.user, &second, b"second credential");
    later.created_at = T + 1;
    assert!(store.save_verified_passkey(&later, 10, &event("passkey.create", T)).await.unwrap());

    let attempt = new_sign_in(&w.client, r#"{"challenge":"snapshot"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let done = completion(&w, &attempt, 0, T + 10);
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 10)).await.unwrap().result);

    let snapshot = store.client_snapshot(&w.client.id).await.unwrap().unwrap();
    // Found by its token instead, in the same one statement: the same snapshot.
    let by_token = store.client_snapshot_by_token(&w.token_hash).await.unwrap().unwrap();
    assert_eq!(format!("{by_token:?}"), format!("{snapshot:?}"));
    assert!(store.client_snapshot_by_token(&[0u8; 32]).await.unwrap().is_none());
    assert_eq!(snapshot.client.last_active_session_id.as_deref(), Some(done.session.id.as_str()));
    assert_eq!(snapshot.sessions.len(), 1);
    let view = &snapshot.sessions[0];
    assert_eq!(view.session.id, done.session.id);
    assert_eq!(view.user.as_ref().map(|u| u.id.as_str()), Some(w.user.id.as_str()));
    let ids: Vec<&str> = view.passkeys.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, [w.passkey.id.as_str(), second.as_str()]);
    let shown = snapshot.sign_in.expect("the client's current sign-in");
    assert_eq!((shown.id.as_str(), shown.status), (attempt.id.as_str(), SignInStatus::Complete));
    assert!(snapshot.sign_up.is_none());
}

async fn a_client_and_its_session_are_read_together(store: &dyn Store) {
    let mut signed_up = Vec::new();
    for name in ["ivan", "judy"] {
        let (client, token_hash) = new_client();
        let user = new_user(name);
        let session = new_session(&client, &user, T);
        let record = sign_up_of(&client, &user, &session);
        let new_client = ClientToken::New(NewClient { client: &client, token_hash: &token_hash });
        store.sign_up(new_client, &user, &record, &session, &event("sign_up", T)).await.unwrap();
        signed_up.push((client, token_hash, user, session));
    }
    let [(ivans, ivans_token, ivan, ivans_session), (_, _, _, judys_session)] = &signed_up[..] else { unreachable!() };

    // Named, or the client's last active session when none is named: with its user.
    for named in [Some(ivans_session.id.as_str()), None] {
        let found = store.client_and_session(ivans_token, named).await.unwrap().unwrap();
        assert_eq!(found.client.id, ivans.id);
        assert_eq!(found.client.last_active_session_id.as_deref(), Some(ivans_session.id.as_str()));
        assert_eq!(found.session.as_ref().map(|s| s.id.as_str()), Some(ivans_session.id.as_str()));
        assert_eq!(found.session.map(|s| s.status), Some(SessionStatus::Active));
        assert_eq!(found.user.map(|u| (u.id, u.username)), Some((ivan.id.clone(), "ivan".to_owned())));
    }
    // Another client's session, or none: the client alone.
    for named in [Some(judys_session.id.as_str()), Some("sess_missing")] {
        let found = store.client_and_session(ivans_token, named).await.unwrap().unwrap();
        assert_eq!(found.client.id, ivans.id);
        assert!(found.session.is_none() && found.user.is_none(), "{named:?}");
    }
    // An ended session is still read (the caller tells live from ended); once signed out, the
    // client has no last active session.
    store.end_client_sessions(&ivans.id, SessionStatus::Ended, T + 1, None, None).await.unwrap();
    let ended = store.client_and_session(ivans_token, Some(&ivans_session.id)).await.unwrap().unwrap();
    assert_eq!(ended.session.map(|s| s.status), Some(SessionStatus::Ended));
    let signed_out = store.client_and_session(ivans_token, None).await.unwrap().unwrap();
    assert!(signed_out.session.is_none() && signed_out.user.is_none());
    // An unknown token: nothing.
    assert!(store.client_and_session(&[0u8; 32], None).await.unwrap().is_none());
}

async fn passkey_registration_is_single_use_and_under_quota(store: &dyn Store) {
    let w = world(store, "carol").await;
    assert_eq!(store.passkeys_of(&w.user.id).await.unwrap().len(), 1);
    let found = store.passkeys_of(&w.user.id).await.unwrap().remove(0);
    assert_eq!((found.id.as_str(), found.aaguid, found.backup_eligible, found.backup_state), (w.passkey.id.as_str(), w.passkey.aaguid, true, false));
    assert_eq!(found.prf_enabled, Some(true), "the PRF client result is stored and read back");
    // The pending registration was spent by saving it.
    assert!(!store.save_verified_passkey(&w.passkey, 10, &event("passkey.create", T)).await.unwrap());
    assert!(store.pending_passkey(&w.user.id, &w.passkey.id).await.unwrap().is_none());

    // At the quota: no new pending registration, and none saved past it.
    let refused = store.create_pending_passkey(&new_pending(&w.user, &w.client, &new_id(IdKind::Passkey, T), T + 300_000), 1).await;
    assert!(matches!(refused, Err(StoreError::QuotaExceeded)), "{refused:?}");
    let id = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &id, T + 300_000), 2).await.unwrap();
    let read = store.pending_passkey(&w.user.id, &id).await.unwrap().unwrap();
    assert_eq!((read.client_id.as_str(), read.origin.as_deref()), (w.client.id.as_str(), Some("http://localhost:8080")));
    assert!(store.pending_passkey("user_other", &id).await.unwrap().is_none());
    let over = store.save_verified_passkey(&new_passkey(&w.user, &id, b"over quota"), 1, &event("passkey.create", T)).await;
    assert!(matches!(over, Err(StoreError::QuotaExceeded)), "{over:?}");
    // A known credential: a conflict, and the pending registration is still there.
    let known = store.save_verified_passkey(&new_passkey(&w.user, &id, &w.passkey.credential_id), 10, &event("passkey.create", T)).await;
    assert!(matches!(known, Err(StoreError::Conflict("passkey"))), "{known:?}");
    assert!(store.pending_passkey(&w.user.id, &id).await.unwrap().is_some());
    // A failed answer spends it, once.
    assert!(store.spend_pending_passkey(&w.user.id, &id).await.unwrap());
    assert!(!store.spend_pending_passkey(&w.user.id, &id).await.unwrap());
    assert!(!store.save_verified_passkey(&new_passkey(&w.user, &id, b"late"), 10, &event("passkey.create", T)).await.unwrap());
    assert_eq!(store.passkeys_of(&w.user.id).await.unwrap().len(), 1);
}

async fn rename_and_delete_passkeys(store: &dyn Store) {
    let w = world(store, "dave").await;
    let renamed = store.rename_passkey(&w.user.id, &w.passkey.id, "YubiKey", T + 5, &event("passkey.rename", T + 5)).await.unwrap().unwrap();
    assert_eq!((renamed.name.as_str(), renamed.updated_at), ("YubiKey", T + 5));
    assert!(store.rename_passkey("user_other", &w.passkey.id, "x", T, &event("passkey.rename", T)).await.unwrap().is_none());

    let pending_id = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &pending_id, T + 300_000), 10).await.unwrap();
    assert!(!store.delete_passkey("user_other", &w.passkey.id, "sess_none", &event("passkey.delete", T), LastPasskeyProtection::Off).await.unwrap());
    assert!(store.delete_passkey(&w.user.id, &w.passkey.id, "sess_none", &event("passkey.delete", T), LastPasskeyProtection::Off).await.unwrap());
    assert!(store.delete_passkey(&w.user.id, &pending_id, "sess_none", &event("passkey.delete", T), LastPasskeyProtection::Off).await.unwrap(), "a pending passkey is deleted too");
    assert!(!store.delete_passkey(&w.user.id, &w.passkey.id, "sess_none", &event("passkey.delete", T), LastPasskeyProtection::Off).await.unwrap());
    assert!(store.passkeys_of(&w.user.id).await.unwrap().is_empty());
    assert!(store.pending_passkey(&w.user.id, &pending_id).await.unwrap().is_none());
}

async fn a_sign_in_completes_once(store: &dyn Store) {
    let w = world(store, "erin").await;
    let (fresh, fresh_token) = new_client();
    let first = new_sign_in(&fresh, r#"{"challenge":"first"}"#);
    store.create_sign_in(Some(NewClient { client: &fresh, token_hash: &fresh_token }), &first).await.unwrap();
    assert_eq!(store.client_by_token(&fresh_token).await.unwrap().unwrap().id, fresh.id);
    assert_eq!(attempts(store, &fresh.id).await, (Some(first.id.clone()), None));
    let read = store.sign_in(&fresh.id, &first.id).await.unwrap().unwrap();
    let challenge = read.challenge.unwrap();
    assert_eq!((challenge.options_json.as_str(), challenge.attempts, challenge.state.is_some()), (r#"{"challenge":"first"}"#, 0, true));
    assert!(store.sign_in(&w.client.id, &first.id).await.unwrap().is_none(), "a sign-in belongs to its client");

    // On the world's client: a new challenge replaces the old one, which can no longer complete.
    let mut attempt = new_sign_in(&w.client, r#"{"challenge":"old"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let stale = completion(&w, &attempt, 0, T + 20);
    attempt.challenge.as_mut().unwrap().options_json = r#"{"challenge":"new"}"#.into();
    attempt.updated_at = T + 1;
    store.save_sign_in_challenge(&attempt).await.unwrap();
    assert!(!store.complete_sign_in(&stale, &event("sign_in", T + 20)).await.unwrap().result);

    let done = completion(&w, &attempt, 0, T + 30);
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 30)).await.unwrap().result);
    let again = completion(&w, &attempt, 0, T + 31);
    assert!(!store.complete_sign_in(&again, &event("sign_in", T + 31)).await.unwrap().result, "a challenge completes once");
    assert!(store.session(&again.session.id).await.unwrap().is_none());
    let failure = SignInFailure {
        sign_in_id: &attempt.id,
        client_id: &w.client.id,
        challenge_options: r#"{"challenge":"new"}"#,
        status: VerificationStatus::Failed,
        error_code: "verification_failed",
        now: T + 32,
    };
    assert!(!store.fail_sign_in(&failure).await.unwrap(), "a completed sign-in cannot fail");

    let complete = store.sign_in(&w.client.id, &attempt.id).await.unwrap().unwrap();
    assert_eq!(complete.status, SignInStatus::Complete);
    assert_eq!(complete.created_session_id.as_deref(), Some(done.session.id.as_str()));
    assert_eq!(complete.user_id.as_deref(), Some(w.user.id.as_str()));
    assert_eq!(store.user(&w.user.id).await.unwrap().unwrap().last_sign_in_at, Some(T + 30));
    let counted = store.passkeys_of(&w.user.id).await.unwrap().remove(0);
    assert_eq!((counted.sign_count, counted.last_used_at), (1, Some(T + 30)));
    assert_eq!(stored_client(store, &w.client.id).await.unwrap().last_active_session_id, Some(done.session.id.clone()));
    let audited = store.audit_events(&AuditQuery { limit: 1, ..AuditQuery::default() }).await.unwrap();
    assert_eq!((audited[0].event.as_str(), audited[0].at), ("sign_in", T + 30));

    // A later sign-in on the same client replaces the session (single-session mode).
    let next = new_sign_in(&w.client, r#"{"challenge":"next"}"#);
    store.create_sign_in(None, &next).await.unwrap();
    let replacing = completion(&w, &next, 1, T + 40);
    assert!(store.complete_sign_in(&replacing, &event("sign_in", T + 40)).await.unwrap().result);
    assert_eq!(store.session(&done.session.id).await.unwrap().unwrap().status, SessionStatus::Replaced);
    let live: Vec<String> = live_sessions(store, &w.client.id).await.into_iter().map(|s| s.id).collect();
    assert_eq!(live, [replacing.session.id.as_str()]);
}

async fn an_attempt_reads_the_client_sign_in_passkey_and_owner_together(store: &dyn Store) {
    let w = world(store, "kim").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"together"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();

    let read = store.sign_in_attempt(&w.token_hash, &attempt.id, &w.passkey.credential_id).await.unwrap().unwrap();
    assert_eq!(read.client.id, w.client.id);
    let sign_in = read.sign_in.unwrap();
    assert_eq!((sign_in.id.as_str(), sign_in.status), (attempt.id.as_str(), SignInStatus::NeedsFirstFactor));
    let challenge = sign_in.challenge.unwrap();
    assert_eq!((challenge.options_json.as_str(), challenge.attempts, challenge.state.is_some()), (r#"{"challenge":"together"}"#, 0, true));
    let passkey = read.passkey.unwrap();
    assert_eq!((passkey.id.as_str(), passkey.user_id.as_str(), passkey.sign_count), (w.passkey.id.as_str(), w.user.id.as_str(), 0));
    let owner = read.owner.unwrap();
    assert_eq!((owner.id.as_str(), owner.webauthn_handle), (w.user.id.as_str(), w.user.webauthn_handle));

    // An unknown credential: the client and the sign-in alone.
    let unknown = store.sign_in_attempt(&w.token_hash, &attempt.id, b"no such credential").await.unwrap().unwrap();
    assert_eq!(unknown.sign_in.map(|s| s.id), Some(attempt.id.clone()));
    assert!(unknown.passkey.is_none() && unknown.owner.is_none());
    // Another client's sign-in, or a missing one: the client, without a sign-in.
    let other = world(store, "kims-neighbour").await;
    let elsewhere = store.sign_in_attempt(&other.token_hash, &attempt.id, &w.passkey.credential_id).await.unwrap().unwrap();
    assert_eq!((elsewhere.client.id.as_str(), elsewhere.sign_in.is_none()), (other.client.id.as_str(), true));
    let missing = store.sign_in_attempt(&w.token_hash, "sia_missing", &w.passkey.credential_id).await.unwrap().unwrap();
    assert!(missing.sign_in.is_none() && missing.passkey.is_some());
    // A token that names no client: nothing at all.
    assert!(store.sign_in_attempt(&[0u8; 32], &attempt.id, &w.passkey.credential_id).await.unwrap().is_none());
}

async fn a_failed_answer_spends_the_challenge_once(store: &dyn Store) {
    let w = world(store, "frank").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"fails"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let failure = SignInFailure {
        sign_in_id: &attempt.id,
        client_id: &w.client.id,
        challenge_options: r#"{"challenge":"fails"}"#,
        status: VerificationStatus::Failed,
        error_code: "verification_failed",
        now: T + 1,
    };
    let wrong_challenge = SignInFailure { challenge_options: r#"{"challenge":"other"}"#, ..failure };
    assert!(!store.fail_sign_in(&wrong_challenge).await.unwrap());
    assert!(store.fail_sign_in(&failure).await.unwrap());
    assert!(!store.fail_sign_in(&failure).await.unwrap(), "a challenge is answered once");
    let failed = store.sign_in(&w.client.id, &attempt.id).await.unwrap().unwrap().challenge.unwrap();
    assert_eq!((failed.status, failed.attempts, failed.error_code.as_deref()), (VerificationStatus::Failed, 1, Some("verification_failed")));
    assert!(failed.state.is_none());
    assert!(!store.complete_sign_in(&completion(&w, &attempt, 0, T + 2), &event("sign_in", T + 2)).await.unwrap().result);
    assert_eq!(store.passkeys_of(&w.user.id).await.unwrap()[0].sign_count, 0);
}

async fn a_moved_counter_stops_completion(store: &dyn Store) {
    let w = world(store, "grace").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"counter"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    // Verification read counter 5, but the passkey is at 0: someone else used it meanwhile.
    let moved = completion(&w, &attempt, 5, T + 1);
    assert!(!store.complete_sign_in(&moved, &event("sign_in", T + 1)).await.unwrap().result);
    // Rolled back whole: the challenge is not spent, no session exists.
    let untouched = store.sign_in(&w.client.id, &attempt.id).await.unwrap().unwrap();
    assert_eq!((untouched.status, untouched.challenge.unwrap().attempts), (SignInStatus::NeedsFirstFactor, 0));
    assert!(store.session(&moved.session.id).await.unwrap().is_none());
    assert!(store.complete_sign_in(&completion(&w, &attempt, 0, T + 2), &event("sign_in", T + 2)).await.unwrap().result);
}

async fn sessions_touch_and_end(store: &dyn Store) {
    let w = world(store, "heidi").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"touch"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let done = completion(&w, &attempt, 0, T + 1);
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);
    let sid = done.session.id.as_str();

    store.touch_session(&w.client.id, sid, T + 100).await.unwrap();
    assert_eq!(store.session(sid).await.unwrap().unwrap().last_active_at, T + 100);
    assert!(!store.end_session("client_other", sid, SessionStatus::Removed, T + 200, &event("sign_out", T + 200)).await.unwrap());
    assert!(store.end_session(&w.client.id, sid, SessionStatus::Removed, T + 200, &event("sign_out", T + 200)).await.unwrap());
    assert!(!store.end_session(&w.client.id, sid, SessionStatus::Removed, T + 201, &event("sign_out", T + 201)).await.unwrap(), "ends once");
    assert_eq!(store.session(sid).await.unwrap().unwrap().status, SessionStatus::Removed);
    let client = stored_client(store, &w.client.id).await.unwrap();
    assert_eq!(client.last_active_session_id, None);
    assert_eq!(attempts(store, &w.client.id).await, (None, None));
    assert!(live_sessions(store, &w.client.id).await.is_empty());
}

/// The three writes an answer follows return the client as it is once they committed
/// (PostgreSQL reads it in the same flight as COMMIT): each shows its own change, and a
/// completion that lost a race returns none.
async fn writes_read_the_client_back_as_committed(store: &dyn Store) {
    let w = world(store, "judy").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"back"}"#);
    let created = store.create_sign_in(None, &attempt).await.unwrap().client.expect("the client, read back");
    assert_eq!(created.sign_in.map(|s| s.id), Some(attempt.id.clone()));

    let done = completion(&w, &attempt, 0, T + 1);
    let completed = store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap();
    assert!(completed.result);
    let client = completed.client.expect("the client, read back");
    assert_eq!(client.client.last_active_session_id.as_deref(), Some(done.session.id.as_str()));
    assert_eq!(client.sessions.iter().map(|v| v.session.id.as_str()).collect::<Vec<_>>(), [done.session.id.as_str()]);
    let lost = store.complete_sign_in(&done, &event("sign_in", T + 2)).await.unwrap();
    assert!(!lost.result && lost.client.is_none(), "a completion that changed nothing reads nothing back");

    let ended = store.end_client_sessions(&w.client.id, SessionStatus::Ended, T + 3, None, None).await.unwrap();
    assert_eq!(ended.result.len(), 1);
    let client = ended.client.expect("the client, read back");
    assert!(client.sessions.is_empty() && client.client.last_active_session_id.is_none());
}

async fn ending_a_clients_sessions_audits_each(store: &dyn Store) {
    let w = world(store, "ivan").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"out"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let done = completion(&w, &attempt, 0, T + 1);
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);

    let template = AuditEvent { client_id: Some(w.client.id.clone()), ..event("sign_out", T + 50) };
    let ended = store.end_client_sessions(&w.client.id, SessionStatus::Ended, T + 50, None, Some(&template)).await.unwrap().result;
    assert_eq!(ended.iter().map(|s| (s.id.as_str(), s.status)).collect::<Vec<_>>(), [(done.session.id.as_str(), SessionStatus::Ended)]);
    assert!(store.end_client_sessions(&w.client.id, SessionStatus::Ended, T + 51, None, Some(&template)).await.unwrap().result.is_empty());
    let audit = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    let sign_outs: Vec<&AuditEvent> = audit.iter().filter(|e| e.event == "sign_out").collect();
    assert_eq!(sign_outs.len(), 1, "one line per ended session, none for a second sign-out");
    assert_eq!(sign_outs[0].session_id.as_deref(), Some(done.session.id.as_str()));
    assert_eq!(sign_outs[0].user_id.as_deref(), Some(w.user.id.as_str()));
    assert_eq!(sign_outs[0].client_id.as_deref(), Some(w.client.id.as_str()));
    assert_eq!(stored_client(store, &w.client.id).await.unwrap().last_active_session_id, None);
}

async fn audit_events_filter_and_order(store: &dyn Store) {
    for (at, user) in [(T, "user_a"), (T + 10, "user_b"), (T + 20, "user_a"), (T + 30, "user_a")] {
        let line = AuditEvent {
            user_id: Some(user.into()),
            client_ip: Some("192.0.2.1".into()),
            user_agent: Some("test".into()),
            error_code: None,
            ..event("sign_in", at)
        };
        store.record_audit(&line).await.unwrap();
    }
    let all = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(all.iter().map(|e| e.at).collect::<Vec<_>>(), [T + 30, T + 20, T + 10, T], "newest first");
    assert_eq!((all[0].client_ip.as_deref(), all[0].user_agent.as_deref()), (Some("192.0.2.1"), Some("test")));
    let query = AuditQuery { user_id: Some("user_a".into()), since: Some(T + 1), until: Some(T + 30), limit: 100, ..AuditQuery::default() };
    let filtered = store.audit_events(&query).await.unwrap();
    assert_eq!(filtered.iter().map(|e| e.at).collect::<Vec<_>>(), [T + 20]);
    assert_eq!(store.audit_events(&AuditQuery { limit: 2, ..AuditQuery::default() }).await.unwrap().len(), 2);
}

async fn rate_limits_count_per_window(store: &dyn Store) {
    assert_eq!(store.hit_rate_limit("ip:1", T).await.unwrap(), 1);
    assert_eq!(store.hit_rate_limit("ip:1", T).await.unwrap(), 2);
    assert_eq!(store.hit_rate_limits(["ip:1", "client:1"], T).await.unwrap(), [3, 1]);
    assert_eq!(store.hit_rate_limits(["client:1", "ip:1"], T).await.unwrap(), [2, 4], "counts come back in the keys' order");
    assert_eq!(store.hit_rate_limits(["ip:1", "client:1"], T + 60_000).await.unwrap(), [1, 1], "a new window starts over");
}

async fn the_first_signing_key_wins(store: &dyn Store) {
    assert!(store.signing_keys().await.unwrap().is_empty());
    let key = |kid: &str, at: i64| StoredSigningKey {
        kid: kid.into(),
        alg: "RS256".into(),
        private_pkcs8: vec![1, 2, 3],
        public_raw: vec![4, 5, 6],
        created_at: at,
        retired_at: None,
    };
    let first = store.init_signing_key(&key("kid-1", T)).await.unwrap();
    assert_eq!(first.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["kid-1"]);
    let second = store.init_signing_key(&key("kid-2", T + 1)).await.unwrap();
    assert_eq!(second.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["kid-1"], "a second start keeps the first key");
    let stored = store.signing_keys().await.unwrap();
    assert_eq!((stored[0].private_pkcs8.as_slice(), stored[0].public_raw.as_slice(), stored[0].created_at), (&[1u8, 2, 3][..], &[4u8, 5, 6][..], T));
    // Another algorithm gets its own first key; a rotation retires the live key of its own.
    let ed = store.init_signing_key(&StoredSigningKey { alg: "EdDSA".into(), ..key("kid-ed", T + 2) }).await.unwrap();
    assert_eq!(ed.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["kid-1", "kid-ed"]);
    let rotated = store.rotate_signing_key(&key("kid-3", T + 3), T + 3).await.unwrap();
    let retired: Vec<_> = rotated.iter().map(|k| (k.kid.as_str(), k.retired_at)).collect();
    assert_eq!(retired, [("kid-1", Some(T + 3)), ("kid-ed", None), ("kid-3", None)]);
}

/// Keeps everything finished: the ceremonies' purge alone.
const KEEP_FINISHED: PurgePolicy = PurgePolicy { finished_grace: 1000 * DAY, dead_client_grace: 1000 * DAY, audit_retention: None };

async fn purge_deletes_only_what_is_dead(store: &dyn Store) {
    let w = world(store, "judy").await;
    let now = T + 10 * DAY;
    // Pending registrations: expired more than an hour ago (purged), expired just now (kept).
    let old = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &old, now - 2 * 3_600_000), 10).await.unwrap();
    let recent = new_id(IdKind::Passkey, T);
    // (From another client: a client's new registration replaces its earlier ones.)
    let (other_client, _) = new_client();
    store.create_pending_passkey(&new_pending(&w.user, &other_client, &recent, now - 1_000), 10).await.unwrap();
    // Sign-ins: one abandoned (purged), one complete (kept, it names its session), one live.
    let abandoned = new_sign_in(&w.client, r#"{"challenge":"abandoned"}"#);
    store.create_sign_in(None, &abandoned).await.unwrap();
    let completed = new_sign_in(&w.client, r#"{"challenge":"completed"}"#);
    store.create_sign_in(None, &completed).await.unwrap();
    assert!(store.complete_sign_in(&completion(&w, &completed, 0, T + 1), &event("sign_in", T + 1)).await.unwrap().result);
    let live = SignIn { abandon_at: now + DAY, ..new_sign_in(&w.client, r#"{"challenge":"live"}"#) };
    store.create_sign_in(None, &live).await.unwrap();
    // Rate-limit windows: one from long ago (purged), one current (kept).
    store.hit_rate_limit("old", T).await.unwrap();
    store.hit_rate_limit("current", now).await.unwrap();

    assert_eq!(store.purge_expired(now, &KEEP_FINISHED).await.unwrap(), 3);
    assert!(store.pending_passkey(&w.user.id, &old).await.unwrap().is_none());
    assert!(store.pending_passkey(&w.user.id, &recent).await.unwrap().is_some());
    assert!(store.sign_in(&w.client.id, &abandoned.id).await.unwrap().is_none());
    assert!(store.sign_in(&w.client.id, &completed.id).await.unwrap().is_some());
    assert!(store.sign_in(&w.client.id, &live.id).await.unwrap().is_some());
    assert_eq!(store.hit_rate_limit("current", now).await.unwrap(), 2);
    assert_eq!(store.purge_expired(now, &KEEP_FINISHED).await.unwrap(), 0);
    assert_eq!(store.hit_rate_limit("old", T).await.unwrap(), 1, "the old window's count was deleted");
}

// ---- the Backend API ----------------------------------------------------------------------

async fn a_ticket_is_redeemed_once_before_it_expires_for_its_user(store: &dyn Store) {
    let w = world(store, "ticket").await;
    let (token, _) = SignInToken::issue(&w.user.id, 60, |t| t.as_bytes().to_vec(), T);
    let fresh = Uuid::new_v4().as_bytes().to_vec();
    let rotated = ClientToken::Rotated { client_id: &w.client.id, old_token_hash: &w.token_hash, token_hash: &fresh };
    store.create_sign_in_token(&token, &event("sign_in_token.create", T)).await.unwrap();
    assert_eq!(store.sign_in_token_by_hash(&token.token_hash).await.unwrap(), Some(token.clone()));
    let redeem = |client: &Client, user: &User, now: i64| {
        let session = new_session(client, user, now);
        let sign_in = SignIn { status: SignInStatus::Complete, challenge: None, ..new_sign_in(client, "{}") };
        (session, sign_in)
    };
    // Not for another user's session, not once expired: nothing changes.
    let other = new_user("other");
    let (session, sign_in) = redeem(&w.client, &other, T + 1);
    let r = TicketRedemption { token_id: &token.id, client: rotated, sign_in: &sign_in, session: &session, now: T + 1 };
    assert!(!store.redeem_sign_in_token(&r, &event("sign_in", T + 1)).await.unwrap(), "bound to its user");
    let (session, sign_in) = redeem(&w.client, &w.user, T + 60_000);
    let r = TicketRedemption { token_id: &token.id, client: rotated, sign_in: &sign_in, session: &session, now: T + 60_000 };
    assert!(!store.redeem_sign_in_token(&r, &event("sign_in", T + 60_000)).await.unwrap(), "expired");
    assert!(store.session(&session.id).await.unwrap().is_none(), "a refused redemption stores no session");
    // Redeemed once: the second redemption of the same token changes nothing.
    let (session, sign_in) = redeem(&w.client, &w.user, T + 2);
    let r = TicketRedemption { token_id: &token.id, client: rotated, sign_in: &sign_in, session: &session, now: T + 2 };
    assert!(store.redeem_sign_in_token(&r, &event("sign_in", T + 2)).await.unwrap());
    assert_eq!(store.session(&session.id).await.unwrap().map(|s| s.user_id), Some(w.user.id.clone()));
    assert!(store.client_by_token(&w.token_hash).await.unwrap().is_none(), "the pre-ticket token still works");
    assert_eq!(store.client_by_token(&fresh).await.unwrap().map(|c| c.id), Some(w.client.id.clone()));
    let (again, sign_in) = redeem(&w.client, &w.user, T + 3);
    let r = TicketRedemption { token_id: &token.id, client: rotated, sign_in: &sign_in, session: &again, now: T + 3 };
    assert!(!store.redeem_sign_in_token(&r, &event("sign_in", T + 3)).await.unwrap(), "once");
    assert!(store.session(&again.id).await.unwrap().is_none());
}

async fn secret_keys_are_found_by_hash_until_revoked(store: &dyn Store) {
    let (first, _) = SecretKey::issue("a", |k| k.as_bytes().to_vec(), T);
    let (second, _) = SecretKey::issue("b", |k| k.as_bytes().to_vec(), T + 1);
    store.create_secret_key(&first, &event("secret_key.create", T)).await.unwrap();
    store.create_secret_key(&second, &event("secret_key.create", T + 1)).await.unwrap();
    assert_eq!(store.live_secret_key(&first.key_hash).await.unwrap().map(|k| k.id), Some(first.id.clone()));
    assert!(store.revoke_secret_key(&first.id, T + 2, &event("secret_key.revoke", T + 2)).await.unwrap());
    assert!(!store.revoke_secret_key(&first.id, T + 3, &event("secret_key.revoke", T + 3)).await.unwrap(), "once");
    assert!(store.live_secret_key(&first.key_hash).await.unwrap().is_none(), "revoked");
    assert!(store.live_secret_key(&second.key_hash).await.unwrap().is_some(), "the other key stays live");
    let listed: Vec<_> = store.secret_keys().await.unwrap().into_iter().map(|k| (k.id, k.revoked_at)).collect();
    assert_eq!(listed, [(first.id, Some(T + 2)), (second.id, None)]);
}

async fn metadata_merges_and_a_deleted_user_takes_their_records(store: &dyn Store) {
    let w = world(store, "meta").await;
    let patch = |public: serde_json::Value| MetadataPatch { public: Some(public), ..MetadataPatch::default() };
    store.update_user_metadata(&w.user.id, &patch(serde_json::json!({"a": {"b": 1, "c": 2}})), T, &event("user.metadata", T), &no_webhooks).await.unwrap();
    let merged = store.update_user_metadata(&w.user.id, &patch(serde_json::json!({"a": {"c": null, "d": 3}})), T + 1, &event("user.metadata", T + 1), &no_webhooks).await.unwrap().unwrap();
    assert_eq!(merged.public, serde_json::json!({"a": {"b": 1, "d": 3}}));
    assert_eq!(store.user_metadata(&w.user.id).await.unwrap(), merged);
    assert!(store.update_user_metadata("user_nobody", &patch(serde_json::json!({})), T, &event("user.metadata", T), &no_webhooks).await.unwrap().is_none());
    assert_eq!(store.count_users(None).await.unwrap(), 1);
    assert_eq!(store.count_users(Some("ET")).await.unwrap(), 1, "case-insensitive part of the username");
    assert_eq!(store.count_users(Some("%")).await.unwrap(), 0, "LIKE wildcards are escaped");

    assert!(store.delete_user(&w.user.id, T + 2, &event("user.delete", T + 2)).await.unwrap());
    assert!(store.user(&w.user.id).await.unwrap().is_none());
    assert!(store.passkeys_of(&w.user.id).await.unwrap().is_empty());
    assert_eq!(store.user_metadata(&w.user.id).await.unwrap(), Default::default());
    assert!(!store.delete_user(&w.user.id, T + 3, &event("user.delete", T + 3)).await.unwrap(), "once");
}

async fn a_revoked_session_leaves_its_client(store: &dyn Store) {
    let w = world(store, "revoke").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"revoke"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let done = completion(&w, &attempt, 0, T + 1);
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);
    let sid = done.session.id.clone();
    let (page, total) = store.sessions_page(&latch_store::SessionQuery { user_id: Some(w.user.id.clone()), status: Some("active".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!((page.len(), total), (1, 1));
    let revoked = store.revoke_session(&sid, T + 2, &event("session.revoke", T + 2)).await.unwrap().unwrap();
    assert_eq!(revoked.id, sid);
    assert!(store.revoke_session(&sid, T + 3, &event("session.revoke", T + 3)).await.unwrap().is_none(), "once");
    let snapshot = store.client_snapshot(&w.client.id).await.unwrap().unwrap();
    assert!(snapshot.sessions.is_empty() && snapshot.client.last_active_session_id.is_none());
}

/// Session fixation: whatever token a client held before signing in, up or out names
/// nothing afterwards; the new one names the same client. A rotation asked with a token that
/// is no longer the client's (a concurrent action replaced it) changes nothing.
async fn signing_in_up_and_out_rotates_the_client_token(store: &dyn Store) {
    let w = world(store, "oscar").await;
    assert_eq!(store.client_by_token(&w.token_hash).await.unwrap().unwrap().id, w.client.id);

    let attempt = new_sign_in(&w.client, r#"{"challenge":"rotate"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let mut done = completion(&w, &attempt, 0, T + 1);
    done.client_token_hash = Uuid::new_v4().as_bytes().to_vec();
    let stale = SignInCompletion { old_client_token_hash: b"replaced".to_vec(), ..done.clone() };
    assert!(!store.complete_sign_in(&stale, &event("sign_in", T + 1)).await.unwrap().result);
    assert!(store.session(&stale.session.id).await.unwrap().is_none());
    let before = store.client_by_token(&w.token_hash).await.unwrap().unwrap();
    assert_ne!(before.last_active_session_id.as_deref(), Some(stale.session.id.as_str()), "a refused sign-in sets no session active");
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);
    assert!(store.client_by_token(&w.token_hash).await.unwrap().is_none(), "the pre-sign-in token still works");
    assert!(store.client_and_session(&w.token_hash, Some(&done.session.id)).await.unwrap().is_none());
    let found = store.client_and_session(&done.client_token_hash, Some(&done.session.id)).await.unwrap().unwrap();
    assert_eq!(found.session.map(|s| s.id), Some(done.session.id.clone()));
    assert_eq!(found.client.last_active_session_id.as_deref(), Some(done.session.id.as_str()), "the token and the active session in one write");

    let after_sign_out = Uuid::new_v4().as_bytes().to_vec();
    let stale = Some((w.token_hash.as_slice(), after_sign_out.as_slice()));
    let refused = store.end_client_sessions(&w.client.id, SessionStatus::Ended, T + 2, stale, None).await;
    assert!(matches!(refused, Err(StoreError::ClientTokenReplaced)), "{refused:?}");
    assert_eq!(live_sessions(store, &w.client.id).await.len(), 1, "a refused sign-out ends nothing");
    let rotation = Some((done.client_token_hash.as_slice(), after_sign_out.as_slice()));
    store.end_client_sessions(&w.client.id, SessionStatus::Ended, T + 2, rotation, None).await.unwrap();
    assert!(store.client_by_token(&done.client_token_hash).await.unwrap().is_none(), "the signed-in token outlives sign-out");
    assert_eq!(store.client_by_token(&after_sign_out).await.unwrap().unwrap().id, w.client.id);
    let signed_out = store.client_snapshot(&w.client.id).await.unwrap().unwrap();
    assert_eq!(signed_out.client.last_active_session_id, None, "a rotated sign-out clears the client too");
    assert!(signed_out.sign_in.is_none() && signed_out.sessions.is_empty());

    let user = new_user("oscar2");
    let session = new_session(&w.client, &user, T + 3);
    let after_sign_up = Uuid::new_v4().as_bytes().to_vec();
    let rotated = ClientToken::Rotated { client_id: &w.client.id, old_token_hash: &after_sign_out, token_hash: &after_sign_up };
    store.sign_up(rotated, &user, &sign_up_of(&w.client, &user, &session), &session, &event("sign_up", T + 3)).await.unwrap();
    assert!(store.client_by_token(&after_sign_out).await.unwrap().is_none(), "the pre-sign-up token still works");
    assert_eq!(store.client_by_token(&after_sign_up).await.unwrap().unwrap().id, w.client.id);
}

/// The quota counts verified passkeys and unexpired open registrations; a client's new
/// registration replaces its own earlier ones.
async fn open_registrations_count_against_the_quota(store: &dyn Store) {
    let w = world(store, "quinn").await; // one verified passkey
    let (other_client, _) = new_client();
    let open = new_id(IdKind::Passkey, T + 1);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &open, T + 300_000), 2).await.unwrap();
    let elsewhere = new_id(IdKind::Passkey, T + 2);
    let refused = store.create_pending_passkey(&new_pending(&w.user, &other_client, &elsewhere, T + 300_000), 2).await;
    assert!(matches!(refused, Err(StoreError::QuotaExceeded)), "{refused:?}");
    assert!(store.pending_passkey(&w.user.id, &elsewhere).await.unwrap().is_none());
    let again = new_id(IdKind::Passkey, T + 3);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &again, T + 300_000), 2).await.unwrap();
    assert!(store.pending_passkey(&w.user.id, &open).await.unwrap().is_none(), "replaced by the client's new one");
    assert!(store.pending_passkey(&w.user.id, &again).await.unwrap().is_some());
}

/// Ended sessions, completed sign-ins and sign-ups go after the grace period, dead clients
/// after theirs, audit lines after the retention; live things and recent ones stay.
async fn purge_deletes_finished_records_after_their_grace(store: &dyn Store) {
    let policy = PurgePolicy { finished_grace: DAY, dead_client_grace: 30 * DAY, audit_retention: Some(90 * DAY) };
    // A world signed up and out at T: its first session ended at T, its client idle since T.
    let gone = world(store, "rhea").await;
    // Another signed in at T + 40 days and still live.
    let kept = world(store, "sam").await;
    let attempt = new_sign_in(&kept.client, r#"{"challenge":"kept"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let mut done = completion(&kept, &attempt, 0, T + 40 * DAY);
    done.session.expire_at = T + 100 * DAY;
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 40 * DAY)).await.unwrap().result);

    let now = T + 95 * DAY;
    assert!(store.purge_expired(now, &policy).await.unwrap() > 0);
    // Gone: the dead client (its token names nothing), its ended session, the old audit lines.
    assert!(store.client_by_token(&gone.token_hash).await.unwrap().is_none(), "a dead client outlived its grace");
    assert!(live_sessions(store, &gone.client.id).await.is_empty());
    let audit = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap();
    assert!(audit.iter().all(|e| e.at >= now - 90 * DAY), "audit lines past retention: {audit:?}");
    assert!(audit.iter().any(|e| e.at == T + 40 * DAY), "a recent line was purged");
    // Kept: the live session and its client, and the users and passkeys of both.
    let found = store.client_and_session(&kept.token_hash, Some(&done.session.id)).await.unwrap().unwrap();
    assert_eq!(found.session.map(|s| s.status), Some(SessionStatus::Active));
    assert!(store.user(&gone.user.id).await.unwrap().is_some());
    assert_eq!(store.passkeys_of(&gone.user.id).await.unwrap().len(), 1);
    // Without retention, the audit trail is kept.
    let forever = PurgePolicy { audit_retention: None, ..policy };
    let before = store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap().len();
    store.purge_expired(now + 400 * DAY, &forever).await.unwrap();
    assert_eq!(store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap().len(), before);
}

async fn a_handshake_nonce_is_taken_once_and_purged_when_expired(store: &dyn Store) {
    let nonce = |hash: &[u8], expire_at| HandshakeNonce {
        nonce_hash: hash.to_vec(),
        grant_json: format!("{{\"n\":{}}}", hash[0]),
        created_at: T,
        expire_at,
    };
    store.create_handshake_nonce(&nonce(&[1; 32], T + 30_000)).await.unwrap();
    store.create_handshake_nonce(&nonce(&[2; 32], T + 30_000)).await.unwrap();
    assert_eq!(store.take_handshake_nonce(&[3; 32]).await.unwrap(), None, "never issued");
    assert_eq!(store.take_handshake_nonce(&[1; 32]).await.unwrap(), Some(("{\"n\":1}".to_string(), T + 30_000)));
    assert_eq!(store.take_handshake_nonce(&[1; 32]).await.unwrap(), None, "taken once only");
    // The purge leaves a live nonce and deletes an expired one.
    store.create_handshake_nonce(&nonce(&[4; 32], T + 30_000)).await.unwrap();
    store.purge_expired(T + 1_000, &PurgePolicy::default()).await.unwrap();
    assert!(store.take_handshake_nonce(&[4; 32]).await.unwrap().is_some(), "not expired: kept");
    store.purge_expired(T + 31_000, &PurgePolicy::default()).await.unwrap();
    assert_eq!(store.take_handshake_nonce(&[2; 32]).await.unwrap(), None, "purged once expired");
}

/// Every kind of finished row goes once its own grace period is over, not a moment before,
/// and nothing live goes however old it is: what makes the database of a steady workload
/// level off (issue 15; `scripts/soak.sh` shows it on a running server).
async fn purge_takes_each_finished_kind_after_its_grace_and_nothing_live(store: &dyn Store) {
    let policy = PurgePolicy { finished_grace: DAY, dead_client_grace: 3 * DAY, audit_retention: Some(5 * DAY) };
    // Signed up and out at T: a sign-up record, an ended session, a client idle since T.
    let (client, token_hash) = new_client();
    let user = new_user("finn");
    let first = new_session(&client, &user, T);
    let sign_up = sign_up_of(&client, &user, &first);
    let new = ClientToken::New(NewClient { client: &client, token_hash: &token_hash });
    store.sign_up(new, &user, &sign_up, &first, &event("sign_up", T)).await.unwrap();
    store.end_client_sessions(&client.id, SessionStatus::Ended, T, None, None).await.unwrap();
    // Signed in at T + 1 with a session live for 100 days; its sign-in completed then.
    let live = world(store, "liv").await;
    let attempt = new_sign_in(&live.client, r#"{"challenge":"liv"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let mut done = completion(&live, &attempt, 0, T + 1);
    done.session.expire_at = T + 100 * DAY;
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);
    // A session never ended that expired at T + DAY / 2.
    let lapsed = world(store, "lapse").await;
    let lapsed_attempt = new_sign_in(&lapsed.client, r#"{"challenge":"lapse"}"#);
    store.create_sign_in(None, &lapsed_attempt).await.unwrap();
    let mut expiring = completion(&lapsed, &lapsed_attempt, 0, T + 1);
    expiring.session.expire_at = T + DAY / 2;
    assert!(store.complete_sign_in(&expiring, &event("sign_in", T + 1)).await.unwrap().result);
    // Tickets: one revoked at T + 2, one pending until T + 10 days.
    let (revoked, _) = SignInToken::issue(&live.user.id, 60, |t| t.as_bytes().to_vec(), T);
    let (pending, _) = SignInToken::issue(&live.user.id, 10 * 86_400, |t| t.as_bytes().to_vec(), T);
    store.create_sign_in_token(&revoked, &event("sign_in_token.create", T)).await.unwrap();
    store.create_sign_in_token(&pending, &event("sign_in_token.create", T)).await.unwrap();
    assert!(store.revoke_sign_in_token(&revoked.id, T + 2, &event("sign_in_token.revoke", T + 2)).await.unwrap().is_some());

    let rows = PurgeRows {
        sign_up: (client.id.clone(), sign_up.id.clone()),
        ended_session: first.id.clone(),
        revoked_ticket: revoked.token_hash.clone(),
        completed_sign_in: (live.client.id.clone(), attempt.id.clone()),
        expired_session: expiring.session.id.clone(),
        dead_client: token_hash.clone(),
        pending_ticket: pending.token_hash.clone(),
        live_session: done.session.id.clone(),
        live_client: live.token_hash.clone(),
        users: vec![user.id.clone(), live.user.id.clone()],
    };
    const LIVE: [&str; 5] = ["pending ticket", "live session", "live client", "users", "passkeys"];
    let expect = |finished: &[&'static str]| [finished, &LIVE[..]].concat();
    let all_finished = ["sign-up", "ended session", "revoked ticket", "completed sign-in", "expired session", "dead client", "audit lines at T"];
    // Nothing is over its grace yet (the comparisons are strict).
    assert_eq!(rows.present(store, T + DAY, &policy).await, expect(&all_finished));
    // A day after T: the sign-up, the session ended, the ticket revoked and the sign-in
    // completed then (its grace counts from completion, not from its abandon time a day on).
    assert_eq!(rows.present(store, T + DAY + DAY / 4, &policy).await, expect(&["expired session", "dead client", "audit lines at T"]));
    // A day after the session's expiry.
    assert_eq!(rows.present(store, T + 2 * DAY + 1, &policy).await, expect(&["dead client", "audit lines at T"]));
    // The client's own grace; then the audit retention.
    assert_eq!(rows.present(store, T + 3 * DAY + 1, &policy).await, expect(&["audit lines at T"]));
    assert_eq!(rows.present(store, T + 5 * DAY + 1, &policy).await, expect(&[]));
}

/// The rows `purge_takes_each_finished_kind_after_its_grace_and_nothing_live` watches.
struct PurgeRows {
    sign_up: (String, String),
    ended_session: String,
    revoked_ticket: Vec<u8>,
    completed_sign_in: (String, String),
    expired_session: String,
    dead_client: Vec<u8>,
    pending_ticket: Vec<u8>,
    live_session: String,
    live_client: Vec<u8>,
    users: Vec<String>,
}

impl PurgeRows {
    /// Purges at `now`, then names the kinds still there, finished ones first, in a fixed order.
    async fn present(&self, store: &dyn Store, now: i64, policy: &PurgePolicy) -> Vec<&'static str> {
        store.purge_expired(now, policy).await.unwrap();
        let audit_at_t = AuditQuery { until: Some(T + 1), limit: 100, ..AuditQuery::default() };
        let mut users_there = true;
        for id in &self.users {
            users_there &= store.user(id).await.unwrap().is_some();
        }
        let kinds = [
            ("sign-up", store.sign_up_record(&self.sign_up.0, &self.sign_up.1).await.unwrap().is_some()),
            ("ended session", store.session(&self.ended_session).await.unwrap().is_some()),
            ("revoked ticket", store.sign_in_token_by_hash(&self.revoked_ticket).await.unwrap().is_some()),
            ("completed sign-in", store.sign_in(&self.completed_sign_in.0, &self.completed_sign_in.1).await.unwrap().is_some()),
            ("expired session", store.session(&self.expired_session).await.unwrap().is_some()),
            ("dead client", store.client_by_token(&self.dead_client).await.unwrap().is_some()),
            ("audit lines at T", !store.audit_events(&audit_at_t).await.unwrap().is_empty()),
            ("pending ticket", store.sign_in_token_by_hash(&self.pending_ticket).await.unwrap().is_some()),
            ("live session", store.session(&self.live_session).await.unwrap().is_some()),
            ("live client", store.client_by_token(&self.live_client).await.unwrap().is_some()),
            ("users", users_there),
            ("passkeys", store.passkeys_of(&self.users[1]).await.unwrap().len() == 1),
        ];
        kinds.into_iter().filter(|(_, there)| *there).map(|(kind, _)| kind).collect()
    }
}

/// The Backend API's listing reads each user's metadata and passkeys with the page (one
/// statement, not one read per user): the same details as reading them one by one, and
/// `limit` counts users, not the rows a user with several passkeys spans.
async fn a_page_of_users_comes_with_their_details_in_one_read(store: &dyn Store) {
    let worlds = [world(store, "pia").await, world(store, "quentin").await, world(store, "rosa").await];
    // The second has two passkeys and metadata; the others one passkey and none.
    let rich = &worlds[1];
    let second = new_id(IdKind::Passkey, T + 1);
    store.create_pending_passkey(&new_pending(&rich.user, &rich.client, &second, T + 300_000), 10).await.unwrap();
    let passkey = new_passkey(&rich.user, &second, Uuid::new_v4().as_bytes());
    assert!(store.save_verified_passkey(&passkey, 10, &event("passkey.create", T + 1)).await.unwrap());
    let patch = MetadataPatch { private: Some(serde_json::json!({"plan": "pro"})), ..MetadataPatch::default() };
    store.update_user_metadata(&rich.user.id, &patch, T + 2, &event("user.metadata", T + 2), &|_: &latch_store::UserMetadata| Vec::new()).await.unwrap();

    let query = |offset, oldest_first| latch_store::UserQuery { search: None, oldest_first, limit: 2, offset };
    let mut seen = Vec::new();
    for oldest_first in [false, true] {
        let first_page = store.users_page(&query(0, oldest_first)).await.unwrap();
        let second_page = store.users_page(&query(2, oldest_first)).await.unwrap();
        assert_eq!((first_page.len(), second_page.len()), (2, 1), "limit counts users");
        let page: Vec<_> = first_page.into_iter().chain(second_page).collect();
        let ids = |passkeys: &[Passkey]| passkeys.iter().map(|p| (p.id.clone(), p.credential_id.clone(), p.name.clone())).collect::<Vec<_>>();
        for shown in &page {
            let id = &shown.user.id;
            assert_eq!(ids(&shown.passkeys), ids(&store.passkeys_of(id).await.unwrap()), "{id}");
            assert_eq!(shown.metadata, store.user_metadata(id).await.unwrap(), "{id}");
            let alone = store.user_details(id).await.unwrap().expect("the user");
            assert_eq!((&alone.user, ids(&alone.passkeys), &alone.metadata), (&shown.user, ids(&shown.passkeys), &shown.metadata));
        }
        seen.push(page.iter().map(|u| u.user.id.clone()).collect::<Vec<_>>());
    }
    let (mut newest, oldest) = (seen[0].clone(), seen[1].clone());
    newest.reverse();
    assert_eq!(newest, oldest, "the two orders are each other's reverse");
    let rich_shown = store.user_details(&rich.user.id).await.unwrap().unwrap();
    assert_eq!(rich_shown.passkeys.len(), 2);
    assert_eq!(rich_shown.metadata.private, serde_json::json!({"plan": "pro"}));
    assert!(store.user_details("user_nobody").await.unwrap().is_none());
}

/// Idle timeout (docs/protocol.md §16): a session's use moves its idle end on; once past it
/// (and the grace period), the purge takes the session like an expired one.
async fn an_idle_session_is_purged_after_its_grace(store: &dyn Store) {
    const HOUR: i64 = 3_600_000;
    let w = world(store, "ida").await;
    let attempt = new_sign_in(&w.client, r#"{"challenge":"idle"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let mut done = completion(&w, &attempt, 0, T + DAY);
    done.session.idle_timeout = Some(HOUR);
    done.session.made_with =
        SessionSource::Passkey { passkey_id: w.passkey.id.clone(), attachment: Some(AuthenticatorAttachment::CrossPlatform) };
    assert!(store.complete_sign_in(&done, &event("sign_in", T + DAY)).await.unwrap().result);
    let stored = store.session(&done.session.id).await.unwrap().unwrap();
    assert_eq!((stored.idle_timeout, stored.made_with.clone()), (Some(HOUR), done.session.made_with.clone()));
    // Used half an hour later: its idle end moves on; an older use never moves it back.
    store.record_session_use(&done.session.id, T + DAY + HOUR / 2).await.unwrap();
    store.record_session_use(&done.session.id, T + DAY + 1).await.unwrap();
    let used = store.session(&done.session.id).await.unwrap().unwrap();
    assert_eq!(used.last_active_at, T + DAY + HOUR / 2);
    assert!(!used.is_live(T + DAY + 2 * HOUR), "idle for longer than its timeout");
    let policy = PurgePolicy { finished_grace: DAY, dead_client_grace: 30 * DAY, audit_retention: None };
    store.purge_expired(T + DAY + 2 * HOUR, &policy).await.unwrap();
    assert!(store.session(&done.session.id).await.unwrap().is_some(), "kept through the grace period");
    store.purge_expired(T + 2 * DAY + 2 * HOUR, &policy).await.unwrap();
    assert!(store.session(&done.session.id).await.unwrap().is_none(), "an idle session outlived its grace");
}

// ---- webhooks ------------------------------------------------------------------------------

fn webhook(event_type: &str, at: i64) -> latch_store::WebhookEvent {
    latch_store::WebhookEvent {
        id: new_id(IdKind::WebhookMessage, at),
        event_type: event_type.into(),
        payload: format!(r#"{{"type":"{event_type}"}}"#),
        created_at: at,
        session_id: None,
    }
}

fn endpoint(url: &str, types: Option<&[&str]>) -> latch_store::WebhookEndpoint {
    latch_store::WebhookEndpoint {
        id: new_id(IdKind::WebhookEndpoint, T),
        url: url.into(),
        secret: "whsec_bGF0Y2gtdGVzdC13ZWJob29rLXNlY3JldC0zMmJ5dGU=".into(),
        event_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
        enabled: true,
        created_at: T,
    }
}

fn with_webhooks(name: &str, at: i64, events: Vec<latch_store::WebhookEvent>) -> AuditEvent {
    AuditEvent { webhooks: events, ..event(name, at) }
}

/// No endpoint: an action's events store nothing. Then each event goes to the endpoints
/// whose filter takes its type, once each.
async fn webhook_events_fan_out_to_the_endpoints_that_want_them(store: &dyn Store) {
    store.record_audit(&with_webhooks("x", T, vec![webhook("user.created", T)])).await.unwrap();
    assert_eq!(store.webhook_event_count().await.unwrap(), 0, "no endpoint: no event row");
    assert!(!store.webhooks_enabled().await.unwrap());

    let all = endpoint("https://all.example/hook", None);
    let sessions = endpoint("https://sessions.example/hook", Some(&["session.created", "session.ended"]));
    store.create_webhook_endpoint(&all, &event("webhook.endpoint.add", T)).await.unwrap();
    store.create_webhook_endpoint(&sessions, &event("webhook.endpoint.add", T)).await.unwrap();
    assert!(store.webhooks_enabled().await.unwrap());
    let mut listed = store.webhook_endpoints().await.unwrap();
    listed.sort_by(|a, b| a.url.cmp(&b.url));
    assert_eq!(listed, vec![all.clone(), sessions.clone()]);

    let user_created = webhook("user.created", T + 1);
    let session_created = webhook("session.created", T + 1);
    store.record_audit(&with_webhooks("x", T + 1, vec![user_created.clone(), session_created.clone()])).await.unwrap();
    assert_eq!(store.webhook_event_count().await.unwrap(), 2);
    let deliveries = store.webhook_deliveries(None, 10).await.unwrap();
    let mut pairs: Vec<(String, String)> = deliveries.iter().map(|d| (d.event_id.clone(), d.endpoint_id.clone())).collect();
    pairs.sort();
    let mut expected = vec![
        (user_created.id.clone(), all.id.clone()),
        (session_created.id.clone(), all.id.clone()),
        (session_created.id.clone(), sessions.id.clone()),
    ];
    expected.sort();
    assert_eq!(pairs, expected, "session.created reaches both endpoints, user.created only the unfiltered one");
    assert!(deliveries.iter().all(|d| d.status == "pending" && d.attempts == 0 && d.id == format!("{}:{}", d.event_id, d.endpoint_id)));

    // Removing an endpoint takes its deliveries.
    assert!(store.remove_webhook_endpoint(&all.id, &event("webhook.endpoint.remove", T + 2)).await.unwrap());
    assert!(!store.remove_webhook_endpoint(&all.id, &event("webhook.endpoint.remove", T + 2)).await.unwrap());
    assert_eq!(store.webhook_deliveries(None, 10).await.unwrap().len(), 1);
}

/// The lease: a claimed delivery is not claimed again until its lease lapses; an outcome is
/// recorded once; a replay makes it pending again under the same event.
async fn a_webhook_delivery_is_claimed_once_and_retried_or_finished(store: &dyn Store) {
    store.create_webhook_endpoint(&endpoint("https://a.example/hook", None), &event("webhook.endpoint.add", T)).await.unwrap();
    let sent = webhook("passkey.created", T);
    store.record_audit(&with_webhooks("x", T, vec![sent.clone()])).await.unwrap();

    assert!(store.claim_webhook_deliveries(T - 1, T + 100, 10).await.unwrap().is_empty(), "not due before its time");
    let claimed = store.claim_webhook_deliveries(T, T + 100, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].event_id.as_str(), claimed[0].payload.as_str(), claimed[0].attempts), (sent.id.as_str(), sent.payload.as_str(), 0));
    assert!(store.claim_webhook_deliveries(T + 50, T + 200, 10).await.unwrap().is_empty(), "leased to the first claimer");

    let id = claimed[0].id.clone();
    let retry = latch_store::DeliveryOutcome::RetryAt(T + 10, "HTTP 500".into());
    assert!(store.finish_webhook_delivery(&id, &retry, T + 5).await.unwrap());
    let again = store.claim_webhook_deliveries(T + 10, T + 300, 10).await.unwrap();
    assert_eq!((again.len(), again[0].attempts, again[0].event_id.as_str()), (1, 1, sent.id.as_str()), "the same event, retried");
    assert!(store.finish_webhook_delivery(&id, &latch_store::DeliveryOutcome::Delivered, T + 11).await.unwrap());
    assert!(!store.finish_webhook_delivery(&id, &latch_store::DeliveryOutcome::Delivered, T + 12).await.unwrap(), "recorded once");
    let listed = store.webhook_deliveries(Some("delivered"), 10).await.unwrap();
    assert_eq!((listed.len(), listed[0].attempts), (1, 2));
    assert!(store.claim_webhook_deliveries(T + 1000, T + 2000, 10).await.unwrap().is_empty());

    // A lapsed lease (its node died mid-attempt) makes the delivery due again.
    let other = webhook("passkey.deleted", T);
    store.record_audit(&with_webhooks("x", T, vec![other.clone()])).await.unwrap();
    assert_eq!(store.claim_webhook_deliveries(T, T + 100, 10).await.unwrap().len(), 1);
    assert_eq!(store.claim_webhook_deliveries(T + 100, T + 200, 10).await.unwrap().len(), 1, "claimable once the lease lapsed");

    // Replay by msg id: pending again, attempts from zero, the same event.
    assert_eq!(store.replay_webhook(&sent.id, T + 20, &event("webhook.replay", T + 20)).await.unwrap(), 1);
    let replayed = store.claim_webhook_deliveries(T + 20, T + 400, 10).await.unwrap();
    assert!(replayed.iter().any(|d| d.event_id == sent.id && d.attempts == 0));
    assert_eq!(store.replay_webhook("msg_nothing", T, &event("webhook.replay", T)).await.unwrap(), 0);

    // Purge: delivered and past retention, with its event.
    store.finish_webhook_delivery(&id, &latch_store::DeliveryOutcome::Delivered, T + 21).await.unwrap();
    store.purge_expired(T + 30 * DAY, &PurgePolicy::default()).await.unwrap();
    assert!(store.webhook_deliveries(Some("delivered"), 10).await.unwrap().is_empty());
    assert_eq!(store.webhook_event_count().await.unwrap(), 1, "the event still pending delivery stays");
}

/// An action that changes nothing writes no event: the outbox is in its transaction.
async fn a_change_that_rolls_back_leaves_no_webhook_event(store: &dyn Store) {
    store.create_webhook_endpoint(&endpoint("https://a.example/hook", None), &event("webhook.endpoint.add", T)).await.unwrap();
    let w = world(store, "rollback").await;
    assert_eq!(store.webhook_event_count().await.unwrap(), 0, "the world was made without events");
    // Revoking a session that is not live rolls back.
    let line = with_webhooks("session.revoke", T, vec![latch_store::WebhookEvent { session_id: Some("sess_none".into()), ..webhook("session.revoked", T) }]);
    assert!(store.revoke_session("sess_none", T, &line).await.unwrap().is_none());
    // A sign-up whose username is taken fails as a whole.
    let (client, token_hash) = new_client();
    let clash = User { id: new_id(IdKind::User, T), ..new_user("rollback") };
    let session = new_session(&client, &clash, T);
    let signed_up = sign_up_of(&client, &clash, &session);
    let line = with_webhooks("sign_up", T, vec![webhook("user.created", T), webhook("session.created", T)]);
    let clashed = store.sign_up(ClientToken::New(NewClient { client: &client, token_hash: &token_hash }), &clash, &signed_up, &session, &line).await;
    assert!(matches!(clashed, Err(StoreError::Conflict(_))));
    // Deleting a passkey of someone else's changes nothing.
    let line = with_webhooks("passkey.delete", T, vec![webhook("passkey.deleted", T)]);
    assert!(!store.delete_passkey("user_other", &w.passkey.id, "sess_none", &line, LastPasskeyProtection::Off).await.unwrap());
    assert_eq!(store.webhook_event_count().await.unwrap(), 0);
    assert!(store.webhook_deliveries(None, 10).await.unwrap().is_empty());
}

// ---- operators (the admin console) --------------------------------------------------------

async fn operators_are_granted_revoked_and_read_with_their_sessions(store: &dyn Store) {
    let w = world(store, "operator").await;
    let (client, token_hash) = new_client();
    let other = new_user("someone");
    let other_session = new_session(&client, &other, T);
    store
        .sign_up(ClientToken::New(NewClient { client: &client, token_hash: &token_hash }), &other, &sign_up_of(&client, &other, &other_session), &other_session, &event("sign_up", T))
        .await
        .unwrap();
    // Only an existing user can be granted the role; the grant writes its audit line.
    assert!(!store.grant_operator("user_nobody", T, &event("operator.grant", T)).await.unwrap());
    assert!(store.grant_operator(&w.user.id, T + 2, &AuditEvent { user_id: Some(w.user.id.clone()), ..event("operator.grant", T + 2) }).await.unwrap());
    assert!(store.grant_operator(&w.user.id, T + 3, &event("operator.grant", T + 3)).await.unwrap(), "granting again is harmless");
    let listed = store.operators().await.unwrap();
    assert_eq!(listed.iter().map(|o| (o.user.id.as_str(), o.granted_at)).collect::<Vec<_>>(), [(w.user.id.as_str(), T + 2)]);
    // A session is read with its user's role, whoever it belongs to.
    let theirs = store.operator_session(&other_session.id).await.unwrap().expect("the other user's session");
    assert!(!theirs.is_operator);
    assert_eq!(theirs.session.user_id, other.id);
    assert!(store.operator_session("sess_none").await.unwrap().is_none());
    // Revoked: the role is gone at once; revoking again finds nothing and writes no line.
    let lines = store.count_audit_events(&AuditQuery::default()).await.unwrap();
    assert!(store.revoke_operator(&w.user.id, &event("operator.revoke", T + 4)).await.unwrap());
    assert!(!store.revoke_operator(&w.user.id, &event("operator.revoke", T + 5)).await.unwrap());
    assert_eq!(store.count_audit_events(&AuditQuery::default()).await.unwrap(), lines + 1);
    assert!(store.operators().await.unwrap().is_empty());
    // A deleted user takes their role with them.
    assert!(store.grant_operator(&other.id, T + 6, &event("operator.grant", T + 6)).await.unwrap());
    assert!(store.operator_session(&other_session.id).await.unwrap().unwrap().is_operator);
    assert!(store.delete_user(&other.id, T + 7, &event("user.delete", T + 7)).await.unwrap());
    assert!(store.operators().await.unwrap().is_empty());
}

async fn audit_events_filter_by_action_and_page_with_a_count(store: &dyn Store) {
    for (at, name) in [(T, "sign_in"), (T + 10, "session.revoke"), (T + 20, "sign_in"), (T + 30, "sign_in")] {
        let line = AuditEvent { operator_id: (name == "session.revoke").then(|| "user_op".to_string()), ..event(name, at) };
        store.record_audit(&line).await.unwrap();
    }
    let sign_ins = AuditQuery { event: Some("sign_in".into()), limit: 2, ..AuditQuery::default() };
    let first = store.audit_events(&sign_ins).await.unwrap();
    assert_eq!(first.iter().map(|e| e.at).collect::<Vec<_>>(), [T + 30, T + 20]);
    let second = store.audit_events(&AuditQuery { offset: 2, ..sign_ins.clone() }).await.unwrap();
    assert_eq!(second.iter().map(|e| e.at).collect::<Vec<_>>(), [T]);
    assert_eq!(store.count_audit_events(&sign_ins).await.unwrap(), 3, "the count ignores the page");
    let revokes = store.audit_events(&AuditQuery { event: Some("session.revoke".into()), limit: 10, ..AuditQuery::default() }).await.unwrap();
    assert_eq!(revokes.iter().map(|e| e.operator_id.as_deref()).collect::<Vec<_>>(), [Some("user_op")], "the operator is kept");
    assert_eq!(store.count_audit_events(&AuditQuery { since: Some(T + 15), ..AuditQuery::default() }).await.unwrap(), 2);
}

/// What /readyz and a metrics scrape read (docs/protocol.md §19): the applied schema version,
/// the sessions live by `Session::is_live`'s rule (not ended, not expired, not idle past their
/// timeout), and the webhook deliveries still pending.
async fn operations_read_the_schema_version_live_sessions_and_webhook_backlog(store: &dyn Store) {
    assert_eq!(store.schema_version_applied().await.unwrap(), latch_store::SCHEMA_VERSION);
    let gauges = |live_sessions, webhook_backlog| latch_store::OperationsGauges { live_sessions, webhook_backlog };
    // world() signs its user up and out: an ended session, not live.
    let _ = world(store, "ended").await;
    assert_eq!(store.operations_gauges(T + 1).await.unwrap(), gauges(0, 0));

    let sign_up = |name: &str, idle_timeout: Option<i64>| {
        let (client, token_hash) = new_client();
        let user = new_user(name);
        let session = Session { idle_timeout, ..new_session(&client, &user, T) };
        (client, token_hash, user, session)
    };
    for (client, token_hash, user, session) in [sign_up("lasting", None), sign_up("idle", Some(1000))] {
        let signed_up = sign_up_of(&client, &user, &session);
        let new = ClientToken::New(NewClient { client: &client, token_hash: &token_hash });
        store.sign_up(new, &user, &signed_up, &session, &event("sign_up", T)).await.unwrap();
    }
    assert_eq!(store.operations_gauges(T + 500).await.unwrap(), gauges(2, 0));
    assert_eq!(store.operations_gauges(T + 2000).await.unwrap(), gauges(1, 0), "idle past its timeout");
    assert_eq!(store.operations_gauges(T + 8 * DAY).await.unwrap(), gauges(0, 0), "expired");

    store.create_webhook_endpoint(&endpoint("https://a.example/hook", None), &event("webhook.endpoint.add", T)).await.unwrap();
    store.record_audit(&with_webhooks("x", T, vec![webhook("passkey.deleted", T)])).await.unwrap();
    assert_eq!(store.operations_gauges(T + 500).await.unwrap(), gauges(2, 1));
    let claimed = store.claim_webhook_deliveries(T, T + 100, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    store.finish_webhook_delivery(&claimed[0].id, &latch_store::DeliveryOutcome::Delivered, T + 1).await.unwrap();
    assert_eq!(store.operations_gauges(T + 500).await.unwrap(), gauges(2, 0), "delivered: no longer pending");
}

// ---- lockout prevention (docs/protocol.md §21) -------------------------------------------

/// Another verified passkey of `w`'s user, synced (BS) or device-bound.
async fn add_passkey(store: &dyn Store, w: &World, synced: bool) -> Passkey {
    let id = new_id(IdKind::Passkey, T);
    store.create_pending_passkey(&new_pending(&w.user, &w.client, &id, T + 300_000), 10).await.expect("pending passkey");
    let passkey = Passkey { backup_state: synced, ..new_passkey(&w.user, &id, Uuid::new_v4().as_bytes()) };
    assert!(store.save_verified_passkey(&passkey, 10, &event("passkey.create", T)).await.expect("save passkey"));
    passkey
}

async fn delete(store: &dyn Store, w: &World, id: &str, protect: LastPasskeyProtection) -> Result<bool, StoreError> {
    store.delete_passkey(&w.user.id, id, "sess_none", &event("passkey.delete", T), protect).await
}

async fn the_lockout_rule_keeps_the_last_passkey_and_the_last_synced_one(store: &dyn Store) {
    use LastPasskeyProtection::{Last, LastSynced, Off};
    let kept_last = |r: Result<bool, StoreError>| matches!(r, Err(StoreError::PasskeyProtected { last_synced: false }));
    let kept_synced = |r: Result<bool, StoreError>| matches!(r, Err(StoreError::PasskeyProtected { last_synced: true }));
    let audit_lines = || async { store.audit_events(&AuditQuery { limit: 100, ..AuditQuery::default() }).await.unwrap().len() };

    // `last`: the only passkey stays, and nothing is written, not even an audit line.
    let w = world(store, "only").await;
    let lines = audit_lines().await;
    assert!(kept_last(delete(store, &w, &w.passkey.id, Last).await));
    assert!(kept_last(delete(store, &w, &w.passkey.id, LastSynced).await));
    assert_eq!(store.passkeys_of(&w.user.id).await.unwrap().len(), 1);
    assert_eq!(audit_lines().await, lines, "a refused delete leaves no audit line");
    // Someone else's passkey, or none, is still not found rather than protected.
    assert!(!store.delete_passkey("user_other", &w.passkey.id, "sess_none", &event("x", T), Last).await.unwrap());
    assert!(!delete(store, &w, "pkey_none", LastSynced).await.unwrap());
    // With a second one, either may go under `last`, but not both.
    let second = add_passkey(store, &w, false).await;
    assert!(delete(store, &w, &second.id, Last).await.unwrap());
    assert!(kept_last(delete(store, &w, &w.passkey.id, Last).await));
    // `off` is Clerk's behaviour: the last one goes too.
    assert!(delete(store, &w, &w.passkey.id, Off).await.unwrap());
    assert!(store.passkeys_of(&w.user.id).await.unwrap().is_empty());

    // `last-synced`: with one synced passkey and a device-bound one, the synced one stays
    // (the device-bound one may go); a second synced one frees either.
    let w = world(store, "synced").await; // its passkey is device-bound (BS off)
    let synced = add_passkey(store, &w, true).await;
    assert!(kept_synced(delete(store, &w, &synced.id, LastSynced).await));
    assert!(delete(store, &w, &synced.id, Last).await.unwrap(), "`last` does not look at BS");
    let synced = add_passkey(store, &w, true).await;
    let other_synced = add_passkey(store, &w, true).await;
    assert!(delete(store, &w, &other_synced.id, LastSynced).await.unwrap());
    assert!(delete(store, &w, &w.passkey.id, LastSynced).await.unwrap(), "a device-bound one may go");
    assert!(kept_last(delete(store, &w, &synced.id, LastSynced).await), "the only one left is kept as the last");

    // A user with no synced passkey at all may delete device-bound ones down to the last.
    let w = world(store, "bound").await;
    let second = add_passkey(store, &w, false).await;
    assert!(delete(store, &w, &second.id, LastSynced).await.unwrap());
}

/// Two deletes of a user's last two passkeys at once: the rule is checked inside each
/// delete's transaction (after the user's row lock on PostgreSQL), so one of them is refused.
async fn two_concurrent_deletes_of_the_last_two_passkeys_leave_one(store: &dyn Store) {
    for round in 0..8 {
        let w = world(store, &format!("racer{round}")).await;
        let second = add_passkey(store, &w, false).await;
        let (a, b) = tokio::join!(
            delete(store, &w, &w.passkey.id, LastPasskeyProtection::Last),
            delete(store, &w, &second.id, LastPasskeyProtection::Last)
        );
        let deleted = [a, b].into_iter().filter(|r| matches!(r, Ok(true))).count();
        assert_eq!(deleted, 1, "round {round}: exactly one delete passes");
        assert_eq!(store.passkeys_of(&w.user.id).await.unwrap().len(), 1, "round {round}: one passkey is left");
    }
}

/// A passkey delete writes `session.revoked` only for the sessions it ends (docs/protocol.md
/// §16.4): a session it would end that the caller wrote no event for (made since the caller
/// read them) fails the delete with `SessionsChanged`, changing nothing; an announced session
/// that is no longer live loses its event.
async fn a_passkey_delete_announces_exactly_the_sessions_it_ends(store: &dyn Store) {
    let w = world(store, "announce").await;
    store.create_webhook_endpoint(&endpoint("https://all.example/hook", None), &event("webhook.endpoint.add", T)).await.unwrap();
    let attempt = new_sign_in(&w.client, r#"{"challenge":"announce"}"#);
    store.create_sign_in(None, &attempt).await.unwrap();
    let mut done = completion(&w, &attempt, 0, T + 1);
    done.session.made_with = SessionSource::Passkey { passkey_id: w.passkey.id.clone(), attachment: None };
    assert!(store.complete_sign_in(&done, &event("sign_in", T + 1)).await.unwrap().result);
    let sid = done.session.id.clone();
    assert_eq!(store.sessions_made_by_passkey(&w.user.id, &w.passkey.id).await.unwrap().into_iter().map(|s| s.id).collect::<Vec<_>>(), vec![sid.clone()]);
    let revoked = |session_id: &str| latch_store::WebhookEvent { session_id: Some(session_id.into()), ..webhook("session.revoked", T + 2) };
    let deleted = || webhook("passkey.deleted", T + 2);
    let events = store.webhook_event_count().await.unwrap();
    let (user_id, passkey_id) = (w.user.id.as_str(), w.passkey.id.as_str());
    let delete = async |line: AuditEvent| store.delete_passkey(user_id, passkey_id, "", &line, LastPasskeyProtection::Off).await;

    let unannounced = delete(with_webhooks("passkey.delete", T + 2, vec![deleted()])).await;
    assert!(matches!(unannounced, Err(StoreError::SessionsChanged)), "{unannounced:?}");
    assert_eq!(store.passkeys_of(&w.user.id).await.unwrap().len(), 1, "the passkey stays");
    assert_eq!(store.session(&sid).await.unwrap().unwrap().status, SessionStatus::Active, "its session too");
    assert_eq!(store.webhook_event_count().await.unwrap(), events, "no event written");

    let announced = with_webhooks("passkey.delete", T + 2, vec![deleted(), revoked(&sid), revoked("sess_ended_meanwhile")]);
    assert!(delete(announced).await.unwrap());
    assert_eq!(store.session(&sid).await.unwrap().unwrap().status, SessionStatus::Revoked);
    assert_eq!(store.webhook_event_count().await.unwrap(), events + 2, "passkey.deleted and the live session's session.revoked");
}
