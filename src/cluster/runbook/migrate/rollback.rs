//! What the rollback and release workflows read and send, judged by
//! `workflow::rollback`: the target (the runs to undo or the revisions to return to, the
//! backup, the namespaces), the notification (a Warning Event on the hub, Alertmanager,
//! a webhook), the restore, the read-back of every object the rollback changed, the
//! workloads, the security controls, and the recovery.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{failed, judged, resource};
use crate::cluster::notify;
use crate::cluster::runbook::Runner;
use crate::cluster::runbook::checks::{Checked, unread};
use crate::fields::text;
use crate::fleet::run::{ObjectRef, PlannedWrite, Run, RunState, Verb, Verdict, Workflow, WriteState};
use crate::fleet::summary::PINNED_FROM;
use crate::workflow::migrate::{Reading, VELERO_NAMESPACE, probe_verdict};
use crate::workflow::register::evidence;
use crate::workflow::rollback::{
    self, PinPlan, Release, choose_backup, facts, last_good_revision, notified, pinned_name, recovery,
    restore_namespaces, restore_reading, runs_to_undo, time_to_recovery,
};
use crate::workflow::runbook::shows_patch;

/// Where a rollback's notification goes (`[notify]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifySettings {
    pub alertmanager: String,
    pub webhook: String,
    pub timeout: Duration,
}

fn kustomizations_resource() -> kube::api::ApiResource {
    resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations")
}

fn json_fact(key: &str, value: &impl serde::Serialize) -> (String, String) {
    (key.to_owned(), serde_json::to_string(value).unwrap_or_default())
}

impl Runner {
    fn rollback_settings(&self) -> &rollback::Settings {
        &self.settings.rollback
    }

    /// The spoke's Kustomizations on the hub (its namespace there).
    async fn spoke_kustomizations(&self, run: &Run) -> Result<Vec<Value>, String> {
        let all = self.list_all(&run.hub, &kustomizations_resource()).await?.unwrap_or_default();
        Ok(all.into_iter().filter(|k| text(k, "/metadata/namespace") == run.cluster).collect())
    }

    /// Every workload of the three kinds (the inventory's reading), as (kind
    /// namespace/name, wanted, ready).
    async fn workload_readiness(&self, context: &str) -> Result<Vec<(String, i64, i64)>, String> {
        let workloads = self.workloads_of(context, &mut Vec::new()).await?;
        Ok(workloads
            .into_iter()
            .map(|w| (format!("{} {}/{}", w.kind, w.namespace, w.name), w.replicas, w.ready))
            .collect())
    }

    pub(in crate::cluster::runbook) async fn rollback_check(&self, run: &Run, check: &str) -> Checked {
        match check {
            "rollback-target" => self.rollback_target(run).await,
            "rollback-notify" => self.notify(run).await,
            "rollback-readback" => self.readback(run).await,
            "rollback-security" => self.rollback_security(run).await,
            "rollback-recovery" => {
                let now = Timestamp::now();
                let ttr = time_to_recovery(run, now);
                let from =
                    if run.facts.contains_key(facts::TRIGGERED_AT) { "the trigger fired" } else { "the run started" };
                judged(
                    vec![evidence(
                        Verdict::Pass,
                        format!(
                            "time to recovery {} (from when {from} to confirmed)",
                            humantime::format_duration(Duration::from_secs(ttr.as_secs()))
                        ),
                    )],
                    BTreeMap::from([
                        (facts::RECOVERED_AT.to_owned(), now.to_string()),
                        (facts::TIME_TO_RECOVERY.to_owned(), ttr.as_secs().to_string()),
                    ]),
                )
            }
            "pinned" => self.pinned(run).await,
            other => failed(format!("fleetdeck has no check named {other:?}")),
        }
    }

