//! Crash safety: Latch is killed with SIGKILL in the middle of a stream of sign-ups, passkey
//! registrations, sign-outs and sign-ins, restarted on the same data dir (same database), and
//! then everything it acknowledged (HTTP 200 received) must be there and nothing half-written
//! may be visible. Several rounds on one database: each round adds people, kills, restarts
//! and re-checks everyone from every round so far.
//!
//! Per person the test keeps a model of what the server acknowledged, plus the one operation
//! that was in flight when the server died (its outcome is unknown, so either outcome is
//! accepted, but only a whole one):
//!
//! * an acknowledged sign-up: the user exists; its session is live and usable unless an
//!   acknowledged sign-out ended it;
//! * an acknowledged passkey: listed by `GET /me` and signs its owner in; a listed passkey is
//!   acknowledged or the one in flight; a credential the device holds signs in if and only if
//!   it is listed (never a passkey without its user, never a verified-but-unlisted one);
//! * an acknowledged session: live and usable for `/me` and `/tokens` (the JWT verifies
//!   against the JWKS and names the session and user); an acknowledged sign-out stays signed
//!   out (`/tokens` answers 401 `signed_out`, the session is not listed);
//! * the sign-up in flight: the username is taken if and only if the client holds a live
//!   session of that user (user, sign-up and session are one transaction);
//! * the sign-in in flight: either the sign-in is `complete` and its session is live and
//!   usable, or it is not complete and the client has no session;
//! * a sign-up, sign-in or sign-out in flight that committed, but whose answer (with the
//!   client's fresh token) was lost: the browser's old token names no client any more.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use latch_testkit::{fapi::*, jwt::verify_jwt, passkey::*, process::*, process::kill};
use serde_json::Value;

/// Concurrent browsers in the stream.
const WORKERS: usize = 6;
/// For each round, how many acknowledged writes to wait for before the SIGKILL.
const KILL_AFTER_ACKS: [usize; 6] = [9, 31, 52, 20, 75, 14];
/// Passkeys each person registers (each followed by a sign-out and a passkey sign-in).
const PASSKEYS_PER_PERSON: usize = 2;

/// Rate limits would turn part of the stream into 429s: this test is about durability.
const NO_RATE_LIMITS: [&str; 8] = [
    "--rate-limit-ip-per-minute",
    "0",
    "--rate-limit-client-per-minute",
    "0",
    "--rate-limit-passkeys-per-hour",
    "0",
    "--rate-limit-sign-ups-per-hour",
    "0",
];

/// Set just before the SIGKILL: from then on a request may fail at the transport level.
static KILLED: AtomicBool = AtomicBool::new(false);

/// The operation that was on the wire when the server died.
#[derive(Debug, Clone)]
enum InFlight {
    SignUp,
    CreatePasskey { pending_id: Option<String>, cred: Option<Vec<u8>> },
    SignOut { sid: String },
    SignIn { sign_in_id: Option<String> },
}

/// One person: their browser, their passkey device, and what Latch acknowledged to them.
struct Person {
    username: String,
    fapi: Fapi,
    auth: SoftAuthenticator,
    user_id: Option<String>,
    /// (passkey id, credential id), acknowledged.
    passkeys: Vec<(String, Vec<u8>)>,
    /// The session that must be live: from the last acknowledged sign-up or sign-in, unless an
    /// acknowledged sign-out followed.
    live_session: Option<String>,
    /// Sessions ended by an acknowledged sign-out.
    ended_sessions: Vec<String>,
    /// The browser lost its client with an answer that died with the server (its token was
    /// rotated): it has no client from then on.
    lost_client: bool,
    in_flight: Option<InFlight>,
}

struct Stream {
    acks: AtomicUsize,
}

