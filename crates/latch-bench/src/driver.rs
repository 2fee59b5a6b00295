//! The ceremonies as clerk-js runs them, and the workers that repeat them.
//!
//! * Registration (`user.createPasskey()` after `signUp.create({username})`):
//!   `POST /client/sign_ups` → `POST /me/passkeys` → `POST /me/passkeys/{id}/attempt_verification`.
//! * Discoverable sign-in (`signIn.passkey()` then `finalize()`):
//!   `POST /client/sign_ins strategy=passkey` → `…/{id}/attempt_first_factor` →
//!   `POST /client/sessions/{sid}/touch` → `POST /client/sessions/{sid}/tokens`;
//!   then `signOut()` (`POST /client/sessions?_method=DELETE`) so the same client can sign in
//!   again (Latch is single-session: a signed-in client may not start a sign-in).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use latch_testkit::webauthn::{Authenticator, SoftPasskey};

use crate::http::{Failure, Tab, Target, form};
use crate::stats::{Recorder, Step};

/// What every worker shares.
pub struct Ctx {
    pub target: Arc<Target>,
    pub auth: Authenticator,
    /// Prefix that keeps usernames unique across runs against the same database.
    pub run_id: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    response: T,
}

#[derive(Deserialize)]
struct SignUpJson {
    status: String,
    created_session_id: Option<String>,
}

#[derive(Deserialize)]
struct VerificationJson {
    status: String,
    nonce: Option<String>,
}

#[derive(Deserialize)]
struct PasskeyJson {
    id: String,
    verification: Option<VerificationJson>,
}

#[derive(Deserialize)]
struct SignInJson {
    id: String,
    status: String,
    first_factor_verification: Option<VerificationJson>,
    created_session_id: Option<String>,
}

#[derive(Deserialize)]
struct SessionJson {
    status: String,
}

#[derive(Deserialize)]
struct TokenJson {
    jwt: String,
}

