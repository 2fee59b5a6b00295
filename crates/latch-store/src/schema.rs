//! The database schema: sqlx's migrations for SQLite (`migrations/sqlite`) and PostgreSQL
//! (`migrations/postgres`), run through sqlx's `Any` driver so that one path serves both.
//! The dialects differ only in their DDL; the queries (`queries.rs`) stick to the common
//! subset (`$n` parameters, `RETURNING`, `ON CONFLICT`) and to i64/text/bytes values.
//!
//! Serving does not use this connection: [`crate::open`] hands out the stores, which run
//! the shared operations through each database's own driver.

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use crate::{StoreError, StoreResult};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 15;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// A connection pool for schema work (migrating, checking the version) on either database.
#[derive(Clone)]
pub struct Schema {
    pool: AnyPool,
    dialect: Dialect,
}

impl Schema {
    /// Connects to `url` (`sqlite://…` or `postgres://…`), without touching the schema.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Database(sqlx::Error::Configuration(
                format!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…").into(),
            )));
        };
        if dialect == Dialect::Sqlite {
            create_folder_of(url)?;
        }
        let options = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; NORMAL sync in WAL mode
                        // survives a process crash (the commit is in the WAL before we answer).
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        // Truncate the WAL back to 64 MiB after checkpoints instead of
                        // letting it keep its high-water mark on disk.
                        conn.execute("PRAGMA journal_size_limit = 67108864").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            });
        let url = if dialect == Dialect::Sqlite && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_string()
        };
        let pool = options.connect(&url).await?;
        Ok(Schema { pool, dialect })
    }

    fn migrator(&self) -> &'static Migrator {
        match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// The schema version the database is at (0 when empty).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        let exists: Option<AnyRow> = sqlx::query(match self.dialect {
            Dialect::Sqlite => "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            Dialect::Postgres => "SELECT 1 AS present FROM pg_tables WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()",
        })
        .fetch_optional(&self.pool)
        .await?;
        if exists.is_none() {
            return Ok(0);
        }
        let row = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations WHERE success = $1")
            .bind(true)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("v")?)
    }

    /// Refuses a schema newer than this build understands; then applies pending migrations.
    /// Safe when several nodes start at once: sqlx takes a migration lock on PostgreSQL,
    /// and SQLite serialises writers.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.check_schema_not_newer().await?;
        self.migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(sqlx::Error::Migrate(Box::new(e))))?;
        Ok(())
    }

    pub async fn check_schema_not_newer(&self) -> StoreResult<()> {
        let found = self.schema_version().await?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION });
        }
        Ok(())
    }

    /// The database is at this build's schema, with nothing pending.
    pub async fn check_schema_current(&self) -> StoreResult<bool> {
        self.check_schema_not_newer().await?;
        Ok(self.schema_version().await? == SCHEMA_VERSION)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn is_sqlite(&self) -> bool {
        self.dialect == Dialect::Sqlite
    }
}

/// SQLite creates a missing database file but not its folder.
fn create_folder_of(url: &str) -> StoreResult<()> {
    let path = crate::sqlite::path_of(url)?;
    match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => std::fs::create_dir_all(folder).map_err(|e| {
            StoreError::Database(sqlx::Error::Configuration(
                format!("cannot create the folder {}: {e}", folder.display()).into(),
            ))
        }),
        _ => Ok(()),
    }
}
