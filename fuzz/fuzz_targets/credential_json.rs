//! Credential JSON as it arrives in `public_key_credential`: `ceremony::parse_assertion`,
//! `ceremony::parse_registration`, and serde's own decoding of webauthn-rs's
//! `RegisterPublicKeyCredential` / `PublicKeyCredential` (which the depth bound sits in
//! front of).
//!
//! The first byte picks the text: the input itself, or a valid registration / assertion
//! (`latch_fuzz::Fixture`) with the input written over it at an offset, so that mutations
//! start from the real shape. Oracles: Latch's parsers accept nothing serde refuses once the
//! native SDKs' spellings are made canonical (`raw_id`, a missing `rawId`:
//! `ceremony::canonical_credential`), and whatever parses re-serialises and parses back to
//! the same thing.
#![no_main]

use latch_core::ceremony::{canonical_credential, parse_assertion, parse_registration};
use latch_core::webauthn::{PublicKeyCredential, RegisterPublicKeyCredential};
use libfuzzer_sys::fuzz_target;

/// `base` with `patch` written over it from `at` (wrapping into range), growing if needed.
fn overlay(base: String, at: u16, patch: &[u8]) -> Vec<u8> {
    let mut v = base.into_bytes();
    let at = at as usize % (v.len() + 1);
    let end = (at + patch.len()).min(v.len());
    v.splice(at..end, patch.iter().copied());
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = match mode % 3 {
        0 => rest.to_vec(),
        m => {
            let [a, b, patch @ ..] = rest else { return };
            let fx = latch_fuzz::fixture();
            let base = if m == 1 { fx.registration_json.clone() } else { fx.assertion_json.clone() };
            overlay(base, u16::from_le_bytes([*a, *b]), patch)
        }
    };
    // Form decoding hands the handlers UTF-8 text only.
    let Ok(json) = std::str::from_utf8(&text) else { return };

    // What serde alone makes of the canonical spelling (None: not even JSON Latch reads).
    let canonical = canonical_credential(json).ok().map(|v| v.to_string());
    let raw_asn = canonical.as_deref().map(serde_json::from_str::<PublicKeyCredential>);
    if let Ok(parsed) = parse_assertion(json) {
        assert!(matches!(raw_asn, Some(Ok(_))), "parse_assertion accepted what serde refuses");
        // The attachment is WebAuthn's two words exactly, or nothing.
        let said = canonical_credential(json).ok().and_then(|v| v.get("authenticatorAttachment").and_then(|a| a.as_str()).map(str::to_string));
        assert_eq!(parsed.attachment.map(|a| a.as_str().to_string()), said.filter(|a| a == "platform" || a == "cross-platform"));
        let asn = parsed.credential;
        let again = serde_json::to_string(&asn).unwrap();
        let back: PublicKeyCredential = serde_json::from_str(&again).expect("re-serialised assertion parses");
        assert_eq!(serde_json::to_string(&back).unwrap(), again, "assertion does not round-trip");
        let _ = asn.get_user_unique_id();
    }

    let raw_reg = canonical.as_deref().map(serde_json::from_str::<RegisterPublicKeyCredential>);
    if let Ok(reg) = parse_registration(json) {
        assert!(matches!(raw_reg, Some(Ok(_))), "parse_registration accepted what serde refuses");
        let again = serde_json::to_string(&reg).unwrap();
        let back: RegisterPublicKeyCredential = serde_json::from_str(&again).expect("re-serialised registration parses");
        assert_eq!(serde_json::to_string(&back).unwrap(), again, "registration does not round-trip");
    }
});
