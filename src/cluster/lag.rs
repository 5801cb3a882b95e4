//! Whether fleetdeck's own runtime was busy while something was timed: a probe that
//! woke late for its turn, or whose task then waited long behind other tasks (fleetdeck
//! starting a thousand connections, say), measured fleetdeck as much as the cluster,
//! and is marked so instead of being charged to the cluster. Nothing runs to find this
//! out but the timed task itself: a look at how late it woke, and one yield.

use std::time::Duration;

use tokio::time::Instant;

/// A wait this long on the runtime means it was busy.
pub const BUSY: Duration = Duration::from_millis(25);

/// Times `work`, which was due at `due`, and says whether the runtime was busy: it woke
/// for it late, or a task yielding right after waited long for its turn again.
pub async fn timed<T>(due: Instant, work: impl Future<Output = T>) -> (T, Duration, bool) {
    let started = Instant::now();
    let late = started.saturating_duration_since(due);
    let out = work.await;
    let took = started.elapsed();
    let yielded = Instant::now();
    tokio::task::yield_now().await;
    let queued = yielded.elapsed();
    (out, took, late > BUSY || queued > BUSY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_blocked_runtime_is_seen_busy_and_an_idle_one_is_not() {
        let (_, _, busy) = timed(Instant::now(), tokio::time::sleep(Duration::from_millis(30))).await;
        assert!(!busy, "an idle runtime");
        let (_, _, busy) = timed(Instant::now() - BUSY * 2, async {}).await;
        assert!(busy, "woken long after it was due");
        // Another task holds the only thread for longer than BUSY once ours yields.
        let hog = tokio::spawn(async { std::thread::sleep(BUSY * 3) });
        let (_, _, busy) = timed(Instant::now(), async {}).await;
        assert!(busy, "waited behind a busy task");
        hog.await.unwrap();
    }
}
