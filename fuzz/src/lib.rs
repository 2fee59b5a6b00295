//! Shared pieces of Latch's fuzz targets: a relying party with one real registration and one
//! real sign-in ceremony begun on it, a well-formed answer to each (built byte by byte and
//! signed with a fixed P-256 key by the test kit's forging authenticator,
//! `latch_testkit::webauthn`, with its one CBOR writer), and the structured edits
//! (`arbitrary`) that the fuzzer applies to those answers before they go through
//! `RelyingParty::finish_registration` / `finish_authentication`, exactly as the server
//! calls them.
//!
//! Everything is deterministic: the key and the challenges are fixed (the challenge is set
//! in the serialised ceremony state, the same form the store keeps), so a crash input
//! replays the same way in any process. ECDSA signatures are randomised, but their validity
//! is not.

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::ceremony::{PasskeyOwner, RelyingParty, UvPolicy};
use latch_core::origins::OriginPattern;
use latch_core::webauthn::{AuthenticationState, Credential, CredentialID, RegistrationState};
use latch_testkit::webauthn::{EMPTY_MAP, Es256Key, attested_auth_data, auth_data, sha256};
use serde_json::{Value, json};
use uuid::Uuid;

pub use latch_testkit::webauthn::{AssertionParts, RegistrationParts, client_data_json as client_data};

