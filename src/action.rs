//! What keys ask for: the panes and the actions the keymap maps keys to. A leaf: the
//! configuration checks `[keys]` against these names, the model's update acts on them,
//! and the keymap and help describe them.

/// The panes, in key order (1..6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pane {
    Health,
    Latency,
    Propagation,
    Backups,
    Audit,
    /// The workflow runs on the hub.
    Runs,
}

impl Pane {
    pub const ALL: [Pane; 6] = [Pane::Health, Pane::Latency, Pane::Propagation, Pane::Backups, Pane::Audit, Pane::Runs];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Health => "Health",
            Pane::Latency => "Latency",
            Pane::Propagation => "Propagation",
            Pane::Backups => "Backups",
            Pane::Audit => "Audit",
            Pane::Runs => "Runs",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// What a key asks for (the keymap maps keys to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    NextPane,
    PrevPane,
    Pane(Pane),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    /// The audit pane: follow the newest record, on and off.
    Follow,
    /// The audit pane: show routine reads too (successful get, list and watch requests
    /// of the audit logs, fleetdeck's own among them), hidden by default.
    AllRequests,
    /// The audit pane: write what the filter shows to a file.
    Export,
    /// Copy the selected row's name to the clipboard (OSC 52).
    Copy,
    /// Copy a ready kubectl command about the selected row (OSC 52).
    CopyCommand,
    /// The wall: stop and restart the page rotation.
    Pause,
    /// Operator actions (absent from read-only sessions' keymaps).
    Reconcile,
    Suspend,
    Resume,
    BackupNow,
    Restore,
    /// Open the command line (`:register <context>`, `:unregister <spoke>`).
    Command,
    /// The health pane: register the selected candidate; unregister the selected spoke;
    /// walk the selected candidate through the migration runbook.
    Register,
    Unregister,
    Migrate,
    /// The runs pane: take an interrupted run over and go on; undo a failed or aborted
    /// run's changes; abort the run this session drives.
    ContinueRun,
    UndoRun,
    AbortRun,
    /// The runs pane: try the failed step of the run this session drives again; go past
    /// it with a typed reason (where the runbook allows).
    RetryStep,
    OverrideStep,
    /// Roll the cluster of the firing trigger (or the selected spoke) back.
    Rollback,
}

