//! fleetdeck on a simulated fleet served by a separate process (200 spokes by default,
//! nothing changing: `fleetdeck sim --still`): time until every cluster is Live, resident
//! memory and idle CPU of the real binary in a terminal; how long a watched change takes
//! to reach the model; how long a frame takes at 200x60. Beside it, kdash and kubetui (if
//! installed) on one simulated cluster, with fleetdeck on one cluster too.
//!
//!     cargo bench --bench live_fleet
//!     FLEETDECK_BENCH_SPOKES=200 FLEETDECK_BENCH_RUNS=3 FLEETDECK_BENCH_IDLE_SECS=30 \
//!         FLEETDECK_PEERS=/tmp/peers/bin cargo bench --bench live_fleet
//!
//! Peers: `cargo install --root /tmp/peers kdash kubetui` (outside the project tree).
//! Figures are printed, never asserted.

mod common;
#[path = "../tests/common/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{SimProcess, env, idle_cpu, median, quantile, rss_mb};
use fleetdeck::action::Pane;
use fleetdeck::app::model::Model;
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::{Engine, EngineEvent, Selection, Settings, contexts};
use fleetdeck::fleet::kind::Kind;
use fleetdeck::fleet::summary::Summary;
use fleetdeck::input::Keymap;
use fleetdeck::ui::{Screen, Theme};
use fleetdeck::view::screen;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use pty::Pty;

/// fleetdeck's TUI in a 200x60 terminal until its footer says every cluster is Live.
fn tui_until_live(kubeconfig: &Path, hub: &str, clusters: u64) -> (Pty, Duration) {
    let started = Instant::now();
    let pty = Pty::spawn(&["--kubeconfig", &kubeconfig.display().to_string(), "--hub", hub], &[], 200, 60);
    pty.wait_for(&format!("{clusters}/{clusters} live"), Duration::from_secs(120));
    (pty, started.elapsed())
}

/// A kubeconfig with one context of another.
fn one_context(kubeconfig: &Path, context: &str, out: &Path) {
    let mut kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    kc.contexts.retain(|c| c.name == context);
    let cluster = kc.contexts[0].context.as_ref().unwrap().cluster.clone();
    let user = kc.contexts[0].context.as_ref().unwrap().user.clone().unwrap_or_default();
    kc.clusters.retain(|c| c.name == cluster);
    kc.auth_infos.retain(|u| u.name == user);
    kc.current_context = Some(context.to_owned());
    // Serialized through JSON so secrets are written out (kube's serializer keeps them).
    let yaml = serde_saphyr::to_string(&serde_json::to_value(&kc).unwrap()).unwrap();
    std::fs::write(out, yaml).unwrap();
}

/// Changes made on the servers, timed until the model has them: cordon and uncordon a
/// node on spokes, `count` times.
async fn event_latency(kubeconfig: &Path, count: usize) -> Vec<f64> {
    let kc = contexts::load(Some(kubeconfig)).unwrap();
    let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let mut model = Model::new(&specs, Default::default(), Timestamp::now());
    let (engine, mut rx) = Engine::start(specs.clone(), Settings::default());
    let live = |m: &Model| {
        m.fleet.clusters().iter().all(|c| c.watches.get(&Kind::Node).is_some_and(|w| w.synced_at.is_some()))
    };
    while !live(&model) {
        match rx.recv().await {
            Some(e) => {
                update(&mut model, Msg::Engine(e));
            }
            None => break,
        }
    }
    let mut latencies = Vec::new();
    for i in 0..count {
        let spec = &specs[1 + i % (specs.len() - 1)];
        let client = kube::Client::try_from(spec.config.clone().unwrap()).unwrap();
        let nodes: Api<Node> = Api::all(client);
        let node = format!("{}-control-plane", names[1 + i % (names.len() - 1)]);
        let cordon = i / (specs.len() - 1) % 2 == 0;
        let started = Instant::now();
        nodes
            .patch(
                &node,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"unschedulable": cordon}})),
            )
            .await
            .unwrap();
        loop {
            let Some(event) = rx.recv().await else { break };
            let seen = matches!(&event, EngineEvent::Changes { kind: Kind::Node, changes, .. }
                if changes.iter().any(|(k, s)| k.1 == node && matches!(s, Some(Summary::Node(n)) if n.unschedulable == cordon)));
            update(&mut model, Msg::Engine(event));
            if seen {
                latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    // One frame at 200x60 of this model: the view model and the widgets, timed.
    engine.stop().await;
    latencies
}

/// View-model and whole-frame times of each pane, on the fleet's model.
fn frame_times(kubeconfig: &Path, frames: usize) -> Vec<(String, Vec<f64>, Vec<f64>)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let model = runtime.block_on(async {
        let kc = contexts::load(Some(kubeconfig)).unwrap();
        let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
        let mut model = Model::new(&specs, Default::default(), Timestamp::now());
        let (engine, mut rx) =
            Engine::start(specs, Settings { probe_interval: Duration::from_millis(500), ..Settings::default() });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            update(&mut model, Msg::Engine(e));
        }
        engine.stop().await;
        model
    });
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = Keymap::new(&config.keys, true).unwrap();
    let theme = Theme::new(&config.theme, fleetdeck::ui::Depth::TrueColor).unwrap();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).unwrap();
    let mut out = Vec::new();
    // The panes, and the wall (on its health page, whose tiles need every cluster judged).
    let wall = fleetdeck::app::model::Wall::new(Duration::from_secs(20), Timestamp::now());
    let views_of = [(Pane::Health, None), (Pane::Propagation, None), (Pane::Backups, None), (Pane::Health, Some(wall))];
    for (pane, wall) in views_of {
        let (mut views, mut draws) = (Vec::new(), Vec::new());
        let name = if wall.is_some() { "wall".to_owned() } else { format!("{} pane", pane.title().to_lowercase()) };
        let keymap = if wall.is_some() { Keymap::wall(&config.keys).unwrap() } else { keymap.clone() };
        for i in 0..frames {
            let mut m = model.clone();
            m.ui.pane = pane;
            m.ui.wall = wall.clone();
            m.version += i as u64;
            let started = Instant::now();
            m.now = Timestamp::now();
            let derived = m.derived();
            let vm = screen(&m, &derived, keymap.hints(), 200, 60);
            let viewed = started.elapsed();
            terminal.draw(|f| f.render_widget(Screen { vm: &vm, theme: &theme }, f.area())).unwrap();
            views.push(viewed.as_secs_f64() * 1000.0);
            draws.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((name, views, draws));
    }
    out
}

