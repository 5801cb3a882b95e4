//! The rollback on the bad-revision fleet (a separate `fleetdeck sim --scenario
//! bad-revision`, one per run, since its bad revision comes once):
//!
//! - from the trigger's condition becoming true (production-eu-1's payments/api losing
//!   its ready replicas: its `Available=False` transition, which the API gives to the
//!   second, so the figure errs high by up to a second) to the red line on the screen of
//!   fleetdeck's TUI in a 200x60 pseudo-terminal, less the trigger's window
//!   (`disruption_after`, 10 s here): budget 2 s;
//! - the rollback to the last good revision, driven by the runner in this process from
//!   its target check to its confirmed recovery (`confirm_for` 5 s here): the time of
//!   each step and fleetdeck's own share (this process's CPU time, which runs the runner
//!   and nothing else): budget 500 ms.
//!
//! Medians of FLEETDECK_BENCH_RUNS (3) fleets. `cargo bench --bench rollback`

mod common;

#[path = "../tests/it/common/pty.rs"]
mod pty;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SimProcess, StepTimes, drive, env, median};
use fleetdeck::cluster::runbook::{RunSettings, Runner};
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::cluster::{Selection, contexts};
use fleetdeck::fleet::run::{Run, RunState, Workflow};
use fleetdeck::workflow::rollback::facts;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use pty::Pty;

const WINDOW: Duration = Duration::from_secs(10);

/// When payments/api on the spoke lost its ready replicas (its `Available=False`
/// transition, to the second), once it has.
async fn broken(api: &Api<Deployment>) -> Option<jiff::Timestamp> {
    let status = api.get("api").await.ok()?.status?;
    if status.ready_replicas.unwrap_or(0) != 0 {
        return None;
    }
    let available = status.conditions?.into_iter().find(|c| c.type_ == "Available" && c.status == "False")?;
    available.last_transition_time?.0.to_string().parse().ok()
}

/// One fleet: the seconds from the condition to the red line past the window, and the
/// rollback's run with fleetdeck's CPU time over it.
fn one(bin: &str, runtime: &tokio::runtime::Runtime) -> (f64, Run, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(bin, 3, &["--scenario", "bad-revision"], dir.path(), "bad-revision");
    let config = dir.path().join("fleetdeck.toml");
    std::fs::write(
        &config,
        format!(
            "[rollback.triggers]\ndisruption_after = \"{}s\"\nviolations_for = \"1h\"\nlatency_checks = 10\nslow_revisions = 100\n",
            WINDOW.as_secs()
        ),
    )
    .unwrap();
    let args = ["--read-only", "--kubeconfig", sim.kubeconfig.to_str().unwrap(), "--config", config.to_str().unwrap()];
    let tui = Pty::spawn(&args, &[], 200, 60);
    tui.wait_for("production-eu-1", Duration::from_secs(60));
    let kc = contexts::load(Some(&sim.kubeconfig)).unwrap();
    let specs = runtime.block_on(contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] })).unwrap();
    let journal = fleetdeck::journal::Journal::at(dir.path().join("journal.jsonl"));
    let writer = Arc::new(Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal));
    let options = kube::config::KubeConfigOptions { context: Some("production-eu-1".into()), ..Default::default() };
    // The client's buffer is spawned on the runtime it is made in.
    let client = runtime.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(kc.clone(), &options).await.unwrap();
        kube::Client::try_from(config).unwrap()
    });
    let api: Api<Deployment> = Api::namespaced(client, "payments");
    let deadline = Instant::now() + Duration::from_secs(120);
    let triggered_at = loop {
        if let Some(at) = runtime.block_on(broken(&api)) {
            break at;
        }
        assert!(Instant::now() < deadline, "the bad revision did not break payments/api");
        std::thread::sleep(Duration::from_millis(50));
    };
    let red_line = |screen: String| screen.lines().nth(1).is_some_and(|l| l.starts_with("rollback suggested"));
    while !red_line(tui.screen()) {
        assert!(Instant::now() < deadline + WINDOW, "no red line:\n{}", tui.screen());
        std::thread::sleep(Duration::from_millis(20));
    }
    // From the condition (the transition's time, which the API gives to the second: the
    // figure is over by up to a second) plus the window, to the line on the screen.
    let due = triggered_at + jiff::SignedDuration::try_from(WINDOW).unwrap();
    let past_window = jiff::Timestamp::now().duration_since(due).as_secs_f64();
    drop(tui);

    let rollback = fleetdeck::workflow::rollback::Settings {
        confirm_for: Duration::from_secs(5),
        ..fleetdeck::workflow::rollback::Settings::default()
    };
    let settings = RunSettings { poll: Duration::from_millis(200), rollback, ..RunSettings::default() };
    let runner = Arc::new(Runner::new(writer, settings));
    let started = Instant::now();
    let start = [
        (facts::TARGET, "revision".to_owned()),
        (facts::TRIGGERED_AT, triggered_at.to_string()),
        (facts::VIOLATIONS_BASELINE, "0".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .into();
    let (run, rv) = runtime
        .block_on(runner.start(Workflow::Rollback, "production-eu-1", "production-eu-1", start))
        .expect("starts");
    let (run, cpu) = runtime.block_on(drive(runner, run, rv, "INC-1 the bench"));
    assert_eq!(run.state, RunState::Succeeded, "{}", run.outcome);
    (past_window, run, started.elapsed(), cpu)
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    println!("the bad-revision fleet (a separate `fleetdeck sim --scenario bad-revision`), {runs} times:");
    let (mut lines, mut totals, mut own, mut ttr, mut steps) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), StepTimes::default());
    for i in 0..runs {
        let (line, run, total, cpu) = one(bin, &runtime);
        let recovery: f64 = run.facts.get(facts::TIME_TO_RECOVERY).and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        println!(
            "  fleet {}: red line {line:+.2}s from the end of its {}s window; rollback {:.2}s start to confirmed, time to recovery {recovery:.0}s, fleetdeck's own CPU {:.0} ms",
            i + 1,
            WINDOW.as_secs(),
            total.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0
        );
        steps.add(&run);
        lines.push(line);
        totals.push(total.as_secs_f64());
        own.push(cpu.as_secs_f64() * 1000.0);
        ttr.push(recovery);
    }
    steps.print(runs);
    println!("condition to red line, less the window: median {:+.2}s (budget 2 s)", median(lines));
    println!("rollback start to confirmed recovery: median {:.2}s (confirm_for 5 s)", median(totals));
    println!("time to recovery (condition to confirmed): median {:.0}s", median(ttr));
    println!("fleetdeck's own share of a rollback: median {:.0} ms of CPU (budget 500 ms)", median(own));
}
