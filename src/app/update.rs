//! `update`: the one function that changes the model. Pure: it reads no clock (times come
//! in the messages) and does no I/O; what must happen outside comes back as effects.

use super::audit::{Query, event_records, matched};
use super::backups;
use super::model::Model;
use super::msg::{Effect, Msg};
use super::operate;
use super::rows::row_keys;
use crate::action::{Action, Pane};
use crate::audit::feed::Feed;
use crate::cluster::EngineEvent;
use crate::fleet::cluster::Connection;
use crate::fleet::kind::Kind;
use crate::fleet::summary::{ObjectKey, Summary};
use jiff::Timestamp;

/// Applies one message; returns the effects to carry out.
pub fn update(model: &mut Model, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Engine(event) => {
            let effects = apply_event(model, event);
            model.version += 1;
            effects
        }
        Msg::Audit(feed) => {
            match feed {
                Feed::Records(records) => {
                    model.audit.insert(records, false);
                }
                Feed::Status(status) => model.audit.status(status),
            }
            model.version += 1;
            Vec::new()
        }
        Msg::Notice(text) => {
            model.ui.notice = Some((text, model.now));
            model.version += 1;
            Vec::new()
        }
        Msg::Tick(now) => {
            model.now = now;
            operate::tick(model, now);
            if model.ui.wall.as_mut().is_some_and(|w| w.tick(now)) {
                model.version += 1;
            }
            Vec::new()
        }
        Msg::Action(action) => {
            let effects = apply_action(model, action);
            model.version += 1;
            effects
        }
        Msg::FilterEdit(edit) => {
            model.ui.filter.input.handle(edit);
            model.version += 1;
            Vec::new()
        }
        Msg::Page(rows) => {
            model.ui.page = rows.max(1);
            Vec::new()
        }
        Msg::FilterDone => {
            model.ui.filter.editing = false;
            model.version += 1;
            Vec::new()
        }
        Msg::PromptEdit(edit) => {
            model.ui.prompt.handle(edit);
            model.version += 1;
            Vec::new()
        }
        Msg::PromptSubmit => {
            model.version += 1;
            operate::submit(model)
        }
        Msg::PromptCancel => {
            model.version += 1;
            operate::cancel(model);
            Vec::new()
        }
        Msg::Previewed { id, result } => {
            model.version += 1;
            operate::previewed(model, id, result);
            Vec::new()
        }
        Msg::Executed { id, result } => {
            model.version += 1;
            operate::executed(model, id, result);
            Vec::new()
        }
    }
}

/// Hub data the registrations are made of.
fn hub_data(kind: Kind) -> bool {
    matches!(kind, Kind::Kustomization | Kind::SpokeSecret)
}

/// Feeds the propagation log with hub Kustomizations and sources as they arrive (`live`:
/// changes seen while watching, whose arrival times mean something).
fn observe_propagation<'a>(
    model: &mut Model,
    kind: Kind,
    items: impl Iterator<Item = (&'a ObjectKey, &'a Summary)>,
    at: Timestamp,
    live: bool,
) {
    for (key, summary) in items {
        match summary {
            Summary::Kustomization(ks) if kind == Kind::Kustomization => {
                model.propagation.observe_kustomization(key, ks, at, live)
            }
            Summary::Source(source) => model.propagation.observe_source(source, at, live),
            _ => {}
        }
    }
}

/// After the hub's set of a kind changed: forget what is gone from it.
fn forget_gone(model: &mut Model, kind: Kind, id: usize) {
    let hub = &model.clusters[id];
    match kind {
        Kind::Kustomization => model.propagation.retain_kustomizations(|k| hub.kustomizations.contains_key(k)),
        Kind::GitRepository | Kind::OciRepository => model.propagation.retain_sources(|s| hub.sources.contains_key(s)),
        _ => {}
    }
}

fn event_time(event: &EngineEvent) -> Option<jiff::Timestamp> {
    match event {
        EngineEvent::Connected { at, .. } | EngineEvent::Relist { at, .. } | EngineEvent::Changes { at, .. } => {
            Some(*at)
        }
        EngineEvent::ConnectFailed { error, .. } | EngineEvent::WatchFailed { error, .. } => Some(error.at),
        EngineEvent::Probe { sample, .. } => Some(sample.at),
        EngineEvent::WatchStarted { .. } | EngineEvent::NotInstalled { .. } | EngineEvent::Access { .. } => None,
    }
}

