//! The Backend API and ticket sign-in, black-box: the real binary, its CLI for keys, HTTP.
//!
//! - Every BAPI route needs a live secret key: none, a wrong one, a publishable key, a client
//!   cookie and a revoked key all get 401 `clerk_key_invalid`; no CORS on BAPI.
//! - Users, metadata, sessions, passkeys and sign-in tokens, in Clerk's shapes, with
//!   `Content-Type: application/json` exactly.
//! - A ticket signs in once, as its user, and a revoked session ends for its client.
//! - Bad input gets a Clerk-shaped 4xx and changes nothing.
//! - Session tokens: RS256 by default, EdDSA on request, key rotation keeps old tokens valid.
//! - One session read by id, live or over; a token minted for a live session by the app's
//!   server (verifies against the Backend API's JWKS, no `azp`, the lifetime asked within the
//!   token lifetime), refused for an ended one; no JWT templates. Minting is not the user's
//!   activity: an idle session expires while the app's server mints tokens for it.

use latch_testkit::process::LatchProcess;
use latch_testkit::bapi::{Bapi, secret_key};
use latch_testkit::fapi::{Fapi, RawRequest};
use latch_testkit::jwt::{verify_jwt, verify_jwt_with};
use serde_json::{Value, json};

#[tokio::test]
async fn no_bapi_route_opens_without_a_live_secret_key() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let browser = Fapi::new(&server);
    browser.sign_up_ok("alice").await;
    let publishable = String::from_utf8(server.command(&["keys", "publishable"]).stdout).unwrap().trim().to_string();
    assert!(publishable.starts_with("pk_live_"), "{publishable}");

    for presented in ["", "sk_live_wrong", publishable.as_str(), "Basic abc"] {
        for path in ["/jwks", "/users", "/sessions", "/no/such/route"] {
            Bapi::new(&server, presented).get(path).await.assert_error(401, "clerk_key_invalid");
        }
    }
    // The browser's client cookie opens nothing either.
    let mut r = RawRequest::get("/bapi/v1/users").no_session_param();
    r.sdk_query = false;
    browser.send(r).await.assert_error(401, "clerk_key_invalid");

    // A live key works; revoked, it stops at once. Another key stays live.
    let other = secret_key(&server);
    Bapi::new(&server, &key).get("/users").await.ok();
    let listed = String::from_utf8(server.command(&["keys", "list"]).stdout).unwrap();
    let id = listed.lines().next().and_then(|l| l.split_whitespace().next()).unwrap().to_string();
    assert!(server.command(&["keys", "revoke", &id]).status.success());
    Bapi::new(&server, &key).get("/users").await.assert_error(401, "clerk_key_invalid");
    Bapi::new(&server, &other).get("/users").await.ok();
    assert!(!server.command(&["keys", "revoke", &id]).status.success(), "a key is revoked once");

    // No CORS on the Backend API, even for an allowed origin.
    let mut r = RawRequest::get("/bapi/v1/users").no_session_param();
    r.sdk_query = false;
    r = r.header("authorization", &format!("Bearer {other}"));
    let reply = browser.send(r).await.ok();
    assert!(reply.header("access-control-allow-origin").is_empty(), "{:?}", reply.headers);
}

