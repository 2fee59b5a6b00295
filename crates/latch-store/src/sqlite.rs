//! The [`Store`](crate::Store) on SQLite: one rusqlite connection, driven in place by the
//! calling task under a mutex. The operations themselves are `ops.rs`'s, shared with
//! PostgreSQL; this file only runs their statements ([`SqliteExec`]) and their transactions
//! ([`SqliteStore::with`]). rusqlite is synchronous, so an operation's future is finished
//! by one poll, under the lock ([`drive`]).
//!
//! Why not sqlx, which the migrations use: sqlx runs each SQLite
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, ReverificationCompletion, Session, SessionStatus, SessionVerification, SignIn,
    SignInCompletion, SignInFailure, SignUp, User, VerificationStatus,
};
use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, params_from_iter};

use crate::exec::{Access, Bind, Exec, drive};
use crate::ops;
use crate::queries as q;
use crate::rows::Columns;
use crate::timing::{Backend, TransactionTimer};
use crate::{
    AuditEvent, AuditQuery, ClientSession, ClientSnapshot, ClientToken, NewClient, PurgePolicy, SessionQuery, SignInAttempt,
    StoreError, StoreResult, StoredSigningKey, TicketRedemption, UserQuery, Written,
};
use latch_core::backend::{MetadataPatch, SecretKey, SignInToken, UserMetadata};

/// The connection, and the column positions of its wide statements.
struct Held {
    conn: Connection,
    wide: WideColumns,
}

/// Statements with more columns than this have their columns looked up by name in a sorted
/// index rather than by rusqlite's scan over all names (which compares each name in turn,
/// ignoring case): for the ~60 columns of `CLIENT_SNAPSHOT` the scans cost more than the
/// statement itself.
const WIDE: usize = 24;

/// Per wide statement (keyed by the address of its text, a `'static` constant), its column
/// names sorted, with their positions. A statement's columns are fixed by its text.
type WideColumns = HashMap<usize, Vec<(String, usize)>>;

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after a commit the checkpointer copies the WAL back into the database: short,
/// so that each checkpoint has little to write and sync.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(20);
/// SQLite's own checkpoint, in the committing connection, only as a backstop should the
/// checkpointer thread fall behind: 40 MB of WAL.
const AUTOCHECKPOINT_PAGES: u32 = 10_000;

pub struct SqliteStore {
    conn: Mutex<Held>,
    checkpointer: Checkpointer,
    /// A shared lock on the database's in-use file, held for the store's life ([`hold_in_use`]).
    _in_use: std::fs::File,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (or `sqlite:PATH`), whose schema must already be migrated
    /// ([`crate::migrate`]).
    pub fn open_url(url: &str) -> StoreResult<Self> {
        Self::open(&path_of(url)?)
    }

    pub fn open(path: &Path) -> StoreResult<Self> {
        let in_use = hold_in_use(path)?;
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
        Ok(SqliteStore { conn: Mutex::new(Held { conn, wide: HashMap::new() }), checkpointer, _in_use: in_use })
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        // A panic while holding the connection cannot leave a transaction open (rusqlite
        // rolls back on drop), so a poisoned lock is still a usable connection.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `op` on the connection in the transaction `access` asks for: none for a single
    /// read (a statement sees one snapshot by itself); for writes, even single statements,
    /// IMMEDIATE, which takes the write lock up front: a deferred transaction that reads
    /// first could fail to upgrade when another process writes in between.
    fn with<T>(&self, access: Access, op: impl FnOnce(&mut SqliteExec<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut held = self.lock();
        let Held { conn, wide } = &mut *held;
        let conn = &*conn;
        let mut exec = SqliteExec { conn, wide, roll_back: false, committed: false };
        let begin = match access {
            Access::ReadOne => return op(&mut exec),
            Access::WriteOne | Access::Write => "BEGIN IMMEDIATE",
        };
        // BEGIN and COMMIT go through the statement cache like everything else (rusqlite's
        // own `Transaction` would parse them anew each time).
        conn.prepare_cached(begin)?.execute([])?;
        let out = op(&mut exec);
        if exec.committed {
            // The operation committed halfway (Exec::commit) and read on outside the transaction.
            self.checkpointer.wake();
            return out;
        }
        let end = if out.is_ok() && !exec.roll_back { "COMMIT" } else { "ROLLBACK" };
        if let Err(e) = conn.prepare_cached(end).and_then(|mut stmt| stmt.execute([])) {
            // Whatever the failure, leave no transaction open on the shared connection.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        if end == "COMMIT" {
            self.checkpointer.wake();
        }
        out
    }
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

pub(crate) fn path_of(url: &str) -> StoreResult<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"));
    let path = rest.map(|r| r.split('?').next().unwrap_or(r)).filter(|p| !p.is_empty() && !p.starts_with(":memory:"));
    match path {
        Some(p) => Ok(PathBuf::from(p)),
        None => Err(StoreError::Database(sqlx::Error::Configuration(
            format!("not a SQLite database file URL: {url:?} (use sqlite://PATH)").into(),
        ))),
    }
}

/// The file beside a SQLite database (`latch.db-inuse`) that tells `latch restore` the database
/// is open: every store (a server, `latch audit`, `latch keys`…) holds a shared lock on it for
/// its life, and `latch restore` takes it exclusively, so a restore cannot replace a database
/// under a running server, and a server cannot open one while a restore replaces it. The lock
/// is `flock(2)` (std's `File::lock`): released by the kernel when the process ends, however
/// it ends, and independent of SQLite's own POSIX locks on the database file.
pub fn in_use_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-inuse");
    PathBuf::from(name)
}

fn hold_in_use(db: &Path) -> StoreResult<std::fs::File> {
    let path = in_use_path(db);
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock_shared() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "`latch restore` is replacing {}; start again when it has finished",
            db.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!("cannot lock {}: {e}", path.display()))),
    }
}

