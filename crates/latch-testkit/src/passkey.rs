//! The independent authenticator of the black-box suite: 1Password's passkey-rs
//! (passkey-client + passkey-authenticator), a separate codebase from the verifier, turning
//! the server's nonces into credential JSON exactly as clerk-js posts it (docs/protocol.md §7.2). The
//! happy paths run it untouched.
//!
//! Forging starts from its real output: [`SoftAuthenticator::forge`] opens a real assertion
//! up for edits ([`AssertionForge`]) and signs the result again with the credential's own
//! private key through the forging authenticator ([`crate::webauthn::Es256Key`]), so that only
//! the edited property is wrong; [`Registration::edit_auth_data`] rebuilds the attestation
//! object with the one CBOR writer.

use std::{future::Future, pin::Pin};

use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_client::{Client, DefaultClientData};
use passkey_crypto::coset::{Label, iana, iana::EnumI64};
use passkey_crypto::rust_crypto::RustCryptoBackend;
use passkey_types::{
    Passkey,
    ctap2::{Aaguid, Ctap2Error},
    webauthn,
};
use serde_json::{Map, Value, json};
use url::Url;

use crate::fapi::unb64u;
use crate::process::LatchProcess;
use crate::webauthn::{APPLE_AAGUID, Es256Key, attestation_object_none, b64u, sha256};

/// Always present, always verified (a biometric that says yes).
struct AlwaysYes;

impl UserValidationMethod for AlwaysYes {
    type PasskeyItem = Passkey;

    // Hand-expanded `#[async_trait]` signature (the trait is declared with async-trait).
    fn check_user<'a, 'life0, 'async_trait>(
        &'life0 self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Pin<Box<dyn Future<Output = Result<UserCheck, Ctap2Error>> + Send + 'async_trait>>
    where
        'a: 'async_trait,
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { Ok(UserCheck { presence, verification }) })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

/// A registration credential as clerk-js posts it (docs/protocol.md §7.2). Fields are public so tests can
/// corrupt them; [`Registration::json`] serialises whatever they hold.
#[derive(Debug, Clone)]
pub struct Registration {
    pub id: Vec<u8>,
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub attestation_object: Vec<u8>,
    /// The authenticatorData inside `attestation_object` (not sent on its own).
    pub auth_data: Vec<u8>,
    pub transports: Vec<String>,
    pub attachment: Option<String>,
}

impl Registration {
    pub fn to_value(&self) -> Value {
        json!({
            "id": b64u(&self.id),
            "rawId": b64u(&self.raw_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "attestationObject": b64u(&self.attestation_object),
                "transports": self.transports,
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }

    /// Parsed clientDataJSON.
    pub fn client_data(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.client_data_json).unwrap()
    }

    /// Rewrite clientDataJSON (no signature covers it under `none` attestation).
    pub fn edit_client_data(&mut self, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut m = self.client_data();
        f(&mut m);
        self.client_data_json = serde_json::to_vec(&m).unwrap();
    }

    /// Rewrite authenticatorData and rebuild the attestation object around it.
    pub fn edit_auth_data(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.auth_data);
        self.attestation_object = attestation_object_none(&self.auth_data);
    }

    pub fn aaguid(&self) -> [u8; 16] {
        self.auth_data[37..53].try_into().unwrap()
    }
}

/// An assertion as clerk-js posts it (docs/protocol.md §7.2).
#[derive(Debug, Clone)]
pub struct Assertion {
    pub id: Vec<u8>,
    pub raw_id: Vec<u8>,
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
    pub user_handle: Option<Vec<u8>>,
    pub attachment: Option<String>,
}

impl Assertion {
    pub fn to_value(&self) -> Value {
        json!({
            "id": b64u(&self.id),
            "rawId": b64u(&self.raw_id),
            "type": "public-key",
            "authenticatorAttachment": self.attachment,
            "response": {
                "clientDataJSON": b64u(&self.client_data_json),
                "authenticatorData": b64u(&self.authenticator_data),
                "signature": b64u(&self.signature),
                "userHandle": self.user_handle.as_ref().map(b64u),
            }
        })
    }

    pub fn json(&self) -> String {
        self.to_value().to_string()
    }

    pub fn client_data(&self) -> Map<String, Value> {
        serde_json::from_slice(&self.client_data_json).unwrap()
    }

