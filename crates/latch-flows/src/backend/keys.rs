//! The keys an app holds: the publishable key (public; names Latch's host) and secret keys
//! (`sk_live_…`; authenticate the app's server to the Backend API).
//!
//! A secret key is shown once, when created; the store keeps its SHA-256 only (see
//! `latch_core::backend` for why a fast hash is right for a 256-bit secret). Several keys may
//! be live at once, so an app can move to a new key before the old one is revoked.

use latch_core::backend::{self, SECRET_KEY_PREFIX, SecretKey};
use latch_core::model::Millis;
use latch_store::Store;

use crate::audit::{self, Subject};
use crate::refusal::{FlowResult, Refusal};
use crate::requester::{Requester, token_hash};
use crate::Latch;

/// The host Latch's public URL names, with its port when it has one: what the publishable
/// key encodes, and what Clerk's SDKs expect a session token's `iss` to name. (The cookie
/// suffix of `__client_uat_<suffix>` is derived from the publishable key too.)
pub fn public_host(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// The `pk_live_…` for Latch's public URL.
pub fn publishable_key(latch: &Latch) -> Option<String> {
    public_host(latch.issuer()).map(|host| backend::publishable_key(&host))
}

/// The suffix of the cookies Clerk's SDKs name after an instance (`__client_uat_<suffix>`,
/// `__session_<suffix>`): the first 8 characters of base64(SHA-1(publishable key)) with `+`
/// as `-` and `/` as `_`, as `getCookieSuffix` in @clerk/shared computes it (docs/backend.md
/// §1.2). SHA-1 is Clerk's choice for a name, not a defence: nothing secret goes in.
pub fn cookie_suffix(publishable_key: &str) -> String {
    use base64::Engine;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, publishable_key.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    encoded.chars().take(8).map(|c| match c {
        '+' => '-',
        '/' => '_',
        c => c,
    }).collect()
}

/// The live secret key a Backend API request presents (`Authorization: Bearer sk_live_…`).
/// Missing, unknown and revoked keys are all refused alike.
pub async fn authenticate(latch: &Latch, presented: Option<&str>) -> FlowResult<SecretKey> {
    let presented = presented.ok_or(Refusal::SecretKeyInvalid)?;
    if !presented.starts_with(SECRET_KEY_PREFIX) {
        return Err(Refusal::SecretKeyInvalid);
    }
    latch.store().live_secret_key(&token_hash(presented)).await?.ok_or(Refusal::SecretKeyInvalid)
}

/// A new secret key labelled `label`: its record and the key, to show once.
pub async fn create(store: &dyn Store, label: &str, now: Millis) -> FlowResult<(SecretKey, String)> {
    let (record, key) = SecretKey::issue(label, token_hash, now);
    let line = audit::line(&operator(), "secret_key.create", Subject::default(), None, now);
    store.create_secret_key(&record, &line).await?;
    Ok((record, key))
}

pub async fn list(store: &dyn Store) -> FlowResult<Vec<SecretKey>> {
    Ok(store.secret_keys().await?)
}

/// Revokes secret key `id`: requests with it are refused from now on.
pub async fn revoke(store: &dyn Store, id: &str, now: Millis) -> FlowResult<()> {
    let line = audit::line(&operator(), "secret_key.revoke", Subject::default(), None, now);
    if !store.revoke_secret_key(id, now, &line).await? {
        return Err(Refusal::NotFound("live secret key"));
    }
    Ok(())
}

/// The operator at the command line, as the audit trail names them: no address.
fn operator() -> Requester {
    Requester { user_agent: Some("latch-cli".into()), ..Requester::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_suffix_is_clerks_for_the_worked_example() {
        // docs/backend.md §1.2: the publishable key for latch.example.com.
        assert_eq!(cookie_suffix("pk_live_bGF0Y2guZXhhbXBsZS5jb20k"), "I1cCqtxJ");
        assert_eq!(cookie_suffix(&backend::publishable_key("latch.example.com")), "I1cCqtxJ");
    }

    #[test]
    fn the_cookie_suffix_maps_base64_to_its_url_safe_letters() {
        let suffixes: Vec<String> = (0..200).map(|i| cookie_suffix(&format!("pk_live_{i}"))).collect();
        assert!(suffixes.iter().all(|s| s.len() == 8 && !s.contains(['+', '/', '='])));
        assert!(suffixes.iter().any(|s| s.contains(['-', '_'])), "some digest has a + or / to map");
    }
}
