//! The model: the fleet's state, the audit timeline, the operator action and the UI
//! state. One task owns it; `update` is the only way it changes. The fleet's derived
//! state is kept beside it and made anew only when the fleet changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tui_input::Input;

use super::audit::{AuditCursor, AuditLog};
use crate::action::Pane;
use crate::cluster::ContextSpec;
use crate::derive::{Derive, Derived, RowKey};
use crate::fleet::state::{Context, FleetSettings, FleetState};
use crate::workflow::operation::Operation;

/// What a session is (from the config and the session's kind); the fleet's own targets
/// are in [`FleetSettings`].
#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub fleet: FleetSettings,
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
            fleet: FleetSettings::default(),
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
    /// The selected row of each pane, by its key.
    pub selected: BTreeMap<Pane, RowKey>,
    pub filter: Filter,
    /// The row whose detail is open (its key).
    pub detail: Option<RowKey>,
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
    /// The command line (`:`), while it is open.
    pub command: Option<Input>,
    /// A runs-pane prompt that is not the driven run's own (a take-over).
    pub run_prompt: Option<super::runs::RunPrompt>,
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
            command: None,
            run_prompt: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    /// The clusters, the hub's registrations and join, the propagation history.
    pub fleet: FleetState,
    /// The fleet derived, kept while it holds.
    derive: Derive,
    /// The audit timeline.
    pub audit: AuditLog,
    /// The operator action under way, or the last one.
    pub operation: Option<Operation>,
    pub operations_started: u64,
    /// The id of the run this session drives (its record is among the hub's runs).
    pub driving: Option<String>,
    pub settings: ModelSettings,
    pub ui: Ui,
    /// Bumped by every message that changed something.
    pub version: u64,
    pub started: Timestamp,
    /// The firing triggers this session posted (or saw posted) as Warning Events on the
    /// hub, by cluster, trigger and since: each firing is posted once.
    pub posted_triggers: std::collections::BTreeSet<(String, &'static str, Timestamp)>,
    /// The latest time a message brought (ticks, engine events): what `update`, the
    /// derived state and the views judge and draw by, so they never read a clock.
    pub now: Timestamp,
    pub quit: bool,
}

impl Model {
    /// A model of the given contexts (the engine's cluster ids are their positions).
    pub fn new(contexts: &[ContextSpec], settings: ModelSettings, now: Timestamp) -> Self {
        let contexts = contexts.iter().map(|c| Context { name: &c.name, server: &c.server, is_hub: c.is_hub });
        Model {
            fleet: FleetState::new(contexts, settings.fleet.clone(), now),
            derive: Derive::default(),
            audit: AuditLog::new(settings.audit_cap),
            operation: None,
            operations_started: 0,
            driving: None,
            settings,
            ui: Ui::default(),
            version: 0,
            started: now,
            posted_triggers: Default::default(),
            now,
            quit: false,
        }
    }

    /// The fleet derived at the model's time: made anew only when something changed.
    pub fn derived(&mut self) -> Arc<Derived> {
        self.derive.get(&self.fleet, self.now)
    }

    /// How many times the fleet was derived, and how many clusters anew (for tests and
    /// benchmarks).
    pub fn derivations(&self) -> (u64, u64) {
        (self.derive.computations(), self.derive.clusters_derived())
    }

    /// The time spent deriving the fleet, in all.
    pub fn deriving(&self) -> std::time::Duration {
        self.derive.spent()
    }
}