    pub fn counter(&self) -> u32 {
        u32::from_be_bytes(self.authenticator_data[33..37].try_into().unwrap())
    }
}

/// A real assertion opened up for tampering; [`SoftAuthenticator::forge`] re-signs it with the
/// credential's private key (or [`AssertionForge::signer`]'s) unless `resign` is false.
pub struct AssertionForge {
    pub assertion: Assertion,
    /// Re-sign authenticatorData || SHA-256(clientDataJSON) after the edits (default true).
    pub resign: bool,
    /// Sign with this key instead of the credential's own (see [`SoftAuthenticator::signing_key`]).
    pub signer: Option<Es256Key>,
}

impl AssertionForge {
    pub fn edit_client_data(&mut self, f: impl FnOnce(&mut Map<String, Value>)) {
        let mut m = self.assertion.client_data();
        f(&mut m);
        self.assertion.client_data_json = serde_json::to_vec(&m).unwrap();
    }

    pub fn set_flags(&mut self, flags: u8) {
        self.assertion.authenticator_data[32] = flags;
    }

    pub fn flags(&self) -> u8 {
        self.assertion.authenticator_data[32]
    }

    pub fn set_rp_id(&mut self, rp_id: &str) {
        self.assertion.authenticator_data[..32].copy_from_slice(&sha256(rp_id.as_bytes()));
    }

    pub fn set_counter(&mut self, counter: u32) {
        self.assertion.authenticator_data[33..37].copy_from_slice(&counter.to_be_bytes());
    }
}

/// A software passkey device with any number of credentials.
pub struct SoftAuthenticator {
    origin: Url,
    aaguid: [u8; 16],
    signature_counter: bool,
    passkeys: Vec<Passkey>,
    preferred: Option<Vec<u8>>,
}

impl SoftAuthenticator {
    /// Apple AAGUID, user verification on, signature counter on.
    pub fn new(origin: &str) -> Self {
        SoftAuthenticator {
            origin: Url::parse(origin).unwrap(),
            aaguid: APPLE_AAGUID,
            signature_counter: true,
            passkeys: vec![],
            preferred: None,
        }
    }

    pub fn for_server(server: &LatchProcess) -> Self {
        Self::new(&server.origin())
    }

    pub fn with_aaguid(mut self, aaguid: [u8; 16]) -> Self {
        self.aaguid = aaguid;
        self
    }

    /// Counter always 0, like iOS passkeys.
    pub fn without_signature_counter(mut self) -> Self {
        self.signature_counter = false;
        self
    }

    pub fn set_origin(&mut self, origin: &str) {
        self.origin = Url::parse(origin).unwrap();
    }

    pub fn credential_ids(&self) -> Vec<Vec<u8>> {
        self.passkeys.iter().map(|p| p.credential_id.to_vec()).collect()
    }

    /// Use this credential for discoverable sign-ins (default: the newest).
    pub fn prefer(&mut self, id: &[u8]) {
        self.preferred = Some(id.to_vec());
    }

    /// Drop a credential from the device.
    pub fn forget(&mut self, id: &[u8]) {
        self.passkeys.retain(|p| p.credential_id.as_slice() != id);
    }

    pub fn passkey(&self, id: &[u8]) -> Passkey {
        self.passkeys
            .iter()
            .find(|p| p.credential_id.as_slice() == id)
            .cloned()
            .expect("credential on this authenticator")
    }

    /// The user handle stored with a credential (= creation options `user.id`).
    pub fn user_handle(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.passkey(id).user_handle.map(|b| b.to_vec())
    }

    fn authenticator(&self, store: Option<Passkey>) -> Authenticator<Option<Passkey>, AlwaysYes, RustCryptoBackend> {
        let mut a = Authenticator::new(Aaguid::from(self.aaguid), store, AlwaysYes, RustCryptoBackend);
        a.set_make_credentials_with_signature_counter(self.signature_counter);
        a
    }

    /// `navigator.credentials.create()` on the server's creation options (the parsed nonce).
    pub async fn register(&mut self, options: &Value) -> Registration {
        self.try_register(options).await.unwrap_or_else(|e| panic!("authenticator refused to register: {e}"))
    }

