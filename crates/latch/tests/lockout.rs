//! Lockout prevention (issue 17 item 3; docs/protocol.md §21), against the real binary on
//! SQLite, and on PostgreSQL with `LATCH_TEST_BACKEND=postgres`:
//!
//! - `--protect-last-passkey last` refuses a user's own delete of their only passkey
//!   (`422 passkey_last_protected`), and nothing changes; `last-synced` also keeps their last
//!   synced (BS) passkey; `off`, the default, deletes as Clerk does; another value stops the
//!   server at start;
//! - two deletes of a user's last two passkeys sent at once leave one;
//! - an operator's delete (Backend API) is not refused: it is how recovery works;
//! - the user sees each passkey's BE/BS flags (`backup_eligible`, `backed_up`) in FAPI's
//!   passkey JSON.

use latch_testkit::bapi::{Bapi, secret_key};
use latch_testkit::fapi::Fapi;
use latch_testkit::passkey::SoftAuthenticator;
use latch_testkit::process::LatchProcess;
use latch_testkit::scene::Person;
use latch_testkit::webauthn::{FLAG_BE, FLAG_BS};
use serde_json::Value;

const PROTECTED: (u16, &str) = (422, "passkey_last_protected");

fn protecting(rule: &str) -> LatchProcess {
    LatchProcess::start_with(&["--protect-last-passkey", rule])
}

/// `user.createPasskey()` with an authenticator whose registration says the passkey is synced
/// (BE and BS) or device-bound (neither); returns the passkey JSON.
async fn add_passkey(fapi: &Fapi, auth: &mut SoftAuthenticator, synced: bool) -> Value {
    let (id, options) = fapi.start_registration().await;
    let mut reg = auth.register(&options).await;
    reg.edit_auth_data(|data| {
        data[32] = if synced { data[32] | FLAG_BE | FLAG_BS } else { data[32] & !(FLAG_BE | FLAG_BS) };
    });
    let r = fapi.finish_registration(&id, &reg.json()).await.ok();
    assert_eq!(r.resp()["verification"]["status"], "verified", "{}", r.text);
    r.resp().clone()
}

fn id_of(passkey: &Value) -> String {
    passkey["id"].as_str().expect("a passkey id").to_string()
}

async fn ids(fapi: &Fapi) -> Vec<String> {
    let mut ids: Vec<String> = fapi.passkeys().await.iter().map(id_of).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn last_keeps_the_only_passkey_and_changes_nothing() {
    let server = protecting("last");
    let mut alice = Person::sign_up(&server, "alice").await;
    let only = add_passkey(&alice.fapi, &mut alice.auth, true).await;
    let r = alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&only))).await;
    r.assert_error(PROTECTED.0, PROTECTED.1);
    let error = &r.body["errors"][0];
    assert_eq!(error["message"], "You can't delete your only passkey", "{}", r.text);
    assert!(error["long_message"].as_str().unwrap().contains("Add another passkey first"), "{}", r.text);
    assert_eq!(ids(&alice.fapi).await, vec![id_of(&only)], "the refused delete changed nothing");
    // The session that asked is untouched, and the passkey still signs in.
    let sid = alice.fapi.session_id().unwrap();
    alice.fapi.token(&sid).await.ok();
    Fapi::new(&server).sign_in_ok(&mut alice.auth).await;

    // With a second passkey either may go, then the one left is kept.
    let second = add_passkey(&alice.fapi, &mut alice.auth, false).await;
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&only))).await.ok();
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&second))).await.assert_error(PROTECTED.0, PROTECTED.1);
    assert_eq!(ids(&alice.fapi).await, vec![id_of(&second)]);
    // Unknown and pending passkeys are still what they were: not found, and deletable.
    alice.fapi.delete("/me/passkeys/pkey_doesnotexist").await.assert_error_in(&[(404, "resource_not_found")]);
    let (pending, _) = alice.fapi.start_registration().await;
    alice.fapi.delete(&format!("/me/passkeys/{pending}")).await.ok();
}

