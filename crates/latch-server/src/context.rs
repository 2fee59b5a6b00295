//! Who is asking, as HTTP says it: the client token from the HttpOnly client cookie (a
//! browser) or the `Authorization` header (a native app, `_is_native=1` or `true`), the
//! page's `Origin`, the peer address. The flows get it as a [`Requester`]; what only the
//! answer needs (cookie or header, `Secure`) stays here.
//!
//! This is the one place that knows where a client token comes from
//! ([`Caller::from_parts`]) and where a new one goes ([`Caller::hand_over_client_token`]).
//! A native request's token is read from `Authorization` only, never from a cookie: the
//! marker is in the query, which any page can write, so it must not make a cookie count.
//!
//! The cookie is `__Host-client` wherever it is `Secure`: browsers accept a `__Host-`
//! cookie only from the host itself, over https, without `Domain`, so a sibling subdomain
//! cannot plant or overwrite it (cookie tossing). Plain `__client` is read and written only
//! on a development instance with an http origin. A request carrying more than one client
//! cookie (a real one and a planted one; browsers send both, in an order the attacker can
//! influence) is treated as carrying none: no guess about which is real.

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use latch_core::settings::InstanceSettings;
use latch_flows::Requester;

/// The client cookie wherever it is `Secure`.
pub const SECURE_CLIENT_COOKIE: &str = "__Host-client";
/// The client cookie of a development instance over plain http (Clerk's own name).
pub const PLAIN_CLIENT_COOKIE: &str = "__client";
const CLIENT_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// What a FAPI request says about its caller, read once from the headers and query.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// Token, origin, session hint, and the peer address (or the last `X-Forwarded-For` hop
    /// when the operator trusts it).
    pub requester: Requester,
    /// A native app: its client token travels in the `Authorization` header, not a cookie.
    pub native: bool,
    /// The page is on https: the cookie gets `Secure`.
    pub secure: bool,
    /// How this answer writes the cookies an app's server reads (`__client_uat`); set by the
    /// FAPI extractor, which knows the instance.
    pub app_cookies: crate::cookies::AppCookies,
}

impl Caller {
    pub fn from_parts(parts: &Parts, settings: &InstanceSettings) -> Self {
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let query_value = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let native = query_value("_is_native").is_some_and(|v| v == "1" || v == "true");
        let headers = &parts.headers;
        let always_secure = settings.cookies_always_secure();
        let token = if native {
            bearer(headers)
        } else {
            let names: &[&str] =
                if always_secure { &[SECURE_CLIENT_COOKIE] } else { &[SECURE_CLIENT_COOKIE, PLAIN_CLIENT_COOKIE] };
            client_cookie(headers, names).or_else(|| bearer(headers))
        };
        let origin = header_str(headers, header::ORIGIN).filter(|o| o != "null");
        // X-Forwarded-Proto is anyone's to send unless the operator's own proxy writes it.
        let secure = always_secure
            || origin.as_deref().is_some_and(|o| o.starts_with("https://"))
            || (settings.trust_forwarded_for && header_str(headers, "x-forwarded-proto").is_some_and(|p| p == "https"));
        let requester = Requester {
            token,
            origin,
            session_hint: query_value("_clerk_session_id").filter(|s| !s.is_empty()),
            ip: client_ip(parts, settings.trust_forwarded_for),
            user_agent: header_str(headers, header::USER_AGENT),
            secret_key_id: None,
            operator: None,
        };
        Caller { requester, native, secure, app_cookies: Default::default() }
    }

    /// Hands a client token this request created, or a known client's fresh one (sign-in,
    /// sign-up and sign-out rotate it), to the caller: the HttpOnly
    /// cookie for a browser, the `Authorization` response header for a native app (whose SDK
    /// saves any non-empty value; an empty one would make ClerkKit forget its client, so
    /// none is ever sent).
    pub fn hand_over_client_token(&self, new_token: Option<&str>, mut response: Response) -> Response {
        let Some(token) = new_token.filter(|t| !t.is_empty()) else { return response };
        let headers = response.headers_mut();
        if self.native {
            if let Ok(v) = HeaderValue::from_str(token) {
                headers.insert(header::AUTHORIZATION, v);
            }
        } else {
            // `__Host-` needs `Secure`, `Path=/` and no `Domain`: so it is whenever `Secure` is.
            let (name, secure) = if self.secure { (SECURE_CLIENT_COOKIE, "; Secure") } else { (PLAIN_CLIENT_COOKIE, "") };
            let cookie =
                format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={CLIENT_COOKIE_MAX_AGE_SECS}{secure}");
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

/// The client token from the one cookie named in `names`; none when there is no such
/// cookie, or more than one (counted across every `Cookie` header).
fn client_cookie(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| names.contains(name))
        .map(|(_, value)| value.trim().trim_matches('"'));
    let first = found.next()?;
    if found.next().is_some() || first.is_empty() {
        return None;
    }
    Some(first.to_string())
}

/// The host the browser addressed (`X-Forwarded-Host` when the operator trusts its proxy).
pub fn request_host(parts: &Parts, trust_forwarded: bool) -> Option<String> {
    let forwarded = trust_forwarded.then(|| header_str(&parts.headers, "x-forwarded-host")).flatten();
    forwarded.or_else(|| header_str(&parts.headers, header::HOST)).or_else(|| parts.uri.host().map(str::to_string))
}

fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<String> {
    if trust_forwarded_for {
        // Proxies append the address they saw: the last hop is the one the operator's own
        // proxy wrote; anything before it came from the client and may be forged.
        if let Some(last) = header_str(&parts.headers, "x-forwarded-for")
            .and_then(|v| v.rsplit(',').next().map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
        {
            return Some(last);
        }
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
}

fn header_str(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = header_str(headers, header::AUTHORIZATION)?;
    let token = value.strip_prefix("Bearer ").unwrap_or(&value).trim();
    (!token.is_empty()).then(|| token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn one_client_cookie_is_read() {
        let names = [SECURE_CLIENT_COOKIE, PLAIN_CLIENT_COOKIE];
        assert_eq!(client_cookie(&cookies(&["a=1; __client=tok; b=2"]), &names).as_deref(), Some("tok"));
        assert_eq!(client_cookie(&cookies(&["__Host-client=tok"]), &names).as_deref(), Some("tok"));
        assert_eq!(client_cookie(&cookies(&["__client_uat=1"]), &names), None);
    }

    #[test]
    fn two_client_cookies_are_none() {
        let names = [SECURE_CLIENT_COOKIE, PLAIN_CLIENT_COOKIE];
        assert_eq!(client_cookie(&cookies(&["__client=real; __client=planted"]), &names), None);
        assert_eq!(client_cookie(&cookies(&["__client=real", "__client=planted"]), &names), None);
        assert_eq!(client_cookie(&cookies(&["__Host-client=real; __client=planted"]), &names), None);
    }

    #[test]
    fn a_plain_cookie_is_ignored_where_cookies_are_secure() {
        assert_eq!(client_cookie(&cookies(&["__client=planted"]), &[SECURE_CLIENT_COOKIE]), None);
        let both = cookies(&["__client=planted; __Host-client=real"]);
        assert_eq!(client_cookie(&both, &[SECURE_CLIENT_COOKIE]).as_deref(), Some("real"));
    }
}
