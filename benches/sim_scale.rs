//! `fleetdeck sim --spokes N` at scale: time until every cluster serves, resident memory,
//! and CPU while no client is connected. Prints figures (medians over runs); asserts
//! nothing, since timings on a shared machine are not pass/fail material.
//!
//!     cargo bench --bench sim_scale
//!     FLEETDECK_BENCH_SPOKES=1000 FLEETDECK_BENCH_RUNS=3 FLEETDECK_BENCH_IDLE_SECS=30 cargo bench --bench sim_scale

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User+system CPU ticks of a process (USER_HZ, 100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
        let kubeconfig = dir.path().join(format!("kubeconfig-{run}.yaml"));
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["sim", "--spokes", &spokes.to_string(), "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["--log-level", "warn"])
            .env("XDG_STATE_HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("fleetdeck sim starts");
        let pid = child.id();
        let stdout = child.stdout.take().unwrap();
        // Keep reading the child's output, so it never writes to a closed pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("clusters ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120)).expect("the simulator announces readiness");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(readyz(&kubeconfig, "hub").await && readyz(&kubeconfig, &last).await) {
            assert!(Instant::now() < deadline, "the hub and the last spoke answer /readyz");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ready = started.elapsed();
        // Let the start-up settle, then measure a window with no client connected.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let before = cpu_ticks(pid);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let ticks = cpu_ticks(pid) - before;
        let idle_cpu_percent = ticks as f64 / window.elapsed().as_secs_f64();
        let rss = rss_mb(pid);
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "  run {}: serving after {:.2} s, {:.0} MB resident, {:.1} % of one core idle",
            run + 1,
            ready.as_secs_f64(),
            rss,
            idle_cpu_percent
        );
        results.push(Run { ready, rss_mb: rss, idle_cpu_percent });
    }
    println!(
        "median: serving after {:.2} s (budget 10 s), {:.0} MB resident (budget 600 MB), {:.1} % of one core idle (budget 5 %)",
        median(results.iter().map(|r| r.ready.as_secs_f64()).collect()),
        median(results.iter().map(|r| r.rss_mb).collect()),
        median(results.iter().map(|r| r.idle_cpu_percent).collect()),
    );
}
