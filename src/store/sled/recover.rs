//! Opening the embedded store again after an I/O failure (`recover`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::{Open, SledBackend};
use crate::store::backend::Backend as _;

impl SledBackend {
    /// After an I/O failure (a full disk, say) sled refuses every later
    /// call, even once the cause is gone. So the database is opened again,
    /// as after a crash, once the calls running on the failed handle are
    /// done; meanwhile calls are refused as unavailable, and the attempt is
    /// repeated every second until it opens. Nothing written was
    /// acknowledged without being flushed, so nothing acknowledged is lost.
    pub(super) fn recover(&self, failed: Arc<Open>) {
        if self.released.load(Ordering::Relaxed) || self.recovering.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let what = me.describe();
            me.health.set(false, &what);
            {
                let mut open = me.open.write().unwrap_or_else(PoisonError::into_inner);
                if open.as_ref().is_some_and(|o| Arc::ptr_eq(o, &failed)) {
                    *open = None;
                }
            }
            let mut failed = Some(failed);
            loop {
                if me.released.load(Ordering::Relaxed) {
                    break;
                }
                // The last handle on the failed database goes first.
                if let Some(f) = failed.take() {
                    if let Err(still) = Arc::try_unwrap(f) {
                        failed = Some(still);
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
                match SledBackend::open_patiently(&me.dir, Duration::from_secs(5)) {
                    Ok(fresh) => {
                        let reopened = fresh.open.write().unwrap_or_else(PoisonError::into_inner).take();
                        *me.open.write().unwrap_or_else(PoisonError::into_inner) = reopened;
                        me.health.set(true, &what);
                        tracing::warn!(store = %what, "the store was opened again after an I/O failure");
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "the store cannot be opened again yet");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
            me.recovering.store(false, Ordering::Release);
        });
    }
}
