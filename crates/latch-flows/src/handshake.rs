//! The handshake: how an app's server learns who its browser is signed in as when its own
//! cookies cannot tell (docs/backend.md §2; docs/protocol.md §14).
//!
//! Clerk's server SDKs keep a copy of the sign-in state on the app's own host: the
//! `__session` token and `__client_uat`. When that copy is missing or stale (an expired token
//! on a page load, a token older than `__client_uat`, a token without `__client_uat`), the SDK
//! sends the browser to Latch's `GET /v1/client/handshake?redirect_url=…&format=nonce`. There
//! the browser's own Latch client cookie says who it is; [`begin`] records that state under a
//! random nonce and the browser goes back to `redirect_url` with it. The app's server then
//! asks the Backend API for the nonce's payload ([`payload`], secret key), sets the cookies it
//! describes, and serves the page signed in, or signed out.
//!
//! The defences, each here:
//! - **No open redirect**: `redirect_url` must be an absolute http(s) URL on one of the
//!   instance's allowed origins, without credentials; anything else is refused before a nonce
//!   exists. A nonce (and the session token it unlocks) therefore only ever travels to the
//!   operator's own apps.
//! - **Single use, short life**: the nonce is 256 random bits; only its SHA-256 is stored; it
//!   is taken by a `DELETE … RETURNING` (two takers: one wins) and refused after
//!   [`NONCE_TTL`]; expired ones are purged with the other dead rows.
//! - **Only a secret key reads it**: the payload route is on the Backend API.
//! - **Bounded writes**: each handshake stores a row, so an address may begin as many per
//!   minute as it may sign in (`--rate-limit-ip-per-minute`).

use std::time::Duration;

use latch_core::ids::new_secret;
use latch_core::model::Millis;
use latch_store::HandshakeNonce;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::refusal::{FlowResult, Refusal};
use crate::requester::{Requester, client_and_session, token_hash};
use crate::tokens::fresh_session_token;
use crate::view::client_uat;
use crate::{Latch, limits, ms};

/// How long a nonce may wait for the app's server. A browser follows the redirect at once;
/// the session token inside must still be valid when the app sets it, and tokens live at
/// least 30 s (the configuration refuses less).
pub const NONCE_TTL: Duration = Duration::from_secs(30);

/// What a nonce unlocks: the client's sign-in state as the app's cookies should say it.
/// The server turns it into `Set-Cookie` directives for the app's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeGrant {
    /// A session token signed for the handshake (`azp` = the app's origin), or None when the
    /// client is signed out (the cookies are then cleared).
    pub session_token: Option<String>,
    /// `__client_uat`, by the one rule ([`client_uat`]).
    pub client_uat: i64,
    /// The page the browser returns to: the directives are scoped to its host and scheme.
    pub redirect_url: String,
}

/// Where the browser goes next: `redirect_url`, to which the server appends the nonce.
#[derive(Debug, Clone)]
pub struct HandshakeIssued {
    pub redirect_url: Url,
    pub nonce: String,
}

/// `GET /v1/client/handshake`: checks `redirect_url`, reads the requester's client (none is
/// fine: signed out), stores a grant under a new nonce.
pub async fn begin(
    latch: &Latch,
    requester: &Requester,
    redirect_url: Option<&str>,
    format: Option<&str>,
    now: Millis,
) -> FlowResult<HandshakeIssued> {
    let redirect_url = allowed_redirect(latch, redirect_url)?;
    if format.is_some_and(|f| f != "nonce") {
        return Err(Refusal::ParamInvalid {
            param: "format".into(),
            why: "Latch answers the handshake in the nonce format only (format=nonce).".into(),
        });
    }
    // Each handshake stores a row: an address gets as many per minute as sign-ins.
    limits::handshake(latch, requester.ip.as_deref(), now).await?;
    let app_origin = redirect_url.origin().ascii_serialization();
    // The client's active session, read with the client in one call; a session of another
    // client, or none, is signed out.
    let found = client_and_session(latch, requester, None).await?;
    let active = found.as_ref().and_then(|f| f.session.as_ref()).filter(|s| s.is_live(now));
    let uat = client_uat(active, now);
    let session_token = match active {
        Some(session) => Some(fresh_session_token(latch, session, Some(&app_origin), now)?),
        None => None,
    };
    let grant = HandshakeGrant { session_token, client_uat: uat, redirect_url: redirect_url.to_string() };
    let grant_json = serde_json::to_string(&grant).map_err(|e| Refusal::Internal(format!("handshake grant: {e}")))?;
    let nonce = new_secret();
    let record = HandshakeNonce { nonce_hash: token_hash(&nonce), grant_json, created_at: now, expire_at: now + ms(NONCE_TTL) };
    latch.store().create_handshake_nonce(&record).await?;
    Ok(HandshakeIssued { redirect_url, nonce })
}

