//! The [`Store`](crate::Store) on PostgreSQL, through sqlx's native PostgreSQL driver and a
//! pool of connections.
//!
//! Every statement is a network round trip, so what costs here is their number: a single
//! statement runs without BEGIN and COMMIT (it is atomic, and sees one snapshot, by itself),
//! and a client's snapshot, read for every FAPI answer, is one statement (`ops.rs`). sqlx
//! prepares each statement once per connection and caches it, so a statement's round trip
//! carries only its parameters.
//!
//! Isolation: writes run in READ COMMITTED, PostgreSQL's default; operations that must not
//! interleave rely on conditional statements and row locks, which `ops.rs` documents per
//! operation. Reads that must agree (a client's snapshot) are one statement, which sees one
//! snapshot without a transaction.

use std::time::Duration;

use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, Session, SessionStatus, SignIn, SignInCompletion, SignInFailure, SignUp, User,
};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use crate::exec::{Access, Bind, Exec};
use crate::ops;
use crate::rows::Columns;
use crate::{AuditEvent, AuditQuery, ClientSession, ClientSnapshot, ClientToken, NewClient, PurgePolicy, SignInAttempt, StoreError, StoreResult, StoredSigningKey};

/// Connections per node. Each is a PostgreSQL backend process; a store call holds one only
/// for its own statements.
const MAX_CONNECTIONS: u32 = 16;

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`), whose schema must already be migrated
    /// ([`crate::migrate`]).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// A connection, inside the transaction `access` needs.
    async fn begin(&self, access: Access) -> StoreResult<PgExec> {
        let held = match access {
            Access::ReadOne | Access::WriteOne => Held::Alone(self.pool.acquire().await?),
            Access::Write => Held::InTransaction(self.pool.begin().await?),
        };
        Ok(PgExec { held, roll_back: false })
    }
}

enum Held {
    Alone(PoolConnection<Postgres>),
    InTransaction(Transaction<'static, Postgres>),
}

/// A pooled connection, inside a transaction unless the operation is a single statement.
pub(crate) struct PgExec {
    held: Held,
    roll_back: bool,
}

impl PgExec {
    fn conn(&mut self) -> &mut PgConnection {
        match &mut self.held {
            Held::Alone(conn) => conn,
            Held::InTransaction(tx) => tx,
        }
    }

    /// Ends the transaction: COMMIT when the operation succeeded and did not roll back.
    async fn finish<T>(self, out: StoreResult<T>) -> StoreResult<T> {
        let Held::InTransaction(tx) = self.held else { return out };
        let ended = if out.is_ok() && !self.roll_back { tx.commit().await } else { tx.rollback().await };
        match (out, ended) {
            (Ok(value), Ok(())) => Ok(value),
            // The operation's own failure says more than a failed rollback after it.
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
        }
    }
}

fn query(sql: &'static str, binds: &[Bind<'_>]) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match *bind {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
            Bind::Bytes(v) => query.bind(v),
        };
    }
    query
}

impl Exec for PgExec {
    const SERIALISES_WRITERS: bool = false;

    async fn one<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        map: impl FnOnce(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        let row = query(sql, binds).fetch_optional(self.conn()).await?;
        match row {
            Some(row) => Ok(Some(map(&row)?)),
            None => Ok(None),
        }
    }

    async fn all<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        mut map: impl FnMut(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let found = query(sql, binds).fetch_all(self.conn()).await?;
        found.iter().map(|row| map(row)).collect()
    }

    async fn run(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<u64> {
        Ok(query(sql, binds).execute(self.conn()).await?.rows_affected())
    }

    fn roll_back(&mut self) {
        self.roll_back = true;
    }

    fn is_unique_violation(e: &StoreError) -> bool {
        matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

/// Runs one operation of `ops.rs` on a pooled connection, in its transaction.
macro_rules! with_postgres {
    ($store:ident, $access:expr, |$tx:ident| $op:expr) => {{
        let mut exec = $store.begin($access).await?;
        let out = {
            let $tx = &mut exec;
            $op.await
        };
        exec.finish(out).await
    }};
}

ops::impl_store!(PostgresStore, with_postgres);