/// Kubernetes Events into the timeline; those not seen before are to be kept on disk.
fn keep_events(model: &mut Model, id: usize, event: &EngineEvent) -> Vec<Effect> {
    let name = &model.clusters[id].context;
    let records = match event {
        EngineEvent::Relist { kind: Kind::Event, items, .. } => event_records(name, items.iter().map(|(_, s)| s)),
        EngineEvent::Changes { kind: Kind::Event, changes, .. } => {
            event_records(name, changes.iter().filter_map(|(_, s)| s.as_ref()))
        }
        _ => return Vec::new(),
    };
    let fresh = model.audit.insert(records, true);
    if fresh.is_empty() { Vec::new() } else { vec![Effect::KeepEvents(fresh)] }
}

fn apply_event(model: &mut Model, event: EngineEvent) -> Vec<Effect> {
    if let Some(at) = event_time(&event) {
        model.now = model.now.max(at);
    }
    let id = event.cluster();
    let Some(is_hub) = model.clusters.get(id).map(|c| c.is_hub) else {
        tracing::warn!(cluster = id, "event for an unknown cluster");
        return Vec::new();
    };
    let effects = keep_events(model, id, &event);
    if is_hub {
        match &event {
            EngineEvent::Relist { kind, items, at, .. } => {
                observe_propagation(model, *kind, items.iter().map(|(k, s)| (k, s)), *at, false)
            }
            EngineEvent::Changes { kind, changes, at, .. } => observe_propagation(
                model,
                *kind,
                changes.iter().filter_map(|(k, s)| s.as_ref().map(|s| (k, s))),
                *at,
                true,
            ),
            _ => {}
        }
    }
    let cluster = &mut model.clusters[id];
    let changed_kind = match &event {
        EngineEvent::Relist { kind, .. }
        | EngineEvent::Changes { kind, .. }
        | EngineEvent::NotInstalled { kind, .. } => Some(*kind),
        _ => None,
    };
    let rejoin = match event {
        EngineEvent::Connected { version, uid, at, .. } => {
            cluster.connection = Connection::Connected { at };
            cluster.version = Some(version);
            let changed = cluster.uid != uid;
            cluster.uid = uid;
            cluster.saw_data(at);
            changed
        }
        EngineEvent::ConnectFailed { error, .. } => {
            let (attempts, since) = match &cluster.connection {
                Connection::Failed { attempts, since, .. } => (attempts + 1, *since),
                _ => (1, error.at),
            };
            cluster.connection = Connection::Failed { error, attempts, since };
            false
        }
        EngineEvent::WatchStarted { kind, .. } => {
            cluster.watch_started(kind);
            false
        }
        EngineEvent::Relist { kind, items, at, .. } => {
            cluster.relist(kind, items, at);
            hub_data(kind)
        }
        EngineEvent::Changes { kind, changes, at, .. } => {
            cluster.apply(kind, changes, at);
            hub_data(kind)
        }
        EngineEvent::WatchFailed { kind, error, .. } => {
            cluster.watch_failed(kind, error);
            false
        }
        EngineEvent::NotInstalled { kind, .. } => {
            cluster.not_installed(kind);
            hub_data(kind)
        }
        EngineEvent::Access { writes, .. } => {
            cluster.access = Some(writes);
            false
        }
        EngineEvent::Probe { sample, .. } => {
            if sample.outcome.is_ok() {
                cluster.saw_data(sample.at);
            }
            cluster.probes.record(sample);
            false
        }
    };
    if is_hub && let Some(kind) = changed_kind {
        forget_gone(model, kind, id);
    }
    // What an operator action waits for: Flux on the hub, Velero anywhere.
    if let Some(kind) = changed_kind
        && ((is_hub && kind == Kind::Kustomization) || matches!(kind, Kind::Backup | Kind::Restore))
    {
        operate::observe(model);
    }
    if rejoin {
        model.rejoin();
    }
    effects
}

