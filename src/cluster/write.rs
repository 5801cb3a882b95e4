//! The write path. Only an operator session builds a [`Writer`], and building one takes
//! a [`WriteAccess`], which that session alone is given at start: a read-only or wall
//! session has no way to write, rather than a check that says it may not. The writer
//! runs a plan's server-side dry run for the preview, and executes only a [`Confirmed`]
//! plan. Every write is journaled: an entry before the request is sent (no entry, no
//! write) and one with its outcome, each synced to disk and posted as an Event on the hub
//! before the action is reported done.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio::sync::Mutex;

use super::contexts::ContextSpec;
use super::errors::classify;
use super::exec;
use crate::journal::event::journal_event;
use crate::journal::{Draft, Entry, Journal, ObjectRef, Operator, Phase, entry};
use crate::workflow::operation::{Confirmed, Executed};
use crate::workflow::plan::{FIELD_MANAGER, FieldChange, ObjectPreview, Op, Plan, REQUESTED_AT, Target, Write, diff};

/// The capability to write to clusters.
#[derive(Debug)]
pub struct WriteAccess {
    _sealed: (),
}

impl WriteAccess {
    /// The capability of an operator session, granted once at its start. Read-only and
    /// wall sessions are never given one.
    pub fn operator_session() -> Self {
        Self { _sealed: () }
    }
}

/// Writes to the fleet's clusters, on clients of its own (built when first needed).
pub struct Writer {
    _access: WriteAccess,
    configs: HashMap<String, Result<kube::Config, String>>,
    /// Each context's kubeconfig user, for the journal.
    users: HashMap<String, String>,
    /// Each context's server URL.
    servers: HashMap<String, String>,
    hub: Option<String>,
    journal: Journal,
    local_user: String,
    host: String,
    /// Clients by context, with when their exec credential is due for renewal.
    clients: Mutex<HashMap<String, (kube::Client, Option<jiff::Timestamp>)>>,
    connect_timeout: Duration,
    exec_timeout: Duration,
    /// How long one request may take.
    timeout: Duration,
}

/// The API of a target's kind in its namespace.
fn api(client: kube::Client, target: &Target) -> Api<DynamicObject> {
    let (group, version, kind, plural) = target.resource.gvk();
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client, &target.key.0, &ar)
}

fn as_value<T: serde::Serialize>(o: &T) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

fn message(e: &kube::Error) -> String {
    classify(e).1
}

impl Writer {
    pub fn new(access: WriteAccess, contexts: &[ContextSpec], connect_timeout: Duration, journal: Journal) -> Self {
        Self {
            _access: access,
            configs: contexts.iter().map(|c| (c.name.clone(), c.config.clone())).collect(),
            users: contexts.iter().map(|c| (c.name.clone(), c.user.clone())).collect(),
            servers: contexts.iter().map(|c| (c.name.clone(), c.server.clone())).collect(),
            hub: contexts.iter().find(|c| c.is_hub).map(|c| c.name.clone()),
            journal,
            local_user: local_user(),
            host: hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default(),
            clients: Mutex::new(HashMap::new()),
            connect_timeout,
            exec_timeout: super::Settings::default().exec_timeout,
            timeout: Duration::from_secs(15),
        }
    }

    /// How long a context's exec credential plugin may take (`engine.exec_timeout`).
    pub fn with_exec_timeout(mut self, exec_timeout: Duration) -> Self {
        self.exec_timeout = exec_timeout;
        self
    }

    pub(super) async fn client(&self, context: &str) -> Result<kube::Client, String> {
        let mut clients = self.clients.lock().await;
        // A client whose exec credential is due for renewal is built afresh.
        if let Some((c, renew)) = clients.get(context)
            && renew.is_none_or(|at| jiff::Timestamp::now() < at)
        {
            return Ok(c.clone());
        }
        let config = self
            .configs
            .get(context)
            .ok_or_else(|| format!("no context {context} in the kubeconfig"))?
            .clone()
            .map_err(|e| format!("{context}: {e}"))?;
        let (client, renew) =
            exec::client(config, self.connect_timeout, self.exec_timeout).await.map_err(|(_, message)| message)?;
        clients.insert(context.to_owned(), (client.clone(), renew));
        Ok(client)
    }

