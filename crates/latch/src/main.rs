//! `latch`: self-hosted passkey authentication.
//!
//! `latch serve` runs the server; `latch migrate` prepares a database without serving.

mod audit;
mod backup;
mod config;
mod keys;
mod operators;
mod serve;
mod webhooks;

use clap::{Parser, Subcommand};

/// See Cargo.toml: the server allocates many small, short-lived values per request.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "latch", version, about = "Self-hosted passkey authentication that speaks Clerk's Frontend API")]
struct Cli {
    /// How log lines are written to stderr: text (for people) or json (one object per line,
    /// for log collectors).
    #[arg(long, global = true, env = "LATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (SQLite in ./.latch and development settings unless told otherwise).
    Serve(config::ServeArgs),
    /// Apply database migrations and exit.
    Migrate(config::ServeArgs),
    /// Read the audit trail (newest first).
    Audit(audit::AuditArgs),
    /// The publishable key, secret keys (create, list, revoke) and the session-token key.
    Keys(keys::KeysArgs),
    /// Issue a sign-in token (a one-time sign-in URL) for a user: the recovery path.
    SignInToken(keys::SignInTokenArgs),
    /// Webhook endpoints (add, list, remove) and their deliveries (list, replay).
    Webhooks(webhooks::WebhooksArgs),
    /// Who may use the admin console: grant, revoke, list operators.
    Operators(operators::OperatorsArgs),
    /// Copy the SQLite database to a file, while the server serves (PostgreSQL: pg_dump).
    Backup(backup::BackupArgs),
    /// Replace the SQLite database by a backup (the server stopped; the old one is kept).
    Restore(backup::RestoreArgs),
    /// Print the Backend API's OpenAPI 3.1 document (what `GET /bapi/v1/openapi.json` serves).
    Openapi,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes, without a backtrace: these are messages for operators.
            match log_format_of_this_run() {
                // Every stderr line stays one JSON object for the log collector.
                LogFormat::Json => tracing::error!(error = %format!("{e:#}"), "latch stopped with an error"),
                LogFormat::Text => eprintln!("latch: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

fn log_format_of_this_run() -> LogFormat {
    LOG_FORMAT.get().copied().unwrap_or(LogFormat::Text)
}

/// Logs to stderr, filtered by `LATCH_LOG` (default `info,sqlx=warn`), as text or as one JSON
/// object per line (`timestamp`, `level`, `message`, the event's other fields, `target`).
fn init_logs(format: LogFormat) {
    let _ = LOG_FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_env("LATCH_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    // A log line that cannot be written (stderr closed: a pipe whose reader went away) is
    // dropped. The default would report that on stderr with `eprintln!`, which panics on the
    // same broken pipe, in whatever task was logging: the signal task's panic left SIGTERM
    // unanswered, and a request's panic drops its connection.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(false).init(),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Audit(args) => audit::run(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::SignInToken(args) => keys::sign_in_token(args).await,
            Command::Webhooks(args) => webhooks::run(args).await,
            Command::Operators(args) => operators::run(args).await,
            Command::Backup(args) => backup::backup(args),
            Command::Restore(args) => backup::restore(args).await,
            Command::Openapi => {
                println!("{}", latch_server::backend_api_openapi_json());
                Ok(())
            }
        }
    })
}
