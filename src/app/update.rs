//! `update`: the one function that changes the model. Pure: it reads no clock (times come
//! in the messages) and does no I/O; what must happen outside comes back as effects.
//! Selections move through the derived rows, so what a key moves over is what is drawn.

use super::audit::{Query, event_records, matched};
use super::model::Model;
use super::msg::{Effect, Msg};
use super::operate;
use super::runs;
use crate::action::{Action, Pane};
use crate::audit::feed::Feed;
use crate::cluster::EngineEvent;
use crate::derive::RowKey;
use crate::derive::backups::backups_of;
use crate::fleet::cluster::{Connection, WatchState};
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
            model.now = model.now.max(now);
            operate::tick(model, now);
            if model.ui.wall.as_mut().is_some_and(|w| w.tick(now)) {
                model.version += 1;
            }
            post_triggers(model)
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
            if runs::prompting(model) { runs::submit(model) } else { operate::submit(model) }
        }
        Msg::PromptCancel => {
            model.version += 1;
            if runs::prompting(model) {
                return runs::cancel(model);
            }
            operate::cancel(model);
            Vec::new()
        }
        Msg::CommandEdit(edit) => {
            if let Some(line) = model.ui.command.as_mut() {
                line.handle(edit);
            }
            model.version += 1;
            Vec::new()
        }
        Msg::CommandComplete => {
            let line = model.ui.command.as_ref().map(|l| l.value().to_owned()).unwrap_or_default();
            if let Some(done) = runs::complete(model, &line) {
                model.ui.command = Some(tui_input::Input::new(done));
            }
            model.version += 1;
            Vec::new()
        }
        Msg::CommandCancel => {
            model.ui.command = None;
            model.version += 1;
            Vec::new()
        }
        Msg::CommandSubmit => {
            let line = model.ui.command.take().map(|l| l.value().to_owned()).unwrap_or_default();
            model.version += 1;
            runs::command(model, &line)
        }
        Msg::Run(report) => {
            runs::report(model, report);
            model.version += 1;
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

/// Hub data every spoke's propagation row is made of.
fn flux_data(kind: Kind) -> bool {
    matches!(kind, Kind::Kustomization | Kind::GitRepository | Kind::OciRepository | Kind::SpokeSecret)
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
    let log = model.fleet.propagation_mut();
    for (key, summary) in items {
        match summary {
            Summary::Kustomization(ks) if kind == Kind::Kustomization => log.observe_kustomization(key, ks, at, live),
            Summary::Source(source) => log.observe_source(source, at, live),
            _ => {}
        }
    }
}

/// After the hub's set of a kind changed: forget what is gone from it.
fn forget_gone(model: &mut Model, kind: Kind) {
    let Some(hub) = model.fleet.hub() else { return };
    let (kustomizations, sources) = (hub.kustomizations.clone(), hub.sources.clone());
    let log = model.fleet.propagation_mut();
    match kind {
        Kind::Kustomization => log.retain_kustomizations(|k| kustomizations.contains_key(k)),
        Kind::GitRepository | Kind::OciRepository => log.retain_sources(|s| sources.contains_key(s)),
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
        EngineEvent::WatchStarted { .. }
        | EngineEvent::NotInstalled { .. }
        | EngineEvent::Access { .. }
        | EngineEvent::ProbesAt { .. } => None,
    }
}

/// Kubernetes Events into the timeline; those not seen before are to be kept on disk.
fn keep_events(model: &mut Model, name: &str, event: &EngineEvent) -> Vec<Effect> {
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
    let Some((is_hub, name)) = model.fleet.cluster(id).map(|c| (c.is_hub, c.context.clone())) else {
        tracing::warn!(cluster = id, "event for an unknown cluster");
        return Vec::new();
    };
    let effects = keep_events(model, &name, &event);
    if is_hub {
        match &event {
            EngineEvent::Relist { kind, items, at, .. } if flux_data(*kind) => {
                observe_propagation(model, *kind, items.iter().map(|(k, s)| (k, s)), *at, false)
            }
            EngineEvent::Changes { kind, changes, at, .. } if flux_data(*kind) => observe_propagation(
                model,
                *kind,
                changes.iter().filter_map(|(k, s)| s.as_ref().map(|s| (k, s))),
                *at,
                true,
            ),
            _ => {}
        }
    }
    let changed_kind = match &event {
        EngineEvent::Relist { kind, .. }
        | EngineEvent::Changes { kind, .. }
        | EngineEvent::NotInstalled { kind, .. } => Some(*kind),
        _ => None,
    };
    // A probe, the connection or the access review change the cluster's state; watch
    // events (but Kubernetes Events arriving, which only prove it answers) its rows.
    let rows_change = match &event {
        EngineEvent::Changes { kind: Kind::Event, .. } => false,
        EngineEvent::Relist { .. }
        | EngineEvent::Changes { .. }
        | EngineEvent::WatchStarted { .. }
        | EngineEvent::WatchFailed { .. }
        | EngineEvent::NotInstalled { .. } => true,
        EngineEvent::Connected { .. }
        | EngineEvent::ConnectFailed { .. }
        | EngineEvent::Probe { .. }
        | EngineEvent::Access { .. }
        | EngineEvent::ProbesAt { .. } => false,
    };
    let cluster = if rows_change { model.fleet.data_mut(id) } else { model.fleet.cluster_mut(id) };
    let Some(cluster) = cluster else { return effects };
    let rejoin = match event {
        EngineEvent::Connected { version, uid, handshake, at, .. } => {
            cluster.connection = Connection::Connected { at };
            cluster.handshake = Some(handshake);
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
        EngineEvent::ProbesAt { endpoint, .. } => {
            cluster.probe_endpoint = endpoint;
            false
        }
        EngineEvent::Access { writes, .. } => {
            cluster.access = Some(writes);
            false
        }
        EngineEvent::Probe { mut sample, .. } => {
            if sample.outcome.is_ok() {
                cluster.saw_data(sample.at);
            }
            // An answer that shared the connection with fleetdeck's own first lists of
            // the cluster queued behind them (a failure still counts).
            sample.busy |= sample.outcome.is_ok()
                && cluster.watches.values().any(|w| w.state == WatchState::Syncing && w.synced_at.is_none());
            cluster.probes.record(sample);
            false
        }
    };
    if let Some(kind) = changed_kind {
        if is_hub && flux_data(kind) {
            forget_gone(model, kind);
        }
        // What an operator action waits for: Flux on the hub, Velero anywhere.
        if (is_hub && kind == Kind::Kustomization) || matches!(kind, Kind::Backup | Kind::Restore) {
            operate::observe(model);
        }
    }
    if rejoin {
        model.fleet.rejoin();
    }
    effects
}

/// The audit pane's own keys: its cursor, follow, export and opening a record.
fn audit_action(model: &mut Model, action: Action, page: isize) -> Option<Vec<Effect>> {
    let query = Query::parse(model.ui.filter.text());
    let (rows, _) = matched(&model.audit, &query, model.ui.audit.reads);
    let cursor = &mut model.ui.audit;
    match action {
        Action::Up => cursor.step(&rows, -1),
        Action::Down => cursor.step(&rows, 1),
        Action::PageUp => cursor.step(&rows, -page),
        Action::PageDown => cursor.step(&rows, page),
        Action::Top => cursor.step(&rows, isize::MIN / 2),
        Action::Bottom => cursor.step(&rows, isize::MAX / 2),
        Action::Follow => cursor.toggle_follow(),
        Action::AllRequests => cursor.reads = !cursor.reads,
        Action::Open => {
            if let Some(at) = cursor.position(&rows) {
                model.ui.detail = Some(RowKey::Audit(rows[at].seq));
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

/// The key of the current pane's selected row (the stored one while it is listed, else
/// the first).
pub fn selected(model: &mut Model, pane: Pane) -> Option<RowKey> {
    let derived = model.derived();
    derived.selected(&model.fleet, pane, model.ui.filter.text(), model.ui.selected.get(&pane))
}

/// Newly firing rollback triggers, posted as Warning Events on the hub by an operator
/// session (a read-only one writes nothing; it sees the Events others post).
fn post_triggers(model: &mut Model) -> Vec<Effect> {
    if !model.settings.writable || model.fleet.hub().is_none() {
        return Vec::new();
    }
    let derived = model.derived();
    let mut effects = Vec::new();
    for (id, t) in derived.firing() {
        let cluster = model.fleet.clusters()[id].context.clone();
        let key = (cluster.clone(), t.kind.id(), t.since);
        if model.posted_triggers.contains(&key) {
            continue;
        }
        let namespace = model.fleet.registration_of(id).map_or_else(|| "default".to_owned(), |r| r.name.clone());
        effects.push(Effect::PostTrigger {
            name: format!("fleetdeck-trigger.{cluster}.{}.{}", t.kind.id(), t.since.as_second()),
            namespace,
            reason: "FleetdeckRollbackSuggested".to_owned(),
            message: crate::derive::report::trigger_line(&cluster, t, model.now),
            cluster,
        });
        model.posted_triggers.insert(key);
    }
    effects
}

/// Moves the selection of the current pane by `delta` rows (clamped).
fn move_selection(model: &mut Model, delta: isize) {
    let pane = model.ui.pane;
    let derived = model.derived();
    let keys = derived.keys(&model.fleet, pane, model.ui.filter.text());
    if keys.is_empty() {
        return;
    }
    let current = model.ui.selected.get(&pane).and_then(|k| keys.iter().position(|x| x == k)).unwrap_or(0);
    let next = (current as isize + delta).clamp(0, keys.len() as isize - 1) as usize;
    model.ui.selected.insert(pane, keys[next].clone());
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
        return match action {
            Action::Command if model.settings.writable => {
                model.ui.command = Some(tui_input::Input::default());
                Vec::new()
            }
            Action::Register | Action::Unregister | Action::Migrate => runs::key(model, action),
            Action::Rollback => runs::rollback_key(model),
            Action::ContinueRun | Action::UndoRun | Action::AbortRun | Action::RetryStep | Action::OverrideStep => {
                runs::run_key(model, action)
            }
            _ => operate::start(model, action),
        };
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
            && let Some(key) = model.ui.detail.clone()
        {
            let derived = model.derived();
            if let Some(row) = derived.backup_row(&key) {
                let last = backups_of(&model.fleet.clusters()[row.cluster], row).len().saturating_sub(1);
                model.ui.detail_scroll = model.ui.detail_scroll.min(last);
            }
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
            let opens = match pane {
                // Spokes, and registrations no context reaches (the hub's view of them).
                Pane::Health | Pane::Latency | Pane::Propagation | Pane::Backups | Pane::Runs => selected(model, pane),
                Pane::Audit => None,
            };
            // A registration no context reaches has no cluster detail.
            let opens = opens.filter(|k| !matches!((pane, k), (Pane::Health | Pane::Latency, RowKey::HubOnly(_))));
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
        Action::Follow | Action::AllRequests | Action::Export => {}
        Action::Quit
        | Action::Reconcile
        | Action::Suspend
        | Action::Resume
        | Action::BackupNow
        | Action::Restore
        | Action::Command
        | Action::Register
        | Action::Unregister
        | Action::ContinueRun
        | Action::UndoRun
        | Action::AbortRun
        | Action::Migrate
        | Action::RetryStep
        | Action::OverrideStep
        | Action::Rollback => {}
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
        ContextSpec::unconnected(name, hub)
    }

    fn keys(m: &mut Model, pane: Pane) -> Vec<RowKey> {
        let derived = m.derived();
        derived.keys(&m.fleet, pane, m.ui.filter.text())
    }

    fn model() -> Model {
        Model::new(&[spec("hub", true), spec("prod-a", false), spec("edge", false)], ModelSettings::default(), t(0))
    }

    fn node(name: &str, ready: &str) -> (crate::fleet::summary::ObjectKey, Summary) {
        let n = NodeSummary {
            name: name.into(),
            ready: crate::fleet::summary::ConditionStatus::parse(ready),
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
                handshake: crate::fleet::probes::Handshake { took: Duration::from_millis(3), busy: false },
                at: t(1),
            }),
        );
        let kinds: Vec<Kind> = m.fleet.clusters()[id].watches.keys().copied().collect();
        for kind in kinds {
            update(m, Msg::Engine(EngineEvent::Relist { cluster: id, kind, items: vec![], at: t(2) }));
        }
        update(
            m,
            Msg::Engine(EngineEvent::Probe { cluster: id, sample: Sample::new(t(2), Ok(Duration::from_millis(4))) }),
        );
    }

    #[test]
    fn events_drive_clusters_to_live_and_bump_the_version() {
        let mut m = model();
        let v0 = m.version;
        assert_eq!(m.fleet.clusters()[1].state(t(1), m.fleet.settings.thresholds), State::Connecting);
        connect(&mut m, 1);
        assert!(m.version > v0);
        assert_eq!(m.fleet.clusters()[1].state(t(3), m.fleet.settings.thresholds), State::Live);
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist {
                cluster: 1,
                kind: Kind::Node,
                items: vec![node("n1", "True"), node("n2", "False")],
                at: t(3),
            }),
        );
        assert_eq!(m.fleet.clusters()[1].node_counts(), (1, 2));
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
            states.push(m.fleet.clusters()[1].state(t(6), m.fleet.settings.thresholds).label());
        }
        assert_eq!(states, ["Live", "Live", "Degraded", "Live"]);
        assert_eq!(m.fleet.clusters()[1].node_counts(), (1, 2));
        assert!(!m.fleet.clusters()[1].nodes.contains_key("c"));
    }

    #[test]
    fn a_deployment_short_of_replicas_fires_the_disruption_trigger_posted_once_then_clears() {
        use crate::fleet::summary::WorkloadSummary;
        let settings = ModelSettings { writable: true, ..ModelSettings::default() };
        let mut m = Model::new(&[spec("hub", true), spec("prod-a", false)], settings, t(0));
        connect(&mut m, 0);
        connect(&mut m, 1);
        let api = |ready| {
            let w = WorkloadSummary {
                namespace: "payments".into(),
                name: "api".into(),
                replicas: 3,
                ready,
                unavailable_since: None,
            };
            vec![(("payments".into(), "api".into()), Summary::Workload(w))]
        };
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist { cluster: 1, kind: Kind::Deployment, items: api(1), at: t(10) }),
        );
        let probe = |m: &mut Model, at: i64| {
            let sample = Sample::new(t(at), Ok(Duration::from_millis(4)));
            update(m, Msg::Engine(EngineEvent::Probe { cluster: 1, sample }));
        };
        probe(&mut m, 100);
        assert!(update(&mut m, Msg::Tick(t(100))).is_empty(), "short for 90 s: watching, not firing");
        assert_eq!(m.derived().firing().count(), 0);
        probe(&mut m, 131);
        let effects = update(&mut m, Msg::Tick(t(131)));
        let [Effect::PostTrigger { name, message, namespace, .. }] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(message, "rollback suggested: prod-a · service disruption for 2m · payments/api not ready");
        assert_eq!(name, &format!("fleetdeck-trigger.prod-a.disruption.{}", t(10).as_second()));
        assert_eq!(namespace, "default", "no registration: the hub's default namespace");
        probe(&mut m, 140);
        assert!(update(&mut m, Msg::Tick(t(140))).is_empty(), "posted once");
        // Ready again: cleared.
        update(
            &mut m,
            Msg::Engine(EngineEvent::Relist { cluster: 1, kind: Kind::Deployment, items: api(3), at: t(150) }),
        );
        update(&mut m, Msg::Tick(t(151)));
        assert_eq!(m.derived().firing().count(), 0);
        assert!(m.fleet.clusters()[1].unready.is_empty());
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
        let roles: Vec<Role> = (0..3).map(|i| m.fleet.role(i).role()).collect();
        assert_eq!(roles, [Role::Hub, Role::Spoke, Role::Candidate]);
        assert_eq!(m.fleet.hub_only().len(), 1);
        assert_eq!(
            keys(&mut m, Pane::Health),
            [RowKey::Cluster(0), RowKey::Cluster(1), RowKey::Cluster(2), RowKey::HubOnly("gone".into())]
        );
    }

    #[test]
    fn keys_move_open_filter_and_quit() {
        let mut m = model();
        update(&mut m, Msg::Action(Action::Down));
        assert_eq!(m.ui.selected[&Pane::Health], RowKey::Cluster(1));
        update(&mut m, Msg::Action(Action::Bottom));
        assert_eq!(m.ui.selected[&Pane::Health], RowKey::Cluster(2));
        update(&mut m, Msg::Action(Action::Open));
        assert_eq!(m.ui.detail, Some(RowKey::Cluster(2)));
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!(m.ui.detail, None);
        update(&mut m, Msg::Action(Action::Filter));
        for c in "prod".chars() {
            update(&mut m, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
        }
        update(&mut m, Msg::FilterDone);
        assert_eq!(keys(&mut m, Pane::Health), [RowKey::Cluster(1)]);
        update(&mut m, Msg::Action(Action::Back));
        assert_eq!(keys(&mut m, Pane::Health).len(), 3, "Esc clears the filter");
        update(&mut m, Msg::Action(Action::Pane(Pane::Latency)));
        assert_eq!(m.ui.pane, Pane::Latency);
        update(&mut m, Msg::Action(Action::NextPane));
        assert_eq!(m.ui.pane, Pane::Propagation);
        assert_eq!(update(&mut m, Msg::Action(Action::Quit)), vec![Effect::Quit]);
        assert!(m.quit);
    }

    #[test]
    fn the_fleet_is_derived_once_per_change_and_one_cluster_at_a_time() {
        let mut m = model();
        for id in 0..3 {
            connect(&mut m, id);
        }
        let first = m.derived();
        let (computations, clusters) = m.derivations();
        // Reading it again, from update (a key) or a view, derives nothing.
        assert!(std::sync::Arc::ptr_eq(&first, &m.derived()));
        update(&mut m, Msg::Action(Action::Down));
        update(&mut m, Msg::Action(Action::Up));
        assert_eq!(m.derivations(), (computations, clusters), "keys read the derived rows, they do not derive");
        // A probe of one cluster re-derives that cluster only.
        let sample = Sample::new(t(3), Ok(Duration::from_millis(5)));
        update(&mut m, Msg::Engine(EngineEvent::Probe { cluster: 2, sample }));
        let after = m.derived();
        assert_eq!(m.derivations(), (computations + 1, clusters + 1));
        assert!(std::sync::Arc::ptr_eq(&first.clusters[0], &after.clusters[0]), "the others are kept");
        assert!(!std::sync::Arc::ptr_eq(&first.clusters[2], &after.clusters[2]));
        // The tick moves the clock; nothing is derived until a judgment's time comes.
        update(&mut m, Msg::Tick(t(4)));
        m.derived();
        assert_eq!(m.derivations().0, computations + 1);
        // Data ages into stale after three intervals (30 s at least): that is derived.
        update(&mut m, Msg::Tick(t(60)));
        let stale = m.derived();
        assert_eq!(m.derivations().0, computations + 2);
        assert!(stale.clusters.iter().all(|c| c.stale), "every cluster's data is old by then");
    }
}
