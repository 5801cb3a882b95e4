//! What an operator action will change, before it changes anything: the objects, the
//! patch or the new object for each, and (after a server-side dry run) the fields that
//! would change.
//!
//! Flux's own CLI requests reconciliations and suspends with merge patches, and so does
//! fleetdeck here: a server-side apply of a partial object would drop the fields
//! fleetdeck applied before (a later reconcile request would silently undo a suspend).
//! The field manager is still `fleetdeck`, so managedFields name who changed what.

use serde_json::{Map, Value, json};

use crate::fleet::backup::{BackupSummary, SCHEDULE_LABEL, ScheduleSummary};
use crate::fleet::phase::VeleroPhase;
use crate::fleet::summary::{KustomizationSummary, ObjectKey};

/// The annotation that asks Flux to reconcile now.
pub const REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
/// The field manager of fleetdeck's writes.
pub const FIELD_MANAGER: &str = "fleetdeck";

/// An operator action on a spoke's Kustomizations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Annotate with `reconcile.fluxcd.io/requestedAt`, then wait for
    /// `status.lastHandledReconcileAt` to match.
    Reconcile,
    /// `spec.suspend: true`: Flux stops applying to the spoke.
    Suspend,
    /// `spec.suspend: false` and a reconcile request, as `flux resume` does.
    Resume,
    /// A Velero Backup from a schedule's template, as `velero backup create
    /// --from-schedule` makes it; verified when it finishes.
    BackupNow,
    /// A Velero Restore from a backup onto the cluster that made it, as `velero restore
    /// create --from-backup` makes it; verified when it finishes.
    Restore,
}

impl Op {
    pub const ALL: [Op; 5] = [Op::Reconcile, Op::Suspend, Op::Resume, Op::BackupNow, Op::Restore];

    /// The action a journal entry names (`name`'s inverse).
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The action's name in the journal and its Events: reconcile, suspend, resume,
    /// backup, restore.
    pub fn name(self) -> &'static str {
        match self {
            Op::Reconcile => "reconcile",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
            Op::BackupNow => "backup",
            Op::Restore => "restore",
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Op::Reconcile => "reconcile",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
            Op::BackupNow => "back up",
            Op::Restore => "restore",
        }
    }

    /// Destructive actions need the cluster's name typed to confirm.
    pub fn destructive(self) -> bool {
        matches!(self, Op::Suspend | Op::Restore)
    }

    /// Whether the action creates an object (rather than patching existing ones).
    pub fn creates(self) -> bool {
        matches!(self, Op::BackupNow | Op::Restore)
    }

    /// Whether the action sets the reconcile request annotation (and so is verified by
    /// `lastHandledReconcileAt`).
    pub fn requests_reconcile(self) -> bool {
        matches!(self, Op::Reconcile | Op::Resume)
    }
}

/// The kinds of object fleetdeck writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `kustomize.toolkit.fluxcd.io/v1` Kustomization (on the hub).
    Kustomization,
    /// `velero.io/v1` Backup.
    Backup,
    /// `velero.io/v1` Restore.
    Restore,
}

impl Resource {
    pub fn label(self) -> &'static str {
        match self {
            Resource::Kustomization => "kustomization",
            Resource::Backup => "backup",
            Resource::Restore => "restore",
        }
    }

    /// Group, version, kind and plural.
    pub fn gvk(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Resource::Kustomization => ("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations"),
            Resource::Backup => ("velero.io", "v1", "Backup", "backups"),
            Resource::Restore => ("velero.io", "v1", "Restore", "restores"),
        }
    }
}

/// An object a plan writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kubeconfig context the write goes to.
    pub context: String,
    pub resource: Resource,
    pub key: ObjectKey,
}

impl Target {
    pub fn label(&self) -> String {
        format!("{} {}/{} on {}", self.resource.label(), self.key.0, self.key.1, self.context)
    }
}

/// What is sent for a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// A JSON merge patch of the existing object.
    Patch(Value),
    /// A new object.
    Create(Value),
}

