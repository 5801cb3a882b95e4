//! A migration on the migration fleet (a separate `fleetdeck sim --scenario migration`):
//! `staging-eu-2` walked from its inventory to its report, the time of each step and
//! fleetdeck's own share (the CPU time of this process, which runs the runner, the
//! inventory, the probes and the fleet check and nothing else: everything but waiting
//! on the clusters). Each migration is followed by an unregistration, so the next one
//! starts from a candidate again. Medians of FLEETDECK_BENCH_RUNS (3) migrations.
//!
//! `cargo bench --bench migration`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SimProcess, StepTimes, drive, env, median};
use fleetdeck::cluster::runbook::{MigrationSettings, RunSettings, Runner};
use fleetdeck::cluster::write::{WriteAccess, Writer};
use fleetdeck::cluster::{Selection, contexts};
use fleetdeck::fleet::run::{RunState, Workflow};

async fn migrations(kubeconfig: &std::path::Path, runs: u64) {
    let kc = contexts::load(Some(kubeconfig)).unwrap();
    let specs = contexts::resolve(&kc, &Selection { hub: "hub".into(), spokes: vec![] }).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = fleetdeck::journal::Journal::at(dir.path().join("journal.jsonl"));
    let writer = Arc::new(Writer::new(WriteAccess::operator_session(), &specs, Duration::from_secs(5), journal));
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let migration = MigrationSettings {
        data_dir: dir.path().to_owned(),
        operational: Some(fleetdeck::check::operational(&specs, &config)),
        ..MigrationSettings::default()
    };
    let settings = RunSettings { poll: Duration::from_millis(200), migration, ..RunSettings::default() };
    let runner = Arc::new(Runner::new(writer, settings));
    let (mut totals, mut own, mut steps) = (Vec::new(), Vec::new(), StepTimes::default());
    for i in 0..runs {
        let started = Instant::now();
        let (run, rv) =
            runner.start(Workflow::Migrate, "staging-eu-2", "staging-eu-2", Default::default()).await.expect("starts");
        let (run, cpu) = drive(runner.clone(), run, rv, "done").await;
        assert_eq!(run.state, RunState::Succeeded, "{}", run.outcome);
        let total = started.elapsed();
        steps.add(&run);
        println!(
            "  migration {}: {:.2}s start to report, fleetdeck's own CPU {:.0} ms",
            i + 1,
            total.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0
        );
        totals.push(total.as_secs_f64());
        own.push(cpu.as_secs_f64() * 1000.0);
        let (off, rv) = runner
            .start(Workflow::Unregister, "staging-eu-2", "staging-eu-2", Default::default())
            .await
            .expect("starts");
        let (off, _) = drive(runner.clone(), off, rv, "done").await;
        assert_eq!(off.state, RunState::Succeeded, "{}", off.outcome);
    }
    steps.print(runs);
    println!("start to report: median {:.2}s", median(totals));
    println!("fleetdeck's own share, start to report: median {:.0} ms of CPU (budget 500 ms)", median(own));
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().unwrap();
    let sim = SimProcess::start(bin, 2, &["--scenario", "migration"], dir.path(), "migration");
    println!(
        "migrating staging-eu-2 on the migration fleet (a separate `fleetdeck sim --scenario migration`), {runs} times:"
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(migrations(&sim.kubeconfig, runs));
}
