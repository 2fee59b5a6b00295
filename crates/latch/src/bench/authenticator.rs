//! A fast software passkey authenticator for the load generator.
//!
//! Real ES256 (ECDSA P-256 + SHA-256) through OpenSSL, `none` attestation, and the bytes a
//! browser produces: `clientDataJSON` in Chrome's field order, `authenticatorData`, the CBOR
//! attestation object with a COSE_Key, all serialised as clerk-js posts them (fapi.md §5:
//! base64url without padding, no `clientExtensionResults`).
//!
//! This is a test client: it checks nothing it receives beyond what it needs to parse.
//! Passkeys behave like synced platform passkeys (iCloud Keychain / Google Password Manager):
//! backup eligible and backed up, signature counter always 0.

use anyhow::{Context, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ciborium::Value as Cbor;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde::Deserialize;

/// AAGUID of Apple's platform passkeys, so that Latch names the passkey from its table.
const AAGUID: [u8; 16] = [0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd];

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;

/// One credential held by the authenticator: what a platform keeps for a resident key.
pub struct SoftPasskey {
    key: PKey<Private>,
    credential_id_b64: String,
    /// The creation options' `user.id`, returned as `userHandle` in assertions.
    user_handle_b64: String,
}

/// The "browser + platform authenticator" for one origin.
pub struct SoftAuthenticator {
    /// The page origin as JSON (already quoted and escaped) for clientDataJSON.
    origin_json: String,
    default_rp_id: String,
    group: EcGroup,
}

#[derive(Deserialize)]
struct CreationOptions<'a> {
    #[serde(borrow)]
    challenge: &'a str,
    rp: Option<Rp>,
    user: User<'a>,
}

#[derive(Deserialize)]
struct Rp {
    id: Option<String>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    id: &'a str,
}

#[derive(Deserialize)]
struct RequestOptions<'a> {
    #[serde(borrow)]
    challenge: &'a str,
    #[serde(rename = "rpId")]
    rp_id: Option<String>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> anyhow::Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|e| anyhow!("not base64url: {e}"))
}

impl SoftAuthenticator {
    /// An authenticator used from pages on `origin`; `default_rp_id` applies when the options
    /// name none (the browser then uses the origin's host).
    pub fn new(origin: &str, default_rp_id: &str) -> anyhow::Result<Self> {
        Ok(SoftAuthenticator {
            origin_json: serde_json::to_string(origin)?,
            default_rp_id: default_rp_id.to_string(),
            group: EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?,
        })
    }

    /// `clientDataJSON` exactly as Chrome writes it. The challenge is decoded and re-encoded,
    /// as the browser holds it as bytes.
    fn client_data(&self, kind: &str, challenge_b64: &str) -> anyhow::Result<Vec<u8>> {
        let challenge = b64(&unb64(challenge_b64).context("challenge")?);
        Ok(format!(
            r#"{{"type":"{kind}","challenge":"{challenge}","origin":{},"crossOrigin":false}}"#,
            self.origin_json
        )
        .into_bytes())
    }

