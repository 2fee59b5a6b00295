//! Starting Latch: storage, signing key, HTTP listeners (the main one, and the operations
//! listener when configured); and stopping it cleanly on SIGTERM or ctrl-c.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use latch_server::operations::Metrics;
use latch_server::{AppState, ConnectionLimits, Shutdown, Stopping, TokenSigner, now_ms};
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
    if let Some(metadata) = resolved.authenticator_metadata.clone() {
        let count = metadata.len();
        latch_core::aaguid::install_operator_metadata(metadata).map_err(anyhow::Error::msg)?;
        tracing::info!(authenticators = count, "authenticator metadata from --authenticator-metadata in front of the built-in set");
    }
    let ops = resolved.operations.clone();
    // Before the store opens, so that its first transactions are timed too.
    let metrics = if ops.metrics_on() { Some(Metrics::install().map_err(anyhow::Error::msg)?) } else { None };
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
    if !settings.allowed_aaguids.is_empty() {
        tracing::info!(
            allowed_aaguids = ?settings.allowed_aaguids.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "new passkeys only from these authenticator models (self-reported AAGUIDs, docs/protocol.md §22.3)"
        );
    }
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
    let production = !settings.dev_mode;
    let mut state = AppState::new(settings, store.clone(), tokens.clone(), issuer);
    if let Some(metrics) = metrics {
        state = state.with_metrics(metrics, ops.metrics_on_main);
    }
    tracing::info!("{}", ops.describe_metrics(production));
    let operations_listener = match ops.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at).await.with_context(|| format!("cannot listen for metrics on {at} (--metrics-listen)"))?,
        ),
        None => None,
    };

    let shutdown = Arc::new(Shutdown::new());
    let purger = spawn_purger(store, tokens, resolved.purge, resolved.purge_interval, shutdown.watcher());
    let dispatcher = latch_server::webhooks::spawn(state.latch(), resolved.webhooks.clone(), shutdown.watcher())
        .map_err(|e| anyhow::anyhow!("cannot start the webhook dispatcher: {e}"))?;
    // Registered before the "listening" line: a SIGTERM from then on drains, never kills.
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch for SIGTERM")?;
    tokio::spawn(trigger_on_signal(shutdown.clone(), ops.drain_timeout, terminate));

    if let Some(listener) = &operations_listener {
        // Printed before the line tests wait for, so that it is there when they read it.
        println!("latch operations listening on http://{}", listener.local_addr()?);
    }
    // Tests and scripts wait for this exact line.
    println!("latch listening on http://{addr}");
    let limits = ConnectionLimits { max_connections: resolved.max_connections, idle_timeout: resolved.idle_timeout };
    let main = latch_server::serve(listener, state.clone(), limits, shutdown.watcher(), ops.drain_timeout);
    let operations = async {
        match operations_listener {
            Some(listener) => {
                latch_server::serve_operations(listener, state.clone(), limits, shutdown.watcher(), ops.drain_timeout).await
            }
            None => Ok(()),
        }
    };
    let served = tokio::try_join!(main, operations);
    // Whatever ended the listeners (a signal, or an error), the background tasks stop too.
    shutdown.trigger();
    served?;
    let background = async {
        let _ = dispatcher.await;
        let _ = purger.await;
    };
    if tokio::time::timeout(ops.drain_timeout, background).await.is_err() {
        tracing::warn!("the webhook dispatcher or the purge did not stop within the drain timeout");
    }
    tracing::info!("stopped");
    Ok(())
}

/// What is over (ceremonies, abandoned sign-ins, and after a grace period ended sessions,
/// sign-ups, dead clients, old audit lines) is deleted in the background, so the database of
/// a steady workload stops growing; and the signing keys are reread (a rotation elsewhere
/// reaches this node within a minute).
fn spawn_purger(
    store: Arc<dyn Store>,
    tokens: TokenSigner,
    policy: latch_store::PurgePolicy,
    every: Duration,
    mut stopping: Stopping,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopping.wait() => return,
            }
            if let Err(e) = store.purge_expired(now_ms(), &policy).await {
                tracing::warn!(error = %e, "purging expired ceremonies failed");
            }
            if let Err(e) = tokens.refresh(store.as_ref()).await {
                tracing::warn!(error = %e, "rereading the signing keys failed");
            }
        }
    })
}

/// On SIGTERM or ctrl-c: stop accepting, drain, stop the background tasks (see
/// `latch_server::lifecycle`), then `serve` returns and the process exits 0.
async fn trigger_on_signal(shutdown: Arc<Shutdown>, drain: Duration, mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    // Triggered before anything is logged: stopping must not depend on the log being writable.
    shutdown.trigger();
    tracing::info!(drain_timeout_secs = drain.as_secs(), "shutting down: no new connections; finishing requests in flight");
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
