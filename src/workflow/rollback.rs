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

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::migrate::VELERO_NAMESPACE;
use super::register::evidence;
use super::runbook::inverse;
use crate::fleet::run::{
    Evidence, Gate, MANAGED_BY, MANAGER, ObjectRef, PlannedWrite, RUN_LABEL, Run, SPOKE_LABEL, Step, StepSpec, Verb,
    Verdict, Workflow,
};
use crate::fleet::summary::{PINNED_FROM, PINNED_REVISION, SUSPENDED_REASON};

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

/// A pin the revert writes: a Kustomization, the shared source it follows, the copy of
/// that source fixed at the last good revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinPlan {
    /// The Kustomization on the hub (in the spoke's namespace).
    pub kustomization: String,
    /// The shared source: kind, namespace, name.
    pub source: (String, String, String),
    /// The shared source's spec, copied.
    pub spec: Value,
    /// The last good revision (`main@sha1:…`, `v1.4.2@sha256:…`); empty for a
    /// Kustomization with no earlier revision, which is only resumed.
    pub revision: String,
}

/// `spec.ref` fixed at a revision: `{commit}` (kept beside the branch) for Git, `{digest}`
/// for OCI; `None` when the revision names neither.
pub fn pinned_ref(kind: &str, revision: &str, current: &Value) -> Option<Value> {
    let (_, id) = revision.rsplit_once('@')?;
    match kind {
        "GitRepository" => {
            let sha = id.strip_prefix("sha1:").or_else(|| id.strip_prefix("sha256:"))?;
            let mut r = json!({"commit": sha});
            if let Some(branch) = current.pointer("/ref/branch") {
                r["branch"] = branch.clone();
            }
            Some(r)
        }
        "OCIRepository" => id.starts_with("sha256:").then(|| json!({"digest": id})),
        _ => None,
    }
}

/// The per-spoke copy of a shared source.
pub fn pinned_name(source: &str, spoke: &str) -> String {
    let name = format!("{source}-pin-{spoke}");
    name.chars().take(63).collect::<String>().trim_end_matches('-').to_owned()
}

fn labels(run: &Run) -> Value {
    json!({MANAGED_BY: MANAGER, RUN_LABEL: run.id, SPOKE_LABEL: run.cluster})
}

fn kustomization(spoke: &str, name: &str) -> ObjectRef {
    ObjectRef::new("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations", spoke, name)
}

fn list<T: for<'de> Deserialize<'de>>(run: &Run, key: &str) -> Result<Vec<T>, String> {
    let text =
        run.facts.get(key).ok_or_else(|| format!("the run holds no {key}: the target check did not record it"))?;
    serde_json::from_str(text).map_err(|e| format!("the run's {key} do not parse: {e}"))
}

/// The incident reference and reason the operator attested (empty before).
pub fn incident_of(run: &Run) -> (String, String) {
    let step = run
        .steps
        .iter()
        .position(|s| matches!(&s.spec, StepSpec::Gate { gate: Gate::Attest { item } } if item == INCIDENT_ITEM));
    run.confirmations.iter().rev().find(|c| Some(c.step) == step).map(|c| incident(&c.text)).unwrap_or_default()
}

/// The reason recorded on what the rollback suspends: `INC-1234: why (by alice@laptop,
/// rollback 20261202-…)`.
pub fn suspended_reason(run: &Run) -> String {
    let (incident, reason) = incident_of(run);
    format!("{incident}: {reason} (by {}, rollback {})", run.by.label(), run.id)
}

/// Suspends every Kustomization of the spoke on the hub, with who and why.
pub fn plan_suspend(run: &Run) -> Result<Vec<PlannedWrite>, String> {
    let names: Vec<String> = list(run, facts::KUSTOMIZATIONS)?;
    let reason = suspended_reason(run);
    Ok(names
        .iter()
        .map(|name| PlannedWrite {
            context: run.hub.clone(),
            verb: Verb::Patch,
            object: kustomization(&run.cluster, name),
            body: json!({"metadata": {"annotations": {SUSPENDED_REASON: reason}}, "spec": {"suspend": true}}),
            fill: None,
            settle: None,
        })
        .collect())
}

