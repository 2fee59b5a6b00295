//! How long each store operation's transaction takes, for the operator's metrics
//! (`latch_store_transaction_duration_seconds`, docs/protocol.md §19).
//!
//! Both drivers start a [`TransactionTimer`] where they run an operation (`with_sqlite!`,
//! `with_postgres!`), so one type measures both the same way: from asking for the connection
//! (the SQLite mutex, the PostgreSQL pool) to the end of the commit or rollback. The timer
//! records on drop, so an operation whose future is dropped halfway (its request went away)
//! is measured too. Without a metrics recorder installed (`latch serve` with metrics off,
//! the tests of this crate) recording is a no-op of the `metrics` facade.

use std::time::Instant;

use crate::exec::Access;

/// The database behind a store, as the metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Measures one operation's transaction until dropped.
pub(crate) struct TransactionTimer {
    backend: Backend,
    access: Access,
    started: Instant,
}

impl TransactionTimer {
    pub(crate) fn start(backend: Backend, access: Access) -> Self {
        TransactionTimer { backend, access, started: Instant::now() }
    }
}

impl Drop for TransactionTimer {
    fn drop(&mut self) {
        let access = match self.access {
            Access::ReadOne => "read",
            Access::WriteOne | Access::Write => "write",
        };
        metrics::histogram!("latch_store_transaction_duration_seconds", "backend" => self.backend.label(), "access" => access)
            .record(self.started.elapsed().as_secs_f64());
    }
}
