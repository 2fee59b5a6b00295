//! Clerk's Frontend API as clerk-js 6.40.0 speaks it on the wire (docs/protocol.md §2): query params
//! on every call, form bodies, the `_method` override, the `__client` cookie, the `Origin`
//! header, `_clerk_session_id` on non-`/client` paths.
//!
//! * [`Fapi`]: one browser (one cookie jar, one Clerk client), with the flows clerk-js runs
//!   (sign up, create a passkey, sign in, sign out, tokens) and [`Fapi::send`] for requests
//!   with every knob exposed ([`RawRequest`]).
//! * [`Reply`]: status, JSON body and headers, with the assertions every refusal must pass
//!   (a Clerk-shaped 4xx with the expected code; the client fails any 5xx by itself).
//! * [`Snapshot`]: what the API shows of stored state, to assert that a refused request
//!   changed nothing.
//! * The (status, code) pairs tests accept for refusals: [`FAILED`], [`FORMAT`], ….

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use url::Url;

use crate::passkey::SoftAuthenticator;
use crate::process::LatchProcess;

/// Query params clerk-js 6.40.0 adds to every request.
pub const SDK_QUERY: [(&str, &str); 2] =
    [("__clerk_api_version", "2026-08-20"), ("_clerk_js_version", "6.40.0")];

/// base64url that must decode (test data); panics with the text otherwise.
pub fn unb64u(s: &str) -> Vec<u8> {
    crate::webauthn::decode_b64u(s)
        .unwrap_or_else(|e| panic!("not base64url: {s:?}: {e}"))
}

/// `application/x-www-form-urlencoded` body, keys in order, repeated keys allowed.
pub fn form_body(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish().into_bytes()
}

/// Epoch milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// A nonce is a JSON string holding JSON options (docs/protocol.md §7.1); accept an object too.
pub fn parse_nonce(nonce: &Value) -> Value {
    match nonce {
        Value::String(s) => serde_json::from_str(s)
            .unwrap_or_else(|e| panic!("nonce is not JSON: {e}: {s}")),
        Value::Object(_) => nonce.clone(),
        other => panic!("missing or odd nonce: {other}"),
    }
}

/// An HTTP reply, body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Panics unless 200; returns self for chaining.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.text);
        self
    }

    pub fn resp(&self) -> &Value {
        &self.body["response"]
    }

    pub fn client(&self) -> &Value {
        &self.body["client"]
    }

    /// `errors[0].code`, or "" when there is none.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["code"].as_str().unwrap_or("")
    }

    /// Asserts a Clerk-shaped error: exact status, exact `errors[0].code`, full error shape.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        self.assert_error_in(&[(status, code)]);
    }

    /// Like [`Reply::assert_error`], for the few cases where the contract admits more than one
    /// (status, code) pair. Every pair allowed is named by the caller.
    #[track_caller]
    pub fn assert_error_in(&self, allowed: &[(u16, &str)]) {
        if std::env::var_os("TRACE_REFUSALS").is_some() {
            eprintln!(
                "refusal [{}]: {} {} {}",
                std::thread::current().name().unwrap_or("?"),
                self.status,
                self.code(),
                self.body["errors"][0]["long_message"]
            );
        }
        assert!(
            allowed.iter().any(|(s, c)| *s == self.status && *c == self.code()),
            "expected one of {allowed:?}, got {} {:?}: {}",
            self.status,
            self.code(),
            self.text
        );
        self.assert_error_shape();
    }

    /// `{"errors":[{code,message,long_message,meta}],"clerk_trace_id"}`, never a 5xx.
    #[track_caller]
    pub fn assert_error_shape(&self) {
        assert!(self.status >= 400 && self.status < 500, "not a 4xx: {} {}", self.status, self.text);
        let errors = self.body["errors"].as_array().unwrap_or_else(|| panic!("no errors[]: {}", self.text));
        assert!(!errors.is_empty(), "empty errors[]: {}", self.text);
        for e in errors {
            for k in ["code", "message", "long_message"] {
                assert!(e[k].is_string(), "error without string {k}: {}", self.text);
            }
            assert!(e["meta"].is_object(), "error without meta object: {}", self.text);
        }
        assert!(self.body["clerk_trace_id"].is_string(), "no clerk_trace_id: {}", self.text);
    }

    /// `errors[0].meta.param_name`.
    pub fn param_name(&self) -> Option<&str> {
        self.body["errors"][0]["meta"]["param_name"].as_str()
    }

    pub fn header(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().map(|v| v.to_str().unwrap_or("").to_string()).collect()
    }
}

