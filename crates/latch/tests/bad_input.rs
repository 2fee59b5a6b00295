//! Bad input (issue 2): malformed base64 / JSON / CBOR / UTF-8, oversized bodies, missing and
//! duplicated form fields, unknown ids. Each case: a clear 4xx with a Clerk code, nothing
//! stored changes, never a 5xx (the harness fails any 5xx), and the server keeps running.

use latch_testkit::{cbor, fapi::*, passkey::*, process::*, scene::*, webauthn::*};
use serde_json::{Value, json};

/// A sign-in started in alice's signed-out browser, plus a valid assertion for it to corrupt.
async fn sign_in_and_assertion(s: &mut Scene) -> (String, Assertion) {
    let (id, req) = s.alice.fapi.start_sign_in().await;
    let a = s.alice.auth.assert(&req).await;
    (id, a)
}

/// POST a raw body to attempt_first_factor from alice's browser and check the refusal.
async fn refused_raw(s: &mut Scene, sign_in_id: &str, body: Vec<u8>, expected: &[(u16, &str)]) -> Reply {
    let before = s.snapshot(&[]).await;
    let r = s
        .alice
        .fapi
        .send(RawRequest::post(&format!("/v1/client/sign_ins/{sign_in_id}/attempt_first_factor"), body))
        .await;
    r.assert_error_in(expected);
    assert!(s.server.is_running(), "latch died:\n{}", s.server.logs());
    s.snapshot(&[]).await.assert_same(&before);
    r
}

fn with_field(a: &Assertion, path: &[&str], value: Value) -> String {
    let mut v = a.to_value();
    let mut cur = &mut v;
    for k in &path[..path.len() - 1] {
        cur = &mut cur[*k];
    }
    cur[path[path.len() - 1]] = value;
    v.to_string()
}

// ---------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_body_is_refused_with_413() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let huge = with_field(&a, &["response", "padding"], Value::String("A".repeat(4 * 1024 * 1024)));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &huge)]);
    refused_raw(&mut s, &id, body, &[(413, "request_body_too_large")]).await;
}

#[tokio::test]
async fn oversized_sign_up_body_is_refused_with_413_and_creates_no_user() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let name = "a".repeat(4 * 1024 * 1024);
    f.post("/client/sign_ups", &[("username", &name)]).await.assert_error(413, "request_body_too_large");
    assert!(f.session_id().is_none());
    assert!(f.get("/client").await.ok().resp()["sessions"].as_array().is_none_or(|s| s.is_empty()));
}

/// A valid assertion with `[[[…]]]` nested `depth` deep under an extra key at `path`: the
/// parser has to walk it even though the field is unknown (the stack-overflow vector).
fn with_deep_extra(a: &Assertion, path: &[&str], depth: usize) -> String {
    let text = with_field(a, path, json!("__DEEP__"));
    text.replace("\"__DEEP__\"", &format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
}

#[tokio::test]
async fn deeply_nested_json_credential_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_deep_extra(&a, &["deep"], 2000);
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn deeply_nested_json_inside_the_response_object_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_deep_extra(&a, &["response", "extensions"], 2000);
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn control_moderately_nested_unknown_json_is_tolerated() {
    // Same shape, shallow: accepted, so the two refusals above are about depth.
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_deep_extra(&a, &["response", "extensions"], 8);
    let r = s.alice.fapi.attempt_sign_in(&id, &text).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn truncated_json_credential_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let j = a.json();
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &j[..j.len() / 2])]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn credential_that_is_not_a_json_object_is_refused() {
    let mut s = scene().await;
    let (id, _) = sign_in_and_assertion(&mut s).await;
    for junk in ["42", "null", "[]", "\"public-key\"", "{}"] {
        let body = form_body(&[("strategy", "passkey"), ("public_key_credential", junk)]);
        refused_raw(&mut s, &id, body, FORMAT).await;
    }
}

