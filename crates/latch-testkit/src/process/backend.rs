//! Which database the black-box suite runs Latch on: the embedded SQLite (default) or
//! PostgreSQL when `LATCH_TEST_BACKEND=postgres`. One harness, both backends: every test
//! file runs unchanged on either, and `scripts/test-all.sh` runs the suite once per backend.
//!
//! On PostgreSQL each `LatchProcess` gets a database of its own (created from the URL in
//! `LATCH_TEST_POSTGRES_URL`, whose role may create databases) so that tests with the same
//! usernames never meet. A misconfigured PostgreSQL run fails loudly; it is never skipped.

use std::process::Command;

pub enum TestDatabase {
    Sqlite,
    Postgres { url: String, admin_url: String, name: String },
    /// Another process's database, used but not owned (several nodes on one database).
    Shared(String),
}

pub fn postgres_selected() -> bool {
    std::env::var("LATCH_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

impl TestDatabase {
    pub fn create() -> Self {
        if !postgres_selected() {
            return TestDatabase::Sqlite;
        }
        let admin_url = std::env::var("LATCH_TEST_POSTGRES_URL")
            .expect("LATCH_TEST_BACKEND=postgres needs LATCH_TEST_POSTGRES_URL (scripts/test-all.sh sets it)");
        let name = fresh_database_name();
        let url = create_database(&admin_url, &name);
        TestDatabase::Postgres { url, admin_url, name }
    }

    /// The URL another node can open this database with.
    pub fn shareable_url(&self, data_dir: &std::path::Path) -> String {
        match self {
            TestDatabase::Sqlite => format!("sqlite://{}", data_dir.join("latch.db").display()),
            TestDatabase::Postgres { url, .. } | TestDatabase::Shared(url) => url.clone(),
        }
    }

    /// Flags for `latch serve`.
    pub fn args(&self) -> Vec<String> {
        match self {
            TestDatabase::Sqlite => Vec::new(),
            TestDatabase::Postgres { url, .. } | TestDatabase::Shared(url) => vec!["--database-url".into(), url.clone()],
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name, .. } = self {
            let _ = psql(admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

fn fresh_database_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("latch_t_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

/// Creates `name` beside the database of `admin_url`; returns a URL for it.
pub fn create_database(admin_url: &str, name: &str) -> String {
    psql(admin_url, &format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let mut url = url::Url::parse(admin_url).expect("LATCH_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("psql did not run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
