//! What the migration runbook's checks and waits read, judged by `workflow::migrate`:
//! the inventory (written to the data directory as JSON and Markdown, its sha256 in the
//! run), Velero and the pre-migration backup, the rollback point, staging first, the
//! connectivity probes, the policy probes (server-side dry-run creates admission must
//! deny), the workloads against the inventory, the fleet check's verdict, the security
//! audit and the report (in the data directory and on the hub, next to the run).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use super::Runner;
use super::act::api_of;
use super::checks::Checked;
use crate::fields::text;
use crate::fleet::run::{
    Evidence, MANAGED_BY, MANAGER, ObjectRef, RUN_NAMESPACE, Run, SPOKE_LABEL, Verdict, WORKFLOW_LABEL, plural_of,
};
use crate::workflow::migrate::{
    self, Inventory, Reading, Runbook, VELERO_NAMESPACE, backup_name, latency_verdict, policy_verdict, probe_verdict,
    propagation_verdict, staging_first, workloads_verdict,
};
use crate::workflow::register::{evidence, verdict_of};

mod audit;
mod inventory;
mod rollback;

pub use rollback::NotifySettings;

/// The fleet check's verdict of one cluster: (healthy, its status word, its problems).
pub type Verdicts = Result<(bool, String, Vec<String>), String>;

/// How "verify all systems operational" asks for the verdict `fleetdeck check` gives a
/// cluster: given the hub's and the spoke's contexts. Built by the launcher, which owns
/// the check.
#[derive(Clone)]
pub struct Operational(
    #[allow(clippy::type_complexity)]
    pub  Arc<dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Verdicts> + Send>> + Send + Sync>,
);

impl std::fmt::Debug for Operational {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operational(the fleet check)")
    }
}

/// How migrations are carried out (`[migration]`, `[slo]`, the runbook file).
#[derive(Debug, Clone)]
pub struct MigrationSettings {
    pub runbook: Runbook,
    pub production: Vec<String>,
    pub staging: Vec<String>,
    /// API probes "validate connectivity" takes (a step's `probes` replaces it).
    pub probes: usize,
    pub latency: Duration,
    pub propagation: Duration,
    /// Known-bad objects (file name, manifest) admission must deny.
    pub policy_probes: Vec<(String, String)>,
    /// Where inventories and reports are written (`runs/<id>/`).
    pub data_dir: PathBuf,
    /// Audit logs per cluster, for the security audit.
    pub audit_files: Vec<(String, PathBuf)>,
    pub operational: Option<Operational>,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        Self {
            runbook: Runbook::shipped(),
            production: vec!["production-*".into()],
            staging: vec!["staging-*".into()],
            probes: 20,
            latency: Duration::from_millis(100),
            propagation: Duration::from_secs(30),
            policy_probes: migrate::PROBES.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect(),
            data_dir: crate::paths::data_dir(),
            audit_files: Vec::new(),
            operational: None,
        }
    }
}

fn failed(text: String) -> Checked {
    (Verdict::Fail, vec![evidence(Verdict::Fail, text)], BTreeMap::new())
}

