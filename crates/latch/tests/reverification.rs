//! Step-up and session lifetime (issue 15, finding 4; docs/protocol.md §16), against the real
//! binary:
//!
//! - a session whose first factor is older than `--reverification-max-age-secs` may not add
//!   or delete a passkey (`403 session_reverification_required`) until it reverifies with a
//!   passkey assertion of its own user; another user's passkey, a replayed or a tampered
//!   assertion do not reverify it;
//! - deleting a passkey ends exactly the sessions that passkey made;
//! - a session unused for `--session-idle-timeout-secs` ends; token requests keep it alive.

use std::time::Duration;

use latch_testkit::{fapi::*, passkey::*, process::*, scene::*};
use serde_json::Value;

/// Seconds a first factor stays fresh in these tests: long enough for sign-up then
/// `createPasskey` on a loaded machine, short enough to wait out.
const MAX_AGE_SECS: u64 = 3;

fn short_reverification() -> LatchProcess {
    LatchProcess::start_with(&["--reverification-max-age-secs", &MAX_AGE_SECS.to_string()])
}

async fn wait_until_stale() {
    tokio::time::sleep(Duration::from_millis(MAX_AGE_SECS * 1000 + 200)).await;
}

fn session_of<'a>(client: &'a Value, sid: &str) -> Option<&'a Value> {
    client["sessions"].as_array()?.iter().find(|s| s["id"] == sid)
}

async fn start_verification(f: &Fapi, sid: &str) -> Reply {
    f.post(&format!("/client/sessions/{sid}/verify"), &[("level", "first_factor")]).await
}

/// `prepareFirstFactorVerification({strategy: 'passkey'})` → the request options.
async fn prepare(f: &Fapi, sid: &str) -> Value {
    let r = f.post(&format!("/client/sessions/{sid}/verify/prepare_first_factor"), &[("strategy", "passkey")]).await.ok();
    assert_eq!(r.resp()["object"], "session_verification", "{}", r.text);
    assert_eq!(r.resp()["status"], "needs_first_factor", "{}", r.text);
    parse_nonce(&r.resp()["first_factor_verification"]["nonce"])
}

async fn attempt(f: &Fapi, sid: &str, credential_json: &str) -> Reply {
    f.post(
        &format!("/client/sessions/{sid}/verify/attempt_first_factor"),
        &[("strategy", "passkey"), ("public_key_credential", credential_json)],
    )
    .await
}

fn assert_reverification_required(r: &Reply) {
    r.assert_error(403, "session_reverification_required");
    let meta = &r.body["errors"][0]["meta"]["reverification"];
    assert_eq!(meta["level"], "first_factor", "{}", r.text);
    assert_eq!(meta["afterMinutes"], 1, "{}", r.text);
}

#[tokio::test]
async fn a_stale_session_reverifies_with_its_own_passkey_before_changing_passkeys() {
    let server = short_reverification();
    // Sign-up counts as a verification: the seed's "sign up, then createPasskey" works as is.
    let (mut alice, pk, _) = Person::with_passkey(&server, "alice").await;
    let sid = alice.fapi.session_id().unwrap();
    let pk_id = pk["id"].as_str().unwrap();
    let client = alice.fapi.get("/client").await.ok().client().clone();
    assert_eq!(session_of(&client, &sid).unwrap()["factor_verification_age"], serde_json::json!([0, -1]));

    wait_until_stale().await;
    assert_reverification_required(&alice.fapi.post("/me/passkeys", &[]).await);
    assert_reverification_required(&alice.fapi.delete(&format!("/me/passkeys/{pk_id}")).await);
    assert_eq!(alice.fapi.passkeys().await.len(), 1, "nothing changed");

    // session.verifyWithPasskey(): start, prepare, attempt with her own passkey.
    let started = start_verification(&alice.fapi, &sid).await.ok();
    assert_eq!(started.resp()["status"], "needs_first_factor");
    assert_eq!(started.resp()["level"], "first_factor");
    assert_eq!(started.resp()["session"]["id"], sid.as_str());
    assert_eq!(started.resp()["supported_first_factors"][0]["strategy"], "passkey");
    let options = prepare(&alice.fapi, &sid).await;
    let assertion = alice.auth.assert(&options).await;
    let done = attempt(&alice.fapi, &sid, &assertion.json()).await.ok();
    assert_eq!(done.resp()["status"], "complete", "{}", done.text);
    assert_eq!(done.resp()["first_factor_verification"]["status"], "verified");
    assert_eq!(done.resp()["session"]["factor_verification_age"], serde_json::json!([0, -1]));

    // The same assertion again: on the completed verification, and on a new one.
    attempt(&alice.fapi, &sid, &assertion.json()).await.assert_error(422, "verification_already_verified");
    start_verification(&alice.fapi, &sid).await.ok();
    prepare(&alice.fapi, &sid).await;
    attempt(&alice.fapi, &sid, &assertion.json()).await.assert_error(422, "verification_failed");

    // Reverified: adding a passkey works again.
    let mut second_device = SoftAuthenticator::for_server(&server);
    alice.fapi.create_passkey(&mut second_device).await;
    assert_eq!(alice.fapi.passkeys().await.len(), 2);
}