#[tokio::test]
async fn last_synced_keeps_the_last_synced_passkey_while_device_bound_ones_may_go() {
    let server = protecting("last-synced");
    let mut alice = Person::sign_up(&server, "alice").await;
    let synced = add_passkey(&alice.fapi, &mut alice.auth, true).await;
    let bound = add_passkey(&alice.fapi, &mut alice.auth, false).await;
    let r = alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&synced))).await;
    r.assert_error(PROTECTED.0, PROTECTED.1);
    assert_eq!(r.body["errors"][0]["message"], "You can't delete your last synced passkey", "{}", r.text);
    assert_eq!(ids(&alice.fapi).await.len(), 2, "the refused delete changed nothing");

    // A second synced passkey frees the first; a device-bound one may always go but the last.
    let other_synced = add_passkey(&alice.fapi, &mut alice.auth, true).await;
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&synced))).await.ok();
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&bound))).await.ok();
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&other_synced))).await.assert_error(PROTECTED.0, PROTECTED.1);

    // A user with device-bound passkeys only is held to `last`.
    let mut bob = Person::sign_up(&server, "bob").await;
    let first = add_passkey(&bob.fapi, &mut bob.auth, false).await;
    let second = add_passkey(&bob.fapi, &mut bob.auth, false).await;
    bob.fapi.delete(&format!("/me/passkeys/{}", id_of(&first))).await.ok();
    let r = bob.fapi.delete(&format!("/me/passkeys/{}", id_of(&second))).await;
    r.assert_error(PROTECTED.0, PROTECTED.1);
    assert_eq!(r.body["errors"][0]["message"], "You can't delete your only passkey", "{}", r.text);
}

#[tokio::test]
async fn off_is_the_default_and_deletes_the_last_passkey_as_clerk_does() {
    for server in [LatchProcess::start(), protecting("off")] {
        let (alice, only, _) = Person::with_passkey(&server, "alice").await;
        alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&only))).await.ok();
        assert!(alice.fapi.passkeys().await.is_empty());
    }
}

#[test]
fn an_unknown_rule_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(latch_testkit::process::latch_binary())
        .args(["serve", "--port", "0", "--protect-last-passkey", "sometimes", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not one of off, last, last-synced"), "{said}");
}

#[tokio::test]
async fn two_deletes_at_once_of_the_last_two_passkeys_leave_one() {
    let server = protecting("last");
    for round in 0..5 {
        let mut alice = Person::sign_up(&server, &format!("racer{round}")).await;
        let first = add_passkey(&alice.fapi, &mut alice.auth, false).await;
        let second = add_passkey(&alice.fapi, &mut alice.auth, false).await;
        let (first, second) = (format!("/me/passkeys/{}", id_of(&first)), format!("/me/passkeys/{}", id_of(&second)));
        let (a, b) = tokio::join!(alice.fapi.delete(&first), alice.fapi.delete(&second));
        let statuses = [a.status, b.status];
        assert!(statuses.contains(&200) && statuses.contains(&PROTECTED.0), "round {round}: {statuses:?}: {} / {}", a.text, b.text);
        assert_eq!(ids(&alice.fapi).await.len(), 1, "round {round}: one passkey is left");
    }
}

#[tokio::test]
async fn an_operator_may_delete_a_users_last_passkey() {
    let server = protecting("last-synced");
    let (alice, only, _) = Person::with_passkey(&server, "alice").await;
    let bapi = Bapi::new(&server, &secret_key(&server));
    let r = bapi.call("DELETE", &format!("/users/{}/passkeys/{}", alice.user_id, id_of(&only)), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(alice.fapi.passkeys().await.is_empty());
}

#[tokio::test]
async fn the_user_sees_whether_each_passkey_is_synced() {
    let server = LatchProcess::start();
    let mut alice = Person::sign_up(&server, "alice").await;
    let synced = add_passkey(&alice.fapi, &mut alice.auth, true).await;
    let bound = add_passkey(&alice.fapi, &mut alice.auth, false).await;
    assert_eq!((&synced["backup_eligible"], &synced["backed_up"]), (&Value::Bool(true), &Value::Bool(true)));
    assert_eq!((&bound["backup_eligible"], &bound["backed_up"]), (&Value::Bool(false), &Value::Bool(false)));
    let listed = alice.fapi.passkeys().await;
    let shown = |id: String| listed.iter().find(|p| id_of(p) == id).map(|p| p["backed_up"].clone());
    assert_eq!(shown(id_of(&synced)), Some(Value::Bool(true)));
    assert_eq!(shown(id_of(&bound)), Some(Value::Bool(false)));
}

#[tokio::test]
async fn the_rule_can_come_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latch.toml");
    std::fs::write(&file, "protect_last_passkey = \"last-synced\"\n").unwrap();
    let server = LatchProcess::start_with(&["--config", file.to_str().unwrap()]);
    let (alice, only, _) = Person::with_passkey(&server, "alice").await;
    alice.fapi.delete(&format!("/me/passkeys/{}", id_of(&only))).await.assert_error(PROTECTED.0, PROTECTED.1);
}
