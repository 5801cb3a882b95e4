//! Ingesting a large Kubernetes audit log into the audit pane, as the TUI does: a
//! follower thread reads and parses the file, the model's owner applies one batch at a
//! time (keys and engine events get their turn between batches). Figures: lines per
//! second, how long one batch holds the model's owner (the longest the screen can wait
//! on the audit feed), resident memory with the timeline at its cap, and one frame of
//! the pane at 200x60 with the cap full, unfiltered and filtered.
//!
//!     cargo bench --bench audit_ingest
//!     FLEETDECK_BENCH_LINES=1000000 FLEETDECK_BENCH_RUNS=3 cargo bench --bench audit_ingest
//!
//! Figures are printed, never asserted.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::{env, median, quantile, rss_mb};
use fleetdeck::action::{Action, Pane};
use fleetdeck::app::model::{Model, ModelSettings};
use fleetdeck::app::msg::Msg;
use fleetdeck::app::update::update;
use fleetdeck::audit::feed::Feed;
use fleetdeck::audit::follow::{self, FollowSpec, Format};
use fleetdeck::cluster::ContextSpec;
use fleetdeck::input::Keymap;
use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc;

/// A realistic mix: reads by controllers, watches, writes with objects, denials,
/// impersonation, and the RequestReceived stage the timeline skips.
fn line(n: usize, base: Timestamp) -> String {
    let at = base.checked_add(jiff::SignedDuration::from_millis(n as i64)).unwrap().to_string();
    let users = ["system:serviceaccount:flux-system:kustomize-controller", "system:kube-scheduler", "alice", "bob"];
    let user = users[n % users.len()];
    let ns = format!("team-{}", n % 37);
    let v = match n % 10 {
        0 => {
            json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("{n:032x}"),"stage":"RequestReceived",
            "requestURI":format!("/api/v1/namespaces/{ns}/configmaps"),"verb":"list","user":{"username":user,"groups":["system:authenticated"]},
            "sourceIPs":["10.0.3.17"],"userAgent":"kube-controller-manager/v1.33.4","objectRef":{"resource":"configmaps","namespace":ns,"apiVersion":"v1"},
            "requestReceivedTimestamp":at,"stageTimestamp":at})
        }
        1..=5 => {
            json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("{n:032x}"),"stage":"ResponseComplete",
            "requestURI":format!("/api/v1/namespaces/{ns}/pods/web-{n}"),"verb":"get","user":{"username":user,"groups":["system:authenticated"]},
            "sourceIPs":["10.0.3.17"],"userAgent":"kubectl/v1.33.1 (linux/amd64)","objectRef":{"resource":"pods","namespace":ns,"name":format!("web-{n}"),"apiVersion":"v1"},
            "responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":at,"stageTimestamp":at,
            "annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"view\""}})
        }
        6 => {
            json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("{n:032x}"),"stage":"ResponseStarted",
            "requestURI":"/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=true&resourceVersion=1234","verb":"watch","user":{"username":user},
            "objectRef":{"resource":"kustomizations","apiGroup":"kustomize.toolkit.fluxcd.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},
            "requestReceivedTimestamp":at,"stageTimestamp":at})
        }
        7 | 8 => {
            json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":format!("{n:032x}"),"stage":"ResponseComplete",
            "requestURI":format!("/apis/apps/v1/namespaces/{ns}/deployments/web/scale"),"verb":"patch","user":{"username":"admin"},
            "impersonatedUser":{"username":"system:serviceaccount:ci:deployer"},"objectRef":{"resource":"deployments","subresource":"scale","namespace":ns,"name":"web","apiGroup":"apps","apiVersion":"v1"},
            "responseStatus":{"metadata":{},"code":200},"requestObject":{"spec":{"replicas":n % 9}},
            "responseObject":{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":ns},"spec":{"replicas":n % 9},"status":{"replicas":3,"selector":"app=web"}},
            "requestReceivedTimestamp":at,"stageTimestamp":at})
        }
        _ => {
            json!({"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":format!("{n:032x}"),"stage":"ResponseComplete",
            "requestURI":format!("/api/v1/namespaces/{ns}/secrets"),"verb":"list","user":{"username":"bob"},"objectRef":{"resource":"secrets","namespace":ns,"apiVersion":"v1"},
            "responseStatus":{"metadata":{},"status":"Failure","message":"secrets is forbidden","reason":"Forbidden","code":403},
            "requestReceivedTimestamp":at,"stageTimestamp":at})
        }
    };
    v.to_string()
}