fn judged(lines: Vec<Evidence>, facts: BTreeMap<String, String>) -> Checked {
    (verdict_of(&lines), lines, facts)
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// Whether an error says the API serves no such resource.
fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl Runner {
    fn migration(&self) -> &MigrationSettings {
        &self.settings.migration
    }

    /// Writes `name.json` and `name.md` into the run's directory of the data directory.
    fn keep(&self, run: &Run, name: &str, json: &Value, md: &str) -> Result<PathBuf, String> {
        let dir = self.migration().data_dir.join("runs").join(&run.id);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let body = serde_json::to_string_pretty(json).unwrap_or_default();
        for (file, text) in [(format!("{name}.json"), body.as_str()), (format!("{name}.md"), md)] {
            let path = dir.join(&file);
            std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(dir.join(format!("{name}.md")))
    }

    /// The migration's checks.
    pub(super) async fn migration_check(&self, run: &Run, check: &str) -> Checked {
        let (context, hub) = (run.context.as_str(), run.hub.as_str());
        let params = run.steps.get(run.current).map(|s| s.params.clone()).unwrap_or_default();
        match check {
            "inventory" => match self.inventory(run).await {
                Ok(inv) => {
                    let sha = inv.sha256();
                    let json = serde_json::to_value(&inv).unwrap_or(Value::Null);
                    let mut lines = vec![evidence(Verdict::Pass, inv.summary())];
                    match self.keep(run, "inventory", &json, &inv.markdown()) {
                        Ok(path) => {
                            lines.push(evidence(Verdict::Pass, format!("written to {} (sha256 {sha})", path.display())))
                        }
                        Err(e) => lines.push(evidence(Verdict::Warn, format!("{e}; the hub keeps it (sha256 {sha})"))),
                    }
                    for gap in &inv.gaps {
                        lines.push(evidence(Verdict::Warn, format!("not documented: {gap}")));
                    }
                    // The baseline itself lives on the hub next to the run (a session
                    // that takes the run over compares with it); the run holds its hash.
                    let cm = self.attachment(
                        run,
                        "inventory",
                        "inventory.json",
                        serde_json::to_string(&inv).unwrap_or_default(),
                    );
                    match self.attach(cm).await {
                        Ok(name) => lines.push(evidence(
                            Verdict::Pass,
                            format!("kept on the hub: ConfigMap {RUN_NAMESPACE}/{name}"),
                        )),
                        Err(e) => {
                            lines.push(evidence(Verdict::Fail, format!("cannot keep the inventory on the hub: {e}")))
                        }
                    }
                    judged(lines, BTreeMap::from([("inventory_sha256".to_owned(), sha)]))
                }
                Err(e) => failed(e),
            },
            "velero" => self.velero(context).await,
            "rollback-point" => self.rollback_point(run).await,
            "staging-first" => match self.list().await {
                Ok(runs) => {
                    let runs: Vec<Run> = runs.into_iter().map(|(r, _)| r).collect();
                    let m = self.migration();
                    judged(vec![staging_first(&run.cluster, &m.production, &m.staging, &runs)], BTreeMap::new())
                }
                Err(e) => failed(format!("cannot read the hub's runs: {e}")),
            },
            "connectivity" => {
                let probes = params.get("probes").and_then(|p| p.parse().ok()).unwrap_or(self.migration().probes);
                let mut lines = match self.kustomization_states(run).await {
                    Ok(states) => propagation_verdict(&states, self.migration().propagation),
                    Err(Reading::Pending(e) | Reading::Paused(e) | Reading::Broke(e) | Reading::Held(e)) => {
                        vec![evidence(Verdict::Fail, e)]
                    }
                };
                lines.extend(latency_verdict(&self.probe_latency(context, probes).await, self.migration().latency));
                judged(lines, BTreeMap::new())
            }
            "policy-enforcement" => {
                let mut lines = Vec::new();
                for (name, manifest) in &self.migration().policy_probes {
                    lines.push(match self.dry_run_create(context, manifest).await {
                        Ok(answer) => probe_verdict(name, &answer),
                        Err(e) => evidence(Verdict::Fail, format!("{name}: {e}")),
                    });
                }
                let before = match self.baseline(run).await {
                    Ok(inv) => inv.policy,
                    Err(e) => return failed(e),
                };
                match self.policy_totals(context).await {
                    Ok(now) => lines.push(policy_verdict(before, now)),
                    Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot read the policy reports: {e}"))),
                }
                judged(lines, BTreeMap::new())
            }
            "workloads" => {
                let before = match self.baseline(run).await {
                    Ok(inv) => inv,
                    Err(e) => return failed(e),
                };
                match self.inventory(run).await {
                    Ok(now) => judged(workloads_verdict(&before, &now), BTreeMap::new()),
                    Err(e) => failed(e),
                }
            }
            "operational" => match &self.migration().operational {
                None => failed("this session cannot run the fleet check".into()),
                Some(check) => match (check.0)(hub.to_owned(), context.to_owned()).await {
                    Ok((true, word, _)) => judged(
                        vec![evidence(Verdict::Pass, format!("fleetdeck check judges {}: {word}", run.cluster))],
                        BTreeMap::new(),
                    ),
                    Ok((false, word, problems)) => {
                        let mut lines =
                            vec![evidence(Verdict::Fail, format!("fleetdeck check judges {}: {word}", run.cluster))];
                        lines.extend(problems.into_iter().map(|p| evidence(Verdict::Fail, p)));
                        judged(lines, BTreeMap::new())
                    }
                    Err(e) => failed(format!("the fleet check could not run: {e}")),
                },
            },
            "security-audit" => self.security_audit(run).await,
            "report" => self.report(run).await,
            other => self.rollback_check(run, other).await,
        }
    }

    async fn velero(&self, context: &str) -> Checked {
        let backups = resource("velero.io", "v1", "Backup", "backups");
        let client = match self.writer.client(context).await {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), VELERO_NAMESPACE, &backups);
        match tokio::time::timeout(self.settings.request_timeout, api.list_metadata(&ListParams::default().limit(1)))
            .await
        {
            Err(_) => return failed(format!("listing {context}'s Velero backups timed out")),
            Ok(Err(e)) if not_served(&e) => {
                return failed(format!(
                    "Velero is not installed on {context} (the API serves no backups.velero.io): the migration needs a backup to roll back to"
                ));
            }
            Ok(Err(e)) => {
                return failed(format!("cannot read {context}'s Velero: {}", crate::cluster::errors::classify(&e).1));
            }
            Ok(Ok(_)) => {}
        }
        let bsl = resource("velero.io", "v1", "BackupStorageLocation", "backupstoragelocations");
        let api: Api<DynamicObject> = Api::namespaced_with(client, VELERO_NAMESPACE, &bsl);
        let locations =
            match tokio::time::timeout(self.settings.request_timeout, api.list(&ListParams::default())).await {
                Ok(Ok(l)) => l.items,
                Ok(Err(e)) => {
                    return failed(format!(
                        "cannot read {context}'s storage locations: {}",
                        crate::cluster::errors::classify(&e).1
                    ));
                }
                Err(_) => return failed(format!("listing {context}'s storage locations timed out")),
            };
        let mut lines = vec![evidence(Verdict::Pass, format!("Velero answers on {context}"))];
        let default = locations.iter().find(|l| l.metadata.name.as_deref() == Some("default"));
        match default.map(|l| text(&l.data, "/status/phase")) {
            Some(phase) if phase == "Available" => {
                lines.push(evidence(Verdict::Pass, "the storage location default is Available"))
            }
            Some(phase) => lines.push(evidence(
                Verdict::Fail,
                format!(
                    "the storage location default is {}: a backup cannot be written",
                    if phase.is_empty() { "unvalidated" } else { &phase }
                ),
            )),
            None => {
                lines.push(evidence(Verdict::Fail, format!("{context} has no BackupStorageLocation named default")))
            }
        }
        judged(lines, BTreeMap::new())
    }

    /// The pre-migration backup's phase.
    pub(super) async fn backup_completed(&self, run: &Run) -> Reading {
        let name = backup_name(run);
        let object = ObjectRef::new("velero.io/v1", "Backup", "backups", VELERO_NAMESPACE, &name);
        match self.read(&run.context, &object).await {
            Ok(Some(b)) => migrate::backup_reading(&name, &b),
            Ok(None) => Reading::Broke(format!("Backup {name} is gone from {}", run.context)),
            Err(
                e @ (crate::fleet::run::WriteError::Unreachable { .. } | crate::fleet::run::WriteError::Timeout { .. }),
            ) => Reading::Paused(format!("{} does not answer: {}", run.context, e.describe())),
            Err(e) => Reading::Pending(format!("cannot read Backup {name}: {}", e.describe())),
        }
    }

    /// The rollback point: the backup, the hub's source revisions, the inventory's hash
    /// and everything the registration will write.
    async fn rollback_point(&self, run: &Run) -> Checked {
        let mut lines = Vec::new();
        let mut facts = BTreeMap::new();
        let name = backup_name(run);
        lines
            .push(evidence(Verdict::Pass, format!("restore from Backup {VELERO_NAMESPACE}/{name} on {}", run.context)));
        facts.insert("rollback_backup".to_owned(), name);
        let mut revisions = BTreeMap::new();
        for (kind, plural) in [("GitRepository", "gitrepositories"), ("OCIRepository", "ocirepositories")] {
            match self.list_all(&run.hub, &resource("source.toolkit.fluxcd.io", "v1", kind, plural)).await {
                Ok(Some(items)) => {
                    for s in items {
                        let key = format!("{kind}/{}/{}", text(&s, "/metadata/namespace"), text(&s, "/metadata/name"));
                        revisions.insert(key, text(&s, "/status/artifact/revision"));
                    }
                }
                Ok(None) => {}
                Err(e) => return failed(format!("cannot read the hub's sources: {e}")),
            }
        }
        lines.push(evidence(
            Verdict::Pass,
            format!(
                "the hub's sources: {}",
                revisions.iter().map(|(k, v)| format!("{k} at {v}")).collect::<Vec<_>>().join(", ")
            ),
        ));
        facts.insert("rollback_revisions".to_owned(), serde_json::to_string(&revisions).unwrap_or_default());
        match run.facts.get("inventory_sha256") {
            Some(sha) => lines.push(evidence(Verdict::Pass, format!("the inventory, sha256 {sha}"))),
            None => lines.push(evidence(Verdict::Fail, "the run holds no inventory")),
        }
        // What the registration will write, planned now with its identity facts still
        // to be read: the objects are known before the checks fill their contents.
        let mut trial = run.clone();
        for key in ["environment", "uid", "ca_sha256", "server", "ca_data"] {
            trial.facts.entry(key.to_owned()).or_insert_with(|| "(read at registration)".into());
        }
        match crate::workflow::register::plan_register(&trial, &self.settings.register) {
            Ok(writes) => {
                let labels: Vec<String> =
                    writes.iter().map(|w| format!("{} · {} {}", w.context, w.verb.name(), w.object.label())).collect();
                lines.push(evidence(
                    Verdict::Pass,
                    format!("the migration will write {} objects: {}", labels.len(), labels.join("; ")),
                ));
                facts.insert("rollback_writes".to_owned(), serde_json::to_string(&labels).unwrap_or_default());
            }
            Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot plan the registration: {e}"))),
        }
        judged(lines, facts)
    }

    /// `probes` API round trips to `context`, after one that opens the connection.
    async fn probe_latency(&self, context: &str, probes: usize) -> Vec<Result<Duration, String>> {
        let client = match self.writer.client(context).await {
            Ok(c) => c,
            Err(e) => return vec![Err(e)],
        };
        let once = || async {
            let start = Instant::now();
            match tokio::time::timeout(self.settings.request_timeout, client.apiserver_version()).await {
                Ok(Ok(_)) => Ok(start.elapsed()),
                Ok(Err(e)) => Err(crate::cluster::errors::classify(&e).1),
                Err(_) => Err(format!("no answer within {} s", self.settings.request_timeout.as_secs())),
            }
        };
        let _ = once().await;
        let mut out = Vec::with_capacity(probes);
        for _ in 0..probes {
            out.push(once().await);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        out
    }

    /// A server-side dry-run create of a manifest: `Ok(Ok)` admitted, `Ok(Err)` refused
    /// with its code and message.
    async fn dry_run_create(&self, context: &str, manifest: &str) -> Result<Result<(), (u16, String)>, String> {
        let object: Value = serde_saphyr::from_str(manifest).map_err(|e| format!("not a manifest: {e}"))?;
        let kind = text(&object, "/kind");
        let target = ObjectRef::new(
            &text(&object, "/apiVersion"),
            &kind,
            &plural_of(&kind),
            &text(&object, "/metadata/namespace"),
            &text(&object, "/metadata/name"),
        );
        let api = api_of(self.writer.client(context).await?, &target);
        let body: DynamicObject = serde_json::from_value(object).map_err(|e| e.to_string())?;
        let params = PostParams { dry_run: true, field_manager: Some(crate::workflow::plan::FIELD_MANAGER.into()) };
        match tokio::time::timeout(self.settings.request_timeout, api.create(&params, &body)).await {
            Err(_) => Err(format!("no answer within {} s", self.settings.request_timeout.as_secs())),
            Ok(Ok(_)) => Ok(Ok(())),
            Ok(Err(kube::Error::Api(s))) => Ok(Err((s.code, s.message))),
            Ok(Err(e)) => Err(crate::cluster::errors::classify(&e).1),
        }
    }

    /// The report: Markdown and JSON in the data directory, and on the hub next to the
    /// run (`run-<id>-report`).
    async fn report(&self, run: &Run) -> Checked {
        let before = self.baseline(run).await.ok();
        let after = self.inventory(run).await.ok();
        let (md, json) = migrate::report(run, before.as_ref(), after.as_ref());
        let mut lines = Vec::new();
        match self.keep(run, "report", &json, &md) {
            Ok(path) => lines.push(evidence(Verdict::Pass, format!("written to {}", path.display()))),
            Err(e) => lines.push(evidence(Verdict::Fail, e)),
        }
        if let Some(inv) = &after {
            let _ =
                self.keep(run, "inventory-after", &serde_json::to_value(inv).unwrap_or(Value::Null), &inv.markdown());
        }
        let mut cm = self.attachment(run, "report", "report.md", md);
        cm["data"]["report.json"] = json!(serde_json::to_string_pretty(&json).unwrap_or_default());
        match self.attach(cm).await {
            Ok(name) => lines.push(evidence(
                Verdict::Pass,
                format!("attached to the run on the hub: ConfigMap {RUN_NAMESPACE}/{name}"),
            )),
            Err(e) => lines.push(evidence(Verdict::Fail, format!("cannot attach the report on the hub: {e}"))),
        }
        judged(lines, BTreeMap::new())
    }

    /// A ConfigMap `run-<id>-<what>` next to the run on the hub, holding `key`.
    fn attachment(&self, run: &Run, what: &str, key: &str, text: String) -> Value {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("{}-{what}", run.object_name()), "namespace": RUN_NAMESPACE,
                "labels": {MANAGED_BY: MANAGER, WORKFLOW_LABEL: run.workflow.name(), SPOKE_LABEL: run.cluster,
                           format!("fleetdeck.io/{what}-of"): run.id}},
            "data": {key: text},
        })
    }

    /// The inventory the run took, from the hub, checked against the hash the run holds.
    async fn baseline(&self, run: &Run) -> Result<Inventory, String> {
        let recorded = run.facts.get("inventory_sha256").ok_or("the run holds no inventory to compare with")?;
        let name = format!("{}-inventory", run.object_name());
        let api: Api<ConfigMap> = self.runs_api().await?;
        let cm = tokio::time::timeout(self.settings.request_timeout, api.get(&name))
            .await
            .map_err(|_| format!("reading ConfigMap {RUN_NAMESPACE}/{name} timed out"))?
            .map_err(|e| {
                format!("cannot read the inventory {RUN_NAMESPACE}/{name}: {}", crate::cluster::errors::classify(&e).1)
            })?;
        let text =
            cm.data.as_ref().and_then(|d| d.get("inventory.json")).ok_or(format!("{name} holds no inventory.json"))?;
        let inv: Inventory = serde_json::from_str(text).map_err(|e| format!("{name}: not an inventory: {e}"))?;
        match inv.sha256() {
            sha if sha == *recorded => Ok(inv),
            sha => Err(format!(
                "the inventory on the hub ({name}) changed since it was taken: sha256 {sha}, the run recorded {recorded}"
            )),
        }
    }

    async fn attach(&self, cm: Value) -> Result<String, String> {
        let api: Api<ConfigMap> = self.runs_api().await?;
        let cm: ConfigMap = serde_json::from_value(cm).map_err(|e| e.to_string())?;
        let name = cm.metadata.name.clone().unwrap_or_default();
        let params = kube::api::PatchParams::apply(crate::workflow::plan::FIELD_MANAGER).force();
        tokio::time::timeout(self.settings.request_timeout, api.patch(&name, &params, &kube::api::Patch::Apply(&cm)))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| crate::cluster::errors::classify(&e).1)?;
        Ok(name)
    }
}
