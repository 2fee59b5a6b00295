//! `latch backup` and `latch restore`: a copy of the SQLite database taken while the server
//! serves, and putting such a copy back.
//!
//! Backup: `VACUUM INTO`, one statement that reads the database in a single read transaction
//! (one consistent snapshot: every transaction committed before it began, none after) and
//! writes a compact, self-contained database file (no `-wal` beside it to forget). In WAL mode
//! the server's writes go on meanwhile and do not disturb it. (rusqlite's online-backup API
//! would do as well in one step; in steps it restarts whenever another process writes, which
//! a busy server always does.) The copy is written beside the destination, checked, synced,
//! then linked into place, which fails if the destination exists: a backup never overwrites.
//!
//! Restore: refuses while any Latch process has the database open (the in-use lock,
//! `latch_store::sqlite_in_use_path`), checks the file (SQLite's `integrity_check`, Latch's
//! tables, a schema not newer than this build; an older one is migrated), then swaps it in:
//! written and synced beside the database, the old one kept as
//! `latch.db.before-restore-<time>`, the new one renamed over it (atomic), the folder synced.
//! Any refusal leaves everything as it was.
//!
//! PostgreSQL has its own tools; the commands say which (see [`POSTGRES_BACKUPS`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::Args;
use rusqlite::{Connection, OpenFlags};

use crate::config::ServeArgs;

/// What to run instead on PostgreSQL (also in the README's "Backups").
pub const POSTGRES_BACKUPS: &str = "on PostgreSQL, use PostgreSQL's own tools: \
    `pg_dump --format=custom --file=latch.dump \"$LATCH_DATABASE_URL\"` takes a consistent copy while Latch serves; \
    to restore, stop Latch and run `pg_restore --clean --if-exists --no-owner --dbname=\"$LATCH_DATABASE_URL\" latch.dump`, \
    then start Latch (it migrates an older schema). For point-in-time recovery use base backups \
    (`pg_basebackup`) with WAL archiving (PostgreSQL manual, \"Backup and Restore\")";

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub server: ServeArgs,
    /// The backup file to write; it must not exist.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub server: ServeArgs,
    /// A file written by `latch backup`.
    #[arg(long)]
    pub from: PathBuf,
}

/// The SQLite file the configuration names, or the PostgreSQL advice.
fn sqlite_file(server: &ServeArgs, command: &str) -> anyhow::Result<PathBuf> {
    let url = server.resolve()?.database_url;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!("`latch {command}` works on SQLite only; {POSTGRES_BACKUPS}");
    }
    Ok(latch_store::sqlite_file(&url)?)
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let db = sqlite_file(&args.server, "backup")?;
    if !db.is_file() {
        bail!("there is no database at {}", db.display());
    }
    if args.out.exists() {
        bail!("{} already exists; a backup never overwrites a file", args.out.display());
    }
    let partial = beside(&args.out, &format!("partial-{}", std::process::id()))?;
    let result = write_backup(&db, &partial, &args.out);
    let _ = std::fs::remove_file(&partial);
    let version = result?;
    println!("backed up {} to {} (schema version {version})", db.display(), args.out.display());
    Ok(())
}

fn write_backup(db: &Path, partial: &Path, out: &Path) -> anyhow::Result<i64> {
    let _ = std::fs::remove_file(partial);
    {
        let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.busy_timeout(std::time::Duration::from_secs(30))?;
        let target = partial.to_str().ok_or_else(|| anyhow!("{} is not UTF-8", partial.display()))?;
        source.execute("VACUUM INTO ?1", [target]).with_context(|| format!("cannot copy {}", db.display()))?;
    }
    let version = check_latch_database(partial)?;
    File::open(partial)?.sync_all()?;
    // A hard link fails if `out` exists (created since the check above): never overwrite.
    std::fs::hard_link(partial, out).with_context(|| format!("cannot create {}", out.display()))?;
    sync_folder_of(out)?;
    Ok(version)
}

pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let db = sqlite_file(&args.server, "restore")?;
    let folder = folder_of(&db).to_path_buf();
    std::fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    if !args.from.is_file() {
        bail!("{} is not a file", args.from.display());
    }

    // Exclusive: no server or other command has the database open, and none can open it
    // until the restore is done (they take the same lock, shared).
    let lock_path = latch_store::sqlite_in_use_path(&db);
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is in use by a running Latch (a server or another command): stop it, then restore",
            db.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => return Err(e).context(format!("cannot lock {}", lock_path.display())),
    }

    let staging = beside(&db, &format!("restoring-{}", std::process::id()))?;
    let staged = stage(&args.from, &staging).await;
    let version = match staged {
        Ok(version) => version,
        Err(e) => {
            remove_with_journals(&staging);
            return Err(e);
        }
    };

    let swapped = swap_in(&staging, &db);
    if swapped.is_err() {
        remove_with_journals(&staging);
    }
    let kept = swapped?;
    drop(lock);
    println!("restored {} from {} (schema version {version})", db.display(), args.from.display());
    if let Some(kept) = kept {
        println!("the previous database is kept as {}", kept.display());
    }
    Ok(())
}

