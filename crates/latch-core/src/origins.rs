//! Which web origins may use the relying party, and whether an operator's list makes sense
//! to browsers before any user meets it.
//!
//! Browsers enforce WebAuthn's domain rule: a page may use RP ID `R` only if its host is `R`
//! or a subdomain of `R`, or — with Related Origin Requests — if `https://R/.well-known/webauthn`
//! lists the page's origin. [`validate`] refuses settings that would fail that rule, with a
//! message that says what to change.
//!
//! An origin the operator allows may do one of two things, and the second is far stronger:
//!
//! * **run ceremonies**: its pages' passkey assertions and registrations are accepted
//!   (clientDataJSON names it), and session tokens may name it as `azp`;
//! * **call Latch with credentials** from another origin: read answers that carry the client's
//!   session tokens through CORS, and pass the CSRF check on writes that carry its cookie.
//!
//! An exact origin (`https://app.example.com`) grants both: the operator named that one page.
//! A wildcard (`https://*.example.com`) grants ceremonies only: "every subdomain" easily takes
//! in a host that serves other people's content, which must not read a user's tokens. A page
//! under a wildcard still calls Latch with credentials when Latch itself serves it (same
//! origin: the account portal on each subdomain), and the operator who wants every subdomain
//! to read cross-origin says so with `--credentialed-origin https://*.example.com`.
//! [`may_call_with_credentials`] is that rule, the only place it is written.

use url::Url;

/// `scheme://*.parent[:port]`: every subdomain of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WildcardOrigin {
    pub scheme: String,
    pub parent: String,
    pub port: Option<u16>,
}

impl WildcardOrigin {
    pub fn matches(&self, origin: &Url) -> bool {
        origin.scheme() == self.scheme
            && origin.port() == self.port
            && origin.host_str().is_some_and(|h| h.len() > self.parent.len() && h.ends_with(&format!(".{}", self.parent)))
    }
}

impl std::fmt::Display for WildcardOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://*.{}", self.scheme, self.parent)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// An origin as an operator writes it: exact (`https://app.example.com`) or a wildcard
/// (`https://*.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPattern {
    Exact(Url),
    Wildcard(WildcardOrigin),
}

impl OriginPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_end_matches('/');
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("origin {text:?} needs a scheme, like https://{text}"))?;
        if let Some(after_star) = rest.strip_prefix("*.") {
            let probe = Url::parse(&format!("{scheme}://{after_star}"))
                .map_err(|e| format!("origin {text:?} is not a valid origin: {e}"))?;
            check_origin_shape(text, &probe)?;
            return Ok(OriginPattern::Wildcard(WildcardOrigin {
                scheme: probe.scheme().to_string(),
                parent: probe.host_str().unwrap_or_default().to_string(),
                port: probe.port(),
            }));
        }
        let url = Url::parse(text).map_err(|e| format!("origin {text:?} is not a valid origin: {e}"))?;
        check_origin_shape(text, &url)?;
        Ok(OriginPattern::Exact(url))
    }

    pub fn host(&self) -> &str {
        match self {
            OriginPattern::Exact(u) => u.host_str().unwrap_or_default(),
            OriginPattern::Wildcard(w) => &w.parent,
        }
    }

    pub fn scheme(&self) -> &str {
        match self {
            OriginPattern::Exact(u) => u.scheme(),
            OriginPattern::Wildcard(w) => &w.scheme,
        }
    }

    pub fn matches(&self, origin: &Url) -> bool {
        match self {
            OriginPattern::Exact(u) => u.origin() == origin.origin(),
            OriginPattern::Wildcard(w) => w.matches(origin),
        }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginPattern::Exact(u) => f.write_str(&u.origin().ascii_serialization()),
            OriginPattern::Wildcard(w) => w.fmt(f),
        }
    }
}

