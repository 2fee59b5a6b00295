//! One simulated browser tab: a keep-alive HTTP/1.1 connection and its own cookie jar,
//! speaking FAPI as clerk-js does on the wire (docs/protocol.md §2): SDK query parameters on every
//! call, form bodies, `_method` override, the `Origin` header, `_clerk_session_id` on
//! non-`/client` paths.
//!
//! hyper's client connection API is used directly: a worker sends one request at a time on
//! its own connection, so there is no pool to lock and no cookie store to share; a closed
//! connection is reopened once per request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// Query parameters clerk-js 6.40.0 adds to every request.
const SDK_QUERY: &str = "__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0";

/// Where the server is and who we claim to be.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header (host:port of the URL).
    pub host: String,
    /// `Origin` header: the page origin.
    pub origin: String,
}

/// Why a step failed, reduced to a key for the error table: the FAPI error code
/// (`errors[0].code`), `http_<status>` when the body names none, `transport`, or
/// `unexpected_response`.
#[derive(Debug, Clone)]
pub struct Failure {
    pub key: String,
    pub detail: String,
}

impl Failure {
    pub fn unexpected(detail: impl Into<String>) -> Self {
        Failure { key: "unexpected_response".into(), detail: detail.into() }
    }

    fn transport(e: impl std::fmt::Display) -> Self {
        Failure { key: "transport".into(), detail: e.to_string() }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: String,
}

/// A tab: connection + cookies + the session clerk-js would name in `_clerk_session_id`.
pub struct Tab {
    target: std::sync::Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// `name=value` pairs from `Set-Cookie` (attributes ignored; path is always `/`).
    cookies: Vec<(String, String)>,
    cookie_header: String,
    pub session_id: Option<String>,
    /// Connections opened (1 unless the server closed one).
    pub connects: u64,
}

impl Tab {
    pub fn new(target: std::sync::Arc<Target>) -> Self {
        Tab { target, sender: None, cookies: Vec::new(), cookie_header: String::new(), session_id: None, connects: 0 }
    }

    /// A new browser profile on the same connection: no cookies, no session.
    pub fn clear_cookies(&mut self) {
        self.cookies.clear();
        self.cookie_header.clear();
        self.session_id = None;
    }

    async fn connect(&mut self) -> Result<(), Failure> {
        let stream = TcpStream::connect(self.target.addr).await.map_err(Failure::transport)?;
        stream.set_nodelay(true).map_err(Failure::transport)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(Failure::transport)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    fn store_cookie(&mut self, set_cookie: &str) {
        let pair = set_cookie.split(';').next().unwrap_or("");
        let Some((name, value)) = pair.split_once('=') else { return };
        let (name, value) = (name.trim(), value.trim());
        let expired = set_cookie.split(';').skip(1).any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
        self.cookies.retain(|(n, _)| n != name);
        if !expired && !value.is_empty() {
            self.cookies.push((name.to_string(), value.to_string()));
        }
        self.cookie_header = self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ");
    }

    /// `POST /v1{path}` with a form body; `extra_query` is appended after the SDK parameters.
    /// Returns the body of a 2xx reply and the round-trip time (request written → body read).
    pub async fn post(&mut self, path: &str, extra_query: &str, form: &str) -> Result<(Bytes, Duration), Failure> {
        let mut uri = format!("/v1{path}?{SDK_QUERY}");
        if !extra_query.is_empty() {
            uri.push('&');
            uri.push_str(extra_query);
        }
        if !path.starts_with("/client")
            && let Some(sid) = &self.session_id
        {
            uri.push_str("&_clerk_session_id=");
            uri.push_str(sid);
        }
        let body = Bytes::from(form.to_string());
        let mut retried = false;
        loop {
            if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                self.connect().await?;
            }
            let mut req = Request::builder()
                .method(Method::POST)
                .uri(uri.as_str())
                .header(HOST, self.target.host.as_str())
                .header(ORIGIN, self.target.origin.as_str())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            if !self.cookie_header.is_empty() {
                req = req.header(COOKIE, self.cookie_header.as_str());
            }
            let req = req.body(Full::new(body.clone())).map_err(|e| Failure::unexpected(e.to_string()))?;
            let sender = self.sender.as_mut().expect("connected");
            let started = Instant::now();
            let sent = async {
                sender.ready().await?;
                sender.send_request(req).await
            }
            .await;
            let response = match sent {
                Ok(r) => r,
                // A keep-alive connection the server closed between requests: reopen once.
                Err(e) if !retried && (e.is_canceled() || e.is_closed() || e.is_incomplete_message()) => {
                    self.sender = None;
                    retried = true;
                    continue;
                }
                Err(e) => {
                    self.sender = None;
                    return Err(Failure::transport(e));
                }
            };
            let (parts, body) = response.into_parts();
            let bytes = body.collect().await.map_err(Failure::transport)?.to_bytes();
            let elapsed = started.elapsed();
            for value in parts.headers.get_all(SET_COOKIE) {
                if let Ok(v) = value.to_str() {
                    self.store_cookie(v);
                }
            }
            if !parts.status.is_success() {
                let code = serde_json::from_slice::<ErrorBody>(&bytes)
                    .ok()
                    .and_then(|b| b.errors.into_iter().next())
                    .map(|e| e.code)
                    .unwrap_or_else(|| format!("http_{}", parts.status.as_u16()));
                return Err(Failure {
                    key: code,
                    detail: format!("{} on POST {path}: {}", parts.status, String::from_utf8_lossy(&bytes)),
                });
            }
            return Ok((bytes, elapsed));
        }
    }

    /// `GET /v1{path}` (used once, to check the server is there).
    pub async fn get(&mut self, path: &str) -> Result<Bytes, Failure> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("/v1{path}?{SDK_QUERY}"))
            .header(HOST, self.target.host.as_str())
            .header(ORIGIN, self.target.origin.as_str())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Failure::unexpected(e.to_string()))?;
        let sender = self.sender.as_mut().expect("connected");
        sender.ready().await.map_err(Failure::transport)?;
        let response = sender.send_request(req).await.map_err(Failure::transport)?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(Failure::transport)?.to_bytes();
        if !status.is_success() {
            return Err(Failure { key: format!("http_{}", status.as_u16()), detail: String::from_utf8_lossy(&bytes).into() });
        }
        Ok(bytes)
    }
}

/// `application/x-www-form-urlencoded`, keys in order.
pub fn form(fields: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}