    /// What the rollback returns to: the runs to undo or each Kustomization's last good
    /// revision, the backup, and the namespaces it restores. Other runs going on the
    /// cluster were paused when the rollback started (`paused_runs`).
    async fn rollback_target(&self, run: &Run) -> Checked {
        let mut lines = Vec::new();
        let mut out = BTreeMap::new();
        if let Some(line) = run.facts.get(facts::TRIGGER) {
            lines.push(evidence(Verdict::Pass, format!("answers: {line}")));
        } else {
            lines.push(evidence(Verdict::Pass, "started by the operator, no trigger firing"));
        }
        if let Some(paused) = run.facts.get(facts::PAUSED_RUNS) {
            lines.push(evidence(
                Verdict::Warn,
                format!("paused the runs going on the cluster: {paused} (resume them from the runs pane afterwards)"),
            ));
        }
        let answers = lines.len();
        let kustomizations = match self.spoke_kustomizations(run).await {
            Ok(k) => k,
            Err(e) => return failed(format!("cannot read the hub's Kustomizations: {e}")),
        };
        let names: Vec<String> = kustomizations.iter().map(|k| text(k, "/metadata/name")).collect();
        out.extend([json_fact(facts::KUSTOMIZATIONS, &names)]);
        let target = run.facts.get(facts::TARGET).map_or("revision", String::as_str);
        let runs = match self.list().await {
            Ok(r) => r.into_iter().map(|(r, _)| r).collect::<Vec<_>>(),
            Err(e) => return failed(format!("cannot read the hub's runs: {e}")),
        };
        let mut backup_hint = None;
        if target == "undo" {
            let undo = runs_to_undo(&run.cluster, &runs);
            if undo.is_empty() {
                return failed(format!(
                    "no migration or registration run of {} wrote anything to undo: roll back to the last good revision (:rollback {} revision)",
                    run.cluster, run.cluster
                ));
            }
            for r in &undo {
                lines.push(evidence(
                    Verdict::Pass,
                    format!(
                        "undo the {} run {} ({} writes, {})",
                        r.workflow.name(),
                        r.id,
                        r.applied().len(),
                        r.state.name()
                    ),
                ));
            }
            backup_hint = undo.iter().find_map(|r| r.facts.get("rollback_backup").cloned());
            let ids: Vec<&str> = undo.iter().map(|r| r.id.as_str()).collect();
            out.extend([json_fact(facts::UNDO_RUNS, &ids)]);
        } else {
            let mut pins = Vec::new();
            for k in &kustomizations {
                let name = text(k, "/metadata/name");
                let shared = ObjectRef::source_of(k);
                let source = (shared.kind.clone(), shared.namespace.clone(), shared.name.clone());
                if k.pointer(&format!("/metadata/annotations/{}", PINNED_FROM.replace('/', "~1"))).is_some() {
                    return failed(format!(
                        "Kustomization {}/{name} is already pinned: release it first (:release {})",
                        run.cluster, run.cluster
                    ));
                }
                let applied = text(k, "/status/lastAppliedRevision");
                let Some(revision) = last_good_revision(k) else {
                    // Nothing earlier to return to: it stays where it is, resumed.
                    lines.push(evidence(
                        Verdict::Pass,
                        format!(
                            "Kustomization {}/{name}: no earlier revision (applied: {applied}); resumed as it is",
                            run.cluster
                        ),
                    ));
                    pins.push(PinPlan { kustomization: name, source, spec: Value::Null, revision: String::new() });
                    continue;
                };
                let spec = match self.get(&run.hub, &shared).await {
                    Ok(Some(s)) => s.get("spec").cloned().unwrap_or(json!({})),
                    Ok(None) => return failed(format!("{} is gone from the hub", shared.label())),
                    Err(e) => return failed(format!("cannot read {}: {e}", shared.label())),
                };
                lines.push(evidence(
                    Verdict::Pass,
                    format!(
                        "Kustomization {}/{name}: from {} back to {revision}, through {} {}/{}",
                        run.cluster,
                        text(k, "/status/lastAppliedRevision"),
                        source.0,
                        source.1,
                        pinned_name(&source.2, &run.cluster)
                    ),
                ));
                pins.push(PinPlan { kustomization: name, source, spec, revision });
            }
            out.extend(rollback::pins_fact(&pins));
        }
        // The backup: the operator's, the rollback point's, or the newest usable one
        // taken before the trigger fired.
        let backups = match self.list_all(&run.context, &resource("velero.io", "v1", "Backup", "backups")).await {
            Ok(b) => b.unwrap_or_default(),
            Err(e) => return failed(format!("cannot read {}'s Velero backups: {e}", run.context)),
        };
        let chosen = run.facts.get(facts::BACKUP).cloned().or(backup_hint);
        match chosen {
            Some(name) => match backups.iter().find(|b| text(b, "/metadata/name") == name) {
                Some(b) => {
                    let phase = text(b, "/status/phase");
                    let verdict = if phase == "Completed" { Verdict::Pass } else { Verdict::Warn };
                    lines.push(evidence(verdict, format!("restore from Backup {name} ({phase})")));
                    out.insert(facts::BACKUP.to_owned(), name);
                }
                None => lines.push(evidence(Verdict::Fail, format!("{} has no Backup {name}", run.context))),
            },
            None => {
                let before = run.facts.get(facts::TRIGGERED_AT).and_then(|t| t.parse().ok());
                let (name, candidates) = choose_backup(&backups, before);
                lines.extend(candidates);
                match name {
                    Some(n) => _ = out.insert(facts::BACKUP.to_owned(), n),
                    None => lines.push(evidence(
                        Verdict::Fail,
                        format!("{} has no usable Velero backup taken before the trigger fired", run.context),
                    )),
                }
            }
        }
        let workloads = match self.workload_readiness(&run.context).await {
            Ok(w) => w,
            Err(e) => return failed(e),
        };
        let namespaces = restore_namespaces(workloads.iter().filter_map(|(n, _, _)| {
            n.split_once(' ').and_then(|(_, r)| r.split_once('/')).map(|(ns, _)| ns.to_owned())
        }));
        lines.push(evidence(
            if namespaces.is_empty() { Verdict::Fail } else { Verdict::Pass },
            format!(
                "restore the application namespaces: {}",
                if namespaces.is_empty() { "none found".into() } else { namespaces.join(", ") }
            ),
        ));
        out.extend([json_fact(facts::NAMESPACES, &namespaces)]);
        // What it returns to first (a passed step shows its first line), what it
        // answers last.
        lines.rotate_left(answers);
        judged(lines, out)
    }

