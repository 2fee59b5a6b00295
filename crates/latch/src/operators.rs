//! `latch operators`: who may use the admin console (docs/protocol.md §17). On the database
//! the server uses (same flags as `serve`); a running server reads the role on every console
//! request, so a grant or a revocation takes effect at the operator's next call.
//!
//! - `latch operators grant USERNAME`: the user becomes an operator (audited).
//! - `latch operators revoke USERNAME`: no longer (audited).
//! - `latch operators list`: the operators, oldest grant first.

use clap::{Args, Subcommand};
use latch_flows::backend::operators;
use latch_server::now_ms;

use crate::keys::{On, migrated_store, refusal};

#[derive(Debug, Clone, Args)]
pub struct OperatorsArgs {
    #[command(subcommand)]
    pub command: OperatorsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OperatorsCommand {
    /// Grant the operator role to a user (by username).
    Grant {
        username: String,
        #[command(flatten)]
        on: On,
    },
    /// Revoke it.
    Revoke {
        username: String,
        #[command(flatten)]
        on: On,
    },
    /// List the operators.
    List(On),
}

pub async fn run(args: OperatorsArgs) -> anyhow::Result<()> {
    let on = match &args.command {
        OperatorsCommand::Grant { on, .. } | OperatorsCommand::Revoke { on, .. } | OperatorsCommand::List(on) => on,
    };
    let resolved = on.server.resolve()?;
    let store = migrated_store(&resolved).await?;
    let now = now_ms();
    match args.command {
        OperatorsCommand::Grant { username, .. } => {
            let operator = operators::grant(store.as_ref(), &username, now).await.map_err(refusal)?;
            println!("{} ({}) is an operator", operator.user.username, operator.user.id);
        }
        OperatorsCommand::Revoke { username, .. } => {
            operators::revoke(store.as_ref(), &username, now).await.map_err(refusal)?;
            println!("{username} is no longer an operator");
        }
        OperatorsCommand::List(_) => {
            for o in operators::list(store.as_ref()).await.map_err(refusal)? {
                println!("{}  {}  granted {}", o.user.id, o.user.username, crate::audit::format_time(o.granted_at));
            }
        }
    }
    Ok(())
}
