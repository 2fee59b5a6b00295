//! The storage side of one discoverable sign-in, on SQLite in a temporary folder
//! (`cargo bench -p latch-store`), through `SqliteStore` as `latch serve` opens it
//! (`latch_store::open`). (Until session 4 a `sqlx/…` variant measured sqlx's SQLite driver
//! on the same file; no store runs SQLite through sqlx any more.)
//!
//! * `sign_in_calls_as_the_handlers_make_them`: the `Store` calls the FAPI handlers make for
//!   create → attempt_first_factor → touch → tokens → sign out (one client signing in and
//!   out again, as `latch bench` does), including the `{response, client}` snapshots.
//! * `sign_in_essential_writes`: only what a sign-in must write: create the sign-in, complete
//!   it (challenge spent + counter + session + client + audit), end the session.
//! * `one_point_read` (`client_by_token`): the fixed cost of one statement.
//!
//! Run alone on an idle machine; the multi-threaded runtime has 2 workers like the server on
//! the 2-core reference machine.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latch_core::ceremony::{PasskeyOwner, RelyingParty, UvPolicy};
use latch_core::ids::{IdKind, new_id};
use latch_core::model::{
    Client, Passkey, PasskeyChallenge, PendingPasskey, Session, SessionStatus, SignIn, SignInCompletion, SignInStatus, SignUp, User,
    VerificationStatus,
};
use latch_core::origins::OriginPattern;
use latch_core::webauthn::{AuthenticationState, Credential};
use latch_store::{AuditEvent, NewClient, Store};
use uuid::Uuid;

/// A credential as webauthn-rs serialises it (an ES256 passkey, `none` attestation).
const CREDENTIAL: &str = r#"{"cred_id":"QBYy8hasWhUMWhL4iBf9lw","cred":{"type_":"ES256","key":{"EC_EC2":{"curve":"SECP256R1","x":"PNPO84j8Lz-TRcmZImcmfkbJSonYlKfsSQ2JsQHE4og","y":"ApfpAo5sw9KRy-kqSnj7v1xyNoA1ippnU48aXD120Pg"}}},"counter":0,"transports":null,"user_verified":true,"backup_eligible":true,"backup_state":true,"registration_policy":"required","extensions":{"cred_protect":"NotRequested","hmac_create_secret":"NotRequested","appid":"NotRequested","cred_props":"Ignored"},"attestation":{"data":"None","metadata":"None"},"attestation_format":"none"}"#;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

struct World {
    store: std::sync::Arc<dyn Store>,
    client: Client,
    token_hash: Vec<u8>,
    user: User,
    passkey: Passkey,
    credential: Credential,
    state: AuthenticationState,
}

async fn world(dir: &std::path::Path) -> World {
    let url = format!("sqlite://{}", dir.join("latch.db").display());
    latch_store::migrate(&url).await.unwrap();
    let store = latch_store::open(&url).await.unwrap();
    let t = now();
    let client = Client { id: new_id(IdKind::Client), created_at: t, updated_at: t, last_active_session_id: None };
    let token_hash = vec![42u8; 32];
    let user = User {
        id: new_id(IdKind::User),
        username: "alice".into(),
        webauthn_handle: Uuid::new_v4(),
        created_at: t,
        updated_at: t,
        last_sign_in_at: None,
    };
    let session = session_for(&client, &user, t);
    let sign_up = SignUp {
        id: new_id(IdKind::SignUp),
        client_id: client.id.clone(),
        username: user.username.clone(),
        created_user_id: user.id.clone(),
        created_session_id: session.id.clone(),
        created_at: t,
    };
    let signed_up = AuditEvent { at: t, event: "sign_up".into(), outcome: "success".into(), ..AuditEvent::default() };
    store.sign_up(Some(NewClient { client: &client, token_hash: &token_hash }), &user, &sign_up, &session, &signed_up).await.unwrap();
    store.end_client_sessions(&client.id, SessionStatus::Ended, t, None).await.unwrap();
    let credential: Credential = serde_json::from_str(CREDENTIAL).unwrap();
    let passkey = Passkey {
        id: new_id(IdKind::Passkey),
        user_id: user.id.clone(),
        credential_id: credential.cred_id.to_vec(),
        name: "iCloud Keychain".into(),
        aaguid: None,
        credential: credential.clone(),
        sign_count: 0,
        backup_eligible: true,
        backup_state: true,
        created_at: t,
        updated_at: t,
        last_used_at: None,
    };
    let origin = OriginPattern::Exact(url::Url::parse("http://localhost:8080").unwrap());
    let rp = RelyingParty::new("localhost", "Latch", vec![origin], Duration::from_secs(300), UvPolicy::Required);
    let owner = PasskeyOwner { handle: user.webauthn_handle, name: "alice", display_name: "alice" };
    let (_, registration) = rp.begin_registration(&owner, vec![]).unwrap();
    let pending = PendingPasskey {
        id: passkey.id.clone(),
        user_id: user.id.clone(),
        client_id: client.id.clone(),
        options_json: "{}".into(),
        state: registration,
        origin: None,
        created_at: t,
        expire_at: t + 300_000,
    };
    store.create_pending_passkey(&pending, 10).await.unwrap();
    let created = AuditEvent { at: t, event: "passkey.create".into(), outcome: "success".into(), ..AuditEvent::default() };
    assert!(store.save_verified_passkey(&passkey, 10, &created).await.unwrap());
    let (_, state) = rp.begin_authentication(vec![]).unwrap();
    World { store, client, token_hash, user, passkey, credential, state }
}

