//! Registration on the demo fleet (a separate `fleetdeck sim --scenario demo`): the time
//! of each step from start to verified, and fleetdeck's own share from confirm to
//! verified (the CPU time of this process, which runs the runner and nothing else:
//! everything but waiting on the clusters). Then the runs pane with 1,000 runs: the time
//! of one frame at 200x60. Medians of FLEETDECK_BENCH_RUNS (3) registrations.
//!
//! `cargo bench --bench registration`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SimProcess, StepTimes, env, median, own_cpu};
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::cluster::runbook::{RunSettings, Runner, Update};
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::cluster::{Selection, contexts};
use fleetdeck::fleet::run::{RUN_NAMESPACE, Run, RunState, StepSpec, StepState, Workflow};
use fleetdeck::workflow::runbook::Event;
use tokio::sync::mpsc;

/// Drives a run to its end, confirming its change sets; (the run, CPU from confirm to end).
async fn drive(runner: Arc<Runner>, run: Run, rv: String, confirm: &str) -> (Run, Duration) {
    let (tx, rx) = mpsc::channel(8);
    let (out, mut updates) = mpsc::channel(64);
    tokio::spawn(runner.drive(run, rv, Event::Begin, rx, out));
    let mut typed = std::collections::BTreeSet::new();
    let mut cpu_at_confirm = None;
    loop {
        match updates.recv().await.expect("the runner reports") {
            Update::Run(r) => {
                let waiting = matches!(
                    r.step().map(|s| (&s.spec, s.state)),
                    Some((StepSpec::ChangeSet { .. }, StepState::Waiting))
                );
                if r.state == RunState::Waiting && waiting && typed.insert(r.current) {
                    cpu_at_confirm.get_or_insert_with(own_cpu);
                    tx.send(Event::Typed(confirm.to_owned())).await.unwrap();
                }
            }
            Update::Ended(r) => return (*r, own_cpu().saturating_sub(cpu_at_confirm.unwrap_or_default())),
            Update::Refused(why) | Update::Lost(why) => panic!("{why}"),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

async fn registrations(kubeconfig: &std::path::Path, runs: u64) {
    let kc = contexts::load(Some(kubeconfig)).unwrap();
    let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = fleetdeck::journal::Journal::at(dir.path().join("journal.jsonl"));
    let writer = Arc::new(Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal));
    let runner =
        Arc::new(Runner::new(writer, RunSettings { poll: Duration::from_millis(200), ..RunSettings::default() }));
    let mut totals = Vec::new();
    let mut own = Vec::new();
    let mut steps = StepTimes::default();
    for i in 0..runs {
        let started = Instant::now();
        let (run, rv) =
            runner.start(Workflow::Register, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
        let (run, cpu) = drive(runner.clone(), run, rv, "edge-eu-1").await;
        assert_eq!(run.state, RunState::Succeeded, "{}", run.outcome);
        let total = started.elapsed();
        steps.add(&run);
        println!(
            "  registration {}: {} start to verified, fleetdeck's own CPU from confirm to verified {:.0} ms",
            i + 1,
            secs(total),
            cpu.as_secs_f64() * 1000.0
        );
        totals.push(total.as_secs_f64());
        own.push(cpu.as_secs_f64() * 1000.0);
        let (off, rv) =
            runner.start(Workflow::Unregister, "edge-eu-1", "edge-eu-1", Default::default()).await.expect("starts");
        let (off, _) = drive(runner.clone(), off, rv, "edge-eu-1").await;
        assert_eq!(off.state, RunState::Succeeded, "{}", off.outcome);
    }
    steps.print(runs);
    println!("start to verified: median {:.2}s", median(totals));
    println!("fleetdeck's own share, confirm to verified: median {:.0} ms of CPU (budget 200 ms)", median(own));
}

fn runs_pane_frames() {
    let contexts: Vec<_> = ["hub", "edge-eu-1"]
        .into_iter()
        .map(|name| fleetdeck::cluster::ContextSpec {
            name: name.into(),
            server: format!("https://{name}.example:6443"),
            is_hub: name == "hub",
            user: "admin".into(),
            config: Err("not connected".into()),
        })
        .collect();
    let now = jiff::Timestamp::now();
    let mut model = Model::new(&contexts, ModelSettings { writable: true, ..ModelSettings::default() }, now);
    let template: Run = {
        let by = fleetdeck::fleet::run::Session { user: "alice".into(), host: "ops".into(), pid: 1, id: "s".into() };
        let steps = fleetdeck::workflow::register::register_steps("edge-eu-1", &Default::default());
        let mut run = Run::new("", Workflow::Register, ("edge-eu-1", "edge-eu-1", "hub"), steps, by, now);
        run.state = RunState::Succeeded;
        run.current = 7;
        run.finished_at = Some(now);
        run.lock = None;
        run
    };
    let hub = model.fleet.hub_id().unwrap();
    for i in 0..1000u32 {
        let mut run = template.clone();
        run.id = format!("20261201-{i:06}-{i:06x}");
        let key = (RUN_NAMESPACE.to_owned(), run.object_name());
        model.fleet.data_mut(hub).unwrap().put_run(key, Arc::new(run));
    }
    update(&mut model, Msg::Action(Action::Pane(Pane::Runs)));
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = fleetdeck::input::Keymap::new(&config.keys, true).unwrap();
    let theme = fleetdeck::ui::Theme::plain();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 60)).unwrap();
    let mut frames = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let derived = model.derived();
        let vm = fleetdeck::view::screen(&model, &derived, keymap.hints(), 200, 60);
        terminal.draw(|f| f.render_widget(fleetdeck::ui::Screen { vm: &vm, theme: &theme }, f.area())).unwrap();
        frames.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "runs pane, 1,000 runs, 200x60: a frame p50 {:.2} ms, p99 {:.2} ms (budget 4 ms)",
        median(frames.clone()),
        common::quantile(frames, 0.99)
    );
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    runs_pane_frames();
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(bin, 4, &["--scenario", "demo"], dir.path(), "demo");
    println!("registering edge-eu-1 on the demo fleet (a separate `fleetdeck sim --scenario demo`), {runs} times:");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(registrations(&sim.kubeconfig, runs));
}
