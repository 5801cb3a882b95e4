//! The rows of each pane, in order, after the filter: one definition that `update`
//! moves the selection through and the views draw. A row is named by a typed key, so a
//! selection survives rows moving around it.

use crate::action::Pane;
use crate::fleet::state::{ClusterId, FleetState};
use crate::fleet::summary::ObjectKey;

use super::Derived;
use super::backups::BackupRow;
use super::propagation::SpokeSync;

/// A row of a pane.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKey {
    /// A cluster of the kubeconfig.
    Cluster(ClusterId),
    /// A registration no context reaches, by its name on the hub.
    HubOnly(String),
    /// A backups row: a cluster, and the schedule it is about (none for a cluster with
    /// Velero and no schedule).
    Backup { cluster: ClusterId, schedule: Option<ObjectKey> },
    /// An audit record, by its place in the timeline.
    Audit(u64),
    /// A workflow run, by its id.
    Run(String),
}

impl RowKey {
    pub fn of_backup(row: &BackupRow) -> RowKey {
        RowKey::Backup { cluster: row.cluster, schedule: row.schedule().cloned() }
    }

    /// The cluster the row is about, when a context reaches it.
    pub fn cluster(&self) -> Option<ClusterId> {
        match self {
            RowKey::Cluster(id) | RowKey::Backup { cluster: id, .. } => Some(*id),
            RowKey::Run(_) => None,
            RowKey::HubOnly(_) | RowKey::Audit(_) => None,
        }
    }
}

/// The filter line's text, matched case-insensitively as a substring.
pub struct Needle(String);

impl Needle {
    pub fn new(filter: &str) -> Self {
        Self(filter.trim().to_lowercase())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a row's lower-case text passes.
    pub fn admits(&self, lower: &str) -> bool {
        self.0.is_empty() || lower.contains(&self.0)
    }
}

impl Derived {
    /// The keys of a pane's rows after the filter, in order.
    pub fn keys(&self, fleet: &FleetState, pane: Pane, filter: &str) -> Vec<RowKey> {
        let needle = Needle::new(filter);
        let clusters = |with_hub: bool| {
            self.order
                .iter()
                .filter(move |&&id| with_hub || Some(id) != fleet.hub_id())
                .filter(|&&id| needle.admits(&self.clusters[id].search))
                .map(|&id| RowKey::Cluster(id))
        };
        let hub_only = || {
            self.shared
                .hub_only
                .iter()
                .filter(|r| needle.admits(&format!("{} hub-only", r.name.to_lowercase())))
                .map(|r| RowKey::HubOnly(r.name.clone()))
        };
        match pane {
            Pane::Health => clusters(true).chain(hub_only()).collect(),
            Pane::Latency => clusters(true).collect(),
            Pane::Propagation => clusters(false).chain(hub_only()).collect(),
            Pane::Backups => self
                .backup_rows()
                .filter(|r| r.listed())
                .filter(|r| {
                    needle.is_empty() || {
                        let name = &fleet.clusters()[r.cluster].context;
                        needle.admits(&format!("{name} {}", r.text()).to_lowercase())
                    }
                })
                .map(RowKey::of_backup)
                .collect(),
            Pane::Audit => Vec::new(),
            Pane::Runs => super::runs::rows(fleet, self.now)
                .filter(|r| needle.is_empty() || needle.admits(&r.search()))
                .map(|r| RowKey::Run(r.run.id.clone()))
                .collect(),
        }
    }

    /// The key of a pane's selected row: `stored` if it is still listed, else the first.
    pub fn selected(&self, fleet: &FleetState, pane: Pane, filter: &str, stored: Option<&RowKey>) -> Option<RowKey> {
        let keys = self.keys(fleet, pane, filter);
        stored.filter(|k| keys.contains(k)).cloned().or_else(|| keys.into_iter().next())
    }

    /// The propagation row of a key.
    pub fn spoke_row(&self, key: &RowKey) -> Option<&SpokeSync> {
        match key {
            RowKey::Cluster(id) => self.clusters.get(*id)?.rows.sync.as_ref(),
            RowKey::HubOnly(name) => self.shared.hub_only.iter().find(|r| r.name == *name),
            _ => None,
        }
    }

    /// The backups row of a key.
    pub fn backup_row(&self, key: &RowKey) -> Option<&BackupRow> {
        let RowKey::Backup { cluster, schedule } = key else { return None };
        self.clusters.get(*cluster)?.rows.backups.iter().find(|r| r.schedule() == schedule.as_ref())
    }
}
