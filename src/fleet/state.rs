//! The fleet as fleetdeck knows it: every cluster's facts, the hub's registrations joined
//! to the local contexts, and the propagation history, with the targets they are judged
//! against. Pure data that `update` changes and `derive` reads; it knows nothing of the
//! screen.
//!
//! Every change goes through a method that bumps a revision: the fleet's (`rev`), the
//! cluster's own (`ClusterModel::rev`), and for what every spoke's rows are made of (the
//! hub's Flux objects, the join, the propagation log) the shared one. Derived state is
//! cached against them, so a change to one cluster re-derives that cluster only.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;

use super::cluster::{ClusterModel, Thresholds, WatchState, WatchStatus};
use super::failure::Failure;
use super::kind::Kind;
use super::probes::ProbeLog;
use super::propagation::PropagationLog;
use super::registry::{ContextFacts, ContextRole, Join, Registration, join, registrations};
use super::summary::Severity;

/// A cluster's index in the fleet: the order of the contexts given at the start (the
/// hub's among them), the same the engine numbers them by.
pub type ClusterId = usize;

/// The targets and windows the fleet is judged by (from the config).
#[derive(Debug, Clone)]
pub struct FleetSettings {
    pub latency_target: Duration,
    /// As a fraction (0.9999).
    pub availability_target: f64,
    pub thresholds: Thresholds,
    /// A new revision should be Ready on every spoke within this long.
    pub propagation_target: Duration,
    /// Per-spoke propagation percentiles are over this window.
    pub propagation_window: Duration,
    /// How long past a scheduled run its backup may take (capped per schedule).
    pub backup_grace: Duration,
    pub latency_window: Duration,
    pub availability_window: Duration,
    /// Hub spoke name -> context name, for spokes whose names differ.
    pub mapping: BTreeMap<String, String>,
    /// Policy findings of this severity or worse make a cluster degraded; lower ones
    /// are counted and shown only.
    pub violation_severity: Severity,
    /// A run's lock not renewed for this long makes it interrupted (`runbook.lock_ttl`).
    pub lock_ttl: Duration,
    /// This machine's name: a run locked by a process of it that is gone is interrupted.
    pub host: String,
    /// When a rollback is suggested.
    pub triggers: super::trigger::TriggerSettings,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            latency_target: Duration::from_millis(100),
            availability_target: 0.9999,
            thresholds: Thresholds {
                unreachable_after: Duration::from_secs(60),
                probe_interval: Duration::from_secs(5),
                error_rate: 0.05,
            },
            propagation_target: Duration::from_secs(30),
            propagation_window: Duration::from_secs(3600),
            backup_grace: Duration::from_secs(30 * 60),
            latency_window: Duration::from_secs(300),
            availability_window: Duration::from_secs(3600),
            mapping: BTreeMap::new(),
            violation_severity: Severity::High,
            lock_ttl: Duration::from_secs(120),
            host: String::new(),
            triggers: super::trigger::TriggerSettings::default(),
        }
    }
}

/// A context to keep facts about: its name, server URL, and whether it is the hub.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub name: &'a str,
    pub server: &'a str,
    pub is_hub: bool,
}

#[derive(Debug, Clone)]
pub struct FleetState {
    clusters: Vec<ClusterModel>,
    by_name: HashMap<String, ClusterId>,
    hub: Option<ClusterId>,
    registrations: Vec<Registration>,
    join: Join,
    propagation: PropagationLog,
    pub settings: FleetSettings,
    rev: u64,
    shared_rev: u64,
}

