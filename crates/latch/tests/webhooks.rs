//! Webhooks, black-box (docs/protocol.md §15): the real binary, `latch webhooks` to set
//! endpoints, and a tiny receiving server in the test.
//!
//! - Every event type arrives, signed so that the Standard Webhooks reference implementation
//!   (the scheme Clerk's `verifyWebhook` runs) accepts it, in Clerk's envelope, with the
//!   `svix-*` and `webhook-*` headers; no two events share an id.
//! - A receiver that answers 500 then 200 gets the same msg id twice; a replay sends it again.
//! - Receiver down, server killed, receiver up, server restarted: the event still arrives.
//! - No endpoint: nothing is stored; a refused action (a taken username) sends nothing.
//!
//! On SQLite, and on PostgreSQL with `LATCH_TEST_BACKEND=postgres`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use latch_testkit::fapi::Fapi;
use latch_testkit::process::LatchProcess;
use latch_testkit::scene::Person;
use serde_json::{Value, json};

/// Fast enough for tests: a look every 20 ms, and one "second" of the retry schedule is 1 ms.
const FAST: &[&str] = &["--webhook-poll-ms", "20", "--webhook-retry-unit-ms", "1", "--webhook-timeout-secs", "2"];

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 200 once they run out.
    statuses: VecDeque<u16>,
}

/// The app's webhook route: records every POST and answers as told.
struct Receiver {
    inbox: Arc<Mutex<Inbox>>,
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::on(listener).await
    }

    async fn on(listener: tokio::net::TcpListener) -> Receiver {
        let url = format!("http://{}/webhooks/latch", listener.local_addr().unwrap());
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let app = axum::Router::new()
            .route("/webhooks/latch", axum::routing::post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { inbox, url, server }
    }

    fn answer_with(&self, statuses: &[u16]) {
        self.inbox.lock().unwrap().statuses.extend(statuses);
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().unwrap().received.clone()
    }

    /// Waits until `done` holds of what arrived (at most 10 s).
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "waited 10 s for {what}; got {:#?}", types(&got));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inbox): State<Arc<Mutex<Inbox>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut inbox = inbox.lock().unwrap();
    inbox.received.push(Received { headers, body: String::from_utf8_lossy(&body).into_owned() });
    let status = inbox.statuses.pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

fn types(got: &[Received]) -> Vec<String> {
    got.iter().map(Received::event_type).collect()
}

fn has(got: &[Received], event_type: &str) -> bool {
    got.iter().any(|r| r.event_type() == event_type)
}

