//! `__client_uat` and the handshake, black-box (docs/protocol.md §14): the real binary over HTTP,
//! on SQLite or (with `LATCH_TEST_BACKEND=postgres`) PostgreSQL.
//!
//! - Every answer that shows a browser's client sets `__client_uat` and `__client_uat_<suffix>`:
//!   `0` signed out, the active session's creation second signed in, and every token the
//!   client gets has `iat >= uat`; sign-up, sign-in, touch, remove, sign-out and a Backend API
//!   revocation each move it as they should.
//! - `Domain` is the cookie domain on hosts inside it, and absent elsewhere.
//! - `GET /v1/client/handshake` sends a nonce only to an allowed origin (no open redirect);
//!   the Backend API hands out its directives once, and not after 30 seconds.

use latch_testkit::fapi::{Fapi, OriginHeader, RawRequest, Reply};
use latch_testkit::jwt::verify_jwt;
use latch_testkit::passkey::SoftAuthenticator;
use latch_testkit::process::LatchProcess;
use serde_json::Value;

/// The `__client_uat` value of an answer, checking that the plain and suffixed cookies agree.
fn uat(reply: &Reply) -> i64 {
    let set = reply.header("set-cookie");
    let values: Vec<(String, String)> = set
        .iter()
        .filter(|c| c.starts_with("__client_uat"))
        .map(|c| {
            let (name, rest) = c.split_once('=').unwrap();
            (name.to_string(), rest.split(';').next().unwrap().to_string())
        })
        .collect();
    assert_eq!(values.len(), 2, "both __client_uat and __client_uat_<suffix>: {set:?}");
    assert_eq!(values[0].0, "__client_uat");
    assert!(values[1].0.starts_with("__client_uat_") && values[1].0.len() == "__client_uat_".len() + 8, "{set:?}");
    assert_eq!(values[0].1, values[1].1, "{set:?}");
    values[0].1.parse().unwrap()
}

/// Every session token an answer's client carries.
fn tokens_of(reply: &Reply) -> Vec<String> {
    let sessions = reply.client()["sessions"].as_array().cloned().unwrap_or_default();
    sessions.iter().filter_map(|s| s["last_active_token"]["jwt"].as_str().map(str::to_string)).collect()
}

async fn iat_of(fapi: &Fapi, jwt: &str) -> i64 {
    verify_jwt(fapi, jwt).await["iat"].as_i64().unwrap()
}

