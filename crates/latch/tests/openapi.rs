//! The Backend API's OpenAPI 3.1 document against the real server, on both databases
//! (`LATCH_TEST_BACKEND=postgres` for PostgreSQL).
//!
//! - The document is served without a key at `/bapi/v1/openapi.json`, and `latch openapi`
//!   prints the same document.
//! - Routes: every documented operation reaches a handler (never the router's "no endpoint"
//!   fallback), every other method on a documented path does reach that fallback, and every
//!   documented operation is driven below (success and each error it documents). The router
//!   is built from the same annotations (`bapi::api`, whose unit test refuses an undocumented
//!   `.route`), so a route cannot be served without being documented.
//! - Every real answer (status and body) validates against the schema the document gives for
//!   that operation and status, `#/components/schemas` references resolved, as JSON Schema
//!   2020-12 (what OpenAPI 3.1 schemas are), with the `jsonschema` crate.
//! - The check itself is strict: an answer with an extra field where the schema says
//!   `additionalProperties: false`, a field of another type, or a field missing, fails.

use std::collections::BTreeSet;

use latch_testkit::bapi::{Bapi, secret_key};
use latch_testkit::fapi::{Fapi, OriginHeader, RawRequest, Reply};
use latch_testkit::passkey::SoftAuthenticator;
use latch_testkit::process::LatchProcess;
use serde_json::{Value, json};

/// Errors every route documents (added by `bapi/docs.rs`), not each route's own.
const SHARED_STATUSES: &[&str] = &["401", "403", "408", "413", "431", "500"];

/// The served document and what the test has checked against it.
struct Contract {
    document: Value,
    /// (method, path template, status) of every answer validated.
    checked: BTreeSet<(String, String, String)>,
}

impl Contract {
    fn new(document: Value) -> Self {
        assert_eq!(document["openapi"], "3.1.0", "an OpenAPI 3.1 document");
        Contract { document, checked: BTreeSet::new() }
    }

    /// Every documented (method, path template), methods upper-case.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let mut all = BTreeSet::new();
        for (path, item) in self.document["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                    all.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        all
    }

    /// The schema the document gives for this operation's answer with this status.
    fn response_schema(&self, method: &str, template: &str, status: u16) -> Result<Value, String> {
        let operation = &self.document["paths"][template][method.to_lowercase()];
        if !operation.is_object() {
            return Err(format!("{method} {template} is not documented"));
        }
        let response = &operation["responses"][status.to_string()];
        if !response.is_object() {
            return Err(format!("{method} {template} answered {status}, a status its document does not list"));
        }
        let schema = &response["content"]["application/json"]["schema"];
        if !schema.is_object() {
            return Err(format!("{method} {template} {status}: no application/json schema"));
        }
        Ok(schema.clone())
    }

    /// Validates `body` against `schema` as JSON Schema 2020-12, with the document's
    /// components beside it so `#/components/schemas/…` references resolve.
    fn validate(&self, schema: &Value, body: &Value) -> Result<(), String> {
        let mut root = schema.clone();
        let object = root.as_object_mut().ok_or("a schema is an object")?;
        object.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        object.insert("components".into(), self.document["components"].clone());
        let validator = jsonschema::draft202012::new(&root).map_err(|e| format!("the document's schema does not compile: {e}"))?;
        let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
    }

    /// Checks a real answer against the document (status listed, exact JSON content type,
    /// body valid) and records it; returns it for the test to read on.
    fn check(&mut self, method: &str, template: &str, reply: Reply) -> Reply {
        assert_eq!(reply.header("content-type"), ["application/json"], "{method} {template}: {}", reply.text);
        let schema = self.response_schema(method, template, reply.status).unwrap_or_else(|e| panic!("{e}: {}", reply.text));
        if let Err(e) = self.validate(&schema, &reply.body) {
            panic!("{method} {template} {}: the answer does not match the document: {e}\n{}", reply.status, reply.text);
        }
        self.checked.insert((method.to_string(), template.to_string(), reply.status.to_string()));
        reply
    }

