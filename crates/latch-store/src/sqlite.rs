//! The [`Store`] on SQLite while serving: one rusqlite connection, driven in place by the
//! calling task under a mutex.
//!
//! Why not sqlx, which the PostgreSQL store and the migrations use: sqlx runs each SQLite
//! connection on a thread of its own and hands every statement over and back, two thread
//! wake-ups per statement (BENCHMARKS.md measured 43 µs for a point read whose SQLite work
//! is a few µs). Here a store call is a few µs of SQLite work on the caller's thread.
//!
//! Why one connection: SQLite has a single writer anyway, and a sole connection keeps its
//! page cache valid (other connections' writes would invalidate it). Store calls are short
//! point queries, so holding a tokio worker for one is like holding any short mutex.
//! Several processes may still share the file (`latch audit`, two nodes in tests): SQLite's
//! file locks and the busy timeout order them, and write transactions begin IMMEDIATE so
//! none fails on a lock upgrade.
//!
//! Checkpoints run on a thread of their own, so the WAL is copied back into the database
//! off the request path instead of inside whichever commit crossed the threshold; and
//! often (20 ms after a commit), because each checkpoint ends in an `fsync` during which
//! ext4 holds up the writer's next WAL write (it holds the connection): at 250 ms between
//! checkpoints those stalls lasted 20–30 ms and set every run's p99 (BENCHMARKS.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, Session, SessionStatus, SignIn, SignInCompletion, SignInFailure, SignUp, User,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, Params, Row};

use crate::queries as q;
use crate::rows::{self, Columns, to_json};
use crate::{AuditEvent, AuditQuery, ClientSnapshot, NewClient, SessionView, Store, StoreError, StoreResult, StoredSigningKey};

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after a commit the checkpointer copies the WAL back into the database: short,
/// so that each checkpoint has little to write and sync.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(20);
/// SQLite's own checkpoint, in the committing connection, only as a backstop should the
/// checkpointer thread fall behind: 40 MB of WAL.
const AUTOCHECKPOINT_PAGES: u32 = 10_000;

pub struct SqliteStore {
    conn: Mutex<Connection>,
    checkpointer: Checkpointer,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), whose schema must already be migrated
    /// ([`crate::SqlStore::migrate`]).
    pub fn open_url(url: &str) -> StoreResult<Self> {
        Self::open(&path_of(url)?)
    }

    pub fn open(path: &Path) -> StoreResult<Self> {
        let conn = connect(path)?;
        // WAL lets `latch audit` and the checkpointer read beside the writer; NORMAL sync in
        // WAL mode survives a process crash (the commit is in the WAL before we answer).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        // Truncate the WAL back to 64 MiB after checkpoints instead of letting it keep its
        // high-water mark on disk.
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        // 16 MiB of page cache (negative: KiB). Being the only connection, it stays valid.
        conn.pragma_update(None, "cache_size", -16 * 1024)?;
        conn.set_prepared_statement_cache_capacity(q::ALL.len());
        let checkpointer = Checkpointer::spawn(path)?;
        Ok(SqliteStore { conn: Mutex::new(conn), checkpointer })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the connection cannot leave a transaction open (rusqlite
        // rolls back on drop), so a poisoned lock is still a usable connection.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads. Each statement sees one snapshot; single-statement reads need no more.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        f(&self.lock())
    }

    /// Several reads in one snapshot, which also takes SQLite's read lock (an `fcntl` on the
    /// shared-memory file) once instead of once per statement.
    fn read_together<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        transaction(&self.lock(), "BEGIN", |conn, _| f(conn))
    }

    /// One write transaction: committed when `f` returns `Ok`, unless `f` set its
    /// [`Decision`] to `Rollback`.
    fn write<T>(&self, f: impl FnOnce(&Connection, &mut Decision) -> StoreResult<T>) -> StoreResult<T> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads first
        // could fail to upgrade when another process writes in between.
        let out = transaction(&self.lock(), "BEGIN IMMEDIATE", f)?;
        self.checkpointer.wake();
        Ok(out)
    }
}