impl Stream {
    fn ack(&self) {
        self.acks.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs one request (or a few) as a task of its own: the harness panics on a transport
/// error, which is what every request in flight at the kill (and every one after it) gets.
/// `None` means "no answer"; before the kill that is a test failure.
async fn call<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> Option<T> {
    match tokio::spawn(f).await {
        Ok(v) => Some(v),
        Err(e) => {
            assert!(KILLED.load(Ordering::SeqCst), "a request failed before the kill: {e}");
            None
        }
    }
}

/// A reply whose body was cut off by the kill counts as no answer (the request may or may not
/// have been carried out, which the checks allow either way).
fn answered(r: &Reply) -> bool {
    !(KILLED.load(Ordering::SeqCst) && r.body.is_null())
}

/// Panics inside [`call`] after the kill are expected; keep them out of the output.
fn quiet_transport_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if KILLED.load(Ordering::SeqCst) && msg.contains("at the transport level") {
            return;
        }
        default(info);
    }));
}

impl Person {
    fn new(base: &str, origin: &str, username: String) -> Person {
        Person {
            username,
            fapi: Fapi::with(base, origin),
            auth: SoftAuthenticator::new(origin),
            user_id: None,
            passkeys: vec![],
            live_session: None,
            ended_sessions: vec![],
            lost_client: false,
            in_flight: None,
        }
    }

    /// `signUp.create({username})`. False when the server died.
    async fn sign_up(&mut self, stream: &Stream) -> bool {
        self.in_flight = Some(InFlight::SignUp);
        let (f, name) = (self.fapi.clone(), self.username.clone());
        let Some(r) = call(async move { f.sign_up(&name).await }).await.filter(answered) else { return false };
        let r = r.ok();
        assert_eq!(r.resp()["status"], "complete", "{}", r.text);
        self.user_id = Some(r.resp()["created_user_id"].as_str().expect("created_user_id").to_string());
        self.live_session = Some(r.resp()["created_session_id"].as_str().expect("created_session_id").to_string());
        self.in_flight = None;
        stream.ack();
        true
    }

    /// `user.createPasskey()`: begin, the authenticator, attempt_verification.
    async fn create_passkey(&mut self, stream: &Stream) -> bool {
        self.in_flight = Some(InFlight::CreatePasskey { pending_id: None, cred: None });
        let f = self.fapi.clone();
        let Some(r) = call(async move { f.post("/me/passkeys", &[]).await }).await.filter(answered) else { return false };
        let r = r.ok();
        let id = r.resp()["id"].as_str().expect("pending passkey id").to_string();
        let options = parse_nonce(&r.resp()["verification"]["nonce"]);
        let reg = self.auth.register(&options).await;
        self.in_flight = Some(InFlight::CreatePasskey { pending_id: Some(id.clone()), cred: Some(reg.id.clone()) });
        let (f, pid, json) = (self.fapi.clone(), id.clone(), reg.json());
        let Some(r) = call(async move { f.finish_registration(&pid, &json).await }).await.filter(answered) else { return false };
        let r = r.ok();
        assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
        self.passkeys.push((id, reg.id));
        self.in_flight = None;
        stream.ack();
        true
    }

    /// `signOut()`.
    async fn sign_out(&mut self, stream: &Stream) -> bool {
        let sid = self.live_session.clone().expect("signed in");
        self.in_flight = Some(InFlight::SignOut { sid: sid.clone() });
        let f = self.fapi.clone();
        let Some(r) = call(async move { f.sign_out().await }).await.filter(answered) else { return false };
        r.ok();
        self.ended_sessions.push(sid);
        self.live_session = None;
        self.in_flight = None;
        stream.ack();
        true
    }

    /// `signIn.passkey()`, discoverable, with the newest passkey.
    async fn sign_in(&mut self, stream: &Stream) -> bool {
        self.in_flight = Some(InFlight::SignIn { sign_in_id: None });
        let f = self.fapi.clone();
        let start = call(async move {
            f.post("/client/sign_ins", &[("strategy", "passkey"), ("locale", "en-US"), ("timezone", "UTC")]).await
        });
        let Some(r) = start.await.filter(answered) else { return false };
        let r = r.ok();
        let id = r.resp()["id"].as_str().expect("sign-in id").to_string();
        let options = parse_nonce(&r.resp()["first_factor_verification"]["nonce"]);
        self.in_flight = Some(InFlight::SignIn { sign_in_id: Some(id.clone()) });
        let assertion = self.auth.assert(&options).await;
        let (f, json) = (self.fapi.clone(), assertion.json());
        let Some(r) = call(async move { f.attempt_sign_in(&id, &json).await }).await.filter(answered) else { return false };
        let r = r.ok();
        assert_eq!(r.resp()["status"], "complete", "{}", r.text);
        self.live_session = Some(r.resp()["created_session_id"].as_str().expect("created_session_id").to_string());
        self.in_flight = None;
        stream.ack();
        true
    }

