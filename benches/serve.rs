//! `fleetdeck serve` on a simulated fleet served by a separate process (`fleetdeck sim
//! --still`): time until `/readyz` says ready, resident memory and idle CPU beside the
//! TUI watching the same clusters, how long a scrape of `/metrics` takes (p50, p99) and
//! how large its body is; then the same fleet in 4 shards (`--spokes` of a quarter of the
//! spokes each, every shard watching the hub too), their costs summed beside one
//! process's. Per-cluster figures divide by the clusters watched.
//!
//!     cargo bench --bench serve                                  # 201 clusters
//!     FLEETDECK_BENCH_SPOKES=1000 cargo bench --bench serve      # 1,001 clusters
//!     FLEETDECK_BENCH_RUNS=3 FLEETDECK_BENCH_IDLE_SECS=30 cargo bench --bench serve
//!
//! Figures are printed, never asserted.

mod common;
#[path = "../tests/it/common/local.rs"]
#[allow(dead_code)]
mod local;
#[path = "../tests/it/common/pty.rs"]
mod pty;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{SimProcess, env, idle_cpu, idle_cpu_of, median, quantile, rss_mb};
use pty::Pty;

/// A `fleetdeck serve`, killed when dropped.
struct Serve {
    child: Child,
    port: u16,
    _home: tempfile::TempDir,
}