    async fn timed<T>(&self, what: &str, f: impl Future<Output = Result<T, kube::Error>>) -> Result<T, String> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(message(&e)),
            Err(_) => Err(format!("{what} timed out after {} s", self.timeout.as_secs())),
        }
    }

    /// Sends a target's write, as a dry run (`dryRun=All`) or for real; the object as the
    /// server answered.
    async fn send(
        &self,
        api: &Api<DynamicObject>,
        target: &Target,
        write: &Write,
        dry_run: bool,
    ) -> Result<DynamicObject, String> {
        let what = if dry_run { "the dry run" } else { "the write" };
        let manager = Some(FIELD_MANAGER.to_owned());
        match write {
            Write::Patch(patch) => {
                let params = PatchParams { field_manager: manager, dry_run, ..PatchParams::default() };
                self.timed(what, api.patch(&target.key.1, &params, &Patch::Merge(patch))).await
            }
            Write::Create(object) => {
                let object: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
                let params = PostParams { dry_run, field_manager: manager };
                self.timed(what, api.create(&params, &object)).await
            }
        }
    }

    /// What the object would become: the current object (none for a new one) and the
    /// server's dry-run answer.
    async fn preview_one(&self, target: &Target, write: &Write) -> Result<Vec<FieldChange>, String> {
        let api = api(self.client(&target.context).await?, target);
        let before = match write {
            Write::Patch(_) => as_value(&self.timed("reading the object", api.get(&target.key.1)).await?),
            Write::Create(_) => Value::Null,
        };
        let after = self.send(&api, target, write, true).await?;
        Ok(diff(&before, &as_value(&after)))
    }

    /// The server-side dry run of every target (`dryRun=All`): nothing is written.
    pub async fn preview(&self, plan: &Plan) -> Result<Vec<ObjectPreview>, String> {
        let write = plan.write(&Timestamp::now().to_string());
        let mut previews = Vec::new();
        for target in &plan.targets {
            let outcome = self.preview_one(target, &write).await;
            previews.push(ObjectPreview { target: target.clone(), outcome });
        }
        Ok(previews)
    }

    async fn write_one(&self, target: &Target, write: &Write) -> Result<(), String> {
        let api = api(self.client(&target.context).await?, target);
        self.send(&api, target, write, false).await.map(|_| ())
    }

    /// A journal entry about `target`, before (`result` none) or after the write.
    fn draft(
        &self,
        confirmed: &Confirmed,
        write_id: &str,
        target: &Target,
        result: Option<&Result<(), String>>,
    ) -> Draft {
        let plan = confirmed.plan();
        let (group, version, kind, _) = target.resource.gvk();
        Draft {
            time: Timestamp::now(),
            phase: if result.is_some() { Phase::Outcome } else { Phase::Intent },
            write_id: write_id.to_owned(),
            action: plan.op.name().to_owned(),
            cluster: target.context.clone(),
            spoke: plan.cluster.clone(),
            object: ObjectRef {
                api_version: if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") },
                kind: kind.to_owned(),
                namespace: target.key.0.clone(),
                name: target.key.1.clone(),
            },
            operator: Operator {
                kube_user: self.users.get(&target.context).cloned().unwrap_or_default(),
                local_user: self.local_user.clone(),
                host: self.host.clone(),
            },
            confirmation: confirmed.confirmation().to_owned(),
            result: result.map(|r| entry::Result { ok: r.is_ok(), message: r.clone().err().unwrap_or_default() }),
        }
    }

    /// Appends to the journal (synced to disk) and posts the entry on the hub.
    pub(super) async fn record(&self, draft: Draft, hub_namespace: &str) -> Result<Entry, String> {
        let journal = self.journal.clone();
        let entry = tokio::task::spawn_blocking(move || journal.append(draft))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e:#}"))?;
        if let Err(e) = self.post_event(&entry, hub_namespace).await {
            // The journal on disk is the record; the hub Event is how others see it.
            tracing::warn!(error = %e, seq = entry.seq, "the journal entry could not be posted as an Event on the hub");
        }
        Ok(entry)
    }

    /// The journal this writer records in.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The kubeconfig user of a context, for the journal.
    pub(super) fn user_of(&self, context: &str) -> String {
        self.users.get(context).cloned().unwrap_or_default()
    }

    /// The server URL of a context.
    pub(super) fn server_of(&self, context: &str) -> String {
        self.servers.get(context).cloned().unwrap_or_default()
    }

    /// The CA certificates (DER) a context's kubeconfig trusts, when it names any.
    pub(super) fn ca_of(&self, context: &str) -> Option<Vec<Vec<u8>>> {
        self.configs.get(context)?.as_ref().ok()?.root_cert.clone()
    }

    /// The contexts of the kubeconfig.
    pub fn contexts(&self) -> Vec<String> {
        let mut names: Vec<String> = self.configs.keys().cloned().collect();
        names.sort();
        names
    }

    /// The hub's context.
    pub fn hub(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    /// Records the outcome of an open intent found again (a run's write re-read at
    /// resume); nothing when the journal has no open intent of that id.
    pub(super) async fn close_intent(&self, write_id: &str, ok: bool, found: &str, hub_namespace: &str) {
        let journal = self.journal.clone();
        let open = tokio::task::spawn_blocking(move || journal.interrupted()).await;
        let Some(intent) = open.ok().and_then(Result::ok).and_then(|v| v.into_iter().find(|e| e.write_id == write_id))
        else {
            return;
        };
        let message = format!("interrupted: the outcome was not recorded; found when the run resumed: {found}");
        if let Err(e) = self.record(Draft::outcome_of(&intent, ok, message, Timestamp::now()), hub_namespace).await {
            tracing::warn!(error = %e, write_id, "the outcome of an interrupted run write could not be journaled");
        }
    }

    /// Posts a Warning Event on the hub, in `namespace`, about `involved`. An Event of
    /// that name already there (another session posted it) is left as it is.
    pub async fn post_warning(
        &self,
        namespace: &str,
        name: &str,
        involved: serde_json::Value,
        reason: &str,
        text: &str,
    ) -> Result<(), String> {
        let hub = self.hub.as_deref().ok_or("no hub context")?;
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client(hub).await?,
            namespace,
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events"),
        );
        let now = Timestamp::now().to_string();
        let event = serde_json::json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved,
            "reason": reason, "message": text, "type": "Warning",
            "source": {"component": "fleetdeck", "host": self.host},
            "reportingComponent": "fleetdeck", "reportingInstance": self.host,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        });
        let event: DynamicObject = serde_json::from_value(event).map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timeout, api.create(&PostParams::default(), &event)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(kube::Error::Api(s))) if s.code == 409 => Ok(()),
            Ok(Err(e)) => Err(message(&e)),
            Err(_) => Err(format!("posting the Warning Event timed out after {} s", self.timeout.as_secs())),
        }
    }

    async fn post_event(&self, entry: &Entry, namespace: &str) -> Result<(), String> {
        let hub = self.hub.as_deref().ok_or("no hub context")?;
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.client(hub).await?,
            namespace,
            &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events"),
        );
        let event: DynamicObject =
            serde_json::from_value(journal_event(entry, namespace, &self.host)).map_err(|e| e.to_string())?;
        self.timed("posting the journal Event", api.create(&PostParams::default(), &event)).await.map(|_| ())
    }

    /// Writes a confirmed plan, target by target; a target that fails does not stop the
    /// others. Each target is journaled before it is sent (a target the journal cannot
    /// record is not written) and after. The reconcile request carries the time of
    /// writing, as `flux reconcile` writes it (RFC 3339 with nanoseconds).
    pub async fn execute(&self, confirmed: Confirmed) -> Result<Executed, String> {
        let plan = confirmed.plan();
        let requested_at = Timestamp::now().to_string();
        let write = plan.write(&requested_at);
        let namespace = plan.hub_namespace.as_deref().unwrap_or("default");
        let mut results = Vec::new();
        for target in &plan.targets {
            let write_id = uuid::Uuid::new_v4().to_string();
            let intent = self.draft(&confirmed, &write_id, target, None);
            let result = match self.record(intent, namespace).await {
                Ok(_) => self.write_one(target, &write).await,
                Err(e) => Err(format!("not written: the journal could not record it: {e}")),
            };
            let outcome = self.draft(&confirmed, &write_id, target, Some(&result));
            let result = match self.record(outcome, namespace).await {
                Err(e) if result.is_ok() => Err(format!("written, but the journal could not record the outcome: {e}")),
                _ => result,
            };
            tracing::info!(target = %target.label(), op = plan.op.verb(), confirmation = confirmed.confirmation(), ok = result.is_ok(), "write");
            results.push((target.clone(), result));
        }
        Ok(Executed { requested_at: plan.op.requests_reconcile().then_some(requested_at), results })
    }
}