fn check_origin_shape(text: &str, url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("origin {text:?} must be http:// or https://"));
    }
    if url.host_str().is_none() {
        return Err(format!("origin {text:?} has no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("origin {text:?} must be scheme://host[:port] only, without a path"));
    }
    Ok(())
}

/// Whether a page at `origin` may call Latch with credentials (module docs): an exact origin
/// among the `allowed`, any pattern among the `credentialed`, or, for a page Latch serves
/// itself (`same_origin_host`: the request's `Host` equals the origin's host and port), an
/// origin any allowed pattern matches. A browser sets both `Origin` and `Host` itself, so no
/// page can pass for another.
pub fn may_call_with_credentials(
    allowed: &[OriginPattern],
    credentialed: &[OriginPattern],
    origin: &Url,
    request_host: Option<&str>,
) -> bool {
    let exact = |p: &OriginPattern| matches!(p, OriginPattern::Exact(_)) && p.matches(origin);
    if allowed.iter().any(exact) || credentialed.iter().any(|p| p.matches(origin)) {
        return true;
    }
    request_host.is_some_and(|host| is_same_origin(origin, host)) && allowed.iter().any(|p| p.matches(origin))
}

/// `origin`'s host and port are the request's `Host` header (its scheme is the pattern's to
/// judge). Ports compare as written: `Origin` leaves out a default port, as `Host` does.
fn is_same_origin(origin: &Url, request_host: &str) -> bool {
    let Some(host) = origin.host_str() else { return false };
    let authority = match origin.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    authority.eq_ignore_ascii_case(request_host)
}

/// `host` is `rp_id` or a subdomain of it: the browser's rule for using RP ID `rp_id`.
pub fn host_is_within(host: &str, rp_id: &str) -> bool {
    host == rp_id || (host.len() > rp_id.len() && host.ends_with(rp_id) && host.as_bytes()[host.len() - rp_id.len() - 1] == b'.')
}

fn is_localhost(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// The label browsers count for Related Origin Requests: the registrable domain's first
/// label (`example` for `shop.example.co.uk`). Chromium accepts at most five distinct ones.
pub fn registrable_label(host: &str) -> String {
    let registrable = psl::domain_str(host).unwrap_or(host);
    registrable.split('.').next().unwrap_or(registrable).to_string()
}

/// Browsers honour at most this many distinct registrable labels in `/.well-known/webauthn`.
pub const MAX_RELATED_ORIGIN_LABELS: usize = 5;

/// Checks an RP ID and its origins as a browser will judge them. `dev_mode` allows plain
/// http on any host (for test domains mapped to loopback); production requires https except
/// on localhost.
pub fn validate(
    rp_id: &str,
    origins: &[OriginPattern],
    related: &[OriginPattern],
    dev_mode: bool,
) -> Result<(), String> {
    if rp_id.is_empty() || rp_id.contains("://") || rp_id.contains('/') || rp_id.contains(':') {
        return Err(format!(
            "rp_id {rp_id:?} must be a bare domain such as example.com (no scheme, port or path)"
        ));
    }
    if rp_id != rp_id.to_ascii_lowercase() {
        return Err(format!("rp_id {rp_id:?} must be lowercase: use {:?}", rp_id.to_ascii_lowercase()));
    }
    if rp_id.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("rp_id {rp_id:?} is an IP address; WebAuthn needs a domain name (use localhost in development)"));
    }
    if rp_id == "localhost" {
        if !dev_mode {
            return Err("rp_id \"localhost\" is for development only; set rp_id to your domain (e.g. example.com) in production".into());
        }
    } else if let Some(suffix) = psl::suffix_str(rp_id) {
        let known_suffix = psl::suffix(rp_id.as_bytes()).is_some_and(|s| s.is_known());
        if suffix == rp_id && known_suffix {
            return Err(format!(
                "rp_id {rp_id:?} is a public suffix, which browsers refuse as an RP ID; use your registrable domain under it (e.g. example.{rp_id})"
            ));
        }
    }
    if origins.is_empty() {
        return Err("no origins are allowed: list at least one origin (e.g. https://example.com) where your users sign in".into());
    }
    for origin in origins {
        if !host_is_within(origin.host(), rp_id) {
            return Err(format!(
                "origin {origin} is not on rp_id {rp_id:?} or one of its subdomains, so browsers will refuse passkeys there; \
                 move it to related_origins (served at https://{rp_id}/.well-known/webauthn) or change rp_id"
            ));
        }
        check_scheme(origin, dev_mode)?;
    }
    for origin in related {
        check_scheme(origin, dev_mode)?;
        if matches!(origin, OriginPattern::Wildcard(_)) {
            return Err(format!("related origin {origin} cannot be a wildcard: browsers match related origins exactly"));
        }
    }
    let mut labels: Vec<String> = related
        .iter()
        .filter(|o| !host_is_within(o.host(), rp_id))
        .map(|o| registrable_label(o.host()))
        .collect();
    labels.sort();
    labels.dedup();
    if labels.len() > MAX_RELATED_ORIGIN_LABELS {
        return Err(format!(
            "related_origins span {} registrable domains ({}); browsers honour at most {MAX_RELATED_ORIGIN_LABELS}: drop some",
            labels.len(),
            labels.join(", ")
        ));
    }
    Ok(())
}

fn check_scheme(origin: &OriginPattern, dev_mode: bool) -> Result<(), String> {
    if origin.scheme() == "http" && !dev_mode && !is_localhost(origin.host()) {
        return Err(format!(
            "origin {origin} uses http; browsers allow passkeys only on https (or localhost). Use https://{}",
            origin.host()
        ));
    }
    Ok(())
}

