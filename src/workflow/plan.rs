//! What an operator action will change, before it changes anything: the objects, the
//! patch for each, and (after a server-side dry run) the fields that would change.
//!
//! Flux's own CLI requests reconciliations and suspends with merge patches, and so does
//! fleetdeck here: a server-side apply of a partial object would drop the fields
//! fleetdeck applied before (a later reconcile request would silently undo a suspend).
//! The field manager is still `fleetdeck`, so managedFields name who changed what.

use serde_json::{Map, Value, json};

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
}

impl Op {
    pub fn verb(self) -> &'static str {
        match self {
            Op::Reconcile => "reconcile",
            Op::Suspend => "suspend",
            Op::Resume => "resume",
        }
    }

    /// Destructive actions need the spoke's name typed to confirm.
    pub fn destructive(self) -> bool {
        self == Op::Suspend
    }

    /// Whether the action sets the reconcile request annotation (and so is verified by
    /// `lastHandledReconcileAt`).
    pub fn requests_reconcile(self) -> bool {
        matches!(self, Op::Reconcile | Op::Resume)
    }
}

/// An object a plan writes: a Flux Kustomization on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kubeconfig context the write goes to.
    pub context: String,
    pub key: ObjectKey,
}

impl Target {
    pub fn label(&self) -> String {
        format!("kustomization {}/{} on {}", self.key.0, self.key.1, self.context)
    }
}

/// An action, its targets, and what it leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub op: Op,
    /// The spoke it acts on (typed to confirm destructive actions).
    pub spoke: String,
    pub targets: Vec<Target>,
    /// Kustomizations of the spoke the action does not touch, and why.
    pub skipped: Vec<(ObjectKey, String)>,
}

impl Plan {
    /// "suspend production-eu-1 (2 Kustomizations)".
    pub fn title(&self) -> String {
        let n = self.targets.len();
        format!("{} {} ({n} Kustomization{})", self.op.verb(), self.spoke, if n == 1 { "" } else { "s" })
    }

    /// The merge patch of every target; `requested_at` is the reconcile request's value.
    pub fn patch(&self, requested_at: &str) -> Value {
        let request = || json!({"metadata": {"annotations": {REQUESTED_AT: requested_at}}});
        match self.op {
            Op::Reconcile => request(),
            Op::Suspend => json!({"spec": {"suspend": true}}),
            Op::Resume => {
                let mut p = request();
                p["spec"] = json!({"suspend": false});
                p
            }
        }
    }
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
            None => targets.push(Target { context: hub.to_owned(), key: (*key).clone() }),
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
    Ok(Plan { op, spoke: spoke.to_owned(), targets, skipped })
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

fn walk(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let empty = Map::new();
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                walk(&format!("{path}.{k}"), a.get(k).or(empty.get(k)), b.get(k), out);
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            path: path.to_owned(),
            before: a.filter(|v| !v.is_null()).map(scalar),
            after: b.filter(|v| !v.is_null()).map(scalar),
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
            p.patch("2026-11-24T10:00:00.123456789Z"),
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "2026-11-24T10:00:00.123456789Z"}},
                "spec": {"suspend": false}})
        );
        let s = plan(Op::Suspend, &[ks("policies", false)]).unwrap();
        assert_eq!(s.patch("x"), json!({"spec": {"suspend": true}}));
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
    }
}
