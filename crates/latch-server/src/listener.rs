//! The accept loop: hyper with the limits a public-facing auth server needs, which
//! `axum::serve` does not expose.
//!
//! - request heads larger than [`MAX_HEAD_BYTES`] are refused by hyper (431);
//! - a client that takes longer than [`HEADER_READ_TIMEOUT`] to send its headers is dropped
//!   (slowloris), and every request has 30 s to complete (see `router`);
//! - at most `max_connections` connections are served at once; further ones wait in the
//!   kernel's backlog until a slot frees;
//! - a connection with no request in flight for `idle_timeout` is closed, whether it never
//!   sent a byte (hyper-util's protocol sniffing waits for the first bytes with no timeout of
//!   its own), sent nothing since its last answer (HTTP/1 keep-alive), or is an HTTP/2
//!   connection with no open stream: otherwise silent sockets hold every slot;
//! - on shutdown, no new connection is accepted and open ones finish what is in flight,
//!   within a drain timeout (docs/protocol.md §19).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::lifecycle::Stopping;
use crate::state::AppState;

pub const MAX_HEAD_BYTES: usize = 32 * 1024;
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing idle connection may take to finish its goodbye (an HTTP/2 GOAWAY).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the accept loop allows each connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a connection may stay without a request in flight, from its start or its
    /// last answer.
    pub idle_timeout: Duration,
}

/// Serves the whole application on `listener` until `stopping` is set, then drains (see
/// [`serve_app`]).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    stopping: Stopping,
    drain: Duration,
) -> std::io::Result<()> {
    serve_app(listener, crate::service(state), limits, stopping, drain).await
}

/// Serves the operations router (`/healthz`, `/readyz`, `/metrics`) on its own listener, with
/// the same limits and the same way of stopping.
pub async fn serve_operations(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    stopping: Stopping,
    drain: Duration,
) -> std::io::Result<()> {
    serve_app(listener, crate::operations::router(state), limits, stopping, drain).await
}

/// The accept loop. When `stopping` is set it stops accepting (the listening socket is
/// closed, so new connections are refused), asks every open connection to finish gracefully
/// (an HTTP/1 connection answers the request in flight, then closes; an idle one closes at
/// once; HTTP/2 sends GOAWAY and finishes its open streams), and waits up to `drain` for them
/// all. Connections still open after that are dropped with the runtime.
async fn serve_app<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    mut stopping: Stopping,
    drain: Duration,
) -> std::io::Result<()>
where
    S: tower::Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            _ = stopping.wait() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopping.wait() => break,
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(stream, peer, app.clone(), limits, stopping.clone(), permit));
    }
    drop(listener);
    let open = max_connections - slots.available_permits();
    if open > 0 {
        tracing::info!(connections = open, "draining: waiting for requests in flight");
    }
    // Every connection holds one slot until it ends: all slots back means all ended.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(drain, slots.acquire_many(all)).await.is_err() {
        let open = max_connections - slots.available_permits();
        tracing::warn!(connections = open, ?drain, "drain timeout: closing the connections still open");
    }
    Ok(())
}

/// One connection, with the idle timeout and the graceful end on shutdown.
async fn serve_connection<S>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: S,
    limits: ConnectionLimits,
    mut stopping: Stopping,
    permit: OwnedSemaphorePermit,
) where
    S: tower::Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let _permit = permit;
    let activity = Arc::new(Activity::new());
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
        let (app, seen) = (app.clone(), seen.clone());
        async move {
            let _in_flight = seen.request();
            app.oneshot(req).await
        }
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Heads up to MAX_HEAD_BYTES are refused in Clerk's shape by the router
        // (`refuse_oversized_heads`); hyper's own bare 431 only beyond twice that.
        .max_buf_size(2 * MAX_HEAD_BYTES);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let tick = (limits.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let mut asked_to_finish = false;
    let ended = loop {
        tokio::select! {
            ended = conn.as_mut() => break ended,
            _ = stopping.wait(), if !asked_to_finish => {
                // Answer what is in flight, then close (the drain timeout bounds the wait).
                asked_to_finish = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(tick) => {
                if activity.idle_for() >= limits.idle_timeout {
                    tracing::debug!(%peer, "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    // Dropping the connection closes the socket, finished or not.
                    break tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await.unwrap_or(Ok(()));
                }
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// A connection's requests in flight and when it last had one: idle is none in flight.
struct Activity {
    in_flight: AtomicUsize,
    last_done: Mutex<Instant>,
}

impl Activity {
    fn new() -> Self {
        Activity { in_flight: AtomicUsize::new(0), last_done: Mutex::new(Instant::now()) }
    }

    /// Counts a request in flight until the guard drops (its answer is out, or it was cancelled).
    fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        self.last_done.lock().map(|t| t.elapsed()).unwrap_or(Duration::ZERO)
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut last) = self.0.last_done.lock() {
            *last = Instant::now();
        }
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
