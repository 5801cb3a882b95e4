//! The phases a Velero Backup or Restore goes through (`status.phase`), as a type: one
//! list of what is running, finished, failed and restorable, where two hand-written
//! lists once disagreed (a `Finalizing` backup was called "nothing to restore from").

use std::fmt;

/// A Velero Backup's or Restore's phase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum VeleroPhase {
    /// No phase yet: Velero has not picked the object up.
    #[default]
    Unset,
    New,
    Queued,
    ReadyToStart,
    InProgress,
    WaitingForPluginOperations,
    WaitingForPluginOperationsPartiallyFailed,
    Finalizing,
    FinalizingPartiallyFailed,
    Completed,
    PartiallyFailed,
    Failed,
    FailedValidation,
    Deleting,
    /// A phase this fleetdeck does not know (a newer Velero): treated as still running.
    Other(String),
}

impl VeleroPhase {
    pub fn parse(phase: &str) -> Self {
        match phase {
            "" => Self::Unset,
            "New" => Self::New,
            "Queued" => Self::Queued,
            "ReadyToStart" => Self::ReadyToStart,
            "InProgress" => Self::InProgress,
            "WaitingForPluginOperations" => Self::WaitingForPluginOperations,
            "WaitingForPluginOperationsPartiallyFailed" => Self::WaitingForPluginOperationsPartiallyFailed,
            "Finalizing" => Self::Finalizing,
            "FinalizingPartiallyFailed" => Self::FinalizingPartiallyFailed,
            "Completed" => Self::Completed,
            "PartiallyFailed" => Self::PartiallyFailed,
            "Failed" => Self::Failed,
            "FailedValidation" => Self::FailedValidation,
            "Deleting" => Self::Deleting,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The phase as Velero writes it ("" before it has one).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Unset => "",
            Self::New => "New",
            Self::Queued => "Queued",
            Self::ReadyToStart => "ReadyToStart",
            Self::InProgress => "InProgress",
            Self::WaitingForPluginOperations => "WaitingForPluginOperations",
            Self::WaitingForPluginOperationsPartiallyFailed => "WaitingForPluginOperationsPartiallyFailed",
            Self::Finalizing => "Finalizing",
            Self::FinalizingPartiallyFailed => "FinalizingPartiallyFailed",
            Self::Completed => "Completed",
            Self::PartiallyFailed => "PartiallyFailed",
            Self::Failed => "Failed",
            Self::FailedValidation => "FailedValidation",
            Self::Deleting => "Deleting",
            Self::Other(other) => other,
        }
    }

    /// Final: nothing more will happen to it.
    pub fn finished(&self) -> bool {
        matches!(self, Self::Completed | Self::PartiallyFailed | Self::Failed | Self::FailedValidation | Self::Deleting)
    }

    /// A final phase that is a failure of some kind.
    pub fn failed(&self) -> bool {
        matches!(self, Self::PartiallyFailed | Self::Failed | Self::FailedValidation)
    }

    /// A backup in this phase holds data a restore can use.
    pub fn restorable(&self) -> bool {
        matches!(self, Self::Completed | Self::PartiallyFailed)
    }

    /// Velero has taken the object up (it is past New).
    pub fn picked_up(&self) -> bool {
        !matches!(self, Self::Unset | Self::New)
    }
}

impl fmt::Display for VeleroPhase {
    /// As the panes show it: "New" before Velero has given one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => f.pad("New"),
            other => f.pad(other.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_is_running_finished_or_failed_once() {
        let running = [
            "",
            "New",
            "Queued",
            "ReadyToStart",
            "InProgress",
            "WaitingForPluginOperations",
            "WaitingForPluginOperationsPartiallyFailed",
            "Finalizing",
            "FinalizingPartiallyFailed",
            "Surprising",
        ];
        for p in running {
            let phase = VeleroPhase::parse(p);
            assert!(!phase.finished() && !phase.failed() && !phase.restorable(), "{p} is still running");
            assert_eq!(phase.as_str(), p, "round trip");
        }
        for p in ["Completed", "PartiallyFailed", "Failed", "FailedValidation", "Deleting"] {
            assert!(VeleroPhase::parse(p).finished(), "{p}");
        }
        assert!(VeleroPhase::Completed.restorable() && VeleroPhase::PartiallyFailed.restorable());
        assert!(!VeleroPhase::Failed.restorable() && !VeleroPhase::Deleting.restorable());
        assert_eq!(VeleroPhase::Unset.to_string(), "New");
        assert!(!VeleroPhase::New.picked_up() && VeleroPhase::Queued.picked_up());
    }
}
