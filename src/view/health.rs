//! The health pane: one row per cluster, hub first, then registrations no context reaches.

use jiff::Timestamp;

use super::format::{age, percent, truncate};
use super::table::{Cell, ColumnSpec, TableVm, Tone};
use crate::action::Pane;
use crate::app::model::Model;
use crate::derive::cluster::ClusterView;
use crate::derive::{Derived, RowKey};
use crate::fleet::ago;
use crate::fleet::cluster::{ClusterModel, State, WatchState};
use crate::fleet::failure::ErrorInfo;
use crate::fleet::kind::Kind;
use crate::fleet::registry::Role;
use crate::fleet::state::ClusterId;
use crate::view::propagation;

pub const COLUMNS: [ColumnSpec; 12] = [
    ColumnSpec::new("NAME", 18, 0),
    ColumnSpec::new("ROLE", 9, 1),
    // Room for the state's cause (`Unreachable 75s · refused`) before the less telling
    // columns.
    ColumnSpec::new("STATE", 15, 0).grow(12, 3),
    ColumnSpec::new("VERSION", 8, 3),
    ColumnSpec::new("NODES", 5, 1).right(),
    ColumnSpec::new("IDENTITY", 9, 6),
    ColumnSpec::new("FLUX", 8, 4),
    ColumnSpec::new("VELERO", 8, 4),
    ColumnSpec::new("SYNC", 11, 2),
    ColumnSpec::new("AVAIL", 8, 2).right(),
    ColumnSpec::new("FRESH", 8, 2),
    ColumnSpec::new("LAST ERROR", 14, 5).flex(),
];

/// The state cell: its label, how long it has lasted when that matters, and its tone.
pub fn state_cell(state: &State, now: Timestamp) -> Cell {
    match state {
        State::Live => Cell::new("Live", Tone::Ok),
        State::Syncing => Cell::new("Syncing", Tone::Muted),
        State::Connecting => Cell::new("Connecting", Tone::Muted),
        State::Degraded { since: s, error } => caused(format!("Degraded {}", age(ago(now, *s))), error, Tone::Warn),
        State::Unreachable { since: s, error } => {
            caused(format!("Unreachable {}", age(ago(now, *s))), error, Tone::Crit)
        }
        State::Unauthorized { error } => caused("Unauthorized".to_owned(), error, Tone::Crit),
        State::Misconfigured { error } => caused("Misconfigured".to_owned(), error, Tone::Crit),
    }
}

/// A state with its short cause (`Unreachable 75s · refused`), the state alone where the
/// column is too narrow for both.
fn caused(state: String, error: &ErrorInfo, tone: Tone) -> Cell {
    let cause = error.cause();
    if state.to_lowercase().contains(&cause) {
        return Cell::new(state, tone);
    }
    Cell::new(format!("{state} · {cause}"), tone).or_short(state)
}

/// Whether a component (Flux, Velero) runs: "ready", "degraded", or "—".
fn component_cell(cluster: &ClusterModel, namespace: &str) -> Cell {
    let synced = cluster.watches.get(&Kind::Deployment).is_some_and(|w| w.state == WatchState::Synced);
    match cluster.component(namespace) {
        Some(true) => Cell::new("ready", Tone::Ok),
        Some(false) => Cell::new("degraded", Tone::Warn),
        None if synced => Cell::muted("—"),
        None => Cell::muted("…"),
    }
}

/// The identity cell: the kube-system UID, short, flagged when it differs from the hub's
/// record of the spoke.
fn identity_cell(model: &Model, id: ClusterId) -> Cell {
    let fleet = &model.fleet;
    let Some(uid) = &fleet.clusters()[id].uid else { return Cell::muted("—") };
    let short: String = uid.chars().take(8).collect();
    let recorded = fleet.registration_of(id).and_then(|r| r.secret.as_ref()).and_then(|s| s.cluster_uid.as_deref());
    match recorded {
        // The context reaches another cluster than the one the hub registered.
        Some(hub_uid) if hub_uid != uid => Cell::new("MISMATCH", Tone::Crit),
        _ => Cell::plain(short),
    }
}

