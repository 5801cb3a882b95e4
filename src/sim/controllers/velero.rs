//! Velero on a cluster: schedules that fire on their cron, backups that go New ->
//! InProgress (with progress) -> Completed, PartiallyFailed or Failed, restores that run
//! to completion, a storage location validated periodically (Unavailable under the storage
//! fault, failing every backup meanwhile), and expired backups garbage-collected.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use color_eyre::eyre::Result;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::ChangeFeed;
use crate::api::{Caller, write};
use crate::clock::{parse, rfc3339};
use crate::cluster::Cluster;
use crate::cron::Schedule;
use crate::object::text;
use crate::resource::GroupResource;
use crate::scenario::{Scenario, matches_any};
use crate::seed::{self, put};
use crate::state::ClusterState;

pub const NS: &str = "velero";
pub const SCHEDULE_LABEL: &str = "velero.io/schedule-name";

fn gr(plural: &str) -> GroupResource {
    GroupResource::new("velero.io", plural)
}

/// Velero's TTL strings ("720h0m0s") as a duration.
fn ttl(text: &str) -> Duration {
    let t = text.replace("h0m0s", "h").replace("m0s", "m");
    humantime::parse_duration(&t).unwrap_or(Duration::from_secs(30 * 86400))
}

fn plus(at: Timestamp, d: Duration) -> Timestamp {
    at.checked_add(SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO)).unwrap_or(at)
}

fn backup_name(schedule: &str, at: Timestamp) -> String {
    format!("{schedule}-{}", at.strftime("%Y%m%d%H%M%S"))
}

/// A Backup created from a schedule's template, as the schedule controller and
/// `velero backup create --from-schedule` make it.
pub fn backup_from_schedule(schedule: &Value, at: Timestamp, git_version: &str) -> Value {
    let name = text(schedule, "/metadata/name");
    let mut spec = schedule.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    if spec.get("storageLocation").is_none() {
        spec["storageLocation"] = json!("default");
    }
    json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": backup_name(&name, at), "namespace": NS,
            "labels": {SCHEDULE_LABEL: name, "velero.io/storage-location": "default"},
            "annotations": {"velero.io/source-cluster-k8s-gitversion": git_version, "velero.io/source-cluster-k8s-major-version": "1"}},
        "spec": spec,
        "status": {"phase": "New"}})
}

/// How a backup ended.
#[derive(Debug, Clone, Copy)]
struct Outcome<'a> {
    phase: &'a str,
    errors: i64,
    warnings: i64,
    failure_reason: Option<&'a str>,
}

impl<'a> Outcome<'a> {
    fn failed(reason: &'a str) -> Self {
        Self { phase: "Failed", errors: 1, warnings: 0, failure_reason: Some(reason) }
    }

    /// Completed mostly, PartiallyFailed or Failed at the scenario's rates.
    fn draw(velero: &crate::scenario::VeleroShape, failing: bool) -> Self {
        let mut rng = rand::rng();
        let roll: f64 = rng.random();
        if failing || roll < velero.fail_rate {
            Self::failed("timed out waiting for all PodVolumeBackups to complete")
        } else if roll < velero.fail_rate + velero.partial_rate {
            Self {
                phase: "PartiallyFailed",
                errors: rng.random_range(1..4),
                warnings: rng.random_range(0..3),
                failure_reason: None,
            }
        } else {
            let warnings = if rng.random_bool(0.15) { rng.random_range(1..3) } else { 0 };
            Self { phase: "Completed", errors: 0, warnings, failure_reason: None }
        }
    }

    /// The status of the backup that ran from `start` to `end` over `total` items.
    fn status(&self, start: Timestamp, end: Timestamp, ttl_text: &str, total: i64) -> Value {
        let done = if self.phase == "Failed" { total / 3 } else { total };
        let mut status = json!({
            "phase": self.phase, "version": 1, "formatVersion": "1.1.0",
            "startTimestamp": rfc3339(start), "completionTimestamp": rfc3339(end),
            "expiration": rfc3339(plus(end, ttl(ttl_text))),
            "progress": {"totalItems": total, "itemsBackedUp": done},
            "errors": self.errors, "warnings": self.warnings,
            "hookStatus": {},
        });
        if let Some(r) = self.failure_reason {
            status["failureReason"] = json!(r);
        }
        status
    }
}

