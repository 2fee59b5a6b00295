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
    /// Recently signed `last_active_token`s by session: every FAPI answer renders the
    /// client's live sessions, and re-signing each time cost 4 signatures per sign-in.
    recent: Arc<Mutex<HashMap<String, (String, i64)>>>,
}

/// Cached tokens are reused while at least this share of their lifetime remains.
const REUSE_WHILE_REMAINING: f64 = 0.5;
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

    /// A token for `claims` (without `azp`), reusing one signed for the same session and
    /// status while more than half of its lifetime remains. Tokens are pure signatures, so a
    /// per-node cache changes nothing another node could observe.
    pub fn sign_reusable(&self, claims: &SessionClaims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let key = format!("{}:{}", claims.sid, claims.sts);
        let lifetime = (claims.exp - claims.iat) as f64;
        if let Ok(recent) = self.recent.lock() {
            if let Some((jwt, exp)) = recent.get(&key) {
                if (*exp - claims.iat) as f64 > lifetime * REUSE_WHILE_REMAINING {
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
