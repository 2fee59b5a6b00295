//! Shared harness for Latch's black-box integration tests.
//!
//! * [`LatchProcess`] starts the real `latch` binary on a free port with its own data dir.
//! * [`Fapi`] speaks Clerk's Frontend API the way clerk-js 6.40.0 does on the wire
//!   (fapi.md §1): query params on every call, form bodies, `_method` override, `__client`
//!   cookie, `Origin` header, `_clerk_session_id` on non-`/client` paths.
//! * [`SoftAuthenticator`] is a software passkey (1Password's passkey-client +
//!   passkey-authenticator, a separate codebase from the verifier) that turns the server's
//!   nonces into credential JSON exactly as clerk-js posts it (fapi.md §5), plus forging
//!   helpers that re-sign tampered data with the real private key.
//! * [`Snapshot`] captures what the API shows of stored state so attack tests can assert
//!   "nothing stored changed".
#![allow(dead_code)]

pub mod backend;

use std::{
    future::Future,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    pin::Pin,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use base64::Engine as _;
use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::{CryptoBackend, SecretKeyT, hash::Sha256Backend, rust_crypto::RustCryptoBackend};
use passkey_types::{
    Passkey,
    ctap2::{Aaguid, Ctap2Error},
    webauthn,
};
use serde_json::{Map, Value, json};
use url::Url;

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

/// AAGUID of Apple's platform passkeys ("iCloud Keychain", lately "Apple Passwords").
pub const APPLE_AAGUID: [u8; 16] = [
    0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd,
];
/// Names the AAGUID table may give [`APPLE_AAGUID`].
pub const APPLE_NAMES: [&str; 2] = ["iCloud Keychain", "Apple Passwords"];
/// An AAGUID in no list (Chrome's virtual authenticator).
pub const UNKNOWN_AAGUID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8];

/// Query params clerk-js 6.40.0 adds to every request.
pub const SDK_QUERY: [(&str, &str); 2] =
    [("__clerk_api_version", "2026-08-20"), ("_clerk_js_version", "6.40.0")];

/// authenticatorData flag bits.
pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

// ---------------------------------------------------------------------------------------------
// Encoding helpers
// ---------------------------------------------------------------------------------------------

