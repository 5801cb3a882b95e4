//! One operator action from plan to verified outcome: preview (server-side dry run),
//! confirm, execute, verify through the watch, done / failed / cancelled. Every
//! transition is a pure method; the runtime carries out the dry run and the write.
//!
//! [`Confirmed`] is the only thing the write path executes, and only
//! [`Operation::confirm`] makes one: a write cannot happen without the preview having
//! been shown and the confirmation given (the spoke's name typed, for destructive
//! actions).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::plan::{ObjectPreview, Op, Plan, Target};
use crate::fleet::summary::{KustomizationSummary, ObjectKey};

/// How long Flux has to handle the request before the operation is reported failed.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(300);

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
    /// Per target, the outcome as Flux reports it.
    Done {
        at: Timestamp,
        outcomes: Vec<(ObjectKey, String)>,
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
}

impl Operation {
    pub fn new(id: u64, plan: Plan, now: Timestamp) -> Self {
        Self { id, plan, stage: Stage::Previewing, started: now, refused: None }
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
        self.plan.op.destructive().then_some(self.plan.spoke.as_str())
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

    /// Whether Flux has acted on a written target, as the hub's watch shows it.
    fn verified(&self, executed: &Executed, ks: &KustomizationSummary) -> bool {
        let handled = || executed.requested_at.as_deref() == Some(ks.last_handled_reconcile_at.as_str());
        match self.plan.op {
            Op::Reconcile => handled(),
            Op::Suspend => ks.suspended,
            Op::Resume => !ks.suspended && handled(),
        }
    }

    /// Targets written, and how many of them Flux has acted on.
    pub fn progress(&self, kustomizations: &BTreeMap<ObjectKey, KustomizationSummary>) -> (usize, usize) {
        let Stage::Verifying { executed, .. } = &self.stage else { return (0, 0) };
        let written: Vec<&Target> = executed.results.iter().filter(|(_, r)| r.is_ok()).map(|(t, _)| t).collect();
        let done =
            written.iter().filter(|t| kustomizations.get(&t.key).is_some_and(|k| self.verified(executed, k))).count();
        (done, written.len())
    }

    /// The hub's Kustomizations changed: done once Flux acted on every written target.
    pub fn observe(&mut self, kustomizations: &BTreeMap<ObjectKey, KustomizationSummary>, now: Timestamp) {
        let Stage::Verifying { executed, .. } = &self.stage else { return };
        let (done, total) = self.progress(kustomizations);
        if done < total {
            return;
        }
        let mut outcomes: Vec<(ObjectKey, String)> = executed
            .results
            .iter()
            .map(|(t, r)| {
                let text = match (r, kustomizations.get(&t.key)) {
                    (Err(e), _) => format!("not written: {e}"),
                    (Ok(()), Some(_)) if self.plan.op == Op::Suspend => "suspended".to_owned(),
                    (Ok(()), Some(ks)) => match &ks.ready {
                        Some(c) if c.status == "True" => format!("Ready: {}", c.message),
                        Some(c) => format!("Ready={} {}: {}", c.status, c.reason, c.message),
                        None => "handled; no Ready condition yet".to_owned(),
                    },
                    (Ok(()), None) => "gone from the hub".to_owned(),
                };
                (t.key.clone(), text)
            })
            .collect();
        outcomes.sort();
        self.stage = Stage::Done { at: now, outcomes };
    }

    /// Time passes: a verification that takes too long fails.
    pub fn tick(&mut self, now: Timestamp) {
        if let Stage::Verifying { at, .. } = &self.stage
            && Duration::try_from(now.duration_since(*at)).is_ok_and(|d| d > VERIFY_TIMEOUT)
        {
            let error = format!(
                "written, but Flux did not act on it within {} min: is kustomize-controller running on the hub?",
                VERIFY_TIMEOUT.as_secs() / 60
            );
            self.stage = Stage::Failed { at: now, error };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::plan::{FieldChange, flux_plan};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn hub(suspended: bool, handled: &str) -> BTreeMap<ObjectKey, KustomizationSummary> {
        let ks = KustomizationSummary {
            namespace: "prod-a".into(),
            name: "policies".into(),
            suspended,
            last_handled_reconcile_at: handled.into(),
            ..Default::default()
        };
        BTreeMap::from([(("prod-a".into(), "policies".into()), ks)])
    }

    fn operation(op: Op, suspended: bool) -> Operation {
        let kss = hub(suspended, "");
        let refs: Vec<_> = kss.iter().collect();
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
        assert!(matches!(&o.stage, Stage::Done { outcomes, .. } if outcomes[0].1 == "suspended"));
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
}
