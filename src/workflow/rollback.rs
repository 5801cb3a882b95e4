//! The rollback workflow and the release of a pinned spoke, as runs: their steps, the
//! change sets they write (suspend, restore, revert by undoing runs or by pinning the
//! last good revision, release), the notification they send, and the judgments of their
//! waits. Pure: the runner (`cluster::runbook::rollback`) reads and writes.
//!
//! Flux has no rollback command: a spoke returns to its last good revision through a
//! copy of its Kustomizations' shared source with `spec.ref.commit` (or `spec.ref.digest`
//! for OCI) set to it, in the shared source's namespace (so its credentials Secret is at
//! hand), and its Kustomizations pointed at the copy: the other spokes keep their
//! delivery. A Velero Restore puts the backed-up objects back with
//! `existingResourcePolicy: update` (the default, `none`, skips every object that still
//! exists, which is all of them in an in-place rollback).

mod notify;
mod plan;

pub use notify::{alert, notified, webhook_body};
pub use plan::{
    PinPlan, Release, choose_backup, last_good_revision, pinned_name, pinned_ref, pins_fact, plan_pin, plan_release,
    plan_restore, plan_suspend, plan_undo, restore_name, restore_namespaces, runs_to_undo, suspended_reason,
};

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::fleet::run::{Gate, Run, Step, StepSpec, Workflow};

/// The facts a rollback run keeps: what it starts with (the trigger it answers, when that
/// fired, the target, the backup the operator named, the failed policy results before the
/// revision), and what its steps find.
pub mod facts {
    /// `undo` or `revision`.
    pub const TARGET: &str = "target";
    pub const TRIGGER: &str = "trigger";
    pub const TRIGGERED_AT: &str = "triggered_at";
    pub const VIOLATIONS_BASELINE: &str = "violations_baseline";
    /// The Velero Backup restored from.
    pub const BACKUP: &str = "backup";
    /// The namespaces restored (JSON list).
    pub const NAMESPACES: &str = "namespaces";
    /// The spoke's Kustomizations on the hub (JSON list of names).
    pub const KUSTOMIZATIONS: &str = "kustomizations";
    /// The pins the revert writes (JSON list of [`PinPlan`]).
    pub const PINS: &str = "pins";
    /// The runs the revert undoes, newest first (JSON list of ids).
    pub const UNDO_RUNS: &str = "undo_runs";
    /// Runs on the cluster the rollback paused (JSON list of ids).
    pub const PAUSED_RUNS: &str = "paused_runs";
    pub const INCIDENT: &str = "incident";
    pub const REASON: &str = "reason";
    /// When the recovery was confirmed, and the time to recovery in seconds.
    pub const RECOVERED_AT: &str = "recovered_at";
    pub const TIME_TO_RECOVERY: &str = "time_to_recovery_secs";
}

/// How rollbacks are carried out (`[rollback]`, `[notify]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The cluster must stay healthy this long before the rollback is confirmed.
    pub confirm_for: Duration,
    /// How long the restore and the revert's reconciliation may take.
    pub restore_timeout: Duration,
    pub verify_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            confirm_for: Duration::from_secs(120),
            restore_timeout: Duration::from_secs(30 * 60),
            verify_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// The incident attestation's item: its note is `<reference> <reason>`.
pub const INCIDENT_ITEM: &str =
    "incident response: type the incident reference, then why (INC-1234 payments down after the policies rollout)";

fn check(name: &str, check: &str, phase: &str) -> Step {
    Step { phase: phase.into(), ..Step::new(name, StepSpec::Check { check: check.into() }) }
}

fn change(name: &str, plan: &str, confirm: &str, phase: &str) -> Step {
    let spec = StepSpec::ChangeSet { plan: plan.into(), confirm: confirm.into(), writes: vec![] };
    Step { phase: phase.into(), ..Step::new(name, spec) }
}

fn wait(name: &str, condition: &str, timeout: Duration, phase: &str) -> Step {
    let spec = StepSpec::Wait { condition: condition.into(), timeout_secs: timeout.as_secs() };
    Step { phase: phase.into(), ..Step::new(name, spec) }
}

/// The phases of a rollback, as the run's detail groups its steps.
pub const IMMEDIATE: &str = "immediate actions";
pub const TECHNICAL: &str = "technical steps";
pub const VERIFICATION: &str = "verification";