/// Seeds Velero: deployment, default storage location, the scenario's schedules and a
/// history of past backups per schedule.
pub fn seed(st: &mut ClusterState, scenario: &Scenario) -> Result<()> {
    let name = st.info.name.clone();
    if matches_any(&scenario.velero.without, &name) {
        return Ok(());
    }
    seed::put_manifest(st, "kubectl", seed::VELERO_CRDS)?;
    seed::ensure_namespace(st, NS, json!({"app.kubernetes.io/name": "velero"}))?;
    put(st, "helm", seed::deployment(NS, "velero", "velero/velero:v1.15.0", 1, json!({"component": "velero"})))?;
    let now = Timestamp::now();
    put(
        st,
        "velero-server",
        json!({"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
            "metadata": {"name": "default", "namespace": NS, "labels": {"component": "velero"}},
            "spec": {"provider": "aws", "default": true, "accessMode": "ReadWrite", "validationFrequency": "1m0s",
                "objectStorage": {"bucket": "fleet-backups", "prefix": name}, "config": {"region": "eu-west-1"}},
            "status": {"phase": "Available", "lastValidationTime": rfc3339(now), "lastSyncedTime": rfc3339(now)}}),
    )?;
    if matches_any(&scenario.velero.no_schedule, &name) {
        return Ok(());
    }
    let git_version = st.info.git_version;
    for shape in &scenario.velero.schedules {
        if !shape.clusters.is_empty() && !matches_any(&shape.clusters, &name) {
            continue;
        }
        let cron = Schedule::parse(&shape.cron)?;
        let mut template = json!({"ttl": shape.ttl, "storageLocation": "default"});
        if !shape.namespaces.is_empty() {
            template["includedNamespaces"] = json!(shape.namespaces);
        }
        let paused = matches_any(&shape.paused, &name);
        // Past runs, newest first.
        let mut runs = Vec::new();
        let mut cursor = now;
        for _ in 0..scenario.velero.history {
            match cron.prev_before(cursor) {
                Some(at) => {
                    runs.push(at);
                    cursor = at;
                }
                None => break,
            }
        }
        let mut schedule = json!({"apiVersion": "velero.io/v1", "kind": "Schedule",
            "metadata": {"name": shape.name, "namespace": NS},
            "spec": {"schedule": shape.cron, "template": template, "useOwnerReferencesInBackup": false, "paused": paused},
            "status": {"phase": "Enabled"}});
        if let Some(last) = runs.first() {
            schedule["status"]["lastBackup"] = json!(rfc3339(*last));
        }
        let schedule = put(st, "velero-server", schedule)?;
        for (i, at) in runs.iter().enumerate() {
            let mut backup = backup_from_schedule(&schedule, *at, git_version);
            let duration = scenario.velero.backup_duration.sample();
            let total = rand::rng().random_range(180..900);
            let failing = matches_any(&scenario.velero.failing, &name) && i == 0;
            // The newest run of a fleet at rest completed (unless the scenario makes this
            // cluster's fail); older runs drew from the scenario's rates, as history does.
            let outcome = match (i, failing) {
                (0, false) => Outcome { phase: "Completed", errors: 0, warnings: 0, failure_reason: None },
                _ => Outcome::draw(&scenario.velero, failing),
            };
            let status = outcome.status(*at, plus(*at, duration), &shape.ttl, total);
            let expired = parse(status["expiration"].as_str().unwrap_or_default()).is_some_and(|e| e < now);
            if expired {
                continue;
            }
            backup["status"] = status;
            put(st, "velero-server", backup)?;
        }
    }
    Ok(())
}

