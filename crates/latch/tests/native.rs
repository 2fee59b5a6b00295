//! Native apps (docs/protocol.md §13): apps as configuration (refused at start when wrong),
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
        // Passkeys only: no applinks, which would route the site's pages into the app.
        json!({ "webcredentials": { "apps": ["ABCDE12345.com.example.app"] } })
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

// =============================================================================================
// The transport
// =============================================================================================

#[tokio::test]
async fn a_tokenless_native_get_client_creates_a_client_and_hands_over_its_token() {
    let server = LatchProcess::start();
    for marker in [Marker::Expo, Marker::Sdk] {
        let mut app = NativeApp::new(&server, marker);
        let r = app.get("/client").await.ok();
        let token = r.header("authorization").pop().expect("the new client's token");
        let id = r.resp()["id"].as_str().expect("a client, not null (clerk-android cannot decode null)").to_string();
        assert_eq!(r.resp()["object"], "client");
        // With its token the app finds the same client, and no new token is handed over.
        let again = app.get("/client").await.ok();
        assert_eq!(again.resp()["id"], id.as_str());
        assert!(again.header("authorization").is_empty());
        // `Bearer <token>` is the same client.
        app.bearer = true;
        assert_eq!(app.get("/client").await.ok().resp()["id"], id.as_str());
        // A token Latch does not know gets a new client rather than nothing.
        app.bearer = false;
        app.set_token(Some("not-a-token-latch-issued".into()));
        let fresh = app.get("/client").await.ok();
        assert_ne!(fresh.resp()["id"], id.as_str());
        assert_ne!(app.token().as_deref(), Some(token.as_str()));
    }
    // A browser without a client still gets none (only `__client_uat=0`, docs/protocol.md §14.1).
    let r = Fapi::new(&server).get("/client").await.ok();
    let no_client_cookie = r.header("set-cookie").iter().all(|c| !c.starts_with("__client="));
    assert!(r.resp().is_null() && no_client_cookie, "{} {:?}", r.text, r.header("set-cookie"));
}

#[tokio::test]
async fn a_tokenless_first_mutation_creates_the_client_in_the_authorization_header() {
    let server = LatchProcess::start();
    let app = NativeApp::new(&server, Marker::Expo);
    let r = app.post("/client/sign_ups", &[("username", "alice")]).await.ok();
    assert!(!r.header("authorization").is_empty(), "sign-up hands over the new client's token");
    // The next request, with that token, is signed in.
    let sid = r.resp()["created_session_id"].as_str().unwrap();
    let r = app.get("/client").await.ok();
    assert_eq!(r.resp()["last_active_session_id"], sid);

    let app = NativeApp::new(&server, Marker::Sdk);
    let r = app.post("/client/sign_ins", &[("strategy", "passkey"), ("locale", "")]).await.ok();
    assert!(!r.header("authorization").is_empty(), "a sign-in hands over the new client's token");
    assert_eq!(app.get("/client").await.ok().resp()["sign_in"]["id"], r.resp()["id"]);
}

fn b64(bytes: &[u8]) -> String {
    latch_testkit::webauthn::b64u(bytes)
}

/// clerk-android 1.1.3's creation credential: `raw_id`, attachment, transports, extensions.
fn android_registration(reg: &Registration) -> String {
    json!({
        "id": b64(&reg.id), "raw_id": b64(&reg.raw_id), "type": "public-key", "authenticatorAttachment": "platform",
        "response": { "clientDataJSON": b64(&reg.client_data_json), "attestationObject": b64(&reg.attestation_object), "transports": ["internal", "hybrid"] },
        "clientExtensionResults": { "credProps": { "rk": true } },
    })
    .to_string()
}

/// ClerkKit 1.4.1's: pretty-printed, no attachment, no transports.
fn ios_registration(reg: &Registration) -> String {
    serde_json::to_string_pretty(&json!({
        "id": b64(&reg.id), "rawId": b64(&reg.raw_id), "type": "public-key",
        "response": { "attestationObject": b64(&reg.attestation_object), "clientDataJSON": b64(&reg.client_data_json) },
    }))
    .unwrap()
}

