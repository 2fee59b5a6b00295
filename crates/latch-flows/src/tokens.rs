//! Session tokens: short-lived JWTs an app's server verifies, and the JWKS it verifies them
//! with.
//!
//! - **Algorithm.** RS256 with an RSA-2048 key (e = 65537) by default: Clerk's server SDKs
//!   accept RS256/384/512 only, and `CLERK_JWT_KEY` only an RSA-2048 PEM (docs/backend.md
//!   §1.4–1.5). EdDSA (Ed25519) is the operator's alternative for apps that verify tokens
//!   themselves. Either way the key is generated, parsed and used by aws-lc-rs, whose RSA is
//!   constant-time (not the `rsa` crate: RUSTSEC-2023-0071).
//! - **Keys live in the database**, so every node signs with the same key and tokens survive
//!   restarts. The newest live key of the configured algorithm signs.
//! - **Rotation without downtime** ([`rotate`], `latch keys rotate-signing`): the new key signs
//!   at once on the node that rotated and on the others at their next [`TokenSigner::refresh`]
//!   (a minute at most); a retired key stays in the JWKS for the token lifetime plus a margin,
//!   so no token it signed fails to verify before it expires. Clerk's SDKs refetch the JWKS
//!   on an unknown `kid`, so a new key needs no warm-up.
//! - **Reuse.** A token is reused per session, status and `azp` while more than half its
//!   lifetime and 30 s remain, so a sign-in signs one token (an RSA-2048 signature costs 22–26×
//!   an Ed25519 one, ≈ 0.3 ms; BENCHMARKS.md, session 5).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, aws_lc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latch_core::model::{Millis, Session};
use latch_store::{Store, StoreError, StoreResult, StoredSigningKey};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Latch;
use crate::refusal::{FlowResult, Refusal};

/// The algorithm session tokens are signed with: the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048: what Clerk's server SDKs accept.
    #[default]
    Rs256,
    /// Ed25519: smaller and ~25× cheaper to sign, but Clerk's server SDKs refuse it.
    EdDsa,
}

impl SigningAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(SigningAlgorithm::Rs256),
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            _ => None,
        }
    }

    fn jwt(self) -> Algorithm {
        match self {
            SigningAlgorithm::Rs256 => Algorithm::RS256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
        }
    }
}

#[derive(Clone)]
pub struct TokenSigner {
    algorithm: SigningAlgorithm,
    /// How long a retired key stays in the JWKS: the token lifetime and a margin.
    retention: Millis,
    keys: Arc<RwLock<Arc<KeySet>>>,
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

/// The stored keys as the signer uses them.
struct KeySet {
    /// Every stored key's id and retirement, to notice a rotation.
    stamp: Vec<(String, Option<Millis>)>,
    signing_kid: String,
    signing_key: EncodingKey,
    /// The signing key's public half as a PEM (RSA keys only): `CLERK_JWT_KEY`.
    signing_pem: Option<String>,
    /// Each key's JWK with its retirement time.
    published: Vec<(Value, Option<Millis>)>,
}

/// Cached tokens are reused while at least this share of their lifetime remains…
const REUSE_WHILE_REMAINING: f64 = 0.5;
/// …and at least this many seconds: clerk-js refreshes a token 17 s before it expires, so a
/// reused token must not be one it would refresh at once (with short lifetimes, none is).
const REUSE_WHILE_SECS_REMAIN: i64 = 30;
const MAX_CACHED_TOKENS: usize = 50_000;
/// A retired key stays published this long past the token lifetime (clock skew, caches).
const RETENTION_MARGIN: Duration = Duration::from_secs(600);
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
    /// Session status: `active`, or `pending` while tasks remain (as Clerk's `sts`). Clerk's
    /// server SDKs treat a `pending` token as signed out, as Latch's FAPI does for everything
    /// but finishing the tasks.
    pub sts: &'a str,
    pub v: u8,
}

