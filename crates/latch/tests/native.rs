//! Native apps (docs/protocol.md §9): apps as configuration (refused at start when wrong),
//! the association files, the WebAuthn origins iOS and Android write, and the native transport
//! (`_is_native`, the client token in `Authorization`, real PATCH/DELETE, the client created
//! on first contact) — none of which may open a way around the browser's CSRF defences.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use latch_testkit::{fapi::*, native::*, passkey::*, process::*};
use serde_json::{Value, json};

/// A SHA-256 signing-certificate fingerprint and the origin Credential Manager derives from it.
const FINGERPRINT: &str =
    "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";
const APK_ORIGIN: &str = "android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU";
const OTHER_FINGERPRINT: &str =
    "AA:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";

fn android_app() -> String {
    format!("com.example.app={FINGERPRINT}")
}

/// `latch serve` with `args`, which must refuse to start: its exit status and what it said.
fn refused_at_start(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(latch_binary())
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env_remove("LATCH_IOS_APPS")
        .env_remove("LATCH_ANDROID_APPS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(!status.success(), "latch serve {args:?} started");
            return format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("latch serve {args:?} did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wrong_native_apps_are_refused_at_start_saying_what_to_fix() {
    let said = refused_at_start(&["--ios-app", "com.example.app"]);
    assert!(said.contains("Team ID"), "{said}");
    let said = refused_at_start(&["--ios-app", "abcde12345.com.example.app"]);
    assert!(said.contains("uppercase"), "{said}");
    let said = refused_at_start(&["--android-app", "example=AA:BB"]);
    assert!(said.contains("application id"), "{said}");
    let sha1 = "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09";
    let said = refused_at_start(&["--android-app", &format!("com.example.app={sha1}")]);
    assert!(said.contains("SHA-256") && said.contains("keytool"), "{said}");
    let said = refused_at_start(&["--android-app", "com.example.app"]);
    assert!(said.contains("<package name>=<SHA-256 fingerprint>"), "{said}");
    // The file's [native] table is checked the same way, and unknown keys are refused.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latch.toml");
    std::fs::write(&file, "[native]\nandroid = [{ package_name = \"com.example.app\", sha256_fingerprints = [] }]\n").unwrap();
    let said = refused_at_start(&["--config", file.to_str().unwrap()]);
    assert!(said.contains("at least one SHA-256"), "{said}");
    std::fs::write(&file, "[native]\nios = [{ team = \"ABCDE12345\", bundle_id = \"com.example.app\" }]\n").unwrap();
    let said = refused_at_start(&["--config", file.to_str().unwrap()]);
    assert!(said.contains("team"), "{said}");
}

async fn well_known(server: &LatchProcess, path: &str) -> Reply {
    Fapi::new(server).send(RawRequest::get(path).origin(OriginHeader::None).no_session_param()).await
}

fn assert_plain_json(r: &Reply) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), ["application/json"], "association files are JSON");
    assert!(r.header("location").is_empty(), "no redirect");
}

#[tokio::test]
async fn association_files_list_the_configured_apps() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latch.toml");
    // Two lines of configuration, as the README shows them.
    std::fs::write(
        &file,
        format!(
            "[native]\nios = [{{ team_id = \"ABCDE12345\", bundle_id = \"com.example.app\" }}]\n\
             android = [{{ package_name = \"com.example.app\", sha256_fingerprints = [\"{}\", \"{OTHER_FINGERPRINT}\"] }}]\n",
            FINGERPRINT.to_lowercase()
        ),
    )
    .unwrap();
    let server = LatchProcess::start_with(&["--config", file.to_str().unwrap()]);
    let r = well_known(&server, "/.well-known/apple-app-site-association").await;
    assert_plain_json(&r);
    assert_eq!(
        r.body,
        json!({
            "webcredentials": { "apps": ["ABCDE12345.com.example.app"] },
            "applinks": { "details": [{ "appIDs": ["ABCDE12345.com.example.app"], "components": [{ "/": "/*" }] }] },
        })
    );
    let r = well_known(&server, "/.well-known/assetlinks.json").await;
    assert_plain_json(&r);
    assert_eq!(
        r.body,
        json!([{
            "relation": ["delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"],
            "target": { "namespace": "android_app", "package_name": "com.example.app", "sha256_cert_fingerprints": [FINGERPRINT, OTHER_FINGERPRINT] },
        }])
    );

    // Without apps there is nothing to associate.
    let bare = LatchProcess::start();
    for path in ["/.well-known/apple-app-site-association", "/.well-known/assetlinks.json"] {
        let r = well_known(&bare, path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
    }
}

/// A passkey made in the browser, then a native discoverable sign-in whose assertion carries
/// `origin` in its client data (signed by the passkey's own key, as the OS would).
async fn native_sign_in_from(server: &LatchProcess, origin: &str) -> Reply {
    let web = Fapi::new(server);
    let mut auth = SoftAuthenticator::for_server(server);
    web.sign_up_ok("alice").await;
    web.create_passkey(&mut auth).await;
    let app = NativeApp::new(server, Marker::Sdk);
    let (id, options) = app.start_sign_in().await;
    let assertion = auth
        .forge(&options, |f| {
            f.edit_client_data(|m| {
                m.insert("origin".into(), Value::from(origin));
                m.insert("androidPackageName".into(), Value::from("com.example.app"));
            })
        })
        .await;
    app.attempt_sign_in(&id, &assertion.json()).await
}

#[tokio::test]
async fn an_android_passkey_signs_in_only_when_its_app_is_configured() {
    let configured = LatchProcess::start_with(&["--android-app", &android_app()]);
    let r = native_sign_in_from(&configured, APK_ORIGIN).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);

    let unconfigured = LatchProcess::start();
    native_sign_in_from(&unconfigured, APK_ORIGIN).await.assert_error(422, "verification_failed");
    let other_app = LatchProcess::start_with(&["--android-app", &format!("com.example.app={OTHER_FINGERPRINT}")]);
    native_sign_in_from(&other_app, APK_ORIGIN).await.assert_error(422, "verification_failed");
}

#[tokio::test]
async fn an_ios_passkey_carries_https_rp_id_which_needs_an_ios_app() {
    let with_ios = LatchProcess::start_with(&["--ios-app", "ABCDE12345.com.example.app"]);
    let r = native_sign_in_from(&with_ios, "https://localhost").await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    let without = LatchProcess::start();
    native_sign_in_from(&without, "https://localhost").await.assert_error(422, "verification_failed");
}

#[tokio::test]
async fn a_browser_ceremony_never_accepts_an_app_origin() {
    // The app is configured, but a sign-in a web page began is bound to that page's origin.
    let server = LatchProcess::start_with(&["--android-app", &android_app()]);
    let web = Fapi::new(&server);
    let mut auth = SoftAuthenticator::for_server(&server);
    web.sign_up_ok("alice").await;
    web.create_passkey(&mut auth).await;
    web.sign_out().await.ok();
    let (id, options) = web.start_sign_in().await;
    let assertion = auth.forge(&options, |f| f.edit_client_data(|m| {
        m.insert("origin".into(), Value::from(APK_ORIGIN));
    })).await;
    web.attempt_sign_in(&id, &assertion.json()).await.assert_error(422, "verification_failed");
}