pub fn b64u(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64u(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("not base64url: {s:?}: {e}"))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    <RustCryptoBackend as CryptoBackend>::Sha256::sha256(data)
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

/// A nonce is a JSON string holding JSON options (fapi.md §5); accept an object too.
pub fn parse_nonce(nonce: &Value) -> Value {
    match nonce {
        Value::String(s) => serde_json::from_str(s)
            .unwrap_or_else(|e| panic!("nonce is not JSON: {e}: {s}")),
        Value::Object(_) => nonce.clone(),
        other => panic!("missing or odd nonce: {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// LatchProcess
// ---------------------------------------------------------------------------------------------

/// The real `latch` binary, on a free port, with its own data dir. Killed on drop.
pub struct LatchProcess {
    child: Option<Child>,
    /// SQLite in `data_dir`, or a PostgreSQL database of this process's own.
    pub database: backend::TestDatabase,
    data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    /// Port the server listens on (stays the same across [`LatchProcess::restart`]).
    pub port: u16,
    /// `http://127.0.0.1:PORT`, as printed by the server.
    pub base: String,
    log_path: PathBuf,
}

impl LatchProcess {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Extra flags after `serve --port P --data-dir D`.
    pub fn start_with(extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap();
        let log_path = data_dir.path().join("server.log");
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let database = backend::TestDatabase::create();
        let (child, base, port) = spawn(data_dir.path(), 0, &with_db(&database, &extra_args), &log_path);
        LatchProcess { child: Some(child), database, data_dir, extra_args, port, base, log_path }
    }

    /// A second node on `other`'s database (its SQLite file, or its PostgreSQL database).
    pub fn join(other: &LatchProcess, extra: &[&str]) -> Self {
        let data_dir = tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap();
        let log_path = data_dir.path().join("server.log");
        let extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let database = backend::TestDatabase::Shared(other.database.shareable_url(other.data_dir()));
        let (child, base, port) = spawn(data_dir.path(), 0, &with_db(&database, &extra_args), &log_path);
        LatchProcess { child: Some(child), database, data_dir, extra_args, port, base, log_path }
    }

    /// Keeps the database (and SQLite's folder) alive after the process is dropped.
    pub fn database_handle_for_test(&mut self) -> (backend::TestDatabase, tempfile::TempDir) {
        self.kill();
        let db = std::mem::replace(&mut self.database, backend::TestDatabase::Sqlite);
        let dir = std::mem::replace(&mut self.data_dir, tempfile::Builder::new().prefix("latch-test-").tempdir().unwrap());
        (db, dir)
    }

    /// The browser origin Latch allows by default: `http://localhost:PORT`.
    pub fn origin(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Everything the server wrote on stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stop the server the hard way (SIGKILL: nothing gets flushed on the way out) and start it
    /// again on the same port with the same data dir.
    pub fn restart(&mut self) {
        self.kill();
        let args = with_db(&self.database, &self.extra_args);
        let (child, base, port) = spawn(self.data_dir.path(), self.port, &args, &self.log_path);
        assert_eq!(port, self.port, "restarted on another port");
        self.child = Some(child);
        self.base = base;
    }

    /// Restart with other extra flags (same port, same data dir).
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.extra_args = extra.iter().map(|s| s.to_string()).collect();
        self.restart();
    }

    /// Is the process still alive (it must never crash on bad input)?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for LatchProcess {
    fn drop(&mut self) {
        let crashed = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        self.kill();
        if let Some(status) = crashed {
            if !std::thread::panicking() {
                panic!("latch exited on its own during the test ({status}):\n{}", self.logs());
            }
        }
    }
}

fn with_db(database: &backend::TestDatabase, extra: &[String]) -> Vec<String> {
    database.args().into_iter().chain(extra.iter().cloned()).collect()
}

fn spawn(dir: &Path, port: u16, extra: &[String], log_path: &Path) -> (Child, String, u16) {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latch"));
    cmd.arg("serve")
        .arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone().unwrap()));
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCH_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("spawn latch");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut log_out = log;
    std::thread::spawn(move || {
        use std::io::Write;
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(log_out, "{line}");
            if let Some(rest) = line.trim().strip_prefix("latch listening on ") {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(rest.trim().to_string());
                }
            }
        }
    });
    // A generous bound so that a broken build fails instead of hanging; not a timing assertion.
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(url) => {
            let parsed = Url::parse(&url).unwrap_or_else(|e| panic!("bad listening URL {url:?}: {e}"));
            let port = parsed.port().expect("listening URL has a port");
            (child, url.trim_end_matches('/').to_string(), port)
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "latch did not print `latch listening on http://127.0.0.1:PORT`:\n{}",
                std::fs::read_to_string(log_path).unwrap_or_default()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fapi: the HTTP client
// ---------------------------------------------------------------------------------------------

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
            {
                if let Some(sid) = self.session_id() {
                    q.append_pair("_clerk_session_id", &sid);
                }
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
        if r.status == 200 {
            if let Some(sid) = r.resp()["created_session_id"].as_str() {
                self.set_session(Some(sid.to_string()));
            }
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
        if r.status == 200 && r.resp()["status"] == "complete" {
            if let Some(sid) = r.resp()["created_session_id"].as_str() {
                self.set_session(Some(sid.to_string()));
            }
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
// JWT verification
// ---------------------------------------------------------------------------------------------

/// Verify a session JWT against Latch's `/.well-known/jwks.json`; returns the claims.
pub async fn verify_jwt(fapi: &Fapi, jwt: &str) -> Value {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let jwks = fapi.get_abs("/.well-known/jwks.json").await.ok();
    let set: JwkSet = serde_json::from_value(jwks.body.clone())
        .unwrap_or_else(|e| panic!("JWKS does not parse: {e}: {}", jwks.text));
    let header = decode_header(jwt).unwrap_or_else(|e| panic!("JWT header: {e}: {jwt}"));
    let kid = header.kid.clone().expect("JWT header has a kid");
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} not in JWKS {}", jwks.text));
    let key = DecodingKey::from_jwk(jwk).expect("JWK usable as a key");
    let mut v = Validation::new(header.alg);
    v.validate_aud = false;
    v.validate_nbf = true;
    v.leeway = 60;
    v.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss"]);
    decode::<Value>(jwt, &key, &v).unwrap_or_else(|e| panic!("JWT does not verify against JWKS: {e}")).claims
}

// ---------------------------------------------------------------------------------------------
// Software authenticator
// ---------------------------------------------------------------------------------------------

/// Always present, always verified (a biometric that says yes).
struct AlwaysYes;

impl UserValidationMethod for AlwaysYes {
    type PasskeyItem = Passkey;

    // Hand-expanded `#[async_trait]` signature (the trait is declared with async-trait).
    fn check_user<'a, 'life0, 'async_trait>(
        &'life0 self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Pin<Box<dyn Future<Output = Result<UserCheck, Ctap2Error>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { Ok(UserCheck { presence, verification }) })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// A registration credential as clerk-js posts it (fapi.md §5). Fields are public so tests can
/// corrupt them; [`Registration::json`] serialises whatever they hold.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: Vec<u8>,
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    /// The authenticatorData inside `attestation_object` (not sent on its own).
    pub auth_data: Vec<u8>,
    pub transports: Vec<String>,
    pub attachment: Option<String>,
}

impl Registration {
    pub fn to_value(&self) -> Value {
        json!({
            "id": b64u(&self.id),
            "rawId": b64u(&self.raw_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "attestationObject": b64u(&self.attestation_object),
                "transports": self.transports,
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }

    /// Parsed clientDataJSON.
    pub fn client_data(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.client_data_json).unwrap()
    }

    /// Rewrite clientDataJSON (no signature covers it under `none` attestation).
    pub fn edit_client_data(&mut self, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut m = self.client_data();
        f(&mut m);
        self.client_data_json = serde_json::to_vec(&m).unwrap();
    }

    /// Rewrite authenticatorData and rebuild the attestation object around it.
    pub fn edit_auth_data(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.auth_data);
        self.attestation_object = attestation_object_none(&self.auth_data);
    }

    pub fn aaguid(&self) -> [u8; 16] {
        self.auth_data[37..53].try_into().unwrap()
    }
}

/// An assertion as clerk-js posts it (fapi.md §5).
#[derive(Debug, Clone)]
pub struct Assertion {
    pub id: Vec<u8>,
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
    pub attachment: Option<String>,
}

impl Assertion {
    pub fn to_value(&self) -> Value {
        json!({
            "id": b64u(&self.id),
            "rawId": b64u(&self.raw_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "authenticatorData": b64u(&self.authenticator_data),
                "signature": b64u(&self.signature),
                "userHandle": self.user_handle.as_ref().map(b64u),
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }

    pub fn client_data(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.client_data_json).unwrap()
    }

    pub fn counter(&self) -> u32 {
        u32::from_be_bytes(self.authenticator_data[33..37].try_into().unwrap())
    }
}

/// A real assertion opened up for tampering; [`SoftAuthenticator::forge`] re-signs it with the
/// credential's private key (or [`AssertionForge::signer`]'s) unless `resign` is false.
pub struct AssertionForge {
    pub assertion: Assertion,
    /// Re-sign authenticatorData || SHA-256(clientDataJSON) after the edits (default true).
    pub resign: bool,
    /// Sign with this passkey instead of the credential's own.
    pub signer: Option<Passkey>,
}

impl AssertionForge {
    pub fn edit_client_data(&mut self, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut m = self.assertion.client_data();
        f(&mut m);
        self.assertion.client_data_json = serde_json::to_vec(&m).unwrap();
    }

    pub fn set_flags(&mut self, flags: u8) {
        self.assertion.authenticator_data[32] = flags;
    }

    pub fn flags(&self) -> u8 {
        self.assertion.authenticator_data[32]
    }

    pub fn set_rp_id(&mut self, rp_id: &str) {
        self.assertion.authenticator_data[..32].copy_from_slice(&sha256(rp_id.as_bytes()));
    }

    pub fn set_counter(&mut self, counter: u32) {
        self.assertion.authenticator_data[33..37].copy_from_slice(&counter.to_be_bytes());
    }
}

/// A software passkey device with any number of credentials.
pub struct SoftAuthenticator {
    origin: Url,
    aaguid: [u8; 16],
    signature_counter: bool,
    passkeys: Vec<Passkey>,
    preferred: Option<Vec<u8>>,
}

impl SoftAuthenticator {
    /// Apple AAGUID, user verification on, signature counter on.
    pub fn new(origin: &str) -> Self {
        SoftAuthenticator {
            origin: Url::parse(origin).unwrap(),
            aaguid: APPLE_AAGUID,
            signature_counter: true,
            passkeys: vec![],
            preferred: None,
        }
    }

    pub fn for_server(server: &LatchProcess) -> Self {
        Self::new(&server.origin())
    }

    pub fn with_aaguid(mut self, aaguid: [u8; 16]) -> Self {
        self.aaguid = aaguid;
        self
    }

    /// Counter always 0, like iOS passkeys.
    pub fn without_signature_counter(mut self) -> Self {
        self.signature_counter = false;
        self
    }

    pub fn set_origin(&mut self, origin: &str) {
        self.origin = Url::parse(origin).unwrap();
    }

    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.passkeys.iter().map(|p| p.credential_id.to_vec()).collect()
    }

    /// Use this credential for discoverable sign-ins (default: the newest).
    pub fn prefer(&mut self, id: &[u8]) {
        self.preferred = Some(id.to_vec());
    }

    /// Drop a credential from the device.
    pub fn forget(&mut self, id: &[u8]) {
        self.passkeys.retain(|p| p.credential_id.as_slice() != id);
    }

    pub fn passkey(&self, id: &[u8]) -> Passkey {
        self.passkeys
            .iter()
            .find(|p| p.credential_id.as_slice() == id)
            .cloned()
            .expect("credential on this authenticator")
    }

    /// The user handle stored with a credential (= creation options `user.id`).
    pub fn user_handle(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.passkey(id).user_handle.map(|b| b.to_vec())
    }

    fn authenticator(&self, store: Option<Passkey>) -> Authenticator<Option<Passkey>, AlwaysYes, RustCryptoBackend> {
        let mut a = Authenticator::new(Aaguid::from(self.aaguid), store, AlwaysYes, RustCryptoBackend);
        a.set_make_credentials_with_signature_counter(self.signature_counter);
        a
    }

    /// `navigator.credentials.create()` on the server's creation options (the parsed nonce).
    pub async fn register(&mut self, options: &Value) -> Registration {
        self.try_register(options).await.unwrap_or_else(|e| panic!("authenticator refused to register: {e}"))
    }

    pub async fn try_register(&mut self, options: &Value) -> Result<Registration, String> {
        let request: webauthn::CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("creation options do not parse as WebAuthn JSON: {e}: {options}"))?;
        let mut client = Client::new(self.authenticator(None)).allows_insecure_localhost(true);
        let created = client
            .register(&self.origin, request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let stored = client.authenticator().store().clone().expect("authenticator stored the passkey");
        self.passkeys.retain(|p| p.credential_id != stored.credential_id);
        self.passkeys.push(stored);
        let transports = created
            .response
            .transports
            .as_ref()
            .map(|ts| ts.iter().map(|t| serde_json::to_value(t).unwrap().as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        Ok(Registration {
            id: created.raw_id.to_vec(),
            raw_id: created.raw_id.to_vec(),
            client_data_json: created.response.client_data_json.to_vec(),
            attestation_object: created.response.attestation_object.to_vec(),
            auth_data: created.response.authenticator_data.to_vec(),
            transports,
            attachment: created
                .authenticator_attachment
                .map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()),
        })
    }

    fn pick(&self, options: &Value) -> Option<Passkey> {
        let allow: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["id"].as_str()).map(unb64u).collect())
            .unwrap_or_default();
        if !allow.is_empty() {
            return self.passkeys.iter().find(|p| allow.iter().any(|id| id == p.credential_id.as_slice())).cloned();
        }
        if let Some(pref) = &self.preferred {
            if let Some(p) = self.passkeys.iter().find(|p| p.credential_id.as_slice() == pref.as_slice()) {
                return Some(p.clone());
            }
        }
        self.passkeys.last().cloned()
    }

    /// `navigator.credentials.get()` on the server's request options (the parsed nonce).
    pub async fn assert(&mut self, options: &Value) -> Assertion {
        self.try_assert(options).await.unwrap_or_else(|e| panic!("authenticator refused to sign in: {e}"))
    }

    pub async fn try_assert(&mut self, options: &Value) -> Result<Assertion, String> {
        self.assert_with(options).await.map(|(a, _)| a)
    }

    async fn assert_with(&mut self, options: &Value) -> Result<(Assertion, Passkey), String> {
        let passkey = self.pick(options).ok_or("no matching credential on this authenticator")?;
        let request: webauthn::CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("request options do not parse as WebAuthn JSON: {e}: {options}"))?;
        let mut client = Client::new(self.authenticator(Some(passkey))).allows_insecure_localhost(true);
        let got = client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let updated = client.authenticator().store().clone().unwrap();
        for p in self.passkeys.iter_mut() {
            if p.credential_id == updated.credential_id {
                *p = updated.clone();
            }
        }
        let a = Assertion {
            id: got.raw_id.to_vec(),
            raw_id: got.raw_id.to_vec(),
            client_data_json: got.response.client_data_json.to_vec(),
            authenticator_data: got.response.authenticator_data.to_vec(),
            signature: got.response.signature.to_vec(),
            user_handle: got.response.user_handle.map(|b| b.to_vec()),
            attachment: got.authenticator_attachment.map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()),
        };
        Ok((a, updated))
    }

    /// A real assertion (the device's counter advances), then `edit`, then re-signed with the
    /// credential's key so that only the edited property is wrong.
    pub async fn forge(&mut self, options: &Value, edit: impl FnOnce(&mut AssertionForge)) -> Assertion {
        let (a, passkey) = self.assert_with(options).await.unwrap();
        let mut f = AssertionForge { assertion: a, resign: true, signer: None };
        edit(&mut f);
        if f.resign {
            let key = f.signer.as_ref().unwrap_or(&passkey);
            f.assertion.signature = sign(key, &f.assertion.authenticator_data, &f.assertion.client_data_json);
        }
        f.assertion
    }

    /// Sign `auth_data || SHA-256(client_data_json)` with one of this device's credentials.
    pub fn sign(&self, id: &[u8], auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
        sign(&self.passkey(id), auth_data, client_data_json)
    }
}

fn sign(passkey: &Passkey, auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    let mut key = <RustCryptoBackend as CryptoBackend>::SecretKey::from_cose_key(&passkey.key)
        .unwrap_or_else(|e| panic!("passkey private key: {e:?}"));
    let mut target = auth_data.to_vec();
    target.extend_from_slice(&sha256(client_data_json));
    key.sign(&target)
}

// ---------------------------------------------------------------------------------------------
// Minimal CBOR writer (for rebuilt / hostile attestation objects)
// ---------------------------------------------------------------------------------------------

pub fn cbor_head(out: &mut Vec<u8>, major: u8, len: u64) {
    let m = major << 5;
    if len < 24 {
        out.push(m | len as u8);
    } else if len < 0x100 {
        out.extend([m | 24, len as u8]);
    } else if len < 0x1_0000 {
        out.push(m | 25);
        out.extend((len as u16).to_be_bytes());
    } else if len < 0x1_0000_0000 {
        out.push(m | 26);
        out.extend((len as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(len.to_be_bytes());
    }
}

pub fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

/// `{"fmt":"none","attStmt":{},"authData":auth_data}`.
pub fn attestation_object_none(auth_data: &[u8]) -> Vec<u8> {
    let mut v = vec![];
    cbor_head(&mut v, 5, 3);
    cbor_text(&mut v, "fmt");
    cbor_text(&mut v, "none");
    cbor_text(&mut v, "attStmt");
    cbor_head(&mut v, 5, 0);
    cbor_text(&mut v, "authData");
    cbor_bytes(&mut v, auth_data);
    v
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A user on a running server: their browser (`fapi`) and their passkey device (`auth`).
pub struct Person {
    pub fapi: Fapi,
    pub auth: SoftAuthenticator,
    pub user_id: String,
    pub username: String,
}

impl Person {
    /// Sign up `username` in a fresh browser (signed in afterwards, no passkey yet).
    pub async fn sign_up(server: &LatchProcess, username: &str) -> Person {
        let fapi = Fapi::new(server);
        let user_id = fapi.sign_up_ok(username).await;
        Person { fapi, auth: SoftAuthenticator::for_server(server), user_id, username: username.into() }
    }

    /// Sign up and register one passkey; still signed in. Returns the person and the passkey JSON.
    pub async fn with_passkey(server: &LatchProcess, username: &str) -> (Person, Value, Vec<u8>) {
        let mut p = Person::sign_up(server, username).await;
        let (pk, cred) = p.fapi.create_passkey(&mut p.auth).await;
        (p, pk, cred)
    }

    /// A second browser of the same person, signed in with their passkey: it sees the user's
    /// passkeys (including last_used_at) for [`Snapshot`]s while the main browser is signed out.
    pub async fn observer(&mut self, server: &LatchProcess) -> Fapi {
        let f = Fapi::new(server);
        f.sign_in_ok(&mut self.auth).await;
        f
    }
}

/// Alice has one passkey; her main browser (`alice.fapi`) is signed out, a second browser
/// (`observer`) is signed in as her and sees her passkeys, `last_used_at` included.
pub struct Scene {
    pub server: LatchProcess,
    pub alice: Person,
    pub observer: Fapi,
    pub cred: Vec<u8>,
    pub pk_id: String,
}

pub async fn scene() -> Scene {
    let server = LatchProcess::start();
    let (mut alice, pk, cred) = Person::with_passkey(&server, "alice").await;
    let observer = alice.observer(&server).await;
    alice.fapi.sign_out().await.ok();
    let pk_id = pk["id"].as_str().unwrap().to_string();
    Scene { server, alice, observer, cred, pk_id }
}

impl Scene {
    pub async fn snapshot(&self, extra: &[&Fapi]) -> Snapshot {
        let mut all = vec![&self.observer, &self.alice.fapi];
        all.extend_from_slice(extra);
        Snapshot::take(&all).await
    }

    /// Attempt `assertion` on `sign_in_id` from alice's signed-out browser; it must be refused
    /// with one of `expected`, and nothing stored may change.
    pub async fn refused(&self, sign_in_id: &str, credential_json: &str, expected: &[(u16, &str)]) {
        let before = self.snapshot(&[]).await;
        let r = self.alice.fapi.attempt_sign_in(sign_in_id, credential_json).await;
        r.assert_error_in(expected);
        assert!(self.alice.fapi.session_id().is_none(), "no session handed out");
        self.snapshot(&[]).await.assert_same(&before);
    }
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
