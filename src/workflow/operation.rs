//! One operator action from plan to verified outcome: preview (server-side dry run),
//! confirm, execute, verify through the watch, done / failed / cancelled. Every
//! transition is a pure method; the runtime carries out the dry run and the write.
//! Flux actions are verified when Flux has acted on them (the reconcile request handled,
//! the suspend seen); Velero backups and restores when they finish, however long that
//! takes once Velero has picked them up.
//!
//! [`Confirmed`] is the only thing the write path executes, and only
//! [`Operation::confirm`] makes one: a write cannot happen without the preview having
//! been shown and the confirmation given (the spoke's name typed, for destructive
//! actions).

use std::time::Duration;

use jiff::Timestamp;

use super::plan::{ObjectPreview, Op, Plan, Resource, Target};
use crate::fleet::backup::Run;
use crate::fleet::cluster::ClusterModel;
use crate::fleet::phase::VeleroPhase;
use crate::fleet::summary::{ConditionStatus, KustomizationSummary, ObjectKey};

/// How long Flux has to handle the request, or Velero to pick up a new backup or
/// restore, before the operation is reported failed.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a written target stands, as the watches show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not acted on yet; what is known of it ("InProgress 120/400 items").
    Waiting(String),
    /// Picked up and under way (a backup or restore running).
    Running(String),
    /// Finished: the outcome, and whether it is a success.
    Finished { text: String, ok: bool },
}

/// The outcome of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub key: ObjectKey,
    pub text: String,
    pub ok: bool,
}

/// A plan the operator confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    plan: Plan,
    confirmation: String,
}

impl Confirmed {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// How it was confirmed ("typed production-eu-1", "pressed Enter"), for the record.
    pub fn confirmation(&self) -> &str {
        &self.confirmation
    }
}

/// What the write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executed {
    /// The `reconcile.fluxcd.io/requestedAt` value written, for actions that request one.
    pub requested_at: Option<String>,
    /// Per target: written, or why not.
    pub results: Vec<(Target, Result<(), String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The dry run is under way.
    Previewing,
    /// The dry run's answer is shown; waiting for the operator.
    Confirming {
        previews: Vec<ObjectPreview>,
    },
    Executing,
    /// Written; waiting to see Flux act on it.
    Verifying {
        executed: Executed,
        at: Timestamp,
    },
    /// Per target, the outcome as Flux or Velero reports it.
    Done {
        at: Timestamp,
        outcomes: Vec<Outcome>,
    },
    Failed {
        at: Timestamp,
        error: String,
    },
    Cancelled,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: u64,
    pub plan: Plan,
    pub stage: Stage,
    pub started: Timestamp,
    /// Why the last confirmation was refused.
    pub refused: Option<String>,
    /// Every written target has been picked up by its controller (no timeout after).
    pub picked_up: bool,
}