impl Action {
    /// The name used in the config's `[keys]` table.
    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::NextPane => "next_pane",
            Action::PrevPane => "prev_pane",
            Action::Pane(Pane::Health) => "pane_health",
            Action::Pane(Pane::Latency) => "pane_latency",
            Action::Pane(Pane::Propagation) => "pane_propagation",
            Action::Pane(Pane::Backups) => "pane_backups",
            Action::Pane(Pane::Audit) => "pane_audit",
            Action::Pane(Pane::Runs) => "pane_runs",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page_up",
            Action::PageDown => "page_down",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Back => "back",
            Action::Filter => "filter",
            Action::Follow => "follow",
            Action::AllRequests => "all_requests",
            Action::Export => "export",
            Action::Copy => "copy",
            Action::CopyCommand => "copy_command",
            Action::Pause => "pause",
            Action::Reconcile => "reconcile",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::BackupNow => "backup_now",
            Action::Restore => "restore",
            Action::Command => "command",
            Action::Register => "register",
            Action::Unregister => "unregister",
            Action::ContinueRun => "continue_run",
            Action::UndoRun => "undo_run",
            Action::AbortRun => "abort_run",
            Action::Migrate => "migrate",
            Action::RetryStep => "retry_step",
            Action::OverrideStep => "override_step",
            Action::Rollback => "rollback",
        }
    }

    /// Whether the action writes to a cluster: such actions exist only in an operator
    /// session.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            Action::Reconcile
                | Action::Suspend
                | Action::Resume
                | Action::BackupNow
                | Action::Restore
                | Action::Command
                | Action::Register
                | Action::Unregister
                | Action::ContinueRun
                | Action::UndoRun
                | Action::AbortRun
                | Action::Migrate
                | Action::RetryStep
                | Action::OverrideStep
                | Action::Rollback
        )
    }

    /// The footer's word for an operator action (`b back up`), where the help screen's
    /// longer description does not fit.
    pub fn hint(self) -> &'static str {
        match self {
            Action::Reconcile => "reconcile",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::BackupNow => "back up",
            Action::Restore => "restore",
            Action::Register => "register",
            Action::Unregister => "unregister",
            Action::ContinueRun => "continue",
            Action::UndoRun => "undo",
            Action::AbortRun => "abort",
            Action::Migrate => "migrate",
            Action::RetryStep => "retry",
            Action::OverrideStep => "override",
            Action::Rollback => "roll back",
            other => other.description(),
        }
    }

    /// What the help screen and footer call it.
    pub fn description(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Help => "help",
            Action::NextPane => "next pane",
            Action::PrevPane => "previous pane",
            Action::Pane(Pane::Health) => "health pane",
            Action::Pane(Pane::Latency) => "latency pane",
            Action::Pane(Pane::Propagation) => "propagation pane",
            Action::Pane(Pane::Backups) => "backups pane",
            Action::Pane(Pane::Audit) => "audit pane",
            Action::Pane(Pane::Runs) => "runs pane",
            Action::Up => "up",
            Action::Down => "down",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::Open => "open",
            Action::Back => "back",
            Action::Filter => "filter rows",
            Action::Follow => "follow newest",
            Action::AllRequests => "show every request (reads too)",
            Action::Export => "export shown",
            Action::Copy => "copy name",
            Action::CopyCommand => "copy kubectl command",
            Action::Pause => "pause rotation",
            Action::Reconcile => "reconcile spoke now",
            Action::Suspend => "suspend spoke",
            Action::Resume => "resume spoke",
            Action::BackupNow => "back up now",
            Action::Restore => "restore a backup",
            Action::Command => "command line (:register, :unregister, :migrate, :rollback, :release)",
            Action::Register => "register the candidate as a spoke",
            Action::Unregister => "unregister the spoke",
            Action::ContinueRun => "take an interrupted run over, go on",
            Action::UndoRun => "undo a failed run's changes",
            Action::AbortRun => "abort the run",
            Action::Migrate => "migrate the candidate (the runbook)",
            Action::RetryStep => "retry the failed step",
            Action::OverrideStep => "override the failed step (a reason)",
            Action::Rollback => "roll back (the firing trigger's cluster, else the selected spoke)",
        }
    }

    pub const ALL: [Action; 40] = [
        Action::Quit,
        Action::Help,
        Action::NextPane,
        Action::PrevPane,
        Action::Pane(Pane::Health),
        Action::Pane(Pane::Latency),
        Action::Pane(Pane::Propagation),
        Action::Pane(Pane::Backups),
        Action::Pane(Pane::Audit),
        Action::Pane(Pane::Runs),
        Action::Up,
        Action::Down,
        Action::PageUp,
        Action::PageDown,
        Action::Top,
        Action::Bottom,
        Action::Open,
        Action::Back,
        Action::Filter,
        Action::Follow,
        Action::AllRequests,
        Action::Export,
        Action::Copy,
        Action::CopyCommand,
        Action::Pause,
        Action::Reconcile,
        Action::Suspend,
        Action::Resume,
        Action::BackupNow,
        Action::Restore,
        Action::Command,
        Action::Register,
        Action::Unregister,
        Action::ContinueRun,
        Action::UndoRun,
        Action::AbortRun,
        Action::Migrate,
        Action::RetryStep,
        Action::OverrideStep,
        Action::Rollback,
    ];

    /// The operator actions of a pane.
    pub fn operator(pane: Pane) -> &'static [Action] {
        match pane {
            Pane::Propagation => &[Action::Reconcile, Action::Suspend, Action::Resume],
            Pane::Backups => &[Action::BackupNow, Action::Restore],
            Pane::Health => &[Action::Register, Action::Unregister, Action::Migrate],
            Pane::Runs => {
                &[Action::ContinueRun, Action::UndoRun, Action::AbortRun, Action::RetryStep, Action::OverrideStep]
            }
            Pane::Latency | Pane::Audit => &[],
        }
    }

    /// The only actions of a wall session: pause, next and previous page, quit.
    pub fn wall(self) -> bool {
        matches!(self, Action::Quit | Action::NextPane | Action::PrevPane | Action::Pause)
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}
