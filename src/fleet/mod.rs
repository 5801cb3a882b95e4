//! The fleet's domain state, pure: summaries of watched objects, each cluster's facts and
//! derived state, probe statistics against the targets, the hub's registrations joined to
//! local contexts, and policy propagation (sync states and times). No I/O, no terminal.

pub mod backup;
pub mod cluster;
pub mod cron;
pub mod event;
pub mod failure;
pub mod kind;
pub mod phase;
pub mod probes;
pub mod propagation;
pub mod registry;
pub mod run;
pub mod state;
pub mod summary;
pub mod sync;
pub mod trigger;

use std::time::Duration;

use jiff::Timestamp;

/// How long before `now` `then` was (zero when `then` is later: clocks of different
/// machines, or an event stamped after the tick).
pub fn ago(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

/// `then + d` (saturating at the end of time).
pub fn later(then: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| then.checked_add(d).ok()).unwrap_or(Timestamp::MAX)
}

/// The earliest of some instants after `now`: when something judged at `now` may change
/// with no new data (a failure becoming an outage, a backup falling due). Instants at or
/// before `now` are already past and ignored.
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    now: Timestamp,
    next: Option<Timestamp>,
}

impl Horizon {
    pub fn new(now: Timestamp) -> Self {
        Self { now, next: None }
    }

    pub fn at(&mut self, t: Timestamp) {
        if t > self.now {
            self.next = Some(self.next.map_or(t, |n| n.min(t)));
        }
    }

    /// The first instant strictly after `t` (for judgments like `age > limit`).
    pub fn after(&mut self, t: Timestamp) {
        self.at(later(t, Duration::from_millis(1)));
    }

    pub fn merge(&mut self, t: Option<Timestamp>) {
        if let Some(t) = t {
            self.at(t);
        }
    }

    pub fn get(self) -> Option<Timestamp> {
        self.next
    }
}