#[tokio::test]
async fn credential_without_a_response_object_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let mut v = a.to_value();
    v.as_object_mut().unwrap().remove("response");
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &v.to_string())]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn credential_with_wrong_json_types_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["response", "signature"], json!([1, 2, 3]));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

// ---------------------------------------------------------------------------------------------
// base64url
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_base64_in_raw_id_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["rawId"], json!("!!not*base64!!"));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn bad_base64_in_client_data_json_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["response", "clientDataJSON"], json!("ey$$$"));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn bad_base64_in_signature_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["response", "signature"], json!("MEUCIQ%%%"));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn bad_base64_in_authenticator_data_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["response", "authenticatorData"], json!("SZYN5YgO\u{e9}"));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn client_data_json_that_is_not_json_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let text = with_field(&a, &["response", "clientDataJSON"], json!(b64u(b"this is not json")));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT_OR_FAILED).await;
}

#[tokio::test]
async fn client_data_json_with_invalid_utf8_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    // An invalid byte inside the origin string value.
    let mut cd = a.client_data_json.clone();
    let at = cd.windows(9).position(|w| w == b"localhost").expect("origin in client data");
    cd.insert(at + 5, 0xff);
    let text = with_field(&a, &["response", "clientDataJSON"], json!(b64u(&cd)));
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &text)]);
    refused_raw(&mut s, &id, body, FORMAT_OR_FAILED).await;
}

// ---------------------------------------------------------------------------------------------
// CBOR (registration attestation objects)
// ---------------------------------------------------------------------------------------------