    /// The Warning Event on the hub, Alertmanager and the webhook; a channel that fails
    /// warns and does not stop the rollback.
    async fn notify(&self, run: &Run) -> Checked {
        let now = Timestamp::now();
        let (incident, reason) = rollback::incident_of(run);
        let mut lines = Vec::new();
        let message = format!(
            "rollback of {} started by {} ({incident}: {reason}){}",
            run.cluster,
            run.by.label(),
            run.facts.get(facts::TRIGGER).map(|t| format!("; {t}")).unwrap_or_default()
        );
        let involved = json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": crate::fleet::run::RUN_NAMESPACE, "name": run.object_name()});
        let posted = self
            .writer
            .post_warning(
                crate::fleet::run::RUN_NAMESPACE,
                &format!("fleetdeck-rollback.{}", run.id),
                involved,
                "FleetdeckRollbackStarted",
                &message,
            )
            .await
            .map(|()| format!("Warning Event FleetdeckRollbackStarted in {}", crate::fleet::run::RUN_NAMESPACE));
        lines.push(notified("the hub", posted));
        let n = &self.settings.notify;
        if n.alertmanager.is_empty() && n.webhook.is_empty() {
            lines.push(evidence(Verdict::Pass, "no Alertmanager or webhook configured ([notify])"));
        }
        if !n.alertmanager.is_empty() {
            let url = format!("{}/api/v2/alerts", n.alertmanager.trim_end_matches('/'));
            let sent = notify::post_json(&url, &rollback::alert(run, now), n.timeout).await;
            lines.push(notified(
                &format!("Alertmanager {}", n.alertmanager),
                sent.map(|code| format!("alert FleetdeckRollback posted ({code})")),
            ));
        }
        if !n.webhook.is_empty() {
            let sent = notify::post_json(&n.webhook, &rollback::webhook_body(run, now), n.timeout).await;
            lines.push(notified(&format!("webhook {}", n.webhook), sent.map(|code| format!("posted ({code})"))));
        }
        // Every channel's line is a pass or a warning: notifying never holds a rollback.
        judged(lines, BTreeMap::from([(facts::INCIDENT.to_owned(), incident), (facts::REASON.to_owned(), reason)]))
    }

