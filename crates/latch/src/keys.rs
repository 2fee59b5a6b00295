//! `latch keys` and `latch sign-in-token`: the operator's keys and recovery tickets, on the
//! database the server uses (same configuration flags and `LATCH_*` variables as `serve`).
//!
//! - `latch keys publishable`: the `pk_live_…` for Latch's public URL (`--issuer`).
//! - `latch keys create [--label L]`: a new secret key `sk_live_…`, shown once.
//! - `latch keys list` / `latch keys revoke ID`.
//! - `latch keys jwt-key`: the PEM of the session-token key (`CLERK_JWT_KEY`, RS256 only).
//! - `latch keys rotate-signing`: a new session-token key; the old one stays published
//!   until its tokens expire, and running servers switch within a minute.
//! - `latch sign-in-token --user ID|USERNAME`: a ticket and the URL that redeems it.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use latch_flows::backend::{keys, sign_in_tokens};
use latch_flows::{Latch, Requester, TokenSigner, tokens};
use latch_server::now_ms;

use crate::config::ServeArgs;
use crate::serve::open_store;

#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// Each subcommand takes `serve`'s flags, to find the same database and public URL.
#[derive(Debug, Clone, Args)]
pub struct On {
    #[command(flatten)]
    pub server: ServeArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Print the publishable key (pk_live_…) for Latch's public URL.
    Publishable(On),
    /// Create a secret key (sk_live_…) for an app's server; it is shown only now.
    Create {
        /// A name to tell the key apart in `latch keys list`.
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        on: On,
    },
    /// List secret keys (never the keys themselves).
    List(On),
    /// Revoke a secret key by its id (ak_…).
    Revoke {
        id: String,
        #[command(flatten)]
        on: On,
    },
    /// Print the PEM of the session-token key, for CLERK_JWT_KEY (RS256 only).
    JwtKey(On),
    /// Add a new session-token signing key; the old one is retired but stays in the JWKS
    /// until tokens it signed have expired.
    RotateSigning(On),
}

impl KeysCommand {
    fn server(&self) -> &ServeArgs {
        match self {
            KeysCommand::Publishable(on) | KeysCommand::List(on) | KeysCommand::JwtKey(on) | KeysCommand::RotateSigning(on) => {
                &on.server
            }
            KeysCommand::Create { on, .. } | KeysCommand::Revoke { on, .. } => &on.server,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SignInTokenArgs {
    /// The user, by id (user_…) or username.
    #[arg(long)]
    pub user: String,
    /// Seconds the ticket stays valid (default: 30 days).
    #[arg(long)]
    pub expires_in_seconds: Option<i64>,
    #[command(flatten)]
    pub server: ServeArgs,
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let resolved = args.command.server().resolve()?;
    let store = migrated_store(&resolved).await?;
    let now = now_ms();
    match args.command {
        KeysCommand::Publishable(_) => {
            let settings = resolved.settings_for_port.for_port(resolved.port)?;
            let issuer = resolved.issuer_for(&settings, resolved.port)?;
            let host = keys::public_host(&issuer).with_context(|| format!("the issuer {issuer:?} names no host"))?;
            println!("{}", latch_core::backend::publishable_key(&host));
            if let Some(why) = latch_core::backend::publishable_host_refused_by_sdks(&host) {
                eprintln!("warning: {why} (the issuer is {issuer})");
            }
        }
        KeysCommand::Create { label, .. } => {
            let (record, key) = keys::create(store.as_ref(), &label, now).await.map_err(refusal)?;
            eprintln!("secret key {} created; it is shown only now:", record.id);
            println!("{key}");
        }
        KeysCommand::List(_) => {
            for k in keys::list(store.as_ref()).await.map_err(refusal)? {
                let state = match k.revoked_at {
                    Some(at) => format!("revoked {}", crate::audit::format_time(at)),
                    None => "live".to_string(),
                };
                println!("{}  sk_live_…{}  {:<12} created {}  {}", k.id, k.hint, state, crate::audit::format_time(k.created_at), k.label);
            }
        }
        KeysCommand::Revoke { id, .. } => {
            keys::revoke(store.as_ref(), &id, now).await.map_err(refusal)?;
            println!("secret key {id} revoked");
        }
        KeysCommand::JwtKey(_) => {
            let signer = TokenSigner::load_or_create(store.as_ref(), resolved.token_algorithm, token_ttl(&resolved), now).await?;
            match signer.public_key_pem() {
                Some(pem) => print!("{pem}"),
                None => bail!("session tokens are signed with {}; CLERK_JWT_KEY needs RS256", signer.algorithm().as_str()),
            }
        }
        KeysCommand::RotateSigning(_) => {
            let kid = tokens::rotate(store.as_ref(), resolved.token_algorithm, now).await?;
            println!("new {} signing key {kid}; servers sign with it within a minute", resolved.token_algorithm.as_str());
        }
    }
    Ok(())
}

pub async fn sign_in_token(args: SignInTokenArgs) -> anyhow::Result<()> {
    let resolved = args.server.resolve()?;
    let store = migrated_store(&resolved).await?;
    let now = now_ms();
    let settings = resolved.settings_for_port.for_port(resolved.port)?;
    let tokens = TokenSigner::load_or_create(store.as_ref(), resolved.token_algorithm, settings.token_ttl, now).await?;
    let issuer = resolved.issuer_for(&settings, resolved.port)?;
    let latch = Latch::new(settings, store.clone(), tokens, issuer);
    let user_id = if args.user.starts_with("user_") {
        args.user.clone()
    } else {
        store.user_by_username(&args.user).await?.map(|u| u.id).with_context(|| format!("no user named {:?}", args.user))?
    };
    let operator = Requester { user_agent: Some("latch-cli".into()), ..Requester::default() };
    let issued = sign_in_tokens::create(&latch, &operator, &user_id, args.expires_in_seconds, now).await.map_err(refusal)?;
    eprintln!("sign-in token {} for {user_id}; it signs in once, until {}:", issued.token.id, crate::audit::format_time(issued.token.expire_at));
    match &issued.url {
        Some(url) => println!("{url}"),
        None => {
            eprintln!("the account portal is off: open your app's sign-in page with ?__clerk_ticket=<this ticket>");
            println!("{}", issued.ticket);
        }
    }
    Ok(())
}

fn token_ttl(resolved: &crate::config::Resolved) -> std::time::Duration {
    resolved.settings_for_port.settings.token_ttl
}

/// The store, its schema brought up to date first: an operator may create the first secret
/// key before the server ever started.
pub(crate) async fn migrated_store(resolved: &crate::config::Resolved) -> anyhow::Result<std::sync::Arc<dyn latch_store::Store>> {
    latch_store::migrate(&resolved.database_url).await.context("cannot migrate the database")?;
    open_store(resolved).await
}

/// A refusal as an operator reads it: the cause of an internal fault included.
pub(crate) fn refusal(r: latch_flows::Refusal) -> anyhow::Error {
    match &r {
        latch_flows::Refusal::Internal(cause) => anyhow::anyhow!("{cause}"),
        other => anyhow::anyhow!("{}", other.clerk().long_message),
    }
}