/// The restore's name: `fleetdeck-rollback-<cluster>-<timestamp>`.
pub fn restore_name(run: &Run) -> String {
    format!("fleetdeck-rollback-{}-{}", run.cluster, run.started_at.strftime("%Y%m%d%H%M%S"))
}

/// A Velero Restore of the run's backup and namespaces, updating what exists.
pub fn plan_restore(run: &Run) -> Result<Vec<PlannedWrite>, String> {
    if run.context.is_empty() {
        return Err("no local context reaches the cluster".into());
    }
    let backup = run.facts.get(facts::BACKUP).ok_or("the run names no backup to restore from")?;
    let namespaces: Vec<String> = list(run, facts::NAMESPACES)?;
    let name = restore_name(run);
    let body = json!({
        "apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": VELERO_NAMESPACE, "labels": labels(run)},
        "spec": {"backupName": backup, "includedNamespaces": namespaces,
                 "existingResourcePolicy": "update", "restorePVs": false},
    });
    Ok(vec![PlannedWrite {
        context: run.context.clone(),
        verb: Verb::Create,
        object: ObjectRef::new("velero.io/v1", "Restore", "restores", VELERO_NAMESPACE, &name),
        body,
        fill: None,
        settle: None,
    }])
}

/// Pins each Kustomization: a copy of its shared source at the last good revision (in
/// the source's namespace), and the Kustomization pointed at it and resumed.
pub fn plan_pin(run: &Run) -> Result<Vec<PlannedWrite>, String> {
    let pins: Vec<PinPlan> = list(run, facts::PINS)?;
    if pins.iter().all(|p| p.revision.is_empty()) {
        return Err("no Kustomization of the spoke has an earlier revision to return to".into());
    }
    let mut writes = Vec::new();
    let mut created = Vec::new();
    for pin in &pins {
        if pin.revision.is_empty() {
            writes.push(PlannedWrite {
                context: run.hub.clone(),
                verb: Verb::Patch,
                object: kustomization(&run.cluster, &pin.kustomization),
                body: json!({"metadata": {"annotations": {SUSPENDED_REASON: null}}, "spec": {"suspend": false}}),
                fill: None,
                settle: None,
            });
            continue;
        }
        let (kind, ns, source) = &pin.source;
        let copy = pinned_name(source, &run.cluster);
        let mut spec = pin.spec.clone();
        let reference = pinned_ref(kind, &pin.revision, &spec)
            .ok_or_else(|| format!("{kind} {ns}/{source}: cannot pin to {:?} (no commit or digest)", pin.revision))?;
        spec["ref"] = reference;
        if let Some(o) = spec.as_object_mut() {
            o.remove("suspend");
        }
        let object =
            ObjectRef::new("source.toolkit.fluxcd.io/v1", kind, &crate::fleet::run::plural_of(kind), ns, &copy);
        if !created.contains(&object) {
            created.push(object.clone());
            writes.push(PlannedWrite {
                context: run.hub.clone(),
                verb: Verb::Create,
                body: json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind,
                    "metadata": {"name": copy, "namespace": ns, "labels": labels(run),
                                 "annotations": {PINNED_FROM: format!("{kind}/{ns}/{source}"), PINNED_REVISION: pin.revision}},
                    "spec": spec,
                }),
                object,
                fill: None,
                settle: None,
            });
        }
        writes.push(PlannedWrite {
            context: run.hub.clone(),
            verb: Verb::Patch,
            object: kustomization(&run.cluster, &pin.kustomization),
            body: json!({
                "metadata": {"annotations": {PINNED_FROM: format!("{kind}/{ns}/{source}"), PINNED_REVISION: pin.revision, SUSPENDED_REASON: null}},
                "spec": {"sourceRef": {"kind": kind, "name": copy, "namespace": ns}, "suspend": false},
            }),
            fill: None,
            settle: None,
        });
    }
    Ok(writes)
}

/// The inverse of every write of `runs` (newest run first, each newest write first); a
/// Kustomization is set to `prune: false` before it is removed, so Flux leaves what it
/// applied on the spoke. Returns the writes and what cannot be undone.
pub fn plan_undo(runs: &[&Run]) -> (Vec<PlannedWrite>, Vec<String>) {
    let mut writes = Vec::new();
    let mut notes = Vec::new();
    for run in runs {
        let (undo, cannot) = inverse(run);
        notes.extend(cannot.into_iter().map(|n| format!("run {}: {n}", run.id)));
        for w in undo {
            if w.verb == Verb::Delete && w.object.kind == "Kustomization" {
                writes.push(PlannedWrite { verb: Verb::Patch, body: json!({"spec": {"prune": false}}), ..w.clone() });
            }
            writes.push(w);
        }
    }
    (writes, notes)
}