impl FleetState {
    pub fn new<'a>(contexts: impl IntoIterator<Item = Context<'a>>, settings: FleetSettings, now: Timestamp) -> Self {
        let clusters: Vec<ClusterModel> = contexts
            .into_iter()
            .map(|c| {
                let probes = ProbeLog::new(settings.latency_window, settings.availability_window);
                ClusterModel::new(c.name, c.server, c.is_hub, probes, now)
            })
            .collect();
        let by_name = clusters.iter().enumerate().map(|(i, c)| (c.context.clone(), i)).collect();
        let hub = clusters.iter().position(|c| c.is_hub);
        let mut fleet = FleetState {
            clusters,
            by_name,
            hub,
            registrations: Vec::new(),
            join: Join::default(),
            propagation: PropagationLog::default(),
            settings,
            rev: 0,
            shared_rev: 0,
        };
        fleet.rejoin();
        fleet
    }

    pub fn clusters(&self) -> &[ClusterModel] {
        &self.clusters
    }

    pub fn cluster(&self, id: ClusterId) -> Option<&ClusterModel> {
        self.clusters.get(id)
    }

    /// A cluster to change (its state, not its watched objects: a probe, the
    /// connection): its revision and the fleet's are bumped.
    pub fn cluster_mut(&mut self, id: ClusterId) -> Option<&mut ClusterModel> {
        let rev = self.bump();
        let c = self.clusters.get_mut(id)?;
        c.rev = rev;
        Some(c)
    }

    /// A cluster whose watched objects or watches change: its data revision is bumped
    /// too.
    pub fn data_mut(&mut self, id: ClusterId) -> Option<&mut ClusterModel> {
        let c = self.cluster_mut(id)?;
        c.data_rev = c.rev;
        Some(c)
    }

    /// The cluster of a context, by name.
    pub fn by_name(&self, name: &str) -> Option<ClusterId> {
        self.by_name.get(name).copied()
    }

    pub fn hub_id(&self) -> Option<ClusterId> {
        self.hub
    }

    pub fn hub(&self) -> Option<&ClusterModel> {
        self.hub.and_then(|h| self.clusters.get(h))
    }

    pub fn registrations(&self) -> &[Registration] {
        &self.registrations
    }

    pub fn registration(&self, index: usize) -> Option<&Registration> {
        self.registrations.get(index)
    }

    /// Registrations no context reaches.
    pub fn hub_only(&self) -> &[usize] {
        &self.join.hub_only
    }

    /// What a context is to the hub: unknown for every other context until the hub's
    /// registrations (its Kustomizations and spoke Secrets) have been listed once.
    pub fn role(&self, id: ClusterId) -> ContextRole {
        let role = self.join.roles.get(id).copied().unwrap_or(ContextRole::Candidate);
        if role != ContextRole::Hub && !self.registrations_known() {
            return ContextRole::Unknown;
        }
        role
    }

    /// Whether the hub's registrations have been read: its Kustomizations listed at
    /// least once (a later failure keeps what was read) or known not to exist there (no
    /// Flux on the hub: nothing is registered), and its spoke Secrets listed, absent or
    /// refused to these credentials (spokes are then joined by name).
    pub fn registrations_known(&self) -> bool {
        let read = |w: &WatchStatus| w.synced_at.is_some() || w.state == WatchState::NotInstalled;
        let refused = |w: &WatchStatus| matches!(&w.state, WatchState::Failed(e) if matches!(e.failure, Failure::Forbidden | Failure::Unauthorized));
        self.hub().is_some_and(|hub| {
            let kustomizations = hub.watches.get(&Kind::Kustomization).is_some_and(read);
            let secrets = hub.watches.get(&Kind::SpokeSecret).is_some_and(|w| read(w) || refused(w));
            kustomizations && secrets
        })
    }

    /// The registration a context is joined to, if it is a spoke.
    pub fn registration_of(&self, id: ClusterId) -> Option<&Registration> {
        self.role(id).registration().and_then(|r| self.registrations.get(r))
    }

    pub fn propagation(&self) -> &PropagationLog {
        &self.propagation
    }

    /// The propagation log to change: every spoke's rows depend on it.
    pub fn propagation_mut(&mut self) -> &mut PropagationLog {
        self.bump_shared();
        &mut self.propagation
    }

    /// Recomputes the registrations and their join to contexts (after the hub's
    /// Kustomizations or Secrets, or a cluster's identity, changed).
    pub fn rejoin(&mut self) {
        self.registrations = match self.hub() {
            Some(hub) => registrations(&hub.kustomizations, &hub.spoke_secrets),
            None => Vec::new(),
        };
        let facts: Vec<ContextFacts> = self
            .clusters
            .iter()
            .map(|c| ContextFacts {
                name: c.context.clone(),
                server: c.server.clone(),
                uid: c.uid.clone(),
                is_hub: c.is_hub,
            })
            .collect();
        self.join = join(&facts, &self.registrations, &self.settings.mapping);
        self.bump_shared();
    }

    /// The hub's data that every spoke's rows are made of changed.
    pub fn bump_shared(&mut self) {
        self.shared_rev = self.bump();
    }

    fn bump(&mut self) -> u64 {
        self.rev += 1;
        self.rev
    }

    /// Bumped on every change.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// Bumped when what every spoke's rows depend on changed.
    pub fn shared_rev(&self) -> u64 {
        self.shared_rev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_bump_the_revisions_they_touch() {
        let contexts = [("hub", true), ("a", false), ("b", false)].map(|(name, is_hub)| Context {
            name,
            server: "https://x",
            is_hub,
        });
        let mut f = FleetState::new(contexts, FleetSettings::default(), Timestamp::UNIX_EPOCH);
        assert_eq!((f.by_name("b"), f.hub_id()), (Some(2), Some(0)));
        let (rev, shared) = (f.rev(), f.shared_rev());
        f.cluster_mut(1).unwrap().version = Some("v1.33.2".into());
        assert!(f.rev() > rev && f.shared_rev() == shared, "one cluster's change is its own");
        assert_eq!(f.clusters()[1].rev, f.rev());
        assert!(f.clusters()[2].rev < f.rev());
        assert_eq!(f.clusters()[1].data_rev, 0, "not its watched objects");
        f.data_mut(2);
        assert_eq!(f.clusters()[2].data_rev, f.rev());
        f.propagation_mut();
        assert!(f.shared_rev() > shared, "the propagation log is every spoke's");
        assert_eq!(f.role(1), ContextRole::Unknown, "the hub's registrations are not read yet");
        f.cluster_mut(0).unwrap().relist(Kind::Kustomization, Vec::new(), Timestamp::UNIX_EPOCH);
        assert_eq!(f.role(1), ContextRole::Unknown, "the spoke Secrets are not read yet");
        f.cluster_mut(0).unwrap().not_installed(Kind::SpokeSecret);
        assert_eq!(f.role(1), ContextRole::Candidate, "read: no registration names it");
        assert_eq!(f.role(0), ContextRole::Hub);
    }
}
