//! The Backend API's JSON: the shapes live in `latch_flows::backend::json`, because the
//! webhook events a flow writes carry the same JSON as `data`. The few shapes only the
//! Backend API answers with are here, typed for the OpenAPI document like those.

pub use latch_flows::backend::json::*;
use serde::Serialize;
use utoipa::ToSchema;

/// `GET /sessions`: with `paginated=true` (what the SDK sends) a page with the total; without
/// it, as Clerk answers, a bare array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum SessionListing {
    Page(SessionPage),
    Plain(Vec<SessionJson>),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionPage {
    pub data: Vec<SessionJson>,
    /// How many sessions match, over all pages.
    pub total_count: u64,
}

/// `POST /sessions/{id}/tokens`: a session token.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenJson {
    /// Always `token`.
    #[schema(pattern = "^token$")]
    pub object: &'static str,
    /// The session JWT.
    pub jwt: String,
}

/// `GET /clients/handshake_payload`: the `Set-Cookie` values the nonce stands for.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakePayload {
    pub directives: Vec<String>,
}

/// `GET /jwks`: the session-token keys' public JWKs (`latch_flows::tokens` writes them; this
/// type only documents them). RS256 keys carry `n` and `e`, EdDSA keys `crv` and `x`.
#[derive(ToSchema)]
#[schema(as = JWKS)]
#[allow(dead_code)]
pub struct JwkSet {
    #[schema(min_items = 1)]
    pub keys: Vec<Jwk>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    /// `RSA` or `OKP`.
    #[schema(pattern = "^(RSA|OKP)$")]
    pub kty: String,
    pub kid: String,
    /// `RS256` or `EdDSA`.
    #[schema(pattern = "^(RS256|EdDSA)$")]
    pub alg: String,
    #[schema(rename = "use", pattern = "^sig$")]
    pub use_: String,
    pub n: Option<String>,
    pub e: Option<String>,
    pub crv: Option<String>,
    pub x: Option<String>,
}
