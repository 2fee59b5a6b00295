//! The passkey lifecycle over FAPI, driven like clerk-js 6.40.0 with a software authenticator:
//! sign up → create passkey → sign out → discoverable sign-in → JWT → list → rename → delete →
//! the deleted passkey no longer signs in. Plus identifier-first sign-in, restarts, two users,
//! and the per-user passkey quota.

use latch_testkit::{fapi::*, jwt::verify_jwt, passkey::*, process::*, scene::*, webauthn::*};
use serde_json::Value;

fn is_ms_timestamp(v: &Value) -> bool {
    // Epoch milliseconds (docs/protocol.md §1): after 2020-01-01 and not in seconds.
    v.as_i64().is_some_and(|n| n > 1_577_836_800_000)
}

fn passkey_ids(list: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = list.iter().map(|p| p["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn allow_ids(options: &Value) -> Vec<String> {
    let mut ids: Vec<String> = options["allowCredentials"]
        .as_array()
        .map(|a| a.iter().map(|d| b64u(unb64u(d["id"].as_str().unwrap()))).collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test]
async fn full_passkey_lifecycle_over_fapi() {
    let server = LatchProcess::start();
    let fapi = Fapi::new(&server);
    let mut auth = SoftAuthenticator::for_server(&server);

    // Before anything: no client.
    let r = fapi.get("/client").await.ok();
    assert!(r.resp().is_null(), "no client yet: {}", r.text);

    // --- sign up -------------------------------------------------------------------------
    let r = fapi.sign_up("alice").await.ok();
    assert_eq!(r.resp()["object"], "sign_up");
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    assert_eq!(r.resp()["username"], "alice");
    let sid1 = r.resp()["created_session_id"].as_str().expect("created_session_id").to_string();
    let user_id = r.resp()["created_user_id"].as_str().expect("created_user_id").to_string();
    let set_cookie = r.header("set-cookie").join("\n");
    assert!(set_cookie.contains("__client="), "sign-up sets the __client cookie: {set_cookie:?}");
    assert!(set_cookie.to_ascii_lowercase().contains("httponly"), "__client is HttpOnly: {set_cookie}");
    let client = r.client();
    assert_eq!(client["object"], "client");
    let session = client["sessions"].as_array().unwrap().iter().find(|s| s["id"] == sid1.as_str()).expect("session in client");
    assert_eq!(session["status"], "active");
    assert_eq!(session["user"]["id"], user_id.as_str());
    assert_eq!(session["user"]["username"], "alice");
    assert!(is_ms_timestamp(&session["user"]["created_at"]), "ms timestamps: {}", session["user"]["created_at"]);

    let me = fapi.me().await;
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(me["passkeys"].as_array().map(Vec::len), Some(0));

    // --- create a passkey ------------------------------------------------------------------
    let r = fapi.post("/me/passkeys", &[]).await.ok();
    assert_eq!(r.resp()["object"], "passkey", "{}", r.text);
    assert!(r.client().is_object(), "create piggybacks the client: {}", r.text);
    let pk_id = r.resp()["id"].as_str().unwrap().to_string();
    assert_eq!(r.resp()["verification"]["status"], "unverified");
    assert_eq!(r.resp()["verification"]["strategy"], "passkey");
    let options = parse_nonce(&r.resp()["verification"]["nonce"]);
    assert_eq!(options["rp"]["id"], "localhost", "{options}");
    assert!(!unb64u(options["challenge"].as_str().unwrap()).is_empty());
    assert!(!unb64u(options["user"]["id"].as_str().unwrap()).is_empty());
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required", "{options}");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required", "{options}");
    assert!(
        options["excludeCredentials"].as_array().is_none_or(|a| a.is_empty()),
        "nothing to exclude yet: {options}"
    );

    // The pending passkey is not listed (docs/protocol.md §5.5).
    assert!(fapi.passkeys().await.is_empty(), "unverified passkeys stay out of user.passkeys");

    let reg = auth.register(&options).await;
    let r = fapi.finish_registration(&pk_id, &reg.json()).await.ok();
    assert_eq!(r.resp()["id"], pk_id.as_str());
    assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
    let default_name = r.resp()["name"].as_str().unwrap().to_string();
    assert!(
        APPLE_NAMES.contains(&default_name.as_str()),
        "default name comes from the AAGUID table, got {default_name:?}"
    );
    assert!(is_ms_timestamp(&r.resp()["created_at"]));
    // The piggybacked client is the only refresh path for user.passkeys (docs/protocol.md §3).
    let piggy = r.client()["sessions"][0]["user"]["passkeys"].as_array().cloned().unwrap_or_default();
    assert_eq!(passkey_ids(&piggy), vec![pk_id.clone()], "client piggyback lists the new passkey: {}", r.text);

    let listed = fapi.passkeys().await;
    assert_eq!(passkey_ids(&listed), vec![pk_id.clone()]);
    let listed = &listed[0];
    assert_eq!(listed["name"], default_name.as_str());
    assert!(listed["last_used_at"].is_null(), "never used yet: {listed}");
    assert!(
        listed["verification"].is_null() || listed["verification"]["nonce"].is_null(),
        "listed passkeys carry no nonce (docs/protocol.md §5.5): {listed}"
    );

    // --- sign out --------------------------------------------------------------------------
    let r = fapi.sign_out().await.ok();
    let active: Vec<&Value> = r.resp()["sessions"]
        .as_array()
        .map(|ss| ss.iter().filter(|s| s["status"] == "active").collect())
        .unwrap_or_default();
    assert!(active.is_empty(), "no active session after sign-out: {}", r.text);
    fapi.set_session(Some(sid1.clone()));
    fapi.get("/me").await.assert_error(401, "signed_out");
    fapi.set_session(None);

    // --- discoverable sign-in ----------------------------------------------------------------
    let r = fapi
        .post("/client/sign_ins", &[("strategy", "passkey"), ("locale", "en-US"), ("timezone", "UTC")])
        .await
        .ok();
    assert_eq!(r.resp()["object"], "sign_in");
    assert_eq!(r.resp()["status"], "needs_first_factor", "{}", r.text);
    let ffv = &r.resp()["first_factor_verification"];
    assert_eq!(ffv["status"], "unverified");
    assert_eq!(ffv["strategy"], "passkey");
    let sign_in_id = r.resp()["id"].as_str().unwrap().to_string();
    let request = parse_nonce(&ffv["nonce"]);
    assert_eq!(request["rpId"], "localhost", "{request}");
    assert_eq!(request["userVerification"], "required", "{request}");
    assert!(allow_ids(&request).is_empty(), "discoverable: no allowCredentials: {request}");

    let assertion = auth.assert(&request).await;
    assert_eq!(assertion.user_handle.as_deref(), Some(unb64u(options["user"]["id"].as_str().unwrap()).as_slice()));
    let r = fapi.attempt_sign_in(&sign_in_id, &assertion.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    let sid2 = r.resp()["created_session_id"].as_str().unwrap().to_string();
    assert_ne!(sid2, sid1, "a new session");
    let s = r.client()["sessions"].as_array().unwrap().iter().find(|s| s["id"] == sid2.as_str()).cloned().expect("session in client");
    assert_eq!(s["status"], "active");
    assert_eq!(s["user"]["id"], user_id.as_str(), "signed in as alice");

    // --- finalize: touch, then token -------------------------------------------------------------
    let r = fapi.touch(&sid2).await.ok();
    assert_eq!(r.resp()["object"], "session");
    assert_eq!(r.resp()["id"], sid2.as_str());
    assert_eq!(r.resp()["status"], "active");

    let r = fapi.token(&sid2).await.ok();
    assert_eq!(r.body["object"], "token", "tokens answer top-level {{object,jwt}}: {}", r.text);
    let jwt = r.body["jwt"].as_str().expect("jwt").to_string();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256, "RS256 by default: Clerk's server SDKs accept nothing else");
    let claims = verify_jwt(&fapi, &jwt).await;
    assert_eq!(claims["sid"], sid2.as_str());
    assert_eq!(claims["sub"], user_id.as_str());
    assert_eq!(claims["azp"], server.origin().as_str(), "azp = the Origin that asked: {claims}");
    assert!(claims["iss"].as_str().is_some_and(|s| !s.is_empty()), "iss: {claims}");
    let (iat, exp, nbf) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap(), claims["nbf"].as_i64().unwrap());
    assert!(exp - iat >= 60, "TTL ≥ 60 s (clerk-js refreshes at exp-17s): {claims}");
    assert!(nbf <= iat, "{claims}");
    let now = now_ms() / 1000;
    assert!(iat <= now + 60 && exp > now, "iat/exp in seconds, around now: {claims}");

    // --- list: last_used_at set by the sign-in -----------------------------------------------
    let listed = fapi.passkeys().await;
    assert_eq!(passkey_ids(&listed), vec![pk_id.clone()]);
    assert!(is_ms_timestamp(&listed[0]["last_used_at"]), "sign-in sets last_used_at: {}", listed[0]);
    let updated_before = listed[0]["updated_at"].as_i64().unwrap();

    // --- rename ----------------------------------------------------------------------------------
    let r = fapi.patch(&format!("/me/passkeys/{pk_id}"), &[("name", "Work laptop")]).await.ok();
    assert_eq!(r.resp()["object"], "passkey");
    assert_eq!(r.resp()["id"], pk_id.as_str());
    assert_eq!(r.resp()["name"], "Work laptop");
    assert!(r.resp()["updated_at"].as_i64().unwrap() >= updated_before);
    let piggy = r.client()["sessions"][0]["user"]["passkeys"][0]["name"].clone();
    assert_eq!(piggy, "Work laptop", "client piggyback carries the new name: {}", r.text);
    assert_eq!(fapi.passkeys().await[0]["name"], "Work laptop");

    // --- delete ----------------------------------------------------------------------------------
    let r = fapi.delete(&format!("/me/passkeys/{pk_id}")).await.ok();
    assert_eq!(r.resp()["object"], "passkey", "{}", r.text);
    assert_eq!(r.resp()["id"], pk_id.as_str());
    assert_eq!(r.resp()["deleted"], true);
    assert!(fapi.passkeys().await.is_empty());

    // --- the deleted passkey no longer signs in ---------------------------------------------------
    fapi.sign_out().await.ok();
    let (sign_in_id, request) = fapi.start_sign_in().await;
    let assertion = auth.assert(&request).await;
    let r = fapi.attempt_sign_in(&sign_in_id, &assertion.json()).await;
    r.assert_error(422, "passkey_not_registered");
    assert!(fapi.session_id().is_none());
    let client = fapi.get("/client").await.ok();
    let active = client.resp()["sessions"].as_array().map(|ss| ss.iter().filter(|s| s["status"] == "active").count()).unwrap_or(0);
    assert_eq!(active, 0, "no session from a deleted passkey: {}", client.text);
}

#[tokio::test]
async fn default_passkey_name_falls_back_for_an_unknown_aaguid() {
    let server = LatchProcess::start();
    let fapi = Fapi::new(&server);
    fapi.sign_up_ok("chrome").await;
    let mut auth = SoftAuthenticator::for_server(&server).with_aaguid(UNKNOWN_AAGUID);
    let (pk, _) = fapi.create_passkey(&mut auth).await;
    let name = pk["name"].as_str().unwrap();
    assert!(!name.trim().is_empty(), "a generic name, never empty");
    assert!(!APPLE_NAMES.contains(&name), "no device name for an unknown AAGUID: {name}");
}

#[tokio::test]
async fn identifier_first_sign_in_offers_exactly_that_users_passkeys() {
    let server = LatchProcess::start();
    let (mut alice, _, a1) = Person::with_passkey(&server, "alice").await;
    let (a2_json, a2) = alice.fapi.create_passkey(&mut alice.auth).await;
    assert_ne!(a1, a2);
    assert!(a2_json["id"].is_string());
    let (_bob, _, b1) = Person::with_passkey(&server, "bob").await;

    let browser = Fapi::new(&server);
    let r = browser.post("/client/sign_ins", &[("identifier", "alice")]).await.ok();
    assert_eq!(r.resp()["status"], "needs_first_factor", "{}", r.text);
    let factors = r.resp()["supported_first_factors"].as_array().cloned().unwrap_or_default();
    assert!(factors.iter().any(|f| f["strategy"] == "passkey"), "passkey offered: {}", r.text);
    let id = r.resp()["id"].as_str().unwrap().to_string();

    let r = browser.post(&format!("/client/sign_ins/{id}/prepare_first_factor"), &[("strategy", "passkey")]).await.ok();
    let request = parse_nonce(&r.resp()["first_factor_verification"]["nonce"]);
    let mut expected = vec![b64u(&a1), b64u(&a2)];
    expected.sort();
    assert_eq!(allow_ids(&request), expected, "allowCredentials = alice's passkeys only: {request}");
    assert!(!allow_ids(&request).contains(&b64u(&b1)));

    let assertion = alice.auth.assert(&request).await;
    let r = browser.attempt_sign_in(&id, &assertion.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    assert_eq!(browser.me().await["id"], alice.user_id.as_str());
}

#[tokio::test]
async fn identifier_first_sign_in_for_an_unknown_username_is_refused() {
    let server = LatchProcess::start();
    let browser = Fapi::new(&server);
    let r = browser.post("/client/sign_ins", &[("identifier", "nobody")]).await;
    r.assert_error(422, "form_identifier_not_found");
}

#[tokio::test]
async fn passkey_session_and_signing_key_survive_a_restart() {
    let mut server = LatchProcess::start();
    let (mut alice, pk, _) = Person::with_passkey(&server, "alice").await;
    let sid = alice.fapi.session_id().unwrap();
    let jwt = alice.fapi.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();

    server.restart();
    alice.fapi.set_server(&server);

    // The session and the passkey are still there, through the same __client cookie.
    let me = alice.fapi.me().await;
    assert_eq!(me["id"], alice.user_id.as_str());
    assert_eq!(passkey_ids(me["passkeys"].as_array().unwrap()), vec![pk["id"].as_str().unwrap().to_string()]);
    // The signing key persisted: a token minted before the restart still verifies.
    let claims = verify_jwt(&alice.fapi, &jwt).await;
    assert_eq!(claims["sid"], sid.as_str());

    // And the passkey signs in after the restart.
    alice.fapi.sign_out().await.ok();
    let r = alice.fapi.sign_in(&mut alice.auth).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    assert_eq!(alice.fapi.me().await["id"], alice.user_id.as_str());
}

#[tokio::test]
async fn two_users_passkeys_never_mix() {
    let server = LatchProcess::start();
    let (mut alice, apk, acred) = Person::with_passkey(&server, "alice").await;
    let (mut bob, bpk, bcred) = Person::with_passkey(&server, "bob").await;
    assert_ne!(alice.user_id, bob.user_id);
    assert_ne!(acred, bcred);
    assert_ne!(alice.auth.user_handle(&acred), bob.auth.user_handle(&bcred), "distinct user handles");

    // Each lists only their own.
    assert_eq!(passkey_ids(&alice.fapi.passkeys().await), vec![apk["id"].as_str().unwrap().to_string()]);
    assert_eq!(passkey_ids(&bob.fapi.passkeys().await), vec![bpk["id"].as_str().unwrap().to_string()]);

    // A second registration excludes only one's own credentials.
    let (_, options) = bob.fapi.start_registration().await;
    let excluded: Vec<String> = options["excludeCredentials"]
        .as_array()
        .map(|a| a.iter().map(|d| b64u(unb64u(d["id"].as_str().unwrap()))).collect())
        .unwrap_or_default();
    assert_eq!(excluded, vec![b64u(&bcred)], "excludeCredentials = bob's own: {options}");

    // Each passkey signs its owner in, on any browser.
    alice.fapi.sign_out().await.ok();
    bob.fapi.sign_out().await.ok();
    alice.fapi.sign_in_ok(&mut bob.auth).await;
    assert_eq!(alice.fapi.me().await["id"], bob.user_id.as_str(), "bob's passkey is bob, even in alice's browser");
    let shared = Fapi::new(&server);
    shared.sign_in_ok(&mut alice.auth).await;
    assert_eq!(shared.me().await["id"], alice.user_id.as_str());
    // last_used_at moved only on the passkey that was used... both were used once now.
    let a_list = shared.passkeys().await;
    assert_eq!(passkey_ids(&a_list), vec![apk["id"].as_str().unwrap().to_string()]);
}

#[tokio::test]
async fn the_eleventh_passkey_is_refused_with_passkey_quota_exceeded() {
    let server = LatchProcess::start();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    for _ in 1..10 {
        alice.fapi.create_passkey(&mut alice.auth).await;
    }
    assert_eq!(alice.fapi.passkeys().await.len(), 10);
    let before = Snapshot::take(&[&alice.fapi]).await;
    let r = alice.fapi.post("/me/passkeys", &[]).await;
    r.assert_error(422, "passkey_quota_exceeded");
    Snapshot::take(&[&alice.fapi]).await.assert_same(&before);
}

#[tokio::test]
async fn quota_holds_when_two_registrations_race_for_the_last_slot() {
    let server = LatchProcess::start();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    for _ in 1..9 {
        alice.fapi.create_passkey(&mut alice.auth).await;
    }
    assert_eq!(alice.fapi.passkeys().await.len(), 9);
    // Two pending registrations started at 9, from two browsers: only one may complete.
    let other_browser = alice.observer(&server).await;
    let (id1, o1) = alice.fapi.start_registration().await;
    let second = other_browser.post("/me/passkeys", &[]).await;
    if second.status != 200 {
        // Refusing to even start a registration that could exceed the quota is fine too.
        second.assert_error(422, "passkey_quota_exceeded");
        return;
    }
    let id2 = second.resp()["id"].as_str().unwrap().to_string();
    let o2 = parse_nonce(&second.resp()["verification"]["nonce"]);
    let r1 = alice.auth.register(&o1).await;
    let r2 = alice.auth.register(&o2).await;
    alice.fapi.finish_registration(&id1, &r1.json()).await.ok();
    let before = Snapshot::take(&[&alice.fapi]).await;
    other_browser.finish_registration(&id2, &r2.json()).await.assert_error(422, "passkey_quota_exceeded");
    Snapshot::take(&[&alice.fapi]).await.assert_same(&before);
    assert_eq!(alice.fapi.passkeys().await.len(), 10);
}

#[tokio::test]
async fn sign_in_updates_last_used_at_and_accepts_an_increasing_counter() {
    let server = LatchProcess::start();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    alice.fapi.sign_out().await.ok();
    for _ in 0..3 {
        alice.fapi.sign_in_ok(&mut alice.auth).await;
        assert!(is_ms_timestamp(&alice.fapi.passkeys().await[0]["last_used_at"]));
        alice.fapi.sign_out().await.ok();
    }
}

#[tokio::test]
async fn a_counter_that_stays_zero_is_always_accepted() {
    // iOS passkeys always send 0 (webauthn-crates.md): refusing 0 → 0 would lock them out.
    let server = LatchProcess::start();
    let fapi = Fapi::new(&server);
    fapi.sign_up_ok("iphone").await;
    let mut auth = SoftAuthenticator::for_server(&server).without_signature_counter();
    fapi.create_passkey(&mut auth).await;
    fapi.sign_out().await.ok();
    for _ in 0..3 {
        let (id, request) = fapi.start_sign_in().await;
        let a = auth.assert(&request).await;
        assert_eq!(a.counter(), 0);
        let r = fapi.attempt_sign_in(&id, &a.json()).await.ok();
        assert_eq!(r.resp()["status"], "complete", "{}", r.text);
        fapi.sign_out().await.ok();
    }
}

#[tokio::test]
async fn discoverable_sign_in_accepts_a_missing_user_handle() {
    // Android and iOS have sent userHandle null for discoverable credentials: look up by id.
    let server = LatchProcess::start();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    alice.fapi.sign_out().await.ok();
    let (id, request) = alice.fapi.start_sign_in().await;
    let mut a = alice.auth.assert(&request).await;
    a.user_handle = None;
    let r = alice.fapi.attempt_sign_in(&id, &a.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    assert_eq!(alice.fapi.me().await["id"], alice.user_id.as_str());
}

#[tokio::test]
async fn sign_in_accepts_a_null_authenticator_attachment() {
    // docs/protocol.md §7.2: authenticatorAttachment may be null or absent.
    let server = LatchProcess::start();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    alice.fapi.sign_out().await.ok();
    let (id, request) = alice.fapi.start_sign_in().await;
    let mut a = alice.auth.assert(&request).await;
    a.attachment = None;
    let r = alice.fapi.attempt_sign_in(&id, &a.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
}

#[tokio::test]
async fn registration_accepts_an_absent_authenticator_attachment() {
    let server = LatchProcess::start();
    let alice = Person::sign_up(&server, "alice").await;
    let mut auth = alice.auth;
    let (id, options) = alice.fapi.start_registration().await;
    let reg = auth.register(&options).await;
    let mut v = reg.to_value();
    v.as_object_mut().unwrap().remove("authenticatorAttachment");
    let r = alice.fapi.finish_registration(&id, &v.to_string()).await.ok();
    assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
}

#[tokio::test]
async fn cancelled_registration_is_deleted_with_a_deleted_object() {
    // The SDK deletes the never-verified passkey when create() is cancelled (docs/protocol.md §6.6).
    let server = LatchProcess::start();
    let alice = Person::sign_up(&server, "alice").await;
    let (id, _) = alice.fapi.start_registration().await;
    let r = alice.fapi.delete(&format!("/me/passkeys/{id}")).await.ok();
    assert_eq!(r.resp()["object"], "passkey");
    assert_eq!(r.resp()["id"], id.as_str());
    assert_eq!(r.resp()["deleted"], true);
    assert!(alice.fapi.passkeys().await.is_empty());
}

#[tokio::test]
async fn a_refused_registration_leaves_no_listed_passkey() {
    let server = LatchProcess::start();
    let mut alice = Person::sign_up(&server, "alice").await;
    let (id, options) = alice.fapi.start_registration().await;
    let mut reg = alice.auth.register(&options).await;
    reg.edit_client_data(|m| {
        m.insert("origin".into(), "https://evil.example".into());
    });
    alice.fapi.finish_registration(&id, &reg.json()).await.assert_error(422, "verification_failed");
    assert!(alice.fapi.passkeys().await.is_empty(), "pending/failed passkeys stay out of user.passkeys");
}

#[tokio::test]
async fn environment_advertises_passkeys_in_production_mode() {
    let server = LatchProcess::start();
    let fapi = Fapi::new(&server);
    let r = fapi.get("/environment").await.ok();
    let env = if r.resp().is_object() { r.resp().clone() } else { r.body.clone() };
    assert_eq!(env["object"], "environment", "{}", r.text);
    assert_eq!(env["display_config"]["instance_environment_type"], "production");
    assert_eq!(env["user_settings"]["attributes"]["passkey"]["enabled"], true);
    assert_eq!(env["user_settings"]["attributes"]["passkey"]["used_for_first_factor"], true);
}

#[tokio::test]
async fn quota_holds_when_two_registrations_finish_at_the_same_moment() {
    // The race that READ COMMITTED lets through without the owner lock: two pending
    // registrations of one user, both verified at once, with room for one.
    let server = LatchProcess::start_with(&["--max-passkeys-per-user", "1"]);
    for round in 0..20 {
        let mut alice = Person::sign_up(&server, &format!("racer{round}")).await;
        let (id1, o1) = alice.fapi.start_registration().await;
        let (id2, o2) = alice.fapi.start_registration().await;
        let r1 = alice.auth.register(&o1).await.json();
        let r2 = alice.auth.register(&o2).await.json();
        let (a, b) = tokio::join!(alice.fapi.finish_registration(&id1, &r1), alice.fapi.finish_registration(&id2, &r2));
        let oks = [&a, &b].iter().filter(|r| r.status == 200).count();
        assert_eq!(oks, 1, "round {round}: exactly one registration fits the quota: {} / {}", a.text, b.text);
        let loser = if a.status == 200 { &b } else { &a };
        // Over the quota, or (the browser's second registration replaced its first) gone.
        loser.assert_error_in(&[(422, "passkey_quota_exceeded"), (404, "resource_not_found")]);
        assert_eq!(alice.fapi.passkeys().await.len(), 1, "round {round}");
    }
}
