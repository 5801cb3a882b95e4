//! What the copy keys put on the clipboard: the selected row's name, or a ready kubectl
//! command about it (shell-quoted), for the runtime to send as OSC 52.

use super::audit::{Query, matched};
use super::model::Model;
use super::update::selected;
use crate::action::{Action, Pane};
use crate::derive::RowKey;

/// A word for a POSIX shell (a NUL, which no shell word can hold, is dropped).
fn quote(word: &str) -> String {
    let word = word.replace('\0', "");
    shlex::try_quote(&word).map(|q| q.into_owned()).unwrap_or(word)
}

fn kubectl(context: &str, rest: &[&str]) -> String {
    let mut words = vec!["kubectl".to_owned(), "--context".to_owned(), quote(context)];
    words.extend(rest.iter().map(|w| quote(w)));
    words.join(" ")
}

const KUSTOMIZATIONS: &str = "kustomizations.kustomize.toolkit.fluxcd.io";

/// A cluster row: its name and the command to look at it.
fn cluster(model: &Model, key: &RowKey, pane: Pane) -> Option<(String, String)> {
    let fleet = &model.fleet;
    let hub = fleet.hub().map(|h| h.context.clone());
    let id = match key {
        RowKey::Cluster(id) => *id,
        // A registration no context reaches: the hub knows it by its namespace.
        RowKey::HubOnly(name) => return Some((name.clone(), kubectl(&hub?, &["get", KUSTOMIZATIONS, "-n", name]))),
        _ => return None,
    };
    let c = fleet.cluster(id)?;
    let command = match (pane, fleet.registration_of(id), hub) {
        (Pane::Propagation, Some(r), Some(hub)) => kubectl(&hub, &["get", KUSTOMIZATIONS, "-n", &r.name]),
        (Pane::Propagation, _, _) => kubectl(&c.context, &["get", KUSTOMIZATIONS, "-A"]),
        _ => kubectl(&c.context, &["get", "nodes"]),
    };
    Some((c.context.clone(), command))
}

/// The text a copy action puts on the clipboard, and what it is (for the notice).
pub fn clip(model: &mut Model, action: Action) -> Option<(String, &'static str)> {
    let pane = model.ui.pane;
    // The open detail's row, else the pane's selection.
    let key = match model.ui.detail.clone() {
        Some(key) => Some(key),
        None if pane == Pane::Audit => None,
        None => selected(model, pane),
    };
    let (name, command) = match pane {
        Pane::Health | Pane::Latency | Pane::Propagation => cluster(model, &key?, pane)?,
        Pane::Backups => {
            let derived = model.derived();
            let row = derived.backup_row(&key?)?;
            let context = &model.fleet.clusters()[row.cluster].context;
            match row.schedule() {
                Some((ns, name)) => {
                    let selector = format!("velero.io/schedule-name={name}");
                    (name.clone(), kubectl(context, &["get", "backups.velero.io", "-n", ns, "-l", &selector]))
                }
                None => (context.clone(), kubectl(context, &["get", "schedules.velero.io", "-A"])),
            }
        }
        Pane::Runs => {
            let Some(RowKey::Run(id)) = key else { return None };
            let run = super::runs::run_by_id(model, &id)?;
            let name = format!("run-{id}");
            let path = "jsonpath={.data.run\\.json}".to_owned();
            (
                id.clone(),
                kubectl(&run.hub, &["get", "configmap", "-n", crate::fleet::run::RUN_NAMESPACE, &name, "-o", &path]),
            )
        }
        Pane::Audit => {
            let (rows, _) = matched(&model.audit, &Query::parse(model.ui.filter.text()), model.ui.audit.reads);
            let line = match key {
                Some(RowKey::Audit(seq)) => model.audit.by_seq(seq)?,
                _ => rows.get(model.ui.audit.position(&rows)?)?,
            };
            let r = &line.record;
            let mut words = vec!["get", r.resource.split('/').next().unwrap_or("")];
            if !r.namespace.is_empty() {
                words.extend(["-n", r.namespace.as_str()]);
            }
            if !r.name.is_empty() {
                words.push(r.name.as_str());
            }
            let name = if r.object().is_empty() { r.cluster.to_string() } else { r.object() };
            if r.resource.is_empty() {
                (name, kubectl(&r.cluster, &["get", "events", "-A"]))
            } else {
                (name, kubectl(&r.cluster, &words))
            }
        }
    };
    match action {
        Action::CopyCommand => Some((command, "kubectl command")),
        _ => Some((name, "name")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_shell_quoted() {
        assert_eq!(kubectl("prod-eu-1", &["get", "nodes"]), "kubectl --context prod-eu-1 get nodes");
        assert_eq!(
            kubectl("arn:aws:eks:eu-west-1:1:cluster/prod two", &["get", "nodes"]),
            "kubectl --context 'arn:aws:eks:eu-west-1:1:cluster/prod two' get nodes"
        );
    }
}