impl TokenSigner {
    /// Loads the signing keys from storage, creating the first key of `algorithm` if there
    /// is none. Retired keys stay published for `token_ttl` and a margin.
    pub async fn load_or_create(
        store: &dyn Store,
        algorithm: SigningAlgorithm,
        token_ttl: Duration,
        now: Millis,
    ) -> StoreResult<Self> {
        install_key_caching_provider();
        let mut stored = store.signing_keys().await?;
        if !stored
            .iter()
            .any(|k| k.alg == algorithm.as_str() && k.retired_at.is_none())
        {
            stored = store
                .init_signing_key(&generate_key(algorithm, now)?)
                .await?;
        }
        let keys = KeySet::from_stored(&stored, algorithm)?;
        Ok(TokenSigner {
            algorithm,
            retention: crate::ms(token_ttl + RETENTION_MARGIN),
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            recent: Arc::new(Mutex::new(RecentTokens::default())),
        })
    }

    /// Rereads the stored keys: another node (or `latch keys rotate-signing`) may have
    /// rotated. Cheap when nothing changed.
    pub async fn refresh(&self, store: &dyn Store) -> StoreResult<()> {
        let stored = store.signing_keys().await?;
        let stamp: Vec<_> = stored
            .iter()
            .map(|k| (k.kid.clone(), k.retired_at))
            .collect();
        if self.current().stamp == stamp {
            return Ok(());
        }
        let keys = Arc::new(KeySet::from_stored(&stored, self.algorithm)?);
        if let Ok(mut slot) = self.keys.write() {
            *slot = keys;
        }
        Ok(())
    }