/// An action, its targets, and what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub op: Op,
    /// The cluster it acts on, as the operator types it to confirm destructive actions:
    /// a spoke's name on the hub for Flux actions, the context for Velero ones.
    pub cluster: String,
    pub targets: Vec<Target>,
    /// Objects of the cluster the action does not touch, and why.
    pub skipped: Vec<(ObjectKey, String)>,
    /// What the operator should know before confirming.
    pub notes: Vec<String>,
    /// The object a creating action creates (its one target).
    pub object: Option<Value>,
    /// The spoke's namespace on the hub, where the journal posts its Events (`None`: the
    /// cluster is not a registered spoke; they go to `default`).
    pub hub_namespace: Option<String>,
}

impl Plan {
    /// "suspend production-eu-1 (2 Kustomizations)", "back up hub from daily-full".
    pub fn title(&self) -> String {
        let n = self.targets.len();
        let field = |pointer: &str| {
            self.object.as_ref().and_then(|o| o.pointer(pointer)).and_then(Value::as_str).unwrap_or_default()
        };
        match self.op {
            Op::BackupNow => format!(
                "back up {} from schedule {}",
                self.cluster,
                field(&format!("/metadata/labels/{}", SCHEDULE_LABEL.replace('/', "~1")))
            ),
            Op::Restore => format!("restore {} from {}", self.cluster, field("/spec/backupName")),
            _ => format!("{} {} ({n} Kustomization{})", self.op.verb(), self.cluster, if n == 1 { "" } else { "s" }),
        }
    }

    /// What is sent for every target; `requested_at` is the reconcile request's value.
    pub fn write(&self, requested_at: &str) -> Write {
        let request = || json!({"metadata": {"annotations": {REQUESTED_AT: requested_at}}});
        match self.op {
            Op::Reconcile => Write::Patch(request()),
            Op::Suspend => Write::Patch(json!({"spec": {"suspend": true}})),
            Op::Resume => {
                let mut p = request();
                p["spec"] = json!({"suspend": false});
                Write::Patch(p)
            }
            Op::BackupNow | Op::Restore => Write::Create(self.object.clone().unwrap_or(Value::Null)),
        }
    }
}

/// A Velero name with the time appended, as the velero CLI names what it creates.
fn stamped(prefix: &str, now: jiff::Timestamp) -> String {
    format!("{prefix}-{}", now.strftime("%Y%m%d%H%M%S"))
}

/// Plans a backup now from a schedule's template on `context`, as `velero backup create
/// --from-schedule` does: the template as the spec, the template's labels and the
/// `velero.io/schedule-name` label, and an owner reference when the schedule asks for
/// one. `storage_unavailable` names a storage location known to be down (noted).
pub fn backup_plan(
    context: &str,
    schedule: &ScheduleSummary,
    storage_unavailable: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Plan, String> {
    if schedule.template.is_null() {
        return Err(format!("schedule {} has no backup template", schedule.name));
    }
    let mut spec = schedule.template.clone();
    let template_meta = spec.as_object_mut().and_then(|s| s.remove("metadata"));
    let mut labels = template_meta.and_then(|m| m.get("labels").cloned()).unwrap_or_else(|| json!({}));
    labels[SCHEDULE_LABEL] = json!(schedule.name);
    let name = stamped(&schedule.name, now);
    let mut object = json!({"apiVersion": "velero.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": schedule.namespace, "labels": labels},
        "spec": spec});
    if schedule.owner_references && !schedule.uid.is_empty() {
        object["metadata"]["ownerReferences"] = json!([{"apiVersion": "velero.io/v1", "kind": "Schedule",
            "name": schedule.name, "uid": schedule.uid, "controller": true}]);
    }
    let mut notes = Vec::new();
    if schedule.paused {
        notes.push(format!("schedule {} is paused; this backup runs anyway", schedule.name));
    }
    if let Some(location) = storage_unavailable {
        notes.push(format!("storage location {location} is unavailable: Velero will fail this backup"));
    }
    Ok(Plan {
        op: Op::BackupNow,
        cluster: context.to_owned(),
        targets: vec![Target {
            context: context.to_owned(),
            resource: Resource::Backup,
            key: (schedule.namespace.clone(), name),
        }],
        skipped: Vec::new(),
        notes,
        object: Some(object),
        hub_namespace: None,
    })
}

