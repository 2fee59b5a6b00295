//! The flows of one passkey sign-in and one registration, as `latch serve` runs them but
//! without HTTP (`cargo bench -p latch-flows`): what a node spends on deciding, verifying,
//! storing and signing, per ceremony. The benches call the flows themselves, not copies of
//! their store calls, so they measure what the server does.
//!
//! * `sign_in_loop`: start (discoverable) → attempt_first_factor → touch → tokens → sign out,
//!   one client signing in and out again, as `latch-bench` and clerk-js do.
//! * `registration`: sign up a new user → begin a passkey → verify it.
//!
//! The sign-in loop runs once with RS256 session tokens (the default) and once with EdDSA:
//! each sign-in makes a new session, so each signs one token (reuse saves the others), and
//! the two figures' ratio is what RS256 costs per sign-in (BENCHMARKS.md). Then it runs again
//! with one webhook endpoint (`sign_in_loop_one_webhook`): against `sign_in_loop`, what the
//! outbox costs per sign-in.
//!
//! On SQLite in a temporary folder; also on PostgreSQL when `LATCH_BENCH_POSTGRES_URL` names
//! an empty database the bench may fill (e.g. the one `scripts/postgres-test-db.sh` makes).
//! Rate limits are off: criterion runs a loop far faster than a browser is allowed to.
//! The answers are signed by the test kit's ES256 authenticator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use latch_core::model::Millis;
use latch_core::settings::{InstanceSettings, RateLimits};
use latch_flows::tokens::SigningAlgorithm;
use latch_flows::{Latch, Requester, TokenSigner, passkeys, sessions, sign_in, sign_up, webhooks};
use latch_testkit::webauthn::{Authenticator, SoftPasskey};

const ORIGIN: &str = "http://localhost:8080";

fn now() -> Millis {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

struct World {
    latch: Latch,
    authenticator: Authenticator,
    /// A signed-out browser whose user has one passkey.
    browser: Requester,
    passkey: SoftPasskey,
    users: AtomicU64,
}

async fn world(url: &str, algorithm: SigningAlgorithm) -> World {
    latch_store::migrate(url).await.expect("migrate");
    let store = latch_store::open(url).await.expect("open the store");
    let mut settings = InstanceSettings::dev(8080);
    let tokens = TokenSigner::load_or_create(store.as_ref(), algorithm, settings.token_ttl, now()).await.expect("signing key");
    settings.rate_limits =
        RateLimits { per_ip_per_minute: 0, per_client_per_minute: 0, passkey_creations_per_user_per_hour: 0, sign_ups_per_ip_per_hour: 0 };
    let latch = Latch::new(settings, store, tokens, ORIGIN.to_string());
    // As `latch serve` is once its dispatcher has looked: no endpoint, no events built.
    latch.webhooks().set(false);
    let authenticator = Authenticator::new(ORIGIN, "localhost");
    let fresh = Requester { origin: Some(ORIGIN.to_string()), ..Requester::default() };
    let (browser, passkey) = register(&latch, &authenticator, &fresh, &format!("bench_{}", now())).await;
    sessions::sign_out(&latch, &browser, now()).await.expect("sign out");
    World { latch, authenticator, browser, passkey, users: AtomicU64::new(0) }
}

/// Signs up `username` on a new browser and gives it a passkey; returns the browser.
async fn register(latch: &Latch, authenticator: &Authenticator, fresh: &Requester, username: &str) -> (Requester, SoftPasskey) {
    let signed_up = sign_up::sign_up(latch, fresh, username, now()).await.expect("sign up");
    let browser = Requester { token: signed_up.new_client_token, ..fresh.clone() };
    let pending = passkeys::begin(latch, &browser, now()).await.expect("begin").response;
    let (passkey, credential) = authenticator.register(&pending.options_json, username.as_bytes()).expect("register");
    passkeys::verify(latch, &browser, &pending.id, &credential, now()).await.expect("verify");
    (browser, passkey)
}

async fn sign_in_loop(w: &World) {
    let (latch, browser) = (&w.latch, &w.browser);
    let started = sign_in::start(latch, browser, true, None, now()).await.expect("start").response;
    let options = &started.challenge.as_ref().expect("a challenge").options_json;
    let assertion = w.authenticator.assert(&w.passkey, options).expect("assert");
    let done = sign_in::attempt(latch, browser, &started.id, &assertion, now()).await.expect("attempt").response;
    let session_id = done.created_session_id.expect("a session");
    sessions::touch(latch, browser, &session_id, now()).await.expect("touch");
    sessions::token(latch, browser, &session_id, now()).await.expect("token");
    sessions::sign_out(latch, browser, now()).await.expect("sign out");
}

async fn registration(w: &World) {
    let n = w.users.fetch_add(1, Ordering::Relaxed);
    let fresh = Requester { origin: Some(ORIGIN.to_string()), ..Requester::default() };
    register(&w.latch, &w.authenticator, &fresh, &format!("u{}_{n}", now())).await;
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::Builder::new().prefix("latch-flows-bench-").tempdir().expect("temp dir");
    let mut targets = vec![("sqlite", format!("sqlite://{}", dir.path().join("latch.db").display()))];
    if let Ok(url) = std::env::var("LATCH_BENCH_POSTGRES_URL") {
        targets.push(("postgres", url));
    }
    for (name, url) in targets {
        let w = Arc::new(rt.block_on(world(&url, SigningAlgorithm::Rs256)));
        c.bench_function(&format!("{name}/sign_in_loop"), |b| b.to_async(&rt).iter(|| sign_in_loop(&w)));
        c.bench_function(&format!("{name}/registration"), |b| b.to_async(&rt).iter(|| registration(&w)));
        let eddsa = Arc::new(rt.block_on(world(&url, SigningAlgorithm::EdDsa)));
        c.bench_function(&format!("{name}/sign_in_loop_eddsa"), |b| b.to_async(&rt).iter(|| sign_in_loop(&eddsa)));
        // One webhook endpoint: each loop builds and stores session.created and
        // session.ended with their deliveries (nothing delivers them here).
        let operator = Requester::default();
        rt.block_on(webhooks::add_endpoint(&w.latch, &operator, "https://hooks.example/latch", &[], now())).expect("endpoint");
        w.latch.webhooks().set(true);
        c.bench_function(&format!("{name}/sign_in_loop_one_webhook"), |b| b.to_async(&rt).iter(|| sign_in_loop(&w)));
    }
}

criterion_group! {
    name = flows;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(flows);
