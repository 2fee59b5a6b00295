//! A native app talking to Latch as Clerk's native SDKs do (docs/protocol.md §13.1): no
//! cookies, no `Origin`, `_is_native` in the query, the client token in the `Authorization`
//! request header, and whatever non-empty `Authorization` a response carries saved for the
//! next request. [`Marker`] picks Expo's (`_is_native=1`) or ClerkKit's and clerk-android's
//! (`_is_native=true`) spelling.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::fapi::{Fapi, OriginHeader, RawRequest, Reply, form_body, parse_nonce};
use crate::process::LatchProcess;

/// How an SDK spells the native marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `_is_native=1` (@clerk/expo).
    Expo,
    /// `_is_native=true` (ClerkKit, clerk-android).
    Sdk,
}

/// One app install: one client token, kept the way the SDKs keep it.
#[derive(Clone)]
pub struct NativeApp {
    fapi: Fapi,
    marker: Marker,
    token: Arc<Mutex<Option<String>>>,
    /// `Bearer <token>` instead of the raw token (tolerated, docs/protocol.md §13.1).
    pub bearer: bool,
}

impl NativeApp {
    pub fn new(server: &LatchProcess, marker: Marker) -> Self {
        NativeApp { fapi: Fapi::new(server), marker, token: Arc::new(Mutex::new(None)), bearer: false }
    }

    pub fn token(&self) -> Option<String> {
        self.token.lock().unwrap().clone()
    }

    pub fn set_token(&self, token: Option<String>) {
        *self.token.lock().unwrap() = token;
    }

    /// `method /v1{path}` with the native marker, `query`, an optional form body, the stored
    /// token; saves a non-empty `Authorization` answer.
    pub async fn send(&self, method: &str, path: &str, query: &[(&str, &str)], form: Option<&[(&str, &str)]>) -> Reply {
        let mut req = RawRequest::post(&format!("/v1{path}"), form.map(form_body).unwrap_or_default());
        req.method = method.parse().expect("an HTTP method");
        if form.is_none() {
            req.body = None;
            req.content_type = None;
        }
        req.sdk_query = false;
        req.session_query = false;
        req.origin = OriginHeader::None;
        for (k, v) in query {
            req = req.query(k, v);
        }
        req = req.query("_is_native", if self.marker == Marker::Expo { "1" } else { "true" });
        let header = match self.token() {
            Some(t) if self.bearer => format!("Bearer {t}"),
            Some(t) => t,
            // Expo sends an empty header when it holds no token.
            None => String::new(),
        };
        if !header.is_empty() || self.marker == Marker::Expo {
            req = req.header("authorization", &header);
        }
        let reply = self.fapi.send(req).await;
        // ClerkKit would forget its client on an empty value (docs/protocol.md §13.1).
        let handed = reply.header("authorization");
        assert!(handed.iter().all(|t| !t.is_empty()), "an empty Authorization answer to {method} {path}");
        assert!(reply.header("set-cookie").is_empty(), "a cookie for a native app on {method} {path}");
        if let Some(t) = handed.into_iter().next() {
            self.set_token(Some(t));
        }
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, &[], None).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.send("POST", path, &[], Some(form)).await
    }

    /// `signUp.create({username})` → the new session id.
    pub async fn sign_up(&self, username: &str) -> String {
        let r = self.post("/client/sign_ups", &[("username", username)]).await.ok();
        r.resp()["created_session_id"].as_str().expect("created_session_id").to_string()
    }

    /// `POST /client/sign_ins strategy=passkey` → (sign-in id, request options).
    pub async fn start_sign_in(&self) -> (String, Value) {
        let r = self.post("/client/sign_ins", &[("strategy", "passkey"), ("locale", "")]).await.ok();
        let id = r.resp()["id"].as_str().expect("sign-in id").to_string();
        (id, parse_nonce(&r.resp()["first_factor_verification"]["nonce"]))
    }

    pub async fn attempt_sign_in(&self, sign_in_id: &str, credential_json: &str) -> Reply {
        self.post(
            &format!("/client/sign_ins/{sign_in_id}/attempt_first_factor"),
            &[("strategy", "passkey"), ("public_key_credential", credential_json)],
        )
        .await
    }

    /// `POST /me/passkeys` for session `sid` → (passkey id, creation options).
    pub async fn start_registration(&self, sid: &str) -> (String, Value) {
        let r = self.send("POST", "/me/passkeys", &[("_clerk_session_id", sid)], Some(&[])).await.ok();
        let id = r.resp()["id"].as_str().expect("passkey id").to_string();
        (id, parse_nonce(&r.resp()["verification"]["nonce"]))
    }

    pub async fn finish_registration(&self, sid: &str, passkey_id: &str, credential_json: &str) -> Reply {
        self.send(
            "POST",
            &format!("/me/passkeys/{passkey_id}/attempt_verification"),
            &[("_clerk_session_id", sid)],
            Some(&[("strategy", "passkey"), ("public_key_credential", credential_json)]),
        )
        .await
    }
}