fn peer(bin: &Path, kubeconfig: &Path, idle: Duration) -> Option<(f64, f64)> {
    let pty = Pty::spawn_program(
        &bin.display().to_string(),
        &[],
        &[("KUBECONFIG", &kubeconfig.display().to_string())],
        200,
        60,
    );
    std::thread::sleep(Duration::from_secs(10));
    let pid = pty.pid();
    let cpu = idle_cpu(pid, idle);
    let rss = rss_mb(pid);
    (rss > 0.0).then_some((rss, cpu))
}

fn peers_dir() -> Option<PathBuf> {
    std::env::var_os("FLEETDECK_PEERS").map(PathBuf::from).filter(|p| p.exists())
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spokes = env("FLEETDECK_BENCH_SPOKES", 200);
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let idle = Duration::from_secs(env("FLEETDECK_BENCH_IDLE_SECS", 30));
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().unwrap();
    let clusters = spokes + 1;
    let sim = SimProcess::start(bin, spokes, &["--still"], dir.path(), "fleet");
    println!(
        "fleetdeck on {clusters} simulated clusters (a separate `fleetdeck sim --spokes {spokes} --still`), {runs} runs"
    );

    let mut live = Vec::new();
    let mut rss = Vec::new();
    let mut cpu = Vec::new();
    for run in 0..runs {
        let (pty, took) = tui_until_live(&sim.kubeconfig, "hub", clusters);
        std::thread::sleep(Duration::from_secs(10));
        let c = idle_cpu(pty.pid(), idle);
        let r = rss_mb(pty.pid());
        println!(
            "  run {}: every cluster Live after {:.2} s, {:.0} MB resident, {:.1} % of one core while nothing changes",
            run + 1,
            took.as_secs_f64(),
            r,
            c
        );
        live.push(took.as_secs_f64());
        rss.push(r);
        cpu.push(c);
        drop(pty);
    }
    println!(
        "median: every cluster Live after {:.2} s (budget 10 s), {:.0} MB resident (budget 150 MB), {:.1} % of one core idle (budget 3 %)",
        median(live),
        median(rss),
        median(cpu)
    );

    let latencies = event_latency(&sim.kubeconfig, 200).await;
    println!(
        "watch event to model ({} changes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (budget p99 250 ms)",
        latencies.len(),
        quantile(latencies.clone(), 0.5),
        quantile(latencies.clone(), 0.99),
        quantile(latencies, 1.0)
    );
    let kubeconfig = sim.kubeconfig.clone();
    let panes = tokio::task::spawn_blocking(move || frame_times(&kubeconfig, 300)).await.unwrap();
    for (name, views, draws) in panes {
        println!(
            "one frame of the {name} at 200x60 on {clusters} clusters: view model p50 {:.2} ms; view + widgets p50 {:.2} ms, p99 {:.2} ms (budget 4 ms)",
            quantile(views, 0.5),
            quantile(draws.clone(), 0.5),
            quantile(draws, 0.99)
        );
    }

    // One cluster, fleetdeck beside the peers.
    let single = dir.path().join("single.yaml");
    one_context(&sim.kubeconfig, "staging-eu-1", &single);
    let (pty, _) = tui_until_live(&single, "staging-eu-1", 1);
    std::thread::sleep(Duration::from_secs(5));
    let (c, r) = (idle_cpu(pty.pid(), idle), rss_mb(pty.pid()));
    drop(pty);
    println!("one cluster, idle window {}s:", idle.as_secs());
    println!("  fleetdeck  {r:>6.0} MB  {c:>5.1} % of one core");
    match peers_dir() {
        Some(peers) => {
            for name in ["kdash", "kubetui"] {
                let bin = peers.join(name);
                match bin.exists().then(|| peer(&bin, &single, idle)).flatten() {
                    Some((r, c)) => println!("  {name:<9}  {r:>6.0} MB  {c:>5.1} % of one core"),
                    None => println!("  {name:<9}  not measured ({} missing or did not start)", bin.display()),
                }
            }
        }
        None => {
            println!("  kdash, kubetui: not measured (set FLEETDECK_PEERS to the directory holding their binaries)")
        }
    }
}