impl Operation {
    pub fn new(id: u64, plan: Plan, now: Timestamp) -> Self {
        Self { id, plan, stage: Stage::Previewing, started: now, refused: None, picked_up: false }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.stage, Stage::Done { .. } | Stage::Failed { .. } | Stage::Cancelled)
    }

    /// Whether the operator is being asked to confirm.
    pub fn confirming(&self) -> bool {
        matches!(self.stage, Stage::Confirming { .. })
    }

    /// The dry run answered.
    pub fn previewed(&mut self, result: Result<Vec<ObjectPreview>, String>, now: Timestamp) {
        if self.stage != Stage::Previewing {
            return;
        }
        self.stage = match result {
            Err(error) => Stage::Failed { at: now, error: format!("dry run: {error}") },
            Ok(previews) if previews.iter().all(|p| p.outcome.is_err()) => {
                let why: Vec<String> =
                    previews.iter().filter_map(|p| p.outcome.as_ref().err()).map(|e| e.to_owned()).collect();
                Stage::Failed { at: now, error: format!("the server refused the dry run: {}", why.join("; ")) }
            }
            Ok(previews) => Stage::Confirming { previews },
        };
    }

    /// What confirms this plan: the spoke's name typed for destructive actions.
    pub fn confirm_word(&self) -> Option<&str> {
        self.plan.op.destructive().then_some(self.plan.cluster.as_str())
    }

    /// The operator confirms, having typed `typed`: for a destructive plan it must be the
    /// spoke's name.
    pub fn confirm(&mut self, typed: &str) -> Option<Confirmed> {
        if !self.confirming() {
            return None;
        }
        let confirmation = match self.confirm_word() {
            Some(word) if typed.trim() != word => {
                self.refused = Some(format!("type {word} exactly to {}", self.plan.op.verb()));
                return None;
            }
            Some(word) => format!("typed {word}"),
            None => "pressed Enter".to_owned(),
        };
        self.refused = None;
        self.stage = Stage::Executing;
        Some(Confirmed { plan: self.plan.clone(), confirmation })
    }

    pub fn cancel(&mut self) {
        if matches!(self.stage, Stage::Previewing | Stage::Confirming { .. }) {
            self.stage = Stage::Cancelled;
        }
    }

    /// The write finished.
    pub fn executed(&mut self, result: Result<Executed, String>, now: Timestamp) {
        if self.stage != Stage::Executing {
            return;
        }
        self.stage = match result {
            Err(error) => Stage::Failed { at: now, error },
            Ok(executed) if executed.results.iter().all(|(_, r)| r.is_err()) => {
                let why: Vec<String> = executed
                    .results
                    .iter()
                    .filter_map(|(t, r)| r.as_ref().err().map(|e| format!("{}: {e}", t.key.1)))
                    .collect();
                Stage::Failed { at: now, error: format!("nothing was written: {}", why.join("; ")) }
            }
            Ok(executed) => Stage::Verifying { executed, at: now },
        };
    }

    /// Where a written target stands in `clusters` (found by context).
    pub fn target_progress(&self, executed: &Executed, target: &Target, clusters: &[ClusterModel]) -> Progress {
        let cluster = clusters.iter().find(|c| c.context == target.context);
        match target.resource {
            Resource::Kustomization => match cluster.and_then(|c| c.kustomizations.get(&target.key)) {
                Some(ks) if self.flux_handled(executed, ks) => {
                    let ready = ks.ready.as_ref().is_some_and(|c| c.status == ConditionStatus::True);
                    Progress::Finished {
                        text: flux_outcome(self.plan.op, ks),
                        ok: ready || self.plan.op == Op::Suspend,
                    }
                }
                Some(_) => Progress::Waiting(String::new()),
                None => Progress::Finished { text: "gone from the hub".to_owned(), ok: false },
            },
            Resource::Backup => velero_progress(cluster.and_then(|c| c.backups.get(&target.key)).map(|b| b.run())),
            Resource::Restore => velero_progress(cluster.and_then(|c| c.restores.get(&target.key)).map(|r| r.run())),
        }
    }

    /// Whether Flux has acted on a written Kustomization.
    fn flux_handled(&self, executed: &Executed, ks: &KustomizationSummary) -> bool {
        let handled = || executed.requested_at.as_deref() == Some(ks.last_handled_reconcile_at.as_str());
        match self.plan.op {
            Op::Reconcile => handled(),
            Op::Suspend => ks.suspended,
            Op::Resume => !ks.suspended && handled(),
            Op::BackupNow | Op::Restore => false,
        }
    }

    /// The written targets and where each stands.
    pub fn progress_of(&self, clusters: &[ClusterModel]) -> Vec<(Target, Progress)> {
        let Stage::Verifying { executed, .. } = &self.stage else { return Vec::new() };
        executed
            .results
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(t, _)| (t.clone(), self.target_progress(executed, t, clusters)))
            .collect()
    }

    /// Targets written, and how many of them have finished.
    pub fn progress(&self, clusters: &[ClusterModel]) -> (usize, usize) {
        let all = self.progress_of(clusters);
        (all.iter().filter(|(_, p)| matches!(p, Progress::Finished { .. })).count(), all.len())
    }

    /// The watches changed: done once every written target has finished.
    pub fn observe(&mut self, clusters: &[ClusterModel], now: Timestamp) {
        let Stage::Verifying { executed, .. } = &self.stage else { return };
        let progress = self.progress_of(clusters);
        self.picked_up = progress.iter().all(|(_, p)| !matches!(p, Progress::Waiting(_)));
        if progress.iter().any(|(_, p)| !matches!(p, Progress::Finished { .. })) {
            return;
        }
        let mut outcomes: Vec<Outcome> = executed
            .results
            .iter()
            .filter_map(|(t, r)| {
                r.as_ref().err().map(|e| Outcome { key: t.key.clone(), text: format!("not written: {e}"), ok: false })
            })
            .chain(progress.into_iter().filter_map(|(t, p)| match p {
                Progress::Finished { text, ok } => Some(Outcome { key: t.key, text, ok }),
                _ => None,
            }))
            .collect();
        outcomes.sort_by(|a, b| a.key.cmp(&b.key));
        self.stage = Stage::Done { at: now, outcomes };
    }

    /// Time passes: a verification that takes too long fails.
    pub fn tick(&mut self, now: Timestamp) {
        // Velero's work takes as long as it takes once picked up; Flux only has to act.
        let waiting = !self.picked_up || !self.plan.op.creates();
        if let Stage::Verifying { at, .. } = &self.stage
            && waiting
            && Duration::try_from(now.duration_since(*at)).is_ok_and(|d| d > VERIFY_TIMEOUT)
        {
            let minutes = VERIFY_TIMEOUT.as_secs() / 60;
            let error = if self.plan.op.creates() {
                format!("created, but Velero did not pick it up within {minutes} min: is the velero server running?")
            } else {
                format!(
                    "written, but Flux did not act on it within {minutes} min: is kustomize-controller running on the hub?"
                )
            };
            self.stage = Stage::Failed { at: now, error };
        }
    }
}

