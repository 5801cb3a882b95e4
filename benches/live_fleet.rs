//! fleetdeck on a simulated fleet served by a separate process (`fleetdeck sim --still`:
//! nothing changes but what the benchmark changes), the real binary in a 200x60
//! pseudo-terminal: time until every cluster is Live, resident memory, idle CPU on every
//! pane and on the wall, the clusters whose latency breaches the target because of
//! fleetdeck's own start, and how long a watched change takes to reach the screen. Then,
//! in-process on the same fleet, how long a frame takes on each pane and the wall after
//! one probe arrived (what a live fleet does 200 times a second at 1,001 clusters). Per
//! cluster figures come from the difference to fleetdeck on one cluster, beside which
//! kdash and kubetui are measured when installed.
//!
//!     cargo bench --bench live_fleet                                  # 201 clusters
//!     FLEETDECK_BENCH_SPOKES=1000 cargo bench --bench live_fleet      # 1,001 clusters
//!     FLEETDECK_BENCH_RUNS=3 FLEETDECK_BENCH_IDLE_SECS=30 FLEETDECK_PEERS=/tmp/peers/bin \
//!         cargo bench --bench live_fleet
//!
//! Peers: `cargo install --root /tmp/peers kdash kubetui` (outside the project tree).
//! Figures are printed, never asserted.

mod common;
#[path = "../tests/it/common/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{SimProcess, env, idle_cpu, median, quantile, rss_mb};
use fleetdeck::action::Pane;
use fleetdeck::app::model::{Model, Wall};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::{Engine, EngineEvent, Selection, Settings, contexts};
use fleetdeck::fleet::probes::Sample;
use fleetdeck::input::Keymap;
use fleetdeck::ui::{Screen, Theme};
use fleetdeck::view::screen;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use pty::Pty;

/// fleetdeck's TUI in a 200x60 terminal until its footer says every cluster is Live.
fn tui_until_live(kubeconfig: &Path, hub: &str, clusters: u64, extra: &[&str]) -> (Pty, Duration) {
    let started = Instant::now();
    let mut args = vec!["--kubeconfig".to_owned(), kubeconfig.display().to_string(), "--hub".to_owned(), hub.into()];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pty = Pty::spawn(&args, &[], 200, 60);
    let live = if extra.contains(&"--wall") {
        format!("spokes live {}/{}", clusters - 1, clusters - 1)
    } else {
        format!("{clusters}/{clusters} live")
    };
    pty.wait_for(&live, Duration::from_secs(180));
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

/// The text of a column in a row of the screen: the row is the line that starts with
/// `name`, the column is where `heading` starts in the table's header line.
fn cell(screen: &str, heading: &str, name: &str, width: usize) -> Option<String> {
    let header = screen.lines().find(|l| l.contains(heading) && l.starts_with("NAME"))?;
    let at = header.find(heading)?;
    let row = screen.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    let chars: Vec<char> = row.chars().collect();
    Some(chars.get(at..(at + width).min(chars.len()))?.iter().collect::<String>().trim().to_owned())
}

/// Changes made on the servers, timed until the TUI's screen shows them: the control
/// plane node of a spoke on the screen goes NotReady and Ready again (its `NODES` cell
/// from 3/3 to 2/3 and back), `count` times.
async fn event_to_screen(pty: &Pty, kubeconfig: &Path, count: usize) -> Vec<f64> {
    let kc = contexts::load(Some(kubeconfig)).unwrap();
    let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
    let screen = pty.screen();
    // Spokes the 200x60 screen shows with every node ready.
    let ready = |s: &str| s.split_once('/').filter(|(r, t)| r == t).and_then(|(_, t)| t.parse::<u32>().ok());
    let shown: Vec<(&fleetdeck::cluster::ContextSpec, u32)> =
        specs.iter().skip(1).filter_map(|s| Some((s, ready(&cell(&screen, "NODES", &s.name, 5)?)?))).take(10).collect();
    let mut times = Vec::new();
    if shown.is_empty() {
        println!("  (no spoke with every node ready on the screen to change)");
        return times;
    }
    for i in 0..count {
        let (spec, total) = shown[i % shown.len()];
        let nodes: Api<Node> = Api::all(kube::Client::try_from(spec.config.clone().unwrap()).unwrap());
        let name = format!("{}-control-plane", spec.name);
        for (status, shows) in [("False", format!("{}/{total}", total - 1)), ("True", format!("{total}/{total}"))] {
            let started = Instant::now();
            let condition = serde_json::json!({"status": {"conditions": [{"type": "Ready", "status": status,
                "reason": "KubeletReady", "lastTransitionTime": Timestamp::now().to_string()}]}});
            nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(condition)).await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while cell(&pty.screen(), "NODES", &spec.name, 5).as_deref() != Some(shows.as_str())
                && Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times
}

/// The model of the fleet as the engine makes it, after `settle`.
fn fleet_model(kubeconfig: &Path, settle: Duration) -> Model {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let kc = contexts::load(Some(kubeconfig)).unwrap();
        let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
        let mut model = Model::new(&specs, Default::default(), Timestamp::now());
        let (engine, mut rx) = Engine::start(specs, Settings::default());
        let deadline = tokio::time::Instant::now() + settle;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            update(&mut model, Msg::Engine(e));
        }
        engine.stop().await;
        model
    })
}

