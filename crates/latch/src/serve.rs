//! Starting Latch: storage, signing key, HTTP listener.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use latch_server::{AppState, ConnectionLimits, TokenSigner, now_ms};
use latch_store::Store;

use crate::config::{Resolved, ServeArgs};

/// The store for the configured database, whose schema must not be newer than this build.
pub async fn open_store(resolved: &Resolved) -> anyhow::Result<Arc<dyn Store>> {
    latch_store::open_with_pool(&resolved.database_url, resolved.database_pool_size)
        .await
        .with_context(|| format!("cannot open the database {}", redact(&resolved.database_url)))
}

pub async fn migrate(args: ServeArgs) -> anyhow::Result<()> {
    let resolved = args.resolve()?;
    let version = latch_store::migrate(&resolved.database_url)
        .await
        .with_context(|| format!("cannot migrate the database {}", redact(&resolved.database_url)))?;
    println!("database {} is at schema version {version}", redact(&resolved.database_url));
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let resolved = args.resolve()?;
    latch_store::migrate(&resolved.database_url)
        .await
        .with_context(|| format!("cannot migrate the database {}", redact(&resolved.database_url)))?;
    let store = open_store(&resolved).await?;

    let listener = tokio::net::TcpListener::bind((resolved.bind.as_str(), resolved.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", resolved.bind, resolved.port))?;
    let addr = listener.local_addr()?;
    let settings = resolved.settings_for_port.for_port(addr.port())?;
    let issuer = resolved.issuer_for(&settings, addr.port())?;
    let tokens =
        TokenSigner::load_or_create(store.as_ref(), resolved.token_algorithm, settings.token_ttl, now_ms()).await?;

    tracing::info!(
        rp_id = %settings.rp_id,
        origins = ?settings.origins.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        related_origins = ?settings.related_origins.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        dev_mode = settings.dev_mode,
        "starting"
    );
    match latch_flows::backend::keys::public_host(&issuer) {
        Some(host) => {
            tracing::info!(
                publishable_key = %latch_core::backend::publishable_key(&host),
                backend_api = %format!("{}/bapi", issuer.trim_end_matches('/')),
                "the app's keys: NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY=publishable_key, CLERK_API_URL=backend_api, CLERK_SECRET_KEY from `latch keys create`"
            );
            if let Some(why) = latch_core::backend::publishable_host_refused_by_sdks(&host) {
                tracing::warn!(%issuer, "{why}");
            }
        }
        None => tracing::warn!(%issuer, "the issuer names no host: no publishable key"),
    }
    let state = AppState::new(settings, store.clone(), tokens.clone(), issuer);
    spawn_purger(store, tokens, resolved.purge, resolved.purge_interval);
    latch_server::webhooks::spawn(state.latch(), resolved.webhooks.clone())
        .map_err(|e| anyhow::anyhow!("cannot start the webhook dispatcher: {e}"))?;

    // Tests and scripts wait for this exact line.
    println!("latch listening on http://{addr}");
    let limits = ConnectionLimits { max_connections: resolved.max_connections, idle_timeout: resolved.idle_timeout };
    latch_server::serve(listener, state, limits, shutdown_signal()).await?;
    Ok(())
}

/// What is over (ceremonies, abandoned sign-ins, and after a grace period ended sessions,
/// sign-ups, dead clients, old audit lines) is deleted in the background, so the database of
/// a steady workload stops growing; and the signing keys are reread (a rotation elsewhere
/// reaches this node within a minute).
fn spawn_purger(store: Arc<dyn Store>, tokens: TokenSigner, policy: latch_store::PurgePolicy, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = store.purge_expired(now_ms(), &policy).await {
                tracing::warn!(error = %e, "purging expired ceremonies failed");
            }
            if let Err(e) = tokens.refresh(store.as_ref()).await {
                tracing::warn!(error = %e, "rereading the signing keys failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
