//! The runner: carries out a run's effects against the clusters and keeps its record on
//! the hub. It owns the run it drives, applies the engine's pure transitions
//! (`workflow::runbook::on`) to what the clusters and the operator answer, saves the
//! record with its lock (renewed every quarter of `runbook.lock_ttl`), and reports every
//! new state to the model's owner. Only an operator session has a runner: it is built on
//! the session's `Writer`.

mod act;
mod checks;
mod migrate;

pub use migrate::{MigrationSettings, NotifySettings, Operational, Verdicts};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams};
use tokio::sync::mpsc;

use super::write::Writer;
use crate::fleet::run::{
    Lock, MANAGED_BY, MANAGER, RUN_LABEL, RUN_NAMESPACE, Run, RunState, Session, StepSpec, Workflow,
};
use crate::workflow::migrate::Reading;
use crate::workflow::register;
use crate::workflow::runbook::{Effect, Event, Refused, on};

/// How runs are carried out.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub register: register::Settings,
    pub migration: MigrationSettings,
    pub rollback: crate::workflow::rollback::Settings,
    pub notify: NotifySettings,
    /// A lock not renewed for this long may be taken over (`runbook.lock_ttl`).
    pub lock_ttl: Duration,
    /// How often a wait reads its condition again.
    pub poll: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            register: register::Settings::default(),
            migration: MigrationSettings::default(),
            rollback: crate::workflow::rollback::Settings::default(),
            notify: NotifySettings { timeout: Duration::from_secs(5), ..NotifySettings::default() },
            lock_ttl: Duration::from_secs(120),
            poll: Duration::from_secs(1),
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// What the runner tells the model's owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The run's new state.
    Run(Box<Run>),
    /// An operator's input was not taken, and why.
    Refused(String),
    /// Another session took the run over: this one stopped driving it.
    Lost(String),
    /// The run ended (or this session stopped driving it).
    Ended(Box<Run>),
}

/// Why a record was not stored.
enum Unsaved {
    /// Another session took the run over.
    Taken(String),
    /// The hub did not take it (unreachable, refused, timed out).
    Failed(String),
}

/// Why a run could not be started or taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    /// Another session drives a run on the cluster.
    Busy(Box<Run>),
    /// A run on the cluster was interrupted: resume it (or undo it) first.
    Interrupted(Box<Run>),
    Failed(String),
}

impl Blocked {
    pub fn describe(&self) -> String {
        match self {
            Blocked::Busy(r) => {
                let lock = r.lock.as_ref();
                format!(
                    "{} has a {} run held by {} since {} (renewed {}): one run per cluster at a time",
                    r.cluster,
                    r.workflow.name(),
                    lock.map_or_else(|| r.by.label(), |l| l.holder.label()),
                    lock.map_or(r.started_at, |l| l.since).strftime("%H:%M:%S"),
                    lock.map_or(r.updated_at, |l| l.renewed_at).strftime("%H:%M:%S"),
                )
            }
            Blocked::Interrupted(r) => format!(
                "{} has an interrupted {} run ({}, at step {}): open it in the runs pane to resume it",
                r.cluster,
                r.workflow.name(),
                r.id,
                r.current + 1
            ),
            Blocked::Failed(e) => e.clone(),
        }
    }
}

/// This process as a session.
pub fn this_session() -> Session {
    Session {
        user: super::write::local_user(),
        host: hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
        pid: std::process::id(),
        id: uuid::Uuid::new_v4().to_string(),
    }
}

/// Carries out runs.
pub struct Runner {
    writer: Arc<Writer>,
    settings: Arc<RunSettings>,
    session: Session,
    /// Since when each rollback this session drives has seen its cluster healthy.
    healthy_since: std::sync::Mutex<std::collections::HashMap<String, Timestamp>>,
}