fn parse<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Failure> {
    serde_json::from_slice(bytes).map_err(|e| {
        Failure::unexpected(format!("{what}: {e}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)])))
    })
}

fn client_side(e: latch_testkit::webauthn::Error) -> Failure {
    Failure { key: "authenticator".into(), detail: format!("{e:#}") }
}

/// Sign up `username` in a fresh browser profile and create `passkeys` passkeys (at least one).
pub async fn register(
    tab: &mut Tab,
    ctx: &Ctx,
    username: &str,
    passkeys: usize,
    rec: &mut Recorder,
) -> Result<Vec<SoftPasskey>, Failure> {
    tab.clear_cookies();
    let body = form(&[("username", username), ("locale", "en-US"), ("timezone", "UTC")]);
    let (bytes, took) = tab.post("/client/sign_ups", "", &body).await?;
    rec.record(Step::SignUp, took);
    let sign_up: Envelope<SignUpJson> = parse(&bytes, "sign-up")?;
    if sign_up.response.status != "complete" {
        return Err(Failure::unexpected(format!("sign-up status {}", sign_up.response.status)));
    }
    tab.session_id = sign_up.response.created_session_id;
    let mut made = Vec::with_capacity(passkeys);
    for k in 0..passkeys.max(1) {
        // The key and credential id follow from the username: a run can be replayed.
        let seed = format!("{username}/{k}");
        made.push(create_passkey(tab, ctx, seed.as_bytes(), rec).await?);
    }
    Ok(made)
}

/// `user.createPasskey()`: `POST /me/passkeys`, the authenticator, `attempt_verification`.
async fn create_passkey(tab: &mut Tab, ctx: &Ctx, seed: &[u8], rec: &mut Recorder) -> Result<SoftPasskey, Failure> {
    let (bytes, took) = tab.post("/me/passkeys", "", "").await?;
    rec.record(Step::PasskeyCreate, took);
    let pending: Envelope<PasskeyJson> = parse(&bytes, "passkey creation")?;
    let nonce = pending
        .response
        .verification
        .and_then(|v| v.nonce)
        .ok_or_else(|| Failure::unexpected("passkey without verification.nonce"))?;

    let started = Instant::now();
    let (passkey, credential) = ctx.auth.register(&nonce, seed).map_err(client_side)?;
    rec.record(Step::Authenticator, started.elapsed());

    let path = format!("/me/passkeys/{}/attempt_verification", pending.response.id);
    let body = form(&[("strategy", "passkey"), ("public_key_credential", &credential)]);
    let (bytes, took) = tab.post(&path, "", &body).await?;
    rec.record(Step::PasskeyAttempt, took);
    let verified: Envelope<PasskeyJson> = parse(&bytes, "passkey verification")?;
    match verified.response.verification {
        Some(v) if v.status == "verified" => Ok(passkey),
        _ => Err(Failure::unexpected("passkey not verified")),
    }
}

/// One discoverable sign-in through `finalize()` (touch + token). Leaves the tab signed in.
pub async fn sign_in(tab: &mut Tab, ctx: &Ctx, passkey: &SoftPasskey, rec: &mut Recorder) -> Result<(), Failure> {
    let (bytes, took) = tab.post("/client/sign_ins", "", "strategy=passkey&locale=en-US&timezone=UTC").await?;
    rec.record(Step::SignInCreate, took);
    let created: Envelope<SignInJson> = parse(&bytes, "sign-in")?;
    let nonce = created
        .response
        .first_factor_verification
        .and_then(|v| v.nonce)
        .ok_or_else(|| Failure::unexpected("sign-in without first_factor_verification.nonce"))?;

    let started = Instant::now();
    let credential = ctx.auth.assert(passkey, &nonce).map_err(client_side)?;
    rec.record(Step::Authenticator, started.elapsed());

    let path = format!("/client/sign_ins/{}/attempt_first_factor", created.response.id);
    let body = form(&[("strategy", "passkey"), ("public_key_credential", &credential)]);
    let (bytes, took) = tab.post(&path, "", &body).await?;
    rec.record(Step::SignInAttempt, took);
    let done: Envelope<SignInJson> = parse(&bytes, "sign-in attempt")?;
    if done.response.status != "complete" {
        return Err(Failure::unexpected(format!("sign-in status {}", done.response.status)));
    }
    let sid = done.response.created_session_id.ok_or_else(|| Failure::unexpected("no created_session_id"))?;
    tab.session_id = Some(sid.clone());

    let (bytes, took) =
        tab.post(&format!("/client/sessions/{sid}/touch"), "", "active_organization_id=&intent=select_session").await?;
    rec.record(Step::Touch, took);
    let session: Envelope<SessionJson> = parse(&bytes, "touch")?;
    if session.response.status != "active" {
        return Err(Failure::unexpected(format!("session status {}", session.response.status)));
    }

    let (bytes, took) = tab.post(&format!("/client/sessions/{sid}/tokens"), "", "organization_id=").await?;
    rec.record(Step::Token, took);
    let token: TokenJson = parse(&bytes, "token")?;
    if token.jwt.split('.').filter(|p| !p.is_empty()).count() != 3 {
        return Err(Failure::unexpected("token is not a JWT"));
    }
    Ok(())
}

/// `signOut()` with one session.
pub async fn sign_out(tab: &mut Tab, rec: &mut Recorder) -> Result<(), Failure> {
    let (_, took) = tab.post("/client/sessions", "_method=DELETE", "").await?;
    rec.record(Step::SignOut, took);
    tab.session_id = None;
    Ok(())
}

/// When a worker stops, and how fast it may go.
#[derive(Clone, Copy)]
pub struct Plan {
    pub deadline: Instant,
    /// Time between a worker's ceremony starts (`--rate`); `None`: back to back.
    pub interval: Option<Duration>,
}

async fn pace(plan: &Plan, next: &mut Instant) {
    if let Some(interval) = plan.interval {
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until((*next).into()).await;
        }
        // Behind schedule: start now, do not burst to catch up.
        *next = (*next).max(now) + interval;
    }
}

/// Record a failure; the tab starts over as a new browser profile so that one failure does
/// not poison the next ceremony (e.g. a sign-in left half-done).
fn failed(tab: &mut Tab, rec: &mut Recorder, f: Failure) {
    rec.error(&f.key, &f.detail);
    tab.clear_cookies();
}

/// Repeat sign-ins with the passkeys this worker owns, round robin, until the deadline.
pub async fn sign_in_worker(ctx: Arc<Ctx>, passkeys: Vec<Arc<SoftPasskey>>, plan: Plan) -> (Recorder, u64) {
    let mut tab = Tab::new(ctx.target.clone());
    let mut rec = Recorder::default();
    let mut next = Instant::now();
    let mut i = 0usize;
    while Instant::now() < plan.deadline {
        pace(&plan, &mut next).await;
        let passkey = &passkeys[i % passkeys.len()];
        i += 1;
        let started = Instant::now();
        match sign_in(&mut tab, &ctx, passkey, &mut rec).await {
            Ok(()) => {
                rec.record(Step::Ceremony, started.elapsed());
                rec.completed += 1;
                if let Err(f) = sign_out(&mut tab, &mut rec).await {
                    failed(&mut tab, &mut rec, f);
                }
            }
            Err(f) => failed(&mut tab, &mut rec, f),
        }
    }
    (rec, tab.connects)
}

/// Repeat sign-up + passkey registration with new usernames until the deadline.
pub async fn register_worker(ctx: Arc<Ctx>, worker: usize, plan: Plan) -> (Recorder, u64) {
    let mut tab = Tab::new(ctx.target.clone());
    let mut rec = Recorder::default();
    let mut next = Instant::now();
    let mut i = 0usize;
    while Instant::now() < plan.deadline {
        pace(&plan, &mut next).await;
        let username = format!("{}r{worker}x{i}", ctx.run_id);
        i += 1;
        let started = Instant::now();
        match register(&mut tab, &ctx, &username, 1, &mut rec).await {
            Ok(_) => {
                rec.record(Step::Ceremony, started.elapsed());
                rec.completed += 1;
            }
            Err(f) => failed(&mut tab, &mut rec, f),
        }
    }
    (rec, tab.connects)
}

/// Populate worker: register users `next..total` (shared counter) until none are left, each
/// with `passkeys` passkeys. Returns the passkeys by user index.
pub async fn populate_worker(
    ctx: Arc<Ctx>,
    next: Arc<AtomicUsize>,
    total: usize,
    passkeys: usize,
    progress: indicatif::ProgressBar,
) -> (Recorder, Vec<(usize, Vec<SoftPasskey>)>) {
    let mut tab = Tab::new(ctx.target.clone());
    let mut rec = Recorder::default();
    let mut made = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let username = format!("{}u{i}", ctx.run_id);
        let started = Instant::now();
        match register(&mut tab, &ctx, &username, passkeys, &mut rec).await {
            Ok(passkey) => {
                rec.record(Step::Ceremony, started.elapsed());
                rec.completed += 1;
                made.push((i, passkey));
            }
            Err(f) => failed(&mut tab, &mut rec, f),
        }
        progress.inc(1);
    }
    (rec, made)
}