/// Puts the staged database in place of `db`, keeping the old one; returns where.
fn swap_in(staging: &Path, db: &Path) -> anyhow::Result<Option<PathBuf>> {
    let kept = if db.exists() {
        fold_wal_into(db)?;
        let kept = beside(db, &format!("before-restore-{}", file_time()))?;
        // A second name for the old database, then the new one renamed over the first: at every
        // moment `latch.db` is one whole database, the old or the new.
        std::fs::hard_link(db, &kept).with_context(|| format!("cannot keep the old database as {}", kept.display()))?;
        Some(kept)
    } else {
        None
    };
    std::fs::rename(staging, db).with_context(|| format!("cannot move the restored database to {}", db.display()))?;
    let _ = std::fs::remove_file(journal(db, "-shm"));
    sync_folder_of(db)?;
    Ok(kept)
}

/// Copies `from` to `staging`, checks it, migrates an older schema, and leaves it a single
/// synced file (no WAL). Returns its schema version.
async fn stage(from: &Path, staging: &Path) -> anyhow::Result<i64> {
    remove_with_journals(staging);
    std::fs::copy(from, staging).with_context(|| format!("cannot copy {}", from.display()))?;
    check_latch_database(staging).with_context(|| format!("{} cannot be restored", from.display()))?;
    let url = format!("sqlite://{}", staging.display());
    let version = latch_store::migrate(&url).await.with_context(|| format!("cannot migrate {}", from.display()))?;
    fold_wal_into(staging)?;
    File::open(staging)?.sync_all()?;
    Ok(version)
}

/// Refuses a file that is not a sound Latch database of a schema this build understands;
/// returns its schema version.
fn check_latch_database(path: &Path) -> anyhow::Result<i64> {
    let not_latch = || anyhow!("{} is not a Latch database", path.display());
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|_| not_latch())?;
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).map_err(|_| not_latch())?;
    if integrity != "ok" {
        bail!("{} fails SQLite's integrity check: {integrity}", path.display());
    }
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', 'users', 'passkeys', 'sessions')",
            [],
            |row| row.get(0),
        )
        .map_err(|_| not_latch())?;
    if tables != 4 {
        return Err(not_latch());
    }
    let version: i64 = conn
        .query_row("SELECT coalesce(max(version), 0) FROM _sqlx_migrations WHERE success", [], |row| row.get(0))
        .map_err(|_| not_latch())?;
    if version > latch_store::SCHEMA_VERSION {
        bail!(
            "{} has schema version {version}, newer than this Latch understands ({}); restore it with a newer Latch",
            path.display(),
            latch_store::SCHEMA_VERSION
        );
    }
    Ok(version)
}

/// Leaves the database one self-contained file: everything in its WAL copied in, the WAL
/// gone (nothing else has it open: the caller holds the in-use lock, or made the file).
fn fold_wal_into(db: &Path) -> anyhow::Result<()> {
    let conn = Connection::open(db).with_context(|| format!("cannot open {}", db.display()))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
    if mode != "delete" {
        bail!("cannot fold the WAL of {} into it (journal mode {mode})", db.display());
    }
    drop(conn);
    if journal(db, "-wal").exists() {
        bail!("{} still has a WAL beside it", db.display());
    }
    Ok(())
}

fn remove_with_journals(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal", "-inuse"] {
        let _ = std::fs::remove_file(journal(db, suffix));
    }
}

fn journal(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `FILE.<what>` in the same folder as `file` (so a rename stays on one file system).
fn beside(file: &Path, what: &str) -> anyhow::Result<PathBuf> {
    let name = file.file_name().ok_or_else(|| anyhow!("{} names no file", file.display()))?;
    let mut name = name.to_owned();
    name.push(format!(".{what}"));
    Ok(folder_of(file).join(name))
}

fn folder_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or link in the folder durable.
fn sync_folder_of(file: &Path) -> anyhow::Result<()> {
    File::open(folder_of(file))?.sync_all()?;
    Ok(())
}

/// Now, for a file name: `20261201T203000Z`.
fn file_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}