/// The file path of a `sqlite://PATH` URL (for `latch backup` and `latch restore`).
pub fn file_of(url: &str) -> StoreResult<PathBuf> {
    path_of(url)
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

// ---- the driver ---------------------------------------------------------------------------

/// A binding is a borrowed value: nothing is copied on its way into SQLite.
impl ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        let value = match *self {
            Bind::Int(Some(v)) => ValueRef::Integer(v),
            Bind::Text(Some(v)) => ValueRef::Text(v.as_bytes()),
            Bind::Bytes(Some(v)) => ValueRef::Blob(v),
            Bind::Int(None) | Bind::Text(None) | Bind::Bytes(None) => ValueRef::Null,
        };
        Ok(ToSqlOutput::Borrowed(value))
    }
}

/// The store's connection inside one operation's transaction. Statements come from the
/// connection's cache, prepared once per connection.
pub(crate) struct SqliteExec<'c> {
    conn: &'c Connection,
    wide: &'c mut WideColumns,
    roll_back: bool,
    /// Set once [`Exec::commit`] has ended the transaction.
    committed: bool,
}

/// The sorted column index of `stmt` if it is a wide statement.
fn wide_index<'w>(wide: &'w mut WideColumns, sql: &'static str, stmt: &rusqlite::Statement<'_>) -> Option<&'w [(String, usize)]> {
    if stmt.column_count() <= WIDE {
        return None;
    }
    let index = wide.entry(sql.as_ptr() as usize).or_insert_with(|| {
            let mut names: Vec<(String, usize)> =
                stmt.column_names().into_iter().enumerate().map(|(i, name)| (name.to_owned(), i)).collect();
            names.sort_unstable();
            names
        });
    Some(index)
}

/// A row of a wide statement, its columns found by binary search in the statement's index.
struct Indexed<'r, 's> {
    row: &'r Row<'s>,
    index: &'r [(String, usize)],
}

impl Indexed<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> StoreResult<T> {
        match self.index.binary_search_by(|(name, _)| name.as_str().cmp(col)) {
            Ok(at) => Ok(self.row.get(self.index[at].1)?),
            Err(_) => Err(StoreError::Sqlite(rusqlite::Error::InvalidColumnName(col.to_owned()))),
        }
    }
}

impl Columns for Indexed<'_, '_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        self.get(col)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>> {
        self.get(col)
    }
    fn blob(&self, col: &str) -> StoreResult<Vec<u8>> {
        self.get(col)
    }
    fn opt_blob(&self, col: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(col)
    }
}