/// What an interrupted write's object says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Applied(String),
    NotApplied(String),
    Unknown(String),
}

/// Whether the write an intent recorded shows in its object as read now (`None`: the
/// object is not there). What counts per action: a created Backup or Restore exists; a
/// suspend left `spec.suspend` true and a resume false; a reconcile's request time is at
/// or after the intent (the request carries the time it was written).
pub fn judge_interrupted(intent: &Entry, object: Option<&Value>) -> Found {
    let Some(op) = Op::from_name(&intent.action) else {
        return Found::Unknown(format!("fleetdeck does not know how to check a {:?} write", intent.action));
    };
    let what = format!("{} {}", intent.object.kind, intent.object.name);
    let Some(object) = object else {
        return if op.creates() {
            Found::NotApplied(format!("{what} does not exist"))
        } else {
            Found::Unknown(format!("{what} is not there any more"))
        };
    };
    let suspended = object.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false);
    let requested = object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(REQUESTED_AT))
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok());
    let requested_since = requested.is_some_and(|t| t >= intent.time);
    match op {
        Op::BackupNow | Op::Restore => Found::Applied(format!("{what} exists")),
        Op::Suspend if suspended => Found::Applied("spec.suspend is true".into()),
        Op::Suspend => Found::NotApplied("spec.suspend is false".into()),
        Op::Resume if suspended => Found::NotApplied("spec.suspend is still true".into()),
        Op::Resume => Found::Applied("spec.suspend is false".into()),
        Op::Reconcile if requested_since => Found::Applied("a reconcile was requested after the intent".into()),
        Op::Reconcile => Found::NotApplied("no reconcile request since the intent".into()),
    }
}