/// Runs `f` between `begin` and COMMIT, or ROLLBACK when `f` fails or decides so. BEGIN and
/// COMMIT go through the statement cache like everything else (rusqlite's own `Transaction`
/// would parse them anew each time).
fn transaction<T>(
    conn: &Connection,
    begin: &str,
    f: impl FnOnce(&Connection, &mut Decision) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.prepare_cached(begin)?.execute([])?;
    let mut decision = Decision::Commit;
    let out = f(conn, &mut decision);
    let end = if out.is_ok() && decision == Decision::Commit { "COMMIT" } else { "ROLLBACK" };
    if let Err(e) = conn.prepare_cached(end).and_then(|mut stmt| stmt.execute([])) {
        // Whatever the failure, leave no transaction open on the shared connection.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(e.into());
    }
    out
}

/// What a [`SqliteStore::write`] does at its end, when its work succeeded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decision {
    Commit,
    /// Changes nothing after all (a condition failed halfway).
    Rollback,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer.stop.store(true, Ordering::Relaxed);
        self.checkpointer.wake();
    }
}

/// The thread that checkpoints the WAL: it sleeps until a commit wakes it, so an idle
/// server does nothing.
struct Checkpointer {
    thread: std::thread::Thread,
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    fn spawn(path: &Path) -> StoreResult<Self> {
        let conn = connect(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new().name("latch-sqlite-checkpoint".into()).spawn(move || {
            loop {
                // Woken by a commit (or by a wake that came before we parked: park returns at once).
                std::thread::park();
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                // Let the commits of the next few ms join this checkpoint.
                std::thread::sleep(CHECKPOINT_DELAY);
                // PASSIVE never waits for, nor blocks, readers and the writer.
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                }
            }
        });
        match spawned {
            Ok(handle) => Ok(Checkpointer { thread: handle.thread().clone(), stop }),
            Err(e) => Err(StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}"))),
        }
    }

    /// Cheap when the thread is already awake (an atomic swap); a futex wake at most once
    /// per checkpoint otherwise.
    fn wake(&self) {
        self.thread.unpark();
    }
}

fn path_of(url: &str) -> StoreResult<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    let path = rest.map(|r| r.split('?').next().unwrap_or(r)).filter(|p| !p.is_empty() && !p.starts_with(":memory:"));
    match path {
        Some(p) => Ok(PathBuf::from(p)),
        None => Err(StoreError::Database(sqlx::Error::Configuration(
            format!("not a SQLite database file URL: {url:?} (use sqlite://PATH)").into(),
        ))),
    }
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

// ---- statement helpers --------------------------------------------------------------------