/// A user signed up natively, with a passkey made through `spell` from `origin`.
async fn native_user_with_passkey(server: &LatchProcess, marker: Marker, origin: &str, spell: fn(&Registration) -> String) -> (NativeApp, SoftAuthenticator, String, String) {
    let app = NativeApp::new(server, marker);
    let sid = app.sign_up("alice").await;
    let mut auth = SoftAuthenticator::for_server(server);
    let (id, options) = app.start_registration(&sid).await;
    assert_eq!(options["rp"]["id"], "localhost", "creation options name the RP ID: {options}");
    let mut reg = auth.register(&options).await;
    reg.edit_client_data(|m| {
        m.insert("origin".into(), Value::from(origin));
    });
    let r = app.finish_registration(&sid, &id, &spell(&reg)).await.ok();
    assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
    (app, auth, sid, id)
}

#[tokio::test]
async fn a_passkey_has_a_string_name_from_creation_on() {
    let server = LatchProcess::start();
    let app = NativeApp::new(&server, Marker::Sdk);
    let sid = app.sign_up("alice").await;
    let r = app.send("POST", "/me/passkeys", &[("_clerk_session_id", &sid)], Some(&[])).await.ok();
    assert_eq!(r.resp()["verification"]["status"], "unverified");
    assert!(r.resp()["name"].is_string(), "ClerkKit and clerk-android need a string: {}", r.text);
    assert_eq!(r.header("content-type"), ["application/json"]);
    assert_eq!(r.header("date").len(), 1, "both SDKs read the Date header");
}

#[tokio::test]
async fn android_creates_renames_and_deletes_with_real_verbs_and_raw_id() {
    let server = LatchProcess::start_with(&["--android-app", &android_app()]);
    let (app, _auth, sid, id) = native_user_with_passkey(&server, Marker::Sdk, APK_ORIGIN, android_registration).await;
    // Real PATCH, form body, and no _clerk_session_id (clerk-android before #829): the
    // client's last active session answers.
    let r = app.send("PATCH", &format!("/me/passkeys/{id}"), &[], Some(&[("name", "Pixel")])).await.ok();
    assert_eq!(r.resp()["name"], "Pixel");
    let shown = &r.client()["sessions"][0]["user"]["passkeys"][0];
    assert_eq!(shown["name"], "Pixel", "the rename is in the piggybacked client: {}", r.text);
    // Touch with ClerkKit's and clerk-android's intent, then a token.
    let r = app.post(&format!("/client/sessions/{sid}/touch"), &[("active_organization_id", ""), ("intent", "select_org")]).await.ok();
    assert_eq!(r.resp()["id"], sid.as_str());
    let r = app.post(&format!("/client/sessions/{sid}/tokens"), &[("organization_id", "")]).await.ok();
    assert!(r.body["jwt"].is_string(), "{}", r.text);
    // Real DELETE with the session named.
    let r = app.send("DELETE", &format!("/me/passkeys/{id}"), &[("_clerk_session_id", &sid)], None).await.ok();
    assert_eq!(r.resp()["deleted"], true);
    let me = app.send("GET", "/me", &[], None).await.ok();
    assert_eq!(me.resp()["passkeys"], json!([]));
}

#[tokio::test]
async fn a_credential_whose_raw_id_is_not_its_id_is_refused() {
    let server = LatchProcess::start_with(&["--android-app", &android_app()]);
    let app = NativeApp::new(&server, Marker::Sdk);
    let sid = app.sign_up("alice").await;
    let mut auth = SoftAuthenticator::for_server(&server);
    let (id, options) = app.start_registration(&sid).await;
    let mut reg = auth.register(&options).await;
    reg.raw_id[0] ^= 1;
    let r = app.finish_registration(&sid, &id, &android_registration(&reg)).await;
    r.assert_error(422, "verification_failed");
    assert_eq!(app.send("GET", "/me", &[], None).await.ok().resp()["passkeys"], json!([]));
}