impl Writer {
    /// Finds writes the journal has an intent but no outcome for (fleetdeck stopped
    /// between the two), reads each object to learn whether the write landed, and
    /// records what it found as the write's outcome: applied, not applied, or unknown
    /// with why. The audit pane shows these as they are appended.
    pub async fn resolve_interrupted(&self) -> Result<Vec<Entry>, String> {
        let journal = self.journal.clone();
        let intents = tokio::task::spawn_blocking(move || journal.interrupted())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{e:#}"))?;
        let mut recorded = Vec::new();
        // A run's writes are re-read by the run when it resumes, knowing what each sent.
        for intent in intents.into_iter().filter(|i| !is_run_write(&i.action)) {
            let found = match self.read_object(&intent).await {
                Ok(object) => judge_interrupted(&intent, object.as_ref()),
                Err(e) => Found::Unknown(format!("could not read the object: {e}")),
            };
            let (ok, what) = match &found {
                Found::Applied(why) => (true, format!("applied ({why})")),
                Found::NotApplied(why) => (false, format!("not applied ({why})")),
                Found::Unknown(why) => (false, format!("unknown: {why}")),
            };
            let message = format!("interrupted: the outcome was not recorded; found at the next start: {what}");
            tracing::info!(write_id = %intent.write_id, action = %intent.action, %message, "interrupted write");
            let draft = Draft::outcome_of(&intent, ok, message, Timestamp::now());
            let namespace = if intent.spoke.is_empty() { "default".to_owned() } else { intent.spoke.clone() };
            recorded.push(self.record(draft, &namespace).await?);
        }
        Ok(recorded)
    }

    /// The object an entry names, as the cluster has it now (`None`: not found).
    async fn read_object(&self, entry: &Entry) -> Result<Option<Value>, String> {
        let (group, version) = match entry.object.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", entry.object.api_version.as_str()),
        };
        // fleetdeck writes Kustomizations, Backups and Restores: their plurals are the
        // kind's lower case with an s.
        let plural = format!("{}s", entry.object.kind.to_lowercase());
        let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, &entry.object.kind), &plural);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client(&entry.cluster).await?, &entry.object.namespace, &ar);
        match tokio::time::timeout(self.timeout, api.get_opt(&entry.object.name)).await {
            Err(_) => Err(format!("reading it timed out after {} s", self.timeout.as_secs())),
            Ok(Err(e)) => Err(message(&e)),
            Ok(Ok(object)) => Ok(object.map(|o| as_value(&o))),
        }
    }
}

/// Whether a journal action is a workflow run's write ("register: create").
pub fn is_run_write(action: &str) -> bool {
    action.split_once(':').is_some_and(|(w, _)| crate::fleet::run::Workflow::from_name(w).is_some())
}

/// Who runs fleetdeck: `USER` (or `USERNAME`, `LOGNAME`) as a shell sets it, else the
/// system's login name of the process's user (a cron job, a systemd unit, `env -i`).
pub(super) fn local_user() -> String {
    user_from(|v| std::env::var(v).ok(), || whoami::username().ok())
}

fn user_from(env: impl Fn(&str) -> Option<String>, system: impl FnOnce() -> Option<String>) -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| env(v).filter(|u| !u.is_empty()))
        .or_else(|| system().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_name_comes_from_the_system_when_the_environment_has_none() {
        let none = |_: &str| None;
        assert_eq!(user_from(|v| (v == "LOGNAME").then(|| "ann".to_owned()), || None), "ann");
        assert_eq!(user_from(none, || Some("svc-fleet".to_owned())), "svc-fleet");
        assert_eq!(user_from(|_| Some(String::new()), || Some("svc-fleet".to_owned())), "svc-fleet");
        assert_eq!(user_from(none, || None), "unknown");
        assert!(!whoami::username().unwrap_or_default().is_empty(), "this machine's login name is found");
    }
}
