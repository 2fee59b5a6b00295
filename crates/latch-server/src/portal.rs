//! The hosted account portal, meant for `accounts.<your domain>` like Clerk's Account Portal:
//! `/portal/sign-in` (a passkey button and autofill), `/portal/sign-up` (a username, then the
//! offer of a passkey) and `/portal/account` (list, rename, delete and add passkeys; sign out).
//!
//! Server-rendered HTML shells and one small script (`portal.js`, over the same `fapi.js` as
//! the dev page): the pages speak FAPI on their own origin, so the portal works on any host
//! listed in the origins, with no app code. Everything is embedded: no external assets.
//! A development instance says on every page which RP ID its passkeys are bound to.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::state::AppState;

const LAYOUT: &str = include_str!("../assets/portal.html");
const DEV_WARNING: &str = include_str!("../assets/portal-dev-warning.html");
const SIGN_IN: &str = include_str!("../assets/portal-sign-in.html");
const SIGN_UP: &str = include_str!("../assets/portal-sign-up.html");
const ACCOUNT: &str = include_str!("../assets/portal-account.html");
const SCRIPT: &str = include_str!("../assets/portal.js");
const STYLE: &str = include_str!("../assets/portal.css");
const MESSAGES: &str = r#"<p id="status" class="status" role="status" aria-live="polite"></p>
<p id="error" class="error" role="alert"></p>"#;

/// Same-origin everything; no framing (a passkey page must not be clickjacked).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

#[derive(Clone, Copy)]
enum Page {
    SignIn,
    SignUp,
    Account,
}

impl Page {
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Page::SignIn => ("sign-in", "Sign in", SIGN_IN),
            Page::SignUp => ("sign-up", "Create your account", SIGN_UP),
            Page::Account => ("account", "Your account", ACCOUNT),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(|| async { Redirect::to("/portal/account") }))
        .route("/portal/", get(|| async { Redirect::to("/portal/account") }))
        .route("/portal/sign-in", get(|s: State<AppState>| page(s, Page::SignIn)))
        .route("/portal/sign-up", get(|s: State<AppState>| page(s, Page::SignUp)))
        .route("/portal/account", get(|s: State<AppState>| page(s, Page::Account)))
        .route("/portal/portal.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/portal/fapi.js", get(|| async { asset("text/javascript; charset=utf-8", crate::dev_page::FAPI_SCRIPT) }))
        .route("/portal/portal.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

async fn page(State(state): State<AppState>, which: Page) -> Response {
    let settings = state.settings();
    let html = render(which, &settings.application_name, &settings.rp_id, settings.dev_mode);
    with_page_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

/// The headers of every page Latch serves (the portal's and the dev page): the CSP, no
/// framing, no sniffing, no referrer, no caching.
pub(crate) fn with_page_headers(mut res: Response) -> Response {
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    res.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn render(which: Page, app_name: &str, rp_id: &str, dev_mode: bool) -> String {
    let (kind, title, content) = which.parts();
    let app = escape(app_name);
    let rp = escape(rp_id);
    let warning = if dev_mode { DEV_WARNING.replace("{{rp_id}}", &rp) } else { String::new() };
    // Placeholders are filled outside-in, and operator text (already escaped) last, so that an
    // application name containing `{{…}}` cannot inject a template.
    LAYOUT
        .replace("{{dev_warning}}", &warning)
        .replace("{{content}}", content)
        .replace("{{messages}}", MESSAGES)
        .replace("{{page}}", kind)
        .replace("{{title}}", title)
        .replace("{{rp_id}}", &rp)
        .replace("{{app}}", &app)
}

pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '{' => out.push_str("&#123;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for page in [Page::SignIn, Page::SignUp, Page::Account] {
            for dev in [true, false] {
                let html = render(page, "Acme", "example.com", dev);
                assert!(!html.contains("{{"), "{html}");
                assert_eq!(html.contains("Development instance"), dev);
            }
        }
    }

    #[test]
    fn operator_text_is_escaped() {
        let html = render(Page::SignIn, "<script>{{rp_id}}</script>", "example.com", true);
        assert!(!html.contains("<script>{{"), "{html}");
        assert!(html.contains("&lt;script&gt;&#123;&#123;rp_id}}"), "{html}");
    }

    #[test]
    fn the_dev_warning_names_the_rp_id() {
        let html = render(Page::Account, "Acme", "example.test", true);
        let warning = &html[html.find("dev-warning").unwrap()..html.find("</section>").unwrap()];
        assert!(warning.contains("<strong id=\"dev-rp-id\">example.test</strong>"), "{warning}");
        assert!(warning.contains("not on another host"), "{warning}");
    }
}
