//! API round trips per cluster (GET /readyz) against the latency target, and
//! availability (successful probes over probes) against the availability target.
//!
//! Samples of the latency window are kept raw (a window of minutes at a probe every few
//! seconds is a few dozen numbers); percentiles are computed from them through an
//! HdrHistogram when a view asks. Availability is counted per minute over its longer
//! window.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::ago;
use jiff::{SignedDuration, Timestamp};

use super::failure::Failure;

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub at: Timestamp,
    pub outcome: Result<Duration, Failure>,
    /// fleetdeck's own runtime was busy while it ran (its start, say), or the probe shared
    /// the connection with fleetdeck's own lists of the cluster: its time, or its
    /// timeout, says more of fleetdeck than of the cluster, so it is not charged to the
    /// cluster (not in the percentiles, breaches or failures; a success still shows the
    /// cluster answered).
    pub busy: bool,
}

impl Sample {
    pub fn new(at: Timestamp, outcome: Result<Duration, Failure>) -> Self {
        Self { at, outcome, busy: false }
    }

    /// Whether it counts against the cluster.
    pub fn charged(&self) -> bool {
        !self.busy
    }
}

/// How long the first request to a cluster took: it opened the connection (TCP, TLS,
/// HTTP/2), so it is its own figure, not a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub took: Duration,
    /// fleetdeck's own runtime was busy meanwhile (the time says more of fleetdeck).
    pub busy: bool,
}

/// Percentiles over the window; `None` without successful samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyStats {
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub p99: Option<Duration>,
    pub max: Option<Duration>,
    pub samples: u64,
    pub failures: u64,
    /// Probes over the target, failures included.
    pub breaches: u64,
    /// Probes not charged to the cluster: fleetdeck's own runtime was busy.
    pub not_charged: u64,
}

#[derive(Debug, Clone, Copy)]
struct Minute {
    start: i64,
    ok: u32,
    total: u32,
}

/// What a probe asks: `/readyz`, or where a server has none, `/livez`, else `/version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endpoint {
    #[default]
    Readyz,
    Livez,
    Version,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Readyz => "/readyz",
            Endpoint::Livez => "/livez",
            Endpoint::Version => "/version",
        }
    }

    /// Where to probe when this endpoint is not there.
    pub fn fallback(self) -> Option<Endpoint> {
        match self {
            Endpoint::Readyz => Some(Endpoint::Livez),
            Endpoint::Livez => Some(Endpoint::Version),
            Endpoint::Version => None,
        }
    }
}

/// Consecutive failed probes that make an outage rather than an error rate.
const OUTAGE_PROBES: u32 = 3;

#[derive(Debug, Clone)]
pub struct ProbeLog {
    window: Duration,
    availability_window: Duration,
    samples: VecDeque<Sample>,
    minutes: VecDeque<Minute>,
    pub consecutive_failures: u32,
    /// When the current streak of failures began.
    pub failing_since: Option<Timestamp>,
    /// Runs of failures that ended within the window (their first failure, the success
    /// that ended them), of at least `OUTAGE_PROBES` probes: outages, told as such while
    /// they lasted, and no part of an error rate once over.
    outages: VecDeque<(Timestamp, Timestamp)>,
    pub last_success: Option<Timestamp>,
}

/// A histogram of microseconds from 1 µs to a minute, two significant figures.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).unwrap_or_else(|_| Histogram::new(2).expect("a histogram"))
}

fn stats_of<'a>(samples: impl Iterator<Item = &'a Sample>, slo: Duration) -> LatencyStats {
    let mut h = histogram();
    let mut stats = LatencyStats::default();
    for s in samples {
        if !s.charged() {
            stats.not_charged += 1;
            continue;
        }
        stats.samples += 1;
        match s.outcome {
            Ok(d) => {
                let micros = (d.as_micros() as u64).clamp(1, 60_000_000);
                let _ = h.record(micros);
                if d > slo {
                    stats.breaches += 1;
                }
            }
            Err(_) => {
                stats.failures += 1;
                stats.breaches += 1;
            }
        }
    }
    if !h.is_empty() {
        let at = |q: f64| Some(Duration::from_micros(h.value_at_quantile(q)));
        stats.p50 = at(0.50);
        stats.p95 = at(0.95);
        stats.p99 = at(0.99);
        stats.max = Some(Duration::from_micros(h.max()));
    }
    stats
}

