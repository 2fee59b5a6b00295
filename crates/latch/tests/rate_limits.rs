//! Rate limits (issue 7): 429 `too_many_requests` with `Retry-After`, nothing stored by a
//! refused request, and one budget shared by every node on the database.

use latch_testkit::{fapi::*, process::*, scene::*};

fn assert_limited(r: &Reply) {
    r.assert_error(429, "too_many_requests");
    let retry: Vec<u64> = r.header("retry-after").iter().filter_map(|v| v.parse().ok()).collect();
    assert!(retry.first().is_some_and(|s| (1..=3600).contains(s)), "Retry-After in seconds: {:?}", r.header("retry-after"));
}

#[tokio::test]
async fn sign_in_creation_is_limited_per_client() {
    let server = LatchProcess::start_with(&["--rate-limit-client-per-minute", "3"]);
    let fapi = Fapi::new(&server);
    // The first request comes without a client (it counts against the address's client-less
    // budget); the browser's own budget then allows three.
    for _ in 0..4 {
        fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    }
    let before = fapi.get("/client").await.ok().resp()["sign_in"]["id"].clone();
    assert_limited(&fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await);
    let after = fapi.get("/client").await.ok().resp()["sign_in"]["id"].clone();
    assert_eq!(before, after, "a refused sign-in creates nothing");
    // Another browser from the same address still has its own per-client budget.
    let other = Fapi::new(&server);
    other.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_ip() {
    let server = LatchProcess::start_with(&["--rate-limit-ip-per-minute", "4"]);
    // Four browsers on one address: the fifth sign-in request from that address is refused.
    for i in 0..4 {
        let f = Fapi::new(&server);
        let r = f.post("/client/sign_ins", &[("strategy", "passkey")]).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
    }
    assert_limited(&Fapi::new(&server).post("/client/sign_ins", &[("strategy", "passkey")]).await);
}

#[tokio::test]
async fn handshakes_are_limited_per_ip() {
    let server = LatchProcess::start_with(&["--rate-limit-ip-per-minute", "2"]);
    let browser = Fapi::new(&server);
    let handshake = || {
        let mut r = RawRequest::get("/v1/client/handshake").no_session_param().origin(OriginHeader::None);
        r.sdk_query = false;
        r.query("redirect_url", &format!("{}/page", server.origin())).query("format", "nonce")
    };
    for _ in 0..2 {
        assert_eq!(browser.send(handshake()).await.status, 307);
    }
    let refused = browser.send(handshake()).await;
    assert_limited(&refused);
    assert!(refused.header("location").is_empty(), "no nonce for a refused handshake");
}

#[tokio::test]
async fn passkey_creation_is_limited_per_user() {
    let server = LatchProcess::start_with(&["--rate-limit-passkeys-per-hour", "2"]);
    let alice = Person::sign_up(&server, "alice").await;
    alice.fapi.start_registration().await;
    alice.fapi.start_registration().await;
    assert_limited(&alice.fapi.post("/me/passkeys", &[]).await);
    assert!(alice.fapi.passkeys().await.is_empty());
}

#[tokio::test]
async fn nodes_on_one_database_share_the_budget() {
    let a = LatchProcess::start_with(&["--origin", "http://localhost:5555", "--rate-limit-client-per-minute", "4"]);
    let b = LatchProcess::join(&a, &["--origin", "http://localhost:5555", "--rate-limit-client-per-minute", "4"]);
    let fapi = Fapi::with(&a.base, "http://localhost:5555");
    // The first, client-less request counts against the address's client-less budget.
    fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    fapi.set_base(&b.base);
    fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
    assert_limited(&fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await);
    fapi.set_base(&a.base);
    assert_limited(&fapi.post("/client/sign_ins", &[("strategy", "passkey")]).await);
}

#[tokio::test]
async fn cookie_less_callers_share_one_per_client_budget_per_address() {
    let server = LatchProcess::start_with(&["--rate-limit-client-per-minute", "3"]);
    // Each request without a client would make a new client, with a fresh budget of its own.
    for i in 0..3 {
        let r = Fapi::new(&server).post("/client/sign_ins", &[("strategy", "passkey")]).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.text);
    }
    assert_limited(&Fapi::new(&server).post("/client/sign_ins", &[("strategy", "passkey")]).await);
}

#[tokio::test]
async fn sign_ups_have_a_budget_of_their_own() {
    let server = LatchProcess::start_with(&["--rate-limit-sign-ups-per-hour", "2"]);
    Fapi::new(&server).sign_up_ok("first").await;
    Fapi::new(&server).sign_up_ok("second").await;
    let refused = Fapi::new(&server);
    assert_limited(&refused.sign_up("third").await);
    assert!(refused.get("/client").await.ok().resp().is_null(), "a refused sign-up stores no client");
    // Sign-ins from the same address are not affected.
    Fapi::new(&server).post("/client/sign_ins", &[("strategy", "passkey")]).await.ok();
}
