//! The attack matrix (issue 7): forged, replayed and misdirected ceremonies, cross-user and
//! cross-client access, dead sessions, cross-site requests. Every case asserts the status, the
//! error code, and that nothing stored changed (as far as the API shows: see [`Snapshot`]).
//!
//! Where the contract leaves more than one answer open, the test lists every (status, code)
//! pair it accepts; each pair is a 4xx with a Clerk code.

use latch_testkit::{cbor, fapi::*, jwt::verify_jwt, passkey::*, process::*, scene::*, webauthn::*};
use serde_json::{Value, json};

// =============================================================================================
// Replay and challenge reuse
// =============================================================================================

#[tokio::test]
async fn replayed_assertion_on_a_new_sign_in_is_rejected() {
    let mut s = scene().await;
    // A captured assertion that worked once...
    let thief = Fapi::new(&s.server);
    let (id, req) = thief.start_sign_in().await;
    let captured = s.alice.auth.assert(&req).await;
    thief.attempt_sign_in(&id, &captured.json()).await.ok();
    // ...replayed against a fresh challenge.
    let (id2, _) = s.alice.fapi.start_sign_in().await;
    s.refused(&id2, &captured.json(), FAILED).await;
}

#[tokio::test]
async fn challenge_reuse_after_success_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let first = s.alice.auth.assert(&req).await;
    s.alice.fapi.attempt_sign_in(&id, &first.json()).await.ok();
    // Alice's browser is now signed in; the same sign-in answered again (fresh signature over
    // the same challenge, higher counter) must not mint a second session.
    let second = s.alice.auth.assert(&req).await;
    let before = s.snapshot(&[]).await;
    let r = s.alice.fapi.attempt_sign_in(&id, &second.json()).await;
    r.assert_error_in(USED_CHALLENGE);
    s.snapshot(&[]).await.assert_same(&before);
    // Same with the identical bytes.
    let r = s.alice.fapi.attempt_sign_in(&id, &first.json()).await;
    r.assert_error_in(USED_CHALLENGE);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn challenge_reuse_after_a_failed_attempt_is_rejected() {
    let mut s = scene().await;
    let before = s.snapshot(&[]).await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let mut bad = s.alice.auth.assert(&req).await;
    bad.signature[8] ^= 0x01;
    s.alice.fapi.attempt_sign_in(&id, &bad.json()).await.assert_error_in(FAILED);
    // A valid answer to the same, already failed challenge.
    let good = s.alice.auth.assert(&req).await;
    s.alice.fapi.attempt_sign_in(&id, &good.json()).await.assert_error_in(USED_CHALLENGE);
    assert!(s.alice.fapi.session_id().is_none());
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn concurrent_double_submit_of_one_assertion_creates_one_session() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await.json();
    let f1 = s.alice.fapi.clone();
    let f2 = s.alice.fapi.clone();
    let (id1, id2, a1, a2) = (id.clone(), id.clone(), a.clone(), a.clone());
    let t1 = tokio::spawn(async move { f1.attempt_sign_in(&id1, &a1).await });
    let t2 = tokio::spawn(async move { f2.attempt_sign_in(&id2, &a2).await });
    let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
    let oks = [&r1, &r2].iter().filter(|r| r.status == 200).count();
    assert_eq!(oks, 1, "exactly one of two racing submits wins: {} / {}", r1.text, r2.text);
    let loser = if r1.status == 200 { &r2 } else { &r1 };
    // A spent challenge, or signed out if it read the client after the winner's sign-in
    // rotated the client token.
    loser.assert_error_in(&[USED_CHALLENGE, SIGNED_OUT].concat());
    let client = s.alice.fapi.get("/client").await.ok();
    let active = client.resp()["sessions"].as_array().unwrap().iter().filter(|s| s["status"] == "active").count();
    assert_eq!(active, 1, "{}", client.text);
}

/// Live sessions of a browser, as `GET /client` shows them.
async fn live_sessions(fapi: &Fapi) -> Vec<Value> {
    let client = fapi.get("/client").await.ok();
    client.resp()["sessions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_second_sign_in_started_on_the_same_browser_is_refused_once_the_first_completes() {
    // Single-session mode: two sign-ins started while signed out (two tabs), answered one
    // after the other by two people's passkeys. The second must not add a second session.
    let mut s = scene().await;
    let (mut bob, _, _) = Person::with_passkey(&s.server, "bob").await;
    let browser = Fapi::new(&s.server);
    let (first, q1) = browser.start_sign_in().await;
    let (second, q2) = browser.start_sign_in().await;
    let a1 = s.alice.auth.assert(&q1).await.json();
    let a2 = bob.auth.assert(&q2).await.json();
    browser.attempt_sign_in(&first, &a1).await.ok();
    let before = Snapshot::take(&[&browser, &s.observer, &bob.fapi]).await;
    browser.attempt_sign_in(&second, &a2).await.assert_error(400, "session_exists");
    Snapshot::take(&[&browser, &s.observer, &bob.fapi]).await.assert_same(&before);
    let live = live_sessions(&browser).await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["user"]["username"], "alice");
}

#[tokio::test]
async fn two_sign_ins_completing_at_once_on_one_browser_leave_one_live_session() {
    // The same two tabs, both answered at the same instant: whichever way the race goes,
    // the browser ends with exactly one live session (the later replaces the earlier).
    let mut s = scene().await;
    let (mut bob, _, _) = Person::with_passkey(&s.server, "bob").await;
    for _ in 0..5 {
        let browser = Fapi::new(&s.server);
        let (first, q1) = browser.start_sign_in().await;
        let (second, q2) = browser.start_sign_in().await;
        let a1 = s.alice.auth.assert(&q1).await.json();
        let a2 = bob.auth.assert(&q2).await.json();
        let (b1, b2) = (browser.clone(), browser.clone());
        let t1 = tokio::spawn(async move { b1.attempt_sign_in(&first, &a1).await });
        let t2 = tokio::spawn(async move { b2.attempt_sign_in(&second, &a2).await });
        let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
        assert!(r1.status == 200 || r2.status == 200, "{} / {}", r1.text, r2.text);
        for r in [&r1, &r2] {
            if r.status != 200 {
                // Or refused because the other tab's sign-in rotated the client token first:
                // read before (used concurrently) or after (signed out).
                r.assert_error_in(&[
                    (400, "session_exists"),
                    (401, "signed_out"),
                    (422, "verification_failed"),
                ]);
            }
        }
        let live = live_sessions(&browser).await;
        assert_eq!(live.len(), 1, "{} / {} -> {live:?}", r1.text, r2.text);
    }
}