/// Frames of each pane and the wall, each after one probe of one cluster arrived: the
/// update, the derived state (one cluster again), the view model and the widgets.
fn frame_times(model: &Model, frames: usize) -> Vec<(String, Vec<f64>)> {
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let theme = Theme::new(&config.theme, fleetdeck::ui::Depth::TrueColor).unwrap();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).unwrap();
    let n = model.fleet.clusters().len();
    let panes = [Pane::Health, Pane::Latency, Pane::Propagation, Pane::Backups, Pane::Audit];
    let mut out = Vec::new();
    // The derived state alone, as the TUI makes it: a second of probes (one cluster
    // in five, at a probe every five seconds), derived once.
    let mut m = model.clone();
    let mut times = Vec::new();
    for round in 0..20u64 {
        std::thread::sleep(Duration::from_millis(200));
        for id in (0..n).filter(|id| (*id as u64 + round).is_multiple_of(5)) {
            let sample = Sample::new(Timestamp::now(), Ok(Duration::from_micros(900 + round * 10)));
            update(&mut m, Msg::Engine(EngineEvent::Probe { cluster: id, sample }));
        }
        update(&mut m, Msg::Tick(Timestamp::now()));
        let started = Instant::now();
        std::hint::black_box(m.derived());
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("the derived state after a second of probes (derive only)".to_owned(), times));
    for view in panes.iter().map(|p| Some(*p)).chain([None]) {
        let mut m = model.clone();
        let keymap = match view {
            Some(pane) => {
                m.ui.pane = pane;
                Keymap::new(&config.keys, false).unwrap()
            }
            None => {
                m.ui.wall = Some(Wall::new(Duration::from_secs(20), m.now));
                Keymap::wall(&config.keys).unwrap()
            }
        };
        let name = view.map_or("the wall".to_owned(), |p| format!("the {} pane", p.title().to_lowercase()));
        let name = format!("a frame of {name} after one probe (update, derive, view, widgets)");
        let mut times = Vec::new();
        for i in 0..frames {
            let sample = Sample::new(Timestamp::now(), Ok(Duration::from_micros(900 + (i as u64 % 7) * 100)));
            let started = Instant::now();
            update(&mut m, Msg::Engine(EngineEvent::Probe { cluster: (i * 7919) % n, sample }));
            let derived = m.derived();
            let vm = screen(&m, &derived, keymap.hints(), 200, 60);
            terminal.draw(|f| f.render_widget(Screen { vm: &vm, theme: &theme }, f.area())).unwrap();
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((name, times));
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

/// What one TUI run measured.
struct Run {
    live: f64,
    rss: f64,
    /// Idle CPU per pane (1..5), percent of one core.
    cpu: Vec<f64>,
    /// The latency pane's title: how many clusters breach the target.
    breaches: String,
}

/// One TUI run on the fleet: until Live, then a quiet minute of probes, then each pane.
fn tui_run(kubeconfig: &Path, clusters: u64, idle: Duration) -> (Pty, Run) {
    let (pty, took) = tui_until_live(kubeconfig, "hub", clusters, &["--read-only"]);
    std::thread::sleep(Duration::from_secs(10));
    let mut cpu = Vec::new();
    for key in ["1", "2", "3", "4", "5"] {
        pty.key(key);
        std::thread::sleep(Duration::from_secs(2));
        cpu.push(idle_cpu(pty.pid(), idle));
    }
    pty.key("2");
    std::thread::sleep(Duration::from_millis(500));
    let breaches = pty.screen().lines().find(|l| l.starts_with("Latency ·")).unwrap_or("?").trim().to_owned();
    pty.key("1");
    let rss = rss_mb(pty.pid());
    (pty, Run { live: took.as_secs_f64(), rss, cpu, breaches })
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spokes = env("FLEETDECK_BENCH_SPOKES", 200);
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let idle = Duration::from_secs(env("FLEETDECK_BENCH_IDLE_SECS", 30));
    let per_pane = (idle / 3).max(Duration::from_secs(5));
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().unwrap();
    let clusters = spokes + 1;
    let sim = SimProcess::start(bin, spokes, &["--still"], dir.path(), "fleet");
    // FLEETDECK_BENCH_ONLY=frames: the in-process frame figures only.
    let only_frames = std::env::var("FLEETDECK_BENCH_ONLY").is_ok_and(|v| v == "frames");
    println!(
        "fleetdeck on {clusters} simulated clusters (a separate `fleetdeck sim --spokes {spokes} --still`), {runs} runs, {}s idle per pane",
        per_pane.as_secs()
    );

    let mut all = Vec::new();
    let mut screen_times = Vec::new();
    for run in 0..if only_frames { 0 } else { runs } {
        let (pty, r) = tui_run(&sim.kubeconfig, clusters, per_pane);
        let cpu: Vec<String> = r.cpu.iter().map(|c| format!("{c:.1}")).collect();
        println!(
            "  run {}: every cluster Live after {:.2} s, {:.0} MB resident, idle CPU per pane 1-5: {} % of one core; {}",
            run + 1,
            r.live,
            r.rss,
            cpu.join(" / "),
            r.breaches
        );
        if run == 0 {
            screen_times = event_to_screen(&pty, &sim.kubeconfig, 20).await;
        }
        all.push(r);
        drop(pty);
    }
    if only_frames {
        let kubeconfig = sim.kubeconfig.clone();
        let frames =
            tokio::task::spawn_blocking(move || frame_times(&fleet_model(&kubeconfig, Duration::from_secs(15)), 300))
                .await
                .unwrap();
        for (name, times) in frames {
            println!("{name}: p50 {:.3} ms, p99 {:.3} ms", quantile(times.clone(), 0.5), quantile(times, 0.99));
        }
        return;
    }
    let med = |f: fn(&Run) -> f64| median(all.iter().map(f).collect());
    let cpu_max = |r: &Run| r.cpu.iter().copied().fold(0.0, f64::max);
    let cpu_med = |r: &Run| median(r.cpu.clone());
    println!(
        "median: every cluster Live after {:.2} s, {:.0} MB resident, idle CPU {:.1} % of one core (median over the panes; the busiest pane {:.1} %)",
        med(|r| r.live),
        med(|r| r.rss),
        med(cpu_med),
        med(cpu_max),
    );
    if !screen_times.is_empty() {
        println!(
            "a watched change to the screen ({} changes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            screen_times.len(),
            quantile(screen_times.clone(), 0.5),
            quantile(screen_times.clone(), 0.99),
            quantile(screen_times, 1.0)
        );
    }

    // The wall.
    let (pty, took) = tui_until_live(&sim.kubeconfig, "hub", clusters, &["--wall"]);
    std::thread::sleep(Duration::from_secs(10));
    let wall_cpu = idle_cpu(pty.pid(), per_pane);
    let wall_rss = rss_mb(pty.pid());
    drop(pty);
    println!(
        "the wall: every spoke live after {:.2} s, {wall_rss:.0} MB resident, {wall_cpu:.1} % of one core idle",
        took.as_secs_f64()
    );

    let kubeconfig = sim.kubeconfig.clone();
    let frames = tokio::task::spawn_blocking(move || {
        let model = fleet_model(&kubeconfig, Duration::from_secs(if spokes > 500 { 30 } else { 15 }));
        frame_times(&model, 300)
    })
    .await
    .unwrap();
    for (name, times) in frames {
        println!(
            "{name}, 200x60, {clusters} clusters: p50 {:.2} ms, p99 {:.2} ms",
            quantile(times.clone(), 0.5),
            quantile(times, 0.99)
        );
    }

    // One cluster, fleetdeck beside the peers, and what each further cluster costs.
    let single = dir.path().join("single.yaml");
    one_context(&sim.kubeconfig, "staging-eu-1", &single);
    let (pty, _) = tui_until_live(&single, "staging-eu-1", 1, &["--read-only"]);
    std::thread::sleep(Duration::from_secs(5));
    let (c, r) = (idle_cpu(pty.pid(), idle), rss_mb(pty.pid()));
    drop(pty);
    println!("one cluster, idle window {}s:", idle.as_secs());
    println!("  fleetdeck  {r:>6.0} MB  {c:>5.1} % of one core");
    let n = (clusters - 1) as f64;
    println!(
        "each further cluster: {:.0} KB resident, {:.3} % of one core idle (health pane)",
        (med(|r| r.rss) - r) * 1024.0 / n,
        (median(all.iter().map(|r| r.cpu[0]).collect()) - c) / n
    );
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