/// The runs a hub holds, newest first, with each record's resourceVersion; records that
/// do not parse are skipped with a warning in the log.
pub async fn list_runs(client: kube::Client, timeout: Duration) -> Result<Vec<(Run, String)>, String> {
    let api: Api<ConfigMap> = Api::namespaced(client, RUN_NAMESPACE);
    let params = ListParams::default().labels(&format!("{MANAGED_BY}={MANAGER},{RUN_LABEL}"));
    let list = match tokio::time::timeout(timeout, api.list(&params)).await {
        Err(_) => return Err(format!("listing the runs timed out after {} s", timeout.as_secs())),
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => return Ok(Vec::new()),
        Ok(Err(e)) => return Err(super::errors::classify(&e).1),
        Ok(Ok(list)) => list,
    };
    let mut runs: Vec<(Run, String)> = list
        .items
        .into_iter()
        .filter_map(|cm| {
            let rv = cm.metadata.resource_version.clone().unwrap_or_default();
            let value = serde_json::to_value(&cm).ok()?;
            match Run::from_configmap(&value) {
                Ok(run) => Some((run, rv)),
                Err(e) => {
                    tracing::warn!(error = %e, "a run record that does not parse");
                    None
                }
            }
        })
        .collect();
    runs.sort_by(|a, b| b.0.started_at.cmp(&a.0.started_at).then_with(|| b.0.id.cmp(&a.0.id)));
    Ok(runs)
}