    /// Every documented operation was checked with each status it documents itself (the
    /// shared ones need only be seen once, anywhere).
    fn assert_all_checked(&self) {
        let mut missing = Vec::new();
        for (method, path) in self.operations() {
            let responses = self.document["paths"][&path][method.to_lowercase()]["responses"].as_object().unwrap().clone();
            for status in responses.keys().filter(|s| !SHARED_STATUSES.contains(&s.as_str())) {
                if !self.checked.contains(&(method.clone(), path.clone(), status.clone())) {
                    missing.push(format!("{method} {path} {status}"));
                }
            }
        }
        assert!(missing.is_empty(), "documented answers never driven by this test: {missing:?}");
        assert!(self.checked.iter().any(|(_, _, status)| status == "401"), "the shared 401 was checked");
    }
}

async fn served_document(server: &LatchProcess) -> Value {
    let mut r = RawRequest::get("/bapi/v1/openapi.json").no_session_param();
    r.sdk_query = false;
    r.origin = OriginHeader::None;
    let reply = Fapi::new(server).send(r).await;
    assert_eq!(reply.status, 200, "served without a key: {}", reply.text);
    assert_eq!(reply.header("content-type"), ["application/json"]);
    reply.body
}

/// A concrete path for a template: every `{parameter}` filled with `value`.
fn fill(template: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The router's answer to a path or method it does not serve.
fn is_router_fallback(reply: &Reply) -> bool {
    reply.status == 404 && reply.body["errors"][0]["long_message"] == "No endpoint was found with this id."
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let document = served_document(&server).await;

    let printed = std::process::Command::new(latch_testkit::process::latch_binary()).arg("openapi").output().unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let printed: Value = serde_json::from_slice(&printed.stdout).expect("`latch openapi` prints JSON");
    assert_eq!(printed, document, "`latch openapi` prints the served document");

    let contract = Contract::new(document);
    let operations = contract.operations();
    assert!(operations.len() >= 13, "{operations:?}");
    let bapi = Bapi::new(&server, &key);
    let paths: BTreeSet<&String> = operations.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            let reply = bapi.call(method, &fill(path, "probe_0000"), Some(json!({}))).await;
            let documented = operations.contains(&(method.to_string(), path.clone()));
            assert_eq!(
                !is_router_fallback(&reply),
                documented,
                "{method} {path}: {} (documented: {documented})",
                reply.text
            );
        }
    }
}

