//! Several Latch nodes on one database (issue 5): any node finishes what another began,
//! they sign with one key, and an assertion posted to two nodes at once yields one session.
//!
//! Runs on both backends: on PostgreSQL (`LATCH_TEST_BACKEND=postgres`) the nodes share a
//! database of their own; on SQLite they share one database file.

use latch_testkit::{fapi::*, jwt::verify_jwt, passkey::*, process::*};

/// The app's origin, as both nodes are configured to allow it (a load balancer in front).
const APP_ORIGIN: &str = "http://localhost:5555";

struct Cluster {
    a: LatchProcess,
    b: LatchProcess,
}

fn cluster() -> Cluster {
    let a = LatchProcess::start_with(&["--origin", APP_ORIGIN]);
    let b = LatchProcess::join(&a, &["--origin", APP_ORIGIN]);
    Cluster { a, b }
}

#[tokio::test]
async fn a_ceremony_begun_on_one_node_finishes_on_the_other() {
    let c = cluster();
    let fapi = Fapi::with(&c.a.base, APP_ORIGIN);
    let mut auth = SoftAuthenticator::new(APP_ORIGIN);

    fapi.sign_up_ok("alice").await;
    // Registration: begun on A, finished on B.
    let (passkey_id, options) = fapi.start_registration().await;
    let registration = auth.register(&options).await;
    fapi.set_base(&c.b.base);
    let r = fapi.finish_registration(&passkey_id, &registration.json()).await.ok();
    assert_eq!(r.resp()["id"], passkey_id.as_str(), "{}", r.text);
    assert_eq!(fapi.passkeys().await.len(), 1, "B sees the passkey it verified");
    fapi.set_base(&c.a.base);
    assert_eq!(fapi.passkeys().await.len(), 1, "A sees the passkey B verified");
    fapi.sign_out().await.ok();

    // Sign-in: begun on B, finished on A.
    fapi.set_base(&c.b.base);
    let (sign_in_id, request) = fapi.start_sign_in().await;
    let assertion = auth.assert(&request).await;
    fapi.set_base(&c.a.base);
    let r = fapi.attempt_sign_in(&sign_in_id, &assertion.json()).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    let sid = r.resp()["created_session_id"].as_str().unwrap().to_string();

    // A token minted on B verifies with A's JWKS, and the two JWKS are the same.
    fapi.set_base(&c.b.base);
    let jwt = fapi.token(&sid).await.ok().body["jwt"].as_str().unwrap().to_string();
    fapi.set_base(&c.a.base);
    let claims = verify_jwt(&fapi, &jwt).await;
    assert_eq!(claims["sid"], sid.as_str());
    let jwks_a = fapi.get_abs("/.well-known/jwks.json").await.ok().body;
    fapi.set_base(&c.b.base);
    let jwks_b = fapi.get_abs("/.well-known/jwks.json").await.ok().body;
    assert_eq!(jwks_a, jwks_b, "every node publishes the same keys");
}

#[tokio::test]
async fn one_assertion_posted_to_both_nodes_at_once_makes_exactly_one_session() {
    let c = cluster();
    let on_a = Fapi::with(&c.a.base, APP_ORIGIN);
    let mut auth = SoftAuthenticator::new(APP_ORIGIN);
    on_a.sign_up_ok("alice").await;
    on_a.create_passkey(&mut auth).await;
    on_a.sign_out().await.ok();

    for round in 0..25 {
        let (sign_in_id, request) = on_a.start_sign_in().await;
        let assertion = auth.assert(&request).await.json();
        // The same browser (same client cookie) reaching both nodes through a balancer.
        let on_b = Fapi::with(&c.b.base, APP_ORIGIN);
        on_b.set_client_cookie(&on_a.client_cookie().expect("a client cookie"));
        let (ra, rb) = tokio::join!(on_a.attempt_sign_in(&sign_in_id, &assertion), on_b.attempt_sign_in(&sign_in_id, &assertion));
        let winners: Vec<&Reply> = [&ra, &rb].into_iter().filter(|r| r.status == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one node completes the sign-in: A {} / B {}", ra.text, rb.text);
        let loser = if ra.status == 200 { &rb } else { &ra };
        // Refused as a spent challenge, or (if it read the client after the winner rotated
        // the client token) as signed out; the browser keeps the winner's fresh token.
        loser.assert_error_in(&[USED_CHALLENGE, SIGNED_OUT].concat());
        let fresh = winners[0].header("set-cookie")[0].split(';').next().unwrap().trim_start_matches("__client=").to_string();
        on_a.set_client_cookie(&fresh);

        let sessions = on_a.get("/client").await.ok().resp()["sessions"].as_array().cloned().unwrap_or_default();
        assert_eq!(sessions.len(), 1, "round {round}: one live session on the client: {sessions:?}");
        on_a.sign_out().await.ok();
    }
}
