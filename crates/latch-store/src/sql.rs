//! The [`Store`] on SQL: SQLite (embedded default) and PostgreSQL, through sqlx's `Any`
//! driver so that one set of queries serves both. The dialects differ only in their DDL
//! (`migrations/sqlite`, `migrations/postgres`); queries stick to the common subset
//! (`$n` parameters, `RETURNING`, `ON CONFLICT DO NOTHING`) and to i64/text/bytes values.

use std::time::Duration;

use async_trait::async_trait;
use latch_core::model::{
    Client, Millis, Passkey, PasskeyChallenge, PendingPasskey, Session, SessionStatus, SignIn,
    SignInCompletion, SignInStatus, SignUp, User, VerificationStatus,
};
use latch_core::webauthn::{AuthenticationState, Credential, RegistrationState};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use uuid::Uuid;

use crate::{AuditEvent, AuditQuery, Store, StoreError, StoreResult, StoredSigningKey, TakenChallenge};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
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
        let options = AnyPoolOptions::new()
            .max_connections(if dialect == Dialect::Sqlite { 8 } else { 16 })
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
        Ok(SqlStore { pool, dialect })
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
            Dialect::Postgres => "SELECT 1 AS present FROM pg_tables WHERE tablename = '_sqlx_migrations'",
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

// ---- row mapping -------------------------------------------------------------------------

fn corrupt(what: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn opt_i64(row: &AnyRow, col: &str) -> StoreResult<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(col)?)
}

fn uuid_from(bytes: &[u8], what: &str) -> StoreResult<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn user_from(row: &AnyRow) -> StoreResult<User> {
    let handle: Vec<u8> = row.try_get("webauthn_handle")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        webauthn_handle: uuid_from(&handle, "webauthn_handle")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_sign_in_at: opt_i64(row, "last_sign_in_at")?,
    })
}

macro_rules! passkey_columns {
    () => {
        "id, user_id, credential_id, name, aaguid, credential, sign_count, \
     backup_eligible, backup_state, created_at, updated_at, last_used_at"
    };
}

fn passkey_from(row: &AnyRow) -> StoreResult<Passkey> {
    let credential: String = row.try_get("credential")?;
    let credential: Credential = serde_json::from_str(&credential).map_err(corrupt("passkey credential"))?;
    let aaguid: Option<Vec<u8>> = row.try_get("aaguid")?;
    Ok(Passkey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        credential_id: row.try_get("credential_id")?,
        name: row.try_get("name")?,
        aaguid: aaguid.map(|a| uuid_from(&a, "aaguid")).transpose()?,
        credential,
        sign_count: u32::try_from(row.try_get::<i64, _>("sign_count")?)
            .map_err(|e| StoreError::Corrupt(format!("sign_count: {e}")))?,
        backup_eligible: row.try_get::<i64, _>("backup_eligible")? != 0,
        backup_state: row.try_get::<i64, _>("backup_state")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_used_at: opt_i64(row, "last_used_at")?,
    })
}

fn pending_from(row: &AnyRow) -> StoreResult<PendingPasskey> {
    let state: String = row.try_get("state")?;
    let state: RegistrationState = serde_json::from_str(&state).map_err(corrupt("registration state"))?;
    Ok(PendingPasskey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        options_json: row.try_get("options_json")?,
        state,
        origin: row.try_get("origin")?,
        created_at: row.try_get("created_at")?,
        expire_at: row.try_get("expire_at")?,
    })
}

fn client_from(row: &AnyRow) -> StoreResult<Client> {
    Ok(Client {
        id: row.try_get("id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_active_session_id: row.try_get("last_active_session_id")?,
    })
}

macro_rules! session_columns {
    () => {
        "id, client_id, user_id, status, tasks, created_at, updated_at, last_active_at, expire_at"
    };
}

fn session_from(row: &AnyRow) -> StoreResult<Session> {
    let status: String = row.try_get("status")?;
    let tasks: String = row.try_get("tasks")?;
    Ok(Session {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        status: SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("session status {status:?}")))?,
        tasks: serde_json::from_str(&tasks).map_err(corrupt("session tasks"))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_active_at: row.try_get("last_active_at")?,
        expire_at: row.try_get("expire_at")?,
    })
}

macro_rules! sign_in_columns {
    () => {
        "id, client_id, status, identifier, user_id, ch_status, ch_options, ch_state, \
     ch_origin, ch_attempts, ch_expire_at, ch_error, created_session_id, created_at, updated_at, abandon_at"
    };
}