#[tokio::test]
async fn users_metadata_sessions_and_passkeys_in_clerks_shapes() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let browser = Fapi::new(&server);
    let alice = browser.sign_up_ok("alice").await;
    Fapi::new(&server).sign_up_ok("bob").await;

    // A bare array, newest first; the count beside it.
    let list = bapi.get("/users").await.ok();
    let names: Vec<&str> = list.body.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["bob", "alice"]);
    assert_eq!(bapi.get("/users?order_by=%2Bcreated_at&limit=1").await.ok().body[0]["username"], "alice");
    assert_eq!(bapi.get("/users/count").await.ok().body, json!({"object": "total_count", "total_count": 2}));
    assert_eq!(bapi.get(&format!("/users?user_id={alice}")).await.ok().body.as_array().unwrap().len(), 1);
    assert_eq!(bapi.get("/users?query=ALI").await.ok().body[0]["id"], alice.as_str());
    assert_eq!(bapi.get("/users?email_address=a%40example.com").await.ok().body, json!([]), "Latch's users have no email");

    let user = bapi.get(&format!("/users/{alice}")).await.ok().body;
    assert_eq!((user["object"].as_str(), user["id"].as_str()), (Some("user"), Some(alice.as_str())));
    assert_eq!(user["email_addresses"], json!([]));
    assert_eq!(user["private_metadata"], json!({}));

    // Metadata: deep merge, null deletes, private stays private to BAPI.
    let patch = json!({"public_metadata": {"plan": "pro", "prefs": {"theme": "dark", "lang": "en"}}, "private_metadata": {"stripe": "cus_1"}});
    bapi.call("PATCH", &format!("/users/{alice}/metadata"), Some(patch)).await.ok();
    let patch = json!({"public_metadata": {"prefs": {"lang": null, "tz": "UTC"}}});
    let user = bapi.call("PATCH", &format!("/users/{alice}/metadata"), Some(patch)).await.ok().body;
    assert_eq!(user["public_metadata"], json!({"plan": "pro", "prefs": {"theme": "dark", "tz": "UTC"}}));
    assert_eq!(user["private_metadata"], json!({"stripe": "cus_1"}));

    // Sessions: {data, total_count} with paginated=true.
    let sessions = bapi.get(&format!("/sessions?user_id={alice}&paginated=true")).await.ok().body;
    assert_eq!(sessions["total_count"], 1);
    let session = &sessions["data"][0];
    assert_eq!((session["object"].as_str(), session["status"].as_str()), (Some("session"), Some("active")));
    let sid = session["id"].as_str().unwrap().to_string();

    // Revoking the session: the browser's client no longer has it, and no token is issued.
    let revoked = bapi.call("POST", &format!("/sessions/{sid}/revoke"), None).await.ok().body;
    assert_eq!(revoked["status"], "revoked");
    let client = browser.get("/client").await.ok();
    assert_eq!(client.resp()["sessions"], json!([]), "{}", client.text);
    browser.token(&sid).await.assert_error(401, "signed_out");
    bapi.call("POST", &format!("/sessions/{sid}/revoke"), None).await.assert_error(400, "session_not_active");
    let audit = String::from_utf8(server.command(&["audit", "--user", &alice]).stdout).unwrap();
    for event in ["session.revoke", "user.metadata"] {
        assert!(audit.contains(event), "{event} audited: {audit}");
    }

    // Deleting the user: gone from get, list and count.
    assert_eq!(bapi.call("DELETE", &format!("/users/{alice}"), None).await.ok().body, json!({"object": "user", "id": alice, "deleted": true}));
    bapi.get(&format!("/users/{alice}")).await.assert_error(404, "resource_not_found");
    bapi.call("DELETE", &format!("/users/{alice}"), None).await.assert_error(404, "resource_not_found");
    assert_eq!(bapi.get("/users/count").await.ok().body["total_count"], 1);
}

#[tokio::test]
async fn a_ticket_signs_its_user_in_once() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let alice = Fapi::new(&server).sign_up_ok("alice").await;

    let issued = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice, "expires_in_seconds": 600}))).await.ok().body;
    assert_eq!((issued["object"].as_str(), issued["status"].as_str()), (Some("sign_in_token"), Some("pending")));
    let ticket = issued["token"].as_str().unwrap().to_string();
    assert!(issued["url"].as_str().unwrap().ends_with(&format!("__clerk_ticket={ticket}")));

    // A new browser redeems it: complete, with a session and an RS256 token for alice.
    let browser = Fapi::new(&server);
    let r = browser.post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", &ticket)]).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    let sid = r.resp()["created_session_id"].as_str().unwrap().to_string();
    let session = r.client()["sessions"].as_array().unwrap().iter().find(|s| s["id"] == sid.as_str()).cloned().unwrap();
    assert_eq!(session["user"]["id"], alice.as_str());
    let jwt = session["last_active_token"]["jwt"].as_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(jwt).unwrap().alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(verify_jwt(&browser, jwt).await["sub"], alice.as_str());

    // Once only, on any client; an unknown ticket is refused alike; a revoked one too.
    Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", &ticket)]).await.assert_error(422, "ticket_invalid");
    Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", "made-up")]).await.assert_error(422, "ticket_invalid");
    Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket")]).await.assert_error(422, "form_param_missing");
    let second = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice}))).await.ok().body;
    let revoked = bapi.call("POST", &format!("/sign_in_tokens/{}/revoke", second["id"].as_str().unwrap()), None).await.ok().body;
    assert_eq!(revoked["status"], "revoked");
    let r = Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", second["token"].as_str().unwrap())]).await;
    r.assert_error(422, "ticket_invalid");

    // The operator's recovery path: `latch sign-in-token --user alice`.
    let out = server.command(&["sign-in-token", "--user", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    let ticket = url.trim().rsplit_once("__clerk_ticket=").unwrap().1.to_string();
    let r = Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", &ticket)]).await.ok();
    assert_eq!(r.resp()["status"], "complete");
    let audit = String::from_utf8(server.command(&["audit", "--user", &alice]).stdout).unwrap();
    for event in ["sign_in.ticket", "sign_in_token.create", "sign_in_token.revoke"] {
        assert!(audit.contains(event), "{event} audited: {audit}");
    }
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let alice = Fapi::new(&server).sign_up_ok("alice").await;
    let issued = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice, "expires_in_seconds": 1}))).await.ok().body;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let r = Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", issued["token"].as_str().unwrap())]).await;
    r.assert_error(422, "ticket_expired");
}

