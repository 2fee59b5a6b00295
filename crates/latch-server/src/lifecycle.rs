//! Stopping cleanly (docs/protocol.md §19): one [`Shutdown`] switch that the binary flips on
//! SIGTERM or ctrl-c, and that every long-running part watches through a [`Stopping`]: the
//! accept loops (which stop accepting, let in-flight requests finish and close idle
//! connections), the webhook dispatcher and the background purge (which finish the round
//! they are in and return).

use tokio::sync::watch;

/// The switch: flipped once, seen by every [`Stopping`] made from it.
#[derive(Debug)]
pub struct Shutdown(watch::Sender<bool>);

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown(watch::channel(false).0)
    }
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything watching to stop (idempotent).
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    /// A watcher for one part.
    pub fn watcher(&self) -> Stopping {
        Stopping(self.0.subscribe())
    }
}

/// One part's view of the switch.
#[derive(Debug, Clone)]
pub struct Stopping(watch::Receiver<bool>);

impl Stopping {
    /// Resolves once the switch is flipped (at once if it already is, or if the switch is
    /// gone: nobody is left to keep this part running).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}
