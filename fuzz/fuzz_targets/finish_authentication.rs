//! `parse_assertion` + `RelyingParty::finish_authentication`, the verification path of
//! `POST /client/sign_ins/{id}/attempt_first_factor`: credential JSON → base64 →
//! clientDataJSON → authenticatorData (+ extensions CBOR) → user handle → signature → flags
//! and counter, against a stored credential and a discoverable sign-in begun once.
//!
//! The input is a list of structured edits of an assertion that verifies. With `resign` the
//! edited authenticatorData and clientDataJSON are signed again with the credential's key,
//! so the checks behind the signature are reached too. Oracles: an accepted assertion that
//! was not re-signed carries exactly the signed bytes; any accepted assertion has the right
//! type, challenge, origin, RP ID hash, UP and UV, and the owner's user handle (or none).
#![no_main]

use arbitrary::Arbitrary;
use latch_core::ceremony::parse_assertion;
use latch_fuzz::{
    AUTH_CHALLENGE, ByteEdit, ClientDataEdit, Fixture, IdEdit, OWNER, OriginChoice, UP, UV, apply_all,
    assert_accepted_auth_data, assert_accepted_client_data, edit_client_data, fixture, sign,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    origin: OriginChoice,
    id: IdEdit,
    typ: Option<String>,
    client_data: Vec<ClientDataEdit>,
    flags: Option<u8>,
    counter: Option<u32>,
    /// Edits of authenticatorData after flags and counter (e.g. extensions appended).
    auth_data: Vec<ByteEdit>,
    resign: bool,
    signature: Vec<ByteEdit>,
    user_handle: UserHandle,
    json: Vec<ByteEdit>,
}

#[derive(Debug, Arbitrary)]
enum UserHandle {
    Owner,
    Absent,
    Other(Vec<u8>),
}

fuzz_target!(|input: Input| {
    let fx = fixture();
    let baseline = fx.assertion_parts();
    let mut asn = baseline.clone();
    input.id.apply(&mut asn.id, &mut asn.raw_id);
    if let Some(t) = &input.typ {
        asn.typ = t.clone();
    }
    edit_client_data(&mut asn.client_data_json, &input.client_data);
    if input.flags.is_some() || input.counter.is_some() {
        asn.auth_data = Fixture::assertion_auth_data(input.flags.unwrap_or(UP | UV), input.counter.unwrap_or(1));
    }
    apply_all(&mut asn.auth_data, &input.auth_data);
    if input.resign {
        asn.signature = sign(&fx.key, &asn.auth_data, &asn.client_data_json);
    }
    apply_all(&mut asn.signature, &input.signature);
    asn.user_handle = match &input.user_handle {
        UserHandle::Owner => Some(OWNER.as_bytes().to_vec()),
        UserHandle::Absent => None,
        UserHandle::Other(h) => Some(h.clone()),
    };
    let mut json = asn.json().into_bytes();
    apply_all(&mut json, &input.json);
    let Ok(json) = String::from_utf8(json) else { return };

    // The server parses first (malformed: 422 before the challenge is consumed).
    let Ok(parsed) = parse_assertion(&json) else { return };
    let origin = input.origin.as_str();
    if let Ok(v) = fx.rp.finish_authentication(&parsed, &fx.auth_state, &fx.stored, OWNER, origin) {
        let cdj = parsed.credential.response.client_data_json.as_ref();
        let ad = parsed.credential.response.authenticator_data.as_ref();
        if !input.resign {
            assert_eq!(cdj, baseline.client_data_json.as_slice(), "accepted clientDataJSON that was not signed");
            assert_eq!(ad, baseline.auth_data.as_slice(), "accepted authenticatorData that was not signed");
        }
        assert_accepted_client_data(cdj, "webauthn.get", &AUTH_CHALLENGE, origin);
        assert_accepted_auth_data(ad, UP | UV);
        if let Some(h) = parsed.credential.get_user_unique_id() {
            assert_eq!(h, OWNER.as_bytes(), "accepted a foreign user handle");
        }
        let (raw_id, stored_id): (&[u8], &[u8]) = (parsed.credential.raw_id.as_ref(), fx.stored.cred_id.as_ref());
        assert_eq!(raw_id, stored_id, "accepted another credential's assertion");
        assert!(v.user_verified);
        assert!(v.sign_count >= fx.stored.counter);
    }
});
