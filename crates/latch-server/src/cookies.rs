//! The cookies an app's server reads (docs/protocol.md §14; docs/backend.md §1.2, §2.3): the
//! one place they are written, for FAPI answers and for the handshake's directives alike.
//!
//! - `__client_uat` and `__client_uat_<suffix>`: Unix seconds of the client's sign-in state
//!   (`0`: signed out). The value is the flows layer's ([`latch_flows::view::client_uat`]);
//!   this module only writes it: `Path=/; Max-Age=31536000; SameSite=Lax`, `Secure` on https,
//!   never HttpOnly (clerk-js reads it too), and `Domain=<cookie domain>` when the host that
//!   receives it lies inside that domain (the RP ID unless the operator says otherwise), so
//!   that an app on a sibling host of Latch's (app.example.com beside latch.example.com)
//!   receives it. On any other host (localhost, a proxy's internal name) it stays host-only:
//!   a browser drops a cookie whose `Domain` does not cover the host that set it.
//! - `__session` and `__session_<suffix>`: only in handshake directives, host-only on the
//!   app's host, as clerk-js sets them.
//!
//! The suffix is Clerk's, derived from the publishable key
//! ([`latch_flows::backend::keys::cookie_suffix`]); both the plain and the suffixed cookie are
//! written with the same attributes, which is what the SDKs' cookie choice expects.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use latch_flows::handshake::HandshakeGrant;

use crate::state::AppState;

pub const CLIENT_UAT: &str = "__client_uat";
pub const SESSION: &str = "__session";
const ONE_YEAR_SECS: u64 = 365 * 24 * 3600;

/// How the app-readable cookies of one response are written: for which scheme, under which
/// `Domain`, with which suffix.
#[derive(Debug, Clone, Default)]
pub struct AppCookies {
    secure: bool,
    domain: Option<String>,
    suffix: Option<Arc<str>>,
}

impl AppCookies {
    /// For a response that `host` (the `Host` the browser used, port and all) receives.
    pub fn for_host(state: &AppState, host: Option<&str>, secure: bool) -> Self {
        let domain = host.and_then(|h| domain_covering(strip_port(h), state.settings().cookie_domain()));
        AppCookies { secure, domain, suffix: state.cookie_suffix() }
    }

    /// For the app page a handshake returns to.
    pub fn for_page(state: &AppState, page: &url::Url) -> Self {
        Self::for_host(state, page.host_str(), page.scheme() == "https")
    }

    /// `__client_uat` and `__client_uat_<suffix>` set to `uat`.
    pub fn client_uat(&self, uat: i64) -> Vec<String> {
        let domain = self.domain.as_deref().map(|d| format!("; Domain={d}")).unwrap_or_default();
        self.names(CLIENT_UAT)
            .map(|name| format!("{name}={uat}; Path=/{domain}; Max-Age={ONE_YEAR_SECS}; SameSite=Lax{}", self.secure_attr()))
            .collect()
    }

    /// `__session` and `__session_<suffix>`: set to `token`, or cleared.
    pub fn session(&self, token: Option<&str>) -> Vec<String> {
        self.names(SESSION)
            .map(|name| match token {
                Some(jwt) => format!("{name}={jwt}; Path=/; SameSite=Lax{}", self.secure_attr()),
                None => format!("{name}=; Path=/; Max-Age=0; SameSite=Lax{}", self.secure_attr()),
            })
            .collect()
    }

    /// The `Set-Cookie` strings a handshake's payload hands the app's server: the session
    /// cookies (set or cleared) and `__client_uat`. Clerk's SDK takes the session token from
    /// the last `__session…` directive.
    pub fn handshake_directives(&self, grant: &HandshakeGrant) -> Vec<String> {
        let mut directives = self.session(grant.session_token.as_deref());
        directives.extend(self.client_uat(grant.client_uat));
        directives
    }

