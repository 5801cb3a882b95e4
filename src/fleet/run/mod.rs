//! A workflow run as it is recorded on the hub: a ConfigMap per run in
//! `fleetdeck-system`, whose `run.json` holds the steps (what each checks, writes, waits
//! for or asks), their states and evidence, every write with what it replaced, the
//! confirmations given, and the lock of the session driving it. Everything needed to
//! resume a run from another terminal is here, and no Secret value ever is: a Secret
//! fleetdeck writes carries its data only at the moment of writing (`Fill`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod write;
pub use write::{Fill, ObjectRef, PlannedWrite, Settle, Verb, WriteError, WriteRecord, WriteState, plural_of, redact};

/// Where run records live on the hub.
pub const RUN_NAMESPACE: &str = "fleetdeck-system";
/// The ConfigMap key holding the record.
pub const RECORD_KEY: &str = "run.json";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "fleetdeck";
pub const WORKFLOW_LABEL: &str = "fleetdeck.io/workflow";
pub const SPOKE_LABEL: &str = "fleetdeck.io/spoke";
pub const RUN_LABEL: &str = "fleetdeck.io/run";

/// The guided workflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workflow {
    Register,
    Unregister,
    Migrate,
    Rollback,
    /// Points a spoke a rollback pinned back at the shared source.
    Release,
}

impl Workflow {
    pub const ALL: [Workflow; 5] =
        [Workflow::Register, Workflow::Unregister, Workflow::Migrate, Workflow::Rollback, Workflow::Release];

    /// As labels, the JSON of `fleetdeck runs` and the command line name it.
    pub fn name(self) -> &'static str {
        match self {
            Workflow::Register => "register",
            Workflow::Unregister => "unregister",
            Workflow::Migrate => "migrate",
            Workflow::Rollback => "rollback",
            Workflow::Release => "release",
        }
    }

    pub fn from_name(name: &str) -> Option<Workflow> {
        Workflow::ALL.into_iter().find(|w| w.name() == name)
    }

    /// "registering", for the wall's banner.
    pub fn gerund(self) -> &'static str {
        match self {
            Workflow::Register => "registering",
            Workflow::Unregister => "unregistering",
            Workflow::Migrate => "migrating",
            Workflow::Rollback => "rolling back",
            Workflow::Release => "releasing",
        }
    }
}

/// A run's state. `Interrupted` is never stored: it is what a running or waiting run
/// whose driving session is gone is (`Run::state_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    /// Waiting for the operator: a confirmation, an attestation.
    Waiting,
    Interrupted,
    Failed,
    Succeeded,
    Aborted,
    Undone,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Waiting => "waiting",
            RunState::Interrupted => "interrupted",
            RunState::Failed => "failed",
            RunState::Succeeded => "succeeded",
            RunState::Aborted => "aborted",
            RunState::Undone => "undone",
        }
    }

    /// Whether the run is over (no session drives it any more).
    pub fn finished(self) -> bool {
        matches!(self, RunState::Failed | RunState::Succeeded | RunState::Aborted | RunState::Undone)
    }
}

/// A step's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    #[default]
    Pending,
    Running,
    /// A change set's preview is shown, or a gate asks: the operator decides.
    Waiting,
    Passed,
    /// Passed, with something the operator should know.
    Warned,
    Failed,
    /// Not reached: the run ended before it.
    Skipped,
}

impl StepState {
    pub fn name(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Waiting => "waiting",
            StepState::Passed => "passed",
            StepState::Warned => "warned",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
        }
    }

    pub fn done(self) -> bool {
        matches!(self, StepState::Passed | StepState::Warned)
    }
}

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// A gate: the operator decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Gate {
    /// Type `expected` to go on.
    Confirm { expected: String, prompt: String },
    /// Attest a manual item with a note.
    Attest { item: String },
}

/// What a step is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepSpec {
    /// Reads only; `check` names what the runner reads and how it is judged.
    Check {
        check: String,
    },
    /// Ordered writes, previewed together by server-side dry run, confirmed by typing
    /// `confirm`. `plan` names how the writes are planned when the step is reached
    /// (from what the checks before found); `writes` holds them once planned.
    ChangeSet {
        plan: String,
        confirm: String,
        #[serde(default)]
        writes: Vec<PlannedWrite>,
    },
    /// A condition watched until it holds or `timeout_secs` pass.
    Wait {
        condition: String,
        timeout_secs: u64,
    },
    Gate {
        gate: Gate,
    },
}

impl StepSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            StepSpec::Check { .. } => "check",
            StepSpec::ChangeSet { .. } => "change set",
            StepSpec::Wait { .. } => "wait",
            StepSpec::Gate { .. } => "gate",
        }
    }
}

/// A line of a step's evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub verdict: Verdict,
    pub text: String,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: String,
    pub spec: StepSpec,
    #[serde(default)]
    pub state: StepState,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// A change set's preview, one line per field that would change (Secrets redacted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preview: Vec<String>,
    /// A change set's writes as they happened, in the order of `spec`'s writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<WriteRecord>,
    /// A wait's latest progress.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Where the step belongs in its runbook ("pre-migration"), for the screen and the
    /// report.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    /// On failure the run waits for the operator (retry, override, abort) instead of
    /// ending.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// A failure of this step may be overridden with a typed reason.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overridable: bool,
    /// The step's thresholds, from its runbook (`probes = "20"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
}

