//! FAPI request bodies: `latch_server::form::FormFields`, the decoder every handler reads its
//! fields through. The first byte picks the content type; the rest is the body.
//!
//! Oracles besides "no panic": a urlencoded body that decodes must agree with the `url`
//! crate's (lenient) decoder field for field, and a field sent twice must be refused.
#![no_main]

use std::sync::OnceLock;

use axum::extract::FromRequest;
use latch_server::form::FormFields;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 7] = ["strategy", "public_key_credential", "name", "identifier", "username", "", "_method"];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

fn exercise(fields: &FormFields) {
    for name in NAMES {
        let _ = fields.get(name);
        let _ = fields.require(name);
    }
    let _ = fields.passkey_strategy(false);
    let _ = fields.passkey_strategy(true);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let Ok(fields) = FormFields::parse_urlencoded(body) else {
                // Refused only for bad UTF-8 after percent-decoding.
                let lenient: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
                assert!(
                    lenient.iter().any(|(k, v)| k.contains('\u{fffd}') || v.contains('\u{fffd}')),
                    "refused a body that decodes cleanly: {body:?}"
                );
                return;
            };
            exercise(&fields);
            let lenient: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
            for (k, v) in &lenient {
                let count = lenient.iter().filter(|(k2, _)| k2 == k).count();
                match fields.get(k) {
                    Ok(Some(got)) => {
                        assert_eq!(count, 1, "{k:?} sent {count} times but accepted");
                        assert_eq!(got, v, "field {k:?} decoded differently from the url crate");
                    }
                    Ok(None) => panic!("field {k:?} lost: {body:?}"),
                    Err(_) => assert!(count > 1, "{k:?} sent once but refused"),
                }
            }
        }
        // The extractor the handlers use: body limit, then JSON or urlencoded by content type.
        m => {
            let content_type = if m == 1 { "application/json" } else { "application/x-www-form-urlencoded" };
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/v1/client/sign_ins")
                .header("content-type", content_type)
                .body(axum::body::Body::from(body.to_vec()))
                .unwrap();
            if let Ok(fields) = runtime().block_on(FormFields::from_request(req, &())) {
                exercise(&fields);
            }
        }
    }
});