impl Runner {
    pub fn new(writer: Arc<Writer>, settings: RunSettings) -> Self {
        Self { writer, settings: Arc::new(settings), session: this_session(), healthy_since: Default::default() }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    fn hub(&self) -> Result<String, Blocked> {
        self.writer
            .hub()
            .map(str::to_owned)
            .ok_or_else(|| Blocked::Failed("no hub context: runs live on the hub".into()))
    }

    async fn runs_api(&self) -> Result<Api<ConfigMap>, String> {
        let hub = self.writer.hub().ok_or("no hub context")?.to_owned();
        Ok(Api::namespaced(self.writer.client(&hub).await?, RUN_NAMESPACE))
    }

    /// The hub's runs, newest first.
    pub async fn list(&self) -> Result<Vec<(Run, String)>, String> {
        let hub = self.writer.hub().ok_or("no hub context")?.to_owned();
        list_runs(self.writer.client(&hub).await?, self.settings.request_timeout).await
    }

    fn lock(&self, now: Timestamp) -> Lock {
        Lock { holder: self.session.clone(), since: now, renewed_at: now }
    }

    /// A new run of `workflow` on `cluster` (reached through `context`), stored on the
    /// hub with this session's lock; refused while another run on the cluster is not
    /// finished.
    pub async fn start(
        &self,
        workflow: Workflow,
        cluster: &str,
        context: &str,
        facts: std::collections::BTreeMap<String, String>,
    ) -> Result<(Run, String), Blocked> {
        let hub = self.hub()?;
        let now = Timestamp::now();
        let runs = self.list().await.map_err(|e| Blocked::Failed(format!("cannot read the hub's runs: {e}")))?;
        // What holds the cluster against this run: any unfinished run, but for a
        // rollback only another rollback; it pauses the others.
        let holds = |r: &Run| workflow != Workflow::Rollback || r.workflow == Workflow::Rollback;
        let holding =
            |runs: Vec<(Run, String)>| -> Vec<(Run, String)> { runs.into_iter().filter(|(r, _)| holds(r)).collect() };
        self.free(&holding(runs.clone()), cluster, None, now)?;
        let mut paused = Vec::new();
        if workflow == Workflow::Rollback {
            paused = self.pause_runs(&runs, cluster).await;
        }
        let rollback = &self.settings.rollback;
        let steps = match workflow {
            Workflow::Register => register::register_steps(cluster, &self.settings.register),
            Workflow::Unregister => register::unregister_steps(cluster, &self.settings.register),
            Workflow::Migrate => self.settings.migration.runbook.steps(cluster, &self.settings.register),
            Workflow::Rollback => {
                let target = facts.get(crate::workflow::rollback::facts::TARGET).map_or("revision", String::as_str);
                crate::workflow::rollback::rollback_steps(cluster, target, rollback)
            }
            Workflow::Release => crate::workflow::rollback::release_steps(cluster, rollback),
        };
        let id = format!("{}-{}", now.strftime("%Y%m%d-%H%M%S"), &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let mut run = Run::new(&id, workflow, (cluster, context, &hub), steps, self.session.clone(), now);
        run.facts.extend(facts);
        if !paused.is_empty() {
            run.facts.insert(crate::workflow::rollback::facts::PAUSED_RUNS.to_owned(), paused.join(", "));
        }
        let mut rv = String::new();
        self.save(&mut run, &mut rv).await.map_err(Blocked::Failed)?;
        // Two sessions that started at once: the earlier run keeps the cluster.
        let runs = self.list().await.map_err(Blocked::Failed)?;
        if let Err(blocked) = self.free(&holding(runs), cluster, Some(&run), now) {
            run.state = RunState::Aborted;
            run.outcome = "another session started a run on the cluster at the same time".into();
            run.lock = None;
            let _ = self.save(&mut run, &mut rv).await;
            return Err(blocked);
        }
        Ok((run, rv))
    }

    /// Whether no other unfinished run holds `cluster` (`own`: the run just created,
    /// which yields to an earlier one).
    fn free(&self, runs: &[(Run, String)], cluster: &str, own: Option<&Run>, now: Timestamp) -> Result<(), Blocked> {
        let earlier = |r: &Run| own.is_none_or(|o| (r.started_at, &r.id) < (o.started_at, &o.id));
        for (r, _) in runs.iter().filter(|(r, _)| r.cluster == cluster && !r.state.finished()) {
            if own.is_some_and(|o| o.id == r.id) || !earlier(r) {
                continue;
            }
            return Err(match r.state_at(now, self.settings.lock_ttl, &self.session.host) {
                RunState::Interrupted => Blocked::Interrupted(Box::new(r.clone())),
                _ => Blocked::Busy(Box::new(r.clone())),
            });
        }
        Ok(())
    }

    /// Takes an interrupted run over (the operator confirmed by typing): its lock becomes
    /// this session's. A run whose session still renews its lock is refused.
    pub async fn take(&self, id: &str) -> Result<(Run, String), Blocked> {
        let now = Timestamp::now();
        let runs = self.list().await.map_err(|e| Blocked::Failed(format!("cannot read the hub's runs: {e}")))?;
        let (mut run, mut rv) = runs
            .into_iter()
            .find(|(r, _)| r.id == id)
            .ok_or_else(|| Blocked::Failed(format!("no run {id} on the hub")))?;
        match run.state_at(now, self.settings.lock_ttl, &self.session.host) {
            RunState::Interrupted => {}
            s if s.finished() && crate::workflow::runbook::undoable(&run) => {}
            s if s.finished() => return Err(Blocked::Failed(format!("the run is {}", s.name()))),
            _ => return Err(Blocked::Busy(Box::new(run))),
        }
        run.lock = Some(self.lock(now));
        self.save(&mut run, &mut rv).await.map_err(Blocked::Failed)?;
        Ok((run, rv))
    }

    /// Stores the record; `rv` is the resourceVersion it was last read or saved at
    /// (empty: a new record). A record changed by a session that took the lock is not
    /// overwritten: the error says who holds it.
    async fn save(&self, run: &mut Run, rv: &mut String) -> Result<(), String> {
        self.store(run, rv).await.map_err(|e| match e {
            Unsaved::Taken(e) | Unsaved::Failed(e) => e,
        })
    }

    /// `save`, telling a record another session took over from a hub that did not take it.
    async fn store(&self, run: &mut Run, rv: &mut String) -> Result<(), Unsaved> {
        let api = self.runs_api().await.map_err(Unsaved::Failed)?;
        let now = Timestamp::now();
        if let Some(lock) = run.lock.as_mut() {
            lock.renewed_at = now;
        }
        for attempt in 0..2 {
            let mut cm: ConfigMap =
                serde_json::from_value(run.to_configmap()).map_err(|e| Unsaved::Failed(e.to_string()))?;
            let result = if rv.is_empty() {
                let created = api.create(&PostParams::default(), &cm).await;
                match created {
                    Err(kube::Error::Api(s)) if s.code == 404 && attempt == 0 => {
                        self.ensure_namespace().await.map_err(Unsaved::Failed)?;
                        continue;
                    }
                    other => other,
                }
            } else {
                cm.metadata.resource_version = Some(rv.clone());
                api.replace(&run.object_name(), &PostParams::default(), &cm).await
            };
            match result {
                Ok(saved) => {
                    *rv = saved.metadata.resource_version.unwrap_or_default();
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 && !rv.is_empty() => {
                    let current = api
                        .get(&run.object_name())
                        .await
                        .map_err(|e| Unsaved::Failed(super::errors::classify(&e).1))?;
                    let theirs = serde_json::to_value(&current).ok().and_then(|v| Run::from_configmap(&v).ok());
                    if let Some(theirs) = theirs
                        && let Some(lock) = theirs.lock.as_ref().filter(|l| l.holder.id != self.session.id)
                    {
                        return Err(Unsaved::Taken(format!(
                            "{} took the run over at {}",
                            lock.holder.label(),
                            lock.since.strftime("%H:%M:%S")
                        )));
                    }
                    *rv = current.metadata.resource_version.unwrap_or_default();
                }
                Err(e) => {
                    return Err(Unsaved::Failed(format!(
                        "cannot store the run on the hub: {}",
                        super::errors::classify(&e).1
                    )));
                }
            }
        }
        Err(Unsaved::Failed("cannot store the run on the hub: it kept changing".into()))
    }

    async fn ensure_namespace(&self) -> Result<(), String> {
        let hub = self.writer.hub().ok_or("no hub context")?.to_owned();
        let api: Api<Namespace> = Api::all(self.writer.client(&hub).await?);
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": RUN_NAMESPACE, "labels": {MANAGED_BY: MANAGER}},
        }))
        .map_err(|e| e.to_string())?;
        match api.create(&PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(format!(
                "cannot create the namespace {RUN_NAMESPACE} on the hub: {}",
                super::errors::classify(&e).1
            )),
        }
    }