/// What `Origin` header a request carries.
#[derive(Debug, Clone)]
pub enum OriginHeader {
    /// The Fapi's browser origin (`http://localhost:PORT`).
    Default,
    None,
    Custom(String),
}

/// A request with every knob exposed, for the attack tests.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: reqwest::Method,
    /// Full path, e.g. `/v1/client/sign_ins`.
    pub path: String,
    /// Add `__clerk_api_version` and `_clerk_js_version`.
    pub sdk_query: bool,
    /// Add `_clerk_session_id` (when the Fapi has a session and the path calls for it).
    pub session_query: bool,
    /// Extra query pairs, appended as given (repeats allowed).
    pub query: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<String>,
    pub origin: OriginHeader,
    pub headers: Vec<(String, String)>,
}

impl RawRequest {
    pub fn post(path: &str, body: Vec<u8>) -> Self {
        RawRequest {
            method: reqwest::Method::POST,
            path: path.to_string(),
            sdk_query: true,
            session_query: true,
            query: vec![],
            body: Some(body),
            content_type: Some("application/x-www-form-urlencoded".into()),
            origin: OriginHeader::Default,
            headers: vec![],
        }
    }

    pub fn get(path: &str) -> Self {
        RawRequest { method: reqwest::Method::GET, body: None, content_type: None, ..Self::post(path, vec![]) }
    }

    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.into(), v.into()));
        self
    }

    pub fn origin(mut self, o: OriginHeader) -> Self {
        self.origin = o;
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    /// Do not add the Fapi's own `_clerk_session_id`.
    pub fn no_session_param(mut self) -> Self {
        self.session_query = false;
        self
    }
}

