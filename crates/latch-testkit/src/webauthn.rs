//! The one forging authenticator: WebAuthn credentials built byte by byte, signed with ES256
//! (ECDSA P-256 + SHA-256) through OpenSSL, for every tool that needs credentials it controls
//! completely — the HTTP tests' forged and malformed cases, the fuzz targets' baseline
//! answers, the core benches and the load generator.
//!
//! Everything here is deterministic except the ECDSA signatures: a key comes from a seed
//! ([`Es256Key::from_seed`]) or a given scalar, a credential id from the same seed, and the
//! bytes are those a browser and a platform authenticator produce (`clientDataJSON` in
//! Chromium's field order, authenticatorData, a `none` attestation object with a COSE key in
//! CTAP2 canonical order). OpenSSL's signatures are randomised, which changes their bytes but
//! never their validity, so a failing input replays the same way.
//!
//! It is not the independent authenticator of the black-box suite: the happy paths there run
//! 1Password's passkey-rs (see `passkey`), a separate codebase from the verifier, so that a
//! misreading of the spec shared by this file and Latch cannot hide.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cbor;

/// AAGUID of Apple's platform passkeys ("iCloud Keychain", lately "Apple Passwords").
pub const APPLE_AAGUID: [u8; 16] = [
    0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd,
];
/// Names Latch's AAGUID table may give [`APPLE_AAGUID`].
pub const APPLE_NAMES: [&str; 2] = ["iCloud Keychain", "Apple Passwords"];
/// An AAGUID in no list (Chrome's virtual authenticator).
pub const UNKNOWN_AAGUID: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8];

/// authenticatorData flag bits (WebAuthn §6.1).
pub const FLAG_UP: u8 = 0x01;
pub const FLAG_UV: u8 = 0x04;
pub const FLAG_BE: u8 = 0x08;
pub const FLAG_BS: u8 = 0x10;
pub const FLAG_AT: u8 = 0x40;
pub const FLAG_ED: u8 = 0x80;

/// What went wrong building a credential: options that do not parse, or a key that is not one.
#[derive(Debug, Clone)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(what: &str, e: impl fmt::Display) -> Error {
    Error(format!("{what}: {e}"))
}

pub fn b64u(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url as browsers accept it: padding tolerated, never required.
pub fn decode_b64u(s: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|e| err("not base64url", e))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}

fn p256() -> EcGroup {
    // Only fails if OpenSSL was built without P-256, which no supported build is.
    EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("OpenSSL knows P-256")
}

/// A P-256 key pair that signs as a WebAuthn authenticator does.
#[derive(Clone)]
pub struct Es256Key {
    ec: EcKey<Private>,
}

impl fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private scalar stays out of test logs; the public key identifies the key.
        write!(f, "Es256Key({})", b64u(self.public_point()))
    }
}

impl Es256Key {
    /// The key for `seed`, the same in every process: the scalar is SHA-256 of the seed
    /// (rehashed in the rare case it is not below the group order).
    pub fn from_seed(seed: &[u8]) -> Es256Key {
        let group = p256();
        let mut order = BigNum::new().expect("bignum");
        let mut ctx = BigNumContext::new().expect("bignum context");
        group.order(&mut order, &mut ctx).expect("P-256 has an order");
        let mut counter = 0u8;
        loop {
            let mut h = openssl::sha::Sha256::new();
            h.update(b"latch-testkit ES256 key\0");
            h.update(seed);
            h.update(&[counter]);
            let d = BigNum::from_slice(&h.finish()).expect("bignum from 32 bytes");
            if d.num_bits() > 0 && d < order {
                return Self::from_scalar_bn(&group, &d, false).expect("a scalar below the order is a key");
            }
            counter = counter.wrapping_add(1);
        }
    }

    /// The key with private scalar `d` (big-endian), e.g. a COSE key's `-4` parameter.
    pub fn from_scalar(d: &[u8]) -> Result<Es256Key, Error> {
        let d = BigNum::from_slice(d).map_err(|e| err("private scalar", e))?;
        Self::from_scalar_bn(&p256(), &d, true)
    }