impl Step {
    pub fn new(name: &str, spec: StepSpec) -> Self {
        Self {
            phase: String::new(),
            hold: false,
            overridable: false,
            params: BTreeMap::new(),
            name: name.to_owned(),
            spec,
            state: StepState::Pending,
            evidence: Vec::new(),
            preview: Vec::new(),
            writes: Vec::new(),
            progress: String::new(),
            started_at: None,
            finished_at: None,
        }
    }
}

/// A session of fleetdeck: who, where, which process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Session {
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// Unique per process start.
    pub id: String,
}

impl Session {
    /// "alice@laptop".
    pub fn label(&self) -> String {
        format!("{}@{}", self.user, self.host)
    }
}

/// The lock of the session driving a run: one mutating run per cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub holder: Session,
    pub since: Timestamp,
    pub renewed_at: Timestamp,
}

/// A confirmation given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub step: usize,
    /// What was typed, or the note of an attestation.
    pub text: String,
    pub by: String,
    pub at: Timestamp,
}

/// A failure the operator chose to go past, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub step: usize,
    /// The failure overridden.
    pub failure: String,
    pub reason: String,
    pub by: String,
    pub at: Timestamp,
}

/// A run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub id: String,
    pub workflow: Workflow,
    /// The spoke's name (on the hub, and the run's label).
    pub cluster: String,
    /// The kubeconfig context of the spoke ("" when no local context reaches it).
    #[serde(default)]
    pub context: String,
    /// The kubeconfig context of the hub.
    pub hub: String,
    pub state: RunState,
    /// The index of the step the run is at.
    pub current: usize,
    pub steps: Vec<Step>,
    pub by: Session,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
    #[serde(default)]
    pub confirmations: Vec<Confirmation>,
    /// Failures gone past with a typed reason: nothing is skipped silently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
    /// What the checks found that later steps use (the cluster UID, the CA's fingerprint,
    /// the server): never a credential.
    #[serde(default)]
    pub facts: BTreeMap<String, String>,
    /// Why the run ended, when it did not succeed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub outcome: String,
}

/// Whether a session's process is gone: the same host and no process with its pid (on
/// Linux, where /proc says); `None` when this host cannot tell.
pub fn session_gone(session: &Session, this_host: &str) -> Option<bool> {
    if session.host != this_host || !cfg!(target_os = "linux") {
        return None;
    }
    Some(!std::path::Path::new(&format!("/proc/{}", session.pid)).exists())
}

impl Run {
    /// A run of `steps` on `cluster` (reached through `context`, recorded on `hub`),
    /// started at `now` by `by`, who holds its lock.
    pub fn new(
        id: &str,
        workflow: Workflow,
        (cluster, context, hub): (&str, &str, &str),
        steps: Vec<Step>,
        by: Session,
        now: Timestamp,
    ) -> Run {
        Run {
            id: id.to_owned(),
            workflow,
            cluster: cluster.to_owned(),
            context: context.to_owned(),
            hub: hub.to_owned(),
            state: RunState::Running,
            current: 0,
            steps,
            lock: Some(Lock { holder: by.clone(), since: now, renewed_at: now }),
            by,
            started_at: now,
            updated_at: now,
            finished_at: None,
            confirmations: Vec::new(),
            overrides: Vec::new(),
            facts: BTreeMap::new(),
            outcome: String::new(),
        }
    }

    /// The ConfigMap's name: `run-<id>`.
    pub fn object_name(&self) -> String {
        format!("run-{}", self.id)
    }

    /// The step the run is at (the last one when it is past them).
    pub fn step(&self) -> Option<&Step> {
        self.steps.get(self.current.min(self.steps.len().saturating_sub(1)))
    }

    /// The state as seen at `now` from `this_host`: a running or waiting run whose
    /// session is gone (its process ended on this host, or its lock was not renewed for
    /// `ttl`) is interrupted.
    pub fn state_at(&self, now: Timestamp, ttl: Duration, this_host: &str) -> RunState {
        if self.state.finished() {
            return self.state;
        }
        match &self.lock {
            None => RunState::Interrupted,
            Some(lock) => {
                let stale = super::ago(now, lock.renewed_at) > ttl;
                if stale || session_gone(&lock.holder, this_host) == Some(true) {
                    RunState::Interrupted
                } else {
                    self.state
                }
            }
        }
    }

    /// Whether the run waits on a failed step that holds (retry, override or abort).
    pub fn held(&self) -> bool {
        !self.state.finished() && self.steps.get(self.current).is_some_and(|s| s.hold && s.state == StepState::Failed)
    }

    /// The writes applied so far, oldest first: (step, write index).
    pub fn applied(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (s, step) in self.steps.iter().enumerate() {
            for (w, record) in step.writes.iter().enumerate() {
                if record.state == WriteState::Applied {
                    out.push((s, w));
                }
            }
        }
        out
    }