    fn current(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The signing key's public half as a PEM, for `CLERK_JWT_KEY` (RSA keys only).
    pub fn public_key_pem(&self) -> Option<String> {
        self.current().signing_pem.clone()
    }

    fn sign(&self, claims: &SessionClaims<'_>) -> Result<String, jsonwebtoken::errors::Error> {
        let keys = self.current();
        let mut header = Header::new(self.algorithm.jwt());
        header.kid = Some(keys.signing_kid.clone());
        jsonwebtoken::encode(&header, claims, &keys.signing_key)
    }

    /// A token for `claims`, reusing one signed for the same session, status and `azp` while
    /// more than half of its lifetime remains (as clerk-js reuses a token it holds). Tokens
    /// are pure signatures, so a per-node cache changes nothing another node could observe.
    pub fn sign_reusable(
        &self,
        claims: &SessionClaims<'_>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let key = format!("{}:{}:{}", claims.sid, claims.sts, claims.azp.unwrap_or(""));
        let lifetime = (claims.exp - claims.iat) as f64;
        if let Ok(recent) = self.recent.lock()
            && let Some((jwt, exp)) = recent.by_key.get(&key)
        {
            let remaining = *exp - claims.iat;
            if remaining as f64 > lifetime * REUSE_WHILE_REMAINING
                && remaining >= REUSE_WHILE_SECS_REMAIN
            {
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

    /// The JWKS at `now`: every live key, and retired keys while tokens they signed may live.
    pub fn jwks(&self, now: Millis) -> Value {
        let current = self.current();
        let keys: Vec<&Value> = current
            .published
            .iter()
            .filter(|(_, retired_at)| {
                retired_at.is_none_or(|at| now < at.saturating_add(self.retention))
            })
            .map(|(jwk, _)| jwk)
            .collect();
        json!({ "keys": keys })
    }
}

impl KeySet {
    fn from_stored(
        stored: &[StoredSigningKey],
        algorithm: SigningAlgorithm,
    ) -> StoreResult<KeySet> {
        let signing = stored
            .iter()
            .rev()
            .find(|k| k.alg == algorithm.as_str() && k.retired_at.is_none())
            .ok_or_else(|| {
                StoreError::Corrupt(format!("no live {} signing key", algorithm.as_str()))
            })?;
        let signing_pem =
            (algorithm == SigningAlgorithm::Rs256).then(|| pem("PUBLIC KEY", &signing.public_raw));
        let signing_key = match algorithm {
            SigningAlgorithm::Rs256 => EncodingKey::from_rsa_der(&signing.private_pkcs8),
            SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(&signing.private_pkcs8),
        };
        let published = stored
            .iter()
            .map(|k| Ok((jwk(k)?, k.retired_at)))
            .collect::<StoreResult<_>>()?;
        Ok(KeySet {
            stamp: stored
                .iter()
                .map(|k| (k.kid.clone(), k.retired_at))
                .collect(),
            signing_kid: signing.kid.clone(),
            signing_key,
            signing_pem,
            published,
        })
    }
}

/// A stored key's public JWK.
fn jwk(key: &StoredSigningKey) -> StoreResult<Value> {
    match SigningAlgorithm::parse(&key.alg) {
        Some(SigningAlgorithm::EdDsa) => Ok(json!({
            "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(&key.public_raw),
            "kid": key.kid, "alg": "EdDSA", "use": "sig",
        })),
        Some(SigningAlgorithm::Rs256) => {
            let pair = RsaKeyPair::from_pkcs8(&key.private_pkcs8)
                .map_err(|e| StoreError::Corrupt(format!("RSA signing key {}: {e}", key.kid)))?;
            let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            Ok(json!({
                "kty": "RSA", "kid": key.kid, "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e),
            }))
        }
        None => Err(StoreError::Corrupt(format!(
            "signing key {} has an unknown algorithm {:?}",
            key.kid, key.alg
        ))),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The session JWT for `session` at `now`, valid for the instance's token lifetime, naming
/// the page it was issued to (`azp`). Signed here, before anything renders it.
pub fn session_token(latch: &Latch, session: &Session, azp: Option<&str>, now: Millis) -> FlowResult<String> {
    signed_session_token(latch, session, azp, latch.settings().token_ttl, now, Reuse::Allowed)
}

/// A token signed now for `session`, never a reused one: the handshake hands it to an app's
/// server, which sets it as the `__session` cookie, so it gets its whole lifetime.
pub fn fresh_session_token(latch: &Latch, session: &Session, azp: Option<&str>, now: Millis) -> FlowResult<String> {
    signed_session_token(latch, session, azp, latch.settings().token_ttl, now, Reuse::Never)
}

/// A token signed now for `session`, living `lifetime` (at most the instance's token
/// lifetime: the caller checks it, because a retired key stays published only that long, and
/// revoking a session promises its tokens die within it), with no `azp`: the Backend API's
/// `POST /sessions/{id}/tokens`, asked by an app's server, not by a page of any origin.
pub fn backend_session_token(latch: &Latch, session: &Session, lifetime: Duration, now: Millis) -> FlowResult<String> {
    if lifetime > latch.settings().token_ttl {
        return Err(Refusal::Internal(format!("a token of {lifetime:?} would outlive the token lifetime")));
    }
    signed_session_token(latch, session, None, lifetime, now, Reuse::Never)
}

/// The answer to a token from JWT template `template` (FAPI's and the Backend API's
/// `…/tokens/{template}`): Latch has no JWT templates, so every template is unknown.
pub fn template_token(template: &str) -> Refusal {
    Refusal::JwtTemplateNotFound(template.to_string())
}

enum Reuse {
    Allowed,
    Never,
}

fn signed_session_token(
    latch: &Latch,
    session: &Session,
    azp: Option<&str>,
    lifetime: Duration,
    now: Millis,
    reuse: Reuse,
) -> FlowResult<String> {
    let status = session.status_at(now);
    let claims = session_claims(latch, session, azp, status.as_str(), lifetime, now);
    let signed = match reuse {
        Reuse::Allowed => latch.tokens.sign_reusable(&claims),
        Reuse::Never => latch.tokens.sign(&claims),
    };
    signed.map_err(|e| Refusal::Internal(format!("token signing: {e}")))
}

fn session_claims<'a>(
    latch: &'a Latch,
    session: &'a Session,
    azp: Option<&'a str>,
    sts: &'a str,
    lifetime: Duration,
    now: Millis,
) -> SessionClaims<'a> {
    let now_secs = now / 1000;
    SessionClaims {
        sid: &session.id,
        sub: &session.user_id,
        iat: now_secs,
        nbf: now_secs - 5,
        exp: now_secs + i64::try_from(lifetime.as_secs()).unwrap_or(60),
        iss: &latch.issuer,
        azp,
        sts,
        v: 2,
    }
}

/// Adds a new signing key of `algorithm`, retiring the live one (`latch keys rotate-signing`).
/// Returns the new key's id.
pub async fn rotate(
    store: &dyn Store,
    algorithm: SigningAlgorithm,
    now: Millis,
) -> StoreResult<String> {
    let key = generate_key(algorithm, now)?;
    store.rotate_signing_key(&key, now).await?;
    Ok(key.kid)
}

/// A new key of `algorithm`; its id is derived from its public key.
pub fn generate_key(algorithm: SigningAlgorithm, now: Millis) -> StoreResult<StoredSigningKey> {
    let failed = |what: &str| {
        StoreError::Corrupt(format!(
            "cannot generate a {} key: {what}",
            algorithm.as_str()
        ))
    };
    let (private_pkcs8, public_raw) = match algorithm {
        SigningAlgorithm::Rs256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| failed("generation"))?;
            let private: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| failed("PKCS#8"))?;
            let public: PublicKeyX509Der<'static> =
                pair.public_key().as_der().map_err(|_| failed("SPKI"))?;
            (private.as_ref().to_vec(), public.as_ref().to_vec())
        }
        SigningAlgorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(|_| failed("generation"))?;
            let private: Pkcs8V1Der<'static> = pair.as_der().map_err(|_| failed("PKCS#8"))?;
            (
                private.as_ref().to_vec(),
                pair.public_key().as_ref().to_vec(),
            )
        }
    };
    let kid = format!(
        "ins_{}",
        &URL_SAFE_NO_PAD.encode(Sha256::digest(&public_raw))[..16]
    );
    Ok(StoredSigningKey {
        kid,
        alg: algorithm.as_str().to_string(),
        private_pkcs8,
        public_raw,
        created_at: now,
        retired_at: None,
    })
}

