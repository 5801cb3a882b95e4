//! The migration runbook: a cluster walked into the fleet as a spoke, each step proved
//! with evidence before the next. The steps, their order, gates, timeouts and
//! thresholds come from a runbook file (`assets/runbooks/migration.toml`, replaced by a
//! file of that name in the config directory), validated here; what a step reads is
//! the runner's, and how it is judged is here: the inventory that is the baseline, the
//! backup's phase, the staging-first gate, the latency and policy probes, the workloads
//! against the baseline, and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

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

mod inventory;
mod report;
pub use inventory::{Inventory, Node, PolicyTotals, Workload, policy_verdict, workloads_verdict};
pub use report::report;

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
    let int = |p: &str| crate::fields::int(backup, p);
    let counts = format!(
        "{} of {} items, {} errors, {} warnings",
        int("/status/progress/itemsBackedUp"),
        int("/status/progress/totalItems"),
        int("/status/errors"),
        int("/status/warnings")
    );
    velero_reading(&format!("Backup {name}"), backup, &counts, "")
}

/// A Velero Backup's or Restore's reading by its phase: Completed holds; a terminal
/// failure breaks (with `failureReason`, and `hint` for where to look); anything else is
/// pending, with `counts`.
pub fn velero_reading(what: &str, object: &Value, counts: &str, hint: &str) -> Reading {
    let text = |p: &str| crate::fields::text(object, p);
    let phase = text("/status/phase");
    match phase.as_str() {
        "Completed" => Reading::Held(format!("{what} Completed: {counts}")),
        "PartiallyFailed" | "Failed" | "FailedValidation" => {
            let reason = text("/status/failureReason");
            let why = if reason.is_empty() { String::new() } else { format!(" ({reason})") };
            Reading::Broke(format!("{what} {phase}{why}: {counts}{hint}"))
        }
        "" | "New" => Reading::Pending(format!("{what} is waiting for Velero")),
        other => Reading::Pending(format!("{what} {other}: {counts}")),
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

#[cfg(test)]
#[path = "migrate_tests.rs"]
mod tests;