    /// Every object the rollback wrote, read back and compared with the plan's last
    /// write to it (the revert resumes what the suspend suspended).
    async fn readback(&self, run: &Run) -> Checked {
        let mut lines = Vec::new();
        let mut seen: Vec<(String, ObjectRef)> = Vec::new();
        for (s, w) in run.applied().into_iter().rev() {
            let (Some(planned), Some(record)) = (run.planned(s, w), run.steps[s].writes.get(w)) else { continue };
            let id = (planned.context.clone(), planned.object.clone());
            if record.state != WriteState::Applied || seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let read = self.read(&planned.context, &planned.object).await;
            let label = planned.object.label();
            lines.push(match (planned.verb, read) {
                (_, Err(e)) => evidence(Verdict::Fail, format!("cannot read {label}: {}", e.describe())),
                (Verb::Delete, Ok(None)) => evidence(Verdict::Pass, format!("{label}: removed, as planned")),
                (Verb::Delete, Ok(Some(o))) if o.pointer("/metadata/deletionTimestamp").is_some() => {
                    evidence(Verdict::Pass, format!("{label}: being removed"))
                }
                (Verb::Delete, Ok(Some(_))) => evidence(Verdict::Fail, format!("{label}: still there")),
                (_, Ok(None)) => evidence(Verdict::Fail, format!("{label}: missing")),
                (Verb::Patch, Ok(Some(o))) if shows_patch(&planned.body, &o) => {
                    evidence(Verdict::Pass, format!("{label}: shows the patch"))
                }
                (Verb::Patch, Ok(Some(_))) => {
                    evidence(Verdict::Fail, format!("{label}: does not show the patch (changed since?)"))
                }
                (Verb::Create, Ok(Some(o)))
                    if planned
                        .body
                        .get("spec")
                        .is_none_or(|spec| shows_patch(spec, o.get("spec").unwrap_or(&Value::Null))) =>
                {
                    evidence(Verdict::Pass, format!("{label}: there, with the planned spec"))
                }
                (Verb::Create, Ok(Some(_))) => {
                    evidence(Verdict::Fail, format!("{label}: its spec differs from the plan"))
                }
            });
        }
        if lines.is_empty() {
            lines.push(evidence(Verdict::Warn, "the rollback wrote nothing"));
        }
        judged(lines, BTreeMap::new())
    }

    /// The policy probes denied, and the failed results at or below the baseline.
    async fn rollback_security(&self, run: &Run) -> Checked {
        let mut lines = Vec::new();
        for (name, manifest) in &self.migration().policy_probes {
            lines.push(match self.dry_run_create(&run.context, manifest).await {
                Ok(answer) => probe_verdict(name, &answer),
                Err(e) => evidence(Verdict::Fail, format!("{name}: {e}")),
            });
        }
        lines.push(match (self.policy_totals(&run.context).await, self.violations_baseline(run)) {
            (Err(e), _) => evidence(Verdict::Fail, format!("cannot read the policy reports: {e}")),
            (Ok(None), _) => evidence(Verdict::Warn, "no policy reports are served: violations cannot be compared"),
            (Ok(Some(now)), Some(before)) if now.fail <= before => {
                evidence(Verdict::Pass, format!("{} failed policy results, the rollback point had {before}", now.fail))
            }
            (Ok(Some(now)), Some(before)) => evidence(
                Verdict::Fail,
                format!("{} failed policy results, above the rollback point's {before}", now.fail),
            ),
            (Ok(Some(now)), None) => evidence(
                Verdict::Warn,
                format!("{} failed policy results; no count from before the revision to compare with", now.fail),
            ),
        });
        judged(lines, BTreeMap::new())
    }

    fn violations_baseline(&self, run: &Run) -> Option<i64> {
        run.facts.get(facts::VIOLATIONS_BASELINE).and_then(|v| v.parse().ok())
    }

    /// The spoke's pinned Kustomizations, for a release.
    async fn pinned(&self, run: &Run) -> Checked {
        let kustomizations = match self.spoke_kustomizations(run).await {
            Ok(k) => k,
            Err(e) => return failed(format!("cannot read the hub's Kustomizations: {e}")),
        };
        let mut lines = Vec::new();
        let mut releases = Vec::new();
        for k in &kustomizations {
            let from = text(k, &format!("/metadata/annotations/{}", PINNED_FROM.replace('/', "~1")));
            if from.is_empty() {
                continue;
            }
            let name = text(k, "/metadata/name");
            let followed = ObjectRef::source_of(k);
            let copy = (followed.kind, followed.namespace, followed.name);
            lines.push(evidence(
                Verdict::Pass,
                format!(
                    "Kustomization {}/{name}: pinned to {} through {}/{}, back to {from}",
                    run.cluster,
                    text(k, "/status/lastAppliedRevision"),
                    copy.1,
                    copy.2
                ),
            ));
            releases.push(Release { kustomization: name, from, copy });
        }
        if releases.is_empty() {
            return failed(format!("no Kustomization of {} is pinned", run.cluster));
        }
        judged(lines, BTreeMap::from([json_fact("releases", &releases)]))
    }

