//! `fleetdeck sim --spokes N` at scale: time until every cluster serves, resident memory,
//! and CPU while no client is connected. Prints figures (medians over runs); asserts
//! nothing, since timings on a shared machine are not pass/fail material.
//!
//!     cargo bench --bench sim_scale
//!     FLEETDECK_BENCH_SPOKES=1000 FLEETDECK_BENCH_RUNS=3 FLEETDECK_BENCH_IDLE_SECS=30 cargo bench --bench sim_scale

use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

mod common;
use common::{SimProcess, cpu_ticks, env, median, rss_mb};

async fn readyz(kubeconfig: &std::path::Path, context: &str) -> bool {
    let Ok(kc) = Kubeconfig::read_from(kubeconfig) else { return false };
    let options = KubeConfigOptions { context: Some(context.to_owned()), ..Default::default() };
    let Ok(config) = kube::Config::from_custom_kubeconfig(kc, &options).await else { return false };
    let Ok(client) = kube::Client::try_from(config) else { return false };
    let req = http::Request::get("/readyz").body(Vec::new()).unwrap();
    client.request_text(req).await.is_ok_and(|t| t == "ok")
}

struct Run {
    ready: Duration,
    rss_mb: f64,
    idle_cpu_percent: f64,
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spokes = env("FLEETDECK_BENCH_SPOKES", 1000);
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let idle = env("FLEETDECK_BENCH_IDLE_SECS", 30);
    let bin = env!("CARGO_BIN_EXE_fleetdeck");
    let dir = tempfile::tempdir().unwrap();
    let last = fleetdeck::sim::spoke_name(spokes as usize - 1);
    println!("fleetdeck sim --spokes {spokes}: {runs} runs, {idle} s idle window each");
    let mut results = Vec::new();
    for run in 0..runs {
        let sim = SimProcess::start(bin, spokes, &[], dir.path(), &format!("kubeconfig-{run}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(readyz(&sim.kubeconfig, "hub").await && readyz(&sim.kubeconfig, &last).await) {
            assert!(Instant::now() < deadline, "the hub and the last spoke answer /readyz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let serving = sim.started.elapsed();
        // Let the start-up settle, then measure a window with no client connected.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = cpu_ticks(sim.pid());
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let idle_cpu_percent = (cpu_ticks(sim.pid()) - before) as f64 / window.elapsed().as_secs_f64();
        let rss = rss_mb(sim.pid());
        println!(
            "  run {}: serving after {:.2} s, {:.0} MB resident, {:.1} % of one core idle",
            run + 1,
            serving.as_secs_f64(),
            rss,
            idle_cpu_percent
        );
        results.push(Run { ready: serving, rss_mb: rss, idle_cpu_percent });
    }
    println!(
        "median: serving after {:.2} s (budget 10 s), {:.0} MB resident (budget 600 MB), {:.1} % of one core idle (budget 5 %)",
        median(results.iter().map(|r| r.ready.as_secs_f64()).collect()),
        median(results.iter().map(|r| r.rss_mb).collect()),
        median(results.iter().map(|r| r.idle_cpu_percent).collect()),
    );
}
