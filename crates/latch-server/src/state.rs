//! What every handler shares: settings, the relying party, storage and the token signer.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use latch_core::ceremony::RelyingParty;
use latch_core::model::Millis;
use latch_core::settings::InstanceSettings;
use latch_store::Store;

use crate::tokens::TokenSigner;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub settings: InstanceSettings,
    pub rp: RelyingParty,
    pub store: Arc<dyn Store>,
    pub tokens: TokenSigner,
    /// The issuer of session tokens: Latch's own public URL.
    pub issuer: String,
}

impl AppState {
    pub fn new(settings: InstanceSettings, store: Arc<dyn Store>, tokens: TokenSigner, issuer: String) -> Self {
        let rp = settings.relying_party();
        AppState { inner: Arc::new(Inner { settings, rp, store, tokens, issuer }) }
    }

    pub fn settings(&self) -> &InstanceSettings {
        &self.inner.settings
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn rp(&self) -> &RelyingParty {
        &self.inner.rp
    }
}

/// The wall clock, in FAPI's unit.
pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn ms(d: std::time::Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
