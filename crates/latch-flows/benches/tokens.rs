//! Session token signing (`cargo bench -p latch-flows --bench tokens`).
//!
//! `session_token_sign` is a stock `jsonwebtoken::encode` with an EdDSA header carrying the
//! `kid`, the claims Latch puts in a session token, and an `EncodingKey` from a PKCS#8
//! Ed25519 key: the cost `tokens.rs` pays per token it does not reuse, less the key parsing
//! its signer factory caches (the stock provider is measured here, so this is an upper bound).
//!
//! `openssl_ed25519_sign` signs the same signing input with OpenSSL, for comparison.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct SessionClaims<'a> {
    sid: &'a str,
    sub: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    azp: Option<&'a str>,
    sts: &'a str,
    v: u8,
}

fn benches(c: &mut Criterion) {
    let key = openssl::pkey::PKey::generate_ed25519().unwrap();
    let pkcs8 = key.private_key_to_pkcs8().unwrap();
    let encoding = EncodingKey::from_ed_der(&pkcs8);
    let kid = "ins_0123456789abcdef".to_string();
    let claims = SessionClaims {
        sid: "sess_2pQ8mZ4kR7tY1wX9vB3nC6dF0gH",
        sub: "user_2pQ8mZ4kR7tY1wX9vB3nC6dF0gJ",
        iat: 1_764_000_000,
        nbf: 1_763_999_995,
        exp: 1_764_000_060,
        iss: "http://localhost:8080",
        azp: Some("http://localhost:8080"),
        sts: "active",
        v: 2,
    };
    c.bench_function("session_token_sign (jsonwebtoken EdDSA)", |b| {
        b.iter(|| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.clone());
            jsonwebtoken::encode(&header, black_box(&claims), &encoding).unwrap()
        })
    });
    let jwt = {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims, &encoding).unwrap()
    };
    let signing_input = jwt.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    c.bench_function("openssl_ed25519_sign", |b| {
        b.iter(|| {
            let mut signer = openssl::sign::Signer::new_without_digest(&key).unwrap();
            signer.sign_oneshot_to_vec(black_box(&signing_input)).unwrap()
        })
    });
}

criterion_group! {
    name = tokens;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(tokens);