    /// Sign up, then (register a passkey, sign out, sign in) a few times. False when the
    /// server died on the way.
    async fn live(&mut self, stream: &Stream) -> bool {
        if !self.sign_up(stream).await {
            return false;
        }
        for _ in 0..PASSKEYS_PER_PERSON {
            if !(self.create_passkey(stream).await && self.sign_out(stream).await && self.sign_in(stream).await) {
                return false;
            }
        }
        true
    }

    fn who(&self) -> String {
        format!("{} ({:?}, in flight: {:?})", self.username, self.user_id, self.in_flight)
    }

    /// After the restart: resolve the operation in flight to done or not done, then check
    /// everything acknowledged. Returns what was in flight and whether it had been carried out.
    async fn verify(&mut self, server: &LatchProcess) -> Option<(&'static str, bool)> {
        self.fapi.set_server(server);
        let who = self.who();
        let client = self.fapi.get("/client").await.ok();
        let mut lost_answer = None;
        if client.resp().is_null() {
            // Sign-up, sign-in and sign-out rotate the client token (the session fixation defence):
            // when the action committed but its answer, carrying the fresh token, died with
            // the server, the browser's old token names nothing, as if its cookie had been
            // cleared. The action is done; the browser starts again as a new client.
            let signed_up = matches!(self.in_flight, Some(InFlight::SignUp)) && username_taken(server, &self.username).await;
            lost_answer = match self.in_flight.clone() {
                // Committed: the user exists, on a session no browser can reach.
                Some(InFlight::SignUp) if signed_up => Some("sign-up"),
                Some(InFlight::SignOut { sid }) => {
                    self.ended_sessions.push(sid);
                    Some("sign-out")
                }
                Some(InFlight::SignIn { sign_in_id: Some(_) }) => Some("sign-in"),
                _ => None,
            };
            if lost_answer.is_some() {
                self.lost_client = true;
                self.live_session = None;
                self.in_flight = None;
                self.fapi = Fapi::new(server);
            }
        }
        let c = if self.lost_client && client.resp().is_null() {
            serde_json::json!({ "sessions": [] })
        } else {
            client.resp().clone()
        };
        assert!(c.is_object(), "{who}: the client made before the stream is gone: {}", client.text);
        let live: Vec<(String, String, String)> = c["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let field = |v: &Value| v.as_str().unwrap_or_default().to_string();
                (field(&s["id"]), field(&s["user"]["id"]), field(&s["user"]["username"]))
            })
            .collect();
        let live_ids: Vec<&str> = live.iter().map(|(s, _, _)| s.as_str()).collect();

