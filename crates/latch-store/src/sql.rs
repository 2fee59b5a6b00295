//! The [`Store`] on SQL: SQLite (embedded default) and PostgreSQL, through sqlx's `Any`
//! driver so that one set of queries serves both. The dialects differ only in their DDL
//! (`migrations/sqlite`, `migrations/postgres`); queries stick to the common subset
//! (`$n` parameters, `RETURNING`, `ON CONFLICT DO NOTHING`) and to i64/text/bytes values.

use std::time::Duration;

use async_trait::async_trait;
use latch_core::model::{
    Client, Millis, Passkey, PendingPasskey, Session, SessionStatus, SignIn, SignInCompletion, SignInFailure, SignUp, User,
};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};

use crate::queries as q;
use crate::rows::{self, Columns, to_json};
use crate::{AuditEvent, AuditQuery, NewClient, Store, StoreError, StoreResult, StoredSigningKey};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 4;

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

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

async fn insert_session<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(exec: E, s: &Session) -> StoreResult<()> {
    sqlx::query(q::INSERT_SESSION)
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

async fn replace_other_sessions<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(
    exec: E,
    newest: &Session,
    now: Millis,
) -> StoreResult<()> {
    sqlx::query(q::REPLACE_OTHER_SESSIONS).bind(now).bind(&newest.client_id).bind(&newest.id).execute(exec).await?;
    Ok(())
}

async fn insert_client<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(exec: E, new: NewClient<'_>) -> StoreResult<()> {
    sqlx::query(q::INSERT_CLIENT)
        .bind(&new.client.id)
        .bind(new.token_hash)
        .bind(new.client.created_at)
        .bind(new.client.updated_at)
        .bind(new.client.last_active_session_id.as_deref())
        .execute(exec)
        .await?;
    Ok(())
}

async fn insert_audit<'c, E: sqlx::Executor<'c, Database = sqlx::Any>>(exec: E, e: &AuditEvent) -> StoreResult<()> {
    sqlx::query(q::INSERT_AUDIT_EVENT)
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
        .execute(exec)
        .await?;
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    async fn client_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<Client>> {
        let row = sqlx::query(q::CLIENT_BY_TOKEN).bind(token_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::client).transpose()
    }

    async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query(q::CLIENT_BY_ID).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::client).transpose()
    }

    async fn client_attempts(&self, client_id: &str) -> StoreResult<(Option<String>, Option<String>)> {
        let row = sqlx::query(q::CLIENT_ATTEMPTS).bind(client_id).fetch_optional(&self.pool).await?;
        match row {
            Some(row) => Ok((row.opt_text("sign_in_id")?, row.opt_text("sign_up_id")?)),
            None => Ok((None, None)),
        }
    }

    async fn sign_up(
        &self,
        new_client: Option<NewClient<'_>>,
        user: &User,
        sign_up: &SignUp,
        session: &Session,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(new) = new_client {
            insert_client(&mut *tx, new).await?;
        }
        let inserted = sqlx::query(q::INSERT_USER)
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
        sqlx::query(q::INSERT_SIGN_UP)
            .bind(&sign_up.id)
            .bind(&sign_up.client_id)
            .bind(&sign_up.username)
            .bind(&sign_up.created_user_id)
            .bind(&sign_up.created_session_id)
            .bind(sign_up.created_at)
            .execute(&mut *tx)
            .await?;
        insert_session(&mut *tx, session).await?;
        sqlx::query(q::CLIENT_SIGNED_UP)
            .bind(&session.id)
            .bind(&sign_up.id)
            .bind(session.created_at)
            .bind(&session.client_id)
            .execute(&mut *tx)
            .await?;
        replace_other_sessions(&mut *tx, session, session.created_at).await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(q::USER_BY_ID).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(q::USER_BY_USERNAME).bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn sign_up_record(&self, client_id: &str, id: &str) -> StoreResult<Option<SignUp>> {
        let row = sqlx::query(q::SIGN_UP_BY_ID).bind(id).bind(client_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::sign_up).transpose()
    }

    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<Passkey>> {
        let found = sqlx::query(q::PASSKEYS_OF_USER).bind(user_id).fetch_all(&self.pool).await?;
        found.iter().map(rows::passkey).collect()
    }

    async fn passkey_by_credential_id(&self, credential_id: &[u8]) -> StoreResult<Option<Passkey>> {
        let row = sqlx::query(q::PASSKEY_BY_CREDENTIAL_ID).bind(credential_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::passkey).transpose()
    }

    async fn create_pending_passkey(&self, p: &PendingPasskey, max_passkeys: u32) -> StoreResult<()> {
        let result = sqlx::query(q::INSERT_PENDING_PASSKEY_UNDER_QUOTA)
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

    async fn pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<Option<PendingPasskey>> {
        let row = sqlx::query(q::PENDING_PASSKEY_BY_ID).bind(id).bind(user_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::pending_passkey).transpose()
    }

    async fn spend_pending_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let spent = sqlx::query(q::DELETE_PENDING_PASSKEY).bind(id).bind(user_id).execute(&self.pool).await?;
        Ok(spent.rows_affected() == 1)
    }

    async fn save_verified_passkey(&self, p: &Passkey, max_passkeys: u32, audit: &AuditEvent) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(q::LOCK_USER).bind(&p.user_id).execute(&mut *tx).await?;
        let spent = sqlx::query(q::DELETE_PENDING_PASSKEY).bind(&p.id).bind(&p.user_id).execute(&mut *tx).await?;
        if spent.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let result = sqlx::query(q::INSERT_PASSKEY_UNDER_QUOTA)
            .bind(&p.id)
            .bind(&p.user_id)
            .bind(p.credential_id.as_slice())
            .bind(&p.name)
            .bind(p.aaguid.map(|a| a.as_bytes().to_vec()))
            .bind(to_json(&p.credential)?)
            .bind(i64::from(p.sign_count))
            .bind(i64::from(p.backup_eligible))
            .bind(i64::from(p.backup_state))
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
                insert_audit(&mut *tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }
        }
    }

    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str, now: Millis) -> StoreResult<Option<Passkey>> {
        let row = sqlx::query(q::RENAME_PASSKEY)
            .bind(name)
            .bind(now)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::passkey).transpose()
    }

    async fn delete_passkey(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let verified = sqlx::query(q::DELETE_PASSKEY).bind(id).bind(user_id).execute(&self.pool).await?;
        if verified.rows_affected() > 0 {
            return Ok(true);
        }
        let pending = sqlx::query(q::DELETE_PENDING_PASSKEY).bind(id).bind(user_id).execute(&self.pool).await?;
        Ok(pending.rows_affected() > 0)
    }

    async fn create_sign_in(&self, new_client: Option<NewClient<'_>>, s: &SignIn) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(new) = new_client {
            insert_client(&mut *tx, new).await?;
        }
        let ch = s.challenge.as_ref();
        sqlx::query(q::INSERT_SIGN_IN)
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
        sqlx::query(q::CLIENT_SIGN_IN).bind(&s.id).bind(s.created_at).bind(&s.client_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in(&self, client_id: &str, id: &str) -> StoreResult<Option<SignIn>> {
        let row = sqlx::query(q::SIGN_IN_BY_ID).bind(id).bind(client_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::sign_in).transpose()
    }

    async fn save_sign_in_challenge(&self, s: &SignIn) -> StoreResult<()> {
        let ch = s.challenge.as_ref();
        sqlx::query(q::SAVE_SIGN_IN_CHALLENGE)
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

    async fn fail_sign_in(&self, f: &SignInFailure<'_>) -> StoreResult<bool> {
        let failed = sqlx::query(q::FAIL_SIGN_IN)
            .bind(f.status.as_str())
            .bind(f.error_code)
            .bind(f.now)
            .bind(f.sign_in_id)
            .bind(f.client_id)
            .bind(f.challenge_options)
            .execute(&self.pool)
            .await?;
        Ok(failed.rows_affected() == 1)
    }

    async fn complete_sign_in(&self, c: &SignInCompletion, audit: &AuditEvent) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let closed = sqlx::query(q::CLOSE_SIGN_IN)
            .bind(&c.session.user_id)
            .bind(&c.session.id)
            .bind(c.now)
            .bind(&c.sign_in_id)
            .bind(&c.session.client_id)
            .bind(&c.challenge_options)
            .execute(&mut *tx)
            .await?;
        if closed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let counted = sqlx::query(q::COUNT_PASSKEY_USE)
            .bind(to_json(&c.updated_credential)?)
            .bind(i64::from(c.updated_credential.counter))
            .bind(i64::from(c.updated_credential.backup_eligible))
            .bind(i64::from(c.updated_credential.backup_state))
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
        sqlx::query(q::SET_ACTIVE_SESSION)
            .bind(&c.session.id)
            .bind(c.now)
            .bind(&c.session.client_id)
            .execute(&mut *tx)
            .await?;
        replace_other_sessions(&mut *tx, &c.session, c.now).await?;
        sqlx::query(q::USER_SIGNED_IN).bind(c.now).bind(c.now).bind(&c.session.user_id).execute(&mut *tx).await?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn sessions_of_client(&self, client_id: &str) -> StoreResult<Vec<Session>> {
        let found = sqlx::query(q::LIVE_SESSIONS_OF_CLIENT).bind(client_id).fetch_all(&self.pool).await?;
        found.iter().map(rows::session).collect()
    }

    async fn session(&self, id: &str) -> StoreResult<Option<Session>> {
        let row = sqlx::query(q::SESSION_BY_ID).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn touch_session(&self, client_id: &str, id: &str, now: Millis) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(q::TOUCH_SESSION).bind(now).bind(now).bind(id).execute(&mut *tx).await?;
        sqlx::query(q::SET_ACTIVE_SESSION).bind(id).bind(now).bind(client_id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_session(&self, client_id: &str, id: &str, status: SessionStatus, now: Millis) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(q::END_SESSION)
            .bind(status.as_str())
            .bind(now)
            .bind(id)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(q::CLIENT_SIGNED_OUT_OF).bind(now).bind(client_id).bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(ended.rows_affected() > 0)
    }

    async fn end_client_sessions(
        &self,
        client_id: &str,
        status: SessionStatus,
        now: Millis,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<Vec<Session>> {
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(q::END_CLIENT_SESSIONS)
            .bind(status.as_str())
            .bind(now)
            .bind(client_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(rows::session)
            .collect::<StoreResult<Vec<_>>>()?;
        sqlx::query(q::CLIENT_SIGNED_OUT).bind(now).bind(client_id).execute(&mut *tx).await?;
        if let Some(template) = audit {
            for session in &ended {
                insert_audit(&mut *tx, &template.for_session(session)).await?;
            }
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let found = sqlx::query(q::SIGNING_KEYS).fetch_all(&self.pool).await?;
        found.iter().map(rows::signing_key).collect()
    }

    async fn init_signing_key(&self, key: &StoredSigningKey) -> StoreResult<Vec<StoredSigningKey>> {
        sqlx::query(q::INSERT_FIRST_SIGNING_KEY)
            .bind(&key.kid)
            .bind(key.private_pkcs8.as_slice())
            .bind(key.public_raw.as_slice())
            .bind(key.created_at)
            .execute(&self.pool)
            .await?;
        self.signing_keys().await
    }

    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        insert_audit(&self.pool, e).await
    }

    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let found = sqlx::query(q::AUDIT_EVENTS)
            .bind(query.user_id.as_deref())
            .bind(query.user_id.as_deref())
            .bind(query.since)
            .bind(query.since)
            .bind(query.until)
            .bind(query.until)
            .bind(i64::from(query.limit.max(1)))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::audit_event).collect()
    }

    async fn hit_rate_limit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        let row = sqlx::query(q::HIT_RATE_LIMIT)
            .bind(key)
            .bind(window_start)
            .bind(window_start)
            .bind(window_start)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.int("hits")?).unwrap_or(0))
    }

    async fn hit_rate_limits(&self, keys: [&str; 2], window_start: Millis) -> StoreResult<[u64; 2]> {
        let found = sqlx::query(q::HIT_RATE_LIMITS)
            .bind(keys[0])
            .bind(window_start)
            .bind(keys[1])
            .bind(window_start)
            .fetch_all(&self.pool)
            .await?;
        let mut counted = Vec::with_capacity(2);
        for row in &found {
            counted.push((row.text("key")?, row.int("hits")?));
        }
        Ok(crate::hits_in_order(keys, &counted))
    }

    async fn purge_expired(&self, now: Millis) -> StoreResult<u64> {
        let pending = sqlx::query(q::PURGE_PENDING_PASSKEYS).bind(crate::purgeable_pending_before(now)).execute(&self.pool).await?;
        let sign_ins = sqlx::query(q::PURGE_SIGN_INS).bind(now).execute(&self.pool).await?;
        let windows = sqlx::query(q::PURGE_RATE_LIMITS).bind(crate::oldest_rate_limit_window(now)).execute(&self.pool).await?;
        Ok(pending.rows_affected() + sign_ins.rows_affected() + windows.rows_affected())
    }
}
