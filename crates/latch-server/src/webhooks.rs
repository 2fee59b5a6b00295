//! The webhook dispatcher: a background task on every node that drains the outbox the flows
//! write (docs/protocol.md §15).
//!
//! Each poll it rereads whether any endpoint is enabled (so flows on this node build events
//! only then), claims due deliveries with a lease (a conditional write in the store: two
//! nodes never send the same attempt at once), POSTs each, signed, and records the outcome:
//! a 2xx is delivered; anything else is retried on Svix's schedule, then failed. Everything
//! it knows is in the database, so a restart (or another node) picks up where it stopped;
//! a node that dies mid-attempt leaves its claim to expire and the attempt is made again:
//! delivery is at least once, and every attempt carries the event's one `msg_…` id.

use std::sync::Arc;
use std::time::Duration;

use latch_core::model::Millis;
use latch_flows::Latch;
use latch_flows::webhooks::{check_endpoint_url, next_attempt_at};
use latch_store::{ClaimedDelivery, DeliveryOutcome};

use crate::lifecycle::Stopping;
use crate::now_ms;

/// How the dispatcher runs; `latch serve` sets it from its flags.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// How often it looks for due deliveries (and rereads whether endpoints exist).
    pub poll: Duration,
    /// What one second of Svix's retry schedule lasts, in ms (1000; tests shrink it).
    pub retry_unit_ms: Millis,
    /// How long one POST may take, connection included.
    pub timeout: Duration,
    /// A production instance POSTs to https endpoints only.
    pub production: bool,
    /// Deliveries claimed per poll.
    pub batch: u32,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig { poll: Duration::from_secs(1), retry_unit_ms: 1000, timeout: Duration::from_secs(15), production: false, batch: 32 }
    }
}

/// Starts the dispatcher on the current runtime. Once `stopping` is set it finishes the round
/// it is in (each POST is bounded by the timeout) and the task returns.
pub fn spawn(latch: Arc<Latch>, config: DispatchConfig, mut stopping: Stopping) -> Result<tokio::task::JoinHandle<()>, String> {
    let client = reqwest::Client::builder()
        // A redirect would send a signed event somewhere the operator did not choose.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .user_agent(concat!("Latch-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(tokio::spawn(async move {
        while !stopping.is_set() {
            let claimed_full_batch = match poll_once(&latch, &client, &config).await {
                Ok(n) => n >= config.batch as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook dispatch failed; retrying at the next poll");
                    false
                }
            };
            if !claimed_full_batch {
                tokio::select! {
                    _ = tokio::time::sleep(config.poll) => {}
                    _ = stopping.wait() => {}
                }
            }
        }
    }))
}

/// One round: refresh the switch, claim what is due, send it all concurrently, record each
/// outcome. Returns how many deliveries it claimed.
async fn poll_once(latch: &Latch, client: &reqwest::Client, config: &DispatchConfig) -> Result<usize, latch_store::StoreError> {
    let store = latch.store();
    let enabled = store.webhooks_enabled().await?;
    latch.webhooks().set(enabled);
    let now = now_ms();
    // The lease outlives the longest attempt, so a claim lapses only if its node stopped.
    let lease_until = now + latch_flows::ms(config.timeout) + 30_000;
    let claimed = store.claim_webhook_deliveries(now, lease_until, config.batch).await?;
    let count = claimed.len();
    let attempts = claimed.into_iter().map(|delivery| async move {
        let outcome = attempt(client, config, &delivery).await;
        if let Err(e) = store.finish_webhook_delivery(&delivery.id, &outcome, now_ms()).await {
            // The claim lapses and the attempt is made again: at least once.
            tracing::warn!(error = %e, delivery = %delivery.id, "recording a webhook attempt failed");
        }
    });
    futures_util::future::join_all(attempts).await;
    Ok(count)
}

/// One POST of a delivery, and what it came to.
async fn attempt(client: &reqwest::Client, config: &DispatchConfig, delivery: &ClaimedDelivery) -> DeliveryOutcome {
    let result = send(client, config, delivery).await;
    let attempts_made = delivery.attempts + 1;
    let outcome = match result {
        Ok(()) => DeliveryOutcome::Delivered,
        Err(why) => {
            tracing::info!(delivery = %delivery.id, attempt = attempts_made, %why, "webhook not delivered");
            match next_attempt_at(attempts_made, now_ms(), config.retry_unit_ms) {
                Some(at) => DeliveryOutcome::RetryAt(at, why),
                None => DeliveryOutcome::Failed(why),
            }
        }
    };
    let counted = match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::RetryAt(..) => "retry",
        DeliveryOutcome::Failed(_) => "failed",
    };
    metrics::counter!("latch_webhook_attempts_total", "outcome" => counted).increment(1);
    outcome
}

async fn send(client: &reqwest::Client, config: &DispatchConfig, d: &ClaimedDelivery) -> Result<(), String> {
    let url = check_endpoint_url(&d.url, config.production)?;
    let timestamp = now_ms() / 1000;
    let signer = standardwebhooks::Webhook::new(&d.secret).map_err(|e| format!("the endpoint's secret is unusable: {e}"))?;
    let signature = signer.sign(&d.event_id, timestamp, d.payload.as_bytes()).map_err(|e| format!("cannot sign: {e}"))?;
    let timestamp = timestamp.to_string();
    let response = client
        .post(url)
        .header("content-type", "application/json")
        // Clerk's verifyWebhook reads the svix-* names; Standard Webhooks libraries the
        // webhook-* ones. Same values, same scheme.
        .header("svix-id", &d.event_id)
        .header("svix-timestamp", &timestamp)
        .header("svix-signature", &signature)
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", &timestamp)
        .header("webhook-signature", &signature)
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// A transport failure, briefly (the endpoint's URL is already in the listing).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}
