//! How busy fleetdeck's own runtime is. A monitor task wakes every few milliseconds and
//! notes how late it woke; a probe that ran while the runtime was late by more than
//! `BUSY` (fleetdeck starting a thousand connections, say) measured fleetdeck as much as
//! the cluster, and is marked so instead of being charged to the cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often the monitor looks.
const EVERY: Duration = Duration::from_millis(10);
/// A wake-up this late means the runtime was busy.
pub const BUSY: Duration = Duration::from_millis(25);

/// The monitor's findings, shared with every probe.
#[derive(Clone)]
pub struct Lag {
    base: Instant,
    /// When the runtime was last seen busy (nanoseconds after `base`, 0: never).
    busy_until: Arc<AtomicU64>,
    /// The time of the monitor's latest look.
    looked: watch::Receiver<Instant>,
}

impl Lag {
    /// Starts the monitor on the current runtime; it stops with `shutdown`.
    pub fn start(shutdown: CancellationToken) -> Lag {
        let base = Instant::now();
        let busy_until = Arc::new(AtomicU64::new(0));
        let (tx, looked) = watch::channel(base);
        let busy = busy_until.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(EVERY);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                let scheduled = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    scheduled = ticker.tick() => scheduled,
                };
                let now = Instant::now();
                if now.saturating_duration_since(scheduled) > BUSY {
                    busy.store(now.duration_since(base).as_nanos().max(1) as u64, Ordering::Relaxed);
                }
                if tx.send(now).is_err() {
                    return;
                }
            }
        });
        Lag { base, busy_until, looked }
    }

    /// Waits until the monitor has looked at the runtime after `at` (a tick or two; at
    /// most a moment, should the monitor be gone).
    pub async fn settled(&self, at: Instant) {
        let mut looked = self.looked.clone();
        let _ = tokio::time::timeout(EVERY * 20, looked.wait_for(|t| *t >= at)).await;
    }

    /// Whether the runtime was seen busy at any time from `since` on.
    pub fn busy_since(&self, since: Instant) -> bool {
        let busy = self.busy_until.load(Ordering::Relaxed);
        busy > 0 && busy >= since.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// Times `work` and says whether the runtime was busy while it ran.
    pub async fn timed<T>(&self, work: impl Future<Output = T>) -> (T, Duration, bool) {
        let started = Instant::now();
        let out = work.await;
        let took = started.elapsed();
        self.settled(started + took).await;
        (out, took, self.busy_since(started))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_is_seen_busy_and_an_idle_one_is_not() {
        let shutdown = CancellationToken::new();
        let lag = Lag::start(shutdown.clone());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, _, busy) = lag.timed(tokio::time::sleep(Duration::from_millis(30))).await;
        assert!(!busy, "an idle runtime");
        // The only thread blocked for longer than BUSY: every task on it waited.
        let (_, took, busy) = lag
            .timed(async {
                std::thread::sleep(BUSY * 3);
                tokio::task::yield_now().await;
            })
            .await;
        assert!(busy, "blocked for {took:?}");
        shutdown.cancel();
    }
}