/// Updates the storage location's phase (and validation time).
pub fn validate_storage(st: &mut ClusterState, available: bool) {
    let Some(rt) = st.registry.lookup("velero.io", "v1", "backupstoragelocations").cloned() else { return };
    let now = rfc3339(Timestamp::now());
    let _ = write::modify_internal(st, &Caller::system("velero-server"), &rt, NS, "default", "status", |bsl| {
        bsl["status"]["lastValidationTime"] = json!(now);
        if available {
            bsl["status"]["phase"] = json!("Available");
            if let Some(s) = bsl.get_mut("status").and_then(Value::as_object_mut) {
                s.remove("message");
            }
        } else {
            bsl["status"]["phase"] = json!("Unavailable");
            bsl["status"]["message"] = json!(
                "BackupStorageLocation \"default\" is unavailable: rpc error: code = Unknown desc = operation error S3: ListObjectsV2, https response error StatusCode: 503, api error ServiceUnavailable: Service Unavailable"
            );
        }
    });
}

/// The namespaces a Backup or Restore names (`includedNamespaces`, `*` or none: all),
/// less its `excludedNamespaces`.
fn in_scope(spec: &Value, ns: &str) -> bool {
    let list = |key: &str| -> Vec<String> {
        spec.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let included = list("includedNamespaces");
    let all = included.is_empty() || included.iter().any(|n| n == "*");
    (all || included.iter().any(|n| n == ns)) && !list("excludedNamespaces").iter().any(|n| n == ns)
}

/// The objects a backup takes: every namespaced object of its namespaces (events
/// excepted) and those Namespaces.
fn capture(st: &ClusterState, spec: &Value) -> Vec<Arc<crate::store::StoredObject>> {
    let mut out = Vec::new();
    for rt in st.registry.all() {
        // Velero leaves out events and its own kinds, as its default resource policy does.
        let own = rt.group == "velero.io";
        if rt.virtual_only || own || rt.plural == "events" || (!rt.namespaced && rt.plural != "namespaces") {
            continue;
        }
        for ((ns, name), object) in st.store.list(&rt.group_resource(), None, None) {
            let namespace = if rt.namespaced { ns } else { name };
            if in_scope(spec, namespace) {
                out.push(object.clone());
            }
        }
    }
    out
}

/// An object as a restore creates it: server-set fields dropped.
fn restorable(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "deletionTimestamp"]
        {
            meta.remove(field);
        }
    }
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    o
}

/// Puts a backup's objects of the restore's namespaces back: a missing one is created;
/// an existing one is updated under `existingResourcePolicy: update`, else left as it is
/// (a warning when it differs), as Velero's `existingResourcePolicy` says. Namespaces
/// first. (warnings, items processed)
fn restore_objects(st: &mut ClusterState, backup: &str, spec: &Value) -> (i64, i64) {
    let Some(contents) = st.backups.get(backup).cloned() else { return (0, 0) };
    let update = text(spec, "/existingResourcePolicy") == "update";
    let caller = Caller::system("velero-server");
    let mut objects: Vec<Value> = contents.iter().map(|o| o.value()).collect();
    objects.sort_by_key(|o| text(o, "/kind") != "Namespace");
    let (mut warnings, mut total) = (0, 0);
    for object in objects {
        let ns = text(&object, "/metadata/namespace");
        let name = text(&object, "/metadata/name");
        let scope = if ns.is_empty() { name.as_str() } else { ns.as_str() };
        if !in_scope(spec, scope) {
            continue;
        }
        total += 1;
        let api_version = text(&object, "/apiVersion");
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version.as_str()));
        let Some(rt) = st.registry.by_kind(group, version, &text(&object, "/kind")).cloned() else {
            warnings += 1;
            continue;
        };
        let body = restorable(&object);
        let current = st.store.get(&rt.group_resource(), &ns, &name).map(|o| o.value());
        let differs = |now: &Value| now.get("spec") != object.get("spec") || now.get("data") != object.get("data");
        let result = match current {
            None => write::create(st, &caller, &rt, &ns, body).map(|_| ()),
            Some(now) if differs(&now) && update => {
                let mut replaced = body;
                replaced["metadata"]["resourceVersion"] = now["metadata"]["resourceVersion"].clone();
                write::update_internal(st, &caller, &rt, replaced, "").map(|_| ())
            }
            Some(now) => {
                if differs(&now) {
                    warnings += 1;
                }
                Ok(())
            }
        };
        if result.is_err() {
            warnings += 1;
        }
    }
    (warnings, total)
}