#[tokio::test]
async fn one_passkey_racing_itself_on_two_clients_gets_clean_answers() {
    // Two sign-ins, the same passkey answering both at once: each gets its own session, and
    // the counter moves forward for both (no lost update that would reopen a regression).
    let mut s = scene().await;
    let b1 = Fapi::new(&s.server);
    let b2 = Fapi::new(&s.server);
    let (i1, q1) = b1.start_sign_in().await;
    let (i2, q2) = b2.start_sign_in().await;
    let a1 = s.alice.auth.assert(&q1).await.json();
    let a2 = s.alice.auth.assert(&q2).await.json();
    let (c1, c2) = (b1.clone(), b2.clone());
    let t1 = tokio::spawn(async move { c1.attempt_sign_in(&i1, &a1).await });
    let t2 = tokio::spawn(async move { c2.attempt_sign_in(&i2, &a2).await });
    let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap());
    // At least one wins; a loser (counter race) must be a clean 422, never a 5xx.
    assert!(r1.status == 200 || r2.status == 200, "{} / {}", r1.text, r2.text);
    for r in [&r1, &r2] {
        if r.status != 200 {
            r.assert_error_in(FAILED);
        }
    }
}

// =============================================================================================
// Client data: origin, type, challenge
// =============================================================================================

#[tokio::test]
async fn assertion_from_a_foreign_origin_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("origin".into(), "https://evil.example".into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_from_another_port_of_localhost_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let other = format!("http://localhost:{}", s.server.port.wrapping_add(1).max(1));
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("origin".into(), other.into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_with_https_instead_of_the_allowed_http_origin_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let https = format!("https://localhost:{}", s.server.port);
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("origin".into(), https.into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_marked_cross_origin_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("crossOrigin".into(), true.into());
        m.insert("topOrigin".into(), "https://evil.example".into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn webauthn_create_client_data_in_a_sign_in_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("type".into(), "webauthn.create".into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_answering_another_sign_ins_challenge_is_rejected() {
    let mut s = scene().await;
    let (_, other_req) = Fapi::new(&s.server).start_sign_in().await;
    let (id, _) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&other_req).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_answering_a_registration_challenge_is_rejected() {
    let mut s = scene().await;
    let (_, creation) = s.observer.start_registration().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let challenge = creation["challenge"].as_str().unwrap().to_string();
    let a = s.alice.auth.forge(&req, |f| f.edit_client_data(|m| {
        m.insert("challenge".into(), challenge.into());
    })).await;
    s.refused(&id, &a.json(), FAILED).await;
}

// =============================================================================================
// Authenticator data: RP ID hash, flags, counter
// =============================================================================================

#[tokio::test]
async fn assertion_for_another_rp_id_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.set_rp_id("evil.example")).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_without_user_presence_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| {
        let flags = f.flags() & !FLAG_UP;
        f.set_flags(flags)
    }).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_without_user_verification_under_a_required_policy_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    assert_eq!(req["userVerification"], "required");
    let a = s.alice.auth.forge(&req, |f| {
        let flags = f.flags() & !FLAG_UV;
        f.set_flags(flags)
    }).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_with_backup_state_but_no_backup_eligibility_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| {
        let flags = (f.flags() & !FLAG_BE) | FLAG_BS;
        f.set_flags(flags)
    }).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn counter_regression_is_rejected() {
    let mut s = scene().await;
    // The observer's sign-in already moved the stored counter to 1; move it further.
    let b = Fapi::new(&s.server);
    b.sign_in_ok(&mut s.alice.auth).await; // counter 2
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.set_counter(1)).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn counter_that_does_not_increase_is_rejected() {
    let mut s = scene().await;
    let b = Fapi::new(&s.server);
    b.sign_in_ok(&mut s.alice.auth).await; // stored counter now 2
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.set_counter(2)).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn counter_falling_back_to_zero_after_use_is_rejected() {
    // 0 is allowed only for authenticators that never count (lifecycle test); a counting one
    // that suddenly reports 0 is a clone.
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.set_counter(0)).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn refused_assertions_do_not_advance_the_stored_counter() {
    // The counter is invisible through the API: prove it did not move by signing in afterwards
    // with a counter below the ones the refused assertions carried.
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let unsigned = s.alice.auth.forge(&req, |f| {
        f.resign = false;
        f.set_counter(1_000_000);
    }).await;
    s.refused(&id, &unsigned.json(), FAILED).await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let wrong_origin = s.alice.auth.forge(&req, |f| {
        f.set_counter(2_000_000);
        f.edit_client_data(|m| {
            m.insert("origin".into(), "https://evil.example".into());
        })
    }).await;
    s.refused(&id, &wrong_origin.json(), FAILED).await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let honest = s.alice.auth.forge(&req, |f| f.set_counter(10)).await;
    let r = s.alice.fapi.attempt_sign_in(&id, &honest.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
}

// =============================================================================================
// Tampering without re-signing, and foreign keys
// =============================================================================================

#[tokio::test]
async fn tampered_signature_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let mut a = s.alice.auth.assert(&req).await;
    let last = a.signature.len() - 1;
    a.signature[last] ^= 0x01;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn tampered_client_data_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| {
        f.resign = false;
        // Same challenge and origin, one extra key: the signature no longer covers it.
        f.edit_client_data(|m| {
            m.insert("extra".into(), "x".into());
        })
    }).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn tampered_authenticator_data_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| {
        f.resign = false;
        f.set_counter(1_000_000);
    }).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn assertion_signed_by_another_users_key_is_rejected() {
    let mut s = scene().await;
    let (bob, _, bcred) = Person::with_passkey(&s.server, "bob").await;
    let bob_key = bob.auth.signing_key(&bcred);
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.signer = Some(bob_key)).await;
    s.refused(&id, &a.json(), FAILED).await;
}

#[tokio::test]
async fn empty_signature_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let mut a = s.alice.auth.assert(&req).await;
    a.signature.clear();
    s.refused(&id, &a.json(), FORMAT_OR_FAILED).await;
}

#[tokio::test]
async fn truncated_authenticator_data_is_rejected() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let mut a = s.alice.auth.assert(&req).await;
    a.authenticator_data.truncate(20);
    s.refused(&id, &a.json(), FORMAT_OR_FAILED).await;
}

// =============================================================================================
// Which credential, whose user
// =============================================================================================

