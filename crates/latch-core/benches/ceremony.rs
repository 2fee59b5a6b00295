//! Micro-benchmarks of the sign-in ceremony's CPU work in latch-core (`cargo bench -p latch-core`).
//!
//! * `finish_authentication`: verifying one precomputed discoverable assertion against the
//!   stored credential (what `attempt_first_factor` spends in webauthn-rs).
//! * its parts and neighbours: parsing the credential JSON, beginning a sign-in, and the
//!   serde round trips the store does with the ceremony state and the credential.
//! * `openssl_ecdsa_p256_verify`: the bare signature check through OpenSSL on the same
//!   bytes, the crypto ceiling the issue compares against.
//!
//! The credential is made by a minimal software authenticator below (OpenSSL P-256,
//! `none` attestation), registered through `RelyingParty::finish_registration`.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use latch_core::ceremony::{PasskeyOwner, RelyingParty, UvPolicy, parse_assertion};
use latch_core::origins::OriginPattern;
use latch_core::webauthn::{AuthenticationState, Credential};
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use serde_cbor_2::Value as Cbor;
use serde_json::Value;
use uuid::Uuid;

const ORIGIN: &str = "http://localhost:8080";

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn client_data(kind: &str, challenge: &str) -> Vec<u8> {
    let challenge = b64(&URL_SAFE_NO_PAD.decode(challenge).unwrap());
    format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{ORIGIN}","crossOrigin":false}}"#).into_bytes()
}

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

    // Registration with a fresh P-256 key and `none` attestation.
    let (options, reg_state) = rp.begin_registration(&owner, vec![]).unwrap();
    let options: Value = serde_json::to_value(&options).unwrap();
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ec = EcKey::generate(&group).unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    ec.public_key().affine_coordinates(&group, &mut x, &mut y, &mut BigNumContext::new().unwrap()).unwrap();
    let cose = Cbor::Map(
        [
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(x.to_vec_padded(32).unwrap())),
            (Cbor::Integer(-3), Cbor::Bytes(y.to_vec_padded(32).unwrap())),
        ]
        .into_iter()
        .collect(),
    );
    let cred_id = [7u8; 16];
    let rp_hash = openssl::sha::sha256(b"localhost");
    let mut auth_data = rp_hash.to_vec();
    auth_data.push(0x01 | 0x04 | 0x08 | 0x10 | 0x40);
    auth_data.extend_from_slice(&0u32.to_be_bytes());
    auth_data.extend_from_slice(&[0u8; 16]);
    auth_data.extend_from_slice(&(cred_id.len() as u16).to_be_bytes());
    auth_data.extend_from_slice(&cred_id);
    auth_data.extend_from_slice(&serde_cbor_2::to_vec(&cose).unwrap());
    let att = Cbor::Map(
        [
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]
        .into_iter()
        .collect(),
    );
    let cd = client_data("webauthn.create", options["challenge"].as_str().unwrap());
    let reg_json = serde_json::json!({
        "id": b64(&cred_id), "rawId": b64(&cred_id), "type": "public-key",
        "response": { "clientDataJSON": b64(&cd), "attestationObject": b64(&serde_cbor_2::to_vec(&att).unwrap()),
                      "transports": ["internal"] },
    })
    .to_string();
    let credential = rp.finish_registration(&reg_json, &reg_state, Some(ORIGIN)).unwrap().credential;

    // One discoverable assertion, precomputed.
    let (request, state) = rp.begin_authentication(vec![]).unwrap();
    let request: Value = serde_json::to_value(&request).unwrap();
    let cd = client_data("webauthn.get", request["challenge"].as_str().unwrap());
    let mut ad = rp_hash.to_vec();
    ad.push(0x01 | 0x04 | 0x08 | 0x10);
    ad.extend_from_slice(&0u32.to_be_bytes());
    let key = PKey::from_ec_key(ec).unwrap();
    let mut signed = ad.clone();
    signed.extend_from_slice(&openssl::sha::sha256(&cd));
    let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key).unwrap();
    signer.update(&signed).unwrap();
    let signature = signer.sign_to_vec().unwrap();
    let assertion_json = serde_json::json!({
        "id": b64(&cred_id), "rawId": b64(&cred_id), "type": "public-key", "authenticatorAttachment": "platform",
        "response": { "clientDataJSON": b64(&cd), "authenticatorData": b64(&ad), "signature": b64(&signature),
                      "userHandle": b64(handle.as_bytes()) },
    })
    .to_string();
    Fixture { rp, handle, credential, state, assertion_json, key, signed, signature }
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