/// Runs one backup through its phases.
async fn run_backup(cluster: Arc<Cluster>, scenario: Arc<Scenario>, name: String, shutdown: CancellationToken) {
    let Some(rt) = cluster.lock().registry.lookup("velero.io", "v1", "backups").cloned() else { return };
    let caller = Caller::system("velero-server");
    let start = Timestamp::now();
    let (ttl_text, total) = {
        let mut st = cluster.lock();
        let Ok(backup) = crate::api::get(&st, &rt, NS, &name).map(|o| o.value()) else { return };
        let contents = capture(&st, backup.get("spec").unwrap_or(&Value::Null));
        let total = contents.len() as i64;
        let names: Vec<String> = st.store.list(&gr("backups"), Some(NS), None).map(|(k, _)| k.1.clone()).collect();
        st.backups.retain(|n, _| names.contains(n));
        st.backups.insert(name.clone(), Arc::new(contents));
        let ttl_text = match text(&backup, "/spec/ttl") {
            t if t.is_empty() => "720h0m0s".to_owned(),
            t => t,
        };
        let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |b| {
            b["status"] = json!({"phase": "InProgress", "version": 1, "formatVersion": "1.1.0", "startTimestamp": rfc3339(start),
                "expiration": rfc3339(plus(start, ttl(&ttl_text))), "progress": {"totalItems": total, "itemsBackedUp": 0}, "hookStatus": {}});
        });
        (ttl_text, total)
    };
    let duration = scenario.velero.backup_duration.sample();
    let steps = (duration.as_secs() / 4).clamp(1, 15) as i64;
    for step in 1..=steps {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(duration / steps as u32) => {}
        }
        if step < steps {
            let done = total * step / steps;
            let mut st = cluster.lock();
            let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |b| {
                b["status"]["progress"]["itemsBackedUp"] = json!(done);
            });
        }
    }
    let end = Timestamp::now();
    let outcome = if cluster.velero_storage_down.load(Ordering::Relaxed) {
        Outcome::failed("BackupStorageLocation \"default\" is unavailable")
    } else {
        Outcome::draw(&scenario.velero, matches_any(&scenario.velero.failing, cluster.name()))
    };
    let status = outcome.status(start, end, &ttl_text, total);
    let mut st = cluster.lock();
    let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |b| {
        b["status"] = status;
    });
}