#[tokio::test]
async fn every_documented_answer_matches_the_real_one() {
    let server = LatchProcess::start_with(&["--webhook-poll-ms", "20"]);
    let key = secret_key(&server);
    let mut c = Contract::new(served_document(&server).await);
    let bapi = Bapi::new(&server, &key);
    // A webhook endpoint nobody listens on: the sign-ups below leave pending deliveries.
    let added = server.command(&["webhooks", "add", "http://127.0.0.1:9/hooks"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // The server learns of a new endpoint at its next poll (20 ms here).
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // Two users, one with a passkey and a signed-in session, metadata set.
    let browser = Fapi::new(&server);
    let mut auth = SoftAuthenticator::for_server(&server);
    let alice = browser.sign_up_ok("alice").await;
    let (passkey, _) = browser.create_passkey(&mut auth).await;
    let passkey_id = passkey["id"].as_str().unwrap().to_string();
    let bob_browser = Fapi::new(&server);
    let bob = bob_browser.sign_up_ok("bob").await;

    // Without a key, the shared 401.
    c.check("GET", "/users", Bapi::new(&server, "").call("GET", "/users", None).await);

    c.check("GET", "/jwks", bapi.call("GET", "/jwks", None).await.ok());

    // The handshake payload: a real nonce from a handshake, then the same once more, and none.
    let page = format!("{}/dashboard", browser.origin());
    let mut r = RawRequest::get("/v1/client/handshake").no_session_param().origin(OriginHeader::None);
    r.sdk_query = false;
    r = r.query("redirect_url", &page).query("__clerk_api_version", "2026-05-12").query("suffixed_cookies", "false");
    let redirect = browser.send(r.query("__clerk_hs_reason", "session-token-expired").query("format", "nonce")).await;
    assert_eq!(redirect.status, 307, "{}", redirect.text);
    let location = url::Url::parse(&redirect.header("location")[0]).unwrap();
    let nonce = location.query_pairs().find(|(k, _)| k == "__clerk_handshake_nonce").unwrap().1.into_owned();
    let template = "/clients/handshake_payload";
    c.check("GET", template, bapi.call("GET", &format!("{template}?nonce={nonce}"), None).await.ok());
    c.check("GET", template, bapi.call("GET", &format!("{template}?nonce={nonce}"), None).await);
    c.check("GET", template, bapi.call("GET", template, None).await);

    // Users: listing, counting, one, metadata.
    let listed = c.check("GET", "/users", bapi.call("GET", "/users?limit=10", None).await.ok());
    assert_eq!(listed.body.as_array().unwrap().len(), 2);
    c.check("GET", "/users", bapi.call("GET", "/users?limit=0", None).await).assert_error(422, "form_param_format_invalid");
    c.check("GET", "/users/count", bapi.call("GET", "/users/count", None).await.ok());
    let many: String = (0..101).map(|i| format!("user_id=user_{i}&")).collect();
    c.check("GET", "/users/count", bapi.call("GET", &format!("/users/count?{many}"), None).await)
        .assert_error(422, "form_param_format_invalid");
    let user = c.check("GET", "/users/{id}", bapi.call("GET", &format!("/users/{alice}"), None).await.ok());
    assert_eq!(user.body["passkeys"][0]["id"], passkey_id.as_str(), "a user with a passkey was validated");
    c.check("GET", "/users/{id}", bapi.call("GET", "/users/user_nobody", None).await).assert_error(404, "resource_not_found");
    let metadata = json!({ "public_metadata": { "plan": "pro", "seats": 3 }, "private_metadata": { "note": [1, 2] } });
    let t = "/users/{id}/metadata";
    c.check("PATCH", t, bapi.call("PATCH", &format!("/users/{alice}/metadata"), Some(metadata.clone())).await.ok());
    c.check("PATCH", t, bapi.call("PATCH", "/users/user_nobody/metadata", Some(metadata)).await).assert_error(404, "resource_not_found");
    c.check("PATCH", t, bapi.call("PATCH", &format!("/users/{alice}/metadata"), Some(json!({ "public_metadata": 7 }))).await)
        .assert_error(422, "form_param_format_invalid");

    // Sessions: both listing shapes, a revocation, a second one, an unknown one.
    let t = "/sessions";
    let page = c.check("GET", t, bapi.call("GET", &format!("/sessions?user_id={alice}&paginated=true"), None).await.ok());
    assert_eq!(page.body["total_count"], 1, "{}", page.text);
    let plain = c.check("GET", t, bapi.call("GET", &format!("/sessions?user_id={bob}"), None).await.ok());
    let bob_session = plain.body[0]["id"].as_str().unwrap().to_string();
    c.check("GET", t, bapi.call("GET", "/sessions?status=sleeping", None).await).assert_error(422, "form_param_format_invalid");
    let t = "/sessions/{id}/revoke";
    let revoked = c.check("POST", t, bapi.call("POST", &format!("/sessions/{bob_session}/revoke"), None).await.ok());
    assert_eq!(revoked.body["status"], "revoked");
    c.check("POST", t, bapi.call("POST", &format!("/sessions/{bob_session}/revoke"), None).await).assert_error(400, "session_not_active");
    c.check("POST", t, bapi.call("POST", "/sessions/sess_nobody/revoke", None).await).assert_error(404, "resource_not_found");
    // One session by id, live and over; a token for a live one, none for an ended one, none
    // from a template.
    let alice_session = page.body["data"][0]["id"].as_str().unwrap().to_string();
    let t = "/sessions/{id}";
    c.check("GET", t, bapi.call("GET", &format!("/sessions/{alice_session}"), None).await.ok());
    assert_eq!(c.check("GET", t, bapi.call("GET", &format!("/sessions/{bob_session}"), None).await.ok()).body["status"], "revoked");
    c.check("GET", t, bapi.call("GET", "/sessions/sess_nobody", None).await).assert_error(404, "resource_not_found");
    let t = "/sessions/{id}/tokens";
    let token = c.check("POST", t, bapi.call("POST", &format!("/sessions/{alice_session}/tokens"), Some(json!({ "expires_in_seconds": 30 }))).await.ok());
    assert!(token.body["jwt"].is_string(), "{}", token.text);
    c.check("POST", t, bapi.call("POST", &format!("/sessions/{bob_session}/tokens"), None).await).assert_error(404, "resource_not_found");
    c.check("POST", t, bapi.call("POST", &format!("/sessions/{alice_session}/tokens"), Some(json!({ "expires_in_seconds": 0 }))).await)
        .assert_error(422, "form_param_format_invalid");
    let t = "/sessions/{id}/tokens/{template}";
    c.check("POST", t, bapi.call("POST", &format!("/sessions/{alice_session}/tokens/hasura"), None).await).assert_error(404, "resource_not_found");

    // Sign-in tokens: issued, refused, revoked, revoked again.
    let t = "/sign_in_tokens";
    let issued = c.check("POST", t, bapi.call("POST", t, Some(json!({ "user_id": alice, "expires_in_seconds": 600 }))).await.ok());
    assert!(issued.body["token"].is_string());
    let token_id = issued.body["id"].as_str().unwrap().to_string();
    c.check("POST", t, bapi.call("POST", t, Some(json!({}))).await).assert_error(422, "form_param_missing");
    let t = "/sign_in_tokens/{id}/revoke";
    let revoked = c.check("POST", t, bapi.call("POST", &format!("/sign_in_tokens/{token_id}/revoke"), None).await.ok());
    assert!(revoked.body["token"].is_null());
    let again = c.check("POST", t, bapi.call("POST", &format!("/sign_in_tokens/{token_id}/revoke"), None).await.ok());
    assert_eq!(again.body["status"], "revoked", "revoking twice answers the same");
    c.check("POST", t, bapi.call("POST", "/sign_in_tokens/sit_nobody/revoke", None).await).assert_error(404, "resource_not_found");

    // Latch's operations routes: the audit trail, a user's passkeys in detail, the webhook
    // deliveries and a replay.
    let t = "/audit_events";
    let trail = c.check("GET", t, bapi.call("GET", &format!("/audit_events?user_id={alice}&limit=5"), None).await.ok());
    assert!(trail.body["total_count"].as_u64().unwrap() >= 2, "{}", trail.text);
    c.check("GET", t, bapi.call("GET", "/audit_events?since=yesterday", None).await).assert_error(422, "form_param_format_invalid");
    let t = "/passkeys";
    let detailed = c.check("GET", t, bapi.call("GET", &format!("/passkeys?user_id={alice}"), None).await.ok());
    assert_eq!(detailed.body["data"][0]["id"], passkey_id.as_str(), "{}", detailed.text);
    // The software authenticator writes Apple Passwords' AAGUID: named, with its icons.
    let detail = &detailed.body["data"][0];
    assert_eq!(detail["authenticator_name"], "Apple Passwords");
    for icon in ["authenticator_icon_light", "authenticator_icon_dark"] {
        assert!(detail[icon].as_str().is_some_and(|uri| uri.starts_with("data:image/svg+xml;base64,")), "{icon}: {}", detail[icon]);
    }
    c.check("GET", t, bapi.call("GET", "/passkeys?user_id=user_nobody", None).await).assert_error(404, "resource_not_found");
    c.check("GET", t, bapi.call("GET", "/passkeys", None).await).assert_error(422, "form_param_missing");
    let t = "/webhooks/deliveries";
    let deliveries = c.check("GET", t, bapi.call("GET", "/webhooks/deliveries?limit=50", None).await.ok());
    let delivery = deliveries.body["data"][0]["id"].as_str().expect("a delivery to the silent endpoint").to_string();
    c.check("GET", t, bapi.call("GET", "/webhooks/deliveries?status=lost", None).await).assert_error(422, "form_param_format_invalid");
    let t = "/webhooks/deliveries/{id}/replay";
    let replayed = c.check("POST", t, bapi.call("POST", &format!("/webhooks/deliveries/{delivery}/replay"), None).await.ok());
    assert_eq!(replayed.body["replayed"], 1, "{}", replayed.text);
    c.check("POST", t, bapi.call("POST", "/webhooks/deliveries/msg_nobody:whe_nobody/replay", None).await)
        .assert_error(404, "resource_not_found");

    // Passkeys: listed, deleted, gone.
    let t = "/users/{id}/passkeys";
    c.check("GET", t, bapi.call("GET", &format!("/users/{alice}/passkeys"), None).await.ok());
    c.check("GET", t, bapi.call("GET", "/users/user_nobody/passkeys", None).await).assert_error(404, "resource_not_found");
    let t = "/users/{id}/passkeys/{passkey_id}";
    c.check("DELETE", t, bapi.call("DELETE", &format!("/users/{alice}/passkeys/{passkey_id}"), None).await.ok());
    c.check("DELETE", t, bapi.call("DELETE", &format!("/users/{alice}/passkeys/{passkey_id}"), None).await)
        .assert_error(404, "resource_not_found");

    // Users deleted, then unknown.
    c.check("DELETE", "/users/{id}", bapi.call("DELETE", &format!("/users/{bob}"), None).await.ok());
    c.check("DELETE", "/users/{id}", bapi.call("DELETE", &format!("/users/{bob}"), None).await).assert_error(404, "resource_not_found");

    c.assert_all_checked();
}

/// The check catches what it is for: an undocumented field, a changed type, a missing field,
/// in a real answer.
#[tokio::test]
async fn the_check_refuses_an_answer_that_drifts_from_the_document() {
    let server = LatchProcess::start();
    let key = secret_key(&server);
    let c = Contract::new(served_document(&server).await);
    let bapi = Bapi::new(&server, &key);
    let browser = Fapi::new(&server);
    let mut auth = SoftAuthenticator::for_server(&server);
    let alice = browser.sign_up_ok("alice").await;
    browser.create_passkey(&mut auth).await;
    let user = bapi.call("GET", &format!("/users/{alice}"), None).await.ok().body;
    let schema = c.response_schema("GET", "/users/{id}", 200).unwrap();
    c.validate(&schema, &user).expect("the real answer is valid");

    let drifted = |change: &dyn Fn(&mut Value)| {
        let mut body = user.clone();
        change(&mut body);
        c.validate(&schema, &body)
    };
    assert!(drifted(&|u| u["email"] = json!("a@example.com")).is_err(), "an undocumented field");
    assert!(drifted(&|u| u["passkeys"][0]["aaguid"] = json!("x")).is_err(), "an undocumented field, nested");
    assert!(drifted(&|u| u["created_at"] = json!("yesterday")).is_err(), "a number became a string");
    assert!(drifted(&|u| u["username"] = json!(null)).is_err(), "a string became null");
    assert!(drifted(&|u| u["object"] = json!("users")).is_err(), "another constant");
    assert!(drifted(&|u| { u.as_object_mut().unwrap().remove("last_sign_in_at"); }).is_err(), "a field left out");

    let error = bapi.call("GET", "/users/user_nobody", None).await;
    let schema = c.response_schema("GET", "/users/{id}", 404).unwrap();
    c.validate(&schema, &error.body).expect("the real error is valid");
    let mut extra = error.body.clone();
    extra["errors"][0]["detail"] = json!("x");
    assert!(c.validate(&schema, &extra).is_err(), "the Clerk envelope takes no extra field");
}