/// The SYNC cell: the spoke's Kustomizations (the hub's own for the hub).
fn sync_cell(model: &Model, derived: &Derived, v: &ClusterView) -> Cell {
    let (now, target) = (model.now, model.fleet.settings.propagation_target);
    match &v.rows.sync {
        None => propagation::health_cell(derived.shared.hub_own.iter().map(|c| &c.state), true, now, target),
        Some(row) => propagation::health_cell(row.present().map(|c| &c.state), row.registered(), now, target),
    }
}

fn cluster_row(model: &Model, derived: &Derived, v: &ClusterView) -> Vec<Cell> {
    let now = model.now;
    let c = &model.fleet.clusters()[v.id];
    let settings = &model.fleet.settings;
    let (ready, total) = c.node_counts();
    // The last known counts stay, marked stale while the watch is not synced.
    let nodes = match c.watches.get(&Kind::Node) {
        Some(w) if w.state == WatchState::Synced => {
            Cell::new(format!("{ready}/{total}"), if ready < total { Tone::Warn } else { Tone::Normal })
        }
        Some(w) if w.synced_at.is_some() => Cell::new(format!("{ready}/{total}"), Tone::Stale),
        _ => Cell::muted("…"),
    };
    let avail = match v.availability {
        Some(a) => Cell::new(percent(a), if a < settings.availability_target { Tone::Crit } else { Tone::Ok }),
        None => Cell::muted("—"),
    };
    let fresh = match c.data_age(now) {
        Some(a) if v.stale => Cell::new(format!("stale {}", age(a)), Tone::Stale).or_short("stale"),
        Some(a) => Cell::plain(age(a)),
        None => Cell::muted("—"),
    };
    let error = v.state.error().cloned().or_else(|| c.last_error().cloned());
    let last_error = match error {
        Some(e) => Cell::new(
            truncate(&format!("{} ({})", e.message, age(ago(now, e.at))), 200),
            if v.state.error().is_some() { Tone::Crit } else { Tone::Muted },
        ),
        None => Cell::muted("—"),
    };
    vec![
        Cell::new(c.context.clone(), if c.is_hub { Tone::Accent } else { Tone::Normal }),
        Cell::plain(v.role.role().label()),
        state_cell(&v.state, now),
        c.version.clone().map_or_else(|| Cell::muted("—"), Cell::plain),
        nodes,
        identity_cell(model, v.id),
        component_cell(c, "flux-system"),
        component_cell(c, "velero"),
        sync_cell(model, derived, v),
        avail,
        fresh,
        last_error,
    ]
}

fn hub_only_row(name: &str, sync: Cell) -> Vec<Cell> {
    let none = || Cell::muted("—");
    vec![
        Cell::plain(name.to_owned()),
        Cell::new(Role::HubOnly.label(), Tone::Warn),
        Cell::new("no context", Tone::Warn),
        none(),
        none(),
        none(),
        none(),
        none(),
        sync,
        none(),
        none(),
        Cell::muted("registered on the hub; no local context reaches it"),
    ]
}

/// The cells of a row of the health pane.
fn row(model: &Model, derived: &Derived, key: &RowKey) -> Vec<Cell> {
    let target = model.fleet.settings.propagation_target;
    match (key, derived.spoke_row(key)) {
        (RowKey::Cluster(id), _) => match derived.cluster(*id) {
            Some(v) => cluster_row(model, derived, v),
            None => Vec::new(),
        },
        (RowKey::HubOnly(name), Some(r)) => {
            hub_only_row(name, propagation::health_cell(r.present().map(|c| &c.state), true, model.now, target))
        }
        (RowKey::HubOnly(name), None) => hub_only_row(name, Cell::muted("—")),
        _ => Vec::new(),
    }
}

pub fn table(model: &Model, derived: &Derived, width: u16, height: usize) -> TableVm {
    let keys = derived.keys(&model.fleet, Pane::Health, model.ui.filter.text());
    let selected = super::selection(model, Pane::Health, &keys);
    let mut t = TableVm::window(&COLUMNS, width, height, keys.len(), selected, |visible| {
        keys[visible].iter().map(|k| row(model, derived, k)).collect()
    });
    if t.total == 0 {
        t.empty = Some(if model.ui.filter.text().is_empty() {
            "no clusters".into()
        } else {
            format!("no cluster matches \"{}\"", model.ui.filter.text())
        });
    }
    t
}
