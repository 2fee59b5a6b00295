//! Native apps (iOS and Android) allowed to use the relying party, and the WebAuthn origins
//! their passkeys carry: the one home of that rule.
//!
//! A native app does not run on a web origin. The operating system writes an origin of its
//! own into `clientDataJSON` after checking that the app is associated with the RP ID's
//! domain (docs/protocol.md §13.3):
//!
//! - iOS (ASAuthorization): `https://<rp id>`, once the domain's
//!   `/.well-known/apple-app-site-association` lists `<team id>.<bundle id>` under
//!   `webcredentials`;
//! - Android (Credential Manager): `android:apk-key-hash:<base64url of the SHA-256 of the
//!   app's signing certificate>`, once `/.well-known/assetlinks.json` lists the package with
//!   that fingerprint.
//!
//! So an operator lists apps, not origins: [`NativeApps::webauthn_origins`] derives the
//! origins a ceremony accepts, and the server renders the association files from the same
//! lists. Every identifier is checked here, at start, with a message that says what to fix.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

/// The native apps an operator allows; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeApps {
    pub ios: Vec<IosApp>,
    pub android: Vec<AndroidApp>,
}

/// An iOS app: Apple's App ID is `<team id>.<bundle id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IosApp {
    /// The 10-character Team ID (App ID Prefix), e.g. `ABCDE12345`.
    pub team_id: String,
    /// The bundle identifier, e.g. `com.example.app`.
    pub bundle_id: String,
}

/// An Android app: its package name and the SHA-256 fingerprints of the certificates it is
/// signed with (a debug and a release key, or Play App Signing's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndroidApp {
    pub package_name: String,
    pub fingerprints: Vec<CertFingerprint>,
}

/// The SHA-256 of an Android signing certificate (DER).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertFingerprint(pub [u8; 32]);

impl NativeApps {
    pub fn is_empty(&self) -> bool {
        self.ios.is_empty() && self.android.is_empty()
    }

    /// The origins native passkeys of these apps carry for RP ID `rp_id`: `https://<rp id>`
    /// when an iOS app is listed, and one `android:apk-key-hash:…` per Android fingerprint.
    pub fn webauthn_origins(&self, rp_id: &str) -> Vec<Url> {
        let ios = (!self.ios.is_empty()).then(|| Url::parse(&format!("https://{rp_id}")).ok()).flatten();
        let android = self.android.iter().flat_map(|app| &app.fingerprints).filter_map(|f| Url::parse(&f.apk_key_hash_origin()).ok());
        let mut origins: Vec<Url> = ios.into_iter().chain(android).collect();
        origins.dedup();
        origins
    }

    /// Adds Android `package_name`'s fingerprint, merging fingerprints of one package.
    pub fn add_android(&mut self, package_name: &str, fingerprints: Vec<CertFingerprint>) {
        match self.android.iter_mut().find(|a| a.package_name == package_name) {
            Some(app) => {
                for f in fingerprints {
                    if !app.fingerprints.contains(&f) {
                        app.fingerprints.push(f);
                    }
                }
            }
            None => self.android.push(AndroidApp { package_name: package_name.to_string(), fingerprints }),
        }
    }
}

impl IosApp {
    pub fn new(team_id: &str, bundle_id: &str) -> Result<Self, String> {
        let team_id = team_id.trim();
        let bundle_id = bundle_id.trim();
        if team_id.len() != 10 || !team_id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return Err(format!(
                "iOS team_id {team_id:?} must be the 10-character Team ID (App ID Prefix) from your Apple \
                 developer account, uppercase letters and digits, e.g. ABCDE12345"
            ));
        }
        let segments_ok = bundle_id.split('.').all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if bundle_id.is_empty() || !segments_ok {
            return Err(format!(
                "iOS bundle_id {bundle_id:?} must be a bundle identifier such as com.example.app \
                 (letters, digits, '-' and '.', no empty part)"
            ));
        }
        Ok(IosApp { team_id: team_id.to_string(), bundle_id: bundle_id.to_string() })
    }

    /// `TEAMID.bundle.id` (as Xcode and the association file write it).
    pub fn parse_app_id(app_id: &str) -> Result<Self, String> {
        let (team, bundle) = app_id.trim().split_once('.').ok_or_else(|| {
            format!("iOS app {app_id:?} must be written <team id>.<bundle id>, e.g. ABCDE12345.com.example.app")
        })?;
        IosApp::new(team, bundle)
    }

    /// Apple's App ID: `<team id>.<bundle id>`.
    pub fn app_id(&self) -> String {
        format!("{}.{}", self.team_id, self.bundle_id)
    }
}

