//! What a page needs for WebAuthn's Signal API (docs/protocol.md §20), over FAPI: a sign-in
//! or a reverification with a credential Latch does not hold is refused exactly as before
//! (422 `passkey_not_registered`, same messages) and its `meta.data` is the argument of
//! `signalUnknownCredential` (`{rpId, credentialId}`, the id as the client sent it); the user
//! and each passkey carry the user handle and credential ids `signalAllAcceptedCredentials`
//! and `signalCurrentUserDetails` take. Runs on SQLite and PostgreSQL (LATCH_TEST_BACKEND).

use latch_testkit::{fapi::*, process::*, scene::*, webauthn::*};
use serde_json::{Value, json};

/// The refusal of an unknown credential, unchanged but for `meta.data`.
#[track_caller]
fn assert_unknown_credential(r: &Reply, credential_id: &[u8]) {
    r.assert_error(422, "passkey_not_registered");
    let e = &r.body["errors"][0];
    assert_eq!(e["message"], "Passkey not registered", "{}", r.text);
    assert_eq!(e["long_message"], "This passkey is not registered with any account. It may have been deleted.", "{}", r.text);
    assert_eq!(e["meta"], json!({ "data": { "rpId": "localhost", "credentialId": b64u(credential_id) } }), "{}", r.text);
}

#[tokio::test]
async fn a_sign_in_with_a_deleted_passkey_names_it_for_signal_unknown_credential() {
    let server = LatchProcess::start();
    let (mut alice, kept, _) = Person::with_passkey(&server, "alice").await;
    let (gone, gone_cred) = alice.fapi.create_passkey(&mut alice.auth).await;
    let r = alice.fapi.delete(&format!("/me/passkeys/{}", gone["id"].as_str().unwrap())).await.ok();
    assert_eq!(r.resp()["deleted"], true, "{}", r.text);

    alice.fapi.sign_out().await.ok();
    alice.auth.prefer(&gone_cred);
    let r = alice.fapi.sign_in(&mut alice.auth).await;
    assert_unknown_credential(&r, &gone_cred);
    assert!(alice.fapi.session_id().is_none(), "no session from a deleted passkey");

    // The passkey still held signs in, and its refusals carry no such data.
    alice.auth.prefer(&unb64u(kept["credential_id"].as_str().unwrap()));
    alice.fapi.sign_in_ok(&mut alice.auth).await;
}

#[tokio::test]
async fn a_passkey_never_registered_here_is_named_too_but_other_refusals_say_nothing_of_it() {
    let server = LatchProcess::start();
    let mut alice = Person::sign_up(&server, "alice").await;
    // The device makes a credential whose registration is never finished: Latch never held it.
    let (_, options) = alice.fapi.start_registration().await;
    let stranger = alice.auth.register(&options).await.id;
    alice.fapi.sign_out().await.ok();

    let r = alice.fapi.sign_in(&mut alice.auth).await;
    assert_unknown_credential(&r, &stranger);

    // Another refusal of the same call keeps its own meta: the data belongs to this error only.
    let (sign_in_id, _) = alice.fapi.start_sign_in().await;
    let r = alice.fapi.attempt_sign_in(&sign_in_id, "{not json").await;
    r.assert_error(422, "form_param_format_invalid");
    assert_eq!(r.body["errors"][0]["meta"], json!({ "param_name": "public_key_credential" }), "{}", r.text);
}

#[tokio::test]
async fn the_user_and_its_passkeys_carry_the_ids_the_signals_take() {
    let server = LatchProcess::start();
    let mut alice = Person::sign_up(&server, "alice").await;
    let (_, options) = alice.fapi.start_registration().await;
    let handle = options["user"]["id"].as_str().unwrap().to_string();
    let (_, first) = alice.fapi.create_passkey(&mut alice.auth).await;
    let (_, second) = alice.fapi.create_passkey(&mut alice.auth).await;

    let me = alice.fapi.me().await;
    assert_eq!(me["webauthn_user_id"].as_str(), Some(b64u(unb64u(&handle)).as_str()), "the user handle as registered: {me}");
    let mut ids: Vec<&str> = me["passkeys"].as_array().unwrap().iter().map(|p| p["credential_id"].as_str().unwrap()).collect();
    ids.sort();
    let mut want = vec![b64u(&first), b64u(&second)];
    want.sort();
    assert_eq!(ids, want, "{me}");

    // The client piggyback (what clerk-js and Latch's pages read) carries the same.
    let client = alice.fapi.get("/client").await.ok();
    let user: &Value = &client.resp()["sessions"][0]["user"];
    assert_eq!(user["webauthn_user_id"], me["webauthn_user_id"], "{}", client.text);
    assert_eq!(user["passkeys"].as_array().map(Vec::len), Some(2), "{}", client.text);
}

#[tokio::test]
async fn a_reverification_with_an_unknown_passkey_names_it_too() {
    let server = LatchProcess::start_with(&["--reverification-max-age-secs", "1"]);
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    let sid = alice.fapi.session_id().unwrap();
    let (_, options) = alice.fapi.start_registration().await;
    let stranger = alice.auth.register(&options).await.id;
    alice.auth.prefer(&stranger);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    alice.fapi.post(&format!("/client/sessions/{sid}/verify"), &[("level", "first_factor")]).await.ok();
    let r = alice.fapi.post(&format!("/client/sessions/{sid}/verify/prepare_first_factor"), &[("strategy", "passkey")]).await.ok();
    let mut request = parse_nonce(&r.resp()["first_factor_verification"]["nonce"]);
    // The browser offers a passkey outside the allow list (a discoverable pick).
    request.as_object_mut().unwrap().remove("allowCredentials");
    let assertion = alice.auth.assert(&request).await;
    let r = alice
        .fapi
        .post(
            &format!("/client/sessions/{sid}/verify/attempt_first_factor"),
            &[("strategy", "passkey"), ("public_key_credential", &assertion.json())],
        )
        .await;
    assert_unknown_credential(&r, &stranger);
}