fn session_for(client: &Client, user: &User, t: i64) -> Session {
    Session {
        id: new_id(IdKind::Session),
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        status: SessionStatus::Active,
        tasks: vec![],
        created_at: t,
        updated_at: t,
        last_active_at: t,
        expire_at: t + 7 * 24 * 3600 * 1000,
    }
}

fn new_sign_in(w: &World, t: i64) -> SignIn {
    SignIn {
        id: new_id(IdKind::SignIn),
        client_id: w.client.id.clone(),
        status: SignInStatus::NeedsFirstFactor,
        identifier: None,
        user_id: None,
        challenge: Some(PasskeyChallenge {
            status: VerificationStatus::Unverified,
            options_json: r#"{"challenge":"AAAA","timeout":300000,"rpId":"localhost","userVerification":"required"}"#.into(),
            state: Some(w.state.clone()),
            origin: Some("http://localhost:8080".into()),
            attempts: 0,
            expire_at: t + 300_000,
            error_code: None,
        }),
        created_session_id: None,
        created_at: t,
        updated_at: t,
        abandon_at: t + 86_400_000,
    }
}

fn completion(w: &World, sign_in: &SignIn, t: i64) -> SignInCompletion {
    SignInCompletion {
        sign_in_id: sign_in.id.clone(),
        challenge_options: sign_in.challenge.as_ref().map(|c| c.options_json.clone()).unwrap_or_default(),
        passkey_id: w.passkey.id.clone(),
        previous_sign_count: 0,
        updated_credential: w.credential.clone(),
        session: session_for(&w.client, &w.user, t),
        now: t,
    }
}

fn audit(event: &str, w: &World, session_id: &str) -> AuditEvent {
    AuditEvent {
        at: now(),
        event: event.into(),
        outcome: "success".into(),
        user_id: Some(w.user.id.clone()),
        session_id: Some(session_id.into()),
        passkey_id: Some(w.passkey.id.clone()),
        client_id: Some(w.client.id.clone()),
        client_ip: Some("127.0.0.1".into()),
        user_agent: None,
        ..AuditEvent::default()
    }
}

/// `reply::envelope` / `json::client`: the client, its live sessions (each with its user
/// and passkeys), and its current sign-in.
async fn envelope(w: &World) {
    w.store.client_snapshot(&w.client.id).await.unwrap().unwrap();
}

async fn full_sign_in(w: &World) {
    let s = &w.store;
    let t = now();
    // POST /client/sign_ins
    s.client_by_token(&w.token_hash).await.unwrap().unwrap();
    let sign_in = new_sign_in(w, t);
    s.create_sign_in(None, &sign_in).await.unwrap();
    envelope(w).await;
    // POST …/attempt_first_factor (verification happens between the reads and complete,
    // which spends the challenge)
    s.client_by_token(&w.token_hash).await.unwrap().unwrap();
    s.sign_in(&w.client.id, &sign_in.id).await.unwrap().unwrap();
    let pk = s.passkey_by_credential_id(&w.passkey.credential_id).await.unwrap().unwrap();
    s.user(&pk.user_id).await.unwrap().unwrap();
    let done = completion(w, &sign_in, t);
    let sid = done.session.id.clone();
    assert!(s.complete_sign_in(&done, &audit("sign_in", w, &sid)).await.unwrap());
    envelope(w).await;
    // POST /client/sessions/{id}/touch
    s.client_by_token(&w.token_hash).await.unwrap().unwrap();
    s.session(&sid).await.unwrap().unwrap();
    // (nothing to write: the sign-in just made it the client's active session, now)
    envelope(w).await;
    // POST /client/sessions/{id}/tokens
    s.client_by_token(&w.token_hash).await.unwrap().unwrap();
    s.session(&sid).await.unwrap().unwrap();
    // POST /client/sessions?_method=DELETE
    s.client_by_token(&w.token_hash).await.unwrap().unwrap();
    s.end_client_sessions(&w.client.id, SessionStatus::Ended, t, Some(&audit("sign_out", w, &sid))).await.unwrap();
    envelope(w).await;
}

async fn essential_writes(w: &World) {
    let s = &w.store;
    let t = now();
    let sign_in = new_sign_in(w, t);
    s.create_sign_in(None, &sign_in).await.unwrap();
    let done = completion(w, &sign_in, t);
    assert!(s.complete_sign_in(&done, &audit("sign_in", w, &done.session.id)).await.unwrap());
    s.end_client_sessions(&w.client.id, SessionStatus::Ended, t, None).await.unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let name = "sqlite";
    let dir = tempfile::Builder::new().prefix("latch-bench-").tempdir().unwrap();
    let w = rt.block_on(world(dir.path()));
    c.bench_function(&format!("{name}/sign_in_calls_as_the_handlers_make_them"), |b| b.to_async(&rt).iter(|| full_sign_in(&w)));
    c.bench_function(&format!("{name}/sign_in_essential_writes"), |b| b.to_async(&rt).iter(|| essential_writes(&w)));
    c.bench_function(&format!("{name}/one_point_read"), |b| {
        b.to_async(&rt).iter(|| async { w.store.client_by_token(&w.token_hash).await.unwrap().unwrap() })
    });
}

criterion_group! {
    name = store;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(store);
