//! A change set's writes against the clusters: the dry run, the read before a write
//! (what it replaces), the journaled write with its fill and settling, and the re-read
//! of a write an interruption left without an answer.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::Runner;
use crate::fleet::run::{Fill, ObjectRef, PlannedWrite, RUN_LABEL, Run, Settle, Verb, WriteError, redact};
use crate::journal::{Draft, ObjectRef as JournalRef, Operator, Phase, entry};
use crate::workflow::plan::{FIELD_MANAGER, diff};
use crate::workflow::register::kubeconfig;
use crate::workflow::runbook::{Prepared, recreatable, restoring_patch, shows_patch};

/// The API of an object's kind, in its namespace (or cluster-wide).
pub fn api_of(client: kube::Client, object: &ObjectRef) -> Api<DynamicObject> {
    let (group, version) = object.api_version.split_once('/').unwrap_or(("", object.api_version.as_str()));
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, &object.kind), &object.plural);
    if object.namespace.is_empty() {
        Api::all_with(client, &ar)
    } else {
        Api::namespaced_with(client, &object.namespace, &ar)
    }
}

/// A kube error as a write error, for `verb` on `object`.
pub fn write_error(e: &kube::Error, verb: &str, object: &ObjectRef) -> WriteError {
    let (_, message) = crate::cluster::errors::classify(e);
    match e {
        kube::Error::Api(status) => match status.code {
            409 => WriteError::Conflict { message },
            403 => WriteError::Forbidden {
                verb: verb.to_owned(),
                resource: object.plural.clone(),
                namespace: object.namespace.clone(),
                message,
            },
            404 => WriteError::NotFound { message },
            400 | 422 => WriteError::Invalid { message },
            401 => WriteError::Other { message: format!("the credentials were refused: {message}") },
            _ => WriteError::Other { message },
        },
        _ => match crate::cluster::errors::classify(e).0 {
            crate::fleet::failure::Failure::Timeout => WriteError::Timeout { message },
            crate::fleet::failure::Failure::Unreachable => WriteError::Unreachable { message },
            _ => WriteError::Other { message },
        },
    }
}

fn as_value<T: serde::Serialize>(o: &T) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

/// Whether an object carries the run's label.
fn is_runs(object: &Value, run: &Run) -> bool {
    object.pointer(&format!("/metadata/labels/{}", RUN_LABEL.replace('/', "~1"))).and_then(Value::as_str)
        == Some(run.id.as_str())
}

impl Runner {
    async fn api(&self, context: &str, object: &ObjectRef) -> Result<Api<DynamicObject>, WriteError> {
        let client = self.writer.client(context).await.map_err(|message| WriteError::Unreachable { message })?;
        Ok(api_of(client, object))
    }

    async fn timed<T>(
        &self,
        f: impl Future<Output = Result<T, kube::Error>>,
        verb: &str,
        o: &ObjectRef,
    ) -> Result<T, WriteError> {
        match tokio::time::timeout(self.settings.request_timeout, f).await {
            Ok(result) => result.map_err(|e| write_error(&e, verb, o)),
            Err(_) => Err(WriteError::Timeout {
                message: format!("{verb} {} took over {} s", o.label(), self.settings.request_timeout.as_secs()),
            }),
        }
    }

    /// The object as the cluster has it now (`None`: not found).
    pub(super) async fn read(&self, context: &str, object: &ObjectRef) -> Result<Option<Value>, WriteError> {
        let api = self.api(context, object).await?;
        Ok(self.timed(api.get_opt(&object.name), "get", object).await?.map(|o| as_value(&o)))
    }

