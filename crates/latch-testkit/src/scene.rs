//! The people and the stage most HTTP tests start from: [`Person`] is a browser and a
//! passkey device of one user; [`scene`] is a running server where alice has a passkey, her
//! browser is signed out and a second browser of hers observes her stored passkeys.

use serde_json::Value;

use crate::fapi::{Fapi, Snapshot};
use crate::passkey::SoftAuthenticator;
use crate::process::LatchProcess;

/// A user on a running server: their browser (`fapi`) and their passkey device (`auth`).
pub struct Person {
    pub fapi: Fapi,
    pub auth: SoftAuthenticator,
    pub user_id: String,
    pub username: String,
}

impl Person {
    /// Sign up `username` in a fresh browser (signed in afterwards, no passkey yet).
    pub async fn sign_up(server: &LatchProcess, username: &str) -> Person {
        let fapi = Fapi::new(server);
        let user_id = fapi.sign_up_ok(username).await;
        Person { fapi, auth: SoftAuthenticator::for_server(server), user_id, username: username.into() }
    }

    /// Sign up and register one passkey; still signed in. Returns the person and the passkey JSON.
    pub async fn with_passkey(server: &LatchProcess, username: &str) -> (Person, Value, Vec<u8>) {
        let mut p = Person::sign_up(server, username).await;
        let (pk, cred) = p.fapi.create_passkey(&mut p.auth).await;
        (p, pk, cred)
    }

    /// A second browser of the same person, signed in with their passkey: it sees the user's
    /// passkeys (including last_used_at) for [`Snapshot`]s while the main browser is signed out.
    pub async fn observer(&mut self, server: &LatchProcess) -> Fapi {
        let f = Fapi::new(server);
        f.sign_in_ok(&mut self.auth).await;
        f
    }
}

/// Alice has one passkey; her main browser (`alice.fapi`) is signed out, a second browser
/// (`observer`) is signed in as her and sees her passkeys, `last_used_at` included.
pub struct Scene {
    pub server: LatchProcess,
    pub alice: Person,
    pub observer: Fapi,
    pub cred: Vec<u8>,
    pub pk_id: String,
}

pub async fn scene() -> Scene {
    let server = LatchProcess::start();
    let (mut alice, pk, cred) = Person::with_passkey(&server, "alice").await;
    let observer = alice.observer(&server).await;
    alice.fapi.sign_out().await.ok();
    let pk_id = pk["id"].as_str().unwrap().to_string();
    Scene { server, alice, observer, cred, pk_id }
}

impl Scene {
    pub async fn snapshot(&self, extra: &[&Fapi]) -> Snapshot {
        let mut all = vec![&self.observer, &self.alice.fapi];
        all.extend_from_slice(extra);
        Snapshot::take(&all).await
    }

    /// Attempt `assertion` on `sign_in_id` from alice's signed-out browser; it must be refused
    /// with one of `expected`, and nothing stored may change.
    pub async fn refused(&self, sign_in_id: &str, credential_json: &str, expected: &[(u16, &str)]) {
        let before = self.snapshot(&[]).await;
        let r = self.alice.fapi.attempt_sign_in(sign_in_id, credential_json).await;
        r.assert_error_in(expected);
        assert!(self.alice.fapi.session_id().is_none(), "no session handed out");
        self.snapshot(&[]).await.assert_same(&before);
    }
}
