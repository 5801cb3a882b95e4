//! Measuring processes from outside: resident memory and CPU from /proc, medians.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User+system CPU ticks of a process (USER_HZ: 100 per second on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// Resident memory of a process, MB.
pub fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Percent of one core a process used over `window`.
pub fn idle_cpu(pid: u32, window: Duration) -> f64 {
    idle_cpu_of(&[pid], window)
}

/// Percent of one core some processes used together over `window`.
pub fn idle_cpu_of(pids: &[u32], window: Duration) -> f64 {
    let ticks = || pids.iter().map(|p| cpu_ticks(*p)).sum::<u64>();
    let before = ticks();
    let started = Instant::now();
    std::thread::sleep(window);
    (ticks() - before) as f64 / started.elapsed().as_secs_f64()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The value at quantile `q` (0..1) of samples.
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

/// A `fleetdeck sim` in its own process.
pub struct SimProcess {
    pub child: std::process::Child,
    pub kubeconfig: std::path::PathBuf,
    /// When it was spawned.
    pub started: Instant,
}

impl SimProcess {
    /// Starts `fleetdeck sim --spokes N [extra]`, writing its kubeconfig into `dir`, and
    /// waits for it to announce readiness (its output is drained so it never blocks).
    pub fn start(bin: &str, spokes: u64, extra: &[&str], dir: &std::path::Path, name: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let kubeconfig = dir.join(format!("{name}.yaml"));
        let started = Instant::now();
        let mut child = std::process::Command::new(bin)
            .args(["sim", "--spokes", &spokes.to_string(), "--kubeconfig"])
            .arg(&kubeconfig)
            .args(extra)
            .args(["--log-level", "warn"])
            .env("XDG_STATE_HOME", dir)
            .env("XDG_DATA_HOME", dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("fleetdeck sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("clusters ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(120)).expect("the simulator announces readiness");
        Self { child, kubeconfig, started }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time of every thread of this process, from the scheduler's nanosecond counters.
pub fn own_cpu() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

/// Each step of a run: its kind and name, and how long it took.
pub fn step_times(run: &fleetdeck::fleet::run::Run) -> Vec<(String, Duration)> {
    run.steps
        .iter()
        .map(|s| {
            let took = match (s.started_at, s.finished_at) {
                (Some(a), Some(b)) => Duration::try_from(b.duration_since(a)).unwrap_or_default(),
                _ => Duration::ZERO,
            };
            (format!("{} {}", s.spec.kind(), s.name), took)
        })
        .collect()
}

/// Each step's durations over several runs of one workflow, printed as medians.
#[derive(Default)]
pub struct StepTimes {
    names: Vec<String>,
    samples: Vec<Vec<f64>>,
}

impl StepTimes {
    pub fn add(&mut self, run: &fleetdeck::fleet::run::Run) {
        let times = step_times(run);
        self.names = times.iter().map(|(n, _)| n.clone()).collect();
        self.samples.resize(times.len(), Vec::new());
        for (j, (_, d)) in times.iter().enumerate() {
            self.samples[j].push(d.as_secs_f64());
        }
    }

    pub fn print(self, runs: u64) {
        println!("each step, median of {runs}:");
        for (name, samples) in self.names.iter().zip(self.samples) {
            println!("  {:>8.0} ms  {name}", median(samples) * 1000.0);
        }
    }
}

/// Drives a run to its end, confirming its change sets and attesting its gates; the run
/// and this process's CPU time over it.
pub async fn drive(
    runner: std::sync::Arc<fleetdeck::cluster::runbook::Runner>,
    run: fleetdeck::fleet::run::Run,
    rv: String,
    note: &str,
) -> (fleetdeck::fleet::run::Run, Duration) {
    use fleetdeck::cluster::runbook::Update;
    use fleetdeck::fleet::run::{Gate, RunState, StepSpec, StepState};
    use fleetdeck::workflow::runbook::Event;
    use tokio::sync::mpsc;
    let (tx, rx) = mpsc::channel(8);
    let (out, mut updates) = mpsc::channel(256);
    let cpu = own_cpu();
    tokio::spawn(runner.drive(run, rv, Event::Begin, rx, out));
    let mut answered = std::collections::BTreeSet::new();
    loop {
        match updates.recv().await.expect("the runner reports") {
            Update::Run(r) => {
                assert!(!r.held(), "held at {:?}: {}", r.step().map(|s| &s.name), r.outcome);
                let Some(step) = r.step().filter(|s| s.state == StepState::Waiting && r.state == RunState::Waiting)
                else {
                    continue;
                };
                if !answered.insert(r.current) {
                    continue;
                }
                let event = match &step.spec {
                    StepSpec::ChangeSet { confirm, .. } => Event::Typed(confirm.clone()),
                    StepSpec::Gate { gate: Gate::Attest { .. } } => Event::Attested(note.into()),
                    StepSpec::Gate { gate: Gate::Confirm { expected, .. } } => Event::Typed(expected.clone()),
                    _ => continue,
                };
                tx.send(event).await.unwrap();
            }
            Update::Ended(r) => return (*r, own_cpu().saturating_sub(cpu)),
            Update::Refused(why) | Update::Lost(why) => panic!("{why}"),
        }
    }
}