#[tokio::test]
async fn unknown_credential_id_is_rejected_as_not_registered() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| {
        f.assertion.id = vec![0x42; 16];
        f.assertion.raw_id = vec![0x42; 16];
    }).await;
    s.refused(&id, &a.json(), NOT_REGISTERED).await;
}

#[tokio::test]
async fn credential_of_a_deleted_passkey_is_rejected_as_not_registered() {
    let mut s = scene().await;
    s.observer.delete(&format!("/me/passkeys/{}", s.pk_id)).await.ok();
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    s.refused(&id, &a.json(), NOT_REGISTERED).await;
}

#[tokio::test]
async fn credential_of_a_never_verified_registration_is_rejected_as_not_registered() {
    let mut s = scene().await;
    // The observer starts a registration; the device makes the credential; it is never sent.
    let (_, options) = s.observer.start_registration().await;
    let reg = s.alice.auth.register(&options).await;
    s.alice.auth.prefer(&reg.id);
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    assert_eq!(a.id, reg.id);
    s.refused(&id, &a.json(), NOT_REGISTERED).await;
}

#[tokio::test]
async fn user_handle_that_does_not_match_the_credential_is_rejected() {
    let mut s = scene().await;
    let (bob, _, bcred) = Person::with_passkey(&s.server, "bob").await;
    let bob_handle = bob.auth.user_handle(&bcred).unwrap();
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.forge(&req, |f| f.assertion.user_handle = Some(bob_handle)).await;
    s.refused(&id, &a.json(), WRONG_OWNER).await;
}

#[tokio::test]
async fn alices_passkey_cannot_finish_an_identifier_first_sign_in_for_bob() {
    let mut s = scene().await;
    let (_bob, _, _) = Person::with_passkey(&s.server, "bob").await;
    let (id, req) = s.alice.fapi.start_sign_in_with_identifier("bob").await;
    // The device answers with alice's credential although bob's were asked for.
    let mut open = req.clone();
    open.as_object_mut().unwrap().remove("allowCredentials");
    let a = s.alice.auth.assert(&open).await;
    s.refused(&id, &a.json(), WRONG_OWNER).await;
}

#[tokio::test]
async fn sign_in_started_on_one_client_cannot_be_finished_from_another() {
    let mut s = scene().await;
    let victim = Fapi::new(&s.server);
    let (id, req) = victim.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    // alice.fapi is another client (other cookie): the sign-in id is not its own.
    s.refused(&id, &a.json(), NOT_FOUND).await;
}

#[tokio::test]
async fn registration_credential_sent_as_a_sign_in_assertion_is_rejected() {
    let mut s = scene().await;
    let (_, options) = s.observer.start_registration().await;
    let reg = s.alice.auth.register(&options).await;
    let (id, _) = s.alice.fapi.start_sign_in().await;
    s.refused(&id, &reg.json(), &[(422, "form_param_format_invalid"), (422, "verification_failed"), (422, "passkey_not_registered")]).await;
}

#[tokio::test]
async fn assertion_whose_id_and_raw_id_disagree_is_rejected() {
    let mut s = scene().await;
    let (bob, _, bcred) = Person::with_passkey(&s.server, "bob").await;
    drop(bob);
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let mut a = s.alice.auth.assert(&req).await;
    a.id = bcred;
    s.refused(&id, &a.json(), FORMAT_OR_FAILED).await;
}

// =============================================================================================
// Registration ceremonies
// =============================================================================================

/// Alice signed in with a pending registration; returns (passkey id, creation options).
async fn pending_registration(s: &Scene) -> (String, Value) {
    s.observer.start_registration().await
}