/// The audit pane's own keys: its cursor, follow, export and opening a record.
fn audit_action(model: &mut Model, action: Action, page: isize) -> Option<Vec<Effect>> {
    let query = Query::parse(model.ui.filter.text());
    let rows = matched(&model.audit, &query);
    let cursor = &mut model.ui.audit;
    match action {
        Action::Up => cursor.step(&rows, -1),
        Action::Down => cursor.step(&rows, 1),
        Action::PageUp => cursor.step(&rows, -page),
        Action::PageDown => cursor.step(&rows, page),
        Action::Top => cursor.step(&rows, isize::MIN / 2),
        Action::Bottom => cursor.step(&rows, isize::MAX / 2),
        Action::Follow => cursor.toggle_follow(),
        Action::Open => {
            if let Some(at) = cursor.position(&rows) {
                model.ui.detail = Some(rows[at].seq.to_string());
                model.ui.detail_scroll = 0;
            }
        }
        Action::Export => {
            let records: Vec<_> = rows.iter().rev().map(|l| l.record.clone()).collect();
            if records.is_empty() {
                model.ui.notice = Some(("nothing to export: no audit record is shown".to_owned(), model.now));
                return Some(Vec::new());
            }
            return Some(vec![Effect::Export(records)]);
        }
        _ => return None,
    }
    Some(Vec::new())
}

/// Moves the selection of the current pane by `delta` rows (clamped).
fn move_selection(model: &mut Model, delta: isize) {
    let keys = row_keys(model, model.ui.pane);
    if keys.is_empty() {
        return;
    }
    let current = model.ui.selected.get(&model.ui.pane).and_then(|k| keys.iter().position(|x| x == k)).unwrap_or(0);
    let next = (current as isize + delta).clamp(0, keys.len() as isize - 1) as usize;
    model.ui.selected.insert(model.ui.pane, keys[next].clone());
}

