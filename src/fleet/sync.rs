//! Where a spoke's Kustomization stands against its source on the hub: in sync, pending,
//! failed, suspended, stale status, or its spoke unreachable. One cell of the propagation
//! matrix, and what the health pane's alarm is made of.

use std::time::Duration;

use jiff::Timestamp;

use super::ago;
use super::propagation::PropagationLog;
use super::summary::{ConditionStatus, KustomizationSummary, SourceSummary};

/// Why a Kustomization is paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// `spec.suspend: true`.
    Suspend,
    /// The `kustomize.toolkit.fluxcd.io/reconcile: disabled` annotation or label.
    Disabled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    /// Ready at the source's revision.
    InSync,
    /// Behind its source and not failing: waiting for or in a reconciliation.
    Pending {
        since: Option<Timestamp>,
        reconciling: bool,
    },
    /// Ready is False: the reason and message say why.
    Failed {
        reason: String,
        message: String,
        since: Option<Timestamp>,
    },
    Suspended {
        by: Paused,
        behind: bool,
    },
    /// `status.observedGeneration` behind `metadata.generation`: the status describes an
    /// older spec.
    Stale {
        generation: i64,
        observed: i64,
        since: Option<Timestamp>,
    },
    /// Not in sync, and fleetdeck cannot reach the spoke either.
    Unreachable {
        since: Option<Timestamp>,
    },
    /// The source is missing on the hub or has no artifact yet.
    NoSource,
}

impl SyncState {
    /// Its category as `check` and the metrics count it: `in_sync`, `pending` (stale
    /// status too), `failed` (a missing source and an unreachable spoke too), `suspended`.
    pub fn category(&self) -> &'static str {
        match self {
            SyncState::InSync => "in_sync",
            SyncState::Suspended { .. } => "suspended",
            SyncState::Pending { .. } | SyncState::Stale { .. } => "pending",
            SyncState::Failed { .. } | SyncState::NoSource | SyncState::Unreachable { .. } => "failed",
        }
    }

    /// Since when the Kustomization has been behind its source, for states that are.
    pub fn behind_since(&self) -> Option<Timestamp> {
        match self {
            SyncState::Pending { since, .. }
            | SyncState::Failed { since, .. }
            | SyncState::Stale { since, .. }
            | SyncState::Unreachable { since } => *since,
            _ => None,
        }
    }

    /// Behind its source for longer than the target (suspended objects are an operator's
    /// choice, not an alarm).
    pub fn alarm(&self, now: Timestamp, target: Duration) -> bool {
        self.behind_since().is_some_and(|since| ago(now, since) > target)
    }

    /// Worst first, for a spoke's summary.
    pub fn severity(&self) -> u8 {
        match self {
            SyncState::Failed { .. } | SyncState::Unreachable { .. } => 4,
            SyncState::Stale { .. } | SyncState::NoSource => 3,
            SyncState::Pending { .. } => 2,
            SyncState::Suspended { .. } => 1,
            SyncState::InSync => 0,
        }
    }

    pub fn is_in_sync(&self) -> bool {
        *self == SyncState::InSync
    }
}

