//! The migration runbook: a cluster walked into the fleet as a spoke, each step proved
//! with evidence before the next. The steps, their order, gates, timeouts and
//! thresholds come from a runbook file (`assets/runbooks/migration.toml`, replaced by a
//! file of that name in the config directory), validated here; what a step reads is
//! the runner's, and how it is judged is here: the inventory that is the baseline, the
//! backup's phase, the staging-first gate, the latency and policy probes, the workloads
//! against the baseline, and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::register::{self, evidence};
use crate::fleet::run::{
    Evidence, Gate, MANAGED_BY, MANAGER, ObjectRef, PlannedWrite, RUN_LABEL, Run, RunState, SPOKE_LABEL, Step,
    StepSpec, Verb, Verdict, Workflow,
};

/// The runbook's file name (embedded, and in the config directory's `runbooks/`).
pub const RUNBOOK_FILE: &str = "migration.toml";
/// The shipped runbook.
pub const RUNBOOK: &str = include_str!("../../assets/runbooks/migration.toml");
/// The shipped policy probes (file name, manifest): known-bad objects admission must deny.
pub const PROBES: &[(&str, &str)] = &[
    ("host-path.yaml", include_str!("../../assets/runbooks/policy-probes/host-path.yaml")),
    ("image-without-digest.yaml", include_str!("../../assets/runbooks/policy-probes/image-without-digest.yaml")),
    ("privileged-pod.yaml", include_str!("../../assets/runbooks/policy-probes/privileged-pod.yaml")),
];

/// The namespace of Velero's objects.
pub const VELERO_NAMESPACE: &str = "velero";

/// A parameter's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    /// A whole number of at least 1.
    Count,
    /// A duration ("30m").
    Duration,
}

/// The parameters a named check, plan or condition takes.
type Params = &'static [(&'static str, Param)];
type Names = &'static [(&'static str, Params)];

/// What a runbook may name, with the parameters each takes.
const CHECKS: Names = &[
    ("inventory", &[]),
    ("velero", &[]),
    ("rollback-point", &[]),
    ("staging-first", &[]),
    ("connectivity", &[("probes", Param::Count)]),
    ("policy-enforcement", &[]),
    ("workloads", &[]),
    ("operational", &[]),
    ("security-audit", &[]),
    ("report", &[]),
];
const PLANS: Names = &[("premigration-backup", &[("ttl", Param::Duration)])];
const CONDITIONS: Names = &[("backup-completed", &[])];
const RUNBOOKS: &[&str] = &["register"];
const KINDS: &str = "check, change_set, wait, gate, runbook";