    /// The planned write of a step, by index.
    pub fn planned(&self, step: usize, write: usize) -> Option<&PlannedWrite> {
        match &self.steps.get(step)?.spec {
            StepSpec::ChangeSet { writes, .. } => writes.get(write),
            _ => None,
        }
    }

    /// The record as stored: a ConfigMap in `fleetdeck-system` with its labels.
    pub fn to_configmap(&self) -> Value {
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.object_name(),
                "namespace": RUN_NAMESPACE,
                "labels": {
                    MANAGED_BY: MANAGER,
                    WORKFLOW_LABEL: self.workflow.name(),
                    SPOKE_LABEL: self.cluster,
                    RUN_LABEL: self.id,
                },
            },
            "data": {RECORD_KEY: serde_json::to_string(self).unwrap_or_default()},
        })
    }

    /// The record a ConfigMap holds, or why it holds none.
    pub fn from_configmap(cm: &Value) -> Result<Run, String> {
        let name = cm.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("?");
        let data = cm
            .pointer(&format!("/data/{RECORD_KEY}"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("ConfigMap {RUN_NAMESPACE}/{name} has no {RECORD_KEY}"))?;
        serde_json::from_str(data)
            .map_err(|e| format!("ConfigMap {RUN_NAMESPACE}/{name}: {RECORD_KEY} is not a run: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_are_redacted_to_their_count_and_size() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"value": "a".repeat(1400), "token": "b".repeat(34)}});
        let shown = redact(&secret);
        assert_eq!(shown["data"], "<redacted: 2 keys, 1.4 KiB>");
        assert!(!shown.to_string().contains("aaaa"));
        let one = redact(&json!({"kind": "Secret", "stringData": {"k": "v"}}));
        assert_eq!(one["stringData"], "<redacted: 1 key, 1 B>");
        let cm = json!({"kind": "ConfigMap", "data": {"k": "v"}});
        assert_eq!(redact(&cm), cm);
    }

    #[test]
    fn plurals_of_the_kinds_fleetdeck_writes() {
        for (kind, plural) in [
            ("Namespace", "namespaces"),
            ("Secret", "secrets"),
            ("ServiceAccount", "serviceaccounts"),
            ("ClusterRoleBinding", "clusterrolebindings"),
            ("Kustomization", "kustomizations"),
            ("GitRepository", "gitrepositories"),
            ("Policy", "policies"),
        ] {
            assert_eq!(plural_of(kind), plural);
        }
    }

    fn run() -> Run {
        let t: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let by = Session { user: "alice".into(), host: "elsewhere".into(), pid: 1, id: "s1".into() };
        let steps = vec![Step::new("check", StepSpec::Check { check: "reachable".into() })];
        Run::new("r1", Workflow::Register, ("edge-eu-1", "edge-eu-1", "hub"), steps, by, t)
    }

    #[test]
    fn a_run_round_trips_through_its_configmap_with_its_labels() {
        let r = run();
        let cm = r.to_configmap();
        assert_eq!(cm["metadata"]["namespace"], RUN_NAMESPACE);
        assert_eq!(cm["metadata"]["labels"][WORKFLOW_LABEL], "register");
        assert_eq!(cm["metadata"]["labels"][SPOKE_LABEL], "edge-eu-1");
        assert_eq!(cm["metadata"]["labels"][RUN_LABEL], "r1");
        assert_eq!(cm["metadata"]["labels"][MANAGED_BY], "fleetdeck");
        assert_eq!(Run::from_configmap(&cm).unwrap(), r);
        let broken = json!({"metadata": {"name": "run-x"}, "data": {RECORD_KEY: "{"}});
        assert!(Run::from_configmap(&broken).unwrap_err().contains("run-x"));
    }

    #[test]
    fn a_run_is_interrupted_when_its_lock_is_stale_or_it_has_none() {
        let mut r = run();
        let ttl = Duration::from_secs(120);
        let t = r.started_at;
        assert_eq!(r.state_at(later(t, 60), ttl, "here"), RunState::Running);
        assert_eq!(r.state_at(later(t, 121), ttl, "here"), RunState::Interrupted);
        r.state = RunState::Succeeded;
        assert_eq!(r.state_at(later(t, 999), ttl, "here"), RunState::Succeeded);
        r.state = RunState::Waiting;
        r.lock = None;
        assert_eq!(r.state_at(t, ttl, "here"), RunState::Interrupted);
    }

    #[test]
    fn a_run_on_this_host_is_interrupted_as_soon_as_its_process_is_gone() {
        let mut r = run();
        let host = "this-host";
        let lock = r.lock.as_mut().unwrap();
        lock.holder.host = host.into();
        lock.holder.pid = std::process::id();
        let t = r.started_at;
        assert_eq!(r.state_at(t, Duration::from_secs(120), host), RunState::Running);
        r.lock.as_mut().unwrap().holder.pid = u32::MAX - 1;
        assert_eq!(r.state_at(t, Duration::from_secs(120), host), RunState::Interrupted);
    }

    fn later(t: Timestamp, secs: i64) -> Timestamp {
        t + jiff::SignedDuration::from_secs(secs)
    }
}