async fn refused_attestation(s: &mut Scene, attestation_object: Vec<u8>) {
    let (id, o) = s.observer.start_registration().await;
    let mut reg = s.alice.auth.register(&o).await;
    s.alice.auth.forget(&reg.id.clone());
    reg.attestation_object = attestation_object;
    let before = s.snapshot(&[]).await;
    s.observer.finish_registration(&id, &reg.json()).await.assert_error_in(FORMAT_OR_FAILED);
    assert!(s.server.is_running(), "latch died:\n{}", s.server.logs());
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn attestation_object_that_is_not_cbor_is_refused() {
    let mut s = scene().await;
    refused_attestation(&mut s, b"\xff\xff\xff definitely not cbor".to_vec()).await;
}

#[tokio::test]
async fn attestation_object_claiming_a_huge_byte_string_is_refused() {
    let mut s = scene().await;
    let mut att = vec![];
    cbor::head(&mut att, 5, 3);
    cbor::text(&mut att, "fmt");
    cbor::text(&mut att, "none");
    cbor::text(&mut att, "attStmt");
    cbor::head(&mut att, 5, 0);
    cbor::text(&mut att, "authData");
    cbor::head(&mut att, 2, u64::MAX); // a byte string of 2^64-1 bytes follows... 4 do.
    att.extend_from_slice(&[0, 0, 0, 0]);
    refused_attestation(&mut s, att).await;
}

#[tokio::test]
async fn attestation_object_claiming_a_huge_map_is_refused() {
    let mut s = scene().await;
    let mut att = vec![];
    cbor::head(&mut att, 5, u64::MAX >> 1);
    cbor::text(&mut att, "fmt");
    cbor::text(&mut att, "none");
    refused_attestation(&mut s, att).await;
}

#[tokio::test]
async fn deeply_nested_cbor_attestation_object_is_refused() {
    let mut s = scene().await;
    // 8000 nested one-element arrays.
    let mut att = vec![0x81; 8000];
    att.push(0x00);
    refused_attestation(&mut s, att).await;
}

#[tokio::test]
async fn bad_base64_in_attestation_object_is_refused() {
    let mut s = scene().await;
    let (id, o) = s.observer.start_registration().await;
    let reg = s.alice.auth.register(&o).await;
    let mut v = reg.to_value();
    v["response"]["attestationObject"] = json!("o2NmbXRkbm9uZW@@@");
    let before = s.snapshot(&[]).await;
    s.observer.finish_registration(&id, &v.to_string()).await.assert_error_in(FORMAT);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn authenticator_data_with_a_truncated_public_key_is_refused() {
    let mut s = scene().await;
    let (id, o) = s.observer.start_registration().await;
    let mut reg = s.alice.auth.register(&o).await;
    reg.edit_auth_data(|ad| {
        let n = ad.len();
        ad.truncate(n - 10)
    });
    let before = s.snapshot(&[]).await;
    s.observer.finish_registration(&id, &reg.json()).await.assert_error_in(FORMAT_OR_FAILED);
    s.snapshot(&[]).await.assert_same(&before);
}

// ---------------------------------------------------------------------------------------------
// Form encoding: UTF-8, missing and duplicated fields
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_a_form_field_is_refused() {
    let mut s = scene().await;
    let (id, _) = sign_in_and_assertion(&mut s).await;
    refused_raw(&mut s, &id, b"strategy=passkey&public_key_credential=%FF%FE%7B%7D".to_vec(), FORMAT).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_sign_up_username_is_refused() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let r = f.send(RawRequest::post("/v1/client/sign_ups", b"username=al%C3%28ice".to_vec())).await;
    r.assert_error_in(FORMAT);
    assert!(f.get("/client").await.ok().resp()["sessions"].as_array().is_none_or(|s| s.is_empty()));
}

#[tokio::test]
async fn missing_public_key_credential_is_refused_naming_the_param() {
    let mut s = scene().await;
    let (id, _) = sign_in_and_assertion(&mut s).await;
    let r = refused_raw(&mut s, &id, form_body(&[("strategy", "passkey")]), &[(422, "form_param_missing")]).await;
    assert_eq!(r.param_name(), Some("public_key_credential"), "{}", r.text);
}

#[tokio::test]
async fn missing_strategy_is_refused_naming_the_param() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let r = refused_raw(&mut s, &id, form_body(&[("public_key_credential", &a.json())]), &[(422, "form_param_missing")]).await;
    assert_eq!(r.param_name(), Some("strategy"), "{}", r.text);
}

#[tokio::test]
async fn empty_body_on_attempt_is_refused() {
    let mut s = scene().await;
    let (id, _) = sign_in_and_assertion(&mut s).await;
    refused_raw(&mut s, &id, vec![], &[(422, "form_param_missing")]).await;
}

#[tokio::test]
async fn duplicated_public_key_credential_is_refused() {
    // Two credentials in one request: which one would be checked and which one stored?
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", &a.json()), ("public_key_credential", "{}")]);
    refused_raw(&mut s, &id, body, FORMAT).await;
    // The other order too.
    let body = form_body(&[("strategy", "passkey"), ("public_key_credential", "{}"), ("public_key_credential", &a.json())]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn duplicated_strategy_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let body = form_body(&[("strategy", "passkey"), ("strategy", "password"), ("public_key_credential", &a.json())]);
    refused_raw(&mut s, &id, body, FORMAT).await;
}

#[tokio::test]
async fn unsupported_strategy_is_refused() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let body = form_body(&[("strategy", "password"), ("public_key_credential", &a.json())]);
    refused_raw(&mut s, &id, body, &[(422, "form_param_format_invalid"), (422, "strategy_for_user_invalid")]).await;
}

#[tokio::test]
async fn duplicated_username_on_sign_up_is_refused_and_creates_no_user() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let r = f.send(RawRequest::post("/v1/client/sign_ups", form_body(&[("username", "ann"), ("username", "bea")]))).await;
    r.assert_error_in(FORMAT);
    assert!(f.session_id().is_none());
    // Neither name was taken.
    Fapi::new(&server).sign_up_ok("ann").await;
    Fapi::new(&server).sign_up_ok("bea").await;
}