    /// [`Es256Key::from_scalar`] for a hex scalar (fixed keys in source code).
    pub fn from_scalar_hex(hex: &str) -> Result<Es256Key, Error> {
        let d = BigNum::from_hex_str(hex).map_err(|e| err("private scalar", e))?;
        Self::from_scalar_bn(&p256(), &d, true)
    }

    /// `check` validates the key pair, which costs another scalar multiplication: needed for
    /// scalars from outside, not for seeded ones (already in range), which the load generator
    /// makes one per registration.
    fn from_scalar_bn(group: &EcGroup, d: &BigNum, check: bool) -> Result<Es256Key, Error> {
        let mut ctx = BigNumContext::new().map_err(|e| err("bignum context", e))?;
        let mut public = EcPoint::new(group).map_err(|e| err("point", e))?;
        public.mul_generator2(group, d, &mut ctx).map_err(|e| err("public key", e))?;
        let ec = EcKey::from_private_components(group, d, &public).map_err(|e| err("key", e))?;
        if check {
            ec.check_key().map_err(|e| err("not a P-256 private key", e))?;
        }
        Ok(Es256Key { ec })
    }

    /// The public key as an uncompressed SEC1 point: `04 || x || y`.
    pub fn public_point(&self) -> Vec<u8> {
        let mut ctx = BigNumContext::new().expect("bignum context");
        self.ec
            .public_key()
            .to_bytes(self.ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
            .expect("a valid point encodes")
    }

    /// COSE_Key `{1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}`, in the order
    /// CTAP2's canonical CBOR puts them, as it appears in attested credential data.
    pub fn cose_public_key(&self) -> Vec<u8> {
        let point = self.public_point();
        let (x, y) = (&point[1..33], &point[33..65]);
        let mut v = Vec::with_capacity(77);
        cbor::head(&mut v, cbor::MAP, 5);
        for (label, value) in [(1, 2), (3, -7), (-1, 1)] {
            cbor::int(&mut v, label);
            cbor::int(&mut v, value);
        }
        cbor::int(&mut v, -2);
        cbor::bytes(&mut v, x);
        cbor::int(&mut v, -3);
        cbor::bytes(&mut v, y);
        v
    }

    /// The key as OpenSSL's generic type, for verifying with it.
    pub fn pkey(&self) -> PKey<Private> {
        PKey::from_ec_key(self.ec.clone()).expect("an EC key is a PKey")
    }

    /// The DER ECDSA-SHA256 signature over `auth_data || SHA-256(client_data_json)`: what an
    /// authenticator returns in an assertion (and in `packed` self-attestation).
    pub fn sign(&self, auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
        let mut h = openssl::sha::Sha256::new();
        h.update(auth_data);
        h.update(&sha256(client_data_json));
        // Signing with a valid key fails only on allocation failure inside OpenSSL.
        EcdsaSig::sign(&h.finish(), &self.ec).and_then(|s| s.to_der()).expect("ECDSA signs")
    }
}

/// `clientDataJSON` exactly as Chromium writes it (field order, no spaces).
pub fn client_data_json(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    let origin = serde_json::to_string(origin).expect("a string serialises");
    format!(r#"{{"type":"{kind}","challenge":"{}","origin":{origin},"crossOrigin":false}}"#, b64u(challenge))
        .into_bytes()
}

/// authenticatorData without attested credential data: rpIdHash | flags | signCount.
pub fn auth_data(rp_id: &str, flags: u8, counter: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(37);
    v.extend_from_slice(&sha256(rp_id.as_bytes()));
    v.push(flags);
    v.extend_from_slice(&counter.to_be_bytes());
    v
}

/// authenticatorData of a registration: [`auth_data`] then aaguid | idLength | id | COSE key.
/// `flags` is written as given (a forged registration may leave AT out).
pub fn attested_auth_data(
    rp_id: &str,
    flags: u8,
    counter: u32,
    aaguid: &[u8; 16],
    credential_id: &[u8],
    cose_key: &[u8],
) -> Vec<u8> {
    let mut v = auth_data(rp_id, flags, counter);
    v.extend_from_slice(aaguid);
    v.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
    v.extend_from_slice(credential_id);
    v.extend_from_slice(cose_key);
    v
}

/// `{"fmt": fmt, "attStmt": att_stmt, "authData": auth_data}`; `att_stmt` is CBOR already.
pub fn attestation_object(fmt: &str, att_stmt: &[u8], auth_data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(auth_data.len() + att_stmt.len() + 32);
    cbor::head(&mut v, cbor::MAP, 3);
    cbor::text(&mut v, "fmt");
    cbor::text(&mut v, fmt);
    cbor::text(&mut v, "attStmt");
    v.extend_from_slice(att_stmt);
    cbor::text(&mut v, "authData");
    cbor::bytes(&mut v, auth_data);
    v
}

/// The empty map: the attestation statement of `none`.
pub const EMPTY_MAP: &[u8] = &[0xa0];

/// `{"fmt":"none","attStmt":{},"authData":auth_data}`.
pub fn attestation_object_none(auth_data: &[u8]) -> Vec<u8> {
    attestation_object("none", EMPTY_MAP, auth_data)
}

// ---------------------------------------------------------------------------------------------
// Credentials taken apart
// ---------------------------------------------------------------------------------------------

/// A registration credential taken apart: every piece can be edited (or made invalid) before
/// it is assembled into the JSON clerk-js posts as `public_key_credential` (docs/protocol.md §7.2).
#[derive(Debug, Clone)]
pub struct RegistrationParts {
    /// The `id` text, normally base64url of `raw_id`; a string so that it can be anything.
    pub id: String,
    pub raw_id: Vec<u8>,
    pub typ: String,
    pub client_data_json: Vec<u8>,
    pub fmt: String,
    /// CBOR of the attestation statement ([`EMPTY_MAP`] for `none`).
    pub att_stmt: Vec<u8>,
    pub auth_data: Vec<u8>,
    /// When set, used verbatim instead of assembling fmt/attStmt/authData.
    pub attestation_object: Option<Vec<u8>>,
    pub transports: Vec<String>,
}

impl RegistrationParts {
    pub fn attestation_object(&self) -> Vec<u8> {
        match &self.attestation_object {
            Some(raw) => raw.clone(),
            None => attestation_object(&self.fmt, &self.att_stmt, &self.auth_data),
        }
    }

    pub fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "rawId": b64u(&self.raw_id),
            "type": self.typ,
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "attestationObject": b64u(self.attestation_object()),
                "transports": self.transports,
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }
}

/// An assertion taken apart.
#[derive(Debug, Clone)]
pub struct AssertionParts {
    pub id: String,
    pub raw_id: Vec<u8>,
    pub typ: String,
    pub client_data_json: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
}

impl AssertionParts {
    /// Sign the current authenticatorData and clientDataJSON again, after edits.
    pub fn resign(&mut self, key: &Es256Key) {
        self.signature = key.sign(&self.auth_data, &self.client_data_json);
    }

