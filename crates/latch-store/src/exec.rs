//! The one thing each database driver provides: running a statement inside the transaction
//! an operation was given. Everything else (which statements, in what order, what a
//! changed-row count means) is written once, in `ops.rs`, against the [`Exec`] trait.
//!
//! Values go in as [`Bind`]s, a closed set of the four SQL types Latch stores (integers,
//! text, bytes, and a NULL of one of those), borrowed from the caller so that binding copies
//! nothing on SQLite. NULLs carry their type because PostgreSQL's extended protocol declares
//! every parameter's type when a statement is prepared. Rows come back through the
//! [`Columns`] trait, so `rows.rs` maps a record the same way for both drivers.
//!
//! `Exec` is async because PostgreSQL's driver is. The SQLite driver's futures never wait
//! (rusqlite is synchronous), so it drives each operation to completion with a single poll
//! while it holds its connection; see [`drive`].

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::rows::Columns;
use crate::{StoreError, StoreResult};

/// One parameter of a statement.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bytes(Option<&'a [u8]>),
}

impl From<i64> for Bind<'_> {
    fn from(v: i64) -> Self {
        Bind::Int(Some(v))
    }
}

impl From<Option<i64>> for Bind<'_> {
    fn from(v: Option<i64>) -> Self {
        Bind::Int(v)
    }
}

impl<'a> From<&'a str> for Bind<'a> {
    fn from(v: &'a str) -> Self {
        Bind::Text(Some(v))
    }
}

impl<'a> From<&'a String> for Bind<'a> {
    fn from(v: &'a String) -> Self {
        Bind::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Bind<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Bind::Text(v)
    }
}

impl<'a> From<&'a Option<String>> for Bind<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Bind::Text(v.as_deref())
    }
}

impl<'a> From<&'a [u8]> for Bind<'a> {
    fn from(v: &'a [u8]) -> Self {
        Bind::Bytes(Some(v))
    }
}

impl<'a> From<&'a Vec<u8>> for Bind<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Bind::Bytes(Some(v))
    }
}

impl<'a> From<Option<&'a [u8]>> for Bind<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        Bind::Bytes(v)
    }
}

/// `binds![a, b, …]`: the parameters `$1, $2, …` of a statement, each converted by `Bind::from`.
macro_rules! binds {
    ($($value:expr),* $(,)?) => { &[$($crate::exec::Bind::from($value)),*] };
}
pub(crate) use binds;

/// What an operation needs from its transaction. The driver picks the cheapest way to give
/// it: a single statement is atomic and sees one snapshot by itself, so on PostgreSQL it
/// runs without BEGIN and COMMIT (two round trips saved); SQLite still takes its write lock
/// up front for any write (see `sqlite.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// One reading statement. (No operation needs several reads to agree: the one that
    /// would, `client_snapshot`, is a single statement.)
    ReadOne,
    /// One writing statement.
    WriteOne,
    /// Several statements, all or nothing.
    Write,
}

/// A connection inside the transaction of one operation.
pub(crate) trait Exec {
    /// Whether the transaction holds the whole database's write lock (SQLite), which makes
    /// row locks taken only to order concurrent writers unnecessary.
    const SERIALISES_WRITERS: bool;

    /// The first row `sql` returns, mapped by `map`.
    async fn one<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        map: impl FnOnce(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Option<T>>;

    /// Every row `sql` returns, each mapped by `map`.
    async fn all<T>(
        &mut self,
        sql: &'static str,
        binds: &[Bind<'_>],
        map: impl FnMut(&dyn Columns) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>>;

    /// Runs `sql`; the number of rows it changed.
    async fn run(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<u64>;

    /// Runs `sql` for its effect alone: the operation reads neither its rows nor its
    /// changed-row count. A driver may therefore hold it back and send it together with the
    /// statements after it (PostgreSQL pipelines them: one round trip for the lot, COMMIT
    /// included). Its failure is then reported by the next call that returns a result, or
    /// by the end of the operation, and fails the operation all the same.
    async fn queue(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()>;

    /// [`Exec::queue`] for a conditional write: unless `sql` changes exactly one row, the
    /// operation changes nothing (it rolls back, and [`Exec::held`] returns false). What is
    /// queued after a condition that failed changes nothing either: SQLite skips it, and
    /// PostgreSQL, which has sent it in the same flight, rolls it back.
    async fn queue_one(&mut self, sql: &'static str, binds: &[Bind<'_>]) -> StoreResult<()>;

    /// Whether every [`Exec::queue_one`] so far changed exactly one row; sends whatever is
    /// held back to find out.
    async fn held(&mut self) -> StoreResult<bool>;

    /// Commits the operation's transaction here, before its end, so that what it reads
    /// next (the client an answer shows) sees the write committed. PostgreSQL sends COMMIT
    /// with that read, in one round trip; a failed COMMIT fails the operation. A condition
    /// queued before it that fails still leaves everything unchanged (SQLite does not
    /// commit then; on PostgreSQL the failed condition aborts the transaction, so COMMIT
    /// rolls it back): [`Exec::held`], asked after the read, says which happened.
    async fn commit(&mut self) -> StoreResult<()>;

    /// Ends the transaction with ROLLBACK instead of COMMIT even though the operation
    /// returns `Ok` (a condition failed halfway: the operation changes nothing after all).
    fn roll_back(&mut self);

    /// Whether `e` is a uniqueness violation, which operations report as
    /// [`StoreError::Conflict`].
    fn is_unique_violation(e: &StoreError) -> bool;
}

/// Runs a future that never waits to completion. The SQLite [`Exec`] never returns
/// `Pending` (nothing in it awaits anything but its own synchronous calls), so one poll
/// finishes an operation; should that ever change, this fails the operation rather than
/// blocking or panicking.
pub(crate) fn drive<T>(op: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(op).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(StoreError::Corrupt("a SQLite operation waited, which the store cannot drive".into())),
    }
}
