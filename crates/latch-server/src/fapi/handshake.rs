//! `GET /v1/client/handshake` (docs/protocol.md §14, docs/backend.md §2.2): where Clerk's server
//! SDKs send a browser whose app cookies are missing or stale. The flow
//! (`latch_flows::handshake::begin`) checks `redirect_url` and stores the client's state under
//! a nonce; the answer is a 307 back to `redirect_url` with `__clerk_handshake_nonce=<nonce>`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use latch_flows::handshake;

use crate::context::Caller;
use crate::error::ApiResult;
use crate::state::{AppState, now_ms};

/// The query parameters Clerk's handshake carries and the app page must not keep.
const HANDSHAKE_PARAMS: [&str; 2] = ["__clerk_handshake", "__clerk_handshake_nonce"];

pub async fn handshake(State(state): State<AppState>, caller: Caller, uri: Uri) -> ApiResult<Response> {
    let query: Vec<(String, String)> =
        uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let issued = handshake::begin(&state, &caller.requester, param("redirect_url"), param("format"), now_ms()).await?;
    let mut location = issued.redirect_url;
    // A page that already carries an old handshake's parameters gets only the new nonce.
    let kept: Vec<(String, String)> =
        location.query_pairs().filter(|(k, _)| !HANDSHAKE_PARAMS.contains(&k.as_ref())).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    location.set_query(None);
    {
        let mut pairs = location.query_pairs_mut();
        pairs.extend_pairs(kept);
        pairs.append_pair("__clerk_handshake_nonce", &issued.nonce);
    }
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