fn apply_action(model: &mut Model, action: Action) -> Vec<Effect> {
    if action == Action::Quit {
        model.quit = true;
        return vec![Effect::Quit];
    }
    if let Some(wall) = &mut model.ui.wall {
        // A wall has pages and a rotation, nothing else.
        match action {
            Action::NextPane => wall.turn(wall.page.next(), model.now),
            Action::PrevPane => wall.turn(wall.page.prev(), model.now),
            Action::Pause => wall.toggle_pause(model.now),
            _ => {}
        }
        return Vec::new();
    }
    if matches!(action, Action::Copy | Action::CopyCommand) && !model.ui.help {
        return match super::copy::clip(model, action) {
            Some((text, what)) => {
                model.ui.notice = Some((format!("copied the {what}: {text}"), model.now));
                vec![Effect::Copy(text)]
            }
            None => {
                model.ui.notice = Some(("nothing selected to copy".to_owned(), model.now));
                Vec::new()
            }
        };
    }
    if model.ui.help {
        if matches!(action, Action::Help | Action::Back) {
            model.ui.help = false;
        }
        return Vec::new();
    }
    if action.mutates() {
        return operate::start(model, action);
    }
    if model.ui.operation_open {
        // The panel is modal: Esc or Enter closes it (Esc while the dry run runs cancels).
        if matches!(action, Action::Back | Action::Open) {
            if model.operation.as_ref().is_some_and(|o| o.stage == crate::workflow::operation::Stage::Previewing) {
                operate::cancel(model);
            }
            model.ui.operation_open = false;
        }
        return Vec::new();
    }
    let page = model.ui.page.max(1) as isize;
    if model.ui.detail.is_some() {
        match action {
            Action::Back => model.ui.detail = None,
            Action::Up => model.ui.detail_scroll = model.ui.detail_scroll.saturating_sub(1),
            Action::Down => model.ui.detail_scroll += 1,
            Action::PageUp => model.ui.detail_scroll = model.ui.detail_scroll.saturating_sub(page as usize),
            Action::PageDown => model.ui.detail_scroll += page as usize,
            Action::Top => model.ui.detail_scroll = 0,
            Action::Bottom if model.ui.pane == Pane::Backups => model.ui.detail_scroll = usize::MAX / 2,
            Action::Help => model.ui.help = true,
            Action::NextPane | Action::PrevPane | Action::Pane(_) => {
                model.ui.detail = None;
                return apply_action(model, action);
            }
            _ => {}
        }
        // The backups detail moves a cursor over the schedule's backups.
        if model.ui.pane == Pane::Backups
            && let Some(row) = model.ui.detail.as_deref().and_then(|k| backups::row_of_key(model, k, model.now))
        {
            let last = backups::backups_of(model, &row).len().saturating_sub(1);
            model.ui.detail_scroll = model.ui.detail_scroll.min(last);
        }
        return Vec::new();
    }
    if model.ui.pane == Pane::Audit
        && let Some(effects) = audit_action(model, action, page)
    {
        return effects;
    }
    match action {
        Action::Help => model.ui.help = true,
        Action::Copy | Action::CopyCommand | Action::Pause => {}
        Action::NextPane => model.ui.pane = model.ui.pane.next(),
        Action::PrevPane => model.ui.pane = model.ui.pane.prev(),
        Action::Pane(p) => model.ui.pane = p,
        Action::Up => move_selection(model, -1),
        Action::Down => move_selection(model, 1),
        Action::PageUp => move_selection(model, -page),
        Action::PageDown => move_selection(model, page),
        Action::Top => move_selection(model, isize::MIN / 2),
        Action::Bottom => move_selection(model, isize::MAX / 2),
        Action::Open => {
            let pane = model.ui.pane;
            let selected = super::rows::selected_key(model, pane);
            let opens = match pane {
                Pane::Health | Pane::Latency => selected.filter(|n| model.cluster_by_name(n).is_some()),
                // Spokes, and registrations no context reaches (the hub's view of them).
                Pane::Propagation | Pane::Backups => selected,
                Pane::Audit => None,
            };
            if let Some(key) = opens {
                model.ui.detail = Some(key);
                model.ui.detail_scroll = 0;
            }
        }
        Action::Back => {
            if !model.ui.filter.text().is_empty() {
                model.ui.filter = Default::default();
            }
        }
        Action::Filter => model.ui.filter.editing = true,
        // Audit pane keys elsewhere.
        Action::Follow | Action::Export => {}
        Action::Quit | Action::Reconcile | Action::Suspend | Action::Resume | Action::BackupNow | Action::Restore => {}
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;

    use super::*;
    use crate::app::model::ModelSettings;
    use crate::cluster::ContextSpec;
    use crate::fleet::cluster::State;
    use crate::fleet::failure::{ErrorInfo, Failure};
    use crate::fleet::probes::Sample;
    use crate::fleet::summary::{KustomizationSummary, NodeSummary, SpokeSecret, Summary};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn spec(name: &str, hub: bool) -> ContextSpec {
        ContextSpec {
            name: name.into(),
            server: format!("https://{name}"),
            is_hub: hub,
            user: "admin".into(),
            config: Err("test".into()),
        }
    }

    fn model() -> Model {
        Model::new(&[spec("hub", true), spec("prod-a", false), spec("edge", false)], ModelSettings::default(), t(0))
    }

    fn node(name: &str, ready: &str) -> (crate::fleet::summary::ObjectKey, Summary) {
        let n = NodeSummary {
            name: name.into(),
            ready: ready.into(),
            roles: vec![],
            kubelet: "v1.33.4".into(),
            unschedulable: false,
            conditions: vec![],
        };
        (("".into(), name.into()), Summary::Node(n))
    }

    fn connect(m: &mut Model, id: usize) {
        update(
            m,
            Msg::Engine(EngineEvent::Connected {
                cluster: id,
                version: "v1.33.4".into(),
                uid: Some(format!("uid-{id}")),
                at: t(1),
            }),
        );
        let kinds: Vec<Kind> = m.clusters[id].watches.keys().copied().collect();
        for kind in kinds {
            update(m, Msg::Engine(EngineEvent::Relist { cluster: id, kind, items: vec![], at: t(2) }));
        }
        update(
            m,
            Msg::Engine(EngineEvent::Probe {
                cluster: id,
                sample: Sample { at: t(2), outcome: Ok(Duration::from_millis(4)) },
            }),
        );
    }

    #[test]
    fn events_drive_clusters_to_live_and_bump_the_version() {
        let mut m = model();
        let v0 = m.version;
        assert_eq!(m.clusters[1].state(t(1), m.settings.thresholds), State::Connecting);
        connect(&mut m, 1);
        assert!(m.version > v0);
        assert_eq!(m.clusters[1].state(t(3), m.settings.thresholds), State::Live);
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist {
                cluster: 1,
                kind: Kind::Node,
                items: vec![node("n1", "True"), node("n2", "False")],
                at: t(3),
            }),
        );
        assert_eq!(m.clusters[1].node_counts(), (1, 2));
    }

    #[test]
    fn replayed_watch_sequences_relist_drop_and_recover() {
        let mut m = model();
        connect(&mut m, 1);
        let seq = vec![
            EngineEvent::Relist {
                cluster: 1,
                kind: Kind::Node,
                items: vec![node("a", "True"), node("b", "True"), node("c", "True")],
                at: t(3),
            },
            EngineEvent::Changes {
                cluster: 1,
                kind: Kind::Node,
                changes: vec![(("".into(), "b".into()), Some(node("b", "False").1))],
                observed: std::time::Instant::now(),
                at: t(4),
            },
            EngineEvent::WatchFailed {
                cluster: 1,
                kind: Kind::Node,
                error: ErrorInfo::new(Failure::Gone, "watch: 410 Expired", t(5)),
            },
            // The relist after the 410 no longer has `c`: it must be gone, not merged.
            EngineEvent::Relist {
                cluster: 1,
                kind: Kind::Node,
                items: vec![node("a", "True"), node("b", "False")],
                at: t(6),
            },
        ];
        let mut states = Vec::new();
        for e in seq {
            update(&mut m, Msg::Engine(e));
            states.push(m.clusters[1].state(t(6), m.settings.thresholds).label());
        }
        assert_eq!(states, ["Live", "Live", "Degraded", "Live"]);
        assert_eq!(m.clusters[1].node_counts(), (1, 2));
        assert!(!m.clusters[1].nodes.contains_key("c"));
    }

    #[test]
    fn the_hub_join_gives_roles() {
        let mut m = model();
        let ks = KustomizationSummary {
            namespace: "prod-a".into(),
            name: "policies".into(),
            remote: true,
            kubeconfig_secret: Some("cluster-kubeconfig".into()),
            ..Default::default()
        };
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist {
                cluster: 0,
                kind: Kind::Kustomization,
                items: vec![(("prod-a".into(), "policies".into()), Summary::Kustomization(ks.clone()))],
                at: t(1),
            }),
        );
        let ghost = KustomizationSummary { namespace: "gone".into(), ..ks };
        let secret = SpokeSecret { namespace: "gone".into(), name: "cluster-kubeconfig".into(), ..Default::default() };
        update(
            &mut m,
            Msg::Engine(EngineEvent::Changes {
                cluster: 0,
                kind: Kind::Kustomization,
                changes: vec![(("gone".into(), "policies".into()), Some(Summary::Kustomization(ghost)))],
                observed: std::time::Instant::now(),
                at: t(2),
            }),
        );
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist {
                cluster: 0,
                kind: Kind::SpokeSecret,
                items: vec![(("gone".into(), "cluster-kubeconfig".into()), Summary::SpokeSecret(secret))],
                at: t(2),
            }),
        );
        use crate::fleet::registry::Role;
        let roles: Vec<Role> = m.join.roles.iter().map(|r| r.0).collect();
        assert_eq!(roles, [Role::Hub, Role::Spoke, Role::Candidate]);
        assert_eq!(m.join.hub_only.len(), 1);
        assert_eq!(row_keys(&m, Pane::Health), ["hub", "prod-a", "edge", "hub-only:gone"]);
    }

    #[test]
    fn keys_move_open_filter_and_quit() {
        let mut m = model();
        update(&mut m, Msg::Action(Action::Down));
        assert_eq!(m.ui.selected[&Pane::Health], "prod-a");
        update(&mut m, Msg::Action(Action::Bottom));
        assert_eq!(m.ui.selected[&Pane::Health], "edge");
        update(&mut m, Msg::Action(Action::Open));
        assert_eq!(m.ui.detail.as_deref(), Some("edge"));
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!(m.ui.detail, None);
        update(&mut m, Msg::Action(Action::Filter));
        for c in "prod".chars() {
            update(&mut m, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
        }
        update(&mut m, Msg::FilterDone);
        assert_eq!(row_keys(&m, Pane::Health), ["prod-a"]);
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!(row_keys(&m, Pane::Health).len(), 3, "Esc clears the filter");
        update(&mut m, Msg::Action(Action::Pane(Pane::Latency)));
        assert_eq!(m.ui.pane, Pane::Latency);
        update(&mut m, Msg::Action(Action::NextPane));
        assert_eq!(m.ui.pane, Pane::Propagation);
        assert_eq!(update(&mut m, Msg::Action(Action::Quit)), vec![Effect::Quit]);
        assert!(m.quit);
    }
}