/// A cookie domain browsers accept: a lowercase host name (not an IP address) that is not a
/// public suffix (`Domain=co.uk` would be dropped by every browser).
pub fn validate_cookie_domain(domain: &str) -> Result<(), String> {
    let looks_like_name = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        && domain.parse::<std::net::Ipv4Addr>().is_err();
    if !looks_like_name {
        return Err(format!("cookie domain {domain:?} must be a lowercase host name such as example.com"));
    }
    let below_a_suffix = if domain.contains('.') { psl::domain_str(domain).is_some() } else { domain == "localhost" };
    if !below_a_suffix {
        return Err(format!("cookie domain {domain:?} is a public suffix; browsers refuse cookies scoped to it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_domain_is_a_host_name_below_a_public_suffix() {
        for ok in ["example.com", "auth.example.com", "example.co.uk", "localhost"] {
            assert!(validate_cookie_domain(ok).is_ok(), "{ok}");
        }
        for bad in ["co.uk", "com", "Example.com", ".example.com", "example..com", "127.0.0.1", "", "exa mple.com"] {
            assert!(validate_cookie_domain(bad).is_err(), "{bad:?}");
        }
    }

    fn p(s: &str) -> OriginPattern {
        OriginPattern::parse(s).unwrap()
    }

    #[test]
    fn origins_on_the_rp_id_and_its_subdomains_are_accepted() {
        let origins = [p("https://example.com"), p("https://accounts.example.com"), p("https://*.example.com")];
        assert_eq!(validate("example.com", &origins, &[], false), Ok(()));
    }

    #[test]
    fn an_origin_on_another_domain_must_be_a_related_origin() {
        let err = validate("example.com", &[p("https://example-admin.com")], &[], false).unwrap_err();
        assert!(err.contains("related_origins"), "{err}");
        assert_eq!(validate("example.com", &[p("https://example.com")], &[p("https://example-admin.com")], false), Ok(()));
    }

    #[test]
    fn sibling_subdomains_are_not_within_each_other() {
        let err = validate("staging1.example.com", &[p("https://staging2.example.com")], &[], false).unwrap_err();
        assert!(err.contains("not on rp_id"), "{err}");
        assert!(!host_is_within("notexample.com", "example.com"));
    }

    #[test]
    fn public_suffixes_and_ips_are_refused_as_rp_id() {
        let err = validate("co.uk", &[p("https://shop.co.uk")], &[], false).unwrap_err();
        assert!(err.contains("public suffix"), "{err}");
        let err = validate("127.0.0.1", &[p("http://127.0.0.1:8080")], &[], true).unwrap_err();
        assert!(err.contains("IP address"), "{err}");
    }

    #[test]
    fn plain_http_needs_dev_mode_or_localhost() {
        let err = validate("example.com", &[p("http://example.com")], &[], false).unwrap_err();
        assert!(err.contains("https"), "{err}");
        assert_eq!(validate("example.com", &[p("http://example.com")], &[], true), Ok(()));
        assert_eq!(validate("localhost", &[p("http://localhost:8080")], &[], true), Ok(()));
        let err = validate("localhost", &[p("http://localhost:8080")], &[], false).unwrap_err();
        assert!(err.contains("development only"), "{err}");
    }

    #[test]
    fn too_many_related_domains_are_refused() {
        let related: Vec<_> = ["a", "b", "c", "d", "e", "f"].iter().map(|l| p(&format!("https://{l}-shop.com"))).collect();
        let err = validate("example.com", &[p("https://example.com")], &related, false).unwrap_err();
        assert!(err.contains("at most 5"), "{err}");
        assert_eq!(validate("example.com", &[p("https://example.com")], &related[..5], false), Ok(()));
    }

    #[test]
    fn wildcards_match_subdomains_only() {
        let w = p("https://*.example.com");
        assert!(w.matches(&Url::parse("https://a.example.com").unwrap()));
        assert!(w.matches(&Url::parse("https://a.b.example.com").unwrap()));
        assert!(!w.matches(&Url::parse("https://example.com").unwrap()));
        assert!(!w.matches(&Url::parse("https://badexample.com").unwrap()));
        assert!(!w.matches(&Url::parse("http://a.example.com").unwrap()));
    }

    #[test]
    fn a_wildcard_runs_ceremonies_but_calls_with_credentials_only_from_its_own_host_or_when_listed() {
        let url = |s: &str| Url::parse(s).unwrap();
        let allowed = [p("https://app.example.com"), p("https://*.example.com")];
        let user_content = url("https://files.example.com");
        assert!(allowed.iter().any(|o| o.matches(&user_content)), "ceremonies: the wildcard covers it");
        assert!(may_call_with_credentials(&allowed, &[], &url("https://app.example.com"), None), "exact: both");
        assert!(!may_call_with_credentials(&allowed, &[], &user_content, Some("accounts.example.com")));
        assert!(!may_call_with_credentials(&allowed, &[], &user_content, None));
        // A page Latch serves on that host itself.
        assert!(may_call_with_credentials(&allowed, &[], &user_content, Some("files.example.com")));
        assert!(!may_call_with_credentials(&allowed, &[], &url("https://files.example.com:8443"), Some("files.example.com")));
        assert!(!may_call_with_credentials(&allowed, &[], &url("https://other.net"), Some("other.net")), "never unlisted");
        // The operator's explicit choice.
        let credentialed = [p("https://*.example.com")];
        assert!(may_call_with_credentials(&allowed, &credentialed, &user_content, Some("accounts.example.com")));
    }

    #[test]
    fn malformed_origins_say_what_is_wrong() {
        assert!(OriginPattern::parse("example.com").unwrap_err().contains("scheme"));
        assert!(OriginPattern::parse("https://example.com/app").unwrap_err().contains("path"));
        assert!(OriginPattern::parse("ftp://example.com").unwrap_err().contains("http"));
    }
}
