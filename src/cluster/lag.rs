//! Whether fleetdeck's own runtime was busy while something was timed: a probe that
//! woke late for its turn, or whose task then waited long behind other tasks (fleetdeck
//! starting a thousand connections, say), or whose answer waited while the runtime ran
//! other work, measured fleetdeck as much as the cluster, and is marked so instead of
//! being charged to the cluster. Nothing runs to find this out but the timed task
//! itself: a look at how late it woke, the runtime's own count of its busy time over
//! the window (tokio keeps it anyway), and, after a slow answer, one yield.

use std::time::Duration;

use tokio::time::Instant;

/// A wait this long on the runtime means it was busy.
pub const BUSY: Duration = Duration::from_millis(25);

/// Times `work`, which was due at `due`, and says whether the runtime was busy: it woke
/// for it late, it ran other work for most of the time `work` took (its answer may have
/// waited for its turn meanwhile), or, when `work` took at least [`BUSY`], a task
/// yielding right after waited long for its turn again. A slow answer on a runtime that
/// was mostly idle meanwhile is the other side's, however long.
pub async fn timed<T>(due: Instant, work: impl Future<Output = T>) -> (T, Duration, bool) {
    let started = Instant::now();
    let late = started.saturating_duration_since(due);
    let before = busy_so_far();
    let out = work.await;
    let took = started.elapsed();
    let ran_other_work = busy_so_far().saturating_sub(before);
    // A look at the queue behind: only for work that took long enough to carry a delay
    // of fleetdeck's that matters. A faster answer held at most that much of it, and the
    // yield costs every probe a turn of the runtime (a poll of the I/O driver included).
    let queued = if took < BUSY {
        Duration::ZERO
    } else {
        let yielded = Instant::now();
        tokio::task::yield_now().await;
        yielded.elapsed()
    };
    let mostly_busy = ran_other_work > BUSY && ran_other_work * 2 > took;
    (out, took, late > BUSY || mostly_busy || queued > BUSY)
}

/// How long the runtime has run tasks, on its least busy worker (a task waits for its
/// turn only while every worker is busy). tokio counts it at every park, so within a
/// batch of tasks it lags by that batch.
fn busy_so_far() -> Duration {
    let metrics = tokio::runtime::Handle::current().metrics();
    (0..metrics.num_workers()).map(|w| metrics.worker_total_busy_duration(w)).min().unwrap_or_default()
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
        // Another task holds the only thread for longer than BUSY once ours yields
        // after an answer slow enough to look at the queue behind it.
        let (_, _, busy) = timed(Instant::now(), async {
            tokio::spawn(async { std::thread::sleep(BUSY * 3) });
            std::thread::sleep(BUSY);
        })
        .await;
        assert!(busy, "waited behind a busy task");
        // A fast answer is not held up by a look at the queue: its figure carries less
        // than BUSY of fleetdeck's own delay whatever waits behind it.
        let hog = tokio::spawn(async { std::thread::sleep(BUSY * 3) });
        let (_, took, busy) = timed(Instant::now(), async {}).await;
        assert!(!busy && took < BUSY, "a fast answer is the cluster's ({took:?})");
        hog.await.unwrap();
        // The answer came while another task held the thread, which it had let go of
        // again by the time the timed task ran: neither late nor queued after.
        let hog = tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            std::thread::sleep(BUSY * 4);
        });
        let (_, took, busy) = timed(Instant::now(), tokio::time::sleep(Duration::from_millis(10))).await;
        assert!(took >= BUSY * 4, "the answer waited for the thread ({took:?})");
        assert!(busy, "the runtime ran other work for most of the time it took");
        hog.await.unwrap();
        // A slow answer while the runtime idles is the other side's.
        let (_, _, busy) = timed(Instant::now(), tokio::time::sleep(BUSY * 3)).await;
        assert!(!busy, "a slow answer on an idle runtime");
    }
}
