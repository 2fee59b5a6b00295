//! The operator's counters of what users did (docs/protocol.md §19): every ceremony that
//! finishes, by kind and outcome, and every rate-limit refusal, by limit.
//!
//! An outcome is `ok` or the Clerk error code of the refusal, read from the one table
//! ([`Refusal::clerk`]), so a dashboard shows the same codes clients see. Labels come from
//! closed sets (the kinds below, the table's codes, the limits' names): never a user id,
//! username, credential id, IP or anything else a request chooses. Recording goes through
//! the `metrics` facade: a no-op until `latch serve` installs its recorder.

use crate::refusal::FlowResult;
#[cfg(doc)]
use crate::refusal::Refusal;

/// The ceremonies counted in `latch_ceremonies_total`, each at the flow that finishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    /// A sign-up (`POST /client/sign_ups`).
    SignUp,
    /// A passkey sign-in's attempt (`attempt_first_factor`).
    SignIn,
    /// A sign-in with a ticket (a sign-in token).
    Ticket,
    /// A new passkey's verification (`attempt_verification`).
    PasskeyRegistration,
    /// A session's reverification attempt.
    Reverification,
}

impl Ceremony {
    pub fn label(self) -> &'static str {
        match self {
            Ceremony::SignUp => "sign_up",
            Ceremony::SignIn => "sign_in",
            Ceremony::Ticket => "ticket",
            Ceremony::PasskeyRegistration => "passkey_registration",
            Ceremony::Reverification => "reverification",
        }
    }
}

/// Counts `outcome` under `kind` and hands it back unchanged.
pub(crate) fn ceremony<T>(kind: Ceremony, outcome: FlowResult<T>) -> FlowResult<T> {
    let result = match &outcome {
        Ok(_) => "ok",
        Err(refusal) => refusal.clerk().code,
    };
    metrics::counter!("latch_ceremonies_total", "kind" => kind.label(), "outcome" => result).increment(1);
    outcome
}

/// Counts a refusal by the rate limit `limit` (a fixed name such as `sign_in:ip`).
pub(crate) fn rate_limited(limit: &'static str) {
    metrics::counter!("latch_rate_limit_refusals_total", "limit" => limit).increment(1);
}