    /// The rollback's and the release's change sets.
    pub(in crate::cluster::runbook) async fn rollback_plan(
        &self,
        run: &Run,
        plan: &str,
    ) -> Result<Vec<PlannedWrite>, String> {
        match plan {
            "rollback-suspend" => rollback::plan_suspend(run),
            "rollback-restore" => rollback::plan_restore(run),
            "rollback-revert" if run.facts.get(facts::TARGET).is_some_and(|t| t == "undo") => {
                let ids: Vec<String> = run
                    .facts
                    .get(facts::UNDO_RUNS)
                    .and_then(|t| serde_json::from_str(t).ok())
                    .ok_or("the run names no runs to undo")?;
                let runs: Vec<Run> = self.list().await?.into_iter().map(|(r, _)| r).collect();
                let undo: Vec<&Run> = ids.iter().filter_map(|id| runs.iter().find(|r| &r.id == id)).collect();
                let (writes, notes) = rollback::plan_undo(&undo);
                if writes.is_empty() {
                    return Err(format!("nothing to undo: {}", notes.join("; ")));
                }
                for note in notes {
                    tracing::warn!(run = %run.id, %note, "a write the rollback cannot undo");
                }
                Ok(writes)
            }
            "rollback-revert" => rollback::plan_pin(run),
            "release" => rollback::plan_release(run),
            other => Err(format!("fleetdeck has no plan named {other:?}")),
        }
    }

    /// The rollback's and the release's waits.
    pub(in crate::cluster::runbook) async fn rollback_condition(&self, run: &Run, condition: &str) -> Reading {
        match condition {
            "restore-completed" => {
                let name = rollback::restore_name(run);
                let object = ObjectRef::new("velero.io/v1", "Restore", "restores", VELERO_NAMESPACE, &name);
                match self.read(&run.context, &object).await {
                    Ok(Some(r)) => restore_reading(&name, &r),
                    Ok(None) => Reading::Broke(format!("Restore {name} is gone from {}", run.context)),
                    Err(e) => unread(e, &format!("Restore {name}")),
                }
            }
            "pinned-ready" | "released-ready" => self.kustomizations_at(run).await,
            "workloads-ready" => match self.workload_readiness(&run.context).await {
                Ok(w) => {
                    let short: Vec<String> = w
                        .iter()
                        .filter(|(_, want, ready)| *want > 0 && ready < want)
                        .map(|(n, want, ready)| format!("{n} {ready}/{want}"))
                        .collect();
                    match short.len() {
                        0 => Reading::Held(format!("all {} workloads ready", w.len())),
                        n => Reading::Pending(format!("{n} of {} workloads not ready: {}", w.len(), short.join(", "))),
                    }
                }
                Err(e) => Reading::Paused(e),
            },
            "recovered" => {
                let healthy = self.healthy(run).await;
                let mut since = self.healthy_since.lock().map(|m| m.get(&run.id).copied()).unwrap_or_default();
                let (text, confirmed, kept) =
                    recovery(healthy, since.take(), Timestamp::now(), self.rollback_settings().confirm_for);
                if let Ok(mut m) = self.healthy_since.lock() {
                    match kept {
                        Some(t) => _ = m.insert(run.id.clone(), t),
                        None => _ = m.remove(&run.id),
                    }
                }
                if confirmed { Reading::Held(text) } else { Reading::Pending(text) }
            }
            other => Reading::Pending(format!("fleetdeck has no condition named {other:?}")),
        }
    }