/// A validated runbook: its steps as the file gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook {
    /// Where it was read from ("embedded" or a path), for its errors.
    pub origin: String,
    steps: Vec<FileStep>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStep {
    phase: String,
    name: String,
    what: What,
    overridable: bool,
    params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum What {
    Check(String),
    ChangeSet(String),
    Wait {
        condition: String,
        timeout: Duration,
    },
    Attest(String),
    Confirm(String),
    /// Another runbook's steps in place; `timeout` replaces its waits' own.
    Runbook {
        name: String,
        timeout: Option<Duration>,
    },
}

fn value_text(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

impl Runbook {
    /// Parses and validates a runbook; errors name the file, the step and the key.
    pub fn parse(text: &str, origin: &str) -> Result<Runbook, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| format!("{origin}: {}", e.message()))?;
        if let Some(key) = table.keys().find(|k| *k != "step") {
            return Err(format!("{origin}: unknown key {key:?} (a runbook holds [[step]] tables only)"));
        }
        let steps = match table.get("step") {
            Some(toml::Value::Array(steps)) if !steps.is_empty() => steps,
            _ => return Err(format!("{origin}: no [[step]]")),
        };
        let mut out = Vec::new();
        for (n, step) in steps.iter().enumerate() {
            let step = step.as_table().ok_or_else(|| format!("{origin}: step {}: not a table", n + 1))?;
            out.push(Self::step(step, &format!("{origin}: step {}", n + 1))?);
        }
        Ok(Runbook { origin: origin.to_owned(), steps: out })
    }

    fn step(t: &toml::Table, at: &str) -> Result<FileStep, String> {
        let text = |key: &str, at: &str| -> Result<String, String> {
            match t.get(key) {
                Some(toml::Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(_) => Err(format!("{at}: key {key}: must be a non-empty string")),
                None => Err(format!("{at}: missing key {key}")),
            }
        };
        let name = text("name", at)?;
        let at = format!("{at} ({name})");
        let duration = |key: &str| -> Result<Duration, String> {
            let value = text(key, &at)?;
            humantime::parse_duration(&value).map_err(|e| format!("{at}: key {key}: {value:?} is not a duration ({e})"))
        };
        let kind = text("kind", &at)?;
        let phase = match t.get("phase") {
            None => String::new(),
            Some(_) => text("phase", &at)?,
        };
        let overridable = match t.get("override") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(_) => return Err(format!("{at}: key override: must be true or false")),
        };
        let named = |key: &str, known: Names| -> Result<(String, Params), String> {
            let value = text(key, &at)?;
            match known.iter().find(|(n, _)| *n == value) {
                Some((_, params)) => Ok((value, params)),
                None => Err(format!(
                    "{at}: key {key}: fleetdeck has no {key} {value:?} (one of {})",
                    known.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                )),
            }
        };
        let (what, own, params): (What, Vec<&str>, Params) = match kind.as_str() {
            "check" => {
                let (c, p) = named("check", CHECKS)?;
                (What::Check(c), vec!["check"], p)
            }
            "change_set" => {
                let (c, p) = named("plan", PLANS)?;
                (What::ChangeSet(c), vec!["plan"], p)
            }
            "wait" => {
                let (c, p) = named("condition", CONDITIONS)?;
                (What::Wait { condition: c, timeout: duration("timeout")? }, vec!["condition", "timeout"], p)
            }
            "gate" => match (t.get("attest"), t.get("confirm")) {
                (Some(_), None) => (What::Attest(text("attest", &at)?), vec!["attest"], &[]),
                (None, Some(_)) => (What::Confirm(text("confirm", &at)?), vec!["confirm"], &[]),
                _ => {
                    return Err(format!(
                        "{at}: a gate has one of the keys attest (an item to attest with a note) or confirm (a prompt; the cluster's name is typed)"
                    ));
                }
            },
            "runbook" => {
                let r = text("runbook", &at)?;
                if !RUNBOOKS.contains(&r.as_str()) {
                    return Err(format!(
                        "{at}: key runbook: fleetdeck has no runbook {r:?} (one of {})",
                        RUNBOOKS.join(", ")
                    ));
                }
                let timeout = if t.contains_key("timeout") { Some(duration("timeout")?) } else { None };
                (What::Runbook { name: r, timeout }, vec!["runbook", "timeout"], &[])
            }
            other => return Err(format!("{at}: key kind: unknown step kind {other:?} (one of {KINDS})")),
        };
        let mut values = BTreeMap::new();
        for (key, value) in t {
            if ["name", "kind", "phase", "override"].contains(&key.as_str()) || own.contains(&key.as_str()) {
                continue;
            }
            let Some((_, param)) = params.iter().find(|(p, _)| p == key) else {
                let known: Vec<&str> = own.iter().copied().chain(params.iter().map(|(p, _)| *p)).collect();
                return Err(format!(
                    "{at}: unknown key {key:?} (a {kind} step here takes name, kind, phase, override, {})",
                    known.join(", ")
                ));
            };
            let text = value_text(value).ok_or_else(|| format!("{at}: key {key}: must be a string or a number"))?;
            match param {
                Param::Count if text.parse::<u32>().is_ok_and(|n| n >= 1) => {}
                Param::Count => return Err(format!("{at}: key {key}: {text:?} is not a whole number of at least 1")),
                Param::Duration => {
                    humantime::parse_duration(&text)
                        .map_err(|e| format!("{at}: key {key}: {text:?} is not a duration ({e})"))?;
                }
            }
            values.insert(key.clone(), text);
        }
        Ok(FileStep { phase, name, what, overridable, params: values })
    }

    /// The embedded runbook.
    pub fn shipped() -> Runbook {
        Runbook::parse(RUNBOOK, "embedded runbooks/migration.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    /// The steps of a migration of `cluster`: every step holds on failure; the
    /// registration's steps take the place of a `runbook = "register"` step.
    pub fn steps(&self, cluster: &str, settings: &register::Settings) -> Vec<Step> {
        let mut out = Vec::new();
        for s in &self.steps {
            let specs: Vec<(String, StepSpec)> = match &s.what {
                What::Check(check) => vec![(s.name.clone(), StepSpec::Check { check: check.clone() })],
                What::ChangeSet(plan) => vec![(
                    s.name.clone(),
                    StepSpec::ChangeSet { plan: plan.clone(), confirm: cluster.to_owned(), writes: vec![] },
                )],
                What::Wait { condition, timeout } => vec![(
                    s.name.clone(),
                    StepSpec::Wait { condition: condition.clone(), timeout_secs: timeout.as_secs() },
                )],
                What::Attest(item) => {
                    vec![(s.name.clone(), StepSpec::Gate { gate: Gate::Attest { item: item.clone() } })]
                }
                What::Confirm(prompt) => vec![(
                    s.name.clone(),
                    StepSpec::Gate { gate: Gate::Confirm { expected: cluster.to_owned(), prompt: prompt.clone() } },
                )],
                What::Runbook { timeout, .. } => register::register_steps(cluster, settings)
                    .into_iter()
                    .map(|step| {
                        let spec = match (step.spec, timeout) {
                            (StepSpec::Wait { condition, .. }, Some(t)) => {
                                StepSpec::Wait { condition, timeout_secs: t.as_secs() }
                            }
                            (spec, _) => spec,
                        };
                        (format!("{}: {}", s.name, step.name), spec)
                    })
                    .collect(),
            };
            for (name, spec) in specs {
                let mut step = Step::new(&name, spec);
                step.phase = s.phase.clone();
                step.hold = true;
                step.overridable = s.overridable;
                step.params = s.params.clone();
                out.push(step);
            }
        }
        out
    }
}

/// A workload as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// Deployment, StatefulSet or DaemonSet.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Desired (a DaemonSet: scheduled) and ready.
    pub replicas: i64,
    pub ready: i64,
    pub images: Vec<String>,
}

impl Workload {
    pub fn label(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A node as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub version: String,
    pub ready: bool,
}

/// Policy report results, summed over the cluster's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicyTotals {
    pub pass: i64,
    pub fail: i64,
    pub warn: i64,
    pub error: i64,
    pub skip: i64,
}

/// The cluster's state as documented before the migration: the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub cluster: String,
    pub taken_at: Timestamp,
    pub namespaces: Vec<String>,
    pub workloads: Vec<Workload>,
    pub crds: Vec<String>,
    pub nodes: Vec<Node>,
    /// Flux's controllers on the cluster (namespace/name of their Deployments).
    pub flux: Vec<String>,
    /// Velero's CRDs are served and its namespace exists.
    pub velero: bool,
    /// Policy reports' totals; `None` where the cluster serves no PolicyReports.
    pub policy: Option<PolicyTotals>,
    /// What the cluster does not serve, or could not be read, and why.
    #[serde(default)]
    pub gaps: Vec<String>,
}