/// `GET /bapi/v1/clients/handshake_payload?nonce=`: the grant a nonce holds, once. Unknown,
/// already taken and expired nonces are all "no such nonce".
pub async fn payload(latch: &Latch, nonce: Option<&str>, now: Millis) -> FlowResult<HandshakeGrant> {
    let nonce = nonce.filter(|n| !n.is_empty()).ok_or_else(|| Refusal::ParamMissing("nonce".into()))?;
    let (grant_json, expire_at) =
        latch.store().take_handshake_nonce(&token_hash(nonce)).await?.ok_or(Refusal::NotFound("handshake nonce"))?;
    if now >= expire_at {
        return Err(Refusal::NotFound("handshake nonce"));
    }
    serde_json::from_str(&grant_json).map_err(|e| Refusal::Internal(format!("stored handshake grant: {e}")))
}

/// `redirect_url` if it may receive a nonce: an absolute http(s) URL without credentials whose
/// origin is one of the instance's allowed origins (the list CORS and WebAuthn use).
fn allowed_redirect(latch: &Latch, redirect_url: Option<&str>) -> FlowResult<Url> {
    let text = redirect_url.filter(|u| !u.is_empty()).ok_or_else(|| Refusal::ParamMissing("redirect_url".into()))?;
    let refuse = |why: &str| Refusal::ParamInvalid { param: "redirect_url".into(), why: why.into() };
    let url = Url::parse(text).map_err(|_| refuse("redirect_url must be an absolute URL."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse("redirect_url must be an http or https URL."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("redirect_url must not carry credentials."));
    }
    if !latch.rp().is_allowed_origin(&url.origin().ascii_serialization()) {
        return Err(refuse("redirect_url is not on one of this instance's allowed origins."));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use latch_core::settings::InstanceSettings;

    use super::*;
    use crate::TokenSigner;
    use crate::tokens::SigningAlgorithm;

    const T: Millis = 1_800_000_000_000;

    async fn latch(dir: &tempfile::TempDir) -> Latch {
        let url = format!("sqlite://{}", dir.path().join("latch.db").display());
        latch_store::migrate(&url).await.unwrap();
        let store: Arc<dyn latch_store::Store> = latch_store::open(&url).await.unwrap();
        let tokens = TokenSigner::load_or_create(store.as_ref(), SigningAlgorithm::EdDsa, Duration::from_secs(60), T).await.unwrap();
        Latch::new(InstanceSettings::dev(3000), store, tokens, "http://localhost:3000".into())
    }

    #[tokio::test]
    async fn a_nonce_is_good_once_and_only_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let latch = latch(&dir).await;
        let signed_out = Requester::default();
        let url = "http://localhost:3000/dashboard";
        let page = Some(url);
        let first = begin(&latch, &signed_out, page, Some("nonce"), T).await.unwrap();
        let grant = payload(&latch, Some(&first.nonce), T + 1_000).await.unwrap();
        assert_eq!(grant, HandshakeGrant { session_token: None, client_uat: 0, redirect_url: url.into() });
        assert_eq!(payload(&latch, Some(&first.nonce), T + 1_000).await, Err(Refusal::NotFound("handshake nonce")), "once");
        // Expiry: the last millisecond before NONCE_TTL works; at NONCE_TTL it does not.
        let late = begin(&latch, &signed_out, page, None, T).await.unwrap();
        assert_eq!(payload(&latch, Some(&late.nonce), T + ms(NONCE_TTL)).await, Err(Refusal::NotFound("handshake nonce")));
        let in_time = begin(&latch, &signed_out, page, None, T).await.unwrap();
        assert!(payload(&latch, Some(&in_time.nonce), T + ms(NONCE_TTL) - 1).await.is_ok());
        assert_eq!(payload(&latch, Some("not-a-nonce"), T).await, Err(Refusal::NotFound("handshake nonce")));
        assert_eq!(payload(&latch, None, T).await, Err(Refusal::ParamMissing("nonce".into())));
    }

    #[tokio::test]
    async fn only_an_allowed_origin_may_receive_a_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let latch = latch(&dir).await;
        let refused = [
            "https://evil.example.com/",
            "http://localhost:3001/",
            "https://localhost:3000/",
            "//evil.example.com/",
            "/dashboard",
            "javascript:alert(1)",
            "http://user:pass@localhost:3000/",
            "not a url",
        ];
        for url in refused {
            let refusal = begin(&latch, &Requester::default(), Some(url), None, T).await.unwrap_err();
            assert!(matches!(&refusal, Refusal::ParamInvalid { param, .. } if param == "redirect_url"), "{url}: {refusal:?}");
        }
        let missing = begin(&latch, &Requester::default(), None, None, T).await.unwrap_err();
        assert_eq!(missing, Refusal::ParamMissing("redirect_url".into()));
        let token_format = begin(&latch, &Requester::default(), Some("http://localhost:3000/"), Some("token"), T).await;
        assert!(matches!(token_format, Err(Refusal::ParamInvalid { param, .. }) if param == "format"));
    }
}