    pub fn to_value(&self) -> Value {
        json!({
            "id": self.id,
            "rawId": b64u(&self.raw_id),
            "type": self.typ,
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "authenticatorData": b64u(&self.auth_data),
                "signature": b64u(&self.signature),
                "userHandle": self.user_handle.as_ref().map(b64u),
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// The authenticator: options in, credentials out
// ---------------------------------------------------------------------------------------------

/// One credential the [`Authenticator`] made: what a platform keeps for a resident key.
#[derive(Debug, Clone)]
pub struct SoftPasskey {
    pub key: Es256Key,
    pub credential_id: Vec<u8>,
    /// The creation options' `user.id`, returned as `userHandle` in assertions.
    pub user_handle: Vec<u8>,
    credential_id_b64: String,
    user_handle_b64: String,
}

/// "Browser + platform authenticator" for one origin, answering the options Latch sends
/// (the passkey nonces) with the `public_key_credential` text clerk-js would post.
///
/// Its passkeys behave like synced platform passkeys (iCloud Keychain, Google Password
/// Manager): Apple's AAGUID, backup eligible and backed up, user verified, signature counter
/// always 0, `none` attestation. It checks nothing it receives beyond what it must parse.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// The page origin as JSON (quoted and escaped once) for clientDataJSON.
    origin_json: String,
    default_rp_id: String,
}

#[derive(Deserialize)]
struct CreationOptions<'a> {
    #[serde(borrow)]
    challenge: &'a str,
    rp: Option<Rp>,
    #[serde(borrow)]
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

impl Authenticator {
    /// An authenticator used from pages on `origin`; `default_rp_id` applies when the options
    /// name none (a browser then uses the origin's host).
    pub fn new(origin: &str, default_rp_id: &str) -> Authenticator {
        Authenticator {
            origin_json: serde_json::to_string(origin).expect("a string serialises"),
            default_rp_id: default_rp_id.to_string(),
        }
    }

    /// The challenge is decoded and encoded again, as a browser holds it as bytes.
    fn client_data(&self, kind: &str, challenge_b64: &str) -> Result<Vec<u8>, Error> {
        let challenge = b64u(decode_b64u(challenge_b64).map_err(|e| err("challenge", e))?);
        Ok(format!(r#"{{"type":"{kind}","challenge":"{challenge}","origin":{},"crossOrigin":false}}"#, self.origin_json)
            .into_bytes())
    }

    /// `navigator.credentials.create()` on creation options (JSON text): a new key and
    /// credential id derived from `seed`. Returns the passkey and the credential JSON.
    pub fn register(&self, options_json: &str, seed: &[u8]) -> Result<(SoftPasskey, String), Error> {
        let options: CreationOptions<'_> =
            serde_json::from_str(options_json).map_err(|e| err("creation options", e))?;
        let rp_id = options.rp.and_then(|rp| rp.id).unwrap_or_else(|| self.default_rp_id.clone());
        let user_handle = decode_b64u(options.user.id).map_err(|e| err("user.id", e))?;
        let client_data = self.client_data("webauthn.create", options.challenge)?;

        let key = Es256Key::from_seed(seed);
        let mut credential_id = sha256(&[b"latch-testkit credential id\0", seed].concat()).to_vec();
        credential_id.truncate(16);
        let flags = FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS | FLAG_AT;
        let auth_data = attested_auth_data(&rp_id, flags, 0, &APPLE_AAGUID, &credential_id, &key.cose_public_key());
        let attestation = attestation_object_none(&auth_data);

        let passkey = SoftPasskey {
            credential_id_b64: b64u(&credential_id),
            user_handle_b64: b64u(&user_handle),
            key,
            credential_id,
            user_handle,
        };
        // Written by hand rather than through serde_json::Value: the load generator makes
        // thousands of these a second on the machine it measures.
        let id = &passkey.credential_id_b64;
        let json = format!(
            r#"{{"id":"{id}","rawId":"{id}","type":"public-key","authenticatorAttachment":"platform","response":{{"clientDataJSON":"{}","attestationObject":"{}","transports":["internal","hybrid"]}}}}"#,
            b64u(&client_data),
            b64u(&attestation),
        );
        Ok((passkey, json))
    }

    /// `navigator.credentials.get()` with `passkey` on request options (JSON text): the
    /// assertion JSON clerk-js would post.
    pub fn assert(&self, passkey: &SoftPasskey, options_json: &str) -> Result<String, Error> {
        let options: RequestOptions<'_> = serde_json::from_str(options_json).map_err(|e| err("request options", e))?;
        let rp_id = options.rp_id.as_deref().unwrap_or(&self.default_rp_id);
        let client_data = self.client_data("webauthn.get", options.challenge)?;
        let auth_data = auth_data(rp_id, FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS, 0);
        let signature = passkey.key.sign(&auth_data, &client_data);
        let id = &passkey.credential_id_b64;
        Ok(format!(
            r#"{{"id":"{id}","rawId":"{id}","type":"public-key","authenticatorAttachment":"platform","response":{{"clientDataJSON":"{}","authenticatorData":"{}","signature":"{}","userHandle":"{}"}}}}"#,
            b64u(&client_data),
            b64u(&auth_data),
            b64u(&signature),
            passkey.user_handle_b64,
        ))
    }
}

#[cfg(test)]
mod tests {
    use openssl::hash::MessageDigest;
    use openssl::sign::Verifier;

    use super::*;

    #[test]
    fn a_seed_gives_the_same_key_and_credential_every_time() {
        let a = Es256Key::from_seed(b"alice");
        assert_eq!(a.public_point(), Es256Key::from_seed(b"alice").public_point());
        assert_ne!(a.public_point(), Es256Key::from_seed(b"bob").public_point());
        let auth = Authenticator::new("http://localhost:8080", "localhost");
        let creation = r#"{"user":{"id":"AAECAw"},"challenge":"q83v"}"#;
        assert_eq!(auth.register(creation, b"s").unwrap().1, auth.register(creation, b"s").unwrap().1);
    }

    #[test]
    fn the_cose_key_is_ctap2_canonical() {
        let key = Es256Key::from_scalar_hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721").unwrap();
        let point = key.public_point();
        let expected = [&[0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20][..], &point[1..33], &[0x22, 0x58, 0x20], &point[33..]].concat();
        assert_eq!(key.cose_public_key(), expected);
    }

    #[test]
    fn assertion_signature_verifies_with_the_registered_key() {
        let auth = Authenticator::new("http://localhost:8080", "localhost");
        let creation = r#"{"rp":{"id":"localhost","name":"Latch"},"user":{"id":"AAECAw","name":"a","displayName":"a"},"challenge":"q83v"}"#;
        let (pk, reg) = auth.register(creation, b"seed").unwrap();
        let reg: Value = serde_json::from_str(&reg).unwrap();
        assert_eq!(reg["type"], "public-key");
        let cd = decode_b64u(reg["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        assert_eq!(
            String::from_utf8(cd).unwrap(),
            r#"{"type":"webauthn.create","challenge":"q83v","origin":"http://localhost:8080","crossOrigin":false}"#
        );
        let att = decode_b64u(reg["response"]["attestationObject"].as_str().unwrap()).unwrap();
        let ad = attested_auth_data("localhost", 0x5d, 0, &APPLE_AAGUID, &pk.credential_id, &pk.key.cose_public_key());
        assert_eq!(att, attestation_object_none(&ad));

        let a = auth.assert(&pk, r#"{"challenge":"AQID","rpId":"localhost","userVerification":"required"}"#).unwrap();
        let a: Value = serde_json::from_str(&a).unwrap();
        assert_eq!(a["response"]["userHandle"], "AAECAw");
        let ad = decode_b64u(a["response"]["authenticatorData"].as_str().unwrap()).unwrap();
        let cd = decode_b64u(a["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        let sig = decode_b64u(a["response"]["signature"].as_str().unwrap()).unwrap();
        let public = pk.key.pkey();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(&ad).unwrap();
        verifier.update(&sha256(&cd)).unwrap();
        assert!(verifier.verify(&sig).unwrap());
    }

    #[test]
    fn options_that_do_not_parse_are_an_error() {
        let auth = Authenticator::new("http://localhost:8080", "localhost");
        assert!(auth.register("{}", b"s").is_err());
        assert!(auth.register(r#"{"user":{"id":"!"},"challenge":"q83v"}"#, b"s").is_err());
        let (pk, _) = auth.register(r#"{"user":{"id":"AA"},"challenge":"q83v"}"#, b"s").unwrap();
        assert!(auth.assert(&pk, r#"{"challenge":"***"}"#).is_err());
    }
}
