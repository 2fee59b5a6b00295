//! The [`Store`](crate::Store) on PostgreSQL, through tokio-postgres and a pool of
//! connections (deadpool).
//!
//! Every round trip to the database costs CPU on both sides (a system call and a wake-up
//! each way, on the 2 cores Latch shares with PostgreSQL in the benchmarks), so what counts
//! here is how many there are:
//!
//! * a single statement runs without BEGIN and COMMIT (it is atomic, and sees one
//!   snapshot, by itself), and a client's snapshot, read for every FAPI answer, is one
//!   statement (`ops.rs`);
//! * statements an operation only [`queue`](Exec::queue)s (their result is not read) are
//!   held back and sent with the next statement whose result is read, or with COMMIT:
//!   tokio-postgres pipelines the lot, so a write transaction costs one round trip, or two
//!   when it must read something halfway (a conditional write's count, rows it returns).
//!   BEGIN itself is held back the same way;
//! * each connection prepares a statement once, declaring its parameters' types from the
//!   [`Bind`]s, and keeps it (`PgConnection::statements`).
//!
//! Isolation: writes run in READ COMMITTED, PostgreSQL's default; operations that must not
//! interleave rely on conditional statements and row locks, which `ops.rs` documents per
//! operation. Reads that must agree (a client's snapshot) are one statement, which sees one
//! snapshot without a transaction.
//!
//! A connection goes back to the pool marked if a transaction may still be open on it (an
//! operation's future dropped halfway, or a failed COMMIT); the pool rolls it back before
//! lending it again ([`Connector::recycle`]).

use std::collections::HashMap;
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, Pool, PoolError, RecycleError, RecycleResult};
use futures_util::TryStreamExt;
use futures_util::future::{join, join_all};
use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, ReverificationCompletion, Session, SessionStatus, SessionVerification, SignIn,
    SignInCompletion, SignInFailure, SignUp, User, VerificationStatus,
};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row, Statement};

use crate::exec::{Access, Bind, Exec};
use crate::ops;
use crate::rows::Columns;
use crate::timing::{Backend, TransactionTimer};
use crate::{
    AuditEvent, AuditQuery, ClientSession, ClientSnapshot, ClientToken, NewClient, PurgePolicy, SessionQuery, SignInAttempt,
    StoreError, StoreResult, StoredSigningKey, TicketRedemption, UserQuery, Written,
};
use latch_core::backend::{MetadataPatch, SecretKey, SignInToken, UserMetadata};

/// Connections per node when the operator names no number (`--database-pool-size`):
/// `POOL_PER_CORE` per core of this machine, between `MIN_POOL` and `MAX_DEFAULT_POOL` (16 on
/// the 2-core benchmark machine, what the pool's fixed size was before).
///
/// Each connection is a PostgreSQL backend process, and a store call holds one only for its
/// own statements. Why several per core: a write transaction holds its connection until its
/// COMMIT has waited for the WAL to reach the disk, which is I/O, not CPU, and PostgreSQL
/// flushes the commits waiting at the same moment together. With too few connections that
/// wait serialises the node (on 2 cores, a pool of 2 halved PostgreSQL's sign-ins/s and
/// raised its CPU per sign-in); with many more than the load has requests in flight (32) the
/// extra backends only contend. BENCHMARKS.md ("Session 6") has the measurements.
pub fn default_pool_size() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores * POOL_PER_CORE).clamp(MIN_POOL, MAX_DEFAULT_POOL)
}

const POOL_PER_CORE: usize = 8;
const MIN_POOL: usize = 8;
const MAX_DEFAULT_POOL: usize = 64;

/// How long a store call waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool<Connector>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), whose schema must already be migrated
    /// ([`crate::migrate`]), with at most `pool_size` connections open (at least one).
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url.parse()?;
        let pool = Pool::builder(Connector { config })
            .max_size(pool_size.max(1))
            .wait_timeout(Some(ACQUIRE_TIMEOUT))
            .create_timeout(Some(ACQUIRE_TIMEOUT))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let store = PostgresStore { pool };
        // Fail at start, not at the first request, when the database cannot be reached.
        drop(store.acquire().await?);
        Ok(store)
    }

    async fn acquire(&self) -> StoreResult<Object<Connector>> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => StoreError::Postgres(e),
            other => StoreError::Unavailable(other.to_string()),
        })
    }

    /// A connection, with BEGIN held back if `access` needs a transaction.
    async fn begin(&self, access: Access) -> StoreResult<PgExec> {
        let mut exec = PgExec { conn: self.acquire().await?, queued: Vec::new(), in_transaction: false, roll_back: false };
        if access == Access::Write {
            exec.in_transaction = true;
            exec.queued.push(Queued { sql: BEGIN, binds: Vec::new(), must_change_one: false });
        }
        Ok(exec)
    }
}