/// `latch webhooks add URL …`: the whsec_ secret it prints.
fn add_endpoint(server: &LatchProcess, url: &str, extra: &[&str]) -> String {
    let mut args = vec!["webhooks", "add", url];
    args.extend_from_slice(extra);
    let out = server.command(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    secret
}

/// Lets the running server's dispatcher notice a new endpoint (it rereads every poll).
async fn noticed() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn cli(server: &LatchProcess, args: &[&str]) -> String {
    let out = server.command(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Checks a delivery as Clerk's `verifyWebhook` would: the Standard Webhooks reference
/// implementation over the `webhook-*` headers, which carry the `svix-*` values.
fn assert_signed(r: &Received, secret: &str) {
    for name in ["id", "timestamp", "signature"] {
        let svix = r.header(&format!("svix-{name}"));
        assert!(!svix.is_empty(), "svix-{name} missing");
        assert_eq!(svix, r.header(&format!("webhook-{name}")), "svix-{name} and webhook-{name} differ");
    }
    assert_eq!(r.header("content-type"), "application/json");
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, r.header(name).parse().unwrap());
    }
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    verifier.verify(r.body.as_bytes(), &headers).unwrap_or_else(|e| panic!("{} does not verify: {e}", r.event_type()));
    // Signed under another secret, it would not verify (the check above is not vacuous).
    let other = standardwebhooks::Webhook::new("whsec_bGF0Y2gtdGVzdC13ZWJob29rLXNlY3JldC0zMmJ5dGU=").unwrap();
    assert!(other.verify(r.body.as_bytes(), &headers).is_err());
    // Compact JSON: what Next.js' Pages Router re-serialises is what was signed.
    assert_eq!(serde_json::to_string(&r.json()).unwrap(), r.body, "compact JSON");
}

/// The app's server calling the Backend API with a secret key.
struct Bapi {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Bapi {
    fn new(server: &LatchProcess) -> Bapi {
        let key = cli(server, &["keys", "create"]).trim().to_string();
        Bapi { http: reqwest::Client::new(), base: format!("{}/bapi/v1", server.base), key }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

#[tokio::test]
async fn every_event_type_arrives_signed_in_clerks_envelope() {
    let receiver = Receiver::start().await;
    let server = LatchProcess::start_with(FAST);
    let secret = add_endpoint(&server, &receiver.url, &[]);
    noticed().await;
    let bapi = Bapi::new(&server);

    // user.created, session.created (sign-up); passkey.created, passkey.updated.
    let (mut alice, passkey, _) = Person::with_passkey(&server, "alice").await;
    let pk_id = passkey["id"].as_str().unwrap().to_string();
    alice.fapi.patch(&format!("/me/passkeys/{pk_id}"), &[("name", "Work laptop")]).await.ok();
    // session.ended (sign-out), session.created (passkey sign-in).
    alice.fapi.sign_out().await.ok();
    let sid = alice.fapi.sign_in_ok(&mut alice.auth).await;
    // session.removed (FAPI remove of one session).
    alice.fapi.post(&format!("/client/sessions/{sid}/remove"), &[]).await.ok();
    // session.revoked (BAPI), user.updated (metadata), passkey.deleted, user.deleted.
    let phone = Fapi::new(&server);
    let revoked_sid = phone.sign_in_ok(&mut alice.auth).await;
    bapi.call(reqwest::Method::POST, &format!("/sessions/{revoked_sid}/revoke"), None).await;
    bapi.call(reqwest::Method::PATCH, &format!("/users/{}/metadata", alice.user_id), Some(json!({"public_metadata": {"plan": "pro"}}))).await;
    bapi.call(reqwest::Method::DELETE, &format!("/users/{}/passkeys/{pk_id}", alice.user_id), None).await;
    bapi.call(reqwest::Method::DELETE, &format!("/users/{}", alice.user_id), None).await;

    let expected = [
        "user.created",
        "user.updated",
        "user.deleted",
        "session.created",
        "session.ended",
        "session.removed",
        "session.revoked",
        "passkey.created",
        "passkey.updated",
        "passkey.deleted",
    ];
    let got = receiver.wait_for("every event type", |got| expected.iter().all(|t| has(got, t))).await;
    let ids: BTreeSet<&str> = got.iter().map(|r| r.header("svix-id")).collect();
    assert_eq!(ids.len(), got.len(), "no two events share an id: {:?}", types(&got));
    for r in &got {
        assert!(r.header("svix-id").starts_with("msg_"), "{}", r.header("svix-id"));
        assert_signed(r, &secret);
        let event = r.json();
        assert_eq!((event["object"].as_str(), event["instance_id"].as_str()), (Some("event"), Some("ins_latch")));
        assert!(event["timestamp"].as_i64().unwrap() > 1_700_000_000_000, "ms");
        assert!(event["event_attributes"]["http_request"]["user_agent"].is_string());
    }
    let of = |t: &str| got.iter().find(|r| r.event_type() == t).unwrap().json()["data"].clone();
    assert_eq!(of("user.created")["object"], "user");
    assert_eq!(of("user.created")["username"], "alice");
    assert_eq!(of("user.updated")["public_metadata"], json!({"plan": "pro"}), "the merged metadata");
    assert_eq!(of("user.deleted"), json!({"object": "user", "id": alice.user_id, "deleted": true}));
    assert_eq!(of("passkey.updated")["name"], "Work laptop");
    assert_eq!(of("passkey.deleted"), json!({"object": "passkey", "id": pk_id, "deleted": true}));
    for (t, status) in [("session.ended", "ended"), ("session.removed", "removed"), ("session.revoked", "revoked")] {
        let session = of(t);
        assert_eq!((session["object"].as_str(), session["status"].as_str()), (Some("session"), Some(status)), "{t}");
        assert_eq!(session["user"]["id"], alice.user_id.as_str(), "{t} carries its user");
    }
    assert_eq!(of("session.revoked")["id"], revoked_sid.as_str());
    assert_eq!(of("session.removed")["id"], sid.as_str());
    let created: Vec<Value> = got.iter().filter(|r| r.event_type() == "session.created").map(|r| r.json()["data"].clone()).collect();
    assert_eq!(created.len(), 3, "sign-up, two passkey sign-ins");
    assert!(created.iter().all(|s| s["status"] == "active" && s["user"]["username"] == "alice"));

    let listed = cli(&server, &["webhooks", "deliveries"]);
    assert_eq!(listed.lines().filter(|l| l.contains(" delivered ")).count(), got.len(), "{listed}");
    assert!(cli(&server, &["audit"]).contains("webhook.endpoint.add"));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_under_the_same_msg_id_and_replayable() {
    let receiver = Receiver::start().await;
    receiver.answer_with(&[500, 503]);
    let server = LatchProcess::start_with(FAST);
    let secret = add_endpoint(&server, &receiver.url, &["--events", "user.created"]);
    noticed().await;
    Person::sign_up(&server, "bob").await;
    let got = receiver.wait_for("three attempts", |got| got.len() >= 3).await;
    let id = got[0].header("svix-id").to_string();
    assert!(got.iter().all(|r| r.header("svix-id") == id), "one msg id for every attempt");
    assert!(got.iter().all(|r| r.body == got[0].body), "the same body");
    assert!(types(&got).iter().all(|t| t == "user.created"), "only the event type asked for: {:?}", types(&got));
    for r in &got {
        assert_signed(r, &secret);
    }
    let listed = cli(&server, &["webhooks", "deliveries"]);
    assert!(listed.contains("delivered") && listed.contains("attempts 3"), "{listed}");

    // Replay: the same msg id and body, once more.
    let out = cli(&server, &["webhooks", "replay", &id]);
    assert!(out.contains("1 delivery"), "{out}");
    let again = receiver.wait_for("the replay", |got| got.len() >= 4).await;
    assert_eq!((again[3].header("svix-id"), again[3].body.as_str()), (id.as_str(), got[0].body.as_str()));
    assert!(!server.command(&["webhooks", "replay", "msg_nothing"]).status.success());
}

#[tokio::test]
async fn a_restart_with_the_receiver_down_still_delivers() {
    // A port nothing listens on yet: the receiver comes up there later.
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = parked.local_addr().unwrap();
    drop(parked);
    let url = format!("http://{addr}/webhooks/latch");
    let mut server = LatchProcess::start_with(FAST);
    let secret = add_endpoint(&server, &url, &[]);
    noticed().await;
    let carol = Person::sign_up(&server, "carol").await;
    // The first attempts fail (connection refused); the node dies with the deliveries pending.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pending = cli(&server, &["webhooks", "deliveries", "--pending"]);
    assert!(pending.contains("user.created") && pending.contains("connection failed"), "{pending}");
    server.restart();
    let receiver = Receiver::on(tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    let got = receiver.wait_for("the events from before the restart", |got| has(got, "user.created") && has(got, "session.created")).await;
    let user = got.iter().find(|r| r.event_type() == "user.created").unwrap();
    assert_signed(user, &secret);
    assert_eq!(user.json()["data"]["id"], carol.user_id.as_str());
}

#[tokio::test]
async fn without_endpoints_nothing_is_stored_and_refused_actions_send_nothing() {
    let receiver = Receiver::start().await;
    let server = LatchProcess::start_with(FAST);
    Person::sign_up(&server, "dave").await;
    assert_eq!(cli(&server, &["webhooks", "deliveries"]), "", "no endpoint: no delivery");
    assert_eq!(cli(&server, &["webhooks", "list"]), "");

    let secret = add_endpoint(&server, &receiver.url, &["--events", "user.created,user.deleted"]);
    let listed = cli(&server, &["webhooks", "list"]);
    assert!(listed.contains(&receiver.url) && listed.contains("user.created,user.deleted"), "{listed}");
    assert!(!listed.contains(&secret), "the secret is shown once, at creation");
    noticed().await;
    // A sign-up refused (the username is taken) reports nothing; one that succeeds does.
    let refused = Fapi::new(&server).sign_up("dave").await;
    assert_eq!(refused.status, 422, "{}", refused.text);
    Person::sign_up(&server, "erin").await;
    let got = receiver.wait_for("erin's user.created", |got| !got.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got_later = receiver.received();
    assert_eq!(got_later.len(), 1, "one event, the filter keeps session.created out: {:?}", types(&got_later));
    assert_eq!(got[0].json()["data"]["username"], "erin", "dave's earlier sign-up was never stored, nor the refused one");

    // Bad endpoints are refused; removing one stops its deliveries.
    assert!(!server.command(&["webhooks", "add", "ftp://example.com/"]).status.success());
    assert!(!server.command(&["webhooks", "add", &receiver.url, "--events", "user.exploded"]).status.success());
    let id = listed.split_whitespace().next().unwrap().to_string();
    assert!(cli(&server, &["webhooks", "remove", &id]).contains("removed"));
    assert!(!server.command(&["webhooks", "remove", &id]).status.success());
    noticed().await;
    Person::sign_up(&server, "frank").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing after the endpoint was removed");
}

/// Deleting a passkey ends the live sessions it made (docs/protocol.md §16.4): each is
/// announced `session.revoked`, the user shown without the passkey; the session that deletes
/// it, and sessions made by another passkey, are not. The operator's delete does the same,
/// keeping no session.
#[tokio::test]
async fn the_sessions_a_deleted_passkey_ends_are_announced_revoked() {
    let receiver = Receiver::start().await;
    let server = LatchProcess::start_with(FAST);
    add_endpoint(&server, &receiver.url, &[]);
    noticed().await;
    let bapi = Bapi::new(&server);
    let (mut alice, first, _) = Person::with_passkey(&server, "alice").await;
    let first_id = first["id"].as_str().unwrap().to_string();
    let first_cred = latch_testkit::fapi::unb64u(first["credential_id"].as_str().unwrap());
    let (second, second_cred) = alice.fapi.create_passkey(&mut alice.auth).await;
    let second_id = second["id"].as_str().unwrap().to_string();

    // Two more browsers sign in with the first passkey, one with the second; the account's
    // own browser signs in again with the second and deletes the first.
    alice.auth.prefer(&first_cred);
    let by_first = [Fapi::new(&server).sign_in_ok(&mut alice.auth).await, Fapi::new(&server).sign_in_ok(&mut alice.auth).await];
    alice.auth.prefer(&second_cred);
    let tablet_sid = Fapi::new(&server).sign_in_ok(&mut alice.auth).await;
    alice.fapi.sign_out().await.ok();
    let own_sid = alice.fapi.sign_in_ok(&mut alice.auth).await;
    alice.fapi.delete(&format!("/me/passkeys/{first_id}")).await.ok();

    let revoked_ids = |got: &[Received]| -> BTreeSet<String> {
        got.iter()
            .filter(|r| r.event_type() == "session.revoked")
            .map(|r| r.json()["data"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let expected: BTreeSet<String> = by_first.iter().cloned().collect();
    let got = receiver.wait_for("the revoked sessions", |got| has(got, "passkey.deleted") && revoked_ids(got) == expected).await;
    for r in got.iter().filter(|r| r.event_type() == "session.revoked") {
        let session = &r.json()["data"];
        assert_eq!(session["status"], "revoked", "{session}");
        let shown: Vec<&str> = session["user"]["passkeys"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(shown, vec![second_id.as_str()], "the user as the delete leaves them");
    }

    // The operator deletes the second passkey: the tablet's session and the account's own end.
    bapi.call(reqwest::Method::DELETE, &format!("/users/{}/passkeys/{second_id}", alice.user_id), None).await;
    let expected: BTreeSet<String> = by_first.iter().cloned().chain([tablet_sid, own_sid]).collect();
    let got = receiver.wait_for("the operator's revoked sessions", |got| revoked_ids(got) == expected).await;
    assert_eq!(got.iter().filter(|r| r.event_type() == "session.revoked").count(), 4, "one event a session: {:?}", types(&got));
}