async fn refused_registration(s: &Scene, id: &str, reg: &Registration, expected: &[(u16, &str)]) {
    let before = s.snapshot(&[]).await;
    s.observer.finish_registration(id, &reg.json()).await.assert_error_in(expected);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn registration_from_a_foreign_origin_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_client_data(|m| {
        m.insert("origin".into(), "https://evil.example".into());
    });
    refused_registration(&s, &id, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_with_webauthn_get_client_data_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_client_data(|m| {
        m.insert("type".into(), "webauthn.get".into());
    });
    refused_registration(&s, &id, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_answering_another_pending_registrations_challenge_is_rejected() {
    let mut s = scene().await;
    let (_id1, o1) = pending_registration(&s).await;
    let (id2, _o2) = pending_registration(&s).await;
    let reg = s.alice.auth.register(&o1).await;
    refused_registration(&s, &id2, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_for_another_rp_id_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_auth_data(|ad| ad[..32].copy_from_slice(&sha256(b"evil.example")));
    refused_registration(&s, &id, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_without_user_verification_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_auth_data(|ad| ad[32] &= !FLAG_UV);
    refused_registration(&s, &id, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_without_user_presence_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_auth_data(|ad| ad[32] &= !FLAG_UP);
    refused_registration(&s, &id, &reg, FAILED).await;
}

#[tokio::test]
async fn registration_without_attested_credential_data_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_auth_data(|ad| {
        ad[32] &= !FLAG_AT;
        ad.truncate(37);
    });
    refused_registration(&s, &id, &reg, FORMAT_OR_FAILED).await;
}

#[tokio::test]
async fn registration_claiming_packed_attestation_without_a_statement_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    let mut att = vec![];
    cbor::head(&mut att, 5, 3);
    cbor::text(&mut att, "fmt");
    cbor::text(&mut att, "packed");
    cbor::text(&mut att, "attStmt");
    cbor::head(&mut att, 5, 0);
    cbor::text(&mut att, "authData");
    cbor::bytes(&mut att, &reg.auth_data);
    reg.attestation_object = att;
    refused_registration(&s, &id, &reg, FORMAT_OR_FAILED).await;
}

#[tokio::test]
async fn registering_alices_credential_id_for_bob_is_rejected() {
    // With `none` attestation nothing signs the registration: a malicious client could submit
    // someone else's credential id (and public key) for its own account.
    let mut s = scene().await;
    let bob = Person::sign_up(&s.server, "bob").await;
    let (id, bob_options) = bob.fapi.start_registration().await;
    // Alice's device makes a credential for bob's options... then the attacker swaps in the
    // authenticator data of alice's registered credential.
    let mut reg = s.alice.auth.register(&bob_options).await;
    // Take alice's real credential id into the authenticator data (same length: 16 bytes).
    let alice_cred = s.cred.clone();
    assert_eq!(alice_cred.len(), reg.id.len());
    reg.edit_auth_data(|ad| ad[55..55 + alice_cred.len()].copy_from_slice(&alice_cred));
    reg.id = alice_cred.clone();
    reg.raw_id = alice_cred.clone();
    let before = s.snapshot(&[&bob.fapi]).await;
    bob.fapi
        .finish_registration(&id, &reg.json())
        .await
        .assert_error_in(&[(422, "passkey_already_registered"), (422, "verification_failed")]);
    s.snapshot(&[&bob.fapi]).await.assert_same(&before);
    // Alice's passkey still signs alice in.
    let f = Fapi::new(&s.server);
    s.alice.auth.prefer(&alice_cred);
    f.sign_in_ok(&mut s.alice.auth).await;
    assert_eq!(f.me().await["id"], s.alice.user_id.as_str());
}

#[tokio::test]
async fn registering_the_same_credential_twice_for_one_user_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let mut reg = s.alice.auth.register(&o).await;
    let cred = s.cred.clone();
    reg.edit_auth_data(|ad| ad[55..55 + cred.len()].copy_from_slice(&cred));
    reg.id = cred.clone();
    reg.raw_id = cred;
    refused_registration(&s, &id, &reg, &[(422, "passkey_already_registered"), (422, "verification_failed")]).await;
}

#[tokio::test]
async fn replaying_a_completed_registration_is_rejected() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let reg = s.alice.auth.register(&o).await;
    s.observer.finish_registration(&id, &reg.json()).await.ok();
    // Same passkey id again, and the same credential on a new pending registration.
    refused_registration(
        &s,
        &id,
        &reg,
        &[(422, "verification_already_verified"), (422, "verification_failed"), (422, "verification_expired"), (404, "resource_not_found")],
    )
    .await;
    let (id2, _) = pending_registration(&s).await;
    refused_registration(&s, &id2, &reg, &[(422, "verification_failed"), (422, "passkey_already_registered")]).await;
}

#[tokio::test]
async fn finishing_alices_registration_from_bobs_client_is_refused() {
    let mut s = scene().await;
    let bob = Person::sign_up(&s.server, "bob").await;
    let (id, o) = pending_registration(&s).await;
    let reg = s.alice.auth.register(&o).await;
    let before = s.snapshot(&[&bob.fapi]).await;
    bob.fapi.finish_registration(&id, &reg.json()).await.assert_error_in(NOT_FOUND);
    s.snapshot(&[&bob.fapi]).await.assert_same(&before);
    // Alice can still finish it herself afterwards.
    s.observer.finish_registration(&id, &reg.json()).await.ok();
}

#[tokio::test]
async fn finishing_a_registration_from_a_signed_out_client_is_refused() {
    let mut s = scene().await;
    let (id, o) = pending_registration(&s).await;
    let reg = s.alice.auth.register(&o).await;
    let stranger = Fapi::new(&s.server);
    let before = s.snapshot(&[]).await;
    stranger.finish_registration(&id, &reg.json()).await.assert_error_in(SIGNED_OUT);
    s.snapshot(&[]).await.assert_same(&before);
}

// =============================================================================================
// Cross-user access with a valid session
// =============================================================================================

#[tokio::test]
async fn bob_cannot_rename_alices_passkey() {
    let s = scene().await;
    let bob = Person::sign_up(&s.server, "bob").await;
    let before = s.snapshot(&[&bob.fapi]).await;
    bob.fapi.patch(&format!("/me/passkeys/{}", s.pk_id), &[("name", "pwned")]).await.assert_error_in(NOT_FOUND);
    s.snapshot(&[&bob.fapi]).await.assert_same(&before);
}

#[tokio::test]
async fn bob_cannot_delete_alices_passkey() {
    let s = scene().await;
    let bob = Person::sign_up(&s.server, "bob").await;
    let before = s.snapshot(&[&bob.fapi]).await;
    bob.fapi.delete(&format!("/me/passkeys/{}", s.pk_id)).await.assert_error_in(NOT_FOUND);
    s.snapshot(&[&bob.fapi]).await.assert_same(&before);
}

#[tokio::test]
async fn bobs_client_cannot_act_as_alices_session() {
    let s = scene().await;
    let bob = Person::sign_up(&s.server, "bob").await;
    let alice_sid = s.observer.session_id().unwrap();
    let before = s.snapshot(&[&bob.fapi]).await;
    // /me with alice's session id on bob's client.
    let r = bob
        .fapi
        .send(RawRequest::get("/v1/me").query("_clerk_session_id", &alice_sid).no_session_param())
        .await;
    r.assert_error_in(&[(401, "signed_out"), (404, "resource_not_found")]);
    assert_ne!(r.body["response"]["id"], s.alice.user_id.as_str());
    // Tokens, touch, remove for alice's session from bob's client.
    bob.fapi.token(&alice_sid).await.assert_error_in(&[(404, "resource_not_found"), (401, "signed_out")]);
    bob.fapi.touch(&alice_sid).await.assert_error_in(&[(404, "resource_not_found"), (401, "signed_out")]);
    bob.fapi
        .post(&format!("/client/sessions/{alice_sid}/remove"), &[])
        .await
        .assert_error_in(&[(404, "resource_not_found"), (401, "signed_out")]);
    s.snapshot(&[&bob.fapi]).await.assert_same(&before);
}

// =============================================================================================
// Dead sessions and forged client credentials
// =============================================================================================

#[tokio::test]
async fn session_token_cannot_be_minted_after_sign_out() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    s.observer.token(&sid).await.ok();
    s.observer.sign_out().await.ok();
    s.observer.token(&sid).await.assert_error_in(SIGNED_OUT);
    s.observer.touch(&sid).await.assert_error_in(SIGNED_OUT);
    s.observer.set_session(Some(sid));
    s.observer.get("/me").await.assert_error_in(SIGNED_OUT);
}

#[tokio::test]
async fn removed_session_is_dead_for_me_and_tokens() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    s.observer.post(&format!("/client/sessions/{sid}/remove"), &[]).await.ok();
    s.observer.token(&sid).await.assert_error_in(SIGNED_OUT);
    s.observer.get("/me").await.assert_error_in(SIGNED_OUT);
}

#[tokio::test]
async fn forged_client_cookie_gives_no_access() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    let real = s.observer.client_cookie().expect("__client cookie");
    let thief = Fapi::new(&s.server);
    let mut forged = real.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    thief.set_client_cookie(&forged);
    thief.set_session(Some(sid.clone()));
    thief.get("/me").await.assert_error_in(SIGNED_OUT);
    thief.token(&sid).await.assert_error_in(&[(401, "signed_out"), (404, "resource_not_found")]);
}