fn http_client(jar: &Arc<reqwest::cookie::Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

struct FapiInner {
    http: Mutex<reqwest::Client>,
    jar: Arc<reqwest::cookie::Jar>,
    base: Mutex<String>,
    origin: Mutex<String>,
    session_id: Mutex<Option<String>>,
}

/// One browser (one cookie jar = one Clerk client) talking to Latch like clerk-js.
#[derive(Clone)]
pub struct Fapi(Arc<FapiInner>);

impl Fapi {
    pub fn new(server: &LatchProcess) -> Self {
        Self::with(&server.base, &server.origin())
    }

    pub fn with(base: &str, origin: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        Fapi(Arc::new(FapiInner {
            http: Mutex::new(http_client(&jar)),
            jar,
            base: Mutex::new(base.to_string()),
            origin: Mutex::new(origin.to_string()),
            session_id: Mutex::new(None),
        }))
    }

    pub fn base(&self) -> String {
        self.0.base.lock().unwrap().clone()
    }

    pub fn origin(&self) -> String {
        self.0.origin.lock().unwrap().clone()
    }

    /// Send further requests to another node (same cookies, same Origin).
    pub fn set_base(&self, base: &str) {
        *self.0.base.lock().unwrap() = base.to_string();
    }

    /// Point at a restarted server (same cookies, fresh connections: the pooled ones died
    /// with the old process).
    pub fn set_server(&self, server: &LatchProcess) {
        *self.0.http.lock().unwrap() = http_client(&self.0.jar);
        *self.0.base.lock().unwrap() = server.base.clone();
        *self.0.origin.lock().unwrap() = server.origin();
    }

    pub fn session_id(&self) -> Option<String> {
        self.0.session_id.lock().unwrap().clone()
    }

    pub fn set_session(&self, sid: Option<String>) {
        *self.0.session_id.lock().unwrap() = sid;
    }

    /// The `Cookie` header the jar would send to the server.
    pub fn cookie_header(&self) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = Url::parse(&self.base()).unwrap();
        self.0.jar.cookies(&url).map(|v| v.to_str().unwrap().to_string())
    }

    /// The `__client` cookie value, if any.
    pub fn client_cookie(&self) -> Option<String> {
        self.cookie_header()?.split("; ").find_map(|kv| kv.strip_prefix("__client=").map(str::to_string))
    }

    /// Replace the `__client` cookie (forgery tests).
    pub fn set_client_cookie(&self, value: &str) {
        let url = Url::parse(&self.base()).unwrap();
        self.0.jar.add_cookie_str(&format!("__client={value}; Path=/"), &url);
    }

    pub async fn send(&self, req: RawRequest) -> Reply {
        let mut url = Url::parse(&format!("{}{}", self.base(), req.path)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            if req.sdk_query {
                for (k, v) in SDK_QUERY {
                    q.append_pair(k, v);
                }
            }
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
            let fapi_path = req.path.strip_prefix("/v1").unwrap_or("");
            if req.session_query
                && req.path.starts_with("/v1/")
                && !fapi_path.starts_with("/client")
                && !fapi_path.starts_with("/waitlist")
                && let Some(sid) = self.session_id()
            {
                q.append_pair("_clerk_session_id", &sid);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let http = self.0.http.lock().unwrap().clone();
        let mut rb = http.request(req.method.clone(), url);
        match &req.origin {
            OriginHeader::Default => rb = rb.header("origin", self.origin()),
            OriginHeader::None => {}
            OriginHeader::Custom(o) => rb = rb.header("origin", o.as_str()),
        }
        if let Some(ct) = &req.content_type {
            rb = rb.header("content-type", ct.as_str());
        }
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = req.body {
            rb = rb.body(b);
        }
        let res = match rb.send().await {
            Ok(r) => r,
            Err(e) => panic!("{} {} failed at the transport level: {e}", req.method, req.path),
        };
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        assert!(status < 500, "server error {status} on {} {}: {text}", req.method, req.path);
        Reply { status, body, text, headers }
    }

    /// `GET /v1{path}`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(RawRequest::get(&format!("/v1{path}"))).await
    }

    /// `POST /v1{path}` with a form body.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(RawRequest::post(&format!("/v1{path}"), form_body(form))).await
    }

    /// `POST /v1{path}?_method=PATCH` with a form body.
    pub async fn patch(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send(RawRequest::post(&format!("/v1{path}"), form_body(form)).query("_method", "PATCH")).await
    }

    /// `POST /v1{path}?_method=DELETE`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(RawRequest::post(&format!("/v1{path}"), vec![]).query("_method", "DELETE")).await
    }

    /// GET outside `/v1` (e.g. `/.well-known/jwks.json`).
    pub async fn get_abs(&self, path: &str) -> Reply {
        let mut r = RawRequest::get(path);
        r.sdk_query = false;
        self.send(r).await
    }

    // ----- flows, as clerk-js runs them ------------------------------------------------------

    /// `signUp.create({username})`; on success the new session becomes this Fapi's session.
    pub async fn sign_up(&self, username: &str) -> Reply {
        let r = self
            .post("/client/sign_ups", &[("username", username), ("locale", "en-US"), ("timezone", "UTC")])
            .await;
        if r.status == 200
            && let Some(sid) = r.resp()["created_session_id"].as_str()
        {
            self.set_session(Some(sid.to_string()));
        }
        r
    }

    /// Sign up and return the new user's id (panics on failure).
    pub async fn sign_up_ok(&self, username: &str) -> String {
        let r = self.sign_up(username).await.ok();
        assert_eq!(r.resp()["status"], "complete", "{}", r.text);
        r.resp()["created_user_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| self.user_id_from_client(r.client()))
            .expect("sign-up names no user id")
    }

    fn user_id_from_client(&self, client: &Value) -> Option<String> {
        let sid = self.session_id()?;
        client["sessions"].as_array()?.iter().find(|s| s["id"] == sid.as_str())?["user"]["id"]
            .as_str()
            .map(str::to_string)
    }

    /// `POST /me/passkeys` → (passkey id, creation options).
    pub async fn start_registration(&self) -> (String, Value) {
        let r = self.post("/me/passkeys", &[]).await.ok();
        let id = r.resp()["id"].as_str().expect("passkey id").to_string();
        let options = parse_nonce(&r.resp()["verification"]["nonce"]);
        (id, options)
    }

    /// `POST /me/passkeys/{id}/attempt_verification`.
    pub async fn finish_registration(&self, passkey_id: &str, credential_json: &str) -> Reply {
        self.post(
            &format!("/me/passkeys/{passkey_id}/attempt_verification"),
            &[("strategy", "passkey"), ("public_key_credential", credential_json)],
        )
        .await
    }

    /// The whole `user.createPasskey()`; returns the verified passkey JSON and the credential id.
    pub async fn create_passkey(&self, auth: &mut SoftAuthenticator) -> (Value, Vec<u8>) {
        let (id, options) = self.start_registration().await;
        let reg = auth.register(&options).await;
        let r = self.finish_registration(&id, &reg.json()).await.ok();
        assert_eq!(r.resp()["id"], id.as_str(), "{}", r.text);
        assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
        (r.resp().clone(), reg.id)
    }

    /// `POST /client/sign_ins strategy=passkey` → (sign-in id, request options).
    pub async fn start_sign_in(&self) -> (String, Value) {
        let r = self
            .post("/client/sign_ins", &[("strategy", "passkey"), ("locale", "en-US"), ("timezone", "UTC")])
            .await
            .ok();
        let id = r.resp()["id"].as_str().expect("sign-in id").to_string();
        let options = parse_nonce(&r.resp()["first_factor_verification"]["nonce"]);
        (id, options)
    }

    /// Identifier-first: `POST /client/sign_ins identifier=…`, then `prepare_first_factor`.
    pub async fn start_sign_in_with_identifier(&self, identifier: &str) -> (String, Value) {
        let r = self.post("/client/sign_ins", &[("identifier", identifier)]).await.ok();
        let id = r.resp()["id"].as_str().expect("sign-in id").to_string();
        let r = self
            .post(&format!("/client/sign_ins/{id}/prepare_first_factor"), &[("strategy", "passkey")])
            .await
            .ok();
        let options = parse_nonce(&r.resp()["first_factor_verification"]["nonce"]);
        (id, options)
    }

    /// `attempt_first_factor`; on `complete` the new session becomes this Fapi's session.
    pub async fn attempt_sign_in(&self, sign_in_id: &str, credential_json: &str) -> Reply {
        let r = self
            .post(
                &format!("/client/sign_ins/{sign_in_id}/attempt_first_factor"),
                &[("strategy", "passkey"), ("public_key_credential", credential_json)],
            )
            .await;
        if r.status == 200
            && r.resp()["status"] == "complete"
            && let Some(sid) = r.resp()["created_session_id"].as_str()
        {
            self.set_session(Some(sid.to_string()));
        }
        r
    }

    /// Discoverable sign-in with whatever the authenticator picks.
    pub async fn sign_in(&self, auth: &mut SoftAuthenticator) -> Reply {
        let (id, options) = self.start_sign_in().await;
        let a = auth.assert(&options).await;
        self.attempt_sign_in(&id, &a.json()).await
    }

    /// Discoverable sign-in that must succeed; returns the session id.
    pub async fn sign_in_ok(&self, auth: &mut SoftAuthenticator) -> String {
        let r = self.sign_in(auth).await.ok();
        assert_eq!(r.resp()["status"], "complete", "{}", r.text);
        r.resp()["created_session_id"].as_str().unwrap().to_string()
    }

    /// `signOut()` with one session: `POST /client/sessions?_method=DELETE`.
    pub async fn sign_out(&self) -> Reply {
        let r = self.delete("/client/sessions").await;
        if r.status == 200 {
            self.set_session(None);
        }
        r
    }

    /// `GET /me` → the user JSON (panics unless 200).
    pub async fn me(&self) -> Value {
        self.get("/me").await.ok().resp().clone()
    }

    /// `user.passkeys` from `GET /me`.
    pub async fn passkeys(&self) -> Vec<Value> {
        self.me().await["passkeys"].as_array().cloned().unwrap_or_default()
    }

    /// `POST /client/sessions/{sid}/tokens`.
    pub async fn token(&self, sid: &str) -> Reply {
        self.post(&format!("/client/sessions/{sid}/tokens"), &[("organization_id", "")]).await
    }

    /// `POST /client/sessions/{sid}/touch`.
    pub async fn touch(&self, sid: &str) -> Reply {
        self.post(
            &format!("/client/sessions/{sid}/touch"),
            &[("active_organization_id", ""), ("intent", "select_session")],
        )
        .await
    }
}