impl Inventory {
    /// The sha256 of its JSON, as the run records it.
    pub fn sha256(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// One line for the run's evidence.
    pub fn summary(&self) -> String {
        let count = |kind: &str| self.workloads.iter().filter(|w| w.kind == kind).count();
        let ready = self.nodes.iter().filter(|n| n.ready).count();
        format!(
            "{} namespaces; {} Deployments, {} StatefulSets, {} DaemonSets; {} CRDs; {}/{} nodes Ready; Flux {}; Velero {}; policy results {}",
            self.namespaces.len(),
            count("Deployment"),
            count("StatefulSet"),
            count("DaemonSet"),
            self.crds.len(),
            ready,
            self.nodes.len(),
            if self.flux.is_empty() { "absent".to_owned() } else { self.flux.join(", ") },
            if self.velero { "present" } else { "absent" },
            self.policy.map_or("not served".to_owned(), |p| format!("{} fail, {} pass", p.fail, p.pass)),
        )
    }

    /// The inventory as Markdown, for people.
    pub fn markdown(&self) -> String {
        let mut md =
            format!("# Inventory of {}\n\nTaken at {} (sha256 {}).\n\n", self.cluster, self.taken_at, self.sha256());
        md.push_str(&format!("{}\n\n## Workloads\n\n", self.summary()));
        md.push_str("| kind | namespace | name | ready | images |\n|---|---|---|---|---|\n");
        for w in &self.workloads {
            md.push_str(&format!(
                "| {} | {} | {} | {}/{} | {} |\n",
                w.kind,
                w.namespace,
                w.name,
                w.ready,
                w.replicas,
                w.images.join(", ")
            ));
        }
        md.push_str("\n## Nodes\n\n| name | version | ready |\n|---|---|---|\n");
        for n in &self.nodes {
            md.push_str(&format!("| {} | {} | {} |\n", n.name, n.version, if n.ready { "yes" } else { "no" }));
        }
        md.push_str(&format!("\n## Namespaces\n\n{}\n", self.namespaces.join(", ")));
        md.push_str(&format!(
            "\n## CRDs\n\n{}\n",
            if self.crds.is_empty() { "none".into() } else { self.crds.join(", ") }
        ));
        if !self.gaps.is_empty() {
            md.push_str("\n## Not read\n\n");
            for g in &self.gaps {
                md.push_str(&format!("- {g}\n"));
            }
        }
        md
    }
}

/// Every workload of the baseline is still there and as ready as it was; every node
/// Ready. Each workload that got worse is named.
pub fn workloads_verdict(before: &Inventory, now: &Inventory) -> Vec<Evidence> {
    let mut lines = Vec::new();
    let mut fine = 0;
    for b in &before.workloads {
        let found = now.workloads.iter().find(|w| w.kind == b.kind && w.namespace == b.namespace && w.name == b.name);
        match found {
            None => lines.push(evidence(
                Verdict::Fail,
                format!("{} is gone (it had {}/{} ready)", b.label(), b.ready, b.replicas),
            )),
            Some(w) if w.ready < b.ready => lines.push(evidence(
                Verdict::Fail,
                format!("{}: {}/{} ready, it had {}/{}", b.label(), w.ready, w.replicas, b.ready, b.replicas),
            )),
            Some(_) => fine += 1,
        }
    }
    lines.insert(
        0,
        evidence(Verdict::Pass, format!("{fine} of {} workloads as ready as before", before.workloads.len())),
    );
    let not_ready: Vec<&str> = now.nodes.iter().filter(|n| !n.ready).map(|n| n.name.as_str()).collect();
    if not_ready.is_empty() {
        lines.push(evidence(Verdict::Pass, format!("all {} nodes Ready", now.nodes.len())));
    } else {
        lines.push(evidence(Verdict::Fail, format!("nodes not Ready: {}", not_ready.join(", "))));
    }
    lines
}

/// The policy reports show no new failures compared with the baseline.
pub fn policy_verdict(before: Option<PolicyTotals>, now: Option<PolicyTotals>) -> Evidence {
    match (before, now) {
        (_, None) => evidence(Verdict::Warn, "the cluster serves no PolicyReports: new failures cannot be compared"),
        (None, Some(n)) if n.fail == 0 => evidence(Verdict::Pass, "policy reports: no failed result"),
        (None, Some(n)) => {
            evidence(Verdict::Fail, format!("policy reports: {} failed results (none were reported before)", n.fail))
        }
        (Some(b), Some(n)) if n.fail <= b.fail => evidence(
            Verdict::Pass,
            format!("policy reports: {} failed results, {} before: no new failure", n.fail, b.fail),
        ),
        (Some(b), Some(n)) => evidence(
            Verdict::Fail,
            format!("policy reports: {} failed results, {} before: {} new", n.fail, b.fail, n.fail - b.fail),
        ),
    }
}

/// A policy probe's answer: denied by admission passes.
pub fn probe_verdict(probe: &str, answer: &Result<(), (u16, String)>) -> Evidence {
    match answer {
        Err((code, message)) if (*code == 400 || *code == 403) && message.contains("denied") => {
            let mut text = message.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Some((cut, _)) = text.char_indices().nth(240) {
                text.truncate(cut);
                text.push('…');
            }
            evidence(Verdict::Pass, format!("{probe}: denied: {text}"))
        }
        Err((code, message)) => {
            evidence(Verdict::Fail, format!("{probe}: refused, but not by admission ({code}: {message})"))
        }
        Ok(()) => evidence(
            Verdict::Fail,
            format!("{probe}: admitted (a server-side dry-run create succeeded): the policy is not enforced"),
        ),
    }
}

/// The p95 of successful round trips (nearest rank).
pub fn p95(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = (sorted.len() * 95).div_ceil(100);
    sorted.get(rank.checked_sub(1)?).copied()
}

/// The API latency from fleetdeck: p95 under `slo`, no failed probe.
pub fn latency_verdict(samples: &[Result<Duration, String>], slo: Duration) -> Vec<Evidence> {
    let ok: Vec<Duration> = samples.iter().filter_map(|s| s.as_ref().ok().copied()).collect();
    let failed: Vec<&String> = samples.iter().filter_map(|s| s.as_ref().err()).collect();
    let mut lines = Vec::new();
    match p95(&ok) {
        Some(p) if p <= slo => lines.push(evidence(
            Verdict::Pass,
            format!("API p95 {} ms over {} probes (target {} ms)", p.as_millis(), ok.len(), slo.as_millis()),
        )),
        Some(p) => lines.push(evidence(
            Verdict::Fail,
            format!("API p95 {} ms over {} probes: over the {} ms target", p.as_millis(), ok.len(), slo.as_millis()),
        )),
        None => lines.push(evidence(Verdict::Fail, "no probe answered")),
    }
    if let Some(first) = failed.first() {
        lines.push(evidence(
            Verdict::Fail,
            format!("{} of {} probes failed (first: {first})", failed.len(), samples.len()),
        ));
    }
    lines
}

/// The time each Kustomization took to become Ready against `slo.propagation`.
pub fn propagation_verdict(states: &[(String, bool, String, String, Option<f64>)], slo: Duration) -> Vec<Evidence> {
    let mut lines = Vec::new();
    for (name, ready, applied, source, took) in states {
        let at_source = !source.is_empty() && applied == source;
        lines.push(match (ready, at_source, took) {
            (true, true, Some(t)) if *t <= slo.as_secs_f64() => {
                evidence(Verdict::Pass, format!("{name} Ready at {applied} in {t:.1} s (target {} s)", slo.as_secs()))
            }
            (true, true, Some(t)) => evidence(
                Verdict::Fail,
                format!("{name} Ready at {applied} in {t:.1} s: over the {} s target", slo.as_secs()),
            ),
            (true, true, None) => evidence(Verdict::Pass, format!("{name} Ready at {applied}")),
            (true, false, _) => {
                evidence(Verdict::Fail, format!("{name} applied {applied:?}, its source is at {source:?}"))
            }
            (false, _, _) => evidence(Verdict::Fail, format!("{name} is not Ready")),
        });
    }
    if states.is_empty() {
        lines.push(evidence(Verdict::Fail, "the spoke has no Kustomizations on the hub"));
    }
    lines
}

/// What a backup's status says of the wait on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// Not there yet, with what it shows.
    Pending(String),
    Held(String),
    /// It can no longer hold.
    Broke(String),
    /// The cluster does not answer: the wait pauses.
    Paused(String),
}