#[tokio::test]
async fn native_bearer_token_that_is_forged_gives_no_access() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    let jwt = s.observer.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    let thief = Fapi::new(&s.server);
    for bogus in [
        "garbage".to_string(),
        // alg "none" JWT claiming alice's session.
        format!("{}.{}.", b64u(r#"{"alg":"none","typ":"JWT"}"#), b64u(json!({"sid": sid, "sub": s.alice.user_id}).to_string())),
        // A real session JWT is not a client credential.
        jwt.clone(),
    ] {
        let r = thief
            .send(
                RawRequest::get("/v1/me")
                    .query("_is_native", "1")
                    .query("_clerk_session_id", &sid)
                    .header("authorization", &bogus),
            )
            .await;
        r.assert_error_in(&[(401, "signed_out"), (401, "authentication_invalid")]);
    }
}

#[tokio::test]
async fn session_jwt_with_edited_claims_does_not_verify_and_jwks_holds_no_private_key() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    let jwt = s.observer.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    verify_jwt(&s.observer, &jwt).await;
    let jwks = s.observer.get_abs("/.well-known/jwks.json").await.ok();
    for k in jwks.body["keys"].as_array().expect("keys[]") {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(k.get(private).is_none(), "JWKS leaks private parameter {private}: {k}");
        }
    }
    // Edit sub, keep the signature: must not verify.
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&unb64u(parts[1])).unwrap();
    claims["sub"] = "user_mallory".into();
    let forged = format!("{}.{}.{}", parts[0], b64u(claims.to_string()), parts[2]);
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.body.clone()).unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(&forged, &key, &v).is_err(), "edited JWT verified");
}

// =============================================================================================
// Cross-site requests: foreign Origin on cookie-authenticated POSTs
// =============================================================================================

async fn cross_site(f: &Fapi, path: &str, method: Option<&str>, form: &[(&str, &str)], origin: &str) -> Reply {
    let mut r = RawRequest::post(&format!("/v1{path}"), form_body(form)).origin(OriginHeader::Custom(origin.into()));
    if let Some(m) = method {
        r = r.query("_method", m);
    }
    f.send(r).await
}

#[tokio::test]
async fn cross_site_sign_up_is_refused_and_sets_no_cookie() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let r = cross_site(&f, "/client/sign_ups", None, &[("username", "mallory")], "https://evil.example").await;
    r.assert_error_in(ORIGIN);
    assert!(r.header("set-cookie").iter().all(|c| !c.contains("__client=")), "no client for a refused request");
    // The username is still free.
    f.sign_up_ok("mallory").await;
}

#[tokio::test]
async fn cross_site_passkey_creation_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    cross_site(&s.observer, "/me/passkeys", None, &[], "https://evil.example").await.assert_error_in(ORIGIN);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn cross_site_passkey_rename_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    cross_site(&s.observer, &format!("/me/passkeys/{}", s.pk_id), Some("PATCH"), &[("name", "pwned")], "https://evil.example")
        .await
        .assert_error_in(ORIGIN);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn cross_site_passkey_delete_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    cross_site(&s.observer, &format!("/me/passkeys/{}", s.pk_id), Some("DELETE"), &[], "https://evil.example")
        .await
        .assert_error_in(ORIGIN);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn cross_site_sign_out_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    cross_site(&s.observer, "/client/sessions", Some("DELETE"), &[], "https://evil.example").await.assert_error_in(ORIGIN);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn cross_site_sign_in_attempt_is_refused() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    let before = s.snapshot(&[]).await;
    cross_site(
        &s.alice.fapi,
        &format!("/client/sign_ins/{id}/attempt_first_factor"),
        None,
        &[("strategy", "passkey"), ("public_key_credential", &a.json())],
        "https://evil.example",
    )
    .await
    .assert_error_in(ORIGIN);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn cross_site_token_minting_is_refused() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    cross_site(&s.observer, &format!("/client/sessions/{sid}/tokens"), None, &[], "https://evil.example")
        .await
        .assert_error_in(ORIGIN);
}

#[tokio::test]
async fn null_origin_and_lookalike_origins_are_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    let port = s.server.port;
    for origin in [
        "null".to_string(),
        format!("https://localhost:{port}"),
        format!("http://localhost:{}", port.wrapping_add(1).max(1)),
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost.evil.example:{port}"),
        format!("http://localhost:{port}.evil.example"),
    ] {
        let r = cross_site(&s.observer, &format!("/me/passkeys/{}", s.pk_id), Some("DELETE"), &[], &origin).await;
        assert_eq!(r.status, 403, "Origin {origin:?} must be refused: {}", r.text);
        r.assert_error_in(ORIGIN);
    }
    s.snapshot(&[]).await.assert_same(&before);
}

// =============================================================================================
// Expired challenges (challenge TTL 0: every challenge is already expired when answered)
// =============================================================================================

#[tokio::test]
async fn sign_in_with_an_expired_challenge_is_rejected() {
    // Set up with the normal TTL, then restart with TTL 0.
    let mut s = scene().await;
    s.server.restart_with(&["--challenge-ttl-secs", "0"]);
    s.alice.fapi.set_server(&s.server);
    s.observer.set_server(&s.server);
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    s.refused(&id, &a.json(), &[(422, "verification_expired")]).await;
}

#[tokio::test]
async fn registration_with_an_expired_challenge_is_rejected() {
    let mut s = scene().await;
    s.server.restart_with(&["--challenge-ttl-secs", "0"]);
    s.alice.fapi.set_server(&s.server);
    s.observer.set_server(&s.server);
    let (id, o) = s.observer.start_registration().await;
    let reg = s.alice.auth.register(&o).await;
    let before = s.snapshot(&[]).await;
    s.observer.finish_registration(&id, &reg.json()).await.assert_error_in(&[(422, "verification_expired")]);
    s.snapshot(&[]).await.assert_same(&before);
}

// =============================================================================================
// Controls: the forging path itself yields valid data, and snapshots do see changes. Without
// these, every "rejected" above could be an artefact of the harness.
// =============================================================================================

