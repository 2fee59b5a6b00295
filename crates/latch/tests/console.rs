//! The admin console and its operators (docs/protocol.md §17), black-box: the real binary,
//! `latch operators` for the role, HTTP for everything else.
//!
//! - Off by default: `/console` is a 404 and an operator's session token opens no Backend API
//!   route (`401 clerk_key_invalid`), while a secret key works as always.
//! - On (`--console`): a live operator session's token opens the Backend API; a non-operator's
//!   live token gets `403 authorization_invalid`; a forged token, one from another instance,
//!   an ended session's, and a cookie alone get 401; revoking the role refuses the very next
//!   call. A secret key still works. (An expired token: `tokens.rs`'s unit test, since the
//!   shortest token lifetime is 30 s.)
//! - Destructive calls from the console need a recent verification (§16's 403
//!   `session_reverification_required`) and every audit line names the operator.
//! - The new endpoints' filters and pagination: `/audit_events`, `/passkeys`,
//!   `/webhooks/deliveries` and their replay.
//! - `--console` refuses to start without the portal or off an allowed origin.
//! - Minting a user's session token (`POST /sessions/{id}/tokens`) is the app's server's
//!   alone: an operator's token reads the session but mints nothing (403), and a token the
//!   app's server minted (no `azp`) is no operator's token, even for an operator's session.

use std::time::Duration;

use latch_testkit::bapi::{Bapi, secret_key};
use latch_testkit::fapi::{Fapi, RawRequest, parse_nonce};
use latch_testkit::process::LatchProcess;
use latch_testkit::scene::Person;
use serde_json::json;