/// Plans a restore of `backup` onto `context` (the cluster that made it), as `velero
/// restore create --from-backup` does: every namespace the backup holds, existing
/// objects left as they are. Only finished, usable backups can be restored.
pub fn restore_plan(context: &str, backup: &BackupSummary, now: jiff::Timestamp) -> Result<Plan, String> {
    match &backup.phase {
        phase if phase.restorable() => {}
        phase if !phase.finished() => {
            return Err(format!("{} is still running ({phase}): wait for it to finish", backup.name));
        }
        phase => return Err(format!("{} is {phase}: there is nothing to restore from it", backup.name)),
    }
    let name = stamped(&backup.name, now);
    let object = json!({"apiVersion": "velero.io/v1", "kind": "Restore",
        "metadata": {"name": name, "namespace": backup.namespace},
        "spec": {"backupName": backup.name, "includedNamespaces": ["*"], "existingResourcePolicy": "none"}});
    let mut notes = vec![format!(
        "objects that exist on {context} are left as they are (existingResourcePolicy none); missing ones are recreated"
    )];
    if backup.phase == VeleroPhase::PartiallyFailed {
        notes.push(format!("{} partially failed ({} errors): some items are not in it", backup.name, backup.errors));
    }
    if backup.warnings > 0 {
        notes.push(format!("{} completed with {} warnings", backup.name, backup.warnings));
    }
    Ok(Plan {
        op: Op::Restore,
        cluster: context.to_owned(),
        targets: vec![Target {
            context: context.to_owned(),
            resource: Resource::Restore,
            key: (backup.namespace.clone(), name),
        }],
        skipped: Vec::new(),
        notes,
        object: Some(object),
        hub_namespace: None,
    })
}

/// Plans an action on a spoke's Kustomizations (`hub` is the hub's context). Objects the
/// action would not change are skipped with the reason; a plan with no target is an
/// error for the user.
pub fn flux_plan(
    op: Op,
    spoke: &str,
    hub: &str,
    kustomizations: &[(&ObjectKey, &KustomizationSummary)],
) -> Result<Plan, String> {
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (key, ks) in kustomizations {
        let skip = match op {
            Op::Reconcile if ks.suspended => Some("suspended: Flux ignores reconcile requests until it is resumed"),
            Op::Suspend if ks.suspended => Some("already suspended"),
            Op::Resume if !ks.suspended => Some("not suspended"),
            _ => None,
        };
        match skip {
            Some(why) => skipped.push(((*key).clone(), why.to_owned())),
            None => {
                targets.push(Target { context: hub.to_owned(), resource: Resource::Kustomization, key: (*key).clone() })
            }
        }
    }
    if targets.is_empty() {
        let why = match op {
            Op::Reconcile if !skipped.is_empty() => "every Kustomization of it is suspended (resume it first)",
            Op::Suspend if !skipped.is_empty() => "every Kustomization of it is already suspended",
            Op::Resume if !skipped.is_empty() => "none of its Kustomizations is suspended",
            _ => "the hub has no Kustomization for it",
        };
        return Err(format!("nothing to {} on {spoke}: {why}", op.verb()));
    }
    Ok(Plan {
        op,
        cluster: spoke.to_owned(),
        targets,
        skipped,
        notes: Vec::new(),
        object: None,
        hub_namespace: Some(spoke.to_owned()),
    })
}

