//! `latch backup` and `latch restore` on SQLite, black-box (PostgreSQL backups are pg_dump's:
//! these tests do not run there).
//!
//! - A backup taken while the server is under load (sign-ups with passkeys, sign-ins,
//!   revocations over the real HTTP API), restored into a fresh data dir and served, holds
//!   every user, passkey and session acknowledged before the backup began: each passkey still
//!   signs in, each session is still active or still revoked.
//! - Restore refuses, changing nothing: while a server has the database open, a file that is
//!   not a Latch database, a database of a newer schema. Backup never overwrites a file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latch_testkit::fapi::{Fapi, OriginHeader, RawRequest, Reply};
use latch_testkit::passkey::SoftAuthenticator;
use latch_testkit::process::{LatchProcess, backend::postgres_selected, kill::{sigkill_server, wait_dead}};
use serde_json::Value;

/// What the load did and when the server acknowledged it (a 2xx received).
#[derive(Default)]
struct Acknowledged {
    users: Vec<AckedUser>,
    /// (session id, user id, acknowledged at).
    sessions: Vec<(String, String, Instant)>,
    /// (session id, revocation sent at, acknowledged at).
    revocations: Vec<(String, Instant, Instant)>,
}

struct AckedUser {
    id: String,
    at: Instant,
    /// When their passkey was acknowledged, and the authenticator holding it.
    passkey: Option<(Instant, SoftAuthenticator)>,
}

async fn bapi(server_base: &str, origin: &str, key: &str, method: &str, path: &str) -> Reply {
    let http = Fapi::with(server_base, origin);
    let mut r = RawRequest::get(&format!("/bapi/v1{path}")).no_session_param();
    r.method = method.parse().unwrap();
    r.sdk_query = false;
    r.origin = OriginHeader::None;
    r.content_type = Some("application/json".into());
    http.send(r.header("authorization", &format!("Bearer {key}"))).await
}