/// jsonwebtoken asks its process-wide `CryptoProvider` for a signer on every `encode`, and
/// the stock aws-lc-rs one parses the PKCS#8 key each time (for RSA, with a key check that
/// costs as much as a signature). This provider is the stock one except that it keeps the
/// keys it parsed (a handful at most: one per algorithm and rotation). Installed once,
/// before the first token.
fn install_key_caching_provider() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        signer_factory: signer_for,
        ..aws_lc::DEFAULT_PROVIDER.clone()
    });
    if let Err(other) = provider.install_default()
        && !std::ptr::eq(other, provider)
    {
        // Another provider was installed first: it would parse Latch's PKCS#8 RSA keys as
        // PKCS#1 and fail every token. Nothing in Latch does this; say so loudly if it happens.
        tracing::error!(
            "another jsonwebtoken CryptoProvider is installed; session tokens will fail to sign"
        );
    }
}

/// A parsed signing key.
enum Parsed {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

const MAX_PARSED_KEYS: usize = 8;

/// Keys parsed so far, by algorithm and PKCS#8 bytes.
type ParsedKeys = Vec<(Algorithm, Vec<u8>, Arc<Parsed>)>;

fn signer_for(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    if !matches!(algorithm, Algorithm::RS256 | Algorithm::EdDSA) {
        return (aws_lc::DEFAULT_PROVIDER.signer_factory)(algorithm, key);
    }
    static PARSED: Mutex<ParsedKeys> = Mutex::new(Vec::new());
    let mut parsed = PARSED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((_, _, found)) = parsed
        .iter()
        .find(|(alg, der, _)| alg == algorithm && der.as_slice() == key.as_bytes())
    {
        return Ok(Box::new(CachedSigner(*algorithm, found.clone())));
    }
    let fresh = Arc::new(match algorithm {
        Algorithm::RS256 => Parsed::Rsa(
            RsaKeyPair::from_pkcs8(key.as_bytes())
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
        ),
        _ => Parsed::Ed25519(
            Ed25519KeyPair::from_pkcs8(key.as_bytes()).map_err(|_| ErrorKind::InvalidEddsaKey)?,
        ),
    });
    if parsed.len() >= MAX_PARSED_KEYS {
        parsed.remove(0);
    }
    parsed.push((*algorithm, key.as_bytes().to_vec(), fresh.clone()));
    Ok(Box::new(CachedSigner(*algorithm, fresh)))
}

struct CachedSigner(Algorithm, Arc<Parsed>);

impl signature::Signer<Vec<u8>> for CachedSigner {
    fn try_sign(&self, message: &[u8]) -> Result<Vec<u8>, signature::Error> {
        match self.1.as_ref() {
            Parsed::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(signature::Error::from_source)?;
                Ok(signature)
            }
            Parsed::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for CachedSigner {
    fn algorithm(&self) -> Algorithm {
        self.0
    }
}

// ---- verifying this instance's own tokens (the admin console's Backend API calls) ----------

/// What Latch reads back from a session token it signed.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct VerifiedClaims {
    pub sid: String,
    pub sub: String,
    #[serde(default)]
    pub azp: Option<String>,
    pub sts: String,
}

/// Leeway for `exp` and `nbf`: small, since the token and its checker share a clock source
/// (nodes of one instance), unlike an app's server.
const VERIFY_LEEWAY_SECS: u64 = 5;

impl TokenSigner {
    /// The claims of `jwt` if this instance signed it with a key it still publishes, for
    /// `issuer`, and it is neither expired nor not yet valid at `now`; otherwise `None`.
    /// Only the algorithms Latch signs with are accepted (never `none` or an HMAC), each
    /// checked against the published key of the token's `kid`.
    pub fn verify(&self, jwt: &str, issuer: &str, now: Millis) -> Option<VerifiedClaims> {
        let header = jsonwebtoken::decode_header(jwt).ok()?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::EdDSA) {
            return None;
        }
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(self.jwks(now)).ok()?;
        let jwk = set.find(header.kid.as_deref()?)?;
        // The key's own algorithm, not the header's choice, decides how it is checked.
        let key_alg = match jwk.common.key_algorithm? {
            jsonwebtoken::jwk::KeyAlgorithm::RS256 => Algorithm::RS256,
            jsonwebtoken::jwk::KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            _ => return None,
        };
        if key_alg != header.alg {
            return None;
        }
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(key_alg);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = VERIFY_LEEWAY_SECS;
        // jsonwebtoken checks exp/nbf against the system clock; check them against `now` too,
        // so the flow's clock is the rule.
        let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).ok()?;
        let now_secs = now / 1000;
        let leeway = VERIFY_LEEWAY_SECS as i64;
        let exp = data.claims.get("exp")?.as_i64()?;
        let nbf = data.claims.get("nbf")?.as_i64()?;
        if exp + leeway <= now_secs || nbf - leeway > now_secs {
            return None;
        }
        serde_json::from_value(data.claims).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(algorithm: SigningAlgorithm) -> TokenSigner {
        install_key_caching_provider();
        let key = generate_key(algorithm, 0).unwrap();
        TokenSigner {
            algorithm,
            retention: 60_000,
            keys: Arc::new(RwLock::new(Arc::new(
                KeySet::from_stored(&[key], algorithm).unwrap(),
            ))),
            recent: Arc::new(Mutex::new(RecentTokens::default())),
        }
    }

