//! The binary parsers under the ceremonies, fed raw bytes: the attestation object (CBOR),
//! authenticatorData (rpIdHash | flags | counter | attested credential data (COSE key, CBOR)
//! | extensions (CBOR)) for both ceremonies, and Latch's own AAGUID reader. These are
//! webauthn-rs-core's `internals` parsers, the same code `finish_*` runs, without the JSON
//! and base64 around them so that the fuzzer spends its time on the CBOR.
#![no_main]

use latch_core::aaguid;
use libfuzzer_sys::fuzz_target;
use webauthn_rs_core::internals::{AttestationObject, AuthenticatorData};
use webauthn_rs_core::proto::{Authentication, Registration};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else { return };
    match mode % 4 {
        0 => {
            if let Ok(obj) = AttestationObject::<Registration>::try_from(bytes) {
                let _ = format!("{obj:?}");
            }
        }
        1 => {
            if let Ok(ad) = AuthenticatorData::<Registration>::try_from(bytes) {
                let _ = format!("{ad:?}");
            }
        }
        2 => {
            if let Ok(ad) = AuthenticatorData::<Authentication>::try_from(bytes) {
                let _ = format!("{ad:?}");
            }
        }
        _ => {
            // What ceremony::registration_aaguid does once webauthn-rs has verified the object.
            if let Ok(serde_cbor_2::Value::Map(m)) = serde_cbor_2::from_slice::<serde_cbor_2::Value>(bytes) {
                if let Some(serde_cbor_2::Value::Bytes(ad)) = m.get(&serde_cbor_2::Value::Text("authData".into())) {
                    let _ = aaguid::display_name(aaguid::aaguid_from_auth_data(ad));
                }
            }
            let _ = aaguid::display_name(aaguid::aaguid_from_auth_data(bytes));
        }
    }
});