/// The state of a Kustomization against its source. `source` is `None` when the hub has
/// no such source; `spoke_unreachable` is fleetdeck's own view of the spoke.
pub fn sync_state(
    ks: &KustomizationSummary,
    source: Option<&SourceSummary>,
    log: &PropagationLog,
    spoke_unreachable: bool,
) -> SyncState {
    let behind_since = source.and_then(|s| log.behind_since(ks, s));
    let behind = behind_since.is_some();
    if ks.suspended || ks.reconcile_disabled {
        let by = if ks.suspended { Paused::Suspend } else { Paused::Disabled };
        return SyncState::Suspended { by, behind };
    }
    if ks.generation > ks.observed_generation && ks.ready.is_some() {
        return SyncState::Stale { generation: ks.generation, observed: ks.observed_generation, since: behind_since };
    }
    let Some(source) = source.filter(|s| !s.revision.is_empty()) else { return SyncState::NoSource };
    let ready = ks.ready.as_ref();
    let at_revision = ks.last_applied_revision == source.revision;
    match ready {
        Some(c) if at_revision && c.status != ConditionStatus::False => SyncState::InSync,
        _ if spoke_unreachable => SyncState::Unreachable { since: behind_since },
        Some(c) if c.status == ConditionStatus::False => {
            // A failure at the current revision after it was applied (a health check) is
            // still a failure; its "behind" time starts at the failure.
            let since = behind_since.or(c.since);
            SyncState::Failed { reason: c.reason.clone(), message: c.message.clone(), since }
        }
        c => SyncState::Pending {
            since: behind_since,
            reconciling: c.is_some_and(|c| c.status == ConditionStatus::Unknown),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn source(revision: &str) -> SourceSummary {
        SourceSummary::fold(&json!({"kind": "GitRepository",
            "metadata": {"namespace": "flux-system", "name": "fleet-policies"},
            "status": {"artifact": {"revision": revision, "lastUpdateTime": t(100).to_string()}}}))
    }

    fn ks(status: Value, spec: Value, generation: i64) -> KustomizationSummary {
        let mut s = json!({"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "fleet-policies", "namespace": "flux-system"},
            "kubeConfig": {"secretRef": {"name": "cluster-kubeconfig"}}});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
            s.extend(extra.clone());
        }
        KustomizationSummary::fold(
            &json!({"metadata": {"namespace": "prod-a", "name": "policies", "generation": generation},
            "spec": s, "status": status}),
        )
    }

    fn ready(status: &str, reason: &str, applied: &str) -> Value {
        json!({"observedGeneration": 1, "lastAppliedRevision": applied, "lastAttemptedRevision": "main@sha1:r2",
            "conditions": [{"type": "Ready", "status": status, "reason": reason, "message": format!("{reason} message"),
                "lastTransitionTime": t(150).to_string()}]})
    }

    fn state(k: &KustomizationSummary, unreachable: bool) -> SyncState {
        let mut log = PropagationLog::default();
        let src = source("main@sha1:r2");
        log.observe_source(&src, t(100), false);
        sync_state(k, Some(&src), &log, unreachable)
    }

    #[test]
    fn cells_follow_the_flux_status() {
        let in_sync = ks(ready("True", "ReconciliationSucceeded", "main@sha1:r2"), json!({}), 1);
        assert_eq!(state(&in_sync, false), SyncState::InSync);
        assert_eq!(
            state(&in_sync, true),
            SyncState::InSync,
            "the hub applied it; our view of the spoke does not change that"
        );

        let pending = ks(ready("True", "ReconciliationSucceeded", "main@sha1:r1"), json!({}), 1);
        assert_eq!(state(&pending, false), SyncState::Pending { since: Some(t(100)), reconciling: false });
        let busy = ks(ready("Unknown", "Progressing", "main@sha1:r1"), json!({}), 1);
        assert_eq!(state(&busy, false), SyncState::Pending { since: Some(t(100)), reconciling: true });

        let failed = ks(ready("False", "HealthCheckFailed", "main@sha1:r1"), json!({}), 1);
        match state(&failed, false) {
            SyncState::Failed { reason, message, since } => {
                assert_eq!(reason, "HealthCheckFailed");
                assert_eq!(message, "HealthCheckFailed message");
                assert_eq!(since, Some(t(100)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(state(&failed, true), SyncState::Unreachable { since: Some(t(100)) });
        let failed_here = ks(ready("False", "HealthCheckFailed", "main@sha1:r2"), json!({}), 1);
        assert!(matches!(state(&failed_here, false), SyncState::Failed { since: Some(s), .. } if s == t(150)));
    }

    #[test]
    fn suspend_stale_and_missing_sources() {
        let suspended = ks(ready("True", "ReconciliationSucceeded", "main@sha1:r1"), json!({"suspend": true}), 1);
        assert_eq!(state(&suspended, false), SyncState::Suspended { by: Paused::Suspend, behind: true });
        assert!(!state(&suspended, false).alarm(t(10_000), Duration::from_secs(30)), "suspension is not an alarm");

        let stale = ks(ready("True", "ReconciliationSucceeded", "main@sha1:r2"), json!({}), 2);
        assert!(matches!(state(&stale, false), SyncState::Stale { generation: 2, observed: 1, .. }));

        let never = ks(json!({}), json!({}), 1);
        assert_eq!(state(&never, false), SyncState::Pending { since: Some(t(100)), reconciling: false });
        let log = PropagationLog::default();
        assert_eq!(sync_state(&never, None, &log, false), SyncState::NoSource);
    }

    #[test]
    fn the_alarm_fires_past_the_target() {
        let pending = ks(ready("True", "ReconciliationSucceeded", "main@sha1:r1"), json!({}), 1);
        let s = state(&pending, false);
        assert!(!s.alarm(t(129), Duration::from_secs(30)));
        assert!(s.alarm(t(131), Duration::from_secs(30)));
        assert!(!SyncState::InSync.alarm(t(10_000), Duration::from_secs(30)));
    }
}