    /// Carries out one effect that the clusters answer.
    async fn perform(&self, run: &Run, effect: Effect) -> Option<Event> {
        let planned = |step: usize, write: usize| run.planned(step, write).cloned();
        Some(match effect {
            Effect::Check { check, .. } => {
                let (verdict, evidence, facts) = self.check(run, &check).await;
                Event::Checked { verdict, evidence, facts }
            }
            Effect::Plan { plan, .. } => Event::Planned(match plan.as_str() {
                "register" => register::plan_register(run, &self.settings.register),
                "unregister" => register::plan_unregister(run),
                "premigration-backup" => {
                    let ttl =
                        run.steps.get(run.current).and_then(|s| s.params.get("ttl")).map_or("720h", String::as_str);
                    crate::workflow::migrate::plan_backup(run, ttl)
                }
                other => self.rollback_plan(run, other).await,
            }),
            Effect::Preview { step } => {
                let writes = match &run.steps.get(step)?.spec {
                    StepSpec::ChangeSet { writes, .. } => writes.clone(),
                    _ => return None,
                };
                Event::Previewed(self.preview(&writes).await)
            }
            Effect::Prepare { step, write } => {
                Event::Prepared { write, result: self.prepare(run, &planned(step, write)?).await }
            }
            Effect::Send { step, write, write_id } => {
                Event::Written { write, result: self.send(run, &planned(step, write)?, &write_id).await }
            }
            Effect::Resolve { step, write } => {
                let w = planned(step, write)?;
                let write_id = run.steps.get(step)?.writes.get(write)?.write_id.clone();
                let mut last = None;
                for _ in 0..3 {
                    match self.resolve(run, &w, &write_id).await {
                        Ok((applied, evidence)) => return Some(Event::Resolved { write, applied, evidence }),
                        Err(e) => last = Some(e),
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                let why = last.map(|e| e.describe()).unwrap_or_default();
                Event::Written {
                    write,
                    result: Err(crate::fleet::run::WriteError::Other {
                        message: format!(
                            "cannot re-read {} after the interruption ({why}): resume again once it answers",
                            w.object.label()
                        ),
                    }),
                }
            }
            Effect::Watch { .. } | Effect::Save | Effect::Finish => return None,
        })
    }

    /// Drives `run` (stored at `rv`, locked by this session) from `first` (`Begin`, or
    /// `Undo` for a finished run) until it ends, this session loses its lock, or `input`
    /// closes (the session quits: the lock is released, so the run reads as interrupted
    /// at once).
    pub async fn drive(
        self: Arc<Self>,
        mut run: Run,
        mut rv: String,
        first: Event,
        mut input: mpsc::Receiver<Event>,
        out: mpsc::Sender<Update>,
    ) {
        let by = self.session.label();
        let mut queue: VecDeque<Effect> = VecDeque::new();
        let mut renew = tokio::time::interval(self.settings.lock_ttl / 4);
        renew.tick().await;
        let apply = |run: &mut Run, queue: &mut VecDeque<Effect>, event: Event| -> Option<String> {
            match on(run, event, Timestamp::now(), &by) {
                Ok(effects) => {
                    queue.extend(effects);
                    None
                }
                Err(Refused(why)) => Some(why),
            }
        };
        if let Some(why) = apply(&mut run, &mut queue, first) {
            let _ = out.send(Update::Refused(why)).await;
            let _ = out.send(Update::Ended(Box::new(run))).await;
            return;
        }
        let _ = out.send(Update::Run(Box::new(run.clone()))).await;
        loop {
            let effect = queue.pop_front();
            match effect {
                Some(Effect::Save) => {
                    if let Err(e) = self.store_until_taken(&mut run, &mut rv, &out).await {
                        let _ = out.send(Update::Lost(e)).await;
                        return;
                    }
                }
                Some(Effect::Finish) => {
                    let _ = out.send(Update::Ended(Box::new(run))).await;
                    return;
                }
                Some(Effect::Watch { step, condition, mut deadline }) => loop {
                    let event = match self.condition(&run, &condition).await {
                        Reading::Held(text) => Event::Progress { text, held: true },
                        Reading::Broke(why) => Event::Broke(why),
                        // A cluster that does not answer pauses the wait: the time it
                        // is away does not count against the step's timeout.
                        Reading::Paused(why) => {
                            deadline = crate::fleet::later(deadline, self.settings.poll);
                            Event::Progress { text: format!("paused: {why}"), held: false }
                        }
                        Reading::Pending(_) if Timestamp::now() >= deadline => Event::TimedOut,
                        Reading::Pending(text) => Event::Progress { text, held: false },
                    };
                    apply(&mut run, &mut queue, event);
                    let _ = out.send(Update::Run(Box::new(run.clone()))).await;
                    if run.current != step || run.state.finished() {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(self.settings.poll) => {}
                        _ = renew.tick() => {
                            if let Err(e) = self.renew(&mut run, &mut rv).await {
                                let _ = out.send(Update::Lost(e)).await;
                                return;
                            }
                        }
                        got = input.recv() => match got {
                            Some(event) => {
                                if let Some(why) = apply(&mut run, &mut queue, event) {
                                    let _ = out.send(Update::Refused(why)).await;
                                }
                                if run.current != step || run.state.finished() {
                                    break;
                                }
                            }
                            None => return self.release(run, rv).await,
                        },
                    }
                },
                Some(effect) => {
                    if let Some(event) = self.perform(&run, effect).await
                        && let Some(why) = apply(&mut run, &mut queue, event)
                    {
                        tracing::warn!(run = %run.id, %why, "an answer the run did not take");
                    }
                }
                None => {
                    tokio::select! {
                        _ = renew.tick() => {
                            if let Err(e) = self.renew(&mut run, &mut rv).await {
                                let _ = out.send(Update::Lost(e)).await;
                                return;
                            }
                            continue;
                        }
                        got = input.recv() => match got {
                            Some(event) => {
                                if let Some(why) = apply(&mut run, &mut queue, event) {
                                    let _ = out.send(Update::Refused(why)).await;
                                }
                            }
                            None => return self.release(run, rv).await,
                        },
                    }
                }
            }
            let _ = out.send(Update::Run(Box::new(run.clone()))).await;
        }
    }

    /// Stores the record, trying again while the hub does not take it (the run waits,
    /// and the operator is told once); an error only when another session took it over.
    async fn store_until_taken(
        &self,
        run: &mut Run,
        rv: &mut String,
        out: &mpsc::Sender<Update>,
    ) -> Result<(), String> {
        let mut pause = self.settings.poll;
        let mut told = false;
        loop {
            match self.store(run, rv).await {
                Ok(()) => return Ok(()),
                Err(Unsaved::Taken(e)) => return Err(e),
                Err(Unsaved::Failed(e)) => {
                    if !told {
                        let _ = out.send(Update::Refused(format!("{e}: the run waits and tries again"))).await;
                        told = true;
                    }
                    tracing::warn!(run = %run.id, error = %e, "the run's record could not be stored; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Renews the lock; a hub that does not answer now is tried at the next renewal (the
    /// lock stays valid for `lock_ttl`); an error only when another session took it over.
    async fn renew(&self, run: &mut Run, rv: &mut String) -> Result<(), String> {
        match self.store(run, rv).await {
            Ok(()) => Ok(()),
            Err(Unsaved::Taken(e)) => Err(e),
            Err(Unsaved::Failed(e)) => {
                tracing::warn!(run = %run.id, error = %e, "the run's lock could not be renewed; trying at the next renewal");
                Ok(())
            }
        }
    }

    /// The session stops driving a run that is not finished: the lock is released.
    async fn release(&self, mut run: Run, mut rv: String) {
        run.lock = None;
        if let Err(e) = self.save(&mut run, &mut rv).await {
            tracing::warn!(run = %run.id, error = %e, "the run's lock could not be released");
        }
    }
}