#[tokio::test]
async fn sign_up_without_username_is_refused_naming_the_param() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    for body in [form_body(&[("locale", "en-US")]), form_body(&[("username", "")]), form_body(&[("username", "   ")])] {
        let r = f.send(RawRequest::post("/v1/client/sign_ups", body)).await;
        r.assert_error(422, "form_param_missing");
        assert_eq!(r.param_name(), Some("username"), "{}", r.text);
    }
}

#[tokio::test]
async fn taken_username_is_refused_with_form_identifier_exists() {
    let s = scene().await;
    let f = Fapi::new(&s.server);
    let before = s.snapshot(&[]).await;
    let r = f.sign_up("alice").await;
    r.assert_error(422, "form_identifier_exists");
    assert!(f.session_id().is_none());
    // A new browser's client is stored by the sign-up itself: refused, there is none, and
    // no cookie names one.
    assert!(r.header("set-cookie").is_empty(), "{:?}", r.header("set-cookie"));
    assert!(f.client_cookie().is_none());
    s.snapshot(&[]).await.assert_same(&before);
    // The same browser's next sign-up makes its client then.
    let ok = f.sign_up("alice2").await.ok();
    assert!(f.client_cookie().is_some(), "{:?}", ok.header("set-cookie"));
    assert!(f.session_id().is_some());
}

#[tokio::test]
async fn a_refused_first_sign_in_sets_no_cookie() {
    let s = scene().await;
    let f = Fapi::new(&s.server);
    let r = f.post("/client/sign_ins", &[("identifier", "nobody-here")]).await;
    r.assert_error(422, "form_identifier_not_found");
    assert!(r.header("set-cookie").is_empty(), "{:?}", r.header("set-cookie"));
    assert!(f.client_cookie().is_none());
    // A sign-in that is created stores the client with it and hands out its cookie.
    let (sign_in_id, _) = f.start_sign_in().await;
    assert!(sign_in_id.starts_with("sia_"), "{sign_in_id}");
    assert!(f.client_cookie().is_some());
}

#[tokio::test]
async fn rename_without_a_name_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    let r = s.observer.patch(&format!("/me/passkeys/{}", s.pk_id), &[]).await;
    r.assert_error(422, "form_param_missing");
    assert_eq!(r.param_name(), Some("name"));
    s.observer.patch(&format!("/me/passkeys/{}", s.pk_id), &[("name", "  ")]).await.assert_error(422, "form_param_missing");
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn duplicated_name_on_rename_is_refused() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    s.observer
        .patch(&format!("/me/passkeys/{}", s.pk_id), &[("name", "one"), ("name", "two")])
        .await
        .assert_error_in(FORMAT);
    s.snapshot(&[]).await.assert_same(&before);
}

// ---------------------------------------------------------------------------------------------
// Unknown ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_sign_in_id_is_404() {
    let mut s = scene().await;
    let (_, a) = sign_in_and_assertion(&mut s).await;
    s.refused("sia_doesnotexist", &a.json(), NOT_FOUND).await;
    let r = s.alice.fapi.post("/client/sign_ins/sia_doesnotexist/prepare_first_factor", &[("strategy", "passkey")]).await;
    r.assert_error_in(NOT_FOUND);
}