    pub async fn try_register(&mut self, options: &Value) -> Result<Registration, String> {
        let request: webauthn::CredentialCreationOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("creation options do not parse as WebAuthn JSON: {e}: {options}"))?;
        let mut client = Client::new(self.authenticator(None)).allows_insecure_localhost(true);
        let created = client
            .register(&self.origin, request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let stored = client.authenticator().store().clone().expect("authenticator stored the passkey");
        self.passkeys.retain(|p| p.credential_id != stored.credential_id);
        self.passkeys.push(stored);
        let transports = created
            .response
            .transports
            .as_ref()
            .map(|ts| ts.iter().map(|t| serde_json::to_value(t).unwrap().as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        Ok(Registration {
            id: created.raw_id.to_vec(),
            raw_id: created.raw_id.to_vec(),
            client_data_json: created.response.client_data_json.to_vec(),
            attestation_object: created.response.attestation_object.to_vec(),
            auth_data: created.response.authenticator_data.to_vec(),
            transports,
            attachment: created
                .authenticator_attachment
                .map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()),
        })
    }

    fn pick(&self, options: &Value) -> Option<Passkey> {
        let allow: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d["id"].as_str()).map(unb64u).collect())
            .unwrap_or_default();
        if !allow.is_empty() {
            return self.passkeys.iter().find(|p| allow.iter().any(|id| id == p.credential_id.as_slice())).cloned();
        }
        if let Some(pref) = &self.preferred
            && let Some(p) = self.passkeys.iter().find(|p| p.credential_id.as_slice() == pref.as_slice())
        {
            return Some(p.clone());
        }
        self.passkeys.last().cloned()
    }

    /// `navigator.credentials.get()` on the server's request options (the parsed nonce).
    pub async fn assert(&mut self, options: &Value) -> Assertion {
        self.try_assert(options).await.unwrap_or_else(|e| panic!("authenticator refused to sign in: {e}"))
    }

    pub async fn try_assert(&mut self, options: &Value) -> Result<Assertion, String> {
        self.assert_with(options).await.map(|(a, _)| a)
    }

    async fn assert_with(&mut self, options: &Value) -> Result<(Assertion, Passkey), String> {
        let passkey = self.pick(options).ok_or("no matching credential on this authenticator")?;
        let request: webauthn::CredentialRequestOptions =
            serde_json::from_value(json!({ "publicKey": options }))
                .map_err(|e| format!("request options do not parse as WebAuthn JSON: {e}: {options}"))?;
        let mut client = Client::new(self.authenticator(Some(passkey))).allows_insecure_localhost(true);
        let got = client
            .authenticate(&self.origin, request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let updated = client.authenticator().store().clone().unwrap();
        for p in self.passkeys.iter_mut() {
            if p.credential_id == updated.credential_id {
                *p = updated.clone();
            }
        }
        let a = Assertion {
            id: got.raw_id.to_vec(),
            raw_id: got.raw_id.to_vec(),
            client_data_json: got.response.client_data_json.to_vec(),
            authenticator_data: got.response.authenticator_data.to_vec(),
            signature: got.response.signature.to_vec(),
            user_handle: got.response.user_handle.map(|b| b.to_vec()),
            attachment: got.authenticator_attachment.map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()),
        };
        Ok((a, updated))
    }

    /// A real assertion (the device's counter advances), then `edit`, then re-signed with the
    /// credential's key so that only the edited property is wrong.
    pub async fn forge(&mut self, options: &Value, edit: impl FnOnce(&mut AssertionForge)) -> Assertion {
        let (a, passkey) = self.assert_with(options).await.unwrap();
        let mut f = AssertionForge { assertion: a, resign: true, signer: None };
        edit(&mut f);
        if f.resign {
            let key = match f.signer.take() {
                Some(key) => key,
                None => signing_key(&passkey),
            };
            f.assertion.signature = key.sign(&f.assertion.authenticator_data, &f.assertion.client_data_json);
        }
        f.assertion
    }

    /// Sign `auth_data || SHA-256(client_data_json)` with one of this device's credentials.
    pub fn sign(&self, id: &[u8], auth_data: &[u8], client_data_json: &[u8]) -> Vec<u8> {
        self.signing_key(id).sign(auth_data, client_data_json)
    }

    /// A credential's private key, handed to the forging authenticator, which signs whatever
    /// a test made of the credential's bytes.
    pub fn signing_key(&self, id: &[u8]) -> Es256Key {
        signing_key(&self.passkey(id))
    }
}

/// passkey-rs keeps the private key as a COSE_Key; its `d` parameter is the P-256 scalar.
fn signing_key(passkey: &Passkey) -> Es256Key {
    let d = passkey
        .key
        .params
        .iter()
        .find(|(label, _)| *label == Label::Int(iana::Ec2KeyParameter::D.to_i64()))
        .and_then(|(_, value)| value.as_bytes())
        .unwrap_or_else(|| panic!("passkey-rs key without a private scalar: {:?}", passkey.key.kty));
    Es256Key::from_scalar(d).unwrap_or_else(|e| panic!("passkey-rs private key: {e}"))
}