#[tokio::test]
async fn control_a_forged_assertion_without_edits_is_accepted() {
    let mut s = scene().await;
    let (id, req) = s.alice.fapi.start_sign_in().await;
    // Re-serialised client data (keys reordered), re-signed, counter jumped forward: all fine.
    let a = s.alice.auth.forge(&req, |f| {
        f.edit_client_data(|_| {});
        f.set_counter(1000);
    }).await;
    let r = s.alice.fapi.attempt_sign_in(&id, &a.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
}

#[tokio::test]
async fn control_a_rebuilt_attestation_object_is_accepted() {
    let mut s = scene().await;
    let (id, o) = s.observer.start_registration().await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_client_data(|_| {});
    reg.edit_auth_data(|_| {});
    let r = s.observer.finish_registration(&id, &reg.json()).await.ok();
    assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
}

#[tokio::test]
async fn control_snapshots_see_a_sign_in_a_rename_and_a_new_session() {
    let mut s = scene().await;
    let before = s.snapshot(&[]).await;
    s.alice.fapi.sign_in_ok(&mut s.alice.auth).await;
    assert_ne!(s.snapshot(&[]).await, before, "a sign-in (session, last_used_at) must show");
    let before = s.snapshot(&[]).await;
    s.observer.patch(&format!("/me/passkeys/{}", s.pk_id), &[("name", "renamed")]).await.ok();
    assert_ne!(s.snapshot(&[]).await, before, "a rename must show");
}

// =============================================================================================
// Session fixation and cookie tossing (issue 15, finding 1)
// =============================================================================================

/// `GET /me` with nothing but `cookie` as the `Cookie` header (a jar of its own would add more).
async fn me_with_cookie(server: &LatchProcess, cookie: &str, sid: &str) -> Reply {
    let bare = Fapi::new(server);
    bare.send(
        RawRequest::get("/v1/me")
            .no_session_param()
            .query("_clerk_session_id", sid)
            .header("cookie", cookie),
    )
    .await
}

#[tokio::test]
async fn a_client_token_planted_before_sign_in_does_not_carry_the_victims_session() {
    let mut s = scene().await;
    // Mallory gets a client token of her own and plants it in Alice's browser.
    let mallory = Fapi::new(&s.server);
    mallory.start_sign_in().await;
    let planted = mallory.client_cookie().expect("a client cookie");
    let victim = Fapi::new(&s.server);
    victim.set_client_cookie(&planted);
    let sid = victim.sign_in_ok(&mut s.alice.auth).await;
    let rotated = victim.client_cookie().expect("the victim's cookie");
    assert_ne!(
        rotated, planted,
        "signing in must hand out a fresh client token"
    );
    // The planted token reads neither the session, nor the user, nor a token.
    mallory.set_session(Some(sid.clone()));
    mallory.get("/me").await.assert_error_in(SIGNED_OUT);
    mallory.token(&sid).await.assert_error_in(SIGNED_OUT);
    assert!(
        mallory.get("/client").await.ok().resp().is_null(),
        "the planted token still names a client"
    );
    // The victim's fresh token works.
    assert_eq!(victim.me().await["id"], s.alice.user_id.as_str());
}

#[tokio::test]
async fn a_client_token_planted_before_sign_up_does_not_carry_the_new_account() {
    let server = LatchProcess::start();
    let mallory = Fapi::new(&server);
    mallory.start_sign_in().await;
    let planted = mallory.client_cookie().expect("a client cookie");
    let victim = Fapi::new(&server);
    victim.set_client_cookie(&planted);
    victim.sign_up_ok("victim").await;
    assert_ne!(victim.client_cookie().unwrap(), planted);
    mallory.set_session(victim.session_id());
    mallory.get("/me").await.assert_error_in(SIGNED_OUT);
    assert!(victim.get("/client").await.ok().resp()["sessions"][0]["id"].is_string());
}

#[tokio::test]
async fn the_token_of_a_signed_out_client_stops_working() {
    let mut s = scene().await;
    let browser = Fapi::new(&s.server);
    browser.sign_in_ok(&mut s.alice.auth).await;
    let signed_in_token = browser.client_cookie().unwrap();
    browser.sign_out().await.ok();
    let after = browser.client_cookie().unwrap();
    assert_ne!(
        after, signed_in_token,
        "sign-out must hand out a fresh client token"
    );
    let copy = Fapi::new(&s.server);
    copy.set_client_cookie(&signed_in_token);
    assert!(
        copy.get("/client").await.ok().resp().is_null(),
        "a signed-out token still names the client"
    );
    // The browser keeps its client under the new token.
    assert!(browser.get("/client").await.ok().resp()["id"].is_string());
}

#[tokio::test]
async fn a_native_client_token_is_rotated_at_sign_in_and_the_old_one_stops_working() {
    let mut s = scene().await;
    let native = |req: RawRequest, token: &str| {
        req.origin(OriginHeader::None)
            .query("_is_native", "1")
            .header("authorization", token)
    };
    let app = Fapi::new(&s.server);
    let started = app
        .send(native(
            RawRequest::post("/v1/client/sign_ins", form_body(&[("strategy", "passkey")])),
            "",
        ))
        .await
        .ok();
    let first_token = started
        .header("authorization")
        .pop()
        .expect("a new client's token");
    let sign_in_id = started.resp()["id"].as_str().unwrap().to_string();
    let options = parse_nonce(&started.resp()["first_factor_verification"]["nonce"]);
    let assertion = s.alice.auth.assert(&options).await.json();
    let path = format!("/v1/client/sign_ins/{sign_in_id}/attempt_first_factor");
    let body = form_body(&[
        ("strategy", "passkey"),
        ("public_key_credential", &assertion),
    ]);
    let done = app
        .send(native(RawRequest::post(&path, body), &first_token))
        .await
        .ok();
    assert_eq!(done.resp()["status"], "complete", "{}", done.text);
    let fresh = done
        .header("authorization")
        .pop()
        .expect("a rotated token in the answer");
    assert_ne!(fresh, first_token);
    let sid = done.resp()["created_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let me = |token: &str| {
        native(
            RawRequest::get("/v1/me")
                .no_session_param()
                .query("_clerk_session_id", &sid),
            token,
        )
    };
    app.send(me(&first_token)).await.assert_error_in(SIGNED_OUT);
    assert_eq!(
        app.send(me(&fresh)).await.ok().resp()["id"],
        s.alice.user_id.as_str()
    );
}

#[tokio::test]
async fn a_request_with_two_client_cookies_is_treated_as_carrying_none() {
    let s = scene().await;
    let real = s.observer.client_cookie().unwrap();
    let sid = s.observer.session_id().unwrap();
    let mallory = Fapi::new(&s.server);
    mallory.start_sign_in().await;
    let planted = mallory.client_cookie().unwrap();
    me_with_cookie(&s.server, &format!("__client={real}"), &sid)
        .await
        .ok();
    for cookie in [
        format!("__client={planted}; __client={real}"),
        format!("__client={real}; __client={planted}"),
    ] {
        me_with_cookie(&s.server, &cookie, &sid)
            .await
            .assert_error_in(SIGNED_OUT);
    }
}

#[tokio::test]
async fn an_https_instance_sets_a_host_prefixed_secure_cookie_and_ignores_a_plain_one() {
    let server = LatchProcess::start_with(&["--origin", "https://app.localhost"]);
    let browser = Fapi::with(&server.base, "https://app.localhost");
    let r = browser
        .post("/client/sign_ups", &[("username", "hostie")])
        .await
        .ok();
    let set_cookie = r.header("set-cookie").join("\n");
    assert!(set_cookie.starts_with("__Host-client="), "{set_cookie}");
    assert!(
        set_cookie.contains("; Secure")
            && set_cookie.contains("Path=/")
            && !set_cookie.contains("Domain"),
        "{set_cookie}"
    );
    let token = set_cookie
        .trim_start_matches("__Host-client=")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let sid = r.resp()["created_session_id"].as_str().unwrap().to_string();
    let me = |cookie: String| {
        let f = Fapi::with(&server.base, "https://app.localhost");
        let sid = sid.clone();
        async move {
            f.send(
                RawRequest::get("/v1/me")
                    .no_session_param()
                    .query("_clerk_session_id", &sid)
                    .header("cookie", &cookie),
            )
            .await
        }
    };
    me(format!("__Host-client={token}")).await.ok();
    // A plain `__client` (which a sibling subdomain could toss) is not the client cookie here.
    me(format!("__client={token}"))
        .await
        .assert_error_in(SIGNED_OUT);
    // Even a request without an https Origin gets a Secure cookie on an https-only instance.
    let plain = Fapi::with(&server.base, "https://app.localhost");
    let r = plain
        .send(
            RawRequest::post("/v1/client/sign_ins", form_body(&[("strategy", "passkey")]))
                .origin(OriginHeader::None),
        )
        .await
        .ok();
    assert!(
        r.header("set-cookie").join("").contains("; Secure"),
        "{:?}",
        r.header("set-cookie")
    );
}

// =============================================================================================
// Idle connections (issue 15, finding 2)
// =============================================================================================

#[tokio::test]
async fn silent_and_idle_http2_connections_cannot_hold_every_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = LatchProcess::start_with(&["--max-connections", "4", "--idle-timeout-secs", "2"]);
    let addr = server.base.trim_start_matches("http://").to_string();
    // Three sockets that never send a byte, and one HTTP/2 prior-knowledge connection that
    // says hello (preface, empty SETTINGS) and then nothing: every slot is taken.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let mut h2 = tokio::net::TcpStream::connect(&addr).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    held.push(h2);
    let started = std::time::Instant::now();
    // The kernel accepts the connection into its backlog; Latch reads it once a slot frees.
    let mut probe = tokio::net::TcpStream::connect(&addr).await.unwrap();
    probe.write_all(b"GET /healthz HTTP/1.1\r\nHost: latch\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(15), probe.read_to_end(&mut answer))
        .await
        .expect("/healthz answers once idle slots free")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500), "answered before any slot could free");
    // The held connections were closed by the server.
    for mut socket in held {
        let mut buf = vec![0u8; 4096];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .unwrap_or(false);
        assert!(closed, "an idle connection stayed open");
    }
}

