//! Schema handling (issue 5): `latch migrate` applies migrations alone, and `latch serve`
//! refuses a database whose schema is newer than it understands. Runs on both backends.

use std::process::Command;

use latch_store::{SCHEMA_VERSION, Schema};
use latch_testkit::fapi::*;
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

/// Migration 0012 (issue 15, finding 10) on a database that already holds users from before
/// usernames were stored in lower case: a mixed-case name is lowered when no other account has
/// it in some case; a group of such names is left as it is, a lookup by name never picks one of
/// them by case, and no new account may join the group.
#[tokio::test]
async fn migration_0012_lowers_old_usernames_unless_they_collide() {
    let mut server = LatchProcess::start();
    let url = server.database.shareable_url(server.data_dir());
    // Back to the schema before 0012, with rows as an older Latch wrote them.
    let schema = Schema::connect(&url).await.expect("open the test database");
    let handle = |n: u8| if schema.is_sqlite() { format!("x'{:032x}'", n) } else { format!("'\\x{:032x}'::bytea", n) };
    let mut setup = vec![
        // 0015 (the session's authenticator attachment) first, being newest.
        "DELETE FROM _sqlx_migrations WHERE version = 15".to_string(),
        "ALTER TABLE sessions DROP COLUMN authenticator_attachment".to_string(),
        // 0014 (passkey PRF) next.
        "DELETE FROM _sqlx_migrations WHERE version = 14".to_string(),
        "ALTER TABLE passkeys DROP COLUMN prf_enabled".to_string(),
        // 0013 (operators) next.
        "DELETE FROM _sqlx_migrations WHERE version = 13".to_string(),
        "DROP TABLE operators".to_string(),
        "DROP INDEX audit_events_by_event".to_string(),
        "ALTER TABLE audit_events DROP COLUMN operator_id".to_string(),
        "DELETE FROM _sqlx_migrations WHERE version = 12".to_string(),
        "DROP INDEX users_by_lower_username".to_string(),
        "DROP INDEX sign_in_tokens_by_update".to_string(),
        "ALTER TABLE audit_events DROP COLUMN secret_key_id".to_string(),
    ];
    for (n, (id, name)) in
        [("user_alice", "Alice"), ("user_bob1", "Bob"), ("user_bob2", "BOB"), ("user_carol", "carol"), ("user_dave1", "dave"), ("user_dave2", "Dave")]
            .into_iter()
            .enumerate()
    {
        setup.push(format!(
            "INSERT INTO users (id, username, webauthn_handle, created_at, updated_at) VALUES ('{id}', '{name}', {}, 1, 1)",
            handle(n as u8 + 1)
        ));
    }
    for sql in setup {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(schema.pool()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(schema.schema_version().await.unwrap(), 11, "the database is back before 0012");

    let out = server.command(&["migrate"]);
    assert!(out.status.success(), "latch migrate: {}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<(String, String)> = sqlx::query_as("SELECT id, username FROM users ORDER BY id")
        .fetch_all(schema.pool())
        .await
        .unwrap();
    let name_of = |id: &str| names.iter().find(|(i, _)| i == id).map(|(_, n)| n.as_str());
    assert_eq!(name_of("user_alice"), Some("alice"), "alone in its case: lowered");
    assert_eq!((name_of("user_bob1"), name_of("user_bob2")), (Some("Bob"), Some("BOB")), "a colliding group stays");
    assert_eq!(name_of("user_carol"), Some("carol"));
    assert_eq!((name_of("user_dave1"), name_of("user_dave2")), (Some("dave"), Some("Dave")), "the lower-case one keeps its name");
    schema.pool().close().await;
    server.restart();

    // Through the API: a lookup is by the one lower-case spelling, whatever the case typed.
    let fapi = Fapi::new(&server);
    let sign_in = |identifier: &'static str| {
        let fapi = fapi.clone();
        async move { fapi.post("/client/sign_ins", &[("identifier", identifier)]).await }
    };
    assert_eq!(sign_in("ALICE").await.ok().resp()["identifier"], "alice");
    assert_eq!(sign_in("DAVE").await.ok().resp()["identifier"], "dave", "the lower-case account, never Dave");
    sign_in("bob").await.assert_error(422, "form_identifier_not_found");
    // No new account joins a group in another case.
    fapi.sign_up("bob").await.assert_error(422, "form_identifier_exists");
    fapi.sign_up("Alice").await.assert_error(422, "form_identifier_exists");
    drop(server);
}