/// The runs a rollback undoes: the cluster's migration and registration runs that wrote
/// and were not undone, newest first.
pub fn runs_to_undo<'a>(cluster: &str, runs: &'a [Run]) -> Vec<&'a Run> {
    let mut out: Vec<&Run> = runs
        .iter()
        .filter(|r| r.cluster == cluster && matches!(r.workflow, Workflow::Migrate | Workflow::Register))
        .filter(|r| r.state.finished() && r.state != crate::fleet::run::RunState::Undone && !r.applied().is_empty())
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    out
}

/// A pinned Kustomization to release: its name, and the shared source it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub kustomization: String,
    /// `Kind/namespace/name` of the shared source.
    pub from: String,
    /// The per-spoke copy it follows now (kind, namespace, name).
    pub copy: (String, String, String),
}

/// Points each pinned Kustomization back at its shared source, resumes it, then removes
/// the per-spoke copies no Kustomization follows.
pub fn plan_release(run: &Run) -> Result<Vec<PlannedWrite>, String> {
    let releases: Vec<Release> = list(run, "releases")?;
    if releases.is_empty() {
        return Err("no Kustomization of the spoke is pinned".into());
    }
    let mut writes = Vec::new();
    let mut copies: Vec<ObjectRef> = Vec::new();
    for r in &releases {
        let mut parts = r.from.splitn(3, '/');
        let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("{}: {PINNED_FROM} {:?} is not Kind/namespace/name", r.kustomization, r.from));
        };
        writes.push(PlannedWrite {
            context: run.hub.clone(),
            verb: Verb::Patch,
            object: kustomization(&run.cluster, &r.kustomization),
            body: json!({
                "metadata": {"annotations": {PINNED_FROM: null, PINNED_REVISION: null, SUSPENDED_REASON: null}},
                "spec": {"sourceRef": {"kind": kind, "name": name, "namespace": ns}, "suspend": false},
            }),
            fill: None,
            settle: None,
        });
        let (ck, cns, cname) = &r.copy;
        let copy = ObjectRef::new("source.toolkit.fluxcd.io/v1", ck, &crate::fleet::run::plural_of(ck), cns, cname);
        if !copies.contains(&copy) {
            copies.push(copy);
        }
    }
    writes.extend(copies.into_iter().map(|object| PlannedWrite {
        context: run.hub.clone(),
        verb: Verb::Delete,
        object,
        body: Value::Null,
        fill: None,
        settle: None,
    }));
    Ok(writes)
}

/// The last good revision of a Kustomization from its `status.history` (newest first):
/// the newest entry at another revision than the one applied now that reconciled
/// successfully.
pub fn last_good_revision(kustomization: &Value) -> Option<String> {
    let applied = crate::fields::text(kustomization, "/status/lastAppliedRevision");
    kustomization.pointer("/status/history")?.as_array()?.iter().find_map(|h| {
        let revision = h.pointer("/metadata/revision")?.as_str()?;
        let ok = h.get("lastReconciledStatus").and_then(Value::as_str) == Some("ReconciliationSucceeded");
        (ok && revision != applied).then(|| revision.to_owned())
    })
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

/// The newest usable backup of the cluster taken before `before` (Completed, or
/// PartiallyFailed as a last resort), from Velero's Backups; the evidence names up to
/// three candidates.
pub fn choose_backup(backups: &[Value], before: Option<Timestamp>) -> (Option<String>, Vec<Evidence>) {
    let mut usable: Vec<(Timestamp, String, String)> = backups
        .iter()
        .filter_map(|b| {
            let phase = crate::fields::text(b, "/status/phase");
            let at = crate::fields::time(b, "/status/completionTimestamp")
                .or_else(|| crate::fields::time(b, "/metadata/creationTimestamp"))?;
            let ok = matches!(phase.as_str(), "Completed" | "PartiallyFailed") && before.is_none_or(|t| at <= t);
            ok.then(|| (at, crate::fields::text(b, "/metadata/name"), phase))
        })
        .collect();
    // Newest first, Completed before PartiallyFailed.
    usable.sort_by(|a, b| (a.2 != "Completed").cmp(&(b.2 != "Completed")).then(b.0.cmp(&a.0)));
    let lines = usable
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, (at, name, phase))| {
            let verdict = if phase == "Completed" { Verdict::Pass } else { Verdict::Warn };
            let what = if i == 0 { "restore from" } else { "or" };
            evidence(verdict, format!("{what} Backup {name} ({phase}, {})", at.strftime("%Y-%m-%d %H:%M:%S")))
        })
        .collect();
    (usable.first().map(|u| u.1.clone()), lines)
}