impl Exec for SqliteExec<'_> {
    const SERIALISES_WRITERS: bool = true;

    async fn one<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        map: impl FnOnce(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut found = stmt.query(params_from_iter(binds))?;
        match found.next()? {
            Some(row) => Ok(Some(map(row)?)),
            None => Ok(None),
        }
    }

    async fn all<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        mut map: impl FnMut(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let index = wide_index(self.wide, sql, &stmt);
        let mut found = stmt.query(params_from_iter(binds))?;
        let mut out = Vec::new();
        while let Some(row) = found.next()? {
            match index {
                Some(index) => out.push(map(&Indexed { row, index })?),
                None => out.push(map(row)?),
            }
        }
        Ok(out)
    }

    async fn run(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<u64> {
        let changed = self.conn.prepare_cached(sql)?.execute(params_from_iter(binds))?;
        Ok(changed as u64)
    }

    /// SQLite has no round trips to save: a queued statement runs at once, unless a
    /// condition before it failed (the operation will roll back anyway).
    async fn queue(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()> {
        if !self.roll_back {
            self.run(sql, binds).await?;
        }
        Ok(())
    }

    async fn queue_one(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()> {
        if !self.roll_back && self.run(sql, binds).await? != 1 {
            self.roll_back = true;
        }
        Ok(())
    }

    async fn held(&mut self) -> StoreResult<bool> {
        Ok(!self.roll_back)
    }

    async fn commit(&mut self) -> StoreResult<()> {
        // After a failed condition the transaction stays open, for `with` to roll back.
        if !self.roll_back && !self.conn.is_autocommit() {
            self.conn.prepare_cached("COMMIT")?.execute([])?;
            self.committed = true;
        }
        Ok(())
    }

    fn roll_back(&mut self) {
        self.roll_back = true;
    }

    fn is_unique_violation(e: &StoreError) -> bool {
        matches!(e, StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
            if f.code == ErrorCode::ConstraintViolation
                && matches!(f.extended_code, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY))
    }
}

/// Runs one operation of `ops.rs` on the connection, synchronously (see [`drive`]).
macro_rules! with_sqlite {
    ($store:ident, $access:expr, |$tx:ident| $op:expr) => {{
        let _timer = TransactionTimer::start(Backend::Sqlite, $access);
        $store.with($access, |$tx| drive($op))
    }};
}

ops::impl_store!(SqliteStore, with_sqlite);

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
            include_str!("../migrations/sqlite/0005_purge_indexes.sql"),
            include_str!("../migrations/sqlite/0006_backend_api.sql"),
            include_str!("../migrations/sqlite/0009_handshake_nonces.sql"),
            include_str!("../migrations/sqlite/0010_webhooks.sql"),
            include_str!("../migrations/sqlite/0011_reverification_and_session_sources.sql"),
            include_str!("../migrations/sqlite/0012_usernames_and_audit_key.sql"),
            include_str!("../migrations/sqlite/0013_operators.sql"),
            include_str!("../migrations/sqlite/0014_passkey_prf.sql"),
            include_str!("../migrations/sqlite/0015_session_attachment.sql"),
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
            // operator's audit query (newest first, limited), the key reads and rotation, and
            // the Backend API's listings (searches and counts over every user or session).
            let may_scan = [
                q::AUDIT_EVENTS, q::SIGNING_KEYS, q::INSERT_FIRST_SIGNING_KEY, q::RETIRE_SIGNING_KEYS, q::PURGE_PENDING_PASSKEYS,
                q::PURGE_RATE_LIMITS, q::SECRET_KEYS, q::USERS_NEWEST_FIRST, q::USERS_OLDEST_FIRST, q::COUNT_USERS,
                q::SESSIONS_PAGE, q::COUNT_SESSIONS,
                // Webhooks: the operator's few endpoints are read whole (the outbox's fan-out
                // and the dispatcher's switch); listings, counts and the purge are the operator's.
                q::INSERT_WEBHOOK_EVENT, q::INSERT_WEBHOOK_DELIVERIES, q::WEBHOOK_ENDPOINTS, q::ANY_WEBHOOK_ENDPOINT,
                q::WEBHOOK_DELIVERIES, q::WEBHOOK_EVENT_COUNT, q::PURGE_WEBHOOK_DELIVERIES, q::PURGE_WEBHOOK_EVENTS,
                // The admin console: its audit count and the operators list are the operator's.
                q::COUNT_AUDIT_EVENTS, q::OPERATORS,
                // A metrics scrape counts the live sessions (every few seconds, not per request).
                q::OPERATIONS_GAUGES,
            ];
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