/// One field the dry run says would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// "spec.suspend", "metadata.annotations[reconcile.fluxcd.io/requestedAt]".
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What the server-side dry run said of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPreview {
    pub target: Target,
    /// The changes, or why the server refused the dry run.
    pub outcome: Result<Vec<FieldChange>, String>,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A side of a comparison as a map: an object, or nothing (empty); `None` for scalars.
fn as_map<'a>(v: Option<&'a Value>, empty: &'a Map<String, Value>) -> Option<&'a Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => Some(empty),
        _ => None,
    }
}

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    let empty = Map::new();
    match (as_map(before, &empty), as_map(after, &empty)) {
        // Objects on both sides, or an object where there was none (a new object's
        // fields, one by one).
        (Some(a), Some(b)) if before.is_some_and(Value::is_object) || after.is_some_and(Value::is_object) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&format!("{path}.{k}"), a.get(k), b.get(k), out);
            }
        }
        _ if before != after => out.push(FieldChange {
            path: path.to_owned(),
            before: before.filter(|v| !v.is_null()).map(scalar),
            after: after.filter(|v| !v.is_null()).map(scalar),
        }),
        _ => {}
    }
}

/// The fields of `spec`, annotations and labels that differ between an object and what
/// the dry run returned (status and bookkeeping such as `managedFields` are left out).
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("spec", before.get("spec"), after.get("spec"), &mut out);
    for part in ["annotations", "labels"] {
        let (a, b) = (before.pointer(&format!("/metadata/{part}")), after.pointer(&format!("/metadata/{part}")));
        let empty = Value::Object(Map::new());
        let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
        if let (Value::Object(a), Value::Object(b)) = (a, b) {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if a.get(k) != b.get(k) {
                    out.push(FieldChange {
                        path: format!("metadata.{part}[{k}]"),
                        before: a.get(k).map(scalar),
                        after: b.get(k).map(scalar),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(name: &str, suspended: bool) -> (ObjectKey, KustomizationSummary) {
        let s = KustomizationSummary { namespace: "prod-a".into(), name: name.into(), suspended, ..Default::default() };
        (("prod-a".into(), name.into()), s)
    }

    fn plan(op: Op, objects: &[(ObjectKey, KustomizationSummary)]) -> Result<Plan, String> {
        let refs: Vec<(&ObjectKey, &KustomizationSummary)> = objects.iter().map(|(k, s)| (k, s)).collect();
        flux_plan(op, "prod-a", "hub", &refs)
    }

    #[test]
    fn plans_skip_what_the_action_would_not_change() {
        let objects = [ks("policies", false), ks("config", true)];
        let r = plan(Op::Reconcile, &objects).unwrap();
        assert_eq!(r.targets.len(), 1);
        assert_eq!(r.skipped[0].0.1, "config");
        assert_eq!(r.title(), "reconcile prod-a (1 Kustomization)");
        assert_eq!(plan(Op::Resume, &objects).unwrap().targets[0].key.1, "config");
        let err = plan(Op::Suspend, &[ks("config", true)]).unwrap_err();
        assert!(err.contains("already suspended"), "{err}");
        assert!(plan(Op::Reconcile, &[]).unwrap_err().contains("no Kustomization"));
        assert!(Op::Suspend.destructive() && !Op::Reconcile.destructive());
    }

    #[test]
    fn patches_are_what_the_flux_cli_sends() {
        let p = plan(Op::Resume, &[ks("policies", true)]).unwrap();
        assert_eq!(
            p.write("2026-11-24T10:00:00.123456789Z"),
            Write::Patch(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-11-24T10:00:00.123456789Z"}},
                "spec": {"suspend": false}})
            )
        );
        let s = plan(Op::Suspend, &[ks("policies", false)]).unwrap();
        assert_eq!(s.write("x"), Write::Patch(json!({"spec": {"suspend": true}})));
    }

    #[test]
    fn the_diff_shows_spec_and_annotation_changes_only() {
        let before = json!({"metadata": {"name": "policies", "resourceVersion": "1", "annotations": {"a": "1"}},
            "spec": {"interval": "10m", "suspend": false, "sourceRef": {"kind": "GitRepository"}}, "status": {"x": 1}});
        let after = json!({"metadata": {"name": "policies", "resourceVersion": "2", "managedFields": [],
                "annotations": {"a": "1", "reconcile.fluxcd.io/requestedAt": "now"}},
            "spec": {"interval": "10m", "suspend": true, "sourceRef": {"kind": "GitRepository"}}, "status": {"x": 2}});
        let changes = diff(&before, &after);
        assert_eq!(
            changes,
            [
                FieldChange { path: "spec.suspend".into(), before: Some("false".into()), after: Some("true".into()) },
                FieldChange {
                    path: "metadata.annotations[reconcile.fluxcd.io/requestedAt]".into(),
                    before: None,
                    after: Some("now".into())
                },
            ]
        );
        let added = diff(&json!({"spec": {}}), &json!({"spec": {"suspend": true}}));
        assert_eq!(added[0].before, None);
        // A new object: each of its fields, one by one.
        let created = diff(&json!({}), &json!({"spec": {"backupName": "b", "includedNamespaces": ["*"]}}));
        assert_eq!(
            created.iter().map(|c| (c.path.as_str(), c.after.as_deref())).collect::<Vec<_>>(),
            [("spec.backupName", Some("b")), ("spec.includedNamespaces", Some("[\"*\"]"))]
        );
    }

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_backup_from_a_schedule_is_what_velero_backup_create_from_schedule_makes() {
        let schedule = ScheduleSummary::fold(
            &json!({"metadata": {"name": "daily-full", "namespace": "velero", "uid": "u-1"},
            "spec": {"schedule": "0 1 * * *", "useOwnerReferencesInBackup": true, "paused": true,
                "template": {"ttl": "720h0m0s", "includedNamespaces": ["payments"], "metadata": {"labels": {"tier": "gold"}}}}}),
        );
        let plan = backup_plan("production-eu-1", &schedule, Some("default"), at("2026-11-24T10:03:20Z")).unwrap();
        let Write::Create(object) = plan.write("") else { panic!("a create") };
        assert_eq!(object["metadata"]["name"], "daily-full-20261124100320");
        assert_eq!(object["metadata"]["labels"], json!({"tier": "gold", "velero.io/schedule-name": "daily-full"}));
        assert_eq!(object["spec"], json!({"ttl": "720h0m0s", "includedNamespaces": ["payments"]}));
        assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "u-1");
        assert_eq!(plan.title(), "back up production-eu-1 from schedule daily-full");
        assert_eq!(plan.targets[0].label(), "backup velero/daily-full-20261124100320 on production-eu-1");
        assert_eq!(plan.notes.len(), 2, "paused and storage down: {:?}", plan.notes);
        assert!(!Op::BackupNow.destructive());
    }

    #[test]
    fn a_restore_needs_a_usable_backup_and_the_cluster_typed() {
        let backup = |phase: &str| BackupSummary {
            namespace: "velero".into(),
            name: "daily-full-20261124010000".into(),
            phase: VeleroPhase::parse(phase),
            errors: 2,
            ..Default::default()
        };
        let plan = restore_plan("production-eu-1", &backup("PartiallyFailed"), at("2026-11-24T10:03:20Z")).unwrap();
        let Write::Create(object) = plan.write("") else { panic!("a create") };
        assert_eq!(object["kind"], "Restore");
        assert_eq!(object["metadata"]["name"], "daily-full-20261124010000-20261124100320");
        assert_eq!(object["spec"]["backupName"], "daily-full-20261124010000");
        assert_eq!(plan.title(), "restore production-eu-1 from daily-full-20261124010000");
        assert!(plan.notes.iter().any(|n| n.contains("partially failed")));
        assert!(Op::Restore.destructive(), "the cluster's name is typed to confirm");
        assert!(
            restore_plan("c", &backup("Failed"), at("2026-11-24T10:03:20Z"))
                .unwrap_err()
                .contains("nothing to restore")
        );
        assert!(
            restore_plan("c", &backup("InProgress"), at("2026-11-24T10:03:20Z")).unwrap_err().contains("still running")
        );
    }
}
