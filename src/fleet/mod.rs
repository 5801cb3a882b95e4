//! The fleet's domain state, pure: summaries of watched objects, each cluster's facts and
//! derived state, probe statistics against the targets, the hub's registrations joined to
//! local contexts, and policy propagation (sync states and times). No I/O, no terminal.

pub mod backup;
pub mod cluster;
pub mod cron;
pub mod event;
pub mod failure;
pub mod kind;
pub mod probes;
pub mod propagation;
pub mod registry;
pub mod summary;
pub mod sync;

use std::time::Duration;

use jiff::Timestamp;

/// How long before `now` `then` was (zero when `then` is later: clocks of different
/// machines, or an event stamped after the tick).
pub fn ago(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}