impl Serve {
    fn start(kubeconfig: &Path, args: &[String]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let port = local::port();
        let child = Command::new(env!("CARGO_BIN_EXE_fleetdeck"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--kubeconfig"])
            .arg(kubeconfig)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("fleetdeck serve starts");
        Self { child, port, _home: home }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/readyz` says ready.
    fn until_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while local::get(self.port, "/readyz").is_none_or(|(c, _)| c != 200) {
            assert!(
                Instant::now() < deadline,
                "serve not ready after {limit:?}: {:?}",
                local::get(self.port, "/readyz")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `count` scrapes, one every `every`: each one's time (ms) and the last body's size.
    fn scrapes(&self, count: usize, every: Duration) -> (Vec<f64>, usize) {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..count {
            let started = Instant::now();
            let (code, body) = local::get(self.port, "/metrics").expect("a scrape answers");
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(code, 200, "{body}");
            size = body.len();
            std::thread::sleep(every);
        }
        (times, size)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The spoke contexts of a kubeconfig (every context but the hub's).
fn spokes_of(kubeconfig: &Path) -> Vec<String> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    kc.contexts.into_iter().map(|c| c.name).filter(|n| n != "hub").collect()
}

/// What one run measured.
#[derive(Default)]
struct Run {
    ready: f64,
    rss: f64,
    cpu: f64,
    scrape_p50: f64,
    scrape_p99: f64,
    body: usize,
    tui_rss: f64,
    tui_cpu: f64,
    shards_ready: f64,
    shards_rss: f64,
    shards_cpu: f64,
    shard_scrape_p99: f64,
}

fn run(kubeconfig: &Path, clusters: u64, idle: Duration, shards: usize) -> Run {
    let limit = Duration::from_secs(300);
    let mut r = Run::default();
    // One process, the whole fleet.
    let started = Instant::now();
    let serve = Serve::start(kubeconfig, &[]);
    serve.until_ready(limit);
    r.ready = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(10));
    r.cpu = idle_cpu(serve.pid(), idle);
    r.rss = rss_mb(serve.pid());
    let (times, body) = serve.scrapes(50, Duration::from_millis(200));
    (r.scrape_p50, r.scrape_p99, r.body) = (quantile(times.clone(), 0.5), quantile(times, 0.99), body);
    drop(serve);
    // The TUI on the same clusters, on the health pane.
    let args = ["--kubeconfig", &kubeconfig.display().to_string(), "--read-only"].map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let pty = Pty::spawn(&args, &[], 200, 60);
    pty.wait_for(&format!("{clusters}/{clusters} live"), Duration::from_secs(300));
    std::thread::sleep(Duration::from_secs(10));
    r.tui_cpu = idle_cpu(pty.pid(), idle);
    r.tui_rss = rss_mb(pty.pid());
    drop(pty);
    // Shards: a quarter of the spokes each, every one watching the hub.
    let spokes = spokes_of(kubeconfig);
    let started = Instant::now();
    let serves: Vec<Serve> = (0..shards)
        .map(|s| {
            let mut args = vec!["--shard".to_owned(), format!("shard-{s}")];
            for name in spokes.iter().skip(s).step_by(shards) {
                args.extend(["--spokes".to_owned(), name.clone()]);
            }
            Serve::start(kubeconfig, &args)
        })
        .collect();
    for s in &serves {
        s.until_ready(limit);
    }
    r.shards_ready = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(10));
    let pids: Vec<u32> = serves.iter().map(Serve::pid).collect();
    r.shards_cpu = idle_cpu_of(&pids, idle);
    r.shards_rss = pids.iter().map(|p| rss_mb(*p)).sum();
    let p99s: Vec<f64> = serves.iter().map(|s| quantile(s.scrapes(20, Duration::from_millis(100)).0, 0.99)).collect();
    r.shard_scrape_p99 = p99s.into_iter().fold(0.0, f64::max);
    r
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let spokes = env("FLEETDECK_BENCH_SPOKES", 200);
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let idle = Duration::from_secs(env("FLEETDECK_BENCH_IDLE_SECS", 20));
    let shards = 4;
    let dir = tempfile::tempdir().unwrap();
    let clusters = spokes + 1;
    let sim = SimProcess::start(env!("CARGO_BIN_EXE_fleetdeck"), spokes, &["--still"], dir.path(), "fleet");
    println!(
        "fleetdeck serve on {clusters} simulated clusters (a separate `fleetdeck sim --spokes {spokes} --still`), \
         {runs} runs, {}s idle windows",
        idle.as_secs()
    );
    let mut all = Vec::new();
    for i in 0..runs {
        let r = run(&sim.kubeconfig, clusters, idle, shards);
        println!(
            "  run {}: ready after {:.1} s, {:.0} MB, {:.1} % of one core idle; scrape p50 {:.1} ms, p99 {:.1} ms, \
             {} KB; the TUI {:.0} MB, {:.1} %; {shards} shards ready after {:.1} s, {:.0} MB, {:.1} % together, \
             scrape p99 {:.1} ms",
            i + 1,
            r.ready,
            r.rss,
            r.cpu,
            r.scrape_p50,
            r.scrape_p99,
            r.body / 1024,
            r.tui_rss,
            r.tui_cpu,
            r.shards_ready,
            r.shards_rss,
            r.shards_cpu,
            r.shard_scrape_p99
        );
        all.push(r);
    }
    let med = |f: fn(&Run) -> f64| median(all.iter().map(f).collect());
    let n = clusters as f64;
    println!("median of {runs}, {clusters} clusters:");
    println!(
        "  serve:      ready after {:.1} s, {:.0} MB resident ({:.0} KB per cluster), {:.2} % of one core idle \
         ({:.4} % per cluster)",
        med(|r| r.ready),
        med(|r| r.rss),
        med(|r| r.rss) * 1024.0 / n,
        med(|r| r.cpu),
        med(|r| r.cpu) / n
    );
    println!(
        "  the TUI:    {:.0} MB resident ({:.0} KB per cluster), {:.2} % of one core idle on the health pane",
        med(|r| r.tui_rss),
        med(|r| r.tui_rss) * 1024.0 / n,
        med(|r| r.tui_cpu)
    );
    println!(
        "  a scrape of /metrics: p50 {:.1} ms, p99 {:.1} ms, body {:.0} KB ({:.1} KB per cluster)",
        med(|r| r.scrape_p50),
        med(|r| r.scrape_p99),
        med(|r| r.body as f64) / 1024.0,
        med(|r| r.body as f64) / 1024.0 / n
    );
    println!(
        "  {shards} shards of {} spokes (+ the hub each): ready after {:.1} s, {:.0} MB together ({:.2}x one \
         process), {:.2} % of one core together ({:.2}x), each shard's scrape p99 under {:.1} ms",
        spokes as usize / shards,
        med(|r| r.shards_ready),
        med(|r| r.shards_rss),
        med(|r| r.shards_rss) / med(|r| r.rss),
        med(|r| r.shards_cpu),
        med(|r| r.shards_cpu) / med(|r| r.cpu),
        med(|r| r.shard_scrape_p99)
    );
}