#[tokio::test]
async fn bad_input_gets_a_clerk_shaped_4xx_and_changes_nothing() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let alice = Fapi::new(&server).sign_up_ok("alice").await;
    let before = bapi.get(&format!("/users/{alice}")).await.ok().body;

    for path in ["/users?limit=0", "/users?limit=501", "/users?limit=x", "/users?offset=-1", "/users?order_by=password", "/sessions?status=bogus"] {
        bapi.get(path).await.assert_error(422, "form_param_format_invalid");
    }
    for body in [json!({"public_metadata": "flat"}), json!({"private_metadata": [1]})] {
        bapi.call("PATCH", &format!("/users/{alice}/metadata"), Some(body)).await.assert_error(422, "form_param_format_invalid");
    }
    let mut raw = RawRequest::post(&format!("/bapi/v1/users/{alice}/metadata"), b"{not json".to_vec()).no_session_param();
    raw.method = reqwest::Method::PATCH;
    raw.sdk_query = false;
    raw.content_type = Some("application/json".into());
    raw = raw.header("authorization", &format!("Bearer {}", bapi.bearer));
    bapi.http.send(raw).await.assert_error(422, "form_param_format_invalid");
    bapi.call("PATCH", "/users/user_nobody/metadata", Some(json!({"public_metadata": {}}))).await.assert_error(404, "resource_not_found");
    for body in [json!({}), json!({"user_id": 7}), json!({"user_id": "user_nobody"}), json!({"user_id": alice, "expires_in_seconds": 0}), json!({"user_id": alice, "expires_in_seconds": 99_999_999})] {
        bapi.call("POST", "/sign_in_tokens", Some(body.clone())).await.assert_error_in(&[(422, "form_param_missing"), (422, "form_param_format_invalid")]);
    }
    bapi.call("DELETE", &format!("/users/{alice}/passkeys/pkey_nothing"), None).await.assert_error(404, "resource_not_found");
    bapi.call("POST", "/sessions/sess_nothing/revoke", None).await.assert_error(404, "resource_not_found");
    bapi.call("DELETE", "/users/../../etc", None).await.assert_error(404, "resource_not_found");

    assert_eq!(bapi.get(&format!("/users/{alice}")).await.ok().body, before, "nothing changed");
}

#[tokio::test]
async fn a_rotated_signing_key_signs_new_tokens_and_the_old_one_stays_published() {
    let mut server = LatchProcess::start();
    let browser = Fapi::new(&server);
    browser.sign_up_ok("alice").await;
    let sid = browser.session_id().unwrap();
    let old = browser.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();

    let out = server.command(&["keys", "rotate-signing"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.restart(); // rather than waiting for the minute's reread
    browser.set_server(&server);
    let jwks = browser.get_abs("/.well-known/jwks.json").await.ok().body;
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&old_kid.as_str()));
    verify_jwt(&browser, &old).await; // still verifies
    let bapi_jwks = Bapi::new(&server, &secret_key(&server)).get("/jwks").await.ok().body;
    assert_eq!(bapi_jwks, jwks, "BAPI publishes the same keys");

    // A new session gets a token from the new key.
    browser.sign_out().await.ok();
    browser.sign_up_ok("bob").await;
    let new = browser.token(&browser.session_id().unwrap()).await.ok().body["jwt"].as_str().unwrap().to_string();
    assert_ne!(jsonwebtoken::decode_header(&new).unwrap().kid.unwrap(), old_kid);
    verify_jwt(&browser, &new).await;
}

#[tokio::test]
async fn eddsa_session_tokens_are_the_operators_choice() {
    let server = LatchProcess::start_with(&["--token-algorithm", "EdDSA"]);
    let browser = Fapi::new(&server);
    browser.sign_up_ok("alice").await;
    let jwt = browser.token(&browser.session_id().unwrap()).await.ok().body["jwt"].as_str().unwrap().to_string();
    assert_eq!(jsonwebtoken::decode_header(&jwt).unwrap().alg, jsonwebtoken::Algorithm::EdDSA);
    verify_jwt(&browser, &jwt).await;
    let out = server.command(&["keys", "jwt-key"]);
    assert!(!out.status.success(), "no CLERK_JWT_KEY for EdDSA");
}