impl ProbeLog {
    pub fn new(window: Duration, availability_window: Duration) -> Self {
        Self {
            window,
            availability_window,
            samples: VecDeque::new(),
            minutes: VecDeque::new(),
            consecutive_failures: 0,
            failing_since: None,
            outages: VecDeque::new(),
            last_success: None,
        }
    }

    pub fn record(&mut self, sample: Sample) {
        // A failure while fleetdeck itself was busy says nothing of the cluster.
        let counted = sample.charged() || sample.outcome.is_ok();
        let minute = sample.at.as_second().div_euclid(60) * 60;
        match self.minutes.back_mut() {
            _ if !counted => {}
            Some(m) if m.start == minute => {
                m.total += 1;
                m.ok += u32::from(sample.outcome.is_ok());
            }
            _ => self.minutes.push_back(Minute { start: minute, ok: u32::from(sample.outcome.is_ok()), total: 1 }),
        }
        match sample.outcome {
            Ok(_) => {
                if let Some(since) = self.failing_since.take()
                    && self.consecutive_failures >= OUTAGE_PROBES
                {
                    self.outages.push_back((since, sample.at));
                }
                self.consecutive_failures = 0;
                self.last_success = Some(sample.at);
            }
            Err(_) if !counted => {}
            Err(_) => {
                self.consecutive_failures += 1;
                self.failing_since.get_or_insert(sample.at);
            }
        }
        let now = sample.at;
        self.samples.push_back(sample);
        while self.samples.front().is_some_and(|s| ago(now, s.at) > self.window) {
            self.samples.pop_front();
        }
        while self.outages.front().is_some_and(|(_, to)| ago(now, *to) > self.window) {
            self.outages.pop_front();
        }
        let horizon = now.as_second() - self.availability_window.as_secs() as i64;
        while self.minutes.front().is_some_and(|m| m.start + 60 <= horizon) {
            self.minutes.pop_front();
        }
    }

    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// Latency over the window ending `now`.
    pub fn latency(&self, now: Timestamp, slo: Duration) -> LatencyStats {
        stats_of(self.in_window(now), slo)
    }

    /// The samples of the window at `now`: those at its end, as samples come in time
    /// order (found by halving, not by a look at each).
    fn in_window(&self, now: Timestamp) -> impl Iterator<Item = &Sample> {
        let first = self.samples.partition_point(|s| ago(now, s.at) > self.window);
        self.samples.range(first..)
    }

    /// Successful probes over probes, in the availability window; `None` before any.
    pub fn availability(&self, now: Timestamp) -> Option<f64> {
        let horizon = now.as_second() - self.availability_window.as_secs() as i64;
        let (ok, total) = self
            .minutes
            .iter()
            .filter(|m| m.start + 60 > horizon)
            .fold((0u64, 0u64), |(o, t), m| (o + u64::from(m.ok), t + u64::from(m.total)));
        (total > 0).then(|| ok as f64 / total as f64)
    }

    /// The last `n` charged samples, oldest first: microseconds, or `None` for failures.
    pub fn recent(&self, n: usize) -> Vec<Option<u64>> {
        let charged: Vec<&Sample> = self.samples.iter().filter(|s| s.charged()).collect();
        let skip = charged.len().saturating_sub(n);
        charged[skip..].iter().map(|s| s.outcome.as_ref().ok().map(|d| d.as_micros() as u64)).collect()
    }

    /// The last sample that says something of the cluster: charged to it, or a success
    /// (an answer is an answer, however busy fleetdeck was).
    pub fn last_counted(&self) -> Option<&Sample> {
        self.samples.iter().rev().find(|s| s.charged() || s.outcome.is_ok())
    }

    /// Samples with their times, for the detail chart.
    /// The samples kept, oldest first.
    pub fn kept(&self) -> &VecDeque<Sample> {
        &self.samples
    }

    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// The next instant after `now` at which the window's figures change with no new
    /// probe: the oldest sample or availability minute leaving its window.
    pub fn changes_at(&self, now: Timestamp) -> Option<Timestamp> {
        let mut next = super::Horizon::new(now);
        if let Some(oldest) = self.samples.iter().find(|s| ago(now, s.at) <= self.window) {
            next.after(super::later(oldest.at, self.window));
        }
        if let Some(m) = self.minutes.front().and_then(|m| Timestamp::from_second(m.start + 60).ok()) {
            next.at(super::later(m, self.availability_window));
        }
        next.get()
    }