        let mut resolved;
        match self.in_flight.clone() {
            Some(InFlight::SignUp) => {
                let taken = username_taken(server, &self.username).await;
                resolved = Some(("sign-up", taken));
                if taken {
                    assert_eq!(live.len(), 1, "{who}: the username exists but the client has no session: {c}");
                    assert_eq!(live[0].2, self.username, "{who}: {c}");
                    self.user_id = Some(live[0].1.clone());
                    self.live_session = Some(live[0].0.clone());
                } else {
                    assert!(live.is_empty(), "{who}: a session without its sign-up: {c}");
                }
            }
            Some(InFlight::SignOut { sid }) => {
                resolved = Some(("sign-out", !live_ids.contains(&sid.as_str())));
                if !live_ids.contains(&sid.as_str()) {
                    self.ended_sessions.push(sid);
                    self.live_session = None;
                }
            }
            Some(InFlight::SignIn { sign_in_id }) => {
                // The client's current sign-in is the one in flight once its start committed.
                let sign_in = &c["sign_in"];
                let is_this = sign_in_id.as_deref().is_some_and(|id| sign_in["id"] == id);
                resolved = Some(("sign-in", !live.is_empty()));
                if let Some((sid, uid, _)) = live.first() {
                    assert_eq!(live.len(), 1, "{who}: several sessions on one client: {c}");
                    assert_eq!(Some(uid), self.user_id.as_ref(), "{who}: signed in as someone else: {c}");
                    assert!(is_this, "{who}: a session from no sign-in: {c}");
                    assert_eq!(sign_in["status"], "complete", "{who}: a session from an incomplete sign-in: {c}");
                    assert_eq!(sign_in["created_session_id"], sid.as_str(), "{who}: {c}");
                    self.live_session = Some(sid.clone());
                } else if is_this {
                    assert_ne!(sign_in["status"], "complete", "{who}: a complete sign-in without its session: {c}");
                    assert!(sign_in["created_session_id"].is_null(), "{who}: {c}");
                }
            }
            Some(InFlight::CreatePasskey { .. }) => resolved = Some(("passkey registration", false)),
            None => resolved = lost_answer.map(|what| (what, true)),
        }

        // Sessions: the live one is live and usable, ended ones stay ended, nothing else.
        match &self.live_session {
            Some(sid) => {
                assert_eq!(live_ids, vec![sid.as_str()], "{who}: acknowledged session {sid} not (alone) live: {c}");
                self.fapi.set_session(Some(sid.clone()));
                let me = self.fapi.get("/me").await;
                assert_eq!(me.status, 200, "{who}: /me with session {sid}: {}", me.text);
                assert_eq!(me.resp()["id"].as_str(), self.user_id.as_deref(), "{who}: {}", me.text);
                let t = self.fapi.token(sid).await;
                assert_eq!(t.status, 200, "{who}: /tokens for acknowledged session {sid}: {}", t.text);
                let claims = verify_jwt(&self.fapi, t.body["jwt"].as_str().expect("jwt")).await;
                assert_eq!(claims["sid"], sid.as_str(), "{who}");
                assert_eq!(claims["sub"].as_str(), self.user_id.as_deref(), "{who}");
            }
            None => {
                assert!(live_ids.is_empty(), "{who}: a session nobody acknowledged is live: {c}");
                self.fapi.set_session(None);
            }
        }
        for sid in &self.ended_sessions {
            assert!(!live_ids.contains(&sid.as_str()), "{who}: signed-out session {sid} is live again");
            self.fapi.token(sid).await.assert_error_in(SIGNED_OUT);
        }

        let Some(user_id) = self.user_id.clone() else {
            assert!(self.auth.credential_ids().is_empty(), "{who}: a passkey before the sign-up");
            self.in_flight = None;
            return resolved;
        };

        // Passkeys: the acknowledged ones are listed; anything else listed is the one in flight.
        let observer = match &self.live_session {
            Some(_) => self.fapi.clone(),
            None => {
                let (_, cred) = self.passkeys.first().expect("signed out only after a passkey").clone();
                let f = Fapi::new(server);
                self.auth.prefer(&cred);
                f.sign_in_ok(&mut self.auth).await;
                f
            }
        };
        let listed: Vec<String> =
            observer.passkeys().await.iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
        let pending = match &self.in_flight {
            Some(InFlight::CreatePasskey { pending_id, .. }) => pending_id.clone(),
            _ => None,
        };
        for (id, _) in &self.passkeys {
            assert!(listed.contains(id), "{who}: acknowledged passkey {id} is gone; listed: {listed:?}");
        }
        for id in &listed {
            assert!(
                self.passkeys.iter().any(|(p, _)| p == id) || pending.as_ref() == Some(id),
                "{who}: passkey {id} was never acknowledged nor in flight; listed: {listed:?}"
            );
        }
        if let (Some(id), Some(InFlight::CreatePasskey { cred: Some(cred), .. })) = (&pending, &self.in_flight)
            && listed.contains(id)
        {
            self.passkeys.push((id.clone(), cred.clone()));
            resolved = Some(("passkey registration", true));
        }