#[tokio::test]
async fn an_operator_deletes_a_lost_passkey_and_it_signs_in_no_more() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let (mut alice, pk, _) = latch_testkit::scene::Person::with_passkey(&server, "alice").await;
    let pk_id = pk["id"].as_str().unwrap().to_string();
    alice.fapi.sign_out().await.ok();
    // A browser signed in with the passkey: its session ends with it (docs/protocol.md §16.4).
    let with_passkey = Fapi::new(&server);
    let its_session = with_passkey.sign_in_ok(&mut alice.auth).await;

    // The passkey shows on the backend user and in the user's passkey list.
    let user = bapi.get(&format!("/users/{}", alice.user_id)).await.ok().body;
    assert_eq!(user["passkeys"][0]["id"], pk_id.as_str(), "{user}");
    let listed = bapi.get(&format!("/users/{}/passkeys", alice.user_id)).await.ok().body;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // Another user's id does not reach it.
    let bob = Fapi::new(&server).sign_up_ok("bob").await;
    bapi.call("DELETE", &format!("/users/{bob}/passkeys/{pk_id}"), None).await.assert_error(404, "resource_not_found");

    let deleted = bapi.call("DELETE", &format!("/users/{}/passkeys/{pk_id}", alice.user_id), None).await.ok().body;
    assert_eq!(deleted, json!({"object": "passkey", "id": pk_id, "deleted": true}));
    assert_eq!(bapi.get(&format!("/users/{}/passkeys", alice.user_id)).await.ok().body, json!([]));
    with_passkey.token(&its_session).await.assert_error(401, "signed_out");
    alice.fapi.sign_in(&mut alice.auth).await.assert_error(422, "passkey_not_registered");
    let audit = String::from_utf8(server.command(&["audit", "--user", &alice.user_id]).stdout).unwrap();
    assert!(audit.contains("passkey.delete"), "{audit}");
}

#[tokio::test]
async fn a_ticket_redeemed_by_many_browsers_at_once_signs_in_exactly_one() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let alice = Fapi::new(&server).sign_up_ok("alice").await;
    let issued = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice}))).await.ok().body;
    let ticket = issued["token"].as_str().unwrap().to_string();
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (browser, ticket) = (Fapi::new(&server), ticket.clone());
        attempts.spawn(async move { browser.post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", &ticket)]).await });
    }
    let replies = attempts.join_all().await;
    let won = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(won, 1, "{:?}", replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_error(422, "ticket_invalid");
    }
    let sessions = bapi.get(&format!("/sessions?user_id={alice}&status=active&paginated=true")).await.ok().body;
    assert_eq!(sessions["total_count"], 2, "the sign-up's session and the one ticket's: {sessions}");
}

#[tokio::test]
async fn without_the_portal_a_ticket_has_no_url_and_the_cli_prints_the_ticket() {
    let server = LatchProcess::start_with(&["--portal=false"]);
    let bapi = Bapi::new(&server, &secret_key(&server));
    let alice = Fapi::new(&server).sign_up_ok("alice").await;
    let issued = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice}))).await.ok().body;
    assert!(issued["url"].is_null() && issued["token"].is_string(), "{issued}");
    let out = server.command(&["sign-in-token", "--user", &alice]);
    let ticket = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let r = Fapi::new(&server).post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", &ticket)]).await.ok();
    assert_eq!(r.resp()["status"], "complete");
}

