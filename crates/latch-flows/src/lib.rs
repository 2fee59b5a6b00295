//! What a user can do with Latch: one flow per action, the layer between HTTP and the store.
//!
//! A flow takes the instance ([`Latch`]: its settings, relying party, store and token
//! signer), the [`Requester`](requester::Requester), the action's own inputs and `now`, and
//! returns a domain outcome ([`Answer`]) or a [`Refusal`]. It decides, in this order: who is
//! asking, whether the rate limits allow it, what the domain rules of `latch-core` say, what
//! the ceremony verdict is (`latch_core::ceremony`), and which single store call records the
//! outcome — with its audit line in the same transaction where the action has one. It knows
//! nothing of HTTP, cookies or JSON: the server crate extracts a request, calls one flow, and
//! renders what comes back.
//!
//! - [`sign_up`]: a username, a user, a first session.
//! - [`sign_in`]: start, prepare a new challenge, attempt with a passkey.
//! - [`passkeys`]: the signed-in user, and creating, verifying, renaming, deleting a passkey.
//! - [`sessions`]: the client, touch, token, remove one session, sign out.
//! - [`reverify`]: reverification (step-up) before passkeys change, and its passkey ceremony.
//! - [`view`]: the client as an answer shows it, tokens signed before rendering, and the one
//!   rule for `__client_uat`.
//! - [`handshake`]: the app's server learns the browser's sign-in state (nonce, payload).
//! - [`refusal`]: why Latch says no, and the one table of Clerk error codes.
//! - [`backend`]: the Backend API's actions (an app's server with a secret key) and the
//!   operator's keys.
//! - [`tokens`]: session JWTs (RS256 by default) and the JWKS.
//! - [`webhooks`]: the events a change reports (written with it), the operator's endpoints.
//! - [`observe`]: the operator's counters of finished ceremonies and rate-limit refusals.
//!
//! Invariant: a flow's `now` is the only clock; ids and expiry are derived from it.

pub mod audit;
pub mod backend;
pub mod handshake;
mod limits;
pub mod observe;
pub mod passkeys;
pub mod refusal;
pub mod requester;
pub mod reverify;
pub mod sessions;
pub mod sign_in;
pub mod sign_up;
pub mod tokens;
pub mod view;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use latch_core::ceremony::RelyingParty;
use latch_core::model::{Millis, SessionPolicy};
use latch_core::settings::InstanceSettings;
use latch_store::Store;

pub use refusal::{ClerkError, FlowResult, Refusal, UnknownCredential};
pub use requester::Requester;
pub use tokens::TokenSigner;
pub use view::{ClientView, LiveSession, ShownSession};

/// One Latch instance: what every flow needs besides its request.
pub struct Latch {
    settings: InstanceSettings,
    rp: RelyingParty,
    store: Arc<dyn Store>,
    tokens: TokenSigner,
    /// The issuer of session tokens: Latch's own public URL.
    issuer: String,
    /// Whether flows build webhook events (some endpoint is enabled).
    webhooks: webhooks::WebhookSwitch,
}

impl Latch {
    pub fn new(settings: InstanceSettings, store: Arc<dyn Store>, tokens: TokenSigner, issuer: String) -> Self {
        let rp = settings.relying_party();
        Latch { settings, rp, store, tokens, issuer, webhooks: webhooks::WebhookSwitch::default() }
    }

    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn rp(&self) -> &RelyingParty {
        &self.rp
    }

    /// Latch's public URL: session tokens' `iss`, the publishable key's host.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signer, for the JWKS it publishes.
    pub fn tokens(&self) -> &TokenSigner {
        &self.tokens
    }

    /// Whether flows build webhook events; the dispatcher keeps it current.
    pub fn webhooks(&self) -> &webhooks::WebhookSwitch {
        &self.webhooks
    }

    fn session_policy(&self) -> SessionPolicy<'_> {
        SessionPolicy {
            tasks: &self.settings.session_tasks,
            ttl: ms(self.settings.session_ttl),
            idle_timeout: self.settings.session_idle_timeout.map(ms),
        }
    }
}

/// What an action answers: its own result, the requester's client as it is afterwards,
/// and the token of a client this request created (to hand to the requester).
#[derive(Debug)]
pub struct Answer<T> {
    pub response: T,
    pub client: Option<ClientView>,
    pub new_client_token: Option<String>,
}

/// The answer of an action on `handle`'s client: its result and the client as it is now.
async fn answer<T>(
    latch: &Latch,
    requester: &Requester,
    handle: requester::ClientHandle,
    response: T,
    now: Millis,
) -> FlowResult<Answer<T>> {
    let client = latch.store().client_snapshot(&handle.client.id).await?;
    answer_with(latch, requester, handle, response, client, now)
}

/// [`answer`] after a write that read the client back itself ([`latch_store::Written`]).
fn answer_with<T>(
    latch: &Latch,
    requester: &Requester,
    handle: requester::ClientHandle,
    response: T,
    client: Option<latch_store::ClientSnapshot>,
    now: Millis,
) -> FlowResult<Answer<T>> {
    let client = view::view_of_snapshot(latch, client, requester.azp(latch), now)?;
    Ok(Answer { response, client, new_client_token: handle.new_token })
}

/// A duration in the unit FAPI and the store speak.
pub fn ms(d: Duration) -> Millis {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