/// Runs one restore through its phases.
async fn run_restore(cluster: Arc<Cluster>, scenario: Arc<Scenario>, name: String, shutdown: CancellationToken) {
    let Some(rt) = cluster.lock().registry.lookup("velero.io", "v1", "restores").cloned() else { return };
    let caller = Caller::system("velero-server");
    let start = Timestamp::now();
    let total = {
        let mut st = cluster.lock();
        let Ok(restore) = crate::api::get(&st, &rt, NS, &name).map(|o| o.value()) else { return };
        let backups: Vec<Value> = st.store.list(&gr("backups"), Some(NS), None).map(|(_, o)| o.value()).collect();
        let wanted = text(&restore, "/spec/backupName");
        let schedule = text(&restore, "/spec/scheduleName");
        let usable = |b: &&Value| matches!(text(b, "/status/phase").as_str(), "Completed" | "PartiallyFailed");
        let backup = if !wanted.is_empty() {
            backups.iter().find(|b| text(b, "/metadata/name") == wanted).cloned()
        } else if !schedule.is_empty() {
            backups
                .iter()
                .filter(|b| {
                    b.pointer(&format!("/metadata/labels/{}", SCHEDULE_LABEL.replace('/', "~1")))
                        .and_then(Value::as_str)
                        == Some(&schedule)
                })
                .filter(usable)
                .max_by_key(|b| text(b, "/status/completionTimestamp"))
                .cloned()
        } else {
            None
        };
        let error = match &backup {
            None if wanted.is_empty() && schedule.is_empty() => Some(
                "either a backup or schedule must be specified as a source for the restore, but not both".to_owned(),
            ),
            None if !wanted.is_empty() => {
                Some(format!("Error retrieving backup: backups.velero.io \"{wanted}\" not found"))
            }
            None => Some(format!("No backups found for schedule {schedule}")),
            Some(b) if !usable(&b) => Some(format!(
                "backup \"{}\" is in phase {} and cannot be restored",
                text(b, "/metadata/name"),
                text(b, "/status/phase")
            )),
            Some(_) => None,
        };
        if let Some(error) = error {
            let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |r| {
                r["status"] = json!({"phase": "FailedValidation", "validationErrors": [error]});
            });
            return;
        }
        let backup = backup.unwrap_or(Value::Null);
        let total = backup.pointer("/status/progress/totalItems").and_then(Value::as_i64).unwrap_or(300);
        let backup_name = text(&backup, "/metadata/name");
        let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |r| {
            r["spec"]["backupName"] = json!(backup_name);
            r["status"] = json!({"phase": "InProgress", "startTimestamp": rfc3339(start), "progress": {"totalItems": total, "itemsRestored": 0}});
        });
        total
    };
    let duration = scenario.velero.restore_duration.sample();
    let steps = (duration.as_secs() / 4).clamp(1, 12) as i64;
    for step in 1..=steps {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(duration / steps as u32) => {}
        }
        let done = total * step / steps;
        let mut st = cluster.lock();
        let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |r| {
            r["status"]["progress"]["itemsRestored"] = json!(done);
        });
    }
    let mut st = cluster.lock();
    let Ok(restore) = crate::api::get(&st, &rt, NS, &name).map(|o| o.value()) else { return };
    let spec = restore.get("spec").cloned().unwrap_or(Value::Null);
    let backup = text(&spec, "/backupName");
    // A backup seeded as history holds nothing: its restore completes with a few warnings.
    let (warnings, total) = match st.backups.contains_key(&backup) {
        true => restore_objects(&mut st, &backup, &spec),
        false => (if rand::rng().random_bool(0.3) { rand::rng().random_range(1..6) } else { 0 }, total),
    };
    let _ = write::modify_internal(&mut st, &caller, &rt, NS, &name, "", |r| {
        r["status"]["phase"] = json!("Completed");
        r["status"]["completionTimestamp"] = json!(rfc3339(Timestamp::now()));
        // As Velero counts them: every item processed, restored or left as it was.
        r["status"]["progress"] = json!({"totalItems": total, "itemsRestored": total});
        r["status"]["warnings"] = json!(warnings);
        r["status"]["errors"] = json!(0);
    });
}

