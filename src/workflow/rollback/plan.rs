//! The change sets of a rollback and a release: what the target check records for them
//! (the pins, the backup, the namespaces), and the writes planned from it: suspend,
//! restore, revert by undoing runs or by pinning the last good revision, release.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{facts, incident_of};
use crate::fleet::run::{
    Evidence, MANAGED_BY, MANAGER, ObjectRef, PlannedWrite, RUN_LABEL, Run, SPOKE_LABEL, Verb, Verdict, Workflow,
};
use crate::fleet::summary::{PINNED_FROM, PINNED_REVISION, SUSPENDED_REASON};
use crate::workflow::migrate::VELERO_NAMESPACE;
use crate::workflow::register::evidence;
use crate::workflow::runbook::inverse;

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
pub fn runs_to_undo<'a>(cluster: &str, runs: impl IntoIterator<Item = &'a Run>) -> Vec<&'a Run> {
    let mut out: Vec<&Run> = runs
        .into_iter()
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

/// The facts a pin plan needs, keyed for the run.
pub fn pins_fact(pins: &[PinPlan]) -> BTreeMap<String, String> {
    BTreeMap::from([(facts::PINS.to_owned(), serde_json::to_string(pins).unwrap_or_default())])
}