impl AndroidApp {
    pub fn new(package_name: &str, fingerprints: &[impl AsRef<str>]) -> Result<Self, String> {
        let package_name = check_package_name(package_name)?;
        if fingerprints.is_empty() {
            return Err(format!(
                "Android app {package_name:?} needs at least one SHA-256 signing-certificate fingerprint \
                 (`keytool -list -v -keystore …` or Play Console → App integrity)"
            ));
        }
        let fingerprints = fingerprints.iter().map(|f| CertFingerprint::parse(f.as_ref())).collect::<Result<_, _>>()?;
        Ok(AndroidApp { package_name, fingerprints })
    }

    /// `package.name=AA:BB:…` (one fingerprint; give the package again for another).
    pub fn parse_pair(text: &str) -> Result<Self, String> {
        let (package, fingerprint) = text.trim().split_once('=').ok_or_else(|| {
            format!("Android app {text:?} must be written <package name>=<SHA-256 fingerprint>, e.g. com.example.app=AA:BB:…")
        })?;
        AndroidApp::new(package, &[fingerprint])
    }
}

/// Android's rule (`applicationId`): at least two dot-separated parts, each starting with a
/// letter, then letters, digits or `_`.
fn check_package_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let parts: Vec<&str> = name.split('.').collect();
    let ok = parts.len() >= 2
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
    if !ok {
        return Err(format!(
            "Android package_name {name:?} must be an application id such as com.example.app \
             (two or more parts, each starting with a letter, then letters, digits or '_')"
        ));
    }
    Ok(name.to_string())
}

impl CertFingerprint {
    /// The colon-separated hex that `keytool` and the Play Console print
    /// (`AA:BB:…`, 32 bytes); case does not matter.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let wrong = || {
            format!(
                "signing-certificate fingerprint {text:?} must be a SHA-256 fingerprint: 32 bytes in hex, \
                 colon-separated (AA:BB:…:FF), as `keytool -list -v` prints it; a SHA-1 fingerprint is too short"
            )
        };
        let parts: Vec<&str> = text.split(':').collect();
        if parts.len() != 32 {
            return Err(wrong());
        }
        let mut bytes = [0u8; 32];
        for (byte, part) in bytes.iter_mut().zip(&parts) {
            if part.len() != 2 {
                return Err(wrong());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| wrong())?;
        }
        Ok(CertFingerprint(bytes))
    }

    /// `AA:BB:…`, uppercase, as assetlinks.json lists it.
    pub fn colon_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }

    /// The origin Credential Manager writes for an app signed with this certificate.
    pub fn apk_key_hash_origin(&self) -> String {
        format!("android:apk-key-hash:{}", URL_SAFE_NO_PAD.encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";

    #[test]
    fn an_android_fingerprint_becomes_its_apk_key_hash_origin() {
        let f = CertFingerprint::parse(&FP.to_lowercase()).unwrap();
        assert_eq!(f.colon_hex(), FP);
        // The base64url (no padding) of the 32 bytes above.
        assert_eq!(f.apk_key_hash_origin(), "android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU");
    }

    #[test]
    fn origins_are_derived_from_the_apps() {
        let mut apps = NativeApps::default();
        assert!(apps.webauthn_origins("example.com").is_empty());
        apps.ios.push(IosApp::parse_app_id("ABCDE12345.com.example.app").unwrap());
        apps.add_android("com.example.app", vec![CertFingerprint::parse(FP).unwrap()]);
        let origins: Vec<String> = apps.webauthn_origins("example.com").iter().map(Url::to_string).collect();
        assert_eq!(origins, ["https://example.com/", "android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU"]);
    }

    #[test]
    fn bad_identifiers_say_what_to_fix() {
        assert!(IosApp::new("abcde12345", "com.example.app").unwrap_err().contains("Team ID"));
        assert!(IosApp::new("ABCDE1234", "com.example.app").unwrap_err().contains("10-character"));
        assert!(IosApp::new("ABCDE12345", "com..app").unwrap_err().contains("bundle identifier"));
        assert!(IosApp::parse_app_id("ABCDE12345").unwrap_err().contains("<team id>.<bundle id>"));
        assert!(AndroidApp::new("example", &[FP]).unwrap_err().contains("application id"));
        assert!(AndroidApp::new("com.1example", &[FP]).unwrap_err().contains("starting with a letter"));
        assert!(AndroidApp::new("com.example", &[] as &[&str]).unwrap_err().contains("at least one"));
        let sha1 = "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09";
        assert!(AndroidApp::new("com.example", &[sha1]).unwrap_err().contains("SHA-1 fingerprint is too short"));
        assert!(CertFingerprint::parse(&FP.replace("14", "1G")).is_err());
        assert!(AndroidApp::parse_pair("com.example.app").unwrap_err().contains("<package name>="));
    }
}