        // Every credential on the device signs in if and only if it is listed, as its owner.
        for cred in self.auth.credential_ids() {
            let stored = self.passkeys.iter().any(|(_, c)| *c == cred);
            let f = Fapi::new(server);
            self.auth.prefer(&cred);
            let r = f.sign_in(&mut self.auth).await;
            if stored {
                let r = r.ok();
                assert_eq!(r.resp()["status"], "complete", "{who}: {}", r.text);
                assert_eq!(f.me().await["id"], user_id.as_str(), "{who}: passkey signs in someone else");
            } else {
                r.assert_error_in(NOT_REGISTERED);
            }
        }
        self.in_flight = None;
        resolved
    }
}

/// Is `username` taken? Asked from a browser of its own (identifier-first sign-in).
async fn username_taken(server: &LatchProcess, username: &str) -> bool {
    let r = Fapi::new(server).post("/client/sign_ins", &[("identifier", username)]).await;
    match r.status {
        200 => true,
        _ => {
            r.assert_error(422, "form_identifier_not_found");
            false
        }
    }
}

/// One browser's part of the stream: people one after another until the server dies.
async fn worker(base: String, origin: String, round: usize, w: usize, stream: Arc<Stream>) -> Vec<Person> {
    let mut people = vec![];
    for i in 0.. {
        let mut p = Person::new(&base, &origin, format!("crash-r{round}-w{w}-p{i}"));
        // The client (and its cookie) first, so that an answer lost at the kill never hides a
        // client from the checks.
        let f = p.fapi.clone();
        let Some(r) = call(async move { f.post("/client/sign_ins", &[]).await }).await else { break };
        r.ok();
        let finished = p.live(&stream).await;
        people.push(p);
        if !finished {
            break;
        }
    }
    people
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_passkeys_and_sessions_survive_sigkill_mid_stream() {
    quiet_transport_panics();
    let mut server = LatchProcess::start_with(&NO_RATE_LIMITS);
    let mut everyone: Vec<Person> = vec![];
    for (round, kill_after) in KILL_AFTER_ACKS.into_iter().enumerate() {
        KILLED.store(false, Ordering::SeqCst);
        let stream = Arc::new(Stream { acks: AtomicUsize::new(0) });
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| tokio::spawn(worker(server.base.clone(), server.origin(), round, w, stream.clone())))
            .collect();

        // Wait for the stream to get going, then kill the server in the middle of it.
        let started = std::time::Instant::now();
        while stream.acks.load(Ordering::SeqCst) < kill_after {
            assert!(started.elapsed() < Duration::from_secs(120), "the stream stalled:\n{}", server.logs());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        KILLED.store(true, Ordering::SeqCst);
        let pid = kill::sigkill_server(server.data_dir());
        kill::wait_dead(pid);
        let acked = stream.acks.load(Ordering::SeqCst);

        let mut people = vec![];
        for w in workers {
            people.extend(w.await.expect("worker"));
        }
        let in_flight = people.iter().filter(|p| p.in_flight.is_some()).count();
        assert!(in_flight > 0, "round {round}: nothing was in flight at the kill");

        server.restart();
        KILLED.store(false, Ordering::SeqCst);
        everyone.extend(people);
        let mut outcomes: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
        for p in everyone.iter_mut() {
            if let Some((op, done)) = p.verify(&server).await {
                let e = outcomes.entry(op).or_default();
                e.0 += 1;
                e.1 += usize::from(done);
            }
        }
        let outcomes: Vec<String> =
            outcomes.iter().map(|(op, (n, done))| format!("{op} {n} ({done} carried out)")).collect();
        let passkeys: usize = everyone.iter().map(|p| p.passkeys.len()).sum();
        eprintln!(
            "round {round}: SIGKILL after {acked} acknowledged writes; in flight: {}; \
             after restart {} people and {passkeys} passkeys verified",
            outcomes.join(", "),
            everyone.len()
        );
    }
}
