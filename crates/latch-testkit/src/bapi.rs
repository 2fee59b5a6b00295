//! The app's server, as the black-box tests play it: a cookie-less client of the Backend API
//! (`/bapi/v1/…`) holding a bearer (a secret key, or with the admin console an operator's
//! session token), sending what `@clerk/backend` sends.

use serde_json::Value;

use crate::fapi::{Fapi, OriginHeader, RawRequest, Reply};
use crate::process::LatchProcess;

pub struct Bapi {
    pub http: Fapi,
    /// What goes after `Authorization: Bearer`; empty sends no such header.
    pub bearer: String,
}

impl Bapi {
    pub fn new(server: &LatchProcess, bearer: &str) -> Self {
        Bapi { http: Fapi::new(server), bearer: bearer.to_string() }
    }

    /// Every answer is checked to be `application/json` exactly: the SDK reads any other type,
    /// even with `; charset=utf-8`, as a string.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut r = RawRequest::get(&format!("/bapi/v1{path}")).no_session_param();
        r.method = method.parse().unwrap();
        r.sdk_query = false;
        r.origin = OriginHeader::None;
        // What @clerk/backend sends on every call, bodyless ones included.
        r.content_type = Some("application/json".into());
        r.body = body.map(|b| serde_json::to_vec(&b).unwrap());
        if !self.bearer.is_empty() {
            r = r.header("authorization", &format!("Bearer {}", self.bearer));
        }
        let reply = self.http.send(r).await;
        assert_eq!(reply.header("content-type"), ["application/json"], "exactly application/json: {}", reply.text);
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }
}

/// A new secret key (`latch keys create`), as an app's operator makes one.
pub fn secret_key(server: &LatchProcess) -> String {
    let out = server.command(&["keys", "create", "--label", "test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("sk_live_"), "{key}");
    key
}
