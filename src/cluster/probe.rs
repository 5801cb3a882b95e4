//! The probe loop of a cluster: GET /readyz every interval, timed, from this machine, on
//! the cluster's established connection. Timeouts and errors are samples too (failures).
//! The clusters' loops start at spread phases, so a thousand probes a minute do not all
//! fire in the same instant, and a probe that ran while fleetdeck's own runtime was
//! busy is marked so (not charged to the cluster).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::client::Http;
use super::errors::{classify, from_status};
use super::event::{ClusterId, EngineEvent};
use super::lag;
use crate::fleet::failure::Failure;
use crate::fleet::probes::{Endpoint, Sample};

/// One round trip's answer: its time on the wire when the transport knows it, or why
/// it failed. `/readyz` and `/livez` answer `ok`; `/version` any answer at all.
async fn ask(http: &mut Http, endpoint: Endpoint, timeout: Duration) -> Result<Option<Duration>, Failure> {
    match tokio::time::timeout(timeout, http.get(endpoint.path())).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Err(e)) => Err(classify(&e).0),
        Ok(Ok((status, _, _))) if !status.is_success() => Err(from_status(status.as_u16())),
        Ok(Ok((_, _, wire))) if endpoint == Endpoint::Version => Ok(wire),
        Ok(Ok((_, body, wire))) if body.trim_ascii() == b"ok" => Ok(wire),
        Ok(Ok(_)) => Err(Failure::Server(500)),
    }
}

/// One probe that was due at `due`, timed and judged against fleetdeck's own business:
/// its time is the wire's (from the request's write to the answer's read) where the
/// transport knows it, else the task's own clock.
async fn probe(http: &mut Http, endpoint: Endpoint, timeout: Duration, due: tokio::time::Instant) -> Sample {
    let (outcome, took, busy) = lag::timed(due, ask(http, endpoint, timeout)).await;
    Sample { at: Timestamp::now(), outcome: outcome.map(|wire| wire.map_or(took, |w| w.min(took))), busy }
}

/// Probes fall in slots this far apart: the probes of one slot wake the process once.
const SLOT: Duration = Duration::from_millis(100);

/// Where in the interval a cluster's probes fall: spread by its id over the interval's
/// slots, so the fleet's probes are even over the interval and those of a slot are sent
/// (and their timers fire) together. The phase counts from one instant for the whole
/// process ([`first_probe`]), not from each cluster's connection.
fn phase(cluster: ClusterId, interval: Duration) -> Duration {
    // The golden ratio spreads consecutive ids evenly whatever the fleet's size.
    let fraction = (cluster as f64 * 0.618_033_988_75).fract();
    let slots = (interval.as_millis() / SLOT.as_millis()).max(1) as f64;
    SLOT.mul_f64((fraction * slots).floor())
}

/// The instant every cluster's probe schedule counts from.
fn epoch() -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(tokio::time::Instant::now)
}

/// A cluster's first probe at or after `now`: the first of its slot's instants (`phase`
/// after `epoch`, then every `interval`), so clusters that connected at different times
/// still probe in the same slots.
fn first_probe(
    now: tokio::time::Instant,
    epoch: tokio::time::Instant,
    phase: Duration,
    interval: Duration,
) -> tokio::time::Instant {
    let base = epoch + phase;
    if now <= base || interval.is_zero() {
        return base.max(now);
    }
    let periods = (now - base).as_nanos().div_ceil(interval.as_nanos());
    base + interval * u32::try_from(periods).unwrap_or(u32::MAX)
}

pub async fn run(
    mut http: Http,
    cluster: ClusterId,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<EngineEvent>,
    answers_again: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let mut endpoint = Endpoint::default();
    let start = first_probe(tokio::time::Instant::now(), epoch(), phase(cluster, interval), interval);
    let mut ticker = tokio::time::interval_at(start, interval);
    // A tick missed (the runtime was busy) is skipped, not delayed: the next one stays
    // in the cluster's slot.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let due = tokio::select! {
            _ = shutdown.cancelled() => return,
            due = ticker.tick() => due,
        };
        let mut sample = tokio::select! {
            _ = shutdown.cancelled() => return,
            // Boxed, as below: the task keeps only its small waiting state between probes.
            sample = Box::pin(probe(&mut http, endpoint, timeout, due)) => sample,
        };
        // No such endpoint there: the next one, at once (that answer is the sample).
        while sample.outcome == Err(Failure::NotFound)
            && let Some(next) = endpoint.fallback()
        {
            endpoint = next;
            if tx.send(EngineEvent::ProbesAt { cluster, endpoint }).await.is_err() {
                return;
            }
            sample = tokio::select! {
                _ = shutdown.cancelled() => return,
                sample = Box::pin(probe(&mut http, endpoint, timeout, tokio::time::Instant::now())) => sample,
            };
        }
        // The first answer after failures: watchers waiting out their backoff retry now,
        // so a cluster back from an outage is Live within a probe interval.
        if failing && sample.outcome.is_ok() {
            answers_again.notify_waiters();
        }
        // No answer in time: is the connection itself still there? (Closed if not, so
        // the watches on it end and the next request connects again.)
        if sample.outcome == Err(Failure::Timeout) {
            http.suspect();
        }
        failing = sample.outcome.is_err();
        if tx.send(EngineEvent::Probe { cluster, sample }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_spread_over_the_interval() {
        let interval = Duration::from_secs(5);
        let phases: Vec<Duration> = (0..1001).map(|id| phase(id, interval)).collect();
        assert!(phases.iter().all(|p| *p < interval && p.as_millis() % 100 == 0), "in slots of the interval");
        let mut per_slot = std::collections::BTreeMap::<Duration, usize>::new();
        for p in phases {
            *per_slot.entry(p).or_default() += 1;
        }
        assert_eq!(per_slot.len(), 50, "every slot used");
        let (least, most) = (per_slot.values().min().unwrap(), per_slot.values().max().unwrap());
        assert!(most - least <= 2, "as many probes in each slot ({least}..{most})");
        assert_eq!(phase(7, Duration::from_millis(50)), Duration::ZERO, "a short interval is one slot");
    }

    #[test]
    fn clusters_connected_at_different_times_probe_in_the_same_slot() {
        let epoch = tokio::time::Instant::now();
        let (phase, interval) = (Duration::from_millis(300), Duration::from_secs(5));
        let at = |after_ms: u64| first_probe(epoch + Duration::from_millis(after_ms), epoch, phase, interval) - epoch;
        assert_eq!(at(0), phase, "before its slot: the slot");
        assert_eq!(at(300), phase, "at its slot");
        assert_eq!(at(301), phase + interval, "just after: the next interval's slot");
        assert_eq!(at(7_200), phase + interval * 2, "connected later: still the slot");
        assert_eq!(at(1_900), at(2_600), "two clusters of a slot connected apart probe together");
    }
}
