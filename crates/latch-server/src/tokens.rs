//! Session tokens: short-lived EdDSA JWTs, and the JWKS that lets backends verify them.
//!
//! The signing key is generated once and kept in the database, so every node signs with the
//! same key and tokens survive restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch_core::model::Millis;
use latch_store::{Store, StoreResult, StoredSigningKey};
use openssl::pkey::PKey;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
    /// Public keys of every stored signing key, for the JWKS.
    public_keys: Vec<(String, Vec<u8>)>,
    /// Recently signed tokens by session, status and `azp`: every FAPI answer renders the
    /// client's live sessions with a `last_active_token`, and clerk-js asks `/tokens` for
    /// one right after; signing each time cost 4 signatures per sign-in, now 1.
    recent: Arc<Mutex<HashMap<String, (String, i64)>>>,
}

/// Cached tokens are reused while at least this share of their lifetime remains…
const REUSE_WHILE_REMAINING: f64 = 0.5;
/// …and at least this many seconds: clerk-js refreshes a token 17 s before it expires, so a
/// reused token must not be one it would refresh at once (with short lifetimes, none is).
const REUSE_WHILE_SECS_REMAIN: i64 = 30;
const MAX_CACHED_TOKENS: usize = 50_000;

#[derive(Debug, Serialize)]
pub struct SessionClaims<'a> {
    pub sid: &'a str,
    pub sub: &'a str,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<&'a str>,
    /// Session status: `active`, or `pending` while tasks remain (as Clerk's `sts`).
    pub sts: &'a str,
    pub v: u8,
}

impl TokenSigner {
    /// Loads the signing key from storage, creating it on first start.
    pub async fn load_or_create(store: &dyn Store, now: Millis) -> StoreResult<Self> {
        let mut keys = store.signing_keys().await?;
        if keys.is_empty() {
            keys = store.init_signing_key(&generate_key(now)).await?;
        }
        let newest = keys
            .last()
            .cloned()
            .ok_or_else(|| latch_store::StoreError::Corrupt("no signing key after creating one".into()))?;
        Ok(TokenSigner {
            kid: newest.kid.clone(),
            key: EncodingKey::from_ed_der(&newest.private_pkcs8),
            public_keys: keys.into_iter().map(|k| (k.kid, k.public_raw)).collect(),
            recent: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    pub fn sign(&self, claims: &SessionClaims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }

    /// A token for `claims`, reusing one signed for the same session, status and `azp` while
    /// more than half of its lifetime remains (as clerk-js reuses a token it holds). Tokens
    /// are pure signatures, so a per-node cache changes nothing another node could observe.
    pub fn sign_reusable(&self, claims: &SessionClaims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let key = format!("{}:{}:{}", claims.sid, claims.sts, claims.azp.unwrap_or(""));
        let lifetime = (claims.exp - claims.iat) as f64;
        if let Ok(recent) = self.recent.lock() {
            if let Some((jwt, exp)) = recent.get(&key) {
                let remaining = *exp - claims.iat;
                if remaining as f64 > lifetime * REUSE_WHILE_REMAINING && remaining >= REUSE_WHILE_SECS_REMAIN {
                    return Ok(jwt.clone());
                }
            }
        }
        let jwt = self.sign(claims)?;
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= MAX_CACHED_TOKENS {
                recent.clear();
            }
            recent.insert(key, (jwt.clone(), claims.exp));
        }
        Ok(jwt)
    }

    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .public_keys
            .iter()
            .map(|(kid, raw)| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(raw),
                    "kid": kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        json!({ "keys": keys })
    }
}

fn generate_key(now: Millis) -> StoredSigningKey {
    // OpenSSL is already linked for webauthn-rs; an Ed25519 key from it cannot fail on a
    // sane system, so failure here is a broken install and worth a panic at start-up.
    let key = PKey::generate_ed25519().expect("OpenSSL can generate an Ed25519 key");
    let private_pkcs8 = key.private_key_to_pkcs8().expect("an Ed25519 key serialises to PKCS#8");
    let public_raw = key.raw_public_key().expect("an Ed25519 key has a raw public key");
    let kid = format!("ins_{}", &URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&public_raw))[..16]);
    StoredSigningKey { kid, private_pkcs8, public_raw, created_at: now }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        let key = generate_key(0);
        TokenSigner {
            kid: key.kid.clone(),
            key: EncodingKey::from_ed_der(&key.private_pkcs8),
            public_keys: vec![(key.kid, key.public_raw)],
            recent: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn claims(iat: i64, ttl: i64, azp: Option<&'static str>) -> SessionClaims<'static> {
        SessionClaims { sid: "sess_a", sub: "user_a", iat, nbf: iat - 5, exp: iat + ttl, iss: "latch", azp, sts: "active", v: 2 }
    }

    #[test]
    fn a_token_is_reused_for_the_same_session_status_and_azp_while_half_its_life_remains() {
        let tokens = signer();
        let web = Some("https://app.example.com");
        let first = tokens.sign_reusable(&claims(1_000, 60, web)).unwrap();
        assert_eq!(tokens.sign_reusable(&claims(1_029, 60, web)).unwrap(), first);
        assert_ne!(tokens.sign_reusable(&claims(1_031, 60, web)).unwrap(), first, "less than half its life left");
        assert_ne!(tokens.sign_reusable(&claims(1_000, 60, None)).unwrap(), first, "another azp");
        assert_ne!(tokens.sign_reusable(&claims(1_000, 60, Some("https://other.example.com"))).unwrap(), first);
    }

    #[test]
    fn a_token_with_less_than_30_seconds_left_is_not_reused() {
        let tokens = signer();
        let first = tokens.sign_reusable(&claims(1_000, 40, None)).unwrap();
        assert_eq!(tokens.sign_reusable(&claims(1_010, 40, None)).unwrap(), first);
        assert_ne!(tokens.sign_reusable(&claims(1_011, 40, None)).unwrap(), first, "29 s left, though more than half");
        let short = tokens.sign_reusable(&claims(2_000, 20, None)).unwrap();
        assert_ne!(tokens.sign_reusable(&claims(2_001, 20, None)).unwrap(), short, "a 20 s token is always fresh");
    }
}