#[tokio::test]
async fn unknown_passkey_id_is_404_for_rename_delete_and_verify() {
    let mut s = scene().await;
    let (_, o) = s.observer.start_registration().await;
    let reg = s.alice.auth.register(&o).await;
    let before = s.snapshot(&[]).await;
    s.observer.patch("/me/passkeys/pk_doesnotexist", &[("name", "x")]).await.assert_error_in(NOT_FOUND);
    s.observer.delete("/me/passkeys/pk_doesnotexist").await.assert_error_in(NOT_FOUND);
    s.observer.finish_registration("pk_doesnotexist", &reg.json()).await.assert_error_in(NOT_FOUND);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn unknown_session_id_is_404_for_touch_tokens_and_remove() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    s.observer.touch("sess_doesnotexist").await.assert_error_in(NOT_FOUND);
    s.observer.token("sess_doesnotexist").await.assert_error_in(NOT_FOUND);
    s.observer.post("/client/sessions/sess_doesnotexist/remove", &[]).await.assert_error_in(NOT_FOUND);
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn ids_with_path_tricks_are_404_not_5xx() {
    let s = scene().await;
    let before = s.snapshot(&[]).await;
    for id in ["%00", "..%2F..%2Fclient", "%27%20OR%201%3D1--", &"x".repeat(4000)] {
        let r = s.observer.patch(&format!("/me/passkeys/{id}"), &[("name", "x")]).await;
        r.assert_error_in(&[(404, "resource_not_found")]);
    }
    s.snapshot(&[]).await.assert_same(&before);
}

#[tokio::test]
async fn the_server_survives_a_burst_of_junk() {
    let mut s = scene().await;
    let (id, a) = sign_in_and_assertion(&mut s).await;
    let path = format!("/v1/client/sign_ins/{id}/attempt_first_factor");
    let junk: Vec<Vec<u8>> = vec![
        b"%".to_vec(),
        b"=&=&=&&&".to_vec(),
        b"strategy=passkey&public_key_credential=%".to_vec(),
        vec![0u8; 1000],
        (0..=255u8).collect(),
        format!("strategy=passkey&public_key_credential={}", "%7B".repeat(3000)).into_bytes(),
    ];
    for body in junk {
        let r = s.alice.fapi.send(RawRequest::post(&path, body)).await;
        r.assert_error_shape();
    }
    assert!(s.server.is_running());
    // Still works afterwards (the challenge of this sign-in may be spent: use a new one).
    let _ = a;
    let r = s.alice.fapi.sign_in(&mut s.alice.auth).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
}

// =============================================================================================
// Framework rejections reach the client in Clerk's shape (issue 15, finding 6)
// =============================================================================================

#[tokio::test]
async fn a_token_for_a_jwt_template_is_a_clerk_shaped_404_with_cors() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let sid = {
        f.sign_up_ok("templated").await;
        f.session_id().unwrap()
    };
    let r = f.post(&format!("/client/sessions/{sid}/tokens/supabase"), &[]).await;
    r.assert_error(404, "resource_not_found");
    assert!(r.body["errors"][0]["long_message"].as_str().unwrap().contains("supabase"), "names the template: {}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), [server.origin()], "CORS on the refusal");
}

#[tokio::test]
async fn extractor_and_router_rejections_are_clerk_shaped() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    // A path segment that is not UTF-8 (axum's Path extractor refuses it).
    let r = f.send(RawRequest::get("/v1/client/sign_ups/%FF%FE")).await;
    r.assert_error_shape();
    assert_eq!(r.header("content-type"), ["application/json"]);
    assert_eq!(r.header("access-control-allow-origin"), [server.origin()], "CORS on the refusal");
    // A method a non-FAPI route does not take (axum's 405).
    let mut post_jwks = RawRequest::post("/.well-known/jwks.json", vec![]);
    post_jwks.sdk_query = false;
    f.send(post_jwks).await.assert_error(404, "resource_not_found");
    // A head over 32 KiB.
    let r = f.send(RawRequest::get("/v1/environment").header("x-padding", &"p".repeat(40 * 1024))).await;
    r.assert_error(431, "request_header_fields_too_large");
}

#[tokio::test]
async fn a_json_body_with_a_duplicate_key_is_refused_like_a_form() {
    let server = LatchProcess::start();
    let f = Fapi::new(&server);
    let mut req = RawRequest::post("/v1/client/sign_ups", br#"{"username":"harmless","username":"other"}"#.to_vec());
    req.content_type = Some("application/json".into());
    let r = f.send(req).await;
    r.assert_error(422, "form_param_format_invalid");
    assert_eq!(r.param_name(), Some("username"));
    // Neither name was taken.
    Fapi::new(&server).sign_up_ok("harmless").await;
    Fapi::new(&server).sign_up_ok("other").await;
}
