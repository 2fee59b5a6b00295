//! The try-it page of a development instance, at `/`: sign up, add passkeys, sign out, sign
//! in (button or autofill), rename and delete, all through the same FAPI calls clerk-js makes.
//! Plain HTML and one small script, embedded in the binary: nothing to build.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::extract::State;
use axum::routing::get;

use crate::state::AppState;

const PAGE: &str = include_str!("../assets/dev.html");
const SCRIPT: &str = include_str!("../assets/dev.js");
const STYLE: &str = include_str!("../assets/dev.css");
/// The FAPI client module dev.js imports, shared with the account portal.
pub(crate) const FAPI_SCRIPT: &str = include_str!("../assets/fapi.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route(
            "/dev.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response() }),
        )
        .route("/dev.css", get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response() }))
        .route(
            "/fapi.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], FAPI_SCRIPT).into_response() }),
        )
}

/// The page names the RP ID passkeys made here are bound to (which may be a parent of this
/// page's host), so a developer knows where they will and won't work. It is served with the
/// portal's headers: a strict CSP and no framing, as any page that runs a ceremony.
async fn page(State(state): State<AppState>) -> axum::response::Response {
    let html = PAGE.replace("{{rp_id}}", &crate::portal::escape(&state.settings().rp_id));
    crate::portal::with_page_headers(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