// ---------------------------------------------------------------------------------------------
// Storage snapshot
// ---------------------------------------------------------------------------------------------

/// What the API shows of stored state through a set of observer clients: each client's
/// sessions (id, status, user) and, when signed in, the user and its passkeys (id, name,
/// created_at, updated_at, last_used_at). Compared before and after an attack.
///
/// TODO: make it stricter by reading the SQLite file read-only once Latch has a way to dump it.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot(Vec<Value>);

impl Snapshot {
    pub async fn take(observers: &[&Fapi]) -> Snapshot {
        let mut out = vec![];
        for f in observers {
            let client = f.get("/client").await;
            assert_eq!(client.status, 200, "GET /client: {}", client.text);
            let c = client.resp();
            let sessions: Vec<Value> = c["sessions"]
                .as_array()
                .map(|ss| {
                    ss.iter()
                        .map(|s| {
                            json!({
                                "id": s["id"], "status": s["status"], "user": s["user"]["id"],
                                "passkeys": normalize_passkeys(&s["user"]["passkeys"]),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let me = if f.session_id().is_some() {
                let r = f.get("/me").await;
                if r.status == 200 {
                    let u = r.resp();
                    json!({"id": u["id"], "username": u["username"], "updated_at": u["updated_at"],
                           "passkeys": normalize_passkeys(&u["passkeys"])})
                } else {
                    json!({"status": r.status, "code": r.code()})
                }
            } else {
                Value::Null
            };
            out.push(json!({"client": c["id"], "sessions": sessions, "me": me}));
        }
        Snapshot(out)
    }

    #[track_caller]
    pub fn assert_same(&self, after: &Snapshot) {
        assert_eq!(
            self,
            after,
            "stored state changed:\nbefore: {}\nafter:  {}",
            serde_json::to_string_pretty(&self.0).unwrap(),
            serde_json::to_string_pretty(&after.0).unwrap()
        );
    }
}

fn normalize_passkeys(v: &Value) -> Value {
    let mut list: Vec<Value> = v
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    json!({"id": p["id"], "name": p["name"], "created_at": p["created_at"],
                           "updated_at": p["updated_at"], "last_used_at": p["last_used_at"]})
                })
                .collect()
        })
        .unwrap_or_default();
    list.sort_by_key(|p| p["id"].as_str().unwrap_or("").to_string());
    Value::Array(list)
}

// ---------------------------------------------------------------------------------------------
// Expected refusals: (status, code) pairs a test accepts
// ---------------------------------------------------------------------------------------------

pub const FAILED: &[(u16, &str)] = &[(422, "verification_failed")];
pub const NOT_REGISTERED: &[(u16, &str)] = &[(422, "passkey_not_registered")];
pub const NOT_FOUND: &[(u16, &str)] = &[(404, "resource_not_found")];
pub const FORMAT: &[(u16, &str)] = &[(422, "form_param_format_invalid")];
/// Malformed enough that the server may refuse it as a format error or as a failed check.
pub const FORMAT_OR_FAILED: &[(u16, &str)] = &[(422, "form_param_format_invalid"), (422, "verification_failed")];
/// A challenge that was already answered (successfully or not) may be reported either way.
pub const USED_CHALLENGE: &[(u16, &str)] = &[
    (422, "verification_failed"),
    (422, "verification_expired"),
    (422, "verification_already_verified"),
];
/// A passkey that is not the named user's / a handle that is not the credential's owner.
pub const WRONG_OWNER: &[(u16, &str)] = &[(422, "verification_failed"), (422, "passkey_not_registered")];
pub const SIGNED_OUT: &[(u16, &str)] = &[(401, "signed_out")];
pub const ORIGIN: &[(u16, &str)] = &[(403, "origin_invalid")];