fn model(cap: usize) -> Model {
    let specs = vec![ContextSpec {
        name: "production-eu-1".into(),
        server: "https://production-eu-1.example:6443".into(),
        is_hub: false,
        user: "admin".into(),
        config: Err("bench".into()),
    }];
    let mut m = Model::new(&specs, ModelSettings { audit_cap: cap, ..ModelSettings::default() }, Timestamp::now());
    update(&mut m, Msg::Action(Action::Pane(Pane::Audit)));
    m
}

struct Run {
    lines_per_sec: f64,
    batch_p50_ms: f64,
    batch_p99_ms: f64,
    batch_max_ms: f64,
    rss_mb: f64,
    kept: usize,
    dropped: u64,
}

fn ingest(path: &std::path::Path, lines: u64, cap: usize) -> (Run, Model) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut m = model(cap);
        let (tx, mut rx) = mpsc::channel(16);
        let stop = Arc::new(AtomicBool::new(false));
        let spec = FollowSpec { cluster: Arc::from("production-eu-1"), path: path.to_owned(), format: Format::Audit };
        let started = Instant::now();
        let thread = follow::spawn(spec, Duration::from_millis(50), tx, stop.clone()).unwrap();
        let mut batches = Vec::new();
        let mut read = 0;
        while read < lines {
            let Some(feed) = rx.recv().await else { break };
            if let Feed::Status(s) = &feed {
                read = s.lines;
            }
            let t = Instant::now();
            update(&mut m, Msg::Audit(feed));
            batches.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let elapsed = started.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        drop(rx);
        let _ = thread.join();
        let run = Run {
            lines_per_sec: lines as f64 / elapsed.as_secs_f64(),
            batch_p50_ms: median(batches.clone()),
            batch_p99_ms: quantile(batches.clone(), 0.99),
            batch_max_ms: batches.iter().copied().fold(0.0, f64::max),
            rss_mb: rss_mb(std::process::id()),
            kept: m.audit.len(),
            dropped: m.audit.dropped,
        };
        (run, m)
    })
}

fn frame_ms(m: &Model, filter: &str) -> f64 {
    let mut m = m.clone();
    update(&mut m, Msg::Action(Action::Filter));
    for c in filter.chars() {
        update(&mut m, Msg::FilterEdit(tui_input::InputRequest::InsertChar(c)));
    }
    update(&mut m, Msg::FilterDone);
    let config = fleetdeck::config::Config::load_from(None, None).unwrap();
    let keymap = Keymap::new(&config.keys, true).unwrap();
    m.now = Timestamp::now();
    let derived = m.derived();
    let samples: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let vm = fleetdeck::view::screen(&m, &derived, keymap.hints(), 200, 60);
            std::hint::black_box(vm);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(samples)
}

fn main() {
    let lines = env("FLEETDECK_BENCH_LINES", 1_000_000);
    let runs = env("FLEETDECK_BENCH_RUNS", 3);
    let cap = env("FLEETDECK_BENCH_CAP", 100_000) as usize;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let base = Timestamp::now();
    let written = Instant::now();
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for n in 0..lines as usize {
            writeln!(out, "{}", line(n, base)).unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "audit log: {lines} lines, {:.0} MB (written in {:.1?}); timeline cap {cap}",
        size as f64 / 1e6,
        written.elapsed()
    );
    println!("rss before ingesting: {:.0} MB", rss_mb(std::process::id()));
    let mut results = Vec::new();
    let mut last: Option<Model> = None;
    for run in 0..runs {
        // One timeline at a time, so the memory figure is one session's.
        drop(last.take());
        let (r, m) = ingest(&path, lines, cap);
        println!(
            "run {}: {:.0} lines/s, one batch holds the model p50 {:.2} ms p99 {:.2} ms max {:.2} ms, rss {:.0} MB, kept {} dropped {}",
            run + 1,
            r.lines_per_sec,
            r.batch_p50_ms,
            r.batch_p99_ms,
            r.batch_max_ms,
            r.rss_mb,
            r.kept,
            r.dropped
        );
        results.push(r);
        last = Some(m);
    }
    let m = last.unwrap();
    let pick = |f: fn(&Run) -> f64| median(results.iter().map(f).collect());
    println!(
        "median of {runs}: {:.0} lines/s; batch p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; rss {:.0} MB",
        pick(|r| r.lines_per_sec),
        pick(|r| r.batch_p50_ms),
        pick(|r| r.batch_p99_ms),
        pick(|r| r.batch_max_ms),
        pick(|r| r.rss_mb)
    );
    println!(
        "frame at 200x60 with {} records: unfiltered {:.2} ms, filtered (user:bob verb:list) {:.2} ms",
        m.audit.len(),
        frame_ms(&m, ""),
        frame_ms(&m, "user:bob verb:list")
    );
}
