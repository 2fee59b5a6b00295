//! The app-association files a native passkey needs (docs/protocol.md §13.3), rendered from
//! the operator's list of native apps (`latch_core::native_apps`), on every host Latch
//! answers for — the RP ID's host and the Frontend API's, when they differ.
//!
//! - `/.well-known/apple-app-site-association`: iOS shows an app passkeys for the RP ID only
//!   when this file lists it under `webcredentials` (no `applinks`: see [`apple_file`]);
//! - `/.well-known/assetlinks.json`: Credential Manager hands an app passkeys for the RP ID
//!   only when this file lists its package and signing-certificate fingerprint with
//!   `get_login_creds`.
//!
//! Both are `200 application/json` straight away (the OS follows no redirect), or 404 when
//! no app of that platform is configured.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use latch_core::native_apps::NativeApps;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn apple_app_site_association(State(state): State<AppState>) -> Response {
    match apple_file(&state.settings().native_apps) {
        Some(body) => axum::Json(body).into_response(),
        None => ApiError::not_found("apple-app-site-association").into_response(),
    }
}

pub async fn assetlinks(State(state): State<AppState>) -> Response {
    match android_file(&state.settings().native_apps) {
        Some(body) => axum::Json(body).into_response(),
        None => ApiError::not_found("assetlinks.json").into_response(),
    }
}

fn apple_file(apps: &NativeApps) -> Option<Value> {
    if apps.ios.is_empty() {
        return None;
    }
    let app_ids: Vec<String> = apps.ios.iter().map(|a| a.app_id()).collect();
    // `webcredentials` only: passkeys need nothing else. An `applinks` section would route the
    // RP ID's web pages into the app (universal links) — the operator's choice, not Latch's.
    Some(json!({ "webcredentials": { "apps": app_ids } }))
}

fn android_file(apps: &NativeApps) -> Option<Value> {
    if apps.android.is_empty() {
        return None;
    }
    let statements: Vec<Value> = apps
        .android
        .iter()
        .map(|app| {
            json!({
                "relation": ["delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"],
                "target": {
                    "namespace": "android_app",
                    "package_name": app.package_name,
                    "sha256_cert_fingerprints": app.fingerprints.iter().map(|f| f.colon_hex()).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    Some(Value::Array(statements))
}