fn sign_in_from(row: &AnyRow) -> StoreResult<SignIn> {
    let status: String = row.try_get("status")?;
    let ch_status: Option<String> = row.try_get("ch_status")?;
    let challenge = match ch_status {
        None => None,
        Some(ch_status) => {
            let state: Option<String> = row.try_get("ch_state")?;
            let state: Option<AuthenticationState> = state
                .map(|s| serde_json::from_str(&s))
                .transpose()
                .map_err(corrupt("authentication state"))?;
            Some(PasskeyChallenge {
                status: VerificationStatus::parse(&ch_status)
                    .ok_or_else(|| StoreError::Corrupt(format!("verification status {ch_status:?}")))?,
                options_json: row.try_get::<Option<String>, _>("ch_options")?.unwrap_or_default(),
                state,
                origin: row.try_get("ch_origin")?,
                attempts: u32::try_from(row.try_get::<i64, _>("ch_attempts")?).unwrap_or(u32::MAX),
                expire_at: opt_i64(row, "ch_expire_at")?.unwrap_or(0),
                error_code: row.try_get("ch_error")?,
            })
        }
    };
    Ok(SignIn {
        id: row.try_get("id")?,
        client_id: row.try_get("client_id")?,
        status: SignInStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("sign-in status {status:?}")))?,
        identifier: row.try_get("identifier")?,
        user_id: row.try_get("user_id")?,
        challenge,
        created_session_id: row.try_get("created_session_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        abandon_at: row.try_get("abandon_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot serialise: {e}")))
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

async fn insert_session<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(exec: E, s: &Session) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (id, client_id, user_id, status, tasks, created_at, updated_at, last_active_at, expire_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&s.id)
    .bind(&s.client_id)
    .bind(&s.user_id)
    .bind(s.status.as_str())
    .bind(to_json(&s.tasks)?)
    .bind(s.created_at)
    .bind(s.updated_at)
    .bind(s.last_active_at)
    .bind(s.expire_at)
    .execute(exec)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn create_client(&self, client: &Client, token_hash: &[u8]) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (id, token_hash, created_at, updated_at, last_active_session_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&client.id)
        .bind(token_hash)
        .bind(client.created_at)
        .bind(client.updated_at)
        .bind(client.last_active_session_id.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn client_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Client>> {
        let row = sqlx::query("SELECT id, created_at, updated_at, last_active_session_id FROM clients WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from).transpose()
    }

    async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query("SELECT id, created_at, updated_at, last_active_session_id FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from).transpose()
    }

    async fn client_attempts(&self, client_id: &str) -> StoreResult<(Option<String>, Option<String>)> {
        let row = sqlx::query("SELECT sign_in_id, sign_up_id FROM clients WHERE id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok((row.try_get("sign_in_id")?, row.try_get("sign_up_id")?)),
            None => Ok((None, None)),
        }
    }

    async fn set_active_session(&self, client_id: &str, session_id: Option<&str>, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE clients SET last_active_session_id = $1, updated_at = $2 WHERE id = $3")
            .bind(session_id)
            .bind(now)
            .bind(client_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn sign_up(&self, user: &User, sign_up: &SignUp, session: &Session) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, webauthn_handle, created_at, updated_at, last_sign_in_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(user.webauthn_handle.as_bytes().as_slice())
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(user.last_sign_in_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::Conflict("username")),
            other => other?,
        };
        sqlx::query(
            "INSERT INTO sign_ups (id, client_id, username, created_user_id, created_session_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&sign_up.id)
        .bind(&sign_up.client_id)
        .bind(&sign_up.username)
        .bind(&sign_up.created_user_id)
        .bind(&sign_up.created_session_id)
        .bind(sign_up.created_at)
        .execute(&mut *tx)
        .await?;
        insert_session(&mut *tx, session).await?;
        sqlx::query(
            "UPDATE clients SET last_active_session_id = $1, sign_up_id = $2, sign_in_id = NULL, updated_at = $3 WHERE id = $4",
        )
        .bind(&session.id)
        .bind(&sign_up.id)
        .bind(session.created_at)
        .bind(&session.client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn sign_up_record(&self, client_id: &str, id: &str) -> StoreResult<Option<SignUp>> {
        let row = sqlx::query("SELECT * FROM sign_ups WHERE id = $1 AND client_id = $2")
            .bind(id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(SignUp {
                id: row.try_get("id")?,
                client_id: row.try_get("client_id")?,
                username: row.try_get("username")?,
                created_user_id: row.try_get("created_user_id")?,
                created_session_id: row.try_get("created_session_id")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let rows = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(passkey_from).collect()
    }

    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> StoreResult<Option<Passkey>> {
        let row = sqlx::query(concat!("SELECT ", passkey_columns!(), " FROM passkeys WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(passkey_from).transpose()
    }

    async fn create_pending_passkey(&self, p: &PendingPasskey, max_passkeys: u32) -> StoreResult<()> {
        // The insert is conditional on the quota, in one statement, so two concurrent
        // requests cannot both squeeze under it.
        let result = sqlx::query(
            "INSERT INTO pending_passkeys (id, user_id, client_id, options_json, state, origin, created_at, expire_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $9) < $10",
        )
        .bind(&p.id)
        .bind(&p.user_id)
        .bind(&p.client_id)
        .bind(&p.options_json)
        .bind(to_json(&p.state)?)
        .bind(p.origin.as_deref())
        .bind(p.created_at)
        .bind(p.expire_at)
        .bind(&p.user_id)
        .bind(i64::from(max_passkeys))
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(StoreError::QuotaExceeded);
        }
        Ok(())
    }

    async fn take_pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>> {
        let row = sqlx::query(
            "DELETE FROM pending_passkeys WHERE id = $1 AND user_id = $2 \
             RETURNING id, user_id, client_id, options_json, state, origin, created_at, expire_at",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(pending_from).transpose()
    }

    async fn insert_passkey(&self, p: &Passkey, max_passkeys: u32) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Lock the owner first (a row lock on PostgreSQL, the write lock on SQLite), so that
        // concurrent registrations of one user count one after the other: under READ
        // COMMITTED the conditional insert alone lets two both see room.
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(&p.user_id)
            .execute(&mut *tx)
            .await?;
        let result = sqlx::query(concat!(
            "INSERT INTO passkeys (",
            passkey_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 \
             WHERE (SELECT COUNT(*) FROM passkeys WHERE user_id = $13) < $14"
        ))
        .bind(&p.id)
        .bind(&p.user_id)
        .bind(p.credential_id.as_slice())
        .bind(&p.name)
        .bind(p.aaguid.map(|a| a.as_bytes().to_vec()))
        .bind(to_json(&p.credential)?)
        .bind(i64::from(p.sign_count))
        .bind(b(p.backup_eligible))
        .bind(b(p.backup_state))
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.last_used_at)
        .bind(&p.user_id)
        .bind(i64::from(max_passkeys))
        .execute(&mut *tx)
        .await;
        match result {
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("passkey")),
            Err(e) => Err(e.into()),
            Ok(r) if r.rows_affected() == 0 => Err(StoreError::QuotaExceeded),
            Ok(_) => {
                tx.commit().await?;
                Ok(())
            }
        }
    }

    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str, now: Millis) -> StoreResult<Option<Passkey>> {
        let row = sqlx::query(concat!("UPDATE passkeys SET name = $1, updated_at = $2 WHERE id = $3 AND user_id = $4 RETURNING ", passkey_columns!()))
        .bind(name)
        .bind(now)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(passkey_from).transpose()
    }

    async fn delete_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let verified = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if verified.rows_affected() > 0 {
            return Ok(true);
        }
        let pending = sqlx::query("DELETE FROM pending_passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(pending.rows_affected() > 0)
    }

    async fn create_sign_in(&self, s: &SignIn) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let ch = s.challenge.as_ref();
        sqlx::query(concat!("INSERT INTO sign_ins (", sign_in_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"))
        .bind(&s.id)
        .bind(&s.client_id)
        .bind(s.status.as_str())
        .bind(s.identifier.as_deref())
        .bind(s.user_id.as_deref())
        .bind(ch.map(|c| c.status.as_str()))
        .bind(ch.map(|c| c.options_json.clone()))
        .bind(ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?)
        .bind(ch.and_then(|c| c.origin.clone()))
        .bind(i64::from(ch.map_or(0, |c| c.attempts)))
        .bind(ch.map(|c| c.expire_at))
        .bind(ch.and_then(|c| c.error_code.clone()))
        .bind(s.created_session_id.as_deref())
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.abandon_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE clients SET sign_in_id = $1, updated_at = $2 WHERE id = $3")
            .bind(&s.id)
            .bind(s.created_at)
            .bind(&s.client_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in(&self, client_id: &str, id: &str) -> StoreResult<Option<SignIn>> {
        let row = sqlx::query(concat!("SELECT ", sign_in_columns!(), " FROM sign_ins WHERE id = $1 AND client_id = $2"))
            .bind(id)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(sign_in_from).transpose()
    }

    async fn save_sign_in_challenge(&self, s: &SignIn) -> StoreResult<()> {
        let ch = s.challenge.as_ref();
        sqlx::query(
            "UPDATE sign_ins SET status = $1, ch_status = $2, ch_options = $3, ch_state = $4, ch_origin = $5, \
             ch_attempts = 0, ch_expire_at = $6, ch_error = NULL, updated_at = $7 \
             WHERE id = $8 AND client_id = $9 AND status <> 'complete'",
        )
        .bind(s.status.as_str())
        .bind(ch.map(|c| c.status.as_str()))
        .bind(ch.map(|c| c.options_json.clone()))
        .bind(ch.and_then(|c| c.state.as_ref()).map(to_json).transpose()?)
        .bind(ch.and_then(|c| c.origin.clone()))
        .bind(ch.map(|c| c.expire_at))
        .bind(s.updated_at)
        .bind(&s.id)
        .bind(&s.client_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_sign_in_challenge(&self, client_id: &str, id: &str, now: Millis) -> StoreResult<Option<TakenChallenge>> {
        let row = sqlx::query(
            // The first attempt flips ch_attempts from 0 to 1; RETURNING yields the (unchanged)
            // state to that attempt only. Any later attempt matches no row.
            "UPDATE sign_ins SET ch_attempts = ch_attempts + 1, updated_at = $1 \
             WHERE id = $2 AND client_id = $3 AND ch_attempts = 0 AND ch_state IS NOT NULL AND status = 'needs_first_factor' \
             RETURNING ch_state, ch_origin, ch_expire_at",
        )
        .bind(now)
        .bind(id)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("ch_state")?;
        Ok(Some(TakenChallenge {
            state: serde_json::from_str(&state).map_err(corrupt("authentication state"))?,
            origin: row.try_get("ch_origin")?,
            expire_at: opt_i64(&row, "ch_expire_at")?.unwrap_or(0),
        }))
    }

    async fn fail_sign_in(&self, id: &str, status: &str, error_code: &str, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE sign_ins SET ch_status = $1, ch_error = $2, ch_state = NULL, updated_at = $3 WHERE id = $4")
            .bind(status)
            .bind(error_code)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn complete_sign_in(&self, c: &SignInCompletion) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        // Write first, so SQLite takes its write lock at once rather than upgrading later.
        let closed = sqlx::query(
            "UPDATE sign_ins SET status = 'complete', ch_status = 'verified', ch_state = NULL, user_id = $1, created_session_id = $2, updated_at = $3 \
             WHERE id = $4 AND status = 'needs_first_factor'",
        )
        .bind(&c.session.user_id)
        .bind(&c.session.id)
        .bind(c.now)
        .bind(&c.sign_in_id)
        .execute(&mut *tx)
        .await?;
        if closed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let counted = sqlx::query(
            "UPDATE passkeys SET credential = $1, sign_count = $2, backup_eligible = $3, backup_state = $4, last_used_at = $5, updated_at = $6 \
             WHERE id = $7 AND sign_count = $8",
        )
        .bind(to_json(&c.updated_credential)?)
        .bind(i64::from(c.updated_credential.counter))
        .bind(b(c.updated_credential.backup_eligible))
        .bind(b(c.updated_credential.backup_state))
        .bind(c.now)
        .bind(c.now)
        .bind(&c.passkey_id)
        .bind(i64::from(c.previous_sign_count))
        .execute(&mut *tx)
        .await?;
        if counted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_session(&mut *tx, &c.session).await?;
        sqlx::query("UPDATE clients SET last_active_session_id = $1, updated_at = $2 WHERE id = $3")
            .bind(&c.session.id)
            .bind(c.now)
            .bind(&c.session.client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE users SET last_sign_in_at = $1, updated_at = $2 WHERE id = $3")
            .bind(c.now)
            .bind(c.now)
            .bind(&c.session.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn sessions_of_client(&self, client_id: &str) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE client_id = $1 AND status IN ('active', 'pending') ORDER BY created_at, id"))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from).collect()
    }

    async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(concat!("SELECT ", session_columns!(), " FROM sessions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from).transpose()
    }

    async fn touch_session(&self, id: &str, now: Millis) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_active_at = $1, updated_at = $2 WHERE id = $3")
            .bind(now)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn end_session(&self, client_id: &str, id: &str, status: SessionStatus, now: Millis) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE sessions SET status = $1, updated_at = $2 WHERE id = $3 AND client_id = $4 AND status IN ('active', 'pending')",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE clients SET last_active_session_id = NULL, sign_in_id = NULL, sign_up_id = NULL, updated_at = $1 \
             WHERE id = $2 AND last_active_session_id = $3",
        )
        .bind(now)
        .bind(client_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ended.rows_affected() > 0)
    }

    async fn end_client_sessions(&self, client_id: &str, status: SessionStatus, now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE sessions SET status = $1, updated_at = $2 WHERE client_id = $3 AND status IN ('active', 'pending')",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE clients SET last_active_session_id = NULL, sign_in_id = NULL, sign_up_id = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query("SELECT kid, private_pkcs8, public_raw, created_at FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredSigningKey {
                    kid: row.try_get("kid")?,
                    private_pkcs8: row.try_get("private_pkcs8")?,
                    public_raw: row.try_get("public_raw")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn init_signing_key(&self, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, private_pkcs8, public_raw, created_at) \
             SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        )
        .bind(&key.kid)
        .bind(key.private_pkcs8.as_slice())
        .bind(key.public_raw.as_slice())
        .bind(key.created_at)
        .execute(&self.pool)
        .await?;
        self.signing_keys().await
    }

    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, user_agent, error_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(e.at)
        .bind(&e.event)
        .bind(&e.outcome)
        .bind(e.user_id.as_deref())
        .bind(e.session_id.as_deref())
        .bind(e.passkey_id.as_deref())
        .bind(e.client_id.as_deref())
        .bind(e.client_ip.as_deref())
        .bind(e.user_agent.as_deref())
        .bind(e.error_code.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        // Absent filters bind as NULL and match everything.
        let rows = sqlx::query(
            "SELECT id, at, event, outcome, user_id, session_id, passkey_id, client_id, client_ip, user_agent, error_code \
             FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $2) AND ($3 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $6) \
             ORDER BY at DESC, id DESC LIMIT $7",
        )
        .bind(q.user_id.as_deref())
        .bind(q.user_id.as_deref())
        .bind(q.since)
        .bind(q.since)
        .bind(q.until)
        .bind(q.until)
        .bind(i64::from(q.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEvent {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    event: row.try_get("event")?,
                    outcome: row.try_get("outcome")?,
                    user_id: row.try_get("user_id")?,
                    session_id: row.try_get("session_id")?,
                    passkey_id: row.try_get("passkey_id")?,
                    client_id: row.try_get("client_id")?,
                    client_ip: row.try_get("client_ip")?,
                    user_agent: row.try_get("user_agent")?,
                    error_code: row.try_get("error_code")?,
                })
            })
            .collect()
    }

    async fn hit_rate_limit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.window_start = $3 THEN rate_limits.hits + 1 ELSE 1 END, \
               window_start = $4 \
             RETURNING hits",
        )
        .bind(key)
        .bind(window_start)
        .bind(window_start)
        .bind(window_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(row.try_get::<i64, _>("hits")?).unwrap_or(0))
    }

    async fn hit_rate_limits(&self, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]> {
        let rows = sqlx::query(
            "INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1), ($3, $4, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END, \
               window_start = excluded.window_start \
             RETURNING key, hits",
        )
        .bind(keys[0])
        .bind(window_start)
        .bind(keys[1])
        .bind(window_start)
        .fetch_all(&self.pool)
        .await?;
        let mut hits = [0u64; 2];
        for row in rows {
            let key: String = row.try_get("key")?;
            let count = u64::try_from(row.try_get::<i64, _>("hits")?).unwrap_or(0);
            for (slot, wanted) in hits.iter_mut().zip(keys) {
                if key == wanted {
                    *slot = count;
                }
            }
        }
        Ok(hits)
    }

    async fn purge_expired(&self, now: Millis) -> StoreResult<u64> {
        let pending = sqlx::query("DELETE FROM pending_passkeys WHERE expire_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let sign_ins = sqlx::query("DELETE FROM sign_ins WHERE abandon_at < $1 AND status <> 'complete'")
            .bind(now)
            .execute(&self.pool)
            .await?;
        // Rate-limit windows are at most an hour long.
        let windows = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(now - 2 * 3600 * 1000)
            .execute(&self.pool)
            .await?;
        Ok(pending.rows_affected() + sign_ins.rows_affected() + windows.rows_affected())
    }
}
