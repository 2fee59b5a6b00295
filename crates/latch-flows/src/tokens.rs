//! Session tokens: short-lived EdDSA JWTs, and the JWKS that lets backends verify them.
//!
//! The signing key is generated once and kept in the database, so every node signs with the
//! same key and tokens survive restarts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, rust_crypto};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch_core::model::{Millis, Session};
use latch_store::{Store, StoreResult, StoredSigningKey};

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};
use openssl::pkey::PKey;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone)]
pub struct TokenSigner {
    kid: String,
    key: EncodingKey,
    /// Public keys of every stored signing key, for the JWKS.
    public_keys: Vec<(String, Vec<u8>)>,
    /// Recently signed tokens by session, status and `azp`: every FAPI answer renders the
    /// client's live sessions with a `last_active_token`, and clerk-js asks `/tokens` for
    /// one right after; signing each time cost 4 signatures per sign-in, now 1.
    recent: Arc<Mutex<RecentTokens>>,
}

/// The reusable tokens and the bytes they take: the cache is bounded in entries and in bytes
/// (a key names a session, a status and an `azp`), and emptied when either bound is reached.
#[derive(Default)]
struct RecentTokens {
    by_key: HashMap<String, (String, i64)>,
    bytes: usize,
}

/// Cached tokens are reused while at least this share of their lifetime remains…
const REUSE_WHILE_REMAINING: f64 = 0.5;
/// …and at least this many seconds: clerk-js refreshes a token 17 s before it expires, so a
/// reused token must not be one it would refresh at once (with short lifetimes, none is).
const REUSE_WHILE_SECS_REMAIN: i64 = 30;
const MAX_CACHED_TOKENS: usize = 50_000;
const MAX_CACHED_BYTES: usize = 32 * 1024 * 1024;

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
        install_key_caching_provider();
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
            recent: Arc::new(Mutex::new(RecentTokens::default())),
        })
    }

    fn sign(&self, claims: &SessionClaims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
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
        if let Ok(recent) = self.recent.lock()
            && let Some((jwt, exp)) = recent.by_key.get(&key)
        {
            let remaining = *exp - claims.iat;
            if remaining as f64 > lifetime * REUSE_WHILE_REMAINING && remaining >= REUSE_WHILE_SECS_REMAIN {
                return Ok(jwt.clone());
            }
        }
        let jwt = self.sign(claims)?;
        if let Ok(mut recent) = self.recent.lock() {
            let size = key.len() + jwt.len();
            if recent.by_key.len() >= MAX_CACHED_TOKENS || recent.bytes + size > MAX_CACHED_BYTES {
                *recent = RecentTokens::default();
            }
            recent.bytes += size;
            if let Some((old, _)) = recent.by_key.insert(key, (jwt.clone(), claims.exp)) {
                recent.bytes -= size - jwt.len() + old.len();
            }
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

/// The session JWT for `session` at `now`, valid for the instance's token lifetime, naming
/// the page it was issued to (`azp`). Signed here, before anything renders it.
pub fn session_token(latch: &Latch, session: &Session, azp: Option<&str>, now: Millis) -> FlowResult<String> {
    let now_secs = now / 1000;
    let claims = SessionClaims {
        sid: &session.id,
        sub: &session.user_id,
        iat: now_secs,
        nbf: now_secs - 5,
        exp: now_secs + i64::try_from(latch.settings().token_ttl.as_secs()).unwrap_or(60),
        iss: &latch.issuer,
        azp,
        sts: session.status_at(now).as_str(),
        v: 2,
    };
    latch.tokens.sign_reusable(&claims).map_err(|e| Refusal::Internal(format!("token signing: {e}")))
}

/// jsonwebtoken asks its process-wide `CryptoProvider` for a signer on every `encode`, and
/// the stock RustCrypto one parses the PKCS#8 key and derives its public key each time, a
/// scalar multiplication that was almost half a token's cost (BENCHMARKS.md). This provider
/// is the stock one except that it keeps the Ed25519 key it parsed last. Installed once,
/// before the first token; should another provider be in place already, tokens are the same,
/// only slower.
fn install_key_caching_provider() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider { signer_factory: signer_for, ..rust_crypto::DEFAULT_PROVIDER.clone() });
    let _ = provider.install_default();
}

fn signer_for(algorithm: &Algorithm, key: &EncodingKey) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if *algorithm != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    static LAST_KEY: Mutex<Option<(Vec<u8>, SigningKey)>> = Mutex::new(None);
    let mut last = LAST_KEY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((der, parsed)) = last.as_ref()
        && der.as_slice() == key.as_bytes()
    {
        return Ok(Box::new(Ed25519Signer(parsed.clone())));
    }
    let parsed = SigningKey::from_pkcs8_der(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?;
    *last = Some((key.as_bytes().to_vec(), parsed.clone()));
    Ok(Box::new(Ed25519Signer(parsed)))
}

struct Ed25519Signer(SigningKey);

impl signature::Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(ed25519_dalek::Signer::sign(&self.0, message).to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
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
        install_key_caching_provider();
        let key = generate_key(0);
        TokenSigner {
            kid: key.kid.clone(),
            key: EncodingKey::from_ed_der(&key.private_pkcs8),
            public_keys: vec![(key.kid, key.public_raw)],
            recent: Arc::new(Mutex::new(RecentTokens::default())),
        }
    }

    fn claims(iat: i64, ttl: i64, azp: Option<&'static str>) -> SessionClaims<'static> {
        SessionClaims { sid: "sess_a", sub: "user_a", iat, nbf: iat - 5, exp: iat + ttl, iss: "latch", azp, sts: "active", v: 2 }
    }

    #[test]
    fn the_key_caching_signer_signs_as_the_stock_one() {
        let key = EncodingKey::from_ed_der(&generate_key(0).private_pkcs8);
        let stock = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::EdDSA, &key).unwrap();
        for _ in 0..2 {
            let cached = signer_for(&Algorithm::EdDSA, &key).unwrap();
            assert_eq!(cached.try_sign(b"header.claims").unwrap(), stock.try_sign(b"header.claims").unwrap());
        }
        let other = EncodingKey::from_ed_der(&generate_key(0).private_pkcs8);
        let stock_other = (rust_crypto::DEFAULT_PROVIDER.signer_factory)(&Algorithm::EdDSA, &other).unwrap();
        assert_eq!(signer_for(&Algorithm::EdDSA, &other).unwrap().try_sign(b"m").unwrap(), stock_other.try_sign(b"m").unwrap());
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

    #[test]
    fn the_token_cache_is_bounded_in_bytes() {
        let tokens = signer();
        let long_origin: &'static str = Box::leak(format!("https://{}.example", "a".repeat(30_000)).into_boxed_str());
        for i in 0..2_000 {
            let claims = SessionClaims { sid: Box::leak(format!("sess_{i}").into_boxed_str()), ..claims(1_000, 60, Some(long_origin)) };
            tokens.sign_reusable(&claims).unwrap();
            let recent = tokens.recent.lock().unwrap();
            assert!(recent.bytes <= MAX_CACHED_BYTES, "{} bytes cached", recent.bytes);
            let counted: usize = recent.by_key.iter().map(|(k, (jwt, _))| k.len() + jwt.len()).sum();
            assert_eq!(recent.bytes, counted);
        }
    }
}