/// The steps of a rollback of `cluster` to `target` (`undo` or `revision`).
pub fn rollback_steps(cluster: &str, target: &str, s: &Settings) -> Vec<Step> {
    let revert = if target == "undo" {
        "revert configuration: the inverse of every write the runs made, newest first (prune off before a Kustomization is removed)"
    } else {
        "revert configuration: pin the spoke to its last good revision through a per-spoke source, and resume it"
    };
    let mut steps = vec![
        check("the rollback's target: what to return to, from which backup", "rollback-target", IMMEDIATE),
        Step {
            phase: IMMEDIATE.into(),
            ..Step::new(
                "activate incident response",
                StepSpec::Gate { gate: Gate::Attest { item: INCIDENT_ITEM.into() } },
            )
        },
        change(
            "stop ongoing changes: suspend the spoke's Kustomizations on the hub, recording who and why",
            "rollback-suspend",
            cluster,
            IMMEDIATE,
        ),
        check(
            "notify stakeholders: a Warning Event on the hub, Alertmanager, the webhook",
            "rollback-notify",
            IMMEDIATE,
        ),
        change(
            "restore from backup, existingResourcePolicy: update (the default, none, would skip every object that still exists)",
            "rollback-restore",
            cluster,
            TECHNICAL,
        ),
        wait(
            "the restore Completed (Velero's warnings and errors counted)",
            "restore-completed",
            s.restore_timeout,
            TECHNICAL,
        ),
        change(revert, "rollback-revert", cluster, TECHNICAL),
        check("validate system state: every object changed read back against the plan", "rollback-readback", TECHNICAL),
    ];
    if target != "undo" {
        steps.push(wait(
            "the spoke's Kustomizations Ready at the pinned revision",
            "pinned-ready",
            s.verify_timeout,
            TECHNICAL,
        ));
    }
    steps.extend([
        wait("test core functionality: every workload ready again", "workloads-ready", s.verify_timeout, VERIFICATION),
        check(
            "verify security controls: policy probes denied, violations at or below the rollback point's",
            "rollback-security",
            VERIFICATION,
        ),
        wait(
            &format!(
                "confirm service restoration: healthy, its triggers clear, for {}",
                humantime::format_duration(s.confirm_for)
            ),
            "recovered",
            s.confirm_for + s.verify_timeout,
            VERIFICATION,
        ),
        check("time to recovery: from the trigger's firing to confirmed", "rollback-recovery", VERIFICATION),
    ]);
    for step in &mut steps {
        step.hold = true;
    }
    // A restore Velero finished with errors, or a probe not denied, can be gone past
    // with a typed reason: the rollback still has to go on.
    for name in ["restore-completed", "rollback-security"] {
        if let Some(step) = steps.iter_mut().find(|s| match &s.spec {
            StepSpec::Wait { condition, .. } => condition == name,
            StepSpec::Check { check } => check == name,
            _ => false,
        }) {
            step.overridable = true;
        }
    }
    steps
}

/// The steps of a release of a spoke a rollback pinned.
pub fn release_steps(spoke: &str, s: &Settings) -> Vec<Step> {
    vec![
        check("the spoke's pinned Kustomizations and the shared sources they came from", "pinned", ""),
        change(
            "point the Kustomizations back at the shared source, resume them, remove the per-spoke sources",
            "release",
            spoke,
            "",
        ),
        wait("the Kustomizations Ready at the shared source's revision", "released-ready", s.verify_timeout, ""),
    ]
}

/// The incident reference and reason the operator attested (empty before).
pub fn incident_of(run: &Run) -> (String, String) {
    let step = run
        .steps
        .iter()
        .position(|s| matches!(&s.spec, StepSpec::Gate { gate: Gate::Attest { item } } if item == INCIDENT_ITEM));
    run.confirmations.iter().rev().find(|c| Some(c.step) == step).map(|c| incident(&c.text)).unwrap_or_default()
}

/// A Velero Restore's phase, with its warnings and errors.
pub fn restore_reading(name: &str, restore: &Value) -> super::migrate::Reading {
    let int = |p: &str| crate::fields::int(restore, p);
    let counts = format!(
        "{} of {} items restored, {} warnings, {} errors",
        int("/status/progress/itemsRestored"),
        int("/status/progress/totalItems"),
        int("/status/warnings"),
        int("/status/errors")
    );
    let hint = format!(" (velero restore describe {name} --details)");
    super::migrate::velero_reading(&format!("Restore {name}"), restore, &counts, &hint)
}

/// The incident reference and reason of an attestation's note: `INC-1234 payments down`.
pub fn incident(note: &str) -> (String, String) {
    let note = note.trim();
    match note.split_once(char::is_whitespace) {
        Some((reference, reason)) => (reference.to_owned(), reason.trim().to_owned()),
        None => (note.to_owned(), String::new()),
    }
}

/// Where "confirm service restoration" stands: the cluster healthy since `since` (or
/// not, with why) against `confirm_for`. Returns the progress text, whether it is
/// confirmed, and the healthy-since to keep.
pub fn recovery(
    healthy: Result<(), String>,
    since: Option<Timestamp>,
    now: Timestamp,
    confirm_for: Duration,
) -> (String, bool, Option<Timestamp>) {
    match healthy {
        Err(why) => (format!("not healthy yet: {why}"), false, None),
        Ok(()) => {
            let since = since.unwrap_or(now);
            let held = crate::fleet::ago(now, since);
            let text = format!(
                "healthy for {} of {}",
                humantime::format_duration(Duration::from_secs(held.as_secs())),
                humantime::format_duration(confirm_for)
            );
            (text, held >= confirm_for, Some(since))
        }
    }
}

/// Time to recovery: from the trigger's firing (else the run's start) to `recovered`.
pub fn time_to_recovery(run: &Run, recovered: Timestamp) -> Duration {
    let from = run.facts.get(facts::TRIGGERED_AT).and_then(|t| t.parse::<Timestamp>().ok()).unwrap_or(run.started_at);
    crate::fleet::ago(recovered, from)
}

/// The rollback's recovery, for `check --json` and the backups pane: (cluster, run,
/// seconds) of each confirmed rollback, newest first.
pub fn recoveries<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<(&'a Run, Duration)> {
    let mut out: Vec<(&Run, Duration)> = runs
        .into_iter()
        .filter(|r| r.workflow == Workflow::Rollback)
        .filter_map(|r| {
            let secs: u64 = r.facts.get(facts::TIME_TO_RECOVERY)?.parse().ok()?;
            Some((r, Duration::from_secs(secs)))
        })
        .collect();
    out.sort_by_key(|(r, _)| std::cmp::Reverse(r.started_at));
    out
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