    /// How long the current failure streak has lasted.
    /// Charged probes over the window outside ended outages: failed, all, and when the
    /// first and the last failed ones were (the failures of an intermittent error rate).
    pub fn errors(&self, now: Timestamp) -> (usize, usize, Option<(Timestamp, Timestamp)>) {
        let in_outage = |at: Timestamp| self.outages.iter().any(|(from, to)| *from <= at && at < *to);
        let counted = self.samples.iter().filter(|s| s.charged() && ago(now, s.at) <= self.window && !in_outage(s.at));
        let (mut failed, mut total, mut span) = (0, 0, None::<(Timestamp, Timestamp)>);
        for s in counted {
            total += 1;
            if s.outcome.is_err() {
                failed += 1;
                span = Some(span.map_or((s.at, s.at), |(first, _)| (first, s.at)));
            }
        }
        (failed, total, span)
    }

    /// The window latency and error rates are over.
    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn failing_for(&self, now: Timestamp) -> Option<Duration> {
        self.failing_since.map(|since| ago(now, since))
    }
}

/// Latency over every cluster's window (the footer's fleet p95).
pub fn fleet_latency<'a>(logs: impl Iterator<Item = &'a ProbeLog>, now: Timestamp, slo: Duration) -> LatencyStats {
    stats_of(logs.flat_map(|log| log.in_window(now)), slo)
}

/// `now - duration`, for tests and views.
pub fn before(now: Timestamp, d: Duration) -> Timestamp {
    now.checked_sub(SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn ms(n: u64) -> Result<Duration, Failure> {
        Ok(Duration::from_millis(n))
    }

    #[test]
    fn percentiles_breaches_and_failures_over_the_window() {
        let mut log = ProbeLog::new(Duration::from_secs(60), Duration::from_secs(3600));
        for i in 0..100 {
            let latency = if i < 90 { 10 } else { 200 };
            log.record(Sample::new(t(i / 10), ms(latency)));
        }
        log.record(Sample::new(t(10), Err(Failure::Timeout)));
        let s = log.latency(t(10), Duration::from_millis(100));
        assert_eq!(s.samples, 101);
        assert_eq!(s.failures, 1);
        assert_eq!(s.breaches, 11, "ten slow probes and a timeout");
        let p50 = s.p50.unwrap().as_millis();
        assert!((9..=11).contains(&p50), "{p50}");
        assert!(s.p99.unwrap() >= Duration::from_millis(190));
        assert!(s.max.unwrap() >= Duration::from_millis(199));
        let later = log.latency(t(200), Duration::from_millis(100));
        assert_eq!(later.samples, 0, "samples leave the window");
        assert_eq!(later.p95, None);
    }

    #[test]
    fn availability_counts_per_minute_over_its_window() {
        let mut log = ProbeLog::new(Duration::from_secs(60), Duration::from_secs(600));
        for i in 0..9999 {
            log.record(Sample::new(t(i / 20), ms(1)));
        }
        log.record(Sample::new(t(499), Err(Failure::Unreachable)));
        let a = log.availability(t(499)).unwrap();
        assert!((a - 0.9999).abs() < 1e-9, "{a}");
        assert_eq!(log.availability(t(5000)), None, "nothing left in the window");
    }

    #[test]
    fn failure_streaks() {
        let mut log = ProbeLog::new(Duration::from_secs(60), Duration::from_secs(600));
        log.record(Sample::new(t(0), ms(1)));
        log.record(Sample::new(t(5), Err(Failure::Unreachable)));
        log.record(Sample::new(t(10), Err(Failure::Unreachable)));
        assert_eq!(log.consecutive_failures, 2);
        assert_eq!(log.failing_for(t(12)), Some(Duration::from_secs(7)));
        assert_eq!(log.recent(2), vec![None, None]);
        log.record(Sample::new(t(15), ms(3)));
        assert_eq!(log.failing_for(t(16)), None);
        assert_eq!(log.recent(1), vec![Some(3000)]);
    }
}