fn one<T>(conn: &Connection, sql: &str, params: impl Params, map: impl Fn(&Row<'_>) -> StoreResult<T>) -> StoreResult<Option<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut found = stmt.query(params)?;
    match found.next()? {
        Some(row) => Ok(Some(map(row)?)),
        None => Ok(None),
    }
}

fn all<T>(conn: &Connection, sql: &str, params: impl Params, map: impl Fn(&Row<'_>) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut found = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = found.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// Runs a statement; the number of rows it changed.
fn run(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<usize> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        if f.code == ErrorCode::ConstraintViolation
            && matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
}

fn insert_session(conn: &Connection, s: &Session) -> StoreResult<()> {
    run(
        conn,
        q::INSERT_SESSION,
        rusqlite::params![
            s.id,
            s.client_id,
            s.user_id,
            s.status.as_str(),
            to_json(&s.tasks)?,
            s.created_at,
            s.updated_at,
            s.last_active_at,
            s.expire_at
        ],
    )?;
    Ok(())
}

fn insert_client(conn: &Connection, new: NewClient<'_>) -> StoreResult<()> {
    let c = new.client;
    run(conn, q::INSERT_CLIENT, rusqlite::params![c.id, new.token_hash, c.created_at, c.updated_at, c.last_active_session_id])?;
    Ok(())
}

fn insert_audit(conn: &Connection, e: &AuditEvent) -> StoreResult<()> {
    run(
        conn,
        q::INSERT_AUDIT_EVENT,
        rusqlite::params![
            e.at,
            e.event,
            e.outcome,
            e.user_id,
            e.session_id,
            e.passkey_id,
            e.client_id,
            e.client_ip,
            e.user_agent,
            e.error_code
        ],
    )?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn client_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Client>> {
        self.read(|c| one(c, q::CLIENT_BY_TOKEN, [token_hash], |r| rows::client(r)))
    }

    async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        self.read(|c| one(c, q::CLIENT_BY_ID, [id], |r| rows::client(r)))
    }

    async fn client_attempts(&self, client_id: &str) -> StoreResult<(Option<String>, Option<String>)> {
        let found = self.read(|c| {
            one(c, q::CLIENT_ATTEMPTS, [client_id], |row| Ok((row.opt_text("sign_in_id")?, row.opt_text("sign_up_id")?)))
        })?;
        Ok(found.unwrap_or((None, None)))
    }

    async fn client_snapshot(&self, client_id: &str) -> StoreResult<Option<ClientSnapshot>> {
        self.read_together(|c| {
            let found = one(c, q::CLIENT_WITH_ATTEMPTS, [client_id], |row| {
                Ok((rows::client(row)?, row.opt_text("sign_in_id")?, row.opt_text("sign_up_id")?))
            })?;
            let Some((client, sign_in_id, sign_up_id)) = found else { return Ok(None) };
            let mut sessions = Vec::new();
            for session in all(c, q::LIVE_SESSIONS_OF_CLIENT, [client_id], |r| rows::session(r))? {
                let user = one(c, q::USER_BY_ID, [&session.user_id], |r| rows::user(r))?;
                let passkeys = match &user {
                    Some(user) => all(c, q::PASSKEYS_OF_USER, [&user.id], |r| rows::passkey(r))?,
                    None => Vec::new(),
                };
                sessions.push(SessionView { session, user, passkeys });
            }
            let sign_in = match sign_in_id {
                Some(id) => one(c, q::SIGN_IN_BY_ID, [id.as_str(), client_id], |r| rows::sign_in(r))?,
                None => None,
            };
            let sign_up = match sign_up_id {
                Some(id) => one(c, q::SIGN_UP_BY_ID, [id.as_str(), client_id], |r| rows::sign_up(r))?,
                None => None,
            };
            Ok(Some(ClientSnapshot { client, sessions, sign_in, sign_up }))
        })
    }

    async fn sign_up(
        &self,
        new_client: Option<NewClient<'_>>,
        user: &User,
        sign_up: &SignUp,
        session: &Session,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        self.write(|tx, _| {
            if let Some(new) = new_client {
                insert_client(tx, new)?;
            }
            let inserted = run(
                tx,
                q::INSERT_USER,
                rusqlite::params![
                    user.id,
                    user.username,
                    user.webauthn_handle.as_bytes().as_slice(),
                    user.created_at,
                    user.updated_at,
                    user.last_sign_in_at
                ],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("username")),
                other => other?,
            };
            run(
                tx,
                q::INSERT_SIGN_UP,
                rusqlite::params![
                    sign_up.id,
                    sign_up.client_id,
                    sign_up.username,
                    sign_up.created_user_id,
                    sign_up.created_session_id,
                    sign_up.created_at
                ],
            )?;
            insert_session(tx, session)?;
            run(
                tx,
                q::CLIENT_SIGNED_UP,
                rusqlite::params![session.id, sign_up.id, session.created_at, session.client_id],
            )?;
            run(tx, q::REPLACE_OTHER_SESSIONS, rusqlite::params![session.created_at, session.client_id, session.id])?;
            insert_audit(tx, audit)
        })
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.read(|c| one(c, q::USER_BY_ID, [id], |r| rows::user(r)))
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.read(|c| one(c, q::USER_BY_USERNAME, [username], |r| rows::user(r)))
    }

    async fn sign_up_record(&self, client_id: &str, id: &str) -> StoreResult<Option<SignUp>> {
        self.read(|c| one(c, q::SIGN_UP_BY_ID, [id, client_id], |r| rows::sign_up(r)))
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        self.read(|c| all(c, q::PASSKEYS_OF_USER, [user_id], |r| rows::passkey(r)))
    }

    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> StoreResult<Option<Passkey>> {
        self.read(|c| one(c, q::PASSKEY_BY_CREDENTIAL_ID, [credential_id], |r| rows::passkey(r)))
    }

    async fn create_pending_passkey(&self, p: &PendingPasskey, max_passkeys: u32) -> StoreResult<()> {
        let state = to_json(&p.state)?;
        let inserted = self.write(|tx, _| {
            run(
                tx,
                q::INSERT_PENDING_PASSKEY_UNDER_QUOTA,
                rusqlite::params![
                    p.id,
                    p.user_id,
                    p.client_id,
                    p.options_json,
                    state,
                    p.origin,
                    p.created_at,
                    p.expire_at,
                    p.user_id,
                    i64::from(max_passkeys)
                ],
            )
        })?;
        if inserted == 0 {
            return Err(StoreError::QuotaExceeded);
        }
        Ok(())
    }

    async fn pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>> {
        self.read(|c| one(c, q::PENDING_PASSKEY_BY_ID, [id, user_id], |r| rows::pending_passkey(r)))
    }

    async fn spend_pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        Ok(self.write(|tx, _| run(tx, q::DELETE_PENDING_PASSKEY, [id, user_id]))? == 1)
    }

    async fn save_verified_passkey(&self, p: &Passkey, max_passkeys: u32, audit: &AuditEvent) -> StoreResult<bool> {
        let credential = to_json(&p.credential)?;
        self.write(|tx, decision| {
            if run(tx, q::DELETE_PENDING_PASSKEY, [&p.id, &p.user_id])? != 1 {
                *decision = Decision::Rollback;
                return Ok(false);
            }
            let inserted = run(
                tx,
                q::INSERT_PASSKEY_UNDER_QUOTA,
                rusqlite::params![
                    p.id,
                    p.user_id,
                    p.credential_id,
                    p.name,
                    p.aaguid.map(|a| a.as_bytes().to_vec()),
                    credential,
                    i64::from(p.sign_count),
                    i64::from(p.backup_eligible),
                    i64::from(p.backup_state),
                    p.created_at,
                    p.updated_at,
                    p.last_used_at,
                    p.user_id,
                    i64::from(max_passkeys)
                ],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("passkey")),
                Ok(0) => return Err(StoreError::QuotaExceeded),
                other => other?,
            };
            insert_audit(tx, audit)?;
            Ok(true)
        })
    }

    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str, now: Millis) -> StoreResult<Option<Passkey>> {
        self.write(|tx, _| one(tx, q::RENAME_PASSKEY, rusqlite::params![name, now, id, user_id], |r| rows::passkey(r)))
    }

    async fn delete_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        self.write(|tx, _| {
            let deleted = run(tx, q::DELETE_PASSKEY, [id, user_id])?;
            if deleted > 0 {
                return Ok(true);
            }
            Ok(run(tx, q::DELETE_PENDING_PASSKEY, [id, user_id])? > 0)
        })
    }

    async fn create_sign_in(&self, new_client: Option<NewClient<'_>>, s: &SignIn) -> StoreResult<()> {
        let ch = s.challenge.as_ref();
        let state = ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?;
        self.write(|tx, _| {
            if let Some(new) = new_client {
                insert_client(tx, new)?;
            }
            run(
                tx,
                q::INSERT_SIGN_IN,
                rusqlite::params![
                    s.id,
                    s.client_id,
                    s.status.as_str(),
                    s.identifier,
                    s.user_id,
                    ch.map(|c| c.status.as_str()),
                    ch.map(|c| c.options_json.as_str()),
                    state,
                    ch.and_then(|c| c.origin.as_deref()),
                    i64::from(ch.map_or(0, |c| c.attempts)),
                    ch.map(|c| c.expire_at),
                    ch.and_then(|c| c.error_code.as_deref()),
                    s.created_session_id,
                    s.created_at,
                    s.updated_at,
                    s.abandon_at
                ],
            )?;
            run(tx, q::CLIENT_SIGN_IN, rusqlite::params![s.id, s.created_at, s.client_id])?;
            Ok(())
        })
    }

    async fn sign_in(&self, client_id: &str, id: &str) -> StoreResult<Option<SignIn>> {
        self.read(|c| one(c, q::SIGN_IN_BY_ID, [id, client_id], |r| rows::sign_in(r)))
    }

    async fn save_sign_in_challenge(&self, s: &SignIn) -> StoreResult<()> {
        let ch = s.challenge.as_ref();
        let state = ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?;
        self.write(|tx, _| {
            run(
                tx,
                q::SAVE_SIGN_IN_CHALLENGE,
                rusqlite::params![
                    s.status.as_str(),
                    ch.map(|c| c.status.as_str()),
                    ch.map(|c| c.options_json.as_str()),
                    state,
                    ch.and_then(|c| c.origin.as_deref()),
                    ch.map(|c| c.expire_at),
                    s.updated_at,
                    s.id,
                    s.client_id
                ],
            )
            .map(drop)
        })
    }

    async fn fail_sign_in(&self, f: &SignInFailure<'_>) -> StoreResult<bool> {
        let params =
            rusqlite::params![f.status.as_str(), f.error_code, f.now, f.sign_in_id, f.client_id, f.challenge_options];
        Ok(self.write(|tx, _| run(tx, q::FAIL_SIGN_IN, params))? == 1)
    }

    async fn complete_sign_in(&self, c: &SignInCompletion, audit: &AuditEvent) -> StoreResult<bool> {
        let credential = to_json(&c.updated_credential)?;
        self.write(|tx, decision| {
            let closed = run(
                tx,
                q::CLOSE_SIGN_IN,
                rusqlite::params![c.session.user_id, c.session.id, c.now, c.sign_in_id, c.session.client_id, c.challenge_options],
            )?;
            let counted = closed == 1
                && run(
                    tx,
                    q::COUNT_PASSKEY_USE,
                    rusqlite::params![
                        credential,
                        i64::from(c.updated_credential.counter),
                        i64::from(c.updated_credential.backup_eligible),
                        i64::from(c.updated_credential.backup_state),
                        c.now,
                        c.now,
                        c.passkey_id,
                        i64::from(c.previous_sign_count)
                    ],
                )? == 1;
            if !counted {
                *decision = Decision::Rollback;
                return Ok(false);
            }
            insert_session(tx, &c.session)?;
            run(tx, q::SET_ACTIVE_SESSION, rusqlite::params![c.session.id, c.now, c.session.client_id])?;
            run(tx, q::REPLACE_OTHER_SESSIONS, rusqlite::params![c.now, c.session.client_id, c.session.id])?;
            run(tx, q::USER_SIGNED_IN, rusqlite::params![c.now, c.now, c.session.user_id])?;
            insert_audit(tx, audit)?;
            Ok(true)
        })
    }

    async fn sessions_of_client(&self, client_id: &str) -> StoreResult<Vec<Session>> {
        self.read(|c| all(c, q::LIVE_SESSIONS_OF_CLIENT, [client_id], |r| rows::session(r)))
    }

    async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        self.read(|c| one(c, q::SESSION_BY_ID, [id], |r| rows::session(r)))
    }

    async fn touch_session(&self, client_id: &str, id: &str, now: Millis) -> StoreResult<()> {
        self.write(|tx, _| {
            run(tx, q::TOUCH_SESSION, rusqlite::params![now, now, id])?;
            run(tx, q::SET_ACTIVE_SESSION, rusqlite::params![id, now, client_id])?;
            Ok(())
        })
    }

    async fn end_session(&self, client_id: &str, id: &str, status: SessionStatus, now: Millis) -> StoreResult<bool> {
        self.write(|tx, _| {
            let ended = run(tx, q::END_SESSION, rusqlite::params![status.as_str(), now, id, client_id])?;
            run(tx, q::CLIENT_SIGNED_OUT_OF, rusqlite::params![now, client_id, id])?;
            Ok(ended > 0)
        })
    }

    async fn end_client_sessions(
        &self,
        client_id: &str,
        status: SessionStatus,
        now: Millis,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<Vec<Session>> {
        self.write(|tx, _| {
            let ended = all(tx, q::END_CLIENT_SESSIONS, rusqlite::params![status.as_str(), now, client_id], |r| {
                rows::session(r)
            })?;
            run(tx, q::CLIENT_SIGNED_OUT, rusqlite::params![now, client_id])?;
            if let Some(template) = audit {
                for session in &ended {
                    insert_audit(tx, &template.for_session(session))?;
                }
            }
            Ok(ended)
        })
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.read(|c| all(c, q::SIGNING_KEYS, [], |r| rows::signing_key(r)))
    }

    async fn init_signing_key(&self, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>> {
        self.write(|tx, _| {
            run(
                tx,
                q::INSERT_FIRST_SIGNING_KEY,
                rusqlite::params![key.kid, key.private_pkcs8, key.public_raw, key.created_at],
            )?;
            all(tx, q::SIGNING_KEYS, [], |r| rows::signing_key(r))
        })
    }

    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        self.write(|tx, _| insert_audit(tx, e))
    }

    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let params = rusqlite::params![
            query.user_id,
            query.user_id,
            query.since,
            query.since,
            query.until,
            query.until,
            i64::from(query.limit.max(1))
        ];
        self.read(|c| all(c, q::AUDIT_EVENTS, params, |r| rows::audit_event(r)))
    }

    async fn hit_rate_limit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        let hits = self.write(|tx, _| {
            one(tx, q::HIT_RATE_LIMIT, rusqlite::params![key, window_start, window_start, window_start], |row| {
                row.int("hits")
            })
        })?;
        Ok(hits.and_then(|h| u64::try_from(h).ok()).unwrap_or(0))
    }

    async fn hit_rate_limits(&self, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]> {
        let counted = self.write(|tx, _| {
            all(tx, q::HIT_RATE_LIMITS, rusqlite::params![keys[0], window_start, keys[1], window_start], |row| {
                Ok((row.text("key")?, row.int("hits")?))
            })
        })?;
        Ok(crate::hits_in_order(keys, &counted))
    }

    async fn purge_expired(&self, now: Millis) -> StoreResult<u64> {
        self.write(|tx, _| {
            let pending = run(tx, q::PURGE_PENDING_PASSKEYS, [crate::purgeable_pending_before(now)])?;
            let sign_ins = run(tx, q::PURGE_SIGN_INS, [now])?;
            let windows = run(tx, q::PURGE_RATE_LIMITS, [crate::oldest_rate_limit_window(now)])?;
            Ok((pending + sign_ins + windows) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite numbers `$n` parameters by first appearance, so binding by position is right
    /// only if each statement names `$1…$n` in that order.
    #[test]
    fn every_statement_numbers_its_parameters_in_order_and_uses_an_index() {
        let dir = std::env::temp_dir().join(format!("latch-queries-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conn = Connection::open(dir.join("schema.db")).unwrap();
        for migration in [
            include_str!("../migrations/sqlite/0001_initial.sql"),
            include_str!("../migrations/sqlite/0002_audit_and_limits.sql"),
            include_str!("../migrations/sqlite/0003_live_sessions_index.sql"),
            include_str!("../migrations/sqlite/0004_audit_without_autoincrement.sql"),
        ] {
            conn.execute_batch(migration).unwrap();
        }
        for sql in q::ALL {
            let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let mut steps = explain.raw_query(); // unbound parameters are NULL
            let mut plan: Vec<String> = Vec::new();
            while let Some(row) = steps.next().unwrap() {
                plan.push(row.get(3).unwrap());
            }
            // Nothing a request runs may scan a table: only the background purge, the
            // operator's audit query (newest first, limited) and the start-up key read do.
            let may_scan = [q::AUDIT_EVENTS, q::SIGNING_KEYS, q::INSERT_FIRST_SIGNING_KEY, q::PURGE_PENDING_PASSKEYS, q::PURGE_RATE_LIMITS];
            let scans = plan.iter().any(|step| step.starts_with("SCAN") && step != "SCAN CONSTANT ROW" && !step.ends_with("VALUES CLAUSE"));
            assert!(!scans || may_scan.contains(sql), "{sql}: {plan:?}");
            let stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{e}: {sql}"));
            for i in 1..=stmt.parameter_count() {
                assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()), "{sql}");
            }
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
