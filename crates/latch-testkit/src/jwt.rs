//! Session tokens checked the way a backend checks them: against the JWKS Latch publishes
//! (`/.well-known/jwks.json`), with the key its `kid` names, the algorithm its header
//! names, and the claims every Clerk session token carries.

use serde_json::Value;

use crate::fapi::Fapi;

/// Verify a session JWT against Latch's `/.well-known/jwks.json`; returns the claims.
pub async fn verify_jwt(fapi: &Fapi, jwt: &str) -> Value {
    let jwks = fapi.get_abs("/.well-known/jwks.json").await.ok();
    verify_jwt_with(&jwks.body, jwt)
}

/// Verify a session JWT against the key set `jwks` (from either JWKS endpoint, e.g. the
/// Backend API's `GET /bapi/v1/jwks`, which an app's server reads); returns the claims.
pub fn verify_jwt_with(jwks: &Value, jwt: &str) -> Value {
    use jsonwebtoken::{DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
    let set: JwkSet = serde_json::from_value(jwks.clone())
        .unwrap_or_else(|e| panic!("JWKS does not parse: {e}: {jwks}"));
    let header = decode_header(jwt).unwrap_or_else(|e| panic!("JWT header: {e}: {jwt}"));
    let kid = header.kid.clone().expect("JWT header has a kid");
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} not in JWKS {jwks}"));
    let key = DecodingKey::from_jwk(jwk).expect("JWK usable as a key");
    let mut v = Validation::new(header.alg);
    v.validate_aud = false;
    v.validate_nbf = true;
    v.leeway = 60;
    v.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss"]);
    decode::<Value>(jwt, &key, &v).unwrap_or_else(|e| panic!("JWT does not verify against JWKS: {e}")).claims
}
