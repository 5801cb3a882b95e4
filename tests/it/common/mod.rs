//! Helpers shared by the integration tests: a simulated fleet, kube-rs clients on it, and
//! the binary in a pseudo-terminal.

pub mod fixture;
pub mod local;
pub mod pty;

use std::future::Future;
use std::time::Duration;

use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::{ContextSpec, EngineEvent, Selection, Settings, contexts};
use fleetdeck::fleet::cluster::Thresholds;
use fleetdeck::fleet::state::FleetSettings;
use fleetdeck::sim::{Access, Fleet, Scenario, ServeSettings, SimOptions};
use jiff::Timestamp;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::sync::mpsc::Receiver;

/// The fleetdeck binary with `args`, its home, data, state and config directories in
/// `home` (so no user file or journal of the machine is read or written).
pub fn cli(args: &[&str], home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fleetdeck"));
    command
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"));
    command
}

/// A still fleet (no controllers, no scenario faults) with 1 s bookmarks.
pub async fn still_fleet(spokes: usize) -> Fleet {
    start(spokes, Scenario::builtin("default"), false).await
}

/// A fleet with its controllers running on `scenario`.
pub async fn live_fleet(spokes: usize, scenario: Scenario) -> Fleet {
    start(spokes, scenario, true).await
}

async fn start(spokes: usize, scenario: Scenario, behaviour: bool) -> Fleet {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = SimOptions {
        spokes: Some(spokes),
        scenario,
        serve: ServeSettings { bookmark_interval: Duration::from_secs(1), ..ServeSettings::default() },
        behaviour,
        ..SimOptions::default()
    };
    Fleet::start(options).await.expect("fleet starts")
}

/// A fleet whose Flux and Velero answer in a second or two, with no revisions or Events
/// of its own: the controllers' tests and `serve`'s change only what they change.
pub fn quick() -> Scenario {
    use fleetdeck::sim::scenario::Span;
    let mut s = Scenario::builtin("healthy");
    s.flux.revision_every = None;
    s.flux.reconcile_delay = Span::secs(0, 1);
    s.flux.retry_interval = Duration::from_secs(1);
    s.velero.backup_duration = Span::secs(1, 2);
    s.velero.restore_duration = Span::secs(1, 2);
    s.fleet.events_every = None;
    s
}

/// A kube-rs client for a context of the fleet.
/// The client configuration of `context` in the fleet's kubeconfig.
pub async fn config(fleet: &Fleet, context: &str, access: Access) -> Config {
    let kubeconfig: Kubeconfig = serde_json::from_value(fleet.kubeconfig(access)).expect("kubeconfig parses");
    let options = KubeConfigOptions { context: Some(context.to_owned()), ..KubeConfigOptions::default() };
    Config::from_custom_kubeconfig(kubeconfig, &options).await.expect("client config")
}

pub async fn client(fleet: &Fleet, context: &str, access: Access) -> Client {
    Client::try_from(config(fleet, context, access).await).expect("client")
}

pub async fn admin(fleet: &Fleet, context: &str) -> Client {
    client(fleet, context, Access::Admin).await
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The HTTP status of a kube error, when the server answered one.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

pub async fn contexts_of(fleet: &Fleet, access: Access) -> Vec<ContextSpec> {
    let kc: kube::config::Kubeconfig = serde_json::from_value(fleet.kubeconfig(access)).unwrap();
    contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap()
}

pub fn fast() -> Settings {
    Settings {
        probe_interval: Duration::from_millis(200),
        probe_timeout: Duration::from_millis(500),
        ..Settings::default()
    }
}

pub fn settings() -> ModelSettings {
    ModelSettings {
        fleet: FleetSettings {
            thresholds: Thresholds {
                unreachable_after: Duration::from_secs(2),
                probe_interval: Duration::from_millis(200),
                error_rate: 0.05,
            },
            ..FleetSettings::default()
        },
        ..ModelSettings::default()
    }
}

/// Feeds engine events into the model until `done` holds (or the time runs out).
pub async fn until(
    model: &mut Model,
    rx: &mut Receiver<EngineEvent>,
    limit: Duration,
    mut done: impl FnMut(&mut Model) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        update(model, Msg::Tick(Timestamp::now()));
        if done(model) {
            return true;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => {
                update(model, Msg::Engine(event));
            }
            _ => return done(model),
        }
    }
}

pub fn states(model: &Model) -> Vec<&'static str> {
    model.fleet.clusters().iter().map(|c| c.state(model.now, model.fleet.settings.thresholds).label()).collect()
}

/// The fleet's propagation totals.
pub fn sync(model: &mut Model) -> fleetdeck::derive::propagation::FleetSync {
    model.derived().sync.clone()
}

/// The state of a spoke's Kustomization named `name`.
pub fn cell(model: &mut Model, spoke: &str, name: &str) -> Option<fleetdeck::fleet::sync::SyncState> {
    let derived = model.derived();
    let row = derived.cluster(model.fleet.by_name(spoke)?)?.rows.sync.as_ref()?;
    let cols = &derived.shared.columns;
    row.cells.iter().zip(cols).find(|(_, c)| c.name == name).and_then(|(c, _)| c.as_ref()).map(|c| c.state.clone())
}

