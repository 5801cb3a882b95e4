//! The write path. Only an operator session builds a [`Writer`], and building one takes
//! a [`WriteAccess`], which that session alone is given at start: a read-only or wall
//! session has no way to write, rather than a check that says it may not. The writer
//! runs a plan's server-side dry run for the preview, and executes only a [`Confirmed`]
//! plan.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;
use tokio::sync::Mutex;

use super::client;
use super::contexts::ContextSpec;
use super::errors::classify;
use crate::workflow::operation::{Confirmed, Executed};
use crate::workflow::plan::{FIELD_MANAGER, FieldChange, ObjectPreview, Plan, Target, Write, diff};

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
    clients: Mutex<HashMap<String, kube::Client>>,
    connect_timeout: Duration,
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
    pub fn new(access: WriteAccess, contexts: &[ContextSpec], connect_timeout: Duration) -> Self {
        Self {
            _access: access,
            configs: contexts.iter().map(|c| (c.name.clone(), c.config.clone())).collect(),
            clients: Mutex::new(HashMap::new()),
            connect_timeout,
            timeout: Duration::from_secs(15),
        }
    }

    async fn client(&self, context: &str) -> Result<kube::Client, String> {
        let mut clients = self.clients.lock().await;
        if let Some(c) = clients.get(context) {
            return Ok(c.clone());
        }
        let config = self
            .configs
            .get(context)
            .ok_or_else(|| format!("no context {context} in the kubeconfig"))?
            .clone()
            .map_err(|e| format!("{context}: {e}"))?;
        let client = client::build(config, self.connect_timeout)?;
        clients.insert(context.to_owned(), client.clone());
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

    /// Writes a confirmed plan, target by target; a target that fails does not stop the
    /// others. The reconcile request carries the time of writing, as `flux reconcile`
    /// writes it (RFC 3339 with nanoseconds).
    pub async fn execute(&self, confirmed: Confirmed) -> Result<Executed, String> {
        let plan = confirmed.plan();
        let requested_at = Timestamp::now().to_string();
        let write = plan.write(&requested_at);
        let mut results = Vec::new();
        for target in &plan.targets {
            let result = self.write_one(target, &write).await;
            tracing::info!(target = %target.label(), op = plan.op.verb(), confirmation = confirmed.confirmation(), ok = result.is_ok(), "write");
            results.push((target.clone(), result));
        }
        Ok(Executed { requested_at: plan.op.requests_reconcile().then_some(requested_at), results })
    }
}