fn cli(server: &LatchProcess, args: &[&str]) -> String {
    let out = server.command(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The session token the person's browser mints for its active session (as the console does).
async fn session_token(person: &Person) -> String {
    let sid = person.fapi.session_id().expect("signed in");
    let r = person.fapi.token(&sid).await.ok();
    r.body["jwt"].as_str().expect("a jwt").to_string()
}

/// A user who holds the operator role, signed in with a passkey; and their token.
async fn operator(server: &LatchProcess, name: &str) -> (Person, String) {
    let (person, _, _) = Person::with_passkey(server, name).await;
    cli(server, &["operators", "grant", name]);
    let token = session_token(&person).await;
    (person, token)
}

#[tokio::test]
async fn the_console_is_off_by_default_and_operator_tokens_open_nothing() {
    let server = LatchProcess::start();
    let (_, token) = operator(&server, "olive").await;
    let page = Fapi::new(&server).get_abs("/console").await;
    assert_eq!(page.status, 404, "{}", page.text);
    for path in ["/users", "/audit_events", "/webhooks/deliveries"] {
        Bapi::new(&server, &token).get(path).await.assert_error(401, "clerk_key_invalid");
    }
    Bapi::new(&server, &secret_key(&server)).get("/users").await.ok();
    // The role is granted and listed all the same, ready for when the console is on.
    assert!(cli(&server, &["operators", "list"]).contains("olive"));
}

#[tokio::test]
async fn only_a_live_operator_session_token_opens_the_backend_api() {
    let server = LatchProcess::start_with(&["--console"]);
    let page = Fapi::new(&server).get_abs("/console").await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy")[0].contains("default-src 'none'"));
    assert_eq!(page.header("x-frame-options"), ["DENY"]);

    let (olive, token) = operator(&server, "olive").await;
    let users = Bapi::new(&server, &token).get("/users").await.ok();
    assert_eq!(users.body.as_array().unwrap().len(), 1, "{}", users.text);

    // A live session of a user who is not an operator: authenticated, not authorised.
    let (mallory, _, _) = Person::with_passkey(&server, "mallory").await;
    let theirs = session_token(&mallory).await;
    Bapi::new(&server, &theirs).get("/users").await.assert_error(403, "authorization_invalid");

    // Forged: the signature of another token, or a payload changed under the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let other: Vec<&str> = theirs.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], other[1], parts[2]);
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    let none_alg = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", parts[1]);
    for forged in [swapped.as_str(), unsigned.as_str(), none_alg.as_str(), "not.a.jwt", "eyJ"] {
        Bapi::new(&server, forged).get("/users").await.assert_error(401, "authentication_invalid");
    }
    // Another instance's operator token (its own key and issuer).
    let elsewhere = LatchProcess::start_with(&["--console"]);
    let (_, foreign) = operator(&elsewhere, "olive").await;
    Bapi::new(&server, &foreign).get("/users").await.assert_error(401, "authentication_invalid");

    // A cookie alone opens nothing: the operator's own browser, without the header.
    let mut r = RawRequest::get("/bapi/v1/users").no_session_param();
    r.sdk_query = false;
    olive.fapi.send(r).await.assert_error(401, "clerk_key_invalid");

    // A secret key still works beside them.
    let key = secret_key(&server);
    Bapi::new(&server, &key).get("/users").await.ok();
    Bapi::new(&server, "sk_live_wrong").get("/users").await.assert_error(401, "clerk_key_invalid");

    // Revoked: the very next call with the same, unexpired token is refused.
    cli(&server, &["operators", "revoke", "olive"]);
    Bapi::new(&server, &token).get("/users").await.assert_error(403, "authorization_invalid");
    cli(&server, &["operators", "grant", "olive"]);
    Bapi::new(&server, &token).get("/users").await.ok();
    // Signed out: the session has ended, and its token with it.
    olive.fapi.sign_out().await.ok();
    Bapi::new(&server, &token).get("/users").await.assert_error(401, "authentication_invalid");
    let audit = cli(&server, &["audit", "--action", "operator.revoke"]);
    assert!(audit.contains("operator.revoke"), "{audit}");
}

#[tokio::test]
async fn a_token_minted_for_an_apps_page_is_not_the_consoles() {
    // An app on another origin this instance allows: its pages mint tokens with their `azp`.
    let server = LatchProcess::start_with(&["--console", "--related-origin", "http://shop.test"]);
    let app = Fapi::with(&server.base, "http://shop.test");
    app.sign_up_ok("olive").await;
    cli(&server, &["operators", "grant", "olive"]);
    let sid = app.session_id().unwrap();
    let from_app = app.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    Bapi::new(&server, &from_app).get("/users").await.assert_error(401, "authentication_invalid");
    // The same session's token minted on Latch's own origin (the console's page) works.
    let own = Fapi::new(&server);
    own.set_client_cookie(&app.client_cookie().unwrap());
    let from_console = own.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    Bapi::new(&server, &from_console).get("/users").await.ok();
}

/// Seconds a verification stays fresh here: long enough to sign up and act, short to wait out.
const MAX_AGE_SECS: u64 = 3;

async fn reverify(person: &mut Person) {
    let sid = person.fapi.session_id().unwrap();
    person.fapi.post(&format!("/client/sessions/{sid}/verify"), &[("level", "first_factor")]).await.ok();
    let prepared = person
        .fapi
        .post(&format!("/client/sessions/{sid}/verify/prepare_first_factor"), &[("strategy", "passkey")])
        .await
        .ok();
    let options = parse_nonce(&prepared.resp()["first_factor_verification"]["nonce"]);
    let assertion = person.auth.assert(&options).await;
    let done = person
        .fapi
        .post(
            &format!("/client/sessions/{sid}/verify/attempt_first_factor"),
            &[("strategy", "passkey"), ("public_key_credential", &assertion.json())],
        )
        .await
        .ok();
    assert_eq!(done.resp()["status"], "complete", "{}", done.text);
}

#[tokio::test]
async fn destructive_console_calls_need_a_recent_verification_and_name_the_operator() {
    let server = LatchProcess::start_with(&["--console", "--reverification-max-age-secs", &MAX_AGE_SECS.to_string()]);
    let (mut olive, _) = operator(&server, "olive").await;
    let (bob, bob_pk, _) = Person::with_passkey(&server, "bob").await;
    let bob_sid = bob.fapi.session_id().unwrap();
    let bob_pk = bob_pk["id"].as_str().unwrap().to_string();
    let key = secret_key(&server);

    // Fresh from sign-up: a recovery link is issued, and its line names the operator.
    let console = Bapi::new(&server, &session_token(&olive).await);
    let link = console.call("POST", "/sign_in_tokens", Some(json!({ "user_id": bob.user_id }))).await.ok();
    assert!(link.body["url"].as_str().unwrap().contains("/portal/sign-in?__clerk_ticket="), "{}", link.text);

    tokio::time::sleep(Duration::from_millis(MAX_AGE_SECS * 1000 + 200)).await;
    let console = Bapi::new(&server, &session_token(&olive).await);
    let stale = [
        console.call("POST", &format!("/sessions/{bob_sid}/revoke"), None).await,
        console.call("DELETE", &format!("/users/{}/passkeys/{bob_pk}", bob.user_id), None).await,
        console.call("DELETE", &format!("/users/{}", bob.user_id), None).await,
        console.call("POST", "/sign_in_tokens", Some(json!({ "user_id": bob.user_id }))).await,
    ];
    for refused in &stale {
        refused.assert_error(403, "session_reverification_required");
        assert_eq!(refused.body["errors"][0]["meta"]["reverification"]["level"], "first_factor", "{}", refused.text);
    }
    // Nothing changed; reads are not asked for a verification; a secret key is not either.
    let sessions = console.get(&format!("/sessions?user_id={}&status=active", bob.user_id)).await.ok();
    assert_eq!(sessions.body.as_array().unwrap().len(), 1, "{}", sessions.text);
    assert_eq!(console.get(&format!("/passkeys?user_id={}", bob.user_id)).await.ok().body["total_count"], 1);

    // Reverified with the operator's own passkey: the same calls go through.
    reverify(&mut olive).await;
    console.call("POST", &format!("/sessions/{bob_sid}/revoke"), None).await.ok();
    console.call("DELETE", &format!("/users/{}/passkeys/{bob_pk}", bob.user_id), None).await.ok();
    let audit = Bapi::new(&server, &key);
    for action in ["session.revoke", "passkey.delete", "sign_in_token.create"] {
        let lines = audit.get(&format!("/audit_events?action={action}")).await.ok();
        let line = &lines.body["data"][0];
        assert_eq!(line["actor"], json!({ "type": "operator", "id": olive.user_id }), "{action}: {}", lines.text);
        assert_eq!(line["user_id"], bob.user_id.as_str(), "{action}: {}", lines.text);
    }
    // The CLI reader names the operator too.
    let trail = cli(&server, &["audit", "--action", "session.revoke"]);
    assert!(trail.contains(&format!("operator={}", olive.user_id)), "{trail}");
    // A secret key's own call is named by its key, and asks for no verification.
    audit.call("DELETE", &format!("/users/{}", bob.user_id), None).await.ok();
    let deleted = audit.get("/audit_events?action=user.delete").await.ok();
    assert_eq!(deleted.body["data"][0]["actor"]["type"], "secret_key", "{}", deleted.text);
}

#[tokio::test]
async fn the_audit_passkey_and_webhook_endpoints_filter_and_page() {
    let server = LatchProcess::start_with(&["--console", "--webhook-poll-ms", "20", "--webhook-retry-unit-ms", "1"]);
    // A receiver that is not there: deliveries stay pending with the connection error.
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", parked.local_addr().unwrap());
    drop(parked);
    cli(&server, &["webhooks", "add", &url, "--events", "user.created"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (amy, _, _) = Person::with_passkey(&server, "amy").await;
    Person::sign_up(&server, "ben").await;
    Person::sign_up(&server, "cat").await;
    let key = secret_key(&server);
    let bapi = Bapi::new(&server, &key);

    // Audit: the action filter, pages of 2 with the count of all, the user filter.
    let first = bapi.get("/audit_events?action=sign_up&limit=2").await.ok();
    assert_eq!(
        (first.body["data"].as_array().unwrap().len(), &first.body["total_count"]),
        (2, &json!(3)),
        "{}",
        first.text
    );
    let rest = bapi.get("/audit_events?action=sign_up&limit=2&offset=2").await.ok();
    assert_eq!(rest.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest.body["data"][0]["user_id"], amy.user_id.as_str(), "oldest last");
    let amys = bapi.get(&format!("/audit_events?user_id={}", amy.user_id)).await.ok();
    assert!(amys.body["data"].as_array().unwrap().iter().all(|e| e["user_id"] == amy.user_id.as_str()));
    assert!(amys.body["data"].as_array().unwrap().iter().any(|e| e["action"] == "passkey.create"), "{}", amys.text);
    let future = bapi.get("/audit_events?since=99999999999999").await.ok();
    assert_eq!(future.body["total_count"], 0);
    for bad in ["action=DROP%20TABLE", "limit=0", "limit=501", "offset=-1", "since=yesterday"] {
        let r = bapi.get(&format!("/audit_events?{bad}")).await;
        assert!((400..500).contains(&r.status), "{bad}: {}", r.text);
        r.assert_error_shape();
    }

    // A user's passkeys in detail.
    let passkeys = bapi.get(&format!("/passkeys?user_id={}", amy.user_id)).await.ok();
    let pk = &passkeys.body["data"][0];
    assert_eq!(passkeys.body["total_count"], 1);
    for field in ["name", "authenticator_name", "created_at", "backed_up", "backup_eligible", "last_used_at"] {
        assert!(pk.get(field).is_some(), "{field}: {}", passkeys.text);
    }
    assert!(pk["backed_up"].is_boolean());
    bapi.get("/passkeys?user_id=user_nobody").await.assert_error(404, "resource_not_found");
    let missing = bapi.get("/passkeys").await;
    assert_eq!(missing.status, 422, "{}", missing.text);

    // Webhook deliveries: pending with the connection's error, replayed from the start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pending = bapi.get("/webhooks/deliveries?status=pending").await.ok();
    let deliveries = pending.body["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "one user.created each: {}", pending.text);
    assert!(deliveries.iter().all(|d| d["event_type"] == "user.created" && d["status"] == "pending"));
    let failed = bapi.get("/webhooks/deliveries?status=failed").await.ok();
    assert_eq!(failed.body["data"], json!([]), "none has run out of attempts yet");
    bapi.get("/webhooks/deliveries?status=lost").await.assert_error_shape();
    let id = deliveries[0]["id"].as_str().unwrap();
    let replayed = bapi.call("POST", &format!("/webhooks/deliveries/{id}/replay"), None).await.ok();
    assert_eq!(replayed.body["replayed"], 1, "{}", replayed.text);
    bapi.call("POST", "/webhooks/deliveries/msg_nothing/replay", None).await.assert_error(404, "resource_not_found");
    let replays = bapi.get("/audit_events?action=webhook.replay").await.ok();
    assert_eq!(replays.body["data"][0]["actor"]["type"], "secret_key", "{}", replays.text);
}

/// `--console` is checked at start: it needs the portal's sign-in page, and Latch's own origin
/// (the issuer's, where the console runs and operators mint their tokens) must be allowed.
#[test]
fn the_console_refuses_to_start_where_no_operator_could_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        std::process::Command::new(latch_testkit::process::latch_binary())
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env_remove("LATCH_CONSOLE")
            .env_remove("LATCH_PORTAL")
            .output()
            .unwrap()
    };
    let no_portal = serve(&["--console", "--portal=false"]);
    assert!(!no_portal.status.success());
    assert!(String::from_utf8_lossy(&no_portal.stderr).contains("--console needs the portal"), "{no_portal:?}");
    let elsewhere = serve(&["--console", "--issuer", "http://admin.localhost:9"]);
    assert!(!elsewhere.status.success());
    assert!(String::from_utf8_lossy(&elsewhere.stderr).contains("allowed --origin"), "{elsewhere:?}");
}

#[tokio::test]
async fn only_a_secret_key_mints_a_users_session_token() {
    let server = LatchProcess::start_with(&["--console"]);
    let (olive, token) = operator(&server, "olive").await;
    let (bob, _, _) = Person::with_passkey(&server, "bob").await;
    let bob_sid = bob.fapi.session_id().unwrap();
    let console = Bapi::new(&server, &token);

    // The console reads the session, but may not act as its user.
    assert_eq!(console.get(&format!("/sessions/{bob_sid}")).await.ok().body["user_id"], bob.user_id.as_str());
    let refused = console.call("POST", &format!("/sessions/{bob_sid}/tokens"), None).await;
    refused.assert_error(403, "authorization_invalid");
    assert!(refused.text.contains("secret key"), "{}", refused.text);

    // The app's server may; and what it mints for the operator's own session (no `azp`) does
    // not open the Backend API as that operator.
    let app = Bapi::new(&server, &secret_key(&server));
    app.call("POST", &format!("/sessions/{bob_sid}/tokens"), None).await.ok();
    let olive_sid = olive.fapi.session_id().unwrap();
    let minted = app.call("POST", &format!("/sessions/{olive_sid}/tokens"), None).await.ok().body["jwt"].as_str().unwrap().to_string();
    Bapi::new(&server, &minted).get("/users").await.assert_error(401, "authentication_invalid");
}
