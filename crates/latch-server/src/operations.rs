//! What an operator's tools ask of a running Latch (docs/protocol.md §19): whether it is
//! alive (`/healthz`), whether it can serve (`/readyz`), and its Prometheus metrics
//! (`/metrics`).
//!
//! - `/healthz` answers `ok` without any I/O: the process is up and its accept loop runs.
//! - `/readyz` answers 200 only when the database answers through the serving store and its
//!   schema is the one this build was written for; else 503 with a short reason (never the
//!   database's own error, which goes to the log).
//! - `/metrics` renders every series recorded through the `metrics` facade (ceremonies and
//!   rate limits in `latch_flows::observe`, store timings in latch-store, HTTP latency here,
//!   webhook attempts in the dispatcher), after reading the gauges of stored state (live
//!   sessions, webhook backlog) with one cheap statement.
//!
//! Where they are served is the binary's choice (`latch serve --metrics-listen`,
//! `--metrics-on-main`): [`router`] is what a separate operations listener serves, and the
//! main router adds `/metrics` when [`AppState::metrics_on_main`] says so.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::{AppState, now_ms};

/// How long `/readyz` and a scrape's gauges wait for the database.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// How often recorded samples are folded into the histograms (the recorder keeps raw
/// samples until then).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Request latencies: from a cached read (sub-millisecond) to the 30 s request timeout.
const HTTP_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Store transactions: an in-process SQLite read (tens of microseconds) to a stuck pool.
const STORE_BUCKETS: &[f64] = &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The Prometheus recorder of this process: what `/metrics` renders.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the process-wide recorder (once; before the store is opened, so that every
    /// series is recorded from the start) and the task that keeps its histograms folded.
    /// Must run inside the Tokio runtime.
    pub fn install() -> Result<Metrics, String> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full("latch_http_request_duration_seconds".into()), HTTP_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full("latch_store_transaction_duration_seconds".into()), STORE_BUCKETS))
            .and_then(|b| b.install_recorder())
            .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
        describe();
        let upkeep = handle.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        Ok(Metrics { handle })
    }

    fn render(&self) -> String {
        self.handle.render()
    }
}

/// The HELP lines of each series (the names and labels are the contract; §19 lists them).
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!("latch_ceremonies_total", "Finished ceremonies by kind and outcome (ok or the Clerk error code).");
    describe_counter!("latch_rate_limit_refusals_total", "Requests refused by a rate limit, by limit.");
    describe_histogram!(
        "latch_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by route template, method and status class."
    );
    describe_histogram!(
        "latch_store_transaction_duration_seconds",
        Unit::Seconds,
        "Store operation transaction time, by backend and read or write."
    );
    describe_counter!("latch_webhook_attempts_total", "Webhook POSTs by outcome: delivered, retry (failed, retried later) or failed (given up).");
    describe_gauge!("latch_live_sessions", "Sessions active or pending, not expired or idle past their timeout (read at scrape).");
    describe_gauge!("latch_webhook_backlog", "Webhook deliveries not yet made (read at scrape).");
    describe_gauge!("latch_database_up", "1 when the database answered this scrape's read, else 0.");
}

/// What a separate operations listener serves: `/healthz`, `/readyz`, `/metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

/// What the main listener serves of them: `/healthz`, `/readyz`, and `/metrics` when
/// [`AppState::metrics_on_main`]. Outside FAPI's layers: their answers are for probes and
/// scrapers, in their own shapes (a 503 of `/readyz` is not a Clerk error).
pub(crate) fn main_routes(state: &AppState) -> Router<AppState> {
    let mut routes = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz));
    if state.metrics_on_main() {
        routes = routes.route("/metrics", get(metrics));
    }
    // Another method on these paths gets the same Clerk-shaped 404 as any unknown endpoint.
    routes
        .route_layer(axum::middleware::from_fn(remember_route))
        .method_not_allowed_fallback(|| async { crate::ApiError::not_found("endpoint") })
}

pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Why `/readyz` says no, in the few words an operator's probe shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotReady {
    DatabaseUnavailable,
    SchemaBehind,
    SchemaAhead,
}

impl NotReady {
    fn reason(self) -> &'static str {
        match self {
            NotReady::DatabaseUnavailable => "database_unavailable",
            NotReady::SchemaBehind => "schema_behind",
            NotReady::SchemaAhead => "schema_ahead",
        }
    }
}

pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let verdict = match tokio::time::timeout(DATABASE_WAIT, state.store().schema_version_applied()).await {
        Ok(Ok(v)) if v == latch_store::SCHEMA_VERSION => Ok(()),
        Ok(Ok(v)) if v < latch_store::SCHEMA_VERSION => Err(NotReady::SchemaBehind),
        Ok(Ok(_)) => Err(NotReady::SchemaAhead),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database did not answer");
            Err(NotReady::DatabaseUnavailable)
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within {DATABASE_WAIT:?}");
            Err(NotReady::DatabaseUnavailable)
        }
    };
    let (status, body) = match verdict {
        Ok(()) => (StatusCode::OK, serde_json::json!({ "status": "ready" })),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({ "status": "not_ready", "reason": why.reason() })),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let Some(recorder) = state.metrics() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::time::timeout(DATABASE_WAIT, state.store().operations_gauges(now_ms())).await {
        Ok(Ok(gauges)) => {
            metrics::gauge!("latch_live_sessions").set(gauges.live_sessions as f64);
            metrics::gauge!("latch_webhook_backlog").set(gauges.webhook_backlog as f64);
            metrics::gauge!("latch_database_up").set(1.0);
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: reading the gauges failed");
            metrics::gauge!("latch_database_up").set(0.0);
        }
        Err(_) => metrics::gauge!("latch_database_up").set(0.0),
    }
    let mut response = recorder.render().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The route template a request matched, carried on its answer to [`observe_http`] (which
/// runs outside the routers, before a nested router has matched).
#[derive(Debug, Clone)]
struct RouteTemplate(Arc<str>);

/// Route layer of every router: remembers the matched template (`/v1/client/sign_ins/{id}`,
/// never the raw path with its ids) on the answer.
pub(crate) async fn remember_route(req: Request, next: Next) -> Response {
    let template = req.extensions().get::<MatchedPath>().map(|p| RouteTemplate(Arc::from(p.as_str())));
    let mut response = next.run(req).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}

/// Outermost layer: each request's latency by route template, method and status class.
/// Unmatched requests (404s of any path) share the template `unmatched`, and methods outside
/// HTTP's standard ones `other`, so no label takes a value a client chose.
pub(crate) async fn observe_http(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.run(req).await;
    // The template is shared, not copied: no allocation per request for the label.
    let route = response.extensions().get::<RouteTemplate>().map(|t| t.0.clone());
    let status = match response.status().as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    let route: metrics::SharedString = match route {
        Some(template) => metrics::SharedString::from_shared(template),
        None => metrics::SharedString::const_str("unmatched"),
    };
    metrics::histogram!("latch_http_request_duration_seconds", "route" => route, "method" => method, "status_class" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}