// =============================================================================================
// `azp` and the token cache (issue 15, finding 3)
// =============================================================================================

/// The claims of a JWT, unverified (the test only reads `azp`).
fn claims_of(jwt: &str) -> Value {
    serde_json::from_slice(&unb64u(jwt.split('.').nth(1).expect("a JWT"))).unwrap()
}

#[tokio::test]
async fn a_token_never_names_an_origin_latch_does_not_allow() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    let foreign = format!("https://{}.evil.example", "x".repeat(2_000));
    let r = s.observer.send(RawRequest::get("/v1/client").origin(OriginHeader::Custom(foreign.clone()))).await.ok();
    let session = &r.resp()["sessions"][0];
    assert_eq!(session["id"], sid.as_str());
    let claims = claims_of(session["last_active_token"]["jwt"].as_str().expect("a token"));
    assert!(claims.get("azp").is_none(), "azp from a foreign Origin: {}", &claims["azp"].to_string()[..60]);
    // From the allowed origin, the token names it.
    let r = s.observer.get("/client").await.ok();
    let claims = claims_of(r.resp()["sessions"][0]["last_active_token"]["jwt"].as_str().unwrap());
    assert_eq!(claims["azp"], s.server.origin().as_str());
}

// =============================================================================================
// Production defaults and page headers (issue 15, findings 8 and 12)
// =============================================================================================

#[tokio::test]
async fn fapi_answers_that_carry_tokens_are_not_cached_or_sniffed() {
    let s = scene().await;
    let sid = s.observer.session_id().unwrap();
    for r in [s.observer.get("/client").await.ok(), s.observer.token(&sid).await.ok(), s.observer.get("/me").await.ok()] {
        assert_eq!(r.header("cache-control"), ["no-store"], "{}", r.text);
        assert_eq!(r.header("x-content-type-options"), ["nosniff"]);
    }
}

#[tokio::test]
async fn the_dev_page_has_the_portals_csp_and_frame_headers() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let page = f.get_abs("/").await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").join("");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), ["DENY"]);
    assert!(!page.text.contains("<style") && !page.text.contains("style=\""), "inline styles the CSP would block");
    assert_eq!(f.get_abs("/dev.css").await.status, 200);
}

