//! What every handler shares: the Latch instance its flows run on.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use latch_core::model::Millis;
use latch_core::settings::InstanceSettings;
use latch_flows::backend::keys;
use latch_flows::{Latch, TokenSigner};
use latch_store::Store;

use crate::operations::Metrics;

#[derive(Clone)]
pub struct AppState {
    latch: Arc<Latch>,
    /// Clerk's suffix for this instance's cookies (`__client_uat_<suffix>`), from the
    /// publishable key; None when the issuer names no host (no publishable key either).
    cookie_suffix: Option<Arc<str>>,
    /// The Prometheus recorder, when metrics are on (docs/protocol.md §19).
    metrics: Option<Metrics>,
    /// Whether the main listener serves `/metrics` too (else only the operations listener).
    metrics_on_main: bool,
}

impl AppState {
    pub fn new(settings: InstanceSettings, store: Arc<dyn Store>, tokens: TokenSigner, issuer: String) -> Self {
        let latch = Latch::new(settings, store, tokens, issuer);
        let cookie_suffix = keys::publishable_key(&latch).map(|pk| Arc::from(keys::cookie_suffix(&pk)));
        AppState { latch: Arc::new(latch), cookie_suffix, metrics: None, metrics_on_main: false }
    }

    /// Serves `metrics` at `/metrics` of the operations router, and of the main router too
    /// when `on_main`.
    pub fn with_metrics(mut self, metrics: Metrics, on_main: bool) -> Self {
        self.metrics = Some(metrics);
        self.metrics_on_main = on_main;
        self
    }

    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    pub(crate) fn metrics_on_main(&self) -> bool {
        self.metrics_on_main && self.metrics.is_some()
    }

    /// The instance, for background tasks (the webhook dispatcher).
    pub fn latch(&self) -> Arc<Latch> {
        self.latch.clone()
    }

    pub fn cookie_suffix(&self) -> Option<Arc<str>> {
        self.cookie_suffix.clone()
    }
}

impl Deref for AppState {
    type Target = Latch;

    fn deref(&self) -> &Latch {
        &self.latch
    }
}

/// The wall clock, in FAPI's unit: read once per request, by the handler, and passed in.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