/// Opens connections for the pool and checks them on their way back.
pub(crate) struct Connector {
    config: tokio_postgres::Config,
}

/// One connection, the statements it has prepared, and whether a transaction may be open.
pub(crate) struct PgConnection {
    client: tokio_postgres::Client,
    /// Keyed by the statement's text (a `'static` constant of `queries.rs`) and whether it
    /// was prepared as a condition ([`as_condition`]).
    statements: HashMap<(&'static str, bool), Statement>,
    /// Set from the moment BEGIN is sent until COMMIT or ROLLBACK has answered.
    in_transaction: bool,
}

impl managed::Manager for Connector {
    type Type = PgConnection;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PgConnection, tokio_postgres::Error> {
        let (client, connection) = self.config.connect(NoTls).await?;
        // The connection's socket is driven by a task of its own; it ends when the client
        // is dropped. Its error, if any, reaches the client's next call.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok(PgConnection { client, statements: HashMap::new(), in_transaction: false })
    }

    async fn recycle(&self, conn: &mut PgConnection, _: &Metrics) -> RecycleResult<tokio_postgres::Error> {
        if conn.client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if conn.in_transaction {
            conn.client.batch_execute("ROLLBACK").await.map_err(RecycleError::Backend)?;
            conn.in_transaction = false;
        }
        Ok(())
    }
}

impl PgConnection {
    /// `sql` prepared on this connection, its parameters typed after `binds`; as a
    /// condition ([`as_condition`]) if `condition`.
    async fn statement(&mut self, sql: &'static str, binds: &[PgBind<'_>], condition: bool) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(&(sql, condition)) {
            return Ok(statement.clone());
        }
        let types: Vec<Type> = binds.iter().map(PgBind::ty).collect();
        let statement = match condition {
            true => self.client.prepare_typed(&as_condition(sql), &types).await?,
            false => self.client.prepare_typed(sql, &types).await?,
        };
        self.statements.insert((sql, condition), statement.clone());
        Ok(statement)
    }
}

/// A conditional write ([`Exec::queue_one`]) as PostgreSQL runs it: the write itself, made to
/// fail (division by zero, SQLSTATE 22012, which nothing else Latch runs can raise) unless
/// it changed exactly one row. The failure aborts the transaction on the server, so the
/// statements and the COMMIT sent after it in the same flight change nothing (COMMIT of an
/// aborted transaction rolls back), and the operation need not wait for the count before
/// sending them.
fn as_condition(write: &str) -> String {
    format!("WITH changed AS ({write} RETURNING 1) SELECT 1 / (count(*) = 1)::int AS held FROM changed")
}

/// Whether `e` is a condition of [`as_condition`] that did not hold.
fn is_failed_condition(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::DIVISION_BY_ZERO)
}

impl PgConnection {
}