/// A Velero Backup's phase, with Velero's counts.
pub fn backup_reading(name: &str, backup: &Value) -> Reading {
    let text = |p: &str| crate::fields::text(backup, p);
    let int = |p: &str| crate::fields::int(backup, p);
    let phase = text("/status/phase");
    let counts = format!(
        "{} of {} items, {} errors, {} warnings",
        int("/status/progress/itemsBackedUp"),
        int("/status/progress/totalItems"),
        int("/status/errors"),
        int("/status/warnings")
    );
    match phase.as_str() {
        "Completed" => Reading::Held(format!("Backup {name} Completed: {counts}")),
        "PartiallyFailed" | "Failed" | "FailedValidation" => {
            let reason = text("/status/failureReason");
            let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
            Reading::Broke(format!("Backup {name} {phase}{why}: {counts}"))
        }
        "" | "New" => Reading::Pending(format!("Backup {name} is waiting for Velero")),
        other => Reading::Pending(format!("Backup {name} {other}: {counts}")),
    }
}

/// The pre-migration backup's name: `fleetdeck-premigration-<cluster>-<timestamp>`.
pub fn backup_name(run: &Run) -> String {
    format!("fleetdeck-premigration-{}-{}", run.cluster, run.started_at.strftime("%Y%m%d%H%M%S"))
}

