//! What the copy keys put on the clipboard: the selected row's name, or a ready kubectl
//! command about it (shell-quoted), for the runtime to send as OSC 52.

use super::audit::{Query, matched};
use super::backups;
use super::model::Model;
use super::rows::selected_key;
use crate::action::{Action, Pane};
use crate::fleet::registry::Role;

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

/// The selected row's key: the open detail's, else the pane's selection.
fn selected(model: &Model) -> Option<String> {
    model.ui.detail.clone().or_else(|| selected_key(model, model.ui.pane))
}

/// A cluster row: its name and the command to look at it.
fn cluster(model: &Model, key: &str, pane: Pane) -> Option<(String, String)> {
    let hub = model.hub().map(|h| h.context.clone());
    let Some((index, c)) = model.cluster_by_name(key) else {
        // A registration no context reaches: the hub knows it by its namespace.
        let name = key.strip_prefix("hub-only:")?.to_owned();
        let command = kubectl(&hub?, &["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", &name]);
        return Some((name, command));
    };
    let command = match pane {
        Pane::Propagation => {
            let registration =
                model.join.roles.get(index).and_then(|(role, r)| (*role == Role::Spoke).then_some(*r)?);
            match (registration.and_then(|(r, _)| model.registrations.get(r)), hub) {
                (Some(r), Some(hub)) => {
                    kubectl(&hub, &["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", &r.name])
                }
                _ => kubectl(&c.context, &["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A"]),
            }
        }
        _ => kubectl(&c.context, &["get", "nodes"]),
    };
    Some((c.context.clone(), command))
}

/// The text a copy action puts on the clipboard, and what it is (for the notice).
pub fn clip(model: &Model, action: Action) -> Option<(String, &'static str)> {
    let pane = model.ui.pane;
    let (name, command) = match pane {
        Pane::Health | Pane::Latency | Pane::Propagation => cluster(model, &selected(model)?, pane)?,
        Pane::Backups => {
            let row = backups::row_of_key(model, &selected(model)?, model.now)?;
            let context = &model.clusters[row.cluster].context;
            match row.schedule() {
                Some((ns, name)) => {
                    let selector = format!("velero.io/schedule-name={name}");
                    (name.clone(), kubectl(context, &["get", "backups.velero.io", "-n", ns, "-l", &selector]))
                }
                None => (context.clone(), kubectl(context, &["get", "schedules.velero.io", "-A"])),
            }
        }
        Pane::Audit => {
            let rows = matched(&model.audit, &Query::parse(model.ui.filter.text()));
            let line = match model.ui.detail.as_deref().and_then(|s| s.parse().ok()) {
                Some(seq) => model.audit.by_seq(seq)?,
                None => rows.get(model.ui.audit.position(&rows)?)?,
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