    /// The spoke's Kustomizations Ready: a pinned one at its pin, the others at their
    /// source's revision.
    async fn kustomizations_at(&self, run: &Run) -> Reading {
        let kustomizations = match self.spoke_kustomizations(run).await {
            Ok(k) => k,
            Err(e) => return Reading::Paused(e),
        };
        let mut waiting = Vec::new();
        for k in &kustomizations {
            let name = text(k, "/metadata/name");
            let applied = text(k, "/status/lastAppliedRevision");
            let ready = k
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| text(c, "/type") == "Ready" && text(c, "/status") == "True"));
            let pin = text(
                k,
                &format!("/metadata/annotations/{}", crate::fleet::summary::PINNED_REVISION.replace('/', "~1")),
            );
            let wanted = if !pin.is_empty() {
                pin
            } else {
                let source = ObjectRef::source_of(k);
                match self.get(&run.hub, &source).await {
                    Ok(Some(s)) => text(&s, "/status/artifact/revision"),
                    Ok(None) => return Reading::Pending(format!("{} is gone", source.label())),
                    Err(e) => return Reading::Paused(e),
                }
            };
            // A pinned Git source names the commit with its branch (`main@sha1:…`) or
            // without (`sha1:…`): the commit is what must match.
            let id = |r: &str| r.rsplit_once('@').map_or(r, |(_, id)| id).to_owned();
            if !(ready && !wanted.is_empty() && id(&applied) == id(&wanted)) {
                waiting.push(format!("{name} at {applied}, wants {wanted}{}", if ready { "" } else { " (not Ready)" }));
            }
        }
        match waiting.len() {
            0 => Reading::Held(format!("{} Kustomizations Ready at their revision", kustomizations.len())),
            _ => Reading::Pending(waiting.join("; ")),
        }
    }

    /// Whether the cluster is healthy again: it answers within the latency target, every
    /// workload is ready, its failed policy results are at or below the baseline, and a
    /// pinned spoke's Kustomizations are Ready at the pin.
    async fn healthy(&self, run: &Run) -> Result<(), String> {
        let probes = self.probe_latency(&run.context, 5).await;
        let mut took: Vec<Duration> = Vec::new();
        for p in probes {
            took.push(p.map_err(|e| format!("{} does not answer: {e}", run.context))?);
        }
        took.sort();
        let p95 = crate::fleet::propagation::percentile(&took, 0.95).unwrap_or_default();
        let target = self.migration().latency;
        if p95 > target {
            return Err(format!("API p95 {} ms, over {} ms", p95.as_millis(), target.as_millis()));
        }
        let workloads = self.workload_readiness(&run.context).await?;
        let short = workloads.iter().filter(|(_, want, ready)| *want > 0 && ready < want).count();
        if short > 0 {
            return Err(format!("{short} workloads not ready"));
        }
        if let (Some(before), Ok(Some(now))) = (self.violations_baseline(run), self.policy_totals(&run.context).await)
            && now.fail > before
        {
            return Err(format!("{} failed policy results, above {before}", now.fail));
        }
        if run.facts.get(facts::TARGET).is_none_or(|t| t != "undo")
            && let Reading::Pending(why) | Reading::Paused(why) | Reading::Broke(why) =
                self.kustomizations_at(run).await
        {
            return Err(why);
        }
        Ok(())
    }

    /// Pauses the other runs going on the cluster for a rollback: their lock becomes this
    /// session's (their session stops driving them and says so) and is not renewed, so
    /// they read as interrupted once the rollback is over and can be taken over again.
    pub(in crate::cluster::runbook) async fn pause_runs(&self, runs: &[(Run, String)], cluster: &str) -> Vec<String> {
        let mut paused = Vec::new();
        let now = Timestamp::now();
        for (r, rv) in runs.iter().filter(|(r, _)| r.cluster == cluster && !r.state.finished()) {
            if r.workflow == Workflow::Rollback {
                continue;
            }
            let mut held = r.clone();
            held.lock = Some(self.lock(now));
            held.facts.insert("paused_by".into(), format!("a rollback by {}", self.session.label()));
            if held.state == RunState::Running {
                held.state = RunState::Waiting;
            }
            let mut rv = rv.clone();
            match self.save(&mut held, &mut rv).await {
                Ok(()) => paused.push(format!("{} ({})", r.id, r.workflow.name())),
                Err(e) => tracing::warn!(run = %r.id, error = %e, "a run the rollback should pause could not be"),
            }
        }
        paused
    }
}
