//! Session token signing (`cargo bench -p latch-flows --bench tokens`), as `tokens.rs` signs
//! when it cannot reuse a token: `TokenSigner::sign_reusable` with a new session id each
//! time, so nothing is reused, through the key-caching signer.
//!
//! `session_token/RS256` (RSA-2048, the default) against `session_token/EdDSA` (Ed25519):
//! their ratio is what choosing RS256 costs per token signed.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use latch_flows::TokenSigner;
use latch_flows::tokens::{SessionClaims, SigningAlgorithm};

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::Builder::new()
        .prefix("latch-tokens-bench-")
        .tempdir()
        .expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("latch.db").display());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let store = rt.block_on(async {
        latch_store::migrate(&url).await.expect("migrate");
        latch_store::open(&url).await.expect("open")
    });
    for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Rs256] {
        let tokens = rt
            .block_on(TokenSigner::load_or_create(
                store.as_ref(),
                algorithm,
                Duration::from_secs(60),
                now,
            ))
            .expect("signing key");
        let n = AtomicU64::new(0);
        c.bench_function(&format!("session_token/{}", algorithm.as_str()), |b| {
            b.iter(|| {
                let sid = format!(
                    "sess_2pQ8mZ4kR7tY1wX9vB3n{}",
                    n.fetch_add(1, Ordering::Relaxed)
                );
                let claims = SessionClaims {
                    sid: &sid,
                    sub: "user_2pQ8mZ4kR7tY1wX9vB3nC6dF0gJ",
                    iat: 1_764_000_000,
                    nbf: 1_763_999_995,
                    exp: 1_764_000_060,
                    iss: "http://localhost:8080",
                    azp: Some("http://localhost:8080"),
                    sts: "active",
                    v: 2,
                };
                tokens.sign_reusable(black_box(&claims)).expect("signed")
            })
        });
    }
}

criterion_group! {
    name = tokens;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(tokens);