/// The application namespaces of the spoke's workloads: what the restore restores
/// (the system ones, which Flux and Velero own, are left out).
pub fn restore_namespaces(workload_namespaces: impl IntoIterator<Item = String>) -> Vec<String> {
    const SYSTEM: [&str; 5] = ["flux-system", "velero", "fleetdeck-system", "fleet-system", "default"];
    let mut out: Vec<String> =
        workload_namespaces.into_iter().filter(|n| !n.starts_with("kube-") && !SYSTEM.contains(&n.as_str())).collect();
    out.sort();
    out.dedup();
    out
}

/// The incident reference and reason of an attestation's note: `INC-1234 payments down`.
pub fn incident(note: &str) -> (String, String) {
    let note = note.trim();
    match note.split_once(char::is_whitespace) {
        Some((reference, reason)) => (reference.to_owned(), reason.trim().to_owned()),
        None => (note.to_owned(), String::new()),
    }
}

/// The alert posted to Alertmanager (`POST /api/v2/alerts`).
pub fn alert(run: &Run, now: Timestamp) -> Value {
    let f = |k: &str| run.facts.get(k).cloned().unwrap_or_default();
    let (incident, reason) = incident_of(run);
    let trigger = run.facts.get(facts::TRIGGER).map_or("operator", |_| "trigger");
    json!([{
        "labels": {
            "alertname": "FleetdeckRollback",
            "severity": "critical",
            "cluster": run.cluster,
            "trigger": trigger_kind(run),
            "run": run.id,
        },
        "annotations": {
            "summary": format!("rollback of {} started by {}", run.cluster, run.by.label()),
            "description": f(facts::TRIGGER),
            "incident": incident,
            "reason": reason,
            "started_by": trigger,
        },
        "startsAt": now.to_string(),
    }])
}

/// The trigger's kind from its line (`service disruption`, `security`, …), or `manual`.
fn trigger_kind(run: &Run) -> String {
    let Some(line) = run.facts.get(facts::TRIGGER) else { return "manual".into() };
    for kind in crate::fleet::trigger::TriggerKind::ALL {
        if line.contains(kind.label()) {
            return kind.id().to_owned();
        }
    }
    "manual".into()
}

/// The webhook's JSON body (documented in the README).
pub fn webhook_body(run: &Run, now: Timestamp) -> Value {
    let f = |k: &str| run.facts.get(k).cloned();
    let (incident, reason) = incident_of(run);
    json!({
        "event": "rollback-started",
        "cluster": run.cluster,
        "run": run.id,
        "target": f(facts::TARGET),
        "trigger": trigger_kind(run),
        "trigger_line": f(facts::TRIGGER),
        "triggered_at": f(facts::TRIGGERED_AT),
        "incident": incident,
        "reason": reason,
        "by": run.by.label(),
        "at": now.to_string(),
    })
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

/// The evidence of a notification channel: sent, or why not (a warning: failures to
/// notify do not stop the rollback).
pub fn notified(channel: &str, result: Result<String, String>) -> Evidence {
    match result {
        Ok(what) => evidence(Verdict::Pass, format!("{channel}: {what}")),
        Err(why) => evidence(Verdict::Warn, format!("{channel}: not notified: {why}")),
    }
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

/// The facts a pin plan needs, keyed for the run.
pub fn pins_fact(pins: &[PinPlan]) -> BTreeMap<String, String> {
    BTreeMap::from([(facts::PINS.to_owned(), serde_json::to_string(pins).unwrap_or_default())])
}

#[cfg(test)]
#[path = "rollback_tests.rs"]
mod tests;