/// The pre-migration backup: every namespace, labelled with the run.
pub fn plan_backup(run: &Run, ttl: &str) -> Result<Vec<PlannedWrite>, String> {
    if run.context.is_empty() {
        return Err("no local context reaches the cluster".into());
    }
    let name = backup_name(run);
    let ttl = humantime::parse_duration(ttl).map_err(|e| format!("ttl {ttl:?}: {e}"))?;
    let body = serde_json::json!({
        "apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": VELERO_NAMESPACE, "labels": {
            MANAGED_BY: MANAGER, RUN_LABEL: run.id, SPOKE_LABEL: run.cluster}},
        "spec": {"includedNamespaces": ["*"], "ttl": format!("{}h0m0s", ttl.as_secs() / 3600),
                 "snapshotVolumes": false, "storageLocation": "default"},
    });
    Ok(vec![PlannedWrite {
        context: run.context.clone(),
        verb: Verb::Create,
        object: ObjectRef::new("velero.io/v1", "Backup", "backups", VELERO_NAMESPACE, &name),
        body,
        fill: None,
        settle: None,
    }])
}

/// Whether `name` matches any of `globs`.
fn matches(globs: &[String], name: &str) -> bool {
    globs.iter().any(|g| crate::glob::glob_match(g, name))
}