/// A parameter as tokio-postgres sends it: a [`Bind`], borrowed for a statement sent at once
/// or owned by one held back (the operation's values may be gone by the time it is sent).
#[derive(Debug)]
enum PgBind<'a> {
    Int(Option<i64>),
    Text(Option<std::borrow::Cow<'a, str>>),
    Bytes(Option<std::borrow::Cow<'a, [u8]>>),
}

impl<'a> PgBind<'a> {
    fn borrowed(bind: &Bind<'a>) -> Self {
        match *bind {
            Bind::Int(v) => PgBind::Int(v),
            Bind::Text(v) => PgBind::Text(v.map(Into::into)),
            Bind::Bytes(v) => PgBind::Bytes(v.map(Into::into)),
        }
    }

    fn owned(bind: &Bind<'_>) -> PgBind<'static> {
        match *bind {
            Bind::Int(v) => PgBind::Int(v),
            Bind::Text(v) => PgBind::Text(v.map(|v| v.to_owned().into())),
            Bind::Bytes(v) => PgBind::Bytes(v.map(|v| v.to_vec().into())),
        }
    }

    /// The type the statement declares for this parameter (what sqlx declared before).
    fn ty(&self) -> Type {
        match self {
            PgBind::Int(_) => Type::INT8,
            PgBind::Text(_) => Type::TEXT,
            PgBind::Bytes(_) => Type::BYTEA,
        }
    }
}

impl ToSql for PgBind<'_> {
    fn to_sql(&self, ty: &Type, out: &mut tokio_postgres::types::private::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            PgBind::Int(v) => v.to_sql(ty, out),
            PgBind::Text(v) => v.as_deref().to_sql(ty, out),
            PgBind::Bytes(v) => v.as_deref().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <i64 as ToSql>::accepts(ty) || <&str as ToSql>::accepts(ty) || <&[u8] as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// A statement held back until the next one whose result is read.
struct Queued {
    sql: &'static str,
    binds: Vec<PgBind<'static>>,
    /// The operation changes nothing unless this statement changes exactly one row.
    must_change_one: bool,
}

/// A pooled connection, inside a transaction unless the operation is a single statement.
pub(crate) struct PgExec {
    conn: Object<Connector>,
    queued: Vec<Queued>,
    in_transaction: bool,
    roll_back: bool,
}

/// What the statement sent after the held-back ones is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Rows,
    Count,
}

enum Sent {
    Rows(Vec<Row>),
    Count(u64),
}

impl PgExec {
    /// Sends the held-back statements, then `last` (if any), in one flight; returns
    /// `last`'s result. A held-back statement's failure wins over `last`'s, except that
    /// once a condition has failed the operation only rolls back, whatever came after it
    /// (then `last`'s result is `None`).
    async fn flush(&mut self, last: Option<(&'static str, &[Bind<'_>], Want)>) -> StoreResult<Option<Sent>> {
        let queued = std::mem::take(&mut self.queued);
        let conn: &mut PgConnection = &mut self.conn;
        let mut statements = Vec::with_capacity(queued.len());
        for q in &queued {
            statements.push(conn.statement(q.sql, &q.binds, q.must_change_one).await?);
        }
        let last = match last {
            Some((sql, binds, want)) => {
                let binds: Vec<PgBind<'_>> = binds.iter().map(PgBind::borrowed).collect();
                Some((conn.statement(sql, &binds, false).await?, binds, want))
            }
            None => None,
        };
        if queued.first().is_some_and(|q| q.sql == BEGIN) {
            conn.in_transaction = true;
        }
        let client = &conn.client;
        // join_all polls the futures in order, and each sends its statement when first
        // polled: the connection writes them out together, and PostgreSQL runs them in order.
        let held_back = join_all(statements.iter().zip(&queued).map(|(statement, q)| client.execute_raw(statement, q.binds.iter())));
        let (counts, last) = match &last {
            Some((statement, binds, want)) => {
                let send_last = async {
                    match want {
                        Want::Rows => client.query_raw(statement, binds.iter()).await?.try_collect().await.map(Sent::Rows),
                        Want::Count => client.execute_raw(statement, binds.iter()).await.map(Sent::Count),
                    }
                };
                let (counts, last) = join(held_back, send_last).await;
                (counts, Some(last))
            }
            None => (held_back.await, None),
        };
        for (q, count) in queued.iter().zip(counts) {
            match count {
                // COMMIT answered: no transaction is open any more (it rolled back if a
                // condition before it failed).
                Ok(_) if q.sql == COMMIT => self.conn.in_transaction = false,
                Ok(_) => {}
                Err(e) if q.must_change_one && is_failed_condition(&e) => self.roll_back = true,
                // After a failed condition the transaction is aborted: what follows fails
                // too, and changes nothing.
                Err(_) if self.roll_back => {}
                Err(e) => return Err(e.into()),
            }
        }
        match last {
            Some(Err(_)) if self.roll_back => Ok(None),
            Some(last) => Ok(Some(last?)),
            None => Ok(None),
        }
    }

    /// Ends the operation. A transaction commits in the same flight as the statements
    /// still held back (see [`Exec::commit`]); after a failure, or a failed condition, it
    /// rolls back.
    async fn finish<T>(mut self, out: StoreResult<T>) -> StoreResult<T> {
        let out = match out {
            Ok(value) => match self.commit().await {
                Ok(()) => self.flush(None).await.map(|_| value),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if out.is_err() || self.roll_back {
            // Nothing of the operation may stay. (A connection whose ROLLBACK fails goes
            // back to the pool marked, and the pool tries again.)
            let conn: &mut PgConnection = &mut self.conn;
            if conn.in_transaction && conn.client.batch_execute("ROLLBACK").await.is_ok() {
                conn.in_transaction = false;
            }
        }
        out
    }
}

const BEGIN: &str = "BEGIN";
const COMMIT: &str = "COMMIT";

impl Exec for PgExec {
    const SERIALISES_WRITERS: bool = false;

    async fn one<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        map: impl FnOnce(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let rows = rows(self.flush(Some((sql, binds, Want::Rows))).await?);
        match rows.first() {
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
        let rows = rows(self.flush(Some((sql, binds, Want::Rows))).await?);
        rows.iter().map(|row| map(row)).collect()
    }

    async fn run(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<u64> {
        match self.flush(Some((sql, binds, Want::Count))).await? {
            Some(Sent::Count(n)) => Ok(n),
            _ => Ok(0),
        }
    }

    async fn queue(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()> {
        self.queued.push(Queued { sql, binds: binds.iter().map(PgBind::owned).collect(), must_change_one: false });
        Ok(())
    }

    async fn queue_one(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()> {
        self.queued.push(Queued { sql, binds: binds.iter().map(PgBind::owned).collect(), must_change_one: true });
        Ok(())
    }

    async fn held(&mut self) -> StoreResult<bool> {
        self.flush(None).await?;
        Ok(!self.roll_back)
    }

    /// Holds COMMIT back like any queued statement: it goes out with the next read (or at
    /// the end of the operation), which then runs outside the transaction. Conditions
    /// queued before it fail the transaction on the server ([`as_condition`]), so it may
    /// follow them in the same flight.
    async fn commit(&mut self) -> StoreResult<()> {
        if self.in_transaction && !self.roll_back {
            self.queued.push(Queued { sql: COMMIT, binds: Vec::new(), must_change_one: false });
            self.in_transaction = false;
        }
        Ok(())
    }

    fn roll_back(&mut self) {
        self.roll_back = true;
    }

    fn is_unique_violation(e: &StoreError) -> bool {
        matches!(e, StoreError::Postgres(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }
}

/// The rows a statement sent for its rows returned (none when a condition before it failed).
fn rows(sent: Option<Sent>) -> Vec<Row> {
    match sent {
        Some(Sent::Rows(rows)) => rows,
        _ => Vec::new(),
    }
}

/// Runs one operation of `ops.rs` on a pooled connection, in its transaction.
macro_rules! with_postgres {
    ($store:ident, $access:expr, |$tx:ident| $op:expr) => {{
        let _timer = TransactionTimer::start(Backend::Postgres, $access);
        let mut exec = $store.begin($access).await?;
        let out = {
            let $tx = &mut exec;
            $op.await
        };
        exec.finish(out).await
    }};
}

ops::impl_store!(PostgresStore, with_postgres);

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation whose future is dropped halfway (its HTTP request went away) leaves its
    /// connection inside a transaction; the pool must roll that back before lending the
    /// connection again, or the next operation would run inside a stranger's transaction.
    #[tokio::test]
    async fn a_connection_returned_inside_a_transaction_is_rolled_back_before_reuse() {
        let url = std::env::var("LATCH_TEST_POSTGRES_URL")
            .expect("LATCH_TEST_POSTGRES_URL names a PostgreSQL database (source scripts/postgres-test-db.sh)");
        let store = PostgresStore::connect(&url, 4).await.expect("connect");
        let setting = "SELECT current_setting('application_name') AS name";

        let mut abandoned = store.begin(Access::Write).await.expect("a connection");
        abandoned.queue("SET LOCAL application_name = 'abandoned'", &[]).await.expect("queue");
        let name = abandoned.one(setting, &[], |row| row.text("name")).await.expect("BEGIN and SET sent");
        assert_eq!(name.as_deref(), Some("abandoned"), "inside the transaction");
        drop(abandoned); // never finished: no COMMIT, no ROLLBACK

        // The pool holds one connection, so this is the same one.
        assert_eq!(store.pool.status().size, 1);
        let mut next = store.begin(Access::ReadOne).await.expect("the same connection");
        let name = next.one(setting, &[], |row| row.text("name")).await.expect("read");
        assert_ne!(name.as_deref(), Some("abandoned"), "the abandoned transaction was rolled back");
        next.finish(Ok(())).await.expect("finish");
    }

    /// `--database-pool-size` bounds the PostgreSQL backends a node opens: more concurrent
    /// store calls than connections wait for one instead of opening more.
    #[tokio::test]
    async fn concurrent_store_calls_share_at_most_the_pool_size_of_connections() {
        let url = std::env::var("LATCH_TEST_POSTGRES_URL")
            .expect("LATCH_TEST_POSTGRES_URL names a PostgreSQL database (source scripts/postgres-test-db.sh)");
        let store = PostgresStore::connect(&url, 2).await.expect("connect");
        // Each call holds its connection for 50 ms, so the eight overlap.
        let backends = "SELECT 1::bigint AS n FROM pg_sleep(0.05)";
        let calls = (0..8).map(|_| async {
            let mut exec = store.begin(Access::ReadOne).await.expect("a connection");
            let n = exec.one(backends, &[], |row| row.int("n")).await.expect("read");
            exec.finish(Ok(n)).await.expect("finish")
        });
        let seen = join_all(calls).await;
        assert!(seen.iter().all(Option::is_some), "every call answered");
        assert_eq!(store.pool.status().max_size, 2);
        assert!(store.pool.status().size <= 2, "opened {} connections", store.pool.status().size);
        assert!(default_pool_size() >= MIN_POOL && default_pool_size() <= MAX_DEFAULT_POOL);
    }
}