    /// `navigator.credentials.create()` on the creation options (the passkey nonce, a JSON
    /// string): a new P-256 key, `none` attestation. Returns the passkey and the
    /// `public_key_credential` form value clerk-js would post.
    pub fn register(&self, options_json: &str) -> anyhow::Result<(SoftPasskey, String)> {
        let options: CreationOptions<'_> = serde_json::from_str(options_json).context("creation options")?;
        let rp_id = options.rp.and_then(|rp| rp.id).unwrap_or_else(|| self.default_rp_id.clone());
        let user_handle = unb64(options.user.id).context("user.id")?;
        let client_data = self.client_data("webauthn.create", options.challenge)?;

        let ec = EcKey::generate(&self.group)?;
        let mut ctx = BigNumContext::new()?;
        let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
        ec.public_key().affine_coordinates(&self.group, &mut x, &mut y, &mut ctx)?;
        // COSE_Key, CTAP2 canonical order: kty EC2, alg ES256, crv P-256, x, y.
        let cose_key = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(3.into()), Cbor::Integer((-7).into())),
            (Cbor::Integer((-1).into()), Cbor::Integer(1.into())),
            (Cbor::Integer((-2).into()), Cbor::Bytes(x.to_vec_padded(32)?)),
            (Cbor::Integer((-3).into()), Cbor::Bytes(y.to_vec_padded(32)?)),
        ]);
        let credential_id: [u8; 16] = rand::random();

        let mut auth_data = Vec::with_capacity(37 + 16 + 2 + 16 + 77);
        auth_data.extend_from_slice(&openssl::sha::sha256(rp_id.as_bytes()));
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS | FLAG_AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&AAGUID);
        auth_data.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&credential_id);
        ciborium::into_writer(&cose_key, &mut auth_data).map_err(|e| anyhow!("CBOR: {e}"))?;

        let attestation = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let mut attestation_object = Vec::with_capacity(256);
        ciborium::into_writer(&attestation, &mut attestation_object).map_err(|e| anyhow!("CBOR: {e}"))?;

        let passkey = SoftPasskey {
            credential_id_b64: b64(&credential_id),
            user_handle_b64: b64(&user_handle),
            key: PKey::from_ec_key(ec)?,
        };
        let id = &passkey.credential_id_b64;
        let json = format!(
            r#"{{"id":"{id}","rawId":"{id}","type":"public-key","authenticatorAttachment":"platform","response":{{"clientDataJSON":"{}","attestationObject":"{}","transports":["internal","hybrid"]}}}}"#,
            b64(&client_data),
            b64(&attestation_object),
        );
        Ok((passkey, json))
    }

    /// `navigator.credentials.get()` with `passkey` on the request options (the sign-in
    /// nonce): returns the `public_key_credential` form value clerk-js would post.
    pub fn assert(&self, passkey: &SoftPasskey, options_json: &str) -> anyhow::Result<String> {
        let options: RequestOptions<'_> = serde_json::from_str(options_json).context("request options")?;
        let rp_id = options.rp_id.as_deref().unwrap_or(&self.default_rp_id);
        let client_data = self.client_data("webauthn.get", options.challenge)?;

        let mut auth_data = Vec::with_capacity(37);
        auth_data.extend_from_slice(&openssl::sha::sha256(rp_id.as_bytes()));
        auth_data.push(FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS);
        auth_data.extend_from_slice(&0u32.to_be_bytes());

        // ES256 over authenticatorData || SHA-256(clientDataJSON), DER-encoded as WebAuthn wants.
        let mut signer = Signer::new(MessageDigest::sha256(), &passkey.key)?;
        signer.update(&auth_data)?;
        signer.update(&openssl::sha::sha256(&client_data))?;
        let signature = signer.sign_to_vec()?;

        let id = &passkey.credential_id_b64;
        Ok(format!(
            r#"{{"id":"{id}","rawId":"{id}","type":"public-key","authenticatorAttachment":"platform","response":{{"clientDataJSON":"{}","authenticatorData":"{}","signature":"{}","userHandle":"{}"}}}}"#,
            b64(&client_data),
            b64(&auth_data),
            b64(&signature),
            passkey.user_handle_b64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_signature_verifies_with_the_registered_key() {
        let auth = SoftAuthenticator::new("http://localhost:8080", "localhost").unwrap();
        let creation = r#"{"rp":{"id":"localhost","name":"Latch"},"user":{"id":"AAECAw","name":"a","displayName":"a"},"challenge":"q83v"}"#;
        let (pk, reg) = auth.register(creation).unwrap();
        let reg: serde_json::Value = serde_json::from_str(&reg).unwrap();
        assert_eq!(reg["type"], "public-key");
        let cd = unb64(reg["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(cd).unwrap(),
            r#"{"type":"webauthn.create","challenge":"q83v","origin":"http://localhost:8080","crossOrigin":false}"#
        );
        let a = auth.assert(&pk, r#"{"challenge":"AQID","rpId":"localhost","userVerification":"required"}"#).unwrap();
        let a: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(a["response"]["userHandle"], "AAECAw");
        let ad = unb64(a["response"]["authenticatorData"].as_str().unwrap()).unwrap();
        let cd = unb64(a["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        let sig = unb64(a["response"]["signature"].as_str().unwrap()).unwrap();
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &pk.key).unwrap();
        verifier.update(&ad).unwrap();
        verifier.update(&openssl::sha::sha256(&cd)).unwrap();
        assert!(verifier.verify(&sig).unwrap());
    }
}