pub const RP_ID: &str = "latch.example";
pub const ORIGIN: &str = "https://latch.example";
/// A second allowed origin, matched by a wildcard pattern.
pub const SUB_ORIGIN: &str = "https://app.latch.example";
pub const REG_CHALLENGE: [u8; 32] = [0x5a; 32];
pub const AUTH_CHALLENGE: [u8; 32] = [0xa5; 32];
pub const CRED_ID: [u8; 16] = [0xc1, 0xed, 0x1d, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
/// A credential the user already has: in the registration's exclude list.
pub const EXCLUDED_ID: [u8; 16] = [0xee; 16];
pub const OWNER: Uuid = Uuid::from_bytes([0x0f; 16]);
/// Apple's AAGUID, so that a successful registration also reaches the AAGUID name lookup.
pub const AAGUID: [u8; 16] = latch_testkit::webauthn::APPLE_AAGUID;

pub use latch_testkit::webauthn::{FLAG_AT as AT, FLAG_UP as UP, FLAG_UV as UV};

/// The fixed world every target runs in.
pub struct Fixture {
    pub rp: RelyingParty,
    pub key: Es256Key,
    pub reg_state: RegistrationState,
    pub auth_state: AuthenticationState,
    /// The credential as stored after the baseline registration verified.
    pub stored: Credential,
    pub cose_key: Vec<u8>,
    /// The baseline answers, made once (signing is the slow part).
    registration: RegistrationParts,
    assertion: AssertionParts,
    pub registration_json: String,
    pub assertion_json: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

pub fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let rp = RelyingParty::new(
        RP_ID,
        "Latch fuzz",
        vec![
            OriginPattern::parse(ORIGIN).unwrap(),
            OriginPattern::parse("https://*.latch.example").unwrap(),
        ],
        Duration::from_secs(300),
        UvPolicy::Required,
    );
    // A fixed scalar (RFC 6979's P-256 test key), so that inputs replay across processes.
    let key = Es256Key::from_scalar_hex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
        .expect("the fixed scalar is a P-256 key");
    let cose_key = key.cose_public_key();
    let owner = PasskeyOwner { handle: OWNER, name: "alice", display_name: "alice" };
    let (_, reg_state) = rp
        .begin_registration(&owner, vec![CredentialID::from(EXCLUDED_ID.to_vec())])
        .expect("begin_registration");
    let reg_state: RegistrationState = with_challenge(&reg_state, &REG_CHALLENGE);
    let reg = registration_parts(&cose_key).json();
    let verified = rp
        .finish_registration(&reg, &reg_state, Some(ORIGIN))
        .unwrap_or_else(|e| panic!("fuzz fixture: the baseline registration does not verify: {e}"));
    // A discoverable sign-in, as `POST /client/sign_ins strategy=passkey` begins it.
    let (_, auth_state) = rp.begin_authentication(vec![]).expect("begin_authentication");
    let auth_state = with_challenge(&auth_state, &AUTH_CHALLENGE);
    let registration = registration_parts(&cose_key);
    let assertion = assertion_parts(&key);
    let (registration_json, assertion_json) = (registration.json(), assertion.json());
    let fx = Fixture {
        rp,
        key,
        reg_state,
        auth_state,
        stored: verified.credential,
        cose_key,
        registration,
        assertion,
        registration_json,
        assertion_json,
    };
    let parsed = latch_core::ceremony::parse_assertion(&fx.assertion_json).expect("baseline assertion parses");
    fx.rp
        .finish_authentication(&parsed, &fx.auth_state, &fx.stored, OWNER, Some(ORIGIN))
        .unwrap_or_else(|e| panic!("fuzz fixture: the baseline assertion does not verify: {e}"));
    fx
}

/// The state, serialised as the store keeps it, with its challenge replaced.
fn with_challenge<T: serde::Serialize + serde::de::DeserializeOwned>(state: &T, challenge: &[u8]) -> T {
    let mut v = serde_json::to_value(state).expect("ceremony state serialises");
    assert!(v.get("challenge").is_some(), "ceremony state has no challenge field: {v}");
    v["challenge"] = Value::String(URL_SAFE_NO_PAD.encode(challenge));
    serde_json::from_value(v).expect("ceremony state deserialises")
}

/// DER ECDSA-SHA256 over `auth_data || SHA-256(client_data_json)`, as an authenticator signs.
pub fn sign(key: &Es256Key, auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
    key.sign(auth_data, client_data_json)
}

// ---------------------------------------------------------------------------------------------
// The well-formed answers
// ---------------------------------------------------------------------------------------------

fn registration_parts(cose_key: &[u8]) -> RegistrationParts {
    let auth_data = attested_auth_data(RP_ID, UP | UV | AT, 0, &AAGUID, &CRED_ID, cose_key);
    RegistrationParts {
        id: URL_SAFE_NO_PAD.encode(CRED_ID),
        raw_id: CRED_ID.to_vec(),
        typ: "public-key".into(),
        client_data_json: client_data("webauthn.create", &REG_CHALLENGE, ORIGIN),
        fmt: "none".into(),
        att_stmt: EMPTY_MAP.to_vec(),
        auth_data,
        attestation_object: None,
        transports: vec!["internal".into(), "hybrid".into()],
    }
}

impl Fixture {
    /// A `none`-attestation registration that verifies against `reg_state` from [`ORIGIN`].
    pub fn registration_parts(&self) -> RegistrationParts {
        self.registration.clone()
    }

    /// authenticatorData of an assertion: rpIdHash | flags | counter.
    pub fn assertion_auth_data(flags: u8, counter: u32) -> Vec<u8> {
        auth_data(RP_ID, flags, counter)
    }

    /// An assertion that verifies against `auth_state` and `stored` from [`ORIGIN`].
    pub fn assertion_parts(&self) -> AssertionParts {
        self.assertion.clone()
    }
}

fn assertion_parts(key: &Es256Key) -> AssertionParts {
    let client_data_json = client_data("webauthn.get", &AUTH_CHALLENGE, ORIGIN);
    let auth_data = Fixture::assertion_auth_data(UP | UV, 1);
    let signature = sign(key, &auth_data, &client_data_json);
    AssertionParts {
        id: URL_SAFE_NO_PAD.encode(CRED_ID),
        raw_id: CRED_ID.to_vec(),
        typ: "public-key".into(),
        client_data_json,
        auth_data,
        signature,
        user_handle: Some(OWNER.as_bytes().to_vec()),
    }
}

// ---------------------------------------------------------------------------------------------
// Structured edits
// ---------------------------------------------------------------------------------------------

/// One edit of a byte string. Positions wrap around the current length.
#[derive(Debug, Clone, Arbitrary)]
pub enum ByteEdit {
    Replace(Vec<u8>),
    Xor { at: u16, mask: u8 },
    Set { at: u16, byte: u8 },
    Truncate(u16),
    Append(Vec<u8>),
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
    /// Repeat a slice many times (length fields, nesting).
    Repeat { at: u16, len: u8, times: u8 },
}

impl ByteEdit {
    pub fn apply(&self, v: &mut Vec<u8>) {
        let pos = |at: u16, len: usize| if len == 0 { 0 } else { at as usize % (len + 1) };
        match self {
            ByteEdit::Replace(b) => *v = b.clone(),
            ByteEdit::Xor { at, mask } => {
                if !v.is_empty() {
                    let i = *at as usize % v.len();
                    v[i] ^= mask;
                }
            }
            ByteEdit::Set { at, byte } => {
                if !v.is_empty() {
                    let i = *at as usize % v.len();
                    v[i] = *byte;
                }
            }
            ByteEdit::Truncate(n) => {
                let n = pos(*n, v.len());
                v.truncate(n);
            }
            ByteEdit::Append(b) => v.extend_from_slice(b),
            ByteEdit::Insert { at, bytes } => {
                let i = pos(*at, v.len());
                v.splice(i..i, bytes.iter().copied());
            }
            ByteEdit::Remove { at, len } => {
                let i = pos(*at, v.len());
                let end = (i + *len as usize).min(v.len());
                v.drain(i..end);
            }
            ByteEdit::Repeat { at, len, times } => {
                let i = pos(*at, v.len());
                let end = (i + *len as usize).min(v.len());
                let chunk = v[i..end].to_vec();
                let mut extra = Vec::with_capacity(chunk.len() * *times as usize);
                for _ in 0..*times {
                    extra.extend_from_slice(&chunk);
                }
                v.splice(end..end, extra);
            }
        }
    }
}

pub fn apply_all(v: &mut Vec<u8>, edits: &[ByteEdit]) {
    for e in edits {
        e.apply(v);
    }
}

/// Edits of clientDataJSON: as JSON fields (reaching the checks) or as raw bytes (the parser).
#[derive(Debug, Clone, Arbitrary)]
pub enum ClientDataEdit {
    Bytes(ByteEdit),
    /// Set a well-known field to an arbitrary JSON value.
    Field(ClientDataKey, JsonLeaf),
    /// Remove a well-known field.
    Remove(ClientDataKey),
    /// Add an arbitrary field.
    Extra(String, JsonLeaf),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum ClientDataKey {
    Type,
    Challenge,
    Origin,
    CrossOrigin,
    TopOrigin,
    TokenBinding,
}

impl ClientDataKey {
    fn name(self) -> &'static str {
        match self {
            ClientDataKey::Type => "type",
            ClientDataKey::Challenge => "challenge",
            ClientDataKey::Origin => "origin",
            ClientDataKey::CrossOrigin => "crossOrigin",
            ClientDataKey::TopOrigin => "topOrigin",
            ClientDataKey::TokenBinding => "tokenBinding",
        }
    }
}

/// A JSON value the fuzzer picks, biased towards the values that matter.
#[derive(Debug, Clone, Arbitrary)]
pub enum JsonLeaf {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// base64url of arbitrary bytes (a challenge that decodes).
    B64(Vec<u8>),
    TheRegChallenge,
    TheAuthChallenge,
    Origin(OriginChoice),
    Create,
    Get,
    Array(Vec<String>),
    Object(Vec<(String, String)>),
}

impl JsonLeaf {
    fn to_value(&self) -> Value {
        match self {
            JsonLeaf::Null => Value::Null,
            JsonLeaf::Bool(b) => json!(b),
            JsonLeaf::Int(i) => json!(i),
            JsonLeaf::Float(f) => json!(f),
            JsonLeaf::Str(s) => json!(s),
            JsonLeaf::B64(b) => json!(URL_SAFE_NO_PAD.encode(b)),
            JsonLeaf::TheRegChallenge => json!(URL_SAFE_NO_PAD.encode(REG_CHALLENGE)),
            JsonLeaf::TheAuthChallenge => json!(URL_SAFE_NO_PAD.encode(AUTH_CHALLENGE)),
            JsonLeaf::Origin(o) => json!(o.as_str().unwrap_or("null")),
            JsonLeaf::Create => json!("webauthn.create"),
            JsonLeaf::Get => json!("webauthn.get"),
            JsonLeaf::Array(a) => json!(a),
            JsonLeaf::Object(kv) => Value::Object(kv.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
        }
    }
}

pub fn edit_client_data(cdj: &mut Vec<u8>, edits: &[ClientDataEdit]) {
    for e in edits {
        match e {
            ClientDataEdit::Bytes(b) => b.apply(cdj),
            ClientDataEdit::Field(k, v) => edit_json_object(cdj, |m| {
                m.insert(k.name().to_string(), v.to_value());
            }),
            ClientDataEdit::Remove(k) => edit_json_object(cdj, |m| {
                m.remove(k.name());
            }),
            ClientDataEdit::Extra(k, v) => edit_json_object(cdj, |m| {
                m.insert(k.clone(), v.to_value());
            }),
        }
    }
}

fn edit_json_object(cdj: &mut Vec<u8>, f: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    // Field edits apply only while the bytes are still a JSON object.
    if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(cdj) {
        f(&mut m);
        *cdj = serde_json::to_vec(&m).unwrap();
    }
}

/// The Origin header the ceremony was begun with (the server binds the ceremony to it).
#[derive(Debug, Clone, Arbitrary)]
pub enum OriginChoice {
    /// The browser's origin (the common case).
    Main,
    /// A subdomain origin allowed by the wildcard pattern.
    Sub,
    /// No Origin header (native apps): any exact allowed origin.
    None,
    Other(String),
}

impl OriginChoice {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OriginChoice::Main => Some(ORIGIN),
            OriginChoice::Sub => Some(SUB_ORIGIN),
            OriginChoice::None => None,
            OriginChoice::Other(s) => Some(s),
        }
    }
}

