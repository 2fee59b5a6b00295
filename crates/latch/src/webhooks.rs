//! `latch webhooks`: the endpoints Latch POSTs events to, and what became of the deliveries
//! (docs/protocol.md §15). On the database the server uses (same flags as `serve`); running
//! servers notice a new endpoint at their next poll (a second by default).
//!
//! - `latch webhooks add URL [--events a,b]`: a new endpoint; prints its `whsec_` secret,
//!   once (the app's CLERK_WEBHOOK_SIGNING_SECRET).
//! - `latch webhooks list`: the endpoints (never their secrets).
//! - `latch webhooks deliveries [--pending|--failed]`: the newest deliveries.
//! - `latch webhooks replay ID`: a delivery (`msg_…:whe_…`) or every delivery of an event
//!   (`msg_…`) is sent again, with the same msg id and body.
//! - `latch webhooks remove ID`: deletes an endpoint and its deliveries.

use clap::{Args, Subcommand};
use latch_flows::{Latch, Requester, TokenSigner, webhooks};
use latch_server::now_ms;

use crate::config::ServeArgs;
use crate::keys::{On, migrated_store, refusal};

#[derive(Debug, Clone, Args)]
pub struct WebhooksArgs {
    #[command(subcommand)]
    pub command: WebhooksCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; its signing secret (whsec_…) is shown only now.
    Add {
        url: String,
        /// The event types it receives, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        #[command(flatten)]
        on: On,
    },
    /// List the endpoints.
    List(On),
    /// List the newest deliveries.
    Deliveries {
        /// Only those still to be delivered.
        #[arg(long, conflicts_with = "failed")]
        pending: bool,
        /// Only those that ran out of attempts.
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        on: On,
    },
    /// Send a delivery (msg_…:whe_…) or every delivery of an event (msg_…) again.
    Replay {
        id: String,
        #[command(flatten)]
        on: On,
    },
    /// Remove an endpoint (whe_…) and its deliveries.
    Remove {
        id: String,
        #[command(flatten)]
        on: On,
    },
}

impl WebhooksCommand {
    fn server(&self) -> &ServeArgs {
        match self {
            WebhooksCommand::List(on) => &on.server,
            WebhooksCommand::Add { on, .. }
            | WebhooksCommand::Deliveries { on, .. }
            | WebhooksCommand::Replay { on, .. }
            | WebhooksCommand::Remove { on, .. } => &on.server,
        }
    }
}

pub async fn run(args: WebhooksArgs) -> anyhow::Result<()> {
    let resolved = args.command.server().resolve()?;
    let store = migrated_store(&resolved).await?;
    let now = now_ms();
    let settings = resolved.settings_for_port.for_port(resolved.port)?;
    let tokens = TokenSigner::load_or_create(store.as_ref(), resolved.token_algorithm, settings.token_ttl, now).await?;
    let issuer = resolved.issuer_for(&settings, resolved.port)?;
    let latch = Latch::new(settings, store.clone(), tokens, issuer);
    let operator = Requester { user_agent: Some("latch-cli".into()), ..Requester::default() };
    match args.command {
        WebhooksCommand::Add { url, events, .. } => {
            let events: Vec<String> = events.into_iter().map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect();
            let endpoint = webhooks::add_endpoint(&latch, &operator, &url, &events, now).await.map_err(refusal)?;
            eprintln!("webhook endpoint {} added for {}; its signing secret is shown only now:", endpoint.id, describe_types(&endpoint.event_types));
            println!("{}", endpoint.secret);
        }
        WebhooksCommand::List(_) => {
            for e in store.webhook_endpoints().await? {
                let state = if e.enabled { "enabled" } else { "disabled" };
                println!("{}  {}  {}  {}  created {}", e.id, state, e.url, describe_types(&e.event_types), crate::audit::format_time(e.created_at));
            }
        }
        WebhooksCommand::Deliveries { pending, failed, limit, .. } => {
            let status = if pending {
                Some("pending")
            } else if failed {
                Some("failed")
            } else {
                None
            };
            for d in store.webhook_deliveries(status, limit.clamp(1, 1000)).await? {
                let when = match d.status.as_str() {
                    "pending" => format!("next {}", crate::audit::format_time(d.next_attempt_at)),
                    _ => crate::audit::format_time(d.updated_at),
                };
                let error = d.last_error.as_deref().unwrap_or("");
                println!("{}  {}  {:<9}  attempts {}  {}  {}", d.id, d.event_type, d.status, d.attempts, when, error);
            }
        }
        WebhooksCommand::Replay { id, .. } => {
            let n = webhooks::replay(&latch, &operator, &id, now).await.map_err(refusal)?;
            println!("{n} deliver{} of {id} queued again", if n == 1 { "y" } else { "ies" });
        }
        WebhooksCommand::Remove { id, .. } => {
            webhooks::remove_endpoint(&latch, &operator, &id, now).await.map_err(refusal)?;
            println!("webhook endpoint {id} removed");
        }
    }
    Ok(())
}

fn describe_types(types: &Option<Vec<String>>) -> String {
    match types {
        None => "all events".to_string(),
        Some(types) => types.join(","),
    }
}