    /// The server-side dry run of every write, as lines for the preview (Secrets
    /// redacted). An object whose namespace an earlier write of the set creates cannot
    /// be dry-run before it exists: the server checks it when it is written.
    pub(super) async fn preview(&self, writes: &[PlannedWrite]) -> Result<Vec<String>, WriteError> {
        let mut lines = Vec::new();
        for (i, w) in writes.iter().enumerate() {
            let created_here = writes[..i].iter().any(|e| {
                e.verb == Verb::Create
                    && e.context == w.context
                    && e.object.kind == "Namespace"
                    && e.object.name == w.object.namespace
            });
            let head = format!("{} · {}", w.context, w.verb.name());
            if created_here {
                lines.push(format!(
                    "{head} {} (checked when written: this change set creates its namespace)",
                    w.object.label()
                ));
                continue;
            }
            let api = self.api(&w.context, &w.object).await?;
            let verb = w.verb.name();
            match w.verb {
                Verb::Create => {
                    let mut body = w.body.clone();
                    if matches!(w.fill, Some(Fill::Kubeconfig { .. })) {
                        body["data"] = json!({"value": STANDARD.encode("a kubeconfig, filled when written")});
                    }
                    let object: DynamicObject =
                        serde_json::from_value(body).map_err(|e| WriteError::Invalid { message: e.to_string() })?;
                    let params = PostParams { dry_run: true, field_manager: Some(FIELD_MANAGER.into()) };
                    let answer = self.timed(api.create(&params, &object), verb, &w.object).await?;
                    let shown = redact(&as_value(&answer));
                    let data =
                        shown.get("data").and_then(Value::as_str).map(|d| format!(" · data {d}")).unwrap_or_default();
                    lines.push(format!("{head} {}{data}", w.object.label()));
                }
                Verb::Patch => {
                    let before = self.timed(api.get(&w.object.name), "get", &w.object).await?;
                    let params = PatchParams {
                        dry_run: true,
                        field_manager: Some(FIELD_MANAGER.into()),
                        ..PatchParams::default()
                    };
                    let after =
                        self.timed(api.patch(&w.object.name, &params, &Patch::Merge(&w.body)), verb, &w.object).await?;
                    let changes = diff(&as_value(&before), &as_value(&after));
                    let fields: Vec<String> = changes
                        .iter()
                        .map(|c| {
                            format!(
                                "{} {} → {}",
                                c.path,
                                c.before.as_deref().unwrap_or("∅"),
                                c.after.as_deref().unwrap_or("∅")
                            )
                        })
                        .collect();
                    let what = if fields.is_empty() { "no change".to_owned() } else { fields.join(", ") };
                    lines.push(format!("{head} {}: {what}", w.object.label()));
                }
                Verb::Delete => {
                    let params = DeleteParams { dry_run: true, ..DeleteParams::background() };
                    match self.timed(api.delete(&w.object.name, &params), verb, &w.object).await {
                        Ok(_) => lines.push(format!("{head} {}", w.object.label())),
                        Err(WriteError::NotFound { .. }) => {
                            lines.push(format!("{head} {} (gone already)", w.object.label()))
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(lines)
    }

    /// Reads a write's object before it is sent: what it replaces.
    pub(super) async fn prepare(&self, run: &Run, w: &PlannedWrite) -> Result<Prepared, WriteError> {
        let current = self.read(&w.context, &w.object).await?;
        match (w.verb, current) {
            (Verb::Create, None) => Ok(Prepared::Previous(Value::Null)),
            (Verb::Create, Some(o)) if is_runs(&o, run) => Ok(Prepared::AlreadyApplied),
            (Verb::Create, Some(_)) => Err(WriteError::Conflict {
                message: format!("{} exists already and was not created by this run", w.object.label()),
            }),
            (Verb::Patch, Some(o)) => Ok(Prepared::Previous(restoring_patch(&w.body, &o))),
            (Verb::Patch, None) => {
                Err(WriteError::NotFound { message: format!("{} does not exist", w.object.label()) })
            }
            (Verb::Delete, None) => Ok(Prepared::AlreadyApplied),
            // A Secret's data is never kept, so its delete cannot be undone.
            (Verb::Delete, Some(_)) if w.object.is_secret() => Ok(Prepared::Previous(Value::Null)),
            (Verb::Delete, Some(o)) => Ok(Prepared::Previous(recreatable(&o))),
        }
    }

    fn draft(&self, run: &Run, w: &PlannedWrite, write_id: &str, result: Option<&Result<(), WriteError>>) -> Draft {
        let confirmation = run
            .confirmations
            .iter()
            .rfind(|c| c.step == run.current)
            .map(|c| format!("typed {}", c.text))
            .unwrap_or_default();
        Draft {
            time: Timestamp::now(),
            phase: if result.is_some() { Phase::Outcome } else { Phase::Intent },
            write_id: write_id.to_owned(),
            action: format!("{}: {}", run.workflow.name(), w.verb.name()),
            cluster: w.context.clone(),
            spoke: run.cluster.clone(),
            object: JournalRef {
                api_version: w.object.api_version.clone(),
                kind: w.object.kind.clone(),
                namespace: w.object.namespace.clone(),
                name: w.object.name.clone(),
            },
            operator: Operator {
                kube_user: self.writer.user_of(&w.context),
                local_user: self.session.user.clone(),
                host: self.session.host.clone(),
            },
            confirmation,
            result: result.map(|r| entry::Result {
                ok: r.is_ok(),
                message: r.as_ref().err().map(WriteError::describe).unwrap_or_default(),
            }),
        }
    }

    /// Journals the intent, sends the write (with its fill), waits for it to settle, and
    /// journals the outcome. A write the journal cannot record is not sent.
    pub(super) async fn send(&self, run: &Run, w: &PlannedWrite, write_id: &str) -> Result<(), WriteError> {
        let namespace = run.cluster.clone();
        if let Err(e) = self.writer.record(self.draft(run, w, write_id, None), &namespace).await {
            return Err(WriteError::Other { message: format!("not written: the journal could not record it: {e}") });
        }
        let mut result = self.write(w).await;
        if result.is_ok()
            && let Some(Settle::TokenFilled { timeout_secs }) = &w.settle
        {
            result = self.token_of(&w.context, &w.object, Duration::from_secs(*timeout_secs)).await.map(|_| ());
        }
        let outcome = self.draft(run, w, write_id, Some(&result));
        match self.writer.record(outcome, &namespace).await {
            Err(e) if result.is_ok() => Err(WriteError::Other {
                message: format!("written, but the journal could not record the outcome: {e}"),
            }),
            _ => result,
        }
    }

    async fn write(&self, w: &PlannedWrite) -> Result<(), WriteError> {
        let api = self.api(&w.context, &w.object).await?;
        let verb = w.verb.name();
        match w.verb {
            Verb::Create => {
                let mut body = w.body.clone();
                if let Some(Fill::Kubeconfig { context, token_secret, server, ca_data, cluster }) = &w.fill {
                    let token = self.token_of(context, token_secret, Duration::ZERO).await?;
                    body["data"] = json!({"value": STANDARD.encode(kubeconfig(cluster, server, ca_data, &token))});
                }
                let object: DynamicObject =
                    serde_json::from_value(body).map_err(|e| WriteError::Invalid { message: e.to_string() })?;
                let params = PostParams { dry_run: false, field_manager: Some(FIELD_MANAGER.into()) };
                self.timed(api.create(&params, &object), verb, &w.object).await.map(|_| ())
            }
            Verb::Patch => {
                let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
                self.timed(api.patch(&w.object.name, &params, &Patch::Merge(&w.body)), verb, &w.object)
                    .await
                    .map(|_| ())
            }
            Verb::Delete => {
                let params =
                    DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
                match self.timed(api.delete(&w.object.name, &params), verb, &w.object).await {
                    Ok(_) | Err(WriteError::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// The token a service-account token Secret holds, waiting up to `wait` for the
    /// token controller to fill it.
    async fn token_of(&self, context: &str, secret: &ObjectRef, wait: Duration) -> Result<String, WriteError> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let token = self
                .read(context, secret)
                .await?
                .and_then(|s| s.pointer("/data/token").and_then(Value::as_str).map(str::to_owned))
                .and_then(|t| STANDARD.decode(t).ok())
                .and_then(|t| String::from_utf8(t).ok())
                .filter(|t| !t.is_empty());
            if let Some(token) = token {
                return Ok(token);
            }
            if tokio::time::Instant::now() >= until {
                return Err(WriteError::Timeout {
                    message: format!(
                        "the token controller did not fill {} on {context} within {} s (is the kube-controller-manager's token controller running?)",
                        secret.label(),
                        wait.as_secs()
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Whether a write saved as sent landed, read from its object now; the journal's
    /// open intent for it gets that as its outcome.
    pub(super) async fn resolve(
        &self,
        run: &Run,
        w: &PlannedWrite,
        write_id: &str,
    ) -> Result<(bool, String), WriteError> {
        let object = self.read(&w.context, &w.object).await?;
        let label = w.object.label();
        let (applied, evidence) = match (w.verb, &object) {
            (Verb::Create, Some(o)) if is_runs(o, run) => (true, format!("{label} exists: it was written")),
            (Verb::Create, Some(_)) => (false, format!("{label} exists but is not this run's")),
            (Verb::Create, None) => (false, format!("{label} does not exist: it was not written")),
            (Verb::Patch, Some(o)) if shows_patch(&w.body, o) => {
                (true, format!("{label} shows the patch: it was written"))
            }
            (Verb::Patch, _) => (false, format!("{label} does not show the patch: it was not written")),
            (Verb::Delete, None) => (true, format!("{label} is gone: it was deleted")),
            (Verb::Delete, Some(o)) if o.pointer("/metadata/deletionTimestamp").is_some() => {
                (true, format!("{label} is being deleted"))
            }
            (Verb::Delete, Some(_)) => (false, format!("{label} still exists: it was not deleted")),
        };
        self.writer.close_intent(write_id, applied, &evidence, &run.cluster).await;
        Ok((applied, evidence))
    }
}