/// Creates the backups of schedules that are due; returns when the next one is due.
fn fire_schedules(st: &mut ClusterState) -> Option<Timestamp> {
    let now = Timestamp::now();
    let schedules: Vec<Value> = st.store.list(&gr("schedules"), Some(NS), None).map(|(_, o)| o.value()).collect();
    let (Some(backups_rt), Some(schedules_rt)) = (
        st.registry.lookup("velero.io", "v1", "backups").cloned(),
        st.registry.lookup("velero.io", "v1", "schedules").cloned(),
    ) else {
        return None;
    };
    let caller = Caller::system("velero-server");
    let mut next: Option<Timestamp> = None;
    for schedule in schedules {
        if schedule.pointer("/spec/paused") == Some(&json!(true)) {
            continue;
        }
        let Ok(cron) = Schedule::parse(&text(&schedule, "/spec/schedule")) else { continue };
        let since = parse(&text(&schedule, "/status/lastBackup"))
            .or_else(|| parse(&text(&schedule, "/metadata/creationTimestamp")))
            .unwrap_or(now);
        let Some(due) = cron.next_after(since) else { continue };
        if due <= now {
            let backup = backup_from_schedule(&schedule, now, st.info.git_version);
            let _ = write::create(st, &caller, &backups_rt, NS, backup);
            let name = text(&schedule, "/metadata/name");
            let _ = write::modify_internal(st, &caller, &schedules_rt, NS, &name, "status", |s| {
                s["status"]["lastBackup"] = json!(rfc3339(now));
                s["status"]["phase"] = json!("Enabled");
            });
            next = Some(next.map_or(now, |n| n.min(now)));
            if let Some(following) = cron.next_after(now) {
                next = Some(next.map_or(following, |n| n.min(following)));
            }
        } else {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
    }
    next
}

/// Deletes backups past their expiration.
fn collect_garbage(st: &mut ClusterState) {
    let Some(rt) = st.registry.lookup("velero.io", "v1", "backups").cloned() else { return };
    let now = Timestamp::now();
    let expired: Vec<String> = st
        .store
        .list(&gr("backups"), Some(NS), None)
        .map(|(k, o)| (k.1.clone(), o.value()))
        .filter(|(_, b)| parse(&text(b, "/status/expiration")).is_some_and(|e| e < now))
        .map(|(n, _)| n)
        .collect();
    for name in expired {
        let _ = write::delete(st, &Caller::system("velero-server"), &rt, NS, &name, &Default::default());
    }
}

/// Backups and restores waiting to be processed (new, or left unfinished).
fn pending(st: &ClusterState, plural: &str) -> Vec<String> {
    st.store
        .list(&gr(plural), Some(NS), None)
        .filter(|(_, o)| {
            let v = o.value();
            matches!(text(&v, "/status/phase").as_str(), "" | "New" | "InProgress")
        })
        .map(|(k, _)| k.1.clone())
        .collect()
}

pub async fn run(cluster: Arc<Cluster>, scenario: Arc<Scenario>, shutdown: CancellationToken) {
    let installed =
        |c: &Cluster| c.lock().store.get(&GroupResource::new("apps", "deployments"), NS, "velero").is_some();
    if !installed(&cluster) {
        shutdown.cancelled().await;
        return;
    }
    let mut running: HashSet<String> = HashSet::new();
    let mut feed = ChangeFeed::new(&cluster);
    let mut housekeeping = tokio::time::interval(Duration::from_secs(60));
    let mut validation = tokio::time::interval(Duration::from_secs(120));
    validation.reset();
    let mut storage_was_down = false;
    loop {
        let next_due = fire_schedules(&mut cluster.lock());
        for (plural, backup) in [("backups", true), ("restores", false)] {
            for name in pending(&cluster.lock(), plural) {
                if running.insert(format!("{plural}/{name}")) {
                    let (c, s, n, sd) = (cluster.clone(), scenario.clone(), name.clone(), shutdown.clone());
                    if backup {
                        tokio::spawn(run_backup(c, s, n, sd));
                    } else {
                        tokio::spawn(run_restore(c, s, n, sd));
                    }
                }
            }
        }
        let wait = next_due
            .map(|d| {
                Duration::try_from(d.duration_since(Timestamp::now())).unwrap_or(Duration::ZERO)
                    + Duration::from_millis(200)
            })
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = housekeeping.tick() => {
                collect_garbage(&mut cluster.lock());
                running.retain(|key| {
                    let (plural, name) = key.split_once('/').unwrap_or_default();
                    pending(&cluster.lock(), plural).iter().any(|n| n == name)
                });
                let down = cluster.velero_storage_down.load(Ordering::Relaxed);
                if down != storage_was_down {
                    validate_storage(&mut cluster.lock(), !down);
                    storage_was_down = down;
                }
            }
            _ = validation.tick() => {
                let down = cluster.velero_storage_down.load(Ordering::Relaxed);
                validate_storage(&mut cluster.lock(), !down);
                storage_was_down = down;
            }
            _ = feed.wait(&cluster, |c| c.gr.group == "velero.io" && (c.gr.resource == "backups" || c.gr.resource == "restores" || c.gr.resource == "schedules")) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn velero_ttls_parse() {
        assert_eq!(ttl("720h0m0s"), Duration::from_secs(720 * 3600));
        assert_eq!(ttl("72h0m0s"), Duration::from_secs(72 * 3600));
        assert_eq!(ttl("30m0s"), Duration::from_secs(1800));
    }

    #[test]
    fn backups_from_schedules_carry_the_template_and_label() {
        let schedule = json!({"metadata": {"name": "daily"}, "spec": {"template": {"ttl": "24h0m0s", "includedNamespaces": ["a"]}}});
        let at: Timestamp = "2026-11-24T01:00:00Z".parse().unwrap();
        let b = backup_from_schedule(&schedule, at, "v1.33.4");
        assert_eq!(b["metadata"]["name"], "daily-20261124010000");
        assert_eq!(b["metadata"]["labels"][SCHEDULE_LABEL], "daily");
        assert_eq!(b["spec"]["includedNamespaces"], json!(["a"]));
        assert_eq!(b["spec"]["storageLocation"], "default");
    }
}