#[test]
fn production_refuses_to_start_without_an_https_issuer() {
    let dir = std::env::temp_dir().join(format!("latch-issuer-test-{}", std::process::id()));
    let run = |extra: &[&str]| {
        let mut args = vec!["serve", "--port", "0", "--production", "--rp-id", "example.com", "--origin", "https://example.com"];
        args.extend_from_slice(extra);
        std::process::Command::new(latch_binary()).args(&args).arg("--data-dir").arg(&dir).output().unwrap()
    };
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--issuer is required with --production"), "{stderr}");
    let out = run(&["--issuer", "http://latch.example.com"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("must be an https URL"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

// =============================================================================================
// Look-alike names (issue 15, finding 10)
// =============================================================================================

#[tokio::test]
async fn usernames_differing_only_in_case_are_one_account() {
    let mut s = scene().await;
    for name in ["Alice", "ALICE", "alice"] {
        Fapi::new(&s.server).sign_up(name).await.assert_error(422, "form_identifier_exists");
    }
    // Signing in by identifier finds her whatever the case.
    let browser = Fapi::new(&s.server);
    let (id, options) = browser.start_sign_in_with_identifier("ALICE").await;
    let assertion = s.alice.auth.assert(&options).await;
    assert_eq!(browser.attempt_sign_in(&id, &assertion.json()).await.ok().resp()["status"], "complete");
    // A new account keeps one spelling: lower case.
    let r = Fapi::new(&s.server).sign_up("Bob.Smith").await.ok();
    assert_eq!(r.resp()["username"], "bob.smith", "{}", r.text);
}

#[tokio::test]
async fn passkey_names_with_bidi_or_zero_width_controls_are_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    for sneaky in ["\u{202E}yek s'ecila", "my\u{200B}key", "\u{2066}key\u{2069}"] {
        let r = s.observer.patch(&format!("/me/passkeys/{}", s.pk_id), &[("name", sneaky)]).await;
        r.assert_error(422, "form_param_format_invalid");
    }
    s.snapshot(&[]).await.assert_same(&before);
}

// =============================================================================================
// Pending registrations and the passkey quota (issue 15, finding 7)
// =============================================================================================

#[tokio::test]
async fn open_registrations_count_against_the_passkey_quota() {
    let server = LatchProcess::start_with(&["--max-passkeys-per-user", "2"]);
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;
    let second_browser = alice.observer(&server).await;
    // One verified passkey and one open registration: the quota of 2 is used up...
    let (first_id, _) = alice.fapi.start_registration().await;
    second_browser.post("/me/passkeys", &[]).await.assert_error(422, "passkey_quota_exceeded");
    // ...however many registrations one browser opens: each replaces its previous one.
    for _ in 0..5 {
        alice.fapi.start_registration().await;
    }
    let (last_id, options) = alice.fapi.start_registration().await;
    let reg = alice.auth.register(&options).await;
    alice.fapi.finish_registration(&first_id, &reg.json()).await.assert_error_in(NOT_FOUND);
    let reg = alice.auth.register(&options).await;
    alice.fapi.finish_registration(&last_id, &reg.json()).await.ok();
    assert_eq!(alice.fapi.passkeys().await.len(), 2);
}

// =============================================================================================
// Sessions outliving their passkey (issue 15, finding 4)
// =============================================================================================

#[tokio::test]
async fn deleting_a_passkey_ends_the_sessions_it_could_have_made() {
    let server = LatchProcess::start();
    let (alice, _, _) = Person::with_passkey(&server, "alice").await;
    // During a moment of access to Alice's session, Mallory adds a passkey of his own and signs
    // in with it in his browser.
    let mut mallorys_device = SoftAuthenticator::for_server(&server);
    let (planted, _) = alice.fapi.create_passkey(&mut mallorys_device).await;
    let mallory = Fapi::new(&server);
    let mallorys_session = mallory.sign_in_ok(&mut mallorys_device).await;
    assert_eq!(mallory.me().await["id"], alice.user_id.as_str());
    // Alice finds it and deletes it: Mallory's session ends with it, hers goes on.
    alice.fapi.delete(&format!("/me/passkeys/{}", planted["id"].as_str().unwrap())).await.ok();
    mallory.get("/me").await.assert_error_in(SIGNED_OUT);
    mallory.token(&mallorys_session).await.assert_error_in(SIGNED_OUT);
    assert_eq!(alice.fapi.me().await["id"], alice.user_id.as_str());
}

// =============================================================================================
// Wildcard origins (issue 15, finding 9): ceremonies yes, credentialed reads no
// =============================================================================================

/// `--origin http://*.localhost` lets every subdomain run ceremonies, but a page on one of
/// them (a user-content host) may neither read the client's tokens through CORS nor pass the
/// CSRF check with the browser's cookie; an exact origin may, and so does the wildcard once
/// the operator lists it with `--credentialed-origin`.
#[tokio::test]
async fn a_wildcard_origin_runs_ceremonies_but_may_not_call_with_credentials() {
    let wildcard = ["--origin", "http://app.localhost", "--origin", "http://*.localhost"];
    let server = LatchProcess::start_with(&wildcard);
    let app = Fapi::with(&server.base, "http://app.localhost");
    app.sign_up_ok("wendy").await;
    let sid = app.session_id().expect("signed up");
    let files = "http://files.localhost";
    let before = Snapshot::take(&[&app]).await;

    // CORS: the exact origin reads with credentials, the wildcard's subdomain does not.
    let read = |origin: &str| RawRequest::get("/v1/client").origin(OriginHeader::Custom(origin.into()));
    let exact = app.send(read("http://app.localhost")).await.ok();
    assert_eq!(exact.header("access-control-allow-origin"), ["http://app.localhost"]);
    let foreign = app.send(read(files)).await;
    assert!(foreign.header("access-control-allow-origin").is_empty(), "{:?}", foreign.header("access-control-allow-origin"));
    let preflight = app
        .send(RawRequest {
            method: reqwest::Method::OPTIONS,
            ..read(files).header("access-control-request-method", "POST")
        })
        .await;
    assert!(preflight.header("access-control-allow-origin").is_empty(), "preflight allowed {files}");

    // CSRF: with the browser's cookie (same site), minting a token or signing out is refused.
    cross_site(&app, &format!("/client/sessions/{sid}/tokens"), None, &[], files).await.assert_error_in(ORIGIN);
    cross_site(&app, "/client/sessions", Some("DELETE"), &[], files).await.assert_error_in(ORIGIN);
    Snapshot::take(&[&app]).await.assert_same(&before);

    // Ceremonies: a page Latch serves on that subdomain itself (same origin) begins a sign-in.
    let own_page = Fapi::with(&server.base, files);
    own_page
        .send(
            RawRequest::post("/v1/client/sign_ins", form_body(&[("strategy", "passkey")]))
                .header("host", "files.localhost"),
        )
        .await
        .ok();

    // The operator's explicit choice restores credentialed calls for the whole pattern.
    let mut listed = server;
    listed.restart_with(&[&wildcard[..], &["--credentialed-origin", "http://*.localhost"]].concat());
    app.set_server(&listed); // fresh connections (same cookies)
    let read_again = app.send(read(files)).await.ok();
    assert_eq!(read_again.header("access-control-allow-origin"), [files]);
    let minted = cross_site(&app, &format!("/client/sessions/{sid}/tokens"), None, &[], files).await.ok();
    assert!(minted.body["jwt"].is_string(), "{}", minted.text);
}
