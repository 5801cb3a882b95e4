//! The rows of each pane, in order, after the filter: one definition that `update`
//! moves the selection through and views draw.

use super::model::Model;
use crate::action::Pane;
use crate::fleet::registry::Role;

/// The key of a registration no context reaches.
pub fn hub_only_key(name: &str) -> String {
    format!("hub-only:{name}")
}

/// The searchable text of a cluster row.
fn cluster_text(model: &Model, index: usize) -> String {
    let c = &model.clusters[index];
    let role = model.join.roles.get(index).map_or("", |r| r.0.label());
    let state = c.state(model.now, model.settings.thresholds);
    format!("{} {} {} {}", c.context, role, state.label(), c.version.as_deref().unwrap_or(""))
}

/// Cluster indices in display order: the hub first, then the others as given.
pub fn cluster_order(model: &Model) -> Vec<usize> {
    let mut order: Vec<usize> = (0..model.clusters.len()).collect();
    order.sort_by_key(|&i| !model.clusters[i].is_hub);
    order
}

/// The keys of registrations no context reaches, filtered.
fn hub_only_keys(model: &Model) -> impl Iterator<Item = String> + '_ {
    model.join.hub_only.iter().filter_map(|&r| {
        let name = &model.registrations[r].name;
        model.ui.filter.admits(&format!("{name} {}", Role::HubOnly.label())).then(|| hub_only_key(name))
    })
}

/// The row keys of a pane, filtered.
pub fn row_keys(model: &Model, pane: Pane) -> Vec<String> {
    let filter = &model.ui.filter;
    match pane {
        Pane::Health => {
            let mut keys: Vec<String> = cluster_order(model)
                .into_iter()
                .filter(|&i| filter.admits(&cluster_text(model, i)))
                .map(|i| model.clusters[i].context.clone())
                .collect();
            keys.extend(hub_only_keys(model));
            keys
        }
        Pane::Latency => cluster_order(model)
            .into_iter()
            .filter(|&i| filter.admits(&cluster_text(model, i)))
            .map(|i| model.clusters[i].context.clone())
            .collect(),
        Pane::Propagation => {
            let mut keys: Vec<String> = cluster_order(model)
                .into_iter()
                .filter(|&i| !model.clusters[i].is_hub && filter.admits(&cluster_text(model, i)))
                .map(|i| model.clusters[i].context.clone())
                .collect();
            keys.extend(hub_only_keys(model));
            keys
        }
        Pane::Backups => super::backups::rows(model, model.now).iter().map(|r| r.key(model)).collect(),
        Pane::Audit => Vec::new(),
    }
}

/// The selected row's key in a pane: the stored one if still listed, else the first.
pub fn selected_key(model: &Model, pane: Pane) -> Option<String> {
    let keys = row_keys(model, pane);
    model.ui.selected.get(&pane).filter(|k| keys.contains(k)).cloned().or_else(|| keys.first().cloned())
}
