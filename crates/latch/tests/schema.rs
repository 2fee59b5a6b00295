//! Schema handling (issue 5): `latch migrate` applies migrations alone, and `latch serve`
//! refuses a database whose schema is newer than it understands. Runs on both backends.

use std::process::Command;

use latch_store::{SCHEMA_VERSION, Schema};
use latch_testkit::process::*;

fn latch(args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latch"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("LATCH_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("run latch")
}

#[tokio::test]
async fn migrate_alone_then_serve_refuses_a_newer_schema() {
    // A server made the database; stop it, so the schema can be moved "into the future".
    let mut server = LatchProcess::start();
    let url = server.database.shareable_url(server.data_dir());
    let keep = server.database_handle_for_test();
    drop(server);

    let out = latch(&["migrate", "--database-url", &url]);
    assert!(out.status.success(), "latch migrate: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("schema version {SCHEMA_VERSION}")),
        "latch migrate reports the version: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let store = Schema::connect(&url).await.expect("open the test database");
    let future = SCHEMA_VERSION + 1;
    let insert = if store.is_sqlite() {
        format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({future}, 'from a newer latch', 1, x'00', 0)")
    } else {
        format!("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ({future}, 'from a newer latch', TRUE, '\\x00'::bytea, 0)")
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(insert)).execute(store.pool()).await.expect("insert a future migration");
    store.pool().close().await;

    let out = latch(&["serve", "--port", "0", "--database-url", &url]);
    assert!(!out.status.success(), "serve must refuse a newer schema");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("schema is at version {future}")) && stderr.contains("upgrade Latch"),
        "the refusal says what is wrong and what to do: {stderr}"
    );
    drop(keep);
}
