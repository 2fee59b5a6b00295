//! Micro-benchmarks of the sign-in ceremony's CPU work in latch-core (`cargo bench -p latch-core`).
//!
//! * `finish_authentication`: verifying one precomputed discoverable assertion against the
//!   stored credential (what `attempt_first_factor` spends in webauthn-rs).
//! * its parts and neighbours: parsing the credential JSON, beginning a sign-in, and the
//!   serde round trips the store does with the ceremony state and the credential.
//! * `openssl_ecdsa_p256_verify`: the bare signature check through OpenSSL on the same
//!   bytes, the crypto ceiling the issue compares against.
//!
//! The credential is made by the test kit's forging authenticator (OpenSSL P-256, `none`
//! attestation), registered through `RelyingParty::finish_registration`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use latch_core::ceremony::{PasskeyOwner, RelyingParty, UvPolicy, parse_assertion};
use latch_core::origins::OriginPattern;
use latch_core::webauthn::{AuthenticationState, Credential};
use latch_testkit::webauthn::{Authenticator, decode_b64u, sha256};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use serde_json::Value;
use uuid::Uuid;

const ORIGIN: &str = "http://localhost:8080";

struct Fixture {
    rp: RelyingParty,
    handle: Uuid,
    credential: Credential,
    state: AuthenticationState,
    assertion_json: String,
    /// For the bare OpenSSL check: the key and the signed bytes.
    key: PKey<Private>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

fn fixture() -> Fixture {
    let origin = OriginPattern::Exact(url::Url::parse(ORIGIN).unwrap());
    let rp = RelyingParty::new("localhost", "Latch", vec![origin], Duration::from_secs(300), UvPolicy::Required);
    let handle = Uuid::new_v4();
    let owner = PasskeyOwner { handle, name: "alice", display_name: "alice" };
    let auth = Authenticator::new(ORIGIN, "localhost");

    // Registration: a synced platform passkey, `none` attestation.
    let (options, reg_state) = rp.begin_registration(&owner, vec![]).unwrap();
    let (passkey, reg_json) = auth.register(&serde_json::to_string(&options).unwrap(), b"ceremony bench").unwrap();
    let credential = rp.finish_registration(&reg_json, &reg_state, Some(ORIGIN)).unwrap().credential;

    // One discoverable assertion, precomputed.
    let (request, state) = rp.begin_authentication(vec![]).unwrap();
    let assertion_json = auth.assert(&passkey, &serde_json::to_string(&request).unwrap()).unwrap();
    let response = &serde_json::from_str::<Value>(&assertion_json).unwrap()["response"];
    let field = |name: &str| decode_b64u(response[name].as_str().unwrap()).unwrap();
    let mut signed = field("authenticatorData");
    signed.extend_from_slice(&sha256(&field("clientDataJSON")));
    let signature = field("signature");
    Fixture { rp, handle, credential, state, assertion_json, key: passkey.key.pkey(), signed, signature }
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let assertion = parse_assertion(&f.assertion_json).unwrap();
    // The fixture must verify, or the numbers mean nothing.
    f.rp.finish_authentication(&assertion, &f.state, &f.credential, f.handle, Some(ORIGIN)).unwrap();

    c.bench_function("finish_authentication", |b| {
        b.iter(|| {
            f.rp.finish_authentication(black_box(&assertion), &f.state, &f.credential, f.handle, Some(ORIGIN))
                .unwrap()
        })
    });
    c.bench_function("parse_assertion", |b| b.iter(|| parse_assertion(black_box(&f.assertion_json)).unwrap()));
    c.bench_function("begin_authentication", |b| b.iter(|| f.rp.begin_authentication(vec![]).unwrap()));
    let state_json = serde_json::to_string(&f.state).unwrap();
    c.bench_function("authentication_state_serde_roundtrip", |b| {
        b.iter(|| {
            let s = serde_json::to_string(black_box(&f.state)).unwrap();
            let _: AuthenticationState = serde_json::from_str(black_box(&state_json)).unwrap();
            s
        })
    });
    let cred_json = serde_json::to_string(&f.credential).unwrap();
    c.bench_function("credential_serde_roundtrip", |b| {
        b.iter(|| {
            let s = serde_json::to_string(black_box(&f.credential)).unwrap();
            let _: Credential = serde_json::from_str(black_box(&cred_json)).unwrap();
            s
        })
    });
    c.bench_function("openssl_ecdsa_p256_verify", |b| {
        b.iter(|| {
            let mut v = openssl::sign::Verifier::new(MessageDigest::sha256(), &f.key).unwrap();
            v.update(black_box(&f.signed)).unwrap();
            assert!(v.verify(black_box(&f.signature)).unwrap());
        })
    });
}

criterion_group! {
    name = ceremony;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(ceremony);