fn run(server: &LatchProcess, args: &[&str]) -> std::process::Output {
    server.command(args)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Names and contents of every file in `dir` (what "changes nothing" compares).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && !p.ends_with("server.log"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// One worker of the load: sign up, add a passkey, sign in again elsewhere, revoke the first
/// session; again, until told to stop.
async fn load(base: String, origin: String, key: String, worker: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acknowledged>>) {
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let browser = Fapi::with(&base, &origin);
        let user = browser.sign_up_ok(&format!("load_{worker}_{round}")).await;
        let first_session = browser.session_id().unwrap();
        let at = Instant::now();
        {
            let mut a = acked.lock().unwrap();
            a.users.push(AckedUser { id: user.clone(), at, passkey: None });
            a.sessions.push((first_session.clone(), user.clone(), at));
        }
        let mut auth = SoftAuthenticator::new(&origin);
        browser.create_passkey(&mut auth).await;
        let passkey_at = Instant::now();

        let elsewhere = Fapi::with(&base, &origin);
        let second_session = elsewhere.sign_in_ok(&mut auth).await;
        let signed_in_at = Instant::now();
        {
            let mut a = acked.lock().unwrap();
            let entry = a.users.iter_mut().find(|u| u.id == user).unwrap();
            entry.passkey = Some((passkey_at, auth));
            a.sessions.push((second_session, user.clone(), signed_in_at));
        }

        let sent = Instant::now();
        bapi(&base, &origin, &key, "POST", &format!("/sessions/{first_session}/revoke")).await.ok();
        acked.lock().unwrap().revocations.push((first_session, sent, Instant::now()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_everything_acknowledged_before_it() {
    if postgres_selected() {
        return; // SQLite's backup; PostgreSQL's is pg_dump (README "Backups").
    }
    let server = LatchProcess::start();
    let key_out = run(&server, &["keys", "create", "--label", "backup"]);
    assert!(key_out.status.success(), "{}", stderr(&key_out));
    let key = String::from_utf8(key_out.stdout).unwrap().trim().to_string();
    let backups = tempfile::tempdir().unwrap();
    let backup_file = backups.path().join("latch-backup.db");

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let workers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(load(server.base.clone(), server.origin(), key.clone(), w, stop.clone(), acked.clone())))
        .collect();

    // Let the load build up, then back up in the middle of it.
    while acked.lock().unwrap().revocations.len() < 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backup_started = Instant::now();
    let out = {
        let data_dir = server.data_dir().to_path_buf();
        let file = backup_file.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(latch_testkit::process::latch_binary())
                .args(["backup", "--data-dir"])
                .arg(&data_dir)
                .arg("--out")
                .arg(&file)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let backup_finished = Instant::now();
    assert!(out.status.success(), "{}", stderr(&out));
    // The load goes on a little after the backup, then stops.
    let done_before = acked.lock().unwrap().revocations.len();
    while acked.lock().unwrap().revocations.len() < done_before + 2 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    drop(server);

    // A fresh server, stopped; the backup restored into its data dir; served again.
    let mut restored = LatchProcess::start();
    wait_dead(sigkill_server(restored.data_dir()));
    let out = run(&restored, &["restore", "--from", backup_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    restored.restart();
    let origin = restored.origin();

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let before = |at: Instant| at < backup_started;
    let mut users_checked = 0;
    let mut passkeys_checked = 0;
    for AckedUser { id: user, at, passkey } in acked.users {
        if !before(at) {
            continue;
        }
        bapi(&restored.base, &origin, &key, "GET", &format!("/users/{user}")).await.ok();
        users_checked += 1;
        if let Some((passkey_at, mut auth)) = passkey
            && before(passkey_at)
        {
            auth.set_origin(&origin);
            let browser = Fapi::with(&restored.base, &origin);
            let session = browser.sign_in_ok(&mut auth).await;
            let me = browser.me().await;
            assert_eq!(me["id"], user.as_str(), "the passkey signs in as its user (session {session})");
            passkeys_checked += 1;
        }
    }
    let mut active = 0;
    let mut revoked = 0;
    for (session, user, at) in acked.sessions {
        if !before(at) {
            continue;
        }
        let revocation = acked.revocations.iter().find(|(id, _, _)| *id == session);
        let expected = match revocation {
            Some((_, _, done)) if before(*done) => "revoked",
            // Sent while the backup ran: either state is right.
            Some((_, sent, _)) if *sent < backup_finished => continue,
            _ => "active",
        };
        let page = bapi(&restored.base, &origin, &key, "GET", &format!("/sessions?user_id={user}&paginated=true&limit=100")).await.ok();
        let found: Vec<&Value> = page.body["data"].as_array().unwrap().iter().filter(|s| s["id"] == session.as_str()).collect();
        assert_eq!(found.len(), 1, "session {session} of {user} is in the restored database: {}", page.text);
        assert_eq!(found[0]["status"], expected, "session {session}");
        if expected == "active" { active += 1 } else { revoked += 1 }
    }
    assert!(users_checked >= 4 && passkeys_checked >= 4 && active >= 4 && revoked >= 4,
        "the backup was taken mid-load: {users_checked} users, {passkeys_checked} passkeys, {active} active and {revoked} revoked sessions checked");
}

#[tokio::test]
async fn restore_and_backup_refuse_what_they_must_and_change_nothing() {
    if postgres_selected() {
        // The commands name pg_dump / pg_restore instead of reinventing them.
        let server = LatchProcess::start();
        let out = run(&server, &["backup", "--out", "/tmp/never-written.db"]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("pg_dump --format=custom"), "{}", stderr(&out));
        let out = run(&server, &["restore", "--from", "/tmp/never-read.db"]);
        assert!(stderr(&out).contains("pg_restore"), "{}", stderr(&out));
        return;
    }
    let mut server = LatchProcess::start();
    Fapi::new(&server).sign_up_ok("alice").await;
    let files = tempfile::tempdir().unwrap();
    let backup = files.path().join("backup.db");
    let out = run(&server, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Backup never overwrites.
    let before = std::fs::read(&backup).unwrap();
    let out = run(&server, &["backup", "--out", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&backup).unwrap(), before);

    // Restore refuses while the server has the database open.
    let out = run(&server, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("in use by a running Latch"), "{}", stderr(&out));
    assert!(server.is_running());

    wait_dead(sigkill_server(server.data_dir()));
    let unchanged = snapshot(server.data_dir());

    // Not a Latch database: text, and a SQLite database of something else.
    let text = files.path().join("notes.txt");
    std::fs::write(&text, "not a database").unwrap();
    let other = files.path().join("other.db");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE things (id INTEGER PRIMARY KEY);").unwrap();
    for file in [&text, &other] {
        let out = run(&server, &["restore", "--from", file.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("is not a Latch database"), "{}", stderr(&out));
        assert_eq!(snapshot(server.data_dir()), unchanged, "a refused restore changes nothing");
    }

    // A newer schema than this build.
    let newer = files.path().join("newer.db");
    std::fs::copy(&backup, &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?1, 'from a newer latch', 1, x'00', 0)",
            [latch_store::SCHEMA_VERSION + 1],
        )
        .unwrap();
    let out = run(&server, &["restore", "--from", newer.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("newer than this Latch understands"), "{}", stderr(&out));
    assert_eq!(snapshot(server.data_dir()), unchanged, "a refused restore changes nothing");

    // The good one goes in, the previous database kept beside it.
    let out = run(&server, &["restore", "--from", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let kept: Vec<PathBuf> = std::fs::read_dir(server.data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("latch.db.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    server.restart();
    let key = String::from_utf8(run(&server, &["keys", "create"]).stdout).unwrap().trim().to_string();
    let users = bapi(&server.base, &server.origin(), &key, "GET", "/users").await.ok();
    assert_eq!(users.body[0]["username"], "alice");
}