fn secret_key(server: &LatchProcess) -> String {
    let out = server.command(&["keys", "create", "--label", "test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Backend API GET, as @clerk/backend sends it.
async fn bapi(server: &LatchProcess, key: &str, path: &str) -> Reply {
    let mut r = RawRequest::get(&format!("/bapi/v1{path}")).no_session_param().header("authorization", &format!("Bearer {key}"));
    r.sdk_query = false;
    r.origin = OriginHeader::None;
    r.content_type = Some("application/json".into());
    Fapi::new(server).send(r).await
}

async fn bapi_post(server: &LatchProcess, key: &str, path: &str) -> Reply {
    let mut r = RawRequest::post(&format!("/bapi/v1{path}"), Vec::new()).no_session_param().header("authorization", &format!("Bearer {key}"));
    r.sdk_query = false;
    r.origin = OriginHeader::None;
    r.content_type = Some("application/json".into());
    Fapi::new(server).send(r).await
}

#[tokio::test]
async fn client_uat_follows_every_change_of_the_clients_sign_in_state() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let browser = Fapi::new(&server);
    let mut device = SoftAuthenticator::for_server(&server);

    // No client yet: signed out.
    assert_eq!(uat(&browser.get("/client").await.ok()), 0);

    // Sign-up: the new session's second; its token is not older.
    let signed_up = browser.sign_up("carol").await.ok();
    let first = uat(&signed_up);
    let now_secs = latch_testkit::fapi::now_ms() / 1000;
    assert!(first > 0 && (now_secs - first).abs() < 60, "{first} vs {now_secs}");
    for jwt in tokens_of(&signed_up) {
        assert!(iat_of(&browser, &jwt).await >= first);
    }
    let sid = browser.session_id().expect("signed in");

    // Touch and GET /client: the state has not changed, nor has the value.
    assert_eq!(uat(&browser.touch(&sid).await.ok()), first);
    assert_eq!(uat(&browser.get("/client").await.ok()), first);
    // Adding a passkey is no sign-in change either.
    let shown = browser.create_passkey(&mut device).await;
    assert!(shown.0["id"].is_string());
    assert_eq!(uat(&browser.get("/client").await.ok()), first);

    // Sign-out: 0.
    assert_eq!(uat(&browser.sign_out().await.ok()), 0);

    // Sign-in (a second later at least, so the new session's second differs): a newer value,
    // and every token of the client is at least as new.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let signed_in = browser.sign_in(&mut device).await.ok();
    let second = uat(&signed_in);
    assert!(second > first, "{second} > {first}");
    for jwt in tokens_of(&signed_in) {
        assert!(iat_of(&browser, &jwt).await >= second);
    }
    let sid = signed_in.resp()["created_session_id"].as_str().unwrap().to_string();
    browser.set_session(Some(sid.clone()));
    let touched = browser.touch(&sid).await.ok();
    assert_eq!(uat(&touched), second);
    let token = browser.token(&sid).await.ok();
    assert!(iat_of(&browser, token.body["jwt"].as_str().unwrap()).await >= second);

    // Removing the session: 0.
    assert_eq!(uat(&browser.post(&format!("/client/sessions/{sid}/remove"), &[]).await.ok()), 0);

    // Signed in again, then revoked over the Backend API: the client's next answer says 0.
    let again = browser.sign_in(&mut device).await.ok();
    assert!(uat(&again) > 0);
    let sid = again.resp()["created_session_id"].as_str().unwrap().to_string();
    bapi_post(&server, &key, &format!("/sessions/{sid}/revoke")).await.ok();
    assert_eq!(uat(&browser.get("/client").await.ok()), 0);

    // A native app gets no app cookies at all.
    let native = Fapi::new(&server);
    let r = native.send(RawRequest::get("/v1/client").query("_is_native", "1").origin(OriginHeader::None)).await.ok();
    assert!(r.header("set-cookie").is_empty(), "{:?}", r.header("set-cookie"));
}

#[tokio::test]
async fn client_uat_names_the_cookie_domain_only_on_hosts_inside_it() {
    // X-Forwarded-Proto counts only from the operator's own proxy.
    let server = LatchProcess::start_with(&["--cookie-domain", "example.com", "--trust-forwarded-for"]);
    let browser = Fapi::new(&server);
    let with_host = |host: &str| RawRequest::get("/v1/client").header("host", host);
    for (host, domain) in [("latch.example.com", true), ("example.com", true), ("latch.example.org", false), ("localhost", false)] {
        let r = browser.send(with_host(host)).await.ok();
        let set = r.header("set-cookie");
        let uat_cookies: Vec<_> = set.iter().filter(|c| c.starts_with("__client_uat")).collect();
        assert_eq!(uat_cookies.len(), 2, "{set:?}");
        for c in uat_cookies {
            assert_eq!(c.contains("; Domain=example.com"), domain, "{host}: {c}");
            assert!(c.contains("Path=/") && c.contains("SameSite=Lax") && c.contains("Max-Age=31536000"), "{c}");
            assert!(!c.to_ascii_lowercase().contains("httponly"), "{c}");
        }
    }
    // An https page gets Secure.
    let r = browser.send(with_host("latch.example.com").header("x-forwarded-proto", "https")).await.ok();
    assert!(r.header("set-cookie").iter().filter(|c| c.starts_with("__client_uat")).all(|c| c.ends_with("; Secure")));
}

/// `GET /v1/client/handshake` as a browser follows the SDK's redirect: a top-level GET with the
/// browser's own cookies and no `Origin`.
async fn handshake(browser: &Fapi, redirect_url: Option<&str>) -> Reply {
    let mut r = RawRequest::get("/v1/client/handshake").no_session_param().origin(OriginHeader::None);
    r.sdk_query = false;
    if let Some(url) = redirect_url {
        r = r.query("redirect_url", url).query("__clerk_api_version", "2026-05-12").query("suffixed_cookies", "false");
    }
    browser.send(r.query("__clerk_hs_reason", "session-token-expired").query("format", "nonce")).await
}

/// The nonce a handshake's redirect carries, checking the rest of the redirect.
fn nonce_of(reply: &Reply, page: &str) -> String {
    assert_eq!(reply.status, 307, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), ["no-store"]);
    let location = url::Url::parse(&reply.header("location")[0]).unwrap();
    let page = url::Url::parse(page).unwrap();
    assert_eq!(location.origin(), page.origin());
    assert_eq!(location.path(), page.path());
    let nonces: Vec<String> =
        location.query_pairs().filter(|(k, _)| k == "__clerk_handshake_nonce").map(|(_, v)| v.into_owned()).collect();
    assert_eq!(nonces.len(), 1, "{location}");
    nonces[0].clone()
}

/// The value a directive sets, by exact cookie name.
fn directive<'a>(directives: &'a [Value], name: &str) -> Option<&'a str> {
    directives.iter().filter_map(Value::as_str).find_map(|d| d.strip_prefix(&format!("{name}=")))
}

