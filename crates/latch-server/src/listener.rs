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
//!   connection with no open stream: otherwise silent sockets hold every slot.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

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

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::service(state);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return Ok(()),
            },
            _ = &mut shutdown => return Ok(()),
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
            _ = &mut shutdown => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
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
            let ended = loop {
                tokio::select! {
                    ended = conn.as_mut() => break ended,
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
        });
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
