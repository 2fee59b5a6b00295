//! `RelyingParty::finish_registration`, the whole verification path of
//! `POST /me/passkeys/{id}/attempt_verification`: credential JSON → base64 → clientDataJSON
//! (JSON) → attestation object (CBOR) → authenticatorData → COSE key (CBOR) → checks →
//! AAGUID name.
//!
//! The input is a list of structured edits of a registration that verifies (see
//! `latch_fuzz::Fixture`), so that mutations land inside well-formed outer layers and reach
//! the inner parsers and checks. Oracle: whatever is accepted has the right ceremony type,
//! challenge, origin, RP ID hash and UP/UV/AT flags.
#![no_main]

use arbitrary::Arbitrary;
use latch_core::ceremony::CeremonyError;
use latch_fuzz::{
    AT, ByteEdit, ClientDataEdit, IdEdit, OriginChoice, REG_CHALLENGE, UP, UV, apply_all, assert_accepted_auth_data,
    assert_accepted_client_data, edit_client_data, fixture,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    origin: OriginChoice,
    id: IdEdit,
    typ: Option<String>,
    client_data: Vec<ClientDataEdit>,
    fmt: Option<String>,
    att_stmt: Vec<ByteEdit>,
    /// Edits of authenticatorData (flags, counter, AAGUID, credential id, COSE key, extensions).
    auth_data: Vec<ByteEdit>,
    /// Edits of the assembled attestation object (its CBOR framing).
    attestation_object: Vec<ByteEdit>,
    transports: Option<Vec<String>>,
    /// Edits of the final JSON text (rare: most land in base64 and are refused early).
    json: Vec<ByteEdit>,
}

fuzz_target!(|input: Input| {
    let fx = fixture();
    let mut reg = fx.registration_parts();
    input.id.apply(&mut reg.id, &mut reg.raw_id);
    if let Some(t) = &input.typ {
        reg.typ = t.clone();
    }
    edit_client_data(&mut reg.client_data_json, &input.client_data);
    if let Some(f) = &input.fmt {
        reg.fmt = f.clone();
    }
    apply_all(&mut reg.att_stmt, &input.att_stmt);
    apply_all(&mut reg.auth_data, &input.auth_data);
    if !input.attestation_object.is_empty() {
        let mut obj = reg.attestation_object();
        apply_all(&mut obj, &input.attestation_object);
        reg.attestation_object = Some(obj);
    }
    if let Some(t) = &input.transports {
        reg.transports = t.clone();
    }
    let mut json = reg.json().into_bytes();
    apply_all(&mut json, &input.json);
    let Ok(json) = String::from_utf8(json) else { return };

    let origin = input.origin.as_str();
    match fx.rp.finish_registration(&json, &fx.reg_state, origin) {
        Ok(verified) => {
            let parsed = latch_core::ceremony::parse_registration(&json).expect("accepted JSON parses");
            assert_accepted_client_data(parsed.response.client_data_json.as_ref(), "webauthn.create", &REG_CHALLENGE, origin);
            let obj: serde_cbor_2::Value =
                serde_cbor_2::from_slice(parsed.response.attestation_object.as_ref()).expect("accepted object is CBOR");
            let serde_cbor_2::Value::Map(m) = obj else { panic!("accepted attestation object is not a map") };
            let Some(serde_cbor_2::Value::Bytes(ad)) = m.get(&serde_cbor_2::Value::Text("authData".into())) else {
                panic!("accepted attestation object without authData bytes")
            };
            assert_accepted_auth_data(ad, UP | UV | AT);
            let raw_id: &[u8] = parsed.raw_id.as_ref();
            assert_eq!(verified.credential_id, raw_id, "stored credential id is not rawId");
            assert!(!verified.default_name.is_empty());
        }
        Err(CeremonyError::Malformed(_))
        | Err(CeremonyError::Rejected(_))
        | Err(CeremonyError::AlreadyRegistered)
        | Err(CeremonyError::CounterRegression)
        | Err(CeremonyError::UserHandleMismatch) => {}
    }
});
