//! Latency histograms per step and error counts per FAPI code, one [`Recorder`] per worker,
//! merged at the end of a phase.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// What is timed. HTTP steps are one request each (request written → whole body read);
/// `ceremony` is a whole sign-in or registration; `authenticator` is the generator's own
/// client-side work (parse options, ES256 sign or key generation, encode the credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    SignUp,
    PasskeyCreate,
    PasskeyAttempt,
    SignInCreate,
    SignInAttempt,
    Touch,
    Token,
    SignOut,
    Ceremony,
    Authenticator,
}

pub const STEPS: [Step; 10] = [
    Step::SignUp,
    Step::PasskeyCreate,
    Step::PasskeyAttempt,
    Step::SignInCreate,
    Step::SignInAttempt,
    Step::Touch,
    Step::Token,
    Step::SignOut,
    Step::Ceremony,
    Step::Authenticator,
];

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::SignUp => "sign_up",
            Step::PasskeyCreate => "passkey_create",
            Step::PasskeyAttempt => "passkey_attempt_verification",
            Step::SignInCreate => "sign_in_create",
            Step::SignInAttempt => "sign_in_attempt_first_factor",
            Step::Touch => "session_touch",
            Step::Token => "session_token",
            Step::SignOut => "sign_out",
            Step::Ceremony => "ceremony",
            Step::Authenticator => "authenticator (client side)",
        }
    }

    fn index(self) -> usize {
        STEPS.iter().position(|s| *s == self).expect("listed")
    }
}

/// One worker's measurements.
pub struct Recorder {
    hists: Vec<Histogram<u64>>,
    pub errors: BTreeMap<String, u64>,
    /// First message seen per error key, to show the operator what went wrong.
    pub error_samples: BTreeMap<String, String>,
    pub completed: u64,
}

fn new_hist() -> Histogram<u64> {
    // Microseconds, 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            hists: STEPS.iter().map(|_| new_hist()).collect(),
            errors: BTreeMap::new(),
            error_samples: BTreeMap::new(),
            completed: 0,
        }
    }
}

impl Recorder {
    pub fn record(&mut self, step: Step, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        self.hists[step.index()].saturating_record(us);
    }

    pub fn error(&mut self, key: &str, detail: &str) {
        *self.errors.entry(key.to_string()).or_default() += 1;
        self.error_samples.entry(key.to_string()).or_insert_with(|| detail.chars().take(300).collect());
    }

    pub fn merge(&mut self, other: &Recorder) {
        for (a, b) in self.hists.iter_mut().zip(&other.hists) {
            a.add(b).expect("same bounds");
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += n;
        }
        for (k, v) in &other.error_samples {
            self.error_samples.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.completed += other.completed;
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Summaries of the steps that were recorded at least once, in [`STEPS`] order.
    pub fn summaries(&self) -> Vec<(Step, Summary)> {
        STEPS
            .iter()
            .zip(&self.hists)
            .filter(|(_, h)| !h.is_empty())
            .map(|(s, h)| (*s, Summary::of(h)))
            .collect()
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Summary {
            count: h.len(),
            mean_ms: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}