/// The key of a cluster's row, by name.
pub fn cluster_key(model: &Model, name: &str) -> fleetdeck::derive::RowKey {
    fleetdeck::derive::RowKey::Cluster(model.fleet.by_name(name).expect("a cluster of that name"))
}

/// Runs the effects an operator action asks for through the writer, feeding the answers
/// back (typing `typed` at the confirmation prompt), until the action is finished or
/// `limit` runs out.
pub async fn drive(
    model: &mut Model,
    rx: &mut Receiver<EngineEvent>,
    writer: &fleetdeck::cluster::write::Writer,
    effects: Vec<fleetdeck::app::msg::Effect>,
    typed: &str,
    limit: Duration,
) {
    use fleetdeck::app::msg::Effect;
    let mut pending = effects;
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        for effect in std::mem::take(&mut pending) {
            match effect {
                Effect::Preview { id, plan } => {
                    let result = writer.preview(&plan).await;
                    update(model, Msg::Previewed { id, result });
                    for c in typed.chars() {
                        update(model, Msg::PromptEdit(tui_input::InputRequest::InsertChar(c)));
                    }
                    pending.extend(update(model, Msg::PromptSubmit));
                }
                Effect::Execute { id, confirmed } => {
                    let result = writer.execute(confirmed).await;
                    update(model, Msg::Executed { id, result });
                }
                Effect::StartRun { .. } | Effect::TakeRun { .. } | Effect::RunInput(_) => {
                    panic!("an operator action asked for a workflow run: {effect:?}")
                }
                Effect::Quit
                | Effect::KeepEvents(_)
                | Effect::Export(_)
                | Effect::Copy(_)
                | Effect::PostTrigger { .. } => {}
            }
        }
        if model.operation.as_ref().is_some_and(|o| o.is_finished()) {
            return;
        }
        until(model, rx, Duration::from_millis(200), |_| false).await;
    }
}

/// A journal in a temporary directory (kept while the TempDir lives).
pub fn temp_journal() -> (tempfile::TempDir, fleetdeck::journal::Journal) {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = fleetdeck::journal::Journal::at(dir.path().join("journal.jsonl"));
    (dir, journal)
}

/// The screen as drawn (plain theme) at `now`, one line per row, trailing spaces cut.
pub fn render(model: &Model, now: Timestamp, width: u16, height: u16) -> String {
    // Drawn at `now`: the model's time, as the runtime's tick makes it.
    let mut model = model.clone();
    model.now = now;
    let derived = model.derived();
    let model = &model;
    use fleetdeck::ui::{Screen, Theme};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let config = fleetdeck::config::Config::load_from(None, None).expect("the embedded config loads");
    let keymap = match model.ui.wall {
        Some(_) => fleetdeck::input::Keymap::wall(&config.keys),
        None => fleetdeck::input::Keymap::new(&config.keys, model.settings.writable),
    }
    .expect("the default keymap");
    let vm = fleetdeck::view::screen(model, &derived, keymap.hints(), width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| f.render_widget(Screen { vm: &vm, theme: &Theme::plain() }, f.area())).expect("drawn");
    let buffer = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol().to_owned()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A context of a fleet that is never connected (snapshots and pure tests).
pub fn spec(name: &str) -> ContextSpec {
    ContextSpec {
        name: name.into(),
        server: format!("https://{name}.example:6443"),
        is_hub: name == "hub",
        user: "admin".into(),
        config: Err("not connected".into()),
    }
}

/// A journal draft: `local_user` reconciles production-eu-1's policies on the hub at
/// `time`, Enter pressed, before the write. Tests change the fields they care about.
pub fn draft(local_user: &str, time: Timestamp) -> fleetdeck::journal::Draft {
    use fleetdeck::journal::{Draft, ObjectRef, Operator, Phase};
    Draft {
        time,
        phase: Phase::Intent,
        write_id: format!("{local_user}-{}", time.as_nanosecond()),
        action: "reconcile".into(),
        cluster: "hub".into(),
        spoke: "production-eu-1".into(),
        object: ObjectRef {
            api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
            kind: "Kustomization".into(),
            namespace: "production-eu-1".into(),
            name: "policies".into(),
        },
        operator: Operator { kube_user: "admin".into(), local_user: local_user.into(), host: "ops-laptop".into() },
        confirmation: "pressed Enter".into(),
        result: None,
    }
}

/// Every `.rs` file below the crate's `src/`.
pub fn source_files() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// The objects an audit log of the simulator says were created for real (not dry runs,
/// Events and access reviews left out), as resource/name, in the order they were.
pub fn creates(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["verb"] == "create" && e["responseStatus"]["code"] == 201)
        .filter(|e| !e["requestURI"].as_str().unwrap_or_default().contains("dryRun"))
        .filter(|e| {
            !["events", "selfsubjectaccessreviews"].contains(&e["objectRef"]["resource"].as_str().unwrap_or_default())
        })
        .map(|e| {
            let field = |f: &str| e["objectRef"][f].as_str().unwrap_or_default().to_owned();
            format!("{}/{}", field("resource"), field("name"))
        })
        .collect()
}