#[tokio::test]
async fn a_handshake_hands_the_signed_in_state_to_the_apps_server_once() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let browser = Fapi::new(&server);
    let signed_up = browser.sign_up("dave").await.ok();
    let client_uat = uat(&signed_up);
    let sid = browser.session_id().unwrap();
    let page = format!("{}/dashboard?tab=2&__clerk_handshake_nonce=old", browser.origin());

    let nonce = nonce_of(&handshake(&browser, Some(&page)).await, &page);
    let payload = bapi(&server, &key, &format!("/clients/handshake_payload?nonce={nonce}")).await.ok();
    let directives = payload.body["directives"].as_array().unwrap().clone();
    let session = directive(&directives, "__session").unwrap().split(';').next().unwrap().to_string();
    let claims = verify_jwt(&browser, &session).await;
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["azp"], browser.origin().as_str(), "azp is the app page's origin");
    assert!(claims["iat"].as_i64().unwrap() >= client_uat);
    assert_eq!(directive(&directives, "__client_uat").unwrap().split(';').next().unwrap(), client_uat.to_string());
    assert_eq!(directives.iter().filter(|d| d.as_str().unwrap().starts_with("__session_")).count(), 1, "{directives:?}");
    assert_eq!(directives.iter().filter(|d| d.as_str().unwrap().starts_with("__client_uat_")).count(), 1, "{directives:?}");

    // Once: a second call, an unknown nonce, no nonce.
    bapi(&server, &key, &format!("/clients/handshake_payload?nonce={nonce}")).await.assert_error(404, "resource_not_found");
    bapi(&server, &key, "/clients/handshake_payload?nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await.assert_error(404, "resource_not_found");
    bapi(&server, &key, "/clients/handshake_payload").await.assert_error(422, "form_param_missing");
    // Only with a secret key.
    let nonce = nonce_of(&handshake(&browser, Some(&page)).await, &page);
    bapi(&server, "sk_live_wrong", &format!("/clients/handshake_payload?nonce={nonce}")).await.assert_error(401, "clerk_key_invalid");
    // (The refused call did not spend it.)
    bapi(&server, &key, &format!("/clients/handshake_payload?nonce={nonce}")).await.ok();

    // Signed out: the directives clear the session cookies and zero the uat.
    browser.sign_out().await.ok();
    let nonce = nonce_of(&handshake(&browser, Some(&page)).await, &page);
    let payload = bapi(&server, &key, &format!("/clients/handshake_payload?nonce={nonce}")).await.ok();
    let directives = payload.body["directives"].as_array().unwrap().clone();
    assert!(directive(&directives, "__session").unwrap().starts_with("; Path=/; Max-Age=0"), "{directives:?}");
    assert!(directive(&directives, "__client_uat").unwrap().starts_with("0;"), "{directives:?}");
    // A browser Latch has never seen is signed out too.
    let stranger = Fapi::new(&server);
    let nonce = nonce_of(&handshake(&stranger, Some(&page)).await, &page);
    let payload = bapi(&server, &key, &format!("/clients/handshake_payload?nonce={nonce}")).await.ok();
    assert!(directive(payload.body["directives"].as_array().unwrap(), "__client_uat").unwrap().starts_with("0;"));
}

#[tokio::test]
async fn a_handshake_never_redirects_off_the_allowed_origins() {
    let server = LatchProcess::start();
    let browser = Fapi::new(&server);
    browser.sign_up_ok("erin").await;
    let port = server.port;
    let foreign = [
        "https://evil.example.com/".to_string(),
        format!("http://localhost:{}/", port + 1),
        format!("https://localhost:{port}/"),
        "//evil.example.com/".into(),
        "/relative".into(),
        "javascript:alert(1)".into(),
        format!("http://user:pass@localhost:{port}/"),
        format!("http://localhost:{port}.evil.example.com/"),
        "%%%".into(),
    ];
    for url in &foreign {
        let r = handshake(&browser, Some(url)).await;
        r.assert_error(422, "form_param_format_invalid");
        assert_eq!(r.param_name(), Some("redirect_url"), "{url}");
        assert!(r.header("location").is_empty(), "{url}: {:?}", r.header("location"));
    }
    handshake(&browser, None).await.assert_error(422, "form_param_missing");
}

#[tokio::test]
async fn a_nonce_left_waiting_past_thirty_seconds_is_refused() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let browser = Fapi::new(&server);
    browser.sign_up_ok("frank").await;
    let page = format!("{}/", browser.origin());
    let late = nonce_of(&handshake(&browser, Some(&page)).await, &page);
    let in_time = nonce_of(&handshake(&browser, Some(&page)).await, &page);
    bapi(&server, &key, &format!("/clients/handshake_payload?nonce={in_time}")).await.ok();
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    bapi(&server, &key, &format!("/clients/handshake_payload?nonce={late}")).await.assert_error(404, "resource_not_found");
}