#[tokio::test]
async fn another_users_tampered_or_replayed_assertion_does_not_reverify() {
    let server = short_reverification();
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    let (mut bob, _, _) = Person::with_passkey(&server, "bob").await;
    let sid = alice.fapi.session_id().unwrap();
    wait_until_stale().await;

    // Bob's valid passkey answers Alice's challenge (his browser ignores the allow list).
    start_verification(&alice.fapi, &sid).await.ok();
    let mut options = prepare(&alice.fapi, &sid).await;
    options.as_object_mut().unwrap().remove("allowCredentials");
    let bobs = bob.auth.assert(&options).await;
    attempt(&alice.fapi, &sid, &bobs.json()).await.assert_error(422, "verification_failed");
    assert_reverification_required(&alice.fapi.post("/me/passkeys", &[]).await);

    // Her own passkey with a broken signature spends the challenge: a good answer after it fails.
    let options = prepare(&alice.fapi, &sid).await;
    let mut tampered = alice.auth.assert(&options).await;
    tampered.signature[8] ^= 0x01;
    attempt(&alice.fapi, &sid, &tampered.json()).await.assert_error(422, "verification_failed");
    let good = alice.auth.assert(&options).await;
    attempt(&alice.fapi, &sid, &good.json()).await.assert_error(422, "verification_failed");
    assert_reverification_required(&alice.fapi.post("/me/passkeys", &[]).await);

    // An assertion Alice made for a sign-in elsewhere does not reverify this session either.
    let elsewhere = Fapi::new(&server);
    let (sign_in_id, sign_in_options) = elsewhere.start_sign_in().await;
    let for_sign_in = alice.auth.assert(&sign_in_options).await;
    prepare(&alice.fapi, &sid).await;
    attempt(&alice.fapi, &sid, &for_sign_in.json()).await.assert_error(422, "verification_failed");
    elsewhere.attempt_sign_in(&sign_in_id, &for_sign_in.json()).await.ok();
    assert_reverification_required(&alice.fapi.post("/me/passkeys", &[]).await);

    // Another client cannot reverify (or even name) Alice's session.
    let r = start_verification(&bob.fapi, &sid).await;
    r.assert_error_in(&[(404, "resource_not_found"), (401, "signed_out")]);
}

#[tokio::test]
async fn deleting_a_passkey_ends_exactly_the_sessions_it_made() {
    let server = LatchProcess::start();
    let (mut alice, first, first_cred) = Person::with_passkey(&server, "alice").await;
    let (second, second_cred) = alice.fapi.create_passkey(&mut alice.auth).await;
    // One browser signed in with each passkey; alice.fapi keeps her sign-up session.
    let with_first = Fapi::new(&server);
    alice.auth.prefer(&first_cred);
    let first_session = with_first.sign_in_ok(&mut alice.auth).await;
    let with_second = Fapi::new(&server);
    alice.auth.prefer(&second_cred);
    let second_session = with_second.sign_in_ok(&mut alice.auth).await;

    alice.fapi.delete(&format!("/me/passkeys/{}", first["id"].as_str().unwrap())).await.ok();
    with_first.token(&first_session).await.assert_error(401, "signed_out");
    assert!(with_first.get("/client").await.ok().client()["sessions"].as_array().unwrap().is_empty());
    with_second.token(&second_session).await.ok();
    let sign_up_session = alice.fapi.session_id().unwrap();
    alice.fapi.token(&sign_up_session).await.ok();

    // Deleting the passkey that made the deleting session keeps that session: the user who
    // acted stays signed in (docs/protocol.md §16.4); other sessions of that passkey end.
    let also_second = Fapi::new(&server);
    alice.auth.prefer(&second_cred);
    let other_second_session = also_second.sign_in_ok(&mut alice.auth).await;
    with_second.delete(&format!("/me/passkeys/{}", second["id"].as_str().unwrap())).await.ok();
    with_second.token(&second_session).await.ok();
    also_second.token(&other_second_session).await.assert_error(401, "signed_out");
    alice.fapi.token(&sign_up_session).await.ok();
}

#[tokio::test]
async fn an_unused_session_ends_after_its_idle_timeout() {
    let server = LatchProcess::start_with(&["--session-idle-timeout-secs", "2"]);
    let alice = Person::sign_up(&server, "alice").await;
    let sid = alice.fapi.session_id().unwrap();
    // Token refreshes are use: three seconds of them keep a two-second idle timeout at bay.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        alice.fapi.token(&sid).await.ok();
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    alice.fapi.token(&sid).await.assert_error(401, "signed_out");
    alice.fapi.touch(&sid).await.assert_error(401, "signed_out");
    let client = alice.fapi.get("/client").await.ok().client().clone();
    assert!(session_of(&client, &sid).is_none(), "the client still shows an idle session: {client}");
}
