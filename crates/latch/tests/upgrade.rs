//! What a page needs to offer a passkey on this device (docs/protocol.md §20.1): every session
//! says how it was signed in (`sign_in_strategy`) and, for a passkey sign-in, where the
//! browser said the authenticator was (`sign_in_authenticator_attachment`), in FAPI's client
//! and the Backend API's sessions alike. The attachment is the browser's unsigned word: a
//! value WebAuthn does not define is shown as null, never refused. Runs on SQLite and
//! PostgreSQL (LATCH_TEST_BACKEND).

use latch_testkit::bapi::{Bapi, secret_key};
use latch_testkit::{fapi::*, process::*, scene::*};
use serde_json::{Value, json};

/// The session `sid` as FAPI's client `reply` and the Backend API's listing show it: the
/// two extension fields of each.
async fn how_signed_in(bapi: &Bapi, user_id: &str, reply: &Reply, sid: &str) -> [Value; 2] {
    let fapi = reply.client()["sessions"].as_array().unwrap().iter().find(|s| s["id"] == sid).cloned().unwrap();
    let listed = bapi.call("GET", &format!("/sessions?user_id={user_id}&limit=100"), None).await.ok().body;
    let backend = listed.as_array().unwrap().iter().find(|s| s["id"] == sid).cloned().unwrap();
    let fields = |s: &Value| json!([s["sign_in_strategy"], s["sign_in_authenticator_attachment"]]);
    assert_eq!(fields(&fapi), fields(&backend), "FAPI and the Backend API agree on {sid}");
    [fapi["sign_in_strategy"].clone(), fapi["sign_in_authenticator_attachment"].clone()]
}

#[tokio::test]
async fn each_session_says_how_it_was_signed_in() {
    let server = LatchProcess::start();
    let bapi = Bapi::new(&server, &secret_key(&server));
    let (mut alice, _, _) = Person::with_passkey(&server, "alice").await;

    // A sign-up's session: no sign-in made it.
    let r = alice.fapi.get("/client").await.ok();
    let sid = alice.fapi.session_id().unwrap();
    assert_eq!(how_signed_in(&bapi, &alice.user_id, &r, &sid).await, [Value::Null, Value::Null]);

    // Passkey sign-ins, the attachment as the browser said it.
    for (sent, shown) in [
        (Some("cross-platform"), json!("cross-platform")),
        (Some("platform"), json!("platform")),
        (None, Value::Null),
        (Some("roaming"), Value::Null),
    ] {
        alice.fapi.sign_out().await.ok();
        let (id, request) = alice.fapi.start_sign_in().await;
        let mut a = alice.auth.assert(&request).await;
        a.attachment = sent.map(str::to_string);
        let r = alice.fapi.attempt_sign_in(&id, &a.json()).await.ok();
        assert_eq!(r.resp()["status"], "complete", "{sent:?}: {}", r.text);
        let sid = r.resp()["created_session_id"].as_str().unwrap();
        assert_eq!(how_signed_in(&bapi, &alice.user_id, &r, sid).await, [json!("passkey"), shown.clone()], "{sent:?}");
        // Read back later (GET /client), not only in the sign-in's own answer.
        let again = alice.fapi.get("/client").await.ok();
        assert_eq!(how_signed_in(&bapi, &alice.user_id, &again, sid).await[1], shown, "{sent:?}, read again");
    }

    // A sign-in token (the recovery link).
    alice.fapi.sign_out().await.ok();
    let issued = bapi.call("POST", "/sign_in_tokens", Some(json!({"user_id": alice.user_id}))).await.ok().body;
    let r = alice.fapi.post("/client/sign_ins", &[("strategy", "ticket"), ("ticket", issued["token"].as_str().unwrap())]).await.ok();
    let sid = r.resp()["created_session_id"].as_str().unwrap();
    assert_eq!(how_signed_in(&bapi, &alice.user_id, &r, sid).await, [json!("ticket"), Value::Null]);
}