/// The credential id fields: `id` (base64url text) and `rawId` (bytes).
#[derive(Debug, Clone, Arbitrary)]
pub enum IdEdit {
    Keep,
    /// Both fields consistent, another credential.
    Both(Vec<u8>),
    /// The excluded credential (registration: `AlreadyRegistered`).
    Excluded,
    IdText(String),
    RawId(Vec<u8>),
}

impl IdEdit {
    pub fn apply(&self, id: &mut String, raw_id: &mut Vec<u8>) {
        match self {
            IdEdit::Keep => {}
            IdEdit::Both(b) => {
                *id = URL_SAFE_NO_PAD.encode(b);
                *raw_id = b.clone();
            }
            IdEdit::Excluded => {
                *id = URL_SAFE_NO_PAD.encode(EXCLUDED_ID);
                *raw_id = EXCLUDED_ID.to_vec();
            }
            IdEdit::IdText(s) => *id = s.clone(),
            IdEdit::RawId(b) => *raw_id = b.clone(),
        }
    }
}

/// Checks every accepted answer must pass, whatever the fuzzer did: a success that breaks
/// one of these is a verification bypass, and the target aborts on it.
pub fn assert_accepted_client_data(cdj: &[u8], typ: &str, challenge: &[u8], bound_origin: Option<&str>) {
    let v: Value = serde_json::from_slice(cdj).expect("accepted clientDataJSON is JSON");
    assert_eq!(v["type"], typ, "accepted a ceremony of the wrong type: {v}");
    let got = v["challenge"].as_str().and_then(|c| URL_SAFE_NO_PAD.decode(c.trim_end_matches('=')).ok());
    assert_eq!(got.as_deref(), Some(challenge), "accepted a foreign challenge: {v}");
    let origin = v["origin"].as_str().and_then(|o| url::Url::parse(o).ok()).expect("accepted origin parses");
    let allowed: Vec<&str> = match bound_origin {
        Some(o) => vec![o],
        None => vec![ORIGIN],
    };
    assert!(
        allowed.iter().any(|a| url::Url::parse(a).is_ok_and(|a| a.origin() == origin.origin())),
        "accepted origin {origin} for a ceremony bound to {bound_origin:?}"
    );
    assert_ne!(v["crossOrigin"], json!(true), "accepted a cross-origin ceremony: {v}");
}

pub fn assert_accepted_auth_data(auth_data: &[u8], need: u8) {
    assert!(auth_data.len() >= 37, "accepted authenticatorData of {} bytes", auth_data.len());
    assert_eq!(auth_data[..32], sha256(RP_ID.as_bytes()), "accepted a foreign RP ID hash");
    assert_eq!(auth_data[32] & need, need, "accepted flags {:#04x} without {need:#04x}", auth_data[32]);
}