    fn claims(iat: i64, ttl: i64, azp: Option<&'static str>) -> SessionClaims<'static> {
        SessionClaims {
            sid: "sess_a",
            sub: "user_a",
            iat,
            nbf: iat - 5,
            exp: iat + ttl,
            iss: "latch",
            azp,
            sts: "active",
            v: 2,
        }
    }

    fn verifies(tokens: &TokenSigner, jwt: &str) -> bool {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(tokens.jwks(0)).unwrap();
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        let key =
            jsonwebtoken::DecodingKey::from_jwk(set.find(header.kid.as_deref().unwrap()).unwrap())
                .unwrap();
        let mut validation = jsonwebtoken::Validation::new(header.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Value>(jwt, &key, &validation).is_ok()
    }

    #[test]
    fn an_rs256_token_verifies_against_the_published_rsa_2048_key() {
        let tokens = signer(SigningAlgorithm::Rs256);
        let jwt = tokens.sign(&claims(1_000, 60, None)).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&jwt).unwrap().alg,
            Algorithm::RS256
        );
        assert!(verifies(&tokens, &jwt));
        let jwks = tokens.jwks(0);
        assert_eq!(
            (
                jwks["keys"][0]["kty"].as_str(),
                jwks["keys"][0]["e"].as_str()
            ),
            (Some("RSA"), Some("AQAB"))
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwks["keys"][0]["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256,
            "2048 bits"
        );
        // The PEM an app may pass as CLERK_JWT_KEY: the fixed RSA-2048 SPKI prefix Clerk's
        // SDK strips (docs/backend.md §1.4).
        let pem = tokens.public_key_pem().unwrap();
        assert!(
            pem.contains("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
            "{pem}"
        );
    }

    #[test]
    fn the_key_caching_signer_gives_one_signature_per_key_and_message() {
        for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa] {
            let key = generate_key(algorithm, 0).unwrap();
            let encoding = match algorithm {
                SigningAlgorithm::Rs256 => EncodingKey::from_rsa_der(&key.private_pkcs8),
                SigningAlgorithm::EdDsa => EncodingKey::from_ed_der(&key.private_pkcs8),
            };
            let cached = signer_for(&algorithm.jwt(), &encoding)
                .unwrap()
                .try_sign(b"header.claims")
                .unwrap();
            let again = signer_for(&algorithm.jwt(), &encoding)
                .unwrap()
                .try_sign(b"header.claims")
                .unwrap();
            // PKCS#1 v1.5 and Ed25519 are deterministic: the same key signs the same bytes.
            assert_eq!(cached, again, "{algorithm:?}");
        }
    }

    #[test]
    fn a_retired_key_stays_published_for_the_retention_only() {
        install_key_caching_provider();
        let old = StoredSigningKey {
            retired_at: Some(10_000),
            ..generate_key(SigningAlgorithm::Rs256, 0).unwrap()
        };
        let new = generate_key(SigningAlgorithm::Rs256, 10_000).unwrap();
        let keys =
            KeySet::from_stored(&[old.clone(), new.clone()], SigningAlgorithm::Rs256).unwrap();
        assert_eq!(keys.signing_kid, new.kid, "the live key signs");
        let tokens = TokenSigner {
            algorithm: SigningAlgorithm::Rs256,
            retention: 60_000,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            recent: Arc::new(Mutex::new(RecentTokens::default())),
        };
        let kids = |now| {
            tokens.jwks(now)["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids(69_999), [old.kid.clone(), new.kid.clone()]);
        assert_eq!(kids(70_000), [new.kid]);
    }

    #[tokio::test]
    async fn a_rotation_reaches_a_running_signer_at_its_next_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("latch.db").display());
        latch_store::migrate(&url).await.unwrap();
        let store = latch_store::open(&url).await.unwrap();
        let signer = TokenSigner::load_or_create(store.as_ref(), SigningAlgorithm::Rs256, Duration::from_secs(60), 0).await.unwrap();
        let kid_of = |jwt: String| jsonwebtoken::decode_header(&jwt).unwrap().kid.unwrap();
        let old = kid_of(signer.sign(&claims(1, 60, None)).unwrap());
        // Another node (or `latch keys rotate-signing`) rotates.
        let new = rotate(store.as_ref(), SigningAlgorithm::Rs256, 1_000).await.unwrap();
        assert_eq!(kid_of(signer.sign(&claims(2, 60, None)).unwrap()), old, "until it rereads");
        signer.refresh(store.as_ref()).await.unwrap();
        let jwt = signer.sign(&claims(3, 60, None)).unwrap();
        assert_eq!(kid_of(jwt.clone()), new);
        let published: Vec<String> =
            signer.jwks(2_000)["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
        assert_eq!(published, [old, new], "the retired key stays published");
        assert!(verifies(&signer, &jwt));
    }

    #[test]
    fn a_token_is_reused_for_the_same_session_status_and_azp_while_half_its_life_remains() {
        let tokens = signer(SigningAlgorithm::EdDsa);
        let web = Some("https://app.example.com");
        let first = tokens.sign_reusable(&claims(1_000, 60, web)).unwrap();
        assert_eq!(
            tokens.sign_reusable(&claims(1_029, 60, web)).unwrap(),
            first
        );
        assert_ne!(
            tokens.sign_reusable(&claims(1_031, 60, web)).unwrap(),
            first,
            "less than half its life left"
        );
        assert_ne!(
            tokens.sign_reusable(&claims(1_000, 60, None)).unwrap(),
            first,
            "another azp"
        );
        assert_ne!(
            tokens
                .sign_reusable(&claims(1_000, 60, Some("https://other.example.com")))
                .unwrap(),
            first
        );
    }

    #[test]
    fn a_token_with_less_than_30_seconds_left_is_not_reused() {
        let tokens = signer(SigningAlgorithm::EdDsa);
        let first = tokens.sign_reusable(&claims(1_000, 40, None)).unwrap();
        assert_eq!(
            tokens.sign_reusable(&claims(1_010, 40, None)).unwrap(),
            first
        );
        assert_ne!(
            tokens.sign_reusable(&claims(1_011, 40, None)).unwrap(),
            first,
            "29 s left, though more than half"
        );
        let short = tokens.sign_reusable(&claims(2_000, 20, None)).unwrap();
        assert_ne!(
            tokens.sign_reusable(&claims(2_001, 20, None)).unwrap(),
            short,
            "a 20 s token is always fresh"
        );
    }

    #[test]
    fn the_token_cache_is_bounded_in_bytes() {
        let tokens = signer(SigningAlgorithm::EdDsa);
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

    #[test]
    fn verify_accepts_only_this_signers_unexpired_tokens_for_its_issuer() {
        for algorithm in [SigningAlgorithm::Rs256, SigningAlgorithm::EdDsa] {
            let tokens = signer(algorithm);
            let now_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            let jwt = tokens.sign(&claims(now_secs, 60, Some("https://latch.example"))).unwrap();
            let now = now_secs * 1000;
            let verified = tokens.verify(&jwt, "latch", now).expect("its own fresh token");
            assert_eq!((verified.sid.as_str(), verified.sub.as_str()), ("sess_a", "user_a"));
            assert_eq!(verified.azp.as_deref(), Some("https://latch.example"));
            // Past exp (and the leeway) at the flow's clock; not yet valid; another issuer.
            assert!(tokens.verify(&jwt, "latch", now + 66_000).is_none(), "expired");
            assert!(tokens.verify(&jwt, "latch", now - 11_000).is_none(), "before nbf");
            assert!(tokens.verify(&jwt, "other", now).is_none(), "another issuer");
            // Another signer's token (another instance's key), a changed payload, `alg: none`.
            let other = signer(algorithm).sign(&claims(now_secs, 60, None)).unwrap();
            assert!(tokens.verify(&other, "latch", now).is_none(), "another key");
            let parts: Vec<&str> = jwt.split('.').collect();
            let changed = format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2]);
            assert!(tokens.verify(&changed, "latch", now).is_none(), "a changed payload");
            let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
            assert!(tokens.verify(&none, "latch", now).is_none(), "alg none");
        }
    }

}