/// Where a created Velero backup or restore stands.
fn velero_progress(run: Option<Run>) -> Progress {
    match run {
        None => Progress::Waiting("not seen yet".to_owned()),
        Some(r) if !r.phase.picked_up() => Progress::Waiting("New: waiting for Velero".to_owned()),
        Some(r) if !r.phase.finished() => Progress::Running(format!("{} {}/{} items", r.phase, r.done, r.total)),
        Some(r) => {
            let ok = *r.phase == VeleroPhase::Completed;
            let text = if ok || r.problem.is_empty() {
                format!("{}: {} items, {} errors, {} warnings", r.phase, r.done, r.errors, r.warnings)
            } else {
                format!("{}: {}", r.phase, r.problem)
            };
            Progress::Finished { text, ok }
        }
    }
}

/// What a Flux action's target reports once handled.
fn flux_outcome(op: Op, ks: &KustomizationSummary) -> String {
    if op == Op::Suspend {
        return "suspended".to_owned();
    }
    match &ks.ready {
        Some(c) if c.status == ConditionStatus::True => format!("Ready: {}", c.message),
        Some(c) => format!("Ready={} {}: {}", c.status, c.reason, c.message),
        None => "handled; no Ready condition yet".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::backup::{BackupSummary, ScheduleSummary};
    use crate::fleet::probes::ProbeLog;
    use crate::workflow::plan::{FieldChange, backup_plan, flux_plan};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn cluster(name: &str) -> ClusterModel {
        let window = Duration::from_secs(60);
        ClusterModel::new(name, "https://example:6443", name == "hub", ProbeLog::new(window, window), t(0))
    }

    fn hub(suspended: bool, handled: &str) -> Vec<ClusterModel> {
        let ks = KustomizationSummary {
            namespace: "prod-a".into(),
            name: "policies".into(),
            suspended,
            last_handled_reconcile_at: handled.into(),
            ..Default::default()
        };
        let mut hub = cluster("hub");
        hub.kustomizations.insert(("prod-a".into(), "policies".into()), ks);
        vec![hub]
    }

    fn operation(op: Op, suspended: bool) -> Operation {
        let clusters = hub(suspended, "");
        let refs: Vec<_> = clusters[0].kustomizations.iter().collect();
        Operation::new(1, flux_plan(op, "prod-a", "hub", &refs).unwrap(), t(0))
    }

    fn preview(o: &Operation) -> Vec<ObjectPreview> {
        let change = FieldChange { path: "spec.suspend".into(), before: None, after: Some("true".into()) };
        vec![ObjectPreview { target: o.plan.targets[0].clone(), outcome: Ok(vec![change]) }]
    }

    #[test]
    fn a_destructive_plan_needs_the_name_typed() {
        let mut o = operation(Op::Suspend, false);
        assert!(o.confirm("prod-a").is_none(), "nothing to confirm before the preview");
        let p = preview(&o);
        o.previewed(Ok(p), t(1));
        assert!(o.confirming());
        assert!(o.confirm("prod").is_none());
        assert!(o.refused.as_deref().unwrap().contains("type prod-a"));
        let confirmed = o.confirm(" prod-a ").expect("confirmed");
        assert_eq!(confirmed.confirmation(), "typed prod-a");
        assert_eq!(o.stage, Stage::Executing);
        let executed = Executed { requested_at: None, results: vec![(o.plan.targets[0].clone(), Ok(()))] };
        o.executed(Ok(executed), t(2));
        o.observe(&hub(false, ""), t(3));
        assert!(matches!(o.stage, Stage::Verifying { .. }), "not suspended yet");
        o.observe(&hub(true, ""), t(4));
        assert!(matches!(&o.stage, Stage::Done { outcomes, .. } if outcomes[0].text == "suspended" && outcomes[0].ok));
    }

    #[test]
    fn reconcile_is_verified_by_last_handled_reconcile_at() {
        let mut o = operation(Op::Reconcile, false);
        let p = preview(&o);
        o.previewed(Ok(p), t(1));
        let confirmed = o.confirm("").expect("Enter confirms a non-destructive plan");
        assert_eq!(confirmed.confirmation(), "pressed Enter");
        let executed = Executed { requested_at: Some("r1".into()), results: vec![(o.plan.targets[0].clone(), Ok(()))] };
        o.executed(Ok(executed), t(2));
        assert_eq!(o.progress(&hub(false, "r0")), (0, 1));
        o.observe(&hub(false, "r0"), t(3));
        assert!(!o.is_finished());
        o.observe(&hub(false, "r1"), t(4));
        assert!(matches!(o.stage, Stage::Done { .. }));
    }

    #[test]
    fn failures_cancellation_and_timeouts() {
        let mut o = operation(Op::Reconcile, false);
        o.previewed(Err("403 Forbidden".into()), t(1));
        assert!(matches!(&o.stage, Stage::Failed { error, .. } if error.contains("403")));

        let mut o = operation(Op::Reconcile, false);
        o.cancel();
        assert_eq!(o.stage, Stage::Cancelled);
        assert!(o.confirm("").is_none(), "a cancelled plan cannot be confirmed");

        let mut o = operation(Op::Reconcile, false);
        let p = preview(&o);
        o.previewed(Ok(p), t(1));
        o.confirm("").unwrap();
        let target = o.plan.targets[0].clone();
        o.executed(Ok(Executed { requested_at: Some("r1".into()), results: vec![(target, Ok(()))] }), t(2));
        o.tick(t(100));
        assert!(!o.is_finished());
        o.tick(t(2 + VERIFY_TIMEOUT.as_secs() as i64 + 1));
        assert!(matches!(&o.stage, Stage::Failed { error, .. } if error.contains("did not act")));
    }

    /// The production-eu-1 cluster with one backup in `phase`.
    fn with_backup(key: &ObjectKey, phase: &str) -> Vec<ClusterModel> {
        let mut c = cluster("production-eu-1");
        let backup = BackupSummary {
            namespace: key.0.clone(),
            name: key.1.clone(),
            phase: VeleroPhase::parse(phase),
            total_items: 400,
            items_backed_up: if phase == "InProgress" { 120 } else { 400 },
            warnings: 1,
            ..Default::default()
        };
        c.backups.insert(key.clone(), backup);
        vec![c]
    }

    #[test]
    fn a_backup_is_verified_when_it_finishes_however_long_it_runs() {
        let schedule = ScheduleSummary {
            namespace: "velero".into(),
            name: "daily-full".into(),
            template: serde_json::json!({"ttl": "720h0m0s"}),
            ..Default::default()
        };
        let plan = backup_plan("production-eu-1", &schedule, None, t(0)).unwrap();
        let key = plan.targets[0].key.clone();
        let mut o = Operation::new(1, plan, t(0));
        let accepted = |o: &Operation| vec![ObjectPreview { target: o.plan.targets[0].clone(), outcome: Ok(vec![]) }];
        o.previewed(Ok(accepted(&o)), t(1));
        o.confirm("").expect("Enter confirms a backup");
        o.executed(Ok(Executed { requested_at: None, results: vec![(o.plan.targets[0].clone(), Ok(()))] }), t(2));
        o.observe(&[cluster("production-eu-1")], t(3));
        assert!(
            matches!(&o.progress_of(&[cluster("production-eu-1")])[0].1, Progress::Waiting(w) if w == "not seen yet")
        );
        let running = with_backup(&key, "InProgress");
        o.observe(&running, t(4));
        assert!(o.picked_up);
        assert_eq!(o.progress_of(&running)[0].1, Progress::Running("InProgress 120/400 items".into()));
        o.tick(t(10 + VERIFY_TIMEOUT.as_secs() as i64));
        assert!(!o.is_finished(), "a running backup is not timed out");
        o.observe(&with_backup(&key, "Completed"), t(900));
        let Stage::Done { outcomes, .. } = &o.stage else { panic!("{:?}", o.stage) };
        assert_eq!(outcomes[0].text, "Completed: 400 items, 0 errors, 1 warnings");
        assert!(outcomes[0].ok);

        // Never picked up: the timeout says why.
        let plan = backup_plan("production-eu-1", &schedule, None, t(0)).unwrap();
        let mut o = Operation::new(2, plan, t(0));
        o.previewed(Ok(accepted(&o)), t(1));
        o.confirm("").unwrap();
        o.executed(Ok(Executed { requested_at: None, results: vec![(o.plan.targets[0].clone(), Ok(()))] }), t(2));
        o.observe(&[cluster("production-eu-1")], t(3));
        o.tick(t(3 + VERIFY_TIMEOUT.as_secs() as i64));
        assert!(matches!(&o.stage, Stage::Failed { error, .. } if error.contains("Velero did not pick it up")));
    }
}