/// "Test in staging first": a production cluster passes once a staging cluster has a
/// succeeded migration run (named); any other cluster passes.
pub fn staging_first(cluster: &str, production: &[String], staging: &[String], runs: &[Run]) -> Evidence {
    if !matches(production, cluster) {
        return evidence(Verdict::Pass, format!("{cluster} is not a production cluster ({})", production.join(", ")));
    }
    let succeeded = runs
        .iter()
        .filter(|r| r.workflow == Workflow::Migrate && r.state == RunState::Succeeded && matches(staging, &r.cluster))
        .max_by_key(|r| r.finished_at);
    match succeeded {
        Some(r) => evidence(
            Verdict::Pass,
            format!(
                "the staging cluster {} was migrated by run {} (succeeded {})",
                r.cluster,
                r.id,
                r.finished_at.map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
            ),
        ),
        None => evidence(
            Verdict::Fail,
            format!(
                "{cluster} is a production cluster and no staging cluster ({}) has a succeeded migration run on the hub",
                staging.join(", ")
            ),
        ),
    }
}

/// The report of a run: each step with its evidence and duration, who confirmed what
/// and when, the overrides with their reasons, the inventory before and after.
pub fn report(run: &Run, before: Option<&Inventory>, after: Option<&Inventory>) -> (String, Value) {
    let took = |s: &Step| match (s.started_at, s.finished_at) {
        (Some(a), Some(b)) => format!("{:.1} s", b.duration_since(a).as_secs_f64().max(0.0)),
        _ => "-".into(),
    };
    let mut md = format!(
        "# Migration of {}\n\nRun {} on the hub {}, started {} by {}.\n\n",
        run.cluster,
        run.id,
        run.hub,
        run.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        run.by.label()
    );
    let mut phase = "";
    for (i, s) in run.steps.iter().enumerate() {
        if s.phase != phase && !s.phase.is_empty() {
            phase = &s.phase;
            md.push_str(&format!("## {phase}\n\n"));
        }
        md.push_str(&format!("### {}. {} — {} ({})\n\n", i + 1, s.name, s.state.name(), took(s)));
        for e in &s.evidence {
            md.push_str(&format!("- {}: {}\n", verdict_word(e.verdict), e.text));
        }
        for (w, record) in s.writes.iter().enumerate() {
            if let Some(p) = run.planned(i, w) {
                md.push_str(&format!("- wrote {} on {}: {}\n", p.label(), p.context, record.state.name()));
            }
        }
        md.push('\n');
    }
    md.push_str("## Confirmations\n\n");
    for c in &run.confirmations {
        md.push_str(&format!("- step {}: {:?} by {} at {}\n", c.step + 1, c.text, c.by, c.at.strftime("%H:%M:%S")));
    }
    md.push_str("\n## Overrides\n\n");
    if run.overrides.is_empty() {
        md.push_str("none\n");
    }
    for o in &run.overrides {
        md.push_str(&format!(
            "- step {} by {} at {}: {} (the failure: {})\n",
            o.step + 1,
            o.by,
            o.at.strftime("%H:%M:%S"),
            o.reason,
            o.failure
        ));
    }
    for (title, inv) in [("before", before), ("after", after)] {
        md.push_str(&format!("\n## Inventory {title}\n\n"));
        match inv {
            Some(i) => md.push_str(&format!("{} (sha256 {})\n", i.summary(), i.sha256())),
            None => md.push_str("not taken\n"),
        }
    }
    let json = serde_json::json!({
        "run": run.id, "cluster": run.cluster, "hub": run.hub, "by": run.by.label(),
        "started_at": run.started_at, "steps": run.steps.iter().enumerate().map(|(i, s)| serde_json::json!({
            "n": i + 1, "phase": s.phase, "name": s.name, "kind": s.spec.kind(), "state": s.state.name(),
            "started_at": s.started_at, "finished_at": s.finished_at,
            "evidence": s.evidence.iter().map(|e| serde_json::json!({"verdict": verdict_word(e.verdict), "text": e.text})).collect::<Vec<_>>(),
            "writes": s.writes.iter().enumerate().filter_map(|(w, r)| run.planned(i, w).map(|p| serde_json::json!({
                "context": p.context, "verb": p.verb.name(), "object": p.label(), "state": r.state.name()}))).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "confirmations": run.confirmations, "overrides": run.overrides,
        "inventory_before": before, "inventory_after": after,
    });
    (md, json)
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "fail",
    }
}

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod tests;
