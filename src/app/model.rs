//! The model: every cluster's facts, the hub join, and the UI state. One task owns it;
//! `update` is the only way it changes, and every change bumps `version`, which is what
//! views are cached against.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use tui_input::Input;

use super::audit::{AuditCursor, AuditLog};
use crate::action::Pane;
use crate::cluster::ContextSpec;
use crate::fleet::cluster::{ClusterModel, Thresholds};
use crate::fleet::probes::ProbeLog;
use crate::fleet::propagation::PropagationLog;
use crate::fleet::registry::{ContextFacts, Join, Registration, join, registrations};
use crate::workflow::operation::Operation;

/// Targets and windows (from the config).
#[derive(Debug, Clone)]
pub struct ModelSettings {
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
    /// Where probes run from (shown on the latency pane).
    pub vantage: String,
    /// Whether the session can write (an operator session with a write client): the
    /// mutating actions exist only then.
    pub writable: bool,
    /// Globs of contexts never written to (`fleet.read_only`); the write client does not
    /// hold their credentials, and actions on them are refused before planning.
    pub read_only_contexts: Vec<String>,
    /// Most audit records kept in memory.
    pub audit_cap: usize,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            latency_target: Duration::from_millis(100),
            availability_target: 0.9999,
            thresholds: Thresholds {
                unreachable_after: Duration::from_secs(60),
                probe_interval: Duration::from_secs(5),
            },
            propagation_target: Duration::from_secs(30),
            propagation_window: Duration::from_secs(3600),
            backup_grace: Duration::from_secs(30 * 60),
            latency_window: Duration::from_secs(300),
            availability_window: Duration::from_secs(3600),
            mapping: BTreeMap::new(),
            vantage: "this machine".to_owned(),
            writable: false,
            read_only_contexts: Vec::new(),
            audit_cap: 100_000,
        }
    }
}

/// The filter line (`/`).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub input: Input,
    pub editing: bool,
}

impl Filter {
    pub fn text(&self) -> &str {
        self.input.value()
    }

    /// Whether a row's searchable text passes the filter (case-insensitive).
    pub fn admits(&self, haystack: &str) -> bool {
        let needle = self.text().trim();
        needle.is_empty() || haystack.to_lowercase().contains(&needle.to_lowercase())
    }
}

#[derive(Debug, Clone)]
pub struct Ui {
    pub pane: Pane,
    /// The selected row of each pane, by its key (a context or registration name).
    pub selected: BTreeMap<Pane, String>,
    pub filter: Filter,
    /// The row whose detail is open (its key).
    pub detail: Option<String>,
    /// The detail's scroll; in a backups detail, the selected backup.
    pub detail_scroll: usize,
    pub help: bool,
    /// Rows a page moves (the last drawn table height).
    pub page: usize,
    /// The operator action's panel is shown.
    pub operation_open: bool,
    /// What is typed at the confirmation prompt.
    pub prompt: Input,
    /// A short message for the footer, and when it was given.
    pub notice: Option<(String, Timestamp)>,
    /// The audit pane's cursor.
    pub audit: AuditCursor,
    /// A wall session's page rotation (`--wall`).
    pub wall: Option<Wall>,
}

/// The wall's pages, shown in turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wall {
    pub page: Pane,
    pub paused: bool,
    /// When the page was shown.
    pub since: Timestamp,
    pub interval: Duration,
}

impl Wall {
    pub fn new(interval: Duration, now: Timestamp) -> Self {
        Self { page: Pane::Health, paused: false, since: now, interval }
    }

    /// How long until the next page (`None` while paused).
    pub fn next_in(&self, now: Timestamp) -> Option<Duration> {
        (!self.paused).then(|| self.interval.saturating_sub(crate::fleet::ago(now, self.since)))
    }

    /// Turns to the next page when the current one has been shown long enough.
    pub fn tick(&mut self, now: Timestamp) -> bool {
        let due = self.next_in(now).is_some_and(|d| d.is_zero());
        if due {
            self.turn(self.page.next(), now);
        }
        due
    }

    pub fn turn(&mut self, page: Pane, now: Timestamp) {
        self.page = page;
        self.since = now;
    }

    /// Pausing holds the page; resuming gives it a whole interval again.
    pub fn toggle_pause(&mut self, now: Timestamp) {
        self.paused = !self.paused;
        self.since = now;
    }
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            pane: Pane::Health,
            selected: BTreeMap::new(),
            filter: Filter::default(),
            detail: None,
            detail_scroll: 0,
            help: false,
            page: 10,
            operation_open: false,
            prompt: Input::default(),
            notice: None,
            audit: AuditCursor::default(),
            wall: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub clusters: Vec<ClusterModel>,
    pub registrations: Vec<Registration>,
    pub join: Join,
    /// Revisions the hub's sources produced and when each Kustomization applied them.
    pub propagation: PropagationLog,
    /// The audit timeline.
    pub audit: AuditLog,
    /// The operator action under way, or the last one.
    pub operation: Option<Operation>,
    pub operations_started: u64,
    pub settings: ModelSettings,
    pub ui: Ui,
    pub version: u64,
    pub started: Timestamp,
    /// The latest time a message brought (ticks, engine events): what `update` and row
    /// filters judge states by, so they never read a clock.
    pub now: Timestamp,
    pub quit: bool,
}

impl Model {
    /// A model of the given contexts (the engine's cluster ids are their positions).
    pub fn new(contexts: &[ContextSpec], settings: ModelSettings, now: Timestamp) -> Self {
        let clusters = contexts
            .iter()
            .map(|c| {
                let probes = ProbeLog::new(settings.latency_window, settings.availability_window);
                ClusterModel::new(&c.name, &c.server, c.is_hub, probes, now)
            })
            .collect();
        let mut model = Model {
            clusters,
            registrations: Vec::new(),
            join: Join::default(),
            propagation: PropagationLog::default(),
            audit: AuditLog::new(settings.audit_cap),
            operation: None,
            operations_started: 0,
            settings,
            ui: Ui::default(),
            version: 0,
            started: now,
            now,
            quit: false,
        };
        model.rejoin();
        model
    }

    pub fn hub(&self) -> Option<&ClusterModel> {
        self.clusters.iter().find(|c| c.is_hub)
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
    }

    pub fn cluster_by_name(&self, name: &str) -> Option<(usize, &ClusterModel)> {
        self.clusters.iter().enumerate().find(|(_, c)| c.context == name)
    }
}