#[tokio::test]
async fn ios_prepare_issues_a_fresh_challenge_and_the_previous_one_stops_working() {
    let server = LatchProcess::start_with(&["--ios-app", "ABCDE12345.com.example.app"]);
    let (app, mut auth, _sid, _id) = native_user_with_passkey(&server, Marker::Sdk, "https://localhost", ios_registration).await;
    app.send("DELETE", "/client/sessions", &[], None).await.ok();

    let (sign_in, first) = app.start_sign_in().await;
    let prepare = |app: NativeApp, sign_in: String| async move {
        let r = app
            .post(&format!("/client/sign_ins/{sign_in}/prepare_first_factor"), &[("strategy", "passkey"), ("redirect_url", "com.example.app://callback")])
            .await
            .ok();
        parse_nonce(&r.resp()["first_factor_verification"]["nonce"])
    };
    let second = prepare(app.clone(), sign_in.clone()).await;
    assert_ne!(first["challenge"], second["challenge"], "prepare issues a new challenge");
    assert_eq!(second["rpId"], "localhost");
    assert_eq!(second["allowCredentials"], json!([]));
    // The first challenge no longer verifies (and its answer spends the current one).
    let stale = auth.forge(&first, |f| f.edit_client_data(|m| { m.insert("origin".into(), "https://localhost".into()); })).await;
    app.attempt_sign_in(&sign_in, &stale.json()).await.assert_error(422, "verification_failed");
    // A fresh prepare, answered: signed in, and the client's active session is the new one.
    let third = prepare(app.clone(), sign_in.clone()).await;
    let good = auth.forge(&third, |f| f.edit_client_data(|m| { m.insert("origin".into(), "https://localhost".into()); })).await;
    let pretty = serde_json::to_string_pretty(&good.to_value()).unwrap();
    let r = app.attempt_sign_in(&sign_in, &pretty).await.ok();
    assert_eq!(r.resp()["status"], "complete", "{}", r.text);
    assert_eq!(r.client()["last_active_session_id"], r.resp()["created_session_id"]);
}

// =============================================================================================
// The native marker opens no way around the browser's defences
// =============================================================================================

#[tokio::test]
async fn the_native_marker_does_not_make_a_cookie_count_nor_skip_the_origin_check() {
    let server = LatchProcess::start();
    let victim = Fapi::new(&server);
    let mut auth = SoftAuthenticator::for_server(&server);
    victim.sign_up_ok("alice").await;
    let (passkey, _) = victim.create_passkey(&mut auth).await;
    let passkey_id = passkey["id"].as_str().unwrap().to_string();
    let delete = |origin: OriginHeader, marker: &str, fetch_site: Option<&str>| {
        let mut r = RawRequest::post(&format!("/v1/me/passkeys/{passkey_id}"), vec![])
            .query("_method", "DELETE")
            .query("_is_native", marker)
            .origin(origin);
        if let Some(site) = fetch_site {
            r = r.header("sec-fetch-site", site);
        }
        r
    };
    for marker in ["1", "true"] {
        // A foreign page: refused before anything runs, marker or not.
        victim.send(delete(OriginHeader::Custom("https://evil.example".into()), marker, None)).await.assert_error(403, "origin_invalid");
        victim.send(delete(OriginHeader::None, marker, Some("cross-site"))).await.assert_error(403, "origin_invalid");
        // No Origin at all: a native request, and a native request's client comes from
        // `Authorization` only — the browser's cookie is not its credential.
        victim.send(delete(OriginHeader::None, marker, None)).await.assert_error(401, "signed_out");
    }
    assert_eq!(victim.passkeys().await.len(), 1, "the passkey survived");
}