    /// Appends `__client_uat` (both names) to a FAPI answer.
    pub fn set_client_uat(&self, uat: i64, response: &mut Response) {
        append(response.headers_mut(), self.client_uat(uat));
    }

    fn names(&self, base: &'static str) -> impl Iterator<Item = String> + '_ {
        std::iter::once(base.to_string()).chain(self.suffix.iter().map(move |s| format!("{base}_{s}")))
    }

    fn secure_attr(&self) -> &'static str {
        if self.secure { "; Secure" } else { "" }
    }
}

fn append(headers: &mut HeaderMap, cookies: Vec<String>) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// `domain` if a cookie set by `host` may name it: `host` is `domain` or below it, and
/// `domain` is a dotted name (a browser refuses `Domain=localhost` or an IP address as
/// readily as a foreign domain).
fn domain_covering(host: &str, domain: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let domain = domain.trim_start_matches('.').to_ascii_lowercase();
    let dotted_name = domain.contains('.') && domain.parse::<std::net::IpAddr>().is_err();
    let inside = host == domain || host.ends_with(&format!(".{domain}"));
    (dotted_name && inside).then_some(domain)
}

/// `example.com:8080` → `example.com`; an IPv6 literal keeps its brackets.
fn strip_port(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_is_named_only_on_hosts_inside_it() {
        assert_eq!(domain_covering("app.example.com", "example.com").as_deref(), Some("example.com"));
        assert_eq!(domain_covering("example.com", "example.com").as_deref(), Some("example.com"));
        assert_eq!(domain_covering("APP.Example.com", ".example.com").as_deref(), Some("example.com"));
        assert_eq!(domain_covering("evil-example.com", "example.com"), None);
        assert_eq!(domain_covering("example.org", "example.com"), None);
        assert_eq!(domain_covering("localhost", "localhost"), None);
        assert_eq!(domain_covering("127.0.0.1", "127.0.0.1"), None);
    }

    #[test]
    fn ports_are_not_part_of_the_host() {
        assert_eq!(strip_port("app.example.com:3000"), "app.example.com");
        assert_eq!(strip_port("app.example.com"), "app.example.com");
        assert_eq!(strip_port("[::1]:8080"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }

    fn cookies(secure: bool, domain: Option<&str>) -> AppCookies {
        AppCookies { secure, domain: domain.map(str::to_string), suffix: Some("I1cCqtxJ".into()) }
    }

    #[test]
    fn client_uat_is_written_under_both_names_with_the_same_attributes() {
        let set = cookies(true, Some("example.com")).client_uat(1_700_000_000);
        assert_eq!(
            set,
            [
                "__client_uat=1700000000; Path=/; Domain=example.com; Max-Age=31536000; SameSite=Lax; Secure",
                "__client_uat_I1cCqtxJ=1700000000; Path=/; Domain=example.com; Max-Age=31536000; SameSite=Lax; Secure",
            ]
        );
        assert!(set.iter().all(|c| !c.to_ascii_lowercase().contains("httponly")), "clerk-js reads it");
        assert_eq!(cookies(false, None).client_uat(0)[0], "__client_uat=0; Path=/; Max-Age=31536000; SameSite=Lax");
    }

    #[test]
    fn signed_out_directives_clear_the_session_and_zero_the_uat() {
        let grant = HandshakeGrant { session_token: None, client_uat: 0, redirect_url: "https://app.example.com/".into() };
        let directives = cookies(true, None).handshake_directives(&grant);
        assert_eq!(directives.len(), 4);
        assert!(directives[0].starts_with("__session=; Path=/; Max-Age=0"), "{directives:?}");
        assert!(directives[1].starts_with("__session_I1cCqtxJ=; Path=/; Max-Age=0"), "{directives:?}");
        assert!(directives[2].starts_with("__client_uat=0;") && directives[3].starts_with("__client_uat_I1cCqtxJ=0;"));
    }
}