/// Clerk's SDKs refuse a publishable key whose host has no dot (`parsePublishableKey`), so the
/// development default (`http://localhost:PORT`) gets a warning that says what to set instead;
/// a dotted issuer (what the Next.js example uses) gets none.
#[tokio::test]
async fn an_undotted_issuer_is_warned_about_and_a_dotted_one_is_not() {
    let server = LatchProcess::start();
    assert!(server.logs().contains("refuse a publishable key whose host has no dot"), "{}", server.logs());
    let out = server.command(&["keys", "publishable"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--issuer"), "{stderr}");

    let out = server.command(&["keys", "publishable", "--issuer", "https://clerk.latch.localhost"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "pk_live_Y2xlcmsubGF0Y2gubG9jYWxob3N0JA==");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let dotted = LatchProcess::start_with(&["--issuer", "https://clerk.latch.localhost"]);
    assert!(!dotted.logs().contains("has no dot"), "{}", dotted.logs());
}

/// A Backend API action's audit line names the secret key that acted, by its id, never the key
/// (issue 13): with two live keys, each line names the one its request carried.
#[tokio::test]
async fn backend_api_audit_lines_name_the_secret_key_that_acted() {
    let server = LatchProcess::start();
    let (first, second) = (secret_key(&server), secret_key(&server));
    let listed = String::from_utf8(server.command(&["keys", "list"]).stdout).unwrap();
    let id_of = |key: &str| {
        let hint = &key[key.len() - 4..];
        listed.lines().find(|l| l.contains(&format!("sk_live_…{hint}"))).and_then(|l| l.split_whitespace().next()).unwrap().to_string()
    };
    let (first_id, second_id) = (id_of(&first), id_of(&second));
    assert_ne!(first_id, second_id);
    let user = Fapi::new(&server).sign_up_ok("auditee").await;
    let patch = json!({"public_metadata": {"plan": "pro"}});
    Bapi::new(&server, &first).call("PATCH", &format!("/users/{user}/metadata"), Some(patch)).await.ok();
    Bapi::new(&server, &second).call("DELETE", &format!("/users/{user}"), None).await.ok();

    let out = server.command(&["audit", "--user", &user, "--json"]);
    let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let key_of = |event: &str| lines.iter().find(|l| l["event"] == event).map(|l| l["secret_key_id"].clone());
    assert_eq!(key_of("user.metadata"), Some(json!(first_id)), "{lines:?}");
    assert_eq!(key_of("user.delete"), Some(json!(second_id)), "{lines:?}");
    assert_eq!(key_of("sign_up"), Some(Value::Null), "FAPI lines name no key");
    let text = serde_json::to_string(&lines).unwrap();
    assert!(!text.contains(&first) && !text.contains(&second), "a secret key in the audit trail");
}

// Authenticator metadata from the operator's file (docs/protocol.md §22).

/// An AAGUID in no built-in list, which the operator's file names (bytes, and as text).
const OUR_KEY: &str = "5ec01d0e-a1b2-4c3d-8e9f-102132435465";
const OUR_KEY_AAGUID: [u8; 16] = [0x5e, 0xc0, 0x1d, 0x0e, 0xa1, 0xb2, 0x4c, 0x3d, 0x8e, 0x9f, 0x10, 0x21, 0x32, 0x43, 0x54, 0x65];

#[tokio::test]
async fn an_operators_metadata_file_renames_a_known_authenticator_and_adds_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authenticators.json");
    let ours = OUR_KEY.to_string();
    let metadata = json!({
        "icons": { "our-key.png": "data:image/png;base64,iVBORw0KGgo=" },
        "aaguids": {
            // Apple Passwords, the software authenticator's AAGUID, renamed; its shipped icon given for one background.
            "fbfc3007-154e-4ecc-8c0b-6e020557d7bd": ["Company Macs", "apple-passwords-icon.svg", null],
            ours.clone(): ["Company security key", "our-key.png", "our-key.png"],
        }
    });
    std::fs::write(&file, metadata.to_string()).unwrap();
    let server = LatchProcess::start_with(&["--authenticator-metadata", file.to_str().unwrap()]);
    let bapi = Bapi::new(&server, &secret_key(&server));
    let (alice, _, _) = latch_testkit::scene::Person::with_passkey(&server, "alice").await;
    let mut key = latch_testkit::passkey::SoftAuthenticator::for_server(&server).with_aaguid(OUR_KEY_AAGUID);
    let (made, _) = alice.fapi.create_passkey(&mut key).await;
    assert_eq!(made["name"], "Company security key", "a new passkey is named from the file: {made}");

    let detailed = bapi.get(&format!("/passkeys?user_id={}", alice.user_id)).await.ok().body;
    let by_aaguid = |aaguid: &str| {
        detailed["data"].as_array().unwrap().iter().find(|p| p["aaguid"] == aaguid).cloned().unwrap_or_else(|| panic!("{detailed}"))
    };
    let renamed = by_aaguid("fbfc3007-154e-4ecc-8c0b-6e020557d7bd");
    assert_eq!(renamed["authenticator_name"], "Company Macs", "{renamed}");
    assert!(renamed["authenticator_icon_light"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"), "{renamed}");
    assert_eq!(renamed["authenticator_icon_dark"], renamed["authenticator_icon_light"], "one picture serves both: {renamed}");
    let added = by_aaguid(&ours);
    assert_eq!(added["authenticator_name"], "Company security key", "{added}");
    assert_eq!(added["authenticator_icon_dark"], "data:image/png;base64,iVBORw0KGgo=", "{added}");
}

#[test]
fn a_malformed_metadata_file_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authenticators.json");
    // The start's error, with `contents` as the file (None: no file at all).
    let start = |contents: Option<&str>| {
        match contents {
            Some(contents) => std::fs::write(&file, contents).unwrap(),
            None => std::fs::remove_file(&file).unwrap(),
        }
        let out = std::process::Command::new(latch_testkit::process::latch_binary())
            .args(["serve", "--port", "0", "--authenticator-metadata"])
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "latch started with {contents:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let said = start(Some(r#"{"aaguids": {"not-an-aaguid": ["Mine", null, null]}}"#));
    assert!(said.contains("--authenticator-metadata") && said.contains("\"not-an-aaguid\" is not an AAGUID"), "{said}");
    let said = start(Some("{\"aaguids\": "));
    assert!(said.contains("--authenticator-metadata") && said.contains("not the expected JSON"), "{said}");
    let said = start(Some(r#"{"icons": {"x.svg": "https://tracker.example/x.svg"}, "aaguids": {}}"#));
    assert!(said.contains("icon \"x.svg\" is not a base64 data: URI"), "{said}");
    let said = start(None);
    assert!(said.contains("cannot read --authenticator-metadata"), "{said}");
}

// The PRF extension (docs/protocol.md §22.2).

#[tokio::test]
async fn registration_asks_for_prf_and_the_backend_api_and_fapi_show_what_the_browser_reported() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let (alice, first, _) = latch_testkit::scene::Person::with_passkey(&server, "alice").await;
    let register = |reported: Option<Value>| {
        let fapi = &alice.fapi;
        let origin = server.origin();
        async move {
            let (id, options) = fapi.start_registration().await;
            assert_eq!(options["extensions"]["prf"], json!({}), "the creation options ask for PRF: {options}");
            let mut key = latch_testkit::passkey::SoftAuthenticator::new(&origin);
            let mut credential = key.register(&options).await.to_value();
            if let Some(reported) = reported {
                credential["clientExtensionResults"] = reported;
            }
            let r = fapi.finish_registration(&id, &credential.to_string()).await.ok();
            assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
            r.resp()["id"].as_str().unwrap().to_string()
        }
    };
    let enabled = register(Some(json!({ "prf": { "enabled": true } }))).await;
    let disabled = register(Some(json!({ "prf": { "enabled": false }, "credProps": { "rk": true } }))).await;
    // Not a boolean: the browser said nothing usable, and the registration stands.
    let garbled = register(Some(json!({ "prf": { "enabled": "yes" } }))).await;

    let detailed = bapi.get(&format!("/passkeys?user_id={}", alice.user_id)).await.ok().body;
    let prf_of = |id: &str| {
        let passkey = detailed["data"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{detailed}"));
        passkey.get("prf_enabled").cloned().unwrap_or_else(|| panic!("always present: {passkey}"))
    };
    assert_eq!(prf_of(&enabled), json!(true));
    assert_eq!(prf_of(&disabled), json!(false));
    assert_eq!(prf_of(&garbled), Value::Null);
    // clerk-js posts no clientExtensionResults: unknown, not false.
    assert_eq!(prf_of(first["id"].as_str().unwrap()), Value::Null);
    // The user sees the same on their own passkeys (FAPI's PasskeyJSON).
    for passkey in alice.fapi.passkeys().await {
        let id = passkey["id"].as_str().unwrap();
        assert_eq!(passkey.get("prf_enabled"), Some(&prf_of(id)), "FAPI agrees on {passkey}");
    }
}

// The AAGUID allow-list (docs/protocol.md §22.3).

#[tokio::test]
async fn an_aaguid_allow_list_refuses_other_authenticators_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("allowed.txt");
    std::fs::write(&list, format!("# the company's keys\n{OUR_KEY}\n")).unwrap();
    // Apple Passwords on the flag, the company key in the file: both allowed.
    let server = LatchProcess::start_with(&[
        "--allowed-aaguids",
        "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        "--allowed-aaguids-file",
        list.to_str().unwrap(),
    ]);
    assert!(server.logs().contains(OUR_KEY), "the start-up log names the allowed models: {}", server.logs());
    let bapi = Bapi::new(&server, &secret_key(&server));
    let (alice, _, _) = latch_testkit::scene::Person::with_passkey(&server, "alice").await;
    let mut company = latch_testkit::passkey::SoftAuthenticator::for_server(&server).with_aaguid(OUR_KEY_AAGUID);
    alice.fapi.create_passkey(&mut company).await;

    for outsider in [[0x0au8; 16], [0u8; 16]] {
        let (id, options) = alice.fapi.start_registration().await;
        let mut other = latch_testkit::passkey::SoftAuthenticator::for_server(&server).with_aaguid(outsider);
        let reg = other.register(&options).await;
        let refused = alice.fapi.finish_registration(&id, &reg.json()).await;
        refused.assert_error(422, "passkey_authenticator_not_allowed");
        // The registration is spent: the same answer again finds nothing to finish.
        alice.fapi.finish_registration(&id, &reg.json()).await.assert_error(404, "resource_not_found");
    }
    let detailed = bapi.get(&format!("/passkeys?user_id={}", alice.user_id)).await.ok().body;
    assert_eq!(detailed["total_count"], 2, "only the allowed authenticators' passkeys: {detailed}");
    let audit = String::from_utf8(server.command(&["audit", "--user", &alice.user_id, "--json"]).stdout).unwrap();
    assert!(audit.lines().filter(|l| l.contains("passkey.create") && l.contains("\"failure\"")).count() >= 2, "{audit}");

    // Without the list, the same outsider is welcome.
    let open = LatchProcess::start();
    let (bob, _, _) = latch_testkit::scene::Person::with_passkey(&open, "bob").await;
    let mut other = latch_testkit::passkey::SoftAuthenticator::for_server(&open).with_aaguid([0x0a; 16]);
    bob.fapi.create_passkey(&mut other).await;
}

#[test]
fn a_malformed_allow_list_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(latch_testkit::process::latch_binary())
        .args(["serve", "--port", "0", "--allowed-aaguids", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd,yubikey"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("--allowed-aaguids: \"yubikey\" is not an AAGUID"), "{said}");
}

/// `POST /sessions/{sid}/tokens` with `body`.
async fn mint(bapi: &Bapi, sid: &str, body: Option<Value>) -> latch_testkit::fapi::Reply {
    bapi.call("POST", &format!("/sessions/{sid}/tokens"), body).await
}

#[tokio::test]
async fn the_app_server_reads_a_session_by_id_and_mints_a_token_only_while_it_lives() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let browser = Fapi::new(&server);
    let alice = browser.sign_up_ok("alice").await;
    let sid = browser.session_id().unwrap();

    // The session as the listing shows it.
    let listed = bapi.get(&format!("/sessions?user_id={alice}&paginated=true")).await.ok().body["data"][0].clone();
    let got = bapi.get(&format!("/sessions/{sid}")).await.ok().body;
    assert_eq!((got["object"].as_str(), got["id"].as_str(), got["user_id"].as_str()), (Some("session"), Some(sid.as_str()), Some(alice.as_str())));
    assert_eq!(got["status"], "active");
    assert_eq!(got, listed, "the same SessionJSON as the listing");

    // A token for it: the FAPI token's claims, verified against the Backend API's JWKS,
    // without an `azp` (no page asked for it), for the whole token lifetime by default.
    let jwks = bapi.get("/jwks").await.ok().body;
    let minted = mint(&bapi, &sid, None).await.ok().body;
    assert_eq!(minted["object"], "token", "{minted}");
    let claims = verify_jwt_with(&jwks, minted["jwt"].as_str().unwrap());
    assert_eq!((claims["sub"].as_str(), claims["sid"].as_str(), claims["sts"].as_str()), (Some(alice.as_str()), Some(sid.as_str()), Some("active")));
    assert!(claims.get("azp").is_none(), "no azp: {claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
    let fapi_claims = verify_jwt(&browser, browser.token(&sid).await.ok().body["jwt"].as_str().unwrap()).await;
    for claim in ["sub", "sid", "iss", "sts", "v"] {
        assert_eq!(claims[claim], fapi_claims[claim], "{claim} as FAPI's token");
    }
    // A shorter lifetime is honoured; each call signs anew.
    let short = mint(&bapi, &sid, Some(json!({"expires_in_seconds": 30}))).await.ok().body;
    let short_claims = verify_jwt_with(&jwks, short["jwt"].as_str().unwrap());
    assert_eq!(short_claims["exp"].as_i64().unwrap() - short_claims["iat"].as_i64().unwrap(), 30);
    let exact = mint(&bapi, &sid, Some(json!({"expires_in_seconds": 60}))).await.ok().body;
    assert_eq!(verify_jwt_with(&jwks, exact["jwt"].as_str().unwrap())["sid"], sid.as_str());

    // No JWT templates: a Clerk-shaped 404 naming it.
    let templated = bapi.call("POST", &format!("/sessions/{sid}/tokens/supabase"), None).await;
    templated.assert_error(404, "resource_not_found");
    assert!(templated.body["errors"][0]["long_message"].as_str().unwrap().contains("supabase"), "{}", templated.text);

    // Unknown and malformed ids.
    for id in ["sess_nothing", "user_1", "..%2F..", "%00"] {
        bapi.get(&format!("/sessions/{id}")).await.assert_error(404, "resource_not_found");
        mint(&bapi, id, None).await.assert_error(404, "resource_not_found");
    }

    // Signed out: read as it is, and no token is minted for it.
    assert_eq!(browser.sign_out().await.status, 200);
    assert_eq!(bapi.get(&format!("/sessions/{sid}")).await.ok().body["status"], "ended");
    let refused = mint(&bapi, &sid, None).await;
    refused.assert_error(404, "resource_not_found");
    assert!(refused.body["errors"][0]["long_message"].as_str().unwrap().contains("ended"), "{}", refused.text);

    // Revoked by the app's server: the same.
    let bob_browser = Fapi::new(&server);
    bob_browser.sign_up_ok("bob").await;
    let bob_sid = bob_browser.session_id().unwrap();
    mint(&bapi, &bob_sid, None).await.ok();
    bapi.call("POST", &format!("/sessions/{bob_sid}/revoke"), None).await.ok();
    assert_eq!(bapi.get(&format!("/sessions/{bob_sid}")).await.ok().body["status"], "revoked");
    mint(&bapi, &bob_sid, None).await.assert_error(404, "resource_not_found");

    // Without a live secret key, none of the three routes opens.
    for presented in ["", "sk_live_wrong"] {
        let stranger = Bapi::new(&server, presented);
        stranger.get(&format!("/sessions/{sid}")).await.assert_error(401, "clerk_key_invalid");
        mint(&stranger, &bob_sid, None).await.assert_error(401, "clerk_key_invalid");
        stranger.call("POST", &format!("/sessions/{sid}/tokens/t"), None).await.assert_error(401, "clerk_key_invalid");
    }
}

#[tokio::test]
async fn a_token_lifetime_outside_1_to_the_token_lifetime_is_refused() {
    let server = LatchProcess::start_with(&["--token-ttl-secs", "120"]);
    let bapi = Bapi::new(&server, &secret_key(&server));
    let browser = Fapi::new(&server);
    browser.sign_up_ok("alice").await;
    let sid = browser.session_id().unwrap();

    for body in [json!({"expires_in_seconds": 0}), json!({"expires_in_seconds": -5}), json!({"expires_in_seconds": 121}), json!({"expires_in_seconds": 315_360_000}), json!({"expires_in_seconds": "60"}), json!({"expires_in_seconds": 1.5}), json!([60])] {
        let r = mint(&bapi, &sid, Some(body.clone())).await;
        r.assert_error(422, "form_param_format_invalid");
        assert!(r.text.contains("expires_in_seconds") || body.is_array(), "{body}: {}", r.text);
    }
    let mut raw = RawRequest::post(&format!("/bapi/v1/sessions/{sid}/tokens"), b"{not json".to_vec()).no_session_param();
    raw.sdk_query = false;
    raw.content_type = Some("application/json".into());
    raw = raw.header("authorization", &format!("Bearer {}", bapi.bearer));
    bapi.http.send(raw).await.assert_error(422, "form_param_format_invalid");

    // The configured lifetime is the most, and the default.
    let jwks = bapi.get("/jwks").await.ok().body;
    for (body, lifetime) in [(None, 120), (Some(json!({"expires_in_seconds": 120})), 120), (Some(json!({"expires_in_seconds": null})), 120), (Some(json!({"expires_in_seconds": 1})), 1)] {
        let jwt = mint(&bapi, &sid, body).await.ok().body["jwt"].as_str().unwrap().to_string();
        // (The check allows a minute of clock skew, so the 1 s token verifies too.)
        let claims = verify_jwt_with(&jwks, &jwt);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), lifetime);
    }
}

#[tokio::test]
async fn minting_tokens_is_not_the_users_activity_and_an_idle_session_expires_regardless() {
    let server = LatchProcess::start_with(&["--session-idle-timeout-secs", "2"]);
    let bapi = Bapi::new(&server, &secret_key(&server));
    let browser = Fapi::new(&server);
    browser.sign_up_ok("alice").await;
    let sid = browser.session_id().unwrap();
    // Three seconds of the app's server minting tokens do not keep a two-second idle timeout
    // at bay (FAPI's token refreshes would: reverification.rs).
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(1500) {
        mint(&bapi, &sid, None).await.ok();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(bapi.get(&format!("/sessions/{sid}")).await.ok().body["status"], "expired");
    mint(&bapi, &sid, None).await.assert_error(404, "resource_not_found");
    browser.token(&sid).await.assert_error(401, "signed_out");
}
