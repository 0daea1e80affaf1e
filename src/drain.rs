//! Handing over to a successor process without a failed request. During a
//! graceful upgrade the old process keeps serving for a few seconds after it
//! passed its listening sockets on; meanwhile every answer closes its
//! connection (`draining`), so keep-alive clients move to fresh connections
//! instead of having an idle one cut under them. Once it stops accepting, it
//! waits for the requests in flight (`in_flight`) and then lets go of the
//! embedded store, which its successor is waiting to open.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Whether the process is handing over, and how many requests it is still
/// answering. Shared by every request through the gateway.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    /// A successor took the sockets (not a plain stop), so it holds the
    /// store once this process let go of it.
    upgrading: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
}

/// One request being answered; dropped when it is done (or when it became
/// a WebSocket, which needs no store and may last for hours).
#[derive(Debug)]
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl Drain {
    /// Counts a request until the guard is dropped.
    pub fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Acquire);
        InFlight(self.in_flight.clone())
    }

    /// From now on every answer closes its connection.
    pub fn start(&self) {
        if !self.draining.swap(true, Ordering::Relaxed) {
            tracing::info!("handing over: answers now close their connections");
        }
    }

    /// A successor is taking over: answers close their connections.
    pub fn start_upgrade(&self) {
        self.upgrading.store(true, Ordering::Relaxed);
        self.start();
    }

    /// Read after the server stopped: whether a successor took over.
    pub fn upgrade_flag(&self) -> Arc<AtomicBool> {
        self.upgrading.clone()
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no request is in flight, or `patience` has passed;
    /// returns whether none is.
    pub async fn idle(&self, patience: Duration) -> bool {
        let until = tokio::time::Instant::now() + patience;
        loop {
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_once_every_request_is_done() {
        let drain = Drain::default();
        let a = drain.enter();
        let b = drain.enter();
        assert_eq!(drain.in_flight(), 2);
        assert!(!drain.idle(Duration::from_millis(20)).await, "two in flight");
        drop(a);
        let waiting = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            drop(b);
        });
        assert!(drain.idle(Duration::from_secs(5)).await);
        waiting.await.unwrap();
        assert!(!drain.draining());
        drain.start();
        assert!(drain.draining());
    }
}
