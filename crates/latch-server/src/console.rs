//! The admin console (docs/protocol.md §17), served at `/console` when the operator turns it on
//! (`--console`): a server-rendered shell and one script (`console.js`, over the shared
//! `fapi.js`), with the portal's security headers and no external assets.
//!
//! The page holds no power of its own. An operator signs in with a passkey through the
//! portal's sign-in on this origin; the script then mints the session's token through FAPI
//! (`POST /v1/client/sessions/{id}/tokens`, refreshed before it expires, as clerk-js does) and
//! calls the Backend API with it as `Authorization: Bearer`. Every check — the token, the live
//! session, the operator role, the recent verification a destructive action needs — is the
//! Backend API's (`latch_flows::backend::operators`); a signed-in user who is not an operator
//! gets the page and a 403 from every call.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::portal::{escape, with_page_headers};
use crate::state::AppState;

const PAGE: &str = include_str!("../assets/console.html");
const SCRIPT: &str = include_str!("../assets/console.js");
const STYLE: &str = include_str!("../assets/console.css");
const PORTAL_STYLE: &str = include_str!("../assets/portal.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(|| async { Redirect::to("/console") }))
        .route("/console/console.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT.to_string()) }))
        .route(
            "/console/fapi.js",
            get(|| async { asset("text/javascript; charset=utf-8", crate::dev_page::FAPI_SCRIPT.to_string()) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", format!("{PORTAL_STYLE}\n{STYLE}")) }),
        )
}

async fn page(State(state): State<AppState>) -> Response {
    let settings = state.settings();
    let html = render(&settings.application_name);
    with_page_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

fn render(app_name: &str) -> String {
    PAGE.replace("{{app}}", &escape(app_name))
}

fn asset(content_type: &'static str, body: String) -> Response {
    let mut res = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    res.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_has_no_placeholder_left_and_escapes_the_name() {
        let html = render("<b>{{app}}</b>");
        assert!(!html.contains("{{"), "{html}");
        assert!(html.contains("&lt;b&gt;&#123;&#123;app}}&lt;/b&gt;"), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "no external assets");
    }
}
